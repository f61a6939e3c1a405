//! The native API (`/api/v1`): bearer API keys, JSON, RFC 9457 problems.

use std::net::IpAddr;

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use http::header::{AUTHORIZATION, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, StatusCode};
use sealform_core::DomainError;
use sealform_core::audit::{Actor, AuditScope};
use sealform_core::ids::FileId;
use sealform_core::policy::{Action, Actor as PolicyActor, Decision, Member, Resource, authorize, hides_phi};
use sealform_core::store::Store;
use serde_json::json;

use crate::AppState;
use crate::auth::client_ip;
use crate::problem::ApiError;
use crate::rate_limit::{self, Admitted, Budget, Refusal};

/// The key a request carries in `Authorization: Bearer …`, checked and admitted against its budget; the refusal is a
/// problem response (401 with `WWW-Authenticate`, or 429 with `Retry-After`).
pub(crate) async fn principal<S: Store>(
    state: &AppState<S>,
    headers: &HeaderMap,
    ip: Option<IpAddr>,
) -> Result<Admitted, Response> {
    let key = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")));
    rate_limit::admit(state, ip, key).await.map_err(|refusal| match refusal {
        Refusal::Unauthorized(message) => {
            let detail = if key.is_none() { "send an API key as `Authorization: Bearer <key>`" } else { &message };
            let mut response = ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", detail).into_response();
            response.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            response
        }
        Refusal::TooManyFailures { retry_after } => too_many(
            retry_after,
            "too many failed attempts to authenticate from this address; wait before trying again",
        ),
        Refusal::OverBudget { retry_after, budget } => {
            let mut response = too_many(retry_after, "this API key has used its request budget; wait and retry");
            response.headers_mut().extend(budget.headers());
            response
        }
        Refusal::Failed(err) => ApiError::from(err).into_response(),
    })
}

/// A 429 problem telling the client when to come back.
fn too_many(retry_after: u64, detail: &str) -> Response {
    let mut response = ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", detail).into_response();
    response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(retry_after));
    response
}

/// `response` with the key's remaining budget in `RateLimit` headers.
fn with_budget(mut response: Response, budget: Budget) -> Response {
    response.headers_mut().extend(budget.headers());
    response
}

/// `GET /api/v1/files/{id}`: an uploaded file's bytes, for a key the policy lets read the file's form's submissions
/// (the read scope, its form restriction, its user's role and grant; a PHI file not when the grant hides PHI).
/// Audited as `file.read` by the key. Another organisation's file is 404.
pub(crate) async fn file<S: Store>(
    State(state): State<AppState<S>>,
    Path(raw): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let context = crate::auth::request_context(&request);
    let Admitted { principal, budget } = match principal(&state, request.headers(), client_ip(&request)).await {
        Ok(admitted) => admitted,
        Err(response) => return Ok(response),
    };
    let id: FileId = raw.parse().map_err(|_| ApiError::not_found())?;
    let record =
        state.store.file(principal.org, id).await.map_err(DomainError::from)?.ok_or_else(ApiError::not_found)?;
    let grants = state.store.grants_of_user(principal.org, principal.user).await.map_err(DomainError::from)?;
    // Keys never break the glass: that is a person's act.
    let member =
        Member { org: principal.org, user: principal.user, role: principal.role, grants: &grants, emergency: false };
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
    crate::console::inbox::file_response(chunks, &name).map(|response| with_budget(response, budget))
}

/// `GET /api/v1/me`: who a key acts for and what it may do.
pub(crate) async fn me<S: Store>(State(state): State<AppState<S>>, request: Request) -> Response {
    match principal(&state, request.headers(), client_ip(&request)).await {
        Ok(Admitted { principal: p, budget }) => with_budget(
            Json(json!({
            "key_prefix": p.prefix,
            "org_id": p.org,
            "user_id": p.user,
            "scopes": p.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            "form_id": p.form,
            }))
            .into_response(),
            budget,
        ),
        Err(response) => response,
    }
}
