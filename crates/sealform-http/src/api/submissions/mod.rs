//! Submissions: list (cursor pages of metadata), read, edit (a new sealed revision), status, delete
//! (crypto-shredding) and the revision history; creation, with its idempotency keys, is in [`mod@create`]. Answers
//! are checked by the form model's one validator, sealed, opened and audited by the core services the console uses;
//! PHI answers hidden by the caller's grant are never decrypted and show as `•••`.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{RawQuery, State};
use http::StatusCode;
use sealform_core::DomainError;
use sealform_core::form_model::{Definition, UploadedFile, validate_answers};
use sealform_core::ids::SubmissionId;
use sealform_core::inbox::{
    NOTE_PREFIX, StaffCtx, carry_notes, edit_submission, mark_read, notes, revision_history, set_status,
};
use sealform_core::policy::{Action, MASK, phi_paths, revealed_paths};
use sealform_core::sealing::{Answers, delete_submission, read_submission};
use sealform_core::store::Store;
use sealform_core::submission::{FormRecord, Order, SubmissionQuery, SubmissionStatus, SubmissionSummary};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::caller::Caller;
use super::forms::org_form;
use super::input::{PathParams, RawBody, id, query};
use super::page::{Page, Paging, parse_time, rfc3339};
use crate::AppState;
use crate::problem::ApiError;
use crate::problem::Found as _;

mod create;

pub(crate) use create::create;

/// Where a submission is in staff's work.
#[derive(Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Status {
    /// Nobody has opened it yet.
    New,
    /// Opened.
    Read,
    /// Marked for attention.
    Flagged,
    /// Put away.
    Archived,
}

impl From<SubmissionStatus> for Status {
    fn from(status: SubmissionStatus) -> Self {
        match status {
            SubmissionStatus::New => Self::New,
            SubmissionStatus::Read => Self::Read,
            SubmissionStatus::Flagged => Self::Flagged,
            SubmissionStatus::Archived => Self::Archived,
        }
    }
}

impl From<Status> for SubmissionStatus {
    fn from(status: Status) -> Self {
        match status {
            Status::New => Self::New,
            Status::Read => Self::Read,
            Status::Flagged => Self::Flagged,
            Status::Archived => Self::Archived,
        }
    }
}

/// A submission's metadata (never its answers).
#[derive(Serialize, Deserialize, ToSchema)]
pub(crate) struct Submission {
    /// Its id.
    #[schema(format = Uuid)]
    id: String,
    /// The form answered.
    #[schema(format = Uuid)]
    form_id: String,
    /// The form version answered.
    form_version: u32,
    /// The latest revision (1 for the original; each edit adds one).
    revision: u32,
    /// Status.
    status: Status,
    /// When it was submitted (RFC 3339).
    #[schema(format = DateTime)]
    created_at: String,
    /// When it last changed (RFC 3339).
    #[schema(format = DateTime)]
    updated_at: String,
}

impl From<&SubmissionSummary> for Submission {
    fn from(s: &SubmissionSummary) -> Self {
        Self {
            id: s.id.to_string(),
            form_id: s.form_id.to_string(),
            form_version: s.form_version,
            revision: s.revision,
            status: s.status.into(),
            created_at: rfc3339(s.created_at),
            updated_at: rfc3339(s.updated_at),
        }
    }
}

/// One staff note.
#[derive(Serialize, ToSchema)]
pub(crate) struct Note {
    /// Who wrote it.
    #[schema(format = Uuid)]
    by: String,
    /// When (RFC 3339).
    at: String,
    /// The text.
    text: String,
}

/// A submission with its answers.
#[derive(Serialize, ToSchema)]
pub(crate) struct SubmissionDetail {
    /// The metadata.
    submission: Submission,
    /// Answers by answer path (`"3"`, `"2_first"`); a checkbox's choices joined by newlines. PHI hidden by the
    /// caller's grant shows as `•••`.
    answers: BTreeMap<String, String>,
    /// The answer paths shown masked.
    masked: Vec<String>,
    /// Staff notes, oldest first (absent when PHI is hidden: notes are free text).
    notes: Vec<Note>,
}

/// One revision, opened.
#[derive(Serialize, ToSchema)]
pub(crate) struct Revision {
    /// Its number.
    revision: u32,
    /// When it was made (RFC 3339).
    #[schema(format = DateTime)]
    created_at: String,
    /// The staff user who made it; absent for the respondent's original.
    #[schema(format = Uuid)]
    #[serde(skip_serializing_if = "Option::is_none")]
    created_by: Option<String>,
    /// Its answers (masked as in [`SubmissionDetail`]).
    answers: BTreeMap<String, String>,
    /// Its notes.
    notes: Vec<Note>,
}

/// An answer: one value, or several (the choices of a checkbox).
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
pub(crate) enum AnswerValue {
    /// One value.
    One(String),
    /// Several values.
    Many(Vec<String>),
}

/// Answers to submit.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewSubmission {
    /// Answers by answer path (`"3"`, `"2_first"` for a compound question's part). Checked against the form:
    /// unknown paths, wrong types, missing required answers and broken rules are refused per path.
    answers: BTreeMap<String, AnswerValue>,
}

/// New answers for an existing submission, stored as its next revision.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SubmissionEdit {
    /// The whole answer set, as for a new submission (files already uploaded are kept).
    answers: BTreeMap<String, AnswerValue>,
    /// The revision the edit is based on: refused with 409 when another edit landed since.
    #[serde(default)]
    revision: Option<u32>,
}

/// A new status.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct StatusChange {
    /// The status.
    status: Status,
}

/// Filters of the submission list. (No `#[serde(flatten)]` of [`Paging`]: flattened fields lose their types in a
/// query string.)
#[derive(Deserialize, Default)]
struct ListQuery {
    #[serde(default)]
    cursor: Option<String>,
    #[serde(default)]
    limit: Option<u32>,
    #[serde(default)]
    status: Option<Status>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    order: Option<ListOrder>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum ListOrder {
    Newest,
    Oldest,
}

fn invalid(errors: BTreeMap<String, String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", "the answers are not valid").with_errors(errors)
}

fn raw_answers(sent: BTreeMap<String, AnswerValue>) -> BTreeMap<String, Vec<String>> {
    sent.into_iter()
        .map(|(path, value)| match value {
            AnswerValue::One(v) => (path, vec![v]),
            AnswerValue::Many(v) => (path, v),
        })
        .collect()
}

fn text(value: &[u8]) -> String {
    String::from_utf8_lossy(value).into_owned()
}

/// The answers to show: question answers (masked ones as `•••`) and, apart, the notes.
fn shown(answers: &Answers, masked: &[String]) -> (BTreeMap<String, String>, Vec<Note>) {
    let mut out: BTreeMap<String, String> =
        answers.iter().filter(|(p, _)| !p.starts_with(NOTE_PREFIX)).map(|(p, v)| (p.clone(), text(v))).collect();
    for path in masked {
        out.insert(path.clone(), MASK.to_owned());
    }
    let notes = notes(answers).into_iter().map(|n| Note { by: n.by.to_string(), at: n.at, text: n.text }).collect();
    (out, notes)
}

/// A submission of the caller's organisation with its form and the definition of the version it answered, or 404.
async fn org_submission<S: Store>(
    state: &AppState<S>,
    caller: &Caller,
    raw: &str,
) -> Result<(SubmissionSummary, FormRecord, Definition), ApiError> {
    let submission: SubmissionId = id(raw)?;
    let org = caller.org();
    let summary = state.store.tenant(org).submission(submission).await.found()?;
    let form = state.store.tenant(org).form(summary.form_id).await.found()?;
    let json = state.store.tenant(org).form_definition(summary.form_id, summary.form_version).await.found()?;
    let definition = Definition::from_json(&json)
        .map_err(|_| DomainError::Internal("a stored form version does not parse".into()))?;
    Ok((summary, form, definition))
}

/// `GET /api/v1/forms/{form}/submissions`: metadata, newest first unless `order=oldest`, by cursor pages.
pub(crate) async fn list<S: Store>(
    State(state): State<AppState<S>>,
    caller: Caller,
    PathParams(raw): PathParams<String>,
    RawQuery(raw_query): RawQuery,
) -> Result<Json<Page<Submission>>, ApiError> {
    let form = org_form(&state, &caller, &raw).await?;
    caller.require_on(Action::ReadSubmissions, form.id)?;
    let asked: ListQuery = query(raw_query.as_deref())?;
    let paging = Paging { cursor: asked.cursor, limit: asked.limit };
    let limit = paging.limit()?;
    let query = SubmissionQuery {
        org: caller.org(),
        form: form.id,
        status: asked.status.map(Into::into),
        from: parse_time(asked.from.as_deref(), "from")?,
        to: parse_time(asked.to.as_deref(), "to")?,
        index: None,
        order: match asked.order {
            Some(ListOrder::Oldest) => Order::OldestFirst,
            _ => Order::NewestFirst,
        },
        after: paging.after()?,
        limit: limit + 1,
    };
    let mut rows = state.store.tenant(caller.org()).submissions(query).await.map_err(DomainError::from)?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_cursor = more.then(|| rows.last().map(|r| r.id.to_string())).flatten();
    Ok(Json(Page { items: rows.iter().map(Submission::from).collect(), next_cursor }))
}

/// `GET /api/v1/submissions/{submission}`: the latest revision's answers, audited as `submission.read` by the key
/// with the fields opened (masked ones are never decrypted). A new submission becomes read.
pub(crate) async fn show<S: Store>(
    State(state): State<AppState<S>>,
    caller: Caller,
    PathParams(raw): PathParams<String>,
) -> Result<Json<SubmissionDetail>, ApiError> {
    let (summary, form, definition) = org_submission(&state, &caller, &raw).await?;
    caller.require_on(Action::ReadSubmissions, form.id)?;
    let hide = caller.hides_phi(form.id);
    let revealed = revealed_paths(&definition, hide);
    let only: Option<Vec<&str>> = revealed.as_ref().map(|p| p.iter().map(String::as_str).collect());
    let org = caller.org();
    let answers = read_submission(
        &state.store,
        &state.keyring,
        caller.audit(&state),
        org,
        summary.id,
        only.as_deref(),
        caller.now,
    )
    .await?
    .ok_or_else(ApiError::not_found)?;
    mark_read(&state.store, org, &summary).await?;
    let masked = if hide { phi_paths(&definition) } else { Vec::new() };
    let (answers, notes) = shown(&answers, &masked);
    let mut submission = Submission::from(&summary);
    if matches!(submission.status, Status::New) {
        submission.status = Status::Read;
    }
    Ok(Json(SubmissionDetail { submission, answers, masked, notes }))
}

/// `PUT /api/v1/submissions/{submission}`: new answers as the next sealed revision (the audit entry names the
/// fields changed). Needs sight of every answer: a key whose user's grant hides PHI may not edit a form with PHI
/// questions. Uploaded files are kept.
pub(crate) async fn edit<S: Store>(
    State(state): State<AppState<S>>,
    caller: Caller,
    PathParams(raw): PathParams<String>,
    body: RawBody,
) -> Result<Json<Submission>, ApiError> {
    let (summary, form, definition) = org_submission(&state, &caller, &raw).await?;
    caller.require_on(Action::EditSubmissions, form.id)?;
    if caller.hides_phi(form.id) && !phi_paths(&definition).is_empty() {
        return Err(crate::console::forbidden(
            "the key's user may not see this form's PHI fields, so may not edit its answers",
        ));
    }
    let sent: SubmissionEdit = body.json()?;
    if sent.revision.is_some_and(|r| r != summary.revision) {
        return Err(ApiError::new(StatusCode::CONFLICT, "conflict", "the submission was changed since that revision"));
    }
    let org = caller.org();
    let audit = caller.audit(&state);
    let current = read_submission(&state.store, &state.keyring, audit, org, summary.id, None, caller.now)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let mut kept_files = BTreeMap::new();
    for q in definition.questions.iter().filter(|q| q.kind.is_file()) {
        if let Some(name) = current.get(&q.qid) {
            kept_files.insert(q.qid.clone(), UploadedFile { name: text(name), size: 0 });
        }
    }
    let mut answers = validate_answers(&definition, &raw_answers(sent.answers), &kept_files).map_err(invalid)?;
    // The kept files' answers (their names) stay as they were.
    for qid in kept_files.keys() {
        if let Some(name) = current.get(qid) {
            answers.insert(qid.clone(), name.clone());
        }
    }
    carry_notes(&current, &mut answers);
    let staff = StaffCtx { store: &state.store, keyring: &state.keyring, audit, user: caller.key.user };
    edit_submission(staff, org, summary.id, &definition, &answers, caller.now).await?;
    let changed = state.store.tenant(org).submission(summary.id).await.found()?;
    Ok(Json(Submission::from(&changed)))
}

/// `PATCH /api/v1/submissions/{submission}`: a new status (audited as an update of `#status`).
pub(crate) async fn set<S: Store>(
    State(state): State<AppState<S>>,
    caller: Caller,
    PathParams(raw): PathParams<String>,
    body: RawBody,
) -> Result<Json<Submission>, ApiError> {
    let (summary, form, _) = org_submission(&state, &caller, &raw).await?;
    caller.require_on(Action::EditSubmissions, form.id)?;
    let change: StatusChange = body.json()?;
    let org = caller.org();
    set_status(&state.store, caller.audit(&state), org, summary.id, change.status.into(), caller.now).await?;
    let changed = state.store.tenant(org).submission(summary.id).await.found()?;
    Ok(Json(Submission::from(&changed)))
}

/// `DELETE /api/v1/submissions/{submission}`: deletes it for good by destroying its keys (crypto-shredding), with
/// its files; audited.
pub(crate) async fn delete<S: Store>(
    State(state): State<AppState<S>>,
    caller: Caller,
    PathParams(raw): PathParams<String>,
) -> Result<StatusCode, ApiError> {
    let (summary, form, _) = org_submission(&state, &caller, &raw).await?;
    caller.require_on(Action::DeleteSubmissions, form.id)?;
    let org = caller.org();
    let files = state.store.tenant(org).files_of(summary.id).await.map_err(DomainError::from)?;
    delete_submission(&state.store, caller.audit(&state), org, summary.id, caller.now).await?;
    let keys: Vec<String> = files.into_iter().map(|f| f.file.object_key).collect();
    state.objects.remove(&keys).await;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/submissions/{submission}/revisions`: every revision, oldest first, audited as one read.
pub(crate) async fn revisions<S: Store>(
    State(state): State<AppState<S>>,
    caller: Caller,
    PathParams(raw): PathParams<String>,
) -> Result<Json<Vec<Revision>>, ApiError> {
    let (summary, form, definition) = org_submission(&state, &caller, &raw).await?;
    caller.require_on(Action::ReadSubmissions, form.id)?;
    let hide = caller.hides_phi(form.id);
    let revealed = revealed_paths(&definition, hide);
    let only: Option<Vec<&str>> = revealed.as_ref().map(|p| p.iter().map(String::as_str).collect());
    let org = caller.org();
    let history = revision_history(
        &state.store,
        &state.keyring,
        caller.audit(&state),
        org,
        summary.id,
        only.as_deref(),
        caller.now,
    )
    .await?;
    let masked = if hide { phi_paths(&definition) } else { Vec::new() };
    let revisions = history
        .iter()
        .map(|(stored, answers)| {
            let (answers, notes) = shown(answers, &masked);
            Revision {
                revision: stored.sealed.revision,
                created_at: rfc3339(stored.sealed.created_at),
                created_by: stored.sealed.created_by.map(|u| u.to_string()),
                answers,
                notes,
            }
        })
        .collect();
    Ok(Json(revisions))
}
