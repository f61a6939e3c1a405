//! Forms: list (`/user/forms`), create (`POST`/`PUT /user/forms`, `POST /form`), read, delete (archive), clone, and
//! properties. Forms created here are published at once, as on Jotform; their `url` is the public fill page.

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use sealform_core::form_settings::set_properties;
use sealform_core::forms::{change_form, create_form, duplicate_form};
use sealform_core::grants::{GrantTerms, Right, grant_access};
use sealform_core::ids::FormId;
use sealform_core::policy::{Action, Resource, is_org_admin};
use sealform_core::store::Store;
use sealform_core::submission::{FormChange, FormRecord, FormStatus, SubmissionQuery, SubmissionStatus};
use serde_json::{Map, Value, json};

use super::list::{Direction, ListParams, RawList};
use super::shapes::{self, FormCounts};
use super::{Answer, Caller, Content, Failure, audit_ctx, body, questions};
use crate::AppState;

/// What a form's `username` shows: the key user's login (Jotform's account name).
pub(crate) async fn username<S: Store>(state: &AppState<S>, caller: &Caller) -> Result<String, Failure> {
    let user = state.store.user_by_id(caller.principal.user).await?;
    Ok(user.map(|u| u.email.as_str().to_owned()).unwrap_or_default())
}

/// The submission counts a form shows (metadata only).
pub(crate) async fn counts<S: Store>(state: &AppState<S>, record: &FormRecord) -> Result<FormCounts, Failure> {
    let org = record.org_id;
    let tenant = state.store.tenant(org);
    let count = tenant.count_submissions(record.id).await?;
    let latest = tenant.submissions(SubmissionQuery::all(org, record.id, 1)).await?;
    let mut new = SubmissionQuery::all(org, record.id, 10_000);
    new.status = Some(SubmissionStatus::New);
    let new = tenant.submissions(new).await?.len() as u64;
    Ok(FormCounts { count, new, last_submission: latest.first().map(|s| super::envelope::date(s.created_at)) })
}

/// A form as Jotform shows it.
pub(crate) async fn form_json<S: Store>(
    state: &AppState<S>,
    caller: &Caller,
    record: &FormRecord,
) -> Result<Value, Failure> {
    let counts = if caller.can_on(Action::ReadSubmissions, record.id, state.clock.now()) {
        counts(state, record).await?
    } else {
        FormCounts::default()
    };
    Ok(shapes::form(&state.public_url, &username(state, caller).await?, record, &counts))
}

/// `GET /user/forms`: the forms the key may see, filtered, ordered and paged.
pub(crate) async fn list<S: Store>(
    State(state): State<AppState<S>>,
    Extension(caller): Extension<Arc<Caller>>,
    Query(raw): Query<RawList>,
) -> Answer {
    let params = ListParams::parse(raw, &["created_at", "updated_at", "title", "id"])?;
    let now = state.clock.now();
    caller.require(Action::ListForms, Resource::Org(caller.principal.org), now)?;
    if params.filter.full_text.is_some() {
        return Err(Failure::bad_request("fullText filters submissions, not forms"));
    }
    let mut forms: Vec<FormRecord> = state
        .store
        .tenant(caller.principal.org)
        .forms_of()
        .await?
        .into_iter()
        .filter(|f| caller.can_on(Action::ViewForm, f.id, now))
        .filter(|f| params.filter.status_passes(shapes::form_status(f.status)))
        .filter(|f| params.filter.created_passes(f.created_at))
        .filter(|f| params.filter.id_after.as_deref().is_none_or(|after| f.id.to_string().as_str() > after))
        .filter(|f| params.filter.form_ids.as_ref().is_none_or(|ids| ids.contains(&f.id.to_string())))
        .collect();
    forms.sort_by(|a, b| match params.orderby.as_str() {
        "updated_at" => a.updated_at.cmp(&b.updated_at),
        "title" => a.title.to_lowercase().cmp(&b.title.to_lowercase()),
        "id" => a.id.cmp(&b.id),
        _ => a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)),
    });
    if params.direction == Direction::Desc {
        forms.reverse();
    }
    let mut items = Vec::new();
    for record in params.page(forms) {
        items.push(form_json(&state, &caller, &record).await?);
    }
    Ok(Content::page(items, params.offset, params.limit))
}

/// `GET /form/{id}`.
pub(crate) async fn one<S: Store>(
    State(state): State<AppState<S>>,
    Extension(caller): Extension<Arc<Caller>>,
    Path(form): Path<String>,
) -> Answer {
    let record = caller.form(&state, &form).await?;
    caller.require_on(Action::ViewForm, record.id, state.clock.now())?;
    Ok(Content::of(form_json(&state, &caller, &record).await?))
}

/// `DELETE /form/{id}`: the form is archived (Jotform's `DELETED`): its page closes, its submissions stay.
pub(crate) async fn remove<S: Store>(
    State(state): State<AppState<S>>,
    Extension(caller): Extension<Arc<Caller>>,
    Path(form): Path<String>,
) -> Answer {
    let record = caller.form(&state, &form).await?;
    caller.require_on(Action::ManageForm, record.id, state.clock.now())?;
    let scope = caller.scope();
    let change = FormChange { status: Some(FormStatus::Archived), ..FormChange::default() };
    let changed = change_form(
        &state.store,
        audit_ctx(&state, &scope),
        caller.principal.org,
        record.id,
        change,
        state.clock.now(),
    )
    .await?;
    Ok(Content::of(form_json(&state, &caller, &changed).await?))
}

/// Gives a form's creator a grant on it (admins and owners need none), as the console's builder does.
async fn grant_creator<S: Store>(state: &AppState<S>, caller: &Caller, form: FormId) -> Result<(), Failure> {
    if is_org_admin(caller.principal.role) {
        return Ok(());
    }
    let scope = caller.scope();
    let terms = GrantTerms { rights: vec![Right::View, Right::Manage], hide_phi: false, expires_at: None };
    let p = &caller.principal;
    grant_access(&state.store, audit_ctx(state, &scope), p.org, form, p.user, &terms, None, state.clock.now()).await?;
    Ok(())
}

/// Creates one form from Jotform's `{questions, properties, emails}`, published at once.
async fn create_one<S: Store>(state: &AppState<S>, caller: &Caller, spec: &Value) -> Result<Value, Failure> {
    let spec =
        spec.as_object().ok_or_else(|| Failure::bad_request("a form is an object of questions and properties"))?;
    if let Some(key) = spec.keys().find(|k| !["questions", "properties", "emails"].contains(&k.as_str())) {
        let shown: String = key.chars().filter(char::is_ascii_alphanumeric).take(40).collect();
        return Err(Failure::bad_request(format!("a form has questions, properties and emails, not `{shown}`")));
    }
    if spec
        .get("emails")
        .is_some_and(|e| e.as_object().is_some_and(|m| !m.is_empty()) || e.as_array().is_some_and(|a| !a.is_empty()))
    {
        return Err(Failure::bad_request(
            "Sealform does not send notification e-mails with answers (they would carry PHI); leave emails out",
        ));
    }
    let empty = Map::new();
    let properties = match spec.get("properties") {
        None => &empty,
        Some(p) => p.as_object().ok_or_else(|| Failure::bad_request("properties is an object"))?,
    };
    let mut definition = sealform_core::form_model::Definition::default();
    if let Some(list) = spec.get("questions") {
        let mut ordered: Vec<(Option<usize>, sealform_core::form_model::Question)> = Vec::new();
        for props in questions::question_list(list)? {
            let (q, order) = questions::new_question(&definition, props)?;
            definition.questions.push(q.clone());
            ordered.push((order, q));
        }
        // Jotform numbers positions with `order`; questions without one keep their place after those with one.
        ordered.sort_by_key(|(order, _)| order.unwrap_or(usize::MAX));
        definition.questions = ordered.into_iter().map(|(_, q)| q).collect();
    }
    let (title, stored) = split_properties(properties)?;
    let status = stored.iter().find(|(k, _)| k == "status").map(|(_, v)| v.clone());
    let stored: Vec<(String, String)> = stored.into_iter().filter(|(k, _)| k != "status").collect();
    for (key, value) in &stored {
        sealform_core::form_settings::check_property(key, value)?;
    }
    caller.require(Action::CreateForm, Resource::Org(caller.principal.org), state.clock.now())?;
    let scope = caller.scope();
    let audit = audit_ctx(state, &scope);
    let now = state.clock.now();
    let master = state.keyring.masters().current();
    let title = title.unwrap_or_else(|| "Untitled form".to_owned());
    let org = caller.principal.org;
    let id = create_form(&state.store, master.as_ref(), audit, org, &title, definition.to_json(), now).await?;
    grant_creator(state, caller, id).await?;
    let status = parse_status(status.as_deref().unwrap_or("ENABLED"))?;
    let record =
        change_form(&state.store, audit, org, id, FormChange { status: Some(status), ..FormChange::default() }, now)
            .await?;
    set_properties(&state.store, audit, org, id, stored, now).await?;
    form_json(state, caller, &record).await
}

/// Jotform's `ENABLED`/`DISABLED` as a form status.
fn parse_status(text: &str) -> Result<FormStatus, Failure> {
    match text.trim().to_ascii_uppercase().as_str() {
        "ENABLED" => Ok(FormStatus::Published),
        "DISABLED" => Ok(FormStatus::Unpublished),
        _ => Err(Failure::bad_request("a form's status is ENABLED or DISABLED (delete a form to archive it)")),
    }
}

/// A form's title, if given, and its other properties as text.
type SplitProperties = (Option<String>, Vec<(String, String)>);

/// Splits properties into the title and the rest (as text).
fn split_properties(properties: &Map<String, Value>) -> Result<SplitProperties, Failure> {
    let mut title = None;
    let mut rest = Vec::new();
    for (key, value) in properties {
        let value = body::text(value).ok_or_else(|| Failure::bad_request("form property values are text"))?;
        if key == "title" {
            title = Some(value);
        } else {
            rest.push((key.clone(), value));
        }
    }
    Ok((title, rest))
}

/// `POST /user/forms` and `POST /form`: one form, form-encoded (`questions[1][type]=…`, `properties[title]=…`).
pub(crate) async fn create_posted<S: Store>(
    State(state): State<AppState<S>>,
    Extension(caller): Extension<Arc<Caller>>,
    bytes: Bytes,
) -> Answer {
    let spec = body::form(&bytes)?;
    Ok(Content::of(create_one(&state, &caller, &spec).await?))
}

/// `PUT /user/forms`: one form as JSON, or a list of them (answered with a list).
pub(crate) async fn create_put<S: Store>(
    State(state): State<AppState<S>>,
    Extension(caller): Extension<Arc<Caller>>,
    bytes: Bytes,
) -> Answer {
    let spec = body::json(&bytes)?;
    match &spec {
        Value::Array(specs) => {
            if specs.is_empty() || specs.len() > 100 {
                return Err(Failure::bad_request("send 1 to 100 forms"));
            }
            let mut created = Vec::new();
            for spec in specs {
                created.push(create_one(&state, &caller, spec).await?);
            }
            Ok(Content::of(Value::Array(created)))
        }
        _ => Ok(Content::of(create_one(&state, &caller, &spec).await?)),
    }
}

/// `POST /form/{id}/clone`: a copy of the form's current version, published.
pub(crate) async fn clone<S: Store>(
    State(state): State<AppState<S>>,
    Extension(caller): Extension<Arc<Caller>>,
    Path(form): Path<String>,
) -> Answer {
    let record = caller.form(&state, &form).await?;
    let now = state.clock.now();
    caller.require_on(Action::ViewForm, record.id, now)?;
    caller.require(Action::CreateForm, Resource::Org(caller.principal.org), now)?;
    let scope = caller.scope();
    let audit = audit_ctx(&state, &scope);
    let master = state.keyring.masters().current();
    let org = caller.principal.org;
    let id = duplicate_form(&state.store, master.as_ref(), audit, org, record.id, now).await?;
    grant_creator(&state, &caller, id).await?;
    let publish = FormChange { status: Some(FormStatus::Published), ..FormChange::default() };
    let copy = change_form(&state.store, audit, org, id, publish, now).await?;
    Ok(Content::of(form_json(&state, &caller, &copy).await?))
}

/// The properties object: Sealform's own (id, title, status, dates, url, height) and the stored ones.
async fn properties_json<S: Store>(state: &AppState<S>, record: &FormRecord) -> Result<Map<String, Value>, Failure> {
    let mut object = Map::new();
    object.insert("id".into(), json!(record.id.to_string()));
    object.insert("title".into(), json!(record.title));
    object.insert("status".into(), json!(shapes::form_status(record.status)));
    object.insert("created_at".into(), json!(super::envelope::date(record.created_at)));
    object.insert("updated_at".into(), json!(super::envelope::date(record.updated_at)));
    object.insert("url".into(), json!(format!("{}/f/{}", state.public_url, record.id)));
    object.insert("height".into(), json!("539"));
    for (key, value) in state.store.tenant(record.org_id).form_properties(record.id).await? {
        object.insert(key, json!(value));
    }
    Ok(object)
}

/// `GET /form/{id}/properties`.
pub(crate) async fn properties<S: Store>(
    State(state): State<AppState<S>>,
    Extension(caller): Extension<Arc<Caller>>,
    Path(form): Path<String>,
) -> Answer {
    let record = caller.form(&state, &form).await?;
    caller.require_on(Action::ViewForm, record.id, state.clock.now())?;
    Ok(Content::of(Value::Object(properties_json(&state, &record).await?)))
}

/// `GET /form/{id}/properties/{key}`: `{key: value}`.
pub(crate) async fn property<S: Store>(
    State(state): State<AppState<S>>,
    Extension(caller): Extension<Arc<Caller>>,
    Path((form, key)): Path<(String, String)>,
) -> Answer {
    let record = caller.form(&state, &form).await?;
    caller.require_on(Action::ViewForm, record.id, state.clock.now())?;
    let all = properties_json(&state, &record).await?;
    let value = all.get(&key).cloned().ok_or_else(|| Failure::not_found("property"))?;
    let mut object = Map::new();
    object.insert(key, value);
    Ok(Content::of(Value::Object(object)))
}

async fn set<S: Store>(state: &AppState<S>, caller: &Caller, form: &str, properties: &Map<String, Value>) -> Answer {
    let record = caller.form(state, form).await?;
    let now = state.clock.now();
    caller.require_on(Action::ManageForm, record.id, now)?;
    let (title, rest) = split_properties(properties)?;
    let status = rest.iter().find(|(k, _)| k == "status").map(|(_, v)| parse_status(v)).transpose()?;
    let stored: Vec<(String, String)> = rest.into_iter().filter(|(k, _)| k != "status").collect();
    for (key, value) in &stored {
        sealform_core::form_settings::check_property(key, value)?;
    }
    let scope = caller.scope();
    let audit = audit_ctx(state, &scope);
    let org = caller.principal.org;
    let mut record = record;
    if title.is_some() || status.is_some() {
        let change = FormChange { title, status, ..FormChange::default() };
        record = change_form(&state.store, audit, org, record.id, change, now).await?;
    }
    set_properties(&state.store, audit, org, record.id, stored, now).await?;
    Ok(Content::of(Value::Object(properties_json(state, &record).await?)))
}

/// `POST /form/{id}/properties`: `properties[key]=value`.
pub(crate) async fn set_properties_posted<S: Store>(
    State(state): State<AppState<S>>,
    Extension(caller): Extension<Arc<Caller>>,
    Path(form): Path<String>,
    bytes: Bytes,
) -> Answer {
    let value = body::form(&bytes)?;
    let properties = value
        .get("properties")
        .and_then(Value::as_object)
        .ok_or_else(|| Failure::bad_request("send properties[key]=value"))?;
    set(&state, &caller, &form, properties).await
}

/// `PUT /form/{id}/properties`: `{"properties": {...}}` as JSON.
pub(crate) async fn set_properties_put<S: Store>(
    State(state): State<AppState<S>>,
    Extension(caller): Extension<Arc<Caller>>,
    Path(form): Path<String>,
    bytes: Bytes,
) -> Answer {
    let value = body::json(&bytes)?;
    let properties = value
        .get("properties")
        .unwrap_or(&value)
        .as_object()
        .ok_or_else(|| Failure::bad_request("properties is a JSON object"))?;
    set(&state, &caller, &form, properties).await
}
