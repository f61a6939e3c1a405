//! Reading requests: JSON bodies, query strings and path ids, each failure an RFC 9457 problem (axum's own
//! rejections are plain text). Bodies are read only after the caller was authorized, so an unauthorized request
//! never learns whether its body would have parsed.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use http::StatusCode;
use http::header::CONTENT_TYPE;
use serde::de::DeserializeOwned;

use crate::problem::ApiError;

/// A request body, read whole (within the router's body limit).
pub(crate) struct RawBody(pub(crate) Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json = request.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let bytes = Bytes::from_request(request, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", "the request body is too large")
            } else {
                ApiError::bad_request("the request body could not be read")
            }
        })?;
        // A body must say it is JSON; an empty one (DELETE, bodiless POST) need not.
        if !bytes.is_empty() && !json.as_deref().is_some_and(is_json) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as application/json",
            ));
        }
        Ok(Self(bytes))
    }
}

fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/json")
}

impl RawBody {
    /// The body as `T`: 400 for what is not JSON (or not UTF-8), 422 for JSON of the wrong shape. serde's message
    /// names the field and the expected type, never the value sent.
    pub(crate) fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        if self.0.is_empty() {
            return Err(ApiError::bad_request("a JSON body is required"));
        }
        let mut de = serde_json::Deserializer::from_slice(&self.0);
        let value = T::deserialize(&mut de).and_then(|v| de.end().map(|()| v));
        value.map_err(|err| {
            use serde_json::error::Category;
            match err.classify() {
                Category::Data => ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid",
                    format!("the body does not match the schema: {}", describe(&err)),
                ),
                Category::Syntax | Category::Eof | Category::Io => ApiError::bad_request(format!(
                    "the body is not valid JSON (line {}, column {})",
                    err.line(),
                    err.column()
                )),
            }
        })
    }
}

/// serde's message without a quoted value: `invalid type: string "Jane", expected u32` names what was sent, which
/// may be PHI; the expectation and the position are enough.
fn describe(err: &serde_json::Error) -> String {
    let text = err.to_string();
    for lead in ["invalid type", "invalid value", "unknown variant", "invalid length"] {
        if text.starts_with(lead) {
            // Keep "expected …" and serde_json's " at line L column C"; drop the echoed value.
            return text.find(", expected").map_or_else(|| lead.to_owned(), |at| format!("{lead}{}", &text[at..]));
        }
    }
    text
}

/// The query string as `T`, with missing keys defaulted by `T`: 400 for what does not parse.
pub(crate) fn query<T: DeserializeOwned>(raw: Option<&str>) -> Result<T, ApiError> {
    serde_urlencoded::from_str(raw.unwrap_or_default())
        .map_err(|err| ApiError::bad_request(format!("the query string is not valid: {}", describe_query(&err))))
}

fn describe_query(err: &serde_urlencoded::de::Error) -> String {
    // Like `describe`: drop any value echoed back.
    let text = err.to_string();
    if text.starts_with("invalid") { "a parameter has the wrong type".to_owned() } else { text }
}

/// Parses an id from the path; anything malformed is simply not found.
pub(crate) fn id<T: std::str::FromStr>(raw: &str) -> Result<T, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found())
}

/// Path parameters, as [`axum::extract::Path`], with its rejections as problems: a segment that is not even UTF-8
/// names no resource (404); anything else the router could not extract is a client error (400).
pub(crate) struct PathParams<T>(pub(crate) T);

impl<T, S> axum::extract::FromRequestParts<S> for PathParams<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut http::request::Parts, state: &S) -> Result<Self, Self::Rejection> {
        use axum::extract::rejection::PathRejection;
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Self(value)),
            Err(PathRejection::FailedToDeserializePathParams(_)) => Err(ApiError::not_found()),
            Err(_) => Err(ApiError::bad_request("the path could not be read")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[expect(dead_code, reason = "only parsed")]
    struct Shape {
        count: u32,
    }

    #[test]
    fn messages_never_repeat_the_value_sent() {
        let body = RawBody(Bytes::from_static(br#"{"count": "Jane Doe"}"#));
        let err = body.json::<Shape>().unwrap_err();
        assert_eq!(err.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(!format!("{err:?}").contains("Jane"), "{err:?}");
        let body = RawBody(Bytes::from_static(b"{\"count\": 1"));
        assert_eq!(body.json::<Shape>().unwrap_err().status(), StatusCode::BAD_REQUEST);
        let body = RawBody(Bytes::from_static(b"\xff\xfe"));
        assert_eq!(body.json::<Shape>().unwrap_err().status(), StatusCode::BAD_REQUEST);
    }
}
