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
    let wants_html = headers.get(ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("text/html"));
    if wants_html {
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
