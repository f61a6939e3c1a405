//! Copies the WAL into the database file on a thread of its own, off the writer's path.
//!
//! By default SQLite has the committing connection checkpoint once the WAL passes 1,000 pages: the COMMIT that
//! crosses the mark also copies those pages into the database file and fsyncs it. Ingest crosses it every few
//! transactions, and each time the writer, the one serial stage, waited for a second fsync and megabytes of writes
//! while every queued submission waited behind it. So the writer's submission connection turns automatic
//! checkpoints off and nudges this thread after each commit instead. It runs a PASSIVE checkpoint (which never
//! blocks a writer or a reader) at most once per [`INTERVAL`], so the WAL stays a few megabytes under full load and
//! is checkpointed shortly after the last write. Durability does not depend on it: a commit is durable once its WAL
//! frames are synced, which the COMMIT itself does (`synchronous = FULL`).

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use sealform_core::store::StoreError;

/// The least time between two checkpoints. At full ingest speed a few thousand pages pile up meanwhile, about as
/// many as SQLite's automatic checkpoints would copy in the same time, in fewer and larger steps.
pub const INTERVAL: Duration = Duration::from_millis(50);

/// A handle to the checkpoint thread; the thread ends once the handle is dropped.
pub struct WalCheckpointer {
    nudge: mpsc::SyncSender<()>,
}

impl WalCheckpointer {
    /// Starts the thread, with its own connection to the database file at `path` (already in WAL mode).
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the file cannot be opened or the thread cannot start.
    pub fn spawn(path: &Path) -> Result<Self, StoreError> {
        let failed = |source: Box<dyn std::error::Error + Send + Sync>| StoreError::Backend {
            operation: "start the WAL checkpointer",
            source,
        };
        let conn =
            Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)
                .map_err(|e| failed(Box::new(e)))?;
        // A queue of one: nudges that arrive while a checkpoint runs or the thread waits out the interval fold
        // into one.
        let (nudge, nudges) = mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || run(&conn, &nudges))
            .map_err(|e| failed(Box::new(e)))?;
        Ok(Self { nudge })
    }

    /// Asks for a checkpoint soon; never blocks.
    pub fn nudge(&self) {
        let _ = self.nudge.try_send(());
    }
}

fn run(conn: &Connection, nudges: &mpsc::Receiver<()>) {
    while nudges.recv().is_ok() {
        let checkpoint = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?, row.get::<_, i64>(2)?))
        });
        if let Err(err) = checkpoint {
            // The next nudge tries again; meanwhile the WAL only grows.
            tracing::warn!(error = %err, "WAL checkpoint failed");
        }
        std::thread::sleep(INTERVAL);
    }
}
