//! The native API (`/api/v1`): bearer API keys, JSON, RFC 9457 problems.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, StatusCode};
use sealform_core::DomainError;
use sealform_core::api_keys::{ApiPrincipal, authenticate};
use sealform_core::audit::{Actor, AuditScope};
use sealform_core::ids::FileId;
use sealform_core::policy::{Action, Actor as PolicyActor, Decision, Member, Resource, authorize, hides_phi};
use sealform_core::store::Store;
use serde_json::json;

use crate::AppState;
use crate::problem::ApiError;

/// The key a request carries in `Authorization: Bearer …`, checked.
pub(crate) async fn principal<S: Store>(state: &AppState<S>, headers: &HeaderMap) -> Result<ApiPrincipal, Response> {
    let unauthorized = |detail: &str| {
        let mut response = ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", detail.to_owned()).into_response();
        response.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        response
    };
    let Some(key) = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
    else {
        return Err(unauthorized("send an API key as `Authorization: Bearer <key>`"));
    };
    authenticate(&state.store, state.clock.as_ref(), key.trim()).await.map_err(|err| match err {
        DomainError::Unauthorized(message) => unauthorized(&message),
        other => ApiError::from(other).into_response(),
    })
}

/// `GET /api/v1/files/{id}`: an uploaded file's bytes, for a key the policy lets read the file's form's submissions
/// (the read scope, its form restriction, its user's role and grant; a PHI file not when the grant hides PHI).
/// Audited as `file.read` by the key. Another organisation's file is 404.
pub(crate) async fn file<S: Store>(
    State(state): State<AppState<S>>,
    Path(raw): Path<String>,
    request: axum::extract::Request,
) -> Result<Response, ApiError> {
    let context = crate::auth::request_context(&request);
    let principal = match principal(&state, request.headers()).await {
        Ok(principal) => principal,
        Err(response) => return Ok(response),
    };
    let id: FileId = raw.parse().map_err(|_| ApiError::not_found())?;
    let record =
        state.store.file(principal.org, id).await.map_err(DomainError::from)?.ok_or_else(ApiError::not_found)?;
    let grants = state.store.grants_of_user(principal.org, principal.user).await.map_err(DomainError::from)?;
    let member = Member { org: principal.org, user: principal.user, role: principal.role, grants: &grants };
    let actor = PolicyActor::ApiKey { member, scopes: &principal.scopes, form: principal.form };
    let now = state.clock.now();
    let resource = Resource::Form { org: principal.org, form: record.form_id };
    if let Decision::Deny(reason) = authorize(&actor, Action::ReadSubmissions, resource, now) {
        return Err(crate::console::forbidden(reason));
    }
    if hides_phi(&actor, record.form_id, now)
        && crate::console::inbox::file_is_phi(&state, principal.org, &record).await?
    {
        return Err(crate::console::forbidden("the key's user may not see this form's PHI fields"));
    }
    let scope = AuditScope { actor: Actor::ApiKey(principal.key), context };
    let name = crate::console::inbox::file_name(&state, principal.org, &scope, &record).await?;
    let chunks = sealform_core::files::open_file(&state.objects, &state.keyring, &record).await?;
    crate::console::inbox::file_response(chunks, &name)
}

/// `GET /api/v1/me`: who a key acts for and what it may do.
pub(crate) async fn me<S: Store>(State(state): State<AppState<S>>, headers: HeaderMap) -> Response {
    match principal(&state, &headers).await {
        Ok(p) => Json(json!({
            "key_prefix": p.prefix,
            "org_id": p.org,
            "user_id": p.user,
            "scopes": p.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            "form_id": p.form,
        }))
        .into_response(),
        Err(response) => response,
    }
}
