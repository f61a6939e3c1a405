//! The OpenAPI 3.1 document at `GET /api/v1/openapi.json`, built from the code: the operation table
//! ([`super::operations::OPERATIONS`]) gives paths, parameters and answers, and the request and response types'
//! derived schemas ([`utoipa::ToSchema`]) give the components. `GET /api/v1/docs` renders the same document as a
//! plain page from the binary (no script, no CDN; the strict CSP applies).

use std::sync::LazyLock;

use axum::extract::State;
use axum::response::{Html, IntoResponse, Response};
use http::HeaderValue;
use http::header::CONTENT_TYPE;
use minijinja::context;
use sealform_core::form_model::QuestionType;
use sealform_core::store::Store;
use serde::Serialize;
use serde_json::{Map, Value, json};
use utoipa::{OpenApi, ToSchema};

use super::operations::{Kind, OPERATIONS, Operation, Reply};
use super::{access, audit, files, forms, keys, submissions, users};
use crate::AppState;
use crate::pages::render;
use crate::problem::ApiError;

/// The shape of every error (RFC 9457), as [`crate::problem`] renders it.
#[derive(Serialize, ToSchema)]
struct Problem {
    /// Always `about:blank`: the status says what kind of problem it is.
    #[serde(rename = "type")]
    kind: String,
    /// The status's reason phrase.
    title: String,
    /// The HTTP status.
    status: u16,
    /// A stable machine code, e.g. `not_found`, `invalid`, `idempotency_key_reused`.
    code: String,
    /// What was wrong, for people (never PHI).
    detail: String,
    /// Messages per field or answer path, for invalid input.
    errors: Option<std::collections::BTreeMap<String, String>>,
}

/// Every component schema; nested ones are collected by utoipa.
#[derive(OpenApi)]
#[openapi(components(schemas(
    Problem,
    super::Me,
    forms::Form,
    forms::NewForm,
    forms::FormPatch,
    forms::Questions,
    submissions::Submission,
    submissions::SubmissionDetail,
    submissions::Revision,
    submissions::NewSubmission,
    submissions::SubmissionEdit,
    submissions::StatusChange,
    files::File,
    access::GrantOut,
    access::Terms,
    access::AccessRequestOut,
    access::NewAccessRequest,
    access::Decision,
    keys::ApiKey,
    keys::NewApiKey,
    keys::CreatedApiKey,
    users::User,
    users::Invitation,
    users::Invited,
    users::RoleChange,
    audit::AuditEntry,
)))]
struct Components;

/// The document, built once.
static DOCUMENT: LazyLock<Value> = LazyLock::new(build);

/// The document as JSON (public for the tests that check it against the router and fuzz the API from it).
pub fn document() -> &'static Value {
    &DOCUMENT
}

fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn path_parameter(name: &str) -> Value {
    let (schema, doc) = match name {
        "prefix" => (json!({ "type": "string", "pattern": "^sf_[A-Za-z0-9]{10}$" }), "The key's visible prefix."),
        "user" => (json!({ "type": "string", "format": "uuid" }), "A member's id."),
        "request" => (json!({ "type": "string", "format": "uuid" }), "An access request's id."),
        _ => (json!({ "type": "string", "format": "uuid" }), "The id."),
    };
    json!({ "name": name, "in": "path", "required": true, "description": doc, "schema": schema })
}

fn query_schema(kind: Kind) -> Value {
    match kind {
        Kind::Text => json!({ "type": "string" }),
        Kind::Integer(min, max) => json!({ "type": "integer", "minimum": min, "maximum": max }),
        Kind::Uuid => json!({ "type": "string", "format": "uuid" }),
        Kind::DateTime => json!({ "type": "string", "format": "date-time" }),
        Kind::Date => json!({ "type": "string", "format": "date" }),
        Kind::OneOf(words) => json!({ "type": "string", "enum": words }),
    }
}

fn json_content(schema: Value) -> Value {
    json!({ "application/json": { "schema": schema } })
}

fn success(reply: Reply) -> (String, Value) {
    let ok = |status: u16, description: &str, content: Option<Value>| {
        let mut response = json!({ "description": description });
        if let Some(content) = content {
            response["content"] = content;
        }
        (status.to_string(), response)
    };
    match reply {
        Reply::One(status, name) => ok(status, "Done.", Some(json_content(schema_ref(name)))),
        Reply::List(name) => {
            ok(200, "The list.", Some(json_content(json!({ "type": "array", "items": schema_ref(name) }))))
        }
        Reply::Page(name) => ok(
            200,
            "One page; pass `next_cursor` as `cursor` for the next.",
            Some(json_content(json!({
                "type": "object",
                "required": ["items"],
                "properties": {
                    "items": { "type": "array", "items": schema_ref(name) },
                    "next_cursor": { "type": "string", "description": "Absent on the last page." }
                }
            }))),
        ),
        Reply::Empty(status) => ok(status, "Done; no body.", None),
        Reply::Stream(types) => {
            let content: Map<String, Value> =
                types.iter().map(|t| ((*t).to_owned(), json!({ "schema": { "type": "string" } }))).collect();
            ok(200, "The bytes, streamed.", Some(Value::Object(content)))
        }
        Reply::Document => ok(200, "The OpenAPI document.", Some(json_content(json!({ "type": "object" })))),
        Reply::Html => ok(200, "The page.", Some(json!({ "text/html": { "schema": { "type": "string" } } }))),
    }
}

fn operation(op: &Operation) -> Value {
    let mut parameters: Vec<Value> = op
        .path
        .split('/')
        .filter_map(|segment| segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(path_parameter)
        .collect();
    parameters.extend(op.query.iter().map(|q| {
        json!({ "name": q.name, "in": "query", "required": false, "description": q.doc, "schema": query_schema(q.kind) })
    }));
    if op.idempotent {
        parameters.push(json!({
            "name": "Idempotency-Key",
            "in": "header",
            "required": false,
            "description": "Makes retries safe: the same key with the same body within 24 hours gets the first \
                            answer again (with `Idempotent-Replayed: true`) and stores nothing; with another body, 422.",
            "schema": { "type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$" }
        }));
    }
    let (status, response) = success(op.reply);
    let mut responses = Map::new();
    responses.insert(status, response);
    let problem = |code: &str| (code.to_owned(), json!({ "$ref": "#/components/responses/Problem" }));
    let mut errors = vec!["400"];
    if op.scope.is_some() {
        errors.extend(["401", "403", "429"]);
    }
    if op.path.contains('{') {
        errors.push("404");
    }
    if op.body.is_some() || op.idempotent {
        errors.extend(["409", "413", "415", "422"]);
    } else if !op.query.is_empty() {
        errors.push("422");
    }
    responses.extend(errors.into_iter().map(problem));
    let mut value = json!({
        "operationId": op.id,
        "summary": op.summary,
        "tags": [op.tag],
        "parameters": parameters,
        "responses": responses,
    });
    match op.scope {
        None => value["security"] = json!([]),
        Some("any") => value["description"] = Value::String("Needs any valid key.".to_owned()),
        Some(scope) => {
            let text = format!("Needs a key with the `{scope}` scope (and a user whose role and grants allow it).");
            value["description"] = Value::String(text);
            // Machine-readable too, so clients (and our tests) can check what a key needs.
            value["x-sealform-scope"] = Value::String(scope.to_owned());
        }
    }
    if let Some(body) = op.body {
        value["requestBody"] = json!({ "required": true, "content": json_content(schema_ref(body)) });
    }
    value
}

fn build() -> Value {
    let mut paths: Map<String, Value> = Map::new();
    for op in OPERATIONS {
        let item = paths.entry(op.path.to_owned()).or_insert_with(|| json!({}));
        item[op.method.to_ascii_lowercase()] = operation(op);
    }
    // utoipa writes the components; a serialisation of our own derived types cannot fail.
    let derived = serde_json::to_value(Components::openapi()).unwrap_or_default();
    let mut schemas = derived["components"]["schemas"].clone();
    // The question types come from the form model, so the list cannot drift from what the model accepts.
    let types: Vec<&str> = QuestionType::ALL.iter().map(|t| t.as_str()).collect();
    schemas["Question"]["properties"]["type"]["enum"] = json!(types);
    let tags: Vec<Value> = ["Forms", "Submissions", "Files", "Access", "Keys", "Users", "Audit", "Reference"]
        .iter()
        .map(|t| json!({ "name": t }))
        .collect();
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Sealform native API",
            "version": "1",
            "description": "Forms, sealed submissions, access and audit. Every call needs an API key \
                            (`Authorization: Bearer sf_…`), acts for the key's user narrowed to its scopes, and is \
                            authorized, masked and audited exactly as the console is. Errors are RFC 9457 problem \
                            documents. Lists page by cursor.",
        },
        "servers": [{ "url": "/" }],
        "security": [{ "bearer": [] }],
        "tags": tags,
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": { "type": "http", "scheme": "bearer", "description": "An API key, `sf_…`." }
            },
            "responses": {
                "Problem": {
                    "description": "An RFC 9457 problem document.",
                    "content": { "application/problem+json": { "schema": schema_ref("Problem") } }
                }
            },
            "schemas": schemas,
        },
    })
}

/// `GET /api/v1/openapi.json`.
pub(crate) async fn openapi_json() -> Response {
    let mut response = axum::Json(document()).into_response();
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// One property of a schema, for the page.
#[derive(Serialize)]
struct Field {
    name: String,
    kind: String,
    required: bool,
    doc: String,
}

fn kind_of(schema: &Value) -> String {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        return reference.rsplit('/').next().unwrap_or(reference).to_owned();
    }
    let base = match schema.get("type") {
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(types)) => types.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" or "),
        _ => schema.get("oneOf").map_or_else(|| "any".to_owned(), |_| "one of several".to_owned()),
    };
    match (base.as_str(), schema.get("items")) {
        (t, Some(items)) if t.starts_with("array") => format!("array of {}", kind_of(items)),
        _ => schema.get("format").and_then(Value::as_str).map_or(base.clone(), |f| format!("{base} ({f})")),
    }
}

fn fields(schema: &Value) -> Vec<Field> {
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|props| {
            props
                .iter()
                .map(|(name, prop)| Field {
                    name: name.clone(),
                    kind: kind_of(prop),
                    required: required.contains(&name.as_str()),
                    doc: prop.get("description").and_then(Value::as_str).unwrap_or_default().to_owned(),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `GET /api/v1/docs`: the reference, rendered on the server from [`document`].
pub(crate) async fn reference<S: Store>(State(state): State<AppState<S>>) -> Result<Html<String>, ApiError> {
    let doc = document();
    let operations: Vec<minijinja::Value> = OPERATIONS
        .iter()
        .map(|op| {
            let rendered = &doc["paths"][op.path][op.method.to_ascii_lowercase()];
            let parameters: Vec<minijinja::Value> = rendered["parameters"]
                .as_array()
                .map(|ps| {
                    ps.iter()
                        .map(|p| context! { name => p["name"].as_str(), place => p["in"].as_str(), kind => kind_of(&p["schema"]), doc => p["description"].as_str() })
                        .collect()
                })
                .unwrap_or_default();
            let responses: Vec<&String> = rendered["responses"].as_object().map(|r| r.keys().collect()).unwrap_or_default();
            context! {
                method => op.method, path => op.path, id => op.id, tag => op.tag, summary => op.summary,
                scope => op.scope, body => op.body, parameters, responses, idempotent => op.idempotent,
            }
        })
        .collect();
    let schemas: Vec<minijinja::Value> = doc["components"]["schemas"]
        .as_object()
        .map(|all| {
            all.iter()
                .map(|(name, schema)| {
                    let variants: Vec<String> = schema
                        .get("enum")
                        .or_else(|| schema.get("oneOf"))
                        .and_then(Value::as_array)
                        .map(|vs| vs.iter().map(|v| v.as_str().map_or_else(|| kind_of(v), str::to_owned)).collect())
                        .unwrap_or_default();
                    context! {
                        name, doc => schema.get("description").and_then(Value::as_str), fields => fields(schema), variants,
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    render(&state.templates, "api_docs.html", context! { operations, schemas, version => doc["openapi"].as_str() })
}
