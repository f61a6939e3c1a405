//! The Jotform-compatible API (DESIGN.md §9) under `/jotform/` and `/jotform/v1/` (the same routes, generated for
//! both prefixes from one list): Jotform's paths, envelope, parameters, object shapes and key authentication, over
//! the same services as everything else — [`authorize`] on every call, PHI masking by the key user's grant, sealing,
//! and an audit entry for every read and write of answers.
//!
//! One middleware ([`envelope_layer`]) authenticates the key (the `APIKEY` header, or the `apiKey` query parameter
//! when the server allows it), spends one request of its budget, and wraps whatever the handler answered in
//! Jotform's envelope with `duration` and `limit-left` — errors from axum itself (405, a body too large) included,
//! so a client never sees another shape.

mod body;
mod envelope;
mod files;
mod folders;
mod forms;
mod list;
mod questions;
mod shapes;
mod submissions;
mod user;
mod webhooks;

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use http::header::RETRY_AFTER;
use http::{HeaderValue, StatusCode};
use sealform_core::api_keys::ApiPrincipal;
use sealform_core::audit::{Actor, AuditCtx, AuditScope, RequestContext};
use sealform_core::grants::Grant;
use sealform_core::ids::FormId;
use sealform_core::policy::{Action, Actor as PolicyActor, Decision, Member, Resource, authorize, hides_phi};
use sealform_core::store::Store;
use sealform_core::submission::FormRecord;

use crate::AppState;
use crate::app::Routes;
use crate::auth::{client_ip, request_context};
use crate::rate_limit::{self, Refusal};
pub(crate) use envelope::{Answer, Content, Failure};

/// Both spellings of every path: `/jotform{path}` and `/jotform/v1{path}`.
macro_rules! both_prefixes {
    ($(($method:literal, $path:literal)),* $(,)?) => {
        &[$(($method, concat!("/jotform", $path)), ($method, concat!("/jotform/v1", $path))),*]
    };
}

/// Every route of the compatible API, for [`crate::route_table`].
pub(crate) const ROUTE_TABLE: &[(&str, &str)] = both_prefixes![
    ("GET", "/user"),
    ("GET", "/user/usage"),
    ("GET", "/user/forms"),
    ("POST", "/user/forms"),
    ("PUT", "/user/forms"),
    ("GET", "/user/submissions"),
    ("GET", "/user/subusers"),
    ("GET", "/user/folders"),
    ("GET", "/user/reports"),
    ("GET", "/user/settings"),
    ("GET", "/user/history"),
    ("POST", "/form"),
    ("GET", "/form/{form}"),
    ("DELETE", "/form/{form}"),
    ("POST", "/form/{form}/clone"),
    ("GET", "/form/{form}/questions"),
    ("POST", "/form/{form}/questions"),
    ("PUT", "/form/{form}/questions"),
    ("GET", "/form/{form}/question/{qid}"),
    ("POST", "/form/{form}/question/{qid}"),
    ("DELETE", "/form/{form}/question/{qid}"),
    ("GET", "/form/{form}/properties"),
    ("POST", "/form/{form}/properties"),
    ("PUT", "/form/{form}/properties"),
    ("GET", "/form/{form}/properties/{key}"),
    ("GET", "/form/{form}/submissions"),
    ("POST", "/form/{form}/submissions"),
    ("PUT", "/form/{form}/submissions"),
    ("GET", "/form/{form}/files"),
    ("GET", "/form/{form}/webhooks"),
    ("POST", "/form/{form}/webhooks"),
    ("DELETE", "/form/{form}/webhooks/{webhook}"),
    ("GET", "/form/{form}/reports"),
    ("GET", "/submission/{submission}"),
    ("POST", "/submission/{submission}"),
    ("DELETE", "/submission/{submission}"),
    ("POST", "/folder"),
    ("GET", "/folder/{folder}"),
    ("PUT", "/folder/{folder}"),
    ("DELETE", "/folder/{folder}"),
    ("GET", "/files/{file}"),
    ("GET", "/{*rest}"),
    ("POST", "/{*rest}"),
    ("PUT", "/{*rest}"),
    ("DELETE", "/{*rest}"),
];

/// Registers one method router under both prefixes.
macro_rules! route_both {
    ($routes:expr, $path:literal, $method_router:expr) => {{
        let method_router = $method_router;
        $routes
            .route(concat!("/jotform", $path), method_router.clone())
            .route(concat!("/jotform/v1", $path), method_router)
    }};
}

/// The compatible API's routes, wrapped in its authentication and envelope middleware.
pub(crate) fn routes<S: Store>(state: AppState<S>) -> Routes<S> {
    let r = Routes::new();
    let r = route_both!(r, "/user", get(user::user::<S>));
    let r = route_both!(r, "/user/usage", get(user::usage::<S>));
    let r = route_both!(
        r,
        "/user/forms",
        get(forms::list::<S>).post(forms::create_posted::<S>).put(forms::create_put::<S>)
    );
    let r = route_both!(r, "/user/submissions", get(submissions::list_all::<S>));
    let r = route_both!(r, "/user/subusers", get(user::subusers::<S>));
    let r = route_both!(r, "/user/folders", get(folders::tree::<S>));
    let r = route_both!(r, "/user/reports", get(user::reports::<S>));
    let r = route_both!(r, "/user/settings", get(user::settings::<S>));
    let r = route_both!(r, "/user/history", get(user::history::<S>));
    let r = route_both!(r, "/form", post(forms::create_posted::<S>));
    let r = route_both!(r, "/form/{form}", get(forms::one::<S>).delete(forms::remove::<S>));
    let r = route_both!(r, "/form/{form}/clone", post(forms::clone::<S>));
    let r = route_both!(
        r,
        "/form/{form}/questions",
        get(questions::list::<S>).post(questions::add_posted::<S>).put(questions::add_put::<S>)
    );
    let r = route_both!(
        r,
        "/form/{form}/question/{qid}",
        get(questions::one::<S>).post(questions::edit::<S>).delete(questions::remove::<S>)
    );
    let r = route_both!(
        r,
        "/form/{form}/properties",
        get(forms::properties::<S>).post(forms::set_properties_posted::<S>).put(forms::set_properties_put::<S>)
    );
    let r = route_both!(r, "/form/{form}/properties/{key}", get(forms::property::<S>));
    let r = route_both!(
        r,
        "/form/{form}/submissions",
        get(submissions::list::<S>).post(submissions::create_posted::<S>).put(submissions::create_put::<S>)
    );
    let r = route_both!(r, "/form/{form}/files", get(files::list::<S>));
    let r = route_both!(r, "/form/{form}/webhooks", get(webhooks::list::<S>).post(webhooks::add::<S>));
    let r = route_both!(r, "/form/{form}/webhooks/{webhook}", delete(webhooks::remove::<S>));
    let r = route_both!(r, "/form/{form}/reports", get(user::form_reports::<S>));
    let r = route_both!(
        r,
        "/submission/{submission}",
        get(submissions::one::<S>).post(submissions::edit::<S>).delete(submissions::remove::<S>)
    );
    let r = route_both!(r, "/folder", post(folders::create::<S>));
    let r = route_both!(
        r,
        "/folder/{folder}",
        get(folders::one::<S>).put(folders::update::<S>).delete(folders::remove::<S>)
    );
    let r = route_both!(r, "/files/{file}", get(files::download::<S>));
    let r = route_both!(r, "/{*rest}", get(unknown).post(unknown).put(unknown).delete(unknown));
    r.layer_all(|router| router.layer(middleware::from_fn_with_state(state, envelope_layer::<S>)))
}

/// Any path the compatible API does not have (or Sealform does not offer, such as `/user/register`, `/report/{id}`
/// or `/system/plan`): Jotform's 404 in Jotform's shape.
async fn unknown() -> Failure {
    Failure::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "this endpoint is not available in Sealform's Jotform-compatible API (see the README for what is supported)",
    )
}

/// The key a request carries: the `APIKEY` header (any case) or, when allowed, the `apiKey` query parameter.
fn api_key(request: &Request, query_allowed: bool) -> Option<String> {
    if let Some(value) = request.headers().get("apikey").and_then(|v| v.to_str().ok()) {
        return Some(value.trim().to_owned());
    }
    if !query_allowed {
        return None;
    }
    let query = request.uri().query()?;
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).ok()?;
    pairs.into_iter().find(|(name, _)| name.eq_ignore_ascii_case("apikey")).map(|(_, value)| value.trim().to_owned())
}

/// Who calls: the authenticated key, its user's grants, and where the request came from (for the audit trail).
pub(crate) struct Caller {
    pub(crate) principal: ApiPrincipal,
    pub(crate) grants: Vec<Grant>,
    pub(crate) context: RequestContext,
}

impl Caller {
    /// The key as the policy sees it.
    pub(crate) fn actor(&self) -> PolicyActor<'_> {
        let p = &self.principal;
        let member = Member { org: p.org, user: p.user, role: p.role, grants: &self.grants, emergency: false };
        PolicyActor::ApiKey { member, scopes: &p.scopes, form: p.form }
    }

    /// Whether the key may do `action` on `form`.
    pub(crate) fn can_on(&self, action: Action, form: FormId, now: time::OffsetDateTime) -> bool {
        authorize(&self.actor(), action, Resource::Form { org: self.principal.org, form }, now).allowed()
    }

    /// 403 with the policy's reason unless the key may do `action` on `resource`.
    pub(crate) fn require(&self, action: Action, resource: Resource, now: time::OffsetDateTime) -> Result<(), Failure> {
        match authorize(&self.actor(), action, resource, now) {
            Decision::Allow => Ok(()),
            Decision::Deny(reason) => Err(Failure::forbidden(reason)),
        }
    }

    /// As [`Caller::require`] on one form of the key's organisation.
    pub(crate) fn require_on(&self, action: Action, form: FormId, now: time::OffsetDateTime) -> Result<(), Failure> {
        self.require(action, Resource::Form { org: self.principal.org, form }, now)
    }

    /// Whether the key's user sees this form's PHI answers masked.
    pub(crate) fn hides_phi(&self, form: FormId, now: time::OffsetDateTime) -> bool {
        hides_phi(&self.actor(), form, now)
    }

    /// The audit scope: the key, from this request.
    pub(crate) fn scope(&self) -> AuditScope {
        AuditScope { actor: Actor::ApiKey(self.principal.key), context: self.context.clone() }
    }

    /// The form with this id in the key's organisation: 400 for a malformed id, 404 for none (also for another
    /// organisation's form: it is never found).
    pub(crate) async fn form<S: Store>(&self, state: &AppState<S>, raw: &str) -> Result<FormRecord, Failure> {
        let id: FormId = raw.trim().parse().map_err(|_| Failure::bad_request("the form id is not valid"))?;
        state.store.tenant(self.principal.org).form(id).await?.ok_or_else(|| Failure::not_found("form"))
    }
}

/// An audit context for `scope` (kept by the caller for the call's duration).
pub(crate) fn audit_ctx<'a, S: Store>(state: &'a AppState<S>, scope: &'a AuditScope) -> AuditCtx<'a> {
    AuditCtx { auditor: &state.auditor, scope }
}

/// Authenticates, spends the budget, runs the handler and wraps its answer in the envelope.
async fn envelope_layer<S: Store>(State(state): State<AppState<S>>, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let elapsed = || started.elapsed().as_secs_f64() * 1000.0;
    let key = api_key(&request, state.jotform_query_api_key);
    let admitted = match rate_limit::admit(&state, client_ip(&request), key.as_deref()).await {
        Ok(admitted) => admitted,
        Err(refusal) => return refused(refusal, key.is_none(), elapsed()),
    };
    let grants = match state.store.tenant(admitted.principal.org).grants_of_user(admitted.principal.user).await {
        Ok(grants) => grants,
        Err(err) => return envelope::failure(&Failure::from(err), elapsed(), Some(admitted.budget.remaining)),
    };
    let context = request_context(&request);
    request.extensions_mut().insert(Arc::new(Caller { principal: admitted.principal, grants, context }));
    let method = request.method().clone();
    let response = next.run(request).await;
    let left = Some(admitted.budget.remaining);
    if let Some(content) = response.extensions().get::<Content>() {
        return envelope::success(content.clone(), elapsed(), left);
    }
    if let Some(failure) = response.extensions().get::<Failure>() {
        return envelope::failure(failure, elapsed(), left);
    }
    if response.status().is_client_error() || response.status().is_server_error() {
        // From axum itself (a method the path lacks, a body too large or unreadable): Jotform's shape, the same
        // status, and its headers (`Allow`) kept. Never the rejection's own text: it may quote the input.
        let status = response.status();
        let message = match status {
            StatusCode::METHOD_NOT_ALLOWED => format!("this endpoint does not accept {method}"),
            StatusCode::PAYLOAD_TOO_LARGE => "the request body is too large".to_owned(),
            s if s.is_server_error() => "internal error".to_owned(),
            _ => "the request is malformed".to_owned(),
        };
        let mut wrapped = envelope::failure(&Failure::new(status, "rejected", message), elapsed(), left);
        for name in [http::header::ALLOW] {
            if let Some(value) = response.headers().get(&name) {
                wrapped.headers_mut().insert(name, value.clone());
            }
        }
        return wrapped;
    }
    response
}

/// A refused key in Jotform's shape: 401, or 429 with `Retry-After`.
fn refused(refusal: Refusal, missing: bool, duration_ms: f64) -> Response {
    let (failure, retry_after, left) = match refusal {
        Refusal::Unauthorized(message) => {
            let message = if missing { "send your API key in the APIKEY header".to_owned() } else { message };
            (Failure::new(StatusCode::UNAUTHORIZED, "unauthorized", message), None, None)
        }
        Refusal::TooManyFailures { retry_after } => (
            Failure::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "too many failed attempts to authenticate from this address; wait before trying again",
            ),
            Some(retry_after),
            None,
        ),
        Refusal::OverBudget { retry_after, budget } => (
            Failure::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", "this API key has used its request budget"),
            Some(retry_after),
            Some(budget.remaining),
        ),
        Refusal::Failed(err) => (Failure::from(err), None, None),
    };
    let mut response = envelope::failure(&failure, duration_ms, left);
    if let Some(secs) = retry_after {
        response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    response.into_response()
}
