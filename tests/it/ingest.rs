//! Ingest through the real binary: acknowledged submissions survive kill -9 during concurrent ingest, and answers and
//! file contents never reach the database, its WAL, the object files or the logs in the clear.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sealform_core::audit::{AuditCtx, AuditScope, load_or_create_auditor};
use sealform_core::keys::{Keyring, MasterKeys};
use sealform_core::org::OrgName;
use sealform_core::sealing::{find_by_index, read_submission};
use sealform_core::store::{OrganisationStore as _, Store as _};
use sealform_crypto::MasterKey;
use sealform_store::{SqliteOptions, SqliteStore};

use crate::support::{client, server};

/// Starts `sealform demo` (no submission limit) and returns the server and the intake form's public URL.
fn demo_server(dir: Option<&std::path::Path>) -> (sealform_testkit::server::TestServer, String) {
    let mut builder = server().demo().args(["--public-submissions-per-minute", "1000000"]);
    if let Some(dir) = dir {
        builder = builder.data_dir(dir);
    }
    let server = builder.start().unwrap_or_else(|e| panic!("{e}"));
    let output = server.output();
    let line = output.lines().find(|l| l.contains("Patient intake: ")).expect("the demo prints the intake link");
    let id = line.split("/f/").nth(1).and_then(|rest| rest.split_whitespace().next()).expect("form id");
    let url = format!("{}/f/{id}", server.url);
    (server, url)
}

/// A valid intake submission whose name and e-mail carry `marker`.
fn intake(marker: &str) -> reqwest::multipart::Form {
    reqwest::multipart::Form::new()
        .text("2_first", "Crash")
        .text("2_last", marker.to_owned())
        .text("3", "1990-01-01")
        .text("4", format!("{marker}@crash.example"))
        .text("6", format!("reason {marker}"))
        .text("7", "No")
}

/// Opens the demo clinic's store over a stopped server's data dir.
async fn open_store(data: &std::path::Path) -> (SqliteStore, Keyring<SqliteStore>, MasterKeys) {
    let store = SqliteStore::open(&data.join("sealform.db"), &SqliteOptions::default()).await.unwrap();
    let text = std::fs::read_to_string(data.join("master.key")).unwrap();
    let masters = MasterKeys::single(Arc::new(MasterKey::parse(&text).unwrap()));
    (store.clone(), Keyring::new(store, masters.clone()), masters)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_submissions_survive_kill_9_during_concurrent_ingest() {
    let (mut first, url) = demo_server(None);
    let temp = first.take_temp_dir().unwrap();
    let data = first.data_dir().to_path_buf();
    let acked = Arc::new(Mutex::new(Vec::new()));
    let clients: Vec<_> = (0..8)
        .map(|c| {
            let (url, acked) = (url.clone(), Arc::clone(&acked));
            tokio::spawn(async move {
                let http = client();
                for n in 0.. {
                    let marker = format!("c{c}n{n}");
                    match http.post(&url).multipart(intake(&marker)).send().await {
                        Ok(reply) if reply.status() == 303 => acked.lock().unwrap().push(marker),
                        Ok(reply) => panic!("submission refused: {} {}", reply.status(), reply.text().await.unwrap()),
                        Err(_) => return, // the server is gone
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    first.kill();
    for task in clients {
        task.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 8, "the load ran: {} acknowledged", acked.len());

    // The server starts again over the crashed data, then stops cleanly.
    let (mut second, _) = demo_server(Some(&data));
    second.terminate();
    assert!(second.wait_exit(Duration::from_secs(30)).is_some_and(|s| s.success()), "{}", second.output());

    let (store, keyring, masters) = open_store(&data).await;
    let now = time::OffsetDateTime::now_utc();
    let auditor = load_or_create_auditor(&store, &masters, now).await.unwrap();
    let scope = AuditScope::operator();
    let audit = AuditCtx { auditor: &auditor, scope: &scope };
    let org = store.organisation_by_name(&OrgName::parse("Demo Clinic").unwrap()).await.unwrap().unwrap();
    let form =
        store.tenant(org.id).forms_of().await.unwrap().into_iter().find(|f| f.title == "Patient intake").unwrap();
    for marker in &acked {
        let email = format!("{marker}@crash.example");
        let found = find_by_index(&store, &keyring, audit, org.id, form.id, "4", email.as_bytes()).await.unwrap();
        assert_eq!(found.len(), 1, "acknowledged submission {marker} is missing after kill -9");
        let answers = read_submission(&store, &keyring, audit, org.id, found[0], None, now).await.unwrap().unwrap();
        assert_eq!(answers["2_last"].as_slice(), marker.as_bytes(), "intact");
        assert_eq!(answers["6"].as_slice(), format!("reason {marker}").as_bytes());
    }
    store.close().await;
    drop(temp);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_and_file_contents_never_reach_disk_or_logs_in_the_clear() {
    let (mut server, url) = demo_server(None);
    let temp = server.take_temp_dir().unwrap();
    let data = server.data_dir().to_path_buf();
    let canaries = ["CanaryName7f3a", "canary-mail-91c2", "CanaryReason0d5e", "CanaryFile4b8d", "CanaryApi5e1c"];
    let file = format!("%PDF-1.4 {} insurance card", canaries[3]).into_bytes();
    let form = reqwest::multipart::Form::new()
        .text("2_first", "Ada")
        .text("2_last", canaries[0])
        .text("3", "1990-01-01")
        .text("4", format!("{}@example.org", canaries[1]))
        .text("6", canaries[2])
        .text("7", "No")
        .part("12", reqwest::multipart::Part::bytes(file).file_name("card.pdf").mime_str("application/pdf").unwrap());
    let reply = client().post(&url).multipart(form).send().await.unwrap();
    assert_eq!(reply.status(), 303, "{}", reply.text().await.unwrap());
    // A refused submission (bad date) must not leak its values either.
    let refused = intake(canaries[0]).text("3", "not a date");
    assert_eq!(client().post(&url).multipart(refused).send().await.unwrap().status(), 422);
    // The native API: a submission with an idempotency key, a replay of it, and a refused one; none leaks either.
    let key = crate::support::ok(&crate::support::admin(
        &data,
        &["api-key", "create", "--email", "demo@sealform.example", "--name", "canary", "--scope", "submit"],
        None,
    ));
    let form_id = url.rsplit('/').next().unwrap();
    let api = format!("{}/api/v1/forms/{form_id}/submissions", url.split("/f/").next().unwrap());
    let body = serde_json::json!({ "answers": {
        "2_first": "Api", "2_last": canaries[4], "3": "1990-01-01", "4": "api@example.org", "6": "api", "7": "No"
    } });
    for expected in [201, 201] {
        let reply =
            client().post(&api).bearer_auth(key.trim()).header("idempotency-key", "canary-1").json(&body).send();
        let reply = reply.await.unwrap();
        assert_eq!(reply.status(), expected);
        assert!(!reply.text().await.unwrap().contains(canaries[4]), "answers are never echoed");
    }
    let bad = serde_json::json!({ "answers": { "2_first": canaries[4], "3": canaries[4] } });
    let refused = client().post(&api).bearer_auth(key.trim()).json(&bad).send().await.unwrap();
    assert_eq!(refused.status(), 422);
    assert!(!refused.text().await.unwrap().contains(canaries[4]), "a refusal names fields, never their values");
    server.terminate();
    assert!(server.wait_exit(Duration::from_secs(30)).is_some_and(|s| s.success()));

    let (store, keyring, _) = open_store(&data).await;
    let org = store.organisation_by_name(&OrgName::parse("Demo Clinic").unwrap()).await.unwrap().unwrap();
    let intake_form =
        store.tenant(org.id).forms_of().await.unwrap().into_iter().find(|f| f.title == "Patient intake").unwrap();
    assert_eq!(
        store.tenant(org.id).count_submissions(intake_form.id).await.unwrap(),
        5,
        "three demo rows, the page's, the API's once"
    );
    drop(keyring);
    store.close().await;

    let mut haystacks: Vec<(String, Vec<u8>)> = vec![("server output".into(), server.output().into_bytes())];
    for entry in walk(&data) {
        haystacks.push((entry.display().to_string(), std::fs::read(&entry).unwrap()));
    }
    assert!(haystacks.iter().any(|(name, _)| name.contains("objects")), "the upload was stored as an object");
    for (name, bytes) in &haystacks {
        for canary in canaries {
            let needle = canary.as_bytes();
            let lower = canary.to_lowercase();
            let hit = bytes.windows(needle.len()).any(|w| w == needle || w == lower.as_bytes());
            assert!(!hit, "{canary} found in the clear in {name}");
        }
    }
    drop(temp);
}

/// Every file under `dir`, recursively.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().map(Result::unwrap) {
        let path = entry.path();
        if path.is_dir() { files.extend(walk(&path)) } else { files.push(path) }
    }
    files
}
