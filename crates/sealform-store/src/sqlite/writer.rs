//! The single writer: collects queued writes, runs them in one `BEGIN IMMEDIATE` transaction, each inside its own
//! savepoint so one failure does not undo its neighbours, commits once, and only then answers each caller.
//! A caller therefore never hears "ok" for a write that a crash could still lose.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sealform_core::store::StoreError;
use sqlx::{Connection as _, SqliteConnection};
use tokio::sync::{mpsc, oneshot};

use crate::error::backend;

/// Most writes folded into one transaction; bounds the latency a write waits behind others.
const MAX_BATCH: usize = 256;
/// Queued writes before callers wait (back-pressure instead of unbounded memory).
const QUEUE_DEPTH: usize = 4096;

/// A boxed future borrowing the writer's connection.
pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
type Output = Box<dyn Any + Send>;
type Run = Box<dyn for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<Output, StoreError>> + Send>;

struct WriteOp {
    run: Run,
    reply: oneshot::Sender<Result<Output, StoreError>>,
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

/// Counters of the writer's work.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Writes that ran (committed or rolled back to their savepoint).
    pub writes: u64,
    /// Transactions committed.
    pub commits: u64,
}

#[derive(Default)]
struct Counters {
    writes: AtomicU64,
    commits: AtomicU64,
}

/// A handle to the writer task; cheap to clone.
#[derive(Clone)]
pub(crate) struct Writer {
    queue: mpsc::Sender<Job>,
    counters: Arc<Counters>,
}

impl Writer {
    pub(crate) fn spawn(conn: SqliteConnection) -> Self {
        let (queue, rx) = mpsc::channel(QUEUE_DEPTH);
        let counters = Arc::new(Counters::default());
        tokio::spawn(run(conn, rx, Arc::clone(&counters)));
        Self { queue, counters }
    }

    /// Queues `op` and waits until the transaction holding it has committed.
    pub(crate) async fn write<T, F>(&self, op: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<T, StoreError>> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let run: Run = Box::new(move |conn| Box::pin(async move { op(conn).await.map(|v| Box::new(v) as Output) }));
        let gone = || StoreError::Backend { operation: "queue write", source: "the writer has stopped".into() };
        self.queue.send(Job::Write(WriteOp { run, reply })).await.map_err(|_| gone())?;
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
        WriterStats {
            writes: self.counters.writes.load(Ordering::Relaxed),
            commits: self.counters.commits.load(Ordering::Relaxed),
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
    let (committed, answers) = run_batch(conn, ops).await;
    // Count before answering, so a caller that has its answer sees its write in the stats.
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
async fn run_batch(conn: &mut SqliteConnection, ops: Vec<WriteOp>) -> (bool, Vec<Answer>) {
    if let Err(err) = sqlx::raw_sql("BEGIN IMMEDIATE").execute(&mut *conn).await {
        tracing::error!(error = %err, "could not begin a write transaction");
        return (false, failed(ops.into_iter().map(|op| op.reply), "begin transaction", &err.to_string()));
    }
    let mut finished = Vec::with_capacity(ops.len());
    for op in ops {
        if let Err(err) = sqlx::raw_sql("SAVEPOINT write_op").execute(&mut *conn).await {
            tracing::error!(error = %err, "could not open a savepoint");
            finished.push((op.reply, Err(backend("savepoint")(err))));
            continue;
        }
        let result = (op.run)(conn).await;
        let close = if result.is_ok() { "RELEASE write_op" } else { "ROLLBACK TO write_op; RELEASE write_op" };
        let result = match sqlx::raw_sql(close).execute(&mut *conn).await {
            Ok(_) => result,
            Err(err) => Err(backend("close savepoint")(err)),
        };
        finished.push((op.reply, result));
    }
    match sqlx::raw_sql("COMMIT").execute(&mut *conn).await {
        Ok(_) => (true, finished),
        Err(err) => {
            tracing::error!(error = %err, "write transaction failed to commit");
            let _ = sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await;
            (false, failed(finished.into_iter().map(|(reply, _)| reply), "commit", &err.to_string()))
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
