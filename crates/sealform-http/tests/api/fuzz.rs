//! Property-based fuzzing of the native API from its own OpenAPI document: for operations picked at random, path
//! parameters (real ids of organisation A, unknown ids, garbage), query values and bodies (built from the
//! operation's schema, then possibly mutated, or replaced by garbage) are sent with an owner's key that may do
//! everything, and without a key. Whatever is sent, the answer is never a 5xx, and every error is a problem
//! document.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Map, Value, json};

use super::*;

/// Cases per backend: enough to reach every operation many times, few enough to stay well under a minute.
const CASES: u32 = 800;

/// Real values of organisation A by path parameter name.
struct Fixtures {
    key: String,
    values: Vec<(&'static str, String)>,
}

/// A small deterministic generator, seeded by proptest (so a failure reproduces from its seed).
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn text(&mut self) -> String {
        let samples = [
            String::new(),
            "x".to_owned(),
            "Zebedee".to_owned(),
            "ünïcødé ✓ 🙂".to_owned(),
            "a".repeat(3000),
            "line\nbreak\r\n".to_owned(),
            "\u{0}\u{7f}".to_owned(),
            "' OR 1=1 --".to_owned(),
            "<script>alert(1)</script>".to_owned(),
            "-1".to_owned(),
            "1e309".to_owned(),
            "2026-02-30T25:61:00Z".to_owned(),
            uuid::Uuid::now_v7().to_string(),
        ];
        self.pick(&samples).clone()
    }
}

fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => doc.pointer(r.trim_start_matches('#')).unwrap_or(&Value::Null),
        None => schema,
    }
}

/// A value for `schema`: usually valid, sometimes not.
fn value(doc: &Value, schema: &Value, g: &mut Gen, f: &Fixtures, depth: u32) -> Value {
    let schema = resolve(doc, schema);
    if depth > 6 {
        return Value::Null;
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(options) = schema.get(key).and_then(Value::as_array) {
            return value(doc, g.pick(options), g, f, depth + 1);
        }
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array) {
        return if g.chance(85) { g.pick(options).clone() } else { Value::String(g.text()) };
    }
    let kind = match schema.get("type") {
        Some(Value::Array(types)) => g.pick(types).as_str().unwrap_or("null").to_owned(),
        Some(Value::String(t)) => t.clone(),
        _ if schema.get("properties").is_some() => "object".to_owned(),
        _ => ["string", "integer", "object", "array", "boolean", "null"][g.below(6)].to_owned(),
    };
    match kind.as_str() {
        "object" => {
            let mut map = Map::new();
            let required: Vec<&str> = schema
                .get("required")
                .and_then(Value::as_array)
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            for (name, prop) in schema.get("properties").and_then(Value::as_object).into_iter().flatten() {
                if required.contains(&name.as_str()) || g.chance(50) {
                    map.insert(name.clone(), value(doc, prop, g, f, depth + 1));
                }
            }
            if let Some(extra) = schema.get("additionalProperties").filter(|a| a.is_object()) {
                for _ in 0..g.below(4) {
                    let key = if g.chance(60) {
                        ["1_first", "1_last", "2", "3", "4", "5"][g.below(6)].to_owned()
                    } else {
                        g.text()
                    };
                    map.insert(key, value(doc, extra, g, f, depth + 1));
                }
            }
            Value::Object(map)
        }
        "array" => {
            let items = schema.get("items").cloned().unwrap_or(Value::Null);
            Value::Array((0..g.below(4)).map(|_| value(doc, &items, g, f, depth + 1)).collect())
        }
        "integer" => json!([0, 1, 2, 42, -1, i64::MAX, 200, 201][g.below(8)]),
        "number" => json!([0.5, -3.25, 1e300][g.below(3)]),
        "boolean" => Value::Bool(g.chance(50)),
        "null" => Value::Null,
        _ => match schema.get("format").and_then(Value::as_str) {
            Some("uuid") if g.chance(60) => Value::String(g.pick(&f.values).1.clone()),
            Some("date-time") if g.chance(70) => Value::String("2031-05-06T07:08:09Z".to_owned()),
            Some("email") if g.chance(70) => Value::String(format!("fuzz{}@a.example", g.below(1000))),
            _ => {
                let words = ["read", "write", "submit", "view", "edit", "reviewer", "approver", "control_textbox"];
                Value::String(if g.chance(30) { (*g.pick(&words)).to_owned() } else { g.text() })
            }
        },
    }
}

/// Replaces one part of a value with something of another shape.
fn mutate(v: &mut Value, g: &mut Gen) {
    let junk = [json!(null), json!(7), json!("x"), json!([]), json!({}), json!(true), json!({ "unknown": 1 })];
    match v {
        Value::Object(map) if !map.is_empty() && g.chance(70) => {
            let keys: Vec<String> = map.keys().cloned().collect();
            let key = g.pick(&keys).clone();
            if g.chance(30) {
                map.remove(&key);
            } else if let Some(inner) = map.get_mut(&key) {
                mutate(inner, g);
            }
        }
        Value::Array(items) if !items.is_empty() && g.chance(70) => {
            let i = g.below(items.len());
            mutate(&mut items[i], g);
        }
        other => *other = g.pick(&junk).clone(),
    }
}

fn path_value(name: &str, g: &mut Gen, f: &Fixtures) -> String {
    let real: Vec<&String> = f.values.iter().filter(|(n, _)| *n == name).map(|(_, v)| v).collect();
    match g.below(10) {
        0..=5 if !real.is_empty() => (*g.pick(&real)).clone(),
        6 => uuid::Uuid::now_v7().to_string(),
        7 => ["%2e%2e", "%FF%FE", "%00"][g.below(3)].to_owned(),
        8 => "x".repeat(300),
        _ => urlencode(&g.text()),
    }
}

fn query_value(schema: &Value, g: &mut Gen, f: &Fixtures) -> String {
    match value(&Value::Null, schema, g, f, 0) {
        Value::String(s) => urlencode(&s),
        other => urlencode(&other.to_string()),
    }
}

/// One request made from the document.
struct Probe {
    method: String,
    /// The operation's path template.
    path: String,
    uri: String,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    with_key: bool,
}

fn probe(doc: &Value, operations: &[(String, String)], seed: u64, f: &Fixtures) -> Probe {
    let mut g = Gen(seed);
    let (method, path) = g.pick(operations).clone();
    let op = &doc["paths"][&path][method.to_lowercase()];
    let mut uri = path.clone();
    let mut query = Vec::new();
    let mut headers = Vec::new();
    for p in op["parameters"].as_array().into_iter().flatten() {
        let name = p["name"].as_str().unwrap_or_default();
        match p["in"].as_str() {
            Some("path") => uri = uri.replace(&format!("{{{name}}}"), &path_value(name, &mut g, f)),
            Some("query") if g.chance(50) => query.push(format!("{name}={}", query_value(&p["schema"], &mut g, f))),
            Some("header") if g.chance(70) => headers.push(("idempotency-key", format!("fuzz-{}", g.below(3)))),
            _ => {}
        }
    }
    if g.chance(10) {
        query.push(format!("{}={}", urlencode(&g.text()), urlencode(&g.text())));
    }
    if !query.is_empty() {
        uri = format!("{uri}?{}", query.join("&"));
    }
    let schema = op["requestBody"]["content"]["application/json"]["schema"].clone();
    let body = match (schema.is_null(), g.below(10)) {
        (true, 0) => b"{}".to_vec(),
        (true, _) => Vec::new(),
        (false, 0) => vec![0xff, 0xfe, b'{', 0],
        (false, 1) => b"{\"answers\": {".to_vec(),
        (false, 2) => Vec::new(),
        // Answers that pass the form's validator, so creation and edits get past it too.
        (false, 3 | 4) if path.contains("submissions") => serde_json::to_vec(&answers("Fuzz")).unwrap(),
        (false, n) => {
            let mut v = value(doc, &schema, &mut g, f, 0);
            if n < 6 {
                mutate(&mut v, &mut g);
            }
            serde_json::to_vec(&v).unwrap()
        }
    };
    if !body.is_empty() {
        let kind = if g.chance(90) { "application/json" } else { "text/plain" };
        headers.push(("content-type", kind.to_owned()));
    }
    Probe { method, path, uri, headers, body, with_key: g.chance(85) }
}

async fn fixtures<S: Store>(c: &Console<S>) -> Fixtures {
    let (key, form) = setup(c).await;
    let mut values = vec![("form", form.clone())];
    // Several of each, so the odd DELETE does not leave the rest of the run with nothing to find.
    let second =
        c.api("POST", "/api/v1/forms", &key, Some(json!({ "title": "Second", "questions": questions() }))).await;
    let second = second.json["id"].as_str().unwrap().to_owned();
    c.api("PATCH", &format!("/api/v1/forms/{second}"), &key, Some(json!({ "status": "published" }))).await;
    values.push(("form", second.clone()));
    for i in 0..12 {
        let on = if i % 2 == 0 { &form } else { &second };
        values.push(("submission", submit(c, &key, on, &format!("Fuzz{i}")).await));
    }
    member(c, "fuzz-rev@a.example", Role::Reviewer).await;
    let user = c.user_id("fuzz-rev@a.example").await.to_string();
    let victim = c.key("fuzz-rev@a.example", &[Scope::Read]).await;
    let asked = c
        .api("POST", &format!("/api/v1/forms/{form}/access-requests"), &victim, Some(json!({ "reason": "fuzz" })))
        .await;
    let request = asked.json["id"].as_str().unwrap_or_default().to_owned();
    values.extend([
        ("file", uuid::Uuid::now_v7().to_string()),
        ("user", user),
        ("request", request),
        ("prefix", victim[..13].to_owned()),
    ]);
    Fixtures { key, values }
}

fn fuzz_on<B: Backend>(test: &str) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let Some(c) = runtime.block_on(console::<B>(test)) else { return };
    let f = runtime.block_on(fixtures(&c));
    let doc = sealform_http::openapi_document();
    let operations: Vec<(String, String)> =
        sealform_http::native_routes().into_iter().map(|(m, p)| (m.to_owned(), p.to_owned())).collect();
    let mut runner = TestRunner::new(Config { cases: CASES, failure_persistence: None, ..Config::default() });
    // Which operations answered what, to check the fuzzing reached past the front door.
    let seen = std::sync::Mutex::new(std::collections::BTreeMap::<(String, String), Vec<u16>>::new());
    let result = runner.run(&any::<u64>(), |seed| {
        let p = probe(doc, &operations, seed, &f);
        let key = p.with_key.then_some(f.key.as_str());
        let headers: Vec<(&str, &str)> = p.headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let reply = runtime.block_on(c.api_raw(&p.method, &p.uri, key, &headers, p.body.clone()));
        seen.lock().unwrap().entry((p.method.clone(), p.path.clone())).or_default().push(reply.status.as_u16());
        let what = format!(
            "{} {} (key: {}) -> {}: {}",
            p.method,
            p.uri,
            p.with_key,
            reply.status,
            reply.body.chars().take(300).collect::<String>()
        );
        if reply.status.is_server_error() {
            return Err(TestCaseError::fail(format!("5xx: {what}")));
        }
        if (reply.status.is_client_error())
            && reply.headers.get("content-type").is_none_or(|t| t != "application/problem+json")
        {
            return Err(TestCaseError::fail(format!("an error that is no problem document: {what}")));
        }
        Ok(())
    });
    if let Err(err) = result {
        panic!("{err}");
    }
    // Every operation was tried, and most got past validation to do their work at least once: fuzzing that only
    // ever met 401s and 422s would prove nothing.
    let seen = seen.into_inner().unwrap();
    let untried: Vec<_> = operations.iter().filter(|op| !seen.contains_key(*op)).collect();
    assert!(untried.is_empty(), "operations never tried: {untried:?}");
    let succeeded = seen.values().filter(|statuses| statuses.iter().any(|s| (200..300).contains(s))).count();
    assert!(
        succeeded * 2 >= operations.len(),
        "only {succeeded} of {} operations ever succeeded: {seen:?}",
        operations.len()
    );
    eprintln!("fuzzed {} operations, {succeeded} with a success: {seen:?}", seen.len());
}

#[test]
fn fuzzing_from_the_document_finds_no_5xx_sqlite() {
    fuzz_on::<Sqlite>("api_fuzz");
}

#[test]
fn fuzzing_from_the_document_finds_no_5xx_postgres() {
    fuzz_on::<Postgres>("api_fuzz");
}
