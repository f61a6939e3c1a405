//! Logs go to stderr as JSON (production) or human-readable lines. They carry ids, never answers: see
//! docs/LOGGING.md.

use std::io::IsTerminal as _;

use anyhow::anyhow;
use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, LoggingConfig};

/// The server's logging.
pub(crate) fn init(config: &LoggingConfig) -> anyhow::Result<()> {
    install(config, &config.filter)
}

/// CLI commands log warnings only, unless the operator asked for more with `--log-level`.
pub(crate) fn init_for_cli(config: &LoggingConfig) -> anyhow::Result<()> {
    let filter = if config.filter == crate::config::defaults::LOG_LEVEL { "warn" } else { &config.filter };
    install(config, filter)
}

fn install(config: &LoggingConfig, filter: &str) -> anyhow::Result<()> {
    // sqlx logs slow statements at info with their text; our own request log is what operators want.
    let filter = if filter.contains("sqlx") { filter.to_owned() } else { format!("{filter},sqlx=warn") };
    let filter =
        EnvFilter::try_new(&filter).map_err(|e| anyhow!("log_level: {filter:?} is not a valid filter: {e}"))?;
    let ansi = std::io::stderr().is_terminal();
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    let result = match config.format {
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).with_span_list(false).try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
    result.map_err(|e| anyhow!("installing the logger: {e}"))
}
