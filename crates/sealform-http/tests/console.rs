//! The console in process, with a manual clock: login, lockout, idle timeout, CSRF, logout, and the auditor's page
//! scoped to the organisation.

#[macro_use]
mod harness;

use harness::*;

async fn login_sets_a_host_only_secure_cookie_and_opens_the_console<B: Backend>() {
    let Some(c) = console::<B>(stringify!(login_sets_a_host_only_secure_cookie_and_opens_the_console)).await else {
        return;
    };
    let (reply, session) = c.login("A@A.example", PASSWORD).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.headers["location"], "/console");
    let raw = reply
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|v| v.starts_with("__Host-sealform="))
        .unwrap()
        .to_owned();
    for attribute in ["Path=/", "Secure", "HttpOnly", "SameSite=Lax"] {
        assert!(raw.contains(attribute), "{raw}");
    }
    assert!(!raw.contains("Domain"), "__Host- cookies carry no Domain: {raw}");
    let page = c.get("/console", &format!("__Host-sealform={}", session.unwrap())).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("a@a.example") && page.body.contains("owner"), "{}", page.body);
    assert_eq!(page.headers["cache-control"], "no-store");
    assert_eq!(c.get("/console", "").await.headers["location"], "/login", "no session: to the login page");
}

async fn five_failures_lock_the_account_like_an_unknown_email_until_the_window_passes<B: Backend>() {
    let Some(c) =
        console::<B>(stringify!(five_failures_lock_the_account_like_an_unknown_email_until_the_window_passes)).await
    else {
        return;
    };
    let (unknown, _) = c.login("nobody@nowhere.example", PASSWORD).await;
    for _ in 0..5 {
        let (reply, session) = c.login("a@a.example", "wrong password!").await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        assert!(session.is_none());
    }
    let (locked, session) = c.login("a@a.example", PASSWORD).await;
    assert!(session.is_none(), "the right password is refused while locked");
    assert_eq!(locked.status, unknown.status);
    assert!(locked.body.contains(sealform_http_refused()) && unknown.body.contains(sealform_http_refused()));

    c.clock.advance(Duration::minutes(14));
    assert!(c.login("a@a.example", PASSWORD).await.1.is_none(), "still locked at 14 minutes");
    c.clock.advance(Duration::minutes(1) + Duration::seconds(1));
    assert!(c.login("a@a.example", PASSWORD).await.1.is_some(), "access returns after the window");
}

fn sealform_http_refused() -> &'static str {
    "The e-mail or password is wrong, or the account is locked."
}

async fn sessions_end_after_fifteen_idle_minutes<B: Backend>() {
    let Some(c) = console::<B>(stringify!(sessions_end_after_fifteen_idle_minutes)).await else { return };
    let cookie = format!("__Host-sealform={}", c.login("a@a.example", PASSWORD).await.1.unwrap());
    c.clock.advance(Duration::minutes(14) + Duration::seconds(59));
    assert_eq!(c.get("/console", &cookie).await.status, StatusCode::OK, "idle 14:59 is accepted");
    c.clock.advance(Duration::minutes(15) + Duration::seconds(1));
    let reply = c.get("/console", &cookie).await;
    assert_eq!(reply.headers.get("location").map(|v| v.to_str().unwrap()), Some("/login"), "idle 15:01 is refused");
    c.clock.advance(Duration::seconds(-1));
    assert_eq!(c.get("/console", &cookie).await.status, StatusCode::SEE_OTHER, "an ended session stays ended");
}

async fn sessions_end_at_the_absolute_timeout_even_when_active<B: Backend>() {
    let Some(c) = console::<B>(stringify!(sessions_end_at_the_absolute_timeout_even_when_active)).await else { return };
    let cookie = format!("__Host-sealform={}", c.login("a@a.example", PASSWORD).await.1.unwrap());
    for _ in 0..60 {
        c.clock.advance(Duration::minutes(14));
        if c.get("/console", &cookie).await.status != StatusCode::OK {
            break;
        }
    }
    assert_eq!(c.get("/console", &cookie).await.status, StatusCode::SEE_OTHER, "12 h absolute timeout");
}

async fn state_changing_posts_need_the_csrf_token_and_the_same_origin<B: Backend>() {
    let Some(c) = console::<B>(stringify!(state_changing_posts_need_the_csrf_token_and_the_same_origin)).await else {
        return;
    };
    let cookie = format!("__Host-sealform={}", c.login("a@a.example", PASSWORD).await.1.unwrap());
    assert_eq!(c.post("/logout", &cookie, "csrf=forged").await.status, StatusCode::FORBIDDEN);
    assert_eq!(c.post("/logout", &cookie, "").await.status, StatusCode::FORBIDDEN);
    let page = c.get("/console", &cookie).await;
    let csrf = hidden_csrf(&page.body);
    let cross = Request::post("/logout")
        .header("cookie", &cookie)
        .header("origin", "https://evil.example")
        .header("host", "clinic.example")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(format!("csrf={csrf}")))
        .unwrap();
    assert_eq!(c.send(cross).await.status, StatusCode::FORBIDDEN);
    assert_eq!(c.get("/console", &cookie).await.status, StatusCode::OK, "refused logouts changed nothing");
    // Login itself needs its double-submit token.
    let no_token = c.post("/login", "", &format!("email=a%40a.example&password={}&csrf=x", urlencode(PASSWORD))).await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);

    let out = c.post("/logout", &cookie, &format!("csrf={csrf}")).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(c.get("/console", &cookie).await.headers["location"], "/login", "logged out");
}

async fn the_audit_page_shows_only_the_organisation_s_own_trail<B: Backend>() {
    let Some(c) = console::<B>(stringify!(the_audit_page_shows_only_the_organisation_s_own_trail)).await else {
        return;
    };
    let a = format!("__Host-sealform={}", c.login("a@a.example", PASSWORD).await.1.unwrap());
    let b = format!("__Host-sealform={}", c.login("b@b.example", PASSWORD).await.1.unwrap());
    let page_a = c.get("/console/audit", &a).await;
    assert_eq!(page_a.status, StatusCode::OK);
    assert!(page_a.body.contains("login.success") && page_a.body.contains("org.create"), "{}", page_a.body);
    let page_b = c.get("/console/audit", &b).await;
    let b_rows = page_b.body.matches("<tr><td>").count();
    let a_rows = page_a.body.matches("<tr><td>").count();
    // installation.bootstrap belongs to no organisation, so each sees its org.create and its own login.
    assert_eq!((a_rows, b_rows), (2, 2));
    assert!(!page_a.body.contains("b@b.example") && !page_b.body.contains(&a_org_id(&page_a.body)));
    let to_the_end = c.get("/console/audit?to=9999-12-31", &a).await;
    assert_eq!(to_the_end.body.matches("<tr><td>").count(), 2, "the last day there is, with no overflow");
    let only_logins = c.get("/console/audit?action=login.success", &a).await;
    assert_eq!(only_logins.body.matches("<tr><td>").count(), 1);
    let bad = c.get("/console/audit?action=%3Cscript%3E", &a).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(!bad.body.contains("<script>"));
}

/// The organisation id in A's `org.create` row ("organisation <id>").
fn a_org_id(html: &str) -> String {
    let start = html.find("organisation ").expect("an organisation target") + "organisation ".len();
    html[start..start + 36].to_owned()
}

impl<S: Store> Console<S> {
    fn operator(&self) -> (Arc<sealform_core::audit::Auditor>, sealform_core::audit::AuditScope) {
        (Arc::clone(&self.auditor), sealform_core::audit::AuditScope::operator())
    }
}

async fn a_reviewer_may_not_read_the_audit_trail<B: Backend>() {
    let Some(c) = console::<B>(stringify!(a_reviewer_may_not_read_the_audit_trail)).await else { return };
    let (auditor, scope) = c.operator();
    let audit = AuditCtx { auditor: &auditor, scope: &scope };
    let role = sealform_core::user::Role::Reviewer;
    let password = SecretString::from(PASSWORD.to_owned());
    sealform_core::admin::add_user(&c.store, &c.clock, audit, c.org_a, "rev@a.example", role, password).await.unwrap();
    let reviewer = format!("__Host-sealform={}", c.login("rev@a.example", PASSWORD).await.1.unwrap());
    let console_page = c.get("/console", &reviewer).await;
    assert!(console_page.body.contains("reviewer") && !console_page.body.contains("/console/audit"));
    assert_eq!(c.get("/console/audit", &reviewer).await.status, StatusCode::FORBIDDEN);
}

async fn deactivating_a_user_ends_their_live_session_on_the_next_request<B: Backend>() {
    let Some(c) = console::<B>(stringify!(deactivating_a_user_ends_their_live_session_on_the_next_request)).await
    else {
        return;
    };
    let cookie = format!("__Host-sealform={}", c.login("a@a.example", PASSWORD).await.1.unwrap());
    assert_eq!(c.get("/console", &cookie).await.status, StatusCode::OK);
    let (auditor, scope) = c.operator();
    let audit = AuditCtx { auditor: &auditor, scope: &scope };
    sealform_core::admin::deactivate_user(&c.store, &c.clock, audit, None, "a@a.example").await.unwrap();
    assert_eq!(c.get("/console", &cookie).await.headers["location"], "/login");
    assert!(c.login("a@a.example", PASSWORD).await.1.is_none(), "a deactivated user cannot log in");
}

async fn change_password<S: Store>(c: &Console<S>, cookie: &str, current: &str, new: &str) -> Reply {
    let page = c.get("/console/password", cookie).await;
    let csrf = hidden_csrf(&page.body);
    c.post("/console/password", cookie, &format!("csrf={csrf}&current={}&new={}", urlencode(current), urlencode(new)))
        .await
}

async fn an_expired_password_must_be_changed_and_the_last_six_are_refused<B: Backend>() {
    let Some(c) = console::<B>(stringify!(an_expired_password_must_be_changed_and_the_last_six_are_refused)).await
    else {
        return;
    };
    c.clock.advance(Duration::days(91));
    let (reply, session) = c.login("a@a.example", PASSWORD).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    let cookie = format!("__Host-sealform={}", session.unwrap());
    assert_eq!(
        c.get("/console", &cookie).await.headers["location"],
        "/console/password",
        "only the change page is open"
    );
    assert_eq!(c.get("/console/audit", &cookie).await.headers["location"], "/console/password");
    assert!(c.get("/console/password", &cookie).await.body.contains("expired"));

    let reused = change_password(&c, &cookie, PASSWORD, PASSWORD).await;
    assert_eq!(reused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(reused.body.contains("last 6 passwords"), "{}", reused.body);
    let common = change_password(&c, &cookie, PASSWORD, "Password123").await;
    assert_eq!(common.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(common.body.contains("too common"), "{}", common.body);
    assert!(!common.body.contains("Password123"), "the refused password is not echoed back");
    let wrong = change_password(&c, &cookie, "not my password", "a brand new password 1").await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);

    // Walk through six passwords; each of the last six is refused, the seventh-oldest is allowed again.
    let mut cookie = cookie;
    let mut current = PASSWORD.to_owned();
    let passwords: Vec<String> = (1..=6).map(|i| format!("rotating password number {i}")).collect();
    for next in &passwords {
        let reply = change_password(&c, &cookie, &current, next).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
        let new_cookie = format!("__Host-sealform={}", set_cookie(&reply, "__Host-sealform").unwrap());
        assert_eq!(c.get("/console", &cookie).await.status, StatusCode::SEE_OTHER, "the old session id is gone");
        cookie = new_cookie;
        current = next.clone();
    }
    assert_eq!(c.get("/console", &cookie).await.status, StatusCode::OK);
    for old in passwords.iter().take(5).chain(std::iter::once(&current)) {
        let reply = change_password(&c, &cookie, &current, old).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{old} is among the last six");
    }
    let reply = change_password(&c, &cookie, &current, PASSWORD).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "seven changes ago may be used again: {}", reply.body);
}

async fn changing_the_password_ends_every_other_session<B: Backend>() {
    let Some(c) = console::<B>(stringify!(changing_the_password_ends_every_other_session)).await else { return };
    let first = format!("__Host-sealform={}", c.login("a@a.example", PASSWORD).await.1.unwrap());
    let second = format!("__Host-sealform={}", c.login("a@a.example", PASSWORD).await.1.unwrap());
    let reply = change_password(&c, &first, PASSWORD, "an entirely new password").await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(c.get("/console", &second).await.status, StatusCode::SEE_OTHER, "the other session ended");
    assert!(c.login("a@a.example", "an entirely new password").await.1.is_some());
}

/// Turns on TOTP for the signed-in user; returns the secret and the recovery codes.
async fn enrol<S: Store>(c: &Console<S>, cookie: &str) -> (sealform_crypto::TotpSecret, Vec<String>) {
    let page = c.get("/console/mfa", cookie).await;
    assert!(page.body.contains("<svg"), "a QR code is shown");
    let start = page.body.find("id=\"totp-key\">").unwrap() + "id=\"totp-key\">".len();
    let key = page.body[start..].split('<').next().unwrap().to_owned();
    let secret = sealform_crypto::TotpSecret::from_base32(&key).unwrap();
    let csrf = hidden_csrf(&page.body);
    let wrong = c.post("/console/mfa", cookie, &format!("csrf={csrf}&secret={key}&code=000000")).await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    let code = format!("{:06}", secret.code_at_step(step_now(c)));
    let done = c.post("/console/mfa", cookie, &format!("csrf={csrf}&secret={key}&code={code}")).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    let codes: Vec<String> =
        done.body.split("<li><code>").skip(1).map(|s| s.split('<').next().unwrap().to_owned()).collect();
    assert_eq!(codes.len(), 10);
    (secret, codes)
}

fn step_now<S: Store>(c: &Console<S>) -> u64 {
    u64::try_from(c.clock.now().unix_timestamp() / 30).unwrap()
}

async fn submit_code<S: Store>(c: &Console<S>, cookie: &str, code: &str) -> Reply {
    let page = c.get("/login/mfa", cookie).await;
    let csrf = hidden_csrf(&page.body);
    c.post("/login/mfa", cookie, &format!("csrf={csrf}&code={code}")).await
}

async fn totp_is_required_after_enrolment_and_each_code_works_once<B: Backend>() {
    let Some(c) = console::<B>("totp").await else { return };
    let cookie = format!("__Host-sealform={}", c.login("a@a.example", PASSWORD).await.1.unwrap());
    let (secret, recovery) = enrol(&c, &cookie).await;

    let (reply, pending) = c.login("a@a.example", PASSWORD).await;
    assert_eq!(reply.headers["location"], "/login/mfa");
    let pending = format!("__Host-sealform={}", pending.unwrap());
    assert_eq!(c.get("/console", &pending).await.headers["location"], "/login", "not signed in before the code");
    assert_eq!(submit_code(&c, &pending, "123456").await.status, StatusCode::UNAUTHORIZED);

    c.clock.advance(Duration::seconds(30));
    let code = format!("{:06}", secret.code_at_step(step_now(&c)));
    let ok = submit_code(&c, &pending, &code).await;
    assert_eq!(ok.headers["location"], "/console");
    let full = format!("__Host-sealform={}", set_cookie(&ok, "__Host-sealform").unwrap());
    assert_eq!(c.get("/console", &full).await.status, StatusCode::OK);
    assert_eq!(c.get("/console", &pending).await.status, StatusCode::SEE_OTHER, "the pending session id is gone");

    // The same code again is a replay, even on a fresh login within its time window.
    let (_, again) = c.login("a@a.example", PASSWORD).await;
    let again = format!("__Host-sealform={}", again.unwrap());
    assert_eq!(submit_code(&c, &again, &code).await.status, StatusCode::UNAUTHORIZED, "replay refused");
    // A recovery code works once.
    assert_eq!(submit_code(&c, &again, &recovery[0]).await.headers["location"], "/console");
    let (_, third) = c.login("a@a.example", PASSWORD).await;
    let third = format!("__Host-sealform={}", third.unwrap());
    assert_eq!(submit_code(&c, &third, &recovery[0]).await.status, StatusCode::UNAUTHORIZED, "used up");
    let signed_in = submit_code(&c, &third, &recovery[1]).await;
    assert_eq!(signed_in.headers["location"], "/console");

    // Replacing the app asks for the password again: a session alone cannot swap the second factor.
    let full = format!("__Host-sealform={}", set_cookie(&signed_in, "__Host-sealform").unwrap());
    // (The page offers no form once an app is on; a request can still be sent.)
    let page = c.get("/console/mfa", &full).await;
    let start = page.body.find("data-csrf=\"").unwrap() + "data-csrf=\"".len();
    let csrf = page.body[start..].split('"').next().unwrap().to_owned();
    let replacement = sealform_core::mfa::new_secret().unwrap();
    let key = replacement.to_base32();
    let code = format!("{:06}", replacement.code_at_step(step_now(&c)));
    let swap = format!("csrf={csrf}&secret={}&code={code}", key.as_str());
    let refused = c.post("/console/mfa", &full, &swap).await;
    assert_eq!(refused.headers["location"], "/console/reauth?next=/console/mfa");
    // The step-up takes the password and a code from the app being replaced.
    c.clock.advance(Duration::seconds(30));
    let old_code = format!("{:06}", secret.code_at_step(step_now(&c)));
    let proof = format!("csrf={csrf}&password={}&code={old_code}&next=/console/mfa", urlencode(PASSWORD));
    assert_eq!(c.post("/console/reauth", &full, &proof).await.headers["location"], "/console/mfa");
    let code = format!("{:06}", replacement.code_at_step(step_now(&c)));
    let swap = format!("csrf={csrf}&secret={}&code={code}", key.as_str());
    assert_eq!(c.post("/console/mfa", &full, &swap).await.status, StatusCode::OK, "replaced after the step-up");
}

async fn mfa_required_forces_enrolment_first<B: Backend>() {
    let Some(c) = console::<B>("mfa_required").await else { return };
    let (auditor, scope) = c.operator();
    let audit = AuditCtx { auditor: &auditor, scope: &scope };
    sealform_core::admin::set_mfa_required(&c.store, &c.clock, audit, c.org_a, true).await.unwrap();
    let cookie = format!("__Host-sealform={}", c.login("a@a.example", PASSWORD).await.1.unwrap());
    assert_eq!(c.get("/console", &cookie).await.headers["location"], "/console/mfa");
    assert_eq!(c.get("/console/audit", &cookie).await.headers["location"], "/console/mfa");
    assert!(c.get("/console/mfa", &cookie).await.body.contains("requires two-step sign-in"));
    enrol(&c, &cookie).await;
    assert_eq!(c.get("/console", &cookie).await.status, StatusCode::OK, "enrolled: the console opens");
}

async fn password_spraying_from_one_address_is_throttled<B: Backend>() {
    let Some(c) = console::<B>("spraying").await else { return };
    for i in 0..30 {
        let (reply, _) = c.login(&format!("user{i}@a.example"), "Summer2026!").await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    let (throttled, session) = c.login("a@a.example", PASSWORD).await;
    assert_eq!(throttled.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(session.is_none(), "even the right password waits out the window");
    assert_eq!(throttled.headers["retry-after"], "900");
    c.clock.advance(Duration::minutes(15) + Duration::seconds(1));
    assert!(c.login("a@a.example", PASSWORD).await.1.is_some(), "the window passed");
}

async fn users_see_and_end_their_own_sessions_only<B: Backend>() {
    let Some(c) = console::<B>("own_sessions").await else { return };
    let phone = format!("__Host-sealform={}", c.login("a@a.example", PASSWORD).await.1.unwrap());
    let laptop = format!("__Host-sealform={}", c.login("a@a.example", PASSWORD).await.1.unwrap());
    let other = format!("__Host-sealform={}", c.login("b@b.example", PASSWORD).await.1.unwrap());
    let page = c.get("/console/sessions", &laptop).await;
    assert_eq!(page.body.matches("Signed in ").count(), 2, "{}", page.body);
    assert_eq!(page.body.matches("<strong>this session</strong>").count(), 1);
    let start = page.body.find("name=\"session\" value=\"").unwrap() + "name=\"session\" value=\"".len();
    let phone_id = page.body[start..].split('"').next().unwrap().to_owned();
    let csrf = hidden_csrf(&page.body);

    // B cannot end A's session, even knowing its id.
    let b_page = c.get("/console/sessions", &other).await;
    let b_csrf = hidden_csrf_or_console(&c, &other, &b_page.body).await;
    let foreign = c.post("/console/sessions/revoke", &other, &format!("csrf={b_csrf}&session={phone_id}")).await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);
    assert_eq!(c.get("/console", &phone).await.status, StatusCode::OK);

    let ended = c.post("/console/sessions/revoke", &laptop, &format!("csrf={csrf}&session={phone_id}")).await;
    assert_eq!(ended.status, StatusCode::SEE_OTHER);
    assert_eq!(c.get("/console", &phone).await.status, StatusCode::SEE_OTHER, "the phone is signed out");
    assert_eq!(c.get("/console", &laptop).await.status, StatusCode::OK);
}

/// B has one session, so its sessions page has no revoke form: take the CSRF token from the console page instead.
async fn hidden_csrf_or_console<S: Store>(c: &Console<S>, cookie: &str, body: &str) -> String {
    if body.contains("name=\"csrf\"") { hidden_csrf(body) } else { hidden_csrf(&c.get("/console", cookie).await.body) }
}

async fn ask_reset<S: Store>(c: &Console<S>, email: &str) -> Reply {
    let page = c.get("/reset", "").await;
    let login_cookie = set_cookie(&page, "__Host-sealform-login").unwrap();
    let csrf = hidden_csrf(&page.body);
    c.post(
        "/reset",
        &format!("__Host-sealform-login={login_cookie}"),
        &format!("email={}&csrf={csrf}", urlencode(email)),
    )
    .await
}

async fn a_reset_link_sets_a_new_password_once_and_ends_every_session<B: Backend>() {
    let Some(c) = console::<B>("reset").await else { return };
    let old_session = format!("__Host-sealform={}", c.login("a@a.example", PASSWORD).await.1.unwrap());
    let unknown = ask_reset(&c, "nobody@nowhere.example").await;
    let known = ask_reset(&c, "a@a.example").await;
    assert_eq!((unknown.status, known.status), (StatusCode::OK, StatusCode::OK));
    assert_eq!(unknown.body, known.body, "the answer does not tell whether the address has a login");
    let mails = c.mailbox.0.lock().unwrap().clone();
    assert_eq!(mails.len(), 1, "only the real login gets mail");
    assert!(!mails[0].body.contains(PASSWORD));
    let link =
        mails[0].body.split_whitespace().find(|w| w.starts_with("https://clinic.example/reset/")).unwrap().to_owned();
    let path = link.trim_start_matches("https://clinic.example").to_owned();

    let page = c.get(&path, "").await;
    assert_eq!(page.status, StatusCode::OK);
    let login_cookie = format!("__Host-sealform-login={}", set_cookie(&page, "__Host-sealform-login").unwrap());
    let csrf = hidden_csrf(&page.body);
    let reused = c.post(&path, &login_cookie, &format!("csrf={csrf}&password={}", urlencode(PASSWORD))).await;
    assert_eq!(reused.status, StatusCode::UNPROCESSABLE_ENTITY, "history applies to resets too");
    let page = c.get(&path, "").await;
    let login_cookie = format!("__Host-sealform-login={}", set_cookie(&page, "__Host-sealform-login").unwrap());
    let csrf = hidden_csrf(&page.body);
    let done = c
        .post(&path, &login_cookie, &format!("csrf={csrf}&password={}", urlencode("a fresh password after reset")))
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    assert_eq!(c.get(&path, "").await.status, StatusCode::NOT_FOUND, "the link works once");
    assert_eq!(c.get("/console", &old_session).await.status, StatusCode::SEE_OTHER, "every session ended");
    assert!(c.login("a@a.example", "a fresh password after reset").await.1.is_some());

    // A second link expires after 30 minutes.
    ask_reset(&c, "a@a.example").await;
    let mails = c.mailbox.0.lock().unwrap().clone();
    let link =
        mails[1].body.split_whitespace().find(|w| w.starts_with("https://clinic.example/reset/")).unwrap().to_owned();
    c.clock.advance(Duration::minutes(31));
    assert_eq!(c.get(link.trim_start_matches("https://clinic.example"), "").await.status, StatusCode::NOT_FOUND);
}

async fn an_old_hash_is_moved_to_todays_parameters_at_login<B: Backend>() {
    let Some(c) = console::<B>("rehash").await else { return };
    let email = sealform_core::user::Email::parse("a@a.example").unwrap();
    let user = c.store.user_by_email(&email).await.unwrap().unwrap();
    let password = sealform_core::password::PlainPassword::parse(SecretString::from(PASSWORD.to_owned())).unwrap();
    let weak = sealform_core::password::hash_with_params(&password, 8 * 1024, 1).unwrap();
    c.store.rehash_password(user.id, weak.clone()).await.unwrap();
    assert!(c.login("a@a.example", PASSWORD).await.1.is_some(), "the old hash still signs in");
    let after = c.store.user_by_email(&email).await.unwrap().unwrap().password_hash;
    assert_ne!(after, weak);
    assert!(!sealform_core::password::needs_rehash(&after), "{}", after.as_phc());
}

async fn user_administration_needs_a_recent_step_up_and_stays_in_its_organisation<B: Backend>() {
    let Some(c) = console::<B>("users_admin").await else { return };
    let (auditor, scope) = c.operator();
    let audit = AuditCtx { auditor: &auditor, scope: &scope };
    let reviewer = sealform_core::user::Role::Reviewer;
    sealform_core::admin::add_user(
        &c.store,
        &c.clock,
        audit,
        c.org_a,
        "rev@a.example",
        reviewer,
        SecretString::from(PASSWORD.to_owned()),
    )
    .await
    .unwrap();
    let owner = format!("__Host-sealform={}", c.login("a@a.example", PASSWORD).await.1.unwrap());
    let page = c.get("/console/users", &owner).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("rev@a.example") && !page.body.contains("b@b.example"), "{}", page.body);
    let csrf = hidden_csrf(&page.body);

    let invite = format!("csrf={csrf}&email=new%40a.example&role=reviewer");
    let first = c.post("/console/users/invite", &owner, &invite).await;
    assert_eq!(first.headers["location"], "/console/reauth?next=/console/users", "a step-up comes first");
    assert!(c.mailbox.0.lock().unwrap().is_empty());
    let wrong =
        c.post("/console/reauth", &owner, &format!("csrf={csrf}&password=wrong+password&next=/console/users")).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let open_redirect = c
        .post(
            "/console/reauth",
            &owner,
            &format!("csrf={csrf}&password={}&next=https://evil.example", urlencode(PASSWORD)),
        )
        .await;
    assert_eq!(open_redirect.headers["location"], "/console", "only console pages are valid targets");
    assert_eq!(
        c.post("/console/users/invite", &owner, &invite).await.headers["location"],
        "/console/users?notice=invited"
    );
    assert_eq!(c.mailbox.0.lock().unwrap().len(), 1);

    let other_org = c.post("/console/users/deactivate", &owner, &format!("csrf={csrf}&email=b%40b.example")).await;
    assert_eq!(other_org.status, StatusCode::NOT_FOUND, "another organisation's user is not visible");
    let myself = c.post("/console/users/deactivate", &owner, &format!("csrf={csrf}&email=a%40a.example")).await;
    assert_eq!(myself.status, StatusCode::CONFLICT);
    // An admin may not switch an owner off, no more than take the owner role away; the page offers no button.
    let scope = sealform_core::audit::AuditScope::operator();
    let audit = AuditCtx { auditor: &c.auditor, scope: &scope };
    let admin_role = sealform_core::user::Role::Admin;
    let password = SecretString::from(PASSWORD.to_owned());
    sealform_core::admin::add_user(&c.store, &c.clock, audit, c.org_a, "adm@a.example", admin_role, password)
        .await
        .unwrap();
    let admin = format!("__Host-sealform={}", c.login("adm@a.example", PASSWORD).await.1.unwrap());
    let admin_page = c.get("/console/users", &admin).await;
    let admin_csrf = hidden_csrf(&admin_page.body);
    let reauth = format!("csrf={admin_csrf}&password={}&next=/console/users", urlencode(PASSWORD));
    c.post("/console/reauth", &admin, &reauth).await;
    let by_admin = c.post("/console/users/deactivate", &admin, &format!("csrf={admin_csrf}&email=a%40a.example")).await;
    assert_eq!(by_admin.status, StatusCode::FORBIDDEN, "{}", by_admin.body);
    assert!(by_admin.body.contains("only owners deactivate owners"), "{}", by_admin.body);
    assert!(c.login("a@a.example", PASSWORD).await.1.is_some(), "the owner still signs in");
    let done = c.post("/console/users/deactivate", &owner, &format!("csrf={csrf}&email=rev%40a.example")).await;
    assert_eq!(done.headers["location"], "/console/users?notice=deactivated");
    assert!(c.login("rev@a.example", PASSWORD).await.1.is_none());
    let query = sealform_core::audit::AuditQuery {
        org: c.org_a,
        action: Some(sealform_core::audit::Action::UserDeactivate),
        actor: None,
        target_hash: None,
        from: None,
        to: None,
        limit: 10,
    };
    let entries = c.store.tenant(c.org_a).audit_search(query).await.unwrap();
    assert_eq!(entries.len(), 1, "the organisation's own trail shows who deactivated whom");

    // Roles: a reviewer becomes an auditor (their session ends); the last owner cannot step down.
    sealform_core::admin::add_user(
        &c.store,
        &c.clock,
        audit,
        c.org_a,
        "rev2@a.example",
        reviewer,
        SecretString::from(PASSWORD.to_owned()),
    )
    .await
    .unwrap();
    let rev2 = format!("__Host-sealform={}", c.login("rev2@a.example", PASSWORD).await.1.unwrap());
    let promoted =
        c.post("/console/users/role", &owner, &format!("csrf={csrf}&email=rev2%40a.example&role=auditor")).await;
    assert_eq!(promoted.headers["location"], "/console/users?notice=role");
    assert_eq!(c.get("/console", &rev2).await.status, StatusCode::SEE_OTHER, "a privilege change ends the session");
    assert!(c.get("/console/users", &owner).await.body.contains("auditor"));
    let last_owner =
        c.post("/console/users/role", &owner, &format!("csrf={csrf}&email=a%40a.example&role=admin")).await;
    assert_eq!(last_owner.status, StatusCode::CONFLICT);

    c.clock.advance(Duration::minutes(6));
    let stale =
        c.post("/console/users/invite", &owner, &format!("csrf={csrf}&email=late%40a.example&role=reviewer")).await;
    assert_eq!(stale.headers["location"], "/console/reauth?next=/console/users", "the step-up lasts five minutes");

    let b = format!("__Host-sealform={}", c.login("b@b.example", PASSWORD).await.1.unwrap());
    assert_eq!(c.get("/console/users", &b).await.status, StatusCode::OK, "B administers B");
}

async fn reviewers_cannot_administer_users<B: Backend>() {
    let Some(c) = console::<B>("users_reviewer").await else { return };
    let (auditor, scope) = c.operator();
    let audit = AuditCtx { auditor: &auditor, scope: &scope };
    let reviewer = sealform_core::user::Role::Reviewer;
    sealform_core::admin::add_user(
        &c.store,
        &c.clock,
        audit,
        c.org_a,
        "rev@a.example",
        reviewer,
        SecretString::from(PASSWORD.to_owned()),
    )
    .await
    .unwrap();
    let cookie = format!("__Host-sealform={}", c.login("rev@a.example", PASSWORD).await.1.unwrap());
    assert_eq!(c.get("/console/users", &cookie).await.status, StatusCode::FORBIDDEN);
    let csrf = hidden_csrf(&c.get("/console", &cookie).await.body);
    let post = c.post("/console/users/invite", &cookie, &format!("csrf={csrf}&email=x%40a.example&role=owner")).await;
    assert_eq!(post.status, StatusCode::FORBIDDEN);
}

async fn users_create_use_and_revoke_their_own_api_keys<B: Backend>() {
    let Some(c) = console::<B>("console_api_keys").await else { return };
    let a = format!("__Host-sealform={}", c.login("a@a.example", PASSWORD).await.1.unwrap());
    let page = c.get("/console/api-keys", &a).await;
    assert!(page.body.contains("no API keys"));
    let csrf = hidden_csrf(&page.body);
    let ask = format!("csrf={csrf}&name=etl&scope=read&scope=export&days=30");
    let first = c.post("/console/api-keys", &a, &ask).await;
    assert_eq!(first.headers["location"], "/console/reauth?next=/console/api-keys", "a step-up comes first");
    assert!(!c.get("/console/api-keys", &a).await.body.contains("etl"), "no key made");
    let reauth = format!("csrf={csrf}&password={}&next=/console/api-keys", urlencode(PASSWORD));
    c.post("/console/reauth", &a, &reauth).await;
    let created = c.post("/console/api-keys", &a, &ask).await;
    assert_eq!(created.status, StatusCode::OK);
    let start = created.body.find("<code id=\"new-key\">").unwrap() + "<code id=\"new-key\">".len();
    let key = created.body[start..].split('<').next().unwrap().to_owned();
    assert!(key.starts_with("sf_"));
    assert!(!c.get("/console/api-keys", &a).await.body.contains(&key), "shown once");
    let me = c
        .send(Request::get("/api/v1/me").header("authorization", format!("Bearer {key}")).body(Body::empty()).unwrap())
        .await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    assert!(me.body.contains("\"export\""));

    let none = c.post("/console/api-keys", &a, &format!("csrf={csrf}&name=x")).await;
    assert_eq!(none.status, StatusCode::UNPROCESSABLE_ENTITY, "at least one scope");
    let b = format!("__Host-sealform={}", c.login("b@b.example", PASSWORD).await.1.unwrap());
    let b_csrf = hidden_csrf(&c.get("/console/api-keys", &b).await.body);
    let days = c.post("/console/api-keys", &a, &format!("csrf={csrf}&name=x&scope=read&days=0")).await;
    assert_eq!(days.status, StatusCode::UNPROCESSABLE_ENTITY, "a key valid for 1 to 36,500 days, or without end");
    let prefix = &key[..13];
    let foreign = c.post("/console/api-keys/revoke", &b, &format!("csrf={b_csrf}&prefix={prefix}")).await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND, "another user's key is not theirs to revoke");
    let revoked = c.post("/console/api-keys/revoke", &a, &format!("csrf={csrf}&prefix={prefix}")).await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER);
    let after = c
        .send(Request::get("/api/v1/me").header("authorization", format!("Bearer {key}")).body(Body::empty()).unwrap())
        .await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    assert!(c.get("/console/api-keys", &a).await.body.contains("revoked"));
}

both!(
    users_create_use_and_revoke_their_own_api_keys,
    user_administration_needs_a_recent_step_up_and_stays_in_its_organisation,
    reviewers_cannot_administer_users,
    an_old_hash_is_moved_to_todays_parameters_at_login,
    a_reset_link_sets_a_new_password_once_and_ends_every_session,
    users_see_and_end_their_own_sessions_only,
    password_spraying_from_one_address_is_throttled,
    mfa_required_forces_enrolment_first,
    totp_is_required_after_enrolment_and_each_code_works_once,
    login_sets_a_host_only_secure_cookie_and_opens_the_console,
    five_failures_lock_the_account_like_an_unknown_email_until_the_window_passes,
    sessions_end_after_fifteen_idle_minutes,
    sessions_end_at_the_absolute_timeout_even_when_active,
    state_changing_posts_need_the_csrf_token_and_the_same_origin,
    the_audit_page_shows_only_the_organisation_s_own_trail,
    a_reviewer_may_not_read_the_audit_trail,
    deactivating_a_user_ends_their_live_session_on_the_next_request,
    an_expired_password_must_be_changed_and_the_last_six_are_refused,
    changing_the_password_ends_every_other_session
);
