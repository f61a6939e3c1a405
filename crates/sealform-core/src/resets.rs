//! Password reset by e-mailed link (DESIGN.md §7): single use, valid 30 minutes; setting the new password ends every
//! session of the user. Asking for a reset answers the same whether or not the address has a login.

use secrecy::SecretString;
use time::{Duration, OffsetDateTime};

use crate::DomainError;
use crate::audit::{Action, AuditCtx, Entry, Target};
use crate::clock::Clock;
use crate::error::crypto_failure;
use crate::ids::UserId;
use crate::mail::{Mail, Mailer};
use crate::password::PasswordHash;
use crate::sessions::{SessionPolicy, hash_replacement_password};
use crate::store::Store;
use crate::user::{Email, UserStatus};

/// How long a reset link works.
pub const RESET_VALIDITY: Duration = Duration::minutes(30);

/// A reset to store.
#[derive(Clone, Debug)]
pub struct NewReset {
    /// SHA-256 of the link's token.
    pub token_hash: [u8; 32],
    /// The user.
    pub user: UserId,
    /// When it was asked for.
    pub created_at: OffsetDateTime,
    /// When the link stops working.
    pub expires_at: OffsetDateTime,
}

/// A completed reset, ready to store.
#[derive(Clone, Debug)]
pub struct CompletedReset {
    /// The link's token hash (marked used).
    pub token_hash: [u8; 32],
    /// The user.
    pub user: UserId,
    /// The new hash.
    pub new_hash: PasswordHash,
    /// The hash it replaces, kept in the history.
    pub old_hash: PasswordHash,
    /// How many earlier hashes the history keeps.
    pub keep: usize,
    /// When.
    pub at: OffsetDateTime,
}

/// Sends a reset link when `email` belongs to an active login; does nothing visible otherwise.
///
/// # Errors
/// Storage and mail failures only.
pub async fn request_reset<S: Store>(
    store: &S,
    mailer: &dyn Mailer,
    clock: &dyn Clock,
    audit: AuditCtx<'_>,
    email: &str,
    public_url: &str,
) -> Result<(), DomainError> {
    let Ok(email) = Email::parse(email) else { return Ok(()) };
    let Some(user) = store.user_by_email(&email).await?.filter(|u| u.status == UserStatus::Active) else {
        return Ok(());
    };
    let (token, token_hash) = sealform_crypto::new_token().map_err(crypto_failure("reset token"))?;
    let now = clock.now();
    let reset = NewReset { token_hash, user: user.id, created_at: now, expires_at: now + RESET_VALIDITY };
    let entry = audit.entry(Entry::ok(None, Action::PasswordResetRequest, vec![Target::new("user", user.id)], now))?;
    store.insert_reset(reset, entry).await?;
    let link = format!("{}/reset/{}", public_url.trim_end_matches('/'), token.as_str());
    let body = format!(
        "Someone asked to reset the password of your Sealform login.\n\n\
         To choose a new password, open this link within 30 minutes:\n\n{link}\n\n\
         If it was not you, ignore this message: your password stays as it is."
    );
    mailer.send(Mail { to: email, subject: "Reset your Sealform password".into(), body }).await
}

/// The user an open reset link belongs to.
///
/// # Errors
/// [`DomainError::NotFound`] for a used, expired or unknown link (one message for all three).
pub async fn open_reset<S: Store>(store: &S, clock: &dyn Clock, token: &str) -> Result<UserId, DomainError> {
    let gone =
        || DomainError::NotFound("this reset link is not valid: it was used, has expired or never existed".into());
    let reset = store.reset_by_token(sealform_crypto::hash_token(token)).await?.ok_or_else(gone)?;
    if reset.1.is_some() || reset.0.expires_at <= clock.now() {
        return Err(gone());
    }
    Ok(reset.0.user)
}

/// Sets a new password through a reset link: the policy and history apply, the link is used up, and every session
/// of the user ends.
///
/// # Errors
/// As [`open_reset`]; [`DomainError::Invalid`] for a refused password.
pub async fn complete_reset<S: Store>(
    store: &S,
    clock: &dyn Clock,
    policy: &SessionPolicy,
    audit: AuditCtx<'_>,
    token: &str,
    new_password: SecretString,
) -> Result<(), DomainError> {
    let user_id = open_reset(store, clock, token).await?;
    let user = store.user_by_id(user_id).await?.ok_or_else(|| DomainError::NotFound("no such user".into()))?;
    let new_hash = hash_replacement_password(store, policy, &user, new_password).await?;
    let now = clock.now();
    let done = CompletedReset {
        token_hash: sealform_crypto::hash_token(token),
        user: user.id,
        new_hash,
        old_hash: user.password_hash,
        keep: policy.password_history.saturating_sub(1),
        at: now,
    };
    let entry = audit.entry(
        Entry::ok(None, Action::UserUpdate, vec![Target::new("user", user.id)], now)
            .with_fields(vec!["password".into()]),
    )?;
    if !store.complete_reset(done, entry).await? {
        return Err(DomainError::NotFound(
            "this reset link is not valid: it was used, has expired or never existed".into(),
        ));
    }
    Ok(())
}
