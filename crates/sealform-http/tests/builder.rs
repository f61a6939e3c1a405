//! The console form builder (issue #8): forms list, questions added, edited, reordered and removed one post at a
//! time, each a new audited version; field-level refusals with 422; permissions, tenancy and CSRF.

#[macro_use]
mod harness;

use harness::*;
use sealform_core::audit::{Action, AuditQuery};
use sealform_core::form_model::{ConditionAction, Definition, QuestionType};
use sealform_core::ids::FormId;
use sealform_core::submission::{FormRecord, FormStatus};

async fn owner<S: Store>(c: &Console<S>) -> String {
    format!("__Host-sealform={}", c.login("a@a.example", PASSWORD).await.1.unwrap())
}

/// The session's CSRF token, from the console page (every role has its sign-out form).
async fn csrf_of<S: Store>(c: &Console<S>, cookie: &str) -> String {
    let page = c.get("/console", cookie).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    hidden_csrf(&page.body)
}

/// Posts `fields` (already encoded) with the session's CSRF token.
async fn change<S: Store>(c: &Console<S>, cookie: &str, path: &str, fields: &str) -> Reply {
    let csrf = csrf_of(c, cookie).await;
    c.post(path, cookie, &format!("csrf={csrf}&{fields}")).await
}

async fn new_form<S: Store>(c: &Console<S>, cookie: &str, title: &str) -> FormId {
    let reply = change(c, cookie, "/console/forms", &format!("title={}", urlencode(title))).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let location = reply.headers["location"].to_str().unwrap();
    let id = location.strip_prefix("/console/forms/").unwrap().split('?').next().unwrap();
    id.parse().unwrap()
}

async fn stored<S: Store>(c: &Console<S>, id: FormId) -> (FormRecord, Definition) {
    let record = c.store.tenant(c.org_a).form(id).await.unwrap().unwrap();
    let definition = Definition::from_json(&record.definition).unwrap();
    (record, definition)
}

async fn form_updates<S: Store>(c: &Console<S>) -> usize {
    let query = AuditQuery {
        org: c.org_a,
        action: Some(Action::FormUpdate),
        actor: None,
        target_hash: None,
        from: None,
        to: None,
        limit: 1000,
    };
    c.store.tenant(query.org).audit_search(query).await.unwrap().len()
}

fn qids(definition: &Definition) -> Vec<&str> {
    definition.questions.iter().map(|q| q.qid.as_str()).collect()
}

fn saved(reply: &Reply) {
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
}

async fn a_form_is_built_question_by_question_each_change_a_new_audited_version<B: Backend>() {
    let Some(c) =
        console::<B>(stringify!(a_form_is_built_question_by_question_each_change_a_new_audited_version)).await
    else {
        return;
    };
    let cookie = owner(&c).await;
    assert!(c.get("/console", &cookie).await.body.contains("href=\"/console/forms\""), "the console links to forms");
    let id = new_form(&c, &cookie, "Patient intake").await;
    let (record, definition) = stored(&c, id).await;
    assert_eq!((record.status, record.title.as_str()), (FormStatus::Draft, "Patient intake"));
    assert!(definition.questions.is_empty());
    let first_version = record.version;
    let list = c.get("/console/forms", &cookie).await;
    assert!(list.body.contains("Patient intake") && list.body.contains(&format!("/console/forms/{id}/submissions")));

    let base = format!("/console/forms/{id}");
    let add = |kind: &'static str, label: &'static str| format!("type={kind}&text={}", urlencode(label));
    for (kind, label) in [
        ("control_fullname", "Your name"),
        ("control_radio", "Are you pregnant?"),
        ("control_number", "How many weeks?"),
        ("control_fileupload", "Referral letter"),
        ("control_textbox", "Insurance number"),
    ] {
        saved(&change(&c, &cookie, &format!("{base}/questions"), &add(kind, label)).await);
    }
    let (_, definition) = stored(&c, id).await;
    assert_eq!(qids(&definition), ["1", "2", "3", "4", "5"]);
    assert_eq!(definition.questions[1].kind, QuestionType::Radio);
    assert_eq!(definition.questions[1].options.len(), 2, "a new choice question starts with two options");

    // Edit: options, a condition, a file limit and types, a pattern, flags.
    saved(
        &change(
            &c,
            &cookie,
            &format!("{base}/questions/2"),
            "text=Pregnant%3F&options=Yes%0D%0ANo%0D%0A%0D%0A&required=on",
        )
        .await,
    );
    saved(
        &change(
            &c,
            &cookie,
            &format!("{base}/questions/3"),
            "text=Weeks&min=1&max=42&required=on&phi=on&cond_qid=2&cond_equals=Yes&cond_action=show",
        )
        .await,
    );
    saved(&change(&c, &cookie, &format!("{base}/questions/4"), "text=Letter&max_file_mib=5&accept=.PDF%2C+jpg").await);
    saved(
        &change(
            &c,
            &cookie,
            &format!("{base}/questions/5"),
            "text=Insurance&pattern=%5BA-Z%5D%7B3%7D%5B0-9%5D%2B&indexed=on&phi=on",
        )
        .await,
    );
    let (_, definition) = stored(&c, id).await;
    let pregnant = definition.question("2").unwrap();
    assert_eq!((pregnant.options.clone(), pregnant.required), (vec!["Yes".to_owned(), "No".to_owned()], true));
    let weeks = definition.question("3").unwrap();
    assert_eq!((weeks.validation.min, weeks.validation.max, weeks.phi), (Some(1.0), Some(42.0), true));
    let condition = weeks.visible_when.as_ref().unwrap();
    assert_eq!(
        (condition.qid.as_str(), condition.equals.as_str(), condition.action),
        ("2", "Yes", ConditionAction::Show)
    );
    let letter = definition.question("4").unwrap();
    assert_eq!(
        (letter.max_file_bytes, letter.accept.clone()),
        (Some(5 << 20), vec!["pdf".to_owned(), "jpg".to_owned()])
    );
    let insurance = definition.question("5").unwrap();
    assert_eq!(insurance.validation.pattern.as_deref(), Some("[A-Z]{3}[0-9]+"));
    assert!(insurance.indexed && insurance.phi && !insurance.required);

    // The builder shows it all back.
    let page = c.get(&base, &cookie).await;
    assert_eq!(page.status, StatusCode::OK);
    for shown in ["Pregnant?", "Weeks", "shown when question 2 is", "pdf, jpg", "[A-Z]{3}[0-9]+", "PHI"] {
        assert!(page.body.contains(&minijinja_escape(shown)), "{shown} missing from the builder");
    }

    // Reorder with the buttons: the upload up past the number, the number back up; then the radio down past the
    // number, refused: the number's condition names the radio, which must come first.
    saved(&change(&c, &cookie, &format!("{base}/questions/4/move"), "direction=up").await);
    assert_eq!(qids(&stored(&c, id).await.1), ["1", "2", "4", "3", "5"]);
    saved(&change(&c, &cookie, &format!("{base}/questions/3/move"), "direction=up").await);
    assert_eq!(qids(&stored(&c, id).await.1), ["1", "2", "3", "4", "5"]);
    let refused = change(&c, &cookie, &format!("{base}/questions/2/move"), "direction=down").await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.body);
    assert!(refused.body.contains("earlier question"));
    assert_eq!(qids(&stored(&c, id).await.1), ["1", "2", "3", "4", "5"]);
    // The whole order at once (the drag-and-drop route).
    saved(&change(&c, &cookie, &format!("{base}/order"), "order=5%2C1%2C2%2C3%2C4").await);
    assert_eq!(qids(&stored(&c, id).await.1), ["5", "1", "2", "3", "4"]);
    saved(&change(&c, &cookie, &format!("{base}/questions/1/move"), "direction=down").await);
    assert_eq!(qids(&stored(&c, id).await.1), ["5", "2", "1", "3", "4"]);
    let top = change(&c, &cookie, &format!("{base}/questions/5/move"), "direction=up").await;
    assert_eq!(top.status, StatusCode::SEE_OTHER, "the first question moving up is a no-op");

    // Remove, with the confirmation.
    saved(&change(&c, &cookie, &format!("{base}/questions/5/delete"), "confirm=yes").await);
    assert_eq!(qids(&stored(&c, id).await.1), ["2", "1", "3", "4"]);

    // Publish: the link, the QR code and the embed snippet.
    saved(&change(&c, &cookie, &format!("{base}/status"), "status=published").await);
    let (record, definition) = stored(&c, id).await;
    assert_eq!(record.status, FormStatus::Published);
    assert_eq!(qids(&definition), ["2", "1", "3", "4"]);
    let page = c.get(&base, &cookie).await;
    assert!(page.body.contains(&minijinja_escape(&format!("https://clinic.example/f/{id}"))));
    assert!(page.body.contains("<script src=\"/static/builder.js\" defer></script>"));
    assert!(
        page.body.contains(&format!("<img class=\"qr-code\" src=\"/f/{id}/qr.svg\" alt=\"QR code for the form link\""))
    );
    let snippet = format!("<iframe src=\"https://clinic.example/f/{id}\" title=\"Patient intake\" loading=\"lazy\"");
    assert!(page.body.contains(&minijinja_escape(&snippet)), "the embed snippet is shown as text");
    saved(&change(&c, &cookie, &format!("{base}/title"), "title=Intake+2027").await);
    assert_eq!(stored(&c, id).await.0.title, "Intake 2027");

    // 5 adds, 4 edits, 3 moves, 1 order, 1 removal: 14 new versions; publish and title are not new versions.
    c.clock.advance(Duration::minutes(1));
    let (record, _) = stored(&c, id).await;
    assert_eq!(record.version, first_version + 14);
    assert_eq!(form_updates(&c).await, 16, "every change is a form.update entry");

    // Duplicate: a draft copy with the same questions.
    let copy = change(&c, &cookie, &format!("{base}/duplicate"), "").await;
    saved(&copy);
    let copy_id: FormId = copy.headers["location"].to_str().unwrap()["/console/forms/".len()..][..36].parse().unwrap();
    let (copy, copy_definition) = stored(&c, copy_id).await;
    assert_eq!((copy.status, copy.title.as_str()), (FormStatus::Draft, "Intake 2027 (copy)"));
    assert_eq!(copy_definition, definition);
}

/// The text as the template engine escapes it.
fn minijinja_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;")
        .replace('/', "&#x2f;")
}

async fn broken_rules_come_back_as_field_messages_with_422_and_store_nothing<B: Backend>() {
    let Some(c) = console::<B>(stringify!(broken_rules_come_back_as_field_messages_with_422_and_store_nothing)).await
    else {
        return;
    };
    let cookie = owner(&c).await;
    let id = new_form(&c, &cookie, "Rules").await;
    let base = format!("/console/forms/{id}");
    saved(&change(&c, &cookie, &format!("{base}/questions"), "type=control_textbox&text=Code").await);
    saved(&change(&c, &cookie, &format!("{base}/questions"), "type=control_dropdown&text=Pick").await);
    let (before, definition) = stored(&c, id).await;
    let updates = form_updates(&c).await;

    let cases: Vec<(String, String, &str)> = vec![
        (
            format!("{base}/questions/1"),
            "text=Code&pattern=%28".into(),
            "the pattern is not a valid regular expression",
        ),
        (
            format!("{base}/questions/2"),
            format!("text=Pick&options={}", (0..10_000).map(|i| format!("option+{i}")).collect::<Vec<_>>().join("%0A")),
            "at most 500 options",
        ),
        (format!("{base}/questions/2"), "text=Pick&options=".into(), "needs at least one option"),
        (format!("{base}/questions/1"), "text=Code&min_length=ten".into(), "the minimum length must be a number"),
        (format!("{base}/questions/1"), "text=".into(), "a question needs a label"),
        (format!("{base}/questions/2"), "text=Pick&options=a&cond_qid=9&cond_equals=x".into(), "earlier question"),
        (format!("{base}/questions/1/delete"), String::new(), "Yes, remove this question"),
        (format!("{base}/questions"), "type=control_nope&text=x".into(), "choose a question type"),
        (format!("{base}/order"), "order=2".into(), "every question once"),
        (format!("{base}/title"), format!("title={}", "x".repeat(201)), "1 to 200 characters"),
        (format!("{base}/title"), "title=+".into(), "1 to 200 characters"),
        (format!("{base}/status"), "status=gone".into(), "choose publish"),
    ];
    for (path, fields, message) in &cases {
        let reply = change(&c, &cookie, path, fields).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{path} {fields:.60}: {}", reply.body);
        assert!(reply.body.contains(&minijinja_escape(message)), "{path}: {message} not in {}", reply.body);
        assert!(reply.body.contains("Not saved"), "{path}");
    }
    let (after, unchanged) = stored(&c, id).await;
    assert_eq!((after.version, after.title.as_str()), (before.version, "Rules"));
    assert_eq!(unchanged, definition);
    assert_eq!(form_updates(&c).await, updates, "refused changes leave no form.update entry");

    // An unknown question, a stale version, an empty form published.
    assert_eq!(change(&c, &cookie, &format!("{base}/questions/77"), "text=x").await.status, StatusCode::NOT_FOUND);
    let stale = change(&c, &cookie, &format!("{base}/questions/1"), "version=1&text=Stale").await;
    assert_eq!(stale.status, StatusCode::CONFLICT, "{}", stale.body);
    let current = format!("version={}&text=Fresh", after.version);
    saved(&change(&c, &cookie, &format!("{base}/questions/1"), &current).await);
    let empty = new_form(&c, &cookie, "Empty").await;
    let reply = change(&c, &cookie, &format!("/console/forms/{empty}/status"), "status=published").await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    let list = change(&c, &cookie, "/console/forms", "title=").await;
    assert_eq!(list.status, StatusCode::UNPROCESSABLE_ENTITY);

    // Bytes that are not UTF-8, escaped or raw, are refused rather than replaced.
    let updates = form_updates(&c).await;
    let bad = change(&c, &cookie, &format!("{base}/title"), "title=%FF%FE").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
    assert!(bad.body.contains("UTF-8"));
    assert_eq!(change(&c, &cookie, "/console/forms", "title=caf%C3").await.status, StatusCode::BAD_REQUEST);
    let csrf = csrf_of(&c, &cookie).await;
    let mut raw = format!("csrf={csrf}&text=").into_bytes();
    raw.extend_from_slice(&[0xC3, 0x28]);
    let request = Request::post(format!("{base}/questions/1"))
        .header("cookie", &cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(raw))
        .unwrap();
    assert_eq!(c.send(request).await.status, StatusCode::BAD_REQUEST);
    saved(&change(&c, &cookie, &format!("{base}/title"), "title=Caf%C3%A9+%E2%9C%93+100%25").await);
    assert_eq!(stored(&c, id).await.0.title, "Café ✓ 100%");
    assert_eq!(form_updates(&c).await, updates + 1);
}

async fn titles_and_labels_are_escaped<B: Backend>() {
    let Some(c) = console::<B>(stringify!(titles_and_labels_are_escaped)).await else { return };
    let cookie = owner(&c).await;
    let id = new_form(&c, &cookie, "<script>alert(1)</script> \"quoted\"").await;
    let base = format!("/console/forms/{id}");
    let label = urlencode("<script>alert(2)</script><img src=x onerror=alert(3)>");
    saved(&change(&c, &cookie, &format!("{base}/questions"), &format!("type=control_radio&text={label}")).await);
    saved(
        &change(&c, &cookie, &format!("{base}/questions/1"), &format!("text={label}&options=%3Cb%3Ebold%3C%2Fb%3E"))
            .await,
    );
    for page in [c.get(&base, &cookie).await, c.get("/console/forms", &cookie).await] {
        assert_eq!(page.status, StatusCode::OK);
        assert!(!page.body.contains("<script>alert") && !page.body.contains("<img src=x"), "{}", page.body);
        assert!(!page.body.contains("<b>bold"));
        assert!(page.body.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"), "{}", page.body);
    }
    let builder = c.get(&base, &cookie).await;
    assert!(builder.body.contains("&lt;script&gt;alert(2)"));
    assert!(!builder.body.contains("<iframe"), "the embed snippet is text, never markup");
}

async fn reviewers_may_look_but_not_change_and_other_organisations_see_nothing<B: Backend>() {
    let Some(c) = console::<B>(stringify!(reviewers_may_look_but_not_change_and_other_organisations_see_nothing)).await
    else {
        return;
    };
    let cookie = owner(&c).await;
    let id = new_form(&c, &cookie, "Intake").await;
    let base = format!("/console/forms/{id}");
    saved(&change(&c, &cookie, &format!("{base}/questions"), "type=control_textbox&text=Name").await);

    let scope = sealform_core::audit::AuditScope::operator();
    let audit = AuditCtx { auditor: &c.auditor, scope: &scope };
    let role = sealform_core::user::Role::Reviewer;
    let password = SecretString::from(PASSWORD.to_owned());
    sealform_core::admin::add_user(&c.store, &c.clock, audit, c.org_a, "rev@a.example", role, password).await.unwrap();
    let reviewer = format!("__Host-sealform={}", c.login("rev@a.example", PASSWORD).await.1.unwrap());
    let email = sealform_core::user::Email::parse("rev@a.example").unwrap();
    assert!(c.store.user_by_email(&email).await.unwrap().is_some());
    // Default deny: without a grant the form is neither listed nor shown.
    let list = c.get("/console/forms", &reviewer).await;
    assert!(!list.body.contains("Intake"), "no grant, no form");
    assert_eq!(c.get(&base, &reviewer).await.status, StatusCode::FORBIDDEN);
    c.grant("rev@a.example", id, &[sealform_core::grants::Right::View], false, None).await;
    let list = c.get("/console/forms", &reviewer).await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.body.contains("Intake") && !list.body.contains("Create form"));
    let page = c.get(&base, &reviewer).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Name") && !page.body.contains("Save question") && !page.body.contains("builder.js"));
    let version = stored(&c, id).await.0.version;
    for (path, fields) in [
        ("/console/forms".to_owned(), "title=Mine"),
        (format!("{base}/questions"), "type=control_textbox&text=x"),
        (format!("{base}/questions/1"), "text=x"),
        (format!("{base}/questions/1/move"), "direction=down"),
        (format!("{base}/questions/1/delete"), "confirm=yes"),
        (format!("{base}/order"), "order=1"),
        (format!("{base}/title"), "title=x"),
        (format!("{base}/status"), "status=published"),
        (format!("{base}/duplicate"), ""),
    ] {
        assert_eq!(change(&c, &reviewer, &path, fields).await.status, StatusCode::FORBIDDEN, "{path}");
    }
    assert_eq!(stored(&c, id).await.0.version, version);

    let other = format!("__Host-sealform={}", c.login("b@b.example", PASSWORD).await.1.unwrap());
    assert_eq!(c.get(&base, &other).await.status, StatusCode::NOT_FOUND);
    assert!(!c.get("/console/forms", &other).await.body.contains("Intake"));
    for (path, fields) in [
        (format!("{base}/questions/1"), "text=x"),
        (format!("{base}/title"), "title=x"),
        (format!("{base}/status"), "status=archived"),
        (format!("{base}/duplicate"), ""),
    ] {
        assert_eq!(change(&c, &other, &path, fields).await.status, StatusCode::NOT_FOUND, "{path}");
    }
    assert_eq!(c.get("/console/forms/not-a-uuid", &cookie).await.status, StatusCode::NOT_FOUND);
    assert_eq!(change(&c, &cookie, "/console/forms/not-a-uuid/title", "title=x").await.status, StatusCode::NOT_FOUND);
    assert_eq!(c.get(&base, "").await.headers["location"], "/login", "no session: to the login page");
    let (record, _) = stored(&c, id).await;
    assert_eq!((record.version, record.title.as_str(), record.status), (version, "Intake", FormStatus::Draft));
}

async fn changes_need_the_csrf_token<B: Backend>() {
    let Some(c) = console::<B>(stringify!(changes_need_the_csrf_token)).await else { return };
    let cookie = owner(&c).await;
    let id = new_form(&c, &cookie, "Intake").await;
    let base = format!("/console/forms/{id}");
    let updates = form_updates(&c).await;
    for path in [format!("{base}/questions"), format!("{base}/title"), "/console/forms".to_owned()] {
        assert_eq!(c.post(&path, &cookie, "type=control_textbox&text=x&title=x").await.status, StatusCode::FORBIDDEN);
        let forged = c.post(&path, &cookie, "csrf=forged&type=control_textbox&text=x&title=x").await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN);
    }
    assert!(stored(&c, id).await.1.questions.is_empty());
    assert_eq!(form_updates(&c).await, updates);
    assert_eq!(c.store.tenant(c.org_a).forms_of().await.unwrap().len(), 1);
    let script = c.get("/static/builder.js", "").await;
    assert_eq!(script.status, StatusCode::OK);
    assert!(script.headers["content-type"].to_str().unwrap().starts_with("text/javascript"));
    assert!(script.body.contains("/order") || script.body.contains("order"));
}

both!(
    a_form_is_built_question_by_question_each_change_a_new_audited_version,
    broken_rules_come_back_as_field_messages_with_422_and_store_nothing,
    titles_and_labels_are_escaped,
    reviewers_may_look_but_not_change_and_other_organisations_see_nothing,
    changes_need_the_csrf_token,
);
