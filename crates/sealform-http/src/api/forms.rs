//! Forms and their questions: list, create, show, change (title, status), archive, and the question list as a new
//! version. Every change goes through [`sealform_core::forms`] (checked and audited there); titles and questions are
//! not PHI, answers are.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use sealform_core::DomainError;
use sealform_core::form_model::Definition;
use sealform_core::forms::{change_form, create_form};
use sealform_core::grants::{GrantTerms, Right, grant_access};
use sealform_core::policy::{Action, Resource};
use sealform_core::store::Store;
use sealform_core::submission::{FormChange, FormRecord, FormStatus};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::caller::Caller;
use super::input::{PathParams, RawBody, id, query};
use super::page::{Page, Paging, page_of, rfc3339};
use crate::AppState;
use crate::problem::ApiError;
use crate::problem::Found as _;

/// Where a form is in its life.
#[derive(Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Status {
    /// Being built; the public page is closed.
    Draft,
    /// Open for submissions.
    Published,
    /// Closed for submissions, still listed.
    Unpublished,
    /// Closed and put away.
    Archived,
}

impl From<FormStatus> for Status {
    fn from(status: FormStatus) -> Self {
        match status {
            FormStatus::Draft => Self::Draft,
            FormStatus::Published => Self::Published,
            FormStatus::Unpublished => Self::Unpublished,
            FormStatus::Archived => Self::Archived,
        }
    }
}

impl From<Status> for FormStatus {
    fn from(status: Status) -> Self {
        match status {
            Status::Draft => Self::Draft,
            Status::Published => Self::Published,
            Status::Unpublished => Self::Unpublished,
            Status::Archived => Self::Archived,
        }
    }
}

/// A form (without its questions: see `GET /api/v1/forms/{form}/questions`).
#[derive(Serialize, ToSchema)]
pub(crate) struct Form {
    /// Its id.
    #[schema(format = Uuid)]
    id: String,
    /// The title.
    title: String,
    /// Its status.
    status: Status,
    /// The current version of its questions; each change of the questions adds one.
    version: u32,
    /// How many questions it has.
    questions: usize,
    /// When it was created (RFC 3339).
    #[schema(format = DateTime)]
    created_at: String,
    /// When it last changed (RFC 3339).
    #[schema(format = DateTime)]
    updated_at: String,
}

impl From<&FormRecord> for Form {
    fn from(form: &FormRecord) -> Self {
        Self {
            id: form.id.to_string(),
            title: form.title.clone(),
            status: form.status.into(),
            version: form.version,
            questions: Definition::from_json(&form.definition).map(|d| d.questions.len()).unwrap_or_default(),
            created_at: rfc3339(form.created_at),
            updated_at: rfc3339(form.updated_at),
        }
    }
}

/// A new form.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewForm {
    /// The title: one line of 1 to 200 characters.
    title: String,
    /// Its questions (default none); checked as the builder checks them.
    #[serde(default)]
    #[schema(value_type = Vec<super::schema::Question>)]
    questions: Vec<serde_json::Value>,
}

/// A change of a form: any of title and status.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct FormPatch {
    /// A new title.
    #[serde(default)]
    title: Option<String>,
    /// A new status.
    #[serde(default)]
    status: Option<Status>,
}

/// A form's questions, in order.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Questions {
    /// The version these questions are (ignored when sent).
    #[serde(default)]
    version: u32,
    /// The questions.
    #[schema(value_type = Vec<super::schema::Question>)]
    questions: Vec<serde_json::Value>,
}

/// The form `raw` of the caller's organisation, or 404.
pub(crate) async fn org_form<S: Store>(
    state: &AppState<S>,
    caller: &Caller,
    raw: &str,
) -> Result<FormRecord, ApiError> {
    let form = id(raw)?;
    state.store.tenant(caller.org()).form(form).await.found()
}

/// Checks question JSON with the form model's own rules, as a definition.
fn definition(questions: Vec<serde_json::Value>) -> Result<String, ApiError> {
    let json = serde_json::json!({ "questions": questions }).to_string();
    Definition::from_json(&json).map(|d| d.to_json()).map_err(|errors| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", "the questions are not valid").with_errors(errors)
    })
}

/// `GET /api/v1/forms`: the forms the key may see, newest first.
pub(crate) async fn list<S: Store>(
    State(state): State<AppState<S>>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Json<Page<Form>>, ApiError> {
    caller.require_org(Action::ListForms)?;
    let paging: Paging = query(raw.as_deref())?;
    let (limit, after) = (paging.limit()?, paging.after::<uuid::Uuid>()?);
    let forms: Vec<Form> = state
        .store
        .tenant(caller.org())
        .forms_of()
        .await
        .map_err(DomainError::from)?
        .iter()
        .filter(|f| caller.allows(Action::ViewForm, Resource::Form { org: caller.org(), form: f.id }))
        .map(Form::from)
        .collect();
    let after = after.map(|a| a.to_string());
    Ok(Json(page_of(forms, |f| f.id.clone(), after, limit)))
}

/// `POST /api/v1/forms`: a new draft form; the key's user gets a manage grant on it when their role needs one.
pub(crate) async fn create<S: Store>(
    State(state): State<AppState<S>>,
    caller: Caller,
    body: RawBody,
) -> Result<Response, ApiError> {
    caller.require_org(Action::CreateForm)?;
    let new: NewForm = body.json()?;
    let definition = definition(new.questions)?;
    let audit = caller.audit(&state);
    let master = state.masters.current();
    let id =
        create_form(&state.store, master.as_ref(), audit, caller.org(), &new.title, definition, caller.now).await?;
    if !sealform_core::policy::is_org_admin(caller.key.role) {
        // As the console's builder does (DESIGN.md §6): a form manager gets view and manage on what they create.
        let terms = GrantTerms { rights: vec![Right::View, Right::Manage], hide_phi: false, expires_at: None };
        grant_access(&state.store, audit, caller.org(), id, caller.key.user, &terms, None, caller.now).await?;
    }
    let form = state.store.tenant(caller.org()).form(id).await.found()?;
    Ok((StatusCode::CREATED, [(http::header::LOCATION, format!("/api/v1/forms/{id}"))], Json(Form::from(&form)))
        .into_response())
}

/// `GET /api/v1/forms/{form}`.
pub(crate) async fn show<S: Store>(
    State(state): State<AppState<S>>,
    caller: Caller,
    PathParams(raw): PathParams<String>,
) -> Result<Json<Form>, ApiError> {
    let form = org_form(&state, &caller, &raw).await?;
    caller.require_on(Action::ViewForm, form.id)?;
    Ok(Json(Form::from(&form)))
}

/// `PATCH /api/v1/forms/{form}`: a new title or status (publish, unpublish, archive).
pub(crate) async fn update<S: Store>(
    State(state): State<AppState<S>>,
    caller: Caller,
    PathParams(raw): PathParams<String>,
    body: RawBody,
) -> Result<Json<Form>, ApiError> {
    let form = org_form(&state, &caller, &raw).await?;
    caller.require_on(Action::ManageForm, form.id)?;
    let patch: FormPatch = body.json()?;
    if patch.title.is_none() && patch.status.is_none() {
        return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", "give a title or a status to change"));
    }
    let change = FormChange { title: patch.title, definition: None, status: patch.status.map(Into::into) };
    let changed = change_form(&state.store, caller.audit(&state), caller.org(), form.id, change, caller.now).await?;
    Ok(Json(Form::from(&changed)))
}

/// `DELETE /api/v1/forms/{form}`: archives the form (closed and put away). Its submissions stay until deleted one
/// by one: deleting health records is a decision per record, never a side effect.
pub(crate) async fn archive<S: Store>(
    State(state): State<AppState<S>>,
    caller: Caller,
    PathParams(raw): PathParams<String>,
) -> Result<Json<Form>, ApiError> {
    let form = org_form(&state, &caller, &raw).await?;
    caller.require_on(Action::ManageForm, form.id)?;
    let change = FormChange { status: Some(FormStatus::Archived), ..FormChange::default() };
    let changed = change_form(&state.store, caller.audit(&state), caller.org(), form.id, change, caller.now).await?;
    Ok(Json(Form::from(&changed)))
}

/// `GET /api/v1/forms/{form}/questions`.
pub(crate) async fn questions<S: Store>(
    State(state): State<AppState<S>>,
    caller: Caller,
    PathParams(raw): PathParams<String>,
) -> Result<Json<Questions>, ApiError> {
    let form = org_form(&state, &caller, &raw).await?;
    caller.require_on(Action::ViewForm, form.id)?;
    let definition = Definition::from_json(&form.definition)
        .map_err(|_| DomainError::Internal("a stored form version does not parse".into()))?;
    let questions = definition
        .questions
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<_, _>>()
        .map_err(|e| DomainError::Internal(format!("question to JSON: {e}")))?;
    Ok(Json(Questions { version: form.version, questions }))
}

/// `PUT /api/v1/forms/{form}/questions`: replaces the questions, as the form's next version. Submissions keep the
/// version they answered.
pub(crate) async fn replace_questions<S: Store>(
    State(state): State<AppState<S>>,
    caller: Caller,
    PathParams(raw): PathParams<String>,
    body: RawBody,
) -> Result<Json<Questions>, ApiError> {
    let form = org_form(&state, &caller, &raw).await?;
    caller.require_on(Action::ManageForm, form.id)?;
    let sent: Questions = body.json()?;
    let definition = definition(sent.questions)?;
    let change = FormChange { definition: Some(definition), ..FormChange::default() };
    let changed = change_form(&state.store, caller.audit(&state), caller.org(), form.id, change, caller.now).await?;
    let questions = Definition::from_json(&changed.definition)
        .map_err(|_| DomainError::Internal("a stored form version does not parse".into()))?
        .questions
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<_, _>>()
        .map_err(|e| DomainError::Internal(format!("question to JSON: {e}")))?;
    Ok(Json(Questions { version: changed.version, questions }))
}
