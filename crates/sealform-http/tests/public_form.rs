//! The public fill page in process: rendering and escaping, a streamed multipart submission sealed and opened again,
//! field-level refusals that leave nothing behind, the honeypot, the rate limit, and a canary that no answer or file
//! byte reaches the database or the object directory in clear.

#[macro_use]
mod harness;

use std::collections::BTreeMap;

use harness::forms::{MultipartBody, contains_bytes, files_under};
use harness::*;
use sealform_core::audit::AuditScope;
use sealform_core::form_model::{Condition, ConditionAction, Definition, Question, QuestionType};
use sealform_core::ids::FormId;
use sealform_core::submission::{FormStatus, SubmissionQuery};

fn intake() -> Definition {
    let mut name = Question::new("1", QuestionType::Fullname, "Your name");
    name.required = true;
    let mut email = Question::new("2", QuestionType::Email, "<script>alert(1)</script> E-mail");
    email.help = "We write only about your visit.".into();
    let mut pregnant = Question::new("3", QuestionType::Radio, "Are you pregnant?");
    pregnant.options = vec!["Yes".into(), "No".into()];
    let mut weeks = Question::new("4", QuestionType::Number, "How many weeks?");
    weeks.required = true;
    weeks.validation.min = Some(1.0);
    weeks.validation.max = Some(42.0);
    weeks.visible_when = Some(Condition { qid: "3".into(), equals: "Yes".into(), action: ConditionAction::Show });
    let mut allergies = Question::new("5", QuestionType::Checkbox, "Allergies");
    allergies.options = vec!["Penicillin".into(), "Latex".into()];
    let mut scan = Question::new("6", QuestionType::Fileupload, "Insurance card");
    scan.accept = vec!["pdf".into(), "png".into()];
    scan.max_file_bytes = Some(200_000);
    let notes = Question::new("7", QuestionType::Textarea, "Notes");
    let page = Question::new("8", QuestionType::Pagebreak, "");
    let signature = Question::new("9", QuestionType::Signature, "Signature");
    let mut pain = Question::new("10", QuestionType::Scale, "Pain today");
    pain.validation.min = Some(1.0);
    pain.validation.max = Some(5.0);
    let button = Question::new("11", QuestionType::Button, "Send answers");
    Definition { questions: vec![name, email, pregnant, weeks, allergies, scan, notes, page, signature, pain, button] }
}

fn valid(notes: &str) -> MultipartBody {
    MultipartBody::new()
        .text("website_url", "")
        .text("1_first", "Ada")
        .text("1_last", "Lovelace")
        .text("2", "ada@example.org")
        .text("3", "Yes")
        .text("4", "12")
        .text("5", "Latex")
        .text("5", "Penicillin")
        .text("7", notes)
        .text("10", "3")
}

async fn count<S: Store>(c: &Console<S>, form: FormId) -> u64 {
    c.store.tenant(c.org_a).count_submissions(form).await.unwrap()
}

fn objects_left<S: Store>(c: &Console<S>) -> usize {
    files_under(c.objects.path()).len()
}

async fn the_page_renders_labels_escapes_text_and_may_be_framed<B: Backend>() {
    let Some(c) = console::<B>(stringify!(the_page_renders_labels_escapes_text_and_may_be_framed)).await else {
        return;
    };
    let form = c.published_form("<script>alert('t')</script> Intake", &intake()).await;
    let page = c.get(&format!("/f/{form}"), "").await;
    assert_eq!(page.status, StatusCode::OK);
    let body = &page.body;
    assert!(!body.contains("<script>alert"), "user text is escaped: {body}");
    assert!(body.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt; E-mail"), "{body}");
    for needle in [
        r#"<label for="q1_first">First name <span class="req">(required)</span></label>"#,
        r#"name="1_first""#,
        r#"<label for="q2">"#,
        r#"type="email""#,
        r#"aria-describedby="q2-help""#,
        r#"<legend>Are you pregnant?</legend>"#,
        r#"data-show-if="3" data-equals="Yes""#,
        r#"type="file" id="q6" name="6" accept=".pdf,.png""#,
        r#"data-signature="9""#,
        r#"enctype="multipart/form-data""#,
        r#"tabindex="-1" autocomplete="off""#,
        r#"<section class="page" id="page-2""#,
        ">Send answers</button>",
        r#"<script src="/static/form.js" defer></script>"#,
    ] {
        assert!(body.contains(needle), "missing {needle}: {body}");
    }
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors *") && csp.contains("script-src 'self'"), "{csp}");
    assert!(page.headers.get("x-frame-options").is_none());
    let js = c.get("/static/form.js", "").await;
    assert_eq!(js.status, StatusCode::OK);
    let css = c.get("/static/form.css", "").await;
    assert!(body.len() + js.body.len() + css.body.len() < 30_000, "page weight stays small");
    let qr = c.get(&format!("/f/{form}/qr.svg"), "").await;
    assert_eq!(qr.status, StatusCode::OK);
    assert!(qr.body.contains("<svg"));
    assert_eq!(js.headers["cross-origin-resource-policy"], "same-origin");
    let embed = c.get("/static/embed.js", "").await;
    assert_eq!(embed.headers["cross-origin-resource-policy"], "cross-origin", "other sites load the embed helper");
    assert!(js.body.contains("postMessage") && embed.body.contains("contentWindow === event.source"));
    let png = c.get(&format!("/f/{form}/qr.png"), "").await;
    assert_eq!(png.headers["content-type"], "image/png");
    assert!(png.body.starts_with("\u{fffd}PNG") && png.body.contains("IHDR"), "a PNG image");
}

async fn unpublished_unknown_and_malformed_forms_are_not_found<B: Backend>() {
    let Some(c) = console::<B>(stringify!(unpublished_unknown_and_malformed_forms_are_not_found)).await else {
        return;
    };
    let draft = c.form_with_status("Draft", &intake(), FormStatus::Draft).await;
    let closed = c.form_with_status("Closed", &intake(), FormStatus::Unpublished).await;
    for path in [
        format!("/f/{draft}"),
        format!("/f/{closed}"),
        format!("/f/{}", FormId::new()),
        "/f/not-an-id".to_owned(),
        format!("/f/{draft}/qr.svg"),
        format!("/f/{draft}/qr.png"),
    ] {
        assert_eq!(c.get(&path, "").await.status, StatusCode::NOT_FOUND, "{path}");
    }
    let reply = c.post_multipart(&format!("/f/{draft}"), &valid("x")).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(count(&c, draft).await, 0);
}

async fn a_valid_submission_is_sealed_and_opens_with_its_file<B: Backend>() {
    let Some(c) = console::<B>(stringify!(a_valid_submission_is_sealed_and_opens_with_its_file)).await else {
        return;
    };
    let form = c.published_form("Intake", &intake()).await;
    let notes_canary = "CANARY-notes-5f1e9c2a";
    let file_canary = b"CANARY-file-8b7d3e01";
    let mut file = b"%PDF-1.7\n".to_vec();
    for _ in 0..9_000 {
        file.extend_from_slice(file_canary); // ~180 KB: several sealed segments
    }
    let signature = b"\x89PNG\r\n\x1a\nCANARY-signature-44aa";
    let body = valid(notes_canary).file("6", "card.pdf", &file).file("9", "", signature);
    let reply = c.post_multipart(&format!("/f/{form}"), &body).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    assert_eq!(reply.headers["location"], format!("/f/{form}/thanks"));
    let thanks = c.get(&format!("/f/{form}/thanks"), "").await;
    assert_eq!(thanks.status, StatusCode::OK);
    assert!(thanks.body.contains("Thank you") && !thanks.body.contains("Ada"));
    assert_eq!(count(&c, form).await, 1);

    let keyring = c.keyring();
    let summary = c.store.tenant(c.org_a).submissions(SubmissionQuery::all(c.org_a, form, 10)).await.unwrap();
    let id = summary[0].id;
    let scope = AuditScope::operator();
    let audit = AuditCtx { auditor: &c.auditor, scope: &scope };
    let answers = sealform_core::sealing::read_submission(&c.store, &keyring, audit, c.org_a, id, None, c.clock.now())
        .await
        .unwrap()
        .unwrap();
    let text: BTreeMap<&str, String> =
        answers.iter().map(|(k, v)| (k.as_str(), String::from_utf8(v.to_vec()).unwrap())).collect();
    assert_eq!(text["1_first"], "Ada");
    assert_eq!(text["1_last"], "Lovelace");
    assert_eq!(text["2"], "ada@example.org");
    assert_eq!(text["4"], "12");
    assert_eq!(text["5"], "Latex\nPenicillin");
    assert_eq!(text["6"], "card.pdf", "only the base name of the file is kept");
    assert_eq!(text["7"], notes_canary);
    assert_eq!(text["9"], "signature.png");
    assert_eq!(text["10"], "3");

    let files = c.store.tenant(c.org_a).files_of(id).await.unwrap();
    assert_eq!(files.len(), 2);
    for record in &files {
        let mut rx = sealform_core::files::open_file(
            &sealform_core::files::ObjectStore::new(c.objects.path()),
            &keyring,
            record,
        )
        .await
        .unwrap();
        let mut plain = Vec::new();
        while let Some(chunk) = rx.recv().await {
            plain.extend_from_slice(&chunk.unwrap());
        }
        let expected: &[u8] = if record.file.question_id == "6" { &file } else { signature };
        assert_eq!(plain, expected, "file of question {}", record.file.question_id);
    }

    // Canaries: neither answers nor file bytes are anywhere in clear.
    let mut stored = files_under(c.objects.path());
    assert_eq!(stored.len(), 2, "two sealed objects, no temporary files");
    if let Some(dir) = &c._dir {
        stored.extend(files_under(dir.path()));
    }
    for (path, bytes) in &stored {
        for canary in [notes_canary.as_bytes(), file_canary, b"CANARY-signature", b"Lovelace", b"ada@example.org"] {
            assert!(!contains_bytes(bytes, canary), "{} holds {:?} in clear", path.display(), canary);
        }
    }
}

async fn refused_submissions_name_the_field_and_leave_nothing<B: Backend>() {
    let Some(c) = console::<B>(stringify!(refused_submissions_name_the_field_and_leave_nothing)).await else {
        return;
    };
    let form = c.published_form("Intake", &intake()).await;
    let path = format!("/f/{form}");
    let pdf = b"%PDF-1.7 small".to_vec();
    let cases: Vec<(MultipartBody, &str, &str)> = vec![
        (
            MultipartBody::new().text("1_first", "Ada").file("6", "card.pdf", &pdf),
            "Last name is required",
            r#"id="q1_first" name="1_first" value="Ada""#,
        ),
        (valid("kept").text("3", "No").file("6", "card.pdf", &pdf), "give one answer", "kept</textarea>"),
        (valid("x").raw("2", b"not-an-address"), "give one answer", ""),
        (
            MultipartBody::new()
                .text("1_first", "Ada")
                .text("1_last", "L")
                .text("2", "not an address")
                .file("6", "card.pdf", &pdf),
            "enter an e-mail address",
            "choose the file again",
        ),
        (valid("x").text("99", "hello").file("6", "card.pdf", &pdf), "there is no such question on this form", ""),
        (valid("x").raw("7", b"bad \xff\xfe utf-8"), "not valid text", ""),
        (
            valid("x").file("6", "card.pdf", &vec![b'a'; 200_001]).file("9", "s.png", b"png"),
            "the file is larger than",
            "choose the file again",
        ),
        (valid("x").file("6", "card.exe", &pdf), "allowed file types: pdf, png", ""),
        (valid("x").file("2", "a.pdf", &pdf), "this question does not take a file", ""),
        (
            MultipartBody::new().text("1_first", "A").text("1_last", "B").text("3", "Yes").text("4", "forty"),
            "enter a number",
            r#"value="forty""#,
        ),
        (valid("x").text("10", "").text("1_last", "").raw("10", b"9"), "give one answer", ""),
        (
            MultipartBody::new().text("1_first", "A").text("1_last", "B").text("10", "9"),
            "choose a number from 1 to 5",
            "",
        ),
    ];
    for (i, (body, message, kept)) in cases.into_iter().enumerate() {
        let reply = c.post_multipart(&path, &body).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "case {i}: {}", reply.body);
        assert!(reply.body.contains(message), "case {i}: {message} in {}", reply.body);
        assert!(reply.body.contains("There is a problem"), "case {i}");
        assert!(message.contains("no such question") || reply.body.contains(r#"aria-invalid="true""#), "case {i}");
        assert!(kept.is_empty() || reply.body.contains(kept), "case {i}: {kept} in {}", reply.body);
        assert_eq!(count(&c, form).await, 0, "case {i}");
        assert_eq!(objects_left(&c), 0, "case {i}: no sealed object stays");
    }
    let wrong_number = MultipartBody::new().text("1_first", "A").text("1_last", "B").text("3", "Yes").text("4", "99");
    let reply = c.post_multipart(&path, &wrong_number).await;
    assert!(reply.body.contains("enter a number from 1 to 42"), "{}", reply.body);
    assert!(
        reply.body.contains(r##"<a href="#q4">How many weeks?: enter a number from 1 to 42</a>"##),
        "{}",
        reply.body
    );
    assert!(reply.body.contains(r#"aria-describedby="q4-error" aria-invalid="true""#), "{}", reply.body);

    let reply = c.post_body(&path, "application/x-www-form-urlencoded", b"1_first=Ada".to_vec(), &[]).await;
    assert_eq!(reply.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let reply = c.post_body(&path, "multipart/form-data; boundary=nope", b"garbage".to_vec(), &[]).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let body = valid("x");
    let cross = c.post_body(&path, &body.content_type(), body.bytes(), &[("sec-fetch-site", "cross-site")]).await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN);
    let own = c.post_body(&path, &body.content_type(), body.bytes(), &[("sec-fetch-site", "same-origin")]).await;
    assert_eq!(own.status, StatusCode::SEE_OTHER, "{}", own.body);
    assert_eq!(count(&c, form).await, 1);
}

async fn the_honeypot_looks_like_success_and_keeps_nothing<B: Backend>() {
    let Some(c) = console::<B>(stringify!(the_honeypot_looks_like_success_and_keeps_nothing)).await else {
        return;
    };
    let form = c.published_form("Intake", &intake()).await;
    let body = valid("spam").text("website_url", "http://spam.example").file("6", "card.pdf", b"%PDF");
    let reply = c.post_multipart(&format!("/f/{form}"), &body).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.headers["location"], format!("/f/{form}/thanks"));
    assert_eq!(count(&c, form).await, 0);
    assert_eq!(objects_left(&c), 0);
}

async fn submissions_are_rate_limited_per_client_address<B: Backend>() {
    let Some(c) = console::<B>(stringify!(submissions_are_rate_limited_per_client_address)).await else {
        return;
    };
    let form = c.published_form("Intake", &intake()).await;
    let path = format!("/f/{form}");
    for _ in 0..sealform_http::DEFAULT_PUBLIC_SUBMISSIONS_PER_MINUTE {
        let reply = c.post_body(&path, "text/plain", b"x".to_vec(), &[]).await;
        assert_eq!(reply.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
    let reply = c.post_multipart(&path, &valid("x")).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(reply.body.contains("Too many submissions"));
    assert_eq!(count(&c, form).await, 0);
    c.clock.advance(Duration::minutes(1) + Duration::seconds(1));
    assert_eq!(c.post_multipart(&path, &valid("x")).await.status, StatusCode::SEE_OTHER, "the next minute is open");
}

both!(
    the_page_renders_labels_escapes_text_and_may_be_framed,
    unpublished_unknown_and_malformed_forms_are_not_found,
    a_valid_submission_is_sealed_and_opens_with_its_file,
    refused_submissions_name_the_field_and_leave_nothing,
    the_honeypot_looks_like_success_and_keeps_nothing,
    submissions_are_rate_limited_per_client_address,
);
