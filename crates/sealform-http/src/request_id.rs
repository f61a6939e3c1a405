//! A request id on every request, response and log line. Always generated here: a client-sent `x-request-id` is
//! ignored, so nobody can put their own text into our logs through it.

use std::fmt;
use std::time::Instant;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use http::HeaderValue;
use tracing::Instrument as _;
use uuid::Uuid;

/// The id of one request (UUIDv7), in request extensions and the `x-request-id` response header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestId(Uuid);

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// Paths whose last segment is a bearer secret (an invitation link's token): logged without it.
const SECRET_PATH_PREFIXES: [&str; 2] = ["/invite/", "/reset/"];

/// The path as logged: secrets in links replaced by `[redacted]`.
pub(crate) fn loggable_path(path: &str) -> std::borrow::Cow<'_, str> {
    match SECRET_PATH_PREFIXES.iter().find(|prefix| path.starts_with(**prefix)) {
        Some(prefix) => std::borrow::Cow::Owned(format!("{prefix}[redacted]")),
        None => std::borrow::Cow::Borrowed(path),
    }
}

/// Header carrying the id back to the client, for support requests.
pub(crate) const REQUEST_ID_HEADER: &str = "x-request-id";

/// Assigns the id, opens the request's span and logs one line when the response is ready. Only the path is
/// logged: never the query string (it may hold an `apiKey` or search terms), never bodies, never the client IP.
pub(crate) async fn request_context(mut request: Request, next: Next) -> Response {
    let id = RequestId(Uuid::now_v7());
    request.extensions_mut().insert(id);
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %request.method(),
        path = %loggable_path(request.uri().path()),
    );
    let started = Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;
    if let Ok(value) = HeaderValue::from_str(&id.to_string()) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    let status = response.status().as_u16();
    let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    span.in_scope(|| tracing::info!(status, duration_ms, "request finished"));
    response
}
