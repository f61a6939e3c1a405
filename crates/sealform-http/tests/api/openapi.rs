//! The OpenAPI document is valid OpenAPI 3.1 (checked structurally: version, info, unique operation ids, declared
//! path parameters, a response with a description for every operation, every `$ref` resolving) and lists exactly
//! the native routes of the router's table.

use std::collections::BTreeSet;

use serde_json::Value;

const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/// Every `$ref` under `value`, with where it was found.
fn refs<'a>(value: &'a Value, at: String, out: &mut Vec<(String, &'a str)>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if k == "$ref" {
                    out.push((at.clone(), v.as_str().expect("a $ref is a string")));
                } else {
                    refs(v, format!("{at}/{k}"), out);
                }
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                refs(v, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// The problems found; empty when the document is valid.
pub fn problems(doc: &Value) -> Vec<String> {
    let mut found = Vec::new();
    if !doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.1.")) {
        found.push("openapi is not 3.1.x".to_owned());
    }
    for field in ["title", "version"] {
        if !doc["info"][field].is_string() {
            found.push(format!("info.{field} is missing"));
        }
    }
    let mut ids = BTreeSet::new();
    let Some(paths) = doc["paths"].as_object() else {
        found.push("paths is not an object".to_owned());
        return found;
    };
    for (path, item) in paths {
        if !path.starts_with('/') {
            found.push(format!("{path}: paths start with /"));
        }
        let declared: BTreeSet<&str> =
            path.split('/').filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}'))).collect();
        for (method, op) in item.as_object().into_iter().flatten() {
            let at = format!("{method} {path}");
            if !METHODS.contains(&method.as_str()) {
                found.push(format!("{at}: not an HTTP method"));
                continue;
            }
            match op["operationId"].as_str() {
                Some(id) if ids.insert(id.to_owned()) => {}
                _ => found.push(format!("{at}: missing or duplicate operationId")),
            }
            let responses = op["responses"].as_object().filter(|r| !r.is_empty());
            match responses {
                None => found.push(format!("{at}: no responses")),
                Some(responses) => {
                    for (status, response) in responses {
                        let code_ok = status == "default"
                            || (status.len() == 3 && status.chars().all(|c| c.is_ascii_digit() || c == 'X'));
                        let described = response["description"].is_string() || response["$ref"].is_string();
                        if !code_ok || !described {
                            found.push(format!("{at}: response {status} is not a status with a description"));
                        }
                    }
                }
            }
            let params: Vec<&Value> = op["parameters"].as_array().map(|p| p.iter().collect()).unwrap_or_default();
            let in_path: BTreeSet<&str> =
                params.iter().filter(|p| p["in"] == "path").filter_map(|p| p["name"].as_str()).collect();
            if in_path != declared {
                found.push(format!("{at}: path parameters {in_path:?} differ from the template's {declared:?}"));
            }
            for p in &params {
                let place_ok = ["path", "query", "header", "cookie"].contains(&p["in"].as_str().unwrap_or_default());
                if !place_ok || !p["name"].is_string() || !(p["schema"].is_object() || p["content"].is_object()) {
                    found.push(format!("{at}: a parameter lacks name, place or schema"));
                }
                if p["in"] == "path" && p["required"] != true {
                    found.push(format!("{at}: path parameters are required"));
                }
            }
            if op.get("requestBody").is_some_and(|body| !body["content"].is_object()) {
                found.push(format!("{at}: a request body needs content"));
            }
        }
    }
    let mut all = Vec::new();
    refs(doc, String::new(), &mut all);
    for (at, reference) in all {
        let resolves = reference.strip_prefix('#').and_then(|pointer| doc.pointer(pointer)).is_some();
        if !resolves {
            found.push(format!("{at}: $ref {reference} does not resolve"));
        }
    }
    for (name, schema) in doc["components"]["schemas"].as_object().into_iter().flatten() {
        if !schema.is_object() {
            found.push(format!("schema {name} is not an object"));
        }
    }
    found
}

#[test]
fn the_document_is_valid_openapi_3_1() {
    let doc = sealform_http::openapi_document();
    let problems = problems(doc);
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(doc["components"]["schemas"].as_object().unwrap().len() > 20);
    // The question types are the form model's.
    let types = doc["components"]["schemas"]["Question"]["properties"]["type"]["enum"].as_array().unwrap();
    assert!(types.iter().any(|t| t == "control_fullname"));
}

#[test]
fn the_checker_finds_broken_documents() {
    let doc = sealform_http::openapi_document();
    let mut broken = doc.clone();
    broken["openapi"] = "3.0.3".into();
    broken["paths"]["/api/v1/forms"]["get"]["responses"] = serde_json::json!({});
    broken["paths"]["/api/v1/forms/{form}"]["get"]["parameters"] = serde_json::json!([]);
    broken["components"]["schemas"].as_object_mut().unwrap().remove("Form");
    let found = problems(&broken);
    assert!(found.iter().any(|p| p.contains("3.1")), "{found:?}");
    assert!(found.iter().any(|p| p.contains("no responses")), "{found:?}");
    assert!(found.iter().any(|p| p.contains("path parameters")), "{found:?}");
    assert!(found.iter().any(|p| p.contains("#/components/schemas/Form")), "{found:?}");
}

#[test]
fn the_document_lists_exactly_the_native_routes_of_the_router() {
    let doc = sealform_http::openapi_document();
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| item.as_object().unwrap().keys().map(move |m| (m.to_uppercase(), path.clone())))
        .collect();
    let routed: BTreeSet<(String, String)> = sealform_http::route_table()
        .iter()
        .filter(|(_, path)| path.starts_with("/api/v1/") || *path == "/api/v1")
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(
        undocumented.is_empty() && unrouted.is_empty(),
        "routed, not documented: {undocumented:?}; documented, not routed: {unrouted:?}"
    );
    // And the table the document is built from is that same list.
    let table: BTreeSet<(String, String)> =
        sealform_http::native_routes().into_iter().map(|(m, p)| (m.to_owned(), p.to_owned())).collect();
    assert_eq!(table, documented);
}

/// When the maintained Python validator (`openapi-spec-validator`, OpenAPI 3.1 with JSON Schema 2020-12) is
/// installed, it must accept the document too; without it, the structural check above stands alone.
#[test]
fn a_maintained_validator_accepts_the_document_when_installed() {
    let probe = std::process::Command::new("python3").args(["-c", "import openapi_spec_validator"]).output();
    if !probe.is_ok_and(|o| o.status.success()) {
        eprintln!("notice: openapi-spec-validator is not installed; only the structural check ran");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("openapi.json");
    std::fs::write(&path, serde_json::to_vec_pretty(sealform_http::openapi_document()).unwrap()).unwrap();
    let out =
        std::process::Command::new("python3").arg("-m").arg("openapi_spec_validator").arg(&path).output().unwrap();
    assert!(
        out.status.success(),
        "openapi-spec-validator refused the document:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
