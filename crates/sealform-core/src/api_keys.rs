//! API keys (DESIGN.md §6): shown once, stored hashed with a visible prefix, scoped to actions and optionally to one
//! form, with optional expiry, last use recorded, revocable. A key never grants more than its user has: scopes
//! beyond the user's role are refused at creation and dropped at use (the role may have changed since).

use std::fmt;
use std::str::FromStr;

use time::OffsetDateTime;
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::DomainError;
use crate::audit::{Action, AuditCtx, Entry, Target};
use crate::clock::Clock;
use crate::error::crypto_failure;
use crate::ids::{FormId, OrgId, UserId};
use crate::store::Store;
use crate::user::{Email, Role};

/// What a key may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// Read forms and submissions.
    Read,
    /// Create submissions.
    Submit,
    /// Change forms and submissions.
    Write,
    /// Export submissions.
    Export,
    /// Manage users, grants and settings.
    Admin,
}

impl Scope {
    /// Every scope.
    pub const ALL: [Self; 5] = [Self::Read, Self::Submit, Self::Write, Self::Export, Self::Admin];

    /// The stable spelling.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Submit => "submit",
            Self::Write => "write",
            Self::Export => "export",
            Self::Admin => "admin",
        }
    }

    /// The scopes a role allows its keys.
    #[must_use]
    pub fn allowed_for(role: Role) -> &'static [Self] {
        match role {
            Role::Owner | Role::Admin => &Self::ALL,
            Role::FormManager => &[Self::Read, Self::Submit, Self::Write, Self::Export],
            Role::Reviewer => &[Self::Read, Self::Submit, Self::Write],
            Role::Approver => &[Self::Read],
            // Auditors read the audit trail, never PHI: their keys may read (the policy keeps submissions closed to
            // them, so `read` opens the trail and form questions only) and submit (e.g. synthetic checks).
            Role::Auditor => &[Self::Read, Self::Submit],
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|scope| scope.as_str() == s)
            .ok_or_else(|| DomainError::Invalid("unknown scope; expected read, submit, write, export or admin".into()))
    }
}

/// Parses a comma-separated scope list, sorted and without duplicates.
///
/// # Errors
/// [`DomainError::Invalid`] for an unknown or empty list.
pub fn parse_scopes<'a>(items: impl IntoIterator<Item = &'a str>) -> Result<Vec<Scope>, DomainError> {
    let mut scopes = items
        .into_iter()
        .flat_map(|item| item.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::parse)
        .collect::<Result<Vec<Scope>, _>>()?;
    scopes.sort();
    scopes.dedup();
    if scopes.is_empty() {
        return Err(DomainError::Invalid("give at least one scope".into()));
    }
    Ok(scopes)
}

/// A key to store.
#[derive(Clone, Debug)]
pub struct NewApiKey {
    /// Its id.
    pub id: Uuid,
    /// Owning organisation.
    pub org: OrgId,
    /// The user it acts for.
    pub user: UserId,
    /// A name for people.
    pub name: String,
    /// The visible prefix.
    pub prefix: String,
    /// SHA-256 of the whole key.
    pub key_hash: [u8; 32],
    /// Its scopes.
    pub scopes: Vec<Scope>,
    /// Restricted to this form.
    pub form: Option<FormId>,
    /// Expiry.
    pub expires_at: Option<OffsetDateTime>,
    /// Creation time.
    pub created_at: OffsetDateTime,
}

/// A stored key, with its user's current role and status.
#[derive(Clone, Debug)]
pub struct ApiKeyRecord {
    /// The key.
    pub key: NewApiKey,
    /// When it was revoked.
    pub revoked_at: Option<OffsetDateTime>,
    /// When it was last used.
    pub last_used_at: Option<OffsetDateTime>,
    /// The user's role now.
    pub role: Role,
    /// Whether the user is active.
    pub user_active: bool,
    /// The organisation's request budget per key.
    pub rate: ApiRateLimit,
}

/// An organisation's request budget for each of its API keys: a token bucket that refills at `per_minute` and holds
/// at most `burst` requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApiRateLimit {
    /// Requests a minute, sustained.
    pub per_minute: u32,
    /// Requests that may come at once after a quiet spell.
    pub burst: u32,
}

impl ApiRateLimit {
    /// The default: enough that a bulk import or a load test on one machine is never throttled.
    pub const DEFAULT: Self = Self { per_minute: 100_000, burst: 100_000 };
    /// The largest either figure may be set to (the columns are 32-bit on both backends).
    pub const MAX: u32 = 100_000_000;

    /// A budget, checked: both figures between 1 and [`Self::MAX`].
    ///
    /// # Errors
    /// [`DomainError::Invalid`] naming the figure out of range.
    pub fn new(per_minute: u32, burst: u32) -> Result<Self, DomainError> {
        for (name, value) in [("requests per minute", per_minute), ("burst", burst)] {
            if value == 0 || value > Self::MAX {
                return Err(DomainError::Invalid(format!("{name} must be between 1 and {}", Self::MAX)));
            }
        }
        Ok(Self { per_minute, burst })
    }
}

impl Default for ApiRateLimit {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// An authenticated key: what a request made with it may do.
#[derive(Clone, Debug)]
pub struct ApiPrincipal {
    /// The key id.
    pub key: Uuid,
    /// The visible prefix.
    pub prefix: String,
    /// The organisation.
    pub org: OrgId,
    /// The user.
    pub user: UserId,
    /// The user's role in the organisation today.
    pub role: Role,
    /// Scopes, already narrowed to what the user's role allows today.
    pub scopes: Vec<Scope>,
    /// The form restriction.
    pub form: Option<FormId>,
    /// The organisation's request budget for this key.
    pub rate: ApiRateLimit,
}

/// How stale a key's "last used" time may get: recording every use would put a durable write in front of every API
/// read.
const LAST_USED_GRANULARITY: time::Duration = time::Duration::minutes(1);

const KEY_PREFIX: &str = "sf_";
/// Random alphanumerics after `sf_` in the visible prefix.
const PREFIX_CHARS: usize = 10;
/// The longest validity a key can be given, in days (a hundred years; beyond some millions `time` cannot even
/// represent the end); a key meant to outlive that is made without an end.
pub const MAX_VALID_DAYS: u32 = 36_500;

/// Creates a key for `email` in `org`. Returns the key text, shown once, and its visible prefix.
///
/// # Errors
/// [`DomainError::NotFound`] when the user is not a member; [`DomainError::Invalid`] for scopes beyond the role.
#[expect(clippy::too_many_arguments, reason = "mirrors the CLI's flags one to one")]
pub async fn create<S: Store>(
    store: &S,
    clock: &dyn Clock,
    audit: AuditCtx<'_>,
    org: OrgId,
    email: &str,
    name: &str,
    scopes: Vec<Scope>,
    form: Option<FormId>,
    valid_days: Option<u32>,
) -> Result<(Zeroizing<String>, String), DomainError> {
    let name = name.trim();
    // One line of text: control characters (NUL among them, which PostgreSQL cannot store) are refused.
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(DomainError::Invalid("a key name must be one line of 1 to 100 characters".into()));
    }
    if valid_days.is_some_and(|days| !(1..=MAX_VALID_DAYS).contains(&days)) {
        return Err(DomainError::Invalid(format!("a key is valid for 1 to {MAX_VALID_DAYS} days, or without end")));
    }
    let email = Email::parse(email)?;
    let user = store.user_by_email(&email).await?.ok_or_else(|| DomainError::NotFound("no such user".into()))?;
    let membership = store
        .memberships_of(user.id)
        .await?
        .into_iter()
        .find(|m| m.org_id == org)
        .ok_or_else(|| DomainError::NotFound("the user is not a member of this organisation".into()))?;
    let allowed = Scope::allowed_for(membership.role);
    if let Some(extra) = scopes.iter().find(|s| !allowed.contains(s)) {
        return Err(DomainError::Invalid(format!(
            "a {} may not hold the {extra} scope: a key never grants more than its user has",
            membership.role
        )));
    }
    let (secret, _) = sealform_crypto::new_token().map_err(crypto_failure("API key"))?;
    let (prefix_source, _) = sealform_crypto::new_token().map_err(crypto_failure("API key prefix"))?;
    let prefix: String = format!(
        "{KEY_PREFIX}{}",
        prefix_source.chars().filter(char::is_ascii_alphanumeric).take(PREFIX_CHARS).collect::<String>()
    );
    let key = Zeroizing::new(format!("{prefix}_{}", secret.as_str()));
    let now = clock.now();
    let new = NewApiKey {
        id: Uuid::now_v7(),
        org,
        user: user.id,
        name: name.to_owned(),
        prefix: prefix.clone(),
        key_hash: sealform_crypto::hash_token(&key),
        scopes,
        form,
        expires_at: valid_days.map(|days| now + time::Duration::days(i64::from(days))),
        created_at: now,
    };
    let targets = vec![Target::new("api_key", new.id), Target::new("user", user.id)];
    let fields = new.scopes.iter().map(|s| format!("scope:{s}")).collect();
    let entry = audit.entry(Entry::ok(Some(org), Action::ApiKeyCreate, targets, now).with_fields(fields))?;
    store.tenant(new.org).insert_api_key(new, entry).await?;
    Ok((key, prefix))
}

/// Authenticates a bearer key: it must exist, match in constant time, be neither revoked nor expired, and belong to
/// an active member. Its scopes are narrowed to what the member's role allows now; its last use is recorded.
///
/// # Errors
/// [`DomainError::Unauthorized`] for any failure (one message, so keys cannot be probed); storage errors.
pub async fn authenticate<S: Store>(store: &S, clock: &dyn Clock, key: &str) -> Result<ApiPrincipal, DomainError> {
    let refused = || DomainError::Unauthorized("the API key is missing, wrong, expired or revoked".into());
    // `sf_` + 10 alphanumerics + `_` + the secret (whose base64 may itself contain `_`).
    let prefix = key
        .get(..KEY_PREFIX.len() + PREFIX_CHARS)
        .filter(|p| p.starts_with(KEY_PREFIX) && key.as_bytes().get(p.len()) == Some(&b'_'))
        // Only what could be a prefix reaches the store (a NUL there was a database error on PostgreSQL, answered
        // 503 and not counted as a failed key).
        .filter(|p| p[KEY_PREFIX.len()..].bytes().all(|b| b.is_ascii_alphanumeric()))
        .ok_or_else(refused)?;
    let record = store.api_key_by_prefix(prefix).await?.ok_or_else(refused)?;
    let now = clock.now();
    let hash = sealform_crypto::hash_token(key);
    let valid = sealform_crypto::constant_time_eq(&hash, &record.key.key_hash)
        && record.revoked_at.is_none()
        && record.key.expires_at.is_none_or(|at| at > now)
        && record.user_active;
    if !valid {
        return Err(refused());
    }
    if record.last_used_at.is_none_or(|at| now - at >= LAST_USED_GRANULARITY) {
        store.touch_api_key(record.key.id, now).await?;
    }
    let allowed = Scope::allowed_for(record.role);
    let scopes = record.key.scopes.iter().copied().filter(|s| allowed.contains(s)).collect();
    Ok(ApiPrincipal {
        key: record.key.id,
        prefix: record.key.prefix,
        org: record.key.org,
        user: record.key.user,
        role: record.role,
        scopes,
        form: record.key.form,
        rate: record.rate,
    })
}

/// Revokes a key by its prefix, within `org`.
///
/// # Errors
/// [`DomainError::NotFound`] when no such key exists in `org`.
pub async fn revoke<S: Store>(
    store: &S,
    clock: &dyn Clock,
    audit: AuditCtx<'_>,
    org: OrgId,
    prefix: &str,
) -> Result<(), DomainError> {
    let record = store
        .api_key_by_prefix(prefix)
        .await?
        .filter(|r| r.key.org == org)
        .ok_or_else(|| DomainError::NotFound("no such API key".into()))?;
    let now = clock.now();
    let entry =
        audit.entry(Entry::ok(Some(org), Action::ApiKeyRevoke, vec![Target::new("api_key", record.key.id)], now))?;
    store.tenant(org).revoke_api_key(record.key.id, now, entry).await?;
    Ok(())
}
