//! Server-rendered pages and their static assets. Templates are compiled into the binary and rendered with
//! auto-escaping on, so text from users can never become markup.

use axum::extract::State;
use axum::response::{Html, IntoResponse, Response};
use http::header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, StatusCode};
use minijinja::{Environment, context};
use sealform_core::store::Store;

use crate::AppState;
use crate::problem::ApiError;

/// The template environment, built once at start.
pub(crate) fn templates() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
    for (name, source) in [
        ("base.html", include_str!("../templates/base.html")),
        ("home.html", include_str!("../templates/home.html")),
        ("not_found.html", include_str!("../templates/not_found.html")),
        ("error.html", include_str!("../templates/error.html")),
        ("login.html", include_str!("../templates/login.html")),
        ("console.html", include_str!("../templates/console.html")),
        ("audit.html", include_str!("../templates/audit.html")),
        ("password.html", include_str!("../templates/password.html")),
        ("mfa_challenge.html", include_str!("../templates/mfa_challenge.html")),
        ("mfa_enrol.html", include_str!("../templates/mfa_enrol.html")),
        ("mfa_codes.html", include_str!("../templates/mfa_codes.html")),
        ("sessions.html", include_str!("../templates/sessions.html")),
        ("invite.html", include_str!("../templates/invite.html")),
        ("reset_request.html", include_str!("../templates/reset_request.html")),
        ("reset.html", include_str!("../templates/reset.html")),
        ("users.html", include_str!("../templates/users.html")),
        ("reauth.html", include_str!("../templates/reauth.html")),
        ("api_keys.html", include_str!("../templates/api_keys.html")),
        ("api_docs.html", include_str!("../templates/api_docs.html")),
    ]
    .into_iter()
    .chain(crate::public::TEMPLATES.iter().copied())
    .chain(crate::console::FORM_TEMPLATES.iter().flat_map(|list| list.iter().copied()))
    {
        // The templates are part of the binary and covered by tests; a syntax error is a build defect.
        if let Err(err) = env.add_template(name, source) {
            panic!("built-in template {name} does not parse: {err}");
        }
    }
    env
}

pub(crate) fn render(env: &Environment<'static>, name: &str, ctx: minijinja::Value) -> Result<Html<String>, ApiError> {
    env.get_template(name).and_then(|t| t.render(ctx)).map(Html).map_err(|err| {
        tracing::error!(template = name, error = %err, "template failed to render");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error")
    })
}

/// `GET /`: what this installation is and the next step for its operator.
pub(crate) async fn home<S: Store>(State(state): State<AppState<S>>) -> Result<Html<String>, ApiError> {
    let organisations = state.store.list_organisations().await.map_err(sealform_core::DomainError::from)?.len();
    render(
        &state.templates,
        "home.html",
        context! { bootstrapped => organisations > 0, organisations, backend => state.store.backend_name() },
    )
}

/// Anything unrouted: a page for browsers, a problem document for everyone else.
pub(crate) async fn not_found<S: Store>(State(state): State<AppState<S>>, headers: HeaderMap) -> Response {
    if accepts_html(&headers) {
        match render(&state.templates, "not_found.html", context! {}) {
            Ok(page) => (StatusCode::NOT_FOUND, page).into_response(),
            Err(err) => err.into_response(),
        }
    } else {
        ApiError::not_found().into_response()
    }
}

/// `GET /static/app.css`.
pub(crate) async fn stylesheet() -> Response {
    static_asset("text/css; charset=utf-8", include_str!("../static/app.css"))
}

/// `GET /static/favicon.svg`.
pub(crate) async fn favicon() -> Response {
    static_asset("image/svg+xml", include_str!("../static/favicon.svg"))
}

/// Static assets are cacheable: they hold no data. An hour keeps upgrades visible without a fingerprinted name.
pub(crate) fn static_asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600")),
        ],
        body,
    )
        .into_response()
}

/// Largest problem document the browser error page reads (ours are a few hundred bytes).
const PROBLEM_LIMIT: usize = 16 * 1024;

/// Error pages for people: a browser (`Accept: text/html`) that gets a problem document (RFC 9457) sees the same
/// status with the message on a page of the console's look instead of raw JSON. A 403 on a form names the way to
/// ask for access. Scripts and the APIs, which do not ask for HTML, keep the JSON.
pub(crate) async fn browser_errors(
    State(templates): State<std::sync::Arc<Environment<'static>>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let wants_html = accepts_html(request.headers());
    let request_access =
        form_of_console_path(request.uri().path()).map(|form| format!("/console/forms/{form}/request-access"));
    let response = next.run(request).await;
    let is_problem =
        response.headers().get(CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    if !wants_html || !is_problem {
        return response;
    }
    let status = response.status();
    let Ok(body) = axum::body::to_bytes(response.into_body(), PROBLEM_LIMIT).await else {
        return ApiError::new(status, "error", "the request failed").into_response();
    };
    let problem: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let detail = problem.get("detail").and_then(|d| d.as_str()).unwrap_or("The request failed.");
    let title = status.canonical_reason().unwrap_or("Error");
    let request_access = request_access.filter(|_| status == StatusCode::FORBIDDEN);
    match render(&templates, "error.html", context! { title, detail, request_access }) {
        Ok(page) => (status, page).into_response(),
        Err(err) => err.into_response(),
    }
}

fn accepts_html(headers: &HeaderMap) -> bool {
    headers.get(ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("text/html"))
}

/// The form id in a console path under `/console/forms/{id}/…` (not the access pages themselves).
fn form_of_console_path(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/console/forms/")?;
    let (id, tail) = rest.split_once('/').unwrap_or((rest, ""));
    (id.len() == 36 && !tail.starts_with("request-access") && !tail.starts_with("access")).then_some(id)
}
