//! SQLite-only behaviour: group commit, durability across reopen, file permissions, append-only audit rows.

use std::os::unix::fs::MetadataExt as _;
use std::sync::Arc;

use sealform_core::audit::Action;
use sealform_core::store::{OrganisationStore as _, Owner, Store as _};
use sealform_store::{SqliteOptions, SqliteStore};
use sealform_testkit::fixtures::{audit, organisation as org, user};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writes_share_commits_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("group.db");
    let store = Arc::new(SqliteStore::open(&path, &SqliteOptions::default()).await.unwrap());
    store.bootstrap(org("Root"), user("root@x.example"), vec![audit(Action::InstallationBootstrap)]).await.unwrap();
    let before = store.writer_stats();
    let tasks: Vec<_> = (0..300)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .create_organisation(
                        org(&format!("Org {i}")),
                        Owner::New(user(&format!("u{i}@x.example"))),
                        audit(Action::OrgCreate),
                    )
                    .await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let after = store.writer_stats();
    let writes = after.writes - before.writes;
    let commits = after.commits - before.commits;
    assert_eq!(writes, 300);
    assert!(commits < writes, "300 concurrent writes took {commits} commits: no group commit");

    // Every acknowledged write is in the file: a fresh store over it sees them all.
    Arc::into_inner(store).unwrap().close().await;
    let reopened = SqliteStore::open(&path, &SqliteOptions::default()).await.unwrap();
    assert_eq!(reopened.list_organisations().await.unwrap().len(), 301);
}

#[tokio::test]
async fn database_files_are_private() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("private.db");
    let store = SqliteStore::open(&path, &SqliteOptions::default()).await.unwrap();
    store.bootstrap(org("Root"), user("root@x.example"), vec![audit(Action::InstallationBootstrap)]).await.unwrap();
    for file in ["private.db", "private.db-wal", "private.db-shm"] {
        let mode = std::fs::metadata(dir.path().join(file)).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o600, "{file} has mode {mode:o}");
    }
}

#[tokio::test]
async fn audit_rows_cannot_be_updated_or_deleted() {
    use sqlx::Connection as _;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    SqliteStore::open(&path, &SqliteOptions::default()).await.unwrap().close().await;
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display())).await.unwrap();
    sqlx::query(
        "INSERT INTO audit_events (seq, at, action, outcome, detail, chain_hash) VALUES (1, 'now', 'x', 'ok', x'00', x'00')",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let update = sqlx::query("UPDATE audit_events SET action = 'y'").execute(&mut conn).await.unwrap_err();
    assert!(update.to_string().contains("append-only"), "{update}");
    let delete = sqlx::query("DELETE FROM audit_events").execute(&mut conn).await.unwrap_err();
    assert!(delete.to_string().contains("append-only"), "{delete}");
}
