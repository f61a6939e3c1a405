//! Opening the configured backend. Services and the router are generic over `Store`; [`with_store!`] runs one
//! generic body with whichever backend the URL chose.

use anyhow::Context as _;
use sealform_store::{DatabaseUrl, PgStore, SqliteOptions, SqliteStore};

use crate::config::Config;

/// Connections PostgreSQL gets per node.
const PG_MAX_CONNECTIONS: u32 = 32;

/// The backend the configuration chose.
pub(crate) enum AnyStore {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

/// Opens the database and applies migrations.
pub(crate) async fn open(config: &Config) -> anyhow::Result<AnyStore> {
    let what = || format!("opening the database {}", config.database.redacted());
    Ok(match &config.database {
        DatabaseUrl::Sqlite(path) => {
            AnyStore::Sqlite(SqliteStore::open(path, &SqliteOptions::default()).await.with_context(what)?)
        }
        DatabaseUrl::Postgres(url) => AnyStore::Postgres(
            PgStore::open(url, PG_MAX_CONNECTIONS, config.db_connect_timeout).await.with_context(what)?,
        ),
    })
}

/// `with_store!(any_store, |store| async_body)`: runs the body with the concrete store bound to `store`.
macro_rules! with_store {
    ($any:expr, |$store:ident| $body:expr) => {
        match $any {
            $crate::stores::AnyStore::Sqlite($store) => $body,
            $crate::stores::AnyStore::Postgres($store) => $body,
        }
    };
}
pub(crate) use with_store;

/// What an operator command holds besides the store: the master keys, the audit keys, and the audit scope (the
/// operator at the command line).
pub(crate) struct Operator {
    pub(crate) masters: sealform_core::keys::MasterKeys,
    pub(crate) auditor: std::sync::Arc<sealform_core::audit::Auditor>,
    pub(crate) scope: sealform_core::audit::AuditScope,
}

impl Operator {
    /// Loads the audit keys (creating them on first use) under `masters`.
    pub(crate) async fn load<S: sealform_core::store::Store>(
        store: &S,
        masters: sealform_core::keys::MasterKeys,
    ) -> anyhow::Result<Self> {
        use sealform_core::clock::Clock as _;
        let now = sealform_core::clock::SystemClock.now();
        let auditor = sealform_core::audit::load_or_create_auditor(store, &masters, now).await?;
        Ok(Self { masters, auditor, scope: sealform_core::audit::AuditScope::operator() })
    }

    /// The audit context of this command.
    pub(crate) fn audit(&self) -> sealform_core::audit::AuditCtx<'_> {
        sealform_core::audit::AuditCtx { auditor: &self.auditor, scope: &self.scope }
    }
}

/// `operator_command!(config, |store, op| body)`: prepares the data dir, opens the database, loads the master and
/// audit keys into `op`, runs `body`, and closes the store whatever the outcome.
macro_rules! operator_command {
    ($config:expr, |$store:ident, $op:ident| $body:expr) => {{
        $crate::data_dir::ensure_private_dir(&$config.data_dir)?;
        let any_store = $crate::stores::open($config).await?;
        let masters = $crate::data_dir::master_keys(&$config.data_dir)?;
        $crate::stores::with_store!(any_store, |$store| {
            let result = async {
                let $op = $crate::stores::Operator::load(&$store, masters).await?;
                $body
            }
            .await;
            $store.close().await;
            result
        })
    }};
}
pub(crate) use operator_command;
