//! Sealed submissions on both backends: round trips, binding to the record, staged key rotation under concurrent
//! writes, resumption, and the encryption canary.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use sealform_core::audit::{Action, AuditCtx};
use sealform_core::clock::SystemClock;
use sealform_core::forms::create_form;
use sealform_core::ids::{FormId, OrgId, SubmissionId, UserId};
use sealform_core::keys::{KeyState, Keyring, MasterKeys, RewrapUpdate, WrappedKeyRef, new_org_key};
use sealform_core::org::OrgName;
use sealform_core::password::PasswordHash;
use sealform_core::rotation::{RotationOptions, RotationOutcome, rotate_org_key};
use sealform_core::sealing::{Answers, NewAnswers, RecordRef, find_by_index, open_revision, store_new_submission};
use sealform_core::store::{NewOrganisation, NewUser, Owner, Store};
use sealform_core::user::Email;
use sealform_crypto::{MasterKey, Suite, WrappedKey};
use sealform_store::{PgStore, SqliteOptions, SqliteStore};
use sealform_testkit::fixtures;
use time::OffsetDateTime;
use zeroize::Zeroizing;

/// A store with one organisation and one form, and a keyring over it.
struct Fixture<S: Store> {
    store: S,
    keyring: Arc<Keyring<S>>,
    org: OrgId,
    form: FormId,
    _dir: Option<tempfile::TempDir>,
}

async fn fixture<S: Store>(store: S, dir: Option<tempfile::TempDir>, suite: Suite) -> Fixture<S> {
    let master: Arc<dyn sealform_crypto::KeyEncryptionKey> = Arc::new(MasterKey::generate().unwrap());
    let org = OrgId::new();
    let now = OffsetDateTime::now_utc();
    let key = new_org_key(master.as_ref(), org, suite, now).unwrap();
    let owner = NewUser {
        id: UserId::new(),
        email: Email::parse("owner@clinic.example").unwrap(),
        password_hash: PasswordHash::from_phc("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$fake".into()),
    };
    let org_row = NewOrganisation { id: org, name: OrgName::parse("Clinic").unwrap(), created_at: now, key };
    store.bootstrap(org_row, owner, vec![fixtures::audit(Action::InstallationBootstrap)]).await.unwrap();
    let form = create_form(&store, master.as_ref(), ctx(), org, "Intake", "{}".into(), now).await.unwrap();
    let keyring = Arc::new(Keyring::new(store.clone(), MasterKeys::single(master)));
    Fixture { store, keyring, org, form, _dir: dir }
}

async fn sqlite_fixture(suite: Suite) -> Fixture<SqliteStore> {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("seal.db"), &SqliteOptions::default()).await.unwrap();
    fixture(store, Some(dir), suite).await
}

async fn pg_fixture(test: &str, suite: Suite) -> Option<Fixture<PgStore>> {
    let db = sealform_testkit::postgres::fresh_database(test)?;
    let store = PgStore::open(&db.url, 16, Duration::from_secs(30)).await.unwrap();
    Some(fixture(store, None, suite).await)
}

async fn submit<S: Store>(f: &Fixture<S>, given: &Answers) -> SubmissionId {
    submit_to(f, &f.keyring, f.org, f.form, given).await
}

/// As [`submit`], sealed through `keyring` to `form` of `org`.
async fn submit_to<S: Store>(
    f: &Fixture<S>,
    keyring: &Keyring<S>,
    org: OrgId,
    form: FormId,
    given: &Answers,
) -> SubmissionId {
    let new = NewAnswers { org, form, form_version: 1, answers: given, indexed: &[] };
    store_new_submission(&f.store, keyring, ctx(), new, OffsetDateTime::now_utc()).await.unwrap()
}

/// An operator audit context with the test binary's audit keys.
fn ctx() -> AuditCtx<'static> {
    static AUDITOR: std::sync::OnceLock<Arc<sealform_core::audit::Auditor>> = std::sync::OnceLock::new();
    static SCOPE: std::sync::OnceLock<sealform_core::audit::AuditScope> = std::sync::OnceLock::new();
    AuditCtx { auditor: AUDITOR.get_or_init(fixtures::auditor), scope: SCOPE.get_or_init(fixtures::scope) }
}

fn answers(pairs: &[(&str, &str)]) -> Answers {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), Zeroizing::new(v.as_bytes().to_vec()))).collect()
}

fn text(answers: &Answers) -> BTreeMap<String, String> {
    answers.iter().map(|(k, v)| (k.clone(), String::from_utf8(v.to_vec()).unwrap())).collect()
}

async fn round_trip_and_minimum_necessary<S: Store>(f: Fixture<S>) {
    let given = answers(&[("name", "Ada Lovelace"), ("dob", "1815-12-10"), ("notes", "")]);
    let id = submit(&f, &given).await;
    let stored = f.store.tenant(f.org).latest_revision(id).await.unwrap().unwrap();
    assert_eq!(text(&open_revision(&f.keyring, &stored, None).await.unwrap()), text(&given));
    let only = open_revision(&f.keyring, &stored, Some(&["dob"])).await.unwrap();
    assert_eq!(only.keys().collect::<Vec<_>>(), ["dob"]);
    // Another organisation's id finds nothing.
    assert!(f.store.tenant(OrgId::new()).latest_revision(id).await.unwrap().is_none());
}

async fn ciphertext_moved_to_another_record_fails<S: Store>(f: Fixture<S>) {
    let _now = OffsetDateTime::now_utc();
    let a = submit(&f, &answers(&[("q", "secret A")])).await;
    let b = submit(&f, &answers(&[("q", "secret B")])).await;
    let mut moved = f.store.tenant(f.org).latest_revision(a).await.unwrap().unwrap();
    moved.submission_id = b;
    assert!(open_revision(&f.keyring, &moved, None).await.is_err(), "A's envelope must not open as B");
    let mut other_form = f.store.tenant(f.org).latest_revision(a).await.unwrap().unwrap();
    other_form.form_id = FormId::new();
    assert!(open_revision(&f.keyring, &other_form, None).await.is_err());
    let mut tampered = f.store.tenant(f.org).latest_revision(a).await.unwrap().unwrap();
    let last = tampered.sealed.envelope.len() - 1;
    tampered.sealed.envelope[last] ^= 1;
    assert!(open_revision(&f.keyring, &tampered, None).await.is_err());
}

async fn rotation_under_concurrent_writes_keeps_everything_readable<S: Store>(f: Fixture<S>) {
    let now = OffsetDateTime::now_utc();
    let mut expected = BTreeMap::new();
    for i in 0..1000 {
        let given = answers(&[("q", &format!("record {i}"))]);
        let id = submit(&f, &given).await;
        expected.insert(id, format!("record {i}"));
    }
    let old_key = f.store.tenant(f.org).org_keys().await.unwrap()[0].id;

    // Writers keep sealing while the rotation runs.
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (store, keyring, org, form) = (f.store.clone(), Arc::clone(&f.keyring), f.org, f.form);
            tokio::spawn(async move {
                let mut written = Vec::new();
                for i in 0..50 {
                    let value = format!("concurrent {w}-{i}");
                    let given = answers(&[("q", &value)]);
                    let new = NewAnswers { org, form, form_version: 1, answers: &given, indexed: &[] };
                    let id = store_new_submission(&store, &keyring, ctx(), new, now).await.unwrap();
                    written.push((id, value));
                }
                written
            })
        })
        .collect();
    let mut progress = |_: u64, _: u64| {};
    let outcome =
        rotate_org_key(&f.store, &f.keyring, &SystemClock, ctx(), f.org, RotationOptions::default(), &mut progress)
            .await
            .unwrap();
    for writer in writers {
        expected.extend(writer.await.unwrap());
    }
    let RotationOutcome::Completed { retired, active, rewrapped } = outcome else { panic!("{outcome:?}") };
    assert_eq!(retired, old_key);
    assert!(rewrapped >= 1000, "only {rewrapped} re-wrapped");

    let keys = f.store.tenant(f.org).org_keys().await.unwrap();
    let old = keys.iter().find(|k| k.id == old_key).unwrap();
    assert_eq!(old.state, KeyState::Retired);
    assert!(old.wrapped_private_key.is_none(), "a retired key's private half is destroyed");
    assert_eq!(f.store.tenant(f.org).count_wrapped_keys(old_key).await.unwrap(), 0);
    assert!(f.keyring.private_key(f.org, old_key).await.is_err());

    assert_eq!(expected.len(), 1200);
    for (id, value) in &expected {
        let stored = f.store.tenant(f.org).latest_revision(*id).await.unwrap().unwrap();
        assert_eq!(stored.sealed.key_id, active);
        let opened = open_revision(&f.keyring, &stored, None).await.unwrap();
        assert_eq!(opened["q"].as_slice(), value.as_bytes());
    }
}

async fn interrupted_rotation_resumes_and_can_switch_suite<S: Store>(f: Fixture<S>) {
    let _now = OffsetDateTime::now_utc();
    let mut ids = Vec::new();
    for i in 0..600 {
        let given = answers(&[("q", &format!("r{i}"))]);
        ids.push(submit(&f, &given).await);
    }
    let old_key = f.store.tenant(f.org).org_keys().await.unwrap()[0].id;
    let mut progress = |_: u64, _: u64| {};
    let first = rotate_org_key(
        &f.store,
        &f.keyring,
        &SystemClock,
        ctx(),
        f.org,
        RotationOptions { suite: Some(Suite::RsaOaep3072Sha256), max_batches: Some(1) },
        &mut progress,
    )
    .await
    .unwrap();
    assert!(matches!(first, RotationOutcome::Interrupted { rewrapped: 256 }), "{first:?}");
    let keys = f.store.tenant(f.org).org_keys().await.unwrap();
    assert_eq!(keys.iter().find(|k| k.id == old_key).unwrap().state, KeyState::Retiring);
    assert_eq!(f.store.tenant(f.org).count_wrapped_keys(old_key).await.unwrap(), 600 - 256);
    // Everything stays readable mid-rotation, under either key.
    for id in &ids {
        let stored = f.store.tenant(f.org).latest_revision(*id).await.unwrap().unwrap();
        open_revision(&f.keyring, &stored, None).await.unwrap();
    }
    // A fresh keyring (a new process) resumes; the suite choice of the interrupted run stands.
    let resumed_keyring = Keyring::new(f.store.clone(), f.keyring.masters().clone());
    let second = rotate_org_key(
        &f.store,
        &resumed_keyring,
        &SystemClock,
        ctx(),
        f.org,
        RotationOptions::default(),
        &mut progress,
    )
    .await
    .unwrap();
    let RotationOutcome::Completed { rewrapped, active, .. } = second else { panic!("{second:?}") };
    assert_eq!(rewrapped, 600 - 256);
    let active_key = f.store.tenant(f.org).org_keys().await.unwrap().into_iter().find(|k| k.id == active).unwrap();
    assert_eq!(active_key.suite, Suite::RsaOaep3072Sha256);
    for id in &ids {
        let stored = f.store.tenant(f.org).latest_revision(*id).await.unwrap().unwrap();
        open_revision(&resumed_keyring, &stored, None).await.unwrap();
    }
}

async fn rotation_rewraps_file_keys_and_files_still_open<S: Store>(f: Fixture<S>) {
    use sealform_core::files::{FileRef, FileSealer, ObjectStore, open_file};
    use sealform_core::sealing::store_submission;
    let dir = tempfile::tempdir().unwrap();
    let objects = ObjectStore::new(dir.path());
    let submission = SubmissionId::new();
    let target = FileRef { org: f.org, form: f.form, submission, file: sealform_core::ids::FileId::new() };
    let mut sealer = FileSealer::start(&objects, target, "3", "scan.pdf", 1 << 20).await.unwrap();
    let content: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    for chunk in content.chunks(7_000) {
        sealer.push(chunk).await.unwrap();
    }
    let (file, _) = sealer.finish(&objects, &f.keyring).await.unwrap();
    let given = answers(&[("3", "scan.pdf")]);
    let new = NewAnswers { org: f.org, form: f.form, form_version: 1, answers: &given, indexed: &[] };
    store_submission(&f.store, &f.keyring, ctx(), submission, new, vec![file], OffsetDateTime::now_utc())
        .await
        .unwrap();
    let old_key = f.store.tenant(f.org).org_keys().await.unwrap()[0].id;
    assert_eq!(
        f.store.tenant(f.org).count_wrapped_keys(old_key).await.unwrap(),
        2,
        "the revision's key and the file's"
    );
    let mut progress = |_: u64, _: u64| {};
    let outcome =
        rotate_org_key(&f.store, &f.keyring, &SystemClock, ctx(), f.org, RotationOptions::default(), &mut progress)
            .await
            .unwrap();
    assert!(matches!(outcome, RotationOutcome::Completed { rewrapped: 2, .. }), "{outcome:?}");
    let fresh = Keyring::new(f.store.clone(), f.keyring.masters().clone());
    let record = f.store.tenant(f.org).files_of(submission).await.unwrap().remove(0);
    assert_ne!(record.file.key_id, old_key);
    let mut chunks = open_file(&objects, &fresh, &record).await.unwrap();
    let mut opened = Vec::new();
    while let Some(chunk) = chunks.recv().await {
        opened.extend(chunk.unwrap());
    }
    assert_eq!(opened, content, "the file opens under the new key, byte for byte");
}

macro_rules! both {
    ($name:ident, $suite:expr) => {
        mod $name {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(sqlite_fixture($suite).await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(f) = pg_fixture(stringify!($name), $suite).await else { return };
                super::$name(f).await;
            }
        }
    };
}

both!(round_trip_and_minimum_necessary, Suite::HybridMlKem768X25519);
both!(ciphertext_moved_to_another_record_fails, Suite::RsaOaep3072Sha256);
both!(rotation_under_concurrent_writes_keeps_everything_readable, Suite::HybridMlKem768X25519);
both!(interrupted_rotation_resumes_and_can_switch_suite, Suite::HybridMlKem768X25519);
both!(rotation_rewraps_file_keys_and_files_still_open, Suite::RsaOaep3072Sha256);

async fn blind_index_finds_exact_matches_only<S: Store>(f: Fixture<S>) {
    let now = OffsetDateTime::now_utc();
    let mut ids = Vec::new();
    for (mrn, name) in [("MRN-001", "Ada"), ("mrn-002", "Grace"), ("MRN-001 ", "Ada again")] {
        let given = answers(&[("mrn", mrn), ("name", name)]);
        let new = NewAnswers { org: f.org, form: f.form, form_version: 1, answers: &given, indexed: &["mrn"] };
        ids.push(store_new_submission(&f.store, &f.keyring, ctx(), new, now).await.unwrap());
    }
    let mut found = find_by_index(&f.store, &f.keyring, ctx(), f.org, f.form, "mrn", b"mrn-001").await.unwrap();
    found.sort();
    let mut expected = vec![ids[0], ids[2]];
    expected.sort();
    assert_eq!(found, expected, "case and surrounding spaces do not matter");
    assert!(find_by_index(&f.store, &f.keyring, ctx(), f.org, f.form, "mrn", b"MRN-00").await.unwrap().is_empty());
    assert!(
        find_by_index(&f.store, &f.keyring, ctx(), f.org, f.form, "name", b"Ada").await.unwrap().is_empty(),
        "unindexed field"
    );
    assert!(
        find_by_index(&f.store, &f.keyring, ctx(), OrgId::new(), f.form, "mrn", b"MRN-001").await.is_err(),
        "other tenant"
    );
    // The digests are keyed: the same value in another form has another digest.
    let other = create_form(&f.store, f.keyring.masters().current().as_ref(), ctx(), f.org, "Other", "{}".into(), now)
        .await
        .unwrap();
    let given = answers(&[("mrn", "MRN-001")]);
    let new = NewAnswers { org: f.org, form: other, form_version: 1, answers: &given, indexed: &["mrn"] };
    let in_other = store_new_submission(&f.store, &f.keyring, ctx(), new, now).await.unwrap();
    assert_eq!(find_by_index(&f.store, &f.keyring, ctx(), f.org, other, "mrn", b"MRN-001").await.unwrap(), [in_other]);
    assert_eq!(find_by_index(&f.store, &f.keyring, ctx(), f.org, f.form, "mrn", b"MRN-001").await.unwrap().len(), 2);
}

both!(blind_index_finds_exact_matches_only, Suite::HybridMlKem768X25519);

async fn another_tenant_cannot_open_with_a_cached_key<S: Store>(f: Fixture<S>) {
    let id = submit(&f, &answers(&[("q", "private")])).await;
    let stored = f.store.tenant(f.org).latest_revision(id).await.unwrap().unwrap();
    open_revision(&f.keyring, &stored, None).await.unwrap(); // warms the cache
    let mut foreign = stored.clone();
    foreign.org_id = OrgId::new();
    assert!(open_revision(&f.keyring, &foreign, None).await.is_err(), "the cache must be scoped by organisation");
}

both!(another_tenant_cannot_open_with_a_cached_key, Suite::HybridMlKem768X25519);

/// The encapsulation inside a suite 1 revision's wrapped key (docs/envelope.md §2).
fn encapsulation(stored: &sealform_core::submission::StoredRevision) -> Vec<u8> {
    let wrapped = &stored.sealed.wrapped_key;
    assert_eq!(wrapped[4], 2, "new data keys are wrapped as version 2");
    wrapped[24..24 + 1120].to_vec()
}

async fn stored<S: Store>(f: &Fixture<S>, org: OrgId, id: SubmissionId) -> sealform_core::submission::StoredRevision {
    f.store.tenant(org).latest_revision(id).await.unwrap().unwrap()
}

async fn wrap_sessions_are_short_and_never_shared_between_organisations<S: Store>(f: Fixture<S>) {
    let (org, form) = (f.org, f.form);
    let keyring_with = |ttl: Duration, keys: u32| {
        Keyring::new(f.store.clone(), f.keyring.masters().clone()).with_wrap_session_limits(ttl, keys)
    };
    // A minute, so that a slow machine cannot end the session between two steps.
    let keyring = keyring_with(Duration::from_secs(60), 1024);
    // Two submissions in a row share one encapsulation, and each opens to its own answers.
    let a = stored(&f, org, submit_to(&f, &keyring, org, form, &answers(&[("q", "answer A")])).await).await;
    let b = stored(&f, org, submit_to(&f, &keyring, org, form, &answers(&[("q", "answer B")])).await).await;
    assert_eq!(encapsulation(&a), encapsulation(&b));
    assert_ne!(a.sealed.wrapped_key, b.sealed.wrapped_key);
    assert_eq!(text(&open_revision(&f.keyring, &a, None).await.unwrap())["q"], "answer A");
    assert_eq!(text(&open_revision(&f.keyring, &b, None).await.unwrap())["q"], "answer B");

    // Another organisation, through the same keyring, gets a session of its own, to its own key.
    let other = fixtures::organisation("Harbor");
    let other_id = other.id;
    let now = OffsetDateTime::now_utc();
    let entry = ctx().entry(sealform_core::audit::Entry::ok(Some(other_id), Action::OrgCreate, vec![], now)).unwrap();
    f.store.create_organisation(other, Owner::New(fixtures::user("o@harbor.example")), entry).await.unwrap();
    let master = fixtures::master();
    let other_form = create_form(&f.store, master.as_ref(), ctx(), other_id, "F", "{}".into(), now).await.unwrap();
    let c =
        stored(&f, other_id, submit_to(&f, &keyring, other_id, other_form, &answers(&[("q", "answer C")])).await).await;
    assert_ne!(c.sealed.key_id, a.sealed.key_id);
    assert_eq!(keyring.wrap_sessions_held(), 2);
    let with_other_master = MasterKeys::new(Arc::clone(f.keyring.masters().current()), vec![master]);
    let other_keyring = Keyring::new(f.store.clone(), with_other_master);
    assert_eq!(text(&open_revision(&other_keyring, &c, None).await.unwrap())["q"], "answer C");

    // Once the organisation's active key is another one, its session to the old key is not used again.
    let mut progress = |_: u64, _: u64| {};
    let options = RotationOptions { suite: None, max_batches: Some(0) };
    rotate_org_key(&f.store, &f.keyring, &SystemClock, ctx(), org, options, &mut progress).await.unwrap();
    keyring.forget_active(org);
    let d = stored(&f, org, submit_to(&f, &keyring, org, form, &answers(&[("q", "answer D")])).await).await;
    assert_ne!(d.sealed.key_id, a.sealed.key_id);
    assert_ne!(encapsulation(&d), encapsulation(&a));
    assert_eq!(text(&open_revision(&f.keyring, &d, None).await.unwrap())["q"], "answer D");

    // A session serves at most its number of keys...
    let two = keyring_with(Duration::from_secs(60), 2);
    let mut encapsulations = Vec::new();
    for q in ["1", "2", "3"] {
        encapsulations
            .push(encapsulation(&stored(&f, org, submit_to(&f, &two, org, form, &answers(&[("q", q)])).await).await));
    }
    assert_eq!(encapsulations[0], encapsulations[1]);
    assert_ne!(encapsulations[1], encapsulations[2]);

    // ...and is dropped once its time is up, without another submission to notice.
    let brief = keyring_with(Duration::from_millis(100), 1024);
    let key = sealform_crypto::DataKey::generate().unwrap();
    brief.wrap_data_key(org, &key, b"aad").await.unwrap();
    assert_eq!(brief.wrap_sessions_held(), 1);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(brief.wrap_sessions_held(), 0, "an expired session does not wait for the next submission");
}

both!(wrap_sessions_are_short_and_never_shared_between_organisations, Suite::HybridMlKem768X25519);

/// Data wrapped before wrap sessions (envelope version 1) still opens, and a rotation re-wraps it as version 2.
async fn version_1_envelopes_open_and_rotate<S: Store>(f: Fixture<S>) {
    let (org, form) = (f.org, f.form);
    let id = submit(&f, &answers(&[("q", "written before")])).await;
    let revision = stored(&f, org, id).await;
    let key_id = revision.sealed.key_id;
    let aad = RecordRef { org, form, submission: id, revision: revision.sealed.revision }.data_key_aad();
    let private = f.keyring.private_key(org, key_id).await.unwrap();
    let wrapped = WrappedKey::from_bytes(revision.sealed.wrapped_key.clone()).unwrap();
    let data_key = sealform_crypto::unwrap(&private, &wrapped, &aad).unwrap();
    let v1 = sealform_crypto::wrap_version_1(&private.public_key().unwrap(), &data_key, &aad).unwrap();
    let at = WrappedKeyRef::Revision { submission: id, form, revision: revision.sealed.revision };
    let update = RewrapUpdate { at, from: key_id, wrapped: v1.as_bytes().to_vec(), to: key_id };
    assert_eq!(f.store.tenant(org).replace_wrapped_keys(vec![update]).await.unwrap(), 1);
    let old = stored(&f, org, id).await;
    assert_eq!(old.sealed.wrapped_key[4], 1, "stored as version 1");
    assert_eq!(text(&open_revision(&f.keyring, &old, None).await.unwrap())["q"], "written before");

    let mut progress = |_: u64, _: u64| {};
    let options = RotationOptions { suite: None, max_batches: None };
    let outcome = rotate_org_key(&f.store, &f.keyring, &SystemClock, ctx(), org, options, &mut progress).await.unwrap();
    assert!(matches!(outcome, RotationOutcome::Completed { .. }), "{outcome:?}");
    let rotated = stored(&f, org, id).await;
    assert_eq!(rotated.sealed.wrapped_key[4], 2, "re-wrapped as version 2");
    assert_ne!(rotated.sealed.key_id, key_id);
    assert_eq!(text(&open_revision(&f.keyring, &rotated, None).await.unwrap())["q"], "written before");
}

both!(version_1_envelopes_open_and_rotate, Suite::HybridMlKem768X25519);

/// The PostgreSQL writer counts what it takes off its queue: every submission once, in batches of one or more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_writer_counts_its_batches() {
    let Some(f) = pg_fixture("postgres_writer_counts_its_batches", Suite::HybridMlKem768X25519).await else { return };
    let f = Arc::new(f);
    let before = f.store.writer_stats();
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let f = Arc::clone(&f);
            tokio::spawn(async move { submit(&f, &answers(&[("q", &format!("batched {i}"))])).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let after = f.store.writer_stats();
    assert_eq!(after.writes - before.writes, 50);
    let batches = after.batches - before.batches;
    assert!((1..=50).contains(&batches), "{batches} batches for 50 submissions");
}

/// Time filters compare instants, not text: a bound with an offset, a bound inside a second and submissions in the
/// boundary second land in the ranges PostgreSQL's timestamps put them in (to the microsecond, the audit trail's
/// precision). SQLite stores RFC 3339 text, whose fraction varies in length and whose `Z` sorts after every digit and
/// after `.`, so a plain text comparison misplaced them (by the offset's hours for a bound written with one).
async fn time_filters_compare_instants<S: Store>(f: Fixture<S>) {
    use sealform_core::audit::AuditQuery;
    use sealform_core::submission::SubmissionQuery;
    use time::macros::datetime;

    let times = [
        ("a", datetime!(2026-11-30 21:59:59.9 UTC)),
        ("b", datetime!(2026-11-30 22:30:00.25 UTC)),
        ("c", datetime!(2026-12-01 00:00:00 UTC)),
        ("d", datetime!(2026-12-01 00:00:00.5 UTC)),
        ("e", datetime!(2026-12-01 00:00:00.55 UTC)),
        ("f", datetime!(2026-12-01 00:00:01.000_001 UTC)),
    ];
    let mut names = std::collections::HashMap::new();
    for (name, at) in times {
        let new =
            NewAnswers { org: f.org, form: f.form, form_version: 1, answers: &answers(&[("q", name)]), indexed: &[] };
        names.insert(store_new_submission(&f.store, &f.keyring, ctx(), new, at).await.unwrap(), name);
    }
    let cases = [
        // Midnight in UTC+2 is 22:00 the day before.
        (Some(datetime!(2026-12-01 00:00:00 +02:00)), Some(datetime!(2026-12-02 00:00:00 UTC)), "bcdef"),
        (None, Some(datetime!(2026-12-01 00:00:00 UTC)), "ab"),
        // 23:00 in UTC-1 is midnight UTC.
        (Some(datetime!(2026-11-30 20:00:00 -02:00)), Some(datetime!(2026-11-30 23:00:00 -01:00)), "b"),
        (Some(datetime!(2026-12-01 00:00:00 UTC)), Some(datetime!(2026-12-01 00:00:00.52 UTC)), "cd"),
        (Some(datetime!(2026-12-01 00:00:00.52 UTC)), Some(datetime!(2026-12-01 00:00:01.000_001 UTC)), "e"),
        (Some(datetime!(2026-12-01 01:00:00.500_001 +01:00)), Some(datetime!(2026-12-01 00:00:02 UTC)), "ef"),
    ];
    for (from, to, expected) in cases {
        let query = SubmissionQuery { from, to, ..SubmissionQuery::all(f.org, f.form, 100) };
        let mut found: Vec<&str> =
            f.store.tenant(f.org).submissions(query).await.unwrap().iter().map(|s| names[&s.id]).collect();
        found.sort_unstable();
        assert_eq!(found.concat(), expected, "submissions from {from:?} to {to:?}");

        let query = AuditQuery { org: f.org, action: None, actor: None, target_hash: None, from, to, limit: 100 };
        for (what, rows) in [
            ("search", f.store.tenant(f.org).audit_search(query.clone()).await.unwrap()),
            ("page", f.store.tenant(f.org).audit_page(query, None).await.unwrap()),
        ] {
            let mut at: Vec<&str> =
                rows.iter().map(|row| times.iter().find(|(_, t)| *t == row.at).map_or("?", |(n, _)| *n)).collect();
            at.sort_unstable();
            assert_eq!(at.concat(), expected, "audit {what} from {from:?} to {to:?}");
        }
    }
}

both!(time_filters_compare_instants, Suite::HybridMlKem768X25519);
