//! Admission to the native API, in front of every keyed route: the bearer key is checked and spends one request of
//! its budget ([`crate::rate_limit`]); every answer then carries the `RateLimit-Policy` and `RateLimit` headers
//! (draft-ietf-httpapi-ratelimit-headers). Refusals are problems: 401 with `WWW-Authenticate: Bearer`, or 429 with
//! `Retry-After` (a spent budget, or an address that failed to authenticate too often). The admitted key travels
//! to the handler in the request's extensions, where [`super::caller::Caller`] picks it up.

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::header::{AUTHORIZATION, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, StatusCode};
use sealform_core::store::Store;

use super::operations::OPERATIONS;
use crate::AppState;
use crate::auth::client_ip;
use crate::problem::ApiError;
use crate::rate_limit::{self, Admitted, Refusal};

/// The key text of `Authorization: Bearer <key>` (the scheme in any case), if any.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, key) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(key.trim())
}

/// The 401 problem with the `WWW-Authenticate: Bearer` challenge.
pub(crate) fn unauthorized(detail: &str) -> Response {
    let mut response = ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", detail.to_owned()).into_response();
    response.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

/// A 429 problem telling the client when to come back.
fn too_many(retry_after: u64, detail: &str) -> Response {
    let mut response = ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", detail).into_response();
    response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(retry_after));
    response
}

/// The middleware: admit the key, run the handler, add the budget to its answer. A method the path does not take
/// goes straight through to the router's 405 (with its `Allow` list): there is nothing to admit it to.
pub(crate) async fn admit<S: Store>(State(state): State<AppState<S>>, mut request: Request, next: Next) -> Response {
    let routed = request.extensions().get::<MatchedPath>().is_some_and(|path| {
        OPERATIONS.iter().any(|op| op.path == path.as_str() && op.method == request.method().as_str())
    });
    if !routed {
        return next.run(request).await;
    }
    let key = bearer(request.headers()).map(str::to_owned);
    let admitted = rate_limit::admit(&state, client_ip(&request), key.as_deref()).await;
    match admitted {
        Ok(Admitted { principal, budget }) => {
            request.extensions_mut().insert(principal);
            let mut response = next.run(request).await;
            response.headers_mut().extend(budget.headers());
            response
        }
        Err(Refusal::Unauthorized(message)) => {
            let detail = if key.is_none() { "send an API key as `Authorization: Bearer <key>`" } else { &message };
            unauthorized(detail)
        }
        Err(Refusal::TooManyFailures { retry_after }) => too_many(
            retry_after,
            "too many failed attempts to authenticate from this address; wait before trying again",
        ),
        Err(Refusal::OverBudget { retry_after, budget }) => {
            let mut response = too_many(retry_after, "this API key has used its request budget; wait and retry");
            response.headers_mut().extend(budget.headers());
            response
        }
        Err(Refusal::Failed(err)) => ApiError::from(err).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scheme_is_case_insensitive_and_the_key_trimmed() {
        let headers = |v: &'static str| HeaderMap::from_iter([(AUTHORIZATION, HeaderValue::from_static(v))]);
        assert_eq!(bearer(&headers("Bearer sf_x_y")), Some("sf_x_y"));
        assert_eq!(bearer(&headers("BEARER  sf_x_y ")), Some("sf_x_y"));
        assert_eq!(bearer(&headers("Basic YTpi")), None);
        assert_eq!(bearer(&HeaderMap::new()), None);
    }
}
