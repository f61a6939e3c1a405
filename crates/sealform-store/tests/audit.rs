//! The audit trail on both backends: one entry per operation with the right actor, action, targets and fields;
//! fail-closed when the audit row cannot be written; and (SQLite, on the real file) tampering is detected with the
//! first bad entry named.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use sealform_core::DomainError;
use sealform_core::audit::{
    Action, Actor, AuditCtx, AuditRow, AuditScope, Auditor, ChainFault, Entry, RequestContext, Target, Verdict,
    chunk_starts, load_or_create_auditor, verify, verify_paged,
};
use sealform_core::clock::SystemClock;
use sealform_core::forms::create_form;
use sealform_core::ids::{FormId, OrgId, SubmissionId};
use sealform_core::keys::{Keyring, MasterKeys};
use sealform_core::rotation::{RotationOptions, rotate_org_key};
use sealform_core::sealing::{NewAnswers, delete_submission, find_by_index, read_submission, store_new_submission};
use sealform_core::store::{AuditStore as _, OrganisationStore as _, Owner, SUBMISSION_EXISTS, Store};
use sealform_crypto::MasterKey;
use sealform_store::{PgStore, SqliteOptions, SqliteStore};
use sealform_testkit::fixtures;
use sqlx::Connection as _;
use time::OffsetDateTime;
use uuid::Uuid;
use zeroize::Zeroizing;

struct World<S: Store> {
    store: S,
    masters: MasterKeys,
    auditor: Arc<Auditor>,
    scope: AuditScope,
    _dir: Option<tempfile::TempDir>,
}

impl<S: Store> World<S> {
    async fn new(store: S, dir: Option<tempfile::TempDir>) -> Self {
        let masters = MasterKeys::single(Arc::new(MasterKey::generate().unwrap()));
        let auditor = load_or_create_auditor(&store, &masters, OffsetDateTime::now_utc()).await.unwrap();
        let scope = AuditScope {
            actor: Actor::User(Uuid::now_v7()),
            context: RequestContext {
                ip: Some("203.0.113.7".into()),
                user_agent: Some("test-agent".into()),
                request_id: Some("req-1".into()),
                os_user: None,
            },
        };
        Self { store, masters, auditor, scope, _dir: dir }
    }

    fn ctx(&self) -> AuditCtx<'_> {
        AuditCtx { auditor: &self.auditor, scope: &self.scope }
    }

    async fn entries(&self) -> Vec<AuditRow> {
        self.store.audit_entries(0, 100_000).await.unwrap()
    }

    /// Stores submission `id` of `form` with the single answer `q` = `text`.
    async fn store_answer(
        &self,
        keyring: &Keyring<S>,
        org: OrgId,
        form: FormId,
        id: SubmissionId,
        text: &str,
    ) -> Result<(), DomainError> {
        let answers: BTreeMap<String, Zeroizing<Vec<u8>>> =
            [("q".to_owned(), Zeroizing::new(text.as_bytes().to_vec()))].into();
        let new = NewAnswers { org, form, form_version: 1, answers: &answers, indexed: &[] };
        let now = OffsetDateTime::now_utc();
        sealform_core::sealing::store_submission(&self.store, keyring, self.ctx(), id, new, Vec::new(), now).await
    }

    /// An organisation (the first one bootstrapped, later ones created, each with an owner) and a form in it, and a
    /// keyring that opens the fixture's organisation keys (the fixture wraps them with its own master key, so the
    /// keyring holds both).
    async fn org_with_form(&self, name: &str, owner: &str) -> (OrgId, FormId, Keyring<S>) {
        let master = Arc::clone(self.masters.current());
        let org = fixtures::organisation(name);
        let org_id = org.id;
        let keyring = Keyring::new(self.store.clone(), MasterKeys::new(Arc::clone(&master), vec![fixtures::master()]));
        let now = OffsetDateTime::now_utc();
        if self.store.list_organisations().await.unwrap().is_empty() {
            self.store.bootstrap(org, fixtures::user(owner), vec![]).await.unwrap();
        } else {
            let entry = self.ctx().entry(Entry::ok(Some(org_id), Action::OrgCreate, vec![], now)).unwrap();
            self.store.create_organisation(org, Owner::New(fixtures::user(owner)), entry).await.unwrap();
        }
        let form = create_form(&self.store, master.as_ref(), self.ctx(), org_id, "F", "{}".into(), now).await.unwrap();
        (org_id, form, keyring)
    }
}

async fn sqlite_world() -> World<SqliteStore> {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("audit.db"), &SqliteOptions::default()).await.unwrap();
    World::new(store, Some(dir)).await
}

async fn pg_world(test: &str) -> Option<World<PgStore>> {
    let db = sealform_testkit::postgres::fresh_database(test)?;
    Some(World::new(PgStore::open(&db.url, 8, Duration::from_secs(30)).await.unwrap(), None).await)
}

/// What one operation must leave in the trail.
struct Expected {
    action: Action,
    targets: Vec<(&'static str, String)>,
    fields: Vec<&'static str>,
}

/// Runs `op` and checks it appended exactly the expected entries, with actor, context, targets and fields.
async fn expect_entries<S: Store>(w: &World<S>, expected: Vec<Expected>, before: usize) -> usize {
    let rows = w.entries().await;
    let new = &rows[before..];
    let actions: Vec<&str> = new.iter().map(|r| r.action.as_str()).collect();
    let wanted: Vec<&str> = expected.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, wanted, "entries appended");
    for (row, want) in new.iter().zip(&expected) {
        let detail = w.auditor.open_detail(row).unwrap();
        assert_eq!(detail.actor, w.scope.actor, "{}", row.action);
        assert_eq!(row.actor_id, w.scope.actor.id(), "{}", row.action);
        assert_eq!(detail.context, w.scope.context, "{}", row.action);
        let targets: Vec<(String, String)> = detail.targets.iter().map(|t| (t.kind.clone(), t.id.clone())).collect();
        let wanted_targets: Vec<(String, String)> =
            want.targets.iter().map(|(k, id)| ((*k).to_owned(), id.clone())).collect();
        assert_eq!(targets, wanted_targets, "{}", row.action);
        let mut fields = detail.fields.clone();
        fields.sort();
        assert_eq!(fields, want.fields, "{}", row.action);
        assert_eq!(row.outcome, "ok");
        if let Some(first) = want.targets.first() {
            assert_eq!(row.target_hash.as_deref(), Some(w.auditor.target_hash(&first.1).as_slice()));
        }
    }
    rows.len()
}

fn t(kind: &'static str, id: impl ToString) -> (&'static str, String) {
    (kind, id.to_string())
}

async fn every_operation_writes_exactly_its_entries<S: Store>(w: World<S>) {
    let master = Arc::clone(w.masters.current());
    let request = sealform_core::admin::OrganisationRequest {
        name: "Audit Clinic",
        suite: sealform_crypto::Suite::HybridMlKem768X25519,
        owner_email: "owner@audit.example",
        password: secrecy::SecretString::from("a long enough password".to_owned()),
    };
    let created =
        sealform_core::admin::bootstrap(&w.store, master.as_ref(), &SystemClock, w.ctx(), request).await.unwrap();
    let org = created.org_id;
    let org_targets = vec![t("organisation", org), t("user", created.owner_id)];
    let mut seen = expect_entries(
        &w,
        vec![
            Expected { action: Action::InstallationBootstrap, targets: org_targets.clone(), fields: vec![] },
            Expected { action: Action::OrgCreate, targets: org_targets, fields: vec![] },
        ],
        0,
    )
    .await;

    let now = OffsetDateTime::now_utc();
    let form = create_form(&w.store, master.as_ref(), w.ctx(), org, "Intake", "{}".into(), now).await.unwrap();
    seen = expect_entries(
        &w,
        vec![Expected { action: Action::FormCreate, targets: vec![t("form", form)], fields: vec![] }],
        seen,
    )
    .await;

    let keyring = Keyring::new(w.store.clone(), w.masters.clone());
    let answers: BTreeMap<String, Zeroizing<Vec<u8>>> = [("name", "Ada"), ("mrn", "MRN-9")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), Zeroizing::new(v.as_bytes().to_vec())))
        .collect();
    let new = NewAnswers { org, form, form_version: 1, answers: &answers, indexed: &["mrn"] };
    let sub = store_new_submission(&w.store, &keyring, w.ctx(), new, now).await.unwrap();
    seen = expect_entries(
        &w,
        vec![Expected {
            action: Action::SubmissionCreate,
            targets: vec![t("submission", sub), t("form", form)],
            fields: vec!["mrn", "name"],
        }],
        seen,
    )
    .await;

    let read = read_submission(&w.store, &keyring, w.ctx(), org, sub, Some(&["name"]), now).await.unwrap().unwrap();
    assert_eq!(read.keys().collect::<Vec<_>>(), ["name"]);
    seen = expect_entries(
        &w,
        vec![Expected {
            action: Action::SubmissionRead,
            targets: vec![t("submission", sub), t("form", form)],
            fields: vec!["name"],
        }],
        seen,
    )
    .await;

    let found = find_by_index(&w.store, &keyring, w.ctx(), org, form, "mrn", b"mrn-9").await.unwrap();
    assert_eq!(found, [sub]);
    seen = expect_entries(
        &w,
        vec![Expected {
            action: Action::SubmissionSearch,
            targets: vec![t("form", form), t("submission", sub)],
            fields: vec!["mrn"],
        }],
        seen,
    )
    .await;

    let publish = sealform_core::submission::FormChange {
        title: Some("Intake v2".into()),
        definition: Some("{\"questions\":[]}".into()),
        status: Some(sealform_core::submission::FormStatus::Published),
    };
    sealform_core::forms::change_form(&w.store, w.ctx(), org, form, publish, now).await.unwrap();
    seen = expect_entries(
        &w,
        vec![Expected {
            action: Action::FormUpdate,
            targets: vec![t("form", form)],
            fields: vec!["questions", "status:published", "title"],
        }],
        seen,
    )
    .await;

    let mut edited = answers.clone();
    edited.insert("name".into(), Zeroizing::new(b"Ada L.".to_vec()));
    edited.remove("mrn");
    let definition = sealform_core::form_model::Definition::default();
    let user = sealform_core::ids::UserId::from_uuid(*created.owner_id.as_uuid());
    let staff = sealform_core::inbox::StaffCtx { store: &w.store, keyring: &keyring, audit: w.ctx(), user };
    sealform_core::inbox::edit_submission(staff, org, sub, &definition, &edited, now).await.unwrap();
    let status = sealform_core::submission::SubmissionStatus::Flagged;
    sealform_core::inbox::set_status(&w.store, w.ctx(), org, sub, status, now).await.unwrap();
    let history =
        sealform_core::inbox::revision_history(&w.store, &keyring, w.ctx(), org, sub, None, now).await.unwrap();
    assert_eq!(history.len(), 2);
    let query = sealform_core::submission::SubmissionQuery::all(org, form, 100);
    let mut export = sealform_core::inbox::Export::start(&w.store, &keyring, w.ctx(), query, vec!["name".into()], now)
        .await
        .unwrap();
    assert_eq!(export.next_page().await.unwrap().len(), 1);
    seen = expect_entries(
        &w,
        vec![
            Expected {
                action: Action::SubmissionUpdate,
                targets: vec![t("submission", sub), t("form", form)],
                fields: vec!["mrn", "name"],
            },
            Expected {
                action: Action::SubmissionUpdate,
                targets: vec![t("submission", sub)],
                fields: vec!["#status:flagged"],
            },
            Expected {
                action: Action::SubmissionRead,
                targets: vec![t("submission", sub), t("form", form)],
                fields: vec!["mrn", "name"],
            },
            Expected {
                action: Action::SubmissionExport,
                targets: vec![t("form", form), t("export-records", 1)],
                fields: vec!["name"],
            },
        ],
        seen,
    )
    .await;

    let keys_before = w.store.tenant(org).org_keys().await.unwrap();
    let mut progress = |_: u64, _: u64| {};
    rotate_org_key(&w.store, &keyring, &SystemClock, w.ctx(), org, RotationOptions::default(), &mut progress)
        .await
        .unwrap();
    let keys_after = w.store.tenant(org).org_keys().await.unwrap();
    let old = sealform_core::rotation::key_hex(keys_before[0].id);
    let new_key = sealform_core::rotation::key_hex(keys_after[0].id);
    seen = expect_entries(
        &w,
        vec![
            Expected {
                action: Action::KeyRotate,
                targets: vec![t("organisation", org), t("key", &new_key), t("key", &old)],
                fields: vec![],
            },
            Expected {
                action: Action::KeyRetire,
                targets: vec![t("organisation", org), t("key", &old)],
                fields: vec![],
            },
        ],
        seen,
    )
    .await;

    delete_submission(&w.store, w.ctx(), org, sub, now).await.unwrap();
    seen = expect_entries(
        &w,
        vec![Expected { action: Action::SubmissionDelete, targets: vec![t("submission", sub)], fields: vec![] }],
        seen,
    )
    .await;
    assert!(matches!(delete_submission(&w.store, w.ctx(), org, sub, now).await, Err(DomainError::NotFound(_))));
    seen = expect_entries(&w, vec![], seen).await;

    sealform_core::admin::delete_organisation(&w.store, &SystemClock, w.ctx(), org).await.unwrap();
    expect_entries(
        &w,
        vec![Expected { action: Action::OrgDelete, targets: vec![t("organisation", org)], fields: vec![] }],
        seen,
    )
    .await;

    // The trail outlives the organisation and verifies end to end.
    let mut progress = |_: u64| {};
    assert_eq!(verify(&w.store, &w.auditor, None, &mut progress).await.unwrap(), Verdict::Ok { entries: 15 });
}

async fn concurrent_appends_never_fork_the_chain<S: Store>(w: World<S>) {
    let w = Arc::new(w);
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let w = Arc::clone(&w);
            tokio::spawn(async move {
                for j in 0..25 {
                    let entry = Entry::ok(
                        None,
                        Action::SubmissionRead,
                        vec![Target::new("submission", format!("{i}-{j}"))],
                        OffsetDateTime::now_utc(),
                    );
                    w.store.append_audit(vec![w.ctx().entry(entry).unwrap()]).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let rows = w.entries().await;
    assert_eq!(rows.iter().map(|r| r.seq).collect::<Vec<_>>(), (1..=200).collect::<Vec<i64>>());
    let mut progress = |_: u64| {};
    assert_eq!(verify(&w.store, &w.auditor, None, &mut progress).await.unwrap(), Verdict::Ok { entries: 200 });
}

/// Submissions written concurrently with plain audit appends (which group-commit together: batched on SQLite's
/// writer, array statements on PostgreSQL), some of them doomed (a submission id used twice): each doomed write
/// fails alone with its audit entry, every other write commits with exactly one entry, and the chain is gap-free
/// and verifies.
async fn batched_submissions_fail_alone_and_keep_the_chain<S: Store>(w: World<S>) {
    let (org_id, form, keyring) = w.org_with_form("Batches", "o@batch.example").await;
    let before = w.entries().await.len();
    let w = Arc::new(w);
    let keyring = Arc::new(keyring);
    let ids: Vec<SubmissionId> = (0..24).map(|_| SubmissionId::new()).collect();
    let mut tasks = Vec::new();
    for round in 0..2 {
        for (i, id) in ids.iter().copied().enumerate() {
            let (w, keyring) = (Arc::clone(&w), Arc::clone(&keyring));
            tasks.push(tokio::spawn(async move {
                // Every id is written twice (round 0 and 1): exactly one of the two may succeed.
                let stored = w.store_answer(&keyring, org_id, form, id, &format!("answer {i}")).await;
                // The other one is refused as a conflict, not as a storage failure.
                let refused = matches!(&stored, Err(DomainError::Conflict(m)) if m == SUBMISSION_EXISTS);
                assert!(stored.is_ok() || refused, "{stored:?}");
                (round, i, stored.is_ok())
            }));
        }
        for j in 0..8 {
            let w = Arc::clone(&w);
            tasks.push(tokio::spawn(async move {
                let entry = Entry::ok(
                    Some(org_id),
                    Action::SubmissionRead,
                    vec![Target::new("submission", format!("plain-{round}-{j}"))],
                    OffsetDateTime::now_utc(),
                );
                w.store.append_audit(vec![w.ctx().entry(entry).unwrap()]).await.unwrap();
                (round, usize::MAX, true)
            }));
        }
    }
    let mut stored = vec![0; ids.len()];
    for task in tasks {
        let (_, i, ok) = task.await.unwrap();
        if i != usize::MAX && ok {
            stored[i] += 1;
        }
    }
    assert!(stored.iter().all(|&n| n == 1), "each id stored exactly once: {stored:?}");
    assert_eq!(w.store.tenant(org_id).count_submissions(form).await.unwrap(), 24);
    let rows = w.entries().await;
    assert_eq!(rows.iter().map(|r| r.seq).collect::<Vec<_>>(), (1..=rows.len() as i64).collect::<Vec<_>>());
    let new = &rows[before..];
    assert_eq!(new.iter().filter(|r| r.action == "submission.create").count(), 24, "one entry per stored submission");
    assert_eq!(new.iter().filter(|r| r.action == "submission.read").count(), 16);
    let mut targets: Vec<String> = new
        .iter()
        .filter(|r| r.action == "submission.create")
        .map(|r| w.auditor.open_detail(r).unwrap().targets[0].id.clone())
        .collect();
    targets.sort();
    let mut wanted: Vec<String> = ids.iter().map(ToString::to_string).collect();
    wanted.sort();
    assert_eq!(targets, wanted);
    let mut progress = |_: u64| {};
    let verdict = verify(&w.store, &w.auditor, None, &mut progress).await.unwrap();
    assert_eq!(verdict, Verdict::Ok { entries: rows.len() as u64 });
}

/// A submission id is unique across organisations, though both backends key submissions by (org_id, id) (SQLite's
/// migration 0013, PostgreSQL's 0014): a second organisation's submission under an id already taken is refused,
/// leaves no row and no audit entry, and the first one still opens.
async fn a_submission_id_is_not_reused_across_organisations<S: Store>(w: World<S>) {
    let (north, north_form, keyring) = w.org_with_form("North", "o@north.example").await;
    let (south, south_form, _) = w.org_with_form("South", "o@south.example").await;
    let id = SubmissionId::new();
    let store = |org, form| w.store_answer(&keyring, org, form, id, "first");
    store(north, north_form).await.unwrap();
    let before = w.entries().await.len();
    let err = store(south, south_form).await.unwrap_err();
    assert!(matches!(&err, DomainError::Conflict(m) if m == SUBMISSION_EXISTS), "{err:?}");
    assert_eq!(w.entries().await.len(), before, "no audit entry for the refused submission");
    assert_eq!(w.store.tenant(south).count_submissions(south_form).await.unwrap(), 0);
    assert_eq!(w.store.tenant(north).count_submissions(north_form).await.unwrap(), 1);
    let now = OffsetDateTime::now_utc();
    let read = read_submission(&w.store, &keyring, w.ctx(), north, id, None, now).await.unwrap().unwrap();
    assert_eq!(read["q"].as_slice(), b"first");
}

/// A submission sealed to a key that was retired meanwhile is refused by the store with a conflict (and leaves no
/// row and no audit entry), also when it shares a batch with submissions sealed to the active key, which commit.
async fn a_retired_key_is_refused_in_a_batch<S: Store>(w: World<S>) {
    use sealform_core::sealing::{RecordRef, seal_revision};
    use sealform_core::submission::NewSubmission;
    let (org_id, form, keyring) = w.org_with_form("Retired", "o@retired.example").await;
    let now = OffsetDateTime::now_utc();
    let answers: BTreeMap<String, Zeroizing<Vec<u8>>> = [("q".to_owned(), Zeroizing::new(b"a".to_vec()))].into();
    let mut sealed = Vec::new();
    for _ in 0..8 {
        if sealed.len() == 4 {
            // Half sealed to the key about to retire, half to the next one.
            let mut progress = |_: u64, _: u64| {};
            rotate_org_key(
                &w.store,
                &keyring,
                &SystemClock,
                w.ctx(),
                org_id,
                RotationOptions::default(),
                &mut progress,
            )
            .await
            .unwrap();
            keyring.forget_active(org_id);
        }
        let id = SubmissionId::new();
        let record = RecordRef { org: org_id, form, submission: id, revision: 1 };
        let revision = seal_revision(&keyring, record, &answers, None, now).await.unwrap();
        sealed.push(NewSubmission {
            org_id,
            id,
            form_id: form,
            form_version: 1,
            revision,
            index: Vec::new(),
            files: Vec::new(),
        });
    }
    let fresh = sealed.split_off(4);
    let stale = sealed;
    let old_key = stale[0].revision.key_id;
    assert_ne!(old_key, fresh[0].revision.key_id);
    let keys = w.store.tenant(org_id).org_keys().await.unwrap();
    assert!(keys.iter().any(|k| k.id == old_key && k.state == sealform_core::keys::KeyState::Retired));
    let before = w.entries().await.len();
    let entry = |id: SubmissionId| {
        w.ctx()
            .entry(Entry::ok(Some(org_id), Action::SubmissionCreate, vec![Target::new("submission", id)], now))
            .unwrap()
    };
    // All eight at once, so they share batches.
    let writes = stale.into_iter().map(|s| (false, s)).chain(fresh.into_iter().map(|s| (true, s))).map(|(ok, s)| {
        let store = w.store.clone();
        let audit = entry(s.id);
        tokio::spawn(async move { (ok, store.tenant(s.org_id).insert_submission(s, audit).await) })
    });
    let writes: Vec<_> = writes.collect();
    for write in writes {
        let (should_succeed, result) = write.await.unwrap();
        if should_succeed {
            result.unwrap();
        } else {
            assert!(matches!(result, Err(sealform_core::store::StoreError::Conflict(_))), "{result:?}");
        }
    }
    assert_eq!(w.store.tenant(org_id).count_submissions(form).await.unwrap(), 4);
    assert_eq!(w.entries().await.len(), before + 4, "no audit entry for a refused write");
    let mut progress = |_: u64| {};
    assert!(matches!(verify(&w.store, &w.auditor, None, &mut progress).await.unwrap(), Verdict::Ok { .. }));
}

/// The chain check's pages carry exactly the columns the row-by-row read returns, whatever the page bounds.
async fn chain_pages_match_the_rows<S: Store>(w: World<S>) {
    let start = OffsetDateTime::now_utc();
    let entries: Vec<_> = (0..60)
        .map(|i| {
            // Installation-wide and organisation entries, with and without a target (so NULLs in each column).
            let org = (i % 3 != 0).then(OrgId::new);
            let targets = if i % 4 == 0 { Vec::new() } else { vec![Target::new("submission", i)] };
            // Whole seconds, and a time whose microseconds end in zeros, besides the usual ones.
            let at = match i % 5 {
                0 => start.replace_nanosecond(0).unwrap(),
                1 => start.replace_nanosecond(120_000_000).unwrap(),
                _ => start + time::Duration::microseconds(i),
            };
            w.ctx().entry(Entry::ok(org, Action::SubmissionRead, targets, at)).unwrap()
        })
        .collect();
    w.store.append_audit(entries).await.unwrap();
    let rows = w.entries().await;
    assert!(rows.len() >= 60);
    for (after, limit) in [(0, 1000), (0, 1), (7, 13), (50, 1000), (rows.len() as i64 - 1, 5)] {
        let page = w.store.audit_chain_page(after, limit).await.unwrap();
        let expected: Vec<_> = rows.iter().filter(|r| r.seq > after).take(limit as usize).collect();
        assert_eq!(page.len(), expected.len(), "after {after}, limit {limit}");
        for (got, row) in page.iter().zip(expected) {
            assert_eq!(got, row.entry_ref(), "entry {}", row.seq);
        }
    }
    let past_the_end = w.store.audit_chain_page(rows.len() as i64, 10).await.unwrap();
    assert!(past_the_end.is_empty());
}

macro_rules! both {
    ($name:ident) => {
        mod $name {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(sqlite_world().await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(w) = pg_world(stringify!($name)).await else { return };
                super::$name(w).await;
            }
        }
    };
}

both!(every_operation_writes_exactly_its_entries);
both!(concurrent_appends_never_fork_the_chain);
both!(batched_submissions_fail_alone_and_keep_the_chain);
both!(a_retired_key_is_refused_in_a_batch);
both!(a_submission_id_is_not_reused_across_organisations);
both!(chain_pages_match_the_rows);

/// A refused duplicate costs one write: its conflict is not mistaken for a retired key, which would seal and store
/// it again (three times more).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_duplicate_id_is_refused_without_retrying() {
    let w = sqlite_world().await;
    let (org, form, keyring) = w.org_with_form("Once", "o@once.example").await;
    let id = SubmissionId::new();
    w.store_answer(&keyring, org, form, id, "first").await.unwrap();
    let before = w.store.writer_stats();
    let err = w.store_answer(&keyring, org, form, id, "second").await.unwrap_err();
    assert!(matches!(&err, DomainError::Conflict(m) if m == SUBMISSION_EXISTS), "{err:?}");
    let after = w.store.writer_stats();
    assert_eq!(after.writes - before.writes, 1, "the duplicate was written more than once");
    assert_eq!(after.rewrites, before.rewrites, "refused at its first statement, it left nothing to undo");
}

// ----- fail closed (SQLite: the failure is injected with a trigger on the real file) -----

async fn sqlite_raw(w: &World<SqliteStore>) -> sqlx::SqliteConnection {
    let path = w._dir.as_ref().unwrap().path().join("audit.db");
    sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display())).await.unwrap()
}

#[tokio::test]
async fn a_failed_audit_insert_fails_the_write_and_the_read_and_changes_nothing() {
    let w = sqlite_world().await;
    let (org_id, form, keyring) = w.org_with_form("Fail Closed", "o@fail.example").await;
    let now = OffsetDateTime::now_utc();
    let answers: BTreeMap<String, Zeroizing<Vec<u8>>> = [("q".to_owned(), Zeroizing::new(b"kept".to_vec()))].into();
    let new = NewAnswers { org: org_id, form, form_version: 1, answers: &answers, indexed: &[] };
    let existing = store_new_submission(&w.store, &keyring, w.ctx(), new, now).await.unwrap();
    let entries_before = w.entries().await.len();

    let mut raw = sqlite_raw(&w).await;
    sqlx::query("CREATE TRIGGER fail_audit BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'injected'); END")
        .execute(&mut raw)
        .await
        .unwrap();

    let new = NewAnswers { org: org_id, form, form_version: 1, answers: &answers, indexed: &[] };
    let write = store_new_submission(&w.store, &keyring, w.ctx(), new, now).await;
    assert!(matches!(write, Err(DomainError::Store(_))), "{write:?}");
    assert_eq!(w.store.tenant(org_id).count_submissions(form).await.unwrap(), 1, "no partial change");
    let status = sealform_http::ApiError::from(write.unwrap_err()).status();
    assert_eq!(status.as_u16(), 503);

    let read = read_submission(&w.store, &keyring, w.ctx(), org_id, existing, None, now).await;
    assert!(matches!(read, Err(DomainError::Store(_))), "a read whose audit fails returns nothing");

    let delete = delete_submission(&w.store, w.ctx(), org_id, existing, now).await;
    assert!(delete.is_err());
    assert!(w.store.tenant(org_id).latest_revision(existing).await.unwrap().is_some(), "the delete was rolled back");
    assert_eq!(w.entries().await.len(), entries_before);

    sqlx::query("DROP TRIGGER fail_audit").execute(&mut raw).await.unwrap();
    assert!(read_submission(&w.store, &keyring, w.ctx(), org_id, existing, None, now).await.unwrap().is_some());
}

/// SQLite's writer stores the submissions queued together in one transaction, each in a savepoint of its own, their
/// audit entries chained in memory. One that cannot be stored (it names a form version that does not exist, so its
/// row breaks a foreign key) must fail alone and without an entry; the others of that transaction must still
/// commit, each with its entry, and the chain must stay gap-free and verify.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_bad_submission_in_a_shared_transaction_fails_alone() {
    use sealform_core::submission::{NewSubmission, SealedRevision};
    let w = sqlite_world().await;
    let master = Arc::clone(w.masters.current());
    let org = fixtures::organisation("Shared Calls");
    let (org_id, key) = (org.id, org.key.id);
    w.store.bootstrap(org, fixtures::user("o@shared.example"), vec![]).await.unwrap();
    let now = OffsetDateTime::now_utc();
    let form = create_form(&w.store, master.as_ref(), w.ctx(), org_id, "F", "{}".into(), now).await.unwrap();
    let entries_before = w.entries().await.len();
    let stats_before = w.store.writer_stats();
    let w = Arc::new(w);
    // All at once: the first transaction's fsync leaves the rest queued together, so they share calls.
    let tasks: Vec<_> = (0..40u8)
        .map(|i| {
            let w = Arc::clone(&w);
            tokio::spawn(async move {
                let id = SubmissionId::new();
                let bad = i % 10 == 5;
                let revision = SealedRevision {
                    revision: 1,
                    envelope: vec![i; 64],
                    wrapped_key: vec![i; 32],
                    key_id: key,
                    created_by: None,
                    created_at: now,
                };
                let new = NewSubmission {
                    org_id,
                    id,
                    form_id: form,
                    form_version: if bad { 2 } else { 1 },
                    revision,
                    index: vec![("q".to_owned(), [i; 16])],
                    files: Vec::new(),
                };
                let targets = vec![Target::new("submission", id)];
                let entry = w.ctx().entry(Entry::ok(Some(org_id), Action::SubmissionCreate, targets, now)).unwrap();
                (bad, id, w.store.tenant(org_id).insert_submission(new, entry).await)
            })
        })
        .collect();
    let mut stored = Vec::new();
    for task in tasks {
        let (bad, id, result) = task.await.unwrap();
        assert_eq!(result.is_err(), bad, "submission {id}: {result:?}");
        if !bad {
            stored.push(id.to_string());
        }
    }
    let stats = w.store.writer_stats();
    assert!(stats.commits - stats_before.commits < 40, "the 40 submissions never shared a transaction");
    assert_eq!(w.store.tenant(org_id).count_submissions(form).await.unwrap(), 36);
    let rows = w.entries().await;
    assert_eq!(rows.iter().map(|r| r.seq).collect::<Vec<_>>(), (1..=rows.len() as i64).collect::<Vec<_>>());
    let mut targets: Vec<String> =
        rows[entries_before..].iter().map(|r| w.auditor.open_detail(r).unwrap().targets[0].id.clone()).collect();
    targets.sort();
    stored.sort();
    assert_eq!(targets, stored, "exactly one entry per stored submission, none for a refused one");
    let mut progress = |_: u64| {};
    let verdict = verify(&w.store, &w.auditor, None, &mut progress).await.unwrap();
    assert_eq!(verdict, Verdict::Ok { entries: rows.len() as u64 });
}

// ----- tampering with the real SQLite file -----

/// A trail of 30 entries one minute apart, so checkpoints fall at entries 1, 11 and 21.
async fn thirty_entries() -> World<SqliteStore> {
    let w = sqlite_world().await;
    let start = OffsetDateTime::now_utc() - time::Duration::hours(1);
    for i in 0..30i64 {
        let at = start + time::Duration::minutes(i);
        let entry = Entry::ok(Some(OrgId::new()), Action::SubmissionRead, vec![Target::new("submission", i)], at)
            .with_fields(vec![format!("q{i}")]);
        w.store.append_audit(vec![w.ctx().entry(entry).unwrap()]).await.unwrap();
    }
    let checkpoints: Vec<i64> = w.store.audit_checkpoints().await.unwrap().iter().map(|c| c.checkpoint.seq).collect();
    assert_eq!(checkpoints, [1, 11, 21]);
    w
}

async fn verdict_after(tamper: &'static str) -> Verdict {
    let w = thirty_entries().await;
    let mut raw = sqlite_raw(&w).await;
    sqlx::raw_sql("DROP TRIGGER audit_events_no_update; DROP TRIGGER audit_events_no_delete;")
        .execute(&mut raw)
        .await
        .unwrap();
    sqlx::raw_sql(tamper).execute(&mut raw).await.unwrap();
    raw.close().await.unwrap();
    let mut progress = |_: u64| {};
    verify(&w.store, &w.auditor, None, &mut progress).await.unwrap()
}

#[tokio::test]
async fn untouched_chain_verifies() {
    let w = thirty_entries().await;
    let mut progress = |_: u64| {};
    assert_eq!(verify(&w.store, &w.auditor, None, &mut progress).await.unwrap(), Verdict::Ok { entries: 30 });
    assert_eq!(verify(&w.store, &w.auditor, Some(12), &mut progress).await.unwrap(), Verdict::Ok { entries: 19 });
}

#[tokio::test]
async fn a_changed_field_is_detected_at_its_entry() {
    let verdict = verdict_after("UPDATE audit_events SET action = 'submission.update' WHERE seq = 7").await;
    assert_eq!(verdict, Verdict::Broken { seq: 7, fault: ChainFault::Modified });
    let verdict = verdict_after("UPDATE audit_events SET at = '2020-01-01 00:00:00+00:00' WHERE seq = 9").await;
    assert_eq!(verdict, Verdict::Broken { seq: 9, fault: ChainFault::Modified });
}

/// Rows a tamperer left in shapes the packed read does not expect still read as the row-by-row read sees them, so
/// their verdicts do not change.
#[tokio::test]
async fn odd_rows_read_the_same_packed_and_row_by_row() {
    let w = thirty_entries().await;
    let mut raw = sqlite_raw(&w).await;
    sqlx::raw_sql(
        "DROP TRIGGER audit_events_no_update;
         UPDATE audit_events SET at = '2020-01-01 00:00:00' WHERE seq = 3;
         UPDATE audit_events SET detail = x'00ff00', target_hash = NULL WHERE seq = 5;
         UPDATE audit_events SET action = '' WHERE seq = 6;",
    )
    .execute(&mut raw)
    .await
    .unwrap();
    let rows = w.entries().await;
    // A page with the time that is not RFC 3339 (no offset: left to sqlx's other formats) and one without it.
    for after in [0, 3] {
        let page = w.store.audit_chain_page(after, 30).await.unwrap();
        let expected: Vec<_> = rows.iter().filter(|r| r.seq > after).collect();
        assert_eq!(page.len(), expected.len());
        for (got, row) in page.iter().zip(expected) {
            assert_eq!(got, row.entry_ref(), "entry {}", row.seq);
        }
    }
    let mut progress = |_: u64| {};
    let verdict = verify(&w.store, &w.auditor, None, &mut progress).await.unwrap();
    assert_eq!(verdict, Verdict::Broken { seq: 3, fault: ChainFault::Modified });
}

#[tokio::test]
async fn a_deleted_middle_row_is_detected() {
    let verdict = verdict_after("DELETE FROM audit_events WHERE seq = 12").await;
    assert_eq!(verdict, Verdict::Broken { seq: 12, fault: ChainFault::Missing });
}

#[tokio::test]
async fn swapped_rows_are_detected_as_reordered() {
    let swap = "CREATE TEMP TABLE s AS SELECT * FROM audit_events WHERE seq IN (15, 16);
        UPDATE audit_events SET (org_id, at, action, actor_id, outcome, target_hash, detail, chain_hash) =
            (SELECT org_id, at, action, actor_id, outcome, target_hash, detail, chain_hash FROM s WHERE s.seq = 31 - audit_events.seq)
        WHERE seq IN (15, 16);";
    assert_eq!(verdict_after(swap).await, Verdict::Broken { seq: 15, fault: ChainFault::Reordered });
}

#[tokio::test]
async fn a_truncated_tail_is_detected_by_the_checkpoint() {
    let verdict = verdict_after("DELETE FROM audit_events WHERE seq >= 21").await;
    assert_eq!(verdict, Verdict::Broken { seq: 21, fault: ChainFault::TruncatedAfterCheckpoint });
}

#[tokio::test]
async fn a_forged_tail_is_detected_at_its_first_entry() {
    // The attacker truncates and appends entries of their own: without the chain key they cannot compute hashes.
    let forge = "DELETE FROM audit_events WHERE seq >= 25;
        INSERT INTO audit_events (seq, org_id, at, action, actor_id, outcome, target_hash, detail, chain_hash)
        SELECT seq + 10, org_id, at, action, actor_id, outcome, target_hash, detail, randomblob(32)
        FROM audit_events WHERE seq BETWEEN 15 AND 20;";
    assert_eq!(verdict_after(forge).await, Verdict::Broken { seq: 25, fault: ChainFault::Modified });
}

#[tokio::test]
async fn details_are_sealed_and_ids_are_hashed() {
    let w = thirty_entries().await;
    let path = w._dir.as_ref().unwrap().path();
    let mut bytes = std::fs::read(path.join("audit.db")).unwrap();
    bytes.extend(std::fs::read(path.join("audit.db-wal")).unwrap_or_default());
    for needle in ["203.0.113.7", "test-agent", "req-1", "q17"] {
        assert!(!bytes.windows(needle.len()).any(|win| win == needle.as_bytes()), "{needle} stored in clear");
    }
    let _ = FormId::new();
}

// ----- tampering at the boundaries of the chunked verifier -----

/// Entries in the chunked world, one minute apart: a checkpoint every 10 entries (1, 11, …, 391).
const CHUNKED_ENTRIES: i64 = 400;
/// Rows per page: the chunks engage from 4 pages, so 400 entries give 4 chunks of about 98.
const CHUNKED_PAGE: u32 = 25;

/// 400 entries (appended in one transaction), a pristine copy of them to restore after each tampering, and the
/// connection that tampers.
async fn chunked_world() -> (World<SqliteStore>, sqlx::SqliteConnection) {
    let w = sqlite_world().await;
    let start = OffsetDateTime::now_utc() - time::Duration::days(1);
    let entries = (0..CHUNKED_ENTRIES)
        .map(|i| {
            let at = start + time::Duration::minutes(i);
            let entry = Entry::ok(Some(OrgId::new()), Action::SubmissionRead, vec![Target::new("submission", i)], at)
                .with_fields(vec![format!("q{i}")]);
            w.ctx().entry(entry).unwrap()
        })
        .collect();
    w.store.append_audit(entries).await.unwrap();
    let mut raw = sqlite_raw(&w).await;
    sqlx::raw_sql(
        "DROP TRIGGER audit_events_no_update; DROP TRIGGER audit_events_no_delete;
         CREATE TABLE pristine AS SELECT * FROM audit_events;",
    )
    .execute(&mut raw)
    .await
    .unwrap();
    (w, raw)
}

/// Verifies with the chunks and with the sequential walk over the same pages, which must agree.
async fn both_verdicts(w: &World<SqliteStore>, from: Option<i64>) -> Verdict {
    let mut progress = |_: u64| {};
    let chunked = verify_paged(&w.store, &w.auditor, from, CHUNKED_PAGE, true, &mut progress).await.unwrap();
    let sequential = verify_paged(&w.store, &w.auditor, from, CHUNKED_PAGE, false, &mut progress).await.unwrap();
    assert_eq!(chunked, sequential, "chunked and sequential verdicts differ");
    chunked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_at_and_around_chunk_boundaries_get_the_sequential_verdict() {
    let (w, mut raw) = chunked_world().await;
    let checkpoints = w.store.audit_checkpoints().await.unwrap();
    let last_checkpoint = checkpoints.iter().map(|c| c.checkpoint.seq).max();
    assert_eq!(last_checkpoint, Some(391));
    let starts = chunk_starts(0, last_checkpoint, CHUNKED_PAGE);
    assert_eq!(starts, [0, 97, 195, 293], "the chunks engage");
    // A trail shorter than four pages is one chunk.
    assert_eq!(chunk_starts(0, last_checkpoint, 100), [0]);

    assert_eq!(both_verdicts(&w, None).await, Verdict::Ok { entries: 400 });
    assert_eq!(both_verdicts(&w, Some(98)).await, Verdict::Ok { entries: 303 });

    let n = CHUNKED_ENTRIES;
    for &boundary in &starts[1..] {
        // The last entry of the chunk before, the entry the next chunk anchors on, and the two after it.
        for seq in [boundary - 1, boundary, boundary + 1, boundary + 2] {
            let cases: [(&str, String, Verdict); 6] = [
                (
                    "modify a clear column",
                    format!("UPDATE audit_events SET action = 'submission.update' WHERE seq = {seq}"),
                    Verdict::Broken { seq, fault: ChainFault::Modified },
                ),
                (
                    "modify the stored hash",
                    format!("UPDATE audit_events SET chain_hash = randomblob(32) WHERE seq = {seq}"),
                    Verdict::Broken { seq, fault: ChainFault::Modified },
                ),
                (
                    "delete",
                    format!("DELETE FROM audit_events WHERE seq = {seq}"),
                    Verdict::Broken { seq, fault: ChainFault::Missing },
                ),
                (
                    "swap with the next",
                    format!(
                        "UPDATE audit_events SET (org_id, at, action, actor_id, outcome, target_hash, detail, chain_hash) =
                            (SELECT org_id, at, action, actor_id, outcome, target_hash, detail, chain_hash
                             FROM pristine p WHERE p.seq = {} - audit_events.seq)
                         WHERE seq IN ({seq}, {})",
                        2 * seq + 1,
                        seq + 1
                    ),
                    Verdict::Broken { seq, fault: ChainFault::Reordered },
                ),
                (
                    "truncate",
                    format!("DELETE FROM audit_events WHERE seq >= {seq}"),
                    Verdict::Broken { seq, fault: ChainFault::TruncatedAfterCheckpoint },
                ),
                (
                    "truncate and forge a new tail",
                    format!(
                        "DELETE FROM audit_events WHERE seq >= {seq};
                         INSERT INTO audit_events
                            (seq, org_id, at, action, actor_id, outcome, target_hash, detail, chain_hash)
                         SELECT seq + {}, org_id, at, action, actor_id, outcome, target_hash, detail, randomblob(32)
                         FROM pristine WHERE seq BETWEEN 1 AND {}",
                        seq - 1,
                        n - seq + 1
                    ),
                    Verdict::Broken { seq, fault: ChainFault::Modified },
                ),
            ];
            for (what, tamper, expected) in cases {
                sqlx::raw_sql(sqlx::AssertSqlSafe(tamper)).execute(&mut raw).await.unwrap();
                let verdict = both_verdicts(&w, None).await;
                assert_eq!(verdict, expected, "{what} at {seq} (chunk boundary {boundary})");
                // From the middle of the chunk before: the walk starts on another anchor and still agrees.
                assert_eq!(both_verdicts(&w, Some(boundary - 40)).await, expected, "{what} at {seq}, --from");
                sqlx::raw_sql("DELETE FROM audit_events; INSERT INTO audit_events SELECT * FROM pristine;")
                    .execute(&mut raw)
                    .await
                    .unwrap();
            }
        }
    }
    assert_eq!(both_verdicts(&w, None).await, Verdict::Ok { entries: 400 }, "restored");
}

// ----- PostgreSQL: the submission writer's own connection -----

/// The submission writer keeps its connection between batches (unpooled, unpinged). When the server cuts every
/// connection (a restart, a proxy), the writer, like the pool, reconnects: after at most a few failed attempts every
/// submission is stored again, each one reported stored is there, and the chain verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_the_submission_writer_reconnects_after_its_connection_is_cut() {
    let Some(db) = sealform_testkit::postgres::fresh_database("writer_reconnects") else { return };
    let store = PgStore::open(&db.url, 8, Duration::from_secs(30)).await.unwrap();
    let w = World::new(store, None).await;
    let (org_id, form, keyring) = w.org_with_form("Reconnect", "o@reconnect.example").await;
    let submit = || w.store_answer(&keyring, org_id, form, SubmissionId::new(), "a");
    submit().await.unwrap();

    let mut admin = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let others = "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()";
    let cut: Vec<i32> = sqlx::query_scalar(others).fetch_all(&mut admin).await.unwrap();
    assert!(cut.len() >= 2, "the pool's and the writer's connections: {cut:?}");
    sqlx::query("SELECT pg_terminate_backend(pid) FROM unnest($1::int4[]) AS pid")
        .bind(&cut)
        .execute(&mut admin)
        .await
        .unwrap();
    // Gone before the next submission, so every attempt below meets a dead connection, not a dying one.
    for _ in 0..500 {
        let left: Vec<i32> = sqlx::query_scalar(others).fetch_all(&mut admin).await.unwrap();
        if left.iter().all(|pid| !cut.contains(pid)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let (mut stored, mut failures, mut in_a_row) = (1, 0, 0);
    while in_a_row < 5 {
        match submit().await {
            Ok(_) => (stored, in_a_row) = (stored + 1, in_a_row + 1),
            Err(_) => (failures, in_a_row) = (failures + 1, 0),
        }
        assert!(failures <= 10, "still failing after {failures} attempts");
    }
    assert_eq!(w.store.tenant(org_id).count_submissions(form).await.unwrap(), stored);
    let mut progress = |_: u64| {};
    let entries = w.entries().await.len() as u64;
    assert_eq!(verify(&w.store, &w.auditor, None, &mut progress).await.unwrap(), Verdict::Ok { entries });
}

/// The trail and its checkpoints refuse every way of removing rows on PostgreSQL, TRUNCATE included (which skips row
/// triggers: until 0016 it emptied the checkpoints that reveal a truncated tail).
#[tokio::test]
async fn postgres_the_trail_and_its_checkpoints_refuse_removal() {
    let Some(db) = sealform_testkit::postgres::fresh_database("trail_refuses_removal") else { return };
    let store = PgStore::open(&db.url, 8, Duration::from_secs(30)).await.unwrap();
    let w = World::new(store, None).await;
    w.org_with_form("Trail", "o@trail.example").await;
    let mut admin = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let checkpoints: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_checkpoints").fetch_one(&mut admin).await.unwrap();
    assert!(checkpoints > 0, "rows for the row triggers to refuse");
    for table in ["audit_events", "audit_checkpoints"] {
        for statement in
            [format!("TRUNCATE {table}"), format!("DELETE FROM {table}"), format!("UPDATE {table} SET seq = seq")]
        {
            let result = sqlx::query(sqlx::AssertSqlSafe(statement.clone())).execute(&mut admin).await;
            assert!(result.as_ref().is_err_and(|e| e.to_string().contains("append-only")), "{statement}: {result:?}");
        }
    }
}
