//! New submissions, written by the single writer through SQLite's C API on the writer's own thread.
//!
//! Why not sqlx here: sqlx runs each SQLite connection on a thread of its own and answers every statement over a
//! channel, so each statement cost the writer two thread wake-ups, and under load those waited for a core longer
//! than SQLite took to run the statement: the writer, the one serial stage of ingest, spent much of its time in
//! hand-offs. So the writer's thread owns a second connection to the same file ([`SubmissionWriter`], rusqlite,
//! synchronous) for new submissions, the hot path; every other write stays on sqlx. The writer runs the two
//! connections' transactions one after the other, never both at once.
//!
//! A run of queued submissions is one transaction: the chain head is read once; each submission goes in with its
//! audit entry, chained after the previous entry in memory; the head row is written once; one COMMIT makes the run
//! durable before anyone is answered. When a submission fails after some of its statements, the run is rolled back
//! and written again with a savepoint per submission, so the bad one fails alone, the chain has no gap, and a
//! submission whose entry cannot be written leaves no row (fail closed).

use std::collections::HashSet;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags, OptionalExtension as _, params};
use sealform_core::audit::{ChainHead, PendingAudit, SealedAudit};
use sealform_core::ids::OrgId;
use sealform_core::keys::KeyState;
use sealform_core::store::{KEY_RETIRED, SUBMISSION_EXISTS, StoreError};
use sealform_core::submission::NewSubmission;
use sealform_crypto::KeyId;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::checkpointer::{self, WalCheckpointer};
use crate::rows::key_uuid;

/// A new submission and its audit entry, queued for the writer.
pub(crate) struct SubmissionWrite {
    pub(crate) new: NewSubmission,
    /// `None` only in the benchmark of the write path without auditing (feature `bench-internals`); every
    /// production caller passes one.
    pub(crate) audit: Option<PendingAudit>,
}

/// How a run of submissions ended.
pub(crate) struct Outcome {
    /// One answer per write, in order.
    pub(crate) answers: Vec<Result<(), StoreError>>,
    /// Whether the transaction committed (when it did not, every answer is an error).
    pub(crate) committed: bool,
    /// Time spent in COMMIT (mostly the WAL's fsync).
    pub(crate) committing: Duration,
    /// Whether the batch was written a second time, with a savepoint per submission, after one failed half-written.
    pub(crate) rewritten: bool,
}

/// Pages of the submission connection's cache: 32 MiB, so the indexes a submission touches at random places (the
/// blind index, the audit trail's target index) stay in memory as the database grows, instead of being read back
/// from the file (the default 2 MiB held about a fifth of them at 150k submissions).
const CACHE_KIB: i64 = 32 * 1024;

/// The writer's connection for new submissions.
pub(crate) struct SubmissionWriter {
    conn: Connection,
    checkpointer: WalCheckpointer,
    path: std::path::PathBuf,
    busy_timeout: Duration,
}

impl SubmissionWriter {
    /// Opens the (already migrated) database file with the store's settings.
    pub(crate) fn open(path: &Path, busy_timeout: Duration) -> Result<Self, StoreError> {
        Ok(Self {
            conn: connect(path, busy_timeout)?,
            checkpointer: WalCheckpointer::spawn(path)?,
            path: path.to_owned(),
            busy_timeout,
        })
    }

    /// Rolls back whatever transaction a failed batch left open, so the next batch starts clean. When even that
    /// fails, the connection is replaced: closing it rolls its transaction back, where keeping it would keep the
    /// write lock and fail every later write.
    fn abandon(&mut self) {
        if self.conn.is_autocommit() {
            return;
        }
        let Err(err) = run_statement(&self.conn, "ROLLBACK") else { return };
        tracing::error!(error = %err, "could not roll back an abandoned batch of submissions; reconnecting");
        match connect(&self.path, self.busy_timeout) {
            Ok(fresh) => self.conn = fresh,
            Err(err) => tracing::error!(error = %err, "could not reopen the submission writer's connection"),
        }
    }

    /// Writes `writes` in one transaction and commits it. A panic on the way fails the batch like any other
    /// failure (rolled back, every write answered with an error), not the node's only writer, whose loss would
    /// fail every later write.
    pub(crate) fn write(&mut self, writes: &[SubmissionWrite]) -> Outcome {
        match std::panic::catch_unwind(AssertUnwindSafe(|| self.write_in_transaction(writes))) {
            Ok(outcome) => outcome,
            Err(_) => {
                tracing::error!("the SQLite writer failed on a batch of submissions; rolled back");
                self.abandon();
                all_failed(writes, "store submission", "the write failed unexpectedly", Duration::ZERO)
            }
        }
    }

    fn write_in_transaction(&mut self, writes: &[SubmissionWrite]) -> Outcome {
        if self.checkpointer.restart_due()
            && let Err(err) = checkpointer::checkpoint(&self.conn)
        {
            tracing::warn!(error = %err, "WAL checkpoint failed");
        }
        if let Err(err) = run_statement(&self.conn, "BEGIN IMMEDIATE") {
            tracing::error!(error = %err, "could not begin a write transaction");
            return all_failed(writes, "begin transaction", &err.to_string(), Duration::ZERO);
        }
        // First without a savepoint per submission: each one made the writer copy every page the batch had already
        // changed (the indexes' last leaves, the audit pages) into the statement journal before changing it again,
        // and cost a quarter to a half of the writer's throughput on the bench's statements. A submission that fails
        // then has left its statements half done, so the batch is rolled back and written again, guarded, where the
        // bad one fails alone. Failures are rare: a duplicate id, a form deleted meanwhile.
        let (mut run, mut answers) = Run::write_all(&self.conn, writes, false);
        let rewritten = run.half_done && !run.poisoned;
        if rewritten {
            if let Err(err) = run_statement(&self.conn, "ROLLBACK") {
                tracing::error!(error = %err, "could not roll back a failed batch of submissions");
                self.abandon();
                return all_failed(writes, "store submission", &err.to_string(), Duration::ZERO);
            }
            if let Err(err) = run_statement(&self.conn, "BEGIN IMMEDIATE") {
                tracing::error!(error = %err, "could not begin a write transaction");
                return all_failed(writes, "begin transaction", &err.to_string(), Duration::ZERO);
            }
            (run, answers) = Run::write_all(&self.conn, writes, true);
        }
        let ready = if run.poisoned {
            Err(StoreError::Backend { operation: "write batch", source: "a write could not be undone".into() })
        } else if self.conn.is_autocommit() {
            // SQLite ended the transaction on its own (an I/O error, a full disk): there is nothing left to commit.
            Err(StoreError::Backend { operation: "write batch", source: "the transaction was rolled back".into() })
        } else {
            run.store_head()
        };
        let started = Instant::now();
        let committed = ready.and_then(|()| run_statement(&self.conn, "COMMIT").map_err(|e| failed("commit", e)));
        let committing = started.elapsed();
        match committed {
            Ok(()) => {
                self.checkpointer.nudge();
                Outcome { answers, committed: true, committing, rewritten }
            }
            Err(err) => {
                tracing::error!(error = %err, "write transaction failed to commit");
                self.abandon();
                all_failed(writes, "commit", &err.to_string(), committing)
            }
        }
    }
}

/// The state of one transaction of submissions.
struct Run<'c> {
    conn: &'c Connection,
    /// The chain head after the last entry written, once read.
    head: Option<ChainHead>,
    /// Whether `head` moved since it was read (so the head row must be written).
    moved: bool,
    /// Organisation keys found usable (active or retiring) in this transaction: the writer holds SQLite's write
    /// lock from `BEGIN IMMEDIATE` to `COMMIT`, so no one can retire them meanwhile.
    usable_keys: HashSet<(OrgId, KeyId)>,
    /// Whether each submission goes in inside a savepoint of its own, so that a bad one can be undone alone.
    guarded: bool,
    /// Unguarded, a submission failed after some of its statements: the transaction must be rolled back.
    half_done: bool,
    /// A write could not undo its partial change: nothing may commit.
    poisoned: bool,
}

impl<'c> Run<'c> {
    /// Writes `writes` into `conn`'s open transaction, answering each.
    fn write_all(
        conn: &'c Connection,
        writes: &[SubmissionWrite],
        guarded: bool,
    ) -> (Self, Vec<Result<(), StoreError>>) {
        let mut run = Run {
            conn,
            head: None,
            moved: false,
            usable_keys: HashSet::new(),
            guarded,
            half_done: false,
            poisoned: false,
        };
        let answers = writes.iter().map(|write| run.insert(write)).collect();
        (run, answers)
    }

    fn insert(&mut self, write: &SubmissionWrite) -> Result<(), StoreError> {
        let result = self.try_insert(write);
        // After some errors (I/O, a full disk, no memory) SQLite ends the whole transaction on its own: what the
        // batch wrote is gone, and anything after it would commit statement by statement, so nothing more may.
        if result.is_err() && self.conn.is_autocommit() {
            self.poisoned = true;
        }
        result
    }

    fn try_insert(&mut self, write: &SubmissionWrite) -> Result<(), StoreError> {
        if self.poisoned || self.half_done {
            return Err(StoreError::Backend {
                operation: "store submission",
                source: "the batch was abandoned".into(),
            });
        }
        #[cfg(test)]
        assert_ne!(write.new.form_version, PANICS, "a submission made to panic the writer");
        self.check_keys(&write.new)?;
        let entry = match &write.audit {
            Some(audit) => Some(audit.seal(self.head()?)),
            None => None,
        };
        if self.guarded {
            run_statement(self.conn, "SAVEPOINT submission").map_err(|e| failed("store submission", e))?;
        }
        let changes = self.conn.total_changes();
        match insert_rows(self.conn, &write.new, entry.as_ref()) {
            Ok(()) => {
                if self.guarded
                    && let Err(err) = run_statement(self.conn, "RELEASE submission")
                {
                    // Its rows would stay in the transaction while its caller hears of a failure.
                    self.poisoned = true;
                    return Err(failed("store submission", err));
                }
                if let Some(entry) = entry {
                    self.head = Some(entry.head);
                    self.moved = true;
                }
                Ok(())
            }
            // Unguarded, a submission refused at its first statement (a duplicate id, most often) left nothing
            // behind and fails alone; one refused after a statement went in must not commit, so the batch is
            // written again guarded.
            Err(err) if !self.guarded => {
                self.half_done = self.conn.total_changes() != changes;
                Err(err)
            }
            Err(err) => {
                if self.conn.execute_batch("ROLLBACK TO submission; RELEASE submission").is_err() {
                    self.poisoned = true;
                }
                Err(err)
            }
        }
    }

    /// Refuses a submission sealed to an organisation key that can no longer take new data.
    fn check_keys(&mut self, new: &NewSubmission) -> Result<(), StoreError> {
        for key in std::iter::once(new.revision.key_id).chain(new.files.iter().map(|f| f.key_id)) {
            if self.usable_keys.contains(&(new.org_id, key)) {
                continue;
            }
            let state: Option<String> = self
                .conn
                .prepare_cached("SELECT state FROM org_keys WHERE org_id = ?1 AND id = ?2")
                .and_then(|mut s| {
                    s.query_row(params![new.org_id.as_uuid().as_bytes(), key_uuid(key).as_bytes()], |r| r.get(0))
                        .optional()
                })
                .map_err(|e| failed("check organisation key", e))?;
            if !state.is_some_and(|s| s == KeyState::Active.as_str() || s == KeyState::Retiring.as_str()) {
                return Err(StoreError::Conflict(KEY_RETIRED.into()));
            }
            self.usable_keys.insert((new.org_id, key));
        }
        Ok(())
    }

    /// The chain head to append after: the one in memory, else the head row.
    fn head(&mut self) -> Result<ChainHead, StoreError> {
        if let Some(head) = self.head {
            return Ok(head);
        }
        let (seq, hash, last_checkpoint_micros): (i64, Vec<u8>, i64) = self
            .conn
            .prepare_cached("SELECT seq, chain_hash, last_checkpoint_micros FROM audit_head WHERE id = 1")
            .and_then(|mut s| s.query_row([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))))
            .map_err(|e| failed("read audit head", e))?;
        let hash = hash.as_slice().try_into().map_err(|_| StoreError::Corrupt("audit head hash".into()))?;
        let head = ChainHead { seq, hash, last_checkpoint_micros };
        self.head = Some(head);
        Ok(head)
    }

    /// Writes the head row once, if any entry moved it.
    fn store_head(&self) -> Result<(), StoreError> {
        match self.head {
            Some(head) if self.moved => self
                .conn
                .prepare_cached(
                    "UPDATE audit_head SET seq = ?1, chain_hash = ?2, last_checkpoint_micros = ?3 WHERE id = 1",
                )
                .and_then(|mut s| s.execute(params![head.seq, head.hash.as_slice(), head.last_checkpoint_micros]))
                .map(drop)
                .map_err(|e| failed("move audit head", e)),
            _ => Ok(()),
        }
    }
}

/// The submission's rows and its audit entry (and checkpoint, when due).
fn insert_rows(conn: &Connection, new: &NewSubmission, entry: Option<&SealedAudit>) -> Result<(), StoreError> {
    let store = |e| failed("store submission", e);
    let sealed = &new.revision;
    let at = text(sealed.created_at)?;
    let (org, id) = (new.org_id.as_uuid().as_bytes(), new.id.as_uuid().as_bytes());
    let mut statement = conn
        .prepare_cached(
            "INSERT INTO submissions \
             (id, org_id, form_id, form_version, status, current_revision, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, 'new', ?5, ?6, ?6)",
        )
        .map_err(store)?;
    statement
        .execute(params![id, org, new.form_id.as_uuid().as_bytes(), new.form_version, sealed.revision, at])
        .map_err(taken)?;
    let mut statement = conn
        .prepare_cached(
            "INSERT INTO submission_revisions \
             (org_id, submission_id, revision, envelope, wrapped_key, key_id, created_by, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .map_err(store)?;
    let created_by = sealed.created_by.map(|u| *u.as_uuid().as_bytes());
    statement
        .execute(params![
            org,
            id,
            sealed.revision,
            sealed.envelope,
            sealed.wrapped_key,
            key_uuid(sealed.key_id).as_bytes(),
            created_by,
            at
        ])
        .map_err(taken)?;
    if !new.index.is_empty() {
        let mut statement = conn
            .prepare_cached(
                "INSERT INTO submission_index (org_id, form_id, field, digest, submission_id) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .map_err(store)?;
        for (field, digest) in &new.index {
            statement.execute(params![org, new.form_id.as_uuid().as_bytes(), field, digest, id]).map_err(store)?;
        }
    }
    if !new.files.is_empty() {
        let mut statement = conn
            .prepare_cached(
                "INSERT INTO files (id, org_id, submission_id, revision, question_id, object_key, sealed_size, \
                 wrapped_key, key_id, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )
            .map_err(store)?;
        for file in &new.files {
            let size = i64::try_from(file.sealed_size).map_err(|_| StoreError::Corrupt("file size".into()))?;
            statement
                .execute(params![
                    file.id.as_uuid().as_bytes(),
                    org,
                    id,
                    sealed.revision,
                    file.question_id,
                    file.object_key,
                    size,
                    file.wrapped_key,
                    key_uuid(file.key_id).as_bytes(),
                    at
                ])
                .map_err(store)?;
        }
    }
    if let Some(entry) = entry {
        append_entry(conn, entry)?;
    }
    Ok(())
}

/// One audit entry, and its checkpoint when one is due.
fn append_entry(conn: &Connection, entry: &SealedAudit) -> Result<(), StoreError> {
    let append = |e| failed("append audit entry", e);
    let row = &entry.row;
    let at = text(row.at)?;
    conn.prepare_cached(
        "INSERT INTO audit_events (seq, org_id, at, action, actor_id, outcome, target_hash, detail, chain_hash) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )
    .and_then(|mut statement| {
        statement.execute(params![
            row.seq,
            row.org.map(|o| *o.as_uuid().as_bytes()),
            at,
            row.action,
            row.actor_id.map(|a| *a.as_bytes()),
            row.outcome,
            row.target_hash,
            row.detail,
            row.chain_hash.as_slice()
        ])
    })
    .map_err(append)?;
    if let Some((checkpoint, signature)) = &entry.checkpoint {
        conn.prepare_cached(
            "INSERT INTO audit_checkpoints (seq, chain_hash, at_micros, signature) VALUES (?1, ?2, ?3, ?4)",
        )
        .and_then(|mut statement| {
            statement.execute(params![checkpoint.seq, checkpoint.hash.as_slice(), checkpoint.at_micros, signature])
        })
        .map_err(append)?;
    }
    Ok(())
}

/// A time as every other statement stores it: sqlx writes `OffsetDateTime` as RFC 3339 text.
fn text(at: OffsetDateTime) -> Result<String, StoreError> {
    at.format(&Rfc3339).map_err(|_| StoreError::Corrupt("a time outside RFC 3339".into()))
}

/// Runs a statement without parameters or rows, prepared once per connection.
fn run_statement(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql).and_then(|mut statement| statement.execute([])).map(drop)
}

/// Every write of a batch that did not commit, answered with the same failure.
fn all_failed(writes: &[SubmissionWrite], operation: &'static str, cause: &str, committing: Duration) -> Outcome {
    Outcome {
        answers: writes
            .iter()
            .map(|_| Err(StoreError::Backend { operation, source: cause.to_owned().into() }))
            .collect(),
        committed: false,
        committing,
        rewritten: false,
    }
}

/// The form version of a submission that panics the writer, in tests of what a panic leaves behind.
#[cfg(test)]
pub(crate) const PANICS: u32 = u32::MAX;

/// A connection to the (already migrated) database file with the store's settings.
fn connect(path: &Path, busy_timeout: Duration) -> Result<Connection, StoreError> {
    let failed = |e| failed("open the submission writer", e);
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(failed)?;
    conn.busy_timeout(busy_timeout).map_err(failed)?;
    // As the sqlx connections: WAL (already the file's mode), a WAL fsync at every COMMIT, foreign keys enforced,
    // deleted bytes zeroed. Unlike them: checkpoints run on their own thread (see [`WalCheckpointer`]), and a larger
    // page cache.
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
         PRAGMA secure_delete = ON; PRAGMA wal_autocheckpoint = 0; PRAGMA cache_size = -{CACHE_KIB};"
    ))
    .map_err(failed)?;
    Ok(conn)
}

/// A key already taken (the id of a submission stored in this organisation or, through its revision's key, in
/// another) is a conflict, not a storage failure.
fn taken(source: rusqlite::Error) -> StoreError {
    use rusqlite::ffi::{SQLITE_CONSTRAINT_PRIMARYKEY, SQLITE_CONSTRAINT_UNIQUE};
    match source.sqlite_error() {
        Some(e) if [SQLITE_CONSTRAINT_PRIMARYKEY, SQLITE_CONSTRAINT_UNIQUE].contains(&e.extended_code) => {
            StoreError::Conflict(SUBMISSION_EXISTS.into())
        }
        _ => failed("store submission", source),
    }
}

fn failed(operation: &'static str, source: rusqlite::Error) -> StoreError {
    StoreError::Backend { operation, source: Box::new(source) }
}
