//! What auditing costs a submission write, measured on the store's own write path in one run: the same sealed
//! revision and blind-index row stored through `insert_submission` with its `submission.create` entry (prepared:
//! JSON detail, AES-GCM seal, keyed target hash; appended: chained, inserted, head moved, in the same transaction)
//! and through the bench-only `insert_submission_unaudited`, which runs the same batch without the audit statements
//! (feature `bench-internals`; the product cannot skip auditing). A module of `ingest.rs`.

use super::{
    Action, Arc, AuditCtx, AuditScope, Config, Entry, Fixture, OffsetDateTime, PgStore, RecordRef, Run, SqliteStore,
    Store, SubmissionId, Target, intake_answers, ms, respondent, seal_revision, timed_clients,
};
use sealform_core::store::StoreError;
use sealform_core::submission::NewSubmission;

/// The bench-only entry point of both backends.
pub(crate) trait Unaudited: Store {
    fn insert_unaudited(&self, new: NewSubmission) -> impl Future<Output = Result<(), StoreError>> + Send;
}

impl Unaudited for SqliteStore {
    fn insert_unaudited(&self, new: NewSubmission) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.insert_submission_unaudited(new)
    }
}

impl Unaudited for PgStore {
    fn insert_unaudited(&self, new: NewSubmission) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.insert_submission_unaudited(new)
    }
}

/// One submission: sealed as `store_submission` seals it, then stored with or without its audit entry.
async fn write_one<S: Unaudited>(f: &Fixture<S>, scope: &AuditScope, i: u64, audited: bool) {
    let answers = intake_answers(i);
    let id = SubmissionId::new();
    let now = OffsetDateTime::now_utc();
    let record = RecordRef { org: f.org, form: f.form, submission: id, revision: 1 };
    let revision = seal_revision(&f.keyring, record, &answers, None, now).await.unwrap();
    // A fixed digest stands in for the blind-index HMAC (the same in both variants; the row is what matters here).
    let index = vec![("4".to_owned(), [7u8; 16])];
    let new = NewSubmission { org_id: f.org, id, form_id: f.form, form_version: 1, revision, index, files: Vec::new() };
    if audited {
        let audit = AuditCtx { auditor: &f.auditor, scope };
        let targets = vec![Target::new("submission", id), Target::new("form", f.form)];
        let fields = answers.keys().cloned().collect();
        let entry = audit.entry(Entry::ok(Some(f.org), Action::SubmissionCreate, targets, now).with_fields(fields));
        f.store.tenant(new.org_id).insert_submission(new, entry.unwrap()).await.unwrap();
    } else {
        f.store.insert_unaudited(new).await.unwrap();
    }
}

async fn variant<S: Unaudited>(f: &Arc<Fixture<S>>, clients: usize, config: &Config, audited: bool) -> Run {
    let f = Arc::clone(f);
    timed_clients(clients, config, move |i| {
        let f = Arc::clone(&f);
        async move { write_one(&f, &respondent(i as usize), i, audited).await }
    })
    .await
}

/// Runs without, with, without, with (so drift in the machine's load hits both alike) and prints each and the sums.
pub(crate) async fn audit_overhead<S: Unaudited>(backend: &str, f: &Fixture<S>, clients: usize, config: &Config) {
    let f = Arc::new(Fixture {
        store: f.store.clone(),
        keyring: Arc::clone(&f.keyring),
        auditor: Arc::clone(&f.auditor),
        org: f.org,
        form: f.form,
    });
    let (mut with, mut without) = ((0, 0.0, 0.0), (0, 0.0, 0.0));
    for round in 0..4 {
        let audited = round % 2 == 1;
        let run = variant(&f, clients, config, audited).await;
        let label = if audited { "with audit" } else { "without audit" };
        println!(
            "{backend} write path {label}, {clients} clients: {:.0}/s; latency p50 {:.2} ms, p99 {:.2} ms; CPU {:.0} µs \
             per submission",
            run.rate(),
            ms(run.percentile(0.5)),
            ms(run.percentile(0.99)),
            run.cpu / run.count as f64 * 1e6
        );
        let sum = if audited { &mut with } else { &mut without };
        sum.0 += run.count;
        sum.1 += run.seconds;
        sum.2 += run.cpu;
    }
    let rate = |s: (usize, f64, f64)| s.0 as f64 / s.1;
    let cpu = |s: (usize, f64, f64)| s.2 / s.0 as f64 * 1e6;
    println!(
        "{backend} audit overhead, {clients} clients: {:.0}/s with audit, {:.0}/s without ({:+.1}% throughput); \
         CPU {:.0} vs {:.0} µs per submission ({:+.0} µs)",
        rate(with),
        rate(without),
        100.0 * (rate(with) / rate(without) - 1.0),
        cpu(with),
        cpu(without),
        cpu(with) - cpu(without)
    );
}
