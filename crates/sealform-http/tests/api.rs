//! The native API (`/api/v1`, issue #10) on both backends: every route's happy path, authentication, scopes and
//! grants, organisations, masking, the audit trail (the key as actor), idempotency, cursor pages and bad input.
//! `api/openapi.rs` checks the document against the router; `api/fuzz.rs` fuzzes every operation from it.

#[macro_use]
mod harness;
#[path = "api/fuzz.rs"]
mod fuzz;
#[path = "api/openapi.rs"]
mod openapi;

use harness::*;
use sealform_core::api_keys::Scope;
use sealform_core::audit::{Action, Actor};
use sealform_core::grants::Right;
use sealform_core::ids::{FormId, SubmissionId};
use sealform_core::user::Role;
use serde_json::{Value, json};

/// A form with a PHI name, a plain answer, a checkbox, an indexed PHI e-mail and a number.
fn questions() -> Value {
    json!([
        { "qid": "1", "type": "control_fullname", "text": "Name", "required": true, "phi": true },
        { "qid": "2", "type": "control_textbox", "text": "Favourite colour" },
        { "qid": "3", "type": "control_checkbox", "text": "Symptoms", "options": ["Cough", "Fever"] },
        { "qid": "4", "type": "control_email", "text": "E-mail", "phi": true, "indexed": true },
        { "qid": "5", "type": "control_number", "text": "Age", "validation": { "min": 0, "max": 130 } }
    ])
}

fn answers(first: &str) -> Value {
    json!({ "answers": {
        "1_first": first, "1_last": "Quarrington", "2": "blue", "3": ["Cough", "Fever"], "4": "z@example.org", "5": "42"
    } })
}

/// Adds a member to organisation A without signing in.
async fn member<S: Store>(c: &Console<S>, email: &str, role: Role) {
    let scope = sealform_core::audit::AuditScope::operator();
    let audit = AuditCtx { auditor: &c.auditor, scope: &scope };
    let password = SecretString::from(PASSWORD.to_owned());
    sealform_core::admin::add_user(&c.store, &c.clock, audit, c.org_a, email, role, password).await.unwrap();
}

/// The owner's key with every scope, and a published form made through the API.
async fn setup<S: Store>(c: &Console<S>) -> (String, String) {
    let key = c.key("a@a.example", &Scope::ALL).await;
    let made = c.api("POST", "/api/v1/forms", &key, Some(json!({ "title": "Intake", "questions": questions() }))).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    let form = made.json["id"].as_str().unwrap().to_owned();
    let published =
        c.api("PATCH", &format!("/api/v1/forms/{form}"), &key, Some(json!({ "status": "published" }))).await;
    assert_eq!(published.status, StatusCode::OK, "{}", published.body);
    (key, form)
}

async fn submit<S: Store>(c: &Console<S>, key: &str, form: &str, first: &str) -> String {
    let reply = c.api("POST", &format!("/api/v1/forms/{form}/submissions"), key, Some(answers(first))).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.json["id"].as_str().unwrap().to_owned()
}

/// The audit actor of the newest entry of `action`.
async fn last_actor<S: Store>(c: &Console<S>, action: Action) -> Actor {
    c.audit_of(action).await.first().unwrap_or_else(|| panic!("no {action} entry")).actor
}

async fn forms_are_created_changed_and_archived<B: Backend>() {
    let Some(c) = console::<B>("api_forms").await else { return };
    let (key, form) = setup(&c).await;
    let me = c.api("GET", "/api/v1/me", &key, None).await;
    assert_eq!(me.json["role"], "owner", "{}", me.body);
    assert_eq!(me.json["org_id"], c.org_a.to_string());
    let Actor::ApiKey(key_uuid) = last_actor(&c, Action::FormCreate).await else { panic!("a key made the form") };
    assert_eq!(last_actor(&c, Action::FormUpdate).await, Actor::ApiKey(key_uuid));

    let list = c.api("GET", "/api/v1/forms", &key, None).await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.json["items"][0]["id"], form.as_str());
    assert_eq!(list.json["items"][0]["status"], "published");
    assert_eq!(list.json["items"][0]["questions"], 5);

    let path = format!("/api/v1/forms/{form}");
    c.api("PATCH", &path, &key, Some(json!({}))).await.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    let renamed = c.api("PATCH", &path, &key, Some(json!({ "title": "New intake" }))).await;
    assert_eq!(renamed.json["title"], "New intake");
    assert_eq!(c.api("GET", &path, &key, None).await.json["title"], "New intake");

    let questions_path = format!("{path}/questions");
    let got = c.api("GET", &questions_path, &key, None).await;
    assert_eq!(got.json["version"], 1);
    assert_eq!(got.json["questions"][0]["type"], "control_fullname");
    let mut changed = questions();
    changed.as_array_mut().unwrap().push(json!({ "qid": "6", "type": "control_textarea", "text": "Anything else?" }));
    let put = c.api("PUT", &questions_path, &key, Some(json!({ "questions": changed }))).await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    assert_eq!(put.json["version"], 2);
    assert_eq!(put.json["questions"].as_array().unwrap().len(), 6);
    // The form model's checks apply: a duplicate question id is refused, per question.
    let duplicate = json!({ "questions": [{ "qid": "1", "type": "control_textbox", "text": "a" }, { "qid": "1", "type": "control_textbox", "text": "b" }] });
    c.api("PUT", &questions_path, &key, Some(duplicate)).await.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);

    let archived = c.api("DELETE", &path, &key, None).await;
    assert_eq!(archived.status, StatusCode::OK);
    assert_eq!(archived.json["status"], "archived");
    // An archived form takes no submissions.
    let closed = c.api("POST", &format!("{path}/submissions"), &key, Some(answers("Zed"))).await;
    closed.assert_problem(StatusCode::CONFLICT);
}

async fn submissions_are_read_edited_and_deleted_with_the_key_as_actor<B: Backend>() {
    let Some(c) = console::<B>("api_submissions").await else { return };
    let (key, form) = setup(&c).await;
    let id = submit(&c, &key, &form, "Zebedee").await;
    let Actor::ApiKey(actor) = last_actor(&c, Action::SubmissionCreate).await else { panic!("the key submitted") };

    let path = format!("/api/v1/submissions/{id}");
    let shown = c.api("GET", &path, &key, None).await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.body);
    assert_eq!(shown.json["answers"]["1_first"], "Zebedee");
    assert_eq!(shown.json["answers"]["3"], "Cough\nFever");
    assert_eq!(shown.json["submission"]["status"], "read");
    assert_eq!(shown.json["masked"], json!([]));
    let read = c.audit_of(Action::SubmissionRead).await;
    assert_eq!(read[0].actor, Actor::ApiKey(actor));
    assert!(read[0].fields.contains(&"1_first".to_owned()));
    assert!(read[0].targets.iter().any(|t| t.id == id));

    let edit = json!({ "answers": { "1_first": "Zebulon", "1_last": "Quarrington", "2": "green" }, "revision": 1 });
    let edited = c.api("PUT", &path, &key, Some(edit.clone())).await;
    assert_eq!(edited.status, StatusCode::OK, "{}", edited.body);
    assert_eq!(edited.json["revision"], 2);
    assert_eq!(last_actor(&c, Action::SubmissionUpdate).await, Actor::ApiKey(actor));
    // Based on a revision that is no longer the latest: refused.
    c.api("PUT", &path, &key, Some(edit)).await.assert_problem(StatusCode::CONFLICT);
    let revisions = c.api("GET", &format!("{path}/revisions"), &key, None).await;
    assert_eq!(revisions.json.as_array().unwrap().len(), 2, "{}", revisions.body);
    assert_eq!(revisions.json[0]["answers"]["1_first"], "Zebedee");
    assert_eq!(revisions.json[1]["answers"]["1_first"], "Zebulon");
    assert!(revisions.json[1]["created_by"].is_string());

    let flagged = c.api("PATCH", &path, &key, Some(json!({ "status": "flagged" }))).await;
    assert_eq!(flagged.json["status"], "flagged");
    let files = c.api("GET", &format!("{path}/files"), &key, None).await;
    assert_eq!(files.json, json!([]));

    assert_eq!(c.api("DELETE", &path, &key, None).await.status, StatusCode::NO_CONTENT);
    c.api("GET", &path, &key, None).await.assert_problem(StatusCode::NOT_FOUND);
    assert_eq!(last_actor(&c, Action::SubmissionDelete).await, Actor::ApiKey(actor));
}

async fn keys_are_required_and_checked<B: Backend>() {
    let Some(c) = console::<B>("api_auth").await else { return };
    let (key, form) = setup(&c).await;
    let path = format!("/api/v1/forms/{form}");
    for reply in [
        c.api_raw("GET", &path, None, &[], Vec::new()).await,
        c.api_raw("GET", &path, Some("sf_notakey0000_secret"), &[], Vec::new()).await,
        c.api_raw("GET", &path, Some(&format!("{key}x")), &[], Vec::new()).await,
        c.api_raw("GET", &path, None, &[("authorization", "Basic YTpi")], Vec::new()).await,
    ] {
        reply.assert_problem(StatusCode::UNAUTHORIZED);
        assert_eq!(reply.headers["www-authenticate"], "Bearer");
    }
    // Revoked keys stop at once.
    let other = c.key("a@a.example", &[Scope::Read]).await;
    let prefix = other[..13].to_owned();
    assert_eq!(c.api("GET", "/api/v1/me", &other, None).await.status, StatusCode::OK);
    assert_eq!(c.api("DELETE", &format!("/api/v1/api-keys/{prefix}"), &key, None).await.status, StatusCode::NO_CONTENT);
    c.api("GET", "/api/v1/me", &other, None).await.assert_problem(StatusCode::UNAUTHORIZED);
}

async fn scopes_grants_and_organisations_decide<B: Backend>() {
    let Some(c) = console::<B>("api_authz").await else { return };
    let (owner, form) = setup(&c).await;
    let id = submit(&c, &owner, &form, "Zebedee").await;
    member(&c, "rev@a.example", Role::Reviewer).await;
    let reviewer = c.key("rev@a.example", &[Scope::Read, Scope::Submit, Scope::Write]).await;
    let path = format!("/api/v1/submissions/{id}");
    // No grant: 403 in the same organisation.
    c.api("GET", &path, &reviewer, None).await.assert_problem(StatusCode::FORBIDDEN);
    c.api("GET", &format!("/api/v1/forms/{form}"), &reviewer, None).await.assert_problem(StatusCode::FORBIDDEN);
    assert_eq!(c.api("GET", "/api/v1/forms", &reviewer, None).await.json["items"], json!([]));
    // Another organisation: 404, whatever its key may do there.
    let other = c.key_in(org_b(&c).await, "b@b.example", &Scope::ALL, None).await;
    c.api("GET", &path, &other, None).await.assert_problem(StatusCode::NOT_FOUND);
    c.api("GET", &format!("/api/v1/forms/{form}"), &other, None).await.assert_problem(StatusCode::NOT_FOUND);

    // A grant that hides PHI: the PHI answers are masked, never opened, and the audit names only what was shown.
    let form_id: FormId = form.parse().unwrap();
    c.grant("rev@a.example", form_id, &[Right::View, Right::Edit], true, None).await;
    let masked = c.api("GET", &path, &reviewer, None).await;
    assert_eq!(masked.status, StatusCode::OK, "{}", masked.body);
    assert_eq!(masked.json["answers"]["1_first"], "•••");
    assert_eq!(masked.json["answers"]["2"], "blue");
    assert!(!masked.body.contains("Zebedee") && !masked.body.contains("z@example.org"), "{}", masked.body);
    let read = &c.audit_of(Action::SubmissionRead).await[0];
    assert!(!read.fields.iter().any(|f| f == "1_first" || f == "4"), "{:?}", read.fields);
    // No parameter unmasks.
    let asked = c.api("GET", &format!("{path}?masked=false&hide_phi=false"), &reviewer, None).await;
    assert!(!asked.body.contains("Zebedee"));
    let revisions = c.api("GET", &format!("{path}/revisions"), &reviewer, None).await;
    assert!(!revisions.body.contains("Zebedee"), "{}", revisions.body);
    // Masked, so no edits of a form with PHI questions.
    let edit = json!({ "answers": { "1_first": "X", "1_last": "Y" } });
    c.api("PUT", &path, &reviewer, Some(edit)).await.assert_problem(StatusCode::FORBIDDEN);
    // The role caps the key: a reviewer may not delete, export or manage, whatever the key says.
    c.api("DELETE", &path, &reviewer, None).await.assert_problem(StatusCode::FORBIDDEN);
    c.api("GET", "/api/v1/users", &reviewer, None).await.assert_problem(StatusCode::FORBIDDEN);
    c.api("GET", "/api/v1/audit", &reviewer, None).await.assert_problem(StatusCode::FORBIDDEN);

    // Scopes: a read-only key may not submit or change; a key restricted to another form sees nothing here.
    let read_only = c.key("a@a.example", &[Scope::Read]).await;
    let post = c.api("POST", &format!("/api/v1/forms/{form}/submissions"), &read_only, Some(answers("Q"))).await;
    post.assert_problem(StatusCode::FORBIDDEN);
    c.api("PATCH", &path, &read_only, Some(json!({ "status": "read" }))).await.assert_problem(StatusCode::FORBIDDEN);
    let elsewhere = c.key_in(c.org_a, "a@a.example", &Scope::ALL, Some(FormId::new())).await;
    c.api("GET", &path, &elsewhere, None).await.assert_problem(StatusCode::FORBIDDEN);
    let only_this = c.key_in(c.org_a, "a@a.example", &[Scope::Read], Some(form_id)).await;
    assert_eq!(c.api("GET", &path, &only_this, None).await.status, StatusCode::OK);
}

async fn org_b<S: Store>(c: &Console<S>) -> sealform_core::ids::OrgId {
    let name = sealform_core::org::OrgName::parse("Clinic B").unwrap();
    c.store.organisation_by_name(&name).await.unwrap().unwrap().id
}

async fn idempotency_keys_replay_and_refuse<B: Backend>() {
    let Some(c) = console::<B>("api_idempotency").await else { return };
    let (key, form) = setup(&c).await;
    let form_id: FormId = form.parse().unwrap();
    let path = format!("/api/v1/forms/{form}/submissions");
    let body = serde_json::to_vec(&answers("Zebedee")).unwrap();
    let post = |key: String, idem: &'static str, body: Vec<u8>| {
        let path = path.clone();
        let c = &c;
        async move {
            let headers = [("content-type", "application/json"), ("idempotency-key", idem)];
            c.api_raw("POST", &path, Some(&key), &headers, body).await
        }
    };
    let first = post(key.clone(), "order-1", body.clone()).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let again = post(key.clone(), "order-1", body.clone()).await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(again.json, first.json, "the same answer");
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(c.store.tenant(c.org_a).count_submissions(form_id).await.unwrap(), 1, "stored once");
    assert_eq!(c.audit_of(Action::SubmissionCreate).await.len(), 1, "audited once");
    // The same key with another body: refused, nothing stored.
    let other = serde_json::to_vec(&answers("Someone else")).unwrap();
    let refused = post(key.clone(), "order-1", other.clone()).await;
    refused.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused.code(), "idempotency_key_reused");
    assert!(!refused.body.contains("Someone"));
    assert_eq!(c.store.tenant(c.org_a).count_submissions(form_id).await.unwrap(), 1);
    // Keys are scoped to the API key: another key's "order-1" is its own.
    let second_key = c.key("a@a.example", &[Scope::Submit]).await;
    let theirs = post(second_key, "order-1", body.clone()).await;
    assert_eq!(theirs.status, StatusCode::CREATED);
    assert_ne!(theirs.json["id"], first.json["id"]);
    // A malformed key is a client error.
    post(key.clone(), "with space", body.clone()).await.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    // After 24 hours the key is forgotten: the same request makes a new submission.
    c.clock.advance(Duration::hours(24) + Duration::seconds(1));
    let later = post(key.clone(), "order-1", body.clone()).await;
    assert_eq!(later.status, StatusCode::CREATED, "{}", later.body);
    assert_ne!(later.json["id"], first.json["id"]);
    assert!(later.headers.get("idempotent-replayed").is_none());
    assert_eq!(c.store.tenant(c.org_a).count_submissions(form_id).await.unwrap(), 3);
    // Concurrent retries of one request: stored once, every one answered with it.
    let (a, b, d) = tokio::join!(
        post(key.clone(), "order-race", body.clone()),
        post(key.clone(), "order-race", body.clone()),
        post(key.clone(), "order-race", body.clone()),
    );
    for reply in [&a, &b, &d] {
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        assert_eq!(reply.json["id"], a.json["id"]);
    }
    assert_eq!(c.store.tenant(c.org_a).count_submissions(form_id).await.unwrap(), 4);
}

async fn cursor_pages_walk_every_submission_once<B: Backend>() {
    let Some(c) = console::<B>("api_pages").await else { return };
    let (key, form) = setup(&c).await;
    let mut made = Vec::new();
    for i in 0..7 {
        made.push(submit(&c, &key, &form, &format!("P{i}")).await);
    }
    for order in ["newest", "oldest"] {
        let mut seen = Vec::new();
        let mut cursor = String::new();
        loop {
            let page = c
                .api(
                    "GET",
                    &format!("/api/v1/forms/{form}/submissions?limit=3&order={order}&cursor={cursor}"),
                    &key,
                    None,
                )
                .await;
            assert_eq!(page.status, StatusCode::OK, "{}", page.body);
            let items = page.json["items"].as_array().unwrap();
            assert!(items.len() <= 3);
            seen.extend(items.iter().map(|i| i["id"].as_str().unwrap().to_owned()));
            match page.json["next_cursor"].as_str() {
                Some(next) => cursor = next.to_owned(),
                None => break,
            }
        }
        let mut expected = made.clone();
        if order == "newest" {
            expected.reverse();
        }
        assert_eq!(seen, expected, "{order}: every submission exactly once, in order");
    }
    let forms = c.api("GET", "/api/v1/forms?limit=1", &key, None).await;
    assert_eq!(forms.json["items"].as_array().unwrap().len(), 1);
    let bad_times = ["from=yesterday", "to=9999-12-31T23:00:00-05:00"];
    for bad in ["limit=0", "limit=201", "cursor=nonsense", "status=lost", "limit=x"].into_iter().chain(bad_times) {
        let reply = c.api("GET", &format!("/api/v1/forms/{form}/submissions?{bad}"), &key, None).await;
        assert!(
            reply.status == StatusCode::BAD_REQUEST || reply.status == StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}: {}",
            reply.status
        );
        reply.assert_problem(reply.status);
    }
}

async fn bad_input_gets_a_problem_never_a_5xx<B: Backend>() {
    let Some(c) = console::<B>("api_bad_input").await else { return };
    let (key, form) = setup(&c).await;
    let path = format!("/api/v1/forms/{form}/submissions");
    let json = [("content-type", "application/json")];
    c.api_raw("POST", &path, Some(&key), &json, b"{\"answers\": ".to_vec())
        .await
        .assert_problem(StatusCode::BAD_REQUEST);
    c.api_raw("POST", &path, Some(&key), &json, b"\xff\xfe\x00garbage".to_vec())
        .await
        .assert_problem(StatusCode::BAD_REQUEST);
    c.api_raw("POST", &path, Some(&key), &json, Vec::new()).await.assert_problem(StatusCode::BAD_REQUEST);
    let text = [("content-type", "text/plain")];
    c.api_raw("POST", &path, Some(&key), &text, b"answers".to_vec())
        .await
        .assert_problem(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // Wrong types: refused without repeating what was sent.
    let wrong = c.api("POST", &path, &key, Some(json!({ "answers": { "2": { "nested": "Zebedee" } } }))).await;
    wrong.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(!wrong.body.contains("Zebedee"), "{}", wrong.body);
    let wrong = c.api("POST", &path, &key, Some(json!({ "answers": 42 }))).await;
    wrong.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    // The form model's validator: field by field, never the answer.
    let invalid = c
        .api("POST", &path, &key, Some(json!({ "answers": { "1_first": "Zebedee", "5": "two hundred", "99": "x" } })))
        .await;
    invalid.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        invalid.json["errors"]["1_last"].is_string() || invalid.json["errors"]["1"].is_string(),
        "{}",
        invalid.body
    );
    assert!(invalid.json["errors"]["99"].is_string(), "{}", invalid.body);
    assert!(!invalid.body.contains("Zebedee") && !invalid.body.contains("two hundred"), "{}", invalid.body);
    // Unknown and malformed ids are simply not found.
    for unknown in [
        format!("/api/v1/submissions/{}", SubmissionId::new()),
        "/api/v1/submissions/not-an-id".to_owned(),
        format!("/api/v1/forms/{}", FormId::new()),
    ] {
        c.api("GET", &unknown, &key, None).await.assert_problem(StatusCode::NOT_FOUND);
    }
    // Invalid UTF-8 in the path and the query string.
    c.api("GET", "/api/v1/forms/%FF%FE", &key, None).await.assert_problem(StatusCode::NOT_FOUND);
    let query = c.api("GET", &format!("/api/v1/forms/{form}/submissions?cursor=%FF&status=%FE"), &key, None).await;
    assert!(
        query.status == StatusCode::BAD_REQUEST || query.status == StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        query.body
    );
    query.assert_problem(query.status);
    // A body over the limit (1 MiB in the harness).
    let huge = format!("{{\"answers\": {{\"2\": \"{}\"}}}}", "a".repeat(2 << 20)).into_bytes();
    c.api_raw("POST", &path, Some(&key), &json, huge).await.assert_problem(StatusCode::PAYLOAD_TOO_LARGE);
    // An over-long answer is the validator's to refuse.
    let long = c
        .api("POST", &path, &key, Some(json!({ "answers": { "1_first": "a", "1_last": "b", "2": "x".repeat(5000) } })))
        .await;
    long.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        c.store.tenant(c.org_a).count_submissions(form.parse().unwrap()).await.unwrap(),
        0,
        "nothing was stored"
    );
    // Text with a NUL (which PostgreSQL cannot store) is refused as input, never a 5xx (found by the fuzzing).
    let reason = c
        .api("POST", &format!("/api/v1/forms/{form}/access-requests"), &key, Some(json!({ "reason": "a\u{0}b" })))
        .await;
    reason.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    let name = c.api("POST", "/api/v1/api-keys", &key, Some(json!({ "name": "a\u{0}b", "scopes": ["read"] }))).await;
    name.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    c.api("DELETE", "/api/v1/api-keys/sf_%00", &key, None).await.assert_problem(StatusCode::NOT_FOUND);
    // A validity past what a time can hold (it panicked adding the days), or none at all, is refused.
    for days in [0, 36_501, u32::MAX] {
        let terms = json!({ "name": "k", "scopes": ["read"], "valid_days": days });
        c.api("POST", "/api/v1/api-keys", &key, Some(terms)).await.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    }
    let terms = json!({ "name": "k", "scopes": ["read"], "valid_days": 36_500 });
    assert_eq!(c.api("POST", "/api/v1/api-keys", &key, Some(terms)).await.status, StatusCode::CREATED);
}

async fn members_keys_grants_and_requests_are_administered<B: Backend>() {
    let Some(c) = console::<B>("api_admin").await else { return };
    let (owner, form) = setup(&c).await;
    // Users: list, invite (by e-mail), role, deactivate.
    member(&c, "rev@a.example", Role::Reviewer).await;
    let users = c.api("GET", "/api/v1/users", &owner, None).await;
    let rev = users.json.as_array().unwrap().iter().find(|u| u["email"] == "rev@a.example").unwrap().clone();
    assert_eq!(rev["role"], "reviewer");
    let rev_id = rev["id"].as_str().unwrap().to_owned();
    let invited =
        c.api("POST", "/api/v1/users", &owner, Some(json!({ "email": "new@a.example", "role": "approver" }))).await;
    assert_eq!(invited.status, StatusCode::ACCEPTED, "{}", invited.body);
    assert!(c.mailbox.0.lock().unwrap().iter().any(|m| m.to.as_str() == "new@a.example"));
    let promoted =
        c.api("PATCH", &format!("/api/v1/users/{rev_id}"), &owner, Some(json!({ "role": "form-manager" }))).await;
    assert_eq!(promoted.json["role"], "form-manager", "{}", promoted.body);
    assert!(matches!(last_actor(&c, Action::UserUpdate).await, Actor::ApiKey(_)), "the key changed the role");

    // Keys: create one for the member, list it, use it, revoke it.
    let created = c
        .api(
            "POST",
            "/api/v1/api-keys",
            &owner,
            Some(json!({ "name": "sync", "scopes": ["read", "write"], "email": "rev@a.example" })),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let their_key = created.json["key"].as_str().unwrap().to_owned();
    let prefix = created.json["prefix"].as_str().unwrap().to_owned();
    let listed = c.api("GET", "/api/v1/api-keys", &owner, None).await;
    assert!(listed.json.as_array().unwrap().iter().any(|k| k["prefix"] == prefix.as_str()));
    assert!(!listed.body.contains(&their_key[14..]), "secrets are never listed");
    let too_much = c
        .api(
            "POST",
            "/api/v1/api-keys",
            &owner,
            Some(json!({ "name": "x", "scopes": ["admin"], "email": "rev@a.example" })),
        )
        .await;
    too_much.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);

    // Grants: none yet, so the member's key is refused; give one, list it, then revoke it.
    let form_path = format!("/api/v1/forms/{form}");
    c.api("GET", &form_path, &their_key, None).await.assert_problem(StatusCode::FORBIDDEN);
    let grant_path = format!("{form_path}/grants/{rev_id}");
    // An expiry given with an offset is kept as the same instant in UTC, on both backends.
    let terms = json!({ "rights": ["view", "edit"], "hide_phi": true, "expires_at": "2999-03-01T09:00:00+02:00" });
    let granted = c.api("PUT", &grant_path, &owner, Some(terms)).await;
    assert_eq!(granted.status, StatusCode::OK, "{}", granted.body);
    assert_eq!(c.api("GET", &form_path, &their_key, None).await.status, StatusCode::OK);
    let grants = c.api("GET", &format!("{form_path}/grants"), &owner, None).await;
    assert_eq!(grants.json[0]["email"], "rev@a.example");
    assert_eq!(grants.json[0]["hide_phi"], true);
    assert_eq!(grants.json[0]["expires_at"], "2999-03-01T07:00:00Z");
    let past_9999 = json!({ "rights": ["view"], "expires_at": "9999-12-31T23:00:00-05:00" });
    c.api("PUT", &grant_path, &owner, Some(past_9999)).await.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    let before_year_1 = json!({ "rights": ["view"], "expires_at": "0000-01-01T00:00:00+00:01" });
    c.api("PUT", &grant_path, &owner, Some(before_year_1)).await.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(c.api("DELETE", &grant_path, &owner, None).await.status, StatusCode::NO_CONTENT);
    c.api("GET", &form_path, &their_key, None).await.assert_problem(StatusCode::FORBIDDEN);

    // Access requests: the member's key asks, the owner's key approves, the grant exists.
    let asked = c
        .api(
            "POST",
            &format!("{form_path}/access-requests"),
            &their_key,
            Some(json!({ "reason": "covering the clinic" })),
        )
        .await;
    assert_eq!(asked.status, StatusCode::CREATED, "{}", asked.body);
    let pending = c.api("GET", &format!("{form_path}/access-requests"), &owner, None).await;
    assert_eq!(pending.json[0]["reason"], "covering the clinic");
    let request = pending.json[0]["id"].as_str().unwrap().to_owned();
    let decided = c
        .api(
            "POST",
            &format!("{form_path}/access-requests/{request}"),
            &owner,
            Some(json!({ "decision": "approve", "rights": ["view"] })),
        )
        .await;
    assert_eq!(decided.json["status"], "approved", "{}", decided.body);
    assert_eq!(c.api("GET", &form_path, &their_key, None).await.status, StatusCode::OK);
    let again = c
        .api("POST", &format!("{form_path}/access-requests/{request}"), &owner, Some(json!({ "decision": "deny" })))
        .await;
    again.assert_problem(StatusCode::NOT_FOUND);

    // An admin may not switch an owner off, no more than take the owner role away.
    member(&c, "boss@a.example", Role::Admin).await;
    let admin = c.key("boss@a.example", Scope::allowed_for(Role::Admin)).await;
    let users = c.api("GET", "/api/v1/users", &owner, None).await;
    let owner_id = users.json.as_array().unwrap().iter().find(|u| u["role"] == "owner").unwrap()["id"].clone();
    let owner_id = owner_id.as_str().unwrap();
    c.api("POST", &format!("/api/v1/users/{owner_id}/deactivate"), &admin, None)
        .await
        .assert_problem(StatusCode::FORBIDDEN);
    assert_eq!(c.api("GET", "/api/v1/me", &owner, None).await.status, StatusCode::OK, "the owner still works");
    // Nor make a key that acts for anyone else (an owner's would hand over the owner's powers; anyone's lets the
    // admin act as them, and as whatever they become), nor revoke an owner's keys.
    for email in ["a@a.example", "rev@a.example"] {
        let for_them = json!({ "name": "x", "scopes": ["read"], "email": email });
        c.api("POST", "/api/v1/api-keys", &admin, Some(for_them)).await.assert_problem(StatusCode::FORBIDDEN);
    }
    let keys = c.api("GET", "/api/v1/api-keys", &admin, None).await;
    let owner_prefix =
        keys.json.as_array().unwrap().iter().find(|k| k["user_id"] == owner_id).unwrap()["prefix"].clone();
    let owner_prefix = owner_prefix.as_str().unwrap();
    c.api("DELETE", &format!("/api/v1/api-keys/{owner_prefix}"), &admin, None)
        .await
        .assert_problem(StatusCode::FORBIDDEN);
    assert_eq!(c.api("GET", "/api/v1/me", &owner, None).await.status, StatusCode::OK, "the owner's key still works");
    // A key makes keys no stronger than itself: its own scopes at most, and no longer a life.
    let three_days = json!({ "name": "short", "scopes": ["read", "admin"], "valid_days": 3 });
    let short = c.api("POST", "/api/v1/api-keys", &admin, Some(three_days)).await;
    assert_eq!(short.status, StatusCode::CREATED, "{}", short.body);
    let short = short.json["key"].as_str().unwrap().to_owned();
    for (terms, answer) in [
        (json!({ "name": "k", "scopes": ["read"] }), StatusCode::FORBIDDEN),
        (json!({ "name": "k", "scopes": ["read"], "valid_days": 4 }), StatusCode::FORBIDDEN),
        (json!({ "name": "k", "scopes": ["read", "export"], "valid_days": 2 }), StatusCode::FORBIDDEN),
        (json!({ "name": "k", "scopes": ["read"], "valid_days": 2 }), StatusCode::CREATED),
    ] {
        let made = c.api("POST", "/api/v1/api-keys", &short, Some(terms.clone())).await;
        assert_eq!(made.status, answer, "{terms}: {}", made.body);
    }

    // Revoke the key; deactivate the member.
    assert_eq!(
        c.api("DELETE", &format!("/api/v1/api-keys/{prefix}"), &owner, None).await.status,
        StatusCode::NO_CONTENT
    );
    c.api("GET", "/api/v1/me", &their_key, None).await.assert_problem(StatusCode::UNAUTHORIZED);
    assert_eq!(
        c.api("POST", &format!("/api/v1/users/{rev_id}/deactivate"), &owner, None).await.status,
        StatusCode::NO_CONTENT
    );
    let users = c.api("GET", "/api/v1/users", &owner, None).await;
    assert!(
        users.json.as_array().unwrap().iter().any(|u| u["email"] == "rev@a.example" && u["status"] == "deactivated"),
        "{}",
        users.body
    );
    // Only owners touch the owner role; an admin's key may not.
    member(&c, "adm@a.example", Role::Admin).await;
    let admin = c.key("adm@a.example", &Scope::ALL).await;
    let owner_id = users.json.as_array().unwrap().iter().find(|u| u["email"] == "a@a.example").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    c.api("PATCH", &format!("/api/v1/users/{owner_id}"), &admin, Some(json!({ "role": "reviewer" })))
        .await
        .assert_problem(StatusCode::FORBIDDEN);
}

async fn the_audit_trail_is_searched_by_auditors<B: Backend>() {
    let Some(c) = console::<B>("api_audit").await else { return };
    let (owner, form) = setup(&c).await;
    let id = submit(&c, &owner, &form, "Zebedee").await;
    c.api("GET", &format!("/api/v1/submissions/{id}"), &owner, None).await;
    member(&c, "aud@a.example", Role::Auditor).await;
    let auditor = c.key("aud@a.example", &[Scope::Read]).await;
    let found = c.api("GET", &format!("/api/v1/audit?action=submission.read&target={id}"), &auditor, None).await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.body);
    let entries = found.json["items"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{}", found.body);
    assert_eq!(entries[0]["actor_kind"], "api_key");
    assert!(!found.body.contains("Zebedee"), "the trail holds no answers");
    // Auditors never open the records the trail describes.
    c.api("GET", &format!("/api/v1/submissions/{id}"), &auditor, None).await.assert_problem(StatusCode::FORBIDDEN);
    c.api("GET", "/api/v1/audit?action=nonsense", &auditor, None)
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    // Cursor pages walk the whole trail once, newest first.
    let all = c.api("GET", "/api/v1/audit?limit=500", &auditor, None).await;
    let every: Vec<i64> = all.json["items"].as_array().unwrap().iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(every.len() > 5, "{}", all.body);
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = c.api("GET", &format!("/api/v1/audit?limit=2&cursor={cursor}"), &auditor, None).await;
        let items = page.json["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|e| e["seq"].as_i64().unwrap()));
        match page.json["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    // Searching the trail adds no entry to it, so the walk and the single page list the same entries.
    assert_eq!(seen, every);
    c.api("GET", "/api/v1/audit?cursor=x", &auditor, None).await.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
}

async fn exports_stream_csv_and_json_lines_masked_by_the_grant<B: Backend>() {
    let Some(c) = console::<B>("api_export").await else { return };
    let (owner, form) = setup(&c).await;
    submit(&c, &owner, &form, "Zebedee").await;
    submit(&c, &owner, &form, "Yolanda").await;
    let csv = c.api("GET", &format!("/api/v1/forms/{form}/export"), &owner, None).await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(csv.headers["content-type"].to_str().unwrap().starts_with("text/csv"));
    assert_eq!(csv.body.matches("\",\"new\",\"").count(), 2, "{}", csv.body);
    assert!(csv.body.contains("Zebedee") && csv.body.contains("Yolanda"));
    let lines =
        c.api("GET", &format!("/api/v1/forms/{form}/export?format=jsonl&field=2&field=1_first"), &owner, None).await;
    let rows: Vec<Value> = lines.body.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["answers"]["2"], "blue");
    assert_eq!(c.audit_of(Action::SubmissionExport).await.len(), 2);
    // A form manager whose grant hides PHI exports it masked.
    member(&c, "fm@a.example", Role::FormManager).await;
    c.grant("fm@a.example", form.parse().unwrap(), &[Right::View, Right::Export], true, None).await;
    let fm = c.key("fm@a.example", &[Scope::Read, Scope::Export]).await;
    let masked = c.api("GET", &format!("/api/v1/forms/{form}/export?format=jsonl"), &fm, None).await;
    assert_eq!(masked.status, StatusCode::OK);
    assert!(!masked.body.contains("Zebedee") && !masked.body.contains("z@example.org"), "{}", masked.body);
    assert!(masked.body.contains("•••") && masked.body.contains("blue"));
    // A year before 1 (which `time` reads) is no date here: refused, where PostgreSQL answered it with an error.
    c.api("GET", &format!("/api/v1/forms/{form}/export?from=-5000-01-01"), &owner, None)
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    let to_the_end = c.api("GET", &format!("/api/v1/forms/{form}/export?to=9999-12-31"), &owner, None).await;
    assert_eq!(to_the_end.body.matches("\",\"new\",\"").count(), 2, "the last day there is, with no overflow");
    c.api("GET", &format!("/api/v1/forms/{form}/export?format=xml"), &owner, None)
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
}

async fn the_reference_page_is_served_from_the_binary<B: Backend>() {
    let Some(c) = console::<B>("api_docs").await else { return };
    let page = c.api_raw("GET", "/api/v1/docs", None, &[], Vec::new()).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.headers["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(page.headers["content-security-policy"].to_str().unwrap().contains("script-src 'self'"));
    assert!(!page.body.contains("<script"), "no script, no CDN");
    assert!(page.body.contains("id=\"createSubmission\"") && page.body.contains("Idempotency-Key"), "{}", page.body);
    let doc = c.api_raw("GET", "/api/v1/openapi.json", None, &[], Vec::new()).await;
    assert_eq!(doc.status, StatusCode::OK);
    assert_eq!(doc.json["openapi"], "3.1.0");
}

async fn every_answer_carries_the_budget_and_a_spent_budget_is_429<B: Backend>() {
    let Some(c) = console::<B>("api_budget").await else { return };
    let (key, form) = setup(&c).await;
    // Successes, refusals and misses alike carry the key's budget.
    for (path, status) in [
        ("/api/v1/forms".to_owned(), StatusCode::OK),
        (format!("/api/v1/forms/{}", FormId::new()), StatusCode::NOT_FOUND),
        (format!("/api/v1/forms/{form}/submissions?limit=0"), StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        let reply = c.api("GET", &path, &key, None).await;
        assert_eq!(reply.status, status, "{path}");
        assert_eq!(reply.headers["ratelimit-policy"], "\"per-key\";q=100000;w=60", "{path}");
        assert!(reply.headers["ratelimit"].to_str().unwrap().starts_with("\"per-key\";r="), "{path}");
    }
    let scope = sealform_core::audit::AuditScope::operator();
    let audit = AuditCtx { auditor: &c.auditor, scope: &scope };
    let limit = sealform_core::api_keys::ApiRateLimit::new(60, 2).unwrap();
    sealform_core::admin::set_api_rate_limit(&c.store, &c.clock, audit, c.org_a, limit).await.unwrap();
    let path = format!("/api/v1/forms/{form}/submissions");
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(c.api("POST", &path, &key, Some(answers("Budget"))).await);
    }
    let spent = statuses.last().unwrap();
    spent.assert_problem(StatusCode::TOO_MANY_REQUESTS);
    assert!(spent.headers["retry-after"].to_str().unwrap().parse::<u64>().unwrap() >= 1);
    assert!(spent.headers["ratelimit"].to_str().unwrap().contains("r=0"));
    let stored = c.store.tenant(c.org_a).count_submissions(form.parse().unwrap()).await.unwrap();
    assert!(stored < 4, "a refused request stores nothing ({stored} stored)");
    c.clock.advance(Duration::minutes(1));
    assert_eq!(c.api("GET", "/api/v1/me", &key, None).await.status, StatusCode::OK, "refilled");
    // The document and its page are public and unmetered.
    let doc = c.api_raw("GET", "/api/v1/openapi.json", None, &[], Vec::new()).await;
    assert_eq!(doc.status, StatusCode::OK);
}

/// The scope the document names for each operation is the one enforced: an owner's key holding every scope but that
/// one is refused (403) on real resources of its organisation, before anything is read or changed.
async fn each_operation_needs_the_scope_the_document_names<B: Backend>() {
    let Some(c) = console::<B>("api_scopes").await else { return };
    let (owner, form) = setup(&c).await;
    let submission = submit(&c, &owner, &form, "Scoped").await;
    member(&c, "rev@a.example", Role::Reviewer).await;
    let user = c.user_id("rev@a.example").await.to_string();
    let theirs = c.key("rev@a.example", &[Scope::Read]).await;
    let asked =
        c.api("POST", &format!("/api/v1/forms/{form}/access-requests"), &theirs, Some(json!({ "reason": "r" }))).await;
    let request = asked.json["id"].as_str().unwrap().to_owned();
    let file = stored_file(&c, &form).await;
    let doc = sealform_http::openapi_document();
    let mut checked = 0;
    for (method, path) in sealform_http::native_routes() {
        let Some(scope) = doc["paths"][path][method.to_lowercase()]["x-sealform-scope"].as_str() else { continue };
        let missing: Scope = scope.parse().unwrap();
        let others: Vec<Scope> = Scope::ALL.into_iter().filter(|s| *s != missing).collect();
        let key = c.key("a@a.example", &others).await;
        let uri = path
            .replace("{form}", &form)
            .replace("{submission}", &submission)
            .replace("{file}", &file)
            .replace("{user}", &user)
            .replace("{request}", &request)
            .replace("{prefix}", &theirs[..13]);
        let reply = c.api(method, &uri, &key, Some(json!({}))).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{method} {path} without {scope}: {}", reply.body);
        checked += 1;
    }
    assert!(checked > 25, "{checked}");
    assert_eq!(c.api("GET", "/api/v1/me", &theirs, None).await.status, StatusCode::OK, "nothing was revoked");
}

/// A sealed file answering question `12` of a new submission to `form`; returns its id.
async fn stored_file<S: Store>(c: &Console<S>, form: &str) -> String {
    use sealform_core::files::{FileRef, FileSealer, ObjectStore};
    let form: FormId = form.parse().unwrap();
    let objects = ObjectStore::new(c.objects.path());
    let target =
        FileRef { org: c.org_a, form, submission: SubmissionId::new(), file: sealform_core::ids::FileId::new() };
    let mut sealer = FileSealer::start(&objects, target, "12", "card.pdf", 1 << 20).await.unwrap();
    sealer.push(b"%PDF card").await.unwrap();
    let (file, _) = sealer.finish(&objects, &c.keyring()).await.unwrap();
    let id = file.id.to_string();
    let answers: sealform_core::sealing::Answers =
        [("2".to_owned(), zeroize::Zeroizing::new(b"x".to_vec()))].into_iter().collect();
    let version = c.store.tenant(c.org_a).form(form).await.unwrap().unwrap().version;
    let new = sealform_core::sealing::NewAnswers {
        org: c.org_a,
        form,
        form_version: version,
        answers: &answers,
        indexed: &[],
    };
    let scope = sealform_core::audit::AuditScope::operator();
    let audit = AuditCtx { auditor: &c.auditor, scope: &scope };
    sealform_core::sealing::store_submission(
        &c.store,
        &c.keyring(),
        audit,
        target.submission,
        new,
        vec![file],
        c.clock.now(),
    )
    .await
    .unwrap();
    id
}

async fn files_are_listed_and_downloaded_audited<B: Backend>() {
    let Some(c) = console::<B>("api_files").await else { return };
    let (owner, form) = setup(&c).await;
    // A PHI file question, so masking applies to it.
    let mut with_file = questions();
    with_file
        .as_array_mut()
        .unwrap()
        .push(json!({ "qid": "12", "type": "control_fileupload", "text": "Card", "phi": true }));
    let put =
        c.api("PUT", &format!("/api/v1/forms/{form}/questions"), &owner, Some(json!({ "questions": with_file }))).await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    let file = stored_file(&c, &form).await;
    let record = c.store.tenant(c.org_a).file(file.parse().unwrap()).await.unwrap().unwrap();
    let listed = c.api("GET", &format!("/api/v1/submissions/{}/files", record.submission_id), &owner, None).await;
    assert_eq!(listed.json[0]["id"], file.as_str(), "{}", listed.body);
    assert_eq!(listed.json[0]["phi"], true);
    let download = c.api("GET", listed.json[0]["download"].as_str().unwrap(), &owner, None).await;
    assert_eq!(download.status, StatusCode::OK);
    assert_eq!(download.body, "%PDF card");
    assert_eq!(download.headers["content-type"], "application/octet-stream");
    assert!(matches!(last_actor(&c, Action::FileRead).await, Actor::ApiKey(_)));
    // A grant hiding PHI: the file answers a PHI question, so it stays closed.
    member(&c, "rev@a.example", Role::Reviewer).await;
    c.grant("rev@a.example", form.parse().unwrap(), &[Right::View], true, None).await;
    let reviewer = c.key("rev@a.example", &[Scope::Read]).await;
    c.api("GET", &format!("/api/v1/files/{file}"), &reviewer, None).await.assert_problem(StatusCode::FORBIDDEN);
}

both!(
    files_are_listed_and_downloaded_audited,
    each_operation_needs_the_scope_the_document_names,
    every_answer_carries_the_budget_and_a_spent_budget_is_429,
    forms_are_created_changed_and_archived,
    submissions_are_read_edited_and_deleted_with_the_key_as_actor,
    keys_are_required_and_checked,
    scopes_grants_and_organisations_decide,
    idempotency_keys_replay_and_refuse,
    cursor_pages_walk_every_submission_once,
    bad_input_gets_a_problem_never_a_5xx,
    members_keys_grants_and_requests_are_administered,
    the_audit_trail_is_searched_by_auditors,
    exports_stream_csv_and_json_lines_masked_by_the_grant,
    the_reference_page_is_served_from_the_binary,
);
