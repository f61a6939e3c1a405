//! The shared statements, instantiated for SQLite. The single writer serialises writes, so no row locks.
//! Below them, the batched submission write: SQLite-only because it sends several statements in one call.

crate::queries::shared_queries!(sqlx::SqliteConnection, sqlx::SqlitePool, "", "");
crate::folder_queries::folder_queries!(sqlx::SqliteConnection, sqlx::SqlitePool);
crate::folder_grant_queries::folder_grant_queries!(sqlx::SqliteConnection, sqlx::SqlitePool);

use std::fmt::Write as _;

use super::writer::BatchState;

/// Reads the chain head row (inside the writer's transaction).
async fn read_audit_head(conn: &mut sqlx::SqliteConnection) -> Result<ChainHead, StoreError> {
    let (seq, hash, last_checkpoint_micros): (i64, Vec<u8>, i64) =
        sqlx::query_as("SELECT seq, chain_hash, last_checkpoint_micros FROM audit_head WHERE id = 1")
            .fetch_one(&mut *conn)
            .await
            .map_err(backend("read audit head"))?;
    let hash: [u8; 32] = hash.as_slice().try_into().map_err(|_| StoreError::Corrupt("audit head hash".into()))?;
    Ok(ChainHead { seq, hash, last_checkpoint_micros })
}

/// Writes the chain head row.
pub(crate) async fn store_audit_head(conn: &mut sqlx::SqliteConnection, head: ChainHead) -> Result<(), StoreError> {
    sqlx::query("UPDATE audit_head SET seq = $1, chain_hash = $2, last_checkpoint_micros = $3 WHERE id = 1")
        .bind(head.seq)
        .bind(head.hash.as_slice())
        .bind(head.last_checkpoint_micros)
        .execute(&mut *conn)
        .await
        .map_err(backend("move audit head"))?;
    Ok(())
}

/// [`insert_submission`] for the writer's batches: the same rows and checks, but the key states are checked once
/// per transaction, the audit entry follows the batch's in-memory chain head, and the savepoint, the rows and the
/// audit entry go to SQLite's worker in one call instead of about ten. The audit entry is still in the
/// submission's savepoint, so if it cannot be written the submission is undone with it (fail closed).
pub(crate) async fn insert_submission_batched(
    conn: &mut sqlx::SqliteConnection,
    state: &mut BatchState,
    new: NewSubmission,
    audit: Option<PendingAudit>,
) -> Result<(), StoreError> {
    let sealed = &new.revision;
    for key in std::iter::once(sealed.key_id).chain(new.files.iter().map(|f| f.key_id)) {
        if !state.key_known_usable(new.org_id, key) {
            ensure_key_usable(conn, new.org_id, key).await?;
            state.remember_usable(new.org_id, key);
        }
    }
    let revision = i32::try_from(sealed.revision).map_err(|_| StoreError::Corrupt("revision number".into()))?;
    let form_version = i32::try_from(new.form_version).map_err(|_| StoreError::Corrupt("form version".into()))?;
    // The audit entry is `None` only in the benchmark of the write path without auditing (feature
    // `bench-internals`); every production caller passes one.
    let entry = match audit {
        Some(audit) => Some(audit.seal(match state.head() {
            Some(head) => head,
            None => read_audit_head(conn).await?,
        })),
        None => None,
    };

    // $1 org, $2 submission, $3 form, $4 form version, $5 revision, $6 created at, $7-$10 the revision's columns,
    // then each index row, file, the audit entry and its checkpoint.
    let mut sql = String::from(
        "SAVEPOINT write_op; \
         INSERT INTO submissions (id, org_id, form_id, form_version, status, current_revision, created_at, updated_at) \
         VALUES ($2, $1, $3, $4, 'new', $5, $6, $6); \
         INSERT INTO submission_revisions \
         (org_id, submission_id, revision, envelope, wrapped_key, key_id, created_by, created_at) \
         VALUES ($1, $2, $5, $7, $8, $9, $10, $6);",
    );
    let mut n = 10;
    let mut next = |count: usize| {
        let first = n + 1;
        n += count;
        first
    };
    for _ in &new.index {
        let p = next(2);
        let _ = write!(
            sql,
            " INSERT INTO submission_index (org_id, form_id, field, digest, submission_id) \
             VALUES ($1, $3, ${p}, ${}, $2);",
            p + 1
        );
    }
    for _ in &new.files {
        let p = next(6);
        let _ = write!(
            sql,
            " INSERT INTO files (id, org_id, submission_id, revision, question_id, object_key, sealed_size, \
             wrapped_key, key_id, created_at) VALUES (${p}, $1, $2, $5, ${}, ${}, ${}, ${}, ${}, $6);",
            p + 1,
            p + 2,
            p + 3,
            p + 4,
            p + 5
        );
    }
    if let Some(entry) = &entry {
        let p = next(9);
        let _ = write!(
            sql,
            " INSERT INTO audit_events (seq, org_id, at, action, actor_id, outcome, target_hash, detail, chain_hash) \
             VALUES (${p}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${});",
            p + 1,
            p + 2,
            p + 3,
            p + 4,
            p + 5,
            p + 6,
            p + 7,
            p + 8
        );
        if entry.checkpoint.is_some() {
            let p = next(4);
            let _ = write!(
                sql,
                " INSERT INTO audit_checkpoints (seq, chain_hash, at_micros, signature) VALUES (${p}, ${}, ${}, ${});",
                p + 1,
                p + 2,
                p + 3
            );
        }
    }
    sql.push_str(" RELEASE write_op;");

    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(new.org_id.as_uuid())
        .bind(new.id.as_uuid())
        .bind(new.form_id.as_uuid())
        .bind(form_version)
        .bind(revision)
        .bind(sealed.created_at)
        .bind(&sealed.envelope)
        .bind(&sealed.wrapped_key)
        .bind(key_uuid(sealed.key_id))
        .bind(sealed.created_by.map(|u| *u.as_uuid()));
    for (field, digest) in &new.index {
        query = query.bind(field).bind(digest.as_slice());
    }
    for file in &new.files {
        query = query
            .bind(file.id.as_uuid())
            .bind(&file.question_id)
            .bind(&file.object_key)
            .bind(i64::try_from(file.sealed_size).map_err(|_| StoreError::Corrupt("file size".into()))?)
            .bind(&file.wrapped_key)
            .bind(key_uuid(file.key_id));
    }
    if let Some(entry) = &entry {
        let row = &entry.row;
        query = query
            .bind(row.seq)
            .bind(row.org.map(|o| *o.as_uuid()))
            .bind(row.at)
            .bind(&row.action)
            .bind(row.actor_id)
            .bind(&row.outcome)
            .bind(row.target_hash.as_deref())
            .bind(&row.detail)
            .bind(row.chain_hash.as_slice());
        if let Some((checkpoint, signature)) = &entry.checkpoint {
            query = query
                .bind(checkpoint.seq)
                .bind(checkpoint.hash.as_slice())
                .bind(checkpoint.at_micros)
                .bind(signature.as_slice());
        }
    }
    match query.execute(&mut *conn).await {
        Ok(_) => {
            if let Some(entry) = entry {
                state.advance(entry.head);
            }
            Ok(())
        }
        Err(err) => {
            // Undo whatever of the submission and its audit entry got in (if the savepoint itself failed, the
            // rollback fails and nothing of this write can be told apart: the batch rolls back).
            if sqlx::raw_sql("ROLLBACK TO write_op; RELEASE write_op").execute(&mut *conn).await.is_err() {
                state.poison();
            }
            Err(backend("store submission")(err))
        }
    }
}
