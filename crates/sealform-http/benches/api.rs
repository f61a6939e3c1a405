//! The two APIs side by side (issue #10): a submission POST and a list GET through the Jotform-compatible API beside
//! the same through the native API, in one run, on one SQLite store. `cargo bench -p sealform-http --bench api`.
//!
//! Requests go through the whole router (middleware, key check and budget, policy, validation, sealing, audit) with
//! `tower::ServiceExt::oneshot`, so no socket noise is measured; both APIs pay the same for it. Each variant runs for
//! a fixed number of requests from `API_BENCH_CLIENTS` (8) concurrent tasks, in rounds that alternate the APIs
//! (native, compatible, native, compatible …) so drift in the machine's load falls on both; the table gives the
//! median round per variant and the ratio.
//!
//! Environment: `API_BENCH_REQUESTS` (1500 a round), `API_BENCH_ROUNDS` (3), `API_BENCH_CLIENTS` (8).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use sealform_core::DomainError;
use sealform_core::admin::{OrganisationRequest, bootstrap};
use sealform_core::api_keys::Scope;
use sealform_core::audit::{AuditCtx, AuditScope, load_or_create_auditor};
use sealform_core::clock::SystemClock;
use sealform_core::examples::patient_intake;
use sealform_core::forms::{change_form, create_form};
use sealform_core::ids::FormId;
use sealform_core::keys::MasterKeys;
use sealform_core::mail::{Mail, Mailer};
use sealform_core::submission::{FormChange, FormStatus};
use sealform_crypto::{MasterKey, Suite};
use sealform_http::{AppState, HttpSettings, router};
use sealform_store::{SqliteOptions, SqliteStore};
use secrecy::SecretString;
use tower::ServiceExt as _;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Mail goes nowhere: nothing in these paths sends any.
struct NoMail;

impl Mailer for NoMail {
    fn send(&self, _mail: Mail) -> Pin<Box<dyn Future<Output = Result<(), DomainError>> + Send + '_>> {
        Box::pin(async { Ok(()) })
    }
}

/// The answers of a patient intake, as each API takes them.
const ANSWERS: [(&str, &str); 6] = [
    ("2_first", "Ada"),
    ("2_last", "Lovelace"),
    ("3", "1980-01-02"),
    ("4", "ada@example.org"),
    ("6", "Knee pain after a fall on the stairs; worse when climbing, better with rest."),
    ("7", "No"),
];

struct Bench {
    app: Router,
    key: String,
    form: FormId,
    /// One submission, for the single reads.
    submission: String,
    _dir: tempfile::TempDir,
    _objects: tempfile::TempDir,
}

async fn setup() -> Bench {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("bench.db"), &SqliteOptions::default()).await.unwrap();
    let clock = SystemClock;
    let masters = MasterKeys::single(Arc::new(MasterKey::generate().unwrap()));
    let auditor = load_or_create_auditor(&store, &masters, time::OffsetDateTime::now_utc()).await.unwrap();
    let scope = AuditScope::operator();
    let audit = AuditCtx { auditor: &auditor, scope: &scope };
    let request = OrganisationRequest {
        name: "Bench Clinic",
        suite: Suite::HybridMlKem768X25519,
        owner_email: "owner@bench.example",
        password: SecretString::from("a long enough bench password".to_owned()),
    };
    let org = bootstrap(&store, masters.current().as_ref(), &clock, audit, request).await.unwrap().org_id;
    let (key, _) = sealform_core::api_keys::create(
        &store,
        &clock,
        audit,
        org,
        "owner@bench.example",
        "bench",
        Scope::ALL.to_vec(),
        None,
        None,
    )
    .await
    .unwrap();
    let now = time::OffsetDateTime::now_utc();
    let definition = patient_intake().to_json();
    let form = create_form(&store, masters.current().as_ref(), audit, org, "Intake", definition, now).await.unwrap();
    let publish = FormChange { status: Some(FormStatus::Published), ..FormChange::default() };
    change_form(&store, audit, org, form, publish, now).await.unwrap();
    let objects = tempfile::tempdir().unwrap();
    let state = AppState::new(
        store,
        auditor,
        masters,
        (Arc::new(NoMail), "https://bench.example".to_owned()),
        Arc::new(clock),
        sealform_core::files::ObjectStore::new(objects.path()),
    );
    let settings = HttpSettings {
        max_body_bytes: 1 << 20,
        max_upload_bytes: 8 << 20,
        request_timeout: Duration::from_secs(60),
        body_idle_timeout: Duration::from_secs(60),
        hsts: false,
        trusted_proxies: sealform_http::TrustedProxies::default(),
    };
    let mut bench = Bench {
        app: router(state, &settings),
        key: key.as_str().to_owned(),
        form,
        submission: String::new(),
        _dir: dir,
        _objects: objects,
    };
    let (status, body) = send(&bench.app, native_post_request(&bench)).await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let created: serde_json::Value = serde_json::from_str(&body).unwrap();
    bench.submission = created["id"].as_str().expect("the new submission's id").to_owned();
    bench
}

fn native_post_request(b: &Bench) -> Request<Body> {
    let answers: serde_json::Map<String, serde_json::Value> =
        ANSWERS.iter().map(|(k, v)| ((*k).to_owned(), serde_json::Value::from(*v))).collect();
    let body = serde_json::json!({ "answers": answers }).to_string();
    Request::post(format!("/api/v1/forms/{}/submissions", b.form))
        .header("authorization", format!("Bearer {}", b.key))
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap()
}

/// One API call of a variant.
type MakeRequest = Arc<dyn Fn(&Bench) -> Request<Body> + Send + Sync>;

struct Variant {
    name: &'static str,
    make: MakeRequest,
    expect: StatusCode,
}

fn variants() -> Vec<(Variant, Variant)> {
    let native_post = Variant {
        name: "native POST /api/v1/forms/{id}/submissions",
        expect: StatusCode::CREATED,
        make: Arc::new(native_post_request),
    };
    let compatible_post = Variant {
        name: "Jotform POST /jotform/form/{id}/submissions",
        expect: StatusCode::OK,
        make: Arc::new(|b: &Bench| {
            let body: String = ANSWERS
                .iter()
                .map(|(k, v)| format!("submission%5B{k}%5D={}", urlencoding(v)))
                .collect::<Vec<_>>()
                .join("&");
            Request::post(format!("/jotform/form/{}/submissions", b.form))
                .header("apikey", &b.key)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::from(body))
                .unwrap()
        }),
    };
    let native_list = Variant {
        name: "native GET /api/v1/forms/{id}/submissions (20)",
        expect: StatusCode::OK,
        make: Arc::new(|b: &Bench| {
            Request::get(format!("/api/v1/forms/{}/submissions?limit=20", b.form))
                .header("authorization", format!("Bearer {}", b.key))
                .body(Body::empty())
                .unwrap()
        }),
    };
    let compatible_list = Variant {
        name: "Jotform GET /jotform/form/{id}/submissions (20)",
        expect: StatusCode::OK,
        make: Arc::new(|b: &Bench| {
            Request::get(format!("/jotform/form/{}/submissions?limit=20", b.form))
                .header("apikey", &b.key)
                .body(Body::empty())
                .unwrap()
        }),
    };
    let native_one = Variant {
        name: "native GET /api/v1/submissions/{id}",
        expect: StatusCode::OK,
        make: Arc::new(|b: &Bench| {
            Request::get(format!("/api/v1/submissions/{}", b.submission))
                .header("authorization", format!("Bearer {}", b.key))
                .body(Body::empty())
                .unwrap()
        }),
    };
    let compatible_one = Variant {
        name: "Jotform GET /jotform/submission/{id}",
        expect: StatusCode::OK,
        make: Arc::new(|b: &Bench| {
            Request::get(format!("/jotform/submission/{}", b.submission))
                .header("apikey", &b.key)
                .body(Body::empty())
                .unwrap()
        }),
    };
    vec![(native_post, compatible_post), (native_list, compatible_list), (native_one, compatible_one)]
}

fn urlencoding(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            b' ' => "+".to_owned(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

async fn send(app: &Router, request: Request<Body>) -> Result<(StatusCode, String), Infallible> {
    let mut request = request;
    let client: std::net::SocketAddr = "127.0.0.1:50000".parse().unwrap();
    request.extensions_mut().insert(axum::extract::ConnectInfo(client));
    let response = app.clone().oneshot(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

struct Round {
    per_second: f64,
    p50: Duration,
    p99: Duration,
}

async fn round(bench: &Arc<Bench>, variant: &Variant, requests: usize, clients: usize) -> Round {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (bench, next, make, expect) =
            (Arc::clone(bench), Arc::clone(&next), Arc::clone(&variant.make), variant.expect);
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < requests {
                let request = make(&bench);
                let at = Instant::now();
                let (status, body) = send(&bench.app, request).await.unwrap();
                latencies.push(at.elapsed());
                assert_eq!(status, expect, "{body}");
            }
            latencies
        }));
    }
    let mut latencies: Vec<Duration> = Vec::with_capacity(requests);
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q).round() as usize];
    Round { per_second: latencies.len() as f64 / elapsed.as_secs_f64(), p50: at(0.5), p99: at(0.99) }
}

fn median(mut rounds: Vec<Round>) -> Round {
    rounds.sort_by(|a, b| a.per_second.total_cmp(&b.per_second));
    rounds.swap_remove(rounds.len() / 2)
}

fn main() {
    let requests: usize = env_or("API_BENCH_REQUESTS", 1500);
    let rounds: usize = env_or("API_BENCH_ROUNDS", 3);
    let clients: usize = env_or("API_BENCH_CLIENTS", 8);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let bench = Arc::new(setup().await);
        println!("{requests} requests a round, {rounds} rounds, {clients} concurrent clients, SQLite, oneshot router");
        println!("| operation | native | compatible | compatible / native |");
        println!("|---|---|---|---|");
        for (native, compatible) in variants() {
            // Warm up both (and give the list something to list).
            round(&bench, &native, requests / 10, clients).await;
            round(&bench, &compatible, requests / 10, clients).await;
            let (mut a, mut b) = (Vec::new(), Vec::new());
            for _ in 0..rounds {
                a.push(round(&bench, &native, requests, clients).await);
                b.push(round(&bench, &compatible, requests, clients).await);
            }
            let (a, b) = (median(a), median(b));
            println!(
                "| {} vs {} | {:.0}/s (p50 {:.2} ms, p99 {:.2} ms) | {:.0}/s (p50 {:.2} ms, p99 {:.2} ms) | {:.0}% |",
                native.name,
                compatible.name,
                a.per_second,
                a.p50.as_secs_f64() * 1e3,
                a.p99.as_secs_f64() * 1e3,
                b.per_second,
                b.p50.as_secs_f64() * 1e3,
                b.p99.as_secs_f64() * 1e3,
                100.0 * b.per_second / a.per_second,
            );
        }
    });
}
