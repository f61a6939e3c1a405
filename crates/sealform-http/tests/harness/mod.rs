//! The application in process over a real store, with a manual clock and a captured mailbox: what the console and
//! page tests share. Each test binary includes it with `mod harness;`.
#![allow(dead_code, unused_imports)]

pub mod access;
pub mod api;
pub mod forms;

pub use std::future::Future;
pub use std::pin::Pin;
pub use std::sync::Arc;
pub use std::time::Duration as StdDuration;

pub use axum::Router;
pub use axum::body::Body;
pub use http::{Request, StatusCode};
pub use http_body_util::BodyExt as _;
pub use sealform_core::admin::{OrganisationRequest, bootstrap, create_organisation};
pub use sealform_core::audit::{AuditCtx, load_or_create_auditor};
pub use sealform_core::clock::{Clock as _, ManualClock};
pub use sealform_core::keys::MasterKeys;
pub use sealform_core::store::{Store, UserStore as _};
pub use sealform_crypto::{MasterKey, Suite};
pub use sealform_http::{AppState, HttpSettings, router};
pub use sealform_store::{PgStore, SqliteOptions, SqliteStore};
pub use secrecy::SecretString;
pub use time::{Duration, OffsetDateTime};
pub use tower::ServiceExt as _;

pub const PASSWORD: &str = "a long enough password";

pub struct Console<S: Store> {
    pub app: Router,
    pub clock: ManualClock,
    pub store: S,
    pub auditor: Arc<sealform_core::audit::Auditor>,
    pub org_a: sealform_core::ids::OrgId,
    pub mailbox: Arc<Mailbox>,
    pub _dir: Option<tempfile::TempDir>,
    /// The object directory of sealed files.
    pub objects: tempfile::TempDir,
    /// The master keys (to create forms and open submissions in tests).
    pub masters: MasterKeys,
}

/// Captures outgoing mail.
#[derive(Default)]
pub struct Mailbox(pub std::sync::Mutex<Vec<sealform_core::mail::Mail>>);

impl sealform_core::mail::Mailer for Mailbox {
    fn send(
        &self,
        mail: sealform_core::mail::Mail,
    ) -> Pin<Box<dyn Future<Output = Result<(), sealform_core::DomainError>> + Send + '_>> {
        self.0.lock().unwrap().push(mail);
        Box::pin(async { Ok(()) })
    }
}

/// A store of each backend for one test; `None` when PostgreSQL is unavailable here (a notice was printed).
pub trait Backend {
    type S: Store;
    async fn open(test: &str) -> Option<(Self::S, Option<tempfile::TempDir>)>;
}

pub struct Sqlite;
impl Backend for Sqlite {
    type S = SqliteStore;
    async fn open(_test: &str) -> Option<(SqliteStore, Option<tempfile::TempDir>)> {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("console.db"), &SqliteOptions::default()).await.unwrap();
        Some((store, Some(dir)))
    }
}

pub struct Postgres;
impl Backend for Postgres {
    type S = PgStore;
    async fn open(test: &str) -> Option<(PgStore, Option<tempfile::TempDir>)> {
        let db = sealform_testkit::postgres::fresh_database(test)?;
        Some((PgStore::open(&db.url, 8, StdDuration::from_secs(30)).await.unwrap(), None))
    }
}

pub async fn console<B: Backend>(test: &str) -> Option<Console<B::S>> {
    let (store, dir) = B::open(test).await?;
    let clock = ManualClock::new(OffsetDateTime::now_utc());
    let masters = MasterKeys::single(Arc::new(MasterKey::generate().unwrap()));
    let auditor = load_or_create_auditor(&store, &masters, clock.now()).await.unwrap();
    let scope = sealform_core::audit::AuditScope::operator();
    let audit = AuditCtx { auditor: &auditor, scope: &scope };
    let mut org_a = None;
    for (i, (org, email)) in [("Clinic A", "a@a.example"), ("Clinic B", "b@b.example")].into_iter().enumerate() {
        let request = OrganisationRequest {
            name: org,
            suite: Suite::HybridMlKem768X25519,
            owner_email: email,
            password: SecretString::from(PASSWORD.to_owned()),
        };
        if i == 0 {
            org_a = Some(bootstrap(&store, masters.current().as_ref(), &clock, audit, request).await.unwrap().org_id);
        } else {
            create_organisation(&store, masters.current().as_ref(), &clock, audit, request).await.unwrap();
        }
    }
    let settings = HttpSettings {
        max_body_bytes: 1 << 20,
        max_upload_bytes: 8 << 20,
        request_timeout: StdDuration::from_secs(30),
        body_idle_timeout: StdDuration::from_secs(30),
        hsts: false,
        trusted_proxies: sealform_http::TrustedProxies::default(),
    };
    let mailbox = Arc::new(Mailbox::default());
    let objects = tempfile::tempdir().unwrap();
    let mailer: Arc<dyn sealform_core::mail::Mailer> = Arc::clone(&mailbox) as _;
    let state = AppState::new(
        store.clone(),
        Arc::clone(&auditor),
        masters.clone(),
        (mailer, "https://clinic.example".to_owned()),
        Arc::new(clock.clone()),
        sealform_core::files::ObjectStore::new(objects.path()),
    );
    let app = router(state, &settings);
    Some(Console { app, clock, store, auditor, org_a: org_a.unwrap(), mailbox, _dir: dir, objects, masters })
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: http::HeaderMap,
    pub body: String,
}

impl<S: Store> Console<S> {
    pub async fn send(&self, mut request: Request<Body>) -> Reply {
        // As the server loop does: every request knows its client's address.
        let client: std::net::SocketAddr = "203.0.113.9:50000".parse().unwrap();
        request.extensions_mut().insert(axum::extract::ConnectInfo(client));
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        // Lossy, so binary bodies (images, downloads) can be checked too.
        let body = String::from_utf8_lossy(&response.into_body().collect().await.unwrap().to_bytes()).into_owned();
        Reply { status, headers, body }
    }

    pub async fn get(&self, path: &str, cookie: &str) -> Reply {
        self.send(Request::get(path).header("cookie", cookie).body(Body::empty()).unwrap()).await
    }

    pub async fn post(&self, path: &str, cookie: &str, form: &str) -> Reply {
        let request = Request::post(path)
            .header("cookie", cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(form.to_owned()))
            .unwrap();
        self.send(request).await
    }

    /// Fetches the login form and submits it; returns the reply and the session cookie if one was set.
    pub async fn login(&self, email: &str, password: &str) -> (Reply, Option<String>) {
        let page = self.get("/login", "").await;
        let login_cookie = set_cookie(&page, "__Host-sealform-login").unwrap();
        let csrf = hidden_csrf(&page.body);
        let form = format!("email={}&password={}&csrf={csrf}", urlencode(email), urlencode(password));
        let reply = self.post("/login", &format!("__Host-sealform-login={login_cookie}"), &form).await;
        let session = set_cookie(&reply, "__Host-sealform").filter(|v| !v.is_empty());
        (reply, session)
    }
}

pub fn set_cookie(reply: &Reply, name: &str) -> Option<String> {
    reply
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix(&format!("{name}=")).map(|rest| rest.split(';').next().unwrap_or("").to_owned()))
}

pub fn hidden_csrf(html: &str) -> String {
    let start = html.find("name=\"csrf\" value=\"").expect("csrf field") + "name=\"csrf\" value=\"".len();
    html[start..].split('"').next().unwrap().to_owned()
}

pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }
        })
        .collect()
}

/// Runs each named generic test once per backend: `mod sqlite` and `mod postgres`.
macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name::<super::Sqlite>().await;
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name::<super::Postgres>().await;
            })*
        }
    };
}
