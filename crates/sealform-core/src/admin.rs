//! Operator services behind `sealform admin`: bootstrap the installation, add organisations.

use sealform_crypto::{KeyEncryptionKey, Suite};
use secrecy::SecretString;

use crate::DomainError;
use crate::api_keys::ApiRateLimit;
use crate::audit::{Action, AuditCtx, Entry, Target};
use crate::clock::Clock;
use crate::ids::{OrgId, UserId};
use crate::keys::new_org_key;
use crate::org::OrgName;
use crate::password::{PlainPassword, hash_password_blocking, verify_password_blocking};
use crate::store::{ByMember, NewOrganisation, NewUser, Owner, Store};
use crate::user::{Email, Role, UserStatus};

/// What an admin command created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CreatedOrganisation {
    /// The new organisation.
    pub org_id: OrgId,
    /// Its owner.
    pub owner_id: UserId,
    /// Whether the owner's login was created now (false: an existing user became owner).
    pub owner_is_new: bool,
}

impl CreatedOrganisation {
    fn targets(&self) -> Vec<Target> {
        vec![Target::new("organisation", self.org_id), Target::new("user", self.owner_id)]
    }
}

/// The input of both commands, parsed before any work is done.
struct Request {
    org: NewOrganisation,
    email: Email,
    password: PlainPassword,
}

/// What an operator asks for: the organisation, its key suite and its owner's login.
pub struct OrganisationRequest<'a> {
    /// The organisation's name.
    pub name: &'a str,
    /// The suite its data keys are wrapped with.
    pub suite: Suite,
    /// The owner's e-mail.
    pub owner_email: &'a str,
    /// The owner's password.
    pub password: SecretString,
}

impl Request {
    fn parse(
        master: &dyn KeyEncryptionKey,
        clock: &dyn Clock,
        input: OrganisationRequest<'_>,
    ) -> Result<Self, DomainError> {
        let name = OrgName::parse(input.name)?;
        let email = Email::parse(input.owner_email)?;
        let password = PlainPassword::parse(input.password)?;
        let id = OrgId::new();
        let created_at = clock.now();
        let key = new_org_key(master, id, input.suite, created_at)?;
        Ok(Self { org: NewOrganisation { id, name, created_at, key }, email, password })
    }

    async fn new_owner(self) -> Result<(NewOrganisation, NewUser), DomainError> {
        let password_hash = hash_password_blocking(self.password.ensure_uncommon(&self.email)?).await?;
        Ok((self.org, NewUser { id: UserId::new(), email: self.email, password_hash }))
    }
}

/// Creates the installation's first organisation and its owner.
///
/// # Errors
/// [`DomainError::Invalid`] for a bad name, e-mail or password; [`DomainError::Conflict`] when the installation is
/// already bootstrapped.
pub async fn bootstrap<S: Store>(
    store: &S,
    master: &dyn KeyEncryptionKey,
    clock: &dyn Clock,
    audit: AuditCtx<'_>,
    request: OrganisationRequest<'_>,
) -> Result<CreatedOrganisation, DomainError> {
    let (org, owner) = Request::parse(master, clock, request)?.new_owner().await?;
    let created = CreatedOrganisation { org_id: org.id, owner_id: owner.id, owner_is_new: true };
    let targets = created.targets();
    let entries = vec![
        audit.entry(Entry::ok(None, Action::InstallationBootstrap, targets.clone(), org.created_at))?,
        audit.entry(Entry::ok(Some(org.id), Action::OrgCreate, targets, org.created_at))?,
    ];
    store.bootstrap(org, owner, entries).await.map_err(|err| match DomainError::from(err) {
        DomainError::Conflict(_) => DomainError::Conflict(
            "this installation is already bootstrapped; add organisations with `sealform admin org create`".into(),
        ),
        other => other,
    })?;
    tracing::info!(org.id = %created.org_id, user.id = %created.owner_id, "installation bootstrapped");
    Ok(created)
}

/// Adds an organisation with its owner. When the owner's e-mail already has a login, the password given must be
/// that login's password: it proves the operator speaks for that user, and the user becomes owner of the new
/// organisation too (one login, many organisations).
///
/// # Errors
/// [`DomainError::Invalid`] for bad input; [`DomainError::Conflict`] when the name is taken;
/// [`DomainError::Unauthorized`] when an existing user's password does not match.
pub async fn create_organisation<S: Store>(
    store: &S,
    master: &dyn KeyEncryptionKey,
    clock: &dyn Clock,
    audit: AuditCtx<'_>,
    request: OrganisationRequest<'_>,
) -> Result<CreatedOrganisation, DomainError> {
    let request = Request::parse(master, clock, request)?;
    if store.organisation_by_name(&request.org.name).await?.is_some() {
        return Err(DomainError::Conflict("an organisation with this name exists already".into()));
    }
    let (owner, owner_id) = member_login(store, request.email, request.password, NOT_ITS_PASSWORD).await?;
    let owner_is_new = matches!(owner, Owner::New(_));
    let created = CreatedOrganisation { org_id: request.org.id, owner_id, owner_is_new };
    let entry =
        audit.entry(Entry::ok(Some(created.org_id), Action::OrgCreate, created.targets(), request.org.created_at))?;
    store.create_organisation(request.org, owner, entry).await?;
    tracing::info!(org.id = %created.org_id, user.id = %created.owner_id, "organisation created");
    Ok(created)
}

/// Deletes an organisation with everything it owns. Its private keys go with it, so any copy of its data left in
/// backups or freed pages can no longer be decrypted (crypto-shredding).
///
/// # Errors
/// [`DomainError::NotFound`] when it does not exist; storage errors.
pub async fn delete_organisation<S: Store>(
    store: &S,
    clock: &dyn Clock,
    audit: AuditCtx<'_>,
    org: OrgId,
) -> Result<(), DomainError> {
    let entry =
        audit.entry(Entry::ok(Some(org), Action::OrgDelete, vec![Target::new("organisation", org)], clock.now()))?;
    if !store.tenant(org).delete_organisation(entry).await? {
        return Err(DomainError::NotFound("no such organisation".into()));
    }
    tracing::info!(org.id = %org, "organisation deleted and its keys destroyed");
    Ok(())
}

/// Refusal when the CLI names an existing login with a password that is not its own.
const NOT_ITS_PASSWORD: &str = "this e-mail already has a login and the password given is not its password";

/// The login a new member signs in with: the existing one for `email`, proven by `password` (refused with
/// `mismatch` otherwise), or a new user whose chosen `password` must pass the policy.
///
/// # Errors
/// [`DomainError::Unauthorized`] with `mismatch`; [`DomainError::Invalid`] for a refused new password.
pub(crate) async fn member_login<S: Store>(
    store: &S,
    email: Email,
    password: PlainPassword,
    mismatch: &str,
) -> Result<(Owner, UserId), DomainError> {
    match store.user_by_email(&email).await? {
        Some(existing) => {
            if !verify_password_blocking(password, existing.password_hash).await? {
                return Err(DomainError::Unauthorized(mismatch.to_owned()));
            }
            Ok((Owner::Existing(existing.id), existing.id))
        }
        None => {
            let password_hash = hash_password_blocking(password.ensure_uncommon(&email)?).await?;
            let id = UserId::new();
            Ok((Owner::New(NewUser { id, email, password_hash }), id))
        }
    }
}

/// Adds a user to an organisation with a role. A new login is created with the given password; an existing login
/// must prove itself with its password (as for [`create_organisation`]). The user can log in at once.
///
/// # Errors
/// [`DomainError::Invalid`] for bad input; [`DomainError::Conflict`] when already a member;
/// [`DomainError::Unauthorized`] when an existing user's password does not match.
pub async fn add_user<S: Store>(
    store: &S,
    clock: &dyn Clock,
    audit: AuditCtx<'_>,
    org: OrgId,
    email: &str,
    role: Role,
    password: SecretString,
) -> Result<UserId, DomainError> {
    let email = Email::parse(email)?;
    let (member, user_id) = member_login(store, email, PlainPassword::parse(password)?, NOT_ITS_PASSWORD).await?;
    let now = clock.now();
    let targets = vec![Target::new("user", user_id), Target::new("organisation", org)];
    let mut entry = Entry::ok(Some(org), Action::UserCreate, targets, now);
    entry.fields = vec![format!("role:{}", role.as_str())];
    store.tenant(org).add_member(member, role, now, audit.entry(entry)?).await?;
    tracing::info!(org.id = %org, user.id = %user_id, role = role.as_str(), "user added");
    Ok(user_id)
}

/// Deactivates a login: it can no longer sign in, and every session it has ends at once. `by` is the organisation's
/// member who did it (its audit search then shows the entry; an owner is deactivated only by an owner, and never the
/// last active one); `None` for the operator, for the whole installation.
///
/// # Errors
/// [`DomainError::NotFound`] for an unknown e-mail; [`DomainError::Conflict`] with [`crate::store::OWNERS_ONLY`] or
/// [`crate::store::LAST_OWNER`]; storage errors.
pub async fn deactivate_user<S: Store>(
    store: &S,
    clock: &dyn Clock,
    audit: AuditCtx<'_>,
    by: Option<ByMember>,
    email: &str,
) -> Result<UserId, DomainError> {
    let email = Email::parse(email)?;
    let user = store.user_by_email(&email).await?.ok_or_else(|| DomainError::NotFound("no such user".into()))?;
    let org = by.map(|b| b.org);
    let entry = audit.entry(Entry::ok(org, Action::UserDeactivate, vec![Target::new("user", user.id)], clock.now()))?;
    store.set_user_status(user.id, UserStatus::Deactivated, by, entry).await?;
    tracing::info!(user.id = %user.id, "user deactivated and sessions revoked");
    Ok(user.id)
}

/// Sets the organisation's "MFA required" policy: when on, a member without a second factor can do nothing after
/// signing in but enrol one.
///
/// # Errors
/// Storage failures.
pub async fn set_mfa_required<S: Store>(
    store: &S,
    clock: &dyn Clock,
    audit: AuditCtx<'_>,
    org: OrgId,
    required: bool,
) -> Result<(), DomainError> {
    let entry = Entry::ok(Some(org), Action::OrgUpdate, vec![Target::new("organisation", org)], clock.now())
        .with_fields(vec![format!("mfa_required:{required}")]);
    store.tenant(org).set_mfa_required(required, audit.entry(entry)?).await?;
    Ok(())
}

/// Sets the organisation's request budget for each of its API keys (requests a minute and burst). Takes effect on
/// each key's next request.
///
/// # Errors
/// [`DomainError::NotFound`] for an unknown organisation; storage failures.
pub async fn set_api_rate_limit<S: Store>(
    store: &S,
    clock: &dyn Clock,
    audit: AuditCtx<'_>,
    org: OrgId,
    limit: ApiRateLimit,
) -> Result<(), DomainError> {
    let entry = Entry::ok(Some(org), Action::OrgUpdate, vec![Target::new("organisation", org)], clock.now())
        .with_fields(vec![
            format!("api_requests_per_minute:{}", limit.per_minute),
            format!("api_burst:{}", limit.burst),
        ]);
    store.tenant(org).set_api_rate_limit(limit, audit.entry(entry)?).await?;
    Ok(())
}
