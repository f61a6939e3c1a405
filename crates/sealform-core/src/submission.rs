//! Forms and submissions as storage sees them: ids, versions and sealed bytes only.

use sealform_crypto::KeyId;
use time::OffsetDateTime;

use crate::ids::{FileId, FormId, OrgId, SubmissionId, UserId};

/// A form to create, with its first version's definition.
#[derive(Clone, Debug)]
pub struct NewForm {
    /// Owning organisation.
    pub org_id: OrgId,
    /// Its id.
    pub id: FormId,
    /// Title (not PHI).
    pub title: String,
    /// The question schema of version 1, as JSON.
    pub definition: String,
    /// The form's blind-index key, wrapped under the master key.
    pub index_key: Vec<u8>,
    /// Which master key wrapped `index_key`.
    pub index_key_fingerprint: [u8; 8],
    /// Creation time.
    pub created_at: OffsetDateTime,
}

/// One sealed revision of a submission: answers sealed under a fresh data key, and that key wrapped to an
/// organisation key.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedRevision {
    /// 1 for the respondent's original; each staff edit adds one.
    pub revision: u32,
    /// The sealed answers ([`crate::sealing`] format).
    pub envelope: Vec<u8>,
    /// The revision's data key, wrapped.
    pub wrapped_key: Vec<u8>,
    /// The organisation key `wrapped_key` names.
    pub key_id: KeyId,
    /// The staff user who made this revision; `None` for the respondent's.
    pub created_by: Option<UserId>,
    /// When it was made.
    pub created_at: OffsetDateTime,
}

impl std::fmt::Debug for SealedRevision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedRevision")
            .field("revision", &self.revision)
            .field("envelope_len", &self.envelope.len())
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// A new submission with its first revision.
#[derive(Clone, Debug)]
pub struct NewSubmission {
    /// Owning organisation.
    pub org_id: OrgId,
    /// Its id.
    pub id: SubmissionId,
    /// The form answered.
    pub form_id: FormId,
    /// The form version answered.
    pub form_version: u32,
    /// Revision 1.
    pub revision: SealedRevision,
    /// Blind-index digests of the indexed answers: (field, digest).
    pub index: Vec<(String, [u8; 16])>,
    /// Sealed uploads, already in the object store.
    pub files: Vec<NewFile>,
}

/// A stored revision, with what is needed to open it.
#[derive(Clone, Debug)]
pub struct StoredRevision {
    /// Owning organisation.
    pub org_id: OrgId,
    /// The submission.
    pub submission_id: SubmissionId,
    /// The form it answers (part of the associated data).
    pub form_id: FormId,
    /// The sealed revision.
    pub sealed: SealedRevision,
}

/// Where a form is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FormStatus {
    /// Being built; the public page is closed.
    Draft,
    /// Open for submissions.
    Published,
    /// Closed for submissions, still listed.
    Unpublished,
    /// Closed and put away.
    Archived,
}

impl FormStatus {
    /// The stored spelling.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Published => "published",
            Self::Unpublished => "unpublished",
            Self::Archived => "archived",
        }
    }

    /// Parses the stored spelling.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Draft, Self::Published, Self::Unpublished, Self::Archived].into_iter().find(|v| v.as_str() == s)
    }
}

/// Where a submission is in staff's work.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SubmissionStatus {
    /// Nobody has opened it yet.
    New,
    /// Opened.
    Read,
    /// Marked for attention.
    Flagged,
    /// Put away.
    Archived,
}

impl SubmissionStatus {
    /// Every status, in the inbox's order.
    pub const ALL: [Self; 4] = [Self::New, Self::Read, Self::Flagged, Self::Archived];

    /// The stored spelling.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Read => "read",
            Self::Flagged => "flagged",
            Self::Archived => "archived",
        }
    }

    /// Parses the stored spelling.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// A form with its current version's definition.
#[derive(Clone, Debug)]
pub struct FormRecord {
    /// Owning organisation.
    pub org_id: OrgId,
    /// Its id.
    pub id: FormId,
    /// Title (not PHI).
    pub title: String,
    /// Life-cycle status.
    pub status: FormStatus,
    /// The current version number.
    pub version: u32,
    /// The current version's question schema, as JSON.
    pub definition: String,
    /// When it was created.
    pub created_at: OffsetDateTime,
    /// When it last changed.
    pub updated_at: OffsetDateTime,
}

/// A change to a form: a new title, a new version of its questions, a new status (any combination).
#[derive(Clone, Debug, Default)]
pub struct FormChange {
    /// A new title.
    pub title: Option<String>,
    /// A new version's definition, as JSON; stored as version `current + 1`.
    pub definition: Option<String>,
    /// A new status.
    pub status: Option<FormStatus>,
}

/// A submission's metadata (never its answers).
#[derive(Clone, Debug)]
pub struct SubmissionSummary {
    /// Its id.
    pub id: SubmissionId,
    /// The form answered.
    pub form_id: FormId,
    /// The form version answered.
    pub form_version: u32,
    /// Status.
    pub status: SubmissionStatus,
    /// The latest revision.
    pub revision: u32,
    /// When it was submitted.
    pub created_at: OffsetDateTime,
    /// When it last changed (edit or status).
    pub updated_at: OffsetDateTime,
}

/// Which end of the inbox comes first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Order {
    /// Newest first.
    #[default]
    NewestFirst,
    /// Oldest first.
    OldestFirst,
}

/// An inbox or export query over one form. Pagination is by keyset on the (time-ordered) submission id.
#[derive(Clone, Debug)]
pub struct SubmissionQuery {
    /// The organisation.
    pub org: OrgId,
    /// The form.
    pub form: FormId,
    /// Only this status.
    pub status: Option<SubmissionStatus>,
    /// Submitted at or after.
    pub from: Option<OffsetDateTime>,
    /// Submitted before.
    pub to: Option<OffsetDateTime>,
    /// Only submissions whose blind index for this field has this digest.
    pub index: Option<(String, [u8; 16])>,
    /// Order.
    pub order: Order,
    /// Continue after this id (in `order`).
    pub after: Option<SubmissionId>,
    /// Most rows to return.
    pub limit: u32,
}

impl SubmissionQuery {
    /// All submissions of a form, newest first, `limit` at a time.
    #[must_use]
    pub fn all(org: OrgId, form: FormId, limit: u32) -> Self {
        Self { org, form, status: None, from: None, to: None, index: None, order: Order::default(), after: None, limit }
    }
}

/// A sealed file to store with its submission. The bytes live in the object store under `object_key`.
#[derive(Clone, Debug)]
pub struct NewFile {
    /// Its id.
    pub id: FileId,
    /// The question it answers.
    pub question_id: String,
    /// Where the sealed bytes are.
    pub object_key: String,
    /// Sealed size in bytes.
    pub sealed_size: u64,
    /// The file's data key, wrapped to the organisation key.
    pub wrapped_key: Vec<u8>,
    /// The organisation key `wrapped_key` names.
    pub key_id: KeyId,
}

/// A stored file, with what is needed to open it.
#[derive(Clone, Debug)]
pub struct FileRecord {
    /// Owning organisation.
    pub org_id: OrgId,
    /// The submission.
    pub submission_id: SubmissionId,
    /// The form (part of the associated data).
    pub form_id: FormId,
    /// The revision it arrived with.
    pub revision: u32,
    /// The file as stored.
    pub file: NewFile,
}
