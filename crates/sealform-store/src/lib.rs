//! Storage for Sealform: the `sealform-core` storage traits on SQLite and PostgreSQL.
//!
//! SQLite is the embedded default: WAL, `synchronous=FULL`, one writer task that group-commits concurrent writes,
//! and a read pool. PostgreSQL gets group commit from concurrent connections. Migrations are embedded in the binary
//! and applied at open; both backends use the same version numbers.

mod error;
mod folder_grant_queries;
mod folder_queries;
mod instants;
mod migrations;
mod native_api;
mod postgres;
mod queries;
mod rows;
mod sqlite;
mod url;

pub use postgres::{BatchStats, PgStore};
pub use sqlite::{SqliteOptions, SqliteStore, WalCheckpointer, WriterStats};
pub use url::{DatabaseUrl, DatabaseUrlError};
