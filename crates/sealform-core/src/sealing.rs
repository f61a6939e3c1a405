//! Sealing submissions (DESIGN.md §5): each revision gets a fresh data key; every answer is sealed under it with
//! associated data naming (organisation, form, submission, revision, field), so a ciphertext moved to another record
//! or field fails to open; the data key is wrapped to the organisation's active key, in the organisation's current
//! wrap session ([`Keyring::wrap_data_key`]).
//!
//! The sealed answers of a revision are stored as one container: `"SFA" 0x01`, a u32 count, then per field a u16
//! path length, the path (a question id, never PHI), a u32 sealed length and the sealed bytes (all big-endian).

use std::collections::BTreeMap;

use sealform_crypto::{DataKey, RecordBinding, WrappedKey};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::DomainError;
use crate::audit::{Action, AuditCtx, Entry, Target};
use crate::error::crypto_failure;
use crate::idempotency::IdempotencyRecord;
use crate::ids::{FormId, OrgId, SubmissionId, UserId};
use crate::keys::Keyring;
use crate::store::{KEY_RETIRED, Store, StoreError};
use crate::submission::{NewFile, NewSubmission, SealedRevision, StoredRevision};

/// Plaintext answers by field path. Values are zeroized when dropped.
pub type Answers = BTreeMap<String, Zeroizing<Vec<u8>>>;

const CONTAINER_MAGIC: &[u8; 4] = b"SFA\x01";
/// The field path under which the data key itself is bound; user field paths may not start with `#`.
const DATA_KEY_PATH: &str = "#data-key";

/// Which record a revision belongs to.
#[derive(Clone, Copy, Debug)]
pub struct RecordRef {
    /// Organisation.
    pub org: OrgId,
    /// Form.
    pub form: FormId,
    /// Submission.
    pub submission: SubmissionId,
    /// Revision.
    pub revision: u32,
}

impl RecordRef {
    fn binding<'a>(&self, field_path: &'a str) -> RecordBinding<'a> {
        RecordBinding {
            org_id: *self.org.as_uuid().as_bytes(),
            form_id: *self.form.as_uuid().as_bytes(),
            submission_id: *self.submission.as_uuid().as_bytes(),
            revision: self.revision,
            field_path,
        }
    }

    /// The associated data of the revision's wrapped data key.
    #[must_use]
    pub fn data_key_aad(&self) -> Vec<u8> {
        self.binding(DATA_KEY_PATH).to_aad()
    }
}

/// Seals `answers` as revision `record.revision`, wrapping a fresh data key to the organisation's active key.
///
/// # Errors
/// [`DomainError::Invalid`] for an empty or reserved field path; key and crypto failures as internal errors.
pub async fn seal_revision<S: Store>(
    keyring: &Keyring<S>,
    record: RecordRef,
    answers: &Answers,
    created_by: Option<UserId>,
    created_at: OffsetDateTime,
) -> Result<SealedRevision, DomainError> {
    let data_key = DataKey::generate().map_err(crypto_failure("generate data key"))?;
    let mut envelope = CONTAINER_MAGIC.to_vec();
    let count = u32::try_from(answers.len()).map_err(|_| DomainError::Invalid("too many answers".into()))?;
    envelope.extend_from_slice(&count.to_be_bytes());
    for (path, value) in answers {
        if path.is_empty() || path.starts_with('#') {
            return Err(DomainError::Invalid("field ids must be non-empty and must not start with '#'".into()));
        }
        let path_len = u16::try_from(path.len()).map_err(|_| DomainError::Invalid("field id too long".into()))?;
        let sealed = sealform_crypto::seal(&data_key, &record.binding(path).to_aad(), value)
            .map_err(crypto_failure("seal answer"))?;
        let sealed_len = u32::try_from(sealed.len()).map_err(|_| DomainError::Invalid("answer too large".into()))?;
        envelope.extend_from_slice(&path_len.to_be_bytes());
        envelope.extend_from_slice(path.as_bytes());
        envelope.extend_from_slice(&sealed_len.to_be_bytes());
        envelope.extend_from_slice(&sealed);
    }
    let wrapped = keyring.wrap_data_key(record.org, &data_key, &record.data_key_aad()).await?;
    Ok(SealedRevision {
        revision: record.revision,
        envelope,
        key_id: wrapped.key_id(),
        wrapped_key: wrapped.as_bytes().to_vec(),
        created_by,
        created_at,
    })
}

/// Opens a stored revision: all fields, or only `only` when given (minimum necessary: unrequested fields are never
/// decrypted).
///
/// # Errors
/// [`DomainError::Internal`] when the envelope is malformed or does not authenticate (tampering, wrong record).
pub async fn open_revision<S: Store>(
    keyring: &Keyring<S>,
    stored: &StoredRevision,
    only: Option<&[&str]>,
) -> Result<Answers, DomainError> {
    open_unaudited(keyring, stored, only).await
}

/// Reads and opens the latest revision of a submission, audited: the answers are returned only once the
/// `submission.read` entry naming the opened fields has committed (fail closed). `None` when it does not exist.
///
/// # Errors
/// Storage, audit and crypto errors.
pub async fn read_submission<S: Store>(
    store: &S,
    keyring: &Keyring<S>,
    audit: AuditCtx<'_>,
    org: OrgId,
    submission: SubmissionId,
    only: Option<&[&str]>,
    now: OffsetDateTime,
) -> Result<Option<Answers>, DomainError> {
    let Some(stored) = store.tenant(org).latest_revision(submission).await? else { return Ok(None) };
    let answers = open_unaudited(keyring, &stored, only).await?;
    let targets = vec![Target::new("submission", submission), Target::new("form", stored.form_id)];
    let fields = answers.keys().cloned().collect();
    let entry = audit.entry(Entry::ok(Some(org), Action::SubmissionRead, targets, now).with_fields(fields))?;
    store.append_audit(vec![entry]).await?;
    Ok(Some(answers))
}

/// Reads and opens the latest revisions of several submissions (each with the paths to open, `None` for all),
/// audited together: one `submission.read` entry per submission, all committed in one transaction before any answer
/// is returned (fail closed). A page of a list costs one durable write, not one per submission. Submissions that do
/// not exist are left out.
///
/// # Errors
/// Storage, audit and crypto errors.
pub async fn read_submissions<S: Store>(
    store: &S,
    keyring: &Keyring<S>,
    audit: AuditCtx<'_>,
    org: OrgId,
    wanted: &[(SubmissionId, Option<&[&str]>)],
    now: OffsetDateTime,
) -> Result<Vec<(SubmissionId, Answers)>, DomainError> {
    let mut opened = Vec::with_capacity(wanted.len());
    let mut entries = Vec::with_capacity(wanted.len());
    for (submission, only) in wanted {
        let Some(stored) = store.tenant(org).latest_revision(*submission).await? else { continue };
        let answers = open_unaudited(keyring, &stored, *only).await?;
        let targets = vec![Target::new("submission", *submission), Target::new("form", stored.form_id)];
        let fields = answers.keys().cloned().collect();
        entries.push(audit.entry(Entry::ok(Some(org), Action::SubmissionRead, targets, now).with_fields(fields))?);
        opened.push((*submission, answers));
    }
    if !entries.is_empty() {
        store.append_audit(entries).await?;
    }
    Ok(opened)
}

/// Deletes a submission by crypto-shredding, audited in the same transaction.
///
/// # Errors
/// [`DomainError::NotFound`] when it does not exist; storage errors.
pub async fn delete_submission<S: Store>(
    store: &S,
    audit: AuditCtx<'_>,
    org: OrgId,
    submission: SubmissionId,
    now: OffsetDateTime,
) -> Result<(), DomainError> {
    let entry = audit.entry(Entry::ok(
        Some(org),
        Action::SubmissionDelete,
        vec![Target::new("submission", submission)],
        now,
    ))?;
    if store.tenant(org).delete_submission(submission, entry).await? {
        Ok(())
    } else {
        Err(DomainError::NotFound("no such submission".into()))
    }
}

pub(crate) async fn open_unaudited<S: Store>(
    keyring: &Keyring<S>,
    stored: &StoredRevision,
    only: Option<&[&str]>,
) -> Result<Answers, DomainError> {
    let record = RecordRef {
        org: stored.org_id,
        form: stored.form_id,
        submission: stored.submission_id,
        revision: stored.sealed.revision,
    };
    let wrapped =
        WrappedKey::from_bytes(stored.sealed.wrapped_key.clone()).map_err(crypto_failure("parse wrapped key"))?;
    let private = keyring.private_key(stored.org_id, wrapped.key_id()).await?;
    let data_key = sealform_crypto::unwrap(&private, &wrapped, &record.data_key_aad())
        .map_err(crypto_failure("unwrap data key"))?;
    let mut answers = Answers::new();
    for (path, sealed) in parse_container(&stored.sealed.envelope)? {
        if only.is_some_and(|wanted| !wanted.contains(&path)) {
            continue;
        }
        let value = sealform_crypto::open(&data_key, &record.binding(path).to_aad(), sealed)
            .map_err(crypto_failure("open answer"))?;
        answers.insert(path.to_owned(), value);
    }
    Ok(answers)
}

fn parse_container(bytes: &[u8]) -> Result<Vec<(&str, &[u8])>, DomainError> {
    let malformed = || DomainError::Internal("sealed answers are malformed".into());
    let rest = bytes.strip_prefix(CONTAINER_MAGIC.as_slice()).ok_or_else(malformed)?;
    let (count, mut rest) = split_u32(rest).ok_or_else(malformed)?;
    let mut fields = Vec::new();
    for _ in 0..count {
        let (len, after) = rest.split_first_chunk::<2>().ok_or_else(malformed)?;
        let (path, after) = after.split_at_checked(usize::from(u16::from_be_bytes(*len))).ok_or_else(malformed)?;
        let path = std::str::from_utf8(path).map_err(|_| malformed())?;
        let (sealed_len, after) = split_u32(after).ok_or_else(malformed)?;
        let (sealed, after) = after.split_at_checked(sealed_len as usize).ok_or_else(malformed)?;
        fields.push((path, sealed));
        rest = after;
    }
    if rest.is_empty() { Ok(fields) } else { Err(malformed()) }
}

fn split_u32(bytes: &[u8]) -> Option<(u32, &[u8])> {
    let (n, rest) = bytes.split_first_chunk::<4>()?;
    Some((u32::from_be_bytes(*n), rest))
}

/// What to store: the form, its version, the answers, and which answers get a blind index.
pub struct NewAnswers<'a> {
    /// The organisation.
    pub org: OrgId,
    /// The form answered.
    pub form: FormId,
    /// Its version.
    pub form_version: u32,
    /// The answers.
    pub answers: &'a Answers,
    /// Fields whose answers are blind-indexed for exact-match search.
    pub indexed: &'a [&'a str],
}

/// Normalises a value before blind indexing, so lookups match regardless of case and surrounding spaces.
#[must_use]
pub fn normalise_for_index(value: &[u8]) -> Vec<u8> {
    String::from_utf8_lossy(value).trim().to_lowercase().into_bytes()
}

/// Seals and stores a new submission (revision 1). If a key rotation retires the key between sealing and storing,
/// seals again to the new active key.
///
/// # Errors
/// As [`seal_revision`], and storage errors.
pub async fn store_new_submission<S: Store>(
    store: &S,
    keyring: &Keyring<S>,
    audit: AuditCtx<'_>,
    new: NewAnswers<'_>,
    created_at: OffsetDateTime,
) -> Result<SubmissionId, DomainError> {
    let id = SubmissionId::new();
    store_submission(store, keyring, audit, id, new, Vec::new(), created_at).await?;
    Ok(id)
}

/// Seals and stores submission `id` (revision 1) with files already sealed into the object store (their keys are
/// wrapped to the organisation key; see [`crate::files`]).
///
/// # Errors
/// As [`seal_revision`], and storage errors.
pub async fn store_submission<S: Store>(
    store: &S,
    keyring: &Keyring<S>,
    audit: AuditCtx<'_>,
    id: SubmissionId,
    new: NewAnswers<'_>,
    files: Vec<NewFile>,
    created_at: OffsetDateTime,
) -> Result<(), DomainError> {
    store_sealed(store, keyring, audit, (id, new), files, None, created_at).await
}

/// As [`store_submission`] without files, with the idempotency record committed in the same transaction (see
/// [`crate::idempotency`]).
///
/// # Errors
/// [`DomainError::Conflict`] with [`crate::idempotency::KEY_TAKEN`] when a concurrent request took the key first
/// (nothing was stored); as [`store_submission`] otherwise.
pub async fn store_submission_once<S: Store>(
    store: &S,
    keyring: &Keyring<S>,
    audit: AuditCtx<'_>,
    new: NewAnswers<'_>,
    record: IdempotencyRecord,
) -> Result<(), DomainError> {
    let created_at = record.created_at;
    store_sealed(store, keyring, audit, (record.submission, new), Vec::new(), Some(record), created_at).await
}

async fn store_sealed<S: Store>(
    store: &S,
    keyring: &Keyring<S>,
    audit: AuditCtx<'_>,
    (id, new): (SubmissionId, NewAnswers<'_>),
    files: Vec<NewFile>,
    once: Option<IdempotencyRecord>,
    created_at: OffsetDateTime,
) -> Result<(), DomainError> {
    let NewAnswers { org, form, form_version, answers, indexed } = new;
    let record = RecordRef { org, form, submission: id, revision: 1 };
    let index = index_digests(keyring, org, form, answers, indexed).await?;
    let targets = vec![Target::new("submission", id), Target::new("form", form)];
    let fields = answers.keys().cloned().collect();
    let entry = audit.entry(Entry::ok(Some(org), Action::SubmissionCreate, targets, created_at).with_fields(fields))?;
    let mut attempts = 0;
    loop {
        let revision = seal_revision(keyring, record, answers, None, created_at).await?;
        let submission = NewSubmission {
            org_id: org,
            id,
            form_id: form,
            form_version,
            revision,
            index: index.clone(),
            files: files.clone(),
        };
        let stored = match &once {
            None => store.tenant(submission.org_id).insert_submission(submission, entry.clone()).await,
            Some(once) => {
                let expired_before = created_at - crate::idempotency::TTL;
                store
                    .tenant(submission.org_id)
                    .insert_submission_once(submission, entry.clone(), once.clone(), expired_before)
                    .await
            }
        };
        match stored {
            Ok(()) => return Ok(()),
            // A retired key: seal again to the active one. Any other conflict (a duplicate id, a taken
            // idempotency key) is answered as it is.
            Err(StoreError::Conflict(message)) if message == KEY_RETIRED && attempts < 3 => {
                keyring.forget_active(org);
                attempts += 1;
            }
            Err(err) => return Err(err.into()),
        }
    }
}

/// Blind-index digests of the `indexed` answers present.
pub(crate) async fn index_digests<S: Store>(
    keyring: &Keyring<S>,
    org: OrgId,
    form: FormId,
    answers: &Answers,
    indexed: &[&str],
) -> Result<Vec<(String, [u8; 16])>, DomainError> {
    let mut index = Vec::new();
    if !indexed.is_empty() {
        let key = keyring.form_index_key(org, form).await?;
        for field in indexed {
            if let Some(value) = answers.get(*field) {
                let digest = sealform_crypto::blind_index(&key, field, &normalise_for_index(value));
                index.push(((*field).to_owned(), digest));
            }
        }
    }
    Ok(index)
}

/// Submissions of `form` whose `field` equals `value` (after [`normalise_for_index`]), found by blind index: the
/// database compares keyed hashes and never sees the value.
///
/// # Errors
/// [`DomainError::NotFound`] for an unknown form; storage errors.
pub async fn find_by_index<S: Store>(
    store: &S,
    keyring: &Keyring<S>,
    audit: AuditCtx<'_>,
    org: OrgId,
    form: FormId,
    field: &str,
    value: &[u8],
) -> Result<Vec<SubmissionId>, DomainError> {
    let key = keyring.form_index_key(org, form).await?;
    let digest = sealform_crypto::blind_index(&key, field, &normalise_for_index(value));
    let found = store.tenant(org).submissions_by_index(form, field, digest).await?;
    let mut targets = vec![Target::new("form", form)];
    targets.extend(found.iter().map(|id| Target::new("submission", id)));
    let now = OffsetDateTime::now_utc();
    let entry = audit
        .entry(Entry::ok(Some(org), Action::SubmissionSearch, targets, now).with_fields(vec![field.to_owned()]))?;
    store.append_audit(vec![entry]).await?;
    Ok(found)
}
