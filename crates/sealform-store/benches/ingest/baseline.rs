//! The raw durable-insert rate each ingest line is compared with (issue #8): rows of the store's sizes, written the
//! way the store's writers write, minus the store's work. As in the store, one writer on a thread of its own with a
//! connection of its own takes whatever is queued (up to 256 rows) and makes it durable with one commit before
//! answering. What it leaves out: sealing, the submission and blind-index rows, the audit chain and head, the key
//! check, the foreign keys and every secondary index; it writes a revision-sized row and an audit-sized row, each
//! keyed by its primary key alone.
//!
//! - SQLite: rusqlite on the writer's thread (as `sqlite/submissions.rs`), the store's pragmas, cached statements
//!   and checkpointing, one `BEGIN IMMEDIATE` transaction per batch.
//! - PostgreSQL: one autocommitted statement per batch, both tables' rows from arrays (as `postgres/batch.rs`), one
//!   round trip; the revision table keeps its rows inline and uncompressed, as the store's does since migration 0012.
//!
//! The diagnosis ([`Shape::Store`]) runs the store's statements in the same writer on tables with the store's keys
//! and indexes but no foreign keys: the key row checked (share-locked on PostgreSQL), the submission, revision,
//! blind-index and audit rows, the audit head read once and moved once per batch (on PostgreSQL only if it is the
//! expected one). It leaves out the crypto, the foreign keys, the files and
//! audit checkpoint inserts (empty in this bench) and the store's Rust-side work (chaining, answers).
//!
//! Anything the baseline paid that the store's writer does not (a driver's per-statement hand-offs, a round trip
//! per statement, TOAST) would make the ratio look better than it is; BENCHMARKS.md has the earlier baselines that
//! did.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rusqlite::{Connection, params};
use sealform_store::WalCheckpointer;
use sqlx::{ConnectOptions as _, Connection as _, PgConnection};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::{Config, Run, Sizes, timed_clients};

/// Most rows per commit, and how many may wait; as the store's writers.
const MAX_BATCH: usize = 256;
const QUEUE_DEPTH: usize = 4096;

/// Incompressible filler (xorshift), so PostgreSQL's TOAST compression fails as it does on ciphertext.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// One queued row pair: a revision-sized row and an audit-sized row.
struct BaseRow {
    id: Uuid,
    org: Uuid,
    envelope: Vec<u8>,
    wrapped_key: Vec<u8>,
    detail: Vec<u8>,
    hash: Vec<u8>,
}

impl BaseRow {
    fn new(sizes: Sizes, seed: u64) -> Self {
        Self {
            id: Uuid::now_v7(),
            org: Uuid::from_u128(7),
            envelope: noise(sizes.envelope, seed),
            wrapped_key: noise(sizes.wrapped_key, seed.wrapping_mul(31)),
            detail: noise(sizes.audit_detail, seed.wrapping_mul(37)),
            hash: noise(32, seed.wrapping_mul(41)),
        }
    }

    fn digest(&self) -> &[u8] {
        &self.hash[..16]
    }
}

/// What a batch is written as.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// The two bare inserts: the baseline.
    Raw,
    /// The store's statements on plain tables: the diagnosis.
    Store,
}

type Job = (BaseRow, oneshot::Sender<()>);

/// A baseline writer: its thread, its queue and its counts.
pub(crate) struct Baseline {
    queue: Option<mpsc::Sender<(Shape, Job)>>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Raw rows written and their commits so far, to report the batch sizes the baseline reached.
    counts: Arc<(AtomicU64, AtomicU64)>,
}

/// A database the writer thread writes batches into.
trait Sink {
    async fn write(&mut self, shape: Shape, rows: &[BaseRow]);
    async fn close(self);
}

impl Baseline {
    /// The SQLite baseline: a file at `path` (beside the store's, on the same disk).
    pub(crate) fn sqlite(path: &Path) -> Self {
        let path = path.to_owned();
        // No I/O driver, as the store's SQLite writer's runtime.
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        Self::spawn("sqlite-baseline", runtime, move || async move { SqliteSink::open(&path) })
    }

    /// The PostgreSQL baseline: its tables in the database at `url`.
    pub(crate) fn postgres(url: &str) -> Self {
        let url = url.to_owned();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        Self::spawn("pg-baseline", runtime, move || async move { PgSink::open(&url).await })
    }

    /// Starts the writer thread; `open` makes its sink there, as a PostgreSQL connection belongs to the runtime it
    /// was made on.
    fn spawn<S, F, Fut>(name: &str, runtime: tokio::runtime::Runtime, open: F) -> Self
    where
        S: Sink,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = S>,
    {
        let (queue, mut rx) = mpsc::channel::<(Shape, Job)>(QUEUE_DEPTH);
        let counts = Arc::new((AtomicU64::new(0), AtomicU64::new(0)));
        let counted = Arc::clone(&counts);
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                runtime.block_on(async move {
                    let mut sink = open().await;
                    let mut jobs = Vec::with_capacity(MAX_BATCH);
                    while rx.recv_many(&mut jobs, MAX_BATCH).await > 0 {
                        // A run feeds one shape and waits for every answer before the next run starts.
                        let shape = jobs[0].0;
                        debug_assert!(jobs.iter().all(|(s, _)| *s == shape), "a batch mixes shapes");
                        let (rows, replies): (Vec<BaseRow>, Vec<oneshot::Sender<()>>) =
                            jobs.drain(..).map(|(_, job)| job).unzip();
                        sink.write(shape, &rows).await;
                        if shape == Shape::Raw {
                            counted.0.fetch_add(rows.len() as u64, Ordering::Relaxed);
                            counted.1.fetch_add(1, Ordering::Relaxed);
                        }
                        for reply in replies {
                            let _ = reply.send(());
                        }
                    }
                    sink.close().await;
                });
            })
            .unwrap();
        Self { queue: Some(queue), thread: Some(thread), counts }
    }

    /// Rows per commit since `before` (a reading of [`Self::counts`]).
    pub(crate) fn batch_since(&self, before: (u64, u64)) -> f64 {
        let (rows, commits) = self.counts();
        super::per_batch(rows - before.0, commits - before.1)
    }

    pub(crate) fn counts(&self) -> (u64, u64) {
        (self.counts.0.load(Ordering::Relaxed), self.counts.1.load(Ordering::Relaxed))
    }

    /// `clients` concurrent tasks queueing rows of `sizes` and waiting for each commit, under `config`'s stop rule.
    pub(crate) async fn run(&self, clients: usize, sizes: Sizes, config: &Config, shape: Shape) -> Run {
        let queue = self.queue.clone().unwrap();
        timed_clients(clients, config, move |seed| {
            let queue = queue.clone();
            async move {
                let (reply, answer) = oneshot::channel();
                queue.send((shape, (BaseRow::new(sizes, seed), reply))).await.unwrap();
                answer.await.unwrap();
            }
        })
        .await
    }

    pub(crate) async fn close(&mut self) {
        self.queue.take();
        if let Some(thread) = self.thread.take() {
            tokio::task::spawn_blocking(move || thread.join().unwrap()).await.unwrap();
        }
    }
}

// ----- SQLite -----

struct SqliteSink {
    conn: Connection,
    checkpointer: WalCheckpointer,
}

/// The raw tables, then the diagnosis's: the store's tables after migration 0013 with their keys and indexes, without
/// foreign keys.
const SQLITE_TABLES: &str = "\
    CREATE TABLE revisions (id BLOB PRIMARY KEY, org_id BLOB NOT NULL, created_at TEXT NOT NULL, \
        envelope BLOB NOT NULL, wrapped_key BLOB NOT NULL) STRICT; \
    CREATE TABLE audit (seq INTEGER PRIMARY KEY, org_id BLOB, at TEXT NOT NULL, action TEXT NOT NULL, \
        target_hash BLOB, detail BLOB NOT NULL, chain_hash BLOB NOT NULL) STRICT; \
    CREATE TABLE org_keys (id BLOB PRIMARY KEY, state TEXT NOT NULL) STRICT; \
    CREATE TABLE submissions (id BLOB NOT NULL, org_id BLOB NOT NULL, form_id BLOB NOT NULL, \
        form_version INTEGER NOT NULL, status TEXT NOT NULL, current_revision INTEGER NOT NULL, \
        created_at TEXT NOT NULL, updated_at TEXT NOT NULL, PRIMARY KEY (org_id, id)) STRICT, WITHOUT ROWID; \
    CREATE INDEX submissions_by_form_id ON submissions (org_id, form_id, id); \
    CREATE TABLE submission_revisions (org_id BLOB NOT NULL, submission_id BLOB NOT NULL, \
        revision INTEGER NOT NULL, envelope BLOB NOT NULL, wrapped_key BLOB NOT NULL, key_id BLOB NOT NULL, \
        created_by BLOB, created_at TEXT NOT NULL, PRIMARY KEY (submission_id, revision)) STRICT; \
    CREATE INDEX submission_revisions_by_key ON submission_revisions (org_id, key_id); \
    CREATE TABLE submission_index (org_id BLOB NOT NULL, form_id BLOB NOT NULL, field TEXT NOT NULL, \
        digest BLOB NOT NULL, submission_id BLOB NOT NULL, \
        PRIMARY KEY (org_id, form_id, field, digest, submission_id)) STRICT, WITHOUT ROWID; \
    CREATE INDEX submission_index_by_submission ON submission_index (org_id, submission_id); \
    CREATE TABLE audit_events (seq INTEGER PRIMARY KEY, org_id BLOB, at TEXT NOT NULL, action TEXT NOT NULL, \
        actor_id BLOB, outcome TEXT NOT NULL, target_hash BLOB, detail BLOB NOT NULL, chain_hash BLOB NOT NULL) STRICT; \
    CREATE INDEX audit_events_by_org ON audit_events (org_id, seq); \
    CREATE TABLE audit_head (id INTEGER PRIMARY KEY, seq INTEGER NOT NULL, chain_hash BLOB NOT NULL) STRICT; \
    INSERT INTO org_keys VALUES (x'07', 'active'); INSERT INTO audit_head VALUES (1, 0, x'00');";

impl SqliteSink {
    /// The store's submission connection's settings (`sqlite/submissions.rs`): WAL, an fsync at every COMMIT, foreign
    /// keys on, deleted bytes zeroed, checkpoints on their own thread, a 32 MiB page cache, a busy timeout.
    fn open(path: &Path) -> Self {
        let conn = Connection::open(path).unwrap();
        conn.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
             PRAGMA secure_delete = ON; PRAGMA wal_autocheckpoint = 0; PRAGMA cache_size = -32768;",
        )
        .unwrap();
        conn.execute_batch(SQLITE_TABLES).unwrap();
        let checkpointer = WalCheckpointer::spawn(path).unwrap();
        Self { conn, checkpointer }
    }

    /// Runs `sql` through the statement cache, as the store's writer runs its statements.
    fn run(&self, sql: &str, params: impl rusqlite::Params) {
        self.conn.prepare_cached(sql).unwrap().execute(params).unwrap();
    }

    /// The one value `sql` reads, through the statement cache.
    fn read<T: rusqlite::types::FromSql>(&self, sql: &str) -> T {
        self.conn.prepare_cached(sql).unwrap().query_row([], |r| r.get(0)).unwrap()
    }

    fn insert_pair(&self, row: &BaseRow, now: &str) {
        self.run(
            "INSERT INTO revisions (id, org_id, created_at, envelope, wrapped_key) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![row.id.as_bytes(), row.org.as_bytes(), now, row.envelope, row.wrapped_key],
        );
        self.run(
            "INSERT INTO audit (org_id, at, action, target_hash, detail, chain_hash) \
             VALUES (?1, ?2, 'submission.create', ?3, ?4, ?3)",
            params![row.org.as_bytes(), now, row.hash, row.detail],
        );
    }

    /// The store's statements for one submission (`Run::insert` in `sqlite/submissions.rs`, which adds a savepoint
    /// only when a batch is written again after a failure).
    fn insert_shaped(&self, row: &BaseRow, seq: i64, now: &str) {
        let (id, org) = (row.id.as_bytes(), row.org.as_bytes());
        self.run(
            "INSERT INTO submissions (id, org_id, form_id, form_version, status, current_revision, created_at, \
             updated_at) VALUES (?1, ?2, ?2, 1, 'new', 1, ?3, ?3)",
            params![id, org, now],
        );
        self.run(
            "INSERT INTO submission_revisions (org_id, submission_id, revision, envelope, wrapped_key, key_id, \
             created_by, created_at) VALUES (?1, ?2, 1, ?3, ?4, x'07', NULL, ?5)",
            params![org, id, row.envelope, row.wrapped_key, now],
        );
        self.run(
            "INSERT INTO submission_index (org_id, form_id, field, digest, submission_id) VALUES (?1, ?1, '4', ?2, ?3)",
            params![org, row.digest(), id],
        );
        self.run(
            "INSERT INTO audit_events (seq, org_id, at, action, actor_id, outcome, target_hash, detail, chain_hash) \
             VALUES (?1, ?2, ?3, 'submission.create', NULL, 'ok', ?4, ?5, ?4)",
            params![seq, org, now, row.hash, row.detail],
        );
    }
}

impl Sink for SqliteSink {
    async fn write(&mut self, shape: Shape, rows: &[BaseRow]) {
        if self.checkpointer.restart_due() {
            self.conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())).unwrap();
        }
        self.run("BEGIN IMMEDIATE", []);
        let now = OffsetDateTime::now_utc().format(&Rfc3339).unwrap();
        match shape {
            Shape::Raw => rows.iter().for_each(|row| self.insert_pair(row, &now)),
            Shape::Store => {
                // Once per batch in the store: the key's state (kept for the batch) and the head, read and moved.
                let _: String = self.read("SELECT state FROM org_keys WHERE id = x'07'");
                let mut seq: i64 = self.read("SELECT seq FROM audit_head WHERE id = 1");
                for row in rows {
                    seq += 1;
                    self.insert_shaped(row, seq, &now);
                }
                let last = rows.last().map(|r| r.hash.as_slice());
                self.run("UPDATE audit_head SET seq = ?1, chain_hash = ?2 WHERE id = 1", params![seq, last]);
            }
        }
        self.run("COMMIT", []);
        self.checkpointer.nudge();
    }

    async fn close(self) {
        self.conn.close().map_err(|(_, e)| e).unwrap();
    }
}

// ----- PostgreSQL -----

struct PgSink {
    conn: PgConnection,
    /// The next raw audit row's sequence number, given by the writer as the store's chain gives them.
    next_seq: i64,
    /// Where the diagnosis left its head: its next batch expects it there, as the store's writer does.
    head: (i64, Vec<u8>),
}

/// The raw tables, then the diagnosis's: the store's tables after migration 0014 with their keys, indexes and storage
/// settings, without foreign keys. Dropped first, so a run against an existing server (`INGEST_BENCH_PG_URL`) can
/// repeat; `bench_` names keep them apart from the store's.
const PG_TABLES: &str = "\
    DROP TABLE IF EXISTS bench_revisions, bench_audit, bench_keys, bench_submissions, bench_submission_revisions, \
        bench_submission_index, bench_audit_events, bench_head; \
    CREATE TABLE bench_revisions (id uuid PRIMARY KEY, org_id uuid NOT NULL, created_at timestamptz NOT NULL, \
        envelope bytea NOT NULL, wrapped_key bytea NOT NULL) WITH (toast_tuple_target = 8160); \
    ALTER TABLE bench_revisions ALTER COLUMN envelope SET STORAGE EXTERNAL; \
    ALTER TABLE bench_revisions ALTER COLUMN wrapped_key SET STORAGE EXTERNAL; \
    CREATE TABLE bench_audit (seq bigint PRIMARY KEY, org_id uuid, at timestamptz NOT NULL, action text NOT NULL, \
        target_hash bytea, detail bytea NOT NULL, chain_hash bytea NOT NULL); \
    CREATE TABLE bench_keys (org_id uuid NOT NULL, id uuid NOT NULL, state text NOT NULL, PRIMARY KEY (org_id, id)); \
    CREATE TABLE bench_submissions (id uuid NOT NULL, org_id uuid NOT NULL, form_id uuid NOT NULL, \
        form_version int NOT NULL, status text NOT NULL, current_revision int NOT NULL, \
        created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL, PRIMARY KEY (org_id, id)); \
    CREATE INDEX bench_submissions_by_form_id ON bench_submissions (org_id, form_id, id); \
    CREATE TABLE bench_submission_revisions (org_id uuid NOT NULL, submission_id uuid NOT NULL, \
        revision int NOT NULL, envelope bytea NOT NULL, wrapped_key bytea NOT NULL, key_id uuid NOT NULL, \
        created_by uuid, created_at timestamptz NOT NULL, PRIMARY KEY (submission_id, revision)) \
        WITH (toast_tuple_target = 8160); \
    ALTER TABLE bench_submission_revisions ALTER COLUMN envelope SET STORAGE EXTERNAL; \
    ALTER TABLE bench_submission_revisions ALTER COLUMN wrapped_key SET STORAGE EXTERNAL; \
    CREATE INDEX bench_submission_revisions_by_key ON bench_submission_revisions (org_id, key_id); \
    CREATE TABLE bench_submission_index (org_id uuid NOT NULL, form_id uuid NOT NULL, field text NOT NULL, \
        digest bytea NOT NULL, submission_id uuid NOT NULL, PRIMARY KEY (org_id, form_id, field, digest, submission_id)); \
    CREATE INDEX bench_submission_index_by_submission ON bench_submission_index (org_id, submission_id); \
    CREATE TABLE bench_audit_events (seq bigint PRIMARY KEY, org_id uuid, at timestamptz NOT NULL, \
        action text NOT NULL, actor_id uuid, outcome text NOT NULL, target_hash bytea, detail bytea NOT NULL, \
        chain_hash bytea NOT NULL); \
    CREATE INDEX bench_audit_events_by_org ON bench_audit_events (org_id, seq); \
    CREATE TABLE bench_head (id int PRIMARY KEY, seq bigint NOT NULL, chain_hash bytea NOT NULL); \
    INSERT INTO bench_keys VALUES ('00000000-0000-0000-0000-000000000007', '00000000-0000-0000-0000-000000000007', \
        'active'); \
    INSERT INTO bench_head VALUES (1, 0, '\\x00');";

/// A batch's row pairs in one autocommitted statement.
const PG_RAW: &str = "WITH revision_rows AS ( \
       INSERT INTO bench_revisions (id, org_id, created_at, envelope, wrapped_key) \
       SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::timestamptz[], $4::bytea[], $5::bytea[])) \
     INSERT INTO bench_audit (seq, org_id, at, action, target_hash, detail, chain_hash) \
     SELECT seq, org, at, 'submission.create', hash, detail, hash \
     FROM UNNEST($6::int8[], $2::uuid[], $3::timestamptz[], $7::bytea[], $8::bytea[]) AS t (seq, org, at, hash, detail)";

/// The store's batch statement (`ONE_STATEMENT` in `postgres/batch.rs`) on the diagnosis tables: the key row
/// share-locked, the head moved only if it is the expected one (`$9`, `$10`) and the key is usable, then the
/// submission, revision, blind-index and audit rows.
const PG_SHAPED: &str = "WITH usable_keys AS ( \
       SELECT org_id, id FROM bench_keys WHERE (org_id, id) IN (SELECT * FROM UNNEST($2::uuid[], $2::uuid[])) \
       AND state IN ('active', 'retiring') FOR SHARE), \
     moved AS ( \
       UPDATE bench_head SET seq = $11, chain_hash = $12 \
       WHERE id = 1 AND seq = $9 AND chain_hash = $10 AND (SELECT count(*) FROM usable_keys) = 1 RETURNING 1), \
     submission_rows AS ( \
       INSERT INTO bench_submissions (id, org_id, form_id, form_version, status, current_revision, created_at, \
       updated_at) \
       SELECT id, org, org, 1, 'new', 1, at, at FROM UNNEST($1::uuid[], $2::uuid[], $3::timestamptz[]) \
       AS t (id, org, at) WHERE EXISTS (SELECT 1 FROM moved)), \
     revision_rows AS ( \
       INSERT INTO bench_submission_revisions \
       (org_id, submission_id, revision, envelope, wrapped_key, key_id, created_by, created_at) \
       SELECT org, id, 1, envelope, wrapped_key, org, NULL, at \
       FROM UNNEST($1::uuid[], $2::uuid[], $3::timestamptz[], $4::bytea[], $5::bytea[]) \
       AS t (id, org, at, envelope, wrapped_key) WHERE EXISTS (SELECT 1 FROM moved)), \
     index_rows AS ( \
       INSERT INTO bench_submission_index (org_id, form_id, field, digest, submission_id) \
       SELECT org, org, '4', digest, id FROM UNNEST($1::uuid[], $2::uuid[], $13::bytea[]) AS t (id, org, digest) \
       WHERE EXISTS (SELECT 1 FROM moved)), \
     entries AS ( \
       INSERT INTO bench_audit_events (seq, org_id, at, action, actor_id, outcome, target_hash, detail, chain_hash) \
       SELECT seq, org, at, 'submission.create', NULL, 'ok', hash, detail, hash \
       FROM UNNEST($6::int8[], $2::uuid[], $3::timestamptz[], $7::bytea[], $8::bytea[]) AS t (seq, org, at, hash, detail) \
       WHERE EXISTS (SELECT 1 FROM moved)) \
     SELECT count(*) FROM moved";

impl PgSink {
    async fn open(url: &str) -> Self {
        let mut conn = url.parse::<sqlx::postgres::PgConnectOptions>().unwrap().connect().await.unwrap();
        sqlx::raw_sql(PG_TABLES).execute(&mut conn).await.unwrap();
        Self { conn, next_seq: 0, head: (0, vec![0]) }
    }
}

impl Sink for PgSink {
    async fn write(&mut self, shape: Shape, rows: &[BaseRow]) {
        let n = i64::try_from(rows.len()).unwrap();
        // The raw rows count from their own sequence; the diagnosis's entries follow its head, as the store's do.
        let first = match shape {
            Shape::Raw => self.next_seq,
            Shape::Store => self.head.0 + 1,
        };
        let now = OffsetDateTime::now_utc();
        let query = sqlx::query_scalar::<_, i64>(if shape == Shape::Raw { PG_RAW } else { PG_SHAPED })
            .bind(rows.iter().map(|r| r.id).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.org).collect::<Vec<_>>())
            .bind(vec![now; rows.len()])
            .bind(rows.iter().map(|r| r.envelope.as_slice()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.wrapped_key.as_slice()).collect::<Vec<_>>())
            .bind((first..first + n).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.hash.as_slice()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.detail.as_slice()).collect::<Vec<_>>());
        match shape {
            Shape::Raw => {
                query.fetch_optional(&mut self.conn).await.unwrap();
                self.next_seq += n;
            }
            Shape::Store => {
                let last = rows.last().map_or_else(Vec::new, |r| r.hash.clone());
                let moved = query
                    .bind(self.head.0)
                    .bind(self.head.1.as_slice())
                    .bind(first + n - 1)
                    .bind(last.as_slice())
                    .bind(rows.iter().map(BaseRow::digest).collect::<Vec<_>>())
                    .fetch_one(&mut self.conn)
                    .await
                    .unwrap();
                assert_eq!(moved, 1, "the diagnosis statement wrote nothing");
                self.head = (first + n - 1, last);
            }
        }
    }

    async fn close(self) {
        self.conn.close().await.unwrap();
    }
}
