//! The public fill page of a form (DESIGN.md §9): server-rendered, accessible, usable without JavaScript, and
//! embeddable in other sites (its own `Content-Security-Policy` relaxes only `frame-ancestors`).
//!
//! A submission arrives as `multipart/form-data` and is read as a stream: text parts are collected under a bound,
//! file parts are sealed chunk by chunk into the object store as they arrive (never buffered whole, never written in
//! clear), then the answers are checked against the form in one place ([`validate_answers`]). A refused submission
//! leaves nothing behind: its sealed objects are removed. An accepted one is sealed and stored with its
//! `submission.create` audit entry in one transaction.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use axum::extract::multipart::{Field, MultipartError};
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Path, Request, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use http::header::{CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, StatusCode};
use minijinja::context;
use sealform_core::DomainError;
use sealform_core::audit::{Actor, AuditCtx, AuditScope};
use sealform_core::files::{FileRef, FileSealer, UploadError};
use sealform_core::form_model::{
    ConditionAction, Definition, FieldErrors, Question, QuestionType, UploadedFile, human_bytes, validate_answers,
};
use sealform_core::forms::accepts_submissions;
use sealform_core::ids::{FileId, FormId, SubmissionId};
use sealform_core::sealing::{NewAnswers, store_submission};
use sealform_core::store::Store;
use sealform_core::submission::{FormRecord, NewFile};
use serde::Serialize;

use crate::AppState;
use crate::pages::{render, static_asset};
use crate::problem::ApiError;

/// Templates of this module: (name, source).
pub(crate) const TEMPLATES: &[(&str, &str)] = &[
    ("public_base.html", include_str!("../templates/public_base.html")),
    ("public_form.html", include_str!("../templates/public_form.html")),
    ("public_message.html", include_str!("../templates/public_message.html")),
];

/// Most parts one submission may have.
const MAX_FIELDS: usize = 2_000;
/// Most bytes of text (all text parts together) one submission may have.
const MAX_TEXT_BYTES: usize = 1 << 20;
/// The honeypot: a field people never see. Not an answer path (no question has a part called `url`).
const HONEYPOT: &str = "website_url";

/// The fill page's policy: the global one, except that any site may frame it.
static FRAMEABLE_CSP: LazyLock<HeaderValue> = LazyLock::new(|| {
    let policy = crate::headers::CONTENT_SECURITY_POLICY_VALUE.replace("frame-ancestors 'none'", "frame-ancestors *");
    HeaderValue::from_str(&policy).unwrap_or_else(|_| HeaderValue::from_static("frame-ancestors 'none'"))
});

/// Routes of the public pages, under the general body limit.
pub(crate) fn routes<S: Store>() -> crate::app::Routes<S> {
    crate::app::Routes::new()
        .route("/f/{form_id}", get(fill_page::<S>))
        .route("/f/{form_id}/thanks", get(thanks_page::<S>))
        .route("/f/{form_id}/qr.svg", get(qr_svg::<S>))
        .route("/f/{form_id}/qr.png", get(qr_png_page::<S>))
        .route("/static/form.js", get(script))
        .route("/static/embed.js", get(embed_script))
        .route("/static/form.css", get(stylesheet))
}

/// Routes that take uploads, under the upload limit.
pub(crate) fn upload_routes<S: Store>() -> crate::app::Routes<S> {
    // The upload limit (a layer outside) bounds the body; the extractor's own default limit would cut it shorter.
    crate::app::Routes::new().route("/f/{form_id}", axum::routing::post(submit::<S>).layer(DefaultBodyLimit::disable()))
}

/// `GET /static/form.js`: the fill page's progressive enhancement.
async fn script() -> Response {
    static_asset("text/javascript; charset=utf-8", include_str!("../static/form.js"))
}

/// `GET /static/embed.js`: loaded by other sites that embed a form, so it may be fetched cross-origin.
async fn embed_script() -> Response {
    let mut response = static_asset("text/javascript; charset=utf-8", include_str!("../static/embed.js"));
    response.headers_mut().insert(
        http::HeaderName::from_static("cross-origin-resource-policy"),
        HeaderValue::from_static("cross-origin"),
    );
    response
}

/// `GET /static/form.css`.
async fn stylesheet() -> Response {
    static_asset("text/css; charset=utf-8", include_str!("../static/form.css"))
}

/// Marks a response as embeddable in any site.
fn frameable(mut response: Response) -> Response {
    response.headers_mut().insert(CONTENT_SECURITY_POLICY, FRAMEABLE_CSP.clone());
    response
}

/// A page with a heading and one message, framable like the form it stands for.
fn message_page<S: Store>(state: &AppState<S>, status: StatusCode, heading: &str, message: &str) -> Response {
    match render(&state.templates, "public_message.html", context! { heading, message }) {
        Ok(page) => frameable((status, page).into_response()),
        Err(err) => err.into_response(),
    }
}

/// Unknown, malformed and unpublished forms look the same.
fn unavailable<S: Store>(state: &AppState<S>) -> Response {
    message_page(
        state,
        StatusCode::NOT_FOUND,
        "This form is not available",
        "The form may have been closed, or the address is not complete. Check the link you were given.",
    )
}

/// The form behind a public id, if it exists (any status).
async fn form_by_id<S: Store>(state: &AppState<S>, id: &str) -> Result<Option<FormRecord>, ApiError> {
    let Ok(id) = id.parse::<FormId>() else { return Ok(None) };
    Ok(state.store.form_by_public_id(id).await.map_err(DomainError::from)?)
}

/// The published form behind a public id, with its parsed definition.
async fn published<S: Store>(state: &AppState<S>, id: &str) -> Result<Option<(FormRecord, Definition)>, ApiError> {
    let Some(form) = form_by_id(state, id).await?.filter(accepts_submissions) else { return Ok(None) };
    let definition = Definition::from_json(&form.definition)
        .map_err(|_| DomainError::Internal("a stored form definition does not parse".into()))?;
    Ok(Some((form, definition)))
}

/// `GET /f/{form_id}`: the empty form.
async fn fill_page<S: Store>(State(state): State<AppState<S>>, Path(id): Path<String>) -> Response {
    match published(&state, &id).await {
        Ok(Some((form, definition))) => {
            render_form(&state, StatusCode::OK, &form, &definition, &BTreeMap::new(), &FieldErrors::new(), &[])
        }
        Ok(None) => unavailable(&state),
        Err(err) => err.into_response(),
    }
}

/// `GET /f/{form_id}/thanks`: the confirmation. It names the form only, never an answer.
async fn thanks_page<S: Store>(State(state): State<AppState<S>>, Path(id): Path<String>) -> Response {
    match form_by_id(&state, &id).await {
        Ok(Some(form)) => match render(
            &state.templates,
            "public_message.html",
            context! {
                heading => "Thank you",
                message => "Your answers were sent.",
                // A form closed meanwhile still thanks the respondent, without naming itself.
            form_title => accepts_submissions(&form).then_some(form.title),
                thanks => true,
            },
        ) {
            Ok(page) => frameable(page.into_response()),
            Err(err) => err.into_response(),
        },
        Ok(None) => unavailable(&state),
        Err(err) => err.into_response(),
    }
}

/// `GET /f/{form_id}/qr.svg`: a QR code of the form's address, for screens and print.
async fn qr_svg<S: Store>(State(state): State<AppState<S>>, Path(id): Path<String>) -> Response {
    qr_code(&state, &id, false).await
}

/// `GET /f/{form_id}/qr.png`: the same as a PNG, for tools that take no SVG.
async fn qr_png_page<S: Store>(State(state): State<AppState<S>>, Path(id): Path<String>) -> Response {
    qr_code(&state, &id, true).await
}

async fn qr_code<S: Store>(state: &AppState<S>, id: &str, png: bool) -> Response {
    let form = match published(state, id).await {
        Ok(Some((form, _))) => form,
        Ok(None) => return unavailable(state),
        Err(err) => return err.into_response(),
    };
    let url = format!("{}/f/{}", state.public_url.trim_end_matches('/'), form.id);
    let Ok(code) = qrcode::QrCode::new(url.as_bytes()) else {
        return ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error").into_response();
    };
    if png {
        return match qr_png(&code) {
            Ok(bytes) => ([(CONTENT_TYPE, HeaderValue::from_static("image/png"))], bytes).into_response(),
            Err(err) => {
                tracing::error!(error = %err, "QR code PNG failed");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error").into_response()
            }
        };
    }
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(240, 240)
        .dark_color(qrcode::render::svg::Color("#000000"))
        .light_color(qrcode::render::svg::Color("#ffffff"))
        .build();
    ([(CONTENT_TYPE, HeaderValue::from_static("image/svg+xml"))], svg).into_response()
}

/// Pixels per module and modules of quiet zone in the PNG (8 px modules print sharply at 300 dpi).
const QR_SCALE: usize = 8;
const QR_QUIET: usize = 4;

/// The QR code as a black-and-white PNG.
fn qr_png(code: &qrcode::QrCode) -> Result<Vec<u8>, png::EncodingError> {
    let modules = code.width();
    let colors = code.to_colors();
    let side = (modules + 2 * QR_QUIET) * QR_SCALE;
    let mut pixels = vec![255u8; side * side];
    for (i, color) in colors.iter().enumerate() {
        if *color == qrcode::Color::Dark {
            let (x, y) = ((i % modules + QR_QUIET) * QR_SCALE, (i / modules + QR_QUIET) * QR_SCALE);
            for row in y..y + QR_SCALE {
                pixels[row * side + x..row * side + x + QR_SCALE].fill(0);
            }
        }
    }
    let mut out = Vec::new();
    let side = u32::try_from(side).unwrap_or(u32::MAX);
    let mut encoder = png::Encoder::new(&mut out, side, side);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.write_header()?.write_image_data(&pixels)?;
    Ok(out)
}

/// One question as the template shows it.
#[derive(Serialize)]
struct FieldView<'a> {
    qid: &'a str,
    kind: &'static str,
    text: &'a str,
    help: &'a str,
    required: bool,
    error: Option<&'a str>,
    /// Ids of the help text and error, for `aria-describedby`.
    described_by: String,
    input_type: &'static str,
    autocomplete: &'static str,
    value: &'a str,
    options: Vec<Choice<'a>>,
    parts: Vec<Part<'a>>,
    accept: String,
    /// The allowed extensions, for people.
    types: String,
    limit: String,
    min: Option<f64>,
    max: Option<f64>,
    /// A file was sent with a refused submission: it was not kept.
    choose_again: bool,
    condition: Option<ConditionView<'a>>,
}

#[derive(Serialize)]
struct Choice<'a> {
    value: String,
    label: &'a str,
    checked: bool,
}

#[derive(Serialize)]
struct Part<'a> {
    name: String,
    label: &'static str,
    value: &'a str,
    required: bool,
    autocomplete: &'static str,
}

#[derive(Serialize)]
struct ConditionView<'a> {
    qid: &'a str,
    equals: &'a str,
    hide: bool,
    /// The controlling question's label, for the note shown without JavaScript.
    label: &'a str,
}

#[derive(Serialize)]
struct SummaryItem<'a> {
    anchor: Option<String>,
    label: &'a str,
    message: &'a str,
}

fn autocomplete_of_part(part: &str) -> &'static str {
    match part {
        "first" => "given-name",
        "last" => "family-name",
        "addr_line1" => "address-line1",
        "addr_line2" => "address-line2",
        "city" => "address-level2",
        "state" => "address-level1",
        "postal" => "postal-code",
        "country" => "country-name",
        _ => "off",
    }
}

/// The parts a required compound question must fill (as the validation requires them).
fn part_required(kind: QuestionType, part: &str) -> bool {
    match kind {
        QuestionType::Fullname => matches!(part, "first" | "last"),
        QuestionType::Address => matches!(part, "addr_line1" | "city" | "postal"),
        _ => false,
    }
}

/// The id of the first control of a question, where the error summary links.
fn anchor_of(q: &Question) -> Option<String> {
    match q.kind {
        kind if !kind.takes_answer() || kind == QuestionType::Button => None,
        QuestionType::Radio | QuestionType::Checkbox | QuestionType::Scale => Some(format!("q{}-0", q.qid)),
        QuestionType::Fullname | QuestionType::Address => {
            q.kind.parts().first().map(|(part, _)| format!("q{}_{part}", q.qid))
        }
        _ => Some(format!("q{}", q.qid)),
    }
}

fn field_view<'a>(
    definition: &'a Definition,
    q: &'a Question,
    raw: &'a BTreeMap<String, Vec<String>>,
    errors: &'a FieldErrors,
    files_sent: &[String],
) -> FieldView<'a> {
    let first = |path: &str| raw.get(path).and_then(|v| v.first()).map_or("", String::as_str);
    let error = errors.get(&q.qid).map(String::as_str);
    let mut described = Vec::new();
    if !q.help.is_empty() {
        described.push(format!("q{}-help", q.qid));
    }
    if error.is_some() {
        described.push(format!("q{}-error", q.qid));
    }
    let (input_type, autocomplete) = match q.kind {
        QuestionType::Email => ("email", "email"),
        QuestionType::Phone => ("tel", "tel"),
        QuestionType::Number => ("number", "off"),
        QuestionType::Datetime => ("date", "off"),
        _ => ("text", "off"),
    };
    let chosen = raw.get(&q.qid).map(Vec::as_slice).unwrap_or_default();
    let options = if q.kind == QuestionType::Scale {
        let (low, high) = q.scale_bounds();
        // At most the 101 points a definition may have (one saved before that was checked could ask for more).
        (low..=high.min(low.saturating_add(100)))
            .map(|point| {
                let value = point.to_string();
                let checked = chosen.iter().any(|c| c.trim() == value);
                Choice { value, label: "", checked }
            })
            .collect()
    } else {
        q.options
            .iter()
            .map(|option| Choice {
                value: option.clone(),
                label: option,
                checked: chosen.iter().any(|c| c.trim() == option.trim()),
            })
            .collect()
    };
    let parts = q
        .kind
        .parts()
        .iter()
        .map(|(part, label)| {
            let name = format!("{}_{part}", q.qid);
            let value = raw.get(&name).and_then(|v| v.first()).map_or("", String::as_str);
            Part {
                name,
                label,
                value,
                required: q.required && part_required(q.kind, part),
                autocomplete: autocomplete_of_part(part),
            }
        })
        .collect();
    let accept = if q.kind == QuestionType::Signature {
        "image/png,.png".to_owned()
    } else {
        q.accept.iter().map(|ext| format!(".{ext}")).collect::<Vec<_>>().join(",")
    };
    let condition = q.visible_when.as_ref().map(|c| ConditionView {
        qid: &c.qid,
        equals: &c.equals,
        hide: c.action == ConditionAction::Hide,
        label: definition.question(&c.qid).map_or("", |controller| controller.text.as_str()),
    });
    FieldView {
        qid: &q.qid,
        kind: q.kind.as_str().trim_start_matches("control_"),
        text: &q.text,
        help: &q.help,
        required: q.required,
        error,
        described_by: described.join(" "),
        input_type,
        autocomplete,
        value: if q.kind.is_file() { "" } else { first(&q.qid) },
        options,
        parts,
        accept,
        types: q.accept.join(", "),
        limit: human_bytes(q.file_limit()),
        min: q.validation.min,
        max: q.validation.max,
        choose_again: q.kind.is_file() && files_sent.contains(&q.qid),
        condition,
    }
}

/// Renders the form, with the answers given so far and the problems found (none for the empty form).
fn render_form<S: Store>(
    state: &AppState<S>,
    status: StatusCode,
    form: &FormRecord,
    definition: &Definition,
    raw: &BTreeMap<String, Vec<String>>,
    errors: &FieldErrors,
    files_sent: &[String],
) -> Response {
    let pages: Vec<Vec<FieldView<'_>>> = definition
        .pages()
        .into_iter()
        .map(|page| {
            page.into_iter()
                .filter(|q| q.kind != QuestionType::Button)
                .map(|q| field_view(definition, q, raw, errors, files_sent))
                .collect::<Vec<_>>()
        })
        .filter(|page: &Vec<_>| !page.is_empty())
        .collect();
    let submit_label = definition
        .questions
        .iter()
        .find(|q| q.kind == QuestionType::Button && !q.text.trim().is_empty())
        .map_or("Submit", |q| q.text.as_str());
    let mut summary = Vec::new();
    for q in &definition.questions {
        if let Some(message) = errors.get(&q.qid) {
            summary.push(SummaryItem { anchor: anchor_of(q), label: &q.text, message });
        }
    }
    for (key, message) in errors {
        if definition.question(key).is_none() {
            summary.push(SummaryItem { anchor: None, label: key, message });
        }
    }
    let any_required = definition.questions.iter().any(|q| q.required && q.kind.takes_answer());
    let ctx = context! {
        title => form.title,
        form_id => form.id.to_string(),
        pages,
        submit_label,
        summary,
        any_required,
        honeypot => HONEYPOT,
    };
    match render(&state.templates, "public_form.html", ctx) {
        Ok(page) => frameable((status, page).into_response()),
        Err(err) => err.into_response(),
    }
}

/// Why reading a submission stopped early.
enum Refusal {
    /// Too big or too many parts.
    TooLarge(String),
    /// Not a readable multipart body.
    Malformed(String),
    /// Storage or crypto failed.
    Failed(ApiError),
}

impl From<MultipartError> for Refusal {
    fn from(err: MultipartError) -> Self {
        if err.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Self::TooLarge("The answers and files together are larger than this server accepts.".into())
        } else {
            Self::Malformed("The form data could not be read. Reload the page and try again.".into())
        }
    }
}

impl From<DomainError> for Refusal {
    fn from(err: DomainError) -> Self {
        Self::Failed(err.into())
    }
}

/// What a submission's body held.
#[derive(Default)]
struct Received {
    raw: BTreeMap<String, Vec<String>>,
    uploaded: BTreeMap<String, UploadedFile>,
    /// Problems found while reading (a file too large, text that is not UTF-8), by question id or path.
    errors: FieldErrors,
    /// Question ids that were sent a file (re-rendering asks for it again).
    files_sent: Vec<String>,
    honeypot: bool,
}

/// The question whose answer path `path` is.
fn question_of_path<'a>(definition: &'a Definition, path: &str) -> Option<&'a Question> {
    definition.questions.iter().find(|q| q.kind.takes_answer() && q.paths().iter().any(|p| p == path))
}

/// Reads the multipart body. Files are sealed into the object store as they arrive and recorded in `sealed` at
/// once, so the caller can remove them whatever happens next.
async fn receive<S: Store>(
    state: &AppState<S>,
    form: &FormRecord,
    definition: &Definition,
    submission: SubmissionId,
    mut multipart: Multipart,
    sealed: &mut Vec<NewFile>,
) -> Result<Received, Refusal> {
    let mut received = Received::default();
    let mut fields = 0usize;
    let mut text_bytes = 0usize;
    while let Some(mut field) = multipart.next_field().await? {
        fields += 1;
        if fields > MAX_FIELDS {
            return Err(Refusal::TooLarge(format!("A form may send at most {MAX_FIELDS} fields.")));
        }
        let name = field.name().unwrap_or_default().to_owned();
        if let Some(file_name) = field.file_name().map(str::to_owned) {
            let Some(question) = definition.question(&name).filter(|q| q.kind.is_file()) else {
                // Not a file question of this form: refuse without reading further.
                let key = question_of_path(definition, &name).map_or(name.clone(), |q| q.qid.clone());
                received.errors.insert(key, "this question does not take a file".into());
                return Ok(received);
            };
            if received.uploaded.contains_key(&question.qid) || received.errors.contains_key(&question.qid) {
                received.errors.insert(question.qid.clone(), "send one file for this question".into());
                drain(&mut field).await?;
                continue;
            }
            let target = FileRef { org: form.org_id, form: form.id, submission, file: FileId::new() };
            match seal_file(state, question, &file_name, target, &mut field).await? {
                Sealing::Empty => {}
                Sealing::TooLarge => {
                    received.files_sent.push(question.qid.clone());
                    received.errors.insert(
                        question.qid.clone(),
                        format!("the file is larger than {}", human_bytes(question.file_limit())),
                    );
                    drain(&mut field).await?;
                }
                Sealing::Sealed(file, uploaded) => {
                    received.files_sent.push(question.qid.clone());
                    sealed.push(file);
                    received.uploaded.insert(question.qid.clone(), uploaded);
                }
            }
            continue;
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = field.chunk().await? {
            text_bytes += chunk.len();
            if text_bytes > MAX_TEXT_BYTES {
                return Err(Refusal::TooLarge(format!(
                    "The answers are longer than {} of text.",
                    human_bytes(MAX_TEXT_BYTES as u64)
                )));
            }
            bytes.extend_from_slice(&chunk);
        }
        if name == HONEYPOT {
            received.honeypot |= !bytes.iter().all(u8::is_ascii_whitespace);
            continue;
        }
        match String::from_utf8(bytes) {
            Ok(value) => received.raw.entry(name).or_default().push(value),
            Err(_) => {
                let key = question_of_path(definition, &name).map_or(name, |q| q.qid.clone());
                received.errors.insert(key, "the answer is not valid text (it must be UTF-8)".into());
            }
        }
    }
    Ok(received)
}

enum Sealing {
    Empty,
    TooLarge,
    Sealed(NewFile, UploadedFile),
}

/// Streams one file part into a sealer, started on the first byte (an empty part is no file).
async fn seal_file<S: Store>(
    state: &AppState<S>,
    question: &Question,
    file_name: &str,
    target: FileRef,
    field: &mut Field<'_>,
) -> Result<Sealing, Refusal> {
    // Browsers send only the base name, but older ones sent a whole path.
    let base = file_name.rsplit(['/', '\\']).next().unwrap_or_default().trim();
    let name = if base.is_empty() {
        if question.kind == QuestionType::Signature { "signature.png" } else { "file" }
    } else {
        base
    };
    let mut sealer: Option<FileSealer> = None;
    while let Some(chunk) = field.chunk().await? {
        if chunk.is_empty() {
            continue;
        }
        let active = match &mut sealer {
            Some(active) => active,
            None => sealer
                .insert(FileSealer::start(&state.objects, target, &question.qid, name, question.file_limit()).await?),
        };
        match active.push(&chunk).await {
            Ok(()) => {}
            // Dropping the sealer removes its temporary file.
            Err(UploadError::TooLarge) => return Ok(Sealing::TooLarge),
            Err(UploadError::Failed(err)) => return Err(err.into()),
        }
    }
    match sealer {
        None => Ok(Sealing::Empty),
        Some(active) => {
            let (file, uploaded) = active.finish(&state.objects, &state.keyring).await?;
            Ok(Sealing::Sealed(file, uploaded))
        }
    }
}

/// Reads and discards the rest of a part (the body limit bounds it).
async fn drain(field: &mut Field<'_>) -> Result<(), Refusal> {
    while field.chunk().await?.is_some() {}
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Refuses a submission another site made the browser send. Only `Sec-Fetch-Site` decides: the page may be framed
/// anywhere, but it always posts from its own origin; clients without the header (scripts, old browsers) pass.
fn cross_site(headers: &HeaderMap) -> bool {
    headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|site| site != "same-origin" && site != "none")
}

/// `POST /f/{form_id}`: a submission, as `multipart/form-data`.
async fn submit<S: Store>(State(state): State<AppState<S>>, Path(id): Path<String>, request: Request) -> Response {
    let (form, definition) = match published(&state, &id).await {
        Ok(Some(found)) => found,
        Ok(None) => return unavailable(&state),
        Err(err) => return err.into_response(),
    };
    if cross_site(request.headers()) {
        return message_page(
            &state,
            StatusCode::FORBIDDEN,
            "The answers were not sent",
            "This form can only be sent from its own page. Open the form's link and try again.",
        );
    }
    let scope = AuditScope { actor: Actor::Respondent, context: crate::auth::request_context(&request) };
    let now = state.clock.now();
    let client = scope.context.ip.as_deref().unwrap_or("unknown");
    let key = format!("public-submit:{}", hex(&state.auditor.target_hash(client)));
    match state.store.hit_rate_limit(&key, now, now - time::Duration::minutes(1)).await {
        Ok(count) if count > state.public_submissions_per_minute => {
            return message_page(
                &state,
                StatusCode::TOO_MANY_REQUESTS,
                "Too many submissions",
                "Too many forms were sent from your network in the last minute. Wait a minute and send it again.",
            );
        }
        Ok(_) => {}
        Err(err) => return ApiError::from(DomainError::from(err)).into_response(),
    }
    let is_multipart = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("multipart/form-data"));
    let multipart = match Multipart::from_request(request, &()).await {
        Ok(multipart) if is_multipart => multipart,
        _ => {
            return message_page(
                &state,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "The answers were not sent",
                "The form must be sent as multipart/form-data. Reload the page and try again.",
            );
        }
    };
    let submission = SubmissionId::new();
    let mut sealed = Vec::new();
    let outcome = accept(&state, &scope, &form, &definition, submission, multipart, &mut sealed).await;
    if !matches!(outcome, Accepted::Stored) {
        // Nothing of a refused submission stays: its sealed objects go too.
        let keys: Vec<String> = sealed.iter().map(|f| f.object_key.clone()).collect();
        state.objects.remove(&keys).await;
    }
    match outcome {
        Accepted::Stored | Accepted::Honeypot => Redirect::to(&format!("/f/{}/thanks", form.id)).into_response(),
        Accepted::Invalid { received, errors } => render_form(
            &state,
            StatusCode::UNPROCESSABLE_ENTITY,
            &form,
            &definition,
            &received.raw,
            &errors,
            &received.files_sent,
        ),
        Accepted::Refused(Refusal::TooLarge(message)) => {
            message_page(&state, StatusCode::PAYLOAD_TOO_LARGE, "The answers were not sent", &message)
        }
        Accepted::Refused(Refusal::Malformed(message)) => {
            message_page(&state, StatusCode::BAD_REQUEST, "The answers were not sent", &message)
        }
        Accepted::Refused(Refusal::Failed(err)) => err.into_response(),
    }
}

enum Accepted {
    Stored,
    Honeypot,
    Invalid { received: Received, errors: FieldErrors },
    Refused(Refusal),
}

async fn accept<S: Store>(
    state: &AppState<S>,
    scope: &AuditScope,
    form: &FormRecord,
    definition: &Definition,
    submission: SubmissionId,
    multipart: Multipart,
    sealed: &mut Vec<NewFile>,
) -> Accepted {
    let received = match receive(state, form, definition, submission, multipart, sealed).await {
        Ok(received) => received,
        Err(refusal) => return Accepted::Refused(refusal),
    };
    if received.honeypot {
        // Looks exactly like success to the robot; nothing is kept.
        return Accepted::Honeypot;
    }
    let checked = validate_answers(definition, &received.raw, &received.uploaded);
    let answers = match checked {
        Ok(answers) if received.errors.is_empty() => answers,
        Ok(_) => {
            let errors = received.errors.clone();
            return Accepted::Invalid { received, errors };
        }
        Err(mut errors) => {
            // Problems found while reading are the more precise ones.
            errors.extend(received.errors.clone());
            return Accepted::Invalid { received, errors };
        }
    };
    // A file answering a question that turned out hidden is not kept.
    let (files, dropped): (Vec<NewFile>, Vec<NewFile>) =
        sealed.drain(..).partition(|file| answers.contains_key(&file.question_id));
    sealed.extend(files.iter().cloned());
    let dropped: Vec<String> = dropped.into_iter().map(|f| f.object_key).collect();
    state.objects.remove(&dropped).await;
    let indexed = definition.indexed_paths();
    let new = NewAnswers {
        org: form.org_id,
        form: form.id,
        form_version: form.version,
        answers: &answers,
        indexed: &indexed,
    };
    let audit = AuditCtx { auditor: &state.auditor, scope };
    match store_submission(&state.store, &state.keyring, audit, submission, new, files, state.clock.now()).await {
        Ok(()) => Accepted::Stored,
        Err(err) => Accepted::Refused(Refusal::Failed(err.into())),
    }
}
