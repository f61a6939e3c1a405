//! Authorization (issue #9) in process on both backends: default deny for every role but owners and admins, grants
//! that give rights on one form and expire by themselves, the access page and its audit entries, minimum-necessary
//! masking of PHI fields, and access requests.

#[macro_use]
mod harness;

use harness::*;
use sealform_core::api_keys::Scope;
use sealform_core::audit::{Action, AuditQuery, AuditScope};
use sealform_core::examples;
use sealform_core::files::{FileRef, FileSealer, ObjectStore};
use sealform_core::forms::{change_form, create_form};
use sealform_core::grants::Right;
use sealform_core::ids::{FileId, FormId, SubmissionId};
use sealform_core::keys::Keyring;
use sealform_core::sealing::{Answers, NewAnswers, store_submission};
use sealform_core::submission::{FormChange, FormStatus};
use sealform_core::user::Role;
use zeroize::Zeroizing;

/// A published patient intake in organisation A with one submission carrying an upload (question 12, PHI).
async fn intake<S: Store>(c: &Console<S>, title: &str) -> (FormId, SubmissionId) {
    let scope = AuditScope::operator();
    let audit = AuditCtx { auditor: &c.auditor, scope: &scope };
    let master = c.masters.current().as_ref();
    let now = c.clock.now();
    let definition = examples::patient_intake();
    let form = create_form(&c.store, master, audit, c.org_a, title, definition.to_json(), now).await.unwrap();
    let publish = FormChange { status: Some(FormStatus::Published), ..FormChange::default() };
    let version = change_form(&c.store, audit, c.org_a, form, publish, now).await.unwrap().version;
    let keyring = Keyring::new(c.store.clone(), c.masters.clone());
    let objects = ObjectStore::new(c.objects.path());
    let id = SubmissionId::new();
    let mut answers: Answers = [
        ("2_first", "Zebedee"),
        ("2_last", "Quarrington"),
        ("3", "1980-01-02"),
        ("4", "zq@example.org"),
        ("6", "Knee pain"),
        ("7", "No"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), Zeroizing::new(v.as_bytes().to_vec())))
    .collect();
    let target = FileRef { org: c.org_a, form, submission: id, file: FileId::new() };
    let mut sealer = FileSealer::start(&objects, target, "12", "card.pdf", 1 << 20).await.unwrap();
    sealer.push(b"%PDF insurance card bytes").await.unwrap();
    let (file, _) = sealer.finish(&objects, &keyring).await.unwrap();
    answers.insert("12".into(), Zeroizing::new(b"card.pdf".to_vec()));
    let indexed = definition.indexed_paths();
    let new = NewAnswers { org: c.org_a, form, form_version: version, answers: &answers, indexed: &indexed };
    store_submission(&c.store, &keyring, audit, id, new, vec![file], now).await.unwrap();
    (form, id)
}

async fn owner<S: Store>(c: &Console<S>) -> String {
    format!("__Host-sealform={}", c.login("a@a.example", PASSWORD).await.1.unwrap())
}

async fn csrf_of<S: Store>(c: &Console<S>, cookie: &str) -> String {
    hidden_csrf(&c.get("/console", cookie).await.body)
}

/// The latest audit entries of `action` in organisation A, opened: (fields, targets as kind:id).
async fn audited<S: Store>(c: &Console<S>, action: Action) -> Vec<(Vec<String>, Vec<String>)> {
    let query = AuditQuery {
        org: c.org_a,
        action: Some(action),
        actor: None,
        target_hash: None,
        from: None,
        to: None,
        limit: 100,
    };
    let rows = c.store.tenant(query.org).audit_search(query).await.unwrap();
    rows.iter()
        .map(|row| {
            let detail = c.auditor.open_detail(row).unwrap();
            (detail.fields, detail.targets.iter().map(|t| format!("{}:{}", t.kind, t.id)).collect())
        })
        .collect()
}

/// An API key of `email` in organisation A with `scopes`, made by the operator.
async fn api_key<S: Store>(c: &Console<S>, email: &str, scopes: &[Scope]) -> String {
    let scope = AuditScope::operator();
    let audit = AuditCtx { auditor: &c.auditor, scope: &scope };
    let created =
        sealform_core::api_keys::create(&c.store, &c.clock, audit, c.org_a, email, "k", scopes.to_vec(), None, None);
    created.await.unwrap().0.as_str().to_owned()
}

async fn step_up<S: Store>(c: &Console<S>, cookie: &str) {
    let csrf = csrf_of(c, cookie).await;
    let reauth = format!("csrf={csrf}&password={}&next=/console", urlencode(PASSWORD));
    assert_eq!(c.post("/console/reauth", cookie, &reauth).await.status, StatusCode::SEE_OTHER);
}

async fn roles_act_on_a_form_only_through_a_grant_that_expires_by_itself<B: Backend>() {
    let Some(c) = console::<B>(stringify!(roles_act_on_a_form_only_through_a_grant_that_expires_by_itself)).await
    else {
        return;
    };
    let (form, submission) = intake(&c, "Intake").await;
    let (other_form, _) = intake(&c, "Other clinic form").await;
    let file = c.store.tenant(c.org_a).files_of(submission).await.unwrap().remove(0).file.id;
    let reviewer = c.member_session("rev@a.example", Role::Reviewer).await;
    let pages = [
        format!("/console/forms/{form}"),
        format!("/console/forms/{form}/submissions"),
        format!("/console/submissions/{submission}"),
        format!("/console/submissions/{submission}/print"),
        format!("/console/submissions/{submission}/revisions"),
        format!("/console/submissions/{submission}/edit"),
        format!("/console/files/{file}"),
        format!("/console/forms/{form}/export"),
    ];
    for page in &pages {
        assert_eq!(c.get(page, &reviewer).await.status, StatusCode::FORBIDDEN, "no grant: {page}");
    }
    let list = c.get("/console/forms", &reviewer).await;
    assert!(list.status == StatusCode::OK && !list.body.contains("Intake"), "no grant, not listed");

    c.grant("rev@a.example", form, &[Right::View, Right::Edit], false, Some(Duration::hours(1))).await;
    for page in &pages[..7] {
        assert_eq!(c.get(page, &reviewer).await.status, StatusCode::OK, "granted: {page}");
    }
    assert!(c.get(&pages[2], &reviewer).await.body.contains("Zebedee"), "PHI shown when the grant does not hide it");
    assert_eq!(c.get(&pages[7], &reviewer).await.status, StatusCode::FORBIDDEN, "reviewers never export");
    let list = c.get("/console/forms", &reviewer).await;
    assert!(list.body.contains("Intake") && !list.body.contains("Other clinic form"), "only granted forms listed");
    assert_eq!(c.get(&format!("/console/forms/{other_form}/submissions"), &reviewer).await.status, 403);
    let delete = format!("/console/submissions/{submission}/delete");
    assert_eq!(c.get(&delete, &reviewer).await.status, StatusCode::FORBIDDEN, "only owners and admins delete");

    // The grant expires by itself: the clock passes its end and every page is refused again.
    c.clock.advance(Duration::hours(1));
    let reviewer = format!("__Host-sealform={}", c.login("rev@a.example", PASSWORD).await.1.unwrap());
    for page in &pages {
        assert_eq!(c.get(page, &reviewer).await.status, StatusCode::FORBIDDEN, "expired: {page}");
    }

    // Auditors may see a granted form's questions, never its submissions.
    let auditor = c.member_session("aud@a.example", Role::Auditor).await;
    c.grant("aud@a.example", form, &[Right::View], false, None).await;
    assert_eq!(c.get(&pages[0], &auditor).await.status, StatusCode::OK);
    for page in &pages[1..] {
        assert_eq!(c.get(page, &auditor).await.status, StatusCode::FORBIDDEN, "auditor: {page}");
    }

    // Another organisation: 404 for every named resource.
    let other = format!("__Host-sealform={}", c.login("b@b.example", PASSWORD).await.1.unwrap());
    for page in &pages {
        assert_eq!(c.get(page, &other).await.status, StatusCode::NOT_FOUND, "other org: {page}");
    }
}

async fn form_managers_create_forms_and_manage_only_theirs<B: Backend>() {
    let Some(c) = console::<B>(stringify!(form_managers_create_forms_and_manage_only_theirs)).await else { return };
    let (existing, _) = intake(&c, "Existing").await;
    let manager = c.member_session("fm@a.example", Role::FormManager).await;
    let csrf = csrf_of(&c, &manager).await;
    let created = c.post("/console/forms", &manager, &format!("csrf={csrf}&title=Mine")).await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let location = created.headers["location"].to_str().unwrap();
    let mine: FormId = location.strip_prefix("/console/forms/").unwrap().split('?').next().unwrap().parse().unwrap();
    let grant = c.store.tenant(c.org_a).grant(mine, c.user_id("fm@a.example").await).await.unwrap().unwrap();
    assert_eq!(grant.rights, vec![Right::View, Right::Manage], "the creator's grant");
    let add = c
        .post(
            &format!("/console/forms/{mine}/questions"),
            &manager,
            &format!("csrf={csrf}&type=control_textbox&text=Name"),
        )
        .await;
    assert_eq!(add.status, StatusCode::SEE_OTHER, "manages the form it created");
    let theirs = c.post(&format!("/console/forms/{existing}/title"), &manager, &format!("csrf={csrf}&title=x")).await;
    assert_eq!(theirs.status, StatusCode::FORBIDDEN, "not a form without a grant");
    let list = c.get("/console/forms", &manager).await;
    assert!(list.body.contains("Mine") && !list.body.contains("Existing") && list.body.contains("Create form"));
    let reviewer = c.member_session("rev@a.example", Role::Reviewer).await;
    let csrf = csrf_of(&c, &reviewer).await;
    assert_eq!(c.post("/console/forms", &reviewer, &format!("csrf={csrf}&title=No")).await.status, 403);
}

async fn owners_give_and_revoke_grants_on_the_access_page_audited_with_before_and_after<B: Backend>() {
    let Some(c) =
        console::<B>(stringify!(owners_give_and_revoke_grants_on_the_access_page_audited_with_before_and_after)).await
    else {
        return;
    };
    let (form, submission) = intake(&c, "Intake").await;
    let owner = owner(&c).await;
    let reviewer = c.member_session("rev@a.example", Role::Reviewer).await;
    let access = format!("/console/forms/{form}/access");
    let page = c.get(&access, &owner).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("No grants"));
    let csrf = hidden_csrf(&page.body);
    assert_eq!(c.get(&access, &reviewer).await.status, StatusCode::FORBIDDEN, "owners and admins only");

    let beyond = c.post(&access, &owner, &format!("csrf={csrf}&email=rev%40a.example&right=export")).await;
    assert_eq!(beyond.status, StatusCode::UNPROCESSABLE_ENTITY, "a reviewer cannot hold export");
    let stranger = c.post(&access, &owner, &format!("csrf={csrf}&email=b%40b.example&right=view")).await;
    assert_eq!(stranger.status, StatusCode::UNPROCESSABLE_ENTITY, "only members of this organisation");
    let given = c.post(&access, &owner, &format!("csrf={csrf}&email=rev%40a.example&right=view&hide_phi=on")).await;
    assert_eq!(given.status, StatusCode::SEE_OTHER, "{}", given.body);
    let page = c.get(&access, &owner).await;
    assert!(page.body.contains("rev@a.example") && page.body.contains("hidden"), "{}", page.body);
    assert_eq!(c.get(&format!("/console/submissions/{submission}"), &reviewer).await.status, StatusCode::OK);
    let changed = c.post(&access, &owner, &format!("csrf={csrf}&email=rev%40a.example&right=view&right=edit")).await;
    assert_eq!(changed.status, StatusCode::SEE_OTHER);

    // Newest first.
    let created = audited(&c, Action::GrantCreate).await;
    let (second, first) = (&created[0], &created[1]);
    assert_eq!(first.0, vec!["before:none".to_owned(), "after:rights=view;hide_phi=true;expires=never".to_owned()]);
    assert_eq!(
        second.0,
        vec![
            "before:rights=view;hide_phi=true;expires=never".to_owned(),
            "after:rights=view,edit;hide_phi=false;expires=never".to_owned()
        ]
    );
    let user = c.user_id("rev@a.example").await;
    assert!(second.1.contains(&format!("form:{form}")) && second.1.contains(&format!("user:{user}")));

    let revoke = c.post(&format!("{access}/revoke"), &owner, &format!("csrf={csrf}&user={user}")).await;
    assert_eq!(revoke.status, StatusCode::SEE_OTHER);
    assert_eq!(c.get(&format!("/console/submissions/{submission}"), &reviewer).await.status, StatusCode::FORBIDDEN);
    let revoked = audited(&c, Action::GrantRevoke).await;
    assert_eq!(
        revoked[0].0,
        vec!["before:rights=view,edit;hide_phi=false;expires=never".to_owned(), "after:none".to_owned()]
    );
    let again = c.post(&format!("{access}/revoke"), &owner, &format!("csrf={csrf}&user={user}")).await;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY, "nothing left to revoke");
    assert_eq!(c.post(&access, &owner, "email=rev%40a.example&right=view").await.status, 403, "CSRF checked");

    let other = format!("__Host-sealform={}", c.login("b@b.example", PASSWORD).await.1.unwrap());
    let other_csrf = csrf_of(&c, &other).await;
    assert_eq!(c.get(&access, &other).await.status, StatusCode::NOT_FOUND);
    let cross = c.post(&access, &other, &format!("csrf={other_csrf}&email=b%40b.example&right=view")).await;
    assert_eq!(cross.status, StatusCode::NOT_FOUND);
}

async fn grants_that_hide_phi_mask_it_everywhere_and_never_open_it<B: Backend>() {
    let Some(c) = console::<B>(stringify!(grants_that_hide_phi_mask_it_everywhere_and_never_open_it)).await else {
        return;
    };
    let (form, submission) = intake(&c, "Intake").await;
    let file = c.store.tenant(c.org_a).files_of(submission).await.unwrap().remove(0).file.id;
    let reviewer = c.member_session("rev@a.example", Role::Reviewer).await;
    c.grant("rev@a.example", form, &[Right::View, Right::Edit], true, None).await;
    let view = format!("/console/submissions/{submission}");
    for page in
        [view.clone(), format!("{view}/print"), format!("{view}?unmask=1&hide_phi=0"), format!("{view}/revisions")]
    {
        let reply = c.get(&page, &reviewer).await;
        assert_eq!(reply.status, StatusCode::OK, "{page}");
        for secret in ["Zebedee", "Quarrington", "1980-01-02", "zq@example.org", "Knee pain", "card.pdf"] {
            assert!(!reply.body.contains(secret), "{page} reveals {secret}");
        }
        if !page.ends_with("revisions") {
            assert!(reply.body.contains("•••") && reply.body.contains("No"), "{page}: masked, non-PHI shown");
        }
    }
    let reads = audited(&c, Action::SubmissionRead).await;
    assert!(reads.iter().all(|(fields, _)| fields == &vec!["7".to_owned()]), "only the revealed field: {reads:?}");
    assert_eq!(c.get(&format!("{view}/edit"), &reviewer).await.status, StatusCode::FORBIDDEN, "no edits over PHI");
    let csrf = csrf_of(&c, &reviewer).await;
    let edit = c.post(&format!("{view}/edit"), &reviewer, &format!("csrf={csrf}&revision=1&a:7=Yes")).await;
    assert_eq!(edit.status, StatusCode::FORBIDDEN);
    assert_eq!(c.get(&format!("/console/files/{file}"), &reviewer).await.status, StatusCode::FORBIDDEN, "PHI file");
    // The owner still sees everything.
    let owner = owner(&c).await;
    assert!(c.get(&view, &owner).await.body.contains("Zebedee"));

    // Exports: masked values, and the audit entry names only what left.
    let manager = c.member_session("fm@a.example", Role::FormManager).await;
    c.grant("fm@a.example", form, &[Right::View, Right::Export], true, None).await;
    step_up(&c, &manager).await;
    let csv = c.get(&format!("/console/forms/{form}/export/download?format=csv"), &manager).await;
    assert_eq!(csv.status, StatusCode::OK, "{}", csv.body);
    assert!(!csv.body.contains("Zebedee") && !csv.body.contains("Knee pain") && csv.body.contains("\"•••\""));
    assert!(csv.body.contains("\"No\""), "{}", csv.body);
    let jsonl = c.get(&format!("/console/forms/{form}/export/download?format=jsonl&unmask=1"), &manager).await;
    let record: serde_json::Value = serde_json::from_str(jsonl.body.lines().next().unwrap()).unwrap();
    assert_eq!(record["answers"]["2_first"], "•••");
    assert_eq!(record["answers"]["7"], "No");
    let exports = audited(&c, Action::SubmissionExport).await;
    let phi = sealform_core::policy::phi_paths(&examples::patient_intake());
    assert!(exports.len() == 2 && exports.iter().all(|(fields, _)| fields.contains(&"7".to_owned())));
    assert!(exports.iter().all(|(fields, _)| !fields.iter().any(|f| phi.contains(f))), "no PHI named: {exports:?}");

    // An API key of a member whose grant hides PHI cannot fetch a PHI file either.
    let key = api_key(&c, "rev@a.example", &[Scope::Read]).await;
    let request =
        Request::get(format!("/api/v1/files/{file}")).header("authorization", format!("Bearer {}", key.as_str()));
    assert_eq!(c.send(request.body(Body::empty()).unwrap()).await.status, StatusCode::FORBIDDEN);
}

async fn access_requests_notify_admins_and_approval_grants_until_the_expiry<B: Backend>() {
    let Some(c) = console::<B>(stringify!(access_requests_notify_admins_and_approval_grants_until_the_expiry)).await
    else {
        return;
    };
    let (form, submission) = intake(&c, "Intake").await;
    let reviewer = c.member_session("rev@a.example", Role::Reviewer).await;
    let ask = format!("/console/forms/{form}/request-access");
    let page = c.get(&ask, &reviewer).await;
    assert_eq!(page.status, StatusCode::OK);
    let csrf = hidden_csrf(&page.body);
    assert_eq!(c.post(&ask, &reviewer, &format!("csrf={csrf}&reason=")).await.status, 422, "a reason is needed");
    let sent = c.post(&ask, &reviewer, &format!("csrf={csrf}&reason=Covering+for+Dr+Who+this+week")).await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.body);
    assert_eq!(c.post(&ask, &reviewer, &format!("csrf={csrf}&reason=again")).await.status, 422, "one pending");
    {
        let mail = c.mailbox.0.lock().unwrap();
        let notice = mail.iter().find(|m| m.subject.contains("Access request")).expect("owners are told");
        assert_eq!(notice.to.as_str(), "a@a.example");
        assert!(
            notice.body.contains("rev@a.example") && notice.body.contains(&format!("/console/forms/{form}/access"))
        );
        assert!(!notice.body.contains("Dr Who"), "the reason stays in the console");
    }
    assert_eq!(audited(&c, Action::AccessRequestCreate).await.len(), 1);

    let owner = owner(&c).await;
    let access = c.get(&format!("/console/forms/{form}/access"), &owner).await;
    assert!(access.body.contains("Covering for Dr Who this week"));
    let pending = c.store.tenant(c.org_a).access_requests_of_form(form).await.unwrap();
    let request = pending[0].request.id;
    let csrf = hidden_csrf(&access.body);
    let decide = format!("/console/forms/{form}/access/requests/{request}");
    let expires = (c.clock.now() + Duration::days(2)).date().to_string();
    // A year before 1 (which `time` reads) is no date: refused, where PostgreSQL answered it with an error.
    let long_ago = format!("csrf={csrf}&decision=approve&right=view&expires=-5000-01-01");
    assert_eq!(c.post(&decide, &owner, &long_ago).await.status, StatusCode::UNPROCESSABLE_ENTITY);
    let approve = format!("csrf={csrf}&decision=approve&right=view&expires={expires}");
    assert_eq!(c.post(&decide, &owner, &approve).await.status, StatusCode::SEE_OTHER);
    assert_eq!(c.post(&decide, &owner, &approve).await.status, 422, "decided once");
    let view = format!("/console/submissions/{submission}");
    assert_eq!(c.get(&view, &reviewer).await.status, StatusCode::OK, "approved");
    let decided = audited(&c, Action::AccessRequestDecide).await;
    assert_eq!(decided[0].0, vec!["before:pending".to_owned(), "after:approved".to_owned()]);
    assert_eq!(audited(&c, Action::GrantCreate).await.len(), 1, "the resulting grant is audited too");

    c.clock.advance(Duration::days(2));
    let reviewer = format!("__Host-sealform={}", c.login("rev@a.example", PASSWORD).await.1.unwrap());
    assert_eq!(c.get(&view, &reviewer).await.status, StatusCode::FORBIDDEN, "expired by itself");

    // A denied request grants nothing.
    let approver = c.member_session("app@a.example", Role::Approver).await;
    let approver_csrf = csrf_of(&c, &approver).await;
    assert_eq!(c.post(&ask, &approver, &format!("csrf={approver_csrf}&reason=please")).await.status, StatusCode::OK);
    let pending = c.store.tenant(c.org_a).access_requests_of_form(form).await.unwrap();
    let owner = format!("__Host-sealform={}", c.login("a@a.example", PASSWORD).await.1.unwrap());
    let csrf = csrf_of(&c, &owner).await;
    let deny = format!("/console/forms/{form}/access/requests/{}", pending[0].request.id);
    let own = format!("csrf={approver_csrf}&decision=approve&right=view");
    assert_eq!(c.post(&deny, &approver, &own).await.status, 403, "only owners and admins decide");
    assert_eq!(c.post(&deny, &owner, &format!("csrf={csrf}&decision=deny")).await.status, StatusCode::SEE_OTHER);
    assert_eq!(c.get(&view, &approver).await.status, StatusCode::FORBIDDEN);
    assert!(c.store.tenant(c.org_a).access_requests_of_form(form).await.unwrap().is_empty());
    let decided = audited(&c, Action::AccessRequestDecide).await;
    assert!(decided.iter().any(|(fields, _)| fields.last().is_some_and(|f| f == "after:denied")));
}

async fn the_access_review_lists_who_may_see_what_and_flags_stale_grants<B: Backend>() {
    let Some(c) = console::<B>(stringify!(the_access_review_lists_who_may_see_what_and_flags_stale_grants)).await
    else {
        return;
    };
    let (form, submission) = intake(&c, "Intake").await;
    c.member_session("rev@a.example", Role::Reviewer).await;
    c.member_session("aud@a.example", Role::Auditor).await;
    c.member_session("script@a.example", Role::Reviewer).await;
    c.grant("rev@a.example", form, &[Right::View, Right::Edit], true, Some(Duration::hours(1))).await;
    c.grant("aud@a.example", form, &[Right::View], false, None).await;
    c.grant("script@a.example", form, &[Right::View], false, None).await;
    c.clock.advance(Duration::hours(2));
    // A member who only ever reads through an API key: the review's "last access" counts their keys too.
    let key = api_key(&c, "script@a.example", &[Scope::Read]).await;
    let read = Request::get(format!("/api/v1/submissions/{submission}"))
        .header("authorization", format!("Bearer {}", key.as_str()))
        .body(Body::empty())
        .unwrap();
    assert_eq!(c.send(read).await.status, StatusCode::OK);
    let owner = owner(&c).await;
    let review = c.get("/console/access-review.csv", &owner).await;
    assert_eq!(review.status, StatusCode::OK, "{}", review.body);
    assert_eq!(review.headers["content-type"], "text/csv; charset=utf-8");
    let lines: Vec<&str> = review.body.lines().collect();
    assert_eq!(lines.len(), 5, "header, the owner, three grants: {}", review.body);
    assert!(lines[1].contains("\"a@a.example\",\"owner\",\"all (role)\""), "{}", lines[1]);
    let rev = lines.iter().find(|l| l.contains("rev@a.example")).unwrap();
    assert!(rev.contains("\"view edit\",\"hidden\"") && rev.contains("\"expired\""), "stale grants stand out: {rev}");
    let aud = lines.iter().find(|l| l.contains("aud@a.example")).unwrap();
    assert!(aud.contains("\"active\"") && aud.ends_with("\"never\""), "{aud}");
    let script = lines.iter().find(|l| l.contains("script@a.example")).unwrap();
    assert!(!script.ends_with("\"never\""), "read through a key is an access: {script}");
    // Signed in again: two hours passed.
    let auditor = format!("__Host-sealform={}", c.login("aud@a.example", PASSWORD).await.1.unwrap());
    assert_eq!(c.get("/console/access-review.csv", &auditor).await.status, StatusCode::OK, "auditors review access");
    let reviewer = format!("__Host-sealform={}", c.login("rev@a.example", PASSWORD).await.1.unwrap());
    assert_eq!(c.get("/console/access-review.csv", &reviewer).await.status, StatusCode::FORBIDDEN);
    let other = format!("__Host-sealform={}", c.login("b@b.example", PASSWORD).await.1.unwrap());
    let theirs = c.get("/console/access-review.csv", &other).await;
    assert!(theirs.status == StatusCode::OK && !theirs.body.contains("Intake"), "only one's own organisation");
}

async fn break_glass_opens_time_boxed_access_with_a_reason_alerts_admins_and_ends_by_itself<B: Backend>() {
    let Some(c) = console::<B>("break_glass_opens_time_boxed_access").await else { return };
    let (form, submission) = intake(&c, "Intake").await;
    let nurse = c.member_session("er@a.example", Role::Reviewer).await;
    let record = format!("/console/submissions/{submission}");
    let glass = format!("/console/forms/{form}/break-glass");
    assert_eq!(c.get(&record, &nurse).await.status, StatusCode::FORBIDDEN, "no grant, no access");
    let refused = c.get(&glass, &nurse).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "the emergency right is needed first");
    assert!(!c.get(&format!("/console/forms/{form}/request-access"), &nurse).await.body.contains("break-glass"));

    // An owner gives the right (after a step-up); it takes effect on the nurse's next request.
    let owner = owner(&c).await;
    step_up(&c, &owner).await;
    let csrf = csrf_of(&c, &owner).await;
    let give = format!("csrf={csrf}&email=er%40a.example&emergency=on");
    assert_eq!(c.post("/console/users/emergency", &owner, &give).await.status, StatusCode::SEE_OTHER);
    let owner_gets = format!("csrf={csrf}&email=a%40a.example&emergency=on");
    assert_eq!(c.post("/console/users/emergency", &owner, &owner_gets).await.status, 422, "owners need none");
    c.member_session("trail@a.example", Role::Auditor).await;
    let auditor_gets = format!("csrf={csrf}&email=trail%40a.example&emergency=on");
    assert_eq!(
        c.post("/console/users/emergency", &owner, &auditor_gets).await.status,
        422,
        "auditors never open records"
    );
    assert!(c.get(&format!("/console/forms/{form}/request-access"), &nurse).await.body.contains(&glass));
    assert_eq!(c.get(&glass, &nurse).await.status, StatusCode::OK);

    // The reason is mandatory and the duration one of those offered.
    let nurse_csrf = csrf_of(&c, &nurse).await;
    let short = c.post(&glass, &nurse, &format!("csrf={nurse_csrf}&reason=urgent&minutes=30")).await;
    assert_eq!(short.status, 422);
    assert!(short.body.contains("10 to 1000 characters"), "{}", short.body);
    let reason = "Patient collapsed in the waiting room; need allergies";
    let long = c.post(&glass, &nurse, &format!("csrf={nurse_csrf}&reason={}&minutes=1440", urlencode(reason))).await;
    assert_eq!(long.status, 422, "a day is not offered");
    let opened = c.post(&glass, &nurse, &format!("csrf={nurse_csrf}&reason={}&minutes=30", urlencode(reason))).await;
    assert_eq!(opened.status, StatusCode::SEE_OTHER, "{}", opened.body);
    assert_eq!(opened.headers["location"], format!("/console/forms/{form}/submissions"));
    let again = c.post(&glass, &nurse, &format!("csrf={nurse_csrf}&reason={}&minutes=30", urlencode(reason))).await;
    assert_eq!(again.status, 422, "one emergency access at a time");

    // The record opens, PHI included.
    let read = c.get(&record, &nurse).await;
    assert!(read.status == StatusCode::OK && read.body.contains("Zebedee"), "{}", read.status);
    // The person, not their scripts: a key of the nurse cannot use the emergency access.
    let key = api_key(&c, "er@a.example", &[Scope::Read]).await;
    let by_key = Request::get(format!("/api/v1/submissions/{submission}"))
        .header("authorization", format!("Bearer {}", key.as_str()))
        .body(Body::empty())
        .unwrap();
    let by_key = c.send(by_key).await;
    assert_eq!(by_key.status, StatusCode::FORBIDDEN, "{}", by_key.body);
    assert!(!by_key.body.contains("Zebedee"));

    // Owners are alerted by e-mail at once, without the reason; the console and the log show it.
    let mails = c.mailbox.0.lock().unwrap().clone();
    let alert = mails.iter().find(|m| m.subject.contains("Emergency access")).expect("an alert");
    assert_eq!(alert.to.as_str(), "a@a.example");
    assert!(alert.body.contains("er@a.example") && alert.body.contains("\"Intake\""), "{}", alert.body);
    assert!(!alert.body.contains("collapsed"), "the reason may describe a patient: not in e-mail");
    assert!(c.get("/console", &owner).await.body.contains("Emergency access is open"));
    let log = c.get("/console/break-glass", &owner).await;
    assert!(log.body.contains("collapsed in the waiting room") && log.body.contains("open until"), "{}", log.body);
    assert_eq!(c.get("/console/break-glass", &nurse).await.status, StatusCode::FORBIDDEN, "not for reviewers");

    // Audited: the break-glass entry with its reason and duration, and the grant change flagged.
    let entries = audited(&c, Action::GrantBreakGlass).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].0, vec!["minutes:30".to_owned(), format!("reason:{reason}")]);
    let grants = audited(&c, Action::GrantCreate).await;
    assert!(grants[0].0.last().unwrap().ends_with(";break_glass=true"), "{:?}", grants[0]);

    // The review flags it and shows the nurse's last access to the form.
    let review = c.get("/console/access-review.csv", &owner).await.body;
    let row = review.lines().find(|l| l.contains("er@a.example")).unwrap();
    assert!(row.contains("\"yes\"") && !row.ends_with("\"never\""), "{row}");
    let owner_row = review.lines().find(|l| l.contains("a@a.example\",\"owner")).unwrap();
    assert!(owner_row.ends_with("\"never\""), "the owner never opened it: {owner_row}");

    // Thirty minutes later it has ended by itself.
    c.clock.advance(Duration::minutes(30));
    let owner = format!("__Host-sealform={}", c.login("a@a.example", PASSWORD).await.1.unwrap());
    let nurse = format!("__Host-sealform={}", c.login("er@a.example", PASSWORD).await.1.unwrap());
    assert_eq!(c.get(&record, &nurse).await.status, StatusCode::FORBIDDEN);
    assert!(!c.get("/console", &owner).await.body.contains("Emergency access is open"));
    assert!(c.get("/console/break-glass", &owner).await.body.contains("ended (expired)"));

    // Without the right, no more emergencies.
    step_up(&c, &owner).await;
    let csrf = csrf_of(&c, &owner).await;
    let take = format!("csrf={csrf}&email=er%40a.example&emergency=off");
    assert_eq!(c.post("/console/users/emergency", &owner, &take).await.status, StatusCode::SEE_OTHER);
    assert_eq!(c.get(&glass, &nurse).await.status, StatusCode::FORBIDDEN);
    let rights = audited(&c, Action::UserUpdate).await;
    let changes: Vec<_> = rights.iter().flat_map(|(fields, _)| fields.clone()).collect();
    assert_eq!(changes, ["emergency_access:false", "emergency_access:true"], "newest first");
}

async fn folder_grants_reach_every_form_below_the_folder_add_up_with_form_grants_and_end_by_themselves<B: Backend>() {
    let Some(c) = console::<B>("folder_grants_reach_every_form").await else { return };
    let (form, submission) = intake(&c, "Intake").await;
    let record = format!("/console/submissions/{submission}");
    let nurse = c.member_session("card@a.example", Role::Reviewer).await;
    let owner = owner(&c).await;
    let csrf = csrf_of(&c, &owner).await;
    assert_eq!(c.get("/console/folders", &nurse).await.status, StatusCode::FORBIDDEN, "owners and admins only");

    // Cardiology, with Echo inside it; the intake goes into Echo.
    assert_eq!(c.post("/console/folders", &owner, &format!("csrf={csrf}&name=Cardiology")).await.status, 303);
    let folders = c.store.tenant(c.org_a).folders_of().await.unwrap();
    let cardiology = folders[0].id;
    let echo = c.post("/console/folders", &owner, &format!("csrf={csrf}&name=Echo&parent={cardiology}")).await;
    assert_eq!(echo.status, 303);
    let echo = c.store.tenant(c.org_a).folders_of().await.unwrap().into_iter().find(|f| f.name == "Echo").unwrap().id;
    assert_eq!(
        c.post(&format!("/console/folders/{echo}/forms"), &owner, &format!("csrf={csrf}&form={form}")).await.status,
        303
    );
    let tree = c.get("/console/folders", &owner).await.body;
    assert!(tree.contains("Cardiology") && tree.contains("Echo") && tree.contains("Intake"), "{tree}");
    assert_eq!(c.get(&record, &nurse).await.status, StatusCode::FORBIDDEN, "no grant yet");

    // A grant on the parent folder reaches the form two levels down; it hides PHI.
    let access = format!("/console/folders/{cardiology}/access");
    let give = format!("csrf={csrf}&email=card%40a.example&right=view&hide_phi=on");
    assert_eq!(c.post(&access, &owner, &give).await.status, StatusCode::SEE_OTHER);
    let owner_too = c.post(&access, &owner, &format!("csrf={csrf}&email=a%40a.example&right=view")).await;
    assert_eq!(owner_too.status, 422, "owners need no grant");
    let masked = c.get(&record, &nurse).await;
    assert_eq!(masked.status, StatusCode::OK);
    assert!(!masked.body.contains("Zebedee") && masked.body.contains("•••"), "PHI masked by the folder grant");
    let created = audited(&c, Action::GrantCreate).await;
    assert!(created[0].1.contains(&format!("folder:{cardiology}")), "{:?}", created[0]);
    assert!(created[0].0[1].starts_with("after:rights=view;hide_phi=true"), "{:?}", created[0]);

    // A folder that carries grants is not deleted (that would drop them unaudited); a form manager's key may not
    // move forms between folders (that changes who may open them).
    let owner_key = api_key(&c, "a@a.example", &Scope::ALL).await;
    let delete = Request::delete(format!("/jotform/folder/{cardiology}")).header("apikey", owner_key.as_str());
    let refused = c.send(delete.body(Body::empty()).unwrap()).await;
    assert!(refused.status.is_client_error() && refused.body.contains("revoke them"), "{}", refused.body);
    assert_eq!(c.store.tenant(c.org_a).folders_of().await.unwrap().len(), 2);
    c.member_session("fm@a.example", Role::FormManager).await;
    c.grant("fm@a.example", form, &Right::ALL, false, None).await;
    let fm_key = api_key(&c, "fm@a.example", &[Scope::Read, Scope::Write]).await;
    let body = serde_json::json!({ "forms": [form.to_string()] }).to_string();
    let move_in = Request::put(format!("/jotform/folder/{cardiology}")).header("apikey", fm_key.as_str());
    let refused = c.send(move_in.body(Body::from(body)).unwrap()).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);

    // Break-glass cannot widen what a folder grant gives.
    step_up(&c, &owner).await;
    let emergency = format!("csrf={csrf}&email=card%40a.example&emergency=on");
    assert_eq!(c.post("/console/users/emergency", &owner, &emergency).await.status, StatusCode::SEE_OTHER);
    let nurse_csrf = csrf_of(&c, &nurse).await;
    let reason = "csrf={nurse_csrf}&reason=Patient+collapsed+in+clinic&minutes=15".replace("{nurse_csrf}", &nurse_csrf);
    let glass = c.post(&format!("/console/forms/{form}/break-glass"), &nurse, &reason).await;
    assert_eq!(glass.status, 422, "the folder grant already reaches the form");
    assert!(c.get(&record, &nurse).await.body.contains("•••"), "still masked");

    // A grant on the form itself that shows PHI adds to it.
    c.grant("card@a.example", form, &[Right::View], false, Some(Duration::hours(1))).await;
    assert!(c.get(&record, &nurse).await.body.contains("Zebedee"), "either grant showing PHI shows it");
    let review = c.get("/console/access-review.csv", &owner).await.body;
    let via: Vec<&str> = review.lines().filter(|l| l.contains("card@a.example")).collect();
    assert_eq!(via.len(), 2, "{review}");
    assert!(via.iter().any(|l| l.contains("\"Cardiology\"")), "the folder grant is named: {via:?}");

    // The form grant expires; the folder grant stays. Moving the form out of the folder ends it.
    c.clock.advance(Duration::hours(2));
    let nurse = format!("__Host-sealform={}", c.login("card@a.example", PASSWORD).await.1.unwrap());
    let owner = format!("__Host-sealform={}", c.login("a@a.example", PASSWORD).await.1.unwrap());
    let csrf = csrf_of(&c, &owner).await;
    assert!(c.get(&record, &nurse).await.body.contains("•••"), "masked again: only the folder grant is left");
    assert_eq!(c.post("/console/folders", &owner, &format!("csrf={csrf}&name=Elsewhere")).await.status, 303);
    let elsewhere =
        c.store.tenant(c.org_a).folders_of().await.unwrap().into_iter().find(|f| f.name == "Elsewhere").unwrap();
    let move_to = format!("/console/folders/{}/forms", elsewhere.id);
    assert_eq!(c.post(&move_to, &owner, &format!("csrf={csrf}&form={form}")).await.status, 303);
    assert_eq!(c.get(&record, &nurse).await.status, StatusCode::FORBIDDEN, "out of the folder, out of reach");
    // The move is audited with the access it took away: the folder grant before, none after.
    let nurse_id = c.user_id("card@a.example").await;
    let moved = &audited(&c, Action::FolderUpdate).await[0].0;
    let before = moved.iter().find(|f| f.starts_with(&format!("access:{form}:before:"))).expect("access before");
    assert!(before.contains(&format!("user {nurse_id} rights=view;hide_phi=true")), "{before}");
    assert!(before.contains(&format!("via folder {cardiology}")), "{before}");
    assert!(moved.contains(&format!("access:{form}:after:none")), "{moved:?}");
    // Back into Echo, then Echo deleted: the form returns to the top level, out of Cardiology's reach, and the
    // deletion is audited with that access before and after.
    let back = format!("/console/folders/{echo}/forms");
    assert_eq!(c.post(&back, &owner, &format!("csrf={csrf}&form={form}")).await.status, 303);
    assert!(c.get(&record, &nurse).await.body.contains("•••"), "in reach again");
    let delete = Request::delete(format!("/jotform/folder/{echo}")).header("apikey", owner_key.as_str());
    assert_eq!(c.send(delete.body(Body::empty()).unwrap()).await.status, StatusCode::OK);
    assert_eq!(c.get(&record, &nurse).await.status, StatusCode::FORBIDDEN, "out of reach with its folder gone");
    let deleted = &audited(&c, Action::FolderDelete).await[0].0;
    let before = format!("access:{form}:before:user {nurse_id}");
    assert!(deleted.iter().any(|f| f.starts_with(&before)), "{deleted:?}");
    assert!(deleted.contains(&format!("access:{form}:after:none")), "{deleted:?}");

    // Revoked, audited with the grant before.
    let revoke = format!("csrf={csrf}&user={nurse_id}");
    assert_eq!(c.post(&format!("{access}/revoke"), &owner, &revoke).await.status, StatusCode::SEE_OTHER);
    assert!(c.store.tenant(c.org_a).folder_grants_of(cardiology).await.unwrap().is_empty());
    let revoked = audited(&c, Action::GrantRevoke).await;
    assert!(revoked[0].0[0].starts_with("before:rights=view;hide_phi=true"), "{:?}", revoked[0]);
    assert_eq!(c.post(&format!("{access}/revoke"), &owner, &revoke).await.status, 422, "nothing left to revoke");
}

both!(
    folder_grants_reach_every_form_below_the_folder_add_up_with_form_grants_and_end_by_themselves,
    break_glass_opens_time_boxed_access_with_a_reason_alerts_admins_and_ends_by_itself,
    the_access_review_lists_who_may_see_what_and_flags_stale_grants,
    roles_act_on_a_form_only_through_a_grant_that_expires_by_itself,
    form_managers_create_forms_and_manage_only_theirs,
    owners_give_and_revoke_grants_on_the_access_page_audited_with_before_and_after,
    grants_that_hide_phi_mask_it_everywhere_and_never_open_it,
    access_requests_notify_admins_and_approval_grants_until_the_expiry,
);
