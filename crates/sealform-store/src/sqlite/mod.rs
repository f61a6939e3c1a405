//! The embedded backend. One writer task owns the only writing connection and group-commits whatever is queued
//! (DESIGN.md §13: the commit path decides ingest speed); reads go to a pool of separate connections, which WAL lets
//! run beside the writer.

mod audit_pages;
mod checkpointer;
mod folder_grants;
mod folders;
#[cfg(test)]
mod migration_tests;
mod native_api;
mod queries;
mod submissions;
mod writer;
#[cfg(test)]
mod writer_tests;

use std::path::Path;
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
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions as _, Connection as _};
use time::OffsetDateTime;

use crate::error::backend;
use crate::migrations::{self, Applied};
pub use checkpointer::WalCheckpointer;
use writer::Writer;
pub use writer::WriterStats;

/// Tunables for the SQLite backend.
#[derive(Clone, Debug)]
pub struct SqliteOptions {
    /// How long a statement waits for another process's lock (CLI commands beside the server) before failing.
    pub busy_timeout: Duration,
    /// Connections in the read pool.
    pub read_connections: u32,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self { busy_timeout: Duration::from_secs(10), read_connections: 4 }
    }
}

/// SQLite storage: a group-committing writer and a read pool over one database file.
#[derive(Clone)]
pub struct SqliteStore {
    reads: SqlitePool,
    writer: Writer,
}

impl SqliteStore {
    /// Opens (creating if missing) the database file, applies migrations and starts the writer task.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the file cannot be opened or a migration fails.
    pub async fn open(path: &Path, options: &SqliteOptions) -> Result<Self, StoreError> {
        create_private_file(path)?;
        let connect = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(options.busy_timeout)
            // Deleted rows are overwritten with zeros, so shredded keys and envelopes leave no bytes behind.
            .pragma("secure_delete", "ON")
            .log_statements(tracing::log::LevelFilter::Trace);
        let mut write_conn = connect.connect().await.map_err(backend("open database"))?;
        migrations::SQLITE
            .run(&mut write_conn)
            .await
            .map_err(|e| StoreError::Backend { operation: "apply migrations", source: Box::new(e) })?;
        // A migration that rebuilds a referenced table turns foreign keys off for its run (0013); this connection
        // goes on to be the writer's, so they are turned on again here whatever the migration left.
        sqlx::raw_sql("PRAGMA foreign_keys = ON").execute(&mut write_conn).await.map_err(backend("open database"))?;
        // A migration that rebuilds a table writes it all through the WAL (0015: the whole audit trail, and secure
        // delete zeroes the old pages): copy it into the file and truncate it now, before serving, so the WAL does
        // not keep that size on disk.
        let truncated = writer::truncate_wal(&mut write_conn).await?;
        if !truncated {
            tracing::warn!(
                "WAL checkpoint after migrations could not complete (another process reads or checkpoints); \
                 the writer tries again"
            );
        }
        let reads = SqlitePoolOptions::new()
            .max_connections(options.read_connections.max(1))
            // A connection to a local file does not go stale: sqlx's ping before every acquire would only add a
            // round trip to the connection's thread to every read.
            .test_before_acquire(false)
            .connect_with(connect)
            .await
            .map_err(backend("open read pool"))?;
        let submissions = submissions::SubmissionWriter::open(path, options.busy_timeout)?;
        Ok(Self { reads, writer: Writer::spawn(write_conn, submissions, !truncated)? })
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
        self.writer.insert_submission(submissions::SubmissionWrite { new: submission, audit: None }).await
    }

    /// How many writes and commits the writer has done: under concurrent load, fewer commits than writes shows
    /// group commit at work.
    #[must_use]
    pub fn writer_stats(&self) -> WriterStats {
        self.writer.stats()
    }
}

/// Creates the database file owner-only (0600) if it is missing. SQLite gives the WAL and shared-memory files the
/// database file's permissions, so this keeps all three private whatever the process umask.
fn create_private_file(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::OpenOptionsExt as _;
    match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(_) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(err) => Err(StoreError::Backend { operation: "create database file", source: Box::new(err) }),
    }
}

impl HealthStore for SqliteStore {
    async fn readiness(&self) -> Result<(), StoreError> {
        let mut conn = self.reads.acquire().await.map_err(backend("readiness"))?;
        conn.ping().await.map_err(backend("readiness"))?;
        let applied: Vec<(i64, bool, Vec<u8>)> =
            sqlx::query_as(migrations::APPLIED_QUERY).fetch_all(&mut *conn).await.map_err(backend("readiness"))?;
        let applied: Vec<Applied> =
            applied.into_iter().map(|(version, success, checksum)| Applied { version, success, checksum }).collect();
        migrations::check_applied(&migrations::SQLITE, &applied)
    }
}

impl OrganisationStore for SqliteStore {
    async fn bootstrap(
        &self,
        org: NewOrganisation,
        owner: NewUser,
        audit: Vec<PendingAudit>,
    ) -> Result<(), StoreError> {
        self.writer.write(move |conn| Box::pin(queries::bootstrap(conn, org, owner, audit))).await
    }

    async fn create_organisation(
        &self,
        org: NewOrganisation,
        owner: Owner,
        audit: PendingAudit,
    ) -> Result<(), StoreError> {
        self.writer.write(move |conn| Box::pin(queries::create_organisation(conn, org, owner, audit))).await
    }

    async fn set_mfa_required(&self, scope: OrgScope, required: bool, audit: PendingAudit) -> Result<(), StoreError> {
        self.writer.write(move |conn| Box::pin(queries::set_mfa_required(conn, scope.id(), required, audit))).await
    }

    async fn organisation_settings(&self, scope: OrgScope) -> Result<Option<(bool, ApiRateLimit)>, StoreError> {
        queries::organisation_settings(&self.reads, scope.id()).await
    }

    async fn set_api_rate_limit(
        &self,
        scope: OrgScope,
        limit: ApiRateLimit,
        audit: PendingAudit,
    ) -> Result<(), StoreError> {
        self.writer.write(move |conn| Box::pin(queries::set_api_rate_limit(conn, scope.id(), limit, audit))).await
    }

    async fn organisation_by_name(&self, name: &OrgName) -> Result<Option<Organisation>, StoreError> {
        queries::organisation_by_name(&self.reads, name).await
    }

    async fn list_organisations(&self) -> Result<Vec<Organisation>, StoreError> {
        queries::list_organisations(&self.reads).await
    }
}

impl UserStore for SqliteStore {
    async fn add_member(
        &self,
        scope: OrgScope,
        member: Owner,
        role: Role,
        at: OffsetDateTime,
        audit: PendingAudit,
    ) -> Result<(), StoreError> {
        self.writer.write(move |conn| Box::pin(queries::add_member(conn, scope.id(), member, role, at, audit))).await
    }

    async fn insert_invitation(
        &self,
        _scope: OrgScope,
        invitation: NewInvitation,
        audit: PendingAudit,
    ) -> Result<(), StoreError> {
        self.writer.write(move |conn| Box::pin(queries::insert_invitation(conn, invitation, audit))).await
    }

    async fn invitation_by_token(&self, token_hash: [u8; 32]) -> Result<Option<InvitationRecord>, StoreError> {
        queries::invitation_by_token(&self.reads, token_hash).await
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
        self.writer
            .write(move |conn| Box::pin(queries::accept_invitation(conn, id, member, scope.id(), role, at, audit)))
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
        self.writer.write(move |conn| Box::pin(queries::set_role(conn, scope.id(), user, role, by, audit))).await
    }

    async fn set_user_status(
        &self,
        user: UserId,
        status: UserStatus,
        by: Option<ByMember>,
        audit: PendingAudit,
    ) -> Result<(), StoreError> {
        self.writer.write(move |conn| Box::pin(queries::set_user_status(conn, user, status, by, audit))).await
    }
    async fn user_by_email(&self, email: &Email) -> Result<Option<UserRecord>, StoreError> {
        queries::user_by_email(&self.reads, email).await
    }

    async fn user_by_id(&self, user: UserId) -> Result<Option<UserRecord>, StoreError> {
        queries::user_by_id(&self.reads, user).await
    }

    async fn rehash_password(&self, user: UserId, hash: PasswordHash) -> Result<(), StoreError> {
        self.writer.write(move |conn| Box::pin(queries::rehash_password(conn, user, hash))).await
    }

    async fn members_of(&self, scope: OrgScope) -> Result<Vec<(UserRecord, Role)>, StoreError> {
        queries::members_of(&self.reads, scope.id()).await
    }

    async fn memberships_of(&self, user: UserId) -> Result<Vec<Membership>, StoreError> {
        queries::memberships_of(&self.reads, user).await
    }
}

impl KeyStore for SqliteStore {
    async fn org_keys(&self, scope: OrgScope) -> Result<Vec<OrgKeyRecord>, StoreError> {
        queries::org_keys(&self.reads, scope.id()).await
    }

    async fn master_wrapped_secrets(&self) -> Result<Vec<MasterWrapped>, StoreError> {
        queries::master_wrapped_secrets(&self.reads).await
    }

    async fn form_index_key(&self, scope: OrgScope, form: FormId) -> Result<Option<MasterWrappedBlob>, StoreError> {
        queries::form_index_key(&self.reads, scope.id(), form).await
    }

    async fn begin_rotation(&self, scope: OrgScope, new_key: NewOrgKey, audit: PendingAudit) -> Result<(), StoreError> {
        self.writer.write(move |conn| Box::pin(queries::begin_rotation(conn, scope.id(), new_key, audit))).await
    }

    async fn wrapped_keys_for(
        &self,
        scope: OrgScope,
        key: KeyId,
        limit: u32,
    ) -> Result<Vec<(WrappedKeyRef, Vec<u8>)>, StoreError> {
        queries::wrapped_keys_for(&self.reads, scope.id(), key, limit).await
    }

    async fn count_wrapped_keys(&self, scope: OrgScope, key: KeyId) -> Result<u64, StoreError> {
        queries::count_wrapped_keys(&self.reads, scope.id(), key).await
    }

    async fn replace_wrapped_keys(&self, scope: OrgScope, updates: Vec<RewrapUpdate>) -> Result<u64, StoreError> {
        self.writer.write(move |conn| Box::pin(queries::replace_wrapped_keys(conn, scope.id(), updates))).await
    }

    async fn retire_org_key(
        &self,
        scope: OrgScope,
        key: KeyId,
        at: OffsetDateTime,
        audit: PendingAudit,
    ) -> Result<bool, StoreError> {
        let retired =
            self.writer.write(move |conn| Box::pin(queries::retire_org_key(conn, scope.id(), key, at, audit))).await?;
        if retired {
            // The destroyed private key must not linger in the WAL either.
            self.writer.checkpoint().await?;
        }
        Ok(retired)
    }

    async fn replace_master_wrapped(&self, secrets: Vec<MasterWrapped>, audit: PendingAudit) -> Result<(), StoreError> {
        self.writer.write(move |conn| Box::pin(queries::replace_master_wrapped(conn, secrets, audit))).await?;
        // The secrets wrapped under the old master key must not linger in the WAL.
        self.writer.checkpoint().await
    }
}

impl SubmissionStore for SqliteStore {
    async fn forms_of(&self, scope: OrgScope) -> Result<Vec<FormRecord>, StoreError> {
        queries::forms_of(&self.reads, scope.id()).await
    }

    async fn form(&self, scope: OrgScope, form: FormId) -> Result<Option<FormRecord>, StoreError> {
        queries::form(&self.reads, scope.id(), form).await
    }

    async fn form_by_public_id(&self, form: FormId) -> Result<Option<FormRecord>, StoreError> {
        queries::form_by_public_id(&self.reads, form).await
    }

    async fn form_definition(&self, scope: OrgScope, form: FormId, version: u32) -> Result<Option<String>, StoreError> {
        queries::form_definition(&self.reads, scope.id(), form, version).await
    }

    async fn change_form(
        &self,
        scope: OrgScope,
        form: FormId,
        change: FormChange,
        at: OffsetDateTime,
        audit: PendingAudit,
    ) -> Result<FormRecord, StoreError> {
        self.writer.write(move |conn| Box::pin(queries::change_form(conn, scope.id(), form, change, at, audit))).await
    }

    async fn submissions(
        &self,
        _scope: OrgScope,
        query: SubmissionQuery,
    ) -> Result<Vec<SubmissionSummary>, StoreError> {
        queries::submissions(&self.reads, query).await
    }

    async fn submissions_sealed(
        &self,
        _scope: OrgScope,
        query: SubmissionQuery,
    ) -> Result<Vec<(SubmissionSummary, StoredRevision)>, StoreError> {
        queries::submissions_sealed(&self.reads, query).await
    }

    async fn submission(
        &self,
        scope: OrgScope,
        submission: SubmissionId,
    ) -> Result<Option<SubmissionSummary>, StoreError> {
        queries::submission(&self.reads, scope.id(), submission).await
    }

    async fn set_submission_status(
        &self,
        scope: OrgScope,
        submission: SubmissionId,
        status: SubmissionStatus,
        audit: Option<PendingAudit>,
    ) -> Result<bool, StoreError> {
        self.writer
            .write(move |conn| Box::pin(queries::set_submission_status(conn, scope.id(), submission, status, audit)))
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
        self.writer
            .write(move |conn| Box::pin(queries::insert_revision(conn, scope.id(), submission, revision, index, audit)))
            .await
    }

    async fn revisions(&self, scope: OrgScope, submission: SubmissionId) -> Result<Vec<StoredRevision>, StoreError> {
        queries::revisions(&self.reads, scope.id(), submission).await
    }

    async fn files_of(&self, scope: OrgScope, submission: SubmissionId) -> Result<Vec<FileRecord>, StoreError> {
        queries::files_of(&self.reads, scope.id(), submission).await
    }

    async fn file(&self, scope: OrgScope, file: FileId) -> Result<Option<FileRecord>, StoreError> {
        queries::file(&self.reads, scope.id(), file).await
    }

    async fn create_form(&self, _scope: OrgScope, form: NewForm, audit: PendingAudit) -> Result<(), StoreError> {
        self.writer.write(move |conn| Box::pin(queries::create_form(conn, form, audit))).await
    }

    async fn insert_submission(
        &self,
        _scope: OrgScope,
        submission: NewSubmission,
        audit: PendingAudit,
    ) -> Result<(), StoreError> {
        self.writer.insert_submission(submissions::SubmissionWrite { new: submission, audit: Some(audit) }).await
    }

    async fn latest_revision(
        &self,
        scope: OrgScope,
        submission: SubmissionId,
    ) -> Result<Option<StoredRevision>, StoreError> {
        queries::latest_revision(&self.reads, scope.id(), submission).await
    }

    async fn delete_submission(
        &self,
        scope: OrgScope,
        submission: SubmissionId,
        audit: PendingAudit,
    ) -> Result<bool, StoreError> {
        let deleted = self
            .writer
            .write(move |conn| Box::pin(queries::delete_submission(conn, scope.id(), submission, audit)))
            .await?;
        self.writer.checkpoint().await?;
        Ok(deleted)
    }

    async fn delete_organisation(&self, scope: OrgScope, audit: PendingAudit) -> Result<bool, StoreError> {
        let deleted =
            self.writer.write(move |conn| Box::pin(queries::delete_organisation(conn, scope.id(), audit))).await?;
        self.writer.checkpoint().await?;
        Ok(deleted)
    }

    async fn submissions_by_index(
        &self,
        scope: OrgScope,
        form: FormId,
        field: &str,
        digest: [u8; 16],
    ) -> Result<Vec<SubmissionId>, StoreError> {
        queries::submissions_by_index(&self.reads, scope.id(), form, field, digest).await
    }

    async fn count_submissions(&self, scope: OrgScope, form: FormId) -> Result<u64, StoreError> {
        queries::count_submissions(&self.reads, scope.id(), form).await
    }
}

impl AuditStore for SqliteStore {
    async fn append_audit(&self, entries: Vec<PendingAudit>) -> Result<(), StoreError> {
        self.writer.write(move |conn| Box::pin(async move { queries::append_audit(conn, &entries).await })).await
    }

    async fn audit_entries(&self, after: i64, limit: u32) -> Result<Vec<AuditRow>, StoreError> {
        queries::audit_entries(&self.reads, after, limit).await
    }

    async fn audit_chain_page(&self, after: i64, limit: u32) -> Result<ChainPage, StoreError> {
        audit_pages::audit_chain_page(&self.reads, after, limit).await
    }

    async fn audit_entry(&self, seq: i64) -> Result<Option<AuditRow>, StoreError> {
        queries::audit_entry(&self.reads, seq).await
    }

    async fn audit_search(&self, _scope: OrgScope, query: AuditQuery) -> Result<Vec<AuditRow>, StoreError> {
        queries::audit_search(&self.reads, query).await
    }

    async fn audit_checkpoints(&self) -> Result<Vec<CheckpointRow>, StoreError> {
        queries::audit_checkpoints(&self.reads).await
    }

    async fn audit_keyset(&self) -> Result<Option<StoredAuditKeys>, StoreError> {
        queries::audit_keyset(&self.reads).await
    }

    async fn insert_audit_keyset(
        &self,
        wrapped: Vec<u8>,
        fingerprint: [u8; 8],
        verifying_key: Vec<u8>,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        self.writer
            .write(move |conn| Box::pin(queries::insert_audit_keyset(conn, wrapped, fingerprint, verifying_key, at)))
            .await
    }
}

impl SessionStore for SqliteStore {
    async fn insert_webauthn_challenge(&self, challenge: NewChallenge) -> Result<(), StoreError> {
        self.writer.write(move |conn| Box::pin(queries::insert_webauthn_challenge(conn, challenge))).await
    }

    async fn take_webauthn_challenge(
        &self,
        hash: [u8; 32],
        purpose: ChallengePurpose,
        session: [u8; 32],
        user: UserId,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        self.writer
            .write(move |conn| Box::pin(queries::take_webauthn_challenge(conn, hash, purpose, session, user, now)))
            .await
    }

    async fn webauthn_credentials_of(&self, user: UserId) -> Result<Vec<WebauthnCredential>, StoreError> {
        queries::webauthn_credentials_of(&self.reads, user).await
    }

    async fn insert_webauthn_credential(
        &self,
        credential: WebauthnCredential,
        audit: PendingAudit,
    ) -> Result<(), StoreError> {
        self.writer.write(move |conn| Box::pin(queries::insert_webauthn_credential(conn, credential, audit))).await
    }

    async fn delete_webauthn_credential(
        &self,
        user: UserId,
        id: uuid::Uuid,
        audit: PendingAudit,
    ) -> Result<bool, StoreError> {
        self.writer.write(move |conn| Box::pin(queries::delete_webauthn_credential(conn, user, id, audit))).await
    }

    async fn record_login_failure(
        &self,
        user: UserId,
        failed_logins: u32,
        locked_until: Option<OffsetDateTime>,
        audit: Vec<PendingAudit>,
    ) -> Result<(), StoreError> {
        self.writer
            .write(move |conn| Box::pin(queries::record_login_failure(conn, user, failed_logins, locked_until, audit)))
            .await
    }

    async fn open_session(&self, session: NewSession, audit: PendingAudit) -> Result<(), StoreError> {
        self.writer.write(move |conn| Box::pin(queries::open_session(conn, session, audit))).await
    }

    async fn session(&self, id_hash: [u8; 32]) -> Result<Option<SessionRecord>, StoreError> {
        queries::session(&self.reads, id_hash).await
    }

    async fn touch_session(&self, id_hash: [u8; 32], at: OffsetDateTime) -> Result<(), StoreError> {
        self.writer.write(move |conn| Box::pin(queries::touch_session(conn, id_hash, at))).await
    }

    async fn password_history(&self, user: UserId, limit: usize) -> Result<Vec<PasswordHash>, StoreError> {
        queries::password_history(&self.reads, user, limit).await
    }

    async fn change_password(&self, change: PasswordChange, audit: PendingAudit) -> Result<(), StoreError> {
        self.writer.write(move |conn| Box::pin(queries::change_password(conn, change, audit))).await
    }

    async fn enrol_totp(&self, enrolment: TotpEnrolment, audit: PendingAudit) -> Result<(), StoreError> {
        self.writer.write(move |conn| Box::pin(queries::enrol_totp(conn, enrolment, audit))).await
    }

    async fn complete_mfa(&self, completion: MfaCompletion, audit: PendingAudit) -> Result<bool, StoreError> {
        self.writer.write(move |conn| Box::pin(queries::complete_mfa(conn, completion, audit))).await
    }

    async fn hit_rate_limit(&self, key: &str, now: OffsetDateTime, after: OffsetDateTime) -> Result<u32, StoreError> {
        let key = key.to_owned();
        self.writer.write(move |conn| Box::pin(queries::hit_rate_limit(conn, key, now, after))).await
    }

    async fn rate_limit_count(&self, key: &str, after: OffsetDateTime) -> Result<u32, StoreError> {
        queries::rate_limit_count(&self.reads, key, after).await
    }

    async fn sessions_of(&self, user: UserId) -> Result<Vec<([u8; 32], OffsetDateTime, OffsetDateTime)>, StoreError> {
        queries::sessions_of(&self.reads, user).await
    }

    async fn revoke_session_of(
        &self,
        user: UserId,
        id_hash: [u8; 32],
        audit: PendingAudit,
    ) -> Result<bool, StoreError> {
        self.writer.write(move |conn| Box::pin(queries::revoke_session_of(conn, user, id_hash, audit))).await
    }

    async fn insert_reset(&self, reset: NewReset, audit: PendingAudit) -> Result<(), StoreError> {
        self.writer.write(move |conn| Box::pin(queries::insert_reset(conn, reset, audit))).await
    }

    async fn reset_by_token(
        &self,
        token_hash: [u8; 32],
    ) -> Result<Option<(NewReset, Option<OffsetDateTime>)>, StoreError> {
        queries::reset_by_token(&self.reads, token_hash).await
    }

    async fn complete_reset(&self, reset: CompletedReset, audit: PendingAudit) -> Result<bool, StoreError> {
        self.writer.write(move |conn| Box::pin(queries::complete_reset(conn, reset, audit))).await
    }

    async fn mark_reauthenticated(
        &self,
        id_hash: [u8; 32],
        at: OffsetDateTime,
        audit: PendingAudit,
    ) -> Result<(), StoreError> {
        self.writer.write(move |conn| Box::pin(queries::mark_reauthenticated(conn, id_hash, at, audit))).await
    }

    async fn close_session(&self, id_hash: [u8; 32], audit: Option<PendingAudit>) -> Result<bool, StoreError> {
        self.writer.write(move |conn| Box::pin(queries::close_session(conn, id_hash, audit))).await
    }
}

impl ApiKeyStore for SqliteStore {
    async fn insert_api_key(&self, _scope: OrgScope, key: NewApiKey, audit: PendingAudit) -> Result<(), StoreError> {
        self.writer.write(move |conn| Box::pin(queries::insert_api_key(conn, key, audit))).await
    }

    async fn api_key_by_prefix(&self, prefix: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        queries::api_key_by_prefix(&self.reads, prefix).await
    }

    async fn api_keys_of(&self, scope: OrgScope, user: UserId) -> Result<Vec<ApiKeyRecord>, StoreError> {
        queries::api_keys_of(&self.reads, scope.id(), user).await
    }

    async fn touch_api_key(&self, id: uuid::Uuid, at: OffsetDateTime) -> Result<(), StoreError> {
        self.writer.write(move |conn| Box::pin(queries::touch_api_key(conn, id, at))).await
    }

    async fn revoke_api_key(
        &self,
        scope: OrgScope,
        id: uuid::Uuid,
        at: OffsetDateTime,
        audit: PendingAudit,
    ) -> Result<(), StoreError> {
        self.writer.write(move |conn| Box::pin(queries::revoke_api_key(conn, scope.id(), id, at, audit))).await
    }
}

impl GrantStore for SqliteStore {
    async fn grants_of_user(&self, scope: OrgScope, user: UserId) -> Result<Vec<Grant>, StoreError> {
        queries::grants_of_user(&self.reads, scope.id(), user).await
    }

    async fn grants_of_form(&self, scope: OrgScope, form: FormId) -> Result<Vec<GrantRecord>, StoreError> {
        queries::grants_of_form(&self.reads, scope.id(), form).await
    }

    async fn grant(&self, scope: OrgScope, form: FormId, user: UserId) -> Result<Option<Grant>, StoreError> {
        queries::grant(&self.reads, scope.id(), form, user).await
    }

    async fn break_glass_grants(&self, scope: OrgScope) -> Result<Vec<GrantRecord>, StoreError> {
        queries::break_glass_grants(&self.reads, scope.id()).await
    }

    async fn emergency_members(&self, scope: OrgScope) -> Result<Vec<UserId>, StoreError> {
        queries::emergency_members(&self.reads, scope.id()).await
    }

    async fn set_emergency_access(
        &self,
        scope: OrgScope,
        user: UserId,
        holds: bool,
        audit: PendingAudit,
    ) -> Result<bool, StoreError> {
        self.writer
            .write(move |conn| Box::pin(queries::set_emergency_access(conn, scope.id(), user, holds, audit)))
            .await
    }

    async fn put_grant(&self, _scope: OrgScope, grant: Grant, audit: Vec<PendingAudit>) -> Result<(), StoreError> {
        self.writer.write(move |conn| Box::pin(queries::put_grant(conn, grant, audit))).await
    }

    async fn open_break_glass(
        &self,
        _scope: OrgScope,
        grant: Grant,
        replaces: Option<OffsetDateTime>,
        audit: Vec<PendingAudit>,
    ) -> Result<(), StoreError> {
        self.writer.write(move |conn| Box::pin(queries::open_break_glass(conn, grant, replaces, audit))).await
    }

    async fn delete_grant(
        &self,
        scope: OrgScope,
        form: FormId,
        user: UserId,
        audit: PendingAudit,
    ) -> Result<bool, StoreError> {
        self.writer.write(move |conn| Box::pin(queries::delete_grant(conn, scope.id(), form, user, audit))).await
    }

    async fn insert_access_request(
        &self,
        _scope: OrgScope,
        request: AccessRequest,
        audit: PendingAudit,
    ) -> Result<(), StoreError> {
        self.writer.write(move |conn| Box::pin(queries::insert_access_request(conn, request, audit))).await
    }

    async fn access_requests_of_form(
        &self,
        scope: OrgScope,
        form: FormId,
    ) -> Result<Vec<AccessRequestRecord>, StoreError> {
        queries::access_requests_of_form(&self.reads, scope.id(), form).await
    }

    async fn access_request(&self, scope: OrgScope, id: uuid::Uuid) -> Result<Option<AccessRequest>, StoreError> {
        queries::access_request(&self.reads, scope.id(), id).await
    }

    async fn decide_access_request(
        &self,
        _scope: OrgScope,
        decided: AccessRequest,
        grant: Option<Grant>,
        audit: Vec<PendingAudit>,
    ) -> Result<bool, StoreError> {
        self.writer.write(move |conn| Box::pin(queries::decide_access_request(conn, decided, grant, audit))).await
    }
}

impl Store for SqliteStore {
    fn backend_name(&self) -> &'static str {
        "sqlite"
    }

    /// Waits until every queued write has committed and closes all connections (checkpointing the WAL).
    async fn close(self) {
        self.writer.close().await;
        self.reads.close().await;
    }
}
