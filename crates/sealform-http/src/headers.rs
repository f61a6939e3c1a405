//! Security headers on every response: pages, JSON, redirects, errors, 404s, 413s, 408s and static assets.
//! The layer sits outermost, so responses made by inner layers (limits, timeouts) get them too.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, REFERRER_POLICY, STRICT_TRANSPORT_SECURITY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use http::{HeaderName, HeaderValue};

/// The default policy: only our own scripts, styles and images; no inline code, no plugins, no framing.
/// A response may set its own policy (a form that allows embedding relaxes `frame-ancestors` only).
pub const CONTENT_SECURITY_POLICY_VALUE: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; \
    form-action 'self'; frame-ancestors 'none'; report-uri /csp-report";

/// One year plus subdomains; sent only when the client reached us over TLS (ours or a proxy's).
const HSTS_VALUE: &str = "max-age=31536000; includeSubDomains";

/// Whether to send `Strict-Transport-Security`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HeaderPolicy {
    pub(crate) hsts: bool,
}

pub(crate) async fn security_headers(State(policy): State<HeaderPolicy>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let fixed: [(HeaderName, &'static str); 5] = [
        (X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (REFERRER_POLICY, "no-referrer"),
        (X_FRAME_OPTIONS, "DENY"),
        (HeaderName::from_static("cross-origin-opener-policy"), "same-origin"),
        (HeaderName::from_static("permissions-policy"), "camera=(), microphone=(), geolocation=(), payment=()"),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    // Same-origin unless the one public script meant for other sites (embed.js) opted out.
    let corp = HeaderName::from_static("cross-origin-resource-policy");
    if !headers.contains_key(&corp) {
        headers.insert(corp, HeaderValue::from_static("same-origin"));
    }
    if headers.contains_key(CONTENT_SECURITY_POLICY) {
        // Only a page that may be embedded sets its own policy; X-Frame-Options cannot express its allow-list.
        headers.remove(X_FRAME_OPTIONS);
    } else {
        headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY_VALUE));
    }
    // Default to never caching: most responses are authenticated or hold PHI. Static assets opt in explicitly.
    if !headers.contains_key(CACHE_CONTROL) {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if policy.hsts {
        headers.insert(STRICT_TRANSPORT_SECURITY, HeaderValue::from_static(HSTS_VALUE));
    }
    response
}
