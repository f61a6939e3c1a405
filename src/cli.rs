//! The command line (DESIGN.md §10). Every flag falls back to a `SEALFORM_*` environment variable; both override
//! the TOML file given with `--config`.
//!
//! The doc comments below are clap's `--help` text, written for a terminal: `<data dir>` is a placeholder there,
//! not an HTML tag, and `[default: …]` is not a link.
#![allow(rustdoc::invalid_html_tags, rustdoc::broken_intra_doc_links)]

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Sealform: self-hostable forms for health data.
#[derive(Debug, Parser)]
#[command(name = "sealform", version, about)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: GlobalArgs,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Options every command understands.
#[derive(Debug, Default, Args)]
pub(crate) struct GlobalArgs {
    /// TOML configuration file; flags and environment variables override it.
    #[arg(long, global = true, env = "SEALFORM_CONFIG", value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Directory for the database, keys and files [default: ./data].
    #[arg(long, global = true, env = "SEALFORM_DATA_DIR", value_name = "DIR")]
    pub(crate) data_dir: Option<PathBuf>,
    /// sqlite://PATH or postgres://USER@HOST/DB [default: SQLite file in the data dir].
    #[arg(long, global = true, env = "SEALFORM_DATABASE_URL", hide_env_values = true, value_name = "URL")]
    pub(crate) database_url: Option<String>,
    /// Log format: json or pretty [default: pretty].
    #[arg(long, global = true, env = "SEALFORM_LOG_FORMAT", value_name = "FORMAT")]
    pub(crate) log_format: Option<String>,
    /// Log filter, e.g. info or sealform=debug,info [default: info].
    #[arg(long, global = true, env = "SEALFORM_LOG", value_name = "FILTER")]
    pub(crate) log_level: Option<String>,
    /// SMTP server for e-mail, e.g. smtps://user:pass@mail.example.org [default: .eml files in <data dir>/mail].
    #[arg(long, global = true, env = "SEALFORM_SMTP_URL", hide_env_values = true, value_name = "URL")]
    pub(crate) smtp_url: Option<String>,
    /// Sender of e-mail [default: Sealform <sealform@localhost>].
    #[arg(long, global = true, env = "SEALFORM_MAIL_FROM", value_name = "ADDRESS")]
    pub(crate) mail_from: Option<String>,
    /// The address users reach Sealform at, for links in e-mail [default: http://<listen address>].
    #[arg(long, global = true, env = "SEALFORM_PUBLIC_URL", value_name = "URL")]
    pub(crate) public_url: Option<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Create a demo organisation with example forms and submissions (once), print how to sign in, and serve.
    Demo(ServeArgs),
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Operator commands; they work while the server runs.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Organisation and master keys: status and rotation.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// API keys for integrations: create (printed once) and revoke.
    #[command(subcommand, name = "api-key")]
    ApiKey(ApiKeyCommand),
    /// The audit trail: verify, export, the checkpoint public key.
    #[command(subcommand)]
    Audit(AuditCommand),
}

#[derive(Debug, Subcommand)]
pub(crate) enum ApiKeyCommand {
    /// Create a key for a user; prints only the key, which is never shown again.
    Create {
        /// The user the key acts for.
        #[arg(long)]
        email: String,
        /// A name to recognise the key by.
        #[arg(long)]
        name: String,
        /// read, submit, write, export, admin (repeatable or comma-separated).
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        /// Restrict the key to one form.
        #[arg(long, value_name = "FORM_ID")]
        form: Option<String>,
        /// The organisation (name or id), when the user belongs to several.
        #[arg(long)]
        org: Option<String>,
        /// Expire the key after this many days.
        #[arg(long, value_name = "DAYS")]
        expires_days: Option<u32>,
    },
    /// Revoke a key by its visible prefix (sf_…).
    Revoke {
        /// The organisation (name or id).
        #[arg(long)]
        org: String,
        /// The key's prefix.
        #[arg(long)]
        prefix: String,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum AuditCommand {
    /// Walk the chain and its signed checkpoints: prints `ok: N entries`, or exits non-zero naming the first bad
    /// entry and what is wrong with it.
    Verify {
        /// Start at this sequence number, trusting the entry before it.
        #[arg(long, value_name = "SEQ")]
        from: Option<i64>,
    },
    /// Print entries as JSON lines with their details opened, for an auditor. The export is itself audited.
    Export {
        /// Only entries at or after this time (RFC 3339, e.g. 2026-01-01T00:00:00Z).
        #[arg(long, value_name = "TIME")]
        from: Option<String>,
        /// Only entries before this time (RFC 3339).
        #[arg(long, value_name = "TIME")]
        to: Option<String>,
        /// Only this action, e.g. submission.read.
        #[arg(long)]
        action: Option<String>,
        /// Only this actor (user or API key id).
        #[arg(long, value_name = "ID")]
        actor: Option<String>,
        /// Only entries that touched this record id: a submission's access history ("who has seen this record").
        #[arg(long, value_name = "ID")]
        target: Option<String>,
    },
    /// Print the Ed25519 public key (hex) that verifies audit checkpoints, for a third party.
    PublicKey,
}

/// The envelope suite an organisation's data keys are wrapped with.
#[derive(Clone, Copy, Debug, Default, clap::ValueEnum)]
pub(crate) enum KeySuite {
    /// Hybrid post-quantum ML-KEM-768 + X25519 (X-Wing combiner): the fast default.
    #[default]
    Hybrid,
    /// RSA-OAEP-3072-SHA256, for compatibility with classic designs.
    Rsa,
}

impl From<KeySuite> for sealform_crypto::Suite {
    fn from(suite: KeySuite) -> Self {
        match suite {
            KeySuite::Hybrid => Self::HybridMlKem768X25519,
            KeySuite::Rsa => Self::RsaOaep3072Sha256,
        }
    }
}

#[derive(Debug, Subcommand)]
pub(crate) enum KeysCommand {
    /// Rotate an organisation's key: new writes use the new key at once, existing data keys are re-wrapped (never
    /// the data), then the old key is retired. Running it again resumes an interrupted rotation.
    Rotate {
        /// Organisation name or id.
        #[arg(long)]
        org: String,
        /// Suite of the new key [default: the current key's].
        #[arg(long, value_enum)]
        suite: Option<KeySuite>,
    },
    /// Show an organisation's keys and how many data keys each wraps.
    Status {
        /// Organisation name or id.
        #[arg(long)]
        org: String,
    },
    /// Replace the master key: re-wraps every organisation key, then replaces master.key. Restart servers afterwards.
    RotateMaster,
}

/// Server options.
#[derive(Debug, Default, Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "SEALFORM_LISTEN", value_name = "ADDR")]
    pub(crate) listen: Option<String>,
    /// PEM certificate chain; serve HTTPS (with --tls-key).
    #[arg(long, env = "SEALFORM_TLS_CERT", value_name = "FILE")]
    pub(crate) tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, env = "SEALFORM_TLS_KEY", value_name = "FILE")]
    pub(crate) tls_key: Option<PathBuf>,
    /// Plain HTTP on a non-loopback address is allowed: a TLS proxy sits in front.
    #[arg(long, env = "SEALFORM_BEHIND_TLS_PROXY", num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub(crate) behind_tls_proxy: Option<bool>,
    /// Reverse proxies (addresses or ranges like 10.0.0.0/8, comma-separated or repeated) whose X-Forwarded-For
    /// names the client, for the audit trail and per-address limits; from anyone else the header is ignored.
    #[arg(long = "trusted-proxy", env = "SEALFORM_TRUSTED_PROXIES", value_delimiter = ',', value_name = "ADDR|RANGE")]
    pub(crate) trusted_proxies: Vec<String>,
    /// Largest request body in bytes [default: 10485760].
    #[arg(long, env = "SEALFORM_MAX_BODY_BYTES", value_name = "BYTES")]
    pub(crate) max_body_bytes: Option<usize>,
    /// Seconds a request may take end to end [default: 60].
    #[arg(long, env = "SEALFORM_REQUEST_TIMEOUT_SECS", value_name = "SECS")]
    pub(crate) request_timeout_secs: Option<u64>,
    /// Seconds a client may pause while sending a body [default: 30].
    #[arg(long, env = "SEALFORM_BODY_IDLE_TIMEOUT_SECS", value_name = "SECS")]
    pub(crate) body_idle_timeout_secs: Option<u64>,
    /// Seconds a client has to send the request head and finish the TLS handshake [default: 10].
    #[arg(long, env = "SEALFORM_HEADER_TIMEOUT_SECS", value_name = "SECS")]
    pub(crate) header_timeout_secs: Option<u64>,
    /// Seconds shutdown waits for in-flight requests [default: 30].
    #[arg(long, env = "SEALFORM_SHUTDOWN_GRACE_SECS", value_name = "SECS")]
    pub(crate) shutdown_grace_secs: Option<u64>,
    /// Days after which a password must be changed; 0 turns expiry off [default: 90].
    #[arg(long, env = "SEALFORM_PASSWORD_EXPIRY_DAYS", value_name = "DAYS")]
    pub(crate) password_expiry_days: Option<u32>,
    /// Minutes after which a session ends however active; 30 to 1440 [default: 720].
    #[arg(long, env = "SEALFORM_SESSION_ABSOLUTE_MINUTES", value_name = "MINUTES")]
    pub(crate) session_absolute_minutes: Option<u32>,
    /// Public form submissions one client address may make per minute [default: 120].
    #[arg(long, env = "SEALFORM_PUBLIC_SUBMISSIONS_PER_MINUTE", value_name = "N")]
    pub(crate) public_submissions_per_minute: Option<u32>,
    /// Accept the Jotform-compatible API's key in the `apiKey` query parameter, as Jotform does; `false` allows
    /// only the `APIKEY` header [default: true].
    #[arg(long, env = "SEALFORM_JOTFORM_QUERY_API_KEY", value_name = "BOOL")]
    pub(crate) jotform_query_api_key: Option<bool>,
    /// Days the audit trail is kept; at least 2190 (six years) [default: 2190].
    #[arg(long, env = "SEALFORM_AUDIT_RETENTION_DAYS", value_name = "DAYS")]
    pub(crate) audit_retention_days: Option<u32>,
    /// Seconds to wait for the database at start [default: 10].
    #[arg(long, env = "SEALFORM_DB_CONNECT_TIMEOUT_SECS", value_name = "SECS")]
    pub(crate) db_connect_timeout_secs: Option<u64>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ConfigCommand {
    /// Print the effective configuration (TOML), secrets redacted.
    Show(ServeArgs),
}

#[derive(Debug, Subcommand)]
pub(crate) enum AdminCommand {
    /// Create the first organisation and its owner.
    Bootstrap {
        /// Organisation name.
        #[arg(long)]
        org: String,
        /// Envelope suite for the organisation's data keys.
        #[arg(long, value_enum, default_value_t)]
        key_suite: KeySuite,
        /// Owner's e-mail (their login).
        #[arg(long)]
        email: String,
        /// Read the owner's password from standard input (required: passwords never go in arguments).
        #[arg(long)]
        password_stdin: bool,
    },
    /// Manage organisations.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
}

#[derive(Debug, Subcommand)]
pub(crate) enum UserCommand {
    /// Add a user to an organisation; they can log in at once.
    Add {
        /// Organisation name or id.
        #[arg(long)]
        org: String,
        /// The user's e-mail (their login).
        #[arg(long)]
        email: String,
        /// owner, admin, form-manager, reviewer, approver or auditor.
        #[arg(long)]
        role: String,
        /// Read the password from standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Invite someone by e-mail: a single-use link, valid 7 days, to set a password and join with a role.
    Invite {
        /// Organisation name or id.
        #[arg(long)]
        org: String,
        /// The invitee's e-mail.
        #[arg(long)]
        email: String,
        /// owner, admin, form-manager, reviewer, approver or auditor.
        #[arg(long)]
        role: String,
    },
    /// Deactivate a user: no more logins, and their sessions end at once.
    Deactivate {
        /// The user's e-mail.
        #[arg(long)]
        email: String,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum OrgCommand {
    /// Add another organisation with its owner (an existing login becomes owner if its password is given).
    Create {
        /// Organisation name.
        #[arg(long)]
        name: String,
        /// Envelope suite for the organisation's data keys.
        #[arg(long, value_enum, default_value_t)]
        key_suite: KeySuite,
        /// Owner's e-mail (their login).
        #[arg(long)]
        owner_email: String,
        /// Read the owner's password from standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List organisations.
    List,
    /// Require members to use two-step sign-in (or stop requiring it).
    RequireMfa {
        /// Organisation name or id.
        #[arg(long)]
        name: String,
        /// true or false.
        #[arg(long, action = clap::ArgAction::Set)]
        required: bool,
    },
    /// Set the request budget of each of the organisation's API keys (default 100000 a minute, burst 100000).
    ApiLimit {
        /// Organisation name or id.
        #[arg(long)]
        name: String,
        /// Requests a minute each key may make, sustained.
        #[arg(long)]
        per_minute: u32,
        /// Requests a key may make at once after a quiet spell (defaults to --per-minute).
        #[arg(long)]
        burst: Option<u32>,
    },
    /// Delete an organisation with all its forms and submissions, destroying its keys (crypto-shredding).
    Delete {
        /// Organisation name.
        #[arg(long)]
        name: String,
        /// The name again, to confirm.
        #[arg(long)]
        confirm: String,
    },
}
