//! Sign-in throughput on this machine with the chosen argon2id parameters (m=19 MiB, t=2), through the whole login
//! path (verify, session row, audit entry) on SQLite; and a 1,000-attempt password-spraying burst from one address
//! against the per-IP limit. `cargo bench -p sealform-store --bench login`.

use std::sync::Arc;
use std::time::Instant;

use sealform_core::audit::{Actor, AuditCtx, AuditScope, RequestContext, load_or_create_auditor};
use sealform_core::clock::SystemClock;
use sealform_core::keys::MasterKeys;
use sealform_core::sessions::{LoginOutcome, SessionPolicy, login};
use sealform_crypto::{MasterKey, Suite};
use sealform_store::{SqliteOptions, SqliteStore};
use secrecy::SecretString;
use time::OffsetDateTime;

const PASSWORD: &str = "a long enough benchmark password";

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(run());
}

async fn run() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("login.db"), &SqliteOptions::default()).await.unwrap();
    let masters = MasterKeys::single(Arc::new(MasterKey::generate().unwrap()));
    let auditor = load_or_create_auditor(&store, &masters, OffsetDateTime::now_utc()).await.unwrap();
    let operator = AuditScope::operator();
    let request = sealform_core::admin::OrganisationRequest {
        name: "Bench",
        suite: Suite::HybridMlKem768X25519,
        owner_email: "owner@bench.example",
        password: SecretString::from(PASSWORD.to_owned()),
    };
    let audit = AuditCtx { auditor: &auditor, scope: &operator };
    sealform_core::admin::bootstrap(&store, masters.current().as_ref(), &SystemClock, audit, request).await.unwrap();

    // Successful sign-ins from 2 concurrent clients (one per core).
    let per_client = 40;
    let started = Instant::now();
    let tasks: Vec<_> = (0..2)
        .map(|client| {
            let (store, auditor) = (store.clone(), Arc::clone(&auditor));
            tokio::spawn(async move {
                let scope = AuditScope {
                    actor: Actor::Respondent,
                    context: RequestContext { ip: Some(format!("198.51.100.{client}")), ..RequestContext::default() },
                };
                for _ in 0..per_client {
                    let audit = AuditCtx { auditor: &auditor, scope: &scope };
                    let outcome = login(
                        &store,
                        &SystemClock,
                        &SessionPolicy::default(),
                        audit,
                        "owner@bench.example",
                        SecretString::from(PASSWORD.to_owned()),
                    )
                    .await
                    .unwrap();
                    assert!(matches!(outcome, LoginOutcome::Success { .. }));
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "logins: {} in {elapsed:.2} s = {:.1} logins/s on 2 clients",
        2 * per_client,
        f64::from(2 * per_client) / elapsed
    );

    // Password spraying: 1,000 wrong guesses against different accounts from one address.
    let policy = SessionPolicy::default();
    let scope = AuditScope {
        actor: Actor::Respondent,
        context: RequestContext { ip: Some("203.0.113.66".into()), ..RequestContext::default() },
    };
    let (mut checked, mut throttled) = (0, 0);
    let started = Instant::now();
    for i in 0..1000 {
        let audit = AuditCtx { auditor: &auditor, scope: &scope };
        let email = format!("user{i}@bench.example");
        match login(&store, &SystemClock, &policy, audit, &email, SecretString::from("Winter2026!".to_owned()))
            .await
            .unwrap()
        {
            LoginOutcome::Refused => checked += 1,
            LoginOutcome::Throttled => throttled += 1,
            LoginOutcome::Success { .. } => panic!("a sprayed password signed in"),
        }
    }
    println!(
        "spraying: 1000 attempts in {:.2} s: {checked} reached a password check, {throttled} were throttled (limit {} per {} min)",
        started.elapsed().as_secs_f64(),
        policy.failures_per_ip,
        policy.ip_window.whole_minutes()
    );
}
