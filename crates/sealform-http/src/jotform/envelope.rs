//! Jotform's response envelope: `responseCode`, `message`, `content`, `duration`, `limit-left`, and `resultSet` on
//! lists; errors as `{responseCode, message, content: "", info}` with the same HTTP status. Handlers return
//! [`Content`] or [`Failure`]; the API's middleware ([`super::envelope_layer`]) wraps either into the envelope,
//! because only it knows the request's duration and the key's remaining budget.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use sealform_core::DomainError;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::problem::ApiError;

/// A successful answer's content, with its result set when it is a list page.
#[derive(Clone, Debug)]
pub(crate) struct Content {
    pub(crate) value: Value,
    pub(crate) result_set: Option<ResultSet>,
}

/// `resultSet` of a list: where the page starts, its size limit, and how many items it holds.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ResultSet {
    pub(crate) offset: u64,
    pub(crate) limit: u32,
    pub(crate) count: usize,
}

impl Content {
    /// A single object (or any value).
    pub(crate) fn of(value: Value) -> Self {
        Self { value, result_set: None }
    }

    /// One page of a list.
    pub(crate) fn page(items: Vec<Value>, offset: u64, limit: u32) -> Self {
        let count = items.len();
        Self { value: Value::Array(items), result_set: Some(ResultSet { offset, limit, count }) }
    }
}

impl IntoResponse for Content {
    fn into_response(self) -> Response {
        let mut response = StatusCode::OK.into_response();
        response.extensions_mut().insert(self);
        response
    }
}

/// An error as Jotform shows it: the status, a message safe to show, and `info` (Sealform's stable error code).
#[derive(Clone, Debug)]
pub(crate) struct Failure {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
    pub(crate) info: &'static str,
}

impl Failure {
    pub(crate) fn new(status: StatusCode, info: &'static str, message: impl Into<String>) -> Self {
        Self { status, message: message.into(), info }
    }

    /// 400 naming what was malformed.
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 404 for anything unknown or in another organisation.
    pub(crate) fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", format!("{what} not found"))
    }

    /// 403 with the policy's reason.
    pub(crate) fn forbidden(reason: &str) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", reason)
    }
}

impl From<ApiError> for Failure {
    fn from(err: ApiError) -> Self {
        // Sealform's validation answers 422; Jotform's clients expect 400 for a bad request.
        let status =
            if err.status() == StatusCode::UNPROCESSABLE_ENTITY { StatusCode::BAD_REQUEST } else { err.status() };
        Self { status, message: err.detail().to_owned(), info: err.code() }
    }
}

impl From<DomainError> for Failure {
    fn from(err: DomainError) -> Self {
        ApiError::from(err).into()
    }
}

impl From<sealform_core::store::StoreError> for Failure {
    fn from(err: sealform_core::store::StoreError) -> Self {
        DomainError::from(err).into()
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let mut response = self.status.into_response();
        response.extensions_mut().insert(self);
        response
    }
}

/// What a handler returns.
pub(crate) type Answer = Result<Content, Failure>;

/// The envelope of a success.
pub(crate) fn success(content: Content, duration_ms: f64, limit_left: Option<u32>) -> Response {
    let mut body = json!({
        "responseCode": 200,
        "message": "success",
        "content": content.value,
        "duration": format!("{duration_ms:.2}ms"),
        "limit-left": limit_left,
    });
    if let Some(set) = content.result_set {
        body["resultSet"] = json!({ "offset": set.offset, "limit": set.limit, "count": set.count });
    }
    Json(body).into_response()
}

/// The envelope of an error, with the failure's status.
pub(crate) fn failure(failure: &Failure, duration_ms: f64, limit_left: Option<u32>) -> Response {
    let body = json!({
        "responseCode": failure.status.as_u16(),
        "message": failure.message,
        "content": "",
        "duration": format!("{duration_ms:.2}ms"),
        "limit-left": limit_left,
        "info": failure.info,
    });
    (failure.status, Json(body)).into_response()
}

/// A time as Jotform writes it: `YYYY-MM-DD HH:MM:SS` (UTC).
pub(crate) fn date(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    at.format(&time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]")).unwrap_or_default()
}

/// Parses a Jotform date filter: `YYYY-MM-DD HH:MM:SS` or `YYYY-MM-DD` (midnight), UTC.
pub(crate) fn parse_date(text: &str) -> Option<OffsetDateTime> {
    let text = text.trim();
    let full = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    if let Ok(at) = time::PrimitiveDateTime::parse(text, full) {
        return Some(at.assume_utc());
    }
    time::Date::parse(text, time::macros::format_description!("[year]-[month]-[day]"))
        .ok()
        .map(|d| d.midnight().assume_utc())
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn dates_round_trip_in_jotform_format() {
        let at = datetime!(2026-03-04 05:06:07.89 UTC);
        assert_eq!(date(at), "2026-03-04 05:06:07");
        assert_eq!(parse_date("2026-03-04 05:06:07"), Some(datetime!(2026-03-04 05:06:07 UTC)));
        assert_eq!(parse_date("2026-03-04"), Some(datetime!(2026-03-04 00:00 UTC)));
        assert_eq!(parse_date("04/03/2026"), None);
        assert_eq!(parse_date("' OR 1=1 --"), None);
    }
}
