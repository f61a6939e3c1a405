//! The form builder (issue #8): the organisation's forms, and one form's questions edited one change at a time.
//! Every change is a plain form post that builds the next [`Definition`], checks it and stores it as a new version
//! with [`change_form`] (audited as `form.update`); problems come back as field-level messages on the builder page
//! with 422. Works without JavaScript; `static/builder.js` adds drag-and-drop ordering on top.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, Request, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use http::{HeaderMap, StatusCode};
use minijinja::context;
use sealform_core::DomainError;
use sealform_core::audit::{AuditCtx, AuditScope};
use sealform_core::form_model::{
    Condition, ConditionAction, Definition, FieldErrors, MAX_FILE_BYTES, Question, QuestionType,
};
use sealform_core::forms::{change_form, create_form, duplicate_form};
use sealform_core::grants::{GrantTerms, Right, grant_access};
use sealform_core::ids::FormId;
use sealform_core::policy::{Action as PolicyAction, is_org_admin};
use sealform_core::sessions::SessionRecord;
use sealform_core::store::Store;
use sealform_core::submission::{FormChange, FormRecord, FormStatus};
use serde::Deserialize;

use super::*;
use crate::AppState;
use crate::pages::render;
use crate::problem::ApiError;
use crate::problem::Found as _;

with_csrf!(TitleForm, QuestionForm, AddForm, MoveForm, DeleteForm, OrderForm, StatusForm, PlainForm);

/// Templates of this module: (name, source).
pub(crate) const TEMPLATES: &[(&str, &str)] = &[
    ("forms_list.html", include_str!("../../templates/forms_list.html")),
    ("builder.html", include_str!("../../templates/builder.html")),
];

/// Routes of this module.
pub(crate) fn routes<S: Store>() -> crate::app::Routes<S> {
    crate::app::Routes::new()
        .route("/static/builder.js", get(script))
        .route("/static/builder.css", get(stylesheet))
        .route("/console/forms", get(forms_page::<S>).post(forms_create::<S>))
        .route("/console/forms/{id}", get(builder_page::<S>))
        .route("/console/forms/{id}/title", post(set_title::<S>))
        .route("/console/forms/{id}/status", post(set_status::<S>))
        .route("/console/forms/{id}/duplicate", post(duplicate::<S>))
        .route("/console/forms/{id}/order", post(reorder::<S>))
        .route("/console/forms/{id}/questions", post(add_question::<S>))
        .route("/console/forms/{id}/questions/{qid}", post(edit_question::<S>))
        .route("/console/forms/{id}/questions/{qid}/move", post(move_question::<S>))
        .route("/console/forms/{id}/questions/{qid}/delete", post(delete_question::<S>))
}

/// `GET /static/builder.js`: drag-and-drop ordering for the builder.
async fn script() -> Response {
    crate::pages::static_asset("text/javascript; charset=utf-8", include_str!("../../static/builder.js"))
}

/// `GET /static/builder.css`: the builder's layout.
async fn stylesheet() -> Response {
    crate::pages::static_asset("text/css; charset=utf-8", include_str!("../../static/builder.css"))
}

/// A readable name for each question type.
fn type_name(kind: QuestionType) -> &'static str {
    match kind {
        QuestionType::Head => "Heading",
        QuestionType::Text => "Paragraph",
        QuestionType::Textbox => "Short text",
        QuestionType::Textarea => "Long text",
        QuestionType::Email => "E-mail",
        QuestionType::Phone => "Phone",
        QuestionType::Number => "Number",
        QuestionType::Datetime => "Date",
        QuestionType::Dropdown => "Dropdown",
        QuestionType::Radio => "Single choice",
        QuestionType::Checkbox => "Multiple choice",
        QuestionType::Fullname => "Full name",
        QuestionType::Address => "Address",
        QuestionType::Fileupload => "File upload",
        QuestionType::Signature => "Signature",
        QuestionType::Scale => "Scale",
        QuestionType::Pagebreak => "Page break",
        QuestionType::Button => "Submit button",
    }
}

/// Text questions take a pattern and length rules.
fn is_text(kind: QuestionType) -> bool {
    matches!(kind, QuestionType::Textbox | QuestionType::Textarea | QuestionType::Email | QuestionType::Phone)
}

/// Number and scale questions take a minimum and a maximum.
fn is_numeric(kind: QuestionType) -> bool {
    matches!(kind, QuestionType::Number | QuestionType::Scale)
}

/// Questions whose single answer another question's condition may test.
fn can_control(q: &Question) -> bool {
    q.kind.takes_answer() && q.kind.parts().is_empty() && !q.kind.is_file() && q.kind != QuestionType::Button
}

/// Questions whose answer is kept (so the PHI, required and indexed flags mean something).
fn collects(kind: QuestionType) -> bool {
    kind.takes_answer() && kind != QuestionType::Button
}

fn status_label(status: FormStatus) -> &'static str {
    match status {
        FormStatus::Draft => "Draft",
        FormStatus::Published => "Published",
        FormStatus::Unpublished => "Unpublished",
        FormStatus::Archived => "Archived",
    }
}

/// Text escaped for an HTML attribute value, for the embed snippet (which the template then escapes as text).
fn attribute(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn when(at: time::OffsetDateTime) -> String {
    at.format(&time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC")).unwrap_or_default()
}

/// The signed-in session with what it may do, or the redirect to send instead.
async fn viewer<S: Store>(
    state: &AppState<S>,
    headers: &HeaderMap,
) -> Result<Result<(SessionRecord, Authz), Response>, ApiError> {
    let session = match open_session(state, headers).await? {
        Ok(session) => session,
        Err(redirect) => return Ok(Err(redirect)),
    };
    let authz = Authz::load(state, &session).await?;
    authz.require_org(PolicyAction::ListForms)?;
    Ok(Ok((session, authz)))
}

/// A form manager who creates a form (new or a copy) receives a view and manage grant on it (DESIGN.md §6); owners
/// and admins have every right already.
async fn grant_creator<S: Store>(
    state: &AppState<S>,
    session: &SessionRecord,
    audit: AuditCtx<'_>,
    form: FormId,
) -> Result<(), ApiError> {
    if is_org_admin(session.role) {
        return Ok(());
    }
    let terms = GrantTerms { rights: vec![Right::View, Right::Manage], hide_phi: false, expires_at: None };
    grant_access(&state.store, audit, session.org, form, session.user, &terms, None, state.clock.now()).await?;
    Ok(())
}

/// The form `id` of the session's organisation; 404 for a malformed id or a form of another organisation.
async fn load<S: Store>(
    state: &AppState<S>,
    session: &SessionRecord,
    id: &str,
) -> Result<(FormRecord, Definition), ApiError> {
    let id: FormId = id.parse().map_err(|_| ApiError::not_found())?;
    let record = state.store.tenant(session.org).form(id).await.found()?;
    let definition = Definition::from_json(&record.definition).map_err(|errors| {
        DomainError::Internal(format!(
            "stored form definition does not parse: {}",
            sealform_core::forms::describe(&errors)
        ))
    })?;
    Ok((record, definition))
}

/// A change posted to the builder: the session (allowed to manage forms), its audit scope, the form, the current
/// definition and the posted fields. A `version` in the post that is no longer current is refused with 409, so two
/// people editing the same form do not silently undo each other's changes.
struct Change<F> {
    session: SessionRecord,
    scope: AuditScope,
    record: FormRecord,
    definition: Definition,
    form: F,
}

trait Versioned {
    fn version(&self) -> Option<&str>;
}

macro_rules! versioned {
    ($($form:ty),* $(,)?) => {
        $(impl Versioned for $form {
            fn version(&self) -> Option<&str> {
                Some(self.version.as_str()).filter(|v| !v.is_empty())
            }
        })*
    };
}

versioned!(TitleForm, QuestionForm, AddForm, MoveForm, DeleteForm, OrderForm, StatusForm, PlainForm);

async fn change<S: Store, F: serde::de::DeserializeOwned + WithCsrf + Versioned>(
    state: &AppState<S>,
    id: &str,
    request: Request,
) -> Result<Result<Change<F>, Response>, ApiError> {
    let request = match strict_utf8(request).await? {
        Ok(request) => request,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let (session, scope, form) = match posted::<S, F>(state, request, Gate::Open).await? {
        Ok(parts) => parts,
        Err(redirect) => return Ok(Err(redirect)),
    };
    let (record, definition) = load(state, &session, id).await?;
    Authz::load(state, &session).await?.require_on(PolicyAction::ManageForm, record.id)?;
    if let Some(version) = form.version()
        && version != record.version.to_string()
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            "the form was changed by someone else since you opened it; reload the builder and try again",
        ));
    }
    Ok(Ok(Change { session, scope, record, definition, form }))
}

/// Reads the posted form and refuses, with 400, one whose decoded names or values are not UTF-8 (the form parser
/// would quietly replace the bytes); the request comes back with its body, to be parsed as usual. A body over the
/// size limit gets the limit's own refusal.
async fn strict_utf8(request: Request) -> Result<Result<Request, Response>, ApiError> {
    use axum::extract::FromRequest as _;
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::Bytes::from_request(Request::from_parts(parts.clone(), body), &()).await {
        Ok(bytes) => bytes,
        Err(rejection) => return Ok(Err(rejection.into_response())),
    };
    if !decodes_to_utf8(&bytes) {
        return Err(ApiError::bad_request("the form is not valid UTF-8 text"));
    }
    Ok(Ok(Request::from_parts(parts, axum::body::Body::from(bytes))))
}

/// Whether every name and value of a URL-encoded form decodes to UTF-8.
fn decodes_to_utf8(body: &[u8]) -> bool {
    let hex = |b: u8| char::from(b).to_digit(16).and_then(|d| u8::try_from(d).ok());
    body.split(|b| *b == b'&').all(|pair| {
        let mut decoded = Vec::with_capacity(pair.len());
        let mut i = 0;
        while i < pair.len() {
            let escaped = (pair[i] == b'%').then(|| Some((hex(*pair.get(i + 1)?)?, hex(*pair.get(i + 2)?)?))).flatten();
            match (pair[i], escaped) {
                (_, Some((high, low))) => {
                    decoded.push(high << 4 | low);
                    i += 3;
                }
                (b'+', None) => {
                    decoded.push(b' ');
                    i += 1;
                }
                (other, None) => {
                    decoded.push(other);
                    i += 1;
                }
            }
        }
        std::str::from_utf8(&decoded).is_ok()
    })
}

fn builder_url(id: FormId, notice: &str, anchor: Option<&str>) -> String {
    let anchor = anchor.map(|qid| format!("#q-{qid}")).unwrap_or_default();
    format!("/console/forms/{id}?notice={notice}{anchor}")
}

impl<F> Change<F> {
    fn audit<'a>(&'a self, state: &'a AppState<impl Store>) -> AuditCtx<'a> {
        AuditCtx { auditor: &state.auditor, scope: &self.scope }
    }

    /// Checks and stores `definition` as the form's next version, then back to the builder; or the builder with
    /// the problems and 422, nothing stored.
    async fn save<S: Store>(
        &self,
        state: &AppState<S>,
        definition: Definition,
        notice: &str,
        anchor: Option<&str>,
    ) -> Result<Response, ApiError> {
        if let Err(errors) = definition.check() {
            return self.refuse(state, &definition, errors).await;
        }
        let changes = FormChange { definition: Some(definition.to_json()), ..FormChange::default() };
        match change_form(&state.store, self.audit(state), self.session.org, self.record.id, changes, state.clock.now())
            .await
        {
            Ok(_) => Ok(Redirect::to(&builder_url(self.record.id, notice, anchor)).into_response()),
            Err(DomainError::Invalid(message)) => {
                self.refuse(state, &definition, FieldErrors::from([(String::new(), message)])).await
            }
            Err(err) => Err(err.into()),
        }
    }

    /// The builder showing the refused definition and its problems, with 422.
    async fn refuse<S: Store>(
        &self,
        state: &AppState<S>,
        definition: &Definition,
        errors: FieldErrors,
    ) -> Result<Response, ApiError> {
        render_builder(state, &self.session, &self.record, definition, &errors, None, StatusCode::UNPROCESSABLE_ENTITY)
            .await
    }

    /// The builder with one problem about the form as a whole, nothing changed.
    async fn refuse_with<S: Store>(&self, state: &AppState<S>, key: &str, message: &str) -> Result<Response, ApiError> {
        let errors = FieldErrors::from([(key.to_owned(), message.to_owned())]);
        render_builder(
            state,
            &self.session,
            &self.record,
            &self.definition,
            &errors,
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await
    }

    fn position(&self, qid: &str) -> Result<usize, ApiError> {
        self.definition.questions.iter().position(|q| q.qid == qid).ok_or_else(ApiError::not_found)
    }
}

// ---------------------------------------------------------------------------------------------------------------
// The list of forms

#[derive(Deserialize)]
pub(crate) struct BuilderQuery {
    notice: Option<String>,
}

/// `GET /console/forms`: the organisation's forms and a form to start a new one.
async fn forms_page<S: Store>(State(state): State<AppState<S>>, headers: HeaderMap) -> Result<Response, ApiError> {
    let (session, authz) = match viewer(&state, &headers).await? {
        Ok(found) => found,
        Err(redirect) => return Ok(redirect),
    };
    render_list(&state, &session, &authz, None, "", StatusCode::OK).await
}

async fn render_list<S: Store>(
    state: &AppState<S>,
    session: &SessionRecord,
    authz: &Authz,
    error: Option<&str>,
    title: &str,
    status: StatusCode,
) -> Result<Response, ApiError> {
    let records = state.store.tenant(session.org).forms_of().await.map_err(DomainError::from)?;
    let mut forms = Vec::with_capacity(records.len());
    // Only the forms the member may see (default deny: no grant, no form).
    for record in records.iter().filter(|r| authz.can_on(PolicyAction::ViewForm, r.id)) {
        let submissions =
            state.store.tenant(session.org).count_submissions(record.id).await.map_err(DomainError::from)?;
        forms.push(context! {
            id => record.id.to_string(),
            title => record.title.as_str(),
            status => status_label(record.status),
            version => record.version,
            submissions,
            updated => when(record.updated_at),
        });
    }
    let page = render(
        &state.templates,
        "forms_list.html",
        context! {
            forms,
            error,
            title,
            can_manage => authz.can(PolicyAction::CreateForm, Resource::Org(session.org)),
            csrf => session.csrf_token.as_str(),
        },
    )?;
    Ok((status, page).into_response())
}

#[derive(Deserialize)]
pub(crate) struct PlainForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    version: String,
}

#[derive(Deserialize)]
pub(crate) struct TitleForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    title: String,
}

/// `POST /console/forms`: a new draft with no questions, then its builder.
async fn forms_create<S: Store>(State(state): State<AppState<S>>, request: Request) -> Result<Response, ApiError> {
    let request = match strict_utf8(request).await? {
        Ok(request) => request,
        Err(refusal) => return Ok(refusal),
    };
    let (session, scope, form) = match posted::<S, TitleForm>(&state, request, Gate::Open).await? {
        Ok(parts) => parts,
        Err(redirect) => return Ok(redirect),
    };
    let authz = Authz::load(&state, &session).await?;
    authz.require_org(PolicyAction::CreateForm)?;
    let audit = AuditCtx { auditor: &state.auditor, scope: &scope };
    let master = state.keyring.masters().current();
    let created = create_form(
        &state.store,
        master.as_ref(),
        audit,
        session.org,
        &form.title,
        "{\"questions\":[]}".to_owned(),
        state.clock.now(),
    )
    .await;
    match created {
        Ok(id) => {
            grant_creator(&state, &session, audit, id).await?;
            Ok(Redirect::to(&builder_url(id, "created", None)).into_response())
        }
        Err(DomainError::Invalid(message)) => {
            render_list(&state, &session, &authz, Some(&message), &form.title, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(err) => Err(err.into()),
    }
}

// ---------------------------------------------------------------------------------------------------------------
// The builder page

/// `GET /console/forms/{id}`: the builder (read-only for roles that may only view forms).
async fn builder_page<S: Store>(
    State(state): State<AppState<S>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(query): Query<BuilderQuery>,
) -> Result<Response, ApiError> {
    let (session, authz) = match viewer(&state, &headers).await? {
        Ok(found) => found,
        Err(redirect) => return Ok(redirect),
    };
    let (record, definition) = load(&state, &session, &id).await?;
    authz.require_on(PolicyAction::ViewForm, record.id)?;
    let notice = match query.notice.as_deref() {
        Some("created") => Some("Form created. Add its questions below."),
        Some("saved") => Some("Saved as a new version."),
        Some("added") => Some("Question added; fill in its details below."),
        Some("moved") => Some("Question moved."),
        Some("removed") => Some("Question removed."),
        Some("title") => Some("Title saved."),
        Some("status") => Some("Status changed."),
        Some("copy") => Some("This is a copy of the form, as a draft."),
        _ => None,
    };
    render_builder(&state, &session, &record, &definition, &FieldErrors::new(), notice, StatusCode::OK).await
}

async fn render_builder<S: Store>(
    state: &AppState<S>,
    session: &SessionRecord,
    record: &FormRecord,
    definition: &Definition,
    errors: &FieldErrors,
    notice: Option<&str>,
    status: StatusCode,
) -> Result<Response, ApiError> {
    let can_manage = Authz::load(state, session).await?.can_on(PolicyAction::ManageForm, record.id);
    let submissions = state.store.tenant(session.org).count_submissions(record.id).await.map_err(DomainError::from)?;
    let count = definition.questions.len();
    let mut questions = Vec::with_capacity(count);
    for (position, q) in definition.questions.iter().enumerate() {
        let controls: Vec<_> = definition.questions[..position]
            .iter()
            .filter(|e| can_control(e))
            .map(|e| context! { qid => e.qid.as_str(), text => e.text.as_str() })
            .collect();
        let condition = q.visible_when.as_ref();
        questions.push(context! {
            qid => q.qid.as_str(),
            kind => q.kind.as_str(),
            kind_name => type_name(q.kind),
            text => q.text.as_str(),
            help => q.help.as_str(),
            required => q.required,
            phi => q.phi,
            indexed => q.indexed,
            options => q.options.join("\n"),
            option_count => q.options.len(),
            pattern => q.validation.pattern.as_deref().unwrap_or_default(),
            min => q.validation.min.map(|v| v.to_string()).unwrap_or_default(),
            max => q.validation.max.map(|v| v.to_string()).unwrap_or_default(),
            min_length => q.validation.min_length.map(|v| v.to_string()).unwrap_or_default(),
            max_length => q.validation.max_length.map(|v| v.to_string()).unwrap_or_default(),
            cond_qid => condition.map(|c| c.qid.as_str()).unwrap_or_default(),
            cond_equals => condition.map(|c| c.equals.as_str()).unwrap_or_default(),
            cond_hide => condition.is_some_and(|c| c.action == ConditionAction::Hide),
            file_mib => q.max_file_bytes.map(|b| (b as f64 / f64::from(1 << 20)).to_string()).unwrap_or_default(),
            accept => q.accept.join(", "),
            collects => collects(q.kind),
            indexable => can_control(q),
            has_options => q.kind.has_options(),
            is_text => is_text(q.kind),
            is_numeric => is_numeric(q.kind),
            is_file => q.kind.is_file(),
            controls,
            first => position == 0,
            last => position + 1 == count,
            error => errors.get(&q.qid).map(String::as_str),
        });
    }
    let types: Vec<_> =
        QuestionType::ALL.iter().map(|t| context! { value => t.as_str(), name => type_name(*t) }).collect();
    // Problems that name no question shown here (the form as a whole, the title, a confirmation).
    let general: Vec<&str> = errors
        .iter()
        .filter(|(key, _)| definition.question(key).is_none())
        .filter(|(key, _)| key.as_str() != "title")
        .map(|(_, message)| message.as_str())
        .collect();
    let error_count = errors.len();
    let public_url = format!("{}/f/{}", state.public_url.trim_end_matches('/'), record.id);
    let embed = format!(
        "<iframe src=\"{public_url}\" title=\"{}\" loading=\"lazy\" width=\"100%\" height=\"800\"></iframe>\n\
         <script src=\"{}/static/embed.js\" async></script>",
        attribute(&record.title),
        state.public_url.trim_end_matches('/'),
    );
    let statuses: Vec<_> = [FormStatus::Published, FormStatus::Unpublished, FormStatus::Archived, FormStatus::Draft]
        .into_iter()
        .filter(|s| *s != record.status)
        .filter(|s| *s != FormStatus::Unpublished || record.status == FormStatus::Published)
        .map(|s| {
            let label = match s {
                FormStatus::Published => "Publish",
                FormStatus::Unpublished => "Unpublish",
                FormStatus::Archived => "Archive",
                FormStatus::Draft => "Back to draft",
            };
            context! { value => s.as_str(), label }
        })
        .collect();
    let page = render(
        &state.templates,
        "builder.html",
        context! {
            id => record.id.to_string(),
            title => record.title.as_str(),
            status => status_label(record.status),
            published => record.status == FormStatus::Published,
            version => record.version,
            updated => when(record.updated_at),
            submissions,
            questions,
            types,
            statuses,
            public_url,
            embed,
            notice,
            general,
            error_count,
            title_error => errors.get("title").map(String::as_str),
            can_manage => can_manage,
            can_access => is_org_admin(session.role),
            csrf => session.csrf_token.as_str(),
        },
    )?;
    Ok((status, page).into_response())
}

// ---------------------------------------------------------------------------------------------------------------
// Changes to the form as a whole

/// `POST /console/forms/{id}/title`.
async fn set_title<S: Store>(
    State(state): State<AppState<S>>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let c = match change::<S, TitleForm>(&state, &id, request).await? {
        Ok(c) => c,
        Err(redirect) => return Ok(redirect),
    };
    let changes = FormChange { title: Some(c.form.title.clone()), ..FormChange::default() };
    match change_form(&state.store, c.audit(&state), c.session.org, c.record.id, changes, state.clock.now()).await {
        Ok(_) => Ok(Redirect::to(&builder_url(c.record.id, "title", None)).into_response()),
        Err(DomainError::Invalid(message)) => c.refuse_with(&state, "title", &message).await,
        Err(err) => Err(err.into()),
    }
}

#[derive(Deserialize)]
pub(crate) struct StatusForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    status: String,
}

/// `POST /console/forms/{id}/status`: publish, unpublish, archive, or back to draft.
async fn set_status<S: Store>(
    State(state): State<AppState<S>>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let c = match change::<S, StatusForm>(&state, &id, request).await? {
        Ok(c) => c,
        Err(redirect) => return Ok(redirect),
    };
    let Some(status) = FormStatus::parse(&c.form.status) else {
        return c.refuse_with(&state, "", "choose publish, unpublish, archive or back to draft").await;
    };
    if status == FormStatus::Published && !c.definition.questions.iter().any(|q| collects(q.kind)) {
        return c.refuse_with(&state, "", "add at least one question that takes an answer before publishing").await;
    }
    let changes = FormChange { status: Some(status), ..FormChange::default() };
    change_form(&state.store, c.audit(&state), c.session.org, c.record.id, changes, state.clock.now()).await?;
    Ok(Redirect::to(&builder_url(c.record.id, "status", None)).into_response())
}

/// `POST /console/forms/{id}/duplicate`: a draft copy, then its builder.
async fn duplicate<S: Store>(
    State(state): State<AppState<S>>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let c = match change::<S, PlainForm>(&state, &id, request).await? {
        Ok(c) => c,
        Err(redirect) => return Ok(redirect),
    };
    let master = state.keyring.masters().current();
    let copy =
        duplicate_form(&state.store, master.as_ref(), c.audit(&state), c.session.org, c.record.id, state.clock.now())
            .await?;
    grant_creator(&state, &c.session, c.audit(&state), copy).await?;
    Ok(Redirect::to(&builder_url(copy, "copy", None)).into_response())
}

#[derive(Deserialize)]
pub(crate) struct OrderForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    version: String,
    /// Every question id, in the new order, separated by commas.
    #[serde(default)]
    order: String,
}

/// `POST /console/forms/{id}/order`: the whole order at once (from drag and drop).
async fn reorder<S: Store>(
    State(state): State<AppState<S>>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let c = match change::<S, OrderForm>(&state, &id, request).await? {
        Ok(c) => c,
        Err(redirect) => return Ok(redirect),
    };
    let order: Vec<&str> = c.form.order.split(',').map(str::trim).filter(|q| !q.is_empty()).collect();
    let mut remaining: BTreeMap<&str, &Question> = c.definition.questions.iter().map(|q| (q.qid.as_str(), q)).collect();
    let mut questions = Vec::with_capacity(order.len());
    for qid in &order {
        match remaining.remove(qid) {
            Some(q) => questions.push(q.clone()),
            None => break,
        }
    }
    if !remaining.is_empty() || questions.len() != order.len() {
        return c.refuse_with(&state, "", "the new order must list every question once; reload and try again").await;
    }
    c.save(&state, Definition { questions }, "moved", None).await
}

// ---------------------------------------------------------------------------------------------------------------
// Changes to one question

#[derive(Deserialize)]
pub(crate) struct AddForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    version: String,
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    text: String,
}

/// `POST /console/forms/{id}/questions`: a new question at the end.
async fn add_question<S: Store>(
    State(state): State<AppState<S>>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let c = match change::<S, AddForm>(&state, &id, request).await? {
        Ok(c) => c,
        Err(redirect) => return Ok(redirect),
    };
    let Some(kind) = QuestionType::parse(&c.form.kind) else {
        return c.refuse_with(&state, "new", "choose a question type from the list").await;
    };
    let mut definition = c.definition.clone();
    let qid = definition.next_qid();
    let mut question = Question::new(qid.clone(), kind, c.form.text.trim());
    if question.text.is_empty() {
        question.text = match kind {
            QuestionType::Pagebreak => String::new(),
            QuestionType::Button => "Submit".to_owned(),
            _ => type_name(kind).to_owned(),
        };
    }
    if kind.has_options() {
        question.options = vec!["Option 1".to_owned(), "Option 2".to_owned()];
    }
    definition.questions.push(question);
    c.save(&state, definition, "added", Some(&qid)).await
}

#[derive(Deserialize)]
pub(crate) struct QuestionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    help: String,
    required: Option<String>,
    phi: Option<String>,
    indexed: Option<String>,
    /// One option a line.
    #[serde(default)]
    options: String,
    #[serde(default)]
    pattern: String,
    #[serde(default)]
    min: String,
    #[serde(default)]
    max: String,
    #[serde(default)]
    min_length: String,
    #[serde(default)]
    max_length: String,
    #[serde(default)]
    cond_qid: String,
    #[serde(default)]
    cond_equals: String,
    #[serde(default)]
    cond_action: String,
    /// The upload limit in MiB.
    #[serde(default)]
    max_file_mib: String,
    /// Extensions separated by commas or spaces, with or without dots.
    #[serde(default)]
    accept: String,
}

/// An optional number field: empty is none.
fn optional<T: std::str::FromStr>(text: &str, what: &str) -> Result<Option<T>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse().map(Some).map_err(|_| format!("{what} must be a number"))
}

/// The question as edited; or the message for the first field that does not parse.
fn edited(original: &Question, form: &QuestionForm) -> Result<Question, String> {
    let kind = original.kind;
    let mut q = Question::new(original.qid.clone(), kind, form.text.trim());
    q.help = form.help.trim().to_owned();
    if collects(kind) {
        q.required = form.required.is_some();
        q.phi = form.phi.is_some();
        q.indexed = form.indexed.is_some() && can_control(original);
    }
    if kind.has_options() {
        q.options = form.options.lines().map(str::trim).filter(|o| !o.is_empty()).map(str::to_owned).collect();
    }
    if is_text(kind) {
        let pattern = form.pattern.trim();
        q.validation.pattern = (!pattern.is_empty()).then(|| pattern.to_owned());
        q.validation.min_length = optional(&form.min_length, "the minimum length")?;
        q.validation.max_length = optional(&form.max_length, "the maximum length")?;
    }
    if is_numeric(kind) {
        q.validation.min = optional(&form.min, "the minimum")?;
        q.validation.max = optional(&form.max, "the maximum")?;
        if q.validation.min.is_some_and(|v: f64| !v.is_finite())
            || q.validation.max.is_some_and(|v: f64| !v.is_finite())
        {
            return Err("minimum and maximum must be numbers".into());
        }
    }
    if kind.is_file() {
        let mib: Option<f64> = optional(&form.max_file_mib, "the file limit")?;
        q.max_file_bytes = match mib {
            None => None,
            Some(mib) if mib.is_finite() && mib > 0.0 && mib * f64::from(1 << 20) <= MAX_FILE_BYTES as f64 => {
                Some((mib * f64::from(1 << 20)).round().max(1.0) as u64)
            }
            Some(_) => {
                return Err(format!("the file limit must be more than 0 and at most {} MiB", MAX_FILE_BYTES >> 20));
            }
        };
        if kind == QuestionType::Fileupload {
            q.accept = form
                .accept
                .split([',', ' ', ';'])
                .map(|ext| ext.trim().trim_start_matches('.').to_ascii_lowercase())
                .filter(|ext| !ext.is_empty())
                .collect();
            q.accept.dedup();
        }
    }
    let controller = form.cond_qid.trim();
    if !controller.is_empty() {
        let action = match form.cond_action.as_str() {
            "" | "show" => ConditionAction::Show,
            "hide" => ConditionAction::Hide,
            _ => return Err("a condition shows or hides the question".into()),
        };
        let equals = form.cond_equals.trim();
        if equals.is_empty() {
            return Err("a condition needs the answer that triggers it".into());
        }
        q.visible_when = Some(Condition { qid: controller.to_owned(), equals: equals.to_owned(), action });
    }
    Ok(q)
}

/// `POST /console/forms/{id}/questions/{qid}`: a question's text, flags, rules, options and condition.
async fn edit_question<S: Store>(
    State(state): State<AppState<S>>,
    Path((id, qid)): Path<(String, String)>,
    request: Request,
) -> Result<Response, ApiError> {
    let c = match change::<S, QuestionForm>(&state, &id, request).await? {
        Ok(c) => c,
        Err(redirect) => return Ok(redirect),
    };
    let position = c.position(&qid)?;
    let mut definition = c.definition.clone();
    match edited(&definition.questions[position], &c.form) {
        Ok(question) => {
            definition.questions[position] = question;
            c.save(&state, definition, "saved", Some(&qid)).await
        }
        Err(message) => c.refuse(&state, &definition, FieldErrors::from([(qid, message)])).await,
    }
}

#[derive(Deserialize)]
pub(crate) struct MoveForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    direction: String,
}

/// `POST /console/forms/{id}/questions/{qid}/move`: one place up or down.
async fn move_question<S: Store>(
    State(state): State<AppState<S>>,
    Path((id, qid)): Path<(String, String)>,
    request: Request,
) -> Result<Response, ApiError> {
    let c = match change::<S, MoveForm>(&state, &id, request).await? {
        Ok(c) => c,
        Err(redirect) => return Ok(redirect),
    };
    let position = c.position(&qid)?;
    let count = c.definition.questions.len();
    let target = match c.form.direction.as_str() {
        "up" if position > 0 => position - 1,
        "down" if position + 1 < count => position + 1,
        "up" | "down" => return Ok(Redirect::to(&builder_url(c.record.id, "moved", Some(&qid))).into_response()),
        _ => return c.refuse_with(&state, &qid, "move a question up or down").await,
    };
    let mut definition = c.definition.clone();
    definition.questions.swap(position, target);
    c.save(&state, definition, "moved", Some(&qid)).await
}

#[derive(Deserialize)]
pub(crate) struct DeleteForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    version: String,
    confirm: Option<String>,
}

/// `POST /console/forms/{id}/questions/{qid}/delete`: removes a question once confirmed. Answers already
/// submitted keep it: they belong to the version they were made against.
async fn delete_question<S: Store>(
    State(state): State<AppState<S>>,
    Path((id, qid)): Path<(String, String)>,
    request: Request,
) -> Result<Response, ApiError> {
    let c = match change::<S, DeleteForm>(&state, &id, request).await? {
        Ok(c) => c,
        Err(redirect) => return Ok(redirect),
    };
    let position = c.position(&qid)?;
    if c.form.confirm.is_none() {
        return c.refuse_with(&state, &qid, "tick \"Yes, remove this question\" to remove it").await;
    }
    let mut definition = c.definition.clone();
    definition.questions.remove(position);
    if let Some(dependent) = definition.questions.iter().find(|q| q.visible_when.as_ref().is_some_and(|w| w.qid == qid))
    {
        let message = format!("question {} has a condition on this one; change that condition first", dependent.qid);
        return c.refuse_with(&state, &qid, &message).await;
    }
    c.save(&state, definition, "removed", None).await
}
