//! Group commit for new submissions on PostgreSQL.
//!
//! Every audit append locks the single chain-head row until its transaction commits, so transactions that each
//! append one entry commit one per WAL flush, however many connections there are. Here one writer per node, on a
//! thread of its own, takes whatever submissions are queued and stores them together, usually in one autocommitted
//! statement (see [`Writer::in_one_statement`]): the rows, the audit entries chained after the head in queue order,
//! and the head's move. One flush then acknowledges the whole batch; the chain stays gap-free and in commit order
//! because the head lock is held through COMMIT. Each submission's audit entry is in the same transaction as its
//! rows: if the entries cannot be written, no row commits.
//!
//! One writer, not two: with two, the second one's statement, chained after the first's entries, reached the server
//! first about half the time at 8 clients, found the head not yet moved, and went the long way; one writer stored
//! 35% more submissions per second at 8 clients and 18% more at 64 on the ingest bench.
//!
//! A batch that fails before COMMIT is rolled back and its submissions are stored one per transaction, so one bad
//! submission (a duplicate id, a form deleted meanwhile) fails alone. A failed COMMIT fails the whole batch, as the
//! outcome is unknown and a retry could store a submission twice.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sealform_core::audit::{ChainHead, PendingAudit, SealedAudit};
use sealform_core::store::{KEY_RETIRED, StoreError};
use sealform_core::submission::NewSubmission;

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions as _, Connection as _, PgConnection};
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::error::backend;
use crate::rows::key_uuid;

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

/// A handle to the submission writer; cheap to clone. The writer stops when the last handle is dropped.
#[derive(Clone)]
pub(crate) struct SubmissionBatcher {
    queue: mpsc::Sender<Pending>,
    taken: Arc<Taken>,
}

/// What the writer has taken off its queue so far.
#[derive(Default)]
struct Taken {
    writes: AtomicU64,
    batches: AtomicU64,
}

/// How many submissions the PostgreSQL writer has taken, in how many batches (each one statement or one
/// transaction): their ratio is the group commit at work.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BatchStats {
    /// Submissions taken.
    pub writes: u64,
    /// Batches they were taken in.
    pub batches: u64,
}

impl SubmissionBatcher {
    /// Starts the writer on a thread of its own, with a single-threaded runtime and a connection of its own. As a
    /// task on the shared runtime it had to wait for a worker after every round trip while the workers sealed
    /// submissions (at 8 clients the workers spent as long runnable-but-waiting as running), holding the chain
    /// head's lock across some of those waits. On its own thread it resumes as soon as the server answers. The
    /// thread ends when the last handle is dropped.
    /// `timeout` bounds connecting, the idle check and each attempt at a batch.
    pub(crate) fn spawn(options: PgConnectOptions, timeout: Duration) -> Result<Self, StoreError> {
        let failed =
            |e: std::io::Error| StoreError::Backend { operation: "start the submission writer", source: Box::new(e) };
        let (queue, mut rx) = mpsc::channel(QUEUE_DEPTH);
        let taken = Arc::new(Taken::default());
        let counts = Arc::clone(&taken);
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(failed)?;
        std::thread::Builder::new()
            .name("pg-submissions".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let fresh = || Writer { link: Link::new(options.clone(), timeout), head: None };
                    let mut writer = fresh();
                    let mut batch = Vec::with_capacity(MAX_BATCH);
                    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
                        let batch = std::mem::replace(&mut batch, Vec::with_capacity(MAX_BATCH));
                        counts.writes.fetch_add(batch.len() as u64, Ordering::Relaxed);
                        counts.batches.fetch_add(1, Ordering::Relaxed);
                        // A task per batch, so a panic loses that batch (its callers see the writer gone) and not
                        // the node's only writer.
                        writer = match tokio::spawn(async move {
                            writer.write(batch).await;
                            writer
                        })
                        .await
                        {
                            Ok(writer) => writer,
                            Err(_) => {
                                tracing::error!("the submission writer failed on a batch; starting afresh");
                                fresh()
                            }
                        };
                    }
                    writer.link.close().await;
                });
            })
            .map_err(failed)?;
        Ok(Self { queue, taken })
    }

    pub(crate) fn stats(&self) -> BatchStats {
        BatchStats {
            writes: self.taken.writes.load(Ordering::Relaxed),
            batches: self.taken.batches.load(Ordering::Relaxed),
        }
    }

    /// Stores the submission and its audit entry; returns once the transaction holding them has committed.
    pub(crate) async fn insert(&self, new: NewSubmission, audit: Option<PendingAudit>) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        let gone = || StoreError::Backend { operation: "store submission", source: "the writer has stopped".into() };
        self.queue.send(Pending { new, audit, reply }).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

/// A connection idle this long is checked (pinged) before the next batch uses it.
const CHECK_IDLE_AFTER: Duration = Duration::from_secs(1);

/// The writer's connection, kept from one batch to the next rather than pooled: sqlx's pool pings a connection
/// when it is handed out and when it is handed back, round trips on every batch's path. (Re)connected when needed;
/// dropped after any failure that may have left it broken.
struct Link {
    options: PgConnectOptions,
    /// Bounds connecting, the idle check and each attempt, so a server that stops answering (a half-open TCP
    /// connection) fails a batch instead of holding up the node's only writer.
    timeout: Duration,
    conn: Option<PgConnection>,
    last_used: Instant,
}

impl Link {
    fn new(options: PgConnectOptions, timeout: Duration) -> Self {
        Self { options, timeout, conn: None, last_used: Instant::now() }
    }

    /// The connection, checked first when it sat idle for [`CHECK_IDLE_AFTER`] (the server may have restarted).
    async fn get(&mut self) -> Result<&mut PgConnection, StoreError> {
        let idle = std::mem::replace(&mut self.last_used, Instant::now()).elapsed() >= CHECK_IDLE_AFTER;
        let conn = match self.conn.take() {
            Some(conn) if !idle => conn,
            Some(mut conn) => match tokio::time::timeout(self.timeout, conn.ping()).await {
                Ok(Ok(())) => conn,
                Ok(Err(_)) | Err(_) => self.connect().await?,
            },
            None => self.connect().await?,
        };
        Ok(self.conn.insert(conn))
    }

    async fn connect(&self) -> Result<PgConnection, StoreError> {
        tokio::time::timeout(self.timeout, self.options.connect())
            .await
            .map_err(|_| timed_out("connect to PostgreSQL"))?
            .map_err(backend("connect to PostgreSQL"))
    }

    /// Drops the connection after a failure that may have broken it; the next batch connects again.
    fn reset(&mut self) {
        self.conn = None;
    }

    async fn close(&mut self) {
        if let Some(conn) = self.conn.take() {
            let _ = conn.close().await;
        }
    }
}

struct Writer {
    link: Link,
    /// Where this writer left the chain head, the head the next batch expects: only a guess, since an audited write
    /// outside the writer (or on another node) may have moved it meanwhile. `None` after a failure.
    head: Option<ChainHead>,
}

/// How a batch attempt ended.
enum Attempt {
    /// Committed: each submission's answer (refused ones carry their error).
    Committed(Vec<Result<(), StoreError>>),
    /// Failed before COMMIT and rolled back: store the submissions one by one.
    RolledBack(StoreError),
    /// Not stored, or not known to be (COMMIT failed, the connection broke or could not be made, the attempt timed
    /// out): every submission is answered with the error and none is retried, as a retry could store one twice.
    Failed(StoreError),
}

impl Writer {
    async fn write(&mut self, batch: Vec<Pending>) {
        // An attempt cut short by the timeout may or may not have committed.
        let limit = self.link.timeout;
        let unknown = || Attempt::Failed(timed_out("store submissions"));
        let attempt = match tokio::time::timeout(limit, self.in_one_statement(&batch)).await {
            Ok(Some(attempt)) => attempt,
            Ok(None) => tokio::time::timeout(limit, self.in_a_transaction(&batch)).await.unwrap_or_else(|_| unknown()),
            Err(_) => unknown(),
        };
        let failed = !matches!(attempt, Attempt::Committed(_));
        if failed {
            // The head this batch expected to leave never committed.
            self.head = None;
        }
        self.answer(batch, attempt).await;
        if failed {
            // Whatever failed may have broken the connection; failures are rare, reconnecting is cheap.
            self.link.reset();
        }
    }

    /// The usual case, in one round trip: when the writer knows the head and every submission is audited, the
    /// batch's rows, its entries and the head's move are one statement, which PostgreSQL commits on its own (no
    /// BEGIN, no COMMIT). It writes nothing unless the head is the one expected and every key the batch is sealed to
    /// is still usable (share-locked, as in [`usable_keys`]). `None` when it did not apply or wrote nothing: then the
    /// batch goes the long way ([`Writer::in_a_transaction`]), which reads the head and refuses submissions one by
    /// one.
    async fn in_one_statement(&mut self, batch: &[Pending]) -> Option<Attempt> {
        let entries: Vec<&PendingAudit> = batch.iter().map(|p| p.audit.as_ref()).collect::<Option<_>>()?;
        let expected = self.head?;
        let sealed = chain(expected, &entries);
        let rows: Vec<&Pending> = batch.iter().collect();
        let query = one_statement(&rows, &sealed, expected).ok()?;
        let conn = match self.link.get().await {
            Ok(conn) => conn,
            Err(err) => return Some(Attempt::Failed(err)),
        };
        match query.fetch_one(conn).await {
            Ok((1,)) => {
                self.head = sealed.last().map(|s| s.head);
                Some(Attempt::Committed(batch.iter().map(|_| Ok(())).collect()))
            }
            // The connection failed: whether the statement committed is unknown, so it must not be retried.
            Err(err) if connection_lost(&err) => Some(Attempt::Failed(backend("store submissions")(err))),
            // A wrong guess or a retired key (nothing written), or an error the server reported (the statement
            // rolled back): the long way finds out which.
            Ok(_) | Err(_) => {
                self.head = None;
                None
            }
        }
    }

    /// The rows and entries in a transaction of several statements, refusing submissions sealed to a retired key.
    async fn in_a_transaction(&mut self, batch: &[Pending]) -> Attempt {
        let conn = match self.link.get().await {
            Ok(conn) => conn,
            Err(err) => return Attempt::Failed(err),
        };
        let mut tx = match conn.begin().await {
            Ok(tx) => tx,
            Err(err) => return Attempt::Failed(backend("begin submissions")(err)),
        };
        match store_batch(&mut tx, batch).await {
            Ok((answers, head)) => match tx.commit().await {
                Ok(()) => {
                    // The next batch guesses that the head is where this one left it.
                    self.head = head;
                    Attempt::Committed(answers)
                }
                Err(err) => Attempt::Failed(backend("commit submissions")(err)),
            },
            // Dropping the transaction rolls it back.
            Err(err) => Attempt::RolledBack(err),
        }
    }

    async fn answer(&mut self, batch: Vec<Pending>, attempt: Attempt) {
        match attempt {
            Attempt::Committed(answers) => {
                for (pending, answer) in batch.into_iter().zip(answers) {
                    let _ = pending.reply.send(answer);
                }
            }
            Attempt::Failed(err) => {
                tracing::error!(error = %err, "a batch of submissions was not stored");
                let cause = err.to_string();
                for pending in batch {
                    let source = cause.clone().into();
                    let _ = pending.reply.send(Err(StoreError::Backend { operation: "store submissions", source }));
                }
            }
            Attempt::RolledBack(err) => {
                if batch.len() > 1 {
                    tracing::debug!(error = %err, "a batch of submissions failed; storing them one by one");
                }
                // The failure may have been the connection's: start the one-by-one writes on a fresh one.
                self.link.reset();
                for pending in batch {
                    let stored = tokio::time::timeout(self.link.timeout, self.store_one(pending.new, pending.audit))
                        .await
                        .unwrap_or_else(|_| Err(timed_out("store submission")));
                    let _ = pending.reply.send(stored);
                }
            }
        }
    }

    /// One submission in its own transaction: the statements every other write uses.
    async fn store_one(&mut self, new: NewSubmission, audit: Option<PendingAudit>) -> Result<(), StoreError> {
        let Some(audit) = audit else {
            return Err(StoreError::Backend { operation: "store submission", source: "unaudited batch failed".into() });
        };
        let conn = self.link.get().await?;
        let mut tx = conn.begin().await.map_err(backend("store submission"))?;
        super::queries::insert_submission(&mut tx, new, audit).await?;
        tx.commit().await.map_err(backend("store submission"))
    }
}

/// Whether `err` means the connection is gone (an I/O or protocol failure, or the server ending the session: class
/// 08, or an administrator's or a crash's shutdown, 57P): the outcome of what was sent is then unknown.
fn connection_lost(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(db) => db.code().is_some_and(|code| code.starts_with("08") || code.starts_with("57P")),
        _ => true,
    }
}

fn timed_out(operation: &'static str) -> StoreError {
    StoreError::Backend { operation, source: "timed out".into() }
}

/// Writes the batch's rows and audit entries into `conn`'s open transaction. Submissions sealed to a key that can
/// no longer take new data are left out and answered with a conflict, as [`super::queries::insert_submission`]
/// does; the key rows of the others stay share-locked until COMMIT, so the keys cannot be retired meanwhile.
/// Answers each submission's outcome and the head the entries leave (`None` when none was appended).
async fn store_batch(
    conn: &mut PgConnection,
    batch: &[Pending],
) -> Result<(Vec<Result<(), StoreError>>, Option<ChainHead>), StoreError> {
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
        return Ok((answers, None));
    }
    // The head is locked last, so it is held as briefly as the long way allows, and until COMMIT.
    let head = super::queries::locked_audit_head(conn).await?;
    let entries: Vec<&PendingAudit> = rows.iter().filter_map(|p| p.audit.as_ref()).collect();
    let sealed = chain(head, &entries);
    let (moved,) =
        one_statement(&rows, &sealed, head)?.fetch_one(&mut *conn).await.map_err(backend("store submissions"))?;
    if moved != 1 {
        return Err(StoreError::Corrupt("the locked audit head did not move".into()));
    }
    Ok((answers, Some(sealed.last().map_or(head, |s| s.head))))
}

/// The (organisation, key) pairs of the batch that are active or retiring, share-locked.
async fn usable_keys(conn: &mut PgConnection, batch: &[Pending]) -> Result<Vec<(Uuid, Uuid)>, StoreError> {
    let (orgs, keys) = key_pairs(batch.iter());
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
fn key_pairs<'a>(batch: impl Iterator<Item = &'a Pending>) -> (Vec<Uuid>, Vec<Uuid>) {
    let mut pairs: Vec<(Uuid, Uuid)> = batch
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

/// A batch in one statement: the rows (`$1`–`$25`, bound by [`bind_rows`]), the entries and checkpoints
/// (`$26`–`$38`) and the head's move to `$39`–`$41` (bound by [`bind_entries`]), all written only if the head is
/// the expected one (`$42`/`$43`) and all `$46` (organisation, key) pairs (`$44`, `$45`) are usable,
/// share-locked. Answers how many heads moved (0 or 1).
const ONE_STATEMENT: &str = "WITH usable_keys AS ( \
       SELECT org_id, id FROM org_keys WHERE (org_id, id) IN (SELECT * FROM UNNEST($44::uuid[], $45::uuid[])) \
       AND state IN ('active', 'retiring') FOR SHARE), \
     moved AS ( \
       UPDATE audit_head SET seq = $39, chain_hash = $40, last_checkpoint_micros = $41 \
       WHERE id = 1 AND seq = $42 AND chain_hash = $43 AND (SELECT count(*) FROM usable_keys) = $46 RETURNING 1), \
     submission_rows AS ( \
       INSERT INTO submissions \
       (id, org_id, form_id, form_version, status, current_revision, created_at, updated_at) \
       SELECT id, org, form, version, 'new', revision, at, at \
       FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::int4[], $5::int4[], $6::timestamptz[]) \
       AS t (id, org, form, version, revision, at) WHERE EXISTS (SELECT 1 FROM moved)), \
     revision_rows AS ( \
       INSERT INTO submission_revisions \
       (org_id, submission_id, revision, envelope, wrapped_key, key_id, created_by, created_at) \
       SELECT * FROM UNNEST($2::uuid[], $1::uuid[], $5::int4[], $7::bytea[], $8::bytea[], $9::uuid[], \
       $10::uuid[], $6::timestamptz[]) WHERE EXISTS (SELECT 1 FROM moved)), \
     index_rows AS ( \
       INSERT INTO submission_index (org_id, form_id, field, digest, submission_id) \
       SELECT * FROM UNNEST($11::uuid[], $12::uuid[], $13::text[], $14::bytea[], $15::uuid[]) \
       WHERE EXISTS (SELECT 1 FROM moved)), \
     file_rows AS ( \
       INSERT INTO files (id, org_id, submission_id, revision, question_id, object_key, sealed_size, \
       wrapped_key, key_id, created_at) \
       SELECT * FROM UNNEST($16::uuid[], $17::uuid[], $18::uuid[], $19::int4[], $20::text[], $21::text[], \
       $22::int8[], $23::bytea[], $24::uuid[], $25::timestamptz[]) WHERE EXISTS (SELECT 1 FROM moved)), \
     entries AS ( \
       INSERT INTO audit_events (seq, org_id, at, action, actor_id, outcome, target_hash, detail, chain_hash) \
       SELECT * FROM UNNEST($26::int8[], $27::uuid[], $28::timestamptz[], $29::text[], $30::uuid[], $31::text[], \
       $32::bytea[], $33::bytea[], $34::bytea[]) WHERE EXISTS (SELECT 1 FROM moved)), \
     checkpoints AS ( \
       INSERT INTO audit_checkpoints (seq, chain_hash, at_micros, signature) \
       SELECT * FROM UNNEST($35::int8[], $36::bytea[], $37::int8[], $38::bytea[]) \
       WHERE EXISTS (SELECT 1 FROM moved)) \
     SELECT count(*) FROM moved";

/// [`ONE_STATEMENT`] for `rows`, their `sealed` entries and the head they expect.
fn one_statement<'q>(
    rows: &[&'q Pending],
    sealed: &'q [SealedAudit],
    expected: ChainHead,
) -> Result<PgQuery<'q, (i64,)>, StoreError> {
    let (orgs, keys) = key_pairs(rows.iter().copied());
    let pairs = i64::try_from(keys.len()).unwrap_or(i64::MAX);
    Ok(bind_entries(bind_rows(sqlx::query_as(ONE_STATEMENT), rows)?, sealed, expected)
        .bind(orgs)
        .bind(keys)
        .bind(pairs))
}

/// Binds the rows' 25 arrays, in [`ONE_STATEMENT`]'s numbering.
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

/// Binds the entries' 13 arrays, the head after them and the expected one, in [`ONE_STATEMENT`]'s order. With no
/// entries the head "moves" to where it is, so the rows are still written.
fn bind_entries<'q, O>(query: PgQuery<'q, O>, sealed: &'q [SealedAudit], expected: ChainHead) -> PgQuery<'q, O> {
    let rows: Vec<&sealform_core::audit::AuditRow> = sealed.iter().map(|s| &s.row).collect();
    let checkpoints: Vec<_> = sealed.iter().filter_map(|s| s.checkpoint.as_ref()).collect();
    let last = sealed.last().map_or(expected, |s| s.head);
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
        .bind(last.seq)
        .bind(last.hash.to_vec())
        .bind(last.last_checkpoint_micros)
        .bind(expected.seq)
        .bind(expected.hash.to_vec())
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
