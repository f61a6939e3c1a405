//! A panic inside the writer fails the writes it was running and leaves the writer working, with nothing of the
//! failed writes committed.

use sealform_core::ids::{FormId, OrgId, SubmissionId};
use sealform_core::store::{KEY_RETIRED, StoreError};
use sealform_core::submission::{NewSubmission, SealedRevision};
use sealform_crypto::KeyId;
use time::OffsetDateTime;

use super::submissions::{PANICS, SubmissionWrite};
use super::{SqliteOptions, SqliteStore};

fn submission(form_version: u32) -> SubmissionWrite {
    let revision = SealedRevision {
        revision: 1,
        envelope: vec![1; 32],
        wrapped_key: vec![2; 32],
        key_id: KeyId([3; 16]),
        created_by: None,
        created_at: OffsetDateTime::now_utc(),
    };
    let new = NewSubmission {
        org_id: OrgId::new(),
        id: SubmissionId::new(),
        form_id: FormId::new(),
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
