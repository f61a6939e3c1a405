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
    let started = Instant::now();
    let (mut after, mut read) = (0, 0);
    loop {
        let rows = store.audit_entries(after, 10_000).await.unwrap();
        let Some(last) = rows.last() else { break };
        after = last.seq;
        read += rows.len();
    }
    println!("audit read only, row by row: {:.0} entries/s", read as f64 / started.elapsed().as_secs_f64());
    let started = Instant::now();
    let (mut after, mut read) = (0, 0);
    loop {
        let page = store.audit_chain_page(after, PAGE).await.unwrap();
        let Some(last) = page.last_seq() else { break };
        after = last;
        read += page.len();
    }
    assert_eq!(read, written);
    println!("audit read only, chain pages: {:.0} entries/s", read as f64 / started.elapsed().as_secs_f64());

    // The old design's sequential walk, as a baseline in this run: rows read one by one, canonical bytes built per
    // row, one HMAC each (no checkpoints, no look-ahead: a floor for what it cost).
    let started = Instant::now();
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
    let elapsed = started.elapsed().as_secs_f64();
    println!("audit verify, old design (row by row, sequential): {:.0} entries/s", walked as f64 / elapsed);

    let started = Instant::now();
    let mut progress = |_: u64| {};
    let verdict = verify(&store, &auditor, None, &mut progress).await.unwrap();
    let elapsed = started.elapsed().as_secs_f64();
    assert_eq!(verdict, Verdict::Ok { entries: written as u64 });
    println!("audit verify: {written} entries in {elapsed:.2} s = {:.0} entries/s", written as f64 / elapsed);

    // The same walk in one chunk (the same pages), to show what the chunks add.
    let started = Instant::now();
    let verdict = verify_paged(&store, &auditor, None, PAGE, false, &mut progress).await.unwrap();
    let elapsed = started.elapsed().as_secs_f64();
    assert_eq!(verdict, Verdict::Ok { entries: written as u64 });
    println!(
        "audit verify, one chunk: {written} entries in {elapsed:.2} s = {:.0} entries/s",
        written as f64 / elapsed
    );
    println!("load after: {}", load());
}

/// The 1-, 5- and 15-minute load averages, to record beside the figures.
fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map_or_else(|_| "unknown".into(), |l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
}
