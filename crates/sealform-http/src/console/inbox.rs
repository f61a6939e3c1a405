//! The inbox: a form's submissions (paginated, sorted, filtered by date, status and blind-indexed exact match), the
//! submission view and print view, staff edits as new revisions with a diff of the history, status, deletion by
//! crypto-shredding after confirmation, and file downloads that need a session with the right role.
//! Every page that shows answers is audited before it is rendered.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use http::{HeaderValue, StatusCode};
use minijinja::{Value, context};
use sealform_core::DomainError;
use sealform_core::audit::{Action, AuditCtx, AuditScope, Entry, Target};
use sealform_core::form_model::{Definition, QuestionType, UploadedFile, validate_answers};
use sealform_core::ids::{FileId, FormId, SubmissionId};
use sealform_core::inbox::{
    StaffCtx, add_note, carry_notes, edit_submission, mark_read, notes, revision_history, set_status,
};
use sealform_core::policy::{Action as PolicyAction, MASK, phi_paths, revealed_paths};
use sealform_core::sealing::{Answers, delete_submission, read_submission};
use sealform_core::sessions::SessionRecord;
use sealform_core::store::Store;
use sealform_core::submission::{FileRecord, FormRecord, Order, SubmissionQuery, SubmissionStatus, SubmissionSummary};
use serde::Deserialize;
use time::OffsetDateTime;

use super::export;
use super::*;
use crate::AppState;
use crate::auth::{csrf_matches, request_context, same_origin, user_scope};
use crate::pages::render;
use crate::problem::ApiError;
use crate::problem::Found as _;

/// Templates of the inbox.
pub(crate) const TEMPLATES: &[(&str, &str)] = &[
    ("inbox.html", include_str!("../../templates/inbox.html")),
    ("submission.html", include_str!("../../templates/submission.html")),
    ("submission_print.html", include_str!("../../templates/submission_print.html")),
    ("submission_edit.html", include_str!("../../templates/submission_edit.html")),
    ("submission_delete.html", include_str!("../../templates/submission_delete.html")),
    ("revisions.html", include_str!("../../templates/revisions.html")),
    ("export.html", include_str!("../../templates/export.html")),
];

/// Routes of the inbox.
pub(crate) fn routes<S: Store>() -> crate::app::Routes<S> {
    crate::app::Routes::new()
        .route("/console/forms/{form}/submissions", get(inbox_page::<S>).post(inbox_search::<S>))
        .route("/console/forms/{form}/export", get(export::export_page::<S>))
        .route("/console/forms/{form}/export/download", get(export::export_download::<S>))
        .route("/console/submissions/{submission}", get(submission_page::<S>))
        .route("/console/submissions/{submission}/print", get(print_page::<S>))
        .route("/console/submissions/{submission}/status", post(status_submit::<S>))
        .route("/console/submissions/{submission}/notes", post(note_submit::<S>))
        .route("/console/submissions/{submission}/edit", get(edit_page::<S>).post(edit_submit::<S>))
        .route("/console/submissions/{submission}/revisions", get(revisions_page::<S>))
        .route("/console/submissions/{submission}/delete", get(delete_page::<S>).post(delete_submit::<S>))
        .route("/console/files/{file}", get(file_download::<S>))
}

/// Rows per inbox page.
const PAGE_SIZE: u32 = 50;

/// A signed-in staff member with their audit scope and what they may do; or the redirect to send instead. The
/// handler then asks [`Authz::require_on`] about the form it found (another organisation's is 404 before that).
/// The request is read before the future starts, so the future does not hold it (bodies are not `Sync`).
pub(super) fn staff<'a, S: Store>(
    state: &'a AppState<S>,
    request: &Request,
) -> impl Future<Output = Result<Result<(SessionRecord, AuditScope, Authz), Response>, ApiError>> + Send + 'a {
    let headers = request.headers().clone();
    let context = request_context(request);
    async move {
        let session = match open_session(state, &headers).await? {
            Ok(session) => session,
            Err(redirect) => return Ok(Err(redirect)),
        };
        let authz = Authz::load(state, &session).await?;
        let scope = user_scope(&session, context);
        Ok(Ok((session, scope, authz)))
    }
}

/// Parses an id from the path; anything malformed is simply not found.
pub(super) fn parse_id<T: std::str::FromStr>(raw: &str) -> Result<T, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found())
}

/// The form of `org`, or 404 (also for another organisation's form).
pub(super) async fn org_form<S: Store>(
    state: &AppState<S>,
    session: &SessionRecord,
    raw: &str,
) -> Result<FormRecord, ApiError> {
    let id: FormId = parse_id(raw)?;
    state.store.tenant(session.org).form(id).await.found()
}

/// A submission of `org` with the definition of the form version it answered, or 404.
async fn org_submission<S: Store>(
    state: &AppState<S>,
    session: &SessionRecord,
    raw: &str,
) -> Result<(SubmissionSummary, FormRecord, Definition), ApiError> {
    let id: SubmissionId = parse_id(raw)?;
    let summary = state.store.tenant(session.org).submission(id).await.found()?;
    let form = state.store.tenant(session.org).form(summary.form_id).await.found()?;
    let json = state.store.tenant(session.org).form_definition(summary.form_id, summary.form_version).await.found()?;
    let definition = Definition::from_json(&json)
        .map_err(|_| DomainError::Internal("a stored form version does not parse".into()))?;
    Ok((summary, form, definition))
}

pub(super) fn format_time(at: OffsetDateTime) -> String {
    // Stored with another offset (a time given that way before API times were taken as UTC): shown as UTC too.
    let at = at.checked_to_offset(time::UtcOffset::UTC).unwrap_or(at);
    at.format(&time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC")).unwrap_or_default()
}

fn text(answers: &Answers, path: &str) -> Option<String> {
    answers.get(path).map(|v| String::from_utf8_lossy(v).into_owned())
}

/// The answers laid out by question, for the view, print and edit pages.
/// The answers of `masked` paths (PHI hidden by the viewer's grant) show as `•••`: they were never opened.
fn answer_rows(definition: &Definition, answers: &Answers, files: &[FileRecord], masked: &[String]) -> Vec<Value> {
    let shown = |path: &str| {
        if masked.iter().any(|m| m == path) { MASK.to_owned() } else { text(answers, path).unwrap_or_default() }
    };
    let mut rows = Vec::new();
    for q in definition.questions.iter().filter(|q| q.kind.takes_answer() && q.kind != QuestionType::Button) {
        let parts: Vec<Value> = if q.kind.parts().is_empty() {
            vec![context! { label => "", value => shown(&q.qid) }]
        } else {
            q.kind
                .parts()
                .iter()
                .map(|(part, label)| context! { label => *label, value => shown(&format!("{}_{part}", q.qid)) })
                .collect()
        };
        let file = files
            .iter()
            .rev()
            .find(|f| f.file.question_id == q.qid)
            .filter(|_| answers.contains_key(&q.qid))
            .map(|f| context! { id => f.file.id.to_string(), name => text(answers, &q.qid).unwrap_or_default() });
        rows.push(context! {
            qid => q.qid.as_str(),
            label => q.text.as_str(),
            kind => q.kind.as_str(),
            phi => q.phi,
            multiline => q.kind == QuestionType::Textarea || q.kind == QuestionType::Checkbox,
            parts,
            file,
        });
    }
    rows
}

#[derive(Deserialize, Default, serde::Serialize)]
pub(crate) struct InboxFilter {
    #[serde(default)]
    status: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    field: String,
    #[serde(default)]
    value: String,
    #[serde(default)]
    order: String,
    #[serde(default)]
    after: String,
}

/// Parses a `YYYY-MM-DD` day in years 1 to 9999 (`time` also reads signed and five-digit years, which no database
/// here can hold).
pub(crate) fn calendar_day(text: &str) -> Option<time::Date> {
    time::Date::parse(text.trim(), time::macros::format_description!("[year]-[month]-[day]"))
        .ok()
        .filter(|date| (1..=9999).contains(&date.year()))
}

/// Parses a `YYYY-MM-DD` day of a filter (empty: no bound).
pub(crate) fn day(text: &str, what: &str) -> Result<Option<OffsetDateTime>, ApiError> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    let date = calendar_day(text)
        .ok_or_else(|| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", format!("{what} is not a date")))?;
    Ok(Some(date.midnight().assume_utc()))
}

/// The end of a `YYYY-MM-DD` day of a filter, as the exclusive bound: the next midnight (the last instant `time`
/// holds for 9999-12-31, whose next day it cannot represent).
pub(crate) fn day_end(text: &str, what: &str) -> Result<Option<OffsetDateTime>, ApiError> {
    Ok(day(text, what)?.map(|d| d.saturating_add(time::Duration::days(1))))
}

/// `GET /console/forms/{form}/submissions`: one page of the inbox, filtered by status, dates and order. Metadata
/// only. An exact-match search names a patient's answer, so it is only accepted by POST: it never lands in a URL,
/// browser history or a proxy log.
async fn inbox_page<S: Store>(
    State(state): State<AppState<S>>,
    Path(form): Path<String>,
    Query(filter): Query<InboxFilter>,
    request: Request,
) -> Result<Response, ApiError> {
    let (session, scope, authz) = match staff(&state, &request).await? {
        Ok(found) => found,
        Err(redirect) => return Ok(redirect),
    };
    if !filter.value.is_empty() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "search values are sent with the form's Filter button (POST), never in the address",
        ));
    }
    render_inbox(&state, &session, &scope, &authz, &form, filter).await
}

#[derive(Deserialize)]
pub(crate) struct InboxSearch {
    csrf: String,
    #[serde(flatten)]
    filter: InboxFilter,
}

with_csrf!(InboxSearch);

/// `POST /console/forms/{form}/submissions`: the inbox with an exact-match search on a blind-indexed field; the
/// database compares keyed hashes and the search is audited.
async fn inbox_search<S: Store>(
    State(state): State<AppState<S>>,
    Path(form): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let (session, scope, search) = match posted::<S, InboxSearch>(&state, request, Gate::Open).await? {
        Ok(posted) => posted,
        Err(redirect) => return Ok(redirect),
    };
    let authz = Authz::load(&state, &session).await?;
    render_inbox(&state, &session, &scope, &authz, &form, search.filter).await
}

async fn render_inbox<S: Store>(
    state: &AppState<S>,
    session: &SessionRecord,
    scope: &AuditScope,
    authz: &Authz,
    form: &str,
    filter: InboxFilter,
) -> Result<Response, ApiError> {
    let form = org_form(state, session, form).await?;
    authz.require_on(PolicyAction::ReadSubmissions, form.id)?;
    let definition = Definition::from_json(&form.definition).unwrap_or_default();
    let invalid =
        |what: &str| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", format!("{what} is not valid"));
    let status = (!filter.status.is_empty())
        .then(|| SubmissionStatus::parse(&filter.status).ok_or_else(|| invalid("the status")))
        .transpose()?;
    let order = if filter.order == "oldest" { Order::OldestFirst } else { Order::NewestFirst };
    let after =
        (!filter.after.is_empty()).then(|| filter.after.parse()).transpose().map_err(|_| invalid("the page"))?;
    let mut indexed = definition.indexed_paths();
    if authz.hides_phi(form.id) {
        // Searching a hidden field by value would reveal it.
        let hidden = phi_paths(&definition);
        indexed.retain(|path| !hidden.iter().any(|h| h == path));
    }
    let index = if filter.field.is_empty() || filter.value.trim().is_empty() {
        None
    } else {
        if !indexed.contains(&filter.field.as_str()) {
            return Err(invalid("the search field"));
        }
        let key = state.keyring.form_index_key(session.org, form.id).await?;
        let value = sealform_core::sealing::normalise_for_index(filter.value.as_bytes());
        let digest = sealform_crypto::blind_index(&key, &filter.field, &value);
        let audit = AuditCtx { auditor: &state.auditor, scope };
        let entry = audit.entry(
            Entry::ok(
                Some(session.org),
                Action::SubmissionSearch,
                vec![Target::new("form", form.id)],
                state.clock.now(),
            )
            .with_fields(vec![filter.field.clone()]),
        )?;
        state.store.append_audit(vec![entry]).await.map_err(DomainError::from)?;
        Some((filter.field.clone(), digest))
    };
    let to = day_end(&filter.to, "the end date")?;
    let query = SubmissionQuery {
        org: session.org,
        form: form.id,
        status,
        from: day(&filter.from, "the start date")?,
        to,
        index,
        order,
        after,
        limit: PAGE_SIZE + 1,
    };
    let mut rows = state.store.tenant(session.org).submissions(query).await.map_err(DomainError::from)?;
    let more = rows.len() > PAGE_SIZE as usize;
    rows.truncate(PAGE_SIZE as usize);
    let next = more.then(|| rows.last().map(|r| r.id.to_string())).flatten();
    let total = state.store.tenant(session.org).count_submissions(form.id).await.map_err(DomainError::from)?;
    let rows: Vec<Value> = rows
        .iter()
        .map(|r| {
            context! {
                id => r.id.to_string(),
                status => r.status.as_str(),
                created => format_time(r.created_at),
                updated => format_time(r.updated_at),
                revision => r.revision,
                version => r.form_version,
            }
        })
        .collect();
    let fields: Vec<Value> = indexed
        .iter()
        .filter_map(|qid| definition.question(qid))
        .map(|q| context! { qid => q.qid.as_str(), label => q.text.as_str() })
        .collect();
    let statuses: Vec<&str> = SubmissionStatus::ALL.iter().map(|s| s.as_str()).collect();
    let page = render(
        &state.templates,
        "inbox.html",
        context! {
            form => context! { id => form.id.to_string(), title => form.title.as_str() },
            rows, total, next, fields, statuses, filter, csrf => session.csrf_token.as_str(),
            can_export => authz.can_on(PolicyAction::ExportSubmissions, form.id),
        },
    )?;
    Ok(page.into_response())
}

/// Opens the latest revision (only the `revealed` paths when given: masked fields are never decrypted), audited
/// with the fields opened; marks a new submission read.
async fn opened<S: Store>(
    state: &AppState<S>,
    session: &SessionRecord,
    scope: &AuditScope,
    summary: &SubmissionSummary,
    revealed: Option<&[String]>,
) -> Result<Answers, ApiError> {
    let audit = AuditCtx { auditor: &state.auditor, scope };
    let only: Option<Vec<&str>> = revealed.map(|paths| paths.iter().map(String::as_str).collect());
    let answers = read_submission(
        &state.store,
        &state.keyring,
        audit,
        session.org,
        summary.id,
        only.as_deref(),
        state.clock.now(),
    )
    .await?
    .ok_or_else(ApiError::not_found)?;
    mark_read(&state.store, session.org, summary).await?;
    Ok(answers)
}

async fn view<S: Store>(
    state: AppState<S>,
    raw: String,
    request: Request,
    template: &str,
) -> Result<Response, ApiError> {
    let (session, scope, authz) = match staff(&state, &request).await? {
        Ok(found) => found,
        Err(redirect) => return Ok(redirect),
    };
    let (summary, form, definition) = org_submission(&state, &session, &raw).await?;
    authz.require_on(PolicyAction::ReadSubmissions, form.id)?;
    let hide_phi = authz.hides_phi(form.id);
    let revealed = revealed_paths(&definition, hide_phi);
    let answers = opened(&state, &session, &scope, &summary, revealed.as_deref()).await?;
    let masked = if hide_phi { phi_paths(&definition) } else { Vec::new() };
    let files = state.store.tenant(session.org).files_of(summary.id).await.map_err(DomainError::from)?;
    let statuses: Vec<&str> = SubmissionStatus::ALL.iter().map(|s| s.as_str()).collect();
    let mut shown_notes = Vec::new();
    for note in notes(&answers) {
        let author = state.store.user_by_id(note.by).await.map_err(DomainError::from)?;
        let by = author.map_or_else(|| "a former user".to_owned(), |u| u.email.as_str().to_owned());
        shown_notes.push(context! { by, at => note.at.replace('T', " "), text => note.text });
    }
    let page = render(
        &state.templates,
        template,
        context! {
            form => context! { id => form.id.to_string(), title => form.title.as_str() },
            submission => context! {
                id => summary.id.to_string(),
                status => if summary.status == SubmissionStatus::New { "read" } else { summary.status.as_str() },
                created => format_time(summary.created_at),
                updated => format_time(summary.updated_at),
                revision => summary.revision,
                version => summary.form_version,
            },
            rows => answer_rows(&definition, &answers, &files, &masked),
            notes => shown_notes,
            masked => hide_phi,
            statuses,
            csrf => session.csrf_token.as_str(),
            can_edit => authz.can_on(PolicyAction::EditSubmissions, form.id),
            can_edit_answers => authz.can_on(PolicyAction::EditSubmissions, form.id) && masked.is_empty(),
            can_delete => authz.can_on(PolicyAction::DeleteSubmissions, form.id),
        },
    )?;
    Ok(page.into_response())
}

/// `GET /console/submissions/{id}`.
async fn submission_page<S: Store>(
    State(state): State<AppState<S>>,
    Path(raw): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    view(state, raw, request, "submission.html").await
}

/// `GET /console/submissions/{id}/print`: the answers on a plain page for printing.
async fn print_page<S: Store>(
    State(state): State<AppState<S>>,
    Path(raw): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    view(state, raw, request, "submission_print.html").await
}

#[derive(Deserialize)]
pub(crate) struct StatusForm {
    csrf: String,
    status: String,
}

#[derive(Deserialize)]
pub(crate) struct ConfirmForm {
    csrf: String,
    #[serde(default)]
    confirm: String,
}

#[derive(Deserialize)]
pub(crate) struct NoteForm {
    csrf: String,
    text: String,
}

with_csrf!(StatusForm, ConfirmForm, NoteForm);

/// `POST /console/submissions/{id}/notes`: adds a sealed staff note (a new revision).
async fn note_submit<S: Store>(
    State(state): State<AppState<S>>,
    Path(raw): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let (session, scope, form) = match posted::<S, NoteForm>(&state, request, Gate::Open).await? {
        Ok(posted) => posted,
        Err(redirect) => return Ok(redirect),
    };
    let (summary, record, definition) = org_submission(&state, &session, &raw).await?;
    Authz::load(&state, &session).await?.require_on(PolicyAction::EditSubmissions, record.id)?;
    let audit = AuditCtx { auditor: &state.auditor, scope: &scope };
    let now = state.clock.now();
    let staff = StaffCtx { store: &state.store, keyring: &state.keyring, audit, user: session.user };
    add_note(staff, session.org, summary.id, &definition, &form.text, now).await?;
    Ok(Redirect::to(&format!("/console/submissions/{}", summary.id)).into_response())
}

/// `POST /console/submissions/{id}/status`.
async fn status_submit<S: Store>(
    State(state): State<AppState<S>>,
    Path(raw): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let (session, scope, form) = match posted::<S, StatusForm>(&state, request, Gate::Open).await? {
        Ok(posted) => posted,
        Err(redirect) => return Ok(redirect),
    };
    let (summary, form_record, _) = org_submission(&state, &session, &raw).await?;
    Authz::load(&state, &session).await?.require_on(PolicyAction::EditSubmissions, form_record.id)?;
    let id = summary.id;
    let status = SubmissionStatus::parse(&form.status)
        .ok_or_else(|| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", "unknown status"))?;
    let audit = AuditCtx { auditor: &state.auditor, scope: &scope };
    set_status(&state.store, audit, session.org, id, status, state.clock.now()).await?;
    Ok(Redirect::to(&format!("/console/submissions/{id}")).into_response())
}

/// `GET /console/submissions/{id}/delete`: asks for confirmation.
async fn delete_page<S: Store>(
    State(state): State<AppState<S>>,
    Path(raw): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let (session, _, authz) = match staff(&state, &request).await? {
        Ok(found) => found,
        Err(redirect) => return Ok(redirect),
    };
    let (summary, form, _) = org_submission(&state, &session, &raw).await?;
    authz.require_on(PolicyAction::DeleteSubmissions, form.id)?;
    let page = render(
        &state.templates,
        "submission_delete.html",
        context! {
            id => summary.id.to_string(), created => format_time(summary.created_at),
            form => form.title.as_str(), form_id => form.id.to_string(), csrf => session.csrf_token.as_str(), error => false,
        },
    )?;
    Ok(page.into_response())
}

/// `POST /console/submissions/{id}/delete`: crypto-shreds the submission once the box is ticked.
async fn delete_submit<S: Store>(
    State(state): State<AppState<S>>,
    Path(raw): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let (session, scope, form) = match posted::<S, ConfirmForm>(&state, request, Gate::Open).await? {
        Ok(posted) => posted,
        Err(redirect) => return Ok(redirect),
    };
    let (summary, record, _) = org_submission(&state, &session, &raw).await?;
    Authz::load(&state, &session).await?.require_on(PolicyAction::DeleteSubmissions, record.id)?;
    if form.confirm != "yes" {
        let page = render(
            &state.templates,
            "submission_delete.html",
            context! {
                id => summary.id.to_string(), created => format_time(summary.created_at), form => record.title.as_str(),
                form_id => record.id.to_string(), csrf => session.csrf_token.as_str(), error => true,
            },
        )?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    }
    let files = state.store.tenant(session.org).files_of(summary.id).await.map_err(DomainError::from)?;
    let audit = AuditCtx { auditor: &state.auditor, scope: &scope };
    delete_submission(&state.store, audit, session.org, summary.id, state.clock.now()).await?;
    let keys: Vec<String> = files.into_iter().map(|f| f.file.object_key).collect();
    state.objects.remove(&keys).await;
    Ok(Redirect::to(&format!("/console/forms/{}/submissions", record.id)).into_response())
}

/// The values of one question for the edit form: text fields keep their answer; choices mark the chosen options.
fn edit_fields(
    definition: &Definition,
    answers: &BTreeMap<String, Vec<String>>,
    errors: &BTreeMap<String, String>,
) -> Vec<Value> {
    let value = |path: &str| answers.get(path).and_then(|v| v.first()).cloned().unwrap_or_default();
    definition
        .questions
        .iter()
        .filter(|q| q.kind.takes_answer() && q.kind != QuestionType::Button)
        .map(|q| {
            let chosen: Vec<String> = answers.get(&q.qid).cloned().unwrap_or_default();
            let parts: Vec<Value> = q
                .kind
                .parts()
                .iter()
                .map(|(part, label)| {
                    let path = format!("{}_{part}", q.qid);
                    context! { path => path.clone(), label => *label, value => value(&path) }
                })
                .collect();
            context! {
                qid => q.qid.as_str(),
                label => q.text.as_str(),
                kind => q.kind.as_str(),
                required => q.required,
                options => q.options.clone(),
                chosen,
                value => value(&q.qid),
                parts,
                file => q.kind.is_file(),
                error => errors.get(&q.qid).cloned(),
            }
        })
        .collect()
}

fn answers_as_raw(definition: &Definition, answers: &Answers) -> BTreeMap<String, Vec<String>> {
    let mut raw = BTreeMap::new();
    for q in definition.questions.iter().filter(|q| q.kind.takes_answer() && !q.kind.is_file()) {
        for path in q.paths() {
            if let Some(value) = text(answers, &path) {
                let values = if q.kind == QuestionType::Checkbox {
                    value.split('\n').map(str::to_owned).collect()
                } else {
                    vec![value]
                };
                raw.insert(path, values);
            }
        }
    }
    raw
}

/// `GET /console/submissions/{id}/edit`.
async fn edit_page<S: Store>(
    State(state): State<AppState<S>>,
    Path(raw): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let (session, scope, authz) = match staff(&state, &request).await? {
        Ok(found) => found,
        Err(redirect) => return Ok(redirect),
    };
    let (summary, form, definition) = org_submission(&state, &session, &raw).await?;
    may_edit_answers(&authz, &form, &definition)?;
    let answers = opened(&state, &session, &scope, &summary, None).await?;
    let fields = edit_fields(&definition, &answers_as_raw(&definition, &answers), &BTreeMap::new());
    render_edit(&state, &session, &summary, &form, fields, StatusCode::OK)
}

/// Editing answers needs the edit right and sight of every answer: a member whose grant hides PHI may not edit a
/// form with PHI questions (they would overwrite what they cannot see).
fn may_edit_answers(authz: &Authz, form: &FormRecord, definition: &Definition) -> Result<(), ApiError> {
    authz.require_on(PolicyAction::EditSubmissions, form.id)?;
    if authz.hides_phi(form.id) && !phi_paths(definition).is_empty() {
        return Err(forbidden("your access hides this form's PHI fields, so you may not edit its answers"));
    }
    Ok(())
}

fn render_edit<S: Store>(
    state: &AppState<S>,
    session: &SessionRecord,
    summary: &SubmissionSummary,
    form: &FormRecord,
    fields: Vec<Value>,
    status: StatusCode,
) -> Result<Response, ApiError> {
    let page = render(
        &state.templates,
        "submission_edit.html",
        context! {
            id => summary.id.to_string(), revision => summary.revision, form => form.title.as_str(),
            csrf => session.csrf_token.as_str(), fields,
        },
    )?;
    Ok((status, Html(page.0)).into_response())
}

/// `POST /console/submissions/{id}/edit`: checks the answers against the form version and stores them as the next
/// revision. Files are kept as they were (a staff edit changes answers, not uploads).
async fn edit_submit<S: Store>(
    State(state): State<AppState<S>>,
    Path(raw): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let (session, scope, authz) = match staff(&state, &request).await? {
        Ok(found) => found,
        Err(redirect) => return Ok(redirect),
    };
    same_origin(request.headers())?;
    let body = axum::body::to_bytes(request.into_body(), usize::MAX)
        .await
        .map_err(|_| ApiError::bad_request("the form could not be read"))?;
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_bytes(&body).map_err(|_| ApiError::bad_request("the form is malformed"))?;
    let mut raw_answers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut csrf = String::new();
    let mut expected_revision = String::new();
    for (key, value) in pairs {
        match key.as_str() {
            "csrf" => csrf = value,
            "revision" => expected_revision = value,
            _ => {
                if let Some(path) = key.strip_prefix("a:") {
                    raw_answers.entry(path.to_owned()).or_default().push(value);
                }
            }
        }
    }
    csrf_matches(&session.csrf_token, &csrf)?;
    let (summary, form, definition) = org_submission(&state, &session, &raw).await?;
    may_edit_answers(&authz, &form, &definition)?;
    if expected_revision != summary.revision.to_string() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            "the submission was changed meanwhile; open it again and repeat your edit",
        ));
    }
    let current = opened(&state, &session, &scope, &summary, None).await?;
    let mut kept_files = BTreeMap::new();
    for q in definition.questions.iter().filter(|q| q.kind.is_file()) {
        if let Some(name) = text(&current, &q.qid) {
            kept_files.insert(q.qid.clone(), UploadedFile { name, size: 0 });
        }
    }
    let mut answers = match validate_answers(&definition, &raw_answers, &kept_files) {
        Ok(answers) => answers,
        Err(errors) => {
            let fields = edit_fields(&definition, &raw_answers, &errors);
            return render_edit(&state, &session, &summary, &form, fields, StatusCode::UNPROCESSABLE_ENTITY);
        }
    };
    carry_notes(&current, &mut answers);
    let audit = AuditCtx { auditor: &state.auditor, scope: &scope };
    let staff = StaffCtx { store: &state.store, keyring: &state.keyring, audit, user: session.user };
    edit_submission(staff, session.org, summary.id, &definition, &answers, state.clock.now()).await?;
    Ok(Redirect::to(&format!("/console/submissions/{}", summary.id)).into_response())
}

/// `GET /console/submissions/{id}/revisions`: every revision, with what changed from the one before.
async fn revisions_page<S: Store>(
    State(state): State<AppState<S>>,
    Path(raw): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let (session, scope, authz) = match staff(&state, &request).await? {
        Ok(found) => found,
        Err(redirect) => return Ok(redirect),
    };
    let (summary, form, definition) = org_submission(&state, &session, &raw).await?;
    authz.require_on(PolicyAction::ReadSubmissions, form.id)?;
    let revealed = revealed_paths(&definition, authz.hides_phi(form.id));
    let only: Option<Vec<&str>> = revealed.as_ref().map(|paths| paths.iter().map(String::as_str).collect());
    let audit = AuditCtx { auditor: &state.auditor, scope: &scope };
    let history = revision_history(
        &state.store,
        &state.keyring,
        audit,
        session.org,
        summary.id,
        only.as_deref(),
        state.clock.now(),
    )
    .await?;
    let labels: BTreeMap<String, String> = definition.answer_labels().into_iter().collect();
    let mut revisions = Vec::new();
    let mut previous: Option<&Answers> = None;
    for (stored, answers) in &history {
        let mut paths: Vec<&String> = answers.keys().collect();
        if let Some(before) = previous {
            paths.extend(before.keys().filter(|p| !answers.contains_key(*p)));
        }
        paths.sort();
        paths.dedup();
        let changes: Vec<Value> = paths
            .into_iter()
            .filter_map(|path| {
                let old = previous.and_then(|b| text(b, path));
                let new = text(answers, path);
                (previous.is_none() || old != new).then(|| {
                    context! {
                        label => labels.get(path).cloned().unwrap_or_else(|| path.replace("note:", "Note ")),
                        old => old.unwrap_or_default(), new => new.unwrap_or_default(),
                    }
                })
            })
            .collect();
        revisions.push(context! {
            number => stored.sealed.revision,
            at => format_time(stored.sealed.created_at),
            by => stored.sealed.created_by.map_or_else(|| "respondent".to_owned(), |u| format!("staff user {u}")),
            first => previous.is_none(),
            changes,
        });
        previous = Some(answers);
    }
    let page = render(
        &state.templates,
        "revisions.html",
        context! { id => summary.id.to_string(), form => form.title.as_str(), revisions },
    )?;
    Ok(page.into_response())
}

/// `GET /console/files/{id}`: the file's bytes, opened on the fly, for a signed-in user whose role may read
/// submissions of this organisation. Audited as `file.read` before the first byte leaves.
async fn file_download<S: Store>(
    State(state): State<AppState<S>>,
    Path(raw): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let (session, scope, authz) = match staff(&state, &request).await? {
        Ok(found) => found,
        Err(redirect) => return Ok(redirect),
    };
    let id: FileId = parse_id(&raw)?;
    let record = state.store.tenant(session.org).file(id).await.found()?;
    authz.require_on(PolicyAction::ReadSubmissions, record.form_id)?;
    if authz.hides_phi(record.form_id) && file_is_phi(&state, session.org, &record).await? {
        return Err(forbidden("your access hides this form's PHI fields, and this file answers one"));
    }
    let name = file_name(&state, session.org, &scope, &record).await?;
    let chunks = sealform_core::files::open_file(&state.objects, &state.keyring, &record).await?;
    file_response(chunks, &name)
}

/// Whether the file answers a PHI question of the form version its submission answered.
pub(crate) async fn file_is_phi<S: Store>(
    state: &AppState<S>,
    org: sealform_core::ids::OrgId,
    record: &FileRecord,
) -> Result<bool, ApiError> {
    let summary = state.store.tenant(org).submission(record.submission_id).await.found()?;
    let json = state.store.tenant(org).form_definition(record.form_id, summary.form_version).await.found()?;
    let definition = Definition::from_json(&json)
        .map_err(|_| DomainError::Internal("a stored form version does not parse".into()))?;
    // Unknown question: treat as PHI (fail closed).
    Ok(definition.question(&record.file.question_id).is_none_or(|q| q.phi))
}

/// The file's name from the sealed answers (opening only that field), audited as the file's read.
pub(crate) async fn file_name<S: Store>(
    state: &AppState<S>,
    org: sealform_core::ids::OrgId,
    scope: &AuditScope,
    record: &FileRecord,
) -> Result<String, ApiError> {
    let stored = state.store.tenant(org).latest_revision(record.submission_id).await.found()?;
    let only = [record.file.question_id.as_str()];
    let answers = sealform_core::sealing::open_revision(&state.keyring, &stored, Some(&only)).await?;
    let name = text(&answers, &record.file.question_id).unwrap_or_else(|| "file".to_owned());
    let audit = AuditCtx { auditor: &state.auditor, scope };
    let entry = audit.entry(
        Entry::ok(
            Some(org),
            Action::FileRead,
            vec![
                Target::new("file", record.file.id),
                Target::new("submission", record.submission_id),
                Target::new("form", record.form_id),
            ],
            state.clock.now(),
        )
        .with_fields(vec![record.file.question_id.clone()]),
    )?;
    state.store.append_audit(vec![entry]).await.map_err(DomainError::from)?;
    Ok(name)
}

/// A download response streaming `chunks`: always an attachment of an opaque type, so nothing uploaded is ever
/// rendered by the browser in our origin.
pub(crate) fn file_response(
    chunks: tokio::sync::mpsc::Receiver<Result<Vec<u8>, std::io::Error>>,
    name: &str,
) -> Result<Response, ApiError> {
    let safe: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || ".-_".contains(c) { c } else { '_' }).take(100).collect();
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{safe}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"));
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(chunks));
    Ok((
        [(CONTENT_TYPE, HeaderValue::from_static("application/octet-stream")), (CONTENT_DISPOSITION, disposition)],
        body,
    )
        .into_response())
}
