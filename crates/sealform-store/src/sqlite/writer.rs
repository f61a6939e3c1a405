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
    queue: mpsc::Sender<WriteOp>,
    counters: Arc<Counters>,
    done: Arc<tokio::sync::Mutex<Option<tokio::task::JoinHandle<()>>>>,
}

impl Writer {
    pub(crate) fn spawn(conn: SqliteConnection) -> Self {
        let (queue, rx) = mpsc::channel(QUEUE_DEPTH);
        let counters = Arc::new(Counters::default());
        let task = tokio::spawn(run(conn, rx, Arc::clone(&counters)));
        Self { queue, counters, done: Arc::new(tokio::sync::Mutex::new(Some(task))) }
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
        self.queue.send(WriteOp { run, reply }).await.map_err(|_| gone())?;
        let output = answer.await.map_err(|_| gone())??;
        // The writer hands back exactly what `op` returned, so the downcast cannot fail.
        output
            .downcast::<T>()
            .map(|boxed| *boxed)
            .map_err(|_| StoreError::Corrupt("writer returned a value of another type".into()))
    }

    pub(crate) fn stats(&self) -> WriterStats {
        WriterStats {
            writes: self.counters.writes.load(Ordering::Relaxed),
            commits: self.counters.commits.load(Ordering::Relaxed),
        }
    }

    /// Stops taking writes, lets the queued ones commit and closes the connection.
    pub(crate) async fn close(self) {
        let Self { queue, done, .. } = self;
        drop(queue);
        let task = done.lock().await.take();
        if let Some(task) = task {
            // Other clones may still hold senders; the task ends when the last one drops.
            let _ = task.await;
        }
    }
}

async fn run(mut conn: SqliteConnection, mut rx: mpsc::Receiver<WriteOp>, counters: Arc<Counters>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let ops = std::mem::take(&mut batch);
        let count = ops.len() as u64;
        let committed = run_batch(&mut conn, ops).await;
        counters.writes.fetch_add(count, Ordering::Relaxed);
        if committed {
            counters.commits.fetch_add(1, Ordering::Relaxed);
        }
    }
    if let Err(err) = conn.close().await {
        tracing::warn!(error = %err, "closing the SQLite writer connection failed");
    }
}

/// Runs one batch; returns whether it committed. Every op's caller gets an answer either way.
async fn run_batch(conn: &mut SqliteConnection, ops: Vec<WriteOp>) -> bool {
    if let Err(err) = sqlx::raw_sql("BEGIN IMMEDIATE").execute(&mut *conn).await {
        tracing::error!(error = %err, "could not begin a write transaction");
        fail_all(ops.into_iter().map(|op| op.reply), "begin transaction", &err.to_string());
        return false;
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
        Ok(_) => {
            for (reply, result) in finished {
                let _ = reply.send(result);
            }
            true
        }
        Err(err) => {
            tracing::error!(error = %err, "write transaction failed to commit");
            let _ = sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await;
            fail_all(finished.into_iter().map(|(reply, _)| reply), "commit", &err.to_string());
            false
        }
    }
}

fn fail_all(
    replies: impl Iterator<Item = oneshot::Sender<Result<Output, StoreError>>>,
    operation: &'static str,
    cause: &str,
) {
    for reply in replies {
        let _ = reply.send(Err(StoreError::Backend { operation, source: cause.to_owned().into() }));
    }
}
