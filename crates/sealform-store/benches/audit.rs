//! Audit trail throughput: preparing entries, appending them, and verifying a 1,000,000-entry chain on SQLite.
//! `cargo bench -p sealform-store --bench audit` (set `AUDIT_BENCH_ENTRIES` for another size;
//! `AUDIT_BENCH_PG_ENTRIES=N` then does the same with N entries on the test kit's throwaway PostgreSQL cluster).
//! Prints one line per measurement; figures go to BENCHMARKS.md. The verify figure is measured beside baselines in
//! the same run (the machine is shared and noisy): the row-by-row read, and the old design's sequential walk
//! (row-by-row read, canonical bytes and HMAC per row) on the same trail.

use std::sync::Arc;
use std::time::Instant;

use sealform_core::audit::{
    Action, Actor, AuditCtx, AuditScope, Auditor, Entry, RequestContext, Target, Verdict, verify, verify_paged,
};
use sealform_core::ids::OrgId;
use sealform_core::store::Store;
use sealform_crypto::{AuditKeys, GENESIS_HASH};
use sealform_store::{PgStore, SqliteOptions, SqliteStore};
use time::OffsetDateTime;
use uuid::Uuid;

const BATCH: usize = 1000;
/// Entries per page read by the verifier (its own page size).
const PAGE: u32 = 1_000;

fn main() {
    let entries: usize = std::env::var("AUDIT_BENCH_ENTRIES").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("bench.db"), &SqliteOptions::default()).await.unwrap();
        println!("== SQLite");
        run(store, entries).await;
        let pg_entries = std::env::var("AUDIT_BENCH_PG_ENTRIES").ok().and_then(|v| v.parse().ok());
        if let Some(pg_entries) = pg_entries {
            let db = sealform_testkit::postgres::fresh_database("audit_bench").expect("PostgreSQL binaries");
            let store = PgStore::open(&db.url, 8, std::time::Duration::from_secs(30)).await.unwrap();
            println!("== PostgreSQL (test kit cluster)");
            run(store, pg_entries).await;
        }
    });
}

async fn run<S: Store>(store: S, entries: usize) {
    let keys = AuditKeys::generate().unwrap();
    // The chain key again, for the old design's walk below (the auditor keeps its own copy private).
    let chain_keys = AuditKeys::from_secret_bytes(&keys.to_secret_bytes()).unwrap();
    let auditor = Arc::new(Auditor::new(keys));
    store
        .insert_audit_keyset(vec![0], [0; 8], auditor.verifier().as_bytes().to_vec(), OffsetDateTime::now_utc())
        .await
        .unwrap();
    let scope = AuditScope {
        actor: Actor::User(Uuid::now_v7()),
        context: RequestContext {
            ip: Some("198.51.100.20".into()),
            user_agent: Some("Mozilla/5.0".into()),
            request_id: Some(Uuid::now_v7().to_string()),
            os_user: None,
        },
    };
    let ctx = AuditCtx { auditor: &auditor, scope: &scope };
    let org = OrgId::new();
    let entry = |i: usize| {
        Entry::ok(
            Some(org),
            Action::SubmissionRead,
            vec![Target::new("submission", Uuid::now_v7()), Target::new("form", i)],
            OffsetDateTime::now_utc(),
        )
        .with_fields(vec!["name".into(), "dob".into(), "mrn".into()])
    };

    // Preparing an entry (JSON + AES-256-GCM of the detail + keyed target hash): the CPU a request pays.
    let started = Instant::now();
    let prepared: Vec<_> = (0..100_000).map(|i| ctx.entry(entry(i)).unwrap()).collect();
    let per_entry = started.elapsed().as_secs_f64() / prepared.len() as f64;
    println!("audit prepare: {:.2} µs/entry", per_entry * 1e6);
    drop(prepared);

    // Appending: each call is one transaction that reads and moves the chain head.
    let started = Instant::now();
    for _ in 0..1000 {
        store.append_audit(vec![ctx.entry(entry(0)).unwrap()]).await.unwrap();
    }
    println!("audit append, 1 entry per transaction: {:.0} entries/s", 1000.0 / started.elapsed().as_secs_f64());
    let started = Instant::now();
    let mut written = 1000;
    while written < entries {
        let batch: Vec<_> = (0..BATCH.min(entries - written)).map(|i| ctx.entry(entry(i)).unwrap()).collect();
        written += batch.len();
        store.append_audit(batch).await.unwrap();
    }
    println!(
        "audit append, {BATCH} entries per transaction: {:.0} entries/s ({written} entries)",
        (written - 1000) as f64 / started.elapsed().as_secs_f64()
    );

    println!("load before reading: {}", load());
    // Reading alone, to tell storage from crypto in the verify figure: row by row (what the verifier used to read)
    // and the chain pages it reads now (packed by SQLite; on PostgreSQL the same rows, copied into a page).
    let meter = Meter::start();
    let (mut after, mut read) = (0, 0);
    loop {
        let rows = store.audit_entries(after, 10_000).await.unwrap();
        let Some(last) = rows.last() else { break };
        after = last.seq;
        read += rows.len();
    }
    meter.report("audit read only, row by row", read);
    let meter = Meter::start();
    let (mut after, mut read) = (0, 0);
    loop {
        let page = store.audit_chain_page(after, PAGE).await.unwrap();
        let Some(last) = page.last_seq() else { break };
        after = last;
        read += page.len();
    }
    assert_eq!(read, written);
    meter.report("audit read only, chain pages", read);

    // Two rounds, old and new alternating, so load drift on this shared machine falls on both.
    for round in 1..=2 {
        // The old design's sequential walk, as a baseline in this run: rows read one by one, canonical bytes built
        // per row, one HMAC each (no checkpoints, no look-ahead: a floor for what it cost).
        let meter = Meter::start();
        let (mut after, mut previous, mut walked) = (0, GENESIS_HASH, 0);
        loop {
            let rows = store.audit_entries(after, 10_000).await.unwrap();
            let Some(last) = rows.last() else { break };
            after = last.seq;
            for row in &rows {
                previous = chain_keys.link(&previous, &row.canonical_bytes());
                assert_eq!(previous, row.chain_hash);
            }
            walked += rows.len();
        }
        meter.report(&format!("round {round}: audit verify, old design (row by row, sequential)"), walked);

        let meter = Meter::start();
        let mut progress = |_: u64| {};
        let verdict = verify(&store, &auditor, None, &mut progress).await.unwrap();
        assert_eq!(verdict, Verdict::Ok { entries: written as u64 });
        meter.report(&format!("round {round}: audit verify"), written);

        // The same walk in one chunk (the same pages), to show what the chunks add.
        let meter = Meter::start();
        let verdict = verify_paged(&store, &auditor, None, PAGE, false, &mut progress).await.unwrap();
        assert_eq!(verdict, Verdict::Ok { entries: written as u64 });
        meter.report(&format!("round {round}: audit verify, one chunk"), written);
    }
    println!("load after: {}", load());
}

/// Wall time and this process's CPU time (user + system; not a database server's) since `start`.
struct Meter {
    wall: Instant,
    cpu: f64,
}

impl Meter {
    fn start() -> Self {
        Self { wall: Instant::now(), cpu: process_cpu_seconds() }
    }

    fn report(self, what: &str, entries: usize) {
        let wall = self.wall.elapsed().as_secs_f64();
        let cpu = process_cpu_seconds() - self.cpu;
        println!(
            "{what}: {entries} entries in {wall:.2} s = {:.0} entries/s; process CPU {:.2} µs/entry ({:.2} cores)",
            entries as f64 / wall,
            cpu * 1e6 / entries as f64,
            cpu / wall
        );
    }
}

/// utime + stime of this process, from `/proc/self/stat` (clock ticks of 1/100 s).
fn process_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses and may contain spaces): utime is the 12th, stime 13th.
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or_default().split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// The 1-, 5- and 15-minute load averages, to record beside the figures.
fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map_or_else(|_| "unknown".into(), |l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
}
