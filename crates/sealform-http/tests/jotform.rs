//! Contract tests of the Jotform-compatible API (issue #10) on both backends: the envelope and error shape, both
//! prefixes and both ways of sending the key, object shapes, pagination, filters and ordering, every endpoint's
//! happy path, 401/403/404, PHI masking, audit entries, and bad input answered with 4xx (never 5xx).

#[macro_use]
mod harness;

use harness::*;
use sealform_core::api_keys::Scope;
use sealform_core::audit::{Action, AuditQuery, AuditScope};
use sealform_core::files::{FileRef, FileSealer, ObjectStore};
use sealform_core::form_model::{Definition, Question, QuestionType};
use sealform_core::grants::Right;
use sealform_core::ids::{FileId, FormId, SubmissionId};
use sealform_core::org::OrgName;
use sealform_core::sealing::{Answers, NewAnswers, store_submission};
use sealform_core::user::Role;
use serde_json::{Value, json};
use zeroize::Zeroizing;

/// How a request carries its key.
#[derive(Clone, Copy)]
enum Key<'a> {
    None,
    Header(&'a str),
    Query(&'a str),
}

struct Answered {
    status: StatusCode,
    headers: http::HeaderMap,
    json: Value,
    raw: String,
}

async fn call<S: Store>(
    c: &Console<S>,
    method: &str,
    path: &str,
    key: Key<'_>,
    body: Option<(&str, String)>,
) -> Answered {
    let uri = match key {
        Key::Query(k) => format!("{path}{}apiKey={}", if path.contains('?') { '&' } else { '?' }, urlencode(k)),
        _ => path.to_owned(),
    };
    let mut request = Request::builder().method(method).uri(uri);
    if let Key::Header(k) = key {
        // Any case: the Python client sends `apiKey`.
        request = request.header("ApiKey", k);
    }
    let request = match body {
        Some((content_type, text)) => request.header("content-type", content_type).body(Body::from(text)),
        None => request.body(Body::empty()),
    };
    let reply = c.send(request.unwrap()).await;
    assert!(!reply.status.is_server_error(), "{method} {path}: {} {}", reply.status, reply.body);
    let json = serde_json::from_str(&reply.body).unwrap_or(Value::Null);
    Answered { status: reply.status, headers: reply.headers, json, raw: reply.body }
}

const FORM: &str = "application/x-www-form-urlencoded";
const JSON: &str = "application/json";

async fn get<S: Store>(c: &Console<S>, path: &str, key: &str) -> Answered {
    call(c, "GET", path, Key::Header(key), None).await
}

async fn post<S: Store>(c: &Console<S>, path: &str, key: &str, form: &str) -> Answered {
    call(c, "POST", path, Key::Header(key), Some((FORM, form.to_owned()))).await
}

async fn put<S: Store>(c: &Console<S>, path: &str, key: &str, json: &Value) -> Answered {
    call(c, "PUT", path, Key::Header(key), Some((JSON, json.to_string()))).await
}

async fn delete<S: Store>(c: &Console<S>, path: &str, key: &str) -> Answered {
    call(c, "DELETE", path, Key::Header(key), None).await
}

/// Asserts the success envelope and returns the content.
fn ok(a: &Answered) -> &Value {
    assert_eq!(a.status, StatusCode::OK, "{}", a.raw);
    assert_eq!(a.json["responseCode"], 200);
    assert_eq!(a.json["message"], "success");
    assert!(a.json["duration"].as_str().unwrap().ends_with("ms"));
    assert!(a.json["limit-left"].as_u64().is_some(), "{}", a.raw);
    &a.json["content"]
}

/// Asserts the error envelope with `status`.
fn failed(a: &Answered, status: StatusCode) {
    assert_eq!(a.status, status, "{}", a.raw);
    assert_eq!(a.json["responseCode"], status.as_u16(), "{}", a.raw);
    assert_eq!(a.json["content"], "");
    assert!(a.json["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert!(a.json["info"].as_str().is_some());
}

async fn key_for<S: Store>(c: &Console<S>, email: &str, scopes: Vec<Scope>, form: Option<FormId>) -> String {
    let scope = AuditScope::operator();
    let audit = AuditCtx { auditor: &c.auditor, scope: &scope };
    let org = if email.ends_with("@b.example") {
        c.store.organisation_by_name(&OrgName::parse("Clinic B").unwrap()).await.unwrap().unwrap().id
    } else {
        c.org_a
    };
    let (key, _) =
        sealform_core::api_keys::create(&c.store, &c.clock, audit, org, email, "k", scopes, form, None).await.unwrap();
    key.to_string()
}

async fn count_audit<S: Store>(c: &Console<S>, action: Action) -> usize {
    let query = AuditQuery {
        org: c.org_a,
        action: Some(action),
        actor: None,
        target_hash: None,
        from: None,
        to: None,
        limit: 10_000,
    };
    c.store.tenant(query.org).audit_search(query).await.unwrap().len()
}

const CREATE_FORM: &str = "properties%5Btitle%5D=Intake+API&questions%5B1%5D%5Btype%5D=control_textbox\
    &questions%5B1%5D%5Btext%5D=Favourite+colour&questions%5B1%5D%5Border%5D=1&questions%5B1%5D%5Bindexed%5D=Yes\
    &questions%5B2%5D%5Btype%5D=control_fullname&questions%5B2%5D%5Btext%5D=Your+name&questions%5B2%5D%5Border%5D=2\
    &questions%5B2%5D%5Bphi%5D=Yes&questions%5B3%5D%5Btype%5D=control_checkbox&questions%5B3%5D%5Btext%5D=Pets\
    &questions%5B3%5D%5Boptions%5D=Cat%7CDog&questions%5B3%5D%5Border%5D=3";

async fn envelope_auth_forms_questions_submissions_and_settings<B: Backend>() {
    let Some(c) = console::<B>("jotform_contract").await else { return };
    let key = key_for(&c, "a@a.example", Scope::ALL.to_vec(), None).await;

    // Authentication: missing and wrong keys are 401 in Jotform's shape; header (any case) and query both work,
    // under both prefixes.
    failed(&call(&c, "GET", "/jotform/user", Key::None, None).await, StatusCode::UNAUTHORIZED);
    failed(&call(&c, "GET", "/jotform/v1/user", Key::Header("sf_nope_nope"), None).await, StatusCode::UNAUTHORIZED);
    for prefix in ["/jotform", "/jotform/v1"] {
        for how in [Key::Header(&key), Key::Query(&key)] {
            let user = call(&c, "GET", &format!("{prefix}/user"), how, None).await;
            assert_eq!(ok(&user)["email"], "a@a.example");
        }
    }
    let left = get(&c, "/jotform/v1/user/usage", &key).await.json["limit-left"].as_u64().unwrap();
    assert!(left > 0 && left < 100_000, "limit-left comes from the key's budget: {left}");

    // Create a form (form-encoded, as the Python client does): published at once, its url the fill page.
    let created = post(&c, "/jotform/v1/user/forms", &key, CREATE_FORM).await;
    let form = ok(&created).clone();
    let id = form["id"].as_str().unwrap().to_owned();
    assert_eq!(form["status"], "ENABLED");
    assert_eq!(form["title"], "Intake API");
    assert_eq!(form["count"], "0");
    let url = form["url"].as_str().unwrap();
    assert!(url.ends_with(&format!("/f/{id}")), "{url}");
    let fill = c.get(&format!("/f/{id}"), "").await;
    assert_eq!(fill.status, StatusCode::OK);
    assert!(fill.body.contains("Favourite colour"));
    assert!(ok(&get(&c, &format!("/jotform/form/{id}"), &key).await)["created_at"].as_str().unwrap().len() == 19);

    // Questions.
    let questions = get(&c, &format!("/jotform/v1/form/{id}/questions"), &key).await;
    let questions = ok(&questions).as_object().unwrap().clone();
    assert_eq!(questions.len(), 3);
    assert_eq!(questions["2"]["type"], "control_fullname");
    assert_eq!(questions["2"]["order"], "2");
    assert_eq!(questions["3"]["options"], "Cat|Dog");
    let added = post(
        &c,
        &format!("/jotform/v1/form/{id}/questions"),
        &key,
        "question%5Btype%5D=control_email&question%5Btext%5D=E-mail",
    )
    .await;
    assert_eq!(ok(&added)["qid"], "4");
    let edited = post(
        &c,
        &format!("/jotform/v1/form/{id}/question/4"),
        &key,
        "question%5Btext%5D=Your+e-mail&question%5Brequired%5D=No",
    )
    .await;
    assert_eq!(ok(&edited)["text"], "Your e-mail");
    assert_eq!(ok(&get(&c, &format!("/jotform/v1/form/{id}/question/4"), &key).await)["text"], "Your e-mail");
    ok(&delete(&c, &format!("/jotform/v1/form/{id}/question/4"), &key).await);
    failed(&get(&c, &format!("/jotform/v1/form/{id}/question/4"), &key).await, StatusCode::NOT_FOUND);
    failed(
        &post(&c, &format!("/jotform/v1/form/{id}/questions"), &key, "question%5Btype%5D=control_widget").await,
        StatusCode::BAD_REQUEST,
    );
    failed(
        &post(&c, &format!("/jotform/v1/form/{id}/question/1"), &key, "question%5BlabelAlign%5D=Top").await,
        StatusCode::BAD_REQUEST,
    );

    // Submissions: one form-encoded with compound and checkbox answers, two as JSON.
    let reads_before = count_audit(&c, Action::SubmissionRead).await;
    let first = post(&c, &format!("/jotform/v1/form/{id}/submissions"), &key,
        "submission%5B1%5D=Blue&submission%5B2%5D%5Bfirst%5D=Zed&submission%5B2%5D%5Blast%5D=Quux&submission%5B3%5D%5B%5D=Cat&submission%5B3%5D%5B%5D=Dog").await;
    let first = ok(&first)["submissionID"].as_str().unwrap().to_owned();
    c.clock.advance(Duration::seconds(2));
    let more = put(
        &c,
        &format!("/jotform/v1/form/{id}/submissions"),
        &key,
        &json!([{"1": "Red", "2": {"first": "Amy", "last": "Bo"}}, {"1": "Green"}]),
    )
    .await;
    let more = ok(&more).as_array().unwrap().clone();
    assert_eq!(more.len(), 2);
    let last = more[1]["submissionID"].as_str().unwrap().to_owned();

    // Listing: newest first by default, resultSet, offset, ASC, filters; every opened submission audited.
    let page = get(&c, &format!("/jotform/v1/form/{id}/submissions?limit=2"), &key).await;
    assert_eq!(page.json["resultSet"], json!({"offset": 0, "limit": 2, "count": 2}));
    let items = ok(&page).as_array().unwrap();
    assert_eq!(items[0]["id"], last.as_str());
    assert_eq!(items[0]["answers"]["1"]["answer"], "Green");
    assert_eq!(items[0]["answers"]["1"]["type"], "control_textbox");
    assert_eq!(items[0]["status"], "ACTIVE");
    assert_eq!(items[0]["new"], "1");
    assert_eq!(count_audit(&c, Action::SubmissionRead).await, reads_before + 2, "a list audits what it opened");
    let rest = get(&c, &format!("/jotform/v1/form/{id}/submissions?offset=2&limit=2"), &key).await;
    assert_eq!(rest.json["resultSet"]["count"], 1);
    assert_eq!(ok(&rest)[0]["id"], first.as_str());
    let oldest = get(&c, &format!("/jotform/v1/form/{id}/submissions?orderby=created_at&direction=ASC"), &key).await;
    let sub = &ok(&oldest)[0];
    assert_eq!(sub["id"], first.as_str());
    assert_eq!(sub["answers"]["2"]["answer"], json!({"first": "Zed", "last": "Quux"}));
    assert_eq!(sub["answers"]["2"]["prettyFormat"], "Zed Quux");
    assert_eq!(sub["answers"]["3"]["answer"], json!(["Cat", "Dog"]));
    let filter = |f: Value| format!("/jotform/v1/form/{id}/submissions?filter={}", urlencode(&f.to_string()));
    assert_eq!(ok(&get(&c, &filter(json!({"id:gt": first})), &key).await).as_array().unwrap().len(), 2);
    assert_eq!(
        ok(&get(&c, &filter(json!({"created_at:lt": "2000-01-01 00:00:00"})), &key).await).as_array().unwrap().len(),
        0
    );
    assert_eq!(ok(&get(&c, &filter(json!({"status:ne": "DELETED"})), &key).await).as_array().unwrap().len(), 3);
    // The last second there is: nothing after it, and no overflow on the way.
    let after_the_last_second = filter(json!({"created_at:gt": "9999-12-31 23:59:59"}));
    assert_eq!(ok(&get(&c, &after_the_last_second, &key).await).as_array().unwrap().len(), 0);
    let searches = count_audit(&c, Action::SubmissionSearch).await;
    let found = get(&c, &filter(json!({"fullText": " red "})), &key).await;
    assert_eq!(ok(&found).as_array().unwrap().len(), 1, "fullText is an exact match on blind-indexed answers");
    assert_eq!(count_audit(&c, Action::SubmissionSearch).await, searches + 1);
    let all = get(
        &c,
        &format!("/jotform/user/submissions?filter={}", urlencode(&json!({"formIDs": [id]}).to_string())),
        &key,
    )
    .await;
    assert_eq!(ok(&all).as_array().unwrap().len(), 3);

    // Read, edit (a new revision; untouched answers stay), delete (then gone).
    let edit =
        post(&c, &format!("/jotform/v1/submission/{first}"), &key, "submission%5B1%5D=Purple&submission%5Bflag%5D=1")
            .await;
    assert_eq!(ok(&edit)["submissionID"], first.as_str());
    let read = get(&c, &format!("/jotform/submission/{first}"), &key).await;
    let read = ok(&read);
    assert_eq!(read["answers"]["1"]["answer"], "Purple");
    assert_eq!(read["answers"]["2"]["answer"]["first"], "Zed");
    assert_eq!(read["flag"], "1");
    let summary = c.store.tenant(c.org_a).submission(first.parse().unwrap()).await.unwrap().unwrap();
    assert_eq!(summary.revision, 2);
    ok(&delete(&c, &format!("/jotform/v1/submission/{last}"), &key).await);
    failed(&get(&c, &format!("/jotform/v1/submission/{last}"), &key).await, StatusCode::NOT_FOUND);
    assert_eq!(ok(&get(&c, &format!("/jotform/v1/form/{id}"), &key).await)["count"], "2");

    // Webhooks, properties, clone, reports, folders, history.
    let hooks =
        post(&c, &format!("/jotform/v1/form/{id}/webhooks"), &key, "webhookURL=https%3A%2F%2Fhooks.example%2Fin").await;
    assert_eq!(ok(&hooks), &json!({"0": "https://hooks.example/in"}));
    failed(
        &post(&c, &format!("/jotform/v1/form/{id}/webhooks"), &key, "webhookURL=javascript%3Aalert(1)").await,
        StatusCode::BAD_REQUEST,
    );
    assert_eq!(
        ok(&get(&c, &format!("/jotform/v1/form/{id}/webhooks"), &key).await),
        &json!({"0": "https://hooks.example/in"})
    );
    assert_eq!(ok(&delete(&c, &format!("/jotform/v1/form/{id}/webhooks/0"), &key).await), &json!({}));
    failed(&delete(&c, &format!("/jotform/v1/form/{id}/webhooks/0"), &key).await, StatusCode::NOT_FOUND);
    ok(&post(
        &c,
        &format!("/jotform/v1/form/{id}/properties"),
        &key,
        "properties%5Bheight%5D=600&properties%5Btitle%5D=Intake+v2",
    )
    .await);
    assert_eq!(
        ok(&get(&c, &format!("/jotform/v1/form/{id}/properties/height"), &key).await),
        &json!({"height": "600"})
    );
    assert_eq!(ok(&get(&c, &format!("/jotform/v1/form/{id}/properties"), &key).await)["title"], "Intake v2");
    failed(
        &post(&c, &format!("/jotform/v1/form/{id}/properties"), &key, "properties%5Bthankurl%5D=x").await,
        StatusCode::BAD_REQUEST,
    );
    failed(
        &put(&c, &format!("/jotform/v1/form/{id}/properties"), &key, &json!({"properties": {"status": "PAUSED"}}))
            .await,
        StatusCode::BAD_REQUEST,
    );
    let copy = post(&c, &format!("/jotform/v1/form/{id}/clone"), &key, "method=post").await;
    assert_eq!(ok(&copy)["title"], "Intake v2 (copy)");
    assert_eq!(ok(&get(&c, &format!("/jotform/v1/form/{id}/reports"), &key).await), &json!([]));
    let folder = post(&c, "/jotform/v1/folder", &key, "name=Clinic+forms&color=%23112233").await;
    let folder_id = ok(&folder)["id"].as_str().unwrap().to_owned();
    let moved = put(&c, &format!("/jotform/v1/folder/{folder_id}"), &key, &json!({"forms": [id]})).await;
    assert!(ok(&moved)["forms"].get(&id).is_some());
    let tree = get(&c, "/jotform/v1/user/folders", &key).await;
    assert_eq!(ok(&tree)["subfolders"][0]["name"], "Clinic forms");
    assert!(ok(&tree)["forms"].get(&id).is_none(), "a form in a folder is not at the top level");
    ok(&delete(&c, &format!("/jotform/v1/folder/{folder_id}"), &key).await);
    failed(&get(&c, &format!("/jotform/v1/folder/{folder_id}"), &key).await, StatusCode::NOT_FOUND);
    let history = get(&c, "/jotform/v1/user/history", &key).await;
    let types: Vec<&str> = ok(&history).as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert!(types.contains(&"submission.create") && types.contains(&"folder.delete"), "{types:?}");
    let to_the_end = get(&c, "/jotform/v1/user/history?endDate=12/31/9999", &key).await;
    assert_eq!(ok(&to_the_end).as_array().unwrap().len(), types.len(), "the last day there is, with no overflow");
    let forms = get(&c, "/jotform/v1/user/forms?orderby=title&direction=ASC&limit=1", &key).await;
    assert_eq!(forms.json["resultSet"], json!({"offset": 0, "limit": 1, "count": 1}));
    assert_eq!(ok(&forms)[0]["title"], "Intake v2");
    ok(&delete(&c, &format!("/jotform/v1/form/{id}"), &key).await);
    assert_eq!(ok(&get(&c, &format!("/jotform/v1/form/{id}"), &key).await)["status"], "DELETED");
    let live =
        get(&c, &format!("/jotform/v1/user/forms?filter={}", urlencode(r#"{"status:ne":"DELETED"}"#)), &key).await;
    assert!(ok(&live).as_array().unwrap().iter().all(|f| f["id"] != id.as_str()));
    for endpoint in ["/user/subusers", "/user/reports", "/user/settings"] {
        ok(&get(&c, &format!("/jotform/v1{endpoint}"), &key).await);
    }
}

/// A request expected to be refused: method, path, body, status.
type BadCase = (&'static str, String, Option<(&'static str, String)>, StatusCode);

async fn bad_input_is_4xx_in_jotform_shape<B: Backend>() {
    let Some(c) = console::<B>("jotform_bad_input").await else { return };
    let key = key_for(&c, "a@a.example", Scope::ALL.to_vec(), None).await;
    let created = post(&c, "/jotform/user/forms", &key, CREATE_FORM).await;
    let id = ok(&created)["id"].as_str().unwrap().to_owned();
    let injection = urlencode("' OR 1=1; DROP TABLE forms; --");
    let cases: Vec<BadCase> = vec![
        ("GET", format!("/jotform/v1/form/{id}/submissions?limit=5000"), None, StatusCode::BAD_REQUEST),
        ("GET", format!("/jotform/v1/form/{id}/submissions?limit=abc"), None, StatusCode::BAD_REQUEST),
        ("GET", format!("/jotform/v1/form/{id}/submissions?offset=-3"), None, StatusCode::BAD_REQUEST),
        ("GET", format!("/jotform/v1/form/{id}/submissions?filter=%7Bnot+json"), None, StatusCode::BAD_REQUEST),
        (
            "GET",
            format!("/jotform/v1/form/{id}/submissions?filter={}", urlencode(r#"{"answer:like":"x"}"#)),
            None,
            StatusCode::BAD_REQUEST,
        ),
        (
            "GET",
            format!("/jotform/v1/form/{id}/submissions?filter={}", urlencode(r#"{"id:gt":"nope"}"#)),
            None,
            StatusCode::BAD_REQUEST,
        ),
        ("GET", format!("/jotform/v1/form/{id}/submissions?orderby=answers"), None, StatusCode::BAD_REQUEST),
        ("GET", format!("/jotform/v1/form/{id}/submissions?direction=sideways"), None, StatusCode::BAD_REQUEST),
        ("GET", format!("/jotform/v1/form/{injection}"), None, StatusCode::BAD_REQUEST),
        ("GET", format!("/jotform/v1/submission/{injection}"), None, StatusCode::BAD_REQUEST),
        ("GET", format!("/jotform/v1/form/{}", FormId::new()), None, StatusCode::NOT_FOUND),
        ("GET", "/jotform/v1/report/123".to_owned(), None, StatusCode::NOT_FOUND),
        ("POST", "/jotform/v1/user/register".to_owned(), Some((FORM, "username=x".to_owned())), StatusCode::NOT_FOUND),
        (
            "PUT",
            format!("/jotform/v1/form/{id}/submissions"),
            Some((JSON, "{not json".to_owned())),
            StatusCode::BAD_REQUEST,
        ),
        (
            "PUT",
            format!("/jotform/v1/form/{id}/submissions"),
            Some((JSON, "[1, 2]".to_owned())),
            StatusCode::BAD_REQUEST,
        ),
        (
            "PUT",
            format!("/jotform/v1/form/{id}/submissions"),
            Some((JSON, r#"[{"99": "Secret Value"}]"#.to_owned())),
            StatusCode::BAD_REQUEST,
        ),
        (
            "PUT",
            format!("/jotform/v1/form/{id}/submissions"),
            Some((JSON, r#"[{"1": {"a": ["nested"]}}]"#.to_owned())),
            StatusCode::BAD_REQUEST,
        ),
        (
            "POST",
            format!("/jotform/v1/form/{id}/submissions"),
            Some((FORM, "submission%5B3%5D=Parrot+Secret".to_owned())),
            StatusCode::BAD_REQUEST,
        ),
        (
            "POST",
            format!("/jotform/v1/form/{id}/submissions"),
            Some((FORM, "submission%5B1=x".to_owned())),
            StatusCode::BAD_REQUEST,
        ),
        (
            "PUT",
            "/jotform/v1/user/forms".to_owned(),
            Some((JSON, r#"{"questions": 5}"#.to_owned())),
            StatusCode::BAD_REQUEST,
        ),
        // More questions than a form may hold, refused before any is read (each looks at those before it).
        (
            "PUT",
            "/jotform/v1/user/forms".to_owned(),
            Some((JSON, format!(r#"{{"questions": [{}]}}"#, vec![r#"{"type":"control_head"}"#; 301].join(",")))),
            StatusCode::BAD_REQUEST,
        ),
        (
            "PUT",
            "/jotform/v1/user/forms".to_owned(),
            Some((JSON, r#"{"properties": {"title": ""}}"#.to_owned())),
            StatusCode::BAD_REQUEST,
        ),
        (
            "POST",
            "/jotform/v1/user/forms".to_owned(),
            Some((FORM, "emails%5B0%5D%5Bto%5D=x%40y.example".to_owned())),
            StatusCode::BAD_REQUEST,
        ),
        ("PUT", "/jotform/v1/folder/abc".to_owned(), Some((JSON, "{}".to_owned())), StatusCode::BAD_REQUEST),
        (
            "POST",
            "/jotform/v1/user/settings".to_owned(),
            Some((FORM, "name=x".to_owned())),
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        ("PATCH", "/jotform/v1/user".to_owned(), None, StatusCode::METHOD_NOT_ALLOWED),
    ];
    for (method, path, body, status) in cases {
        let answered = call(&c, method, &path, Key::Header(&key), body).await;
        failed(&answered, status);
        for secret in ["Secret Value", "Parrot", "DROP TABLE"] {
            assert!(!answered.raw.contains(secret), "{method} {path} echoed its input: {}", answered.raw);
        }
        if status == StatusCode::METHOD_NOT_ALLOWED {
            assert!(answered.headers.contains_key("allow"), "{path}");
        }
    }
    let quiet = call(&c, "GET", "/jotform/v1/user", Key::Header(&key), None).await;
    ok(&quiet);
    // A year before any PostgreSQL holds: the same empty answer as SQLite's, not a database error.
    let long_ago = urlencode(r#"{"created_at:lt":"-5000-01-01"}"#);
    let before = get(&c, &format!("/jotform/v1/form/{id}/submissions?filter={long_ago}"), &key).await;
    assert!(ok(&before).as_array().unwrap().is_empty());
    // A NUL in a key is a wrong key (PostgreSQL refused the lookup: a 503, not counted as a failure).
    let nul = call(&c, "GET", "/jotform/v1/user?apiKey=sf_%00AAAAAAAAA_x", Key::None, None).await;
    failed(&nul, StatusCode::UNAUTHORIZED);
}

/// Organisation A's form with a PHI question, an answer and a file, made through the core services.
async fn form_with_file<S: Store>(c: &Console<S>) -> (FormId, SubmissionId, FileId) {
    let mut definition = Definition::default();
    definition.questions.push(Question::new("1", QuestionType::Textbox, "Colour"));
    let mut name = Question::new("2", QuestionType::Textbox, "Patient name");
    name.phi = true;
    definition.questions.push(name);
    let mut scan = Question::new("3", QuestionType::Fileupload, "Scan");
    scan.phi = false;
    definition.questions.push(scan);
    let form = c.published_form("Scans", &definition).await;
    let version = c.store.tenant(c.org_a).form(form).await.unwrap().unwrap().version;
    let scope = AuditScope::operator();
    let audit = AuditCtx { auditor: &c.auditor, scope: &scope };
    let keyring = c.keyring();
    let objects = ObjectStore::new(c.objects.path());
    let submission = SubmissionId::new();
    let target = FileRef { org: c.org_a, form, submission, file: FileId::new() };
    let mut sealer = FileSealer::start(&objects, target, "3", "scan.bin", 1 << 20).await.unwrap();
    let bytes: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    sealer.push(&bytes).await.unwrap();
    let (file, _) = sealer.finish(&objects, &keyring).await.unwrap();
    let file_id = file.id;
    let answers: Answers = [("1", "Teal"), ("2", "Zebedee Quarrington"), ("3", "scan.bin")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), Zeroizing::new(v.as_bytes().to_vec())))
        .collect();
    let new = NewAnswers { org: c.org_a, form, form_version: version, answers: &answers, indexed: &[] };
    store_submission(&c.store, &keyring, audit, submission, new, vec![file], c.clock.now()).await.unwrap();
    (form, submission, file_id)
}

async fn scopes_grants_masking_files_and_tenancy<B: Backend>() {
    let Some(c) = console::<B>("jotform_access").await else { return };
    let (form, submission, file) = form_with_file(&c).await;
    let owner = key_for(&c, "a@a.example", Scope::ALL.to_vec(), None).await;

    // Files: listed with a URL that returns the exact bytes to the same key (header or query), audited.
    let files = get(&c, &format!("/jotform/v1/form/{form}/files"), &owner).await;
    let url = ok(&files)[0]["url"].as_str().unwrap().to_owned();
    let path = url.strip_prefix("https://clinic.example").unwrap();
    assert_eq!(path, format!("/jotform/v1/files/{file}"));
    let file_reads = count_audit(&c, Action::FileRead).await;
    let expected: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    for how in [Key::Header(&owner), Key::Query(&owner)] {
        let mut request = Request::get(match how {
            Key::Query(k) => format!("{path}?apiKey={}", urlencode(k)),
            _ => path.to_owned(),
        });
        if let Key::Header(k) = how {
            request = request.header("APIKEY", k);
        }
        let client: std::net::SocketAddr = "203.0.113.9:50000".parse().unwrap();
        let mut request = request.body(Body::empty()).unwrap();
        request.extensions_mut().insert(axum::extract::ConnectInfo(client));
        let response = c.app.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(bytes.as_ref(), expected.as_slice(), "the exact bytes");
    }
    assert_eq!(count_audit(&c, Action::FileRead).await, file_reads + 2);
    let read = get(&c, &format!("/jotform/v1/submission/{submission}"), &owner).await;
    assert_eq!(ok(&read)["answers"]["3"]["answer"][0], url.as_str());

    // A reviewer whose grant hides PHI: the PHI answer is masked (never the value), the rest shows.
    c.member_session("rev@a.example", Role::Reviewer).await;
    c.grant("rev@a.example", form, &[Right::View], true, None).await;
    let reviewer = key_for(&c, "rev@a.example", vec![Scope::Read], None).await;
    let masked = get(&c, &format!("/jotform/v1/submission/{submission}"), &reviewer).await;
    assert_eq!(ok(&masked)["answers"]["2"]["answer"], "•••");
    assert_eq!(ok(&masked)["answers"]["1"]["answer"], "Teal");
    assert!(!masked.raw.contains("Zebedee"));
    let listed = get(&c, &format!("/jotform/v1/form/{form}/submissions?unmask=1&showPHI=true"), &reviewer).await;
    assert!(!listed.raw.contains("Zebedee"), "no parameter unmasks");
    // The reviewer's key has read scope only: writes are 403.
    failed(
        &post(&c, &format!("/jotform/v1/submission/{submission}"), &reviewer, "submission%5B1%5D=Red").await,
        StatusCode::FORBIDDEN,
    );
    failed(&delete(&c, &format!("/jotform/v1/submission/{submission}"), &reviewer).await, StatusCode::FORBIDDEN);

    // A key without the read scope, a key narrowed to another form, a member without a grant: 403.
    let submit_only = key_for(&c, "a@a.example", vec![Scope::Submit], None).await;
    failed(&get(&c, &format!("/jotform/v1/form/{form}/submissions"), &submit_only).await, StatusCode::FORBIDDEN);
    let ok_submit =
        post(&c, &format!("/jotform/v1/form/{form}/submissions"), &submit_only, "submission%5B1%5D=Red").await;
    ok(&ok_submit);
    let other_form = c.published_form("Other", &Definition::default()).await;
    let narrowed = key_for(&c, "a@a.example", Scope::ALL.to_vec(), Some(other_form)).await;
    failed(&get(&c, &format!("/jotform/v1/form/{form}"), &narrowed).await, StatusCode::FORBIDDEN);
    let listed = get(&c, "/jotform/v1/user/forms", &narrowed).await;
    assert_eq!(ok(&listed).as_array().unwrap().len(), 1, "a narrowed key lists its one form");
    c.member_session("fm@a.example", Role::FormManager).await;
    let no_grant = key_for(&c, "fm@a.example", vec![Scope::Read, Scope::Write, Scope::Submit], None).await;
    for path in [
        format!("/jotform/v1/form/{form}"),
        format!("/jotform/v1/submission/{submission}"),
        format!("/jotform/v1/files/{file}"),
    ] {
        failed(&get(&c, &path, &no_grant).await, StatusCode::FORBIDDEN);
    }
    assert!(ok(&get(&c, "/jotform/v1/user/forms", &no_grant).await).as_array().unwrap().is_empty());
    // A form manager makes folders but deletes none: the forms inside would leave the reach of the grants on it.
    let folder = post(&c, "/jotform/v1/folder", &no_grant, "name=Drafts").await;
    let folder = ok(&folder)["id"].as_str().unwrap().to_owned();
    failed(&delete(&c, &format!("/jotform/v1/folder/{folder}"), &no_grant).await, StatusCode::FORBIDDEN);
    ok(&get(&c, &format!("/jotform/v1/folder/{folder}"), &no_grant).await);

    // Another organisation's key: 404, never 403, and nothing of A shows.
    let other = key_for(&c, "b@b.example", Scope::ALL.to_vec(), None).await;
    for path in [
        format!("/jotform/v1/form/{form}"),
        format!("/jotform/v1/form/{form}/submissions"),
        format!("/jotform/v1/submission/{submission}"),
        format!("/jotform/v1/files/{file}"),
        format!("/jotform/v1/form/{form}/questions"),
    ] {
        let answered = get(&c, &path, &other).await;
        failed(&answered, StatusCode::NOT_FOUND);
        assert!(!answered.raw.contains("Teal") && !answered.raw.contains("Scans"));
    }
    failed(&delete(&c, &format!("/jotform/v1/submission/{submission}"), &other).await, StatusCode::NOT_FOUND);
    assert!(ok(&get(&c, "/jotform/v1/user/submissions", &other).await).as_array().unwrap().is_empty());
}

/// A request from another client address (failed authentications are counted per address).
async fn from_address<S: Store>(c: &Console<S>, path: &str, key: &str, ip: &str) -> Answered {
    let mut request = Request::get(path).header("apikey", key).body(Body::empty()).unwrap();
    let client: std::net::SocketAddr = format!("{ip}:40000").parse().unwrap();
    request.extensions_mut().insert(axum::extract::ConnectInfo(client));
    let response = c.app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let raw = String::from_utf8_lossy(&response.into_body().collect().await.unwrap().to_bytes()).into_owned();
    Answered { status, headers, json: serde_json::from_str(&raw).unwrap_or(Value::Null), raw }
}

async fn limit_left_counts_down_and_429s_are_in_jotform_shape<B: Backend>() {
    let Some(c) = console::<B>("jotform_rate_limits").await else { return };
    let key = key_for(&c, "a@a.example", vec![Scope::Read], None).await;
    let scope = AuditScope::operator();
    let audit = AuditCtx { auditor: &c.auditor, scope: &scope };
    let limit = sealform_core::api_keys::ApiRateLimit::new(60, 3).unwrap();
    sealform_core::admin::set_api_rate_limit(&c.store, &c.clock, audit, c.org_a, limit).await.unwrap();
    for expected in [2, 1, 0] {
        let answered = get(&c, "/jotform/v1/user", &key).await;
        ok(&answered);
        assert_eq!(answered.json["limit-left"], expected, "limit-left is what is left of the key's budget");
    }
    let over = get(&c, "/jotform/v1/user", &key).await;
    failed(&over, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(over.json["limit-left"], 0);
    assert_eq!(over.headers["retry-after"], "1");
    c.clock.advance(Duration::seconds(1));
    ok(&get(&c, "/jotform/v1/user", &key).await);

    // Guesses at a key's secret from one address are cut off after ten, that key included (its prefix is what
    // counts); another address, and another key from the same address, are not.
    let guess = format!("{}x", &key[..key.len() - 1]);
    for _ in 0..10 {
        failed(&from_address(&c, "/jotform/user", &guess, "198.51.100.7").await, StatusCode::UNAUTHORIZED);
    }
    let another = key_for(&c, "a@a.example", vec![Scope::Read], None).await;
    assert_eq!(from_address(&c, "/jotform/user", &another, "198.51.100.7").await.status, StatusCode::OK);
    c.clock.advance(Duration::seconds(1));
    failed(&from_address(&c, "/jotform/user", &key, "198.51.100.7").await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(from_address(&c, "/jotform/user", &key, "198.51.100.8").await.status, StatusCode::OK);
}

both!(
    limit_left_counts_down_and_429s_are_in_jotform_shape,
    envelope_auth_forms_questions_submissions_and_settings,
    bad_input_is_4xx_in_jotform_shape,
    scopes_grants_masking_files_and_tenancy
);
