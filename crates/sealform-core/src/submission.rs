//! Forms and submissions as storage sees them: ids, versions and sealed bytes only.

use sealform_crypto::KeyId;
use time::OffsetDateTime;

use crate::ids::{FormId, OrgId, SubmissionId, UserId};

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
