//! Both backends' migrations must produce the same tables, columns and primary keys, so one suite and one set of
//! queries describe both.

use std::collections::BTreeSet;
use std::time::Duration;

use sealform_core::store::Store as _;
use sealform_store::{PgStore, SqliteOptions, SqliteStore};
use sqlx::Connection as _;

type Pairs = BTreeSet<(String, String)>;

/// `query`'s (text, text) rows on a freshly migrated PostgreSQL database; `None` when PostgreSQL is not available.
async fn on_postgres(test: &str, query: &'static str) -> Option<Pairs> {
    let db = sealform_testkit::postgres::fresh_database(test)?;
    PgStore::open(&db.url, 2, Duration::from_secs(30)).await.unwrap().close().await;
    let mut pg = sqlx::PgConnection::connect(&db.url).await.unwrap();
    Some(sqlx::query_as(query).fetch_all(&mut pg).await.unwrap().into_iter().collect())
}

/// `query`'s (text, text) rows on a freshly migrated SQLite file.
async fn on_sqlite(query: &'static str) -> Pairs {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("parity.db");
    SqliteStore::open(&path, &SqliteOptions::default()).await.unwrap().close().await;
    let mut lite = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display())).await.unwrap();
    sqlx::query_as(query).fetch_all(&mut lite).await.unwrap().into_iter().collect()
}

fn assert_same(sqlite: &Pairs, postgres: &Pairs) {
    let only_sqlite: Vec<_> = sqlite.difference(postgres).collect();
    let only_postgres: Vec<_> = postgres.difference(sqlite).collect();
    assert!(
        only_sqlite.is_empty() && only_postgres.is_empty(),
        "only in SQLite: {only_sqlite:?}; only in PostgreSQL: {only_postgres:?}"
    );
}

#[tokio::test]
async fn sqlite_and_postgres_schemas_have_the_same_columns() {
    let Some(postgres) = on_postgres(
        "schema_parity",
        "SELECT table_name::text, column_name::text FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name <> '_sqlx_migrations'",
    )
    .await
    else {
        return;
    };
    let sqlite = on_sqlite(
        "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p \
         WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '_sqlx_migrations'",
    )
    .await;
    assert!(sqlite.len() > 50, "expected the full schema, got {} columns", sqlite.len());
    assert_same(&sqlite, &postgres);
}

/// Every table has the same primary key on both backends, columns in order (a table without one on either side
/// shows as an empty list), so a key one backend enforces is enforced by the other too.
#[tokio::test]
async fn sqlite_and_postgres_tables_have_the_same_primary_keys() {
    let Some(postgres) = on_postgres(
        "primary_key_parity",
        "SELECT t.table_name::text, coalesce(string_agg(k.column_name::text, ',' ORDER BY k.ordinal_position), '') \
         FROM information_schema.tables t \
         LEFT JOIN information_schema.table_constraints c ON c.table_schema = t.table_schema \
           AND c.table_name = t.table_name AND c.constraint_type = 'PRIMARY KEY' \
         LEFT JOIN information_schema.key_column_usage k ON k.constraint_schema = c.constraint_schema \
           AND k.constraint_name = c.constraint_name AND k.table_name = t.table_name \
         WHERE t.table_schema = 'public' AND t.table_type = 'BASE TABLE' AND t.table_name <> '_sqlx_migrations' \
         GROUP BY t.table_name",
    )
    .await
    else {
        return;
    };
    let sqlite = on_sqlite(
        "SELECT m.name, coalesce((SELECT group_concat(name, ',') FROM \
           (SELECT p.name FROM pragma_table_info(m.name) p WHERE p.pk > 0 ORDER BY p.pk)), '') \
         FROM sqlite_master m WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '_sqlx_migrations'",
    )
    .await;
    assert!(sqlite.contains(&("submissions".into(), "org_id,id".into())), "{sqlite:?}");
    assert_same(&sqlite, &postgres);
}
