//! Working submissions: staff edits as new sealed revisions, status changes, the revision history, and export.
//! Every step that opens answers is audited before the answers are returned (fail closed).

use time::OffsetDateTime;

use crate::DomainError;
use crate::audit::{Action, AuditCtx, Entry, Target};
use crate::form_model::Definition;
use crate::ids::{OrgId, SubmissionId, UserId};
use crate::keys::Keyring;
use crate::sealing::{Answers, RecordRef, index_digests, open_unaudited, seal_revision};
use crate::store::{KEY_RETIRED, Store, StoreError};
use crate::submission::{StoredRevision, SubmissionQuery, SubmissionStatus, SubmissionSummary};

/// A staff member at work on submissions: the services and the audit context, and who they are.
#[derive(Clone, Copy)]
pub struct StaffCtx<'a, S: Store> {
    /// The store.
    pub store: &'a S,
    /// Organisation keys.
    pub keyring: &'a Keyring<S>,
    /// The audit context of the request.
    pub audit: AuditCtx<'a>,
    /// The staff user.
    pub user: UserId,
}

/// Stores `answers` as the submission's next revision, made by `staff.user`. The audit entry names the fields that
/// changed (added, altered or removed), never their values.
///
/// # Errors
/// [`DomainError::NotFound`] for an unknown submission; [`DomainError::Conflict`] when another edit landed first.
pub async fn edit_submission<S: Store>(
    staff: StaffCtx<'_, S>,
    org: OrgId,
    submission: SubmissionId,
    definition: &Definition,
    answers: &Answers,
    now: OffsetDateTime,
) -> Result<u32, DomainError> {
    let StaffCtx { store, keyring, audit, user: editor } = staff;
    let current = store
        .tenant(org)
        .latest_revision(submission)
        .await?
        .ok_or_else(|| DomainError::NotFound("no such submission".into()))?;
    let before = open_unaudited(keyring, &current, None).await?;
    let mut changed: Vec<String> = answers
        .iter()
        .filter(|(path, value)| before.get(*path) != Some(*value))
        .map(|(path, _)| path.clone())
        .collect();
    changed.extend(before.keys().filter(|path| !answers.contains_key(*path)).cloned());
    changed.sort();
    let revision = current.sealed.revision + 1;
    let record = RecordRef { org, form: current.form_id, submission, revision };
    let index = index_digests(keyring, org, current.form_id, answers, &definition.indexed_paths()).await?;
    let targets = vec![Target::new("submission", submission), Target::new("form", current.form_id)];
    let entry = audit.entry(Entry::ok(Some(org), Action::SubmissionUpdate, targets, now).with_fields(changed))?;
    let mut attempts = 0;
    loop {
        let sealed = seal_revision(keyring, record, answers, Some(editor), now).await?;
        match store.tenant(org).insert_revision(submission, sealed, index.clone(), entry.clone()).await {
            Ok(()) => return Ok(revision),
            // A retired key: seal again. A raced edit is reported as it is.
            Err(StoreError::Conflict(message)) if message == KEY_RETIRED && attempts < 3 => {
                keyring.forget_active(org);
                attempts += 1;
            }
            Err(err) => return Err(err.into()),
        }
    }
}

/// Staff notes are kept in the submission's sealed revisions under `note:N` paths (a colon never appears in a question
/// id): sealed like answers, part of the history, re-wrapped by key rotation and shredded with the submission.
pub const NOTE_PREFIX: &str = "note:";

/// Longest note, in characters.
pub const MAX_NOTE_CHARS: usize = 5_000;

/// One staff note.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Note {
    /// Who wrote it.
    pub by: UserId,
    /// When (RFC 3339).
    pub at: String,
    /// The text.
    pub text: String,
}

/// The notes among opened answers, oldest first.
#[must_use]
pub fn notes(answers: &Answers) -> Vec<Note> {
    let mut found: Vec<(u32, Note)> = answers
        .iter()
        .filter_map(|(path, value)| {
            let n = path.strip_prefix(NOTE_PREFIX)?.parse().ok()?;
            Some((n, serde_json::from_slice(value).ok()?))
        })
        .collect();
    found.sort_by_key(|(n, _)| *n);
    found.into_iter().map(|(_, note)| note).collect()
}

/// Copies the notes of `from` into `into` (a staff edit keeps them).
pub fn carry_notes(from: &Answers, into: &mut Answers) {
    for (path, value) in from.iter().filter(|(path, _)| path.starts_with(NOTE_PREFIX)) {
        into.insert(path.clone(), value.clone());
    }
}

/// Adds a note as the submission's next revision, audited as an update of the new `note:N` field.
///
/// # Errors
/// [`DomainError::Invalid`] for an empty or over-long note; as [`edit_submission`] otherwise.
pub async fn add_note<S: Store>(
    staff: StaffCtx<'_, S>,
    org: OrgId,
    submission: SubmissionId,
    definition: &Definition,
    text: &str,
    now: OffsetDateTime,
) -> Result<u32, DomainError> {
    let StaffCtx { store, keyring, user: author, .. } = staff;
    let text = text.trim();
    if text.is_empty() || text.chars().count() > MAX_NOTE_CHARS {
        return Err(DomainError::Invalid(format!("a note has 1 to {MAX_NOTE_CHARS} characters")));
    }
    let current = store
        .tenant(org)
        .latest_revision(submission)
        .await?
        .ok_or_else(|| DomainError::NotFound("no such submission".into()))?;
    let mut answers = open_unaudited(keyring, &current, None).await?;
    let next = answers.keys().filter(|p| p.starts_with(NOTE_PREFIX)).count() + 1;
    let at = now.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
    let note = Note { by: author, at, text: text.to_owned() };
    let json = serde_json::to_vec(&note).map_err(|e| DomainError::Internal(format!("note: {e}")))?;
    answers.insert(format!("{NOTE_PREFIX}{next}"), zeroize::Zeroizing::new(json));
    edit_submission(staff, org, submission, definition, &answers, now).await
}

/// Sets a submission's status, audited as an update of its `#status`.
///
/// # Errors
/// [`DomainError::NotFound`] for an unknown submission.
pub async fn set_status<S: Store>(
    store: &S,
    audit: AuditCtx<'_>,
    org: OrgId,
    submission: SubmissionId,
    status: SubmissionStatus,
    now: OffsetDateTime,
) -> Result<(), DomainError> {
    let entry = audit.entry(
        Entry::ok(Some(org), Action::SubmissionUpdate, vec![Target::new("submission", submission)], now)
            .with_fields(vec![format!("#status:{}", status.as_str())]),
    )?;
    if store.tenant(org).set_submission_status(submission, status, Some(entry)).await? {
        Ok(())
    } else {
        Err(DomainError::NotFound("no such submission".into()))
    }
}

/// Marks a new submission read when staff first open it. Not audited on its own: the read that causes it is.
///
/// # Errors
/// Storage errors.
pub async fn mark_read<S: Store>(store: &S, org: OrgId, summary: &SubmissionSummary) -> Result<(), DomainError> {
    if summary.status == SubmissionStatus::New {
        store.tenant(org).set_submission_status(summary.id, SubmissionStatus::Read, None).await?;
    }
    Ok(())
}

/// Every revision of a submission, opened (only the `only` paths when given: the others are never decrypted), oldest
/// first, with who made each. Audited as one read of the fields shown.
///
/// # Errors
/// [`DomainError::NotFound`] for an unknown submission; storage, audit and crypto errors.
pub async fn revision_history<S: Store>(
    store: &S,
    keyring: &Keyring<S>,
    audit: AuditCtx<'_>,
    org: OrgId,
    submission: SubmissionId,
    only: Option<&[&str]>,
    now: OffsetDateTime,
) -> Result<Vec<(StoredRevision, Answers)>, DomainError> {
    let revisions = store.tenant(org).revisions(submission).await?;
    let Some(first) = revisions.first() else { return Err(DomainError::NotFound("no such submission".into())) };
    let form = first.form_id;
    let mut opened = Vec::with_capacity(revisions.len());
    let mut fields = std::collections::BTreeSet::new();
    for stored in revisions {
        let answers = open_unaudited(keyring, &stored, only).await?;
        fields.extend(answers.keys().cloned());
        opened.push((stored, answers));
    }
    let targets = vec![Target::new("submission", submission), Target::new("form", form)];
    let entry = audit
        .entry(Entry::ok(Some(org), Action::SubmissionRead, targets, now).with_fields(fields.into_iter().collect()))?;
    store.append_audit(vec![entry]).await?;
    Ok(opened)
}

/// Rows fetched per page of an export: bounded memory whatever the form's size.
pub const EXPORT_PAGE: u32 = 500;

/// An export in progress: counted and audited up front (records and fields), then opened page by page. Only the
/// submissions counted are exported, so the audit entry's count is exactly what leaves.
pub struct Export<'a, S: Store> {
    store: &'a S,
    keyring: &'a Keyring<S>,
    query: SubmissionQuery,
    fields: Vec<String>,
    remaining: u64,
    last: Option<SubmissionId>,
}

impl<'a, S: Store> Export<'a, S> {
    /// Counts the matching submissions (oldest first), records the export in the audit trail and returns the
    /// export ready to stream. `fields` are the answer paths exported.
    ///
    /// # Errors
    /// Storage and audit errors: nothing is exported unless the entry committed.
    pub async fn start(
        store: &'a S,
        keyring: &'a Keyring<S>,
        audit: AuditCtx<'_>,
        mut query: SubmissionQuery,
        fields: Vec<String>,
        now: OffsetDateTime,
    ) -> Result<Self, DomainError> {
        query.order = crate::submission::Order::OldestFirst;
        query.after = None;
        let mut count = 0u64;
        let mut last = None;
        let mut page = query.clone();
        page.limit = 10_000;
        loop {
            let rows = store.tenant(page.org).submissions(page.clone()).await?;
            count += rows.len() as u64;
            if let Some(row) = rows.last() {
                last = Some(row.id);
                page.after = Some(row.id);
            }
            if rows.len() < page.limit as usize {
                break;
            }
        }
        let targets = vec![Target::new("form", query.form), Target::new("export-records", count)];
        let entry = audit
            .entry(Entry::ok(Some(query.org), Action::SubmissionExport, targets, now).with_fields(fields.clone()))?;
        store.append_audit(vec![entry]).await?;
        query.limit = EXPORT_PAGE;
        Ok(Self { store, keyring, query, fields, remaining: count, last })
    }

    /// How many submissions the export holds.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.remaining
    }

    /// The exported answer paths.
    #[must_use]
    pub fn fields(&self) -> &[String] {
        &self.fields
    }

    /// The next page of opened submissions (only the exported fields are decrypted); empty at the end.
    ///
    /// # Errors
    /// Storage and crypto errors.
    pub async fn next_page(&mut self) -> Result<Vec<(SubmissionSummary, Answers)>, DomainError> {
        if self.remaining == 0 {
            return Ok(Vec::new());
        }
        let rows = self.store.tenant(self.query.org).submissions_sealed(self.query.clone()).await?;
        let only: Vec<&str> = self.fields.iter().map(String::as_str).collect();
        let mut page = Vec::with_capacity(rows.len());
        for (summary, stored) in rows {
            if self.remaining == 0 || self.last.is_some_and(|last| summary.id > last) {
                self.remaining = 0;
                break;
            }
            self.query.after = Some(summary.id);
            let answers = open_unaudited(self.keyring, &stored, Some(&only)).await?;
            self.remaining -= 1;
            page.push((summary, answers));
        }
        if page.is_empty() {
            self.remaining = 0;
        }
        Ok(page)
    }
}
