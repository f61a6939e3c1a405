//! `/form/{id}/questions` and `/form/{id}/question/{qid}`: read, add, edit and delete questions. Every change is a
//! new version of the form (through `sealform_core::forms::change_form`), so submissions keep the version they
//! answered. Properties are Jotform's names (`type`, `text`, `order`, `required`, `description`, `options` joined by
//! `|`) plus Sealform's `phi` and `indexed`; a property Sealform does not model is refused by name.

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use sealform_core::form_model::{Definition, MAX_QUESTIONS, Question, QuestionType};
use sealform_core::forms::change_form;
use sealform_core::policy::Action;
use sealform_core::store::Store;
use sealform_core::submission::{FormChange, FormRecord};
use serde_json::{Map, Value, json};

use super::{Answer, Caller, Content, Failure, audit_ctx, body, shapes};
use crate::AppState;

/// Properties a question may be given.
const WRITABLE: &[&str] = &["type", "text", "order", "required", "description", "options", "phi", "indexed"];
/// Properties that are computed; accepted only when they repeat the current value (a client writing back what it
/// read).
const COMPUTED: &[&str] = &["qid", "name", "sublabels"];

/// The form's current definition.
pub(crate) fn definition(record: &FormRecord) -> Result<Definition, Failure> {
    Definition::from_json(&record.definition)
        .map_err(|_| Failure::from(sealform_core::DomainError::Internal("a stored form version does not parse".into())))
}

fn flag(value: &Value, key: &str) -> Result<bool, Failure> {
    match body::text(value).as_deref().map(str::trim) {
        Some("Yes" | "yes" | "1" | "true") => Ok(true),
        Some("No" | "no" | "0" | "false" | "") => Ok(false),
        _ => Err(Failure::bad_request(format!("the question property `{key}` is Yes or No"))),
    }
}

/// Applies Jotform properties to `q`; returns the requested 1-based position when `order` was given.
pub(crate) fn apply(q: &mut Question, props: &Map<String, Value>) -> Result<Option<usize>, Failure> {
    let mut order = None;
    let text = |key: &str, value: &Value| {
        body::text(value).ok_or_else(|| Failure::bad_request(format!("the question property `{key}` is text")))
    };
    for (key, value) in props {
        match key.as_str() {
            "type" => {
                let name = text(key, value)?;
                q.kind = QuestionType::parse(name.trim()).ok_or_else(|| {
                    Failure::bad_request(
                        "Sealform supports the question types control_head, control_text, \
                     control_textbox, control_textarea, control_email, control_phone, control_number, \
                     control_datetime, control_dropdown, control_radio, control_checkbox, control_fullname, \
                     control_address, control_fileupload, control_signature, control_scale, control_pagebreak \
                     and control_button",
                    )
                })?;
            }
            "text" => q.text = text(key, value)?,
            "description" => q.help = text(key, value)?,
            "order" => {
                let position = text(key, value)?.trim().parse::<usize>().ok().filter(|p| *p >= 1);
                order = Some(
                    position.ok_or_else(|| Failure::bad_request("the question property `order` is a number from 1"))?,
                );
            }
            "required" => q.required = flag(value, key)?,
            "phi" => q.phi = flag(value, key)?,
            "indexed" => q.indexed = flag(value, key)?,
            "options" => {
                q.options = match value {
                    Value::Array(items) => items.iter().filter_map(body::text).collect(),
                    other => {
                        text(key, other)?.split('|').map(|o| o.trim().to_owned()).filter(|o| !o.is_empty()).collect()
                    }
                };
            }
            "qid" if body::text(value).is_some_and(|v| v.trim() == q.qid) => {}
            "name" if body::text(value).is_some_and(|v| v.trim() == shapes::question_name(q)) => {}
            "sublabels" => {}
            _ if COMPUTED.contains(&key.as_str()) => {
                return Err(Failure::bad_request(format!(
                    "the question property `{key}` is computed by Sealform and cannot be set"
                )));
            }
            _ => {
                let shown: String = key.chars().filter(char::is_ascii_alphanumeric).take(40).collect();
                return Err(Failure::bad_request(format!(
                    "Sealform does not support the question property `{shown}`; supported: {}",
                    WRITABLE.join(", ")
                )));
            }
        }
    }
    Ok(order)
}

/// A new question with the next qid, from Jotform properties (`type` and `text` needed).
pub(crate) fn new_question(
    definition: &Definition,
    props: &Map<String, Value>,
) -> Result<(Question, Option<usize>), Failure> {
    if !props.contains_key("type") {
        return Err(Failure::bad_request("a new question needs a `type`"));
    }
    let mut q = Question::new(definition.next_qid(), QuestionType::Textbox, "");
    let order = apply(&mut q, props)?;
    Ok((q, order))
}

/// Inserts `q` at 1-based `order` (the end when absent or beyond it).
pub(crate) fn place(definition: &mut Definition, q: Question, order: Option<usize>) {
    let at = order.map_or(definition.questions.len(), |o| (o - 1).min(definition.questions.len()));
    definition.questions.insert(at, q);
}

/// Stores `definition` as the form's next version, audited as the key's `form.update`.
pub(crate) async fn save<S: Store>(
    state: &AppState<S>,
    caller: &Caller,
    record: &FormRecord,
    definition: &Definition,
) -> Result<FormRecord, Failure> {
    let scope = caller.scope();
    let change = FormChange { definition: Some(definition.to_json()), ..FormChange::default() };
    Ok(change_form(&state.store, audit_ctx(state, &scope), caller.principal.org, record.id, change, state.clock.now())
        .await?)
}

/// The questions of a body: an object keyed by anything (`{"1": {...}}`) or a list of property objects.
pub(crate) fn question_list(value: &Value) -> Result<Vec<&Map<String, Value>>, Failure> {
    let not_objects = || Failure::bad_request("questions are objects of question properties");
    // Refused before any is read: each new question looks at those before it, so a long list costs its square.
    let count = match value {
        Value::Object(map) => map.len(),
        Value::Array(items) => items.len(),
        _ => 0,
    };
    if count > MAX_QUESTIONS {
        return Err(Failure::bad_request(format!("a form may have at most {MAX_QUESTIONS} questions")));
    }
    match value {
        Value::Object(map) => map.values().map(|v| v.as_object().ok_or_else(not_objects)).collect(),
        Value::Array(items) => items.iter().map(|v| v.as_object().ok_or_else(not_objects)).collect(),
        _ => Err(not_objects()),
    }
}

/// `GET /form/{id}/questions`.
pub(crate) async fn list<S: Store>(
    State(state): State<AppState<S>>,
    Extension(caller): Extension<Arc<Caller>>,
    Path(form): Path<String>,
) -> Answer {
    let record = caller.form(&state, &form).await?;
    caller.require_on(Action::ViewForm, record.id, state.clock.now())?;
    Ok(Content::of(shapes::questions(&definition(&record)?)))
}

/// `GET /form/{id}/question/{qid}`.
pub(crate) async fn one<S: Store>(
    State(state): State<AppState<S>>,
    Extension(caller): Extension<Arc<Caller>>,
    Path((form, qid)): Path<(String, String)>,
) -> Answer {
    let record = caller.form(&state, &form).await?;
    caller.require_on(Action::ViewForm, record.id, state.clock.now())?;
    let definition = definition(&record)?;
    let position =
        definition.questions.iter().position(|q| q.qid == qid).ok_or_else(|| Failure::not_found("question"))?;
    Ok(Content::of(shapes::question(&definition.questions[position], position)))
}

/// Picks the question property objects out of a request body.
type PickQuestions = fn(&Value) -> Result<Vec<&Map<String, Value>>, Failure>;

/// Adds the questions `bodies` picks out of the body (after the form is found and the key may manage it, so a
/// malformed body never tells another organisation's key more than 404).
async fn add<S: Store>(
    state: &AppState<S>,
    caller: &Caller,
    form: &str,
    value: &Value,
    bodies: PickQuestions,
) -> Answer {
    let record = caller.form(state, form).await?;
    caller.require_on(Action::ManageForm, record.id, state.clock.now())?;
    let bodies = bodies(value)?;
    if bodies.is_empty() {
        return Err(Failure::bad_request("give at least one question"));
    }
    let mut definition = definition(&record)?;
    let mut added = Vec::new();
    for props in bodies {
        let (q, order) = new_question(&definition, props)?;
        added.push(q.qid.clone());
        place(&mut definition, q, order);
    }
    save(state, caller, &record, &definition).await?;
    let shown: Map<String, Value> = definition
        .questions
        .iter()
        .enumerate()
        .filter(|(_, q)| added.contains(&q.qid))
        .map(|(i, q)| (q.qid.clone(), shapes::question(q, i)))
        .collect();
    Ok(Content::of(if shown.len() == 1 {
        shown.into_iter().next().map(|(_, v)| v).unwrap_or_default()
    } else {
        Value::Object(shown)
    }))
}

/// `POST /form/{id}/questions`: one question from `question[type]`, `question[text]`, ….
pub(crate) async fn add_posted<S: Store>(
    State(state): State<AppState<S>>,
    Extension(caller): Extension<Arc<Caller>>,
    Path(form): Path<String>,
    bytes: Bytes,
) -> Answer {
    let value = body::form(&bytes)?;
    add(&state, &caller, &form, &value, |value| {
        let props = value
            .get("question")
            .and_then(Value::as_object)
            .ok_or_else(|| Failure::bad_request("send the question as question[type], question[text], …"))?;
        Ok(vec![props])
    })
    .await
}

/// `PUT /form/{id}/questions`: several questions as JSON (`{"questions": {"1": {...}}}`).
pub(crate) async fn add_put<S: Store>(
    State(state): State<AppState<S>>,
    Extension(caller): Extension<Arc<Caller>>,
    Path(form): Path<String>,
    bytes: Bytes,
) -> Answer {
    let value = body::json(&bytes)?;
    add(&state, &caller, &form, &value, |value| question_list(value.get("questions").unwrap_or(value))).await
}

/// `POST /form/{id}/question/{qid}`: changes a question's properties.
pub(crate) async fn edit<S: Store>(
    State(state): State<AppState<S>>,
    Extension(caller): Extension<Arc<Caller>>,
    Path((form, qid)): Path<(String, String)>,
    bytes: Bytes,
) -> Answer {
    let record = caller.form(&state, &form).await?;
    caller.require_on(Action::ManageForm, record.id, state.clock.now())?;
    let value = body::form(&bytes)?;
    let props = value
        .get("question")
        .and_then(Value::as_object)
        .ok_or_else(|| Failure::bad_request("send the changes as question[text], …"))?;
    let mut definition = definition(&record)?;
    let position =
        definition.questions.iter().position(|q| q.qid == qid).ok_or_else(|| Failure::not_found("question"))?;
    let mut q = definition.questions.remove(position);
    let order = apply(&mut q, props)?;
    place(&mut definition, q, order.or(Some(position + 1)));
    save(&state, &caller, &record, &definition).await?;
    let position = definition.questions.iter().position(|q| q.qid == qid).unwrap_or_default();
    Ok(Content::of(shapes::question(&definition.questions[position], position)))
}

/// `DELETE /form/{id}/question/{qid}`.
pub(crate) async fn remove<S: Store>(
    State(state): State<AppState<S>>,
    Extension(caller): Extension<Arc<Caller>>,
    Path((form, qid)): Path<(String, String)>,
) -> Answer {
    let record = caller.form(&state, &form).await?;
    caller.require_on(Action::ManageForm, record.id, state.clock.now())?;
    let mut definition = definition(&record)?;
    let before = definition.questions.len();
    definition.questions.retain(|q| q.qid != qid);
    if definition.questions.len() == before {
        return Err(Failure::not_found("question"));
    }
    save(&state, &caller, &record, &definition).await?;
    Ok(Content::of(json!(format!("question {qid} deleted"))))
}
