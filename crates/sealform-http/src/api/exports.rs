//! `GET /api/v1/forms/{form}/export`: a form's submissions as CSV or JSON Lines, streamed page by page in constant
//! memory. The same export as the console's (counted and audited before the first byte, PHI hidden by the grant
//! exported as `•••` and never opened); the key's `export` scope stands in for the console's password step-up.

use axum::extract::{RawQuery, State};
use axum::response::Response;
use sealform_core::form_model::Definition;
use sealform_core::policy::{Action, phi_paths};
use sealform_core::store::Store;
use sealform_core::submission::SubmissionQuery;

use super::caller::Caller;
use super::forms::org_form;
use super::input::PathParams;
use crate::AppState;
use crate::console::export::{parse_request, stream_export};
use crate::console::inbox::{day, day_end};
use crate::problem::ApiError;

/// `GET /api/v1/forms/{form}/export?format=csv|jsonl&field=…&from=YYYY-MM-DD&to=YYYY-MM-DD`.
pub(crate) async fn export<S: Store>(
    State(state): State<AppState<S>>,
    caller: Caller,
    PathParams(raw): PathParams<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let form = org_form(&state, &caller, &raw).await?;
    caller.require_on(Action::ExportSubmissions, form.id)?;
    let definition = Definition::from_json(&form.definition).unwrap_or_default();
    let known = definition.answer_labels();
    let mut asked = parse_request(query.as_deref(), &known)?;
    asked.masked = if caller.hides_phi(form.id) { phi_paths(&definition) } else { Vec::new() };
    let mut submissions = SubmissionQuery::all(caller.org(), form.id, 0);
    submissions.from = day(&asked.from, "the start date")?;
    submissions.to = day_end(&asked.to, "the end date")?;
    let scope = caller.scope.clone();
    stream_export(state, scope, form, known, asked, submissions).await
}
