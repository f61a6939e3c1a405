//! Migrations that change keys other tables depend on, run on a database that already holds data.

use sqlx::{Connection as _, PgConnection};

use crate::migrations;

/// The rows of a small organisation at migration 13: two submissions, each with a revision and a blind-index row,
/// the first also with a file. Ids end in: 0a organisation, 0b key, 0f form, 01/02 submissions, f1 file.
const BEFORE_0014: &str = "
    INSERT INTO organisations (id, name, name_key, key_suite, mfa_required, created_at)
        VALUES ('00000000-0000-0000-0000-00000000000a', 'O', 'o', 1, 0, now());
    INSERT INTO org_keys (id, org_id, suite, public_key, wrapped_private_key, master_fingerprint, state, created_at)
        VALUES ('00000000-0000-0000-0000-00000000000b', '00000000-0000-0000-0000-00000000000a', 1, '\\x00', '\\x00',
            '\\x00', 'active', now());
    INSERT INTO forms (id, org_id, title, status, current_version, index_key, index_key_fp, created_at, updated_at)
        VALUES ('00000000-0000-0000-0000-00000000000f', '00000000-0000-0000-0000-00000000000a', 'F', 'published', 1,
            '\\x00', '\\x00', now(), now());
    INSERT INTO form_versions (org_id, form_id, version, definition, created_at)
        VALUES ('00000000-0000-0000-0000-00000000000a', '00000000-0000-0000-0000-00000000000f', 1, '{}', now());
    INSERT INTO submissions (id, org_id, form_id, form_version, status, current_revision, created_at, updated_at)
        SELECT ('00000000-0000-0000-0000-0000000000' || n)::uuid, '00000000-0000-0000-0000-00000000000a',
            '00000000-0000-0000-0000-00000000000f', 1, s, 1, now(), now()
        FROM (VALUES ('01', 'flagged'), ('02', 'new')) AS t (n, s);
    INSERT INTO submission_revisions (org_id, submission_id, revision, envelope, wrapped_key, key_id, created_at)
        SELECT '00000000-0000-0000-0000-00000000000a', ('00000000-0000-0000-0000-0000000000' || n)::uuid, 1, '\\xe1',
            '\\xc1', '00000000-0000-0000-0000-00000000000b', now()
        FROM (VALUES ('01'), ('02')) AS t (n);
    INSERT INTO submission_index (org_id, form_id, field, digest, submission_id)
        SELECT '00000000-0000-0000-0000-00000000000a', '00000000-0000-0000-0000-00000000000f', 'email', '\\xd1',
            ('00000000-0000-0000-0000-0000000000' || n)::uuid
        FROM (VALUES ('01'), ('02')) AS t (n);
    INSERT INTO files (id, org_id, submission_id, revision, question_id, object_key, sealed_size, wrapped_key, key_id,
        created_at) VALUES ('00000000-0000-0000-0000-0000000000f1', '00000000-0000-0000-0000-00000000000a',
        '00000000-0000-0000-0000-000000000001', 1, 'q', 'objects/f1', 10, '\\x00',
        '00000000-0000-0000-0000-00000000000b', now());
";

async fn count(conn: &mut PgConnection, table: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}"))).fetch_one(conn).await.unwrap()
}

/// Migration 0014 replaces the key the children's foreign keys name: every row survives, the key is
/// `(org_id, id)`, and the children's foreign keys still refuse orphans and cascade deletes.
#[tokio::test]
async fn migration_0014_keeps_every_submission_and_its_children() {
    let Some(db) = sealform_testkit::postgres::fresh_database("migration_0014") else { return };
    let mut conn = PgConnection::connect(&db.url).await.unwrap();
    migrations::POSTGRES.run_to(13, &mut conn).await.unwrap();
    sqlx::raw_sql(BEFORE_0014).execute(&mut conn).await.unwrap();
    migrations::POSTGRES.run(&mut conn).await.unwrap();

    let key: String = sqlx::query_scalar(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint \
         WHERE conrelid = 'submissions'::regclass AND contype = 'p'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(key, "PRIMARY KEY (org_id, id)");
    let statuses: Vec<String> =
        sqlx::query_scalar("SELECT status FROM submissions ORDER BY id").fetch_all(&mut conn).await.unwrap();
    assert_eq!(statuses, ["flagged", "new"]);
    for table in ["submission_revisions", "submission_index"] {
        assert_eq!(count(&mut conn, table).await, 2, "{table}");
    }

    let orphan = sqlx::raw_sql(
        "INSERT INTO submission_index VALUES ('00000000-0000-0000-0000-00000000000a', \
         '00000000-0000-0000-0000-00000000000f', 'email', '\\xd3', '00000000-0000-0000-0000-000000000003')",
    )
    .execute(&mut conn)
    .await;
    assert!(orphan.is_err(), "a blind-index row for no submission must be refused");
    sqlx::raw_sql("DELETE FROM submissions WHERE id = '00000000-0000-0000-0000-000000000001'")
        .execute(&mut conn)
        .await
        .unwrap();
    for (table, left) in [("submission_revisions", 1), ("submission_index", 1), ("files", 0)] {
        assert_eq!(count(&mut conn, table).await, left, "{table}");
    }
}
