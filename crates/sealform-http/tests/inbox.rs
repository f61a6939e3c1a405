//! The inbox in process on both backends: list and filters, the audited submission view, status, staff edits as
//! revisions with their history, file downloads, export behind a step-up, deletion by crypto-shredding, roles and
//! other organisations.

#[macro_use]
mod harness;

use harness::*;
use sealform_core::api_keys::Scope;
use sealform_core::audit::{AuditQuery, AuditScope};
use sealform_core::examples;
use sealform_core::files::{FileRef, FileSealer, ObjectStore};
use sealform_core::forms::{change_form, create_form};
use sealform_core::ids::{FileId, FormId, SubmissionId};
use sealform_core::keys::Keyring;
use sealform_core::org::OrgName;
use sealform_core::sealing::{Answers, NewAnswers, store_submission};
use sealform_core::store::OrganisationStore as _;
use sealform_core::submission::{FormChange, FormStatus};
use zeroize::Zeroizing;

/// A published patient intake in organisation A with `n` submissions; the first carries an uploaded file.
async fn intake_with_submissions<S: Store>(c: &Console<S>, n: usize) -> (FormId, Vec<SubmissionId>) {
    let scope = AuditScope::operator();
    let audit = AuditCtx { auditor: &c.auditor, scope: &scope };
    let master = c.masters.current().as_ref();
    let now = c.clock.now();
    let definition = examples::patient_intake();
    let form =
        create_form(&c.store, master, audit, c.org_a, "Intake <b>clinic</b>", definition.to_json(), now).await.unwrap();
    let publish = FormChange { status: Some(FormStatus::Published), ..FormChange::default() };
    let version = change_form(&c.store, audit, c.org_a, form, publish, now).await.unwrap().version;
    let keyring = Keyring::new(c.store.clone(), c.masters.clone());
    let objects = ObjectStore::new(c.objects.path());
    let mut ids = Vec::new();
    for i in 0..n {
        let id = SubmissionId::new();
        let mut answers: Answers = [
            ("2_first", format!("Patient{i}")),
            ("2_last", "<script>alert(1)</script>".to_owned()),
            ("3", "1980-01-02".to_owned()),
            ("4", format!("p{i}@example.org")),
            ("6", format!("=cmd|reason {i}")),
            ("7", "No".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), Zeroizing::new(v.into_bytes())))
        .collect();
        let mut files = Vec::new();
        if i == 0 {
            let target = FileRef { org: c.org_a, form, submission: id, file: FileId::new() };
            let mut sealer = FileSealer::start(&objects, target, "12", "card.pdf", 1 << 20).await.unwrap();
            sealer.push(b"%PDF insurance card bytes").await.unwrap();
            let (file, _) = sealer.finish(&objects, &keyring).await.unwrap();
            answers.insert("12".into(), Zeroizing::new(b"card.pdf".to_vec()));
            files.push(file);
        }
        let indexed = definition.indexed_paths();
        let new = NewAnswers { org: c.org_a, form, form_version: version, answers: &answers, indexed: &indexed };
        store_submission(&c.store, &keyring, audit, id, new, files, now).await.unwrap();
        ids.push(id);
    }
    (form, ids)
}

async fn owner<S: Store>(c: &Console<S>) -> String {
    format!("__Host-sealform={}", c.login("a@a.example", PASSWORD).await.1.unwrap())
}

async fn member<S: Store>(c: &Console<S>, email: &str, role: sealform_core::user::Role) -> String {
    let scope = AuditScope::operator();
    let audit = AuditCtx { auditor: &c.auditor, scope: &scope };
    let password = SecretString::from(PASSWORD.to_owned());
    sealform_core::admin::add_user(&c.store, &c.clock, audit, c.org_a, email, role, password).await.unwrap();
    format!("__Host-sealform={}", c.login(email, PASSWORD).await.1.unwrap())
}

async fn actions<S: Store>(c: &Console<S>, action: sealform_core::audit::Action) -> usize {
    let query = AuditQuery {
        org: c.org_a,
        action: Some(action),
        actor: None,
        target_hash: None,
        from: None,
        to: None,
        limit: 1000,
    };
    c.store.tenant(query.org).audit_search(query).await.unwrap().len()
}

async fn the_inbox_lists_filters_and_opens_submissions_with_an_audited_read<B: Backend>() {
    let Some(c) = console::<B>(stringify!(the_inbox_lists_filters_and_opens_submissions_with_an_audited_read)).await
    else {
        return;
    };
    let (form, ids) = intake_with_submissions(&c, 3).await;
    let cookie = owner(&c).await;
    let inbox = c.get(&format!("/console/forms/{form}/submissions"), &cookie).await;
    assert_eq!(inbox.status, StatusCode::OK, "{}", inbox.body);
    for id in &ids {
        assert!(inbox.body.contains(&id.to_string()));
    }
    assert!(inbox.body.contains("Intake &lt;b&gt;clinic") && !inbox.body.contains("<b>clinic"), "titles are escaped");
    assert!(!inbox.body.contains("Patient0"), "the list shows no answers");

    let csrf = hidden_csrf(&inbox.body);
    let inbox_path = format!("/console/forms/{form}/submissions");
    let in_url = c.get(&format!("/console/forms/{form}/submissions?field=4&value=P1%40Example.org"), &cookie).await;
    assert_eq!(in_url.status, StatusCode::UNPROCESSABLE_ENTITY, "search values never travel in a URL");
    let found = c.post(&inbox_path, &cookie, &format!("csrf={csrf}&field=4&value=P1%40Example.org")).await;
    assert!(found.body.contains(&ids[1].to_string()), "blind-index match, case-insensitive");
    assert!(!found.body.contains(&ids[0].to_string()) && !found.body.contains(&ids[2].to_string()));
    let unindexed = c.post(&inbox_path, &cookie, &format!("csrf={csrf}&field=6&value=x")).await;
    assert_eq!(unindexed.status, StatusCode::UNPROCESSABLE_ENTITY, "only indexed fields are searchable");
    let oldest = c.get(&format!("/console/forms/{form}/submissions?order=oldest"), &cookie).await;
    let position = |body: &str, id: &SubmissionId| body.find(&id.to_string()).unwrap();
    assert!(position(&oldest.body, &ids[0]) < position(&oldest.body, &ids[2]));
    assert!(position(&inbox.body, &ids[2]) < position(&inbox.body, &ids[0]), "newest first by default");
    assert_eq!(c.get(&format!("/console/forms/{form}/submissions?status=bogus"), &cookie).await.status, 422);
    assert_eq!(c.get(&format!("/console/forms/{form}/submissions?from=yesterday"), &cookie).await.status, 422);
    let to_the_end = c.get(&format!("/console/forms/{form}/submissions?to=9999-12-31"), &cookie).await;
    assert_eq!(to_the_end.status, StatusCode::OK, "the last day there is, with no overflow");
    assert!(ids.iter().all(|id| to_the_end.body.contains(&id.to_string())));
    // A year before 1 (which `time` reads) is no date here: refused, where PostgreSQL answered it with an error.
    let long_ago = c.get(&format!("/console/forms/{form}/submissions?from=-5000-01-01"), &cookie).await;
    assert_eq!(long_ago.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", long_ago.body);

    let reads_before = actions(&c, sealform_core::audit::Action::SubmissionRead).await;
    let view = c.get(&format!("/console/submissions/{}", ids[0]), &cookie).await;
    assert_eq!(view.status, StatusCode::OK);
    assert!(view.body.contains("Patient0") && view.body.contains("card.pdf"));
    assert!(view.body.contains("&lt;script&gt;alert(1)") && !view.body.contains("<script>alert"));
    assert_eq!(actions(&c, sealform_core::audit::Action::SubmissionRead).await, reads_before + 1);
    let summary = c.store.tenant(c.org_a).submission(ids[0]).await.unwrap().unwrap();
    assert_eq!(summary.status.as_str(), "read", "opening marks it read");
    let print = c.get(&format!("/console/submissions/{}/print", ids[0]), &cookie).await;
    assert!(print.status == StatusCode::OK && print.body.contains("Patient0"));
}

async fn staff_edits_become_revisions_with_a_diff_and_status_changes_are_audited<B: Backend>() {
    let Some(c) =
        console::<B>(stringify!(staff_edits_become_revisions_with_a_diff_and_status_changes_are_audited)).await
    else {
        return;
    };
    let (_, ids) = intake_with_submissions(&c, 1).await;
    let cookie = owner(&c).await;
    let id = ids[0];
    let edit = c.get(&format!("/console/submissions/{id}/edit"), &cookie).await;
    assert_eq!(edit.status, StatusCode::OK);
    let csrf = hidden_csrf(&edit.body);
    let base = format!(
        "csrf={csrf}&revision=1&a%3A2_first=Patricia&a%3A2_last=Example&a%3A3=1980-01-02&a%3A4=p0%40example.org\
         &a%3A6=Better+now&a%3A7=Yes&a%3A8=Latex"
    );
    let bad = c
        .post(&format!("/console/submissions/{id}/edit"), &cookie, &base.replace("a%3A3=1980-01-02", "a%3A3=soon"))
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains("YYYY-MM-DD"), "field-level message");
    let saved = c.post(&format!("/console/submissions/{id}/edit"), &cookie, &base).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let stale = c.post(&format!("/console/submissions/{id}/edit"), &cookie, &base).await;
    assert_eq!(stale.status, StatusCode::CONFLICT, "an edit of an older revision is refused");
    let revisions = c.store.tenant(c.org_a).revisions(id).await.unwrap();
    assert_eq!(revisions.len(), 2, "the original is kept");
    let history = c.get(&format!("/console/submissions/{id}/revisions"), &cookie).await;
    assert!(history.body.contains("Patient0") && history.body.contains("Patricia"), "{}", history.body);
    assert!(history.body.contains("Revision 2") && history.body.contains("card.pdf"));
    let view = c.get(&format!("/console/submissions/{id}"), &cookie).await;
    assert!(view.body.contains("Patricia") && view.body.contains("Latex") && view.body.contains("card.pdf"));

    let note = c
        .post(
            &format!("/console/submissions/{id}/notes"),
            &cookie,
            &format!("csrf={csrf}&text=Called+back%2C+<b>ok</b>"),
        )
        .await;
    assert_eq!(note.status, StatusCode::SEE_OTHER);
    let empty = c.post(&format!("/console/submissions/{id}/notes"), &cookie, &format!("csrf={csrf}&text=+")).await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    let view = c.get(&format!("/console/submissions/{id}"), &cookie).await;
    assert!(view.body.contains("Called back, &lt;b&gt;ok") && view.body.contains("a@a.example"), "{}", view.body);
    let again = base.replace("revision=1", "revision=3").replace("Better+now", "Better+still");
    assert_eq!(c.post(&format!("/console/submissions/{id}/edit"), &cookie, &again).await.status, StatusCode::SEE_OTHER);
    let view = c.get(&format!("/console/submissions/{id}"), &cookie).await;
    assert!(view.body.contains("Better still") && view.body.contains("Called back"), "an edit keeps the notes");
    let status =
        c.post(&format!("/console/submissions/{id}/status"), &cookie, &format!("csrf={csrf}&status=flagged")).await;
    assert_eq!(status.status, StatusCode::SEE_OTHER);
    assert_eq!(c.store.tenant(c.org_a).submission(id).await.unwrap().unwrap().status.as_str(), "flagged");
    let no_csrf = c.post(&format!("/console/submissions/{id}/status"), &cookie, "csrf=forged&status=archived").await;
    assert_eq!(no_csrf.status, StatusCode::FORBIDDEN);
    assert_eq!(
        actions(&c, sealform_core::audit::Action::SubmissionUpdate).await,
        4,
        "two edits, a note and a status change"
    );
}

async fn files_download_opened_for_staff_only_and_are_audited<B: Backend>() {
    let Some(c) = console::<B>(stringify!(files_download_opened_for_staff_only_and_are_audited)).await else {
        return;
    };
    let (_, ids) = intake_with_submissions(&c, 1).await;
    let file = c.store.tenant(c.org_a).files_of(ids[0]).await.unwrap().remove(0);
    let path = format!("/console/files/{}", file.file.id);
    assert_eq!(c.get(&path, "").await.headers["location"], "/login", "no bare links");
    let cookie = owner(&c).await;
    let download = c.get(&path, &cookie).await;
    assert_eq!(download.status, StatusCode::OK);
    assert_eq!(download.body, "%PDF insurance card bytes");
    assert_eq!(download.headers["content-type"], "application/octet-stream");
    assert!(download.headers["content-disposition"].to_str().unwrap().starts_with("attachment"));
    assert_eq!(actions(&c, sealform_core::audit::Action::FileRead).await, 1);
    let raw = std::fs::read(c.objects.path().join(&file.file.object_key)).unwrap();
    assert!(!raw.windows(9).any(|w| w == b"insurance"), "the object is sealed");
    let auditor = member(&c, "auditor@a.example", sealform_core::user::Role::Auditor).await;
    assert_eq!(c.get(&path, &auditor).await.status, StatusCode::FORBIDDEN, "auditors see the trail, not records");
    let other = format!("__Host-sealform={}", c.login("b@b.example", PASSWORD).await.1.unwrap());
    assert_eq!(c.get(&path, &other).await.status, StatusCode::NOT_FOUND, "another organisation: 404");
    assert_eq!(c.get("/console/files/not-an-id", &cookie).await.status, StatusCode::NOT_FOUND);

    // API keys: the read scope on this form (or on all forms) opens it; other forms, scopes and organisations do not.
    let scope = AuditScope::operator();
    let audit = AuditCtx { auditor: &c.auditor, scope: &scope };
    let org_b = c.store.organisation_by_name(&OrgName::parse("Clinic B").unwrap()).await.unwrap().unwrap().id;
    let key = |scopes: Vec<Scope>, form: Option<FormId>, org, email: &'static str| {
        sealform_core::api_keys::create(&c.store, &c.clock, audit, org, email, "k", scopes, form, None)
    };
    let api = format!("/api/v1/files/{}", file.file.id);
    let bearer =
        |key: &str| Request::get(&api).header("authorization", format!("Bearer {key}")).body(Body::empty()).unwrap();
    let reader = key(vec![Scope::Read], Some(file.form_id), c.org_a, "a@a.example").await.unwrap().0;
    let reply = c.send(bearer(&reader)).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, "%PDF insurance card bytes");
    let submit_only = key(vec![Scope::Submit], None, c.org_a, "a@a.example").await.unwrap().0;
    assert_eq!(c.send(bearer(&submit_only)).await.status, StatusCode::FORBIDDEN);
    let other_form = key(vec![Scope::Read], Some(FormId::new()), c.org_a, "a@a.example").await.unwrap().0;
    // The file is in the key's organisation but outside its form restriction: refused (403), as any same-organisation
    // resource without a right is; another organisation's stays 404.
    assert_eq!(c.send(bearer(&other_form)).await.status, StatusCode::FORBIDDEN);
    let other_org = key(vec![Scope::Read], None, org_b, "b@b.example").await.unwrap().0;
    assert_eq!(c.send(bearer(&other_org)).await.status, StatusCode::NOT_FOUND);
    let anonymous = c.send(Request::get(&api).body(Body::empty()).unwrap()).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(actions(&c, sealform_core::audit::Action::FileRead).await, 2, "the key's read is audited");
}

async fn exports_need_a_step_up_and_stream_the_chosen_fields<B: Backend>() {
    let Some(c) = console::<B>(stringify!(exports_need_a_step_up_and_stream_the_chosen_fields)).await else {
        return;
    };
    let (form, ids) = intake_with_submissions(&c, 3).await;
    let cookie = owner(&c).await;
    let page = c.get(&format!("/console/forms/{form}/export"), &cookie).await;
    assert!(page.status == StatusCode::OK && page.body.contains("Your name"));
    let download = format!("/console/forms/{form}/export/download?format=csv&field=2_first&field=6");
    let first = c.get(&download, &cookie).await;
    assert!(first.headers["location"].to_str().unwrap().starts_with("/console/reauth"), "a step-up comes first");
    let csrf = hidden_csrf(&c.get("/console", &cookie).await.body);
    let reauth = format!("csrf={csrf}&password={}&next=/console", urlencode(PASSWORD));
    assert_eq!(c.post("/console/reauth", &cookie, &reauth).await.status, StatusCode::SEE_OTHER);
    let csv = c.get(&download, &cookie).await;
    assert_eq!(csv.status, StatusCode::OK);
    assert_eq!(csv.headers["content-type"], "text/csv; charset=utf-8");
    let lines: Vec<&str> = csv.body.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 4, "{}", csv.body);
    assert!(lines[0].contains("\"Your name – First name\"") && lines[0].contains("\"Reason for your visit\""));
    assert!(lines[1].starts_with(&format!("\"{}\"", ids[0])) && lines[1].contains("\"Patient0\""));
    assert!(lines[1].contains("\"'=cmd|reason 0\""), "formulas are defused: {}", lines[1]);
    assert!(!csv.body.contains("1980-01-02"), "only the chosen fields");
    let jsonl = c.get(&format!("/console/forms/{form}/export/download?format=jsonl"), &cookie).await;
    let records: Vec<serde_json::Value> = jsonl.body.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(records.len(), 3);
    assert_eq!(records[2]["answers"]["2_first"], "Patient2");
    assert_eq!(records[2]["answers"]["3"], "1980-01-02");
    let future = c.get(&format!("/console/forms/{form}/export/download?from=2999-01-01"), &cookie).await;
    assert_eq!(future.body.split("\r\n").filter(|l| !l.is_empty()).count(), 1, "a header only");
    let to_the_end = c.get(&format!("/console/forms/{form}/export/download?to=9999-12-31"), &cookie).await;
    assert_eq!(to_the_end.body.split("\r\n").filter(|l| !l.is_empty()).count(), 4, "a header and every row");
    assert_eq!(c.get(&format!("/console/forms/{form}/export/download?field=99"), &cookie).await.status, 422);
    let query = AuditQuery {
        org: c.org_a,
        action: Some(sealform_core::audit::Action::SubmissionExport),
        actor: None,
        target_hash: None,
        from: None,
        to: None,
        limit: 10,
    };
    let rows = c.store.tenant(query.org).audit_search(query).await.unwrap();
    assert_eq!(rows.len(), 4, "csv, jsonl, the empty future and the one to the end (the bad field is refused first)");
    let detail = c.auditor.open_detail(rows.last().unwrap()).unwrap();
    assert_eq!(detail.fields, vec!["2_first".to_owned(), "6".to_owned()]);
    assert!(detail.targets.iter().any(|t| t.kind == "export-records" && t.id == "3"), "{:?}", detail.targets);
    let reviewer = member(&c, "rev@a.example", sealform_core::user::Role::Reviewer).await;
    assert_eq!(c.get(&download, &reviewer).await.status, StatusCode::FORBIDDEN, "reviewers do not export");
}

async fn deleting_needs_confirmation_and_shreds_the_submission_and_its_files<B: Backend>() {
    let Some(c) = console::<B>(stringify!(deleting_needs_confirmation_and_shreds_the_submission_and_its_files)).await
    else {
        return;
    };
    let (form, ids) = intake_with_submissions(&c, 2).await;
    let file = c.store.tenant(c.org_a).files_of(ids[0]).await.unwrap().remove(0);
    let cookie = owner(&c).await;
    let path = format!("/console/submissions/{}/delete", ids[0]);
    let confirm = c.get(&path, &cookie).await;
    assert!(confirm.status == StatusCode::OK && confirm.body.contains("cannot be undone"));
    let csrf = hidden_csrf(&confirm.body);
    let reviewer = member(&c, "rev@a.example", sealform_core::user::Role::Reviewer).await;
    assert_eq!(c.get(&path, &reviewer).await.status, StatusCode::FORBIDDEN);
    let other = format!("__Host-sealform={}", c.login("b@b.example", PASSWORD).await.1.unwrap());
    let other_csrf = hidden_csrf(&c.get("/console", &other).await.body);
    let cross = c.post(&path, &other, &format!("csrf={other_csrf}&confirm=yes")).await;
    assert_eq!(cross.status, StatusCode::NOT_FOUND, "another organisation cannot delete");
    assert_eq!(c.post(&path, &cookie, &format!("csrf={csrf}")).await.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(c.store.tenant(c.org_a).submission(ids[0]).await.unwrap().is_some(), "not deleted without the tick");
    let deleted = c.post(&path, &cookie, &format!("csrf={csrf}&confirm=yes")).await;
    assert_eq!(deleted.headers["location"], format!("/console/forms/{form}/submissions").as_str());
    assert!(c.store.tenant(c.org_a).submission(ids[0]).await.unwrap().is_none());
    assert!(c.store.tenant(c.org_a).file(file.file.id).await.unwrap().is_none());
    assert!(!c.objects.path().join(&file.file.object_key).exists(), "the sealed object is removed");
    assert_eq!(c.get(&format!("/console/submissions/{}", ids[0]), &cookie).await.status, StatusCode::NOT_FOUND);
    assert!(c.store.tenant(c.org_a).submission(ids[1]).await.unwrap().is_some(), "only that one");
}

async fn another_organisation_sees_none_of_it<B: Backend>() {
    let Some(c) = console::<B>(stringify!(another_organisation_sees_none_of_it)).await else { return };
    let (form, ids) = intake_with_submissions(&c, 1).await;
    let other = format!("__Host-sealform={}", c.login("b@b.example", PASSWORD).await.1.unwrap());
    let id = ids[0];
    for path in [
        format!("/console/forms/{form}/submissions"),
        format!("/console/forms/{form}/export"),
        format!("/console/forms/{form}/export/download"),
        format!("/console/submissions/{id}"),
        format!("/console/submissions/{id}/print"),
        format!("/console/submissions/{id}/edit"),
        format!("/console/submissions/{id}/revisions"),
        format!("/console/submissions/{id}/delete"),
    ] {
        let reply = c.get(&path, &other).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}: {}", reply.body);
    }
    let csrf = hidden_csrf(&c.get("/console", &other).await.body);
    let edit = format!("csrf={csrf}&revision=1&a%3A2_first=X");
    assert_eq!(c.post(&format!("/console/submissions/{id}/edit"), &other, &edit).await.status, 404);
    let status = format!("csrf={csrf}&status=archived");
    assert_eq!(c.post(&format!("/console/submissions/{id}/status"), &other, &status).await.status, 404);
}

async fn browsers_get_error_pages_and_a_way_to_ask_for_access<B: Backend>() {
    let Some(c) = console::<B>(stringify!(browsers_get_error_pages_and_a_way_to_ask_for_access)).await else { return };
    let (form, _) = intake_with_submissions(&c, 1).await;
    let reviewer = member(&c, "rev@a.example", sealform_core::user::Role::Reviewer).await;
    let path = format!("/console/forms/{form}/submissions");
    let as_browser = |accept: &'static str| {
        Request::get(&path).header("cookie", &reviewer).header("accept", accept).body(Body::empty()).unwrap()
    };
    let page = c.send(as_browser("text/html,application/xhtml+xml")).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "no grant: still refused");
    assert!(page.headers["content-type"].to_str().unwrap().starts_with("text/html"), "a page for people");
    assert!(page.body.contains("<h1>Forbidden</h1>"), "{}", page.body);
    // Attribute values are HTML-escaped (`/` as `&#x2f;`), which browsers read back as the path.
    let link = format!("/console/forms/{form}/request-access").replace('/', "&#x2f;");
    assert!(page.body.contains(&link) && page.body.contains("ask for access"), "the way to ask for access");
    let json = c.send(as_browser("application/json")).await;
    assert_eq!(json.status, StatusCode::FORBIDDEN);
    assert_eq!(json.headers["content-type"], "application/problem+json", "scripts keep the problem document");
}

both!(
    the_inbox_lists_filters_and_opens_submissions_with_an_audited_read,
    staff_edits_become_revisions_with_a_diff_and_status_changes_are_audited,
    files_download_opened_for_staff_only_and_are_audited,
    exports_need_a_step_up_and_stream_the_chosen_fields,
    deleting_needs_confirmation_and_shreds_the_submission_and_its_files,
    another_organisation_sees_none_of_it,
    browsers_get_error_pages_and_a_way_to_ask_for_access
);
