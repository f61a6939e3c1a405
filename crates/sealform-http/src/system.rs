//! Operational endpoints: liveness, readiness, CSP violation reports.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use sealform_core::store::Store;
use serde_json::{Value, json};

use crate::AppState;
use crate::problem::ApiError;

/// Largest CSP report accepted; real ones are well under 4 KiB.
pub(crate) const CSP_REPORT_LIMIT: usize = 64 * 1024;

/// `GET /healthz`: the process is up and serving.
pub(crate) async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /readyz`: the database answers and the schema is fully migrated; 503 otherwise.
pub(crate) async fn readyz<S: Store>(State(state): State<AppState<S>>) -> Response {
    match state.store.readiness().await {
        Ok(()) => Json(json!({ "status": "ready", "database": state.store.backend_name() })).into_response(),
        Err(err) => {
            tracing::warn!(error = %err, cause = ?std::error::Error::source(&err), "not ready");
            let body =
                json!({ "status": "not ready", "database": state.store.backend_name(), "reason": err.to_string() });
            (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
        }
    }
}

/// `POST /csp-report`: browsers report blocked content here. Logged with the directive and the blocked origin only:
/// the full report can carry page URLs and snippets that might hold PHI.
pub(crate) async fn csp_report(body: Bytes) -> Result<StatusCode, ApiError> {
    let report: Value =
        serde_json::from_slice(&body).map_err(|_| ApiError::bad_request("the CSP report is not valid JSON"))?;
    // Both the legacy `{"csp-report": {...}}` and the Reporting API's `[{"body": {...}}]` shapes.
    let entries: Vec<&Value> = match &report {
        Value::Array(items) => items.iter().filter_map(|item| item.get("body")).collect(),
        Value::Object(map) => map.get("csp-report").into_iter().collect(),
        _ => Vec::new(),
    };
    if entries.is_empty() {
        return Err(ApiError::bad_request("the body is not a CSP violation report"));
    }
    for entry in entries {
        let directive = field(entry, &["effective-directive", "effectiveDirective", "violated-directive"]);
        let blocked = field(entry, &["blocked-uri", "blockedURL"]);
        tracing::warn!(
            directive = %truncate(directive, 64),
            blocked.origin = %origin_only(blocked),
            "content security policy violation reported"
        );
    }
    Ok(StatusCode::NO_CONTENT)
}

fn field<'a>(entry: &'a Value, names: &[&str]) -> &'a str {
    names.iter().find_map(|name| entry.get(*name).and_then(Value::as_str)).unwrap_or("")
}

fn truncate(text: &str, max: usize) -> String {
    text.chars().filter(|c| !c.is_control()).take(max).collect()
}

/// `https://host:port` of a URL, or the keyword (`inline`, `eval`) browsers send instead of one.
fn origin_only(uri: &str) -> String {
    match uri.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
            let host = host.rsplit('@').next().unwrap_or_default();
            truncate(&format!("{scheme}://{host}"), 128)
        }
        None => truncate(uri.split([':', '/', '?', '#']).next().unwrap_or_default(), 32),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_origin_of_a_blocked_uri_is_kept() {
        assert_eq!(origin_only("https://evil.example:8443/x?patient=Jane#f"), "https://evil.example:8443");
        assert_eq!(origin_only("https://user:pw@cdn.example/a.js"), "https://cdn.example");
        assert_eq!(origin_only("inline"), "inline");
        assert_eq!(origin_only("data:text/html;base64,AAAA"), "data");
    }
}
