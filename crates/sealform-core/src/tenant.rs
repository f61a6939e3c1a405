//! The organisation-scoped storage handle (DESIGN.md §6, tenant isolation by construction).
//!
//! Every storage method that reads or writes an organisation's data takes an [`OrgScope`], and the only way to get
//! one is a [`Tenant`] handle, made from a store and an organisation id (`store.tenant(org)`). So the organisation
//! is bound once, where the caller learns it (the signed-in member, the API key, the form a respondent opened), and
//! every query through the handle is scoped by it: there is no call that reaches tenant data without naming an
//! organisation, and none that names it twice. Values that carry their own organisation (a grant, a new
//! submission, a search) must name the handle's: one that names another is refused as not found, the answer a
//! request for another organisation's resource gets everywhere.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::api_keys::{ApiKeyRecord, ApiRateLimit, NewApiKey};
use crate::audit::{AuditQuery, AuditRow, PendingAudit};
use crate::folder_grants::{FolderGrant, FolderGrantRecord};
use crate::folders::Folder;
use crate::form_settings::Webhook;
use crate::grants::{AccessRequest, AccessRequestRecord, Grant, GrantRecord};
use crate::idempotency::IdempotencyRecord;
use crate::ids::{FileId, FolderId, FormId, OrgId, SubmissionId, UserId};
use crate::invitations::NewInvitation;
use crate::keys::{MasterWrappedBlob, NewOrgKey, OrgKeyRecord, RewrapUpdate, WrappedKeyRef};
use crate::store::{Owner, Store, StoreError};
use crate::submission::{
    FileRecord, FormChange, FormRecord, NewForm, NewSubmission, SealedRevision, StoredRevision, SubmissionQuery,
    SubmissionStatus, SubmissionSummary,
};
use crate::user::{Role, UserRecord};

/// Proof that a storage call comes through a [`Tenant`] handle: the organisation every query of the call is
/// scoped by. Backends read it with [`OrgScope::id`]; only this crate can make one, so code outside it cannot call
/// a storage method on tenant data except through a handle:
///
/// ```compile_fail
/// // The field is private: an OrgScope cannot be made from a bare id.
/// let scope = sealform_core::tenant::OrgScope(sealform_core::ids::OrgId::new());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrgScope(OrgId);

impl OrgScope {
    /// The organisation the call is scoped by.
    #[must_use]
    pub fn id(self) -> OrgId {
        self.0
    }
}

/// One organisation's view of a store: the only way to its forms, submissions, keys, members, grants, folders and
/// settings.
#[derive(Debug)]
pub struct Tenant<'s, S> {
    store: &'s S,
    scope: OrgScope,
}

impl<S> Clone for Tenant<'_, S> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S> Copy for Tenant<'_, S> {}

/// Refuses a value that names another organisation than the handle's, as the resource not being there.
fn same_org(scope: OrgScope, named: OrgId, what: &str) -> Result<(), StoreError> {
    if scope.0 == named { Ok(()) } else { Err(StoreError::NotFound(format!("{what} not found in this organisation"))) }
}

impl<'s, S: Store> Tenant<'s, S> {
    /// The handle of `org` on `store`.
    pub fn new(store: &'s S, org: OrgId) -> Self {
        Self { store, scope: OrgScope(org) }
    }

    /// The organisation this handle is scoped by.
    #[must_use]
    pub fn org(&self) -> OrgId {
        self.scope.0
    }

    /// The store underneath, for what is not an organisation's data (the audit chain, users, sessions).
    #[must_use]
    pub fn store(&self) -> &'s S {
        self.store
    }

    // Organisation settings.

    /// See [`crate::store::OrganisationStore::organisation_settings`].
    pub async fn organisation_settings(&self) -> Result<Option<(bool, ApiRateLimit)>, StoreError> {
        self.store.organisation_settings(self.scope).await
    }

    /// See [`crate::store::OrganisationStore::set_mfa_required`].
    pub async fn set_mfa_required(&self, required: bool, audit: PendingAudit) -> Result<(), StoreError> {
        self.store.set_mfa_required(self.scope, required, audit).await
    }

    /// See [`crate::store::OrganisationStore::set_api_rate_limit`].
    pub async fn set_api_rate_limit(&self, limit: ApiRateLimit, audit: PendingAudit) -> Result<(), StoreError> {
        self.store.set_api_rate_limit(self.scope, limit, audit).await
    }

    /// See [`crate::store::SubmissionStore::delete_organisation`].
    pub async fn delete_organisation(&self, audit: PendingAudit) -> Result<bool, StoreError> {
        self.store.delete_organisation(self.scope, audit).await
    }

    // Members and invitations.

    /// See [`crate::store::UserStore::members_of`].
    pub async fn members_of(&self) -> Result<Vec<(UserRecord, Role)>, StoreError> {
        self.store.members_of(self.scope).await
    }

    /// See [`crate::store::UserStore::add_member`].
    pub async fn add_member(
        &self,
        member: Owner,
        role: Role,
        at: OffsetDateTime,
        audit: PendingAudit,
    ) -> Result<(), StoreError> {
        self.store.add_member(self.scope, member, role, at, audit).await
    }

    /// See [`crate::store::UserStore::set_role`].
    pub async fn set_role(&self, user: UserId, role: Role, by: UserId, audit: PendingAudit) -> Result<(), StoreError> {
        self.store.set_role(self.scope, user, role, by, audit).await
    }

    /// See [`crate::store::UserStore::insert_invitation`].
    pub async fn insert_invitation(&self, invitation: NewInvitation, audit: PendingAudit) -> Result<(), StoreError> {
        same_org(self.scope, invitation.org, "organisation")?;
        self.store.insert_invitation(self.scope, invitation, audit).await
    }

    /// See [`crate::store::UserStore::accept_invitation`].
    pub async fn accept_invitation(
        &self,
        id: Uuid,
        member: Owner,
        role: Role,
        at: OffsetDateTime,
        audit: PendingAudit,
    ) -> Result<bool, StoreError> {
        self.store.accept_invitation(self.scope, id, member, role, at, audit).await
    }

    // Keys.

    /// See [`crate::store::KeyStore::org_keys`].
    pub async fn org_keys(&self) -> Result<Vec<OrgKeyRecord>, StoreError> {
        self.store.org_keys(self.scope).await
    }

    /// See [`crate::store::KeyStore::form_index_key`].
    pub async fn form_index_key(&self, form: FormId) -> Result<Option<MasterWrappedBlob>, StoreError> {
        self.store.form_index_key(self.scope, form).await
    }

    /// See [`crate::store::KeyStore::begin_rotation`].
    pub async fn begin_rotation(&self, new_key: NewOrgKey, audit: PendingAudit) -> Result<(), StoreError> {
        self.store.begin_rotation(self.scope, new_key, audit).await
    }

    /// See [`crate::store::KeyStore::wrapped_keys_for`].
    pub async fn wrapped_keys_for(
        &self,
        key: sealform_crypto::KeyId,
        limit: u32,
    ) -> Result<Vec<(WrappedKeyRef, Vec<u8>)>, StoreError> {
        self.store.wrapped_keys_for(self.scope, key, limit).await
    }

    /// See [`crate::store::KeyStore::count_wrapped_keys`].
    pub async fn count_wrapped_keys(&self, key: sealform_crypto::KeyId) -> Result<u64, StoreError> {
        self.store.count_wrapped_keys(self.scope, key).await
    }

    /// See [`crate::store::KeyStore::replace_wrapped_keys`].
    pub async fn replace_wrapped_keys(&self, updates: Vec<RewrapUpdate>) -> Result<u64, StoreError> {
        self.store.replace_wrapped_keys(self.scope, updates).await
    }

    /// See [`crate::store::KeyStore::retire_org_key`].
    pub async fn retire_org_key(
        &self,
        key: sealform_crypto::KeyId,
        at: OffsetDateTime,
        audit: PendingAudit,
    ) -> Result<bool, StoreError> {
        self.store.retire_org_key(self.scope, key, at, audit).await
    }

    // Forms.

    /// See [`crate::store::SubmissionStore::forms_of`].
    pub async fn forms_of(&self) -> Result<Vec<FormRecord>, StoreError> {
        self.store.forms_of(self.scope).await
    }

    /// See [`crate::store::SubmissionStore::form`].
    pub async fn form(&self, form: FormId) -> Result<Option<FormRecord>, StoreError> {
        self.store.form(self.scope, form).await
    }

    /// See [`crate::store::SubmissionStore::form_definition`].
    pub async fn form_definition(&self, form: FormId, version: u32) -> Result<Option<String>, StoreError> {
        self.store.form_definition(self.scope, form, version).await
    }

    /// See [`crate::store::SubmissionStore::create_form`].
    pub async fn create_form(&self, form: NewForm, audit: PendingAudit) -> Result<(), StoreError> {
        same_org(self.scope, form.org_id, "organisation")?;
        self.store.create_form(self.scope, form, audit).await
    }

    /// See [`crate::store::SubmissionStore::change_form`].
    pub async fn change_form(
        &self,
        form: FormId,
        change: FormChange,
        at: OffsetDateTime,
        audit: PendingAudit,
    ) -> Result<FormRecord, StoreError> {
        self.store.change_form(self.scope, form, change, at, audit).await
    }

    /// See [`crate::store::FormSettingsStore::webhooks_of`].
    pub async fn webhooks_of(&self, form: FormId) -> Result<Vec<Webhook>, StoreError> {
        self.store.webhooks_of(self.scope, form).await
    }

    /// See [`crate::store::FormSettingsStore::insert_webhook`].
    pub async fn insert_webhook(
        &self,
        form: FormId,
        url: String,
        at: OffsetDateTime,
        audit: PendingAudit,
    ) -> Result<Webhook, StoreError> {
        self.store.insert_webhook(self.scope, form, url, at, audit).await
    }

    /// See [`crate::store::FormSettingsStore::delete_webhook`].
    pub async fn delete_webhook(&self, form: FormId, id: i64, audit: PendingAudit) -> Result<bool, StoreError> {
        self.store.delete_webhook(self.scope, form, id, audit).await
    }

    /// See [`crate::store::FormSettingsStore::form_properties`].
    pub async fn form_properties(&self, form: FormId) -> Result<Vec<(String, String)>, StoreError> {
        self.store.form_properties(self.scope, form).await
    }

    /// See [`crate::store::FormSettingsStore::put_form_properties`].
    pub async fn put_form_properties(
        &self,
        form: FormId,
        properties: Vec<(String, String)>,
        audit: PendingAudit,
    ) -> Result<(), StoreError> {
        self.store.put_form_properties(self.scope, form, properties, audit).await
    }

    // Submissions.

    /// See [`crate::store::SubmissionStore::insert_submission`].
    pub async fn insert_submission(&self, submission: NewSubmission, audit: PendingAudit) -> Result<(), StoreError> {
        same_org(self.scope, submission.org_id, "form")?;
        self.store.insert_submission(self.scope, submission, audit).await
    }

    /// See [`crate::store::IdempotencyStore::insert_submission_once`].
    pub async fn insert_submission_once(
        &self,
        submission: NewSubmission,
        audit: PendingAudit,
        record: IdempotencyRecord,
        expired_before: OffsetDateTime,
    ) -> Result<(), StoreError> {
        same_org(self.scope, submission.org_id, "form")?;
        same_org(self.scope, record.org, "API key")?;
        if record.submission != submission.id {
            return Err(StoreError::Conflict("an idempotency record must name the submission it stores".into()));
        }
        self.store.insert_submission_once(self.scope, submission, audit, record, expired_before).await
    }

    /// See [`crate::store::IdempotencyStore::idempotency_record`].
    pub async fn idempotency_record(
        &self,
        api_key: Uuid,
        key: &str,
        not_before: OffsetDateTime,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.store.idempotency_record(self.scope, api_key, key, not_before).await
    }

    /// See [`crate::store::SubmissionStore::count_submissions`].
    pub async fn count_submissions(&self, form: FormId) -> Result<u64, StoreError> {
        self.store.count_submissions(self.scope, form).await
    }

    /// See [`crate::store::SubmissionStore::submissions`].
    pub async fn submissions(&self, query: SubmissionQuery) -> Result<Vec<SubmissionSummary>, StoreError> {
        same_org(self.scope, query.org, "form")?;
        self.store.submissions(self.scope, query).await
    }

    /// See [`crate::store::SubmissionStore::submissions_sealed`].
    pub async fn submissions_sealed(
        &self,
        query: SubmissionQuery,
    ) -> Result<Vec<(SubmissionSummary, StoredRevision)>, StoreError> {
        same_org(self.scope, query.org, "form")?;
        self.store.submissions_sealed(self.scope, query).await
    }

    /// See [`crate::store::SubmissionStore::submissions_by_index`].
    pub async fn submissions_by_index(
        &self,
        form: FormId,
        field: &str,
        digest: [u8; 16],
    ) -> Result<Vec<SubmissionId>, StoreError> {
        self.store.submissions_by_index(self.scope, form, field, digest).await
    }

    /// See [`crate::store::SubmissionStore::submission`].
    pub async fn submission(&self, submission: SubmissionId) -> Result<Option<SubmissionSummary>, StoreError> {
        self.store.submission(self.scope, submission).await
    }

    /// See [`crate::store::SubmissionStore::latest_revision`].
    pub async fn latest_revision(&self, submission: SubmissionId) -> Result<Option<StoredRevision>, StoreError> {
        self.store.latest_revision(self.scope, submission).await
    }

    /// See [`crate::store::SubmissionStore::revisions`].
    pub async fn revisions(&self, submission: SubmissionId) -> Result<Vec<StoredRevision>, StoreError> {
        self.store.revisions(self.scope, submission).await
    }

    /// See [`crate::store::SubmissionStore::set_submission_status`].
    pub async fn set_submission_status(
        &self,
        submission: SubmissionId,
        status: SubmissionStatus,
        audit: Option<PendingAudit>,
    ) -> Result<bool, StoreError> {
        self.store.set_submission_status(self.scope, submission, status, audit).await
    }

    /// See [`crate::store::SubmissionStore::insert_revision`].
    pub async fn insert_revision(
        &self,
        submission: SubmissionId,
        revision: SealedRevision,
        index: Vec<(String, [u8; 16])>,
        audit: PendingAudit,
    ) -> Result<(), StoreError> {
        self.store.insert_revision(self.scope, submission, revision, index, audit).await
    }

    /// See [`crate::store::SubmissionStore::delete_submission`].
    pub async fn delete_submission(&self, submission: SubmissionId, audit: PendingAudit) -> Result<bool, StoreError> {
        self.store.delete_submission(self.scope, submission, audit).await
    }

    /// See [`crate::store::SubmissionStore::files_of`].
    pub async fn files_of(&self, submission: SubmissionId) -> Result<Vec<FileRecord>, StoreError> {
        self.store.files_of(self.scope, submission).await
    }

    /// See [`crate::store::SubmissionStore::file`].
    pub async fn file(&self, file: FileId) -> Result<Option<FileRecord>, StoreError> {
        self.store.file(self.scope, file).await
    }

    // The organisation's audit entries (the chain itself spans organisations and stays on the store).

    /// See [`crate::store::AuditStore::audit_search`].
    pub async fn audit_search(&self, query: AuditQuery) -> Result<Vec<AuditRow>, StoreError> {
        same_org(self.scope, query.org, "organisation")?;
        self.store.audit_search(self.scope, query).await
    }

    /// See [`crate::store::AuditPageStore::audit_page`].
    pub async fn audit_page(&self, query: AuditQuery, before: Option<i64>) -> Result<Vec<AuditRow>, StoreError> {
        same_org(self.scope, query.org, "organisation")?;
        self.store.audit_page(self.scope, query, before).await
    }

    // API keys.

    /// See [`crate::store::ApiKeyStore::api_keys_of`].
    pub async fn api_keys_of(&self, user: UserId) -> Result<Vec<ApiKeyRecord>, StoreError> {
        self.store.api_keys_of(self.scope, user).await
    }

    /// See [`crate::store::ApiKeyStore::insert_api_key`].
    pub async fn insert_api_key(&self, key: NewApiKey, audit: PendingAudit) -> Result<(), StoreError> {
        same_org(self.scope, key.org, "organisation")?;
        self.store.insert_api_key(self.scope, key, audit).await
    }

    /// See [`crate::store::ApiKeyStore::revoke_api_key`].
    pub async fn revoke_api_key(&self, id: Uuid, at: OffsetDateTime, audit: PendingAudit) -> Result<(), StoreError> {
        self.store.revoke_api_key(self.scope, id, at, audit).await
    }

    // Grants, access requests and break-glass.

    /// See [`crate::store::GrantStore::grants_of_user`].
    pub async fn grants_of_user(&self, user: UserId) -> Result<Vec<Grant>, StoreError> {
        self.store.grants_of_user(self.scope, user).await
    }

    /// See [`crate::store::GrantStore::grants_of_form`].
    pub async fn grants_of_form(&self, form: FormId) -> Result<Vec<GrantRecord>, StoreError> {
        self.store.grants_of_form(self.scope, form).await
    }

    /// See [`crate::store::GrantStore::grant`].
    pub async fn grant(&self, form: FormId, user: UserId) -> Result<Option<Grant>, StoreError> {
        self.store.grant(self.scope, form, user).await
    }

    /// See [`crate::store::GrantStore::put_grant`].
    pub async fn put_grant(&self, grant: Grant, audit: Vec<PendingAudit>) -> Result<(), StoreError> {
        same_org(self.scope, grant.org, "form")?;
        self.store.put_grant(self.scope, grant, audit).await
    }

    /// See [`crate::store::GrantStore::open_break_glass`].
    pub async fn open_break_glass(
        &self,
        grant: Grant,
        replaces: Option<OffsetDateTime>,
        audit: Vec<PendingAudit>,
    ) -> Result<(), StoreError> {
        same_org(self.scope, grant.org, "form")?;
        self.store.open_break_glass(self.scope, grant, replaces, audit).await
    }

    /// See [`crate::store::GrantStore::delete_grant`].
    pub async fn delete_grant(&self, form: FormId, user: UserId, audit: PendingAudit) -> Result<bool, StoreError> {
        self.store.delete_grant(self.scope, form, user, audit).await
    }

    /// See [`crate::store::GrantStore::break_glass_grants`].
    pub async fn break_glass_grants(&self) -> Result<Vec<GrantRecord>, StoreError> {
        self.store.break_glass_grants(self.scope).await
    }

    /// See [`crate::store::GrantStore::emergency_members`].
    pub async fn emergency_members(&self) -> Result<Vec<UserId>, StoreError> {
        self.store.emergency_members(self.scope).await
    }

    /// See [`crate::store::GrantStore::set_emergency_access`].
    pub async fn set_emergency_access(
        &self,
        user: UserId,
        holds: bool,
        audit: PendingAudit,
    ) -> Result<bool, StoreError> {
        self.store.set_emergency_access(self.scope, user, holds, audit).await
    }

    /// See [`crate::store::GrantStore::insert_access_request`].
    pub async fn insert_access_request(&self, request: AccessRequest, audit: PendingAudit) -> Result<(), StoreError> {
        same_org(self.scope, request.org, "form")?;
        self.store.insert_access_request(self.scope, request, audit).await
    }

    /// See [`crate::store::GrantStore::access_requests_of_form`].
    pub async fn access_requests_of_form(&self, form: FormId) -> Result<Vec<AccessRequestRecord>, StoreError> {
        self.store.access_requests_of_form(self.scope, form).await
    }

    /// See [`crate::store::GrantStore::access_request`].
    pub async fn access_request(&self, id: Uuid) -> Result<Option<AccessRequest>, StoreError> {
        self.store.access_request(self.scope, id).await
    }

    /// See [`crate::store::GrantStore::decide_access_request`].
    pub async fn decide_access_request(
        &self,
        decided: AccessRequest,
        grant: Option<Grant>,
        audit: Vec<PendingAudit>,
    ) -> Result<bool, StoreError> {
        same_org(self.scope, decided.org, "access request")?;
        if let Some(grant) = &grant {
            same_org(self.scope, grant.org, "form")?;
            if (grant.form, grant.user) != (decided.form, decided.user) {
                return Err(StoreError::Conflict("an approval grants the form and member the request names".into()));
            }
        }
        self.store.decide_access_request(self.scope, decided, grant, audit).await
    }

    // Folders and their grants.

    /// See [`crate::store::FolderStore::folders_of`].
    pub async fn folders_of(&self) -> Result<Vec<Folder>, StoreError> {
        self.store.folders_of(self.scope).await
    }

    /// See [`crate::store::FolderStore::folder`].
    pub async fn folder(&self, folder: FolderId) -> Result<Option<Folder>, StoreError> {
        self.store.folder(self.scope, folder).await
    }

    /// See [`crate::store::FolderStore::form_folders`].
    pub async fn form_folders(&self) -> Result<Vec<(FormId, FolderId)>, StoreError> {
        self.store.form_folders(self.scope).await
    }

    /// See [`crate::store::FolderStore::insert_folder`].
    pub async fn insert_folder(&self, folder: Folder, audit: PendingAudit) -> Result<(), StoreError> {
        same_org(self.scope, folder.org, "folder")?;
        self.store.insert_folder(self.scope, folder, audit).await
    }

    /// See [`crate::store::FolderStore::update_folder`].
    pub async fn update_folder(
        &self,
        folder: Folder,
        forms: Vec<FormId>,
        audit: PendingAudit,
    ) -> Result<(), StoreError> {
        same_org(self.scope, folder.org, "folder")?;
        self.store.update_folder(self.scope, folder, forms, audit).await
    }

    /// See [`crate::store::FolderStore::delete_folder`].
    pub async fn delete_folder(
        &self,
        folder: FolderId,
        doomed: Vec<FolderId>,
        freed: Vec<FormId>,
        audit: PendingAudit,
    ) -> Result<bool, StoreError> {
        self.store.delete_folder(self.scope, folder, doomed, freed, audit).await
    }

    /// See [`crate::store::FolderGrantStore::folder_grants_of`].
    pub async fn folder_grants_of(&self, folder: FolderId) -> Result<Vec<FolderGrantRecord>, StoreError> {
        self.store.folder_grants_of(self.scope, folder).await
    }

    /// See [`crate::store::FolderGrantStore::folder_grants_of_org`].
    pub async fn folder_grants_of_org(&self) -> Result<Vec<FolderGrantRecord>, StoreError> {
        self.store.folder_grants_of_org(self.scope).await
    }

    /// See [`crate::store::FolderGrantStore::folder_grant`].
    pub async fn folder_grant(&self, folder: FolderId, user: UserId) -> Result<Option<FolderGrant>, StoreError> {
        self.store.folder_grant(self.scope, folder, user).await
    }

    /// See [`crate::store::FolderGrantStore::put_folder_grant`].
    pub async fn put_folder_grant(&self, grant: FolderGrant, audit: PendingAudit) -> Result<(), StoreError> {
        same_org(self.scope, grant.org, "folder")?;
        self.store.put_folder_grant(self.scope, grant, audit).await
    }

    /// See [`crate::store::FolderGrantStore::delete_folder_grant`].
    pub async fn delete_folder_grant(
        &self,
        folder: FolderId,
        user: UserId,
        audit: PendingAudit,
    ) -> Result<bool, StoreError> {
        self.store.delete_folder_grant(self.scope, folder, user, audit).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_naming_another_organisation_is_not_found() {
        let ours = OrgId::new();
        let theirs = OrgId::new();
        assert!(same_org(OrgScope(ours), ours, "form").is_ok());
        let refused = same_org(OrgScope(ours), theirs, "form").unwrap_err();
        assert!(matches!(refused, StoreError::NotFound(_)), "{refused:?}");
    }
}
