//! `sealform audit verify|export|public-key` through the binary, on a real data dir.

use std::path::Path;

use sqlx::Connection as _;

use crate::support::{admin, ok};

const PASSWORD: &str = "correct horse battery staple\n";

fn setup(dir: &Path) {
    ok(&admin(
        dir,
        &["admin", "bootstrap", "--org", "Riverside", "--email", "o@r.example", "--password-stdin"],
        Some(PASSWORD),
    ));
    ok(&admin(
        dir,
        &["admin", "org", "create", "--name", "Harbor", "--owner-email", "h@h.example", "--password-stdin"],
        Some(PASSWORD),
    ));
    ok(&admin(dir, &["keys", "rotate", "--org", "Harbor"], None));
}

#[test]
fn verify_reports_ok_and_export_opens_every_entry() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("data");
    setup(&dir);
    assert_eq!(ok(&admin(&dir, &["audit", "verify"], None)).trim(), "ok: 5 entries");

    let export = ok(&admin(&dir, &["audit", "export"], None));
    let lines: Vec<serde_json::Value> = export.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let actions: Vec<&str> = lines.iter().map(|l| l["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        ["installation.bootstrap", "org.create", "org.create", "key.rotate", "key.retire", "audit.export"],
        "the export records itself"
    );
    assert_eq!(lines[0]["actor"]["kind"], "operator");
    assert_eq!(lines[1]["targets"][0]["kind"], "organisation");

    let none = ok(&admin(&dir, &["audit", "export", "--from", "2999-01-01T00:00:00Z"], None));
    assert!(none.is_empty(), "{none}");
    let bad = admin(&dir, &["audit", "export", "--from", "yesterday"], None);
    crate::support::assert_one_line_error(&bad, "RFC 3339");

    let harbor_id = lines[2]["targets"][0]["id"].as_str().unwrap().to_owned();
    let history = ok(&admin(&dir, &["audit", "export", "--target", &harbor_id], None));
    let history: Vec<serde_json::Value> = history.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let history: Vec<&str> = history.iter().map(|l| l["action"].as_str().unwrap()).collect();
    assert_eq!(history, ["org.create", "key.rotate", "key.retire"], "everything that touched Harbor");
    let only = ok(&admin(&dir, &["audit", "export", "--action", "key.rotate"], None));
    assert_eq!(only.lines().count(), 1, "{only}");
    crate::support::assert_one_line_error(
        &admin(&dir, &["audit", "export", "--action", "nope"], None),
        "unknown audit action",
    );

    let key = ok(&admin(&dir, &["audit", "public-key"], None));
    assert_eq!(key.trim().len(), 64, "{key}");
}

#[tokio::test]
async fn verify_names_the_first_tampered_entry_and_exits_non_zero() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("data");
    setup(&dir);
    let mut raw =
        sqlx::SqliteConnection::connect(&format!("sqlite://{}", dir.join("sealform.db").display())).await.unwrap();
    sqlx::raw_sql("DROP TRIGGER audit_events_no_update; UPDATE audit_events SET outcome = 'denied' WHERE seq = 3;")
        .execute(&mut raw)
        .await
        .unwrap();
    raw.close().await.unwrap();
    let out = admin(&dir, &["audit", "verify"], None);
    crate::support::assert_one_line_error(&out, "audit chain broken at entry 3: modified");
    assert_eq!(ok(&admin(&dir, &["audit", "verify", "--from", "4"], None)).trim(), "ok: 2 entries");
}
