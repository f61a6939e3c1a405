//! API request budgets (issue #10) on both backends: a key spends its organisation's budget and is told what is
//! left; past it, 429 with `Retry-After` until the bucket refills; wrong keys from one address are cut off much
//! sooner, the right key included; the setting is audited and takes effect on the next request.

#[macro_use]
mod harness;

use harness::*;
use sealform_core::api_keys::{ApiRateLimit, Scope};
use sealform_core::audit::{Action, AuditQuery, AuditScope};
use sealform_http::rate_limit::FAILED_AUTH_LIMIT;

async fn key_of_a<S: Store>(c: &Console<S>) -> String {
    let scope = AuditScope::operator();
    let audit = AuditCtx { auditor: &c.auditor, scope: &scope };
    let (key, _) = sealform_core::api_keys::create(
        &c.store,
        &c.clock,
        audit,
        c.org_a,
        "a@a.example",
        "script",
        vec![Scope::Read],
        None,
        None,
    )
    .await
    .unwrap();
    key.as_str().to_owned()
}

async fn me<S: Store>(c: &Console<S>, key: &str) -> Reply {
    let request = Request::builder().uri("/api/v1/me").header("authorization", format!("Bearer {key}"));
    c.send(request.body(Body::empty()).unwrap()).await
}

fn header<'r>(reply: &'r Reply, name: &str) -> &'r str {
    reply.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_else(|| panic!("no {name} header"))
}

async fn a_key_spends_its_organisations_budget_and_waits_for_the_refill<B: Backend>() {
    let Some(c) = console::<B>("rate_limit_budget").await else { return };
    let key = key_of_a(&c).await;
    let first = me(&c, &key).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(header(&first, "ratelimit-policy"), "\"per-key\";q=100000;w=60", "the default budget");

    let scope = AuditScope::operator();
    let audit = AuditCtx { auditor: &c.auditor, scope: &scope };
    let limit = ApiRateLimit::new(60, 2).unwrap();
    sealform_core::admin::set_api_rate_limit(&c.store, &c.clock, audit, c.org_a, limit).await.unwrap();
    let query = AuditQuery {
        org: c.org_a,
        action: Some(Action::OrgUpdate),
        actor: None,
        target_hash: None,
        from: None,
        to: None,
        limit: 10,
    };
    let fields: Vec<_> = c
        .store
        .tenant(query.org)
        .audit_search(query)
        .await
        .unwrap()
        .iter()
        .flat_map(|row| c.auditor.open_detail(row).unwrap().fields)
        .collect();
    assert_eq!(fields, ["api_requests_per_minute:60", "api_burst:2"], "the change of setting is audited");

    // The bucket kept from the first request is clamped to the new burst of 2.
    let replies = [me(&c, &key).await, me(&c, &key).await, me(&c, &key).await];
    let statuses: Vec<_> = replies.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::OK, StatusCode::TOO_MANY_REQUESTS]);
    assert_eq!(header(&replies[0], "ratelimit"), "\"per-key\";r=1;t=1");
    assert_eq!(header(&replies[1], "ratelimit"), "\"per-key\";r=0;t=2");
    assert_eq!(header(&replies[2], "retry-after"), "1", "60 a minute refill one a second");
    assert!(replies[2].body.contains("request budget"), "{}", replies[2].body);

    c.clock.advance(Duration::seconds(1));
    assert_eq!(me(&c, &key).await.status, StatusCode::OK, "refilled after a second");
    assert_eq!(me(&c, &key).await.status, StatusCode::TOO_MANY_REQUESTS);
}

async fn guessing_a_keys_secret_from_one_address_cuts_that_key_off_there<B: Backend>() {
    let Some(c) = console::<B>("rate_limit_failures").await else { return };
    let key = key_of_a(&c).await;
    let wrong = format!("{}x", &key[..key.len() - 1]);
    for _ in 0..FAILED_AUTH_LIMIT.burst {
        assert_eq!(me(&c, &wrong).await.status, StatusCode::UNAUTHORIZED);
    }
    let blocked = me(&c, &key).await;
    assert_eq!(blocked.status, StatusCode::TOO_MANY_REQUESTS, "{}", blocked.body);
    assert_eq!(header(&blocked, "retry-after"), "6", "10 a minute: one attempt every 6 s");
    let another = key_of_a(&c).await;
    assert_eq!(me(&c, &another).await.status, StatusCode::OK, "another key from the same address is not locked out");
    c.clock.advance(Duration::seconds(6));
    assert_eq!(me(&c, &key).await.status, StatusCode::OK);
}

async fn owners_set_the_budget_and_mfa_policy_on_the_settings_page<B: Backend>() {
    let Some(c) = console::<B>("settings_page").await else { return };
    let key = key_of_a(&c).await;
    let reviewer = c.member_session("rev@a.example", sealform_core::user::Role::Reviewer).await;
    assert_eq!(c.get("/console/settings", &reviewer).await.status, StatusCode::FORBIDDEN);
    let owner = format!("__Host-sealform={}", c.login("a@a.example", PASSWORD).await.1.unwrap());
    let page = c.get("/console/settings", &owner).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("value=\"100000\""), "the default budget is shown");
    let csrf = hidden_csrf(&page.body);
    let save = |per_minute: &str, burst: &str| format!("csrf={csrf}&per_minute={per_minute}&burst={burst}");
    let unconfirmed = c.post("/console/settings", &owner, &save("60", "1")).await;
    assert_eq!(unconfirmed.status, StatusCode::SEE_OTHER);
    assert!(unconfirmed.headers["location"].to_str().unwrap().starts_with("/console/reauth"), "a step-up first");
    let reauth = format!("csrf={csrf}&password={}&next=/console/settings", urlencode(PASSWORD));
    assert_eq!(c.post("/console/reauth", &owner, &reauth).await.status, StatusCode::SEE_OTHER);
    for (per_minute, burst) in [("abc", "1"), ("0", "1"), ("60", "100000001"), ("-5", "1")] {
        let refused = c.post("/console/settings", &owner, &save(per_minute, burst)).await;
        assert_eq!(refused.status, 422, "{per_minute}/{burst}");
        assert!(refused.body.contains("from 1 to") || refused.body.contains("between 1 and"), "{}", refused.body);
    }
    let (mfa, limit) = c.store.tenant(c.org_a).organisation_settings().await.unwrap().unwrap();
    assert!(!mfa && limit == ApiRateLimit::DEFAULT, "nothing was saved");
    let saved = c.post("/console/settings", &owner, &format!("{}&mfa_required=on", save("60", "1"))).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER);
    assert_eq!(me(&c, &key).await.status, StatusCode::OK);
    assert_eq!(me(&c, &key).await.status, StatusCode::TOO_MANY_REQUESTS, "a burst of one");
    let (mfa, limit) = c.store.tenant(c.org_a).organisation_settings().await.unwrap().unwrap();
    assert!(mfa, "the MFA policy was saved too");
    assert_eq!((limit.per_minute, limit.burst), (60, 1));
}

both!(
    owners_set_the_budget_and_mfa_policy_on_the_settings_page,
    a_key_spends_its_organisations_budget_and_waits_for_the_refill,
    guessing_a_keys_secret_from_one_address_cuts_that_key_off_there
);
