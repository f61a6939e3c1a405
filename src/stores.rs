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
