//! `sealform serve` on an empty data dir: health, readiness, the master key and its permissions.

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};

use crate::support::{client, server, start};

#[tokio::test]
async fn empty_data_dir_serves_health_and_readiness_with_a_private_key() {
    let server = start(&[]);
    let health = client().get(format!("{}/healthz", server.url)).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.json::<serde_json::Value>().await.unwrap()["status"], "ok");

    let ready = client().get(format!("{}/readyz", server.url)).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!((body["status"].as_str(), body["database"].as_str()), (Some("ready"), Some("sqlite")));

    let dir = server.data_dir();
    assert_eq!(std::fs::metadata(dir).unwrap().mode() & 0o777, 0o700);
    let key = dir.join("master.key");
    assert_eq!(std::fs::metadata(&key).unwrap().mode() & 0o777, 0o600);
    assert!(std::fs::read_to_string(&key).unwrap().starts_with("sealform-master-key-v1:"));
}

#[tokio::test]
async fn restart_reuses_the_master_key() {
    let mut first = start(&[]);
    let key_path = first.data_dir().join("master.key");
    let key = std::fs::read(&key_path).unwrap();
    let temp = first.take_temp_dir();
    let data_dir = first.data_dir().to_path_buf();
    first.terminate();
    assert!(first.wait_exit(std::time::Duration::from_secs(20)).is_some_and(|s| s.success()));

    let second = server().data_dir(&data_dir).start().unwrap();
    assert_eq!(std::fs::read(&key_path).unwrap(), key, "the key must survive a restart unchanged");
    let ready = client().get(format!("{}/readyz", second.url)).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    drop(temp);
}

#[test]
fn world_readable_key_file_is_refused_with_a_clear_message() {
    let mut first = start(&[]);
    let temp = first.take_temp_dir();
    let data_dir = first.data_dir().to_path_buf();
    first.kill();
    let key_path = data_dir.join("master.key");
    std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o644)).unwrap();

    let err = server().data_dir(&data_dir).start().map(|_| ()).unwrap_err();
    assert!(err.contains("readable by group or others") && err.contains("chmod 600"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    drop(temp);
}

#[tokio::test]
async fn home_page_guides_the_operator_to_bootstrap() {
    let server = start(&[]);
    let page = client().get(&server.url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let html = page.text().await.unwrap();
    assert!(html.contains("sealform admin bootstrap"), "{html}");
}
