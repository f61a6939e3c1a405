//! Group commit for new submissions on PostgreSQL.
//!
//! Every audit append locks the single chain-head row until its transaction commits, so transactions that each
//! append one entry commit one per WAL flush, however many connections there are. Here two writers per node, on a
//! thread of their own, take whatever submissions are queued and store them in one transaction: one array statement
//! for the rows, then one that moves the head and inserts every entry of the batch, chained after it in queue
//! order (see [`append_entries`]: the writers guess the head, so one writer's entries wait on the server for the
//! other's COMMIT rather than on a round trip after it). One flush then acknowledges the whole batch; the chain
//! stays gap-free and in commit order because the head lock is held through COMMIT. Each submission's audit entry
//! is in the same transaction as its rows: if the entries cannot be written, no row commits.
//!
//! A batch that fails before COMMIT is rolled back and its submissions are stored one per transaction, so one bad
//! submission (a duplicate id, a form deleted meanwhile) fails alone. A failed COMMIT fails the whole batch, as the
//! outcome is unknown and a retry could store a submission twice.

use std::sync::Arc;
use std::time::Duration;

use sealform_core::audit::{ChainHead, PendingAudit, SealedAudit};
use sealform_core::store::StoreError;
use sealform_core::submission::NewSubmission;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use tokio::sync::{Mutex, mpsc, oneshot};
use uuid::Uuid;

use crate::error::backend;
use crate::rows::{KEY_RETIRED, key_uuid};

/// Writer tasks per node: two, so one batch's rows go in while the other's commit is flushed.
const WRITERS: usize = 2;
/// Most submissions in one transaction; bounds the latency one waits behind others.
const MAX_BATCH: usize = 256;
/// Queued submissions before callers wait.
const QUEUE_DEPTH: usize = 4096;

struct Pending {
    new: NewSubmission,
    /// `None` only in the benchmark of the write path without auditing (feature `bench-internals`).
    audit: Option<PendingAudit>,
    reply: oneshot::Sender<Result<(), StoreError>>,
}

/// A handle to the submission writers; cheap to clone. The writers stop when the last handle is dropped.
#[derive(Clone)]
pub(crate) struct SubmissionBatcher {
    queue: mpsc::Sender<Pending>,
}

impl SubmissionBatcher {
    /// Starts the writers on a thread of their own, with a single-threaded runtime and a pool of one connection per
    /// writer. As tasks on the shared runtime they had to wait for a worker after every round trip while the
    /// workers sealed submissions (at 8 clients the workers spent as long runnable-but-waiting as running), and a
    /// writer holds the chain head's lock across some of those waits. On their own thread they resume as soon as
    /// the server answers. The thread ends when the last handle is dropped.
    pub(crate) fn spawn(options: PgConnectOptions, acquire_timeout: Duration) -> Result<Self, StoreError> {
        let failed =
            |e: std::io::Error| StoreError::Backend { operation: "start the submission writers", source: Box::new(e) };
        let (queue, rx) = mpsc::channel(QUEUE_DEPTH);
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(failed)?;
        std::thread::Builder::new()
            .name("pg-submissions".into())
            .spawn(move || {
                runtime.block_on(async move {
                    // Connected lazily, on this runtime, so the connections' sockets are driven by this thread.
                    let pool = PgPoolOptions::new()
                        .max_connections(u32::try_from(WRITERS).unwrap_or(u32::MAX))
                        .acquire_timeout(acquire_timeout)
                        .connect_lazy_with(options);
                    let rx = Arc::new(Mutex::new(rx));
                    let head = Arc::new(std::sync::Mutex::new(None));
                    let writers: Vec<_> = (0..WRITERS)
                        .map(|_| tokio::spawn(run(pool.clone(), Arc::clone(&rx), Arc::clone(&head))))
                        .collect();
                    for writer in writers {
                        let _ = writer.await;
                    }
                    pool.close().await;
                });
            })
            .map_err(failed)?;
        Ok(Self { queue })
    }

    /// Stores the submission and its audit entry; returns once the transaction holding them has committed.
    pub(crate) async fn insert(&self, new: NewSubmission, audit: Option<PendingAudit>) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        let gone = || StoreError::Backend { operation: "store submission", source: "the writer has stopped".into() };
        self.queue.send(Pending { new, audit, reply }).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

/// The chain head as this node's writers last left it, shared by them; only a guess (see [`append_entries`]).
type CachedHead = Arc<std::sync::Mutex<Option<ChainHead>>>;

async fn run(pool: PgPool, rx: Arc<Mutex<mpsc::Receiver<Pending>>>, head: CachedHead) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    loop {
        // One writer waits for work at a time; the other is writing meanwhile.
        if rx.lock().await.recv_many(&mut batch, MAX_BATCH).await == 0 {
            return;
        }
        write(&pool, &head, std::mem::replace(&mut batch, Vec::with_capacity(MAX_BATCH))).await;
    }
}

/// How a batch attempt ended.
enum Attempt {
    /// Committed: each submission's answer (refused ones carry their error).
    Committed(Vec<Result<(), StoreError>>),
    /// Failed before COMMIT and rolled back: store the submissions one by one.
    RolledBack(StoreError),
    /// COMMIT itself failed: the outcome is unknown.
    CommitFailed(StoreError),
}

async fn write(pool: &PgPool, head: &CachedHead, batch: Vec<Pending>) {
    let attempt = match in_one_statement(pool, head, &batch).await {
        Some(attempt) => attempt,
        None => in_a_transaction(pool, head, &batch).await,
    };
    answer(pool, head, batch, attempt).await;
}

/// The usual case, in one round trip: when the writers know the head and every submission is audited, the batch's
/// rows, its entries and the head's move are one statement, which PostgreSQL commits on its own (no BEGIN, no
/// COMMIT). It writes nothing unless the head is the one guessed and every key the batch is sealed to is still
/// usable (share-locked, as in [`usable_keys`]). `None` when it did not apply or wrote nothing: then the batch goes
/// the long way ([`in_a_transaction`]), which reads the head and refuses submissions one by one.
async fn in_one_statement(pool: &PgPool, head: &CachedHead, batch: &[Pending]) -> Option<Attempt> {
    let entries: Vec<&PendingAudit> = batch.iter().map(|p| p.audit.as_ref()).collect::<Option<_>>()?;
    let mut conn = pool.acquire().await.ok()?;
    let (expected, sealed) = guess(head, &entries)?;
    let rows: Vec<&Pending> = batch.iter().collect();
    let (orgs, keys) = key_pairs(batch);
    let statement = bind_rows(sqlx::query_as(ONE_STATEMENT), &rows)
        .map(|query| bind_entries(query, &sealed, Some(expected)).bind(orgs).bind(keys.clone()))
        .map(|query| query.bind(i64::try_from(keys.len()).unwrap_or(i64::MAX)));
    let outcome: Result<(i64,), sqlx::Error> = match statement {
        Ok(query) => query.fetch_one(&mut *conn).await,
        Err(_) => {
            forget(head);
            return None;
        }
    };
    match outcome {
        Ok((1,)) => Some(Attempt::Committed(batch.iter().map(|_| Ok(())).collect())),
        // A wrong guess or a retired key (nothing written), or an error the server reported (the statement rolled
        // back): the long way finds out which.
        Ok(_) | Err(sqlx::Error::Database(_)) => {
            forget(head);
            None
        }
        // The connection failed: whether the statement committed is unknown, so it must not be retried.
        Err(err) => {
            forget(head);
            Some(Attempt::CommitFailed(backend("store submissions")(err)))
        }
    }
}

/// The rows and entries in a transaction of several statements, refusing submissions sealed to a retired key.
async fn in_a_transaction(pool: &PgPool, head: &CachedHead, batch: &[Pending]) -> Attempt {
    let attempt = match pool.begin().await {
        Ok(mut tx) => match store_batch(&mut tx, head, batch).await {
            Ok(answers) => match tx.commit().await {
                Ok(()) => Attempt::Committed(answers),
                Err(err) => Attempt::CommitFailed(backend("commit submissions")(err)),
            },
            // Dropping the transaction rolls it back.
            Err(err) => Attempt::RolledBack(err),
        },
        Err(err) => Attempt::RolledBack(backend("begin submissions")(err)),
    };
    if !matches!(attempt, Attempt::Committed(_)) {
        // The head this batch cached never committed.
        forget(head);
    }
    attempt
}

async fn answer(pool: &PgPool, head: &CachedHead, batch: Vec<Pending>, attempt: Attempt) {
    if !matches!(attempt, Attempt::Committed(_)) {
        forget(head);
    }
    match attempt {
        Attempt::Committed(answers) => {
            for (pending, answer) in batch.into_iter().zip(answers) {
                let _ = pending.reply.send(answer);
            }
        }
        Attempt::CommitFailed(err) => {
            tracing::error!(error = %err, "a batch of submissions failed to commit");
            let cause = err.to_string();
            for pending in batch {
                let source = cause.clone().into();
                let _ = pending.reply.send(Err(StoreError::Backend { operation: "commit submissions", source }));
            }
        }
        Attempt::RolledBack(err) => {
            if batch.len() > 1 {
                tracing::debug!(error = %err, "a batch of submissions failed; storing them one by one");
            }
            for pending in batch {
                let _ = pending.reply.send(store_one(pool, pending.new, pending.audit).await);
            }
        }
    }
}

/// One submission in its own transaction: the statements every other write uses.
async fn store_one(pool: &PgPool, new: NewSubmission, audit: Option<PendingAudit>) -> Result<(), StoreError> {
    let Some(audit) = audit else {
        return Err(StoreError::Backend { operation: "store submission", source: "unaudited batch failed".into() });
    };
    let mut tx = pool.begin().await.map_err(backend("store submission"))?;
    super::queries::insert_submission(&mut tx, new, audit).await?;
    tx.commit().await.map_err(backend("store submission"))
}

/// Writes the batch's rows and audit entries into `conn`'s open transaction. Submissions sealed to a key that can
/// no longer take new data are left out and answered with a conflict, as [`super::queries::insert_submission`]
/// does; the key rows of the others stay share-locked until COMMIT, so the keys cannot be retired meanwhile.
async fn store_batch(
    conn: &mut PgConnection,
    head: &CachedHead,
    batch: &[Pending],
) -> Result<Vec<Result<(), StoreError>>, StoreError> {
    let usable = usable_keys(conn, batch).await?;
    let accepted = |p: &Pending| {
        std::iter::once(p.new.revision.key_id)
            .chain(p.new.files.iter().map(|f| f.key_id))
            .all(|key| usable.contains(&(*p.new.org_id.as_uuid(), key_uuid(key))))
    };
    let answers: Vec<Result<(), StoreError>> = batch
        .iter()
        .map(|p| if accepted(p) { Ok(()) } else { Err(StoreError::Conflict(KEY_RETIRED.into())) })
        .collect();
    let rows: Vec<&Pending> = batch.iter().zip(&answers).filter(|(_, a)| a.is_ok()).map(|(p, _)| p).collect();
    if rows.is_empty() {
        return Ok(answers);
    }
    insert_rows(conn, &rows).await?;
    if rows.iter().any(|p| p.audit.is_some()) {
        append_entries(conn, head, rows.iter().filter_map(|p| p.audit.as_ref())).await?;
    }
    Ok(answers)
}

/// The (organisation, key) pairs of the batch that are active or retiring, share-locked.
async fn usable_keys(conn: &mut PgConnection, batch: &[Pending]) -> Result<Vec<(Uuid, Uuid)>, StoreError> {
    let (orgs, keys) = key_pairs(batch);
    sqlx::query_as(
        "SELECT org_id, id FROM org_keys WHERE (org_id, id) IN (SELECT * FROM UNNEST($1::uuid[], $2::uuid[])) \
         AND state IN ('active', 'retiring') FOR SHARE",
    )
    .bind(orgs)
    .bind(keys)
    .fetch_all(&mut *conn)
    .await
    .map_err(backend("check organisation keys"))
}

/// The distinct (organisation, key) pairs the batch is sealed to, as two arrays.
fn key_pairs(batch: &[Pending]) -> (Vec<Uuid>, Vec<Uuid>) {
    let mut pairs: Vec<(Uuid, Uuid)> = batch
        .iter()
        .flat_map(|p| {
            let org = *p.new.org_id.as_uuid();
            std::iter::once(p.new.revision.key_id)
                .chain(p.new.files.iter().map(|f| f.key_id))
                .map(move |k| (org, key_uuid(k)))
        })
        .collect();
    pairs.sort_unstable();
    pairs.dedup();
    pairs.into_iter().unzip()
}

type PgQuery<'q, O> = sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments>;

/// The rows of a batch as data-modifying CTEs reading the arrays `$1`–`$25` (bound by [`bind_rows`]), each insert
/// guarded by `{guard}` (empty, or a condition every row needs).
macro_rules! row_ctes {
    ($guard:literal) => {
        concat!(
            "submission_rows AS ( \
               INSERT INTO submissions \
               (id, org_id, form_id, form_version, status, current_revision, created_at, updated_at) \
               SELECT id, org, form, version, 'new', revision, at, at \
               FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::int4[], $5::int4[], $6::timestamptz[]) \
               AS t (id, org, form, version, revision, at) ",
            $guard,
            "), \
             revision_rows AS ( \
               INSERT INTO submission_revisions \
               (org_id, submission_id, revision, envelope, wrapped_key, key_id, created_by, created_at) \
               SELECT * FROM UNNEST($2::uuid[], $1::uuid[], $5::int4[], $7::bytea[], $8::bytea[], $9::uuid[], \
               $10::uuid[], $6::timestamptz[]) ",
            $guard,
            "), \
             index_rows AS ( \
               INSERT INTO submission_index (org_id, form_id, field, digest, submission_id) \
               SELECT * FROM UNNEST($11::uuid[], $12::uuid[], $13::text[], $14::bytea[], $15::uuid[]) ",
            $guard,
            "), \
             file_rows AS ( \
               INSERT INTO files (id, org_id, submission_id, revision, question_id, object_key, sealed_size, \
               wrapped_key, key_id, created_at) \
               SELECT * FROM UNNEST($16::uuid[], $17::uuid[], $18::uuid[], $19::int4[], $20::text[], $21::text[], \
               $22::int8[], $23::bytea[], $24::uuid[], $25::timestamptz[]) ",
            $guard,
            ")"
        )
    };
}

/// Every row of the batch in one statement (one round trip; the foreign keys are checked at the end of the
/// statement, when the submissions are in).
const ROWS: &str = concat!("WITH ", row_ctes!(""), " SELECT 1");

/// Moves the head from `$17`/`$18` (from wherever it is when they are NULL) to `$14`–`$16` and inserts the entries
/// and checkpoints (`$1`–`$13`, bound by [`bind_entries`]) only if it moved; answers how many heads moved (0 or 1).
const ENTRIES: &str = "WITH moved AS ( \
       UPDATE audit_head SET seq = $14, chain_hash = $15, last_checkpoint_micros = $16 \
       WHERE id = 1 AND ($17::int8 IS NULL OR (seq = $17 AND chain_hash = $18)) RETURNING 1), \
     entries AS ( \
       INSERT INTO audit_events (seq, org_id, at, action, actor_id, outcome, target_hash, detail, chain_hash) \
       SELECT * FROM UNNEST($1::int8[], $2::uuid[], $3::timestamptz[], $4::text[], $5::uuid[], $6::text[], \
       $7::bytea[], $8::bytea[], $9::bytea[]) WHERE EXISTS (SELECT 1 FROM moved)), \
     checkpoints AS ( \
       INSERT INTO audit_checkpoints (seq, chain_hash, at_micros, signature) \
       SELECT * FROM UNNEST($10::int8[], $11::bytea[], $12::int8[], $13::bytea[]) \
       WHERE EXISTS (SELECT 1 FROM moved)) \
     SELECT count(*) FROM moved";

/// [`ROWS`] and [`ENTRIES`] in one statement ([`in_one_statement`]): the rows (`$1`–`$25`) and the entries (the
/// same arrays as in `ENTRIES`, from `$26`), written only if the head moves from the guessed one (`$42`/`$43`)
/// and all `$46` (organisation, key) pairs (`$44`, `$45`) are usable, share-locked.
const ONE_STATEMENT: &str = concat!(
    "WITH usable_keys AS ( \
       SELECT org_id, id FROM org_keys WHERE (org_id, id) IN (SELECT * FROM UNNEST($44::uuid[], $45::uuid[])) \
       AND state IN ('active', 'retiring') FOR SHARE), \
     moved AS ( \
       UPDATE audit_head SET seq = $39, chain_hash = $40, last_checkpoint_micros = $41 \
       WHERE id = 1 AND seq = $42 AND chain_hash = $43 AND (SELECT count(*) FROM usable_keys) = $46 RETURNING 1), ",
    row_ctes!("WHERE EXISTS (SELECT 1 FROM moved)"),
    ", entries AS ( \
       INSERT INTO audit_events (seq, org_id, at, action, actor_id, outcome, target_hash, detail, chain_hash) \
       SELECT * FROM UNNEST($26::int8[], $27::uuid[], $28::timestamptz[], $29::text[], $30::uuid[], $31::text[], \
       $32::bytea[], $33::bytea[], $34::bytea[]) WHERE EXISTS (SELECT 1 FROM moved)), \
     checkpoints AS ( \
       INSERT INTO audit_checkpoints (seq, chain_hash, at_micros, signature) \
       SELECT * FROM UNNEST($35::int8[], $36::bytea[], $37::int8[], $38::bytea[]) \
       WHERE EXISTS (SELECT 1 FROM moved)) \
     SELECT count(*) FROM moved"
);

async fn insert_rows(conn: &mut PgConnection, rows: &[&Pending]) -> Result<(), StoreError> {
    let query: PgQuery<'_, (i32,)> = bind_rows(sqlx::query_as(ROWS), rows)?;
    query.fetch_one(&mut *conn).await.map_err(backend("store submissions"))?;
    Ok(())
}

/// Binds the rows' 25 arrays, in [`row_ctes!`]'s numbering.
fn bind_rows<'q, O>(query: PgQuery<'q, O>, rows: &[&'q Pending]) -> Result<PgQuery<'q, O>, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(what.to_owned());
    let version = rows.iter().map(|p| i32::try_from(p.new.form_version)).collect::<Result<Vec<i32>, _>>();
    let revision = rows.iter().map(|p| i32::try_from(p.new.revision.revision)).collect::<Result<Vec<i32>, _>>();
    let revision = revision.map_err(|_| corrupt("revision number"))?;
    let index: Vec<(&Pending, &(String, [u8; 16]))> =
        rows.iter().flat_map(|p| p.new.index.iter().map(move |entry| (*p, entry))).collect();
    let files: Vec<(&Pending, &'q sealform_core::submission::NewFile)> =
        rows.iter().flat_map(|p| p.new.files.iter().map(move |file| (*p, file))).collect();
    let sizes = files.iter().map(|(_, f)| i64::try_from(f.sealed_size)).collect::<Result<Vec<i64>, _>>();
    let file_revisions =
        files.iter().map(|(p, _)| i32::try_from(p.new.revision.revision)).collect::<Result<Vec<_>, _>>();
    Ok(query
        .bind(rows.iter().map(|p| *p.new.id.as_uuid()).collect::<Vec<_>>())
        .bind(rows.iter().map(|p| *p.new.org_id.as_uuid()).collect::<Vec<_>>())
        .bind(rows.iter().map(|p| *p.new.form_id.as_uuid()).collect::<Vec<_>>())
        .bind(version.map_err(|_| corrupt("form version"))?)
        .bind(revision)
        .bind(rows.iter().map(|p| p.new.revision.created_at).collect::<Vec<OffsetDateTime>>())
        .bind(rows.iter().map(|p| p.new.revision.envelope.as_slice()).collect::<Vec<_>>())
        .bind(rows.iter().map(|p| p.new.revision.wrapped_key.as_slice()).collect::<Vec<_>>())
        .bind(rows.iter().map(|p| key_uuid(p.new.revision.key_id)).collect::<Vec<_>>())
        .bind(rows.iter().map(|p| p.new.revision.created_by.map(|u| *u.as_uuid())).collect::<Vec<_>>())
        .bind(index.iter().map(|(p, _)| *p.new.org_id.as_uuid()).collect::<Vec<_>>())
        .bind(index.iter().map(|(p, _)| *p.new.form_id.as_uuid()).collect::<Vec<_>>())
        .bind(index.iter().map(|(_, (field, _))| field.as_str()).collect::<Vec<_>>())
        .bind(index.iter().map(|(_, (_, digest))| digest.as_slice()).collect::<Vec<_>>())
        .bind(index.iter().map(|(p, _)| *p.new.id.as_uuid()).collect::<Vec<_>>())
        .bind(files.iter().map(|(_, f)| *f.id.as_uuid()).collect::<Vec<_>>())
        .bind(files.iter().map(|(p, _)| *p.new.org_id.as_uuid()).collect::<Vec<_>>())
        .bind(files.iter().map(|(p, _)| *p.new.id.as_uuid()).collect::<Vec<_>>())
        .bind(file_revisions.map_err(|_| corrupt("revision number"))?)
        .bind(files.iter().map(|(_, f)| f.question_id.as_str()).collect::<Vec<_>>())
        .bind(files.iter().map(|(_, f)| f.object_key.as_str()).collect::<Vec<_>>())
        .bind(sizes.map_err(|_| corrupt("file size"))?)
        .bind(files.iter().map(|(_, f)| f.wrapped_key.as_slice()).collect::<Vec<_>>())
        .bind(files.iter().map(|(_, f)| key_uuid(f.key_id)).collect::<Vec<_>>())
        .bind(files.iter().map(|(p, _)| p.new.revision.created_at).collect::<Vec<_>>()))
}

/// The long way's append: locks the head, chains every entry after it in order, and inserts them (and any
/// checkpoints due) and moves the head in one statement. The lock is held until COMMIT, as for every other append.
async fn append_entries<'a>(
    conn: &mut PgConnection,
    head: &CachedHead,
    entries: impl Iterator<Item = &'a PendingAudit>,
) -> Result<(), StoreError> {
    let entries: Vec<&PendingAudit> = entries.collect();
    let (seq, hash, last_checkpoint_micros): (i64, Vec<u8>, i64) =
        sqlx::query_as("SELECT seq, chain_hash, last_checkpoint_micros FROM audit_head WHERE id = 1 FOR UPDATE")
            .fetch_one(&mut *conn)
            .await
            .map_err(backend("read audit head"))?;
    let hash: [u8; 32] = hash.as_slice().try_into().map_err(|_| StoreError::Corrupt("audit head hash".into()))?;
    let sealed = chain(ChainHead { seq, hash, last_checkpoint_micros }, &entries);
    let query: PgQuery<'_, (i64,)> = bind_entries(sqlx::query_as(ENTRIES), &sealed, None);
    let (moved,) = query.fetch_one(&mut *conn).await.map_err(backend("append audit entries"))?;
    if moved != 1 {
        return Err(StoreError::Corrupt("the locked audit head did not move".into()));
    }
    // The next batch guesses that the head is where this one left it.
    *head.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = sealed.last().map(|s| s.head);
    Ok(())
}

/// Binds the entries' 13 arrays, the new head and the expected one, in [`ENTRIES`]'s order.
fn bind_entries<'q, O>(
    query: PgQuery<'q, O>,
    sealed: &'q [SealedAudit],
    expected: Option<ChainHead>,
) -> PgQuery<'q, O> {
    let rows: Vec<&sealform_core::audit::AuditRow> = sealed.iter().map(|s| &s.row).collect();
    let checkpoints: Vec<_> = sealed.iter().filter_map(|s| s.checkpoint.as_ref()).collect();
    let last = sealed.last().map(|s| s.head);
    query
        .bind(rows.iter().map(|r| r.seq).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.org.map(|o| *o.as_uuid())).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.at).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.action.as_str()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.actor_id).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.outcome.as_str()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.target_hash.as_deref()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.detail.as_slice()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.chain_hash.as_slice()).collect::<Vec<_>>())
        .bind(checkpoints.iter().map(|(c, _)| c.seq).collect::<Vec<_>>())
        .bind(checkpoints.iter().map(|(c, _)| c.hash.as_slice()).collect::<Vec<_>>())
        .bind(checkpoints.iter().map(|(c, _)| c.at_micros).collect::<Vec<_>>())
        .bind(checkpoints.iter().map(|(_, signature)| signature.as_slice()).collect::<Vec<_>>())
        .bind(last.map(|h| h.seq))
        .bind(last.map(|h| h.hash.to_vec()))
        .bind(last.map(|h| h.last_checkpoint_micros))
        .bind(expected.map(|h| h.seq))
        .bind(expected.map(|h| h.hash.to_vec()))
}

/// Guesses the head (where this node's writers left it) and moves the guess past `entries` at once, so the other
/// writer's guess follows this batch's entries; the entries sealed after the guess. `None` when there is no guess.
fn guess(head: &CachedHead, entries: &[&PendingAudit]) -> Option<(ChainHead, Vec<SealedAudit>)> {
    let mut cached = head.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let expected = (*cached)?;
    let sealed = chain(expected, entries);
    *cached = sealed.last().map(|s| s.head);
    Some((expected, sealed))
}

/// Forgets the guessed head, so the next batch reads it.
fn forget(head: &CachedHead) {
    *head.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = None;
}

/// Seals `entries` one after the other, after `head`.
fn chain(mut head: ChainHead, entries: &[&PendingAudit]) -> Vec<SealedAudit> {
    entries
        .iter()
        .map(|entry| {
            let sealed = entry.seal(head);
            head = sealed.head;
            sealed
        })
        .collect()
}
