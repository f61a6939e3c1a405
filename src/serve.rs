//! `sealform serve`: validate, prepare the data dir and key, open the database, listen, serve, drain, close.

use std::sync::Arc;

use anyhow::{Context as _, anyhow};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sealform_core::audit::Auditor;
use sealform_core::clock::SystemClock;
use sealform_core::keys::MasterKeys;
use sealform_core::store::Store;
use sealform_http::{AppState, ConnectionLimits, HttpSettings};
use tokio::net::TcpListener;

use crate::config::{Config, TlsFiles};
use crate::data_dir::{self, KeySource};
use crate::stores::{self, with_store};
use sealform_core::files::ObjectStore;

/// Largest public submission with its files: one maximal upload and room for the rest of the form.
const MAX_UPLOAD_BYTES: usize = sealform_core::form_model::MAX_FILE_BYTES as usize + (10 << 20);

pub(crate) async fn run(config: Config) -> anyhow::Result<()> {
    // Cheap checks first, so a bad TLS file fails before anything is created.
    let tls = config.server.tls.as_ref().map(tls_config).transpose()?;
    data_dir::ensure_private_dir(&config.data_dir)?;
    // The database next: an unreachable one fails before anything else is created.
    let store = stores::open(&config).await?;
    let (_, source) = data_dir::master_key(&config.data_dir)?;
    let masters = data_dir::master_keys(&config.data_dir)?;
    match source {
        KeySource::NewFile => {
            tracing::info!(path = %data_dir::master_key_path(&config.data_dir).display(),
            "created a new master key: back it up, without it the data cannot be decrypted")
        }
        KeySource::ExistingFile => tracing::info!("loaded the master key file"),
        KeySource::Environment => {
            tracing::info!("using the master key from {}", data_dir::MASTER_KEY_ENV)
        }
    }
    with_store!(store, |store| {
        sealform_core::keys::check_master_keys(&store, &masters).await?;
        // Creates the audit keys on first start, and proves the master key opens them.
        let auditor =
            sealform_core::audit::load_or_create_auditor(&store, &masters, time::OffsetDateTime::now_utc()).await?;
        serve_with(store, auditor, masters, &config, tls).await
    })
}

async fn serve_with<S: Store>(
    store: S,
    auditor: Arc<Auditor>,
    masters: MasterKeys,
    config: &Config,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> anyhow::Result<()> {
    let server = &config.server;
    let listener = TcpListener::bind(server.listen).await.with_context(|| format!("listening on {}", server.listen))?;
    let address = listener.local_addr()?;
    let mailer: Arc<dyn sealform_core::mail::Mailer> = Arc::new(crate::mail::LettreMailer::new(
        config.smtp_url.as_ref(),
        &config.mail_from,
        config.data_dir.join("mail"),
    )?);
    let settings = HttpSettings {
        max_body_bytes: server.max_body_bytes,
        // Uploads stream into sealed objects, so their limit is the per-question maximum plus the other answers.
        max_upload_bytes: server.max_body_bytes.max(MAX_UPLOAD_BYTES),
        request_timeout: server.request_timeout,
        body_idle_timeout: server.body_idle_timeout,
        hsts: config.clients_use_tls(),
        trusted_proxies: server.trusted_proxies.clone(),
    };
    let mut state = AppState::new(
        store.clone(),
        auditor,
        masters,
        (mailer, config.public_url.clone()),
        Arc::new(SystemClock),
        ObjectStore::new(config.data_dir.join("objects")),
    );
    state.policy = config.session_policy();
    state.public_submissions_per_minute = config.public_submissions_per_minute;
    state.jotform_query_api_key = config.jotform_query_api_key;
    let app = sealform_http::router(state, &settings);
    let limits = ConnectionLimits { header_timeout: server.header_timeout, shutdown_grace: server.shutdown_grace };
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(%address, database = store.backend_name(), "serving");
    // The one line a person (or the test harness) needs: where to point the browser.
    let shutdown = shutdown_signal()?;
    println!("{}{scheme}://{address}", LISTENING_PREFIX);
    sealform_http::serve(listener, app, tls, limits, shutdown).await?;
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Printed before the URL once the server accepts connections.
const LISTENING_PREFIX: &str = "sealform listening on ";

/// Installs the SIGTERM and SIGINT handlers now and returns the future that resolves on either. Installed before the
/// listening line is printed: a signal that arrives right after it (a supervisor, a test) must drain, not kill.
fn shutdown_signal() -> anyhow::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("listening for SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => tracing::info!("received SIGINT"),
            _ = terminate.recv() => tracing::info!("received SIGTERM"),
        }
    })
}

/// rustls with aws-lc-rs: TLS 1.3 and 1.2 only, post-quantum key exchange preferred (the provider's default order).
fn tls_config(files: &TlsFiles) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .and_then(Iterator::collect)
        .map_err(|e| anyhow!("tls_cert {}: {e}", files.cert.display()))?;
    if certs.is_empty() {
        return Err(anyhow!("tls_cert {}: no certificate found", files.cert.display()));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| anyhow!("tls_key {}: {e}", files.key.display()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| anyhow!("TLS configuration: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| anyhow!("tls_cert/tls_key: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
