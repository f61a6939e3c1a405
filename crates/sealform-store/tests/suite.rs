//! The storage suite: the same tests on SQLite and on PostgreSQL (a throwaway cluster per test binary).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use sealform_core::api_keys::{NewApiKey, Scope};
use sealform_core::audit::{Action, AuditCtx};
use sealform_core::folder_grants::FolderGrant;
use sealform_core::folders::{Folder, FolderChange, change_folder, create_folder};
use sealform_core::forms::create_form;
use sealform_core::grants::{AccessRequest, Grant, RequestStatus, Right};
use sealform_core::ids::{FolderId, OrgId, UserId};
use sealform_core::org::OrgName;
use sealform_core::store::{
    AuditStore as _, FOLDER_CHANGED, FOLDER_HAS_GRANTS, HealthStore as _, OWNERS_ONLY, OrganisationStore as _, Owner,
    Store, StoreError, UserStore as _,
};
use sealform_core::submission::{FormChange, SubmissionQuery};
use sealform_core::user::{Email, Role};
use sealform_store::{PgStore, SqliteOptions, SqliteStore};
use sealform_testkit::fixtures::{audit, auditor, master, organisation as org, scope as audit_scope, user};
use time::OffsetDateTime;

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

/// A break-glass grant goes in only where the member's grant on the form is still what the service saw (the service
/// checks that none is in force; the store keeps a grant written meanwhile from being replaced by the time-boxed
/// one): over a standing grant, or over an expired grant replaced meanwhile, it is a conflict and changes nothing.
/// Expiry times in another offset and with whole seconds are compared as times, not as text.
async fn a_break_glass_grant_never_replaces_a_grant_written_meanwhile<B: Backend>() {
    let Some((store, _guard)) = B::open("break_glass_race").await else { return };
    let (a, owner) = (org("North Clinic"), user("a@north.example"));
    let (org_id, user_id) = (a.id, owner.id);
    store.bootstrap(a, owner, vec![audit(Action::InstallationBootstrap)]).await.unwrap();
    let ctx = AuditCtx { auditor: &auditor(), scope: &audit_scope() };
    // Whole seconds, so text and time order would disagree if the store compared text.
    let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    let form = create_form(&store, master().as_ref(), ctx, org_id, "Intake", "{}".into(), now).await.unwrap();
    let tenant = store.tenant(org_id);
    let grant = |break_glass: bool, expires_at: Option<OffsetDateTime>, created_at: OffsetDateTime| Grant {
        org: org_id,
        form,
        user: user_id,
        rights: vec![Right::View],
        hide_phi: !break_glass,
        expires_at,
        granted_by: None,
        created_at,
        break_glass,
        via_folder: None,
    };
    let minutes = time::Duration::minutes;
    let entries = || vec![audit(Action::GrantCreate)];
    let stored = || async { tenant.grant(form, user_id).await.unwrap().unwrap() };
    let emergency = grant(true, Some(now + minutes(30)), now);

    // No grant seen, but an admin's grant went in meanwhile.
    tenant.put_grant(grant(false, None, now - minutes(5)), entries()).await.unwrap();
    let err = tenant.open_break_glass(emergency.clone(), None, entries()).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert!(!stored().await.break_glass, "the standing grant stays");

    // An expired grant (its expiry in +09:00) seen and still there: replaced.
    let tokyo = time::UtcOffset::from_hms(9, 0, 0).unwrap();
    let expired = grant(false, Some((now - minutes(1)).to_offset(tokyo)), now - minutes(60));
    tenant.put_grant(expired.clone(), entries()).await.unwrap();
    let seen = stored().await.created_at;
    tenant.open_break_glass(emergency.clone(), Some(seen), entries()).await.unwrap();
    assert!(stored().await.break_glass, "the expired grant gave way");

    // A second break-glass that saw the same expired grant: the first one is there now.
    let err = tenant.open_break_glass(grant(true, Some(now + minutes(60)), now + minutes(1)), Some(seen), entries());
    let err = err.await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(stored().await.expires_at, Some(now + minutes(30)), "the first emergency access stands");

    // An admin's grant replaces the emergency one.
    tenant.put_grant(grant(false, None, now + minutes(2)), entries()).await.unwrap();
    assert!(!stored().await.break_glass);
}

/// The organisation-scoped handle (issue #9): through `store.tenant(b)`, organisation A's form, folders and grants
/// are not there, whether named by id or by a value that carries A's id; A's data is unchanged afterwards.
async fn a_tenant_handle_reaches_only_its_organisation<B: Backend>() {
    let Some((store, _guard)) = B::open("tenant_handle").await else { return };
    let (a, b) = (org("North Clinic"), org("South Clinic"));
    let (a_owner, b_owner) = (user("a@north.example"), user("b@south.example"));
    let (a_id, b_id, a_owner_id) = (a.id, b.id, a_owner.id);
    store.bootstrap(a, a_owner, vec![audit(Action::InstallationBootstrap)]).await.unwrap();
    store.create_organisation(b, Owner::New(b_owner), audit(Action::OrgCreate)).await.unwrap();
    let ctx = AuditCtx { auditor: &auditor(), scope: &audit_scope() };
    let now = OffsetDateTime::now_utc();
    let form = create_form(&store, master().as_ref(), ctx, a_id, "Intake", "{}".into(), now).await.unwrap();
    let (ours, theirs) = (store.tenant(a_id), store.tenant(b_id));

    // By id: another organisation's form answers as absent, and writes to it find nothing.
    assert!(ours.form(form).await.unwrap().is_some());
    assert!(theirs.form(form).await.unwrap().is_none());
    assert!(theirs.forms_of().await.unwrap().is_empty());
    let renamed = FormChange { title: Some("Renamed".into()), definition: None, status: None };
    let err = theirs.change_form(form, renamed, now, audit(Action::FormUpdate)).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    assert!(!theirs.delete_grant(form, a_owner_id, audit(Action::GrantRevoke)).await.unwrap());

    // By value: a grant, a folder or a page query naming organisation A is refused by B's handle, unwritten.
    let grant = Grant {
        org: a_id,
        form,
        user: a_owner_id,
        rights: vec![Right::View],
        hide_phi: false,
        expires_at: None,
        granted_by: None,
        created_at: now,
        break_glass: false,
        via_folder: None,
    };
    let err = theirs.put_grant(grant.clone(), vec![audit(Action::GrantCreate)]).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    assert!(ours.grants_of_form(form).await.unwrap().is_empty());
    let folder = Folder {
        org: a_id,
        id: FolderId::new(),
        parent: None,
        name: "F".into(),
        color: String::new(),
        created_at: now,
    };
    let err = theirs.insert_folder(folder, audit(Action::FolderCreate)).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    assert!(ours.folders_of().await.unwrap().is_empty());
    let err = theirs.submissions(SubmissionQuery::all(a_id, form, 10)).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    assert_eq!(ours.form(form).await.unwrap().unwrap().title, "Intake");

    // An API key of A cannot be revoked through B's handle (the id alone is not enough).
    let key = NewApiKey {
        id: uuid::Uuid::now_v7(),
        org: a_id,
        user: a_owner_id,
        name: "k".into(),
        prefix: "sf_tenanttest".into(),
        key_hash: [7; 32],
        scopes: vec![Scope::Read],
        form: None,
        expires_at: None,
        created_at: now,
    };
    let key_id = key.id;
    ours.insert_api_key(key, audit(Action::ApiKeyCreate)).await.unwrap();
    let err = theirs.revoke_api_key(key_id, now, audit(Action::ApiKeyRevoke)).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    assert!(ours.api_keys_of(a_owner_id).await.unwrap()[0].revoked_at.is_none(), "still live");
    ours.revoke_api_key(key_id, now, audit(Action::ApiKeyRevoke)).await.unwrap();
    assert!(ours.api_keys_of(a_owner_id).await.unwrap()[0].revoked_at.is_some());

    // An approval must grant what the request asked for: this form, this member.
    let request = AccessRequest {
        id: uuid::Uuid::now_v7(),
        org: a_id,
        form,
        user: a_owner_id,
        reason: "clinic audit".into(),
        status: RequestStatus::Pending,
        created_at: now,
        decided_by: None,
        decided_at: None,
    };
    ours.insert_access_request(request.clone(), audit(Action::AccessRequestCreate)).await.unwrap();
    let decided = AccessRequest { status: RequestStatus::Approved, decided_at: Some(now), ..request.clone() };
    let mut other = grant.clone();
    other.org = a_id;
    other.user = UserId::new();
    let err = ours.decide_access_request(decided, Some(other), vec![audit(Action::AccessRequestDecide)]).await;
    assert!(matches!(err.unwrap_err(), StoreError::Conflict(_)));
    assert_eq!(ours.access_request(request.id).await.unwrap().unwrap().status, RequestStatus::Pending);
}

/// A folder deletion's audit entry is written from a read of the folders before the deleting transaction; the store
/// checks that read inside it. A grant given on a folder below meanwhile would have gone with the folder, unaudited:
/// the deletion is refused. A form filed into the folders, or a subfolder made, meanwhile would have gone unnamed by
/// the entry: the deletion is refused as changed. Either way nothing is deleted and nothing audited.
async fn a_folder_deletion_checks_what_its_entry_was_written_from<B: Backend>() {
    let Some((store, _guard)) = B::open("folder_deletion_checks").await else { return };
    let (clinic, owner) = (org("North Clinic"), user("owner@north.example"));
    let (org_id, owner_id) = (clinic.id, owner.id);
    store.bootstrap(clinic, owner, vec![audit(Action::InstallationBootstrap)]).await.unwrap();
    let ctx = AuditCtx { auditor: &auditor(), scope: &audit_scope() };
    let now = OffsetDateTime::now_utc();
    let form = create_form(&store, master().as_ref(), ctx, org_id, "Intake", "{}".into(), now).await.unwrap();
    let top = create_folder(&store, ctx, org_id, "Top", None, None, now).await.unwrap();
    let below = create_folder(&store, ctx, org_id, "Below", None, Some(top.id), now).await.unwrap();
    let tenant = store.tenant(org_id);
    let both = vec![top.id, below.id];
    // Every entry of the trail (the fixtures' entries name no organisation).
    let entries = || async { store.audit_entries(0, 1000).await.unwrap().len() };

    // Read before the form was filed below: refused, as the entry would not name the form the deletion frees.
    let filing = FolderChange { name: None, color: None, forms: vec![form] };
    change_folder(&store, ctx, org_id, below.id, filing, now).await.unwrap();
    let before = entries().await;
    let err = tenant.delete_folder(top.id, both.clone(), Vec::new(), audit(Action::FolderDelete)).await.unwrap_err();
    assert!(matches!(&err, StoreError::Conflict(m) if m == FOLDER_CHANGED), "{err:?}");
    assert_eq!(tenant.folders_of().await.unwrap().len(), 2, "nothing deleted");
    assert_eq!(entries().await, before, "nothing audited");

    // Read before a grant was given below: refused, grant and folders kept.
    let grant = FolderGrant {
        org: org_id,
        folder: below.id,
        user: owner_id,
        rights: vec![Right::View],
        hide_phi: false,
        expires_at: None,
        granted_by: None,
        created_at: now,
    };
    tenant.put_folder_grant(grant, audit(Action::GrantCreate)).await.unwrap();
    let before = entries().await;
    let err = tenant.delete_folder(top.id, both.clone(), vec![form], audit(Action::FolderDelete)).await.unwrap_err();
    assert!(matches!(&err, StoreError::Conflict(m) if m == FOLDER_HAS_GRANTS), "{err:?}");
    assert_eq!(tenant.folders_of().await.unwrap().len(), 2, "nothing deleted");
    assert_eq!(tenant.folder_grants_of(below.id).await.unwrap().len(), 1, "the grant stays");
    assert_eq!(entries().await, before, "nothing audited");

    assert!(tenant.delete_folder_grant(below.id, owner_id, audit(Action::GrantRevoke)).await.unwrap());
    // Read before the subfolder was made: refused, as the entry would not name the folder the deletion removes.
    let before = entries().await;
    let err = tenant.delete_folder(top.id, vec![top.id], vec![form], audit(Action::FolderDelete)).await.unwrap_err();
    assert!(matches!(&err, StoreError::Conflict(m) if m == FOLDER_CHANGED), "{err:?}");
    assert_eq!((tenant.folders_of().await.unwrap().len(), entries().await), (2, before), "nothing deleted or audited");
    // From a current read it goes through: both folders gone, the form back at the top level, one entry.
    assert!(tenant.delete_folder(top.id, both, vec![form], audit(Action::FolderDelete)).await.unwrap());
    assert!(tenant.folders_of().await.unwrap().is_empty());
    assert!(tenant.form_folders().await.unwrap().is_empty());
    assert_eq!(entries().await, before + 1);
    assert!(!tenant.delete_folder(top.id, Vec::new(), Vec::new(), audit(Action::FolderDelete)).await.unwrap(), "gone");
}

/// Two owners demoting each other at once leave one owner, never none: the second demotion counts the owners after
/// the first commits and is refused. (Before the organisation's row was locked, PostgreSQL let both commit.)
async fn concurrent_demotions_keep_an_owner<B: Backend>() {
    let Some((store, _guard)) = B::open("concurrent_demotions").await else { return };
    let (first, first_owner) = (org("Round 0"), user("owner0@clinic.example"));
    store.bootstrap(first, first_owner, vec![audit(Action::InstallationBootstrap)]).await.unwrap();
    for round in 1..=20 {
        let clinic = org(&format!("Round {round}"));
        let (a, b) = (user(&format!("a{round}@clinic.example")), user(&format!("b{round}@clinic.example")));
        let (org_id, a_id, b_id) = (clinic.id, a.id, b.id);
        store.create_organisation(clinic, Owner::New(a), audit(Action::OrgCreate)).await.unwrap();
        let now = OffsetDateTime::now_utc();
        store.tenant(org_id).add_member(Owner::New(b), Role::Owner, now, audit(Action::UserCreate)).await.unwrap();
        let demote = |user: UserId, by: UserId| {
            let store = store.clone();
            tokio::spawn(async move {
                store.tenant(org_id).set_role(user, Role::Admin, by, audit(Action::UserUpdate)).await
            })
        };
        let (one, other) = (demote(a_id, b_id), demote(b_id, a_id));
        let results = [one.await.unwrap(), other.await.unwrap()];
        let owners = store.tenant(org_id).members_of().await.unwrap().iter().filter(|(_, r)| *r == Role::Owner).count();
        assert_eq!(owners, 1, "round {round}: {results:?}");
        assert_eq!(results.iter().filter(|r| matches!(r, Err(StoreError::Conflict(_)))).count(), 1, "{results:?}");
    }
}

/// A member of several organisations signs in to the one they joined first, to the microsecond on both backends.
/// (SQLite ordered the RFC 3339 text, in which `…00.55Z` sorts before `…00.5Z`.)
async fn memberships_list_in_the_order_they_were_made<B: Backend>() {
    use time::macros::datetime;

    let Some((store, _guard)) = B::open("membership_order").await else { return };
    let (first, owner) = (org("First Clinic"), user("owner@first.example"));
    store.bootstrap(first, owner, vec![audit(Action::InstallationBootstrap)]).await.unwrap();
    let member = user("member@clinics.example");
    let member_id = member.id;
    let joined = [
        ("Later Clinic", datetime!(2026-12-01 09:00:00.55 UTC)),
        ("Earlier Clinic", datetime!(2026-12-01 09:00:00.5 UTC)),
        ("Earliest Clinic", datetime!(2026-12-01 09:00:00 UTC)),
    ];
    let mut member = Some(Owner::New(member));
    let mut orgs = Vec::new();
    for (name, at) in joined {
        let (clinic, clinic_owner) = (org(name), user(&format!("owner@{}.example", name.len())));
        let clinic_id = clinic.id;
        store.create_organisation(clinic, Owner::New(clinic_owner), audit(Action::OrgCreate)).await.unwrap();
        let who = member.take().unwrap_or(Owner::Existing(member_id));
        store.tenant(clinic_id).add_member(who, Role::Reviewer, at, audit(Action::UserCreate)).await.unwrap();
        orgs.push(clinic_id);
    }
    let listed: Vec<OrgId> = store.memberships_of(member_id).await.unwrap().iter().map(|m| m.org_id).collect();
    assert_eq!(listed, [orgs[2], orgs[1], orgs[0]]);
}

/// Only owners touch the owner role, checked in the role change's transaction against both members' roles there: a
/// member promoted to owner after an admin looked is not demoted by that admin's change, and an owner demoted
/// meanwhile no longer acts as one.
async fn role_changes_touching_owners_need_an_owner<B: Backend>() {
    let Some((store, _guard)) = B::open("owners_only").await else { return };
    let (clinic, owner) = (org("North Clinic"), user("owner@north.example"));
    let (org_id, owner_id) = (clinic.id, owner.id);
    store.bootstrap(clinic, owner, vec![audit(Action::InstallationBootstrap)]).await.unwrap();
    let (peer, admin) = (user("peer@north.example"), user("admin@north.example"));
    let (peer_id, admin_id) = (peer.id, admin.id);
    let now = OffsetDateTime::now_utc();
    let tenant = store.tenant(org_id);
    tenant.add_member(Owner::New(peer), Role::Reviewer, now, audit(Action::UserCreate)).await.unwrap();
    tenant.add_member(Owner::New(admin), Role::Admin, now, audit(Action::UserCreate)).await.unwrap();
    let role_of = |user: UserId| {
        let store = store.clone();
        async move { store.tenant(org_id).members_of().await.unwrap().into_iter().find(|(u, _)| u.id == user).unwrap().1 }
    };

    // Asked by an admin: a reviewer becomes an admin, but never an owner, and an owner stays one.
    tenant.set_role(peer_id, Role::Admin, admin_id, audit(Action::UserUpdate)).await.unwrap();
    for (user, role) in [(peer_id, Role::Owner), (owner_id, Role::Admin)] {
        let err = tenant.set_role(user, role, admin_id, audit(Action::UserUpdate)).await.unwrap_err();
        assert!(matches!(&err, StoreError::Conflict(m) if m == OWNERS_ONLY), "{err:?}");
    }
    // The owner promotes the peer; a change the admin prepared before that is refused.
    tenant.set_role(peer_id, Role::Owner, owner_id, audit(Action::UserUpdate)).await.unwrap();
    let err = tenant.set_role(peer_id, Role::Reviewer, admin_id, audit(Action::UserUpdate)).await.unwrap_err();
    assert!(matches!(&err, StoreError::Conflict(m) if m == OWNERS_ONLY), "{err:?}");
    // An owner demoted meanwhile no longer counts as one: the peer demotes the owner, whose own change then fails.
    tenant.set_role(owner_id, Role::Admin, peer_id, audit(Action::UserUpdate)).await.unwrap();
    let err = tenant.set_role(peer_id, Role::Admin, owner_id, audit(Action::UserUpdate)).await.unwrap_err();
    assert!(matches!(&err, StoreError::Conflict(m) if m == OWNERS_ONLY), "{err:?}");
    assert_eq!(role_of(peer_id).await, Role::Owner);
    assert_eq!(role_of(owner_id).await, Role::Admin);
}

/// Deactivation from inside an organisation keeps its owners: an owner is deactivated only by an owner, and never the
/// last active one, checked under the organisation's lock (two owners switching each other off at once leave one).
/// The operator, outside any organisation, may.
async fn deactivations_keep_an_active_owner<B: Backend>() {
    use sealform_core::store::{ByMember, LAST_OWNER};
    use sealform_core::user::UserStatus;

    let Some((store, _guard)) = B::open("active_owner").await else { return };
    let (clinic, a) = (org("North Clinic"), user("a@north.example"));
    let (org_id, a_id) = (clinic.id, a.id);
    store.bootstrap(clinic, a, vec![audit(Action::InstallationBootstrap)]).await.unwrap();
    let (b, admin) = (user("b@north.example"), user("admin@north.example"));
    let (b_id, admin_id) = (b.id, admin.id);
    let now = OffsetDateTime::now_utc();
    let tenant = store.tenant(org_id);
    tenant.add_member(Owner::New(b), Role::Owner, now, audit(Action::UserCreate)).await.unwrap();
    tenant.add_member(Owner::New(admin), Role::Admin, now, audit(Action::UserCreate)).await.unwrap();
    let by = |member: UserId| Some(ByMember { org: org_id, member });
    let off = UserStatus::Deactivated;
    let status = |user: UserId| {
        let store = store.clone();
        async move { store.user_by_id(user).await.unwrap().unwrap().status }
    };

    let err = store.set_user_status(a_id, off, by(admin_id), audit(Action::UserDeactivate)).await.unwrap_err();
    assert!(matches!(&err, StoreError::Conflict(m) if m == OWNERS_ONLY), "{err:?}");
    assert_eq!(status(a_id).await, UserStatus::Active);
    store.set_user_status(b_id, off, by(a_id), audit(Action::UserDeactivate)).await.unwrap();
    let err = store.set_user_status(a_id, off, by(a_id), audit(Action::UserDeactivate)).await.unwrap_err();
    assert!(matches!(&err, StoreError::Conflict(m) if m == LAST_OWNER), "{err:?}");
    assert_eq!(status(a_id).await, UserStatus::Active, "the last active owner stays");
    store.set_user_status(a_id, off, None, audit(Action::UserDeactivate)).await.unwrap();
    assert_eq!(status(a_id).await, UserStatus::Deactivated, "the operator may");
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
            #[tokio::test]
            async fn a_break_glass_grant_never_replaces_a_grant_written_meanwhile() {
                super::a_break_glass_grant_never_replaces_a_grant_written_meanwhile::<$backend>().await;
            }
            #[tokio::test]
            async fn a_tenant_handle_reaches_only_its_organisation() {
                super::a_tenant_handle_reaches_only_its_organisation::<$backend>().await;
            }
            #[tokio::test]
            async fn a_folder_deletion_checks_what_its_entry_was_written_from() {
                super::a_folder_deletion_checks_what_its_entry_was_written_from::<$backend>().await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn concurrent_demotions_keep_an_owner() {
                super::concurrent_demotions_keep_an_owner::<$backend>().await;
            }
            #[tokio::test]
            async fn memberships_list_in_the_order_they_were_made() {
                super::memberships_list_in_the_order_they_were_made::<$backend>().await;
            }
            #[tokio::test]
            async fn role_changes_touching_owners_need_an_owner() {
                super::role_changes_touching_owners_need_an_owner::<$backend>().await;
            }
            #[tokio::test]
            async fn deactivations_keep_an_active_owner() {
                super::deactivations_keep_an_active_owner::<$backend>().await;
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
