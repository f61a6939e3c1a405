//! Logins and server-side sessions (DESIGN.md §7): argon2id verification on one path for known and unknown
//! e-mails, lockout after repeated failures, idle and absolute timeouts read from the injectable clock, and every
//! login, failure, lockout and logout audited.

use std::sync::OnceLock;

use secrecy::SecretString;
use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

use crate::DomainError;
use crate::audit::{Action, Actor, AuditCtx, AuditScope, Entry, Outcome, Target};
use crate::clock::Clock;
use crate::ids::{OrgId, UserId};
use crate::password::{PasswordHash, PlainPassword, hash_password, hash_password_blocking, verify_password_blocking};
use crate::store::Store;
use crate::user::{Email, Role, UserRecord, UserStatus};

/// The account security policy. The defaults are the promises of DESIGN.md §7; each is tested.
#[derive(Clone, Copy, Debug)]
pub struct SessionPolicy {
    /// Consecutive failures that lock an account.
    pub max_failures: u32,
    /// How long a lockout lasts.
    pub lockout: Duration,
    /// A session unused this long is ended.
    pub idle_timeout: Duration,
    /// A session ends this long after login whatever its use.
    pub absolute_timeout: Duration,
    /// A password older than this must be changed at the next login; `None` turns expiry off (NIST SP 800-63B
    /// allows it).
    pub password_expiry: Option<Duration>,
    /// A new password may not equal any of this many most recent ones (the current one included).
    pub password_history: usize,
    /// Failed sign-ins one client IP may make per window, across all accounts (password spraying).
    pub failures_per_ip: u32,
    /// The window of that limit.
    pub ip_window: Duration,
    /// The first progressive delay (from the third consecutive wrong password on); zero turns it off.
    pub progressive_delay: std::time::Duration,
}

impl SessionPolicy {
    /// The failure count and lock after one more failure: at the limit the account locks and the count restarts.
    #[must_use]
    pub fn after_failure(&self, user: &UserRecord, now: OffsetDateTime) -> (u32, Option<OffsetDateTime>) {
        let failures = user.failed_logins.saturating_add(1);
        if failures >= self.max_failures { (0, Some(now + self.lockout)) } else { (failures, user.locked_until) }
    }

    /// How long to hold back the answer to the `failures`-th consecutive wrong password: nothing for the first two,
    /// then the base doubling each time, at most 4 seconds.
    #[must_use]
    pub fn delay_after(&self, failures: u32) -> std::time::Duration {
        let Some(doublings) = failures.checked_sub(3) else { return std::time::Duration::ZERO };
        let delay = self.progressive_delay.saturating_mul(1 << doublings.min(8));
        delay.min(std::time::Duration::from_secs(4))
    }
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self {
            max_failures: 5,
            lockout: Duration::minutes(15),
            idle_timeout: Duration::minutes(15),
            absolute_timeout: Duration::hours(12),
            password_expiry: Some(Duration::days(90)),
            password_history: 6,
            failures_per_ip: 30,
            ip_window: Duration::minutes(15),
            progressive_delay: std::time::Duration::from_millis(250),
        }
    }
}

/// A session to store. The token itself is never stored, only its SHA-256.
#[derive(Clone, Debug)]
pub struct NewSession {
    /// SHA-256 of the cookie token.
    pub id_hash: [u8; 32],
    /// The organisation the session acts in.
    pub org: OrgId,
    /// The user.
    pub user: UserId,
    /// Login time.
    pub created_at: OffsetDateTime,
    /// Absolute expiry.
    pub expires_at: OffsetDateTime,
    /// The CSRF synchroniser token for this session's forms.
    pub csrf_token: String,
    /// The password expired: only the password change page is open.
    pub must_change_password: bool,
    /// The password was right but the second factor is still to come.
    pub mfa_pending: bool,
}

/// A stored session joined with its user and role.
#[derive(Clone, Debug)]
pub struct SessionRecord {
    /// SHA-256 of the cookie token.
    pub id_hash: [u8; 32],
    /// The organisation.
    pub org: OrgId,
    /// The user.
    pub user: UserId,
    /// The user's login.
    pub email: Email,
    /// The user's role in the organisation.
    pub role: Role,
    /// Whether the user may still log in.
    pub user_status: UserStatus,
    /// Last activity.
    pub last_seen_at: OffsetDateTime,
    /// Absolute expiry.
    pub expires_at: OffsetDateTime,
    /// The CSRF token.
    pub csrf_token: String,
    /// The password expired: only the password change page is open.
    pub must_change_password: bool,
    /// The password was right but the second factor is still to come.
    pub mfa_pending: bool,
    /// The organisation requires a second factor and the user has none yet: only enrolment is open.
    pub needs_mfa_enrolment: bool,
    /// When the user last re-authenticated in this session (step-up), if ever.
    pub reauthenticated_at: Option<OffsetDateTime>,
    /// The member holds the emergency (break-glass) right in the organisation.
    pub emergency_access: bool,
}

/// How stale a session's "last seen" time may get before a request records it again.
const LAST_SEEN_GRANULARITY: Duration = Duration::seconds(30);

/// How long a step-up re-authentication lets sensitive actions through.
pub const STEP_UP_VALIDITY: Duration = Duration::minutes(5);

impl SessionRecord {
    /// Whether a sensitive action (user administration, exports, key rotation) may proceed without asking again.
    #[must_use]
    pub fn recently_reauthenticated(&self, now: OffsetDateTime) -> bool {
        self.reauthenticated_at.is_some_and(|at| now - at <= STEP_UP_VALIDITY)
    }
}

/// What a user gives to re-authenticate.
pub struct StepUpProof {
    /// The password.
    pub password: SecretString,
    /// A TOTP code, when the user has TOTP.
    pub code: String,
}

/// Step-up re-authentication: the password again, and a TOTP code when the user has one. Failures count towards
/// the lockout like failed logins.
///
/// # Errors
/// Storage failures; a wrong password or code is `Ok(false)`.
pub async fn reauthenticate<S: Store>(
    store: &S,
    clock: &dyn Clock,
    policy: &SessionPolicy,
    masters: &crate::keys::MasterKeys,
    audit: AuditCtx<'_>,
    session: &SessionRecord,
    proof: StepUpProof,
) -> Result<bool, DomainError> {
    let StepUpProof { password, code } = proof;
    let code = code.as_str();
    let now = clock.now();
    let user =
        store.user_by_email(&session.email).await?.ok_or_else(|| DomainError::NotFound("no such user".into()))?;
    let password_ok = match PlainPassword::parse(password) {
        Ok(password) => verify_password_blocking(password, user.password_hash.clone()).await?,
        Err(_) => false,
    };
    let code_ok = match &user.totp {
        None => true,
        Some(blob) => crate::mfa::check_totp(masters, user.id, blob, user.totp_last_step, code, now)?.is_some(),
    };
    let targets = vec![Target::new("user", user.id)];
    if password_ok && code_ok {
        let entry = audit.entry(Entry::ok(Some(session.org), Action::StepUp, targets, now))?;
        store.mark_reauthenticated(session.id_hash, now, entry).await?;
        return Ok(true);
    }
    let mut entry = Entry::ok(Some(session.org), Action::StepUp, targets, now);
    entry.outcome = Outcome::Denied;
    let (failures, locked_until) = policy.after_failure(&user, now);
    store.record_login_failure(user.id, failures, locked_until, vec![audit.entry(entry)?]).await?;
    Ok(false)
}

/// The result of a login attempt. Every refusal looks the same to the client.
pub enum LoginOutcome {
    /// Logged in: set `token` as the session cookie.
    Success {
        /// The session cookie value.
        token: Zeroizing<String>,
        /// The session.
        session: NewSession,
    },
    /// Wrong e-mail, wrong password, locked or deactivated account: deliberately indistinguishable.
    Refused,
    /// Too many failures from this client's address recently; nothing was checked.
    Throttled,
}

/// A hash to verify against when the e-mail is unknown, so both paths cost the same argon2 work.
fn decoy_hash() -> Result<&'static PasswordHash, DomainError> {
    static DECOY: OnceLock<PasswordHash> = OnceLock::new();
    if let Some(hash) = DECOY.get() {
        return Ok(hash);
    }
    let password = PlainPassword::parse(SecretString::from("decoy password for unknown accounts".to_owned()))?;
    let hash = hash_password(&password)?;
    Ok(DECOY.get_or_init(|| hash))
}

/// Checks an e-mail and password and, when they match an active, unlocked account with a membership, opens a
/// session in the user's first organisation.
///
/// # Errors
/// Storage, audit or hashing failures; a wrong password is [`LoginOutcome::Refused`], not an error.
pub async fn login<S: Store>(
    store: &S,
    clock: &dyn Clock,
    policy: &SessionPolicy,
    audit: AuditCtx<'_>,
    email: &str,
    password: SecretString,
) -> Result<LoginOutcome, DomainError> {
    let now = clock.now();
    // Per-IP limit on failures, kept in the database so it holds across nodes. The IP is keyed-hashed: the
    // limiter table must not become a list of patients' addresses.
    let ip_key =
        audit.scope.context.ip.as_deref().map(|ip| format!("login-ip:{}", hex(&audit.auditor.target_hash(ip))));
    if let Some(key) = &ip_key
        && store.rate_limit_count(key, now - policy.ip_window).await? >= policy.failures_per_ip
    {
        return Ok(LoginOutcome::Throttled);
    }
    let outcome = check_password(store, now, policy, audit, email, password).await?;
    if matches!(outcome, LoginOutcome::Refused)
        && let Some(key) = &ip_key
    {
        store.hit_rate_limit(key, now, now - policy.ip_window).await?;
    }
    Ok(outcome)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn check_password<S: Store>(
    store: &S,
    now: OffsetDateTime,
    policy: &SessionPolicy,
    audit: AuditCtx<'_>,
    email: &str,
    password: SecretString,
) -> Result<LoginOutcome, DomainError> {
    let password = PlainPassword::parse(password).ok();
    let user = match Email::parse(email) {
        Ok(email) => store.user_by_email(&email).await?,
        Err(_) => None,
    };
    // Unknown e-mail, malformed input and known accounts all pay for one argon2 verification.
    let hash = user.as_ref().map_or(decoy_hash()?.clone(), |u| u.password_hash.clone());
    let rehash_input = password.clone();
    let password_ok = match password {
        Some(password) => verify_password_blocking(password, hash).await?,
        None => {
            let decoy = PlainPassword::parse(SecretString::from("not the password at all".to_owned()))?;
            let _ = verify_password_blocking(decoy, decoy_hash()?.clone()).await?;
            false
        }
    };
    let Some(user) = user else {
        let entry = failure_entry(audit, None, None, now)?;
        store.append_audit(vec![entry]).await?;
        return Ok(LoginOutcome::Refused);
    };
    let user_scope = AuditScope { actor: Actor::User(*user.id.as_uuid()), context: audit.scope.context.clone() };
    let as_user = AuditCtx { auditor: audit.auditor, scope: &user_scope };
    // Failures on a known account go to its organisation's trail, where its admins and auditors look.
    let membership = store.memberships_of(user.id).await?.into_iter().next();
    let home_org = membership.map(|m| m.org_id);
    let locked = user.locked_until.is_some_and(|until| until > now);
    if !password_ok || locked || user.status != UserStatus::Active {
        let mut entries = vec![failure_entry(as_user, home_org, Some(user.id), now)?];
        let (failures, locked_until) = if locked {
            (user.failed_logins, user.locked_until)
        } else if password_ok {
            (user.failed_logins, None) // right password, deactivated account: not a guessing attempt
        } else {
            let (failures, locked_until) = policy.after_failure(&user, now);
            if locked_until.is_some() {
                let lockout = Entry::ok(home_org, Action::Lockout, vec![Target::new("user", user.id)], now);
                entries.push(as_user.entry(lockout)?);
            }
            (failures, locked_until)
        };
        store.record_login_failure(user.id, failures, locked_until, entries).await?;
        if !password_ok && !locked {
            // Progressive delay: each further wrong guess on this account answers more slowly.
            tokio::time::sleep(policy.delay_after(user.failed_logins.saturating_add(1))).await;
        }
        return Ok(LoginOutcome::Refused);
    }
    if let Some(plain) = rehash_input
        && crate::password::needs_rehash(&user.password_hash)
    {
        // The password is known only now: move its hash to today's parameters.
        let hash = hash_password_blocking(plain).await?;
        store.rehash_password(user.id, hash).await?;
    }
    let Some(membership) = membership else {
        store.append_audit(vec![failure_entry(as_user, None, Some(user.id), now)?]).await?;
        return Ok(LoginOutcome::Refused);
    };
    let expired = policy.password_expiry.is_some_and(|max_age| now - user.password_changed_at > max_age);
    let (token, mut session) = new_session(policy, membership.org_id, user.id, now, expired)?;
    session.mfa_pending = user.totp.is_some() || !store.webauthn_credentials_of(user.id).await?.is_empty();
    let targets = vec![Target::new("user", user.id), Target::new("organisation", membership.org_id)];
    let entry = as_user.entry(Entry::ok(Some(membership.org_id), Action::LoginSuccess, targets, now))?;
    store.open_session(session.clone(), entry).await?;
    Ok(LoginOutcome::Success { token, session })
}

fn failure_entry(
    audit: AuditCtx<'_>,
    org: Option<OrgId>,
    user: Option<UserId>,
    now: OffsetDateTime,
) -> Result<crate::audit::PendingAudit, DomainError> {
    let targets = user.map(|u| vec![Target::new("user", u)]).unwrap_or_default();
    let mut entry = Entry::ok(org, Action::LoginFailure, targets, now);
    entry.outcome = Outcome::Denied;
    audit.entry(entry)
}

/// The session a cookie token names, if it is still valid: it exists, is neither idle past the timeout nor past its
/// absolute expiry, and its user is active. A valid session's activity time is moved to now.
///
/// # Errors
/// Storage failures.
pub async fn authenticate<S: Store>(
    store: &S,
    clock: &dyn Clock,
    policy: &SessionPolicy,
    token: &str,
) -> Result<Option<SessionRecord>, DomainError> {
    let id_hash = sealform_crypto::hash_token(token);
    let Some(session) = store.session(id_hash).await? else { return Ok(None) };
    let now = clock.now();
    let idle = now - session.last_seen_at > policy.idle_timeout;
    if idle || now >= session.expires_at || session.user_status != UserStatus::Active {
        store.close_session(id_hash, None).await?;
        return Ok(None);
    }
    // Recording every page view would put a durable write in front of each one; to the half-minute is enough for an
    // idle timeout of minutes (and errs towards ending a session early, never late).
    if now - session.last_seen_at >= LAST_SEEN_GRANULARITY {
        store.touch_session(id_hash, now).await?;
    }
    Ok(Some(session))
}

/// Ends a session (logout), audited.
///
/// # Errors
/// Storage and audit failures.
pub async fn logout<S: Store>(
    store: &S,
    clock: &dyn Clock,
    audit: AuditCtx<'_>,
    session: &SessionRecord,
) -> Result<(), DomainError> {
    let entry = audit.entry(Entry::ok(
        Some(session.org),
        Action::Logout,
        vec![Target::new("user", session.user)],
        clock.now(),
    ))?;
    store.close_session(session.id_hash, Some(entry)).await?;
    Ok(())
}

/// A fresh session for `user` (used after the second factor too).
///
/// # Errors
/// [`DomainError::Internal`] when the RNG fails.
pub fn fresh_session(
    policy: &SessionPolicy,
    org: OrgId,
    user: UserId,
    now: OffsetDateTime,
    must_change_password: bool,
) -> Result<(Zeroizing<String>, NewSession), DomainError> {
    new_session(policy, org, user, now, must_change_password)
}

/// A fresh session: a new random token (a new session id at login and at every privilege change) and CSRF token.
fn new_session(
    policy: &SessionPolicy,
    org: OrgId,
    user: UserId,
    now: OffsetDateTime,
    must_change_password: bool,
) -> Result<(Zeroizing<String>, NewSession), DomainError> {
    let (token, id_hash) = sealform_crypto::new_token().map_err(crate::error::crypto_failure("session token"))?;
    let (csrf_token, _) = sealform_crypto::new_token().map_err(crate::error::crypto_failure("csrf token"))?;
    let session = NewSession {
        id_hash,
        org,
        user,
        created_at: now,
        expires_at: now + policy.absolute_timeout,
        csrf_token: csrf_token.to_string(),
        must_change_password,
        mfa_pending: false,
    };
    Ok((token, session))
}

/// A password change, ready to store: the new hash, the old one for the history, and the session that replaces
/// every session the user had.
#[derive(Clone, Debug)]
pub struct PasswordChange {
    /// The user.
    pub user: UserId,
    /// The new hash.
    pub new_hash: PasswordHash,
    /// The hash it replaces, kept in the history.
    pub old_hash: PasswordHash,
    /// How many hashes the history keeps.
    pub keep: usize,
    /// When.
    pub at: OffsetDateTime,
    /// The new session.
    pub session: NewSession,
}

/// Checks a password `user` chooses to replace theirs (length, common-password list, and none of their last
/// [`SessionPolicy::password_history`] passwords) and hashes it. Shared by password change and reset.
///
/// # Errors
/// [`DomainError::Invalid`] naming the rule the password breaks.
pub(crate) async fn hash_replacement_password<S: Store>(
    store: &S,
    policy: &SessionPolicy,
    user: &UserRecord,
    new: SecretString,
) -> Result<PasswordHash, DomainError> {
    let chosen = PlainPassword::choose(new, &user.email)?;
    let recent = store.password_history(user.id, policy.password_history.saturating_sub(1)).await?;
    for old in std::iter::once(user.password_hash.clone()).chain(recent) {
        if verify_password_blocking(chosen.clone(), old).await? {
            return Err(DomainError::Invalid(format!(
                "choose a password you have not used for your last {} passwords",
                policy.password_history
            )));
        }
    }
    hash_password_blocking(chosen).await
}

/// Changes the signed-in user's password. The current password must be given; the new one must meet the length
/// policy and differ from the last [`SessionPolicy::password_history`] passwords. Every session of the user ends
/// and a new one (new id) replaces the current one.
///
/// # Errors
/// [`DomainError::Unauthorized`] for a wrong current password, [`DomainError::Invalid`] for a refused new one.
pub async fn change_password<S: Store>(
    store: &S,
    clock: &dyn Clock,
    policy: &SessionPolicy,
    audit: AuditCtx<'_>,
    session: &SessionRecord,
    current: SecretString,
    new: SecretString,
) -> Result<(Zeroizing<String>, NewSession), DomainError> {
    let user =
        store.user_by_email(&session.email).await?.ok_or_else(|| DomainError::NotFound("no such user".into()))?;
    let current =
        PlainPassword::parse(current).map_err(|_| DomainError::Unauthorized("the current password is wrong".into()))?;
    if !verify_password_blocking(current, user.password_hash.clone()).await? {
        return Err(DomainError::Unauthorized("the current password is wrong".into()));
    }
    let new_hash = hash_replacement_password(store, policy, &user, new).await?;
    let now = clock.now();
    let (token, new_session) = new_session(policy, session.org, session.user, now, false)?;
    let change = PasswordChange {
        user: user.id,
        new_hash,
        old_hash: user.password_hash,
        keep: policy.password_history.saturating_sub(1),
        at: now,
        session: new_session.clone(),
    };
    let entry = Entry::ok(Some(session.org), Action::UserUpdate, vec![Target::new("user", user.id)], now)
        .with_fields(vec!["password".into()]);
    store.change_password(change, audit.entry(entry)?).await?;
    Ok((token, new_session))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delay_grows_from_the_third_failure_and_is_capped() {
        let policy = SessionPolicy::default();
        let ms = |n| policy.delay_after(n).as_millis();
        assert_eq!((ms(1), ms(2), ms(3), ms(4), ms(5)), (0, 0, 250, 500, 1000));
        assert_eq!(ms(40), 4000);
        let off = SessionPolicy { progressive_delay: std::time::Duration::ZERO, ..SessionPolicy::default() };
        assert_eq!(off.delay_after(10).as_millis(), 0);
    }
}
