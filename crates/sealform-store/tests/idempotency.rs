//! Idempotency records of the native API (migration 0007) on both backends: stored in the submission's own
//! transaction (a failed submission leaves no record, so a crash or error can never acknowledge twice or claim a
//! submission that does not exist), one per organisation, API key and client key, expiring after 24 hours.

use std::sync::Arc;
use std::time::Duration;

use sealform_core::api_keys::{NewApiKey, Scope};
use sealform_core::audit::Action;
use sealform_core::forms::create_form;
use sealform_core::idempotency::{IdempotencyRecord, KEY_TAKEN, TTL};
use sealform_core::ids::{FormId, OrgId, SubmissionId};
use sealform_core::keys::{Keyring, MasterKeys};
use sealform_core::sealing::{Answers, RecordRef, seal_revision};
use sealform_core::store::{Store, StoreError};
use sealform_core::submission::NewSubmission;
use sealform_store::{PgStore, SqliteOptions, SqliteStore};
use sealform_testkit::fixtures;
use time::OffsetDateTime;
use zeroize::Zeroizing;

struct Fixture<S: Store> {
    store: S,
    keyring: Keyring<S>,
    org: OrgId,
    form: FormId,
    key: uuid::Uuid,
    _dir: Option<tempfile::TempDir>,
}

async fn fixture<S: Store>(store: S, dir: Option<tempfile::TempDir>) -> Fixture<S> {
    let org = fixtures::organisation("Clinic");
    let owner = fixtures::user("owner@clinic.example");
    let (org_id, user) = (org.id, owner.id);
    store.bootstrap(org, owner, vec![fixtures::audit(Action::InstallationBootstrap)]).await.unwrap();
    let ctx = sealform_core::audit::AuditCtx { auditor: &fixtures::auditor(), scope: &fixtures::scope() };
    let now = OffsetDateTime::now_utc();
    let form = create_form(&store, fixtures::master().as_ref(), ctx, org_id, "Intake", "{}".into(), now).await.unwrap();
    let key = NewApiKey {
        id: uuid::Uuid::now_v7(),
        org: org_id,
        user,
        name: "k".into(),
        prefix: "sf_0123456789".into(),
        key_hash: [7; 32],
        scopes: vec![Scope::Submit],
        form: None,
        expires_at: None,
        created_at: now,
    };
    let key_id = key.id;
    store.tenant(key.org).insert_api_key(key, fixtures::audit(Action::ApiKeyCreate)).await.unwrap();
    let keyring = Keyring::new(store.clone(), MasterKeys::single(Arc::clone(&fixtures::master())));
    Fixture { store, keyring, org: org_id, form, key: key_id, _dir: dir }
}

async fn submission<S: Store>(f: &Fixture<S>, id: SubmissionId) -> NewSubmission {
    let answers: Answers = [("1".to_owned(), Zeroizing::new(b"x".to_vec()))].into_iter().collect();
    let record = RecordRef { org: f.org, form: f.form, submission: id, revision: 1 };
    let revision = seal_revision(&f.keyring, record, &answers, None, OffsetDateTime::now_utc()).await.unwrap();
    NewSubmission {
        org_id: f.org,
        id,
        form_id: f.form,
        form_version: 1,
        revision,
        index: Vec::new(),
        files: Vec::new(),
    }
}

fn record<S: Store>(f: &Fixture<S>, key: &str, submission: SubmissionId, at: OffsetDateTime) -> IdempotencyRecord {
    IdempotencyRecord {
        org: f.org,
        api_key: f.key,
        key: key.to_owned(),
        request_digest: [1; 16],
        submission,
        status: 201,
        response: format!("{{\"id\":\"{submission}\"}}"),
        created_at: at,
    }
}

async fn records_commit_with_their_submission_only<S: Store>(f: Fixture<S>) {
    // Microseconds, as both backends store times.
    let now = OffsetDateTime::now_utc();
    let now = now.replace_nanosecond(now.nanosecond() / 1000 * 1000).unwrap();
    let window = now - TTL;
    let first = SubmissionId::new();
    let stored = record(&f, "order-1", first, now);
    let audit = || fixtures::audit(Action::SubmissionCreate);
    f.store
        .tenant(f.org)
        .insert_submission_once(submission(&f, first).await, audit(), stored.clone(), window)
        .await
        .unwrap();
    assert_eq!(f.store.tenant(f.org).idempotency_record(f.key, "order-1", window).await.unwrap(), Some(stored));
    assert!(f.store.tenant(f.org).submission(first).await.unwrap().is_some());

    // The same key again: refused, and its submission is not stored.
    let second = SubmissionId::new();
    let again = f
        .store
        .tenant(f.org)
        .insert_submission_once(submission(&f, second).await, audit(), record(&f, "order-1", second, now), window)
        .await;
    assert!(matches!(&again, Err(StoreError::Conflict(m)) if m == KEY_TAKEN), "{again:?}");
    assert!(f.store.tenant(f.org).submission(second).await.unwrap().is_none());

    // The submission fails after the record was written (its id is taken): the record goes with it.
    let failed = f
        .store
        .tenant(f.org)
        .insert_submission_once(submission(&f, first).await, audit(), record(&f, "order-2", first, now), window)
        .await;
    assert!(failed.is_err());
    assert_eq!(
        f.store.tenant(f.org).idempotency_record(f.key, "order-2", window).await.unwrap(),
        None,
        "rolled back together"
    );

    // Scoped: another organisation and another API key see nothing.
    assert_eq!(f.store.tenant(OrgId::new()).idempotency_record(f.key, "order-1", window).await.unwrap(), None);
    assert_eq!(f.store.tenant(f.org).idempotency_record(uuid::Uuid::now_v7(), "order-1", window).await.unwrap(), None);

    // After the TTL the record no longer counts, and the key may be used again (the old record is dropped).
    let later = now + TTL + time::Duration::seconds(1);
    assert_eq!(f.store.tenant(f.org).idempotency_record(f.key, "order-1", later - TTL).await.unwrap(), None);
    let third = SubmissionId::new();
    let renewed = record(&f, "order-1", third, later);
    f.store
        .tenant(f.org)
        .insert_submission_once(submission(&f, third).await, audit(), renewed.clone(), later - TTL)
        .await
        .unwrap();
    assert_eq!(f.store.tenant(f.org).idempotency_record(f.key, "order-1", later - TTL).await.unwrap(), Some(renewed));
}

/// Through the tenant handle, a record must belong to the handle's organisation and name the submission it stores;
/// otherwise nothing is written.
async fn records_naming_another_organisation_or_submission_are_refused<S: Store>(f: Fixture<S>) {
    let now = OffsetDateTime::now_utc();
    let audit = || fixtures::audit(Action::SubmissionCreate);
    let id = SubmissionId::new();
    let mut foreign = record(&f, "order-9", id, now);
    foreign.org = OrgId::new();
    let tenant = f.store.tenant(f.org);
    let err = tenant.insert_submission_once(submission(&f, id).await, audit(), foreign, now - TTL).await;
    assert!(matches!(err.unwrap_err(), StoreError::NotFound(_)));
    let elsewhere = record(&f, "order-9", SubmissionId::new(), now);
    let err = tenant.insert_submission_once(submission(&f, id).await, audit(), elsewhere, now - TTL).await;
    assert!(matches!(err.unwrap_err(), StoreError::Conflict(_)));
    assert!(tenant.submission(id).await.unwrap().is_none(), "nothing stored");
    assert_eq!(tenant.idempotency_record(f.key, "order-9", now - TTL).await.unwrap(), None);
}

#[tokio::test]
async fn sqlite_records_naming_another_organisation_or_submission_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("idem.db"), &SqliteOptions::default()).await.unwrap();
    records_naming_another_organisation_or_submission_are_refused(fixture(store, Some(dir)).await).await;
}

#[tokio::test]
async fn sqlite_records_commit_with_their_submission_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("idem.db"), &SqliteOptions::default()).await.unwrap();
    records_commit_with_their_submission_only(fixture(store, Some(dir)).await).await;
}

#[tokio::test]
async fn postgres_records_commit_with_their_submission_only() {
    let Some(db) = sealform_testkit::postgres::fresh_database("idempotency_records") else { return };
    let store = PgStore::open(&db.url, 4, Duration::from_secs(30)).await.unwrap();
    records_commit_with_their_submission_only(fixture(store, None).await).await;
}
