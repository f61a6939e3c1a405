//! The scale-out backend. Each write is one transaction on a pooled connection, except new submissions, which
//! writer tasks group-commit (see `batch`): every audited write holds the chain head's row lock through its
//! commit, so only writes that share a transaction can share a WAL flush.

mod batch;

pub use batch::BatchStats;
mod folder_grants;
mod folders;
#[cfg(test)]
mod migration_tests;
mod native_api;

mod queries;

use std::time::Duration;

use sealform_core::api_keys::{ApiKeyRecord, ApiRateLimit, NewApiKey};
use sealform_core::audit::{AuditQuery, AuditRow, ChainPage, CheckpointRow, PendingAudit};
use sealform_core::grants::{AccessRequest, AccessRequestRecord, Grant, GrantRecord};
use sealform_core::ids::{FileId, FormId, SubmissionId, UserId};
use sealform_core::invitations::{InvitationRecord, NewInvitation};
use sealform_core::keys::{
    MasterWrapped, MasterWrappedBlob, NewOrgKey, OrgKeyRecord, RewrapUpdate, StoredAuditKeys, WrappedKeyRef,
};
use sealform_core::mfa::{MfaCompletion, TotpEnrolment};
use sealform_core::org::{OrgName, Organisation};
use sealform_core::password::PasswordHash;
use sealform_core::resets::{CompletedReset, NewReset};
use sealform_core::sessions::{NewSession, PasswordChange, SessionRecord};
use sealform_core::store::{
    ApiKeyStore, AuditStore, ByMember, GrantStore, HealthStore, KeyStore, NewOrganisation, NewUser, OrganisationStore,
    Owner, SessionStore, Store, StoreError, SubmissionStore, UserStore,
};
use sealform_core::submission::{
    FileRecord, FormChange, FormRecord, NewForm, NewSubmission, SealedRevision, StoredRevision, SubmissionQuery,
    SubmissionStatus, SubmissionSummary,
};
use sealform_core::tenant::OrgScope;
use sealform_core::user::{Email, Membership, Role, UserRecord, UserStatus};
use sealform_core::webauthn::{ChallengePurpose, NewChallenge, WebauthnCredential};
use sealform_crypto::KeyId;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions as _, PgConnection};
use time::OffsetDateTime;

use crate::error::backend;
use crate::migrations::{self, Applied};

/// PostgreSQL storage over a connection pool.
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    submissions: batch::SubmissionBatcher,
}

impl PgStore {
    /// Connects (failing within `connect_timeout` when the server is unreachable) and applies migrations.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the URL is invalid, the server cannot be reached or a migration fails.
    pub async fn open(url: &str, max_connections: u32, connect_timeout: Duration) -> Result<Self, StoreError> {
        let options: PgConnectOptions = url.parse().map_err(backend("parse database URL"))?;
        let options = options.log_statements(tracing::log::LevelFilter::Trace);
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(connect_timeout)
            .connect_with(options.clone())
            .await
            .map_err(backend("connect to PostgreSQL"))?;
        migrations::POSTGRES
            .run(&pool)
            .await
            .map_err(|e| StoreError::Backend { operation: "apply migrations", source: Box::new(e) })?;
        let submissions = batch::SubmissionBatcher::spawn(options, connect_timeout)?;
        Ok(Self { pool, submissions })
    }

    /// How many submissions the writer has taken, in how many batches.
    #[must_use]
    pub fn writer_stats(&self) -> BatchStats {
        self.submissions.stats()
    }

    /// The submission write path of [`SubmissionStore::insert_submission`] without its audit entry, for the
    /// benchmark that measures what auditing costs (`cargo bench --features bench-internals`). Never built into
    /// the product: auditing is not optional.
    ///
    /// # Errors
    /// As `insert_submission`.
    #[cfg(feature = "bench-internals")]
    #[doc(hidden)]
    pub async fn insert_submission_unaudited(&self, submission: NewSubmission) -> Result<(), StoreError> {
        self.submissions.insert(submission, None).await
    }

    /// Runs `work` in one transaction: committed when it succeeds, rolled back (on drop) when it fails.
    async fn in_transaction<T>(
        &self,
        operation: &'static str,
        work: impl AsyncFnOnce(&mut PgConnection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend(operation))?;
        let value = work(&mut tx).await?;
        tx.commit().await.map_err(backend(operation))?;
        Ok(value)
    }
}

impl HealthStore for PgStore {
    async fn readiness(&self) -> Result<(), StoreError> {
        let applied: Vec<(i64, bool, Vec<u8>)> =
            sqlx::query_as(migrations::APPLIED_QUERY).fetch_all(&self.pool).await.map_err(backend("readiness"))?;
        let applied: Vec<Applied> =
            applied.into_iter().map(|(version, success, checksum)| Applied { version, success, checksum }).collect();
        migrations::check_applied(&migrations::POSTGRES, &applied)
    }
}

impl OrganisationStore for PgStore {
    async fn bootstrap(
        &self,
        org: NewOrganisation,
        owner: NewUser,
        audit: Vec<PendingAudit>,
    ) -> Result<(), StoreError> {
        self.in_transaction("bootstrap", async |conn| queries::bootstrap(conn, org, owner, audit).await).await
    }

    async fn create_organisation(
        &self,
        org: NewOrganisation,
        owner: Owner,
        audit: PendingAudit,
    ) -> Result<(), StoreError> {
        self.in_transaction("create organisation", async |conn| {
            queries::create_organisation(conn, org, owner, audit).await
        })
        .await
    }

    async fn set_mfa_required(&self, scope: OrgScope, required: bool, audit: PendingAudit) -> Result<(), StoreError> {
        self.in_transaction("set MFA policy", async |conn| {
            queries::set_mfa_required(conn, scope.id(), required, audit).await
        })
        .await
    }

    async fn organisation_settings(&self, scope: OrgScope) -> Result<Option<(bool, ApiRateLimit)>, StoreError> {
        queries::organisation_settings(&self.pool, scope.id()).await
    }

    async fn set_api_rate_limit(
        &self,
        scope: OrgScope,
        limit: ApiRateLimit,
        audit: PendingAudit,
    ) -> Result<(), StoreError> {
        self.in_transaction("set API rate limit", async |conn| {
            queries::set_api_rate_limit(conn, scope.id(), limit, audit).await
        })
        .await
    }

    async fn organisation_by_name(&self, name: &OrgName) -> Result<Option<Organisation>, StoreError> {
        queries::organisation_by_name(&self.pool, name).await
    }

    async fn list_organisations(&self) -> Result<Vec<Organisation>, StoreError> {
        queries::list_organisations(&self.pool).await
    }
}

impl UserStore for PgStore {
    async fn add_member(
        &self,
        scope: OrgScope,
        member: Owner,
        role: Role,
        at: OffsetDateTime,
        audit: PendingAudit,
    ) -> Result<(), StoreError> {
        self.in_transaction("add member", async |conn| {
            queries::add_member(conn, scope.id(), member, role, at, audit).await
        })
        .await
    }

    async fn insert_invitation(
        &self,
        _scope: OrgScope,
        invitation: NewInvitation,
        audit: PendingAudit,
    ) -> Result<(), StoreError> {
        self.in_transaction("store invitation", async |conn| queries::insert_invitation(conn, invitation, audit).await)
            .await
    }

    async fn invitation_by_token(&self, token_hash: [u8; 32]) -> Result<Option<InvitationRecord>, StoreError> {
        queries::invitation_by_token(&self.pool, token_hash).await
    }

    async fn accept_invitation(
        &self,
        scope: OrgScope,
        id: uuid::Uuid,
        member: Owner,
        role: Role,
        at: OffsetDateTime,
        audit: PendingAudit,
    ) -> Result<bool, StoreError> {
        self.in_transaction("accept invitation", async |conn| {
            queries::accept_invitation(conn, id, member, scope.id(), role, at, audit).await
        })
        .await
    }

    async fn set_role(
        &self,
        scope: OrgScope,
        user: UserId,
        role: Role,
        by: UserId,
        audit: PendingAudit,
    ) -> Result<(), StoreError> {
        self.in_transaction("change role", async |conn| {
            queries::set_role(conn, scope.id(), user, role, by, audit).await
        })
        .await
    }

    async fn set_user_status(
        &self,
        user: UserId,
        status: UserStatus,
        by: Option<ByMember>,
        audit: PendingAudit,
    ) -> Result<(), StoreError> {
        self.in_transaction("set user status", async |conn| {
            queries::set_user_status(conn, user, status, by, audit).await
        })
        .await
    }
    async fn user_by_email(&self, email: &Email) -> Result<Option<UserRecord>, StoreError> {
        queries::user_by_email(&self.pool, email).await
    }

    async fn user_by_id(&self, user: UserId) -> Result<Option<UserRecord>, StoreError> {
        queries::user_by_id(&self.pool, user).await
    }

    async fn rehash_password(&self, user: UserId, hash: PasswordHash) -> Result<(), StoreError> {
        self.in_transaction("re-hash password", async |conn| queries::rehash_password(conn, user, hash).await).await
    }

    async fn members_of(&self, scope: OrgScope) -> Result<Vec<(UserRecord, Role)>, StoreError> {
        queries::members_of(&self.pool, scope.id()).await
    }

    async fn memberships_of(&self, user: UserId) -> Result<Vec<Membership>, StoreError> {
        queries::memberships_of(&self.pool, user).await
    }
}

impl KeyStore for PgStore {
    async fn org_keys(&self, scope: OrgScope) -> Result<Vec<OrgKeyRecord>, StoreError> {
        queries::org_keys(&self.pool, scope.id()).await
    }

    async fn master_wrapped_secrets(&self) -> Result<Vec<MasterWrapped>, StoreError> {
        queries::master_wrapped_secrets(&self.pool).await
    }

    async fn form_index_key(&self, scope: OrgScope, form: FormId) -> Result<Option<MasterWrappedBlob>, StoreError> {
        queries::form_index_key(&self.pool, scope.id(), form).await
    }

    async fn begin_rotation(&self, scope: OrgScope, new_key: NewOrgKey, audit: PendingAudit) -> Result<(), StoreError> {
        self.in_transaction("begin rotation", async |conn| {
            queries::begin_rotation(conn, scope.id(), new_key, audit).await
        })
        .await
    }

    async fn wrapped_keys_for(
        &self,
        scope: OrgScope,
        key: KeyId,
        limit: u32,
    ) -> Result<Vec<(WrappedKeyRef, Vec<u8>)>, StoreError> {
        queries::wrapped_keys_for(&self.pool, scope.id(), key, limit).await
    }

    async fn count_wrapped_keys(&self, scope: OrgScope, key: KeyId) -> Result<u64, StoreError> {
        queries::count_wrapped_keys(&self.pool, scope.id(), key).await
    }

    async fn replace_wrapped_keys(&self, scope: OrgScope, updates: Vec<RewrapUpdate>) -> Result<u64, StoreError> {
        self.in_transaction("replace wrapped keys", async |conn| {
            queries::replace_wrapped_keys(conn, scope.id(), updates).await
        })
        .await
    }

    async fn retire_org_key(
        &self,
        scope: OrgScope,
        key: KeyId,
        at: OffsetDateTime,
        audit: PendingAudit,
    ) -> Result<bool, StoreError> {
        self.in_transaction("retire organisation key", async |conn| {
            queries::retire_org_key(conn, scope.id(), key, at, audit).await
        })
        .await
    }

    async fn replace_master_wrapped(&self, secrets: Vec<MasterWrapped>, audit: PendingAudit) -> Result<(), StoreError> {
        self.in_transaction("re-wrap under master key", async |conn| {
            queries::replace_master_wrapped(conn, secrets, audit).await
        })
        .await
    }
}

impl SubmissionStore for PgStore {
    async fn forms_of(&self, scope: OrgScope) -> Result<Vec<FormRecord>, StoreError> {
        queries::forms_of(&self.pool, scope.id()).await
    }

    async fn form(&self, scope: OrgScope, form: FormId) -> Result<Option<FormRecord>, StoreError> {
        queries::form(&self.pool, scope.id(), form).await
    }

    async fn form_by_public_id(&self, form: FormId) -> Result<Option<FormRecord>, StoreError> {
        queries::form_by_public_id(&self.pool, form).await
    }

    async fn form_definition(&self, scope: OrgScope, form: FormId, version: u32) -> Result<Option<String>, StoreError> {
        queries::form_definition(&self.pool, scope.id(), form, version).await
    }

    async fn change_form(
        &self,
        scope: OrgScope,
        form: FormId,
        change: FormChange,
        at: OffsetDateTime,
        audit: PendingAudit,
    ) -> Result<FormRecord, StoreError> {
        self.in_transaction("change form", async |conn| {
            queries::change_form(conn, scope.id(), form, change, at, audit).await
        })
        .await
    }

    async fn submissions(
        &self,
        _scope: OrgScope,
        query: SubmissionQuery,
    ) -> Result<Vec<SubmissionSummary>, StoreError> {
        queries::submissions(&self.pool, query).await
    }

    async fn submissions_sealed(
        &self,
        _scope: OrgScope,
        query: SubmissionQuery,
    ) -> Result<Vec<(SubmissionSummary, StoredRevision)>, StoreError> {
        queries::submissions_sealed(&self.pool, query).await
    }

    async fn submission(
        &self,
        scope: OrgScope,
        submission: SubmissionId,
    ) -> Result<Option<SubmissionSummary>, StoreError> {
        queries::submission(&self.pool, scope.id(), submission).await
    }

    async fn set_submission_status(
        &self,
        scope: OrgScope,
        submission: SubmissionId,
        status: SubmissionStatus,
        audit: Option<PendingAudit>,
    ) -> Result<bool, StoreError> {
        self.in_transaction("set submission status", async |conn| {
            queries::set_submission_status(conn, scope.id(), submission, status, audit).await
        })
        .await
    }

    async fn insert_revision(
        &self,
        scope: OrgScope,
        submission: SubmissionId,
        revision: SealedRevision,
        index: Vec<(String, [u8; 16])>,
        audit: PendingAudit,
    ) -> Result<(), StoreError> {
        self.in_transaction("store revision", async |conn| {
            queries::insert_revision(conn, scope.id(), submission, revision, index, audit).await
        })
        .await
    }

    async fn revisions(&self, scope: OrgScope, submission: SubmissionId) -> Result<Vec<StoredRevision>, StoreError> {
        queries::revisions(&self.pool, scope.id(), submission).await
    }

    async fn files_of(&self, scope: OrgScope, submission: SubmissionId) -> Result<Vec<FileRecord>, StoreError> {
        queries::files_of(&self.pool, scope.id(), submission).await
    }

    async fn file(&self, scope: OrgScope, file: FileId) -> Result<Option<FileRecord>, StoreError> {
        queries::file(&self.pool, scope.id(), file).await
    }

    async fn create_form(&self, _scope: OrgScope, form: NewForm, audit: PendingAudit) -> Result<(), StoreError> {
        self.in_transaction("create form", async |conn| queries::create_form(conn, form, audit).await).await
    }

    async fn insert_submission(
        &self,
        _scope: OrgScope,
        submission: NewSubmission,
        audit: PendingAudit,
    ) -> Result<(), StoreError> {
        self.submissions.insert(submission, Some(audit)).await
    }

    async fn latest_revision(
        &self,
        scope: OrgScope,
        submission: SubmissionId,
    ) -> Result<Option<StoredRevision>, StoreError> {
        queries::latest_revision(&self.pool, scope.id(), submission).await
    }

    /// Deleted rows stay in PostgreSQL's heap until VACUUM reclaims them; operators who need the bytes gone at once
    /// run VACUUM (DESIGN.md notes this). The wrapped keys are unreachable through Sealform from the commit on.
    async fn delete_submission(
        &self,
        scope: OrgScope,
        submission: SubmissionId,
        audit: PendingAudit,
    ) -> Result<bool, StoreError> {
        self.in_transaction("delete submission", async |conn| {
            queries::delete_submission(conn, scope.id(), submission, audit).await
        })
        .await
    }

    async fn delete_organisation(&self, scope: OrgScope, audit: PendingAudit) -> Result<bool, StoreError> {
        self.in_transaction("delete organisation", async |conn| {
            queries::delete_organisation(conn, scope.id(), audit).await
        })
        .await
    }

    async fn submissions_by_index(
        &self,
        scope: OrgScope,
        form: FormId,
        field: &str,
        digest: [u8; 16],
    ) -> Result<Vec<SubmissionId>, StoreError> {
        queries::submissions_by_index(&self.pool, scope.id(), form, field, digest).await
    }

    async fn count_submissions(&self, scope: OrgScope, form: FormId) -> Result<u64, StoreError> {
        queries::count_submissions(&self.pool, scope.id(), form).await
    }
}

impl AuditStore for PgStore {
    async fn append_audit(&self, entries: Vec<PendingAudit>) -> Result<(), StoreError> {
        self.in_transaction("append audit", async |conn| queries::append_audit(conn, &entries).await).await
    }

    async fn audit_entries(&self, after: i64, limit: u32) -> Result<Vec<AuditRow>, StoreError> {
        queries::audit_entries(&self.pool, after, limit).await
    }

    async fn audit_chain_page(&self, after: i64, limit: u32) -> Result<ChainPage, StoreError> {
        // Row by row: sqlx's PostgreSQL rows are cheap to decode (no worker thread, no per-row hand-over), and
        // packing a page on the server (`string_agg` over the entries' send formats, the time through `numeric`)
        // measured slower: 157k entries/s against 265k/s for the plain rows (BENCHMARKS.md, "Audit trail").
        Ok(ChainPage::from_rows(&queries::audit_entries(&self.pool, after, limit).await?))
    }

    async fn audit_entry(&self, seq: i64) -> Result<Option<AuditRow>, StoreError> {
        queries::audit_entry(&self.pool, seq).await
    }

    async fn audit_search(&self, _scope: OrgScope, query: AuditQuery) -> Result<Vec<AuditRow>, StoreError> {
        queries::audit_search(&self.pool, query).await
    }

    async fn audit_checkpoints(&self) -> Result<Vec<CheckpointRow>, StoreError> {
        queries::audit_checkpoints(&self.pool).await
    }

    async fn audit_keyset(&self) -> Result<Option<StoredAuditKeys>, StoreError> {
        queries::audit_keyset(&self.pool).await
    }

    async fn insert_audit_keyset(
        &self,
        wrapped: Vec<u8>,
        fingerprint: [u8; 8],
        verifying_key: Vec<u8>,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        self.in_transaction("store audit keys", async |conn| {
            queries::insert_audit_keyset(conn, wrapped, fingerprint, verifying_key, at).await
        })
        .await
    }
}

impl SessionStore for PgStore {
    async fn insert_webauthn_challenge(&self, challenge: NewChallenge) -> Result<(), StoreError> {
        self.in_transaction("store WebAuthn challenge", async |conn| {
            queries::insert_webauthn_challenge(conn, challenge).await
        })
        .await
    }

    async fn take_webauthn_challenge(
        &self,
        hash: [u8; 32],
        purpose: ChallengePurpose,
        session: [u8; 32],
        user: UserId,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        self.in_transaction("use WebAuthn challenge", async |conn| {
            queries::take_webauthn_challenge(conn, hash, purpose, session, user, now).await
        })
        .await
    }

    async fn webauthn_credentials_of(&self, user: UserId) -> Result<Vec<WebauthnCredential>, StoreError> {
        queries::webauthn_credentials_of(&self.pool, user).await
    }

    async fn insert_webauthn_credential(
        &self,
        credential: WebauthnCredential,
        audit: PendingAudit,
    ) -> Result<(), StoreError> {
        self.in_transaction("store WebAuthn credential", async |conn| {
            queries::insert_webauthn_credential(conn, credential, audit).await
        })
        .await
    }

    async fn delete_webauthn_credential(
        &self,
        user: UserId,
        id: uuid::Uuid,
        audit: PendingAudit,
    ) -> Result<bool, StoreError> {
        self.in_transaction("remove WebAuthn credential", async |conn| {
            queries::delete_webauthn_credential(conn, user, id, audit).await
        })
        .await
    }

    async fn record_login_failure(
        &self,
        user: UserId,
        failed_logins: u32,
        locked_until: Option<OffsetDateTime>,
        audit: Vec<PendingAudit>,
    ) -> Result<(), StoreError> {
        self.in_transaction("record login failure", async |conn| {
            queries::record_login_failure(conn, user, failed_logins, locked_until, audit).await
        })
        .await
    }

    async fn open_session(&self, session: NewSession, audit: PendingAudit) -> Result<(), StoreError> {
        self.in_transaction("open session", async |conn| queries::open_session(conn, session, audit).await).await
    }

    async fn session(&self, id_hash: [u8; 32]) -> Result<Option<SessionRecord>, StoreError> {
        queries::session(&self.pool, id_hash).await
    }

    async fn touch_session(&self, id_hash: [u8; 32], at: OffsetDateTime) -> Result<(), StoreError> {
        self.in_transaction("touch session", async |conn| queries::touch_session(conn, id_hash, at).await).await
    }

    async fn password_history(&self, user: UserId, limit: usize) -> Result<Vec<PasswordHash>, StoreError> {
        queries::password_history(&self.pool, user, limit).await
    }

    async fn change_password(&self, change: PasswordChange, audit: PendingAudit) -> Result<(), StoreError> {
        self.in_transaction("change password", async |conn| queries::change_password(conn, change, audit).await).await
    }

    async fn enrol_totp(&self, enrolment: TotpEnrolment, audit: PendingAudit) -> Result<(), StoreError> {
        self.in_transaction("enrol TOTP", async |conn| queries::enrol_totp(conn, enrolment, audit).await).await
    }

    async fn complete_mfa(&self, completion: MfaCompletion, audit: PendingAudit) -> Result<bool, StoreError> {
        self.in_transaction("complete login", async |conn| queries::complete_mfa(conn, completion, audit).await).await
    }

    async fn hit_rate_limit(&self, key: &str, now: OffsetDateTime, after: OffsetDateTime) -> Result<u32, StoreError> {
        let key = key.to_owned();
        self.in_transaction("count rate limit", async |conn| queries::hit_rate_limit(conn, key, now, after).await).await
    }

    async fn rate_limit_count(&self, key: &str, after: OffsetDateTime) -> Result<u32, StoreError> {
        queries::rate_limit_count(&self.pool, key, after).await
    }

    async fn sessions_of(&self, user: UserId) -> Result<Vec<([u8; 32], OffsetDateTime, OffsetDateTime)>, StoreError> {
        queries::sessions_of(&self.pool, user).await
    }

    async fn revoke_session_of(
        &self,
        user: UserId,
        id_hash: [u8; 32],
        audit: PendingAudit,
    ) -> Result<bool, StoreError> {
        self.in_transaction("revoke session", async |conn| queries::revoke_session_of(conn, user, id_hash, audit).await)
            .await
    }

    async fn insert_reset(&self, reset: NewReset, audit: PendingAudit) -> Result<(), StoreError> {
        self.in_transaction("store password reset", async |conn| queries::insert_reset(conn, reset, audit).await).await
    }

    async fn reset_by_token(
        &self,
        token_hash: [u8; 32],
    ) -> Result<Option<(NewReset, Option<OffsetDateTime>)>, StoreError> {
        queries::reset_by_token(&self.pool, token_hash).await
    }

    async fn complete_reset(&self, reset: CompletedReset, audit: PendingAudit) -> Result<bool, StoreError> {
        self.in_transaction("reset password", async |conn| queries::complete_reset(conn, reset, audit).await).await
    }

    async fn mark_reauthenticated(
        &self,
        id_hash: [u8; 32],
        at: OffsetDateTime,
        audit: PendingAudit,
    ) -> Result<(), StoreError> {
        self.in_transaction("record re-authentication", async |conn| {
            queries::mark_reauthenticated(conn, id_hash, at, audit).await
        })
        .await
    }

    async fn close_session(&self, id_hash: [u8; 32], audit: Option<PendingAudit>) -> Result<bool, StoreError> {
        self.in_transaction("close session", async |conn| queries::close_session(conn, id_hash, audit).await).await
    }
}

impl ApiKeyStore for PgStore {
    async fn insert_api_key(&self, _scope: OrgScope, key: NewApiKey, audit: PendingAudit) -> Result<(), StoreError> {
        self.in_transaction("store API key", async |conn| queries::insert_api_key(conn, key, audit).await).await
    }

    async fn api_key_by_prefix(&self, prefix: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        queries::api_key_by_prefix(&self.pool, prefix).await
    }

    async fn api_keys_of(&self, scope: OrgScope, user: UserId) -> Result<Vec<ApiKeyRecord>, StoreError> {
        queries::api_keys_of(&self.pool, scope.id(), user).await
    }

    async fn touch_api_key(&self, id: uuid::Uuid, at: OffsetDateTime) -> Result<(), StoreError> {
        self.in_transaction("record API key use", async |conn| queries::touch_api_key(conn, id, at).await).await
    }

    async fn revoke_api_key(
        &self,
        scope: OrgScope,
        id: uuid::Uuid,
        at: OffsetDateTime,
        audit: PendingAudit,
    ) -> Result<(), StoreError> {
        let org = scope.id();
        self.in_transaction("revoke API key", async |conn| queries::revoke_api_key(conn, org, id, at, audit).await)
            .await
    }
}

impl GrantStore for PgStore {
    async fn grants_of_user(&self, scope: OrgScope, user: UserId) -> Result<Vec<Grant>, StoreError> {
        queries::grants_of_user(&self.pool, scope.id(), user).await
    }

    async fn grants_of_form(&self, scope: OrgScope, form: FormId) -> Result<Vec<GrantRecord>, StoreError> {
        queries::grants_of_form(&self.pool, scope.id(), form).await
    }

    async fn grant(&self, scope: OrgScope, form: FormId, user: UserId) -> Result<Option<Grant>, StoreError> {
        queries::grant(&self.pool, scope.id(), form, user).await
    }

    async fn break_glass_grants(&self, scope: OrgScope) -> Result<Vec<GrantRecord>, StoreError> {
        queries::break_glass_grants(&self.pool, scope.id()).await
    }

    async fn emergency_members(&self, scope: OrgScope) -> Result<Vec<UserId>, StoreError> {
        queries::emergency_members(&self.pool, scope.id()).await
    }

    async fn set_emergency_access(
        &self,
        scope: OrgScope,
        user: UserId,
        holds: bool,
        audit: PendingAudit,
    ) -> Result<bool, StoreError> {
        self.in_transaction("set emergency right", async |conn| {
            queries::set_emergency_access(conn, scope.id(), user, holds, audit).await
        })
        .await
    }

    async fn put_grant(&self, _scope: OrgScope, grant: Grant, audit: Vec<PendingAudit>) -> Result<(), StoreError> {
        self.in_transaction("store grant", async |conn| queries::put_grant(conn, grant, audit).await).await
    }

    async fn open_break_glass(
        &self,
        _scope: OrgScope,
        grant: Grant,
        replaces: Option<OffsetDateTime>,
        audit: Vec<PendingAudit>,
    ) -> Result<(), StoreError> {
        self.in_transaction("open break-glass", async |conn| {
            queries::open_break_glass(conn, grant, replaces, audit).await
        })
        .await
    }

    async fn delete_grant(
        &self,
        scope: OrgScope,
        form: FormId,
        user: UserId,
        audit: PendingAudit,
    ) -> Result<bool, StoreError> {
        self.in_transaction("revoke grant", async |conn| {
            queries::delete_grant(conn, scope.id(), form, user, audit).await
        })
        .await
    }

    async fn insert_access_request(
        &self,
        _scope: OrgScope,
        request: AccessRequest,
        audit: PendingAudit,
    ) -> Result<(), StoreError> {
        self.in_transaction("store access request", async |conn| {
            queries::insert_access_request(conn, request, audit).await
        })
        .await
    }

    async fn access_requests_of_form(
        &self,
        scope: OrgScope,
        form: FormId,
    ) -> Result<Vec<AccessRequestRecord>, StoreError> {
        queries::access_requests_of_form(&self.pool, scope.id(), form).await
    }

    async fn access_request(&self, scope: OrgScope, id: uuid::Uuid) -> Result<Option<AccessRequest>, StoreError> {
        queries::access_request(&self.pool, scope.id(), id).await
    }

    async fn decide_access_request(
        &self,
        _scope: OrgScope,
        decided: AccessRequest,
        grant: Option<Grant>,
        audit: Vec<PendingAudit>,
    ) -> Result<bool, StoreError> {
        self.in_transaction("decide access request", async |conn| {
            queries::decide_access_request(conn, decided, grant, audit).await
        })
        .await
    }
}

impl Store for PgStore {
    fn backend_name(&self) -> &'static str {
        "postgres"
    }

    /// Closes the pool, waiting for connections in use.
    async fn close(self) {
        self.pool.close().await;
    }
}
