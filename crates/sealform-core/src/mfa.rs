//! Second factors (DESIGN.md §7): TOTP (RFC 6238) with single-use recovery codes. The TOTP secret is wrapped under
//! the master key; recovery codes are stored as SHA-256 (they carry 50 random bits each, so a fast hash suffices).

use sealform_crypto::TotpSecret;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::DomainError;
use crate::audit::{Action, AuditCtx, Entry, Outcome, Target};
use crate::clock::Clock;
use crate::error::crypto_failure;
use crate::ids::UserId;
use crate::keys::{MasterKeys, MasterWrappedBlob, MasterWrappedRef};
use crate::sessions::{NewSession, SessionPolicy, SessionRecord};
use crate::store::Store;

/// Recovery codes issued at enrolment.
pub const RECOVERY_CODES: usize = 10;

/// A confirmed enrolment, ready to store.
#[derive(Clone, Debug)]
pub struct TotpEnrolment {
    /// The user.
    pub user: UserId,
    /// The wrapped secret.
    pub secret: MasterWrappedBlob,
    /// The step of the code that confirmed the enrolment (so it cannot be replayed at login).
    pub last_step: u64,
    /// SHA-256 of each recovery code.
    pub recovery_hashes: Vec<[u8; 32]>,
}

/// How a second-factor check was passed.
#[derive(Clone, Copy, Debug)]
pub enum SecondFactor {
    /// A TOTP code of this step.
    Totp(u64),
    /// A recovery code with this hash.
    Recovery([u8; 32]),
    /// A passkey's assertion: the credential and its new signature counter (stored only if it grew, or both are 0).
    WebAuthn {
        /// Our id of the credential.
        credential: uuid::Uuid,
        /// The counter the assertion carried.
        sign_count: u32,
    },
}

/// A passed second-factor check, ready to store.
#[derive(Clone, Debug)]
pub struct MfaCompletion {
    /// The user.
    pub user: UserId,
    /// What was used.
    pub factor: SecondFactor,
    /// The pending session to end.
    pub pending_session: [u8; 32],
    /// The full session that replaces it (a new id: the privilege changed).
    pub session: NewSession,
}

/// A fresh secret to show at enrolment (QR code and text).
///
/// # Errors
/// [`DomainError::Internal`] when the RNG fails.
pub fn new_secret() -> Result<TotpSecret, DomainError> {
    TotpSecret::generate().map_err(crypto_failure("TOTP secret"))
}

/// Confirms an enrolment: `code` must be valid for `secret_base32` now. Returns the recovery codes, shown once.
///
/// # Errors
/// [`DomainError::Invalid`] for a wrong code or a malformed secret.
pub async fn enrol_totp<S: Store>(
    store: &S,
    clock: &dyn Clock,
    masters: &MasterKeys,
    audit: AuditCtx<'_>,
    session: &SessionRecord,
    secret_base32: &str,
    code: &str,
) -> Result<Vec<Zeroizing<String>>, DomainError> {
    let secret = TotpSecret::from_base32(secret_base32)
        .map_err(|_| DomainError::Invalid("the secret is malformed; reload the page".into()))?;
    let now = clock.now();
    let step = secret.verify(code, now.unix_timestamp(), None).ok_or_else(|| {
        DomainError::Invalid("that code is not right; check the time on your device and try the next one".into())
    })?;
    let master = masters.current();
    let wrapped = master
        .wrap_secret(&secret.to_secret_bytes(), &MasterWrappedRef::TotpSecret { user: session.user }.aad())
        .map_err(crypto_failure("wrap TOTP secret"))?;
    let mut codes = Vec::with_capacity(RECOVERY_CODES);
    let mut hashes = Vec::with_capacity(RECOVERY_CODES);
    for _ in 0..RECOVERY_CODES {
        let (token, _) = sealform_crypto::new_token().map_err(crypto_failure("recovery code"))?;
        let chars: String =
            token.chars().filter(char::is_ascii_alphanumeric).take(10).collect::<String>().to_lowercase();
        let code = Zeroizing::new(format!("{}-{}", &chars[..5], &chars[5..]));
        hashes.push(sealform_crypto::hash_token(&code));
        codes.push(code);
    }
    let enrolment = TotpEnrolment {
        user: session.user,
        secret: MasterWrappedBlob { wrapped, fingerprint: master.fingerprint() },
        last_step: step,
        recovery_hashes: hashes,
    };
    let entry = audit.entry(
        Entry::ok(Some(session.org), Action::MfaEnrol, vec![Target::new("user", session.user)], now)
            .with_fields(vec!["totp".into()]),
    )?;
    store.enrol_totp(enrolment, entry).await?;
    Ok(codes)
}

/// Checks the second factor of a pending session: a TOTP code (each step works once) or an unused recovery code.
/// On success the pending session is replaced by a full one; on failure the attempt counts towards the lockout.
///
/// # Errors
/// Storage and crypto failures; a wrong code is `Ok(None)`.
pub async fn complete_login<S: Store>(
    store: &S,
    clock: &dyn Clock,
    policy: &SessionPolicy,
    masters: &MasterKeys,
    audit: AuditCtx<'_>,
    pending: &SessionRecord,
    code: &str,
) -> Result<Option<(Zeroizing<String>, NewSession)>, DomainError> {
    let now = clock.now();
    let user =
        store.user_by_email(&pending.email).await?.ok_or_else(|| DomainError::NotFound("no such user".into()))?;
    let targets = vec![Target::new("user", user.id)];
    let factor = match &user.totp {
        Some(blob) => check_code(masters, user.id, blob, user.totp_last_step, code, now)?,
        None => None,
    };
    let locked = user.locked_until.is_some_and(|until| until > now);
    if let (Some(factor), false) = (factor, locked) {
        let (token, session) =
            crate::sessions::fresh_session(policy, pending.org, user.id, now, pending.must_change_password)?;
        let completion =
            MfaCompletion { user: user.id, factor, pending_session: pending.id_hash, session: session.clone() };
        let entry = audit.entry(Entry::ok(Some(pending.org), Action::MfaSuccess, targets.clone(), now))?;
        if store.complete_mfa(completion, entry).await? {
            return Ok(Some((token, session)));
        }
    }
    let mut entry = Entry::ok(Some(pending.org), Action::MfaFailure, targets, now);
    entry.outcome = Outcome::Denied;
    let (failures, locked_until) = policy.after_failure(&user, now);
    store.record_login_failure(user.id, failures, locked_until, vec![audit.entry(entry)?]).await?;
    Ok(None)
}

/// Checks a TOTP code (not a recovery code) against the user's secret; the matching step, if any.
///
/// # Errors
/// [`DomainError::Internal`] when the secret cannot be unwrapped.
pub(crate) fn check_totp(
    masters: &MasterKeys,
    user: UserId,
    blob: &MasterWrappedBlob,
    last_step: Option<u64>,
    code: &str,
    now: OffsetDateTime,
) -> Result<Option<u64>, DomainError> {
    match check_code(masters, user, blob, last_step, code, now)? {
        Some(SecondFactor::Totp(step)) => Ok(Some(step)),
        _ => Ok(None),
    }
}

fn check_code(
    masters: &MasterKeys,
    user: UserId,
    blob: &MasterWrappedBlob,
    last_step: Option<u64>,
    code: &str,
    now: OffsetDateTime,
) -> Result<Option<SecondFactor>, DomainError> {
    let code = code.trim();
    if code.len() == 11 && code.as_bytes()[5] == b'-' {
        return Ok(Some(SecondFactor::Recovery(sealform_crypto::hash_token(&code.to_lowercase()))));
    }
    let master = masters
        .by_fingerprint(blob.fingerprint)
        .ok_or_else(|| DomainError::Internal("the master key that wrapped this TOTP secret is not held".into()))?;
    let bytes = master
        .unwrap_secret(&blob.wrapped, &MasterWrappedRef::TotpSecret { user }.aad())
        .map_err(crypto_failure("unwrap TOTP secret"))?;
    let secret = TotpSecret::from_bytes(&bytes).map_err(crypto_failure("decode TOTP secret"))?;
    Ok(secret.verify(code, now.unix_timestamp(), last_step).map(SecondFactor::Totp))
}
