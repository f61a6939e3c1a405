//! The router and its middleware stack.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{MethodRouter, get, post};
use http::StatusCode;
use minijinja::Environment;
use sealform_core::audit::Auditor;
use sealform_core::clock::Clock;
use sealform_core::files::ObjectStore;
use sealform_core::keys::{Keyring, MasterKeys};
use sealform_core::mail::Mailer;
use sealform_core::sessions::SessionPolicy;
use sealform_core::store::Store;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutLayer};

use crate::headers::{HeaderPolicy, security_headers};
use crate::rate_limit::ApiLimiter;
use crate::request_id::request_context;
use crate::{api, console, jotform, pages, public, system};

/// Public submissions per client address and minute unless configured: a waiting room of patients on one clinic
/// Wi-Fi shares an address, so this is generous; it stops floods, not people.
pub const DEFAULT_PUBLIC_SUBMISSIONS_PER_MINUTE: u32 = 120;

/// What the HTTP layer needs from the configuration.
#[derive(Clone, Debug)]
pub struct HttpSettings {
    /// Largest request body accepted, in bytes; larger gets 413.
    pub max_body_bytes: usize,
    /// Largest public form submission with its uploads, in bytes (uploads stream to sealed storage, never to
    /// memory); larger gets 413.
    pub max_upload_bytes: usize,
    /// Longest a request may take end to end; longer gets 408.
    pub request_timeout: Duration,
    /// Longest a client may pause while sending a body; longer gets an error and the connection is dropped.
    pub body_idle_timeout: Duration,
    /// Send HSTS: the client reaches us over TLS (ours, or a proxy's with `--behind-tls-proxy`).
    pub hsts: bool,
    /// Reverse proxies whose `X-Forwarded-For` names the client (for the audit trail and per-address limits).
    pub trusted_proxies: crate::client_ip::TrustedProxies,
}

/// Shared state of every handler.
pub struct AppState<S> {
    /// The storage backend.
    pub store: S,
    /// The audit keys.
    pub auditor: Arc<Auditor>,
    /// Where handlers read the time (a manual clock in tests).
    pub clock: Arc<dyn Clock>,
    /// Lockout and session timeouts.
    pub policy: SessionPolicy,
    /// The master keys, to wrap and unwrap per-user secrets (TOTP).
    pub masters: MasterKeys,
    /// Outgoing e-mail.
    pub mailer: Arc<dyn Mailer>,
    /// Base of links in e-mail.
    pub public_url: Arc<str>,
    /// Organisation keys, to seal and open submissions.
    pub keyring: Arc<Keyring<S>>,
    /// Where sealed files live.
    pub objects: ObjectStore,
    /// Submissions one client address may post to public forms per minute (spam protection).
    pub public_submissions_per_minute: u32,
    /// API request budgets (per key, and failed authentication per address).
    pub(crate) limits: Arc<ApiLimiter>,
    /// Whether the Jotform-compatible API accepts the key in the `apiKey` query parameter as Jotform does (on by
    /// default for compatibility; the request log never records query strings).
    pub jotform_query_api_key: bool,
    pub(crate) templates: Arc<Environment<'static>>,
}

impl<S: Clone> Clone for AppState<S> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            auditor: Arc::clone(&self.auditor),
            clock: Arc::clone(&self.clock),
            policy: self.policy,
            masters: self.masters.clone(),
            mailer: Arc::clone(&self.mailer),
            public_url: Arc::clone(&self.public_url),
            keyring: Arc::clone(&self.keyring),
            objects: self.objects.clone(),
            public_submissions_per_minute: self.public_submissions_per_minute,
            limits: Arc::clone(&self.limits),
            jotform_query_api_key: self.jotform_query_api_key,
            templates: Arc::clone(&self.templates),
        }
    }
}

impl<S: Store> AppState<S> {
    /// State over a store, with the built-in templates and the default session policy. Sealed files go to
    /// `objects`.
    pub fn new(
        store: S,
        auditor: Arc<Auditor>,
        masters: MasterKeys,
        mail: (Arc<dyn Mailer>, String),
        clock: Arc<dyn Clock>,
        objects: ObjectStore,
    ) -> Self {
        let (mailer, public_url) = mail;
        Self {
            keyring: Arc::new(Keyring::new(store.clone(), masters.clone())),
            objects,
            public_submissions_per_minute: DEFAULT_PUBLIC_SUBMISSIONS_PER_MINUTE,
            limits: Arc::default(),
            jotform_query_api_key: true,
            store,
            auditor,
            clock,
            policy: SessionPolicy::default(),
            masters,
            mailer,
            public_url: public_url.into(),
            templates: Arc::new(pages::templates()),
        }
    }
}

/// Every route of the application as (method, path), in the router's path syntax. The router registers exactly these
/// paths ([`router`] refuses to build otherwise) and the tenant-isolation suite tries every entry, checking the
/// methods against the router's own `Allow` header: a route added without an entry here, or without a case in the
/// suite, fails the build's tests.
#[must_use]
pub fn route_table() -> &'static [(&'static str, &'static str)] {
    static TABLE: std::sync::LazyLock<Vec<(&str, &str)>> = std::sync::LazyLock::new(|| {
        // The Jotform-compatible API's routes come last, generated for both of its prefixes from one list.
        ROUTE_TABLE.iter().chain(jotform::ROUTE_TABLE).copied().collect()
    });
    &TABLE
}

const ROUTE_TABLE: &[(&str, &str)] = &[
    ("GET", "/"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/static/app.css"),
    ("GET", "/static/favicon.svg"),
    ("GET", "/login"),
    ("POST", "/login"),
    ("POST", "/logout"),
    ("GET", "/reset"),
    ("POST", "/reset"),
    ("GET", "/reset/{token}"),
    ("POST", "/reset/{token}"),
    ("GET", "/invite/{token}"),
    ("POST", "/invite/{token}"),
    ("GET", "/login/mfa"),
    ("POST", "/login/mfa"),
    ("GET", "/console/mfa"),
    ("POST", "/console/mfa"),
    ("GET", "/api/v1/me"),
    ("GET", "/api/v1/files/{file}"),
    ("GET", "/console"),
    ("GET", "/console/audit"),
    ("GET", "/console/sessions"),
    ("GET", "/console/users"),
    ("POST", "/console/users/invite"),
    ("POST", "/console/users/deactivate"),
    ("POST", "/console/users/role"),
    ("GET", "/console/api-keys"),
    ("POST", "/console/api-keys"),
    ("POST", "/console/api-keys/revoke"),
    ("GET", "/console/reauth"),
    ("POST", "/console/reauth"),
    ("POST", "/console/sessions/revoke"),
    ("GET", "/console/password"),
    ("POST", "/console/password"),
    ("POST", "/csp-report"),
    // Passkeys (console::webauthn).
    ("GET", "/static/webauthn.js"),
    ("POST", "/console/mfa/webauthn/register/options"),
    ("POST", "/console/mfa/webauthn/register"),
    ("POST", "/console/mfa/webauthn/remove"),
    ("POST", "/login/mfa/webauthn/options"),
    ("POST", "/login/mfa/webauthn"),
    // Public form pages (crate::public).
    ("GET", "/f/{form_id}"),
    ("POST", "/f/{form_id}"),
    ("GET", "/f/{form_id}/thanks"),
    ("GET", "/f/{form_id}/qr.svg"),
    ("GET", "/f/{form_id}/qr.png"),
    ("GET", "/static/form.js"),
    ("GET", "/static/embed.js"),
    ("GET", "/static/form.css"),
    // The builder.
    ("GET", "/static/builder.js"),
    ("GET", "/static/builder.css"),
    ("GET", "/console/forms"),
    ("POST", "/console/forms"),
    ("GET", "/console/forms/{id}"),
    ("POST", "/console/forms/{id}/title"),
    ("POST", "/console/forms/{id}/status"),
    ("POST", "/console/forms/{id}/duplicate"),
    ("POST", "/console/forms/{id}/order"),
    ("POST", "/console/forms/{id}/questions"),
    ("POST", "/console/forms/{id}/questions/{qid}"),
    ("POST", "/console/forms/{id}/questions/{qid}/move"),
    ("POST", "/console/forms/{id}/questions/{qid}/delete"),
    // The inbox, exports and file downloads.
    ("GET", "/console/forms/{form}/submissions"),
    ("POST", "/console/forms/{form}/submissions"),
    ("GET", "/console/forms/{form}/export"),
    ("GET", "/console/forms/{form}/export/download"),
    ("GET", "/console/submissions/{submission}"),
    ("GET", "/console/submissions/{submission}/print"),
    ("POST", "/console/submissions/{submission}/status"),
    ("POST", "/console/submissions/{submission}/notes"),
    ("GET", "/console/submissions/{submission}/edit"),
    ("POST", "/console/submissions/{submission}/edit"),
    ("GET", "/console/submissions/{submission}/revisions"),
    ("GET", "/console/submissions/{submission}/delete"),
    ("POST", "/console/submissions/{submission}/delete"),
    ("GET", "/console/files/{file}"),
    // Access to forms.
    ("GET", "/console/forms/{form}/access"),
    ("POST", "/console/forms/{form}/access"),
    ("POST", "/console/forms/{form}/access/revoke"),
    ("POST", "/console/forms/{form}/access/requests/{request}"),
    ("GET", "/console/forms/{form}/request-access"),
    ("POST", "/console/forms/{form}/request-access"),
    ("GET", "/console/access-review.csv"),
    // Break-glass (console::break_glass).
    ("GET", "/console/forms/{form}/break-glass"),
    ("POST", "/console/forms/{form}/break-glass"),
    ("GET", "/console/break-glass"),
    ("POST", "/console/users/emergency"),
    // The organisation's settings (console::settings).
    ("GET", "/console/settings"),
    ("POST", "/console/settings"),
    // Folders and grants on them (console::folders).
    ("GET", "/console/folders"),
    ("POST", "/console/folders"),
    ("POST", "/console/folders/{folder}/forms"),
    ("GET", "/console/folders/{folder}/access"),
    ("POST", "/console/folders/{folder}/access"),
    ("POST", "/console/folders/{folder}/access/revoke"),
    // The native API (crate::api), beside /api/v1/me and /api/v1/files/{file} above; its OpenAPI document lists
    // exactly these /api/v1 routes.
    ("GET", "/api/v1/openapi.json"),
    ("GET", "/api/v1/docs"),
    ("GET", "/api/v1/forms"),
    ("POST", "/api/v1/forms"),
    ("GET", "/api/v1/forms/{form}"),
    ("PATCH", "/api/v1/forms/{form}"),
    ("DELETE", "/api/v1/forms/{form}"),
    ("GET", "/api/v1/forms/{form}/questions"),
    ("PUT", "/api/v1/forms/{form}/questions"),
    ("GET", "/api/v1/forms/{form}/submissions"),
    ("POST", "/api/v1/forms/{form}/submissions"),
    ("GET", "/api/v1/forms/{form}/export"),
    ("GET", "/api/v1/submissions/{submission}"),
    ("PUT", "/api/v1/submissions/{submission}"),
    ("PATCH", "/api/v1/submissions/{submission}"),
    ("DELETE", "/api/v1/submissions/{submission}"),
    ("GET", "/api/v1/submissions/{submission}/revisions"),
    ("GET", "/api/v1/submissions/{submission}/files"),
    ("GET", "/api/v1/forms/{form}/grants"),
    ("PUT", "/api/v1/forms/{form}/grants/{user}"),
    ("DELETE", "/api/v1/forms/{form}/grants/{user}"),
    ("GET", "/api/v1/forms/{form}/access-requests"),
    ("POST", "/api/v1/forms/{form}/access-requests"),
    ("POST", "/api/v1/forms/{form}/access-requests/{request}"),
    ("GET", "/api/v1/api-keys"),
    ("POST", "/api/v1/api-keys"),
    ("DELETE", "/api/v1/api-keys/{prefix}"),
    ("GET", "/api/v1/users"),
    ("POST", "/api/v1/users"),
    ("PATCH", "/api/v1/users/{user}"),
    ("POST", "/api/v1/users/{user}/deactivate"),
    ("GET", "/api/v1/audit"),
];

std::thread_local! {
    /// The paths registered while [`router`] runs on this thread.
    static REGISTERED: std::cell::RefCell<Vec<&'static str>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A router under construction that writes down every path it is given, so [`router`] can check them against
/// [`route_table`]. Every module builds its routes with it.
pub(crate) struct Routes<S>(Router<AppState<S>>);

impl<S: Store> Routes<S> {
    pub(crate) fn new() -> Self {
        Self(Router::new())
    }

    /// As [`Router::route`], writing the path down.
    pub(crate) fn route(self, path: &'static str, method_router: MethodRouter<AppState<S>>) -> Self {
        REGISTERED.with(|r| r.borrow_mut().push(path));
        Self(self.0.route(path, method_router))
    }

    /// The routes so far with `layer` applied to them (and only them).
    pub(crate) fn layer_all(self, layer: impl FnOnce(Router<AppState<S>>) -> Router<AppState<S>>) -> Self {
        Self(layer(self.0))
    }

    /// As [`Router::merge`]; only of routes built the same way, so every path is written down.
    pub(crate) fn merge(self, other: Self) -> Self {
        Self(self.0.merge(other.0))
    }

    /// As [`Router::route_layer`]: a layer around the routes so far (only matched requests reach it).
    pub(crate) fn route_layer<L>(self, layer: L) -> Self
    where
        L: tower::Layer<axum::routing::Route> + Clone + Send + Sync + 'static,
        L::Service: tower::Service<axum::extract::Request> + Clone + Send + Sync + 'static,
        <L::Service as tower::Service<axum::extract::Request>>::Response: axum::response::IntoResponse + 'static,
        <L::Service as tower::Service<axum::extract::Request>>::Error: Into<std::convert::Infallible> + 'static,
        <L::Service as tower::Service<axum::extract::Request>>::Future: Send + 'static,
    {
        Self(self.0.route_layer(layer))
    }
}

impl<S> From<Routes<S>> for Router<AppState<S>> {
    fn from(routes: Routes<S>) -> Self {
        routes.0
    }
}

/// Panics unless the paths registered equal those of [`route_table`]: a route without an entry is a build defect.
fn check_route_table(registered: &[&'static str]) {
    let registered: std::collections::BTreeSet<&str> = registered.iter().copied().collect();
    let listed: std::collections::BTreeSet<&str> = route_table().iter().map(|(_, path)| *path).collect();
    let unlisted: Vec<_> = registered.difference(&listed).collect();
    let missing: Vec<_> = listed.difference(&registered).collect();
    assert!(
        unlisted.is_empty() && missing.is_empty(),
        "the router and route_table() differ: registered but not listed {unlisted:?}, listed but not registered \
         {missing:?}"
    );
}

/// The whole application. Layers run outside-in: security headers wrap everything (so 404s, 408s and 413s get
/// them), then the request id and log line, then the timeouts and the body limit.
pub fn router<S: Store>(state: AppState<S>, settings: &HttpSettings) -> Router {
    REGISTERED.with(|r| r.borrow_mut().clear());
    let routes = Routes::new()
        .route("/", get(pages::home::<S>))
        .route("/healthz", get(system::healthz))
        .route("/readyz", get(system::readyz::<S>))
        .route("/static/app.css", get(pages::stylesheet))
        .route("/static/favicon.svg", get(pages::favicon))
        .route("/login", get(console::login_page::<S>).post(console::login_submit::<S>))
        .route("/logout", post(console::logout_submit::<S>))
        .route("/reset", get(console::reset_request_page::<S>).post(console::reset_request_submit::<S>))
        .route("/reset/{token}", get(console::reset_page::<S>).post(console::reset_submit::<S>))
        .route("/invite/{token}", get(console::invite_page::<S>).post(console::invite_submit::<S>))
        .route("/login/mfa", get(console::mfa_page::<S>).post(console::mfa_submit::<S>))
        .route("/console/mfa", get(console::mfa_enrol_page::<S>).post(console::mfa_enrol_submit::<S>))
        .route("/console", get(console::console::<S>))
        .route("/console/audit", get(console::audit_page::<S>))
        .route("/console/sessions", get(console::sessions_page::<S>))
        .route("/console/users", get(console::users_page::<S>))
        .route("/console/users/invite", post(console::users_invite::<S>))
        .route("/console/users/deactivate", post(console::users_deactivate::<S>))
        .route("/console/users/role", post(console::users_role::<S>))
        .route("/console/users/emergency", post(console::users_emergency::<S>))
        .route("/console/api-keys", get(console::api_keys_page::<S>).post(console::api_keys_create::<S>))
        .route("/console/api-keys/revoke", post(console::api_keys_revoke::<S>))
        .route("/console/reauth", get(console::reauth_page::<S>).post(console::reauth_submit::<S>))
        .route("/console/sessions/revoke", post(console::revoke_session::<S>))
        .route("/console/password", get(console::password_page::<S>).post(console::password_submit::<S>))
        .route("/csp-report", post(system::csp_report).layer(DefaultBodyLimit::max(system::CSP_REPORT_LIMIT)))
        .merge(api::routes::<S>(&state))
        .merge(public::routes::<S>())
        .merge(console::form_routes::<S>())
        .merge(jotform::routes::<S>(state.clone()));
    let routes = Router::from(routes)
        .layer(DefaultBodyLimit::max(settings.max_body_bytes))
        .layer(RequestBodyLimitLayer::new(settings.max_body_bytes))
        // Added after the general limit, so only it gets the larger one.
        .merge(Router::from(public::upload_routes::<S>()).layer(RequestBodyLimitLayer::new(settings.max_upload_bytes)))
        .fallback(pages::not_found::<S>)
        .layer(middleware::from_fn_with_state(Arc::clone(&state.templates), pages::browser_errors))
        .with_state(state);
    check_route_table(&REGISTERED.with(|r| std::mem::take(&mut *r.borrow_mut())));
    routes
        .layer(RequestBodyTimeoutLayer::new(settings.body_idle_timeout))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, settings.request_timeout))
        .layer(middleware::from_fn(request_context))
        .layer(middleware::from_fn_with_state(HeaderPolicy { hsts: settings.hsts }, security_headers))
        .layer(middleware::from_fn_with_state(Arc::new(settings.trusted_proxies.clone()), crate::client_ip::resolve))
}
