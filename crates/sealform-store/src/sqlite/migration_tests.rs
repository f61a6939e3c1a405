//! Migrations that rebuild tables, run on a database that already holds data.

use sealform_core::store::Store as _;
use sqlx::{Connection as _, Row as _, SqliteConnection};

use super::{SqliteOptions, SqliteStore};
use crate::migrations;

/// The rows of a small organisation at migration 12: two submissions, each with a revision and a blind-index row,
/// the first also with a file.
const BEFORE_0013: &str = "
    INSERT INTO organisations (id, name, name_key, key_suite, mfa_required, created_at)
        VALUES (x'0a', 'O', 'o', 1, 0, 't');
    INSERT INTO org_keys (id, org_id, suite, public_key, wrapped_private_key, master_fingerprint, state, created_at)
        VALUES (x'0b', x'0a', 1, x'00', x'00', x'00', 'active', 't');
    INSERT INTO forms (id, org_id, title, status, current_version, index_key, index_key_fp, created_at, updated_at)
        VALUES (x'0f', x'0a', 'F', 'published', 1, x'00', x'00', 't', 't');
    INSERT INTO form_versions (org_id, form_id, version, definition, created_at) VALUES (x'0a', x'0f', 1, '{}', 't');
    INSERT INTO submissions VALUES (x'01', x'0a', x'0f', 1, 'flagged', 1, 't1', 'u1'), (x'02', x'0a', x'0f', 1, 'new', 1, 't2', 'u2');
    INSERT INTO submission_revisions VALUES (x'0a', x'01', 1, x'e1', x'c1', x'0b', NULL, 't1'),
        (x'0a', x'02', 1, x'e2', x'c2', x'0b', NULL, 't2');
    INSERT INTO submission_index VALUES (x'0a', x'0f', 'email', x'd1', x'01'), (x'0a', x'0f', 'email', x'd2', x'02');
    INSERT INTO files (id, org_id, submission_id, revision, question_id, object_key, sealed_size, wrapped_key, key_id,
        created_at) VALUES (x'f1', x'0a', x'01', 1, 'q', 'objects/f1', 10, x'00', x'0b', 't1');
";

async fn count(conn: &mut SqliteConnection, table: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}"))).fetch_one(conn).await.unwrap()
}

/// A database file migrated up to `version` (foreign keys on) holding `rows`: its directory, its path and its URL.
async fn database_at(version: i64, rows: &[&str]) -> (tempfile::TempDir, std::path::PathBuf, String, SqliteConnection) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.db");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let mut conn = SqliteConnection::connect(&url).await.unwrap();
    sqlx::raw_sql("PRAGMA foreign_keys = ON").execute(&mut conn).await.unwrap();
    migrations::SQLITE.run_to(version, &mut conn).await.unwrap();
    for sql in rows {
        sqlx::raw_sql(sqlx::AssertSqlSafe(*sql)).execute(&mut conn).await.unwrap();
    }
    (dir, path, url, conn)
}

/// Migration 0013 rebuilds `submissions`, which other tables reference, with foreign keys off: every row must
/// survive unchanged, and the children's foreign keys must hold (and cascade) against the rebuilt table.
#[tokio::test]
async fn migration_0013_keeps_every_submission_and_its_children() {
    let (_dir, path, url, conn) = database_at(12, &[BEFORE_0013]).await;
    conn.close().await.unwrap();

    SqliteStore::open(&path, &SqliteOptions::default()).await.unwrap().close().await;

    let mut conn = SqliteConnection::connect(&url).await.unwrap();
    // Run again, as after a crash between its COMMIT and sqlx's bookkeeping: it rebuilds the same tables.
    let again = migrations::SQLITE.iter().find(|m| m.version == 13).unwrap().sql.clone();
    sqlx::raw_sql(again).execute(&mut conn).await.unwrap();
    let schema: String = sqlx::query_scalar(
        "SELECT group_concat(sql, ';') FROM sqlite_master WHERE name IN ('submissions', 'submission_index')",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(schema.matches("WITHOUT ROWID").count(), 2, "{schema}");
    let rows: Vec<(Vec<u8>, String, i64, String, String)> =
        sqlx::query_as("SELECT id, status, current_revision, created_at, updated_at FROM submissions ORDER BY id")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert_eq!(
        rows,
        vec![
            (vec![1], "flagged".into(), 1, "t1".into(), "u1".into()),
            (vec![2], "new".into(), 1, "t2".into(), "u2".into())
        ]
    );
    assert_eq!(count(&mut conn, "submission_index").await, 2);
    assert_eq!(count(&mut conn, "pragma_foreign_key_check").await, 0);

    // The children's foreign keys point at the rebuilt table: they refuse a missing parent and cascade a delete.
    sqlx::raw_sql("PRAGMA foreign_keys = ON").execute(&mut conn).await.unwrap();
    let orphan = sqlx::raw_sql("INSERT INTO submission_index VALUES (x'0a', x'0f', 'email', x'd3', x'03')")
        .execute(&mut conn)
        .await;
    assert!(orphan.is_err(), "a blind-index row for no submission must be refused");
    sqlx::raw_sql("DELETE FROM submissions WHERE org_id = x'0a' AND id = x'01'").execute(&mut conn).await.unwrap();
    for (table, left) in [("submission_revisions", 1), ("submission_index", 1), ("files", 0)] {
        assert_eq!(count(&mut conn, table).await, left, "{table}");
    }
}

/// Three audit entries as a database at migration 14 holds them (chain hashes and details are opaque bytes here).
const AUDIT_BEFORE_0015: &str = "
    INSERT INTO audit_events (seq, org_id, at, action, actor_id, outcome, target_hash, detail, chain_hash) VALUES
        (1, NULL, 'a1', 'install', NULL, 'ok', NULL, x'd1', x'c1'),
        (2, x'0a', 'a2', 'submission.create', NULL, 'ok', x'71', x'd2', x'c2'),
        (3, x'0a', 'a3', 'submission.read', x'0c', 'denied', x'72', x'd3', x'c3');
";

/// Whether SQLite builds a temporary b-tree to run `sql` (what migration 0015 removes from the two hot inserts).
async fn uses_temporary_btree(conn: &mut SqliteConnection, sql: &str) -> bool {
    let program = sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN {sql}"))).fetch_all(conn).await.unwrap();
    assert!(!program.is_empty(), "EXPLAIN {sql}");
    program.iter().any(|step| step.get::<String, _>("opcode") == "OpenEphemeral")
}

/// A table's shape as SQLite reports it: columns, keys, foreign keys, indexes, STRICT and WITHOUT ROWID; everything
/// but the text of its CHECKs.
async fn shape(conn: &mut SqliteConnection, table: &str) -> Vec<String> {
    let queries = [
        "SELECT name || ' ' || type || ' ' || \"notnull\" || ' ' || ifnull(dflt_value, '-') || ' ' || pk || ' ' || hidden \
         FROM pragma_table_xinfo(?1) ORDER BY cid",
        "SELECT id || ' ' || seq || ' ' || \"table\" || ' ' || \"from\" || ' ' || ifnull(\"to\", '-') || ' ' || on_update \
         || ' ' || on_delete FROM pragma_foreign_key_list(?1) ORDER BY id, seq",
        "SELECT 'wr ' || wr || ' strict ' || strict FROM pragma_table_list(?1)",
        "SELECT i.\"unique\" || ' ' || i.origin || ' ' || i.partial || ' ' || ifnull(x.name, '-') || ' ' || x.\"desc\" || ' ' \
         || x.key FROM pragma_index_list(?1) i, pragma_index_xinfo(i.name) x ORDER BY i.origin, i.name, x.seqno",
    ];
    let mut lines = Vec::new();
    for query in queries {
        let rows: Vec<String> = sqlx::query_scalar(query).bind(table).fetch_all(&mut *conn).await.unwrap();
        assert!(!rows.is_empty() || query.contains("foreign_key"), "{query} on {table}");
        lines.extend(rows);
    }
    lines
}

/// Migration 0015 rebuilds `submissions` and `audit_events` with their CHECKs written as comparisons: every row
/// (every audit sequence number and chain hash) survives unchanged, the checks still refuse what they refused, the
/// trail stays append-only, the children's foreign keys hold, and neither insert builds a temporary b-tree any more.
#[tokio::test]
async fn migration_0015_keeps_every_row_and_check_without_temporary_btrees() {
    let (dir, path, url, mut conn) = database_at(14, &[BEFORE_0013, AUDIT_BEFORE_0015]).await;
    let insert_submission = "INSERT INTO submissions VALUES (x'09', x'0a', x'0f', 1, 'new', 1, 't', 't')";
    let insert_entry = "INSERT INTO audit_events VALUES (9, NULL, 'a', 'x', NULL, 'ok', NULL, x'00', x'00')";
    assert!(uses_temporary_btree(&mut conn, insert_submission).await, "the check before 0015");
    assert!(uses_temporary_btree(&mut conn, insert_entry).await, "the check before 0015");
    let shapes_before = (shape(&mut conn, "submissions").await, shape(&mut conn, "audit_events").await);
    let audit_rows = "SELECT seq, org_id, at, action, actor_id, outcome, target_hash, detail, chain_hash \
                      FROM audit_events ORDER BY seq";
    type AuditRow = (i64, Option<Vec<u8>>, String, String, Option<Vec<u8>>, String, Option<Vec<u8>>, Vec<u8>, Vec<u8>);
    let audit_before: Vec<AuditRow> = sqlx::query_as(audit_rows).fetch_all(&mut conn).await.unwrap();
    conn.close().await.unwrap();

    let store = SqliteStore::open(&path, &SqliteOptions::default()).await.unwrap();
    // The rebuild went through the WAL; the store truncated it before serving.
    assert_eq!(std::fs::metadata(dir.path().join("m.db-wal")).unwrap().len(), 0);
    store.close().await;

    let mut conn = SqliteConnection::connect(&url).await.unwrap();
    // Run again, as after a crash between its COMMIT and sqlx's bookkeeping: it rebuilds the same tables.
    let again = migrations::SQLITE.iter().find(|m| m.version == 15).unwrap().sql.clone();
    sqlx::raw_sql(again).execute(&mut conn).await.unwrap();
    sqlx::raw_sql("PRAGMA foreign_keys = ON").execute(&mut conn).await.unwrap();

    assert!(!uses_temporary_btree(&mut conn, insert_submission).await);
    assert!(!uses_temporary_btree(&mut conn, insert_entry).await);
    assert_eq!((shape(&mut conn, "submissions").await, shape(&mut conn, "audit_events").await), shapes_before);
    let audit_after: Vec<AuditRow> = sqlx::query_as(audit_rows).fetch_all(&mut conn).await.unwrap();
    assert_eq!(audit_after, audit_before);
    let statuses: Vec<(Vec<u8>, String, String)> =
        sqlx::query_as("SELECT id, status, updated_at FROM submissions ORDER BY id")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert_eq!(statuses, vec![(vec![1], "flagged".into(), "u1".into()), (vec![2], "new".into(), "u2".into())]);

    // The checks take every value they took and refuse what they refused; the trail refuses changes; the indexes
    // and triggers are back.
    for (i, status) in ["new", "read", "flagged", "archived"].into_iter().enumerate() {
        let insert = format!("INSERT INTO submissions VALUES (x'2{i}', x'0a', x'0f', 1, '{status}', 1, 't', 't')");
        sqlx::raw_sql(sqlx::AssertSqlSafe(insert)).execute(&mut conn).await.unwrap();
    }
    for (i, outcome) in ["ok", "denied", "error"].into_iter().enumerate() {
        let insert = format!(
            "INSERT INTO audit_events VALUES ({}, NULL, 'a', 'x', NULL, '{outcome}', NULL, x'00', x'00')",
            4 + i
        );
        sqlx::raw_sql(sqlx::AssertSqlSafe(insert)).execute(&mut conn).await.unwrap();
    }
    for (refused, because) in [
        ("INSERT INTO submissions VALUES (x'08', x'0a', x'0f', 1, 'deleted', 1, 't', 't')", "CHECK constraint failed"),
        ("INSERT INTO audit_events VALUES (9, NULL, 'a9', 'x', NULL, 'maybe', NULL, x'00', x'00')", "CHECK constraint"),
        ("UPDATE audit_events SET outcome = 'denied' WHERE seq = 2", "append-only"),
        ("DELETE FROM audit_events WHERE seq = 1", "append-only"),
        ("INSERT INTO submission_index VALUES (x'0a', x'0f', 'email', x'd3', x'03')", "FOREIGN KEY constraint failed"),
    ] {
        let err = sqlx::raw_sql(refused).execute(&mut conn).await.expect_err(refused);
        assert!(err.to_string().contains(because), "{refused}: {err}");
    }
    let indexes: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type IN ('index', 'trigger') AND tbl_name IN ('submissions', \
         'audit_events') AND sql IS NOT NULL ORDER BY name",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(
        indexes,
        ["audit_events_by_org", "audit_events_no_delete", "audit_events_no_update", "submissions_by_form_id"]
    );
    assert_eq!(count(&mut conn, "pragma_foreign_key_check").await, 0);
    sqlx::raw_sql("DELETE FROM submissions WHERE org_id = x'0a' AND id = x'01'").execute(&mut conn).await.unwrap();
    for (table, left) in [("submission_revisions", 1), ("submission_index", 1), ("files", 0)] {
        assert_eq!(count(&mut conn, table).await, left, "{table}");
    }
    assert_eq!(count(&mut conn, "audit_events").await, 6);
}
