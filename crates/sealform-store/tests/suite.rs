//! The storage suite: the same tests on SQLite and on PostgreSQL (a throwaway cluster per test binary).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use sealform_core::audit::Action;
use sealform_core::ids::{OrgId, UserId};
use sealform_core::org::OrgName;
use sealform_core::store::{HealthStore as _, OrganisationStore as _, Owner, Store, StoreError, UserStore as _};
use sealform_core::user::{Email, Role};
use sealform_store::{PgStore, SqliteOptions, SqliteStore};
use sealform_testkit::fixtures::{audit, organisation as org, user};

/// Opens a fresh store of each backend for one test.
trait Backend {
    type S: Store;
    /// `None` when the backend is unavailable here (a visible notice was printed).
    fn open(test: &str) -> impl Future<Output = Option<(Self::S, Guard)>>;
}

/// Keeps a backend's temp files alive for the test.
struct Guard(#[allow(dead_code)] Option<tempfile::TempDir>);

struct Sqlite;
impl Backend for Sqlite {
    type S = SqliteStore;
    async fn open(_test: &str) -> Option<(SqliteStore, Guard)> {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("test.db"), &SqliteOptions::default()).await.unwrap();
        Some((store, Guard(Some(dir))))
    }
}

struct Postgres;
impl Backend for Postgres {
    type S = PgStore;
    async fn open(test: &str) -> Option<(PgStore, Guard)> {
        let db = sealform_testkit::postgres::fresh_database(test)?;
        let store = PgStore::open(&db.url, 16, Duration::from_secs(30)).await.unwrap();
        Some((store, Guard(None)))
    }
}

async fn readiness_after_open<B: Backend>() {
    let Some((store, _guard)) = B::open("readiness").await else {
        return;
    };
    store.readiness().await.unwrap();
}

async fn bootstrap_creates_org_owner_and_membership<B: Backend>() {
    let Some((store, _guard)) = B::open("bootstrap").await else {
        return;
    };
    let clinic = org("Riverside Clinic");
    let owner = user("owner@riverside.example");
    store.bootstrap(clinic.clone(), owner.clone(), vec![audit(Action::InstallationBootstrap)]).await.unwrap();

    let found = store.organisation_by_name(&OrgName::parse("riverside clinic").unwrap()).await.unwrap().unwrap();
    assert_eq!(found.id, clinic.id);
    assert_eq!(found.name.as_str(), "Riverside Clinic");

    let stored = store.user_by_email(&owner.email).await.unwrap().unwrap();
    assert_eq!(stored.id, owner.id);
    assert_eq!(stored.password_hash, owner.password_hash);
    let memberships = store.memberships_of(owner.id).await.unwrap();
    assert_eq!(memberships.len(), 1);
    assert_eq!((memberships[0].org_id, memberships[0].role), (clinic.id, Role::Owner));
}

async fn second_bootstrap_is_refused_and_changes_nothing<B: Backend>() {
    let Some((store, _guard)) = B::open("second_bootstrap").await else {
        return;
    };
    store.bootstrap(org("First"), user("a@first.example"), vec![audit(Action::InstallationBootstrap)]).await.unwrap();
    let err = store
        .bootstrap(org("Second"), user("b@second.example"), vec![audit(Action::InstallationBootstrap)])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(store.list_organisations().await.unwrap().len(), 1);
    assert!(store.user_by_email(&Email::parse("b@second.example").unwrap()).await.unwrap().is_none());
}

async fn concurrent_bootstraps_let_exactly_one_win<B: Backend>() {
    let Some((store, _guard)) = B::open("concurrent_bootstrap").await else {
        return;
    };
    let attempts = (0..8).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .bootstrap(
                    org(&format!("Org {i}")),
                    user(&format!("u{i}@x.example")),
                    vec![audit(Action::InstallationBootstrap)],
                )
                .await
        })
    });
    let mut wins = 0;
    for attempt in attempts {
        match attempt.await.unwrap() {
            Ok(()) => wins += 1,
            Err(StoreError::Conflict(_)) => {}
            Err(other) => panic!("unexpected error: {other:?}"),
        }
    }
    assert_eq!(wins, 1);
    assert_eq!(store.list_organisations().await.unwrap().len(), 1);
}

async fn organisation_names_are_unique_ignoring_case<B: Backend>() {
    let Some((store, _guard)) = B::open("unique_names").await else {
        return;
    };
    store
        .bootstrap(org("Harbor Health"), user("a@harbor.example"), vec![audit(Action::InstallationBootstrap)])
        .await
        .unwrap();
    let err = store
        .create_organisation(org("HARBOR health"), Owner::New(user("b@harbor.example")), audit(Action::OrgCreate))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    // The owner created alongside the refused organisation must not exist either: one transaction.
    assert!(store.user_by_email(&Email::parse("b@harbor.example").unwrap()).await.unwrap().is_none());
}

async fn failed_owner_rolls_back_the_organisation<B: Backend>() {
    let Some((store, _guard)) = B::open("rollback").await else {
        return;
    };
    store.bootstrap(org("One"), user("taken@x.example"), vec![audit(Action::InstallationBootstrap)]).await.unwrap();
    let err = store
        .create_organisation(org("Two"), Owner::New(user("taken@x.example")), audit(Action::OrgCreate))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    let err = store
        .create_organisation(org("Three"), Owner::Existing(UserId::new()), audit(Action::OrgCreate))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    let names: Vec<String> =
        store.list_organisations().await.unwrap().into_iter().map(|o| o.name.to_string()).collect();
    assert_eq!(names, ["One"]);
}

async fn existing_user_can_own_several_organisations<B: Backend>() {
    let Some((store, _guard)) = B::open("several_orgs").await else {
        return;
    };
    let owner = user("multi@x.example");
    let first = org("North Clinic");
    let second = org("South Clinic");
    store.bootstrap(first.clone(), owner.clone(), vec![audit(Action::InstallationBootstrap)]).await.unwrap();
    store.create_organisation(second.clone(), Owner::Existing(owner.id), audit(Action::OrgCreate)).await.unwrap();
    let mut orgs: Vec<OrgId> = store.memberships_of(owner.id).await.unwrap().iter().map(|m| m.org_id).collect();
    orgs.sort();
    let mut expected = vec![first.id, second.id];
    expected.sort();
    assert_eq!(orgs, expected);
    let listed: Vec<OrgId> = store.list_organisations().await.unwrap().iter().map(|o| o.id).collect();
    assert_eq!(listed, [first.id, second.id], "oldest first");
}

async fn concurrent_writes_all_commit_and_failures_stay_isolated<B: Backend>() {
    let Some((store, _guard)) = B::open("concurrent_writes").await else {
        return;
    };
    store.bootstrap(org("Root"), user("root@x.example"), vec![audit(Action::InstallationBootstrap)]).await.unwrap();
    // 150 distinct organisations and 50 that collide with one of them: exactly the 150 must commit.
    let store = Arc::new(store);
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let store = Arc::clone(&store);
            let name = format!("Clinic {}", i % 150);
            tokio::spawn(async move {
                store
                    .create_organisation(
                        org(&name),
                        Owner::New(user(&format!("owner{i}@x.example"))),
                        audit(Action::OrgCreate),
                    )
                    .await
            })
        })
        .collect();
    let mut ok = 0;
    let mut conflicts = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => ok += 1,
            Err(StoreError::Conflict(_)) => conflicts += 1,
            Err(other) => panic!("unexpected error: {other:?}"),
        }
    }
    assert_eq!((ok, conflicts), (150, 50));
    assert_eq!(store.list_organisations().await.unwrap().len(), 151);
    for i in 0..200 {
        let email = Email::parse(&format!("owner{i}@x.example")).unwrap();
        let exists = store.user_by_email(&email).await.unwrap().is_some();
        // Each acknowledged organisation has its owner; each refused one left no user behind.
        let memberships = match store.user_by_email(&email).await.unwrap() {
            Some(u) => store.memberships_of(u.id).await.unwrap().len(),
            None => 0,
        };
        assert_eq!(exists, memberships == 1, "owner{i}");
    }
}

macro_rules! suite {
    ($backend:ident, $module:ident) => {
        mod $module {
            use super::*;

            #[tokio::test]
            async fn readiness_after_open() {
                super::readiness_after_open::<$backend>().await;
            }
            #[tokio::test]
            async fn bootstrap_creates_org_owner_and_membership() {
                super::bootstrap_creates_org_owner_and_membership::<$backend>().await;
            }
            #[tokio::test]
            async fn second_bootstrap_is_refused_and_changes_nothing() {
                super::second_bootstrap_is_refused_and_changes_nothing::<$backend>().await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn concurrent_bootstraps_let_exactly_one_win() {
                super::concurrent_bootstraps_let_exactly_one_win::<$backend>().await;
            }
            #[tokio::test]
            async fn organisation_names_are_unique_ignoring_case() {
                super::organisation_names_are_unique_ignoring_case::<$backend>().await;
            }
            #[tokio::test]
            async fn failed_owner_rolls_back_the_organisation() {
                super::failed_owner_rolls_back_the_organisation::<$backend>().await;
            }
            #[tokio::test]
            async fn existing_user_can_own_several_organisations() {
                super::existing_user_can_own_several_organisations::<$backend>().await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn concurrent_writes_all_commit_and_failures_stay_isolated() {
                super::concurrent_writes_all_commit_and_failures_stay_isolated::<$backend>().await;
            }
        }
    };
}

suite!(Sqlite, sqlite);
suite!(Postgres, postgres);
