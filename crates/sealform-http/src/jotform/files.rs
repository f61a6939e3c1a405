//! Uploaded files: `/form/{id}/files` lists them with URLs, and `/files/{id}` returns the exact bytes to a key that
//! may read the form's submissions (a PHI file not when the key user's grant hides PHI), audited as `file.read`.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use sealform_core::ids::FileId;
use sealform_core::policy::Action;
use sealform_core::store::Store;
use serde_json::json;

use super::{Answer, Caller, Content, Failure};
use crate::AppState;

/// Most submissions whose files one listing covers.
const MAX_SUBMISSIONS: u32 = 1_000;

/// `GET /form/{id}/files`: the form's files (newest submissions first), each with its download URL. Names are
/// answers, so they are not listed (opening them would be a read of each submission); a PHI file of a form whose
/// PHI the key's user may not see is left out.
pub(crate) async fn list<S: Store>(
    State(state): State<AppState<S>>,
    Extension(caller): Extension<Arc<Caller>>,
    Path(form): Path<String>,
) -> Answer {
    let record = caller.form(&state, &form).await?;
    let now = state.clock.now();
    caller.require_on(Action::ReadSubmissions, record.id, now)?;
    let definition = super::questions::definition(&record)?;
    let hide = caller.hides_phi(record.id, now);
    let org = caller.principal.org;
    let query = sealform_core::submission::SubmissionQuery::all(org, record.id, MAX_SUBMISSIONS);
    let mut items = Vec::new();
    for summary in state.store.tenant(org).submissions(query).await? {
        for file in state.store.tenant(org).files_of(summary.id).await? {
            // Unknown question: treated as PHI (fail closed).
            let phi = definition.question(&file.file.question_id).is_none_or(|q| q.phi);
            if hide && phi {
                continue;
            }
            items.push(json!({
                "id": file.file.id.to_string(),
                "submission_id": summary.id.to_string(),
                "form_id": record.id.to_string(),
                "question_id": file.file.question_id,
                "date": super::envelope::date(summary.created_at),
                "size": file.file.sealed_size.to_string(),
                "url": format!("{}/jotform/v1/files/{}", state.public_url, file.file.id),
            }));
        }
    }
    Ok(Content::of(json!(items)))
}

/// `GET /files/{id}`: the file's bytes.
pub(crate) async fn download<S: Store>(
    State(state): State<AppState<S>>,
    Extension(caller): Extension<Arc<Caller>>,
    Path(raw): Path<String>,
) -> Result<Response, Failure> {
    let id: FileId = raw.trim().parse().map_err(|_| Failure::bad_request("the file id is not valid"))?;
    let org = caller.principal.org;
    let record = state.store.tenant(org).file(id).await?.ok_or_else(|| Failure::not_found("file"))?;
    let now = state.clock.now();
    caller.require_on(Action::ReadSubmissions, record.form_id, now)?;
    if caller.hides_phi(record.form_id, now) && crate::console::inbox::file_is_phi(&state, org, &record).await? {
        return Err(Failure::forbidden("the key's user may not see this form's PHI fields"));
    }
    let scope = caller.scope();
    let name = crate::console::inbox::file_name(&state, org, &scope, &record).await?;
    let chunks =
        sealform_core::files::open_file(&state.objects, &state.keyring, &record).await.map_err(Failure::from)?;
    Ok(crate::console::inbox::file_response(chunks, &name)?.into_response())
}
