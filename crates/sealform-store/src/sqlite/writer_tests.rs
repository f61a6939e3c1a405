//! A panic inside the writer fails the writes it was running and leaves the writer working, with nothing of the
//! failed writes committed; a bad submission in a batch fails alone.

use sealform_core::ids::{FormId, OrgId, SubmissionId};
use sealform_core::store::{KEY_RETIRED, SUBMISSION_EXISTS, StoreError};
use sealform_core::submission::{NewSubmission, SealedRevision};
use sealform_crypto::KeyId;
use time::OffsetDateTime;

use super::submissions::{PANICS, SubmissionWrite, SubmissionWriter};
use super::{SqliteOptions, SqliteStore};

fn submission(form_version: u32) -> SubmissionWrite {
    submission_to((OrgId::new(), FormId::new(), KeyId([3; 16])), form_version)
}

/// A submission to a form of an organisation, sealed to `key_id`.
fn submission_to((org_id, form_id, key_id): (OrgId, FormId, KeyId), form_version: u32) -> SubmissionWrite {
    let revision = SealedRevision {
        revision: 1,
        envelope: vec![1; 32],
        wrapped_key: vec![2; 32],
        key_id,
        created_by: None,
        created_at: OffsetDateTime::now_utc(),
    };
    let new = NewSubmission {
        org_id,
        id: SubmissionId::new(),
        form_id,
        form_version,
        revision,
        index: Vec::new(),
        files: Vec::new(),
    };
    SubmissionWrite { new, audit: None }
}

async fn scratch_rows(store: &SqliteStore) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM scratch").fetch_one(&store.reads).await.unwrap()
}

/// Runs `sql` as a plain write, then panics when `then_panic`.
async fn plain_write(store: &SqliteStore, sql: &'static str, then_panic: bool) -> Result<(), StoreError> {
    store
        .writer
        .write(move |conn| {
            Box::pin(async move {
                sqlx::raw_sql(sql).execute(conn).await.map_err(crate::error::backend("test write"))?;
                assert!(!then_panic, "a write that fails unexpectedly");
                Ok(())
            })
        })
        .await
}

#[tokio::test]
async fn a_panicking_write_fails_alone_and_the_writer_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("panic.db"), &SqliteOptions::default()).await.unwrap();
    plain_write(&store, "CREATE TABLE scratch (x INTEGER)", false).await.unwrap();

    // A plain write that changes something, then panics: its caller hears an error and the change is undone.
    let err = plain_write(&store, "INSERT INTO scratch VALUES (1)", true).await.unwrap_err();
    assert!(matches!(err, StoreError::Backend { .. }), "{err:?}");
    assert_eq!(scratch_rows(&store).await, 0, "the panicked write's row must not commit");

    // A new submission that panics the writer's own connection: an error, and the next batch starts afresh (its
    // submission, sealed to a key that does not exist, is refused for that, not for a transaction left open).
    let err = store.writer.insert_submission(submission(PANICS)).await.unwrap_err();
    assert!(matches!(err, StoreError::Backend { .. }), "{err:?}");
    let err = store.writer.insert_submission(submission(1)).await.unwrap_err();
    assert!(matches!(&err, StoreError::Conflict(m) if m == KEY_RETIRED), "{err:?}");

    // Plain writes still commit (they wait on the write lock a transaction left open would hold).
    plain_write(&store, "INSERT INTO scratch VALUES (2)", false).await.unwrap();
    assert_eq!(scratch_rows(&store).await, 1);
}

/// An organisation with an active key and a form at version 1 (named after its id: names are unique).
async fn add_organisation(store: &SqliteStore) -> (OrgId, FormId, KeyId) {
    let (org, form, key) = (OrgId::new(), FormId::new(), KeyId(*uuid::Uuid::new_v4().as_bytes()));
    let (org_id, form_id, key_id) = (*org.as_uuid(), *form.as_uuid(), uuid::Uuid::from_bytes(key.0));
    let rows = [
        (
            "INSERT INTO organisations (id, name, name_key, key_suite, created_at) VALUES ($1, hex($2), hex($2), 1, $3)",
            org_id,
            org_id,
        ),
        (
            "INSERT INTO org_keys (id, org_id, suite, public_key, state, created_at) VALUES ($1, $2, 1, x'00', 'active', $3)",
            key_id,
            org_id,
        ),
        (
            "INSERT INTO forms (id, org_id, title, status, current_version, index_key, index_key_fp, created_at, \
             updated_at) VALUES ($1, $2, 'F', 'published', 1, x'00', x'00', $3, $3)",
            form_id,
            org_id,
        ),
        (
            "INSERT INTO form_versions (org_id, form_id, version, definition, created_at) VALUES ($1, $2, 1, '{}', $3)",
            org_id,
            form_id,
        ),
    ];
    store
        .writer
        .write(move |conn| {
            Box::pin(async move {
                for (sql, first, second) in rows {
                    sqlx::query(sql)
                        .bind(first)
                        .bind(second)
                        .bind("2026-12-07T00:00:00Z")
                        .execute(&mut *conn)
                        .await
                        .map_err(crate::error::backend("test organisation"))?;
                }
                Ok(())
            })
        })
        .await
        .unwrap();
    (org, form, key)
}

/// A store in a scratch directory with one organisation, and a submission writer of its own on the same file (to
/// hand it a batch directly).
async fn batch_world() -> (tempfile::TempDir, SqliteStore, SubmissionWriter, (OrgId, FormId, KeyId)) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("batch.db");
    let store = SqliteStore::open(&path, &SqliteOptions::default()).await.unwrap();
    let org = add_organisation(&store).await;
    let writer = SubmissionWriter::open(&path, std::time::Duration::from_secs(5)).unwrap();
    (dir, store, writer, org)
}

/// The middle answer of a batch of three is a conflict on its id; the two around it are stored.
fn only_the_middle_refused(answers: &[Result<(), StoreError>]) {
    assert!(answers[0].is_ok(), "{:?}", answers[0]);
    assert!(matches!(&answers[1], Err(StoreError::Conflict(m)) if m == SUBMISSION_EXISTS), "{:?}", answers[1]);
    assert!(answers[2].is_ok(), "{:?}", answers[2]);
}

async fn submissions_of(store: &SqliteStore, org: OrgId) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM submissions WHERE org_id = $1")
        .bind(*org.as_uuid())
        .fetch_one(&store.reads)
        .await
        .unwrap()
}

/// The writer writes a batch without a savepoint per submission first. Here the middle submission reuses the first
/// one's id in another organisation: its submission row goes in, its revision row is refused. That half-written
/// submission must not commit: the batch is rolled back and written again with savepoints, so it fails alone as a
/// conflict and the two others commit, each with its revision.
#[tokio::test]
async fn a_half_written_submission_fails_alone_and_the_rest_of_its_batch_commits() {
    let (_dir, store, mut writer, first_org) = batch_world().await;
    let other_org = add_organisation(&store).await;
    let first = submission_to(first_org, 1);
    let mut reused = submission_to(other_org, 1);
    reused.new.id = first.new.id;
    let last = submission_to(first_org, 1);

    let outcome = writer.write(&[first, reused, last]);

    assert!(outcome.committed);
    assert!(outcome.rewritten, "the half-written batch is written again, guarded");
    only_the_middle_refused(&outcome.answers);
    assert_eq!(submissions_of(&store, first_org.0).await, 2);
    assert_eq!(submissions_of(&store, other_org.0).await, 0, "the half-written submission's row must not commit");
    let revisions: i64 =
        sqlx::query_scalar("SELECT count(*) FROM submission_revisions").fetch_one(&store.reads).await.unwrap();
    assert_eq!(revisions, 2);
}

/// A submission refused at its first statement (its id already stored in the same organisation) left nothing
/// behind: it fails alone and the batch commits without being written again.
#[tokio::test]
async fn a_duplicate_refused_at_once_fails_alone_without_rewriting_the_batch() {
    let (_dir, store, mut writer, org) = batch_world().await;
    let first = submission_to(org, 1);
    let mut again = submission_to(org, 1);
    again.new.id = first.new.id;
    let last = submission_to(org, 1);

    let outcome = writer.write(&[first, again, last]);

    assert!(outcome.committed);
    assert!(!outcome.rewritten, "nothing of the duplicate was written, so nothing needs undoing");
    only_the_middle_refused(&outcome.answers);
    assert_eq!(submissions_of(&store, org.0).await, 2);
}

/// An error that makes SQLite end the whole transaction on its own (here a trigger's `RAISE(ROLLBACK)`, standing in
/// for an I/O error or a full disk) in the middle of a batch: what came before is gone with it, and nothing after it
/// may be written, which outside the transaction would commit statement by statement. Every write fails, none
/// stays.
#[tokio::test]
async fn a_transaction_sqlite_ends_on_its_own_fails_the_whole_batch() {
    let (_dir, store, mut writer, org) = batch_world().await;
    // At the doomed submission's first statement, so that nothing of it was written: only the end of the
    // transaction itself can tell the writer to stop.
    let sql = "CREATE TRIGGER ends_the_transaction BEFORE INSERT ON submissions WHEN NEW.form_version = 2 \
               BEGIN SELECT RAISE(ROLLBACK, 'injected'); END";
    plain_write(&store, sql, false).await.unwrap();

    let outcome = writer.write(&[submission_to(org, 1), submission_to(org, 2), submission_to(org, 1)]);

    assert!(!outcome.committed);
    assert!(outcome.answers.iter().all(Result::is_err), "{:?}", outcome.answers);
    assert_eq!(submissions_of(&store, org.0).await, 0, "no submission of the batch may stay");
}

/// A retried truncation turns the busy handler off for its one attempt and puts the connection's timeout back, so
/// later writes still wait for another process's lock instead of failing at once.
#[tokio::test]
async fn a_truncation_retry_restores_the_busy_timeout() {
    use sqlx::ConnectOptions as _;

    let dir = tempfile::tempdir().unwrap();
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(dir.path().join("t.db"))
        .create_if_missing(true)
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
        .busy_timeout(std::time::Duration::from_millis(1234))
        .connect()
        .await
        .unwrap();
    sqlx::raw_sql("CREATE TABLE t (b BLOB); INSERT INTO t VALUES (randomblob(9000));")
        .execute(&mut conn)
        .await
        .unwrap();
    assert!(super::writer::try_truncate(&mut conn).await, "nothing holds the WAL");
    assert_eq!(std::fs::metadata(dir.path().join("t.db-wal")).unwrap().len(), 0);
    let timeout: i64 = sqlx::query_scalar("PRAGMA busy_timeout").fetch_one(&mut conn).await.unwrap();
    assert_eq!(timeout, 1234);
}
