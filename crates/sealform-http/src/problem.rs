//! One error type for every handler, rendered as RFC 9457 problem details. Each error has a status and a stable
//! machine code; a 5xx body says only "internal error" and the request id, and the cause is logged once, here.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use sealform_core::DomainError;
use serde::Serialize;

/// An error a handler returns.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    detail: String,
    /// Field-level messages (answer path or field name to message), for invalid input; never an answer.
    errors: Option<std::collections::BTreeMap<String, String>>,
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    title: &'a str,
    status: u16,
    code: &'static str,
    detail: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<&'a std::collections::BTreeMap<String, String>>,
}

impl ApiError {
    /// An error with a status, a stable code and a message safe to show (no PHI, no internals).
    #[must_use]
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self { status, code, detail: detail.into(), errors: None }
    }

    /// With field-level messages (RFC 9457 extension member `errors`).
    #[must_use]
    pub fn with_errors(mut self, errors: std::collections::BTreeMap<String, String>) -> Self {
        self.errors = Some(errors);
        self
    }

    /// 404 for anything unknown or not visible.
    #[must_use]
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "no such resource")
    }

    /// 400 with a message naming what was wrong.
    #[must_use]
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", detail)
    }

    /// The stable machine code.
    #[must_use]
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The message, safe to show.
    #[must_use]
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// The HTTP status.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

/// A lookup as the answer to a request: the value, 404 when it is not there (not in the caller's organisation
/// included), or the lookup's own failure as [`ApiError::from`] maps it.
pub(crate) trait Found<T> {
    /// See the trait.
    fn found(self) -> Result<T, ApiError>;
}

impl<T, E: Into<DomainError>> Found<T> for Result<Option<T>, E> {
    fn found(self) -> Result<T, ApiError> {
        self.map_err(|e| ApiError::from(e.into()))?.ok_or_else(ApiError::not_found)
    }
}

impl From<DomainError> for ApiError {
    fn from(err: DomainError) -> Self {
        match err {
            DomainError::Invalid(msg) => Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", msg),
            DomainError::Conflict(msg) => Self::new(StatusCode::CONFLICT, "conflict", msg),
            DomainError::NotFound(_) => Self::not_found(),
            DomainError::Unauthorized(msg) => Self::new(StatusCode::UNAUTHORIZED, "unauthorized", msg),
            DomainError::Store(source) => {
                tracing::error!(error = %source, cause = ?std::error::Error::source(&source), "storage failed");
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the service is temporarily unavailable")
            }
            DomainError::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error")
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let title = self.status.canonical_reason().unwrap_or("Error");
        let body = Problem {
            kind: "about:blank",
            title,
            status: self.status.as_u16(),
            code: self.code,
            detail: &self.detail,
            errors: self.errors.as_ref(),
        };
        let mut response = (self.status, Json(body)).into_response();
        response
            .headers_mut()
            .insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/problem+json"));
        response
    }
}
