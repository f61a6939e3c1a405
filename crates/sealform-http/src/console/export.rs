//! Export of a form's submissions as CSV or JSON Lines: chosen fields and a date range, behind a recent step-up.
//! The export is counted and audited (records and fields) before the first byte leaves, then streamed page by page,
//! opened on the fly: memory stays flat whatever the number of submissions.

use axum::body::Body;
use axum::extract::{Path, RawQuery, Request, State};
use axum::response::{IntoResponse, Response};
use http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use http::{HeaderValue, StatusCode};
use minijinja::context;
use sealform_core::DomainError;
use sealform_core::audit::{AuditCtx, AuditScope};
use sealform_core::form_model::Definition;
use sealform_core::inbox::Export;
use sealform_core::policy::{Action as PolicyAction, MASK, phi_paths};
use sealform_core::sealing::Answers;
use sealform_core::store::Store;
use sealform_core::submission::{FormRecord, SubmissionQuery, SubmissionSummary};

use super::Authz;
use super::inbox::{day, day_end, format_time, org_form, staff};
use super::to_reauth;
use crate::AppState;
use crate::pages::render;
use crate::problem::ApiError;

/// The output format.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    JsonLines,
}

/// `GET /console/forms/{form}/export`: choose fields, dates and format.
pub(crate) async fn export_page<S: Store>(
    State(state): State<AppState<S>>,
    Path(raw): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let (session, _, authz) = match staff(&state, &request).await? {
        Ok(found) => found,
        Err(redirect) => return Ok(redirect),
    };
    let form = org_form(&state, &session, &raw).await?;
    authz.require_on(PolicyAction::ExportSubmissions, form.id)?;
    let definition = Definition::from_json(&form.definition).unwrap_or_default();
    let columns: Vec<_> =
        definition.answer_labels().into_iter().map(|(path, label)| context! { path => path, label => label }).collect();
    let page = render(
        &state.templates,
        "export.html",
        context! { form => context! { id => form.id.to_string(), title => form.title.as_str() }, columns },
    )?;
    Ok(page.into_response())
}

/// What the download asks for, from a query string with repeated `field` keys.
pub(crate) struct ExportRequest {
    format: Format,
    fields: Vec<String>,
    /// Fields whose answers are masked for the exporter (PHI hidden by their grant): exported as `•••`, never opened.
    pub(crate) masked: Vec<String>,
    pub(crate) from: String,
    pub(crate) to: String,
}

pub(crate) fn parse_request(query: Option<&str>, known: &[(String, String)]) -> Result<ExportRequest, ApiError> {
    let invalid = |what: &str| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", what.to_owned());
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(query.unwrap_or_default()).map_err(|_| invalid("the query is malformed"))?;
    let mut request = ExportRequest {
        format: Format::Csv,
        fields: Vec::new(),
        masked: Vec::new(),
        from: String::new(),
        to: String::new(),
    };
    for (key, value) in pairs {
        match key.as_str() {
            "format" => {
                request.format = match value.as_str() {
                    "csv" => Format::Csv,
                    "jsonl" => Format::JsonLines,
                    _ => return Err(invalid("the format must be csv or jsonl")),
                }
            }
            "field" => {
                if !known.iter().any(|(path, _)| *path == value) {
                    return Err(invalid("a chosen field is not on this form"));
                }
                if !request.fields.contains(&value) {
                    request.fields.push(value);
                }
            }
            "from" => request.from = value,
            "to" => request.to = value,
            _ => {}
        }
    }
    if request.fields.is_empty() {
        request.fields = known.iter().map(|(path, _)| path.clone()).collect();
    }
    Ok(request)
}

/// `GET /console/forms/{form}/export/download?format=csv|jsonl&field=…&from=…&to=…`: needs a step-up within the last
/// few minutes (re-entering the password), as user administration does.
pub(crate) async fn export_download<S: Store>(
    State(state): State<AppState<S>>,
    Path(raw): Path<String>,
    RawQuery(query): RawQuery,
    request: Request,
) -> Result<Response, ApiError> {
    let (session, scope, authz) = match staff(&state, &request).await? {
        Ok(found) => found,
        Err(redirect) => return Ok(redirect),
    };
    let form = org_form(&state, &session, &raw).await?;
    authz.require_on(PolicyAction::ExportSubmissions, form.id)?;
    if !session.recently_reauthenticated(state.clock.now()) {
        return Ok(to_reauth(&format!("/console/forms/{}/export", form.id)));
    }
    let definition = Definition::from_json(&form.definition).unwrap_or_default();
    let known = definition.answer_labels();
    let mut asked = parse_request(query.as_deref(), &known)?;
    asked.masked = masked_fields(&authz, &form, &definition);
    let mut submissions = SubmissionQuery::all(session.org, form.id, 0);
    submissions.from = day(&asked.from, "the start date")?;
    submissions.to = day_end(&asked.to, "the end date")?;
    stream_export(state, scope, form, known, asked, submissions).await
}

/// The PHI answer paths masked for `authz` on this form (empty when nothing is hidden).
fn masked_fields(authz: &Authz, form: &FormRecord, definition: &Definition) -> Vec<String> {
    if authz.hides_phi(form.id) { phi_paths(definition) } else { Vec::new() }
}

/// Starts the export in a task that owns its state; answers once the audit entry committed (or with the error).
pub(crate) async fn stream_export<S: Store>(
    state: AppState<S>,
    scope: AuditScope,
    form: FormRecord,
    known: Vec<(String, String)>,
    asked: ExportRequest,
    query: SubmissionQuery,
) -> Result<Response, ApiError> {
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<Result<(), DomainError>>();
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let format = asked.format;
    let fields = asked.fields;
    let masked = asked.masked;
    // Only what is revealed is opened and named in the audit entry.
    let revealed: Vec<String> = fields.iter().filter(|f| !masked.contains(f)).cloned().collect();
    tokio::spawn(async move {
        let audit = AuditCtx { auditor: &state.auditor, scope: &scope };
        let started = Export::start(&state.store, &state.keyring, audit, query, revealed, state.clock.now()).await;
        let mut export = match started {
            Ok(export) => export,
            Err(err) => {
                let _ = ready_tx.send(Err(err));
                return;
            }
        };
        let _ = ready_tx.send(Ok(()));
        let headers: Vec<&str> = fields
            .iter()
            .map(|path| known.iter().find(|(p, _)| p == path).map_or(path.as_str(), |(_, label)| label.as_str()))
            .collect();
        if format == Format::Csv {
            let mut line = String::new();
            csv_row(&mut line, ["submission id", "submitted at", "status"].into_iter().chain(headers.iter().copied()));
            if tx.send(Ok(line.into_bytes())).await.is_err() {
                return;
            }
        }
        loop {
            let page = match export.next_page().await {
                Ok(page) => page,
                Err(err) => {
                    tracing::error!(error = %err, "export stopped");
                    let _ = tx.send(Err(std::io::Error::other("export failed"))).await;
                    return;
                }
            };
            if page.is_empty() {
                return;
            }
            let mut chunk = String::new();
            for (summary, answers) in &page {
                match format {
                    Format::Csv => csv_record(&mut chunk, summary, answers, &fields, &masked),
                    Format::JsonLines => json_record(&mut chunk, summary, answers, &fields, &masked),
                }
            }
            if tx.send(Ok(chunk.into_bytes())).await.is_err() {
                return;
            }
        }
    });
    match ready_rx.await {
        Ok(Ok(())) => {}
        Ok(Err(err)) => return Err(err.into()),
        Err(_) => return Err(DomainError::Internal("the export task ended early".into()).into()),
    }
    let (content_type, extension) = match format {
        Format::Csv => ("text/csv; charset=utf-8", "csv"),
        Format::JsonLines => ("application/x-ndjson", "jsonl"),
    };
    let name = format!("attachment; filename=\"submissions-{}.{extension}\"", form.id);
    let disposition = HeaderValue::from_str(&name).unwrap_or_else(|_| HeaderValue::from_static("attachment"));
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    Ok(([(CONTENT_TYPE, HeaderValue::from_static(content_type)), (CONTENT_DISPOSITION, disposition)], body)
        .into_response())
}

fn value(answers: &Answers, path: &str) -> String {
    answers.get(path).map(|v| String::from_utf8_lossy(v).into_owned()).unwrap_or_default()
}

fn csv_record(out: &mut String, summary: &SubmissionSummary, answers: &Answers, fields: &[String], masked: &[String]) {
    let id = summary.id.to_string();
    let at = format_time(summary.created_at);
    let values: Vec<String> =
        fields.iter().map(|path| if masked.contains(path) { MASK.to_owned() } else { value(answers, path) }).collect();
    csv_row(
        out,
        [id.as_str(), at.as_str(), summary.status.as_str()].into_iter().chain(values.iter().map(String::as_str)),
    );
}

/// Appends one RFC 4180 row. Cells that a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, CR) get a
/// leading apostrophe (OWASP CSV injection guidance): an export opened in Excel never executes patient input.
pub(super) fn csv_row<'a>(out: &mut String, cells: impl Iterator<Item = &'a str>) {
    for (i, cell) in cells.enumerate() {
        if i > 0 {
            out.push(',');
        }
        let guarded = cell.starts_with(['=', '+', '-', '@', '\t', '\r']);
        out.push('"');
        if guarded {
            out.push('\'');
        }
        out.push_str(&cell.replace('"', "\"\""));
        out.push('"');
    }
    out.push_str("\r\n");
}

fn json_record(out: &mut String, summary: &SubmissionSummary, answers: &Answers, fields: &[String], masked: &[String]) {
    let mut map = serde_json::Map::new();
    for path in fields {
        if masked.contains(path) {
            map.insert(path.clone(), serde_json::Value::String(MASK.to_owned()));
        } else if let Some(v) = answers.get(path) {
            map.insert(path.clone(), serde_json::Value::String(String::from_utf8_lossy(v).into_owned()));
        }
    }
    let record = serde_json::json!({
        "id": summary.id.to_string(),
        "form_id": summary.form_id.to_string(),
        "form_version": summary.form_version,
        "revision": summary.revision,
        "status": summary.status.as_str(),
        "created_at": summary.created_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        "answers": map,
    });
    out.push_str(&record.to_string());
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_every_cell_and_defuses_formulas() {
        let mut out = String::new();
        csv_row(&mut out, ["plain", "with \"quote\"", "=SUM(A1)", "-1", "a,b\nc"].into_iter());
        assert_eq!(out, "\"plain\",\"with \"\"quote\"\"\",\"'=SUM(A1)\",\"'-1\",\"a,b\nc\"\r\n");
    }
}
