//! SQLite bytes on disk: no plaintext ever (canary), and after a delete no trace of the envelope or its wrapped
//! key in the database file or the WAL (crypto-shredding). Deleting an organisation destroys its private keys.

use std::sync::Arc;

use sealform_core::audit::{Action, AuditCtx};
use sealform_core::forms::create_form;
use sealform_core::ids::{FormId, OrgId, UserId};
use sealform_core::keys::{Keyring, MasterKeys, new_org_key};
use sealform_core::org::OrgName;
use sealform_core::password::PasswordHash;
use sealform_core::sealing::{Answers, NewAnswers, store_new_submission};
use sealform_core::store::{NewOrganisation, NewUser, OrganisationStore as _, Store as _};
use sealform_core::user::Email;
use sealform_crypto::{MasterKey, Suite};
use sealform_store::{SqliteOptions, SqliteStore};
use sealform_testkit::fixtures;
use time::OffsetDateTime;
use zeroize::Zeroizing;

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// The database file and its WAL, as bytes.
fn disk_bytes(dir: &std::path::Path) -> Vec<u8> {
    let mut all = Vec::new();
    for name in ["shred.db", "shred.db-wal"] {
        if let Ok(bytes) = std::fs::read(dir.join(name)) {
            all.extend_from_slice(&bytes);
        }
    }
    all
}

struct Setup {
    store: SqliteStore,
    keyring: Keyring<SqliteStore>,
    org: OrgId,
    form: FormId,
    dir: tempfile::TempDir,
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("shred.db"), &SqliteOptions::default()).await.unwrap();
    let master: Arc<dyn sealform_crypto::KeyEncryptionKey> = Arc::new(MasterKey::generate().unwrap());
    let org = OrgId::new();
    let now = OffsetDateTime::now_utc();
    let key = new_org_key(master.as_ref(), org, Suite::HybridMlKem768X25519, now).unwrap();
    let owner = NewUser {
        id: UserId::new(),
        email: Email::parse("o@x.example").unwrap(),
        password_hash: PasswordHash::from_phc("$argon2id$fake".into()),
    };
    let org_row = NewOrganisation { id: org, name: OrgName::parse("Shred Clinic").unwrap(), created_at: now, key };
    store.bootstrap(org_row, owner, vec![fixtures::audit(Action::InstallationBootstrap)]).await.unwrap();
    let form = create_form(&store, master.as_ref(), ctx(), org, "F", "{}".into(), now).await.unwrap();
    let keyring = Keyring::new(store.clone(), MasterKeys::single(master));
    Setup { store, keyring, org, form, dir }
}

async fn submit(s: &Setup, canary: &str) -> sealform_core::ids::SubmissionId {
    let given = canary_answers(canary);
    let new = NewAnswers { org: s.org, form: s.form, form_version: 1, answers: &given, indexed: &[] };
    store_new_submission(&s.store, &s.keyring, ctx(), new, OffsetDateTime::now_utc()).await.unwrap()
}

fn ctx() -> AuditCtx<'static> {
    static AUDITOR: std::sync::OnceLock<Arc<sealform_core::audit::Auditor>> = std::sync::OnceLock::new();
    static SCOPE: std::sync::OnceLock<sealform_core::audit::AuditScope> = std::sync::OnceLock::new();
    AuditCtx { auditor: AUDITOR.get_or_init(fixtures::auditor), scope: SCOPE.get_or_init(fixtures::scope) }
}

fn canary_answers(canary: &str) -> Answers {
    [("name".to_owned(), Zeroizing::new(canary.as_bytes().to_vec()))].into_iter().collect()
}

#[tokio::test]
async fn sealed_answers_never_reach_disk_in_the_clear() {
    let s = setup().await;
    let canaries: Vec<String> = (0..20).map(|i| format!("CANARY-{i}-{}", uuid::Uuid::now_v7())).collect();
    for canary in &canaries {
        submit(&s, canary).await;
    }
    let bytes = disk_bytes(s.dir.path());
    assert!(bytes.len() > 10_000, "expected database bytes to scan");
    let hits: Vec<&String> = canaries.iter().filter(|c| contains(&bytes, c.as_bytes())).collect();
    assert!(hits.is_empty(), "plaintext found on disk: {hits:?}");
}

/// Another connection may be mid-checkpoint when a delete asks for its own (the store's background checkpointer
/// does that after commits), and SQLite refuses a second checkpoint at once, without waiting. The shredding
/// checkpoint must wait its turn: here a rival connection checkpoints back to back through every delete, and no
/// deleted key may stay in the database file or the WAL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shredding_waits_for_a_concurrent_checkpoint() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let s = setup().await;
    let stop = Arc::new(AtomicBool::new(false));
    let rival = std::thread::spawn({
        let (stop, path) = (Arc::clone(&stop), s.dir.path().join("shred.db"));
        move || {
            let conn = rusqlite::Connection::open(path).unwrap();
            while !stop.load(Ordering::Relaxed) {
                let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
            }
        }
    });
    for round in 0..10 {
        let gone = submit(&s, &format!("shred me {round}")).await;
        let doomed = s.store.tenant(s.org).latest_revision(gone).await.unwrap().unwrap();
        assert!(
            s.store.tenant(s.org).delete_submission(gone, fixtures::audit(Action::SubmissionDelete)).await.unwrap()
        );
        let after = disk_bytes(s.dir.path());
        assert!(!contains(&after, &doomed.sealed.wrapped_key), "round {round}: wrapped data key still on disk");
    }
    stop.store(true, Ordering::Relaxed);
    rival.join().unwrap();
}

#[tokio::test]
async fn deleted_submission_leaves_no_envelope_or_wrapped_key_on_disk() {
    let s = setup().await;
    let keep = submit(&s, "keep me").await;
    let gone = submit(&s, "shred me").await;
    let doomed = s.store.tenant(s.org).latest_revision(gone).await.unwrap().unwrap();
    let before = disk_bytes(s.dir.path());
    assert!(contains(&before, &doomed.sealed.wrapped_key), "the test must see the bytes before deletion");

    assert!(s.store.tenant(s.org).delete_submission(gone, fixtures::audit(Action::SubmissionDelete)).await.unwrap());
    let after = disk_bytes(s.dir.path());
    assert!(!contains(&after, &doomed.sealed.wrapped_key), "wrapped data key still on disk");
    assert!(!contains(&after, &doomed.sealed.envelope[8..40]), "envelope bytes still on disk");
    assert!(s.store.tenant(s.org).latest_revision(gone).await.unwrap().is_none());
    assert!(s.store.tenant(s.org).latest_revision(keep).await.unwrap().is_some(), "other submissions are untouched");
    assert!(
        !s.store.tenant(s.org).delete_submission(gone, fixtures::audit(Action::SubmissionDelete)).await.unwrap(),
        "a second delete finds nothing"
    );
}

#[tokio::test]
async fn deleting_an_organisation_destroys_its_private_keys() {
    let s = setup().await;
    let key = s.store.tenant(s.org).org_keys().await.unwrap().remove(0);
    let wrapped_private = key.wrapped_private_key.clone().unwrap();
    submit(&s, "x").await;
    assert!(contains(&disk_bytes(s.dir.path()), &wrapped_private));

    assert!(s.store.tenant(s.org).delete_organisation(fixtures::audit(Action::OrgDelete)).await.unwrap());
    assert!(s.store.tenant(s.org).org_keys().await.unwrap().is_empty());
    assert!(!contains(&disk_bytes(s.dir.path()), &wrapped_private), "wrapped private key still on disk");
    s.store.close().await;
}

/// A reader holding old WAL frames (a long export, another process) makes a delete's truncating checkpoint give up
/// after its patience, leaving the deleted key in the WAL file. Once the reader is gone the writer truncates the WAL
/// on its own, with no further write or delete to prompt it.
#[tokio::test]
async fn a_truncation_given_up_for_a_reader_is_finished_once_the_reader_leaves() {
    let s = setup().await;
    let gone = submit(&s, "shred me later").await;
    let doomed = s.store.tenant(s.org).latest_revision(gone).await.unwrap().unwrap();

    let reader = rusqlite::Connection::open(s.dir.path().join("shred.db")).unwrap();
    reader.execute_batch("BEGIN; SELECT count(*) FROM submissions;").unwrap();
    assert!(s.store.tenant(s.org).delete_submission(gone, fixtures::audit(Action::SubmissionDelete)).await.unwrap());
    assert!(
        contains(&disk_bytes(s.dir.path()), &doomed.sealed.wrapped_key),
        "the reader's snapshot must keep the old frames for this test to mean anything"
    );

    reader.execute_batch("COMMIT").unwrap();
    drop(reader);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while contains(&disk_bytes(s.dir.path()), &doomed.sealed.wrapped_key) {
        assert!(std::time::Instant::now() < deadline, "the deleted key stayed in the WAL after the reader left");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // The writer goes on writing.
    let after = submit(&s, "after the retry").await;
    assert!(s.store.tenant(s.org).latest_revision(after).await.unwrap().is_some());
}
