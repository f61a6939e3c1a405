//! The single writer: collects queued writes and runs them in as few `BEGIN IMMEDIATE` transactions as their kinds
//! allow (new submissions on the writer's own connection, see [`SubmissionWriter`]; everything else on sqlx), so that
//! one failure does not undo its neighbours (each plain write inside its own savepoint; submissions as
//! [`SubmissionWriter`] describes); it commits, and only then answers each caller. A caller therefore never hears
//! "ok" for a write that a crash could still lose.
use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Poll;
use std::time::{Duration, Instant};

use sealform_core::store::StoreError;
use sqlx::{Connection as _, SqliteConnection};
use tokio::sync::{mpsc, oneshot};

use super::submissions::{SubmissionWrite, SubmissionWriter};
use crate::error::backend;

/// Most writes folded into one transaction; bounds the latency a write waits behind others.
const MAX_BATCH: usize = 256;
/// Queued writes before callers wait (back-pressure instead of unbounded memory).
const QUEUE_DEPTH: usize = 4096;

/// A boxed future borrowing the writer's connection.
pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
type Output = Box<dyn Any + Send>;
type PlainRun = Box<dyn for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<Output, StoreError>> + Send>;
type Reply = oneshot::Sender<Result<Output, StoreError>>;

/// How a write runs.
enum Run {
    /// On the sqlx connection, inside a savepoint the writer opens and closes.
    Plain(PlainRun),
    /// A new submission: consecutive ones are written together on the writer's own connection
    /// ([`SubmissionWriter`]), in one transaction.
    Submission(Box<SubmissionWrite>),
}

struct WriteOp {
    run: Run,
    reply: Reply,
    /// When the caller queued it, for the time writes wait before their transaction starts.
    queued_at: Instant,
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
    /// Batches of new submissions written a second time, with a savepoint each, after one failed half-written.
    pub rewrites: u64,
}

#[derive(Default)]
struct Counters {
    writes: AtomicU64,
    commits: AtomicU64,
    busy_nanos: AtomicU64,
    committing_nanos: AtomicU64,
    queued_nanos: AtomicU64,
    rewrites: AtomicU64,
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
    ///
    /// `truncate_pending`: the WAL may still hold bytes a truncating checkpoint should have removed, so the writer
    /// retries one (see `run`).
    pub(crate) fn spawn(
        conn: SqliteConnection,
        submissions: SubmissionWriter,
        truncate_pending: bool,
    ) -> Result<Self, StoreError> {
        let (queue, rx) = mpsc::channel(QUEUE_DEPTH);
        let counters = Arc::new(Counters::default());
        let runtime = tokio::runtime::Builder::new_current_thread()
            // The timer wakes the writer to retry a WAL truncation a reader held up (see `run`).
            .enable_time()
            .build()
            .map_err(|e| StoreError::Backend { operation: "start the SQLite writer", source: Box::new(e) })?;
        let thread_counters = Arc::clone(&counters);
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || {
                runtime.block_on(run(Connections { sqlx: conn, submissions }, rx, thread_counters, truncate_pending))
            })
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
            rewrites: c.rewrites.load(Ordering::Relaxed),
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

/// The writer's two connections to the database file; their transactions never overlap.
struct Connections {
    /// Every write but new submissions (the statements shared with PostgreSQL).
    sqlx: SqliteConnection,
    /// New submissions.
    submissions: SubmissionWriter,
}

async fn run(mut conns: Connections, mut rx: mpsc::Receiver<Job>, counters: Arc<Counters>, truncate_pending: bool) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    let mut stopped = None;
    // A truncating checkpoint that gave up (a reader held old frames) leaves deleted bytes in the WAL file, and the
    // background checkpoints never truncate it: until one succeeds, the writer tries again every TRUNCATE_RETRY
    // (not after every batch: each try copies the WAL and syncs both files, the work kept off the writer).
    let mut next_truncation = truncate_pending.then(Instant::now);
    while stopped.is_none() {
        let received = match next_truncation {
            Some(due) => tokio::time::timeout_at(due.into(), rx.recv_many(&mut jobs, MAX_BATCH)).await.ok(),
            None => Some(rx.recv_many(&mut jobs, MAX_BATCH).await),
        };
        if received == Some(0) {
            break;
        }
        let mut writes = Vec::with_capacity(jobs.len());
        for job in jobs.drain(..) {
            match job {
                Job::Write(op) if stopped.is_none() => writes.push(op),
                // Writes queued behind a shutdown are dropped unanswered: their callers see "writer has stopped".
                Job::Write(_) => {}
                Job::Checkpoint(reply) => {
                    commit_batch(&mut conns, std::mem::take(&mut writes), &counters).await;
                    let checkpointed = checkpoint(&mut conns.sqlx).await;
                    // Gave up or failed: deleted bytes may be left in the WAL.
                    next_truncation = retry_unless(matches!(checkpointed, Ok(true)));
                    let _ = reply.send(checkpointed.map(drop));
                }
                Job::Shutdown(reply) => {
                    commit_batch(&mut conns, std::mem::take(&mut writes), &counters).await;
                    stopped.get_or_insert_with(Vec::new).push(reply);
                }
            }
        }
        commit_batch(&mut conns, writes, &counters).await;
        if next_truncation.is_some_and(|due| Instant::now() >= due) {
            next_truncation = retry_unless(try_truncate(&mut conns.sqlx).await);
        }
    }
    drop(conns.submissions);
    if let Err(err) = conns.sqlx.close().await {
        tracing::warn!(error = %err, "closing the SQLite writer connection failed");
    }
    for reply in stopped.into_iter().flatten() {
        let _ = reply.send(());
    }
}

/// Runs `ops` in queue order, as few transactions as their kinds allow: each run of consecutive new submissions is
/// one transaction on the submission connection, each run of other writes one on the sqlx connection. Every caller
/// is answered once its transaction has committed.
async fn commit_batch(conns: &mut Connections, ops: Vec<WriteOp>, counters: &Counters) {
    let mut ops = ops.into_iter().peekable();
    while let Some(first) = ops.next() {
        let started = Instant::now();
        let is_submission = matches!(first.run, Run::Submission(_));
        let mut run = vec![first];
        while let Some(next) = ops.next_if(|next| matches!(next.run, Run::Submission(_)) == is_submission) {
            run.push(next);
        }
        for op in &run {
            add(&counters.queued_nanos, started.saturating_duration_since(op.queued_at));
        }
        let count = run.len() as u64;
        let (committed, answers) = if is_submission {
            write_submissions(&mut conns.submissions, run, counters)
        } else {
            run_plain_batch(&mut conns.sqlx, run, counters).await
        };
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
}

type Answer = (Reply, Result<Output, StoreError>);

/// How long a shredding checkpoint keeps trying while another checkpoint runs (the background checkpointer's
/// PASSIVE ones take milliseconds).
const CHECKPOINT_PATIENCE: Duration = Duration::from_secs(5);

/// How often the writer tries again to truncate a WAL that a shredding checkpoint could not.
const TRUNCATE_RETRY: Duration = Duration::from_secs(1);

/// Copies the WAL into the database file and truncates it, so bytes a delete removed are gone from both; answers
/// whether it could. SQLite refuses at once, without its busy handler, while another connection runs a checkpoint
/// (the background checkpointer), so this tries again until that one is done; waiting for readers is the busy
/// handler's job.
async fn checkpoint(conn: &mut SqliteConnection) -> Result<bool, StoreError> {
    let started = Instant::now();
    loop {
        if truncate_wal(conn).await? {
            return Ok(true);
        }
        if started.elapsed() >= CHECKPOINT_PATIENCE {
            // A reader (perhaps another process) still uses old WAL frames; the writer tries again later.
            tracing::warn!("WAL checkpoint could not complete: a reader holds old frames");
            return Ok(false);
        }
        // The writer's own thread, with nothing else to run meanwhile.
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// When to try truncating the WAL again: never once it is `truncated`, else after [`TRUNCATE_RETRY`].
fn retry_unless(truncated: bool) -> Option<Instant> {
    (!truncated).then(|| Instant::now() + TRUNCATE_RETRY)
}

/// One `wal_checkpoint(TRUNCATE)`; answers whether it completed.
pub(super) async fn truncate_wal(conn: &mut SqliteConnection) -> Result<bool, StoreError> {
    let (busy, _, _): (i64, i64, i64) =
        sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)").fetch_one(&mut *conn).await.map_err(backend("checkpoint"))?;
    Ok(busy == 0)
}

/// One more try at a truncation a shredding checkpoint gave up on, without waiting for readers (the busy handler
/// is off for it, so the writes queued meanwhile are not held up); answers whether the WAL is truncated now.
pub(super) async fn try_truncate(conn: &mut SqliteConnection) -> bool {
    let attempt = async {
        let patience: i64 =
            sqlx::query_scalar("PRAGMA busy_timeout").fetch_one(&mut *conn).await.map_err(backend("checkpoint"))?;
        sqlx::raw_sql("PRAGMA busy_timeout = 0").execute(&mut *conn).await.map_err(backend("checkpoint"))?;
        let truncated = truncate_wal(conn).await;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("PRAGMA busy_timeout = {patience}")))
            .execute(&mut *conn)
            .await
            .map_err(backend("checkpoint"))?;
        truncated
    };
    match attempt.await {
        Ok(truncated) => truncated,
        Err(err) => {
            tracing::warn!(error = %err, "WAL truncation retry failed");
            false
        }
    }
}

/// New submissions, in one transaction on the submission connection (synchronous: the writer's thread is its own).
fn write_submissions(conn: &mut SubmissionWriter, ops: Vec<WriteOp>, counters: &Counters) -> (bool, Vec<Answer>) {
    let (replies, writes): (Vec<Reply>, Vec<SubmissionWrite>) = ops
        .into_iter()
        .filter_map(|op| match op.run {
            Run::Submission(write) => Some((op.reply, *write)),
            Run::Plain(_) => None,
        })
        .unzip();
    let outcome = conn.write(&writes);
    add(&counters.committing_nanos, outcome.committing);
    counters.rewrites.fetch_add(u64::from(outcome.rewritten), Ordering::Relaxed);
    let answers = outcome.answers.into_iter().map(|answer| answer.map(|()| Box::new(()) as Output));
    (outcome.committed, replies.into_iter().zip(answers).collect())
}

/// Runs plain writes in one transaction, each inside its own savepoint; returns whether it committed, and every
/// op's answer (sent by the caller after counting).
async fn run_plain_batch(conn: &mut SqliteConnection, ops: Vec<WriteOp>, counters: &Counters) -> (bool, Vec<Answer>) {
    if let Err(err) = sqlx::raw_sql("BEGIN IMMEDIATE").execute(&mut *conn).await {
        tracing::error!(error = %err, "could not begin a write transaction");
        return (false, failed(ops.into_iter().map(|op| op.reply), "begin transaction", &err.to_string()));
    }
    let mut finished = Vec::with_capacity(ops.len());
    let mut poisoned = false;
    let mut ops = ops.into_iter();
    for op in ops.by_ref() {
        let Run::Plain(run) = op.run else { continue };
        let result = run_plain(conn, run, &mut poisoned).await;
        finished.push((op.reply, result));
        if poisoned {
            break;
        }
    }
    let unrun: Vec<WriteOp> = ops.collect();
    let committed = if poisoned {
        Err(StoreError::Backend { operation: "write batch", source: "a write could not be undone".into() })
    } else {
        let started = Instant::now();
        let committed = sqlx::raw_sql("COMMIT").execute(&mut *conn).await.map_err(backend("commit"));
        add(&counters.committing_nanos, started.elapsed());
        committed.map(drop)
    };
    match committed {
        Ok(()) => (true, finished),
        Err(err) => {
            tracing::error!(error = %err, "write transaction failed to commit");
            let _ = sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await;
            // Writes after a poisoned one never ran; they fail with the rest.
            let replies = finished.into_iter().map(|(reply, _)| reply).chain(unrun.into_iter().map(|op| op.reply));
            (false, failed(replies, "commit", &err.to_string()))
        }
    }
}

/// Runs a plain write inside its own savepoint; sets `poisoned` when its partial change could not be undone.
async fn run_plain(conn: &mut SqliteConnection, run: PlainRun, poisoned: &mut bool) -> Result<Output, StoreError> {
    if let Err(err) = sqlx::raw_sql("SAVEPOINT write_op").execute(&mut *conn).await {
        tracing::error!(error = %err, "could not open a savepoint");
        return Err(backend("savepoint")(err));
    }
    let result = match caught(run(conn)).await {
        Ok(result) => result,
        Err(()) => {
            // Whatever the write did before it panicked is in the transaction: nothing of it may commit.
            tracing::error!("the SQLite writer failed on a write; its batch is rolled back");
            *poisoned = true;
            return Err(StoreError::Backend { operation: "write", source: "the write failed unexpectedly".into() });
        }
    };
    let close = if result.is_ok() { "RELEASE write_op" } else { "ROLLBACK TO write_op; RELEASE write_op" };
    match sqlx::raw_sql(close).execute(&mut *conn).await {
        Ok(_) => result,
        Err(err) => {
            // The write's partial change may still be in the transaction: nothing of it may commit.
            *poisoned = true;
            Err(backend("close savepoint")(err))
        }
    }
}

/// `future`'s output, or `Err` when polling it panicked: a panic in one write must not end the writer's thread.
async fn caught<T>(future: impl Future<Output = T>) -> Result<T, ()> {
    let mut future = std::pin::pin!(future);
    std::future::poll_fn(|cx| match std::panic::catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
        Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
        Ok(Poll::Pending) => Poll::Pending,
        Err(_) => Poll::Ready(Err(())),
    })
    .await
}

/// The same failure for every caller of a batch that did not commit.
fn failed(replies: impl Iterator<Item = Reply>, operation: &'static str, cause: &str) -> Vec<Answer> {
    replies.map(|reply| (reply, Err(StoreError::Backend { operation, source: cause.to_owned().into() }))).collect()
}
