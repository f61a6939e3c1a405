//! Invitations (DESIGN.md §7): an administrator invites an e-mail address with a role; the invitee follows a
//! single-use link (valid 7 days) and sets a password — or, with a login already, proves it — and becomes a member.

use secrecy::SecretString;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::DomainError;
use crate::audit::{Action, AuditCtx, Entry, Target};
use crate::clock::Clock;
use crate::error::crypto_failure;
use crate::ids::{OrgId, UserId};
use crate::mail::{Mail, Mailer};
use crate::store::Store;
use crate::user::{Email, Role};

/// How long an invitation link works.
pub const INVITATION_VALIDITY: Duration = Duration::days(7);

/// An invitation to store.
#[derive(Clone, Debug)]
pub struct NewInvitation {
    /// Its id.
    pub id: Uuid,
    /// The organisation.
    pub org: OrgId,
    /// Who is invited.
    pub email: Email,
    /// With which role.
    pub role: Role,
    /// SHA-256 of the link's token.
    pub token_hash: [u8; 32],
    /// When it was made.
    pub created_at: OffsetDateTime,
    /// When the link stops working.
    pub expires_at: OffsetDateTime,
}

/// A stored invitation.
#[derive(Clone, Debug)]
pub struct InvitationRecord {
    /// The invitation.
    pub invitation: NewInvitation,
    /// When it was accepted.
    pub accepted_at: Option<OffsetDateTime>,
}

/// Invites `email` into `org` with `role` and e-mails the link. The link is the only copy of the token.
///
/// # Errors
/// [`DomainError::Invalid`] for a bad address; storage and mail failures.
#[expect(clippy::too_many_arguments, reason = "one call per invitation, each argument distinct")]
pub async fn invite<S: Store>(
    store: &S,
    mailer: &dyn Mailer,
    clock: &dyn Clock,
    audit: AuditCtx<'_>,
    org: OrgId,
    org_name: &str,
    email: &str,
    role: Role,
    public_url: &str,
) -> Result<Uuid, DomainError> {
    let email = Email::parse(email)?;
    let (token, token_hash) = sealform_crypto::new_token().map_err(crypto_failure("invitation token"))?;
    let now = clock.now();
    let invitation = NewInvitation {
        id: Uuid::now_v7(),
        org,
        email: email.clone(),
        role,
        token_hash,
        created_at: now,
        expires_at: now + INVITATION_VALIDITY,
    };
    let id = invitation.id;
    let mut entry = Entry::ok(Some(org), Action::UserInvite, vec![Target::new("invitation", id)], now);
    entry.fields = vec![format!("role:{}", role.as_str())];
    store.tenant(invitation.org).insert_invitation(invitation, audit.entry(entry)?).await?;
    let link = format!("{}/invite/{}", public_url.trim_end_matches('/'), token.as_str());
    let body = format!(
        "You have been invited to join {org_name} on Sealform as {role}.\n\n\
         Open this link within 7 days to set your password and sign in:\n\n{link}\n\n\
         If you did not expect this invitation, ignore this message."
    );
    mailer.send(Mail { to: email, subject: format!("Your invitation to {org_name} on Sealform"), body }).await?;
    Ok(id)
}

/// The open invitation a link's token names: it exists, is unused and has not expired.
///
/// # Errors
/// [`DomainError::NotFound`] otherwise (one message for all three, so links cannot be probed).
pub async fn open_invitation<S: Store>(
    store: &S,
    clock: &dyn Clock,
    token: &str,
) -> Result<InvitationRecord, DomainError> {
    let gone =
        || DomainError::NotFound("this invitation link is not valid: it was used, has expired or never existed".into());
    let record = store.invitation_by_token(sealform_crypto::hash_token(token)).await?.ok_or_else(gone)?;
    if record.accepted_at.is_some() || record.invitation.expires_at <= clock.now() {
        return Err(gone());
    }
    Ok(record)
}

/// Accepts an invitation: a new login with `password`, or an existing login that proves itself with it. The link
/// works once.
///
/// # Errors
/// As [`open_invitation`]; [`DomainError::Invalid`] for a password the policy refuses;
/// [`DomainError::Unauthorized`] when an existing login's password does not match.
pub async fn accept<S: Store>(
    store: &S,
    clock: &dyn Clock,
    audit: AuditCtx<'_>,
    token: &str,
    password: SecretString,
) -> Result<UserId, DomainError> {
    let record = open_invitation(store, clock, token).await?;
    let invitation = record.invitation;
    let (member, user_id) = crate::admin::member_login(
        store,
        invitation.email.clone(),
        crate::password::PlainPassword::parse(password)?,
        "this e-mail already has a login: enter that login's password to accept",
    )
    .await?;
    let now = clock.now();
    let targets = vec![Target::new("user", user_id), Target::new("invitation", invitation.id)];
    let entry = audit.entry(Entry::ok(Some(invitation.org), Action::UserCreate, targets, now))?;
    if !store.tenant(invitation.org).accept_invitation(invitation.id, member, invitation.role, now, entry).await? {
        return Err(DomainError::NotFound(
            "this invitation link is not valid: it was used, has expired or never existed".into(),
        ));
    }
    Ok(user_id)
}
