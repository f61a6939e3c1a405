//! The effective configuration: flags, then `SEALFORM_*` environment variables, then the TOML file, then defaults.
//! Parsed and validated once at start; every error is one line naming the setting.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use sealform_http::TrustedProxies;
use sealform_store::DatabaseUrl;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::cli::{GlobalArgs, ServeArgs};

/// Defaults, named so docs and tests can refer to them.
pub(crate) mod defaults {
    pub(crate) const DATA_DIR: &str = "./data";
    pub(crate) const LISTEN: &str = "127.0.0.1:8080";
    pub(crate) const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;
    pub(crate) const REQUEST_TIMEOUT_SECS: u64 = 60;
    pub(crate) const BODY_IDLE_TIMEOUT_SECS: u64 = 30;
    pub(crate) const HEADER_TIMEOUT_SECS: u64 = 10;
    pub(crate) const SHUTDOWN_GRACE_SECS: u64 = 30;
    pub(crate) const DB_CONNECT_TIMEOUT_SECS: u64 = 10;
    pub(crate) const LOG_LEVEL: &str = "info";
    /// Six years: HIPAA's retention period for audit documentation (45 CFR 164.316(b)(2)).
    pub(crate) const AUDIT_RETENTION_DAYS: u32 = 2190;
}

/// The TOML file. Unknown keys are refused, so a typo never silently falls back to a default.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    log_format: Option<String>,
    log_level: Option<String>,
    listen: Option<String>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    behind_tls_proxy: Option<bool>,
    trusted_proxies: Option<Vec<String>>,
    max_body_bytes: Option<usize>,
    request_timeout_secs: Option<u64>,
    body_idle_timeout_secs: Option<u64>,
    header_timeout_secs: Option<u64>,
    shutdown_grace_secs: Option<u64>,
    db_connect_timeout_secs: Option<u64>,
    audit_retention_days: Option<u32>,
    smtp_url: Option<String>,
    mail_from: Option<String>,
    public_url: Option<String>,
    password_expiry_days: Option<u32>,
    session_absolute_minutes: Option<u32>,
    public_submissions_per_minute: Option<u32>,
    jotform_query_api_key: Option<bool>,
}

/// How logs are written to stderr.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum LogFormat {
    Json,
    Pretty,
}

#[derive(Clone, Debug)]
pub(crate) struct LoggingConfig {
    pub(crate) format: LogFormat,
    pub(crate) filter: String,
}

/// Certificate and key for HTTPS.
#[derive(Clone, Debug)]
pub(crate) struct TlsFiles {
    pub(crate) cert: PathBuf,
    pub(crate) key: PathBuf,
}

#[derive(Clone, Debug)]
pub(crate) struct ServerConfig {
    pub(crate) listen: SocketAddr,
    pub(crate) tls: Option<TlsFiles>,
    pub(crate) behind_tls_proxy: bool,
    pub(crate) trusted_proxies: TrustedProxies,
    pub(crate) max_body_bytes: usize,
    pub(crate) request_timeout: Duration,
    pub(crate) body_idle_timeout: Duration,
    pub(crate) header_timeout: Duration,
    pub(crate) shutdown_grace: Duration,
}

/// Everything a command needs to know, validated.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) data_dir: PathBuf,
    pub(crate) database: DatabaseUrl,
    pub(crate) db_connect_timeout: Duration,
    /// How long the audit trail is kept. Nothing deletes audit entries; the setting exists so a shorter period
    /// cannot be configured by mistake.
    pub(crate) audit_retention_days: u32,
    /// SMTP server for e-mail; `None` writes `.eml` files into `<data dir>/mail`.
    pub(crate) smtp_url: Option<SecretString>,
    pub(crate) mail_from: String,
    /// Base of links in e-mail.
    pub(crate) public_url: String,
    /// 0: passwords never expire.
    pub(crate) password_expiry_days: u32,
    pub(crate) session_absolute_minutes: u32,
    /// Public form submissions one client address may make per minute.
    pub(crate) public_submissions_per_minute: u32,
    /// Whether the Jotform-compatible API accepts the key in the `apiKey` query parameter.
    pub(crate) jotform_query_api_key: bool,
    pub(crate) logging: LoggingConfig,
    pub(crate) server: ServerConfig,
}

impl Config {
    /// Merges the sources and validates the result.
    pub(crate) fn load(global: &GlobalArgs, serve: &ServeArgs) -> anyhow::Result<Self> {
        let file = match &global.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let data_dir = global.data_dir.clone().or(file.data_dir).unwrap_or_else(|| defaults::DATA_DIR.into());
        let database = match global.database_url.clone().or(file.database_url) {
            Some(url) => DatabaseUrl::parse(&url).map_err(|e| anyhow!("database_url: {e}"))?,
            None => DatabaseUrl::default_in(&data_dir),
        };
        let format = match global.log_format.clone().or(file.log_format).as_deref() {
            None | Some("pretty") => LogFormat::Pretty,
            Some("json") => LogFormat::Json,
            Some(other) => bail!("log_format: unknown format {other:?} (expected json or pretty)"),
        };
        let filter = global.log_level.clone().or(file.log_level).unwrap_or_else(|| defaults::LOG_LEVEL.into());

        let listen_text = serve.listen.clone().or(file.listen).unwrap_or_else(|| defaults::LISTEN.into());
        let listen: SocketAddr = listen_text
            .parse()
            .map_err(|_| anyhow!("listen: {listen_text:?} is not an address like 127.0.0.1:8080"))?;
        let tls = match (serve.tls_cert.clone().or(file.tls_cert), serve.tls_key.clone().or(file.tls_key)) {
            (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
            (None, None) => None,
            (Some(_), None) => bail!("tls_cert is set but tls_key is not: HTTPS needs both"),
            (None, Some(_)) => bail!("tls_key is set but tls_cert is not: HTTPS needs both"),
        };
        let behind_tls_proxy = serve.behind_tls_proxy.or(file.behind_tls_proxy).unwrap_or(false);
        if tls.is_none() && !behind_tls_proxy && !listen.ip().is_loopback() {
            bail!(
                "listen: plain HTTP on non-loopback address {listen} would expose PHI unencrypted; \
                 give --tls-cert and --tls-key, or --behind-tls-proxy when a TLS proxy terminates HTTPS"
            );
        }
        let proxies = if serve.trusted_proxies.is_empty() {
            file.trusted_proxies.unwrap_or_default()
        } else {
            serve.trusted_proxies.clone()
        };
        let trusted_proxies = TrustedProxies::parse(&proxies).map_err(|e| anyhow!("trusted_proxies: {e}"))?;
        let max_body_bytes = serve.max_body_bytes.or(file.max_body_bytes).unwrap_or(defaults::MAX_BODY_BYTES);
        if max_body_bytes == 0 {
            bail!("max_body_bytes must be greater than 0");
        }
        let secs = |name: &str, flag: Option<u64>, from_file: Option<u64>, default: u64| -> anyhow::Result<Duration> {
            let value = flag.or(from_file).unwrap_or(default);
            if value == 0 {
                bail!("{name} must be at least 1 second");
            }
            Ok(Duration::from_secs(value))
        };
        let server = ServerConfig {
            listen,
            tls,
            behind_tls_proxy,
            trusted_proxies,
            max_body_bytes,
            request_timeout: secs(
                "request_timeout_secs",
                serve.request_timeout_secs,
                file.request_timeout_secs,
                defaults::REQUEST_TIMEOUT_SECS,
            )?,
            body_idle_timeout: secs(
                "body_idle_timeout_secs",
                serve.body_idle_timeout_secs,
                file.body_idle_timeout_secs,
                defaults::BODY_IDLE_TIMEOUT_SECS,
            )?,
            header_timeout: secs(
                "header_timeout_secs",
                serve.header_timeout_secs,
                file.header_timeout_secs,
                defaults::HEADER_TIMEOUT_SECS,
            )?,
            shutdown_grace: secs(
                "shutdown_grace_secs",
                serve.shutdown_grace_secs,
                file.shutdown_grace_secs,
                defaults::SHUTDOWN_GRACE_SECS,
            )?,
        };
        let db_connect_timeout = secs(
            "db_connect_timeout_secs",
            serve.db_connect_timeout_secs,
            file.db_connect_timeout_secs,
            defaults::DB_CONNECT_TIMEOUT_SECS,
        )?;
        let audit_retention_days =
            serve.audit_retention_days.or(file.audit_retention_days).unwrap_or(defaults::AUDIT_RETENTION_DAYS);
        if audit_retention_days < defaults::AUDIT_RETENTION_DAYS {
            bail!(
                "audit_retention_days: {audit_retention_days} is below the required minimum of {} days (six years)",
                defaults::AUDIT_RETENTION_DAYS
            );
        }
        let smtp_url = global.smtp_url.clone().or(file.smtp_url).map(SecretString::from);
        let mail_from =
            global.mail_from.clone().or(file.mail_from).unwrap_or_else(|| "Sealform <sealform@localhost>".into());
        let public_url = global.public_url.clone().or(file.public_url).unwrap_or_else(|| {
            let scheme = if server.tls.is_some() { "https" } else { "http" };
            format!("{scheme}://{}", server.listen)
        });
        let password_expiry_days = serve.password_expiry_days.or(file.password_expiry_days).unwrap_or(90);
        let session_absolute_minutes = serve.session_absolute_minutes.or(file.session_absolute_minutes).unwrap_or(720);
        let public_submissions_per_minute = serve
            .public_submissions_per_minute
            .or(file.public_submissions_per_minute)
            .unwrap_or(sealform_http::DEFAULT_PUBLIC_SUBMISSIONS_PER_MINUTE);
        if public_submissions_per_minute == 0 {
            bail!("public_submissions_per_minute must be at least 1");
        }
        // On by default: Jotform's clients and connectors send the key this way. The request log never records query
        // strings, so the key does not land there; operators whose proxies log full URLs turn it off.
        let jotform_query_api_key = serve.jotform_query_api_key.or(file.jotform_query_api_key).unwrap_or(true);
        if !(30..=1440).contains(&session_absolute_minutes) {
            bail!("session_absolute_minutes: {session_absolute_minutes} is outside 30 to 1440");
        }
        if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
            bail!("public_url: {public_url:?} must start with http:// or https://");
        }
        Ok(Self {
            data_dir,
            database,
            db_connect_timeout,
            audit_retention_days,
            smtp_url,
            mail_from,
            public_url,
            password_expiry_days,
            session_absolute_minutes,
            public_submissions_per_minute,
            jotform_query_api_key,
            logging: LoggingConfig { format, filter },
            server,
        })
    }

    /// The effective configuration as TOML, with the database password redacted. The master key is never shown,
    /// only where it comes from.
    pub(crate) fn show(&self) -> anyhow::Result<String> {
        #[derive(Serialize)]
        struct Shown<'a> {
            data_dir: &'a Path,
            database_url: String,
            log_format: LogFormat,
            log_level: &'a str,
            listen: String,
            #[serde(skip_serializing_if = "Option::is_none")]
            tls_cert: Option<&'a Path>,
            #[serde(skip_serializing_if = "Option::is_none")]
            tls_key: Option<&'a Path>,
            behind_tls_proxy: bool,
            trusted_proxies: Vec<String>,
            max_body_bytes: usize,
            request_timeout_secs: u64,
            body_idle_timeout_secs: u64,
            header_timeout_secs: u64,
            shutdown_grace_secs: u64,
            db_connect_timeout_secs: u64,
            audit_retention_days: u32,
            mail_from: &'a str,
            public_url: &'a str,
            password_expiry_days: u32,
            session_absolute_minutes: u32,
            public_submissions_per_minute: u32,
            jotform_query_api_key: bool,
            #[serde(skip_serializing_if = "Option::is_none")]
            smtp_url: Option<&'static str>,
        }
        let s = &self.server;
        let shown = Shown {
            data_dir: &self.data_dir,
            database_url: self.database.redacted(),
            log_format: self.logging.format,
            log_level: &self.logging.filter,
            listen: s.listen.to_string(),
            tls_cert: s.tls.as_ref().map(|t| t.cert.as_path()),
            tls_key: s.tls.as_ref().map(|t| t.key.as_path()),
            behind_tls_proxy: s.behind_tls_proxy,
            trusted_proxies: s.trusted_proxies.to_strings(),
            max_body_bytes: s.max_body_bytes,
            request_timeout_secs: s.request_timeout.as_secs(),
            body_idle_timeout_secs: s.body_idle_timeout.as_secs(),
            header_timeout_secs: s.header_timeout.as_secs(),
            shutdown_grace_secs: s.shutdown_grace.as_secs(),
            db_connect_timeout_secs: self.db_connect_timeout.as_secs(),
            audit_retention_days: self.audit_retention_days,
            mail_from: &self.mail_from,
            public_url: &self.public_url,
            password_expiry_days: self.password_expiry_days,
            session_absolute_minutes: self.session_absolute_minutes,
            public_submissions_per_minute: self.public_submissions_per_minute,
            jotform_query_api_key: self.jotform_query_api_key,
            smtp_url: self.smtp_url.as_ref().map(|_| "[redacted]"),
        };
        let master_key = if std::env::var_os(crate::data_dir::MASTER_KEY_ENV).is_some() {
            format!("{} ([redacted])", crate::data_dir::MASTER_KEY_ENV)
        } else {
            crate::data_dir::master_key_path(&self.data_dir).display().to_string()
        };
        Ok(format!("{}# master key: {master_key}\n", toml::to_string(&shown)?))
    }

    /// The account policy: the defaults of DESIGN.md §7 with the configured expiry and absolute timeout.
    pub(crate) fn session_policy(&self) -> sealform_core::sessions::SessionPolicy {
        sealform_core::sessions::SessionPolicy {
            password_expiry: (self.password_expiry_days > 0)
                .then(|| time::Duration::days(i64::from(self.password_expiry_days))),
            absolute_timeout: time::Duration::minutes(i64::from(self.session_absolute_minutes)),
            ..sealform_core::sessions::SessionPolicy::default()
        }
    }

    /// Whether clients reach us over TLS, so HSTS must be sent.
    pub(crate) fn clients_use_tls(&self) -> bool {
        self.server.tls.is_some() || self.server.behind_tls_proxy
    }
}

fn read_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading config file {}", path.display()))?;
    toml::from_str(&text).map_err(|err| {
        let line = err.span().map(|span| text[..span.start].matches('\n').count() + 1);
        let at = line.map(|l| format!(" (line {l})")).unwrap_or_default();
        anyhow!("config file {}{at}: {}", path.display(), err.message())
    })
}
