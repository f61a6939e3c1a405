//! The shared statements, instantiated for SQLite. The single writer serialises writes, so no row locks.

use crate::instants::sqlite_instant;

crate::queries::shared_queries!(
    sqlx::SqliteConnection,
    sqlx::SqlitePool,
    "",
    "",
    sqlite_instant,
    crate::instants::sqlite_bound
);
crate::folder_queries::folder_queries!(sqlx::SqliteConnection, sqlx::SqlitePool, "", sqlite_instant);
crate::folder_grant_queries::folder_grant_queries!(sqlx::SqliteConnection, sqlx::SqlitePool);
