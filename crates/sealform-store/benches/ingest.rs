//! Forms and submissions (issue #8): ingest through the real service against the raw durable-insert rate of the same
//! database, and export of a large form. `cargo bench -p sealform-store --bench ingest`.
//!
//! 1. Ingest: `store_submission` (patient-intake shaped answers, about 1.9 KB over 11 fields, suite 1 sealing, a blind
//!    index on the e-mail, the audit entry in the same transaction) from 1, 8 and 64 concurrent tokio tasks, on
//!    SQLite (a file in a temp dir, default options) and on PostgreSQL (a throwaway cluster started here with the
//!    server's durable defaults: fsync and synchronous_commit on). Submissions/s and p50/p99 latency per submission.
//! 2. Baseline: the same database's raw durable-insert rate for rows of the observed sizes (sealed envelope + wrapped
//!    key, plus an audit-sized row), batched as the writer batches: one writer thread with its own connection takes
//!    whatever is queued and commits it at once (SQLite: rusqlite, one transaction; PostgreSQL: one autocommitted
//!    statement). See `ingest/baseline.rs`.
//!    A diagnosis line beside each baseline runs the statements `store_submission` runs (key check, submission,
//!    revision, index, audit insert, the head read and moved once per batch; the key row share-locked on
//!    PostgreSQL) in the same writer on tables with the store's keys and indexes, without crypto or foreign keys,
//!    to tell the statement pattern from the rest.
//! 3. Export: `Export::start` + `next_page` to the end over 100,000 submissions (and 1,000,000 when
//!    `EXPORT_BENCH_ROWS=1000000`), CSV formatted into `io::sink()`: rows/s, rows/s per CPU second, peak RSS.
//!
//! Ingest and baseline alternate in `INGEST_BENCH_ROUNDS` (4) rounds and each is reported as the sum of its rounds,
//! so drift in the machine's load and the disk's flush latency hits both alike.
//!
//! Environment: `INGEST_BENCH_SUBMISSIONS` (20000) and `INGEST_BENCH_SECONDS` (10) bound each ingest and baseline
//! measurement (whichever comes first; each round gets its share); `INGEST_BENCH_CLIENTS` ("1,8,64"); `INGEST_BENCH_PARTS` ("sqlite,postgres,export");
//! `EXPORT_BENCH_ROWS` (100000; 1000000 runs 100k then 1M); `INGEST_BENCH_PG_URL` uses an existing server instead
//! of starting one.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sealform_core::audit::{
    Action, Actor, AuditCtx, AuditScope, Auditor, Entry, RequestContext, Target, load_or_create_auditor,
};
use sealform_core::clock::SystemClock;
use sealform_core::examples::patient_intake;
use sealform_core::forms::create_form;
use sealform_core::ids::{FormId, OrgId, SubmissionId};
use sealform_core::inbox::Export;
use sealform_core::keys::{Keyring, MasterKeys};
use sealform_core::sealing::{Answers, NewAnswers, RecordRef, seal_revision, store_submission};
use sealform_core::store::Store;
use sealform_core::submission::{SubmissionQuery, SubmissionSummary};
use sealform_crypto::{MasterKey, Suite};
use sealform_store::{PgStore, SqliteOptions, SqliteStore, WriterStats};
use secrecy::SecretString;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions as _, Connection as _};
use time::OffsetDateTime;
use uuid::Uuid;
use zeroize::Zeroizing;

/// The raw durable-insert rate, written as the store's writers write.
#[path = "ingest/baseline.rs"]
mod baseline;
use baseline::{Baseline, Shape};

/// With and without the audit entry (`--features bench-internals`).
#[cfg(feature = "bench-internals")]
#[path = "ingest/audit_overhead.rs"]
mod audit_overhead;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

struct Config {
    submissions: usize,
    seconds: f64,
    /// Ingest and baseline alternate this many times, each round with its share of `submissions` and `seconds`,
    /// so the disk's and the machine's drift (fsync latency here varies from 0.2 to 4 ms over minutes) hits both.
    rounds: usize,
    clients: Vec<usize>,
    parts: String,
    export_rows: usize,
}

fn main() {
    let config = Config {
        submissions: env_or("INGEST_BENCH_SUBMISSIONS", 20_000),
        seconds: env_or("INGEST_BENCH_SECONDS", 10.0),
        rounds: env_or("INGEST_BENCH_ROUNDS", 4).max(1),
        clients: std::env::var("INGEST_BENCH_CLIENTS")
            .unwrap_or_else(|_| "1,8,64".into())
            .split(',')
            .filter_map(|c| c.trim().parse().ok())
            .collect(),
        parts: std::env::var("INGEST_BENCH_PARTS").unwrap_or_else(|_| "sqlite,postgres,export".into()),
        export_rows: env_or("EXPORT_BENCH_ROWS", 100_000),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    println!("tokio worker threads: {}", runtime.metrics().num_workers());
    runtime.block_on(run(config));
}

async fn run(config: Config) {
    if config.parts.contains("sqlite") || config.parts.contains("postgres") {
        outside_the_database().await;
    }
    if config.parts.contains("sqlite") {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ingest.db");
        let store = SqliteStore::open(&path, &SqliteOptions::default()).await.unwrap();
        let f = setup(store).await;
        let mut baseline = Baseline::sqlite(&dir.path().join("baseline.db"));
        for &clients in &config.clients {
            let (before, counts) = (f.store.writer_stats(), baseline.counts());
            let (ingest, base, shaped, sizes) =
                alternate(&f, &baseline, clients, &config, async || sqlite_sizes(&path).await).await;
            let after = f.store.writer_stats();
            let batch = per_batch(after.writes - before.writes, after.commits - before.commits);
            report("sqlite", clients, &ingest, &base, sizes, Some(batch));
            report_writer(clients, &ingest, before, after);
            println!(
                "sqlite baseline, {clients} clients: {:.1} row pairs per commit; threads: {}",
                baseline.batch_since(counts),
                base.threads
            );
            report_shaped("sqlite", clients, &ingest, &shaped);
            #[cfg(feature = "bench-internals")]
            audit_overhead::audit_overhead("sqlite", &f, clients, &config).await;
        }
        let wal = |name: &str| std::fs::metadata(dir.path().join(name)).map_or(0, |m| m.len()) as f64 / 1e6;
        println!(
            "sqlite WAL files after the runs: store {:.1} MB, baseline {:.1} MB",
            wal("ingest.db-wal"),
            wal("baseline.db-wal")
        );
        baseline.close().await;
    }
    if config.parts.contains("postgres") {
        let cluster = match std::env::var("INGEST_BENCH_PG_URL") {
            Ok(url) => PgServer { url, stop: None },
            Err(_) => PgServer::start(),
        };
        let store = PgStore::open(&cluster.url, 80, Duration::from_secs(30)).await.unwrap();
        let f = setup(store).await;
        let pool = sqlx::PgPool::connect(&cluster.url).await.unwrap();
        let mut baseline = Baseline::postgres(&cluster.url);
        for &clients in &config.clients {
            let (before, counts) = (f.store.writer_stats(), baseline.counts());
            let (ingest, base, shaped, sizes) =
                alternate(&f, &baseline, clients, &config, async || pg_sizes(&pool).await).await;
            let after = f.store.writer_stats();
            let batch = per_batch(after.writes - before.writes, after.batches - before.batches);
            report("postgres", clients, &ingest, &base, sizes, Some(batch));
            println!(
                "postgres ingest, {clients} clients: threads: {}; baseline: {:.1} row pairs per commit, threads: {}",
                ingest.threads,
                baseline.batch_since(counts),
                base.threads
            );
            report_shaped("postgres", clients, &ingest, &shaped);
            #[cfg(feature = "bench-internals")]
            audit_overhead::audit_overhead("postgres", &f, clients, &config).await;
        }
        baseline.close().await;
        pool.close().await;
        drop(f);
        drop(cluster);
    }
    if config.parts.contains("export") {
        export_bench(&config).await;
    }
}

// ----- fixture -----

struct Fixture<S: Store> {
    store: S,
    keyring: Arc<Keyring<S>>,
    auditor: Arc<Auditor>,
    org: OrgId,
    form: FormId,
}

async fn setup<S: Store>(store: S) -> Fixture<S> {
    let masters = MasterKeys::single(Arc::new(MasterKey::generate().unwrap()));
    let now = OffsetDateTime::now_utc();
    let auditor = load_or_create_auditor(&store, &masters, now).await.unwrap();
    let operator = AuditScope::operator();
    let audit = AuditCtx { auditor: &auditor, scope: &operator };
    let request = sealform_core::admin::OrganisationRequest {
        name: "Bench Clinic",
        suite: Suite::HybridMlKem768X25519,
        owner_email: "owner@bench.example",
        password: SecretString::from("a long enough benchmark password".to_owned()),
    };
    let org = sealform_core::admin::bootstrap(&store, masters.current().as_ref(), &SystemClock, audit, request)
        .await
        .unwrap()
        .org_id;
    let form = create_form(&store, masters.current().as_ref(), audit, org, "Patient intake", intake_json(), now)
        .await
        .unwrap();
    let keyring = Arc::new(Keyring::new(store.clone(), masters));
    Fixture { store, keyring, auditor, org, form }
}

fn intake_json() -> String {
    patient_intake().to_json()
}

/// The exported answer paths of the patient intake (as the console's export columns: full name in two parts).
const FIELDS: [&str; 11] = ["2_first", "2_last", "3", "4", "5", "6", "7", "8", "9", "12", "13"];

const REASON: &str = "Recurring headaches for about three weeks, mostly in the afternoon, sometimes with nausea and \
     sensitivity to light. Ibuprofen helps for a few hours. No recent injury. Sleep has been poor since starting a new \
     job with night shifts; drinking more coffee than usual. Family history of migraine (mother). ";

/// Patient-intake answers of about 2 KiB over 11 fields, varying with `i`.
fn intake_answers(i: u64) -> Answers {
    let mut reason = String::with_capacity(1800);
    while reason.len() < 1700 {
        reason.push_str(REASON);
    }
    reason.truncate(1700);
    reason.push_str(&format!(" Visit reference {i}."));
    let values = [
        ("2_first", "Ada".to_owned()),
        ("2_last", format!("Lovelace-{i}")),
        ("3", format!("19{:02}-{:02}-{:02}", 40 + i % 60, 1 + i % 12, 1 + i % 28)),
        ("4", format!("patient{i}@mail.example")),
        ("5", format!("+1 555 01{:02} {:04}", i % 100, i % 10_000)),
        ("6", reason),
        ("7", "Yes".to_owned()),
        ("8", "Penicillin, Latex".to_owned()),
        ("9", "Shellfish; ibuprofen sometimes gives hives".to_owned()),
        ("12", "insurance-card.jpg".to_owned()),
        ("13", (i % 11).to_string()),
    ];
    values.into_iter().map(|(k, v)| (k.to_owned(), Zeroizing::new(v.into_bytes()))).collect()
}

fn respondent(client: usize) -> AuditScope {
    AuditScope {
        actor: Actor::Respondent,
        context: RequestContext {
            ip: Some(format!("198.51.100.{}", client % 250)),
            user_agent: Some("Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15".into()),
            request_id: Some(Uuid::now_v7().to_string()),
            os_user: None,
        },
    }
}

async fn submit_one<S: Store>(f: &Fixture<S>, scope: &AuditScope, i: u64) {
    let answers = intake_answers(i);
    let audit = AuditCtx { auditor: &f.auditor, scope };
    let new = NewAnswers { org: f.org, form: f.form, form_version: 1, answers: &answers, indexed: &["4"] };
    store_submission(&f.store, &f.keyring, audit, SubmissionId::new(), new, Vec::new(), OffsetDateTime::now_utc())
        .await
        .unwrap();
}

/// The CPU a submission costs before it reaches the database, on one task: answers, sealing (fresh data key, 11
/// fields, suite 1 wrap) and the audit entry.
async fn outside_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("seal.db"), &SqliteOptions::default()).await.unwrap();
    let f = setup(store).await;
    let scope = respondent(0);
    let audit = AuditCtx { auditor: &f.auditor, scope: &scope };
    let n = 2000u32;
    let started = Instant::now();
    for i in 0..n {
        let answers = intake_answers(u64::from(i));
        let record = RecordRef { org: f.org, form: f.form, submission: SubmissionId::new(), revision: 1 };
        let sealed = seal_revision(&f.keyring, record, &answers, None, OffsetDateTime::now_utc()).await.unwrap();
        let targets = vec![Target::new("submission", record.submission), Target::new("form", f.form)];
        let fields = answers.keys().cloned().collect();
        let entry = Entry::ok(Some(f.org), Action::SubmissionCreate, targets, OffsetDateTime::now_utc());
        let entry = audit.entry(entry.with_fields(fields)).unwrap();
        std::hint::black_box((sealed, entry));
    }
    let per = started.elapsed().as_secs_f64() / f64::from(n);
    println!(
        "outside the database, one task: answers + seal (suite 1) + audit entry = {:.1} µs per submission",
        per * 1e6
    );
}

// ----- ingest -----

struct Run {
    count: usize,
    seconds: f64,
    /// Process CPU seconds (all threads, including the database's own in SQLite's case) over the run.
    cpu: f64,
    /// CPU per group of threads over the run, as cores.
    threads: ThreadCpu,
    latencies: Vec<Duration>,
}

impl Config {
    /// The stop rule of one round of an alternating comparison.
    fn round(&self) -> Config {
        Config {
            submissions: self.submissions.div_ceil(self.rounds),
            seconds: self.seconds / self.rounds as f64,
            rounds: 1,
            clients: Vec::new(),
            parts: String::new(),
            export_rows: 0,
        }
    }
}

impl Run {
    /// Rounds of the same measurement as one: counts, times and latencies summed, thread use averaged over time.
    fn combine(runs: Vec<Run>) -> Run {
        let seconds: f64 = runs.iter().map(|r| r.seconds).sum();
        let mut threads = ThreadCpu::default();
        for run in &runs {
            threads.add_weighted(&run.threads, run.seconds / seconds);
        }
        let mut latencies: Vec<Duration> = runs.iter().flat_map(|r| r.latencies.iter().copied()).collect();
        latencies.sort();
        let (count, cpu) = (runs.iter().map(|r| r.count).sum(), runs.iter().map(|r| r.cpu).sum());
        Run { count, seconds, cpu, threads, latencies }
    }

    fn rate(&self) -> f64 {
        self.count as f64 / self.seconds
    }

    fn percentile(&self, p: f64) -> Duration {
        let i = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies[i]
    }
}

static NEXT: AtomicU64 = AtomicU64::new(0);

/// Ingest, baseline and diagnosis at `clients`, alternating in `config.rounds` rounds so the machine's drift hits all
/// three; each is summed over its rounds. The row sizes are read from the store after its first round.
async fn alternate<S: Store>(
    f: &Fixture<S>,
    baseline: &Baseline,
    clients: usize,
    config: &Config,
    measure_sizes: impl AsyncFn() -> Sizes,
) -> (Run, Run, Run, Sizes) {
    let (mut ingests, mut bases, mut shaped, mut sizes) = (Vec::new(), Vec::new(), Vec::new(), None);
    for _ in 0..config.rounds {
        ingests.push(ingest(f, clients, &config.round()).await);
        let sizes = match sizes {
            Some(sizes) => sizes,
            None => *sizes.insert(measure_sizes().await),
        };
        bases.push(baseline.run(clients, sizes, &config.round(), Shape::Raw).await);
        shaped.push(baseline.run(clients, sizes, &config.round(), Shape::Store).await);
    }
    (Run::combine(ingests), Run::combine(bases), Run::combine(shaped), sizes.unwrap())
}

/// `clients` concurrent tasks calling the service until `config.submissions` are stored or `config.seconds` pass.
async fn ingest<S: Store>(f: &Fixture<S>, clients: usize, config: &Config) -> Run {
    // Warm up: the keyring's public key and index key caches, connections.
    for _ in 0..4 {
        submit_one(f, &respondent(0), NEXT.fetch_add(1, Ordering::Relaxed)).await;
    }
    let f = Arc::new(Fixture {
        store: f.store.clone(),
        keyring: Arc::clone(&f.keyring),
        auditor: Arc::clone(&f.auditor),
        org: f.org,
        form: f.form,
    });
    let claimed = Arc::new(AtomicUsize::new(0));
    let (limit, deadline) = (config.submissions, Duration::from_secs_f64(config.seconds));
    let cpu = proc_cpu_seconds();
    let threads = ThreadSnapshot::now();
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|client| {
            let (f, claimed) = (Arc::clone(&f), Arc::clone(&claimed));
            tokio::spawn(async move {
                let scope = respondent(client);
                let mut latencies = Vec::new();
                while claimed.fetch_add(1, Ordering::Relaxed) < limit && started.elapsed() < deadline {
                    let t = Instant::now();
                    submit_one(&f, &scope, NEXT.fetch_add(1, Ordering::Relaxed)).await;
                    latencies.push(t.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    let seconds = started.elapsed().as_secs_f64();
    latencies.sort();
    Run { count: latencies.len(), seconds, cpu: proc_cpu_seconds() - cpu, threads: threads.since(seconds), latencies }
}

#[derive(Clone, Copy)]
struct Sizes {
    envelope: usize,
    wrapped_key: usize,
    audit_detail: usize,
}

const SIZES_QUERY_ROWS: &str = "SELECT CAST(AVG(LENGTH(envelope)) AS BIGINT), CAST(AVG(LENGTH(wrapped_key)) AS BIGINT) \
     FROM submission_revisions";
const SIZES_QUERY_AUDIT: &str =
    "SELECT CAST(AVG(LENGTH(detail)) AS BIGINT) FROM audit_events WHERE action = 'submission.create'";

async fn sqlite_sizes(path: &Path) -> Sizes {
    let mut conn = SqliteConnectOptions::new().filename(path).read_only(true).connect().await.unwrap();
    let (envelope, wrapped_key): (i64, i64) = sqlx::query_as(SIZES_QUERY_ROWS).fetch_one(&mut conn).await.unwrap();
    let (audit_detail,): (Option<i64>,) = sqlx::query_as(SIZES_QUERY_AUDIT).fetch_one(&mut conn).await.unwrap();
    conn.close().await.unwrap();
    sizes(envelope, wrapped_key, audit_detail)
}

async fn pg_sizes(pool: &sqlx::PgPool) -> Sizes {
    let (envelope, wrapped_key): (i64, i64) = sqlx::query_as(SIZES_QUERY_ROWS).fetch_one(pool).await.unwrap();
    let (audit_detail,): (Option<i64>,) = sqlx::query_as(SIZES_QUERY_AUDIT).fetch_one(pool).await.unwrap();
    sizes(envelope, wrapped_key, audit_detail)
}

fn sizes(envelope: i64, wrapped_key: i64, audit_detail: Option<i64>) -> Sizes {
    let audit_detail = audit_detail.unwrap_or_else(|| {
        eprintln!("note: no submission.create audit rows matched; assuming a 400-byte detail");
        400
    });
    Sizes {
        envelope: usize::try_from(envelope).unwrap(),
        wrapped_key: usize::try_from(wrapped_key).unwrap(),
        audit_detail: usize::try_from(audit_detail).unwrap(),
    }
}

fn report(backend: &str, clients: usize, ingest: &Run, base: &Run, sizes: Sizes, batch: Option<f64>) {
    let batch = batch.map(|b| format!(", {b:.1} writes per commit")).unwrap_or_default();
    println!(
        "{backend} ingest, {clients} clients: {} submissions in {:.2} s = {:.0}/s; latency p50 {:.2} ms, p99 {:.2} ms{batch}; \
         bench process CPU {:.0} µs per submission ({:.2} cores)",
        ingest.count,
        ingest.seconds,
        ingest.rate(),
        ms(ingest.percentile(0.5)),
        ms(ingest.percentile(0.99)),
        ingest.cpu / ingest.count as f64 * 1e6,
        ingest.cpu / ingest.seconds,
    );
    println!(
        "{backend} baseline, {clients} clients: {} rows ({} B envelope + {} B wrapped key, {} B audit detail + 64 B \
         hashes) in {:.2} s = {:.0}/s; latency p50 {:.2} ms, p99 {:.2} ms; bench process CPU {:.0} µs per row ({:.2} cores)",
        base.count,
        sizes.envelope,
        sizes.wrapped_key,
        sizes.audit_detail,
        base.seconds,
        base.rate(),
        ms(base.percentile(0.5)),
        ms(base.percentile(0.99)),
        base.cpu / base.count as f64 * 1e6,
        base.cpu / base.seconds,
    );
    println!(
        "{backend} ingest / baseline, {clients} clients: {:.0}% (target >= 50%)",
        100.0 * ingest.rate() / base.rate()
    );
}

/// The mean number of `items` in each of `batches` (0 batches counts as 1).
pub(crate) fn per_batch(items: u64, batches: u64) -> f64 {
    items as f64 / batches.max(1) as f64
}

/// Where the SQLite writer's time went during an ingest run, and which threads used the CPU.
fn report_writer(clients: usize, ingest: &Run, before: WriterStats, after: WriterStats) {
    let commits = (after.commits - before.commits).max(1) as f64;
    let writes = (after.writes - before.writes).max(1) as f64;
    let busy = (after.busy - before.busy).as_secs_f64();
    let committing = (after.committing - before.committing).as_secs_f64();
    let queued = (after.queued - before.queued).as_secs_f64();
    println!(
        "sqlite writer, {clients} clients: busy {:.0}% of the run; per transaction {:.2} ms ({:.2} ms of it COMMIT), \
         {:.0} µs per write outside COMMIT; a write waits {:.2} ms in the queue; threads: {}",
        100.0 * busy / ingest.seconds,
        1e3 * busy / commits,
        1e3 * committing / commits,
        1e6 * (busy - committing) / writes,
        1e3 * queued / writes,
        ingest.threads,
    );
}

fn report_shaped(backend: &str, clients: usize, ingest: &Run, shaped: &Run) {
    println!(
        "{backend} diagnosis, {clients} clients: the store's statements on its keys and indexes, no foreign keys, no crypto: {:.0}/s; latency \
         p50 {:.2} ms, p99 {:.2} ms (ingest is {:.0}% of this)",
        shaped.rate(),
        ms(shaped.percentile(0.5)),
        ms(shaped.percentile(0.99)),
        100.0 * ingest.rate() / shaped.rate()
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Runs `op` from `clients` concurrent tasks under the same stop rule as the ingest, timing each call.
async fn timed_clients<F, Fut>(clients: usize, config: &Config, op: F) -> Run
where
    F: Fn(u64) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let claimed = Arc::new(AtomicUsize::new(0));
    let (limit, deadline) = (config.submissions, Duration::from_secs_f64(config.seconds));
    let cpu = proc_cpu_seconds();
    let threads = ThreadSnapshot::now();
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (op, claimed) = (op.clone(), Arc::clone(&claimed));
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while claimed.fetch_add(1, Ordering::Relaxed) < limit && started.elapsed() < deadline {
                    let t = Instant::now();
                    op(NEXT.fetch_add(1, Ordering::Relaxed)).await;
                    latencies.push(t.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    let seconds = started.elapsed().as_secs_f64();
    latencies.sort();
    Run { count: latencies.len(), seconds, cpu: proc_cpu_seconds() - cpu, threads: threads.since(seconds), latencies }
}

// ----- PostgreSQL server with durable defaults -----

struct PgServer {
    url: String,
    stop: Option<(PathBuf, PathBuf, tempfile::TempDir)>,
}

fn as_postgres(program: &Path) -> Command {
    let root = Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn check(command: &mut Command, what: &str) {
    let output = command.stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(output.status.success(), "{what}: {}", String::from_utf8_lossy(&output.stderr));
}

impl PgServer {
    /// initdb + pg_ctl start of the newest installed PostgreSQL in a temp dir on the same disk as the SQLite runs,
    /// with the defaults a production server has (fsync, synchronous_commit, full_page_writes on).
    fn start() -> Self {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL is installed under /usr/lib/postgresql")
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|b| b.join("initdb").exists())
            .max()
            .expect("an initdb");
        let root = tempfile::Builder::new().prefix("ingest-pg-").tempdir().unwrap();
        let (data, sock) = (root.path().join("data"), root.path().join("sock"));
        std::fs::create_dir(&sock).unwrap();
        let _ = Command::new("chown").args(["-R", "postgres:"]).arg(root.path()).status();
        check(
            as_postgres(&bin.join("initdb"))
                .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "-D"])
                .arg(&data),
            "initdb",
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let options = format!(
            "-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={} -c max_connections=200",
            sock.display()
        );
        check(
            as_postgres(&bin.join("pg_ctl"))
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(root.path().join("log"))
                .args(["-o", &options, "-w", "start"]),
            "pg_ctl start",
        );
        let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
        println!("postgres: {} (fsync, synchronous_commit, full_page_writes: server defaults)", bin.display());
        Self { url, stop: Some((bin.join("pg_ctl"), data, root)) }
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        if let Some((pg_ctl, data, _root)) = self.stop.take() {
            let _ = as_postgres(&pg_ctl).arg("-D").arg(&data).args(["-m", "fast", "-w", "stop"]).output();
        }
    }
}

// ----- export -----

fn proc_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // Fields after the command name (which is in parentheses): state is field 3, utime 14, stime 15.
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    let hz = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse::<f64>().ok())
        .unwrap_or(100.0);
    ticks / hz
}

/// Each of this process's threads at one moment: (thread id, name, CPU seconds, seconds spent runnable but waiting
/// for a core), from `/proc/self/task/*/schedstat`.
struct ThreadSnapshot(Vec<(String, String, f64, f64)>);

impl ThreadSnapshot {
    fn now() -> Self {
        let mut threads = Vec::new();
        for task in std::fs::read_dir("/proc/self/task").into_iter().flatten().flatten() {
            let (Ok(name), Ok(stat)) = (
                std::fs::read_to_string(task.path().join("comm")),
                std::fs::read_to_string(task.path().join("schedstat")),
            ) else {
                continue;
            };
            let mut fields = stat.split_whitespace().map(|f| f.parse::<f64>().unwrap_or(0.0) / 1e9);
            let (cpu, waited) = (fields.next().unwrap_or(0.0), fields.next().unwrap_or(0.0));
            threads.push((task.file_name().to_string_lossy().into_owned(), name.trim().to_owned(), cpu, waited));
        }
        Self(threads)
    }

    /// Cores used and cores' worth of waiting for a core since `self`, over `seconds` of wall time, by kind of
    /// thread: it shows whether the writer's threads were short of CPU while the writer was "busy".
    fn since(&self, seconds: f64) -> ThreadCpu {
        let mut cpu = ThreadCpu::default();
        for (tid, name, now_cpu, now_waited) in Self::now().0 {
            let (before_cpu, before_waited) =
                self.0.iter().find(|(t, ..)| *t == tid).map_or((0.0, 0.0), |(_, _, c, w)| (*c, *w));
            let used = (now_cpu - before_cpu) / seconds;
            let waited = (now_waited - before_waited) / seconds;
            let kind = if name.starts_with("tokio") {
                &mut cpu.tokio
            } else if name.starts_with("sqlx-sqlite") {
                &mut cpu.sqlite
            } else if ["sqlite-writer", "pg-submissions", "sqlite-baseline", "pg-baseline"].contains(&name.as_str()) {
                &mut cpu.writer
            } else if name.starts_with("sqlite-checkpoi") {
                // `comm` keeps 15 bytes of "sqlite-checkpoint".
                &mut cpu.checkpointer
            } else {
                &mut cpu.other
            };
            kind.0 += used;
            kind.1 += waited;
        }
        cpu
    }
}

/// (cores used, cores' worth of waiting for a core) by kind of thread during a run.
#[derive(Clone, Copy, Default)]
struct ThreadCpu {
    tokio: (f64, f64),
    sqlite: (f64, f64),
    /// The store's submission writer or, in a baseline run, the baseline's.
    writer: (f64, f64),
    /// SQLite's WAL checkpointers (the store's and the baseline's).
    checkpointer: (f64, f64),
    other: (f64, f64),
}

impl ThreadCpu {
    fn add_weighted(&mut self, other: &ThreadCpu, weight: f64) {
        for (mine, theirs) in [
            (&mut self.tokio, other.tokio),
            (&mut self.sqlite, other.sqlite),
            (&mut self.writer, other.writer),
            (&mut self.checkpointer, other.checkpointer),
            (&mut self.other, other.other),
        ] {
            mine.0 += theirs.0 * weight;
            mine.1 += theirs.1 * weight;
        }
    }
}

impl std::fmt::Display for ThreadCpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kinds = [
            ("tokio workers", self.tokio),
            ("SQLite connection threads", self.sqlite),
            ("writer thread", self.writer),
            ("WAL checkpointers", self.checkpointer),
            ("other", self.other),
        ];
        for (i, (name, (used, waited))) in kinds.into_iter().filter(|(_, (u, w))| u + w > 0.0).enumerate() {
            let sep = if i > 0 { ", " } else { "" };
            write!(f, "{sep}{name} {used:.2} cores (+{waited:.2} waiting for one)")?;
        }
        Ok(())
    }
}

fn status_kib(key: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Seeds with 64 concurrent clients through the real service until the form holds `target` submissions.
async fn seed<S: Store>(f: &Arc<Fixture<S>>, from: usize, target: usize) {
    let next = Arc::new(AtomicUsize::new(from));
    let started = Instant::now();
    let tasks: Vec<_> = (0..64)
        .map(|client| {
            let (f, next) = (Arc::clone(f), Arc::clone(&next));
            tokio::spawn(async move {
                let scope = respondent(client);
                while next.fetch_add(1, Ordering::Relaxed) < target {
                    submit_one(&f, &scope, NEXT.fetch_add(1, Ordering::Relaxed)).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "export seed: {} submissions in {seconds:.1} s = {:.0}/s (64 clients)",
        target - from,
        (target - from) as f64 / seconds
    );
}

fn csv_row<'a>(out: &mut String, cells: impl Iterator<Item = &'a str>) {
    for (i, cell) in cells.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('"');
        if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
            out.push('\'');
        }
        out.push_str(&cell.replace('"', "\"\""));
        out.push('"');
    }
    out.push_str("\r\n");
}

fn csv_record(out: &mut String, summary: &SubmissionSummary, answers: &Answers) {
    let id = summary.id.to_string();
    let at = summary.created_at.format(&time::format_description::well_known::Rfc3339).unwrap();
    let values: Vec<String> = FIELDS
        .iter()
        .map(|path| answers.get(*path).map(|v| String::from_utf8_lossy(v).into_owned()).unwrap_or_default())
        .collect();
    csv_row(
        out,
        [id.as_str(), at.as_str(), summary.status.as_str()].into_iter().chain(values.iter().map(String::as_str)),
    );
}

async fn export_once<S: Store>(f: &Fixture<S>, expected: usize) {
    use std::io::Write as _;
    // A new keyring, as a new request would have: the private key is unwrapped (and cached) by the export itself.
    let keyring = Keyring::new(f.store.clone(), f.keyring.masters().clone());
    let rss_before = status_kib("VmRSS:");
    std::fs::write("/proc/self/clear_refs", "5").expect("reset the peak RSS (clear_refs)");
    let cpu_before = proc_cpu_seconds();
    let started = Instant::now();
    let scope = AuditScope { actor: Actor::User(Uuid::now_v7()), context: RequestContext::default() };
    let audit = AuditCtx { auditor: &f.auditor, scope: &scope };
    let fields = FIELDS.iter().map(|&s| s.to_owned()).collect();
    let query = SubmissionQuery::all(f.org, f.form, 0);
    let mut export = Export::start(&f.store, &keyring, audit, query, fields, OffsetDateTime::now_utc()).await.unwrap();
    let counted = started.elapsed().as_secs_f64();
    let mut sink = std::io::sink();
    let mut header = String::new();
    csv_row(&mut header, ["submission id", "submitted at", "status"].into_iter().chain(FIELDS));
    sink.write_all(header.as_bytes()).unwrap();
    let (mut rows, mut bytes) = (0usize, header.len());
    loop {
        let page = export.next_page().await.unwrap();
        if page.is_empty() {
            break;
        }
        let mut chunk = String::new();
        for (summary, answers) in &page {
            csv_record(&mut chunk, summary, answers);
        }
        rows += page.len();
        bytes += chunk.len();
        sink.write_all(chunk.as_bytes()).unwrap();
    }
    let seconds = started.elapsed().as_secs_f64();
    let cpu = proc_cpu_seconds() - cpu_before;
    let peak = status_kib("VmHWM:");
    assert_eq!(rows, expected);
    println!(
        "export {rows} rows: {seconds:.1} s (count + audit {counted:.2} s) = {:.0} rows/s; CPU {cpu:.1} s ({:.2} cores) \
         = {:.0} rows per CPU second; {:.0} MiB CSV; RSS {:.1} MiB before, peak {:.1} MiB during",
        rows as f64 / seconds,
        cpu / seconds,
        rows as f64 / cpu,
        bytes as f64 / f64::from(1 << 20),
        rss_before as f64 / 1024.0,
        peak as f64 / 1024.0,
    );
}

async fn export_bench(config: &Config) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("export.db"), &SqliteOptions::default()).await.unwrap();
    let f = Arc::new(setup(store).await);
    let mut seeded = 0;
    for target in [100_000, 1_000_000] {
        if target > config.export_rows.max(100_000) {
            break;
        }
        seed(&f, seeded, target).await;
        seeded = target;
        export_once(&f, target).await;
    }
}
