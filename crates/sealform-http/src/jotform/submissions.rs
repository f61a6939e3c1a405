//! Submissions: list (a form's, and all the key may read at `/user/submissions`), read, create (form-encoded
//! `submission[qid]`/`submission[qid][part]`, or JSON), edit (a new sealed revision) and delete (crypto-shredding).
//! Every opened submission is audited as a `submission.read` naming the fields opened before it is returned; PHI
//! answers the key user's grant hides are never decrypted and show `•••`.
//!
//! `fullText` cannot scan sealed answers: it is an exact match (case and surrounding spaces ignored) on the form's
//! blind-indexed questions, which the database compares as keyed hashes; the search is audited.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use sealform_core::audit::{Action as AuditAction, Entry, Target};
use sealform_core::form_model::{Definition, QuestionType, UploadedFile, validate_answers};
use sealform_core::ids::{FormId, SubmissionId};
use sealform_core::inbox::{StaffCtx, carry_notes, edit_submission, notes, set_status};
use sealform_core::policy::{Action, phi_paths, revealed_paths};
use sealform_core::sealing::{
    Answers, NewAnswers, delete_submission, read_submission, read_submissions, store_new_submission,
};
use sealform_core::store::Store;
use sealform_core::submission::{FormRecord, Order, SubmissionQuery, SubmissionStatus, SubmissionSummary};
use serde_json::{Map, Value, json};

use super::list::{Direction, ListParams, RawList};
use super::shapes::{self, SubmissionView};
use super::{Answer, Caller, Content, Failure, audit_ctx, body, questions};
use crate::AppState;

/// Rows fetched per store query while filling a page.
const SCAN_PAGE: u32 = 1_000;

/// The base of URLs this API hands out (submissions, files).
fn base_url<S: Store>(state: &AppState<S>) -> String {
    format!("{}/jotform/v1", state.public_url)
}

/// Opens one submission for the caller (masking what their grant hides), audited.
async fn open<S: Store>(state: &AppState<S>, caller: &Caller, summary: &SubmissionSummary) -> Result<Value, Failure> {
    let mut opened = open_page(state, caller, std::slice::from_ref(summary)).await?;
    opened.pop().ok_or_else(|| Failure::not_found("submission"))
}

/// Opens a page of submissions for the caller (masking what their grant hides), in their order, audited together:
/// one `submission.read` entry each, committed in one transaction before anything is shown.
async fn open_page<S: Store>(
    state: &AppState<S>,
    caller: &Caller,
    summaries: &[SubmissionSummary],
) -> Result<Vec<Value>, Failure> {
    let org = caller.principal.org;
    let now = state.clock.now();
    // Each form version is read and parsed once a page.
    let mut definitions: BTreeMap<(FormId, u32), Definition> = BTreeMap::new();
    for summary in summaries {
        let version = (summary.form_id, summary.form_version);
        if definitions.contains_key(&version) {
            continue;
        }
        let json = state
            .store
            .tenant(org)
            .form_definition(summary.form_id, summary.form_version)
            .await?
            .ok_or_else(|| Failure::not_found("submission"))?;
        let definition = Definition::from_json(&json).map_err(|_| {
            Failure::from(sealform_core::DomainError::Internal("a stored form version does not parse".into()))
        })?;
        definitions.insert(version, definition);
    }
    let definition_of = |summary: &SubmissionSummary| &definitions[&(summary.form_id, summary.form_version)];
    let hidden: Vec<bool> = summaries.iter().map(|s| caller.hides_phi(s.form_id, now)).collect();
    let revealed: Vec<Option<Vec<String>>> =
        summaries.iter().zip(&hidden).map(|(s, hide)| revealed_paths(definition_of(s), *hide)).collect();
    let only: Vec<Option<Vec<&str>>> =
        revealed.iter().map(|paths| paths.as_ref().map(|p| p.iter().map(String::as_str).collect())).collect();
    let wanted: Vec<(SubmissionId, Option<&[&str]>)> =
        summaries.iter().zip(&only).map(|(s, only)| (s.id, only.as_deref())).collect();
    let scope = caller.scope();
    let mut opened = read_submissions(&state.store, &state.keyring, audit_ctx(state, &scope), org, &wanted, now)
        .await?
        .into_iter()
        .peekable();
    let base = base_url(state);
    let mut items = Vec::with_capacity(summaries.len());
    for (summary, hide) in summaries.iter().zip(hidden) {
        // Opened in the order asked; one deleted meanwhile is simply not there.
        let Some((_, answers)) = opened.next_if(|(id, _)| *id == summary.id) else { continue };
        let definition = definition_of(summary);
        let masked = if hide { phi_paths(definition) } else { Vec::new() };
        let files: BTreeMap<String, sealform_core::ids::FileId> = state
            .store
            .tenant(org)
            .files_of(summary.id)
            .await?
            .into_iter()
            .map(|f| (f.file.question_id, f.file.id))
            .collect();
        let notes = notes(&answers).into_iter().map(|n| n.text).collect::<Vec<_>>().join("\n");
        let view = SubmissionView {
            summary,
            definition,
            answers: &answers,
            masked: &masked,
            files: &files,
            notes,
            base_url: &base,
        };
        items.push(view.to_json());
    }
    Ok(items)
}

/// Ids of `form`'s submissions whose blind-indexed answers equal `text` (only questions the caller may see), with
/// the search audited. `None` when no `fullText` was asked for.
async fn full_text<S: Store>(
    state: &AppState<S>,
    caller: &Caller,
    form: &FormRecord,
    text: Option<&str>,
) -> Result<Option<BTreeSet<SubmissionId>>, Failure> {
    let Some(text) = text else { return Ok(None) };
    let org = caller.principal.org;
    let now = state.clock.now();
    let definition = questions::definition(form)?;
    let mut fields: Vec<&str> = definition.indexed_paths();
    if caller.hides_phi(form.id, now) {
        let hidden = phi_paths(&definition);
        fields.retain(|f| !hidden.iter().any(|h| h == f));
    }
    let mut found = BTreeSet::new();
    if fields.is_empty() {
        return Ok(Some(found));
    }
    let key = state.keyring.form_index_key(org, form.id).await?;
    let value = sealform_core::sealing::normalise_for_index(text.as_bytes());
    for field in &fields {
        let digest = sealform_crypto::blind_index(&key, field, &value);
        found.extend(state.store.tenant(org).submissions_by_index(form.id, field, digest).await?);
    }
    let scope = caller.scope();
    let entry = audit_ctx(state, &scope).entry(
        Entry::ok(Some(org), AuditAction::SubmissionSearch, vec![Target::new("form", form.id)], now)
            .with_fields(fields.iter().map(|f| (*f).to_owned()).collect()),
    )?;
    state.store.append_audit(vec![entry]).await?;
    Ok(Some(found))
}

/// Up to `params.wanted()` summaries of `form` matching the filters, in the requested order (metadata only).
async fn matching<S: Store>(
    state: &AppState<S>,
    caller: &Caller,
    form: &FormRecord,
    params: &ListParams,
) -> Result<Vec<SubmissionSummary>, Failure> {
    let allowed = full_text(state, caller, form, params.filter.full_text.as_deref()).await?;
    let order = if params.direction == Direction::Asc { Order::OldestFirst } else { Order::NewestFirst };
    let mut query = SubmissionQuery {
        from: params.filter.created_after,
        to: params.filter.created_before,
        order,
        ..SubmissionQuery::all(caller.principal.org, form.id, SCAN_PAGE)
    };
    let id_after: Option<SubmissionId> = match params.filter.id_after.as_deref() {
        None => None,
        Some(text) => {
            Some(text.trim().parse().map_err(|_| Failure::bad_request("the filter `id:gt` takes a submission id"))?)
        }
    };
    if order == Order::OldestFirst {
        query.after = id_after;
    }
    let mut found = Vec::new();
    loop {
        let rows = state.store.tenant(caller.principal.org).submissions(query.clone()).await?;
        let full = rows.len() == SCAN_PAGE as usize;
        query.after = rows.last().map(|r| r.id);
        for row in rows {
            if id_after.is_some_and(|after| row.id <= after) {
                // Newest first: everything further is older still.
                return Ok(found);
            }
            let (status, _, _) = shapes::submission_status(row.status);
            if params.filter.status_passes(status) && allowed.as_ref().is_none_or(|ids| ids.contains(&row.id)) {
                found.push(row);
                if found.len() >= params.wanted() {
                    return Ok(found);
                }
            }
        }
        if !full {
            return Ok(found);
        }
    }
}

/// `GET /form/{id}/submissions`.
pub(crate) async fn list<S: Store>(
    State(state): State<AppState<S>>,
    Extension(caller): Extension<Arc<Caller>>,
    Path(form): Path<String>,
    Query(raw): Query<RawList>,
) -> Answer {
    let params = ListParams::parse(raw, &["created_at", "id"])?;
    let record = caller.form(&state, &form).await?;
    caller.require_on(Action::ReadSubmissions, record.id, state.clock.now())?;
    if params.filter.form_ids.is_some() {
        return Err(Failure::bad_request("formIDs filters /user/submissions; this list is of one form"));
    }
    let rows = params.page(matching(&state, &caller, &record, &params).await?);
    let items = open_page(&state, &caller, &rows).await?;
    Ok(Content::page(items, params.offset, params.limit))
}

/// `GET /user/submissions`: across the forms the key may read (or those in `formIDs`).
pub(crate) async fn list_all<S: Store>(
    State(state): State<AppState<S>>,
    Extension(caller): Extension<Arc<Caller>>,
    Query(raw): Query<RawList>,
) -> Answer {
    let params = ListParams::parse(raw, &["created_at", "id"])?;
    let now = state.clock.now();
    let mut forms: Vec<FormRecord> = state
        .store
        .tenant(caller.principal.org)
        .forms_of()
        .await?
        .into_iter()
        .filter(|f| caller.can_on(Action::ReadSubmissions, f.id, now))
        .collect();
    if let Some(ids) = &params.filter.form_ids {
        for id in ids {
            id.trim().parse::<FormId>().map_err(|_| Failure::bad_request("formIDs holds a malformed form id"))?;
        }
        forms.retain(|f| ids.iter().any(|id| id.trim() == f.id.to_string()));
    }
    let mut rows = Vec::new();
    for form in &forms {
        rows.extend(matching(&state, &caller, form, &params).await?);
    }
    rows.sort_by_key(|row| row.id);
    if params.direction == Direction::Desc {
        rows.reverse();
    }
    let items = open_page(&state, &caller, &params.page(rows)).await?;
    Ok(Content::page(items, params.offset, params.limit))
}

/// The submission `raw` of the caller's organisation: 400 for a malformed id, 404 for none.
async fn summary<S: Store>(state: &AppState<S>, caller: &Caller, raw: &str) -> Result<SubmissionSummary, Failure> {
    let id: SubmissionId = raw.trim().parse().map_err(|_| Failure::bad_request("the submission id is not valid"))?;
    state.store.tenant(caller.principal.org).submission(id).await?.ok_or_else(|| Failure::not_found("submission"))
}

/// `GET /submission/{id}`.
pub(crate) async fn one<S: Store>(
    State(state): State<AppState<S>>,
    Extension(caller): Extension<Arc<Caller>>,
    Path(raw): Path<String>,
) -> Answer {
    let summary = summary(&state, &caller, &raw).await?;
    caller.require_on(Action::ReadSubmissions, summary.form_id, state.clock.now())?;
    Ok(Content::of(open(&state, &caller, &summary).await?))
}

/// A question id as it may be shown back in a message.
fn shown(key: &str) -> String {
    key.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-').take(40).collect()
}

/// Jotform's answer object (`{"3": "x", "2": {"first": "A"}, "5": ["a", "b"]}`, or `"2_first"` keys) as answer paths.
fn raw_answers(definition: &Definition, object: &Map<String, Value>) -> Result<BTreeMap<String, Vec<String>>, Failure> {
    let mut raw: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let not_text = |key: &str| Failure::bad_request(format!("the answer to question {} must be text", shown(key)));
    for (key, value) in object {
        match value {
            Value::Array(items) => {
                let values = items.iter().map(body::text).collect::<Option<Vec<_>>>().ok_or_else(|| not_text(key))?;
                raw.entry(key.clone()).or_default().extend(values);
            }
            Value::Object(parts) => {
                let compound = definition.question(key).is_some_and(|q| !q.kind.parts().is_empty());
                for (part, value) in parts {
                    let value = body::text(value).ok_or_else(|| not_text(key))?;
                    let path = if compound { format!("{key}_{part}") } else { key.clone() };
                    raw.entry(path).or_default().push(value);
                }
            }
            other => {
                let value = body::text(other).ok_or_else(|| not_text(key))?;
                raw.entry(key.clone()).or_default().push(value);
            }
        }
    }
    Ok(raw)
}

/// Checks answers against the form; field messages name question ids, never values.
fn checked(
    definition: &Definition,
    raw: &BTreeMap<String, Vec<String>>,
    files: &BTreeMap<String, UploadedFile>,
) -> Result<Answers, Failure> {
    validate_answers(definition, raw, files).map_err(|errors| {
        let message = errors
            .iter()
            .map(
                |(qid, message)| {
                    if qid.is_empty() { message.clone() } else { format!("question {}: {message}", shown(qid)) }
                },
            )
            .collect::<Vec<_>>()
            .join("; ");
        Failure::bad_request(message)
    })
}

/// Stores the submissions in `objects` (all checked first, so a bad one stores none).
async fn create<S: Store>(
    state: &AppState<S>,
    caller: &Caller,
    form: &str,
    objects: Vec<&Map<String, Value>>,
) -> Result<Vec<Value>, Failure> {
    let record = caller.form(state, form).await?;
    let now = state.clock.now();
    caller.require_on(Action::SubmitForm, record.id, now)?;
    if !sealform_core::forms::accepts_submissions(&record) {
        return Err(Failure::bad_request("the form is not accepting submissions (its status is not ENABLED)"));
    }
    if objects.is_empty() || objects.len() > 1_000 {
        return Err(Failure::bad_request("send 1 to 1000 submissions"));
    }
    let definition = questions::definition(&record)?;
    let mut checked_all = Vec::with_capacity(objects.len());
    for object in objects {
        checked_all.push(checked(&definition, &raw_answers(&definition, object)?, &BTreeMap::new())?);
    }
    let indexed = definition.indexed_paths();
    let scope = caller.scope();
    let base = base_url(state);
    let mut created = Vec::new();
    for answers in &checked_all {
        let new = NewAnswers {
            org: caller.principal.org,
            form: record.id,
            form_version: record.version,
            answers,
            indexed: &indexed,
        };
        let id = store_new_submission(&state.store, &state.keyring, audit_ctx(state, &scope), new, now).await?;
        created.push(json!({ "submissionID": id.to_string(), "URL": format!("{base}/submission/{id}") }));
    }
    Ok(created)
}

/// `POST /form/{id}/submissions`: one submission, form-encoded.
pub(crate) async fn create_posted<S: Store>(
    State(state): State<AppState<S>>,
    Extension(caller): Extension<Arc<Caller>>,
    Path(form): Path<String>,
    bytes: Bytes,
) -> Answer {
    // Found first: a malformed body tells another organisation's key no more than 404.
    caller.form(&state, &form).await?;
    let value = body::form(&bytes)?;
    let object = value
        .get("submission")
        .and_then(Value::as_object)
        .ok_or_else(|| Failure::bad_request("send answers as submission[qid]=…"))?;
    let mut created = create(&state, &caller, &form, vec![object]).await?;
    Ok(Content::of(created.pop().unwrap_or_default()))
}

/// `PUT /form/{id}/submissions`: a JSON list of submissions (or one), answered with a list.
pub(crate) async fn create_put<S: Store>(
    State(state): State<AppState<S>>,
    Extension(caller): Extension<Arc<Caller>>,
    Path(form): Path<String>,
    bytes: Bytes,
) -> Answer {
    caller.form(&state, &form).await?;
    let value = body::json(&bytes)?;
    let not_objects = || Failure::bad_request("submissions are JSON objects of answers keyed by question id");
    let objects: Vec<&Map<String, Value>> = match &value {
        Value::Array(items) => items.iter().map(|v| v.as_object().ok_or_else(not_objects)).collect::<Result<_, _>>()?,
        Value::Object(object) => vec![object],
        _ => return Err(not_objects()),
    };
    Ok(Content::of(Value::Array(create(&state, &caller, &form, objects).await?)))
}

/// The opened answers as raw answer paths (choices of a checkbox split again), for merging an edit.
fn as_raw(definition: &Definition, answers: &Answers) -> BTreeMap<String, Vec<String>> {
    let mut raw = BTreeMap::new();
    for q in definition.questions.iter().filter(|q| q.kind.takes_answer() && !q.kind.is_file()) {
        for path in q.paths() {
            if let Some(value) = answers.get(&path) {
                let text = String::from_utf8_lossy(value).into_owned();
                let values = if q.kind == QuestionType::Checkbox {
                    text.split('\n').map(str::to_owned).collect()
                } else {
                    vec![text]
                };
                raw.insert(path, values);
            }
        }
    }
    raw
}

fn marker(value: &Value, name: &str) -> Result<bool, Failure> {
    match body::text(value).as_deref().map(str::trim) {
        Some("1") => Ok(true),
        Some("0") => Ok(false),
        _ => Err(Failure::bad_request(format!("submission[{name}] is 0 or 1"))),
    }
}

/// `POST /submission/{id}`: changes the answers given (the others stay) as a new revision; `submission[new]` and
/// `submission[flag]` set the status.
pub(crate) async fn edit<S: Store>(
    State(state): State<AppState<S>>,
    Extension(caller): Extension<Arc<Caller>>,
    Path(raw): Path<String>,
    bytes: Bytes,
) -> Answer {
    let summary = summary(&state, &caller, &raw).await?;
    let value = body::form(&bytes)?;
    let mut object = value
        .get("submission")
        .and_then(Value::as_object)
        .cloned()
        .ok_or_else(|| Failure::bad_request("send changes as submission[qid]=…"))?;
    let now = state.clock.now();
    let org = caller.principal.org;
    caller.require_on(Action::EditSubmissions, summary.form_id, now)?;
    let new = object.remove("new").map(|v| marker(&v, "new")).transpose()?;
    let flag = object.remove("flag").map(|v| marker(&v, "flag")).transpose()?;
    if object.contains_key("created_at") {
        return Err(Failure::bad_request("a submission's created_at cannot be changed"));
    }
    let json = state
        .store
        .tenant(org)
        .form_definition(summary.form_id, summary.form_version)
        .await?
        .ok_or_else(|| Failure::not_found("submission"))?;
    let definition = Definition::from_json(&json).map_err(|_| {
        Failure::from(sealform_core::DomainError::Internal("a stored form version does not parse".into()))
    })?;
    let scope = caller.scope();
    let audit = audit_ctx(&state, &scope);
    if !object.is_empty() {
        if caller.hides_phi(summary.form_id, now) && !phi_paths(&definition).is_empty() {
            return Err(Failure::forbidden(
                "the key's user may not see this form's PHI answers, so may not edit its answers",
            ));
        }
        let current = read_submission(&state.store, &state.keyring, audit, org, summary.id, None, now)
            .await?
            .ok_or_else(|| Failure::not_found("submission"))?;
        let mut merged = as_raw(&definition, &current);
        let given = raw_answers(&definition, &object)?;
        for key in object.keys() {
            if let Some(q) = definition.question(key) {
                for path in q.paths() {
                    merged.remove(&path);
                }
            }
        }
        merged.extend(given);
        let mut kept_files = BTreeMap::new();
        for q in definition.questions.iter().filter(|q| q.kind.is_file()) {
            if let Some(name) = current.get(&q.qid) {
                kept_files
                    .insert(q.qid.clone(), UploadedFile { name: String::from_utf8_lossy(name).into_owned(), size: 0 });
            }
        }
        let mut answers = checked(&definition, &merged, &kept_files)?;
        carry_notes(&current, &mut answers);
        let staff = StaffCtx { store: &state.store, keyring: &state.keyring, audit, user: caller.principal.user };
        edit_submission(staff, org, summary.id, &definition, &answers, now).await?;
    }
    let status = match (new, flag) {
        (_, Some(true)) => Some(SubmissionStatus::Flagged),
        (Some(true), _) => Some(SubmissionStatus::New),
        (Some(false), _) | (_, Some(false)) => Some(SubmissionStatus::Read),
        (None, None) => None,
    };
    if let Some(status) = status.filter(|s| *s != summary.status) {
        set_status(&state.store, audit, org, summary.id, status, now).await?;
    }
    let base = base_url(&state);
    Ok(Content::of(
        json!({ "submissionID": summary.id.to_string(), "URL": format!("{base}/submission/{}", summary.id) }),
    ))
}

/// `DELETE /submission/{id}`: crypto-shredding, audited.
pub(crate) async fn remove<S: Store>(
    State(state): State<AppState<S>>,
    Extension(caller): Extension<Arc<Caller>>,
    Path(raw): Path<String>,
) -> Answer {
    let summary = summary(&state, &caller, &raw).await?;
    let now = state.clock.now();
    caller.require_on(Action::DeleteSubmissions, summary.form_id, now)?;
    let scope = caller.scope();
    delete_submission(&state.store, audit_ctx(&state, &scope), caller.principal.org, summary.id, now).await?;
    Ok(Content::of(json!(format!("Submission #{} deleted successfully.", summary.id))))
}
