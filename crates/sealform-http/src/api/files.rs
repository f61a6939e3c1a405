//! Files of a submission: the list (ids and questions; names are answers, so they stay sealed) and the download,
//! opened on the fly and audited as `file.read` by the key.

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use sealform_core::DomainError;
use sealform_core::form_model::Definition;
use sealform_core::ids::{FileId, SubmissionId};
use sealform_core::policy::Action;
use sealform_core::store::Store;
use serde::Serialize;
use utoipa::ToSchema;

use super::caller::Caller;
use super::input::{PathParams, id};
use crate::AppState;
use crate::console::inbox::{file_is_phi, file_name, file_response};
use crate::problem::ApiError;
use crate::problem::Found as _;

/// An uploaded file.
#[derive(Serialize, ToSchema)]
pub(crate) struct File {
    /// Its id.
    #[schema(format = Uuid)]
    id: String,
    /// The question it answers.
    question_id: String,
    /// The revision it arrived with.
    revision: u32,
    /// Its size as stored (sealed), in bytes.
    sealed_size: u64,
    /// Whether it answers a PHI question (a caller whose grant hides PHI cannot download it).
    phi: bool,
    /// Where to download it.
    download: String,
}

/// `GET /api/v1/submissions/{submission}/files`.
pub(crate) async fn list<S: Store>(
    State(state): State<AppState<S>>,
    caller: Caller,
    PathParams(raw): PathParams<String>,
) -> Result<Json<Vec<File>>, ApiError> {
    let submission: SubmissionId = id(&raw)?;
    let org = caller.org();
    let summary = state.store.tenant(org).submission(submission).await.found()?;
    caller.require_on(Action::ReadSubmissions, summary.form_id)?;
    let json = state.store.tenant(org).form_definition(summary.form_id, summary.form_version).await.found()?;
    let definition = Definition::from_json(&json)
        .map_err(|_| DomainError::Internal("a stored form version does not parse".into()))?;
    let files = state.store.tenant(org).files_of(submission).await.map_err(DomainError::from)?;
    Ok(Json(
        files
            .iter()
            .map(|f| File {
                id: f.file.id.to_string(),
                question_id: f.file.question_id.clone(),
                revision: f.revision,
                sealed_size: f.file.sealed_size,
                // An unknown question counts as PHI (fail closed).
                phi: definition.question(&f.file.question_id).is_none_or(|q| q.phi),
                download: format!("/api/v1/files/{}", f.file.id),
            })
            .collect(),
    ))
}

/// `GET /api/v1/files/{file}`: the file's bytes, for a key the policy lets read the form's submissions (the read
/// scope, its form restriction, its user's role and grant; a PHI file not when the grant hides PHI). Audited as
/// `file.read` by the key before the first byte leaves. Another organisation's file is 404.
pub(crate) async fn download<S: Store>(
    State(state): State<AppState<S>>,
    caller: Caller,
    PathParams(raw): PathParams<String>,
) -> Result<Response, ApiError> {
    let file: FileId = id(&raw)?;
    let org = caller.org();
    let record = state.store.tenant(org).file(file).await.found()?;
    caller.require_on(Action::ReadSubmissions, record.form_id)?;
    if caller.hides_phi(record.form_id) && file_is_phi(&state, org, &record).await? {
        return Err(crate::console::forbidden("the key's user may not see this form's PHI fields"));
    }
    let name = file_name(&state, org, &caller.scope, &record).await?;
    let chunks = sealform_core::files::open_file(&state.objects, &state.keyring, &record).await?;
    file_response(chunks, &name)
}
