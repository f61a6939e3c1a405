//! The native API (`/api/v1`): bearer API keys, JSON, RFC 9457 problems.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, StatusCode};
use sealform_core::DomainError;
use sealform_core::api_keys::{ApiPrincipal, Scope, authenticate};
use sealform_core::audit::{Actor, AuditScope};
use sealform_core::ids::FileId;
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

/// `GET /api/v1/files/{id}`: an uploaded file's bytes, for a key with the read scope whose user may read
/// submissions and whose form restriction (if any) covers the file's form. Audited as `file.read` by the key.
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
    if !principal.scopes.contains(&Scope::Read) {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "forbidden", "this key lacks the read scope"));
    }
    let id: FileId = raw.parse().map_err(|_| ApiError::not_found())?;
    let record =
        state.store.file(principal.org, id).await.map_err(DomainError::from)?.ok_or_else(ApiError::not_found)?;
    if principal.form.is_some_and(|form| form != record.form_id) {
        return Err(ApiError::not_found());
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
