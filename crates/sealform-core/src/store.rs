//! The storage traits, shaped by the domain (not generic CRUD). SQLite and PostgreSQL implement them in
//! `sealform-store`; services are generic over [`Store`].
//!
//! Every method that touches an organisation's data takes an [`OrgScope`], which only a [`Tenant`] handle
//! (`store.tenant(org)`) can give: no query reads across tenants, and none is made without naming the organisation.

use std::future::Future;

use time::OffsetDateTime;

use uuid::Uuid;

use crate::api_keys::{ApiKeyRecord, ApiRateLimit, NewApiKey};
use crate::audit::{AuditQuery, AuditRow, ChainPage, CheckpointRow, PendingAudit};
use crate::folder_grants::{FolderGrant, FolderGrantRecord};
use crate::folders::Folder;
use crate::form_settings::Webhook;
use crate::grants::{AccessRequest, AccessRequestRecord, Grant, GrantRecord};
use crate::idempotency::IdempotencyRecord;
use crate::ids::{FileId, FolderId, FormId, OrgId, SubmissionId, UserId};
use crate::invitations::{InvitationRecord, NewInvitation};
use crate::keys::{
    MasterWrapped, MasterWrappedBlob, NewOrgKey, OrgKeyRecord, RewrapUpdate, StoredAuditKeys, WrappedKeyRef,
};
use crate::mfa::{MfaCompletion, TotpEnrolment};
use crate::org::{OrgName, Organisation};
use crate::password::PasswordHash;
use crate::resets::{CompletedReset, NewReset};
use crate::sessions::{NewSession, PasswordChange, SessionRecord};
use crate::submission::{
    FileRecord, FormChange, FormRecord, NewForm, NewSubmission, SealedRevision, StoredRevision, SubmissionQuery,
    SubmissionStatus, SubmissionSummary,
};
use crate::tenant::{OrgScope, Tenant};
use crate::user::{Email, Membership, Role, UserRecord, UserStatus};
use crate::webauthn::{ChallengePurpose, NewChallenge, WebauthnCredential};

/// The [`StoreError::Conflict`] message for a revision sealed to an organisation key that no longer accepts data
/// keys (retired meanwhile): seal again to the active key.
pub const KEY_RETIRED: &str = "the organisation key was retired; seal again to the active key";
/// The [`StoreError::Conflict`] message for a submission id already stored, in this organisation or another (ids
/// are unique across organisations).
pub const SUBMISSION_EXISTS: &str = "a submission with this id exists already";
/// The [`StoreError::Conflict`] message for an edit based on a revision that is no longer the latest.
pub const SUBMISSION_CHANGED: &str = "the submission was changed meanwhile; open it again";
/// The [`StoreError::Conflict`] message for a role change on an owner, or to the owner role, or a deactivation of an
/// owner, not asked by an owner.
pub const OWNERS_ONLY: &str = "only owners change or deactivate owners";
/// The [`StoreError::Conflict`] message for deactivating an organisation's last active owner.
pub const LAST_OWNER: &str = "the organisation must keep an active owner";

/// A member acting from inside an organisation (its console or API), for checks a store makes in the transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByMember {
    /// The organisation.
    pub org: OrgId,
    /// The member who asks.
    pub member: UserId,
}
/// The [`StoreError::Conflict`] message for a folder deletion refused because members hold grants on the folder or
/// one below it (deleting would take the grants with it, unaudited).
pub const FOLDER_HAS_GRANTS: &str =
    "members have grants on this folder or one below it; revoke them before deleting the folder";
/// The [`StoreError::Conflict`] message for a folder deletion whose forms changed since the audit entry was written.
pub const FOLDER_CHANGED: &str = "the folder's forms changed meanwhile; try again";

/// Why storage failed. Messages name the operation and never contain row values.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule or a state check refused the write.
    #[error("{0}")]
    Conflict(String),
    /// The referenced row does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The database could not be reached or the statement failed.
    #[error("database error during {operation}")]
    Backend {
        /// What was being done, e.g. "create organisation".
        operation: &'static str,
        /// The driver's error, for logs only.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A stored value could not be decoded; the database holds something this version does not understand.
    #[error("stored data is not readable: {0}")]
    Corrupt(String),
    /// The schema is missing migrations this binary needs, or has ones it does not know.
    #[error("database schema is not ready: {0}")]
    NotMigrated(String),
}

/// A user to create, with the password already hashed.
#[derive(Clone, Debug)]
pub struct NewUser {
    /// The new user's id.
    pub id: UserId,
    /// The login.
    pub email: Email,
    /// The argon2id hash.
    pub password_hash: PasswordHash,
}

/// Who owns a new organisation: a user created with it, or one who already has a login.
#[derive(Clone, Debug)]
pub enum Owner {
    /// Create this user in the same transaction.
    New(NewUser),
    /// An existing user becomes owner.
    Existing(UserId),
}

/// An organisation to create, with its first recipient key (created in the same transaction: an organisation never
/// exists without a key to seal to).
#[derive(Clone, Debug)]
pub struct NewOrganisation {
    /// Its id.
    pub id: OrgId,
    /// Its unique name.
    pub name: OrgName,
    /// Creation time, from the service's clock.
    pub created_at: OffsetDateTime,
    /// Its first recipient key; its suite becomes the organisation's suite.
    pub key: NewOrgKey,
}

/// Liveness of the database and its schema.
pub trait HealthStore {
    /// Ok when the database answers and every migration this binary embeds has been applied.
    fn readiness(&self) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Organisations and their owners.
pub trait OrganisationStore {
    /// Creates the installation's first organisation and its owner, atomically. [`StoreError::Conflict`] when the
    /// installation was bootstrapped already, even by a concurrent call.
    fn bootstrap(
        &self,
        org: NewOrganisation,
        owner: NewUser,
        audit: Vec<PendingAudit>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Creates another organisation with its owner. [`StoreError::Conflict`] when the name is taken or a new
    /// owner's e-mail exists; [`StoreError::NotFound`] when an existing owner does not.
    fn create_organisation(
        &self,
        org: NewOrganisation,
        owner: Owner,
        audit: PendingAudit,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The organisation with this name, if any.
    fn organisation_by_name(
        &self,
        name: &OrgName,
    ) -> impl Future<Output = Result<Option<Organisation>, StoreError>> + Send;

    /// Requires (or stops requiring) members to enrol a second factor.
    fn set_mfa_required(
        &self,
        org: OrgScope,
        required: bool,
        audit: PendingAudit,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The organisation's settings: whether members must use a second factor, and the API budget per key.
    fn organisation_settings(
        &self,
        org: OrgScope,
    ) -> impl Future<Output = Result<Option<(bool, ApiRateLimit)>, StoreError>> + Send;

    /// Sets the organisation's request budget per API key.
    fn set_api_rate_limit(
        &self,
        org: OrgScope,
        limit: ApiRateLimit,
        audit: PendingAudit,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// All organisations, oldest first. For operators of multi-clinic installations.
    fn list_organisations(&self) -> impl Future<Output = Result<Vec<Organisation>, StoreError>> + Send;
}

/// Users and memberships.
pub trait UserStore {
    /// Adds a member to `org` with `role`: a new user created in the same transaction, or an existing one.
    /// [`StoreError::Conflict`] when the e-mail exists (for a new user) or the user is a member already.
    fn add_member(
        &self,
        org: OrgScope,
        member: Owner,
        role: Role,
        at: OffsetDateTime,
        audit: PendingAudit,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Stores an invitation.
    fn insert_invitation(
        &self,
        org: OrgScope,
        invitation: NewInvitation,
        audit: PendingAudit,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The invitation with this token hash.
    fn invitation_by_token(
        &self,
        token_hash: [u8; 32],
    ) -> impl Future<Output = Result<Option<InvitationRecord>, StoreError>> + Send;

    /// Marks the invitation accepted (only if it still is open) and adds the member, in one transaction. False when
    /// it was accepted meanwhile.
    fn accept_invitation(
        &self,
        org: OrgScope,
        id: Uuid,
        member: Owner,
        role: Role,
        at: OffsetDateTime,
        audit: PendingAudit,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Changes a member's role. [`StoreError::Conflict`] when it would leave the organisation without an owner;
    /// the member's sessions in this organisation end (a new session id at every privilege change).
    ///
    /// `by` is the member who asks. Unless they are an owner, a member who is an owner, or the owner role itself, is
    /// refused with [`OWNERS_ONLY`]. Both roles are read in the transaction, under the organisation's lock, so a
    /// promotion or demotion committed after the caller looked counts.
    fn set_role(
        &self,
        org: OrgScope,
        user: UserId,
        role: Role,
        by: UserId,
        audit: PendingAudit,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Sets a user's status; deactivating ends all their sessions in the same transaction. `by` is the member who
    /// deactivates from inside an organisation (`None`: the operator); then, under the organisation's lock, an owner
    /// is deactivated only by an owner ([`OWNERS_ONLY`]) and never the last active one ([`LAST_OWNER`]).
    fn set_user_status(
        &self,
        user: UserId,
        status: UserStatus,
        by: Option<ByMember>,
        audit: PendingAudit,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The user with this login, if any.
    fn user_by_email(&self, email: &Email) -> impl Future<Output = Result<Option<UserRecord>, StoreError>> + Send;

    /// The user with this id, if any.
    fn user_by_id(&self, user: UserId) -> impl Future<Output = Result<Option<UserRecord>, StoreError>> + Send;

    /// Replaces a password hash with one of the same password under today's parameters (re-hash at login).
    fn rehash_password(&self, user: UserId, hash: PasswordHash) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The members of an organisation with their roles, by e-mail.
    fn members_of(&self, org: OrgScope) -> impl Future<Output = Result<Vec<(UserRecord, Role)>, StoreError>> + Send;

    /// The user's memberships, one per organisation.
    fn memberships_of(&self, user: UserId) -> impl Future<Output = Result<Vec<Membership>, StoreError>> + Send;
}

/// Organisation recipient keys and the wrapped data keys that name them (DESIGN.md §5).
pub trait KeyStore {
    /// All keys of an organisation, newest first.
    fn org_keys(&self, org: OrgScope) -> impl Future<Output = Result<Vec<OrgKeyRecord>, StoreError>> + Send;

    /// Every secret wrapped directly under a master key (organisation private keys not yet retired, form
    /// blind-index keys), across organisations; for master-key rotation and the start-up check.
    fn master_wrapped_secrets(&self) -> impl Future<Output = Result<Vec<MasterWrapped>, StoreError>> + Send;

    /// A form's blind-index key, wrapped, with the master key fingerprint.
    fn form_index_key(
        &self,
        org: OrgScope,
        form: FormId,
    ) -> impl Future<Output = Result<Option<MasterWrappedBlob>, StoreError>> + Send;

    /// Starts a rotation: the active key becomes `retiring` and `new_key` becomes active, atomically. New writes use
    /// the new key from the moment this commits. [`StoreError::Conflict`] while another rotation is unfinished.
    fn begin_rotation(
        &self,
        org: OrgScope,
        new_key: NewOrgKey,
        audit: PendingAudit,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Up to `limit` data keys of `org` still wrapped to `key`.
    fn wrapped_keys_for(
        &self,
        org: OrgScope,
        key: sealform_crypto::KeyId,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<(WrappedKeyRef, Vec<u8>)>, StoreError>> + Send;

    /// How many data keys of `org` are wrapped to `key`.
    fn count_wrapped_keys(
        &self,
        org: OrgScope,
        key: sealform_crypto::KeyId,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Replaces re-wrapped data keys in one transaction. Each update applies only if the row still names the key
    /// it was read under, so a concurrent delete or rewrap is never overwritten. Returns the rows changed.
    fn replace_wrapped_keys(
        &self,
        org: OrgScope,
        updates: Vec<RewrapUpdate>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Retires a `retiring` key and destroys its wrapped private key, but only when no data key names it any more
    /// (checked in the same transaction). Returns whether it was retired.
    fn retire_org_key(
        &self,
        org: OrgScope,
        key: sealform_crypto::KeyId,
        at: OffsetDateTime,
        audit: PendingAudit,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Stores secrets re-wrapped under a new master key, all in one transaction.
    fn replace_master_wrapped(
        &self,
        secrets: Vec<MasterWrapped>,
        audit: PendingAudit,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Forms and sealed submissions. Only sealed bytes cross this boundary: there is no way to store plaintext answers.
pub trait SubmissionStore {
    /// Creates a form with its first version.
    fn create_form(
        &self,
        org: OrgScope,
        form: NewForm,
        audit: PendingAudit,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Stores a new submission and its first sealed revision. [`StoreError::Conflict`] when the revision's key is
    /// no longer usable (retired meanwhile): the caller seals again to the active key.
    fn insert_submission(
        &self,
        org: OrgScope,
        submission: NewSubmission,
        audit: PendingAudit,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The latest revision of a submission, sealed.
    fn latest_revision(
        &self,
        org: OrgScope,
        submission: SubmissionId,
    ) -> impl Future<Output = Result<Option<StoredRevision>, StoreError>> + Send;

    /// Deletes a submission with all its revisions and wrapped keys, overwriting the freed bytes (crypto-shredding).
    /// Returns whether it existed.
    fn delete_submission(
        &self,
        org: OrgScope,
        submission: SubmissionId,
        audit: PendingAudit,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Deletes an organisation with everything it owns, its private keys first among them. Returns whether it existed.
    fn delete_organisation(
        &self,
        org: OrgScope,
        audit: PendingAudit,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Submissions of `form` whose `field` has the blind-index `digest`.
    fn submissions_by_index(
        &self,
        org: OrgScope,
        form: FormId,
        field: &str,
        digest: [u8; 16],
    ) -> impl Future<Output = Result<Vec<SubmissionId>, StoreError>> + Send;

    /// How many submissions a form has.
    fn count_submissions(&self, org: OrgScope, form: FormId) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// The organisation's forms, newest first, with their current definitions.
    fn forms_of(&self, org: OrgScope) -> impl Future<Output = Result<Vec<FormRecord>, StoreError>> + Send;

    /// One form of `org`, with its current definition.
    fn form(&self, org: OrgScope, form: FormId) -> impl Future<Output = Result<Option<FormRecord>, StoreError>> + Send;

    /// A form by id alone, for its public page (the form id in the URL is the only thing a respondent has).
    /// Callers must check the status before showing or accepting anything.
    fn form_by_public_id(&self, form: FormId) -> impl Future<Output = Result<Option<FormRecord>, StoreError>> + Send;

    /// A version's definition, for reading submissions made against an earlier version.
    fn form_definition(
        &self,
        org: OrgScope,
        form: FormId,
        version: u32,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;

    /// Changes a form; a new definition becomes version `current + 1`. Returns the form as changed.
    /// [`StoreError::NotFound`] when it does not exist in `org`.
    fn change_form(
        &self,
        org: OrgScope,
        form: FormId,
        change: FormChange,
        at: OffsetDateTime,
        audit: PendingAudit,
    ) -> impl Future<Output = Result<FormRecord, StoreError>> + Send;

    /// A page of a form's submissions (metadata only).
    fn submissions(
        &self,
        org: OrgScope,
        query: SubmissionQuery,
    ) -> impl Future<Output = Result<Vec<SubmissionSummary>, StoreError>> + Send;

    /// A page of a form's submissions with their latest sealed revisions, for export.
    fn submissions_sealed(
        &self,
        org: OrgScope,
        query: SubmissionQuery,
    ) -> impl Future<Output = Result<Vec<(SubmissionSummary, StoredRevision)>, StoreError>> + Send;

    /// One submission's metadata.
    fn submission(
        &self,
        org: OrgScope,
        submission: SubmissionId,
    ) -> impl Future<Output = Result<Option<SubmissionSummary>, StoreError>> + Send;

    /// Sets a submission's status; false when it does not exist. `audit` is appended only when it changed.
    fn set_submission_status(
        &self,
        org: OrgScope,
        submission: SubmissionId,
        status: SubmissionStatus,
        audit: Option<PendingAudit>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Stores a staff edit as the next revision and replaces the blind index. [`StoreError::Conflict`] when the
    /// submission's latest revision is no longer `revision.revision - 1` (an edit raced another) or the key was
    /// retired meanwhile; [`StoreError::NotFound`] when it does not exist.
    fn insert_revision(
        &self,
        org: OrgScope,
        submission: SubmissionId,
        revision: SealedRevision,
        index: Vec<(String, [u8; 16])>,
        audit: PendingAudit,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Every revision of a submission, oldest first.
    fn revisions(
        &self,
        org: OrgScope,
        submission: SubmissionId,
    ) -> impl Future<Output = Result<Vec<StoredRevision>, StoreError>> + Send;

    /// A submission's files.
    fn files_of(
        &self,
        org: OrgScope,
        submission: SubmissionId,
    ) -> impl Future<Output = Result<Vec<FileRecord>, StoreError>> + Send;

    /// One file of `org`.
    fn file(&self, org: OrgScope, file: FileId) -> impl Future<Output = Result<Option<FileRecord>, StoreError>> + Send;
}

/// The append-only audit trail (DESIGN.md §8). Entries describing a change are appended by that change's own
/// store method, in its transaction; this trait appends the others (reads) and reads the trail back.
pub trait AuditStore {
    /// Appends entries in one transaction, after the chain head it reads and moves there.
    fn append_audit(&self, entries: Vec<PendingAudit>) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Up to `limit` entries with `seq > after`, in sequence order.
    fn audit_entries(&self, after: i64, limit: u32) -> impl Future<Output = Result<Vec<AuditRow>, StoreError>> + Send;

    /// Up to `limit` entries with `seq > after`, in sequence order, as the chain check reads them: only the hashed
    /// columns, a page in one buffer. Backends read these in bulk; `audit verify` reads the whole trail this way.
    fn audit_chain_page(&self, after: i64, limit: u32) -> impl Future<Output = Result<ChainPage, StoreError>> + Send;

    /// The entry with this sequence number.
    fn audit_entry(&self, seq: i64) -> impl Future<Output = Result<Option<AuditRow>, StoreError>> + Send;

    /// An organisation's entries matching `query`, newest first.
    fn audit_search(
        &self,
        org: OrgScope,
        query: AuditQuery,
    ) -> impl Future<Output = Result<Vec<AuditRow>, StoreError>> + Send;

    /// Every signed checkpoint.
    fn audit_checkpoints(&self) -> impl Future<Output = Result<Vec<CheckpointRow>, StoreError>> + Send;

    /// The installation's audit keys, wrapped, with the master fingerprint and the checkpoint public key.
    fn audit_keyset(&self) -> impl Future<Output = Result<Option<StoredAuditKeys>, StoreError>> + Send;

    /// Stores the audit keys once; false when another process stored a set first (use theirs).
    fn insert_audit_keyset(
        &self,
        wrapped: Vec<u8>,
        fingerprint: [u8; 8],
        verifying_key: Vec<u8>,
        at: OffsetDateTime,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// Logins and server-side sessions (DESIGN.md §7).
pub trait SessionStore {
    /// Records a failed login: the new failure count and, when the policy locks the account, until when.
    fn record_login_failure(
        &self,
        user: UserId,
        failed_logins: u32,
        locked_until: Option<OffsetDateTime>,
        audit: Vec<PendingAudit>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Opens a session after a successful login and clears the failure count, in one transaction.
    fn open_session(
        &self,
        session: NewSession,
        audit: PendingAudit,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The session with this token hash, with its user and role.
    fn session(&self, id_hash: [u8; 32]) -> impl Future<Output = Result<Option<SessionRecord>, StoreError>> + Send;

    /// Marks activity on a session (for the idle timeout).
    fn touch_session(
        &self,
        id_hash: [u8; 32],
        at: OffsetDateTime,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The user's earlier password hashes, newest first, at most `limit`.
    fn password_history(
        &self,
        user: UserId,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<PasswordHash>, StoreError>> + Send;

    /// Stores a password change: new hash, history (trimmed to `keep`), all sessions of the user replaced by the
    /// change's new session, all in one transaction.
    fn change_password(
        &self,
        change: PasswordChange,
        audit: PendingAudit,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Stores a confirmed TOTP enrolment: the wrapped secret, the step already used, and recovery code hashes
    /// (replacing earlier ones).
    fn enrol_totp(
        &self,
        enrolment: TotpEnrolment,
        audit: PendingAudit,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Completes a second-factor check: consumes the TOTP step (only if newer than the last one) or the recovery
    /// code (only if unused), and swaps the pending session for a full one, in one transaction. False when the step
    /// or code was already used (a replay), in which case nothing changes.
    fn complete_mfa(
        &self,
        completion: MfaCompletion,
        audit: PendingAudit,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Stores a WebAuthn challenge (and drops expired ones).
    fn insert_webauthn_challenge(&self, challenge: NewChallenge)
    -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Uses up a challenge: true only when one with this hash exists for this purpose, session and user, unused and
    /// unexpired at `now`. A used challenge stays used whatever the caller then decides.
    fn take_webauthn_challenge(
        &self,
        hash: [u8; 32],
        purpose: ChallengePurpose,
        session: [u8; 32],
        user: UserId,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The user's WebAuthn credentials, oldest first.
    fn webauthn_credentials_of(
        &self,
        user: UserId,
    ) -> impl Future<Output = Result<Vec<WebauthnCredential>, StoreError>> + Send;

    /// Stores a new credential; [`StoreError::Conflict`] when its credential id is already registered.
    fn insert_webauthn_credential(
        &self,
        credential: WebauthnCredential,
        audit: PendingAudit,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Removes one of `user`'s credentials; false (nothing audited) when they have no such credential.
    fn delete_webauthn_credential(
        &self,
        user: UserId,
        id: Uuid,
        audit: PendingAudit,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Counts one event under `key` in a fixed window that started no earlier than `window_start_after`; returns
    /// the count in the current window (a window older than that starts afresh at 1).
    fn hit_rate_limit(
        &self,
        key: &str,
        now: OffsetDateTime,
        window_start_after: OffsetDateTime,
    ) -> impl Future<Output = Result<u32, StoreError>> + Send;

    /// The count under `key` in the current window (0 when the window is older than `window_start_after`).
    fn rate_limit_count(
        &self,
        key: &str,
        window_start_after: OffsetDateTime,
    ) -> impl Future<Output = Result<u32, StoreError>> + Send;

    /// The user's open sessions, newest first: (token hash, created, last seen).
    fn sessions_of(
        &self,
        user: UserId,
    ) -> impl Future<Output = Result<Vec<([u8; 32], OffsetDateTime, OffsetDateTime)>, StoreError>> + Send;

    /// Ends one of `user`'s sessions; false when no such session of that user exists.
    fn revoke_session_of(
        &self,
        user: UserId,
        id_hash: [u8; 32],
        audit: PendingAudit,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Stores a password reset request.
    fn insert_reset(&self, reset: NewReset, audit: PendingAudit)
    -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The reset with this token hash, and when it was used.
    fn reset_by_token(
        &self,
        token_hash: [u8; 32],
    ) -> impl Future<Output = Result<Option<(NewReset, Option<OffsetDateTime>)>, StoreError>> + Send;

    /// Uses up the reset (only if still open), sets the new password, keeps the history and ends every session of
    /// the user, in one transaction. False when the link was used meanwhile.
    fn complete_reset(
        &self,
        reset: CompletedReset,
        audit: PendingAudit,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Records a step-up re-authentication on a session.
    fn mark_reauthenticated(
        &self,
        id_hash: [u8; 32],
        at: OffsetDateTime,
        audit: PendingAudit,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Ends a session; `audit` is appended only when it existed. Returns whether it existed.
    fn close_session(
        &self,
        id_hash: [u8; 32],
        audit: Option<PendingAudit>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// API keys.
pub trait ApiKeyStore {
    /// Stores a new key.
    fn insert_api_key(
        &self,
        org: OrgScope,
        key: NewApiKey,
        audit: PendingAudit,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The key with this visible prefix, with its user's current role and status.
    fn api_key_by_prefix(&self, prefix: &str) -> impl Future<Output = Result<Option<ApiKeyRecord>, StoreError>> + Send;

    /// The keys `user` holds in `org`, newest first.
    fn api_keys_of(
        &self,
        org: OrgScope,
        user: UserId,
    ) -> impl Future<Output = Result<Vec<ApiKeyRecord>, StoreError>> + Send;

    /// Records a use.
    fn touch_api_key(&self, id: Uuid, at: OffsetDateTime) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Revokes a key of `org`. [`StoreError::NotFound`] when `org` has no such key.
    fn revoke_api_key(
        &self,
        org: OrgScope,
        id: Uuid,
        at: OffsetDateTime,
        audit: PendingAudit,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Grants on forms and access requests (DESIGN.md §6). Every method is scoped to one organisation.
pub trait GrantStore {
    /// The member's grants in `org`, expired ones included (authorization ignores them).
    fn grants_of_user(
        &self,
        org: OrgScope,
        user: UserId,
    ) -> impl Future<Output = Result<Vec<Grant>, StoreError>> + Send;

    /// The grants on a form with their members' logins, expired ones included.
    fn grants_of_form(
        &self,
        org: OrgScope,
        form: FormId,
    ) -> impl Future<Output = Result<Vec<GrantRecord>, StoreError>> + Send;

    /// One member's grant on a form.
    fn grant(
        &self,
        org: OrgScope,
        form: FormId,
        user: UserId,
    ) -> impl Future<Output = Result<Option<Grant>, StoreError>> + Send;

    /// The organisation's break-glass grants (in force or expired, until revoked), newest first, with the members'
    /// logins.
    fn break_glass_grants(&self, org: OrgScope) -> impl Future<Output = Result<Vec<GrantRecord>, StoreError>> + Send;

    /// The members of `org` who hold the emergency right.
    fn emergency_members(&self, org: OrgScope) -> impl Future<Output = Result<Vec<UserId>, StoreError>> + Send;

    /// Gives or takes the emergency right; false when `user` is not a member of `org` (nothing audited then).
    fn set_emergency_access(
        &self,
        org: OrgScope,
        user: UserId,
        holds: bool,
        audit: PendingAudit,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Stores a grant, replacing the member's grant on that form if any.
    fn put_grant(
        &self,
        org: OrgScope,
        grant: Grant,
        audit: Vec<PendingAudit>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Stores a break-glass grant where the member's grant on the form is still the one the service saw: the one
    /// created at `replaces` (an expired grant), or none. [`StoreError::Conflict`] when another grant was written
    /// meanwhile (an admin's, or a second break-glass), which the time-boxed grant must never overwrite.
    fn open_break_glass(
        &self,
        org: OrgScope,
        grant: Grant,
        replaces: Option<OffsetDateTime>,
        audit: Vec<PendingAudit>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Removes a grant; false when there was none (nothing audited then).
    fn delete_grant(
        &self,
        org: OrgScope,
        form: FormId,
        user: UserId,
        audit: PendingAudit,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Stores a new access request.
    fn insert_access_request(
        &self,
        org: OrgScope,
        request: AccessRequest,
        audit: PendingAudit,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The pending requests for a form, oldest first, with their members' logins.
    fn access_requests_of_form(
        &self,
        org: OrgScope,
        form: FormId,
    ) -> impl Future<Output = Result<Vec<AccessRequestRecord>, StoreError>> + Send;

    /// One request.
    fn access_request(
        &self,
        org: OrgScope,
        id: Uuid,
    ) -> impl Future<Output = Result<Option<AccessRequest>, StoreError>> + Send;

    /// Records the decision on a still-pending request (its status, who and when), with the grant it makes if any;
    /// false when the request was no longer pending (nothing written).
    fn decide_access_request(
        &self,
        org: OrgScope,
        decided: AccessRequest,
        grant: Option<Grant>,
        audit: Vec<PendingAudit>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// Grants on folders (see [`crate::folder_grants`]). Every method is scoped to one organisation; a member's folder
/// grants also come back, expanded per form, from [`GrantStore::grants_of_user`].
pub trait FolderGrantStore {
    /// The grants on one folder, with the members' logins.
    fn folder_grants_of(
        &self,
        org: OrgScope,
        folder: FolderId,
    ) -> impl Future<Output = Result<Vec<FolderGrantRecord>, StoreError>> + Send;

    /// Every folder grant of the organisation (for the access review).
    fn folder_grants_of_org(
        &self,
        org: OrgScope,
    ) -> impl Future<Output = Result<Vec<FolderGrantRecord>, StoreError>> + Send;

    /// One member's grant on a folder.
    fn folder_grant(
        &self,
        org: OrgScope,
        folder: FolderId,
        user: UserId,
    ) -> impl Future<Output = Result<Option<FolderGrant>, StoreError>> + Send;

    /// Stores a folder grant, replacing the member's grant on that folder if any.
    fn put_folder_grant(
        &self,
        org: OrgScope,
        grant: FolderGrant,
        audit: PendingAudit,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Removes a folder grant; false when there was none (nothing audited then).
    fn delete_folder_grant(
        &self,
        org: OrgScope,
        folder: FolderId,
        user: UserId,
        audit: PendingAudit,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// Folders of forms (see [`crate::folders`]). Every method is scoped to one organisation.
pub trait FolderStore {
    /// The organisation's folders, oldest first.
    fn folders_of(&self, org: OrgScope) -> impl Future<Output = Result<Vec<Folder>, StoreError>> + Send;

    /// One folder of `org`.
    fn folder(
        &self,
        org: OrgScope,
        folder: FolderId,
    ) -> impl Future<Output = Result<Option<Folder>, StoreError>> + Send;

    /// Which folder each form in a folder is in.
    fn form_folders(&self, org: OrgScope) -> impl Future<Output = Result<Vec<(FormId, FolderId)>, StoreError>> + Send;

    /// Stores a new folder. [`StoreError::NotFound`] when its parent is not in the organisation.
    fn insert_folder(
        &self,
        org: OrgScope,
        folder: Folder,
        audit: PendingAudit,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Stores a folder's new name and colour and moves `forms` into it, in one transaction.
    /// [`StoreError::NotFound`] when the folder or a form is not in the organisation.
    fn update_folder(
        &self,
        org: OrgScope,
        folder: Folder,
        forms: Vec<FormId>,
        audit: PendingAudit,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Deletes a folder with its subfolders (their forms return to the top level); false when it did not exist.
    /// In its transaction, and with the organisation's folders locked against new subfolders, grants and forms
    /// until it commits, it checks what `audit` names: no member holds a grant on the folders it deletes (else
    /// [`FOLDER_HAS_GRANTS`]), and they are exactly `doomed` holding exactly the forms `freed` (else
    /// [`FOLDER_CHANGED`]). The grants on folders above, which the entry also names, are not checked.
    fn delete_folder(
        &self,
        org: OrgScope,
        folder: FolderId,
        doomed: Vec<FolderId>,
        freed: Vec<FormId>,
        audit: PendingAudit,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// Per-form settings of the Jotform-compatible API (see [`crate::form_settings`]), scoped to one organisation.
pub trait FormSettingsStore {
    /// A form's webhooks, by number.
    fn webhooks_of(&self, org: OrgScope, form: FormId)
    -> impl Future<Output = Result<Vec<Webhook>, StoreError>> + Send;

    /// Adds a webhook with the next number of the form. [`StoreError::NotFound`] for a form not in `org`.
    fn insert_webhook(
        &self,
        org: OrgScope,
        form: FormId,
        url: String,
        at: OffsetDateTime,
        audit: PendingAudit,
    ) -> impl Future<Output = Result<Webhook, StoreError>> + Send;

    /// Removes a webhook; false when the form has none with that number (nothing audited then).
    fn delete_webhook(
        &self,
        org: OrgScope,
        form: FormId,
        id: i64,
        audit: PendingAudit,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// A form's stored properties, by key.
    fn form_properties(
        &self,
        org: OrgScope,
        form: FormId,
    ) -> impl Future<Output = Result<Vec<(String, String)>, StoreError>> + Send;

    /// Sets properties (replacing earlier values of the same keys). [`StoreError::NotFound`] for a form not in
    /// `org`.
    fn put_form_properties(
        &self,
        org: OrgScope,
        form: FormId,
        properties: Vec<(String, String)>,
        audit: PendingAudit,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Idempotency keys of the native API's submission POSTs ([`crate::idempotency`]). Every method is scoped to one
/// organisation and one API key.
pub trait IdempotencyStore {
    /// The record of `key` made by `api_key` in `org` at or after `not_before` (older ones have expired).
    fn idempotency_record(
        &self,
        org: OrgScope,
        api_key: Uuid,
        key: &str,
        not_before: OffsetDateTime,
    ) -> impl Future<Output = Result<Option<IdempotencyRecord>, StoreError>> + Send;

    /// As [`SubmissionStore::insert_submission`], and stores `record` in the same transaction (dropping the
    /// organisation's records older than `expired_before` first). [`StoreError::Conflict`] with
    /// [`crate::idempotency::KEY_TAKEN`] when a record of the same key is in force (nothing is written then).
    fn insert_submission_once(
        &self,
        org: OrgScope,
        submission: NewSubmission,
        audit: PendingAudit,
        record: IdempotencyRecord,
        expired_before: OffsetDateTime,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Keyset pages of an organisation's audit trail, for the native API's search (beside [`AuditStore::audit_search`],
/// which the console pages by time).
pub trait AuditPageStore {
    /// As [`AuditStore::audit_search`], only entries with `seq < before` when given: the next page after the entry
    /// numbered `before`.
    fn audit_page(
        &self,
        org: OrgScope,
        query: AuditQuery,
        before: Option<i64>,
    ) -> impl Future<Output = Result<Vec<AuditRow>, StoreError>> + Send;
}

/// Everything a backend provides. Services and the HTTP layer are generic over this.
pub trait Store:
    HealthStore
    + OrganisationStore
    + UserStore
    + KeyStore
    + SubmissionStore
    + AuditStore
    + SessionStore
    + ApiKeyStore
    + GrantStore
    + FolderStore
    + FolderGrantStore
    + FormSettingsStore
    + IdempotencyStore
    + AuditPageStore
    + Clone
    + Send
    + Sync
    + 'static
{
    /// The handle to `org`'s data: the only way to it.
    fn tenant(&self, org: OrgId) -> Tenant<'_, Self> {
        Tenant::new(self, org)
    }

    /// A short name for logs and `/readyz`: `sqlite` or `postgres`.
    fn backend_name(&self) -> &'static str;

    /// Lets queued writes commit and closes the connections. Called once, at shutdown.
    fn close(self) -> impl Future<Output = ()> + Send;
}
