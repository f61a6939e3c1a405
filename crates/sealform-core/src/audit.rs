//! The audit trail (DESIGN.md §8): who did what to which record, from where, with which fields — never the
//! values. Every service that reads or changes PHI hands storage a [`PendingAudit`] with its change; storage
//! appends it in the same transaction, so if the audit row cannot be written the operation fails (fail closed).
//!
//! Each entry's detail (targets, fields, IP, user agent, request id) is sealed; only what search needs stays in
//! clear columns: time, action, actor id, outcome, and a keyed hash of the first target. Entries are chained with
//! an HMAC over their canonical bytes ([`EntryRef::write_canonical`]) and checkpoints are signed (see
//! `sealform_crypto::AuditKeys`); [`verify`] walks the chain.

use std::fmt;
use std::sync::Arc;

use sealform_crypto::{AuditKeys, CHAIN_HASH_LEN, Checkpoint, CheckpointVerifier};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::DomainError;
use crate::error::crypto_failure;
use crate::ids::OrgId;

mod chain;
mod verify;

pub use chain::{ChainPage, EntryRef};
pub use verify::{chunk_starts, verify, verify_paged};

/// Every auditable action. A closed set: storage refuses nothing, but nothing else can be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum Action {
    InstallationBootstrap,
    OrgCreate,
    OrgUpdate,
    OrgDelete,
    FormCreate,
    FormUpdate,
    SubmissionCreate,
    SubmissionRead,
    SubmissionUpdate,
    SubmissionDelete,
    SubmissionExport,
    SubmissionSearch,
    FileRead,
    UserCreate,
    UserInvite,
    PasswordResetRequest,
    UserUpdate,
    UserDeactivate,
    GrantCreate,
    GrantRevoke,
    GrantBreakGlass,
    AccessRequestCreate,
    AccessRequestDecide,
    LoginSuccess,
    LoginFailure,
    Logout,
    SessionRevoke,
    Lockout,
    MfaEnrol,
    MfaRemove,
    MfaSuccess,
    MfaFailure,
    StepUp,
    KeyRotate,
    KeyRetire,
    ApiKeyCreate,
    ApiKeyRevoke,
    MasterKeyRotate,
    BackupCreate,
    BackupVerify,
    BackupRestore,
    AuditExport,
    FolderCreate,
    FolderUpdate,
    FolderDelete,
}

impl Action {
    /// Every action, for parsing and documentation.
    pub const ALL: [Self; 45] = [
        Self::InstallationBootstrap,
        Self::OrgCreate,
        Self::OrgUpdate,
        Self::OrgDelete,
        Self::FormCreate,
        Self::FormUpdate,
        Self::SubmissionCreate,
        Self::SubmissionRead,
        Self::SubmissionUpdate,
        Self::SubmissionDelete,
        Self::SubmissionExport,
        Self::SubmissionSearch,
        Self::FileRead,
        Self::UserCreate,
        Self::UserInvite,
        Self::PasswordResetRequest,
        Self::UserUpdate,
        Self::UserDeactivate,
        Self::GrantCreate,
        Self::GrantRevoke,
        Self::GrantBreakGlass,
        Self::AccessRequestCreate,
        Self::AccessRequestDecide,
        Self::LoginSuccess,
        Self::LoginFailure,
        Self::Logout,
        Self::SessionRevoke,
        Self::Lockout,
        Self::MfaEnrol,
        Self::MfaRemove,
        Self::MfaSuccess,
        Self::MfaFailure,
        Self::StepUp,
        Self::KeyRotate,
        Self::KeyRetire,
        Self::ApiKeyCreate,
        Self::ApiKeyRevoke,
        Self::MasterKeyRotate,
        Self::BackupCreate,
        Self::BackupVerify,
        Self::BackupRestore,
        Self::AuditExport,
        Self::FolderCreate,
        Self::FolderUpdate,
        Self::FolderDelete,
    ];

    /// The stable dotted name stored and exported.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InstallationBootstrap => "installation.bootstrap",
            Self::OrgCreate => "org.create",
            Self::OrgUpdate => "org.update",
            Self::OrgDelete => "org.delete",
            Self::FormCreate => "form.create",
            Self::FormUpdate => "form.update",
            Self::SubmissionCreate => "submission.create",
            Self::SubmissionRead => "submission.read",
            Self::SubmissionUpdate => "submission.update",
            Self::SubmissionDelete => "submission.delete",
            Self::SubmissionExport => "submission.export",
            Self::SubmissionSearch => "submission.search",
            Self::FileRead => "file.read",
            Self::UserCreate => "user.create",
            Self::UserInvite => "user.invite",
            Self::PasswordResetRequest => "password_reset.request",
            Self::UserUpdate => "user.update",
            Self::UserDeactivate => "user.deactivate",
            Self::GrantCreate => "grant.create",
            Self::GrantRevoke => "grant.revoke",
            Self::GrantBreakGlass => "grant.break_glass",
            Self::AccessRequestCreate => "access_request.create",
            Self::AccessRequestDecide => "access_request.decide",
            Self::LoginSuccess => "login.success",
            Self::LoginFailure => "login.failure",
            Self::Logout => "logout",
            Self::SessionRevoke => "session.revoke",
            Self::Lockout => "lockout",
            Self::MfaEnrol => "mfa.enrol",
            Self::MfaRemove => "mfa.remove",
            Self::MfaSuccess => "mfa.success",
            Self::MfaFailure => "mfa.failure",
            Self::StepUp => "step_up",
            Self::KeyRotate => "key.rotate",
            Self::KeyRetire => "key.retire",
            Self::ApiKeyCreate => "api_key.create",
            Self::ApiKeyRevoke => "api_key.revoke",
            Self::MasterKeyRotate => "key.master_rotate",
            Self::BackupCreate => "backup.create",
            Self::BackupVerify => "backup.verify",
            Self::BackupRestore => "backup.restore",
            Self::AuditExport => "audit.export",
            Self::FolderCreate => "folder.create",
            Self::FolderUpdate => "folder.update",
            Self::FolderDelete => "folder.delete",
        }
    }

    /// Parses a stored name.
    ///
    /// # Errors
    /// [`DomainError::Invalid`] for an unknown name.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| DomainError::Invalid("unknown audit action".into()))
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who acted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Actor {
    /// A logged-in user.
    User(Uuid),
    /// An API key.
    ApiKey(Uuid),
    /// An operator at the command line (the OS user is in the context).
    Operator,
    /// Sealform itself (background jobs).
    System,
    /// An anonymous respondent filling in a public form (the IP is in the context).
    Respondent,
}

impl Actor {
    /// The id kept in clear for search, if the actor has one.
    #[must_use]
    pub fn id(&self) -> Option<Uuid> {
        match self {
            Self::User(id) | Self::ApiKey(id) => Some(*id),
            Self::Operator | Self::System | Self::Respondent => None,
        }
    }
}

/// Whether the action went through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It happened.
    Ok,
    /// Authorization refused it.
    Denied,
    /// It failed.
    Error,
}

impl Outcome {
    /// The stored spelling.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Denied => "denied",
            Self::Error => "error",
        }
    }
}

/// Where a request came from. IP and user agent are sealed in the detail, never logged.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestContext {
    /// Client IP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// Client user agent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// The request id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The OS user running a CLI command.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os_user: Option<String>,
}

/// A record an action touched.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// What kind: `organisation`, `form`, `submission`, `key`, `user` …
    pub kind: String,
    /// Its id.
    pub id: String,
}

impl Target {
    /// A target of `kind` with `id`.
    pub fn new(kind: &str, id: impl fmt::Display) -> Self {
        Self { kind: kind.to_owned(), id: id.to_string() }
    }
}

/// The sealed part of an entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Detail {
    /// Who acted.
    pub actor: Actor,
    /// What was touched.
    pub targets: Vec<Target>,
    /// The ids of the fields viewed or changed (never their values).
    pub fields: Vec<String>,
    /// Where from.
    #[serde(flatten)]
    pub context: RequestContext,
}

/// The audit keys, unwrapped, and what services need to make entries.
pub struct Auditor {
    keys: AuditKeys,
}

impl Auditor {
    /// An auditor over unwrapped keys.
    #[must_use]
    pub fn new(keys: AuditKeys) -> Self {
        Self { keys }
    }

    /// The public key third parties use to verify checkpoints.
    #[must_use]
    pub fn verifier(&self) -> CheckpointVerifier {
        self.keys.verifying_key()
    }

    /// Prepares an entry: seals the detail and hashes the first target. Storage assigns the sequence number and
    /// chain hash inside the transaction of the change it describes.
    ///
    /// # Errors
    /// [`DomainError::Internal`] when sealing fails.
    pub fn prepare(self: &Arc<Self>, scope: &AuditScope, entry: Entry) -> Result<PendingAudit, DomainError> {
        let at = truncate_to_micros(entry.at);
        let detail =
            Detail { actor: scope.actor, targets: entry.targets, fields: entry.fields, context: scope.context.clone() };
        let json = serde_json::to_vec(&detail).map_err(|e| DomainError::Internal(format!("audit detail: {e}")))?;
        let target_hash = detail.targets.first().map(|t| self.keys.target_hash(t.id.as_bytes()));
        let sealed = sealform_crypto::seal(self.keys.detail_key(), &detail_aad(entry.action.as_str(), at), &json)
            .map_err(crypto_failure("seal audit detail"))?;
        Ok(PendingAudit {
            org: entry.org,
            at,
            action: entry.action,
            actor_id: scope.actor.id(),
            outcome: entry.outcome,
            target_hash,
            detail: sealed,
            auditor: Arc::clone(self),
        })
    }

    /// Opens a stored entry's detail.
    ///
    /// # Errors
    /// [`DomainError::Internal`] when it does not authenticate.
    pub fn open_detail(&self, row: &AuditRow) -> Result<Detail, DomainError> {
        let json = sealform_crypto::open(self.keys.detail_key(), &detail_aad(&row.action, row.at), &row.detail)
            .map_err(crypto_failure("open audit detail"))?;
        serde_json::from_slice(&json).map_err(|e| DomainError::Internal(format!("audit detail: {e}")))
    }

    /// The keyed hash of a target id, to search by record.
    #[must_use]
    pub fn target_hash(&self, id: &str) -> [u8; 16] {
        self.keys.target_hash(id.as_bytes())
    }
}

/// Who is acting and from where; built once per request or command.
#[derive(Clone, Debug)]
pub struct AuditScope {
    /// The actor.
    pub actor: Actor,
    /// The request context.
    pub context: RequestContext,
}

impl AuditScope {
    /// An operator at the command line, named by the OS user.
    #[must_use]
    pub fn operator() -> Self {
        let os_user = std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).ok();
        Self { actor: Actor::Operator, context: RequestContext { os_user, ..RequestContext::default() } }
    }
}

/// What a service reports about one action.
#[derive(Clone, Debug)]
pub struct Entry {
    /// The organisation, or `None` for installation-wide actions.
    pub org: Option<OrgId>,
    /// The action.
    pub action: Action,
    /// What was touched; the first is also hashed for search.
    pub targets: Vec<Target>,
    /// The field ids viewed or changed.
    pub fields: Vec<String>,
    /// Whether it went through.
    pub outcome: Outcome,
    /// When.
    pub at: OffsetDateTime,
}

impl Entry {
    /// A successful action on `targets`.
    #[must_use]
    pub fn ok(org: Option<OrgId>, action: Action, targets: Vec<Target>, at: OffsetDateTime) -> Self {
        Self { org, action, targets, fields: Vec::new(), outcome: Outcome::Ok, at }
    }

    /// With the field ids viewed or changed.
    #[must_use]
    pub fn with_fields(mut self, fields: Vec<String>) -> Self {
        self.fields = fields;
        self
    }
}

/// An entry ready to append: storage calls [`PendingAudit::seal`] with the chain head it read in its transaction.
#[derive(Clone)]
pub struct PendingAudit {
    /// The organisation.
    pub org: Option<OrgId>,
    /// When (microsecond precision, so both backends store it exactly).
    pub at: OffsetDateTime,
    /// The action.
    pub action: Action,
    /// The actor's id, in clear for search.
    pub actor_id: Option<Uuid>,
    /// The outcome.
    pub outcome: Outcome,
    /// Keyed hash of the first target.
    pub target_hash: Option<[u8; 16]>,
    /// The sealed detail.
    pub detail: Vec<u8>,
    auditor: Arc<Auditor>,
}

impl fmt::Debug for PendingAudit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingAudit").field("action", &self.action).field("org", &self.org).finish_non_exhaustive()
    }
}

/// Make a checkpoint at least every this many entries…
pub const CHECKPOINT_EVERY: i64 = 1000;
/// …and at least this often (microseconds: ten minutes) while entries are written.
pub const CHECKPOINT_INTERVAL_MICROS: i64 = 10 * 60 * 1_000_000;

/// The chain head as storage keeps it.
#[derive(Clone, Copy, Debug)]
pub struct ChainHead {
    /// The last sequence number (0 before the first entry).
    pub seq: i64,
    /// The last chain hash.
    pub hash: [u8; CHAIN_HASH_LEN],
    /// When the last checkpoint was made.
    pub last_checkpoint_micros: i64,
}

/// A sealed entry with its place in the chain, and a checkpoint when one is due.
#[derive(Clone, Debug)]
pub struct SealedAudit {
    /// The row to insert.
    pub row: AuditRow,
    /// A signed checkpoint for this entry, when due.
    pub checkpoint: Option<(Checkpoint, Vec<u8>)>,
    /// The new head.
    pub head: ChainHead,
}

impl PendingAudit {
    /// Places the entry after `head`.
    #[must_use]
    pub fn seal(&self, head: ChainHead) -> SealedAudit {
        let mut row = AuditRow {
            seq: head.seq + 1,
            org: self.org,
            at: self.at,
            action: self.action.as_str().to_owned(),
            actor_id: self.actor_id,
            outcome: self.outcome.as_str().to_owned(),
            target_hash: self.target_hash.map(|h| h.to_vec()),
            detail: self.detail.clone(),
            chain_hash: [0; CHAIN_HASH_LEN],
        };
        row.chain_hash = self.auditor.keys.link(&head.hash, &row.canonical_bytes());
        let at_micros = micros(self.at);
        let due =
            row.seq % CHECKPOINT_EVERY == 0 || at_micros - head.last_checkpoint_micros >= CHECKPOINT_INTERVAL_MICROS;
        let checkpoint = due.then(|| {
            let checkpoint = Checkpoint { seq: row.seq, hash: row.chain_hash, at_micros };
            let signature = self.auditor.keys.sign_checkpoint(&checkpoint);
            (checkpoint, signature)
        });
        let last_checkpoint_micros = if due { at_micros } else { head.last_checkpoint_micros };
        let head = ChainHead { seq: row.seq, hash: row.chain_hash, last_checkpoint_micros };
        SealedAudit { row, checkpoint, head }
    }
}

/// A stored audit entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRow {
    /// Sequence number, gapless from 1.
    pub seq: i64,
    /// Organisation.
    pub org: Option<OrgId>,
    /// Time.
    pub at: OffsetDateTime,
    /// Action name.
    pub action: String,
    /// Actor id.
    pub actor_id: Option<Uuid>,
    /// Outcome.
    pub outcome: String,
    /// Keyed hash of the first target.
    pub target_hash: Option<Vec<u8>>,
    /// Sealed detail.
    pub detail: Vec<u8>,
    /// Chain hash.
    pub chain_hash: [u8; CHAIN_HASH_LEN],
}

/// A stored checkpoint and its signature.
#[derive(Clone, Debug)]
pub struct CheckpointRow {
    /// The checkpoint.
    pub checkpoint: Checkpoint,
    /// Its Ed25519 signature.
    pub signature: Vec<u8>,
}

fn detail_aad(action: &str, at: OffsetDateTime) -> Vec<u8> {
    let mut aad = b"sealform/audit-detail/v1".to_vec();
    aad.extend_from_slice(&micros(at).to_be_bytes());
    aad.extend_from_slice(action.as_bytes());
    aad
}

/// Microseconds since the Unix epoch.
#[must_use]
pub fn micros(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1000).unwrap_or(i64::MAX)
}

fn truncate_to_micros(at: OffsetDateTime) -> OffsetDateTime {
    at.replace_nanosecond(at.nanosecond() / 1000 * 1000).unwrap_or(at)
}

/// What is wrong with the trail at the first bad entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChainFault {
    /// The entry's content or hash was changed (or it was forged).
    Modified,
    /// Entries are missing before this sequence number.
    Missing,
    /// This entry and the next were swapped.
    Reordered,
    /// Entries after a signed checkpoint were removed: the trail ends before the checkpoint's entry.
    TruncatedAfterCheckpoint,
    /// A checkpoint's signature or hash does not match.
    BadCheckpoint,
}

impl fmt::Display for ChainFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Modified => "modified",
            Self::Missing => "missing",
            Self::Reordered => "reordered",
            Self::TruncatedAfterCheckpoint => "truncated after a checkpoint",
            Self::BadCheckpoint => "checkpoint does not match",
        })
    }
}

/// The verdict of [`verify`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The whole chain checks out.
    Ok {
        /// Entries verified.
        entries: u64,
    },
    /// The first bad entry.
    Broken {
        /// Its sequence number.
        seq: i64,
        /// What is wrong.
        fault: ChainFault,
    },
}

/// An auditor and the scope of the current request or command: what services take to record their actions.
#[derive(Clone, Copy)]
pub struct AuditCtx<'a> {
    /// The keys.
    pub auditor: &'a Arc<Auditor>,
    /// Who and where from.
    pub scope: &'a AuditScope,
}

impl AuditCtx<'_> {
    /// Prepares an entry in this scope.
    ///
    /// # Errors
    /// As [`Auditor::prepare`].
    pub fn entry(&self, entry: Entry) -> Result<PendingAudit, DomainError> {
        self.auditor.prepare(self.scope, entry)
    }
}

/// Loads the installation's audit keys, creating them (wrapped under the current master key) on first use.
///
/// # Errors
/// Storage errors, or [`DomainError::Internal`] when the keys cannot be unwrapped.
pub async fn load_or_create_auditor<S: crate::store::Store>(
    store: &S,
    masters: &crate::keys::MasterKeys,
    now: OffsetDateTime,
) -> Result<Arc<Auditor>, DomainError> {
    let aad = crate::keys::MasterWrappedRef::AuditKeys.aad();
    for _ in 0..2 {
        if let Some(stored) = store.audit_keyset().await? {
            let crate::keys::MasterWrappedBlob { wrapped, fingerprint } = stored.wrapped;
            let master = masters.by_fingerprint(fingerprint).ok_or_else(|| {
                DomainError::Invalid(
                    "the master key does not match the database: it did not wrap the audit keys".into(),
                )
            })?;
            let secret = master.unwrap_secret(&wrapped, &aad).map_err(crypto_failure("unwrap audit keys"))?;
            let keys = AuditKeys::from_secret_bytes(&secret).map_err(crypto_failure("decode audit keys"))?;
            return Ok(Arc::new(Auditor::new(keys)));
        }
        let keys = AuditKeys::generate().map_err(crypto_failure("generate audit keys"))?;
        let master = masters.current();
        let wrapped = master.wrap_secret(&keys.to_secret_bytes(), &aad).map_err(crypto_failure("wrap audit keys"))?;
        let verifying = keys.verifying_key().as_bytes().to_vec();
        if store.insert_audit_keyset(wrapped, master.fingerprint(), verifying, now).await? {
            return Ok(Arc::new(Auditor::new(keys)));
        }
        // Another process created the keys first; load theirs.
    }
    Err(DomainError::Internal("the audit keys could not be created".into()))
}

/// A search of one organisation's trail (the auditor's console page).
#[derive(Clone, Debug)]
pub struct AuditQuery {
    /// The organisation; always required, so a search never crosses tenants.
    pub org: OrgId,
    /// Only this action.
    pub action: Option<Action>,
    /// Only this actor id.
    pub actor: Option<Uuid>,
    /// Only entries whose first target has this keyed hash ([`Auditor::target_hash`]).
    pub target_hash: Option<[u8; 16]>,
    /// At or after.
    pub from: Option<OffsetDateTime>,
    /// Before.
    pub to: Option<OffsetDateTime>,
    /// At most this many, newest first.
    pub limit: u32,
}
