//! Sealed submissions on both backends: round trips, binding to the record, staged key rotation under concurrent
//! writes, resumption, and the encryption canary.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use sealform_core::clock::SystemClock;
use sealform_core::ids::{FormId, OrgId, UserId};
use sealform_core::keys::{KeyState, Keyring, MasterKeys, new_org_key};
use sealform_core::org::OrgName;
use sealform_core::password::PasswordHash;
use sealform_core::rotation::{RotationOutcome, rotate_org_key};
use sealform_core::sealing::{Answers, open_revision, store_new_submission};
use sealform_core::store::{NewOrganisation, NewUser, Store};
use sealform_core::submission::NewForm;
use sealform_core::user::Email;
use sealform_crypto::{MasterKey, Suite};
use sealform_store::{PgStore, SqliteOptions, SqliteStore};
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
    store
        .bootstrap(NewOrganisation { id: org, name: OrgName::parse("Clinic").unwrap(), created_at: now, key }, owner)
        .await
        .unwrap();
    let form = FormId::new();
    let new_form = NewForm { org_id: org, id: form, title: "Intake".into(), definition: "{}".into(), created_at: now };
    store.create_form(new_form).await.unwrap();
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

fn answers(pairs: &[(&str, &str)]) -> Answers {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), Zeroizing::new(v.as_bytes().to_vec()))).collect()
}

fn text(answers: &Answers) -> BTreeMap<String, String> {
    answers.iter().map(|(k, v)| (k.clone(), String::from_utf8(v.to_vec()).unwrap())).collect()
}

async fn round_trip_and_minimum_necessary<S: Store>(f: Fixture<S>) {
    let given = answers(&[("name", "Ada Lovelace"), ("dob", "1815-12-10"), ("notes", "")]);
    let id =
        store_new_submission(&f.store, &f.keyring, f.org, f.form, 1, &given, OffsetDateTime::now_utc()).await.unwrap();
    let stored = f.store.latest_revision(f.org, id).await.unwrap().unwrap();
    assert_eq!(text(&open_revision(&f.keyring, &stored, None).await.unwrap()), text(&given));
    let only = open_revision(&f.keyring, &stored, Some(&["dob"])).await.unwrap();
    assert_eq!(only.keys().collect::<Vec<_>>(), ["dob"]);
    // Another organisation's id finds nothing.
    assert!(f.store.latest_revision(OrgId::new(), id).await.unwrap().is_none());
}

async fn ciphertext_moved_to_another_record_fails<S: Store>(f: Fixture<S>) {
    let now = OffsetDateTime::now_utc();
    let a = store_new_submission(&f.store, &f.keyring, f.org, f.form, 1, &answers(&[("q", "secret A")]), now)
        .await
        .unwrap();
    let b = store_new_submission(&f.store, &f.keyring, f.org, f.form, 1, &answers(&[("q", "secret B")]), now)
        .await
        .unwrap();
    let mut moved = f.store.latest_revision(f.org, a).await.unwrap().unwrap();
    moved.submission_id = b;
    assert!(open_revision(&f.keyring, &moved, None).await.is_err(), "A's envelope must not open as B");
    let mut other_form = f.store.latest_revision(f.org, a).await.unwrap().unwrap();
    other_form.form_id = FormId::new();
    assert!(open_revision(&f.keyring, &other_form, None).await.is_err());
    let mut tampered = f.store.latest_revision(f.org, a).await.unwrap().unwrap();
    let last = tampered.sealed.envelope.len() - 1;
    tampered.sealed.envelope[last] ^= 1;
    assert!(open_revision(&f.keyring, &tampered, None).await.is_err());
}

async fn rotation_under_concurrent_writes_keeps_everything_readable<S: Store>(f: Fixture<S>) {
    let now = OffsetDateTime::now_utc();
    let mut expected = BTreeMap::new();
    for i in 0..1000 {
        let given = answers(&[("q", &format!("record {i}"))]);
        let id = store_new_submission(&f.store, &f.keyring, f.org, f.form, 1, &given, now).await.unwrap();
        expected.insert(id, format!("record {i}"));
    }
    let old_key = f.store.org_keys(f.org).await.unwrap()[0].id;

    // Writers keep sealing while the rotation runs.
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (store, keyring, org, form) = (f.store.clone(), Arc::clone(&f.keyring), f.org, f.form);
            tokio::spawn(async move {
                let mut written = Vec::new();
                for i in 0..50 {
                    let value = format!("concurrent {w}-{i}");
                    let given = answers(&[("q", &value)]);
                    let id = store_new_submission(&store, &keyring, org, form, 1, &given, now).await.unwrap();
                    written.push((id, value));
                }
                written
            })
        })
        .collect();
    let mut progress = |_: u64, _: u64| {};
    let outcome = rotate_org_key(&f.store, &f.keyring, &SystemClock, f.org, None, None, &mut progress).await.unwrap();
    for writer in writers {
        expected.extend(writer.await.unwrap());
    }
    let RotationOutcome::Completed { retired, active, rewrapped } = outcome else { panic!("{outcome:?}") };
    assert_eq!(retired, old_key);
    assert!(rewrapped >= 1000, "only {rewrapped} re-wrapped");

    let keys = f.store.org_keys(f.org).await.unwrap();
    let old = keys.iter().find(|k| k.id == old_key).unwrap();
    assert_eq!(old.state, KeyState::Retired);
    assert!(old.wrapped_private_key.is_none(), "a retired key's private half is destroyed");
    assert_eq!(f.store.count_wrapped_keys(f.org, old_key).await.unwrap(), 0);
    assert!(f.keyring.private_key(f.org, old_key).await.is_err());

    assert_eq!(expected.len(), 1200);
    for (id, value) in &expected {
        let stored = f.store.latest_revision(f.org, *id).await.unwrap().unwrap();
        assert_eq!(stored.sealed.key_id, active);
        let opened = open_revision(&f.keyring, &stored, None).await.unwrap();
        assert_eq!(opened["q"].as_slice(), value.as_bytes());
    }
}

async fn interrupted_rotation_resumes_and_can_switch_suite<S: Store>(f: Fixture<S>) {
    let now = OffsetDateTime::now_utc();
    let mut ids = Vec::new();
    for i in 0..600 {
        let given = answers(&[("q", &format!("r{i}"))]);
        ids.push(store_new_submission(&f.store, &f.keyring, f.org, f.form, 1, &given, now).await.unwrap());
    }
    let old_key = f.store.org_keys(f.org).await.unwrap()[0].id;
    let mut progress = |_: u64, _: u64| {};
    let first = rotate_org_key(
        &f.store,
        &f.keyring,
        &SystemClock,
        f.org,
        Some(Suite::RsaOaep3072Sha256),
        Some(1),
        &mut progress,
    )
    .await
    .unwrap();
    assert!(matches!(first, RotationOutcome::Interrupted { rewrapped: 256 }), "{first:?}");
    let keys = f.store.org_keys(f.org).await.unwrap();
    assert_eq!(keys.iter().find(|k| k.id == old_key).unwrap().state, KeyState::Retiring);
    assert_eq!(f.store.count_wrapped_keys(f.org, old_key).await.unwrap(), 600 - 256);
    // Everything stays readable mid-rotation, under either key.
    for id in &ids {
        let stored = f.store.latest_revision(f.org, *id).await.unwrap().unwrap();
        open_revision(&f.keyring, &stored, None).await.unwrap();
    }
    // A fresh keyring (a new process) resumes; the suite choice of the interrupted run stands.
    let resumed_keyring = Keyring::new(f.store.clone(), f.keyring.masters().clone());
    let second =
        rotate_org_key(&f.store, &resumed_keyring, &SystemClock, f.org, None, None, &mut progress).await.unwrap();
    let RotationOutcome::Completed { rewrapped, active, .. } = second else { panic!("{second:?}") };
    assert_eq!(rewrapped, 600 - 256);
    let active_key = f.store.org_keys(f.org).await.unwrap().into_iter().find(|k| k.id == active).unwrap();
    assert_eq!(active_key.suite, Suite::RsaOaep3072Sha256);
    for id in &ids {
        let stored = f.store.latest_revision(f.org, *id).await.unwrap().unwrap();
        open_revision(&resumed_keyring, &stored, None).await.unwrap();
    }
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
