//! Copies the WAL into the database file on a thread of its own, off the writer's path.
//!
//! By default SQLite has the committing connection checkpoint once the WAL passes 1,000 pages: the COMMIT that
//! crosses the mark also copies those pages into the database file and fsyncs it. Ingest crosses it every few
//! transactions, and each time the writer, the one serial stage, waited for a second fsync and megabytes of writes
//! while every queued submission waited behind it. So the writer's submission connection turns automatic
//! checkpoints off and nudges this thread after each commit instead. It runs a PASSIVE checkpoint (which never
//! blocks a writer or a reader) at most once per [`INTERVAL`]. Durability does not depend on it: a commit is
//! durable once its WAL frames are synced, which the COMMIT itself does (`synchronous = FULL`).
//!
//! A checkpoint alone does not shrink the WAL: SQLite starts writing it from the beginning again only when a write
//! transaction begins while every frame has been copied, and under steady load the writer has always appended more
//! by the time a background checkpoint ends, so the WAL would grow without end. So once the WAL holds more than
//! [`RESTART_FRAMES`], the writer is asked ([`WalCheckpointer::restart_due`]) to finish the checkpoint itself
//! between two transactions: only the frames written since the background one, after which its next transaction
//! starts the WAL over.
//!
//! That finishing step runs on the writer, so its threshold is a trade of disk for ingest: each restart costs the
//! writer a copy of the frames since the last background checkpoint and an fsync of the database file, whatever the
//! threshold. At 4,096 frames (16 MiB) the writer restarted several times a second under full load, and the copy
//! took 11% of its CPU (`perf`, 64 clients) and caused the p99's stalls; at 32,768 (128 MiB) it restarts eight times
//! less often (BENCHMARKS.md, "the writer's own costs": 45–48 against 35–39 µs of writer time per submission outside
//! COMMIT at 64 clients, p99 58–60 against 11–12 ms). The price: the WAL file keeps its largest size on disk (about
//! 200 MB after a run at full speed) until a delete's checkpoint truncates it or the store closes; its index in
//! shared memory grows to about 300–400 KiB; and after a crash SQLite reads that much WAL before the first query.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use sealform_core::store::StoreError;

/// The least time between two checkpoints. At full ingest speed a few thousand pages pile up meanwhile, about as
/// many as SQLite's automatic checkpoints would copy in the same time, in fewer and larger steps.
pub const INTERVAL: Duration = Duration::from_millis(50);

/// WAL frames (pages) past which the writer finishes a checkpoint itself so the WAL starts over: 128 MiB.
pub const RESTART_FRAMES: i64 = 32_768;

/// A handle to the checkpoint thread; the thread ends once the handle is dropped.
pub struct WalCheckpointer {
    nudge: mpsc::SyncSender<()>,
    /// Set by the thread when the WAL has outgrown its restart threshold ([`RESTART_FRAMES`]).
    restart_due: Arc<AtomicBool>,
}

impl WalCheckpointer {
    /// Starts the thread, with its own connection to the database file at `path` (already in WAL mode).
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the file cannot be opened or the thread cannot start.
    pub fn spawn(path: &Path) -> Result<Self, StoreError> {
        Self::spawn_with_restart(path, RESTART_FRAMES)
    }

    /// As [`spawn`](Self::spawn), asking for a restart once the WAL holds more than `restart_frames` frames.
    fn spawn_with_restart(path: &Path, restart_frames: i64) -> Result<Self, StoreError> {
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
        let restart_due = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&restart_due);
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || run(&conn, &nudges, &flag, restart_frames))
            .map_err(|e| failed(Box::new(e)))?;
        Ok(Self { nudge, restart_due })
    }

    /// Asks for a checkpoint soon; never blocks. The writer calls it after each commit.
    pub fn nudge(&self) {
        let _ = self.nudge.try_send(());
    }

    /// Whether the writer should now, before its next transaction, run `PRAGMA wal_checkpoint(PASSIVE)` on its own
    /// connection so the WAL starts over (see the module documentation); answers `true` once per request.
    pub fn restart_due(&self) -> bool {
        self.restart_due.swap(false, Ordering::Relaxed)
    }
}

fn run(conn: &Connection, nudges: &mpsc::Receiver<()>, restart_due: &AtomicBool, restart_frames: i64) {
    while nudges.recv().is_ok() {
        match checkpoint(conn) {
            Ok(frames) if frames > restart_frames => restart_due.store(true, Ordering::Relaxed),
            Ok(_) => {}
            // The next nudge tries again; meanwhile the WAL only grows.
            Err(err) => tracing::warn!(error = %err, "WAL checkpoint failed"),
        }
        std::thread::sleep(INTERVAL);
    }
}

/// Runs a PASSIVE checkpoint on `conn`; answers how many frames the WAL holds.
///
/// # Errors
/// The driver's error when the checkpoint fails.
pub fn checkpoint(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| row.get(1))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rusqlite::Connection;

    use super::WalCheckpointer;

    /// With automatic checkpoints off, only the checkpointer (and the writer's part, when asked) keeps the WAL from
    /// holding every page ever written: 80 MB go through it here, written without a pause, and it must be reused
    /// from its start again and again, past a threshold of 16 MiB (smaller than the store's, to keep the test
    /// short). Without the writer's part it grew to hold all of them.
    #[test]
    fn the_wal_is_checkpointed_and_reused_while_writes_go_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0; CREATE TABLE t (b BLOB);")
            .unwrap();
        let checkpointer = WalCheckpointer::spawn_with_restart(&path, 4096).unwrap();
        for _ in 0..800 {
            if checkpointer.restart_due() {
                super::checkpoint(&conn).unwrap();
            }
            conn.execute_batch(
                "BEGIN; INSERT INTO t SELECT randomblob(4000) FROM (SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 \
                 UNION ALL SELECT 4 UNION ALL SELECT 5) a, (SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 \
                 UNION ALL SELECT 4 UNION ALL SELECT 5) b; COMMIT;",
            )
            .unwrap();
            checkpointer.nudge();
            std::thread::sleep(Duration::from_millis(1));
        }
        let written: i64 = conn.query_row("SELECT sum(length(b)) FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(written, 800 * 25 * 4000);
        let wal = std::fs::metadata(dir.path().join("wal.db-wal")).unwrap().len();
        assert!(wal < 40_000_000, "the WAL grew to {wal} bytes");
    }
}
