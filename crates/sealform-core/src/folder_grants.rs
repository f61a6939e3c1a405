//! Grants on folders (DESIGN.md §6): one grant gives a member rights on every form in a folder and in the folders
//! below it, now and as forms are moved in; moving a form out takes them away. The store expands them into per-form
//! grants (marked [`Grant::via_folder`]) wherever a member's grants are loaded, so the policy and every surface treat
//! them as grants on each form. Changes are audited as `grant.create` / `grant.revoke` with the folder and the member
//! as targets and the grant before and after.

use time::OffsetDateTime;

use crate::DomainError;
use crate::audit::{Action, AuditCtx, Entry, PendingAudit, Target};
use crate::grants::{Grant, GrantTerms, Right, checked, describe_terms, role_in};
use crate::ids::{FolderId, FormId, OrgId, UserId};
use crate::store::Store;
use crate::user::Email;

/// One member's rights on one folder (and the folders below it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FolderGrant {
    /// The organisation.
    pub org: OrgId,
    /// The folder.
    pub folder: FolderId,
    /// The member.
    pub user: UserId,
    /// The rights, sorted, without repeats.
    pub rights: Vec<Right>,
    /// Answers to PHI questions show as `•••` and are never decrypted for the member.
    pub hide_phi: bool,
    /// When it stops working, if ever.
    pub expires_at: Option<OffsetDateTime>,
    /// Who gave it.
    pub granted_by: Option<UserId>,
    /// When.
    pub created_at: OffsetDateTime,
}

impl FolderGrant {
    /// Whether it works at `now`.
    #[must_use]
    pub fn in_force(&self, now: OffsetDateTime) -> bool {
        self.expires_at.is_none_or(|at| now < at)
    }

    /// The grant this one gives on `form`, a form in the folder or below it: the same terms, marked as coming from the
    /// folder (what the store's expansion in `grants_of_user` yields).
    #[must_use]
    pub fn applied_to(&self, form: FormId) -> Grant {
        Grant {
            org: self.org,
            form,
            user: self.user,
            rights: self.rights.clone(),
            hide_phi: self.hide_phi,
            expires_at: self.expires_at,
            granted_by: self.granted_by,
            created_at: self.created_at,
            break_glass: false,
            via_folder: Some(self.folder),
        }
    }

    /// A one-line description for the audit trail.
    #[must_use]
    pub fn describe(&self) -> String {
        describe_terms(&self.rights, self.hide_phi, self.expires_at)
    }
}

/// A folder grant with its member's login, for the folder's access page.
#[derive(Clone, Debug)]
pub struct FolderGrantRecord {
    /// The grant.
    pub grant: FolderGrant,
    /// The member's login.
    pub email: Email,
}

fn entry(
    audit: AuditCtx<'_>,
    action: Action,
    (org, folder, user): (OrgId, FolderId, UserId),
    before: Option<&FolderGrant>,
    after: Option<&FolderGrant>,
    now: OffsetDateTime,
) -> Result<PendingAudit, DomainError> {
    let describe = |g: Option<&FolderGrant>| g.map_or_else(|| "none".to_owned(), FolderGrant::describe);
    let fields = vec![format!("before:{}", describe(before)), format!("after:{}", describe(after))];
    let targets = vec![Target::new("folder", folder), Target::new("user", user)];
    audit.entry(Entry::ok(Some(org), action, targets, now).with_fields(fields))
}

/// Gives (or replaces) `user`'s grant on `folder`, audited as `grant.create` with the grant before and after.
///
/// # Errors
/// [`DomainError::NotFound`] for a folder or member not in `org`; [`DomainError::Invalid`] as for form grants (no
/// rights, rights beyond the role, an owner or admin, an expiry in the past).
#[expect(clippy::too_many_arguments, reason = "who grants what to whom on which folder, each argument distinct")]
pub async fn grant_folder_access<S: Store>(
    store: &S,
    audit: AuditCtx<'_>,
    org: OrgId,
    folder: FolderId,
    user: UserId,
    terms: &GrantTerms,
    granted_by: Option<UserId>,
    now: OffsetDateTime,
) -> Result<FolderGrant, DomainError> {
    store.tenant(org).folder(folder).await?.ok_or_else(|| DomainError::NotFound("no such folder".into()))?;
    let role = role_in(store, org, user).await?;
    let rights = checked(terms, role, now)?;
    let grant = FolderGrant {
        org,
        folder,
        user,
        rights,
        hide_phi: terms.hide_phi,
        expires_at: terms.expires_at,
        granted_by,
        created_at: now,
    };
    let before = store.tenant(org).folder_grant(folder, user).await?;
    let audit = entry(audit, Action::GrantCreate, (org, folder, user), before.as_ref(), Some(&grant), now)?;
    store.tenant(grant.org).put_folder_grant(grant.clone(), audit).await?;
    Ok(grant)
}

/// Removes `user`'s grant on `folder`, audited as `grant.revoke`.
///
/// # Errors
/// [`DomainError::NotFound`] when there is no such grant.
pub async fn revoke_folder_access<S: Store>(
    store: &S,
    audit: AuditCtx<'_>,
    org: OrgId,
    folder: FolderId,
    user: UserId,
    now: OffsetDateTime,
) -> Result<(), DomainError> {
    let missing = || DomainError::NotFound("no such grant".into());
    let before = store.tenant(org).folder_grant(folder, user).await?.ok_or_else(missing)?;
    let audit = entry(audit, Action::GrantRevoke, (org, folder, user), Some(&before), None, now)?;
    if store.tenant(org).delete_folder_grant(folder, user, audit).await? { Ok(()) } else { Err(missing()) }
}
