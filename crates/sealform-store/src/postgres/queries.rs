//! The shared statements, instantiated for PostgreSQL, where concurrent transactions need row locks on keys.

use crate::instants::postgres_instant;

crate::queries::shared_queries!(
    sqlx::PgConnection,
    sqlx::PgPool,
    " FOR SHARE",
    " FOR UPDATE",
    postgres_instant,
    crate::instants::postgres_bound
);
crate::folder_queries::folder_queries!(sqlx::PgConnection, sqlx::PgPool, " FOR UPDATE", postgres_instant);
crate::folder_grant_queries::folder_grant_queries!(sqlx::PgConnection, sqlx::PgPool);
