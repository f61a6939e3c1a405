//! New submissions in the writer's batches, written several per call to SQLite.
//!
//! Every statement the writer sends is a round trip to the connection's own SQLite thread, and under load each one
//! costs two thread wake-ups that can wait for a core much longer than SQLite takes to run the statement (the
//! writer was busy nearly all the time while SQLite's thread used a fifth of a core). So the submissions queued
//! together in one transaction go to SQLite in a few calls instead of one each: a chunk of them (a power of two,
//! at most [`MAX_CHUNK`], so the connection caches a handful of statement shapes) is sent as one call of one
//! multi-row INSERT per table inside a savepoint, with each audit entry chained after the previous one in memory.
//!
//! A submission still fails alone: if anything in a chunk fails, the chunk is rolled back to its savepoint and its
//! submissions are written one per call (each in its own savepoint, its audit entry re-chained after the head as
//! it is then), so only the bad one is refused and the chain has no gap. Each audit entry stays in the same
//! savepoint as its submission's rows: if it cannot be written, neither are they (fail closed).

use std::fmt::Write as _;

use sealform_core::audit::{PendingAudit, SealedAudit};
use sealform_core::store::StoreError;
use sealform_core::submission::NewSubmission;
use sqlx::SqliteConnection;

use super::queries::{key_usable, read_audit_head};
use super::writer::BatchState;
use crate::error::backend;
use crate::rows::key_uuid;

/// Most submissions sent in one call.
const MAX_CHUNK: usize = 32;

/// A new submission and its audit entry, queued for the writer.
pub(crate) struct SubmissionWrite {
    pub(crate) new: NewSubmission,
    /// `None` only in the benchmark of the write path without auditing (feature `bench-internals`); every
    /// production caller passes one.
    pub(crate) audit: Option<PendingAudit>,
}

/// Writes `writes` (consecutive in the writer's queue) inside the open transaction; one answer per write, in order.
/// Stops writing once the batch is poisoned (see [`BatchState::poison`]); the writer then fails the whole batch.
pub(crate) async fn insert_submissions(
    conn: &mut SqliteConnection,
    state: &mut BatchState,
    writes: &[SubmissionWrite],
) -> Vec<Result<(), StoreError>> {
    let mut answers: Vec<Option<Result<(), StoreError>>> = Vec::with_capacity(writes.len());
    // Key states first: a submission sealed to a key that can no longer take data is refused before any SQL.
    for write in writes {
        answers.push(check_keys(conn, state, &write.new).await.err().map(Err));
    }
    let accepted: Vec<usize> = (0..writes.len()).filter(|&i| answers[i].is_none()).collect();
    let mut rest = accepted.as_slice();
    while !rest.is_empty() && !state.poisoned() {
        let (chunk, after) = rest.split_at(chunk_len(rest.len()));
        rest = after;
        let items: Vec<&SubmissionWrite> = chunk.iter().map(|&i| &writes[i]).collect();
        match insert_chunk(conn, state, &items).await {
            Ok(()) => chunk.iter().for_each(|&i| answers[i] = Some(Ok(()))),
            Err(err) if chunk.len() == 1 => answers[chunk[0]] = Some(Err(err)),
            Err(err) => {
                tracing::debug!(error = %err, "a chunk of submissions failed; writing them one by one");
                for &i in chunk {
                    if state.poisoned() {
                        break;
                    }
                    answers[i] = Some(insert_chunk(conn, state, &[&writes[i]]).await);
                }
            }
        }
    }
    let unwritten = || StoreError::Backend { operation: "store submission", source: "the batch was abandoned".into() };
    answers.into_iter().map(|answer| answer.unwrap_or_else(|| Err(unwritten()))).collect()
}

/// The largest power of two not above `remaining` or [`MAX_CHUNK`].
fn chunk_len(remaining: usize) -> usize {
    let mut len = 1;
    while len * 2 <= remaining.min(MAX_CHUNK) {
        len *= 2;
    }
    len
}

/// Checks the submission's keys once per (organisation, key) and transaction.
async fn check_keys(
    conn: &mut SqliteConnection,
    state: &mut BatchState,
    new: &NewSubmission,
) -> Result<(), StoreError> {
    for key in std::iter::once(new.revision.key_id).chain(new.files.iter().map(|f| f.key_id)) {
        if !state.key_known_usable(new.org_id, key) {
            key_usable(conn, new.org_id, key).await?;
            state.remember_usable(new.org_id, key);
        }
    }
    Ok(())
}

/// Writes `items` and their audit entries in one call, inside the savepoint `write_op`; on failure nothing of them
/// stays (or the batch is poisoned when even the rollback fails).
async fn insert_chunk(
    conn: &mut SqliteConnection,
    state: &mut BatchState,
    items: &[&SubmissionWrite],
) -> Result<(), StoreError> {
    let mut head = state.head();
    let mut entries = Vec::with_capacity(items.len());
    for item in items {
        let entry = match &item.audit {
            Some(audit) => {
                let after = match head {
                    Some(head) => head,
                    None => read_audit_head(conn).await?,
                };
                let entry = audit.seal(after);
                head = Some(entry.head);
                Some(entry)
            }
            None => None,
        };
        entries.push(entry);
    }

    let sql = chunk_sql(items, &entries);
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for (item, entry) in items.iter().zip(&entries) {
        query = bind(query, &item.new, entry.as_ref())?;
    }
    match query.execute(&mut *conn).await {
        Ok(_) => {
            if let Some(head) = head {
                state.advance(head);
            }
            Ok(())
        }
        Err(err) => {
            // Undo whatever of the chunk got in (if the savepoint itself failed, the rollback fails and nothing of
            // this write can be told apart: the batch rolls back).
            if sqlx::raw_sql("ROLLBACK TO write_op; RELEASE write_op").execute(&mut *conn).await.is_err() {
                state.poison();
            }
            Err(backend("store submission")(err))
        }
    }
}

/// The placeholders of one submission's values, numbered in [`bind`]'s order.
struct ItemParams {
    /// org, submission, form, form version, revision, created at, envelope, wrapped key, key id, author.
    base: usize,
    /// Per index row: field, digest.
    index: Vec<usize>,
    /// Per file: id, question, object key, size, wrapped key, key id.
    files: Vec<usize>,
    /// seq, org, at, action, actor, outcome, target hash, detail, chain hash.
    audit: Option<usize>,
    /// seq, chain hash, at, signature.
    checkpoint: Option<usize>,
}

/// One multi-row INSERT per table for the whole chunk, inside the savepoint `write_op`. SQLite's connection thread
/// answers every statement of a call separately, waking the writer each time, so the number of statements per
/// call is kept independent of the number of submissions in it.
fn chunk_sql(items: &[&SubmissionWrite], entries: &[Option<SealedAudit>]) -> String {
    let mut next = 0;
    let mut take = |count: usize| {
        let first = next + 1;
        next += count;
        first
    };
    let params: Vec<ItemParams> = items
        .iter()
        .zip(entries)
        .map(|(item, entry)| ItemParams {
            base: take(10),
            index: item.new.index.iter().map(|_| take(2)).collect(),
            files: item.new.files.iter().map(|_| take(6)).collect(),
            audit: entry.as_ref().map(|_| take(9)),
            checkpoint: entry.as_ref().and_then(|e| e.checkpoint.as_ref()).map(|_| take(4)),
        })
        .collect();

    let mut sql = String::from(
        "SAVEPOINT write_op; INSERT INTO submissions \
         (id, org_id, form_id, form_version, status, current_revision, created_at, updated_at) VALUES ",
    );
    values(&mut sql, params.iter().map(|p| p.base), |sql, p| {
        let _ = write!(sql, "(${}, ${p}, ${}, ${}, 'new', ${}, ${}, ${})", p + 1, p + 2, p + 3, p + 4, p + 5, p + 5);
    });
    sql.push_str(
        "; INSERT INTO submission_revisions \
         (org_id, submission_id, revision, envelope, wrapped_key, key_id, created_by, created_at) VALUES ",
    );
    values(&mut sql, params.iter().map(|p| p.base), |sql, p| {
        let _ =
            write!(sql, "(${p}, ${}, ${}, ${}, ${}, ${}, ${}, ${})", p + 1, p + 4, p + 6, p + 7, p + 8, p + 9, p + 5);
    });
    let index = params.iter().flat_map(|p| p.index.iter().map(move |&i| (p.base, i)));
    if index.clone().next().is_some() {
        sql.push_str("; INSERT INTO submission_index (org_id, form_id, field, digest, submission_id) VALUES ");
        values(&mut sql, index, |sql, (p, i)| {
            let _ = write!(sql, "(${p}, ${}, ${i}, ${}, ${})", p + 2, i + 1, p + 1);
        });
    }
    let files = params.iter().flat_map(|p| p.files.iter().map(move |&i| (p.base, i)));
    if files.clone().next().is_some() {
        sql.push_str(
            "; INSERT INTO files (id, org_id, submission_id, revision, question_id, object_key, sealed_size, \
             wrapped_key, key_id, created_at) VALUES ",
        );
        values(&mut sql, files, |sql, (p, i)| {
            let (s, r, at) = (p + 1, p + 4, p + 5);
            let _ = write!(
                sql,
                "(${i}, ${p}, ${s}, ${r}, ${}, ${}, ${}, ${}, ${}, ${at})",
                i + 1,
                i + 2,
                i + 3,
                i + 4,
                i + 5
            );
        });
    }
    let audit = params.iter().filter_map(|p| p.audit);
    if audit.clone().next().is_some() {
        sql.push_str(
            "; INSERT INTO audit_events (seq, org_id, at, action, actor_id, outcome, target_hash, detail, chain_hash) \
             VALUES ",
        );
        values(&mut sql, audit, |sql, a| {
            let _ = write!(
                sql,
                "(${a}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                a + 1,
                a + 2,
                a + 3,
                a + 4,
                a + 5,
                a + 6,
                a + 7,
                a + 8
            );
        });
    }
    let checkpoints = params.iter().filter_map(|p| p.checkpoint);
    if checkpoints.clone().next().is_some() {
        sql.push_str("; INSERT INTO audit_checkpoints (seq, chain_hash, at_micros, signature) VALUES ");
        values(&mut sql, checkpoints, |sql, c| {
            let _ = write!(sql, "(${c}, ${}, ${}, ${})", c + 1, c + 2, c + 3);
        });
    }
    sql.push_str("; RELEASE write_op;");
    sql
}

/// Appends `rows` as a comma-separated VALUES list.
fn values<T>(sql: &mut String, rows: impl Iterator<Item = T>, mut row: impl FnMut(&mut String, T)) {
    for (i, value) in rows.enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        row(sql, value);
    }
}

type Query<'q> = sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>;

/// Binds the values of one submission, in the order [`chunk_sql`] numbers them.
fn bind<'q>(query: Query<'q>, new: &'q NewSubmission, entry: Option<&'q SealedAudit>) -> Result<Query<'q>, StoreError> {
    let sealed = &new.revision;
    let revision = i32::try_from(sealed.revision).map_err(|_| StoreError::Corrupt("revision number".into()))?;
    let form_version = i32::try_from(new.form_version).map_err(|_| StoreError::Corrupt("form version".into()))?;
    let mut query = query
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
    if let Some(entry) = entry {
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
    Ok(query)
}

#[cfg(test)]
mod tests {
    use super::chunk_len;

    #[test]
    fn chunks_are_powers_of_two_up_to_the_maximum() {
        assert_eq!(chunk_len(1), 1);
        assert_eq!(chunk_len(3), 2);
        assert_eq!(chunk_len(31), 16);
        assert_eq!(chunk_len(32), 32);
        assert_eq!(chunk_len(200), 32);
    }
}
