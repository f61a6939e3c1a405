//! The single writer: collects queued writes, runs them in one `BEGIN IMMEDIATE` transaction, each inside its own
//! savepoint so one failure does not undo its neighbours, commits once, and only then answers each caller.
//! A caller therefore never hears "ok" for a write that a crash could still lose.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use std::collections::HashSet;

use sealform_core::audit::ChainHead;
use sealform_core::ids::OrgId;
use sealform_core::store::StoreError;
use sealform_crypto::KeyId;
use sqlx::{Connection as _, SqliteConnection};
use tokio::sync::{mpsc, oneshot};

use super::submissions::{self, SubmissionWrite};
use crate::error::backend;

/// Most writes folded into one transaction; bounds the latency a write waits behind others.
const MAX_BATCH: usize = 256;
/// Queued writes before callers wait (back-pressure instead of unbounded memory).
const QUEUE_DEPTH: usize = 4096;

/// A boxed future borrowing the writer's connection.
pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
type Output = Box<dyn Any + Send>;
type PlainRun = Box<dyn for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<Output, StoreError>> + Send>;

/// How a write runs inside the batch transaction.
enum Run {
    /// Inside a savepoint the writer opens and closes; may read and move the audit head row itself.
    Plain(PlainRun),
    /// A new submission: consecutive ones are written together ([`submissions::insert_submissions`]), their audit
    /// entries chained after the in-memory head of [`BatchState`], so the head row is read once and written once
    /// per transaction instead of per write.
    Submission(Box<SubmissionWrite>),
}

struct WriteOp {
    run: Run,
    reply: oneshot::Sender<Result<Output, StoreError>>,
    /// When the caller queued it, for the time writes wait before their transaction starts.
    queued_at: Instant,
}

/// What batched writes share within one transaction. Valid only inside it: the writer holds SQLite's write lock
/// from `BEGIN IMMEDIATE` to `COMMIT`, so no other connection or process can move the chain head or change a key
/// meanwhile; plain writes can, so the writer writes the head back before each plain write and forgets both after.
#[derive(Default)]
pub(crate) struct BatchState {
    /// The chain head after the last batched write that succeeded, when it differs from the head row.
    head: Option<ChainHead>,
    /// Organisation keys found usable (active or retiring) in this transaction.
    usable_keys: HashSet<(OrgId, KeyId)>,
    /// A batched write could not undo its partial change: the whole transaction must roll back.
    poisoned: bool,
}

impl BatchState {
    /// The chain head to append after: the in-memory one, else the head row.
    pub(crate) fn head(&self) -> Option<ChainHead> {
        self.head
    }

    /// Records the head after a successful append (written back before the next plain write and at commit).
    pub(crate) fn advance(&mut self, head: ChainHead) {
        self.head = Some(head);
    }

    pub(crate) fn key_known_usable(&self, org: OrgId, key: KeyId) -> bool {
        self.usable_keys.contains(&(org, key))
    }

    pub(crate) fn remember_usable(&mut self, org: OrgId, key: KeyId) {
        self.usable_keys.insert((org, key));
    }

    /// Marks the transaction as unusable: every write in it fails and nothing commits.
    pub(crate) fn poison(&mut self) {
        self.poisoned = true;
    }

    pub(crate) fn poisoned(&self) -> bool {
        self.poisoned
    }

    /// Writes the in-memory head back to the head row, if it moved.
    async fn flush(&mut self, conn: &mut SqliteConnection) -> Result<(), StoreError> {
        if let Some(head) = self.head.take() {
            super::queries::store_audit_head(conn, head).await?;
        }
        Ok(())
    }
}

/// What the writer is asked to do, in queue order.
enum Job {
    /// A write, group-committed with its neighbours.
    Write(WriteOp),
    /// Copy the WAL into the database and truncate it, after the writes queued before it have committed; used after
    /// crypto-shredding so deleted bytes do not linger in the WAL.
    Checkpoint(oneshot::Sender<Result<(), StoreError>>),
    /// Commit what was queued before, close the connection and stop; later writes fail.
    Shutdown(oneshot::Sender<()>),
}

/// Counters of the writer's work, cumulative since it started; the difference of two readings describes the
/// interval between them (how big batches were, how long the writer was busy and on what).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Writes that ran (committed or rolled back to their savepoint).
    pub writes: u64,
    /// Transactions committed.
    pub commits: u64,
    /// Time inside transactions, from `BEGIN IMMEDIATE` to the end of `COMMIT` (the rest the writer was idle or
    /// waiting to be scheduled).
    pub busy: Duration,
    /// Of `busy`, the time in `COMMIT` itself: mostly the WAL's fsync.
    pub committing: Duration,
    /// Summed over writes: the time from being queued to the start of the transaction that ran it.
    pub queued: Duration,
}

#[derive(Default)]
struct Counters {
    writes: AtomicU64,
    commits: AtomicU64,
    busy_nanos: AtomicU64,
    committing_nanos: AtomicU64,
    queued_nanos: AtomicU64,
}

fn add(counter: &AtomicU64, time: Duration) {
    counter.fetch_add(u64::try_from(time.as_nanos()).unwrap_or(u64::MAX), Ordering::Relaxed);
}

/// A handle to the writer task; cheap to clone.
#[derive(Clone)]
pub(crate) struct Writer {
    queue: mpsc::Sender<Job>,
    counters: Arc<Counters>,
}

impl Writer {
    /// Starts the writer on a thread of its own with a single-threaded runtime. As a task on the shared runtime
    /// it had to be scheduled again after every statement (each is a round trip to the connection's SQLite thread),
    /// and under load the runtime's workers were busy sealing submissions, so those wake-ups queued behind the very
    /// work that feeds the writer. On its own thread the writer resumes as soon as SQLite answers, and it never
    /// takes a worker away from sealing. The thread ends when the last handle is dropped or [`Writer::close`] runs.
    pub(crate) fn spawn(conn: SqliteConnection) -> Result<Self, StoreError> {
        let (queue, rx) = mpsc::channel(QUEUE_DEPTH);
        let counters = Arc::new(Counters::default());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .map_err(|e| StoreError::Backend { operation: "start the SQLite writer", source: Box::new(e) })?;
        let thread_counters = Arc::clone(&counters);
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || runtime.block_on(run(conn, rx, thread_counters)))
            .map_err(|e| StoreError::Backend { operation: "start the SQLite writer", source: Box::new(e) })?;
        Ok(Self { queue, counters })
    }

    /// Queues `op` and waits until the transaction holding it has committed.
    pub(crate) async fn write<T, F>(&self, op: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<T, StoreError>> + Send + 'static,
    {
        let run: PlainRun =
            Box::new(move |conn| Box::pin(async move { op(conn).await.map(|v| Box::new(v) as Output) }));
        self.submit(Run::Plain(run)).await
    }

    /// Queues a new submission (see [`Run::Submission`]) and waits until the transaction holding it has committed.
    pub(crate) async fn insert_submission(&self, write: SubmissionWrite) -> Result<(), StoreError> {
        self.submit(Run::Submission(Box::new(write))).await
    }

    async fn submit<T: Send + 'static>(&self, run: Run) -> Result<T, StoreError> {
        let (reply, answer) = oneshot::channel();
        let gone = || StoreError::Backend { operation: "queue write", source: "the writer has stopped".into() };
        self.queue.send(Job::Write(WriteOp { run, reply, queued_at: Instant::now() })).await.map_err(|_| gone())?;
        let output = answer.await.map_err(|_| gone())??;
        // The writer hands back exactly what `op` returned, so the downcast cannot fail.
        output
            .downcast::<T>()
            .map(|boxed| *boxed)
            .map_err(|_| StoreError::Corrupt("writer returned a value of another type".into()))
    }

    /// Checkpoints the WAL into the database file and truncates it, once every write queued so far has committed.
    pub(crate) async fn checkpoint(&self) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        let gone = || StoreError::Backend { operation: "checkpoint", source: "the writer has stopped".into() };
        self.queue.send(Job::Checkpoint(reply)).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }

    pub(crate) fn stats(&self) -> WriterStats {
        let c = &self.counters;
        WriterStats {
            writes: c.writes.load(Ordering::Relaxed),
            commits: c.commits.load(Ordering::Relaxed),
            busy: Duration::from_nanos(c.busy_nanos.load(Ordering::Relaxed)),
            committing: Duration::from_nanos(c.committing_nanos.load(Ordering::Relaxed)),
            queued: Duration::from_nanos(c.queued_nanos.load(Ordering::Relaxed)),
        }
    }

    /// Lets the writes queued so far commit, closes the connection and stops the writer, even while other clones
    /// of the handle are alive (their later writes fail cleanly).
    pub(crate) async fn close(self) {
        let (reply, done) = oneshot::channel();
        if self.queue.send(Job::Shutdown(reply)).await.is_ok() {
            let _ = done.await;
        }
    }
}

async fn run(mut conn: SqliteConnection, mut rx: mpsc::Receiver<Job>, counters: Arc<Counters>) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    let mut stopped = None;
    while stopped.is_none() && rx.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        let mut writes = Vec::with_capacity(jobs.len());
        for job in jobs.drain(..) {
            match job {
                Job::Write(op) if stopped.is_none() => writes.push(op),
                // Writes queued behind a shutdown are dropped unanswered: their callers see "writer has stopped".
                Job::Write(_) => {}
                Job::Checkpoint(reply) => {
                    commit_batch(&mut conn, std::mem::take(&mut writes), &counters).await;
                    let _ = reply.send(checkpoint(&mut conn).await);
                }
                Job::Shutdown(reply) => {
                    commit_batch(&mut conn, std::mem::take(&mut writes), &counters).await;
                    stopped.get_or_insert_with(Vec::new).push(reply);
                }
            }
        }
        commit_batch(&mut conn, writes, &counters).await;
    }
    if let Err(err) = conn.close().await {
        tracing::warn!(error = %err, "closing the SQLite writer connection failed");
    }
    for reply in stopped.into_iter().flatten() {
        let _ = reply.send(());
    }
}

async fn commit_batch(conn: &mut SqliteConnection, ops: Vec<WriteOp>, counters: &Counters) {
    if ops.is_empty() {
        return;
    }
    let count = ops.len() as u64;
    let started = Instant::now();
    for op in &ops {
        add(&counters.queued_nanos, started.saturating_duration_since(op.queued_at));
    }
    let (committed, answers) = run_batch(conn, ops, counters).await;
    // Count before answering, so a caller that has its answer sees its write in the stats.
    add(&counters.busy_nanos, started.elapsed());
    counters.writes.fetch_add(count, Ordering::Relaxed);
    if committed {
        counters.commits.fetch_add(1, Ordering::Relaxed);
    }
    for (reply, result) in answers {
        let _ = reply.send(result);
    }
}

type Answer = (oneshot::Sender<Result<Output, StoreError>>, Result<Output, StoreError>);

async fn checkpoint(conn: &mut SqliteConnection) -> Result<(), StoreError> {
    let (busy, _, _): (i64, i64, i64) =
        sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)").fetch_one(&mut *conn).await.map_err(backend("checkpoint"))?;
    if busy != 0 {
        // A reader (perhaps another process) still uses old WAL frames; the next checkpoint will finish the job.
        tracing::warn!("WAL checkpoint could not complete: a reader holds old frames");
    }
    Ok(())
}

/// Runs one batch; returns whether it committed, and every op's answer (sent by the caller after counting).
async fn run_batch(conn: &mut SqliteConnection, ops: Vec<WriteOp>, counters: &Counters) -> (bool, Vec<Answer>) {
    if let Err(err) = sqlx::raw_sql("BEGIN IMMEDIATE").execute(&mut *conn).await {
        tracing::error!(error = %err, "could not begin a write transaction");
        return (false, failed(ops.into_iter().map(|op| op.reply), "begin transaction", &err.to_string()));
    }
    let mut finished = Vec::with_capacity(ops.len());
    let mut state = BatchState::default();
    let mut ops = ops.into_iter().peekable();
    while let Some(op) = ops.next() {
        match op.run {
            Run::Plain(run) => {
                let result = run_plain(conn, &mut state, run).await;
                finished.push((op.reply, result));
            }
            Run::Submission(write) => {
                // This submission and those queued right behind it go to SQLite together.
                let (mut replies, mut writes) = (vec![op.reply], vec![*write]);
                while let Some(next) = ops.next_if(|next| matches!(next.run, Run::Submission(_))) {
                    if let Run::Submission(write) = next.run {
                        replies.push(next.reply);
                        writes.push(*write);
                    }
                }
                let results = submissions::insert_submissions(conn, &mut state, &writes).await;
                let answers = results.into_iter().map(|result| result.map(|()| Box::new(()) as Output));
                finished.extend(replies.into_iter().zip(answers));
            }
        }
        if state.poisoned {
            break;
        }
    }
    let unrun: Vec<WriteOp> = ops.collect();
    let flushed = if state.poisoned {
        Err(StoreError::Backend { operation: "write batch", source: "a write could not be undone".into() })
    } else {
        state.flush(conn).await
    };
    let committed = match flushed {
        Ok(()) => {
            let started = Instant::now();
            let committed = sqlx::raw_sql("COMMIT").execute(&mut *conn).await.map_err(backend("commit"));
            add(&counters.committing_nanos, started.elapsed());
            committed
        }
        Err(err) => Err(err),
    };
    match committed {
        Ok(_) => (true, finished),
        Err(err) => {
            tracing::error!(error = %err, "write transaction failed to commit");
            let _ = sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await;
            // Writes after a poisoned one never ran; they fail with the rest.
            let replies = finished.into_iter().map(|(reply, _)| reply).chain(unrun.into_iter().map(|op| op.reply));
            (false, failed(replies, "commit", &err.to_string()))
        }
    }
}

/// Runs a plain write inside its own savepoint, with the head row up to date before it and forgetting the cached
/// head and key states after it (it may have moved the one or retired the other).
async fn run_plain(conn: &mut SqliteConnection, state: &mut BatchState, run: PlainRun) -> Result<Output, StoreError> {
    if let Err(err) = state.flush(conn).await {
        state.poison();
        return Err(err);
    }
    state.usable_keys.clear();
    if let Err(err) = sqlx::raw_sql("SAVEPOINT write_op").execute(&mut *conn).await {
        tracing::error!(error = %err, "could not open a savepoint");
        return Err(backend("savepoint")(err));
    }
    let result = run(conn).await;
    let close = if result.is_ok() { "RELEASE write_op" } else { "ROLLBACK TO write_op; RELEASE write_op" };
    match sqlx::raw_sql(close).execute(&mut *conn).await {
        Ok(_) => result,
        Err(err) => {
            // The write's partial change may still be in the transaction: nothing of it may commit.
            state.poison();
            Err(backend("close savepoint")(err))
        }
    }
}

/// The same failure for every caller of a batch that did not commit.
fn failed(
    replies: impl Iterator<Item = oneshot::Sender<Result<Output, StoreError>>>,
    operation: &'static str,
    cause: &str,
) -> Vec<Answer> {
    replies.map(|reply| (reply, Err(StoreError::Backend { operation, source: cause.to_owned().into() }))).collect()
}
