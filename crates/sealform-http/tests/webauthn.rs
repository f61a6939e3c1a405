//! Passkeys as a second factor, in process on both backends, with the software authenticator of sealform-crypto:
//! register on /console/mfa, sign out, sign in with the password, complete the pending session with an assertion;
//! replayed, cross-site and cloned-counter assertions are refused; removal needs a full session; all audited.

#[macro_use]
mod harness;

use harness::*;
use sealform_core::audit::{Action, AuditQuery};
use sealform_crypto::webauthn::soft::SoftAuthenticator;
use serde_json::{Value, json};

const RP_ID: &str = "clinic.example";
const ORIGIN: &str = "https://clinic.example";

fn b64(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text).unwrap()
}

async fn call<S: Store>(c: &Console<S>, path: &str, cookie: &str, csrf: &str, body: &Value) -> Reply {
    let request = Request::post(path)
        .header("cookie", cookie)
        .header("content-type", "application/json")
        .header("sec-fetch-site", "same-origin")
        .header("x-csrf-token", csrf)
        .body(Body::from(body.to_string()))
        .unwrap();
    c.send(request).await
}

fn json_of(reply: &Reply) -> Value {
    serde_json::from_str(&reply.body).unwrap_or_else(|_| panic!("{} {}", reply.status, reply.body))
}

fn data_csrf(html: &str) -> String {
    let start = html.find("data-csrf=\"").expect("data-csrf") + "data-csrf=\"".len();
    html[start..].split('"').next().unwrap().to_owned()
}

async fn audited<S: Store>(c: &Console<S>, action: Action) -> usize {
    let query = AuditQuery {
        org: c.org_a,
        action: Some(action),
        actor: None,
        target_hash: None,
        from: None,
        to: None,
        limit: 100,
    };
    c.store.tenant(query.org).audit_search(query).await.unwrap().len()
}

/// Asks for sign-in options on the second-step page and answers them with `auth` from `origin`: the reply and the
/// assertion sent.
async fn assert_with<S: Store>(
    c: &Console<S>,
    pending: &str,
    auth: &mut SoftAuthenticator,
    origin: &str,
) -> (Reply, Value) {
    let page = c.get("/login/mfa", pending).await;
    assert!(page.body.contains("Use your passkey"), "{}", page.body);
    let csrf = data_csrf(&page.body);
    let options = call(c, "/login/mfa/webauthn/options", pending, &csrf, &json!({})).await;
    assert_eq!(options.status, StatusCode::OK, "{}", options.body);
    let options = json_of(&options);
    assert_eq!(options["rpId"], RP_ID);
    let allowed = options["allowCredentials"].as_array().unwrap();
    assert_eq!(b64(allowed[0]["id"].as_str().unwrap()), auth.credential_id);
    let challenge = b64(options["challenge"].as_str().unwrap());
    let credential = auth.assert(RP_ID, origin, &challenge).to_json();
    let reply = call(c, "/login/mfa/webauthn", pending, &csrf, &json!({ "credential": credential })).await;
    (reply, credential)
}

async fn a_passkey_registers_and_completes_a_sign_in_once<B: Backend>() {
    let Some(c) = console::<B>(stringify!(a_passkey_registers_and_completes_a_sign_in_once)).await else { return };
    let cookie = format!("__Host-sealform={}", c.login("a@a.example", PASSWORD).await.1.unwrap());
    let page = c.get("/console/mfa", &cookie).await;
    assert!(page.body.contains("Add a passkey / security key") && page.body.contains("/static/webauthn.js"));
    let csrf = data_csrf(&page.body);

    // Without the CSRF header, or from another site, nothing is issued.
    let no_csrf = call(&c, "/console/mfa/webauthn/register/options", &cookie, "", &json!({})).await;
    assert_eq!(no_csrf.status, StatusCode::FORBIDDEN);
    let cross = Request::post("/console/mfa/webauthn/register/options")
        .header("cookie", &cookie)
        .header("sec-fetch-site", "cross-site")
        .header("x-csrf-token", &csrf)
        .body(Body::from("{}"))
        .unwrap();
    assert_eq!(c.send(cross).await.status, StatusCode::FORBIDDEN);

    // Registration.
    let options = call(&c, "/console/mfa/webauthn/register/options", &cookie, &csrf, &json!({})).await;
    assert_eq!(options.status, StatusCode::OK, "{}", options.body);
    let options = json_of(&options);
    assert_eq!(options["rp"]["id"], RP_ID);
    assert_eq!(options["attestation"], "none");
    assert_eq!(options["authenticatorSelection"]["userVerification"], "preferred");
    assert_eq!(options["authenticatorSelection"]["residentKey"], "discouraged");
    let algs: Vec<i64> =
        options["pubKeyCredParams"].as_array().unwrap().iter().map(|p| p["alg"].as_i64().unwrap()).collect();
    assert_eq!(algs, [-7, -8]);
    assert!(options["excludeCredentials"].as_array().unwrap().is_empty());
    assert_eq!(b64(options["user"]["id"].as_str().unwrap()).len(), 16);
    let challenge = b64(options["challenge"].as_str().unwrap());
    assert_eq!(challenge.len(), 32);
    let mut auth = SoftAuthenticator::new();
    // An answer for another origin is refused, and uses the challenge up.
    let evil = auth.register(RP_ID, "https://evil.example", &challenge).to_json();
    let refused =
        call(&c, "/console/mfa/webauthn/register", &cookie, &csrf, &json!({ "name": "x", "credential": evil })).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.body);
    let good = auth.register(RP_ID, ORIGIN, &challenge).to_json();
    let body = json!({ "name": "Desk key", "credential": good });
    let used = call(&c, "/console/mfa/webauthn/register", &cookie, &csrf, &body).await;
    assert_eq!(used.status, StatusCode::UNPROCESSABLE_ENTITY, "a challenge answers once: {}", used.body);
    let options = json_of(&call(&c, "/console/mfa/webauthn/register/options", &cookie, &csrf, &json!({})).await);
    let challenge = b64(options["challenge"].as_str().unwrap());
    // A name with a NUL (which PostgreSQL cannot store) is refused before the challenge is spent.
    let body = json!({ "name": "Desk\u{0}key", "credential": auth.register(RP_ID, ORIGIN, &challenge).to_json() });
    let nul = call(&c, "/console/mfa/webauthn/register", &cookie, &csrf, &body).await;
    assert_eq!(nul.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", nul.body);
    let body = json!({ "name": "Desk key", "credential": auth.register(RP_ID, ORIGIN, &challenge).to_json() });
    let added = call(&c, "/console/mfa/webauthn/register", &cookie, &csrf, &body).await;
    assert_eq!(added.status, StatusCode::OK, "{}", added.body);
    assert_eq!(audited(&c, Action::MfaEnrol).await, 1);
    // The same registration again: its challenge is spent.
    let again = call(&c, "/console/mfa/webauthn/register", &cookie, &csrf, &body).await;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY);
    // The same key under a fresh challenge: already registered, and now excluded.
    let options = json_of(&call(&c, "/console/mfa/webauthn/register/options", &cookie, &csrf, &json!({})).await);
    let excluded = options["excludeCredentials"].as_array().unwrap();
    assert_eq!(b64(excluded[0]["id"].as_str().unwrap()), auth.credential_id);
    let challenge = b64(options["challenge"].as_str().unwrap());
    let body = json!({ "name": "Twice", "credential": auth.register(RP_ID, ORIGIN, &challenge).to_json() });
    assert_eq!(call(&c, "/console/mfa/webauthn/register", &cookie, &csrf, &body).await.status, StatusCode::CONFLICT);
    let page = c.get("/console/mfa", &cookie).await;
    assert!(page.body.contains("Desk key") && !page.body.contains("Twice"), "{}", page.body);

    // Sign out; the password alone now leads to the second step.
    let logout = c.post("/logout", &cookie, &format!("csrf={csrf}")).await;
    assert_eq!(logout.status, StatusCode::SEE_OTHER);
    let (reply, pending) = c.login("a@a.example", PASSWORD).await;
    assert_eq!(reply.headers["location"], "/login/mfa");
    let pending = format!("__Host-sealform={}", pending.unwrap());
    assert_eq!(c.get("/console", &pending).await.headers["location"], "/login", "pending is not signed in");
    let registration_call = call(&c, "/console/mfa/webauthn/register/options", &pending, &csrf, &json!({})).await;
    assert_eq!(registration_call.status, StatusCode::UNAUTHORIZED, "a pending session adds no key");

    // A wrong origin is refused and counted.
    let (wrong, _) = assert_with(&c, &pending, &mut auth, "https://evil.example").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{}", wrong.body);
    assert_eq!(audited(&c, Action::MfaFailure).await, 1);
    assert_eq!(
        c.store
            .user_by_email(&sealform_core::user::Email::parse("a@a.example").unwrap())
            .await
            .unwrap()
            .unwrap()
            .failed_logins,
        1
    );

    // The right answer completes the sign-in with a new session id.
    let (done, assertion) = assert_with(&c, &pending, &mut auth, ORIGIN).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(json_of(&done)["redirect"], "/console");
    let full = format!("__Host-sealform={}", set_cookie(&done, "__Host-sealform").unwrap());
    assert_ne!(full, pending);
    let console = c.get("/console", &full).await;
    assert_eq!(console.status, StatusCode::OK);
    assert!(console.body.contains("a@a.example"));
    assert_eq!(c.get("/console", &pending).await.headers["location"], "/login", "the pending session is gone");
    assert_eq!(audited(&c, Action::MfaSuccess).await, 1);
    assert_eq!(
        c.store
            .user_by_email(&sealform_core::user::Email::parse("a@a.example").unwrap())
            .await
            .unwrap()
            .unwrap()
            .failed_logins,
        0
    );
    let page = c.get("/console/mfa", &full).await;
    assert!(!page.body.contains("last used never"), "{}", page.body);

    // Replaying that assertion in a new pending session is refused.
    let (_, pending) = c.login("a@a.example", PASSWORD).await;
    let pending = format!("__Host-sealform={}", pending.unwrap());
    let page = c.get("/login/mfa", &pending).await;
    let pending_csrf = data_csrf(&page.body);
    let replay = call(&c, "/login/mfa/webauthn", &pending, &pending_csrf, &json!({ "credential": assertion })).await;
    assert_eq!(replay.status, StatusCode::UNAUTHORIZED, "{}", replay.body);
    // So is one from an authenticator whose counter did not move (a clone).
    auth.counting = false;
    let (cloned, _) = assert_with(&c, &pending, &mut auth, ORIGIN).await;
    assert_eq!(cloned.status, StatusCode::UNAUTHORIZED, "{}", cloned.body);
    auth.counting = true;
    let (ok, _) = assert_with(&c, &pending, &mut auth, ORIGIN).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    let full = format!("__Host-sealform={}", set_cookie(&ok, "__Host-sealform").unwrap());
    assert_eq!(audited(&c, Action::MfaFailure).await, 3);

    // Removing it (audited) ends the second step.
    let page = c.get("/console/mfa", &full).await;
    let csrf = hidden_csrf(&page.body);
    let start = page.body.find("name=\"id\" value=\"").unwrap() + "name=\"id\" value=\"".len();
    let id = page.body[start..].split('"').next().unwrap().to_owned();
    let first = c.post("/console/mfa/webauthn/remove", &full, &format!("csrf={csrf}&id={id}")).await;
    assert_eq!(first.headers["location"], "/console/reauth?next=/console/mfa", "a step-up comes first");
    assert_eq!(audited(&c, Action::MfaRemove).await, 0);
    let reauth = format!("csrf={csrf}&password={}&next=/console/mfa", urlencode(PASSWORD));
    c.post("/console/reauth", &full, &reauth).await;
    let removed = c.post("/console/mfa/webauthn/remove", &full, &format!("csrf={csrf}&id={id}")).await;
    assert_eq!(removed.headers["location"], "/console/mfa", "{}", removed.body);
    assert_eq!(
        c.post("/console/mfa/webauthn/remove", &full, &format!("csrf={csrf}&id={id}")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(audited(&c, Action::MfaRemove).await, 1);
    assert!(!c.get("/console/mfa", &full).await.body.contains("Desk key"));
    let (reply, _) = c.login("a@a.example", PASSWORD).await;
    assert_eq!(reply.headers["location"], "/console");
}

async fn a_passkey_satisfies_required_mfa_and_removal_needs_a_full_session<B: Backend>() {
    let Some(c) = console::<B>(stringify!(a_passkey_satisfies_required_mfa_and_removal_needs_a_full_session)).await
    else {
        return;
    };
    let scope = sealform_core::audit::AuditScope::operator();
    let audit = AuditCtx { auditor: &c.auditor, scope: &scope };
    sealform_core::admin::set_mfa_required(&c.store, &c.clock, audit, c.org_a, true).await.unwrap();
    let cookie = format!("__Host-sealform={}", c.login("a@a.example", PASSWORD).await.1.unwrap());
    assert_eq!(c.get("/console", &cookie).await.headers["location"], "/console/mfa");
    let page = c.get("/console/mfa", &cookie).await;
    let csrf = data_csrf(&page.body);
    let options = json_of(&call(&c, "/console/mfa/webauthn/register/options", &cookie, &csrf, &json!({})).await);
    let challenge = b64(options["challenge"].as_str().unwrap());
    let mut auth = SoftAuthenticator::new();
    let body = json!({ "name": "", "credential": auth.register(RP_ID, ORIGIN, &challenge).to_json() });
    assert_eq!(call(&c, "/console/mfa/webauthn/register", &cookie, &csrf, &body).await.status, StatusCode::OK);
    // Enrolled: the console opens.
    assert_eq!(c.get("/console", &cookie).await.status, StatusCode::OK);
    assert!(c.get("/console/mfa", &cookie).await.body.contains("Passkey"), "unnamed keys get a name");

    // A pending session cannot remove the key.
    let (_, pending) = c.login("a@a.example", PASSWORD).await;
    let pending = format!("__Host-sealform={}", pending.unwrap());
    let page = c.get("/console/mfa", &cookie).await;
    let start = page.body.find("name=\"id\" value=\"").unwrap() + "name=\"id\" value=\"".len();
    let id = page.body[start..].split('"').next().unwrap().to_owned();
    let pending_csrf = data_csrf(&c.get("/login/mfa", &pending).await.body);
    let refused = c.post("/console/mfa/webauthn/remove", &pending, &format!("csrf={pending_csrf}&id={id}")).await;
    assert_eq!(refused.headers["location"], "/login");
    assert_eq!(audited(&c, Action::MfaRemove).await, 0);
    let (done, _) = assert_with(&c, &pending, &mut auth, ORIGIN).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    let console =
        c.get("/console", &format!("__Host-sealform={}", set_cookie(&done, "__Host-sealform").unwrap())).await;
    assert_eq!(console.status, StatusCode::OK);
}

async fn an_answer_after_five_minutes_is_refused<B: Backend>() {
    let Some(c) = console::<B>(stringify!(an_answer_after_five_minutes_is_refused)).await else { return };
    let cookie = format!("__Host-sealform={}", c.login("a@a.example", PASSWORD).await.1.unwrap());
    let csrf = data_csrf(&c.get("/console/mfa", &cookie).await.body);
    let mut auth = SoftAuthenticator::new();
    let options = json_of(&call(&c, "/console/mfa/webauthn/register/options", &cookie, &csrf, &json!({})).await);
    let challenge = b64(options["challenge"].as_str().unwrap());
    let body = json!({ "name": "k", "credential": auth.register(RP_ID, ORIGIN, &challenge).to_json() });
    assert_eq!(call(&c, "/console/mfa/webauthn/register", &cookie, &csrf, &body).await.status, StatusCode::OK);
    let (_, pending) = c.login("a@a.example", PASSWORD).await;
    let pending = format!("__Host-sealform={}", pending.unwrap());
    let csrf = data_csrf(&c.get("/login/mfa", &pending).await.body);
    let options = json_of(&call(&c, "/login/mfa/webauthn/options", &pending, &csrf, &json!({})).await);
    let challenge = b64(options["challenge"].as_str().unwrap());
    c.clock.advance(Duration::minutes(5) + Duration::seconds(1));
    let late = auth.assert(RP_ID, ORIGIN, &challenge).to_json();
    // The pending session itself is still alive (activity keeps the idle timer); the challenge is not.
    let reply = call(&c, "/login/mfa/webauthn", &pending, &csrf, &json!({ "credential": late })).await;
    assert_ne!(reply.status, StatusCode::OK, "{}", reply.body);
}

both!(
    a_passkey_registers_and_completes_a_sign_in_once,
    a_passkey_satisfies_required_mfa_and_removal_needs_a_full_session,
    an_answer_after_five_minutes_is_refused,
);
