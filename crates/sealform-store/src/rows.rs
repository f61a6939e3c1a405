//! Row types and conversions shared by both backends: the column sets are the same, only the SQL types differ.

use sealform_core::api_keys::{ApiKeyRecord, ApiRateLimit, NewApiKey, parse_scopes};
use sealform_core::audit::{AuditRow, CheckpointRow};
use sealform_core::ids::{FileId, FormId, OrgId, SubmissionId, UserId};
use sealform_core::invitations::{InvitationRecord, NewInvitation};
use sealform_core::keys::{KeyState, MasterWrapped, MasterWrappedBlob, MasterWrappedRef, OrgKeyRecord, WrappedKeyRef};
use sealform_core::org::{OrgName, Organisation};
use sealform_core::password::PasswordHash;
use sealform_core::sessions::SessionRecord;
use sealform_core::store::StoreError;
use sealform_core::submission::{
    FileRecord, FormRecord, FormStatus, NewFile, SealedRevision, StoredRevision, SubmissionStatus, SubmissionSummary,
};
use sealform_core::user::{Email, Membership, Role, UserRecord, UserStatus};
use sealform_crypto::{Checkpoint, KeyId, Suite};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::corrupt;

/// Columns of an organisation, in [`OrgRow`] order. A macro, so queries stay literal strings (sqlx refuses
/// dynamically built SQL unless audited).
macro_rules! org_columns {
    () => {
        "id, name, created_at"
    };
}
pub(crate) use org_columns;

/// Columns of a user, in [`UserRow`] order.
macro_rules! user_columns {
    () => {
        "id, email, password_hash, status, created_at, password_changed_at, failed_logins, locked_until, \
         totp_secret, totp_fp, totp_last_step"
    };
}
pub(crate) use user_columns;

/// The case-folded organisation name that carries the uniqueness rule.
pub(crate) fn name_key(name: &OrgName) -> String {
    name.as_str().to_lowercase()
}

pub(crate) fn membership((org_id, user_id, role): (Uuid, Uuid, String)) -> Result<Membership, StoreError> {
    Ok(Membership {
        org_id: OrgId::from_uuid(org_id),
        user_id: UserId::from_uuid(user_id),
        role: role.parse().map_err(corrupt("membership role"))?,
    })
}

/// An `organisations` row, as both backends read it.
#[derive(sqlx::FromRow)]
pub(crate) struct OrgRow {
    id: Uuid,
    name: String,
    created_at: OffsetDateTime,
}

impl OrgRow {
    pub(crate) fn into_domain(self) -> Result<Organisation, StoreError> {
        Ok(Organisation {
            id: OrgId::from_uuid(self.id),
            name: OrgName::parse(&self.name).map_err(corrupt("organisation name"))?,
            created_at: self.created_at,
        })
    }
}

/// A `users` row, as both backends read it.
#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    id: Uuid,
    email: String,
    password_hash: String,
    status: String,
    created_at: OffsetDateTime,
    password_changed_at: OffsetDateTime,
    failed_logins: i32,
    locked_until: Option<OffsetDateTime>,
    totp_secret: Option<Vec<u8>>,
    totp_fp: Option<Vec<u8>>,
    totp_last_step: Option<i64>,
}

impl UserRow {
    pub(crate) fn into_domain(self) -> Result<UserRecord, StoreError> {
        Ok(UserRecord {
            id: UserId::from_uuid(self.id),
            email: Email::parse(&self.email).map_err(corrupt("user e-mail"))?,
            password_hash: PasswordHash::from_phc(self.password_hash),
            status: UserStatus::parse(&self.status).map_err(corrupt("user status"))?,
            created_at: self.created_at,
            password_changed_at: self.password_changed_at,
            failed_logins: self.failed_logins.unsigned_abs(),
            locked_until: self.locked_until,
            totp: match (self.totp_secret, self.totp_fp) {
                (Some(wrapped), Some(fp)) => Some(MasterWrappedBlob { wrapped, fingerprint: fingerprint(&fp)? }),
                _ => None,
            },
            totp_last_step: self.totp_last_step.map(i64::unsigned_abs),
        })
    }
}

/// Columns of an organisation key, in [`OrgKeyRow`] order.
macro_rules! org_key_columns {
    () => {
        "id, org_id, suite, public_key, wrapped_private_key, master_fingerprint, state, created_at"
    };
}
pub(crate) use org_key_columns;

/// An `org_keys` row.
#[derive(sqlx::FromRow)]
pub(crate) struct OrgKeyRow {
    id: Uuid,
    org_id: Uuid,
    suite: i32,
    public_key: Vec<u8>,
    wrapped_private_key: Option<Vec<u8>>,
    master_fingerprint: Option<Vec<u8>>,
    state: String,
    created_at: OffsetDateTime,
}

impl OrgKeyRow {
    pub(crate) fn into_domain(self) -> Result<OrgKeyRecord, StoreError> {
        let suite = u8::try_from(self.suite)
            .ok()
            .and_then(|id| Suite::from_id(id).ok())
            .ok_or_else(|| StoreError::Corrupt("organisation key suite".into()))?;
        let master_fingerprint = self.master_fingerprint.as_deref().map(fingerprint).transpose()?;
        Ok(OrgKeyRecord {
            id: KeyId(*self.id.as_bytes()),
            org_id: OrgId::from_uuid(self.org_id),
            suite,
            public_key: self.public_key,
            wrapped_private_key: self.wrapped_private_key,
            master_fingerprint,
            state: KeyState::parse(&self.state).map_err(corrupt("organisation key state"))?,
            created_at: self.created_at,
        })
    }
}

/// A key id as stored.
pub(crate) fn key_uuid(key: KeyId) -> Uuid {
    Uuid::from_bytes(key.0)
}

/// A wrapped data key awaiting re-wrap, as both backends read it.
pub(crate) fn wrapped_ref(
    (submission, form, revision, wrapped): (Uuid, Uuid, i64, Vec<u8>),
) -> Result<(WrappedKeyRef, Vec<u8>), StoreError> {
    let revision = u32::try_from(revision).map_err(|_| StoreError::Corrupt("revision number".into()))?;
    let at = WrappedKeyRef::Revision {
        submission: SubmissionId::from_uuid(submission),
        form: FormId::from_uuid(form),
        revision,
    };
    Ok((at, wrapped))
}

/// Columns of a stored revision, in [`RevisionRow`] order; `s` is `submissions`, `r` is `submission_revisions`.
macro_rules! revision_columns {
    () => {
        "s.org_id, s.id, s.form_id, r.revision, r.envelope, r.wrapped_key, r.key_id, r.created_by, r.created_at"
    };
}
pub(crate) use revision_columns;

/// A submission revision joined with its submission.
#[derive(sqlx::FromRow)]
pub(crate) struct RevisionRow {
    org_id: Uuid,
    id: Uuid,
    form_id: Uuid,
    revision: i32,
    envelope: Vec<u8>,
    wrapped_key: Vec<u8>,
    key_id: Uuid,
    created_by: Option<Uuid>,
    created_at: OffsetDateTime,
}

impl RevisionRow {
    pub(crate) fn into_domain(self) -> Result<StoredRevision, StoreError> {
        Ok(StoredRevision {
            org_id: OrgId::from_uuid(self.org_id),
            submission_id: SubmissionId::from_uuid(self.id),
            form_id: FormId::from_uuid(self.form_id),
            sealed: SealedRevision {
                revision: u32::try_from(self.revision).map_err(|_| StoreError::Corrupt("revision number".into()))?,
                envelope: self.envelope,
                wrapped_key: self.wrapped_key,
                key_id: KeyId(*self.key_id.as_bytes()),
                created_by: self.created_by.map(UserId::from_uuid),
                created_at: self.created_at,
            },
        })
    }
}

/// A master-key fingerprint as stored.
pub(crate) fn fingerprint(bytes: &[u8]) -> Result<[u8; 8], StoreError> {
    bytes.try_into().map_err(|_| StoreError::Corrupt("master key fingerprint".into()))
}

/// A master-wrapped secret row.
pub(crate) fn master_wrapped(at: MasterWrappedRef, wrapped: Vec<u8>, fp: &[u8]) -> Result<MasterWrapped, StoreError> {
    Ok(MasterWrapped { at, wrapped, fingerprint: fingerprint(fp)? })
}

/// Columns of an audit entry, in [`AuditEventRow`] order.
macro_rules! audit_columns {
    () => {
        "seq, org_id, at, action, actor_id, outcome, target_hash, detail, chain_hash"
    };
}
pub(crate) use audit_columns;

/// An `audit_events` row.
#[derive(sqlx::FromRow)]
pub(crate) struct AuditEventRow {
    seq: i64,
    org_id: Option<Uuid>,
    at: OffsetDateTime,
    action: String,
    actor_id: Option<Uuid>,
    outcome: String,
    target_hash: Option<Vec<u8>>,
    detail: Vec<u8>,
    chain_hash: Vec<u8>,
}

impl AuditEventRow {
    pub(crate) fn into_domain(self) -> Result<AuditRow, StoreError> {
        Ok(AuditRow {
            seq: self.seq,
            org: self.org_id.map(OrgId::from_uuid),
            at: self.at,
            action: self.action,
            actor_id: self.actor_id,
            outcome: self.outcome,
            target_hash: self.target_hash,
            detail: self.detail,
            // A wrong-length hash can only come from tampering; verification reports it as a modified entry.
            chain_hash: self.chain_hash.as_slice().try_into().unwrap_or([0; 32]),
        })
    }
}

/// An `audit_checkpoints` row.
pub(crate) fn checkpoint_row(
    (seq, hash, at_micros, signature): (i64, Vec<u8>, i64, Vec<u8>),
) -> Result<CheckpointRow, StoreError> {
    let hash = hash.as_slice().try_into().map_err(|_| StoreError::Corrupt("audit checkpoint hash".into()))?;
    Ok(CheckpointRow { checkpoint: Checkpoint { seq, hash, at_micros }, signature })
}

/// A session joined with its user and membership.
#[derive(sqlx::FromRow)]
pub(crate) struct SessionRow {
    id: Vec<u8>,
    org_id: Uuid,
    user_id: Uuid,
    email: String,
    role: String,
    status: String,
    last_seen_at: OffsetDateTime,
    expires_at: OffsetDateTime,
    csrf_token: String,
    must_change_password: i32,
    mfa_pending: i32,
    reauthenticated_at: Option<OffsetDateTime>,
    emergency_access: i32,
    needs_mfa_enrolment: i32,
}

impl SessionRow {
    pub(crate) fn into_domain(self) -> Result<SessionRecord, StoreError> {
        Ok(SessionRecord {
            id_hash: self.id.as_slice().try_into().map_err(|_| StoreError::Corrupt("session id".into()))?,
            org: OrgId::from_uuid(self.org_id),
            user: UserId::from_uuid(self.user_id),
            email: Email::parse(&self.email).map_err(corrupt("user e-mail"))?,
            role: self.role.parse().map_err(corrupt("membership role"))?,
            user_status: UserStatus::parse(&self.status).map_err(corrupt("user status"))?,
            last_seen_at: self.last_seen_at,
            expires_at: self.expires_at,
            csrf_token: self.csrf_token,
            must_change_password: self.must_change_password != 0,
            mfa_pending: self.mfa_pending != 0,
            needs_mfa_enrolment: self.needs_mfa_enrolment != 0,
            reauthenticated_at: self.reauthenticated_at,
            emergency_access: self.emergency_access != 0,
        })
    }
}

/// An `api_keys` row joined with the member's role and the user's status.
#[derive(sqlx::FromRow)]
pub(crate) struct ApiKeyRow {
    id: Uuid,
    org_id: Uuid,
    user_id: Uuid,
    name: String,
    prefix: String,
    key_hash: Vec<u8>,
    scopes: String,
    form_id: Option<Uuid>,
    expires_at: Option<OffsetDateTime>,
    last_used_at: Option<OffsetDateTime>,
    revoked_at: Option<OffsetDateTime>,
    created_at: OffsetDateTime,
    role: String,
    status: String,
    api_requests_per_minute: i64,
    api_burst: i64,
}

/// The stored budget, if both figures are in range.
pub(crate) fn api_rate_limit(per_minute: i64, burst: i64) -> Option<ApiRateLimit> {
    ApiRateLimit::new(u32::try_from(per_minute).ok()?, u32::try_from(burst).ok()?).ok()
}

impl ApiKeyRow {
    pub(crate) fn into_domain(self) -> Result<ApiKeyRecord, StoreError> {
        Ok(ApiKeyRecord {
            key: NewApiKey {
                id: self.id,
                org: OrgId::from_uuid(self.org_id),
                user: UserId::from_uuid(self.user_id),
                name: self.name,
                prefix: self.prefix,
                key_hash: self
                    .key_hash
                    .as_slice()
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("API key hash".into()))?,
                scopes: parse_scopes([self.scopes.as_str()]).map_err(corrupt("API key scopes"))?,
                form: self.form_id.map(FormId::from_uuid),
                expires_at: self.expires_at,
                created_at: self.created_at,
            },
            revoked_at: self.revoked_at,
            last_used_at: self.last_used_at,
            role: self.role.parse().map_err(corrupt("membership role"))?,
            user_active: UserStatus::parse(&self.status).map_err(corrupt("user status"))? == UserStatus::Active,
            rate: api_rate_limit(self.api_requests_per_minute, self.api_burst)
                .ok_or_else(|| StoreError::Corrupt("organisation API rate limit".into()))?,
        })
    }
}

/// An `invitations` row.
#[derive(sqlx::FromRow)]
pub(crate) struct InvitationRow {
    id: Uuid,
    org_id: Uuid,
    email: String,
    role: String,
    token_hash: Vec<u8>,
    created_at: OffsetDateTime,
    expires_at: OffsetDateTime,
    accepted_at: Option<OffsetDateTime>,
}

impl InvitationRow {
    pub(crate) fn into_domain(self) -> Result<InvitationRecord, StoreError> {
        Ok(InvitationRecord {
            invitation: NewInvitation {
                id: self.id,
                org: OrgId::from_uuid(self.org_id),
                email: Email::parse(&self.email).map_err(corrupt("invitation e-mail"))?,
                role: self.role.parse().map_err(corrupt("invitation role"))?,
                token_hash: self
                    .token_hash
                    .as_slice()
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("invitation token".into()))?,
                created_at: self.created_at,
                expires_at: self.expires_at,
            },
            accepted_at: self.accepted_at,
        })
    }
}

/// A user row with the member's role.
#[derive(sqlx::FromRow)]
pub(crate) struct MemberRow {
    #[sqlx(flatten)]
    user: UserRow,
    role: String,
}

impl MemberRow {
    pub(crate) fn into_domain(self) -> Result<(UserRecord, Role), StoreError> {
        Ok((self.user.into_domain()?, self.role.parse().map_err(corrupt("membership role"))?))
    }
}

fn u32_of(value: i32, what: &str) -> Result<u32, StoreError> {
    u32::try_from(value).map_err(|_| StoreError::Corrupt(what.into()))
}

/// Selects forms with their current version, in [`FormRow`] order (`f` forms, `v` form_versions); add the WHERE.
macro_rules! form_select {
    () => {
        "SELECT f.org_id, f.id, f.title, f.status, f.current_version, v.definition, f.created_at, f.updated_at \
         FROM forms f JOIN form_versions v ON v.form_id = f.id AND v.version = f.current_version"
    };
}
pub(crate) use form_select;

/// A form joined with its current version.
#[derive(sqlx::FromRow)]
pub(crate) struct FormRow {
    org_id: Uuid,
    id: Uuid,
    title: String,
    status: String,
    current_version: i32,
    definition: String,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
}

impl FormRow {
    pub(crate) fn into_domain(self) -> Result<FormRecord, StoreError> {
        Ok(FormRecord {
            org_id: OrgId::from_uuid(self.org_id),
            id: FormId::from_uuid(self.id),
            title: self.title,
            status: FormStatus::parse(&self.status).ok_or_else(|| StoreError::Corrupt("form status".into()))?,
            version: u32_of(self.current_version, "form version")?,
            definition: self.definition,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// Columns of a submission summary, in [`SummaryRow`] order (`s` submissions).
macro_rules! summary_columns {
    () => {
        "s.id, s.form_id, s.form_version, s.status, s.current_revision, s.created_at, s.updated_at"
    };
}
pub(crate) use summary_columns;

/// The filters of an inbox page (`s` submissions); binds $1 org, $2 form, $3 status, $4 from, $5 to, $6 index
/// field, $7 index digest, $8 the id to continue after ([`page_start`]), $9 limit. `$cmp` is `<` for newest first
/// and `>` for oldest first; `$instant` is the backend's macro of [`crate::instants`].
macro_rules! inbox_filter {
    ($cmp:literal, $instant:ident) => {
        concat!(
            " WHERE s.org_id = $1 AND s.form_id = $2 AND ($3 IS NULL OR s.status = $3) ",
            "AND ($4 IS NULL OR ",
            $instant!("s.created_at"),
            " >= $4) ",
            "AND ($5 IS NULL OR ",
            $instant!("s.created_at"),
            " < $5) ",
            "AND ($6 IS NULL OR EXISTS (SELECT 1 FROM submission_index i WHERE i.org_id = s.org_id ",
            "AND i.form_id = s.form_id AND i.submission_id = s.id AND i.field = $6 AND i.digest = $7)) ",
            // Always a plain range (the first page binds the lowest or highest id), so the index on
            // (org_id, form_id, id) jumps to the page: an `OR` here made every page rescan from the start.
            "AND s.id ",
            $cmp,
            " $8"
        )
    };
}
pub(crate) use inbox_filter;

/// Binds [`inbox_filter!`]'s nine placeholders from a `SubmissionQuery`, so the filter and its binds stay in step;
/// `$bound` is the backend's bound function of [`crate::instants`].
macro_rules! bind_inbox_filter {
    ($sql:expr, $query:expr, $bound:path) => {{
        let query = $query;
        let (field, digest) = query.index.clone().unzip();
        $sql.bind(*query.org.as_uuid())
            .bind(*query.form.as_uuid())
            .bind(query.status.map(|s| s.as_str()))
            .bind($bound(query.from))
            .bind($bound(query.to))
            .bind(field)
            .bind(digest.map(|d| d.to_vec()))
            .bind($crate::rows::page_start(query.order, query.after))
            .bind(i64::from(query.limit))
    }};
}
pub(crate) use bind_inbox_filter;

/// A submission's metadata.
#[derive(sqlx::FromRow)]
pub(crate) struct SummaryRow {
    id: Uuid,
    form_id: Uuid,
    form_version: i32,
    status: String,
    current_revision: i32,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
}

impl SummaryRow {
    pub(crate) fn into_domain(self) -> Result<SubmissionSummary, StoreError> {
        Ok(SubmissionSummary {
            id: SubmissionId::from_uuid(self.id),
            form_id: FormId::from_uuid(self.form_id),
            form_version: u32_of(self.form_version, "form version")?,
            status: SubmissionStatus::parse(&self.status)
                .ok_or_else(|| StoreError::Corrupt("submission status".into()))?,
            revision: u32_of(self.current_revision, "revision number")?,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// A summary and its latest revision, for export.
#[derive(sqlx::FromRow)]
pub(crate) struct SealedSummaryRow {
    #[sqlx(flatten)]
    summary: SummaryRow,
    org_id: Uuid,
    revision: i32,
    envelope: Vec<u8>,
    wrapped_key: Vec<u8>,
    key_id: Uuid,
    created_by: Option<Uuid>,
    revision_at: OffsetDateTime,
}

impl SealedSummaryRow {
    pub(crate) fn into_domain(self) -> Result<(SubmissionSummary, StoredRevision), StoreError> {
        let summary = self.summary.into_domain()?;
        let stored = StoredRevision {
            org_id: OrgId::from_uuid(self.org_id),
            submission_id: summary.id,
            form_id: summary.form_id,
            sealed: SealedRevision {
                revision: u32_of(self.revision, "revision number")?,
                envelope: self.envelope,
                wrapped_key: self.wrapped_key,
                key_id: KeyId(*self.key_id.as_bytes()),
                created_by: self.created_by.map(UserId::from_uuid),
                created_at: self.revision_at,
            },
        };
        Ok((summary, stored))
    }
}

/// Columns of a file, in [`FileRow`] order (`f` files, `s` submissions).
macro_rules! file_columns {
    () => {
        "f.org_id, f.submission_id, s.form_id, f.revision, f.id, f.question_id, f.object_key, f.sealed_size, \
         f.wrapped_key, f.key_id"
    };
}
pub(crate) use file_columns;

/// A file joined with its submission.
#[derive(sqlx::FromRow)]
pub(crate) struct FileRow {
    org_id: Uuid,
    submission_id: Uuid,
    form_id: Uuid,
    revision: i32,
    id: Uuid,
    question_id: String,
    object_key: String,
    sealed_size: i64,
    wrapped_key: Vec<u8>,
    key_id: Uuid,
}

impl FileRow {
    pub(crate) fn into_domain(self) -> Result<FileRecord, StoreError> {
        Ok(FileRecord {
            org_id: OrgId::from_uuid(self.org_id),
            submission_id: SubmissionId::from_uuid(self.submission_id),
            form_id: FormId::from_uuid(self.form_id),
            revision: u32_of(self.revision, "revision number")?,
            file: NewFile {
                id: FileId::from_uuid(self.id),
                question_id: self.question_id,
                object_key: self.object_key,
                sealed_size: u64::try_from(self.sealed_size).map_err(|_| StoreError::Corrupt("file size".into()))?,
                wrapped_key: self.wrapped_key,
                key_id: KeyId(*self.key_id.as_bytes()),
            },
        })
    }
}

/// The id a page continues after: the given one, or for the first page one beyond every id in that order.
pub(crate) fn page_start(order: sealform_core::submission::Order, after: Option<SubmissionId>) -> Uuid {
    match (after, order) {
        (Some(after), _) => *after.as_uuid(),
        (None, sealform_core::submission::Order::NewestFirst) => Uuid::max(),
        (None, sealform_core::submission::Order::OldestFirst) => Uuid::nil(),
    }
}
