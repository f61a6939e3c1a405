//! `POST /api/v1/forms/{form}/submissions`: a new submission, checked by the form model's validator, sealed and
//! stored, with an optional `Idempotency-Key` (see [`sealform_core::idempotency`]): a retry of the same request gets
//! the first answer again and stores nothing; the same key with another body is refused.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::header::LOCATION;
use http::{HeaderMap, HeaderValue, StatusCode};
use sealform_core::DomainError;
use sealform_core::form_model::{Definition, validate_answers};
use sealform_core::forms::accepts_submissions;
use sealform_core::idempotency::{IdempotencyRecord, KEY_TAKEN, Prior, check_key, prior, request_digest};
use sealform_core::ids::SubmissionId;
use sealform_core::policy::Action;
use sealform_core::sealing::{NewAnswers, store_submission, store_submission_once};
use sealform_core::store::Store;
use sealform_core::submission::{SubmissionStatus, SubmissionSummary};

use super::{NewSubmission, Submission, invalid, raw_answers};
use crate::AppState;
use crate::api::caller::Caller;
use crate::api::forms::org_form;
use crate::api::input::{PathParams, RawBody};
use crate::problem::ApiError;

/// The `Idempotency-Key` header, checked; `None` when absent.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    headers
        .get("idempotency-key")
        .map(|v| {
            let key = v.to_str().map_err(|_| ApiError::bad_request("the Idempotency-Key is not visible ASCII"))?;
            Ok(check_key(key)?.to_owned())
        })
        .transpose()
}

/// The first answer again, marked as a replay.
fn replay(record: &IdempotencyRecord) -> Response {
    let status = StatusCode::from_u16(record.status).unwrap_or(StatusCode::CREATED);
    let mut response = (status, record.response.clone()).into_response();
    let headers = response.headers_mut();
    headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    if let Ok(location) = HeaderValue::from_str(&format!("/api/v1/submissions/{}", record.submission)) {
        headers.insert(LOCATION, location);
    }
    response
}

fn key_reused() -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency_key_reused",
        "this Idempotency-Key was used for a different request in the last 24 hours; use a new key",
    )
}

/// `POST /api/v1/forms/{form}/submissions`: checks the answers against the form's current version, seals and stores
/// them (audited as `submission.create` by the key). With an `Idempotency-Key`, a repeat of the same request within
/// 24 hours gets the first answer again (`Idempotent-Replayed: true`) and stores nothing; the same key with another
/// body is refused (422).
pub(crate) async fn create<S: Store>(
    State(state): State<AppState<S>>,
    caller: Caller,
    PathParams(raw): PathParams<String>,
    headers: HeaderMap,
    body: RawBody,
) -> Result<Response, ApiError> {
    let form = org_form(&state, &caller, &raw).await?;
    caller.require_on(Action::SubmitForm, form.id)?;
    let key = idempotency_key(&headers)?;
    let sent: NewSubmission = body.json()?;
    let org = caller.org();
    let digest = match &key {
        Some(key) => {
            let digest = request_digest(&state.keyring, org, form.id, &body.0).await?;
            match prior(&state.store, org, caller.key.key, key, digest, caller.now).await? {
                Prior::Replay(record) => return Ok(replay(&record)),
                Prior::Mismatch => return Err(key_reused()),
                Prior::None => Some(digest),
            }
        }
        None => None,
    };
    if !accepts_submissions(&form) {
        return Err(ApiError::new(StatusCode::CONFLICT, "form_closed", "the form is not published"));
    }
    let definition = Definition::from_json(&form.definition)
        .map_err(|_| DomainError::Internal("a stored form does not parse".into()))?;
    let answers = validate_answers(&definition, &raw_answers(sent.answers), &BTreeMap::new()).map_err(invalid)?;
    let id = SubmissionId::new();
    let summary = SubmissionSummary {
        id,
        form_id: form.id,
        form_version: form.version,
        status: SubmissionStatus::New,
        revision: 1,
        created_at: caller.now,
        updated_at: caller.now,
    };
    let response = serde_json::to_string(&Submission::from(&summary))
        .map_err(|e| DomainError::Internal(format!("submission to JSON: {e}")))?;
    let indexed = definition.indexed_paths();
    let new = NewAnswers { org, form: form.id, form_version: form.version, answers: &answers, indexed: &indexed };
    let audit = caller.audit(&state);
    match (key, digest) {
        (Some(key), Some(request_digest)) => {
            let record = IdempotencyRecord {
                org,
                api_key: caller.key.key,
                key: key.clone(),
                request_digest,
                submission: id,
                status: StatusCode::CREATED.as_u16(),
                response: response.clone(),
                created_at: caller.now,
            };
            match store_submission_once(&state.store, &state.keyring, audit, new, record).await {
                Ok(()) => {}
                // A concurrent request with the same key committed first: answer as it was answered.
                Err(DomainError::Conflict(message)) if message == KEY_TAKEN => {
                    return match prior(&state.store, org, caller.key.key, &key, request_digest, caller.now).await? {
                        Prior::Replay(record) => Ok(replay(&record)),
                        Prior::Mismatch | Prior::None => Err(key_reused()),
                    };
                }
                Err(err) => return Err(err.into()),
            }
        }
        _ => store_submission(&state.store, &state.keyring, audit, id, new, Vec::new(), caller.now).await?,
    }
    let mut reply = (StatusCode::CREATED, response).into_response();
    reply.headers_mut().insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Ok(location) = HeaderValue::from_str(&format!("/api/v1/submissions/{id}")) {
        reply.headers_mut().insert(LOCATION, location);
    }
    Ok(reply)
}
