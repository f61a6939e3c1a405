//! Passkeys and security keys (WebAuthn): adding and removing them on `/console/mfa`, and using one at the second
//! step of a sign-in. `static/webauthn.js` talks JSON to these routes; each request is same-origin and carries the
//! session's CSRF token in the `x-csrf-token` header. The ceremonies' checks are in sealform-core and
//! sealform-crypto.

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Json, Redirect, Response};
use axum::routing::{get, post};
use http::StatusCode;
use http::header::SET_COOKIE;
use sealform_core::DomainError;
use sealform_core::audit::{AuditCtx, AuditScope};
use sealform_core::sessions::SessionRecord;
use sealform_core::store::Store;
use sealform_core::webauthn as passkeys;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::{SESSION_COOKIE, csrf_matches, request_context, same_origin, set_cookie, user_scope};
use crate::problem::ApiError;

use super::*;

with_csrf!(RemoveForm);

/// The routes of this module.
pub(crate) fn routes<S: Store>() -> crate::app::Routes<S> {
    crate::app::Routes::new()
        .route("/static/webauthn.js", get(script))
        .route("/console/mfa/webauthn/register/options", post(register_options::<S>))
        .route("/console/mfa/webauthn/register", post(register::<S>))
        .route("/console/mfa/webauthn/remove", post(remove::<S>))
        .route("/login/mfa/webauthn/options", post(login_options::<S>))
        .route("/login/mfa/webauthn", post(login::<S>))
}

/// `GET /static/webauthn.js`.
async fn script() -> Response {
    crate::pages::static_asset("text/javascript; charset=utf-8", include_str!("../../static/webauthn.js"))
}

/// Largest JSON body these routes read (a credential is a few kilobytes at most).
const JSON_LIMIT: usize = 64 * 1024;

/// Which session a JSON call needs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Caller {
    /// Signed in (also one that must enrol MFA), not one that must change its password.
    SignedIn,
    /// Waiting for its second factor.
    Pending,
}

/// A JSON call in a session: same-origin, the right kind of session, the CSRF header checked, the body parsed.
async fn json_call<S: Store>(
    state: &AppState<S>,
    request: Request,
    caller: Caller,
) -> Result<(SessionRecord, AuditScope, Value), ApiError> {
    same_origin(request.headers())?;
    let session = any_session(state, request.headers()).await?.filter(|s| match caller {
        Caller::SignedIn => !s.mfa_pending && !s.must_change_password,
        Caller::Pending => s.mfa_pending,
    });
    let session = session.ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "sign in first"))?;
    let token = request.headers().get("x-csrf-token").and_then(|v| v.to_str().ok()).unwrap_or_default();
    csrf_matches(&session.csrf_token, token)?;
    let scope = user_scope(&session, request_context(&request));
    let body = axum::body::to_bytes(request.into_body(), JSON_LIMIT)
        .await
        .map_err(|_| ApiError::bad_request("the request is too large"))?;
    let value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body).map_err(|_| ApiError::bad_request("the request is not JSON"))?
    };
    Ok((session, scope, value))
}

/// `POST /console/mfa/webauthn/register/options`: the options for `navigator.credentials.create`.
async fn register_options<S: Store>(State(state): State<AppState<S>>, request: Request) -> Result<Response, ApiError> {
    let (session, _, _) = json_call(&state, request, Caller::SignedIn).await?;
    let rp = passkeys::relying_party(&state.public_url)?;
    let options = passkeys::registration_options(&state.store, state.clock.as_ref(), &rp, &session).await?;
    Ok(Json(options).into_response())
}

/// `POST /console/mfa/webauthn/register`: `{ "name": …, "credential": PublicKeyCredential JSON }`.
async fn register<S: Store>(State(state): State<AppState<S>>, request: Request) -> Result<Response, ApiError> {
    let (session, scope, body) = json_call(&state, request, Caller::SignedIn).await?;
    let rp = passkeys::relying_party(&state.public_url)?;
    let audit = AuditCtx { auditor: &state.auditor, scope: &scope };
    let name = body.get("name").and_then(Value::as_str).unwrap_or_default();
    let credential = body.get("credential").unwrap_or(&Value::Null);
    match passkeys::register(&state.store, state.clock.as_ref(), &rp, audit, &session, name, credential).await {
        Ok(added) => Ok(Json(json!({ "ok": true, "name": added.name })).into_response()),
        Err(DomainError::Invalid(message)) => Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message)),
        Err(other) => Err(other.into()),
    }
}

#[derive(Deserialize)]
pub(crate) struct RemoveForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    id: String,
}

/// `POST /console/mfa/webauthn/remove`: removes one of the user's own passkeys (a plain form; fully signed in).
async fn remove<S: Store>(State(state): State<AppState<S>>, request: Request) -> Result<Response, ApiError> {
    let (session, scope, form) = match posted::<S, RemoveForm>(&state, request, Gate::Open).await? {
        Ok(parts) => parts,
        Err(redirect) => return Ok(redirect),
    };
    // Taking a factor away asks for the password again, as the other sensitive actions do.
    if !session.recently_reauthenticated(state.clock.now()) {
        return Ok(to_reauth("/console/mfa"));
    }
    let id = uuid::Uuid::parse_str(form.id.trim()).map_err(|_| ApiError::not_found())?;
    let audit = AuditCtx { auditor: &state.auditor, scope: &scope };
    if !passkeys::remove(&state.store, state.clock.as_ref(), audit, &session, id).await? {
        return Err(ApiError::not_found());
    }
    Ok(Redirect::to("/console/mfa").into_response())
}

/// `POST /login/mfa/webauthn/options`: the options for `navigator.credentials.get` at the second step.
async fn login_options<S: Store>(State(state): State<AppState<S>>, request: Request) -> Result<Response, ApiError> {
    let (pending, _, _) = json_call(&state, request, Caller::Pending).await?;
    let rp = passkeys::relying_party(&state.public_url)?;
    let options = passkeys::authentication_options(&state.store, state.clock.as_ref(), &rp, &pending).await?;
    Ok(Json(options).into_response())
}

/// `POST /login/mfa/webauthn`: `{ "credential": PublicKeyCredential JSON }`. On success the session cookie of the
/// full session is set and the answer names where to go.
async fn login<S: Store>(State(state): State<AppState<S>>, request: Request) -> Result<Response, ApiError> {
    let (pending, scope, body) = json_call(&state, request, Caller::Pending).await?;
    let rp = passkeys::relying_party(&state.public_url)?;
    let audit = AuditCtx { auditor: &state.auditor, scope: &scope };
    let credential = body.get("credential").unwrap_or(&Value::Null);
    let done =
        passkeys::complete_login(&state.store, state.clock.as_ref(), &state.policy, &rp, audit, &pending, credential)
            .await?;
    match done {
        Some((token, session)) => {
            let max_age = (session.expires_at - session.created_at).whole_seconds();
            let mut response = Json(json!({ "redirect": "/console" })).into_response();
            response.headers_mut().append(SET_COOKIE, set_cookie(SESSION_COOKIE, &token, max_age));
            Ok(response)
        }
        None => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "mfa_failed",
            "The passkey was not accepted. Try again, or use a code.",
        )),
    }
}
