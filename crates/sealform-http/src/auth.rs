//! Cookies, sessions and CSRF for the console.
//!
//! - The session cookie is `__Host-sealform`: Secure (browsers accept it on http://localhost too), HttpOnly,
//!   SameSite=Lax, Path=/. Only its SHA-256 is stored.
//! - Every state-changing form carries a CSRF token (the session's synchroniser token; before login, a
//!   double-submit cookie), and a request from another site (`Origin` or `Sec-Fetch-Site`) is refused with 403.

use http::header::{COOKIE, HOST, ORIGIN, USER_AGENT};
use http::{HeaderMap, HeaderValue, Request, StatusCode};
use sealform_core::audit::{Actor, AuditScope, RequestContext};
use sealform_core::sessions::SessionRecord;

use crate::problem::ApiError;
use crate::request_id::RequestId;

/// The session cookie.
pub(crate) const SESSION_COOKIE: &str = "__Host-sealform";
/// The pre-login CSRF cookie of the login form.
pub(crate) const LOGIN_CSRF_COOKIE: &str = "__Host-sealform-login";

/// A cookie's value from the request, if present.
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// `Set-Cookie` for a host-only, secure, HTTP-only cookie; `max_age` 0 deletes it.
pub(crate) fn set_cookie(name: &str, value: &str, max_age_secs: i64) -> HeaderValue {
    let cookie = format!("{name}={value}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}");
    // Tokens are URL-safe base64 and names are constants, so the value is always a valid header.
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static("invalid=; Max-Age=0"))
}

/// Refuses requests another site made the browser send. Modern browsers say where a request comes from in
/// `Sec-Fetch-Site`; only `same-origin` (and `none`, typed by the user) pass. Otherwise a real `Origin` must name this
/// host. `Origin: null` is what our own forms send under `Referrer-Policy: no-referrer`, so it alone proves nothing
/// either way: the CSRF token decides.
pub(crate) fn same_origin(headers: &HeaderMap) -> Result<(), ApiError> {
    let forbidden = || ApiError::new(StatusCode::FORBIDDEN, "cross_site", "cross-site requests are refused");
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return if site == "same-origin" || site == "none" { Ok(()) } else { Err(forbidden()) };
    }
    if let Some(origin) = headers.get(ORIGIN).and_then(|v| v.to_str().ok()).filter(|o| *o != "null") {
        let host = headers.get(HOST).and_then(|v| v.to_str().ok()).unwrap_or_default();
        let origin_host = origin.split_once("://").map_or("", |(_, rest)| rest);
        if origin_host != host {
            return Err(forbidden());
        }
    }
    Ok(())
}

/// Checks a submitted CSRF token against the expected one, in constant time.
pub(crate) fn csrf_matches(expected: &str, submitted: &str) -> Result<(), ApiError> {
    if !expected.is_empty() && sealform_crypto::constant_time_eq(expected.as_bytes(), submitted.as_bytes()) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "csrf",
            "the form has expired or was not sent from this site; reload the page and try again",
        ))
    }
}

/// Where a request came from, for the audit trail (sealed there; never logged).
pub(crate) fn request_context<B>(request: &Request<B>) -> RequestContext {
    request_context_of(request.headers(), request.extensions())
}

/// [`request_context`] from a request's parts (for extractors, which see no whole request).
pub(crate) fn request_context_of(headers: &HeaderMap, extensions: &http::Extensions) -> RequestContext {
    let ip = client_ip_of(extensions).map(|ip| ip.to_string());
    let user_agent = headers.get(USER_AGENT).and_then(|v| v.to_str().ok()).map(|v| v.chars().take(256).collect());
    let request_id = extensions.get::<RequestId>().map(ToString::to_string);
    RequestContext { ip, user_agent, request_id, os_user: None }
}

/// The client's address: the connection's peer, or the client a trusted proxy names ([`crate::client_ip`]).
pub(crate) fn client_ip<B>(request: &Request<B>) -> Option<std::net::IpAddr> {
    client_ip_of(request.extensions())
}

/// [`client_ip`] from a request's extensions (set by [`crate::client_ip::resolve`] from the connection).
pub(crate) fn client_ip_of(extensions: &http::Extensions) -> Option<std::net::IpAddr> {
    extensions.get::<crate::client_ip::ClientIp>().map(|client| client.0)
}

/// The audit scope of a logged-in user.
pub(crate) fn user_scope(session: &SessionRecord, context: RequestContext) -> AuditScope {
    AuditScope { actor: Actor::User(*session.user.as_uuid()), context }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs.iter().map(|(k, v)| (http::HeaderName::from_static(k), HeaderValue::from_static(v))).collect()
    }

    #[test]
    fn cross_site_requests_are_refused_and_own_forms_pass() {
        assert!(same_origin(&headers(&[("sec-fetch-site", "same-origin"), ("origin", "null")])).is_ok());
        assert!(same_origin(&headers(&[("sec-fetch-site", "cross-site")])).is_err());
        assert!(same_origin(&headers(&[("sec-fetch-site", "same-site")])).is_err());
        assert!(same_origin(&headers(&[("origin", "https://evil.example"), ("host", "clinic.example")])).is_err());
        assert!(same_origin(&headers(&[("origin", "https://clinic.example"), ("host", "clinic.example")])).is_ok());
        assert!(same_origin(&headers(&[])).is_ok(), "no browser hints: the CSRF token decides");
    }
}
