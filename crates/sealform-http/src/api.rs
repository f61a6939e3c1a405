//! The native API (`/api/v1`): bearer API keys, JSON, RFC 9457 problems.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, StatusCode};
use sealform_core::api_keys::{ApiPrincipal, authenticate};
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
        sealform_core::DomainError::Unauthorized(message) => unauthorized(&message),
        other => ApiError::from(other).into_response(),
    })
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
