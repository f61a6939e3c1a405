//! The tenant-isolation suite (issue #9), on both backends. It takes every route from the router's own list
//! ([`sealform_http::route_table`], which the router checks its registrations against), checks the methods against
//! the router's `Allow` header, and tries each route with a session and an API key of another organisation and with
//! a same-organisation member who holds no grant. Every route needs a case below: one without fails the suite.
//!
//! Expected: a route naming organisation A's form, submission, file or request answers 404 to organisation B and 403
//! to A's member without a grant; routes naming no resource never show A's data to either, and posts naming A's users
//! or keys change nothing there; the public fill page is public by design (it shows questions, never answers).

#[macro_use]
mod harness;

use std::collections::{BTreeMap, BTreeSet};

use harness::*;
use sealform_core::api_keys::Scope;
use sealform_core::audit::{Action, AuditQuery, AuditScope};
use sealform_core::examples;
use sealform_core::files::{FileRef, FileSealer, ObjectStore};
use sealform_core::forms::{change_form, create_form};
use sealform_core::grants::request_access;
use sealform_core::ids::{FileId, FormId, SubmissionId};
use sealform_core::keys::Keyring;
use sealform_core::org::OrgName;
use sealform_core::sealing::{Answers, NewAnswers, store_submission};
use sealform_core::store::OrganisationStore as _;
use sealform_core::submission::{FormChange, FormStatus};
use sealform_core::user::Role;
use zeroize::Zeroizing;

/// How a route relates to organisation A's data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Case {
    /// Anonymous by design (sign-in flows, static files, health): no session matters.
    Public,
    /// The public fill page of a published form: public by design; it never shows answers.
    PublicForm,
    /// A console page about the caller's own account or organisation: names no resource of A.
    Own,
    /// Names A's form, submission, file or access request: 404 across organisations, 403 without a grant.
    Resource,
    /// Asking for access: the one form action meant for members without a grant (404 across organisations).
    RequestAccess,
    /// The native API's file download: keys only (404 for B's key, 403 for A's key without a grant).
    ApiFile,
    /// The native API's `me`: who the key is; names no resource.
    ApiMe,
    /// A native API route naming A's form, submission, file, member or key: 404 for B's key, 403 for A's key
    /// whose user has no grant (or whose key lacks the scope); sessions get 401 (the API knows keys only).
    ApiResource,
    /// A native API route over the key's own organisation (lists, creation): never shows A's data to B's key.
    ApiOwn,
    /// Asking for access through the API: 404 for B's key; what A's member without a grant does.
    ApiRequestAccess,
    /// The Jotform-compatible API naming A's form, submission or file: keys only (401 for sessions); 404 for B's
    /// key, 403 for A's key without a grant.
    JotformResource,
    /// The Jotform-compatible API naming A's folder: 404 for B's key; folders grant nothing, so A's member sees it
    /// without the forms they have no grant on.
    JotformFolder,
    /// The Jotform-compatible API naming no resource of A (the account, lists, creating, unknown endpoints): never
    /// shows A's data to B or to a member without a grant.
    JotformOwn,
}

const CASES: &[(&str, &str, Case)] = &[
    ("GET", "/", Case::Public),
    ("GET", "/healthz", Case::Public),
    ("GET", "/readyz", Case::Public),
    ("GET", "/static/app.css", Case::Public),
    ("GET", "/static/favicon.svg", Case::Public),
    ("GET", "/login", Case::Public),
    ("POST", "/login", Case::Public),
    ("POST", "/logout", Case::Own),
    ("GET", "/reset", Case::Public),
    ("POST", "/reset", Case::Public),
    ("GET", "/reset/{token}", Case::Public),
    ("POST", "/reset/{token}", Case::Public),
    ("GET", "/invite/{token}", Case::Public),
    ("POST", "/invite/{token}", Case::Public),
    ("GET", "/login/mfa", Case::Public),
    ("POST", "/login/mfa", Case::Public),
    ("GET", "/console/mfa", Case::Own),
    ("POST", "/console/mfa", Case::Own),
    ("GET", "/static/webauthn.js", Case::Public),
    ("POST", "/console/mfa/webauthn/register/options", Case::Own),
    ("POST", "/console/mfa/webauthn/register", Case::Own),
    ("POST", "/console/mfa/webauthn/remove", Case::Own),
    ("POST", "/login/mfa/webauthn/options", Case::Public),
    ("POST", "/login/mfa/webauthn", Case::Public),
    ("GET", "/api/v1/me", Case::ApiMe),
    ("GET", "/api/v1/files/{file}", Case::ApiFile),
    ("GET", "/console", Case::Own),
    ("GET", "/console/audit", Case::Own),
    ("GET", "/console/sessions", Case::Own),
    ("GET", "/console/users", Case::Own),
    ("POST", "/console/users/invite", Case::Own),
    ("POST", "/console/users/deactivate", Case::Own),
    ("POST", "/console/users/role", Case::Own),
    ("GET", "/console/api-keys", Case::Own),
    ("POST", "/console/api-keys", Case::Own),
    ("POST", "/console/api-keys/revoke", Case::Own),
    ("GET", "/console/reauth", Case::Own),
    ("POST", "/console/reauth", Case::Own),
    ("POST", "/console/sessions/revoke", Case::Own),
    ("GET", "/console/password", Case::Own),
    ("POST", "/console/password", Case::Own),
    ("POST", "/csp-report", Case::Public),
    ("GET", "/f/{form_id}", Case::PublicForm),
    ("POST", "/f/{form_id}", Case::PublicForm),
    ("GET", "/f/{form_id}/thanks", Case::PublicForm),
    ("GET", "/f/{form_id}/qr.svg", Case::PublicForm),
    ("GET", "/f/{form_id}/qr.png", Case::PublicForm),
    ("GET", "/static/form.js", Case::Public),
    ("GET", "/static/embed.js", Case::Public),
    ("GET", "/static/form.css", Case::Public),
    ("GET", "/static/builder.js", Case::Public),
    ("GET", "/static/builder.css", Case::Public),
    ("GET", "/console/forms", Case::Own),
    ("POST", "/console/forms", Case::Own),
    ("GET", "/console/forms/{id}", Case::Resource),
    ("POST", "/console/forms/{id}/title", Case::Resource),
    ("POST", "/console/forms/{id}/status", Case::Resource),
    ("POST", "/console/forms/{id}/duplicate", Case::Resource),
    ("POST", "/console/forms/{id}/order", Case::Resource),
    ("POST", "/console/forms/{id}/questions", Case::Resource),
    ("POST", "/console/forms/{id}/questions/{qid}", Case::Resource),
    ("POST", "/console/forms/{id}/questions/{qid}/move", Case::Resource),
    ("POST", "/console/forms/{id}/questions/{qid}/delete", Case::Resource),
    ("GET", "/console/forms/{form}/submissions", Case::Resource),
    ("POST", "/console/forms/{form}/submissions", Case::Resource),
    ("GET", "/console/forms/{form}/export", Case::Resource),
    ("GET", "/console/forms/{form}/export/download", Case::Resource),
    ("GET", "/console/submissions/{submission}", Case::Resource),
    ("GET", "/console/submissions/{submission}/print", Case::Resource),
    ("POST", "/console/submissions/{submission}/status", Case::Resource),
    ("POST", "/console/submissions/{submission}/notes", Case::Resource),
    ("GET", "/console/submissions/{submission}/edit", Case::Resource),
    ("POST", "/console/submissions/{submission}/edit", Case::Resource),
    ("GET", "/console/submissions/{submission}/revisions", Case::Resource),
    ("GET", "/console/submissions/{submission}/delete", Case::Resource),
    ("POST", "/console/submissions/{submission}/delete", Case::Resource),
    ("GET", "/console/files/{file}", Case::Resource),
    ("GET", "/console/forms/{form}/access", Case::Resource),
    ("POST", "/console/forms/{form}/access", Case::Resource),
    ("POST", "/console/forms/{form}/access/revoke", Case::Resource),
    ("POST", "/console/forms/{form}/access/requests/{request}", Case::Resource),
    ("GET", "/console/forms/{form}/request-access", Case::RequestAccess),
    ("POST", "/console/forms/{form}/request-access", Case::RequestAccess),
    ("GET", "/console/access-review.csv", Case::Own),
    ("GET", "/console/forms/{form}/break-glass", Case::Resource),
    ("POST", "/console/forms/{form}/break-glass", Case::Resource),
    ("GET", "/console/break-glass", Case::Own),
    ("POST", "/console/users/emergency", Case::Own),
    ("GET", "/console/settings", Case::Own),
    ("POST", "/console/settings", Case::Own),
    ("GET", "/api/v1/openapi.json", Case::Public),
    ("GET", "/api/v1/docs", Case::Public),
    ("GET", "/api/v1/forms", Case::ApiOwn),
    ("POST", "/api/v1/forms", Case::ApiOwn),
    ("GET", "/api/v1/forms/{form}", Case::ApiResource),
    ("PATCH", "/api/v1/forms/{form}", Case::ApiResource),
    ("DELETE", "/api/v1/forms/{form}", Case::ApiResource),
    ("GET", "/api/v1/forms/{form}/questions", Case::ApiResource),
    ("PUT", "/api/v1/forms/{form}/questions", Case::ApiResource),
    ("GET", "/api/v1/forms/{form}/submissions", Case::ApiResource),
    ("POST", "/api/v1/forms/{form}/submissions", Case::ApiResource),
    ("GET", "/api/v1/forms/{form}/export", Case::ApiResource),
    ("GET", "/api/v1/submissions/{submission}", Case::ApiResource),
    ("PUT", "/api/v1/submissions/{submission}", Case::ApiResource),
    ("PATCH", "/api/v1/submissions/{submission}", Case::ApiResource),
    ("DELETE", "/api/v1/submissions/{submission}", Case::ApiResource),
    ("GET", "/api/v1/submissions/{submission}/revisions", Case::ApiResource),
    ("GET", "/api/v1/submissions/{submission}/files", Case::ApiResource),
    ("GET", "/api/v1/forms/{form}/grants", Case::ApiResource),
    ("PUT", "/api/v1/forms/{form}/grants/{user}", Case::ApiResource),
    ("DELETE", "/api/v1/forms/{form}/grants/{user}", Case::ApiResource),
    ("GET", "/api/v1/forms/{form}/access-requests", Case::ApiResource),
    ("POST", "/api/v1/forms/{form}/access-requests", Case::ApiRequestAccess),
    ("POST", "/api/v1/forms/{form}/access-requests/{request}", Case::ApiResource),
    ("GET", "/api/v1/api-keys", Case::ApiOwn),
    ("POST", "/api/v1/api-keys", Case::ApiOwn),
    ("DELETE", "/api/v1/api-keys/{prefix}", Case::ApiResource),
    ("GET", "/api/v1/users", Case::ApiOwn),
    ("POST", "/api/v1/users", Case::ApiOwn),
    ("PATCH", "/api/v1/users/{user}", Case::ApiResource),
    ("POST", "/api/v1/users/{user}/deactivate", Case::ApiResource),
    ("GET", "/api/v1/audit", Case::ApiOwn),
    ("GET", "/console/folders", Case::Own),
    ("POST", "/console/folders", Case::Own),
    ("POST", "/console/folders/{folder}/forms", Case::Resource),
    ("GET", "/console/folders/{folder}/access", Case::Resource),
    ("POST", "/console/folders/{folder}/access", Case::Resource),
    ("POST", "/console/folders/{folder}/access/revoke", Case::Resource),
];

/// The case of a Jotform-compatible route, by its path without the prefix.
fn jotform_case(path: &str) -> Case {
    let rest = path.strip_prefix("/jotform/v1").or_else(|| path.strip_prefix("/jotform")).unwrap_or(path);
    if rest.starts_with("/folder/") {
        Case::JotformFolder
    } else if rest.starts_with("/form/") || rest.starts_with("/submission/") || rest.starts_with("/files/") {
        Case::JotformResource
    } else {
        Case::JotformOwn
    }
}

/// Every case: the table above and the Jotform-compatible routes (generated for both prefixes).
fn cases() -> Vec<(&'static str, &'static str, Case)> {
    let jotform = sealform_http::route_table()
        .iter()
        .filter(|(_, p)| p.starts_with("/jotform"))
        .map(|(m, p)| (*m, *p, jotform_case(p)));
    CASES.iter().copied().chain(jotform).collect()
}

/// What would show that organisation A's data leaked: the form's title, answers and the file's contents and name.
const CANARIES: [&str; 5] = ["CanaryIntakeA", "Zebedee", "Quarrington", "insurance card bytes", "card-canary.pdf"];

/// Organisation A's fixtures.
struct World {
    folder: sealform_core::ids::FolderId,
    form: FormId,
    submission: SubmissionId,
    file: FileId,
    request: uuid::Uuid,
    /// A member of A (the one asking for access).
    member: sealform_core::ids::UserId,
}

async fn world<S: Store>(c: &Console<S>) -> World {
    let scope = AuditScope::operator();
    let audit = AuditCtx { auditor: &c.auditor, scope: &scope };
    let master = c.masters.current().as_ref();
    let now = c.clock.now();
    let definition = examples::patient_intake();
    let form = create_form(&c.store, master, audit, c.org_a, "CanaryIntakeA", definition.to_json(), now).await.unwrap();
    let publish = FormChange { status: Some(FormStatus::Published), ..FormChange::default() };
    let version = change_form(&c.store, audit, c.org_a, form, publish, now).await.unwrap().version;
    let keyring = Keyring::new(c.store.clone(), c.masters.clone());
    let objects = ObjectStore::new(c.objects.path());
    let submission = SubmissionId::new();
    let mut answers: Answers =
        [("2_first", "Zebedee"), ("2_last", "Quarrington"), ("3", "1980-01-02"), ("4", "z@example.org"), ("6", "x")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), Zeroizing::new(v.as_bytes().to_vec())))
            .collect();
    answers.insert("7".into(), Zeroizing::new(b"No".to_vec()));
    let target = FileRef { org: c.org_a, form, submission, file: FileId::new() };
    let mut sealer = FileSealer::start(&objects, target, "12", "card-canary.pdf", 1 << 20).await.unwrap();
    sealer.push(b"%PDF insurance card bytes").await.unwrap();
    let (file, _) = sealer.finish(&objects, &keyring).await.unwrap();
    let file_id = file.id;
    answers.insert("12".into(), Zeroizing::new(b"card-canary.pdf".to_vec()));
    let indexed = definition.indexed_paths();
    let new = NewAnswers { org: c.org_a, form, form_version: version, answers: &answers, indexed: &indexed };
    store_submission(&c.store, &keyring, audit, submission, new, vec![file], now).await.unwrap();
    c.member_session("asker@a.example", Role::Reviewer).await;
    let asker = c.user_id("asker@a.example").await;
    let request = request_access(&c.store, audit, c.org_a, form, asker, "covering", now).await.unwrap().id;
    let folder = sealform_core::folders::create_folder(&c.store, audit, c.org_a, "CanaryFolderA", None, None, now)
        .await
        .unwrap();
    let change = sealform_core::folders::FolderChange { forms: vec![form], ..Default::default() };
    sealform_core::folders::change_folder(&c.store, audit, c.org_a, folder.id, change, now).await.unwrap();
    World { folder: folder.id, form, submission, file: file_id, request, member: asker }
}

fn concrete(path: &str, w: &World, prefix: &str) -> String {
    path.replace("{id}", &w.form.to_string())
        .replace("{form}", &w.form.to_string())
        .replace("{form_id}", &w.form.to_string())
        .replace("{qid}", "2")
        .replace("{submission}", &w.submission.to_string())
        .replace("{file}", &w.file.to_string())
        .replace("{request}", &w.request.to_string())
        .replace("{token}", "not-a-token")
        .replace("{folder}", &w.folder.to_string())
        .replace("{user}", &w.member.to_string())
        .replace("{prefix}", prefix)
        .replace("{key}", "height")
        .replace("{webhook}", "0")
        .replace("{*rest}", "report/1")
}

/// A session that re-authenticated just now (so no refusal is a mere step-up), with its CSRF token.
async fn stepped_up<S: Store>(c: &Console<S>, cookie: String) -> (String, String) {
    let csrf = hidden_csrf(&c.get("/console", &cookie).await.body);
    let reauth = format!("csrf={csrf}&password={}&next=/console", urlencode(PASSWORD));
    assert_eq!(c.post("/console/reauth", &cookie, &reauth).await.status, StatusCode::SEE_OTHER);
    (cookie, csrf)
}

/// One body that parses for every console post, naming A's users and keys where a post names any.
fn body(csrf: &str, victim: &str, key_prefix: &str) -> String {
    format!(
        "csrf={csrf}&version=&title=x&status=archived&type=control_textbox&text=x&direction=down&confirm=yes&order=2\
         &revision=1&a%3A7=Yes&email={victim}&role=admin&right=view&user=00000000-0000-0000-0000-000000000000\
         &decision=approve&reason=please+let+me+in&minutes=15&emergency=on&session=x&prefix={key_prefix}&name=k&scope=read&current=x&new=x\
         &code=000000&field=&value="
    )
}

async fn bearer<S: Store>(c: &Console<S>, method: &str, path: &str, key: &str) -> Reply {
    let request = Request::builder().method(method).uri(path).header("authorization", format!("Bearer {key}"));
    c.send(request.body(Body::empty()).unwrap()).await
}

async fn send_as<S: Store>(c: &Console<S>, method: &str, path: &str, cookie: &str, form: &str) -> Reply {
    match method {
        "GET" => c.get(path, cookie).await,
        "POST" => c.post(path, cookie, form).await,
        "PUT" | "DELETE" => {
            let request = Request::builder().method(method).uri(path).header("cookie", cookie);
            c.send(request.body(Body::from(form.to_owned())).unwrap()).await
        }
        // Only the native API has these; it knows keys, not sessions.
        other => {
            let request = Request::builder().method(other).uri(path).header("cookie", cookie);
            c.send(request.body(Body::empty()).unwrap()).await
        }
    }
}

/// A request with a Jotform `APIKEY` header and a body that parses as form-encoded (POST) or JSON (PUT), naming A's
/// form where a body names forms.
async fn jotform_key<S: Store>(c: &Console<S>, method: &str, path: &str, key: &str, w: &World) -> Reply {
    let (content_type, body) = match method {
        "PUT" => ("application/json", format!(r#"{{"forms":["{}"],"properties":{{"height":"1"}}}}"#, w.form)),
        _ => (
            "application/x-www-form-urlencoded",
            format!(
                "submission%5B6%5D=x&question%5Btext%5D=x&properties%5Bheight%5D=1&webhookURL=https%3A%2F%2Fx.example\
                 &name=x&properties%5Btitle%5D=x&forms={}",
                w.form
            ),
        ),
    };
    let request =
        Request::builder().method(method).uri(path).header("apikey", key).header("content-type", content_type);
    c.send(request.body(Body::from(body)).unwrap()).await
}

fn leaks(reply: &Reply) -> Option<&'static str> {
    CANARIES.into_iter().find(|canary| reply.body.contains(canary))
}

async fn every_route_refuses_other_organisations_and_members_without_a_grant<B: Backend>() {
    let Some(c) = console::<B>(stringify!(every_route_refuses_other_organisations_and_members_without_a_grant)).await
    else {
        return;
    };
    // The suite covers exactly the router's routes.
    let table: BTreeSet<(&str, &str)> = sealform_http::route_table().iter().copied().collect();
    let all_cases = cases();
    let cases: BTreeSet<(&str, &str)> = all_cases.iter().map(|(m, p, _)| (*m, *p)).collect();
    let untested: Vec<_> = table.difference(&cases).collect();
    let stale: Vec<_> = cases.difference(&table).collect();
    assert!(
        untested.is_empty() && stale.is_empty(),
        "routes without a case: {untested:?}; cases of no route: {stale:?}"
    );

    let w = world(&c).await;
    // Organisation B: its owner (every right there) and an owner's key with every scope.
    let other = format!("__Host-sealform={}", c.login("b@b.example", PASSWORD).await.1.unwrap());
    let (other, other_csrf) = stepped_up(&c, other).await;
    let scope = AuditScope::operator();
    let audit = AuditCtx { auditor: &c.auditor, scope: &scope };
    let org_b = c.store.organisation_by_name(&OrgName::parse("Clinic B").unwrap()).await.unwrap().unwrap().id;
    let other_key = sealform_core::api_keys::create(
        &c.store,
        &c.clock,
        audit,
        org_b,
        "b@b.example",
        "k",
        Scope::ALL.to_vec(),
        None,
        None,
    )
    .await
    .unwrap()
    .0;
    // Organisation A: a form manager with no grant on this form, and their key with every scope they may hold.
    let no_grant = c.member_session("fm@a.example", Role::FormManager).await;
    let (no_grant, no_grant_csrf) = stepped_up(&c, no_grant).await;
    let scopes = vec![Scope::Read, Scope::Write, Scope::Export];
    let (no_grant_key, _) =
        sealform_core::api_keys::create(&c.store, &c.clock, audit, c.org_a, "fm@a.example", "k", scopes, None, None)
            .await
            .unwrap();
    let victim = "asker%40a.example";
    // Another member's key, whose prefix every post names: nobody probing may revoke it.
    let (victim_key, victim_prefix) = sealform_core::api_keys::create(
        &c.store,
        &c.clock,
        audit,
        c.org_a,
        "asker@a.example",
        "k",
        vec![Scope::Read],
        None,
        None,
    )
    .await
    .unwrap();
    // The router's own `Allow` header lists exactly the methods of the table for every path.
    let mut methods: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (method, path) in sealform_http::route_table() {
        methods.entry(path).or_default().insert(method);
    }
    for (path, expected) in &methods {
        // TRACE: a method no route registers, so every path answers 405 with its `Allow` list. With a key, so the
        // compatible API (keys only) gets as far as routing.
        let probe = Request::builder().method("TRACE").uri(concrete(path, &w, "sf_x"));
        let request = probe.header("apikey", other_key.as_str());
        let reply = c.send(request.body(Body::empty()).unwrap()).await;
        assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED, "{path}");
        let allow = reply.headers["allow"].to_str().unwrap().to_owned();
        let allowed: BTreeSet<&str> = allow.split(',').map(str::trim).filter(|m| *m != "HEAD").collect();
        assert_eq!(&allowed, expected, "methods of {path}");
    }

    let version_before = c.store.tenant(c.org_a).form(w.form).await.unwrap().unwrap().version;
    let exports_before = exports(&c).await;

    let mut failures = Vec::new();
    // Signing out ends the probing sessions: it goes last.
    let (last, first): (Vec<_>, Vec<_>) = all_cases.iter().partition(|(_, path, _)| *path == "/logout");
    for (method, path, case) in first.into_iter().chain(last) {
        let uri = concrete(path, &w, &victim_prefix);
        let probes = [
            ("organisation B", &other, &other_csrf, StatusCode::NOT_FOUND),
            ("member without a grant", &no_grant, &no_grant_csrf, StatusCode::FORBIDDEN),
        ];
        for (who, cookie, csrf, refusal) in probes {
            let form = body(csrf, victim, &victim_prefix);
            let reply = send_as(&c, method, &uri, cookie, &form).await;
            let ok = match case {
                Case::Resource => reply.status == refusal,
                Case::RequestAccess if who == "organisation B" => reply.status == StatusCode::NOT_FOUND,
                // Asking for access is what a member without a grant does; it shows the title, no answers.
                Case::RequestAccess => reply.status.is_success() && !reply.body.contains("Zebedee"),
                Case::ApiFile | Case::ApiMe | Case::ApiResource | Case::ApiOwn | Case::ApiRequestAccess => {
                    reply.status == StatusCode::UNAUTHORIZED
                }
                // The compatible API knows keys only.
                Case::JotformResource | Case::JotformFolder | Case::JotformOwn => {
                    reply.status == StatusCode::UNAUTHORIZED && leaks(&reply).is_none()
                }
                Case::Own | Case::Public | Case::PublicForm => leaks(&reply).is_none_or(|c| {
                    // The public page shows the form's own title, never an answer.
                    matches!(case, Case::PublicForm) && c == "CanaryIntakeA"
                }),
            };
            if !ok || reply.status.is_server_error() {
                failures.push(format!("{who}: {method} {path} -> {} {:?}", reply.status, leaks(&reply)));
            }
        }
        for (who, key, refusal) in [
            ("organisation B's key", other_key.as_str(), StatusCode::NOT_FOUND),
            ("a key without a grant", no_grant_key.as_str(), StatusCode::FORBIDDEN),
        ] {
            let reply = if path.starts_with("/jotform") {
                jotform_key(&c, method, &uri, key, &w).await
            } else {
                bearer(&c, method, &uri, key).await
            };
            let ok = match case {
                Case::JotformResource => reply.status == refusal,
                Case::ApiFile | Case::ApiResource => reply.status == refusal && leaks(&reply).is_none(),
                Case::ApiRequestAccess if who == "organisation B's key" => reply.status == StatusCode::NOT_FOUND,
                // Asking for access is what a member without a grant does: past the policy, the probe's empty body
                // is what gets refused.
                Case::ApiRequestAccess => reply.status == StatusCode::BAD_REQUEST && leaks(&reply).is_none(),
                Case::JotformFolder if who == "organisation B's key" => reply.status == StatusCode::NOT_FOUND,
                Case::JotformFolder | Case::JotformOwn => {
                    leaks(&reply).is_none() && (who != "organisation B's key" || !reply.body.contains("CanaryFolderA"))
                }
                // Keys open no console page: the console knows sessions only.
                Case::Resource | Case::RequestAccess => !reply.status.is_success() && leaks(&reply).is_none(),
                _ => leaks(&reply).is_none_or(|c| matches!(case, Case::PublicForm) && c == "CanaryIntakeA"),
            };
            if !ok || reply.status.is_server_error() {
                failures.push(format!("{who}: {method} {path} -> {} {:?}", reply.status, leaks(&reply)));
            }
        }
    }
    assert!(failures.is_empty(), "{} successes where none may be:\n{}", failures.len(), failures.join("\n"));

    // Nothing of A changed: the form, the submission, the grants, the request, A's members and keys.
    assert_eq!(c.store.tenant(c.org_a).form(w.form).await.unwrap().unwrap().version, version_before);
    let summary = c.store.tenant(c.org_a).submission(w.submission).await.unwrap().unwrap();
    assert_eq!(summary.revision, 1);
    assert!(c.store.tenant(c.org_a).file(w.file).await.unwrap().is_some());
    assert!(c.store.tenant(c.org_a).grants_of_form(w.form).await.unwrap().is_empty(), "no grant was made");
    assert!(c.store.tenant(c.org_a).emergency_members().await.unwrap().is_empty(), "nobody got the emergency right");
    assert!(c.store.tenant(c.org_a).folder_grants_of_org().await.unwrap().is_empty(), "no folder grant was made");
    let request = c.store.tenant(c.org_a).access_request(w.request).await.unwrap().unwrap();
    assert_eq!(request.status, sealform_core::grants::RequestStatus::Pending, "not decided by anyone probing");
    let members = c.store.tenant(c.org_a).members_of().await.unwrap();
    let asker = members.iter().find(|(u, _)| u.email.as_str() == "asker@a.example").unwrap();
    assert_eq!(asker.1, Role::Reviewer, "A's member keeps their role");
    assert_eq!(asker.0.status, sealform_core::user::UserStatus::Active);
    assert_eq!(bearer(&c, "GET", "/api/v1/me", victim_key.as_str()).await.status, StatusCode::OK, "A's key lives");
    assert_eq!(exports(&c).await, exports_before, "nothing was exported");
}

async fn exports<S: Store>(c: &Console<S>) -> usize {
    let query = AuditQuery {
        org: c.org_a,
        action: Some(Action::SubmissionExport),
        actor: None,
        target_hash: None,
        from: None,
        to: None,
        limit: 100,
    };
    c.store.tenant(query.org).audit_search(query).await.unwrap().len()
}

both!(every_route_refuses_other_organisations_and_members_without_a_grant);
