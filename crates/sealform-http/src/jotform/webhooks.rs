//! `/form/{id}/webhooks`: webhook URLs stored and listed as Jotform shows them (`{"0": "https://…"}`); delivery
//! comes with the webhook outbox. Managing them needs the form's manage right.

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use sealform_core::form_settings::{add_webhook, delete_webhook};
use sealform_core::policy::Action;
use sealform_core::store::Store;
use sealform_core::submission::FormRecord;
use serde_json::{Map, Value, json};

use super::{Answer, Caller, Content, Failure, audit_ctx, body};
use crate::AppState;

async fn listed<S: Store>(state: &AppState<S>, record: &FormRecord) -> Result<Value, Failure> {
    let hooks = state.store.tenant(record.org_id).webhooks_of(record.id).await?;
    let map: Map<String, Value> = hooks.into_iter().map(|h| (h.id.to_string(), json!(h.url))).collect();
    Ok(Value::Object(map))
}

/// `GET /form/{id}/webhooks`.
pub(crate) async fn list<S: Store>(
    State(state): State<AppState<S>>,
    Extension(caller): Extension<Arc<Caller>>,
    Path(form): Path<String>,
) -> Answer {
    let record = caller.form(&state, &form).await?;
    caller.require_on(Action::ManageForm, record.id, state.clock.now())?;
    Ok(Content::of(listed(&state, &record).await?))
}

/// `POST /form/{id}/webhooks` with `webhookURL`: answers with all the form's webhooks.
pub(crate) async fn add<S: Store>(
    State(state): State<AppState<S>>,
    Extension(caller): Extension<Arc<Caller>>,
    Path(form): Path<String>,
    bytes: Bytes,
) -> Answer {
    let value = body::form(&bytes)?;
    let url = value.get("webhookURL").and_then(body::text).ok_or_else(|| Failure::bad_request("send webhookURL"))?;
    let record = caller.form(&state, &form).await?;
    let now = state.clock.now();
    caller.require_on(Action::ManageForm, record.id, now)?;
    let scope = caller.scope();
    add_webhook(&state.store, audit_ctx(&state, &scope), caller.principal.org, record.id, &url, now).await?;
    Ok(Content::of(listed(&state, &record).await?))
}

/// `DELETE /form/{id}/webhooks/{webhook}`: answers with the webhooks left.
pub(crate) async fn remove<S: Store>(
    State(state): State<AppState<S>>,
    Extension(caller): Extension<Arc<Caller>>,
    Path((form, webhook)): Path<(String, String)>,
) -> Answer {
    let record = caller.form(&state, &form).await?;
    let now = state.clock.now();
    caller.require_on(Action::ManageForm, record.id, now)?;
    let id: i64 = webhook.trim().parse().map_err(|_| Failure::bad_request("the webhook id is a number"))?;
    let scope = caller.scope();
    delete_webhook(&state.store, audit_ctx(&state, &scope), caller.principal.org, record.id, id, now).await?;
    Ok(Content::of(listed(&state, &record).await?))
}
