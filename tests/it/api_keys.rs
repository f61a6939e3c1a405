//! API keys through the binary: created by the CLI and shown once, used as bearer tokens, narrowed to the user's
//! role, refused once revoked or when the user is deactivated.

use crate::support::{admin, assert_one_line_error, client, ok, start};

const PASSWORD: &str = "correct horse battery staple\n";

#[tokio::test]
async fn keys_work_as_bearer_tokens_until_revoked() {
    let server = start(&[]);
    let dir = server.data_dir().to_path_buf();
    ok(&admin(
        &dir,
        &["admin", "bootstrap", "--org", "Clinic", "--email", "o@c.example", "--password-stdin"],
        Some(PASSWORD),
    ));
    let key = ok(&admin(
        &dir,
        &["api-key", "create", "--email", "o@c.example", "--name", "etl", "--scope", "read,export", "--scope", "read"],
        None,
    ));
    let key = key.trim().to_owned();
    assert!(key.starts_with("sf_") && key.len() > 50, "{key}");
    let prefix = key[..13].to_owned();
    assert_eq!(&key[13..14], "_");

    let me = client().get(format!("{}/api/v1/me", server.url)).bearer_auth(&key).send().await.unwrap();
    assert_eq!(me.status(), 200);
    let body: serde_json::Value = me.json().await.unwrap();
    assert_eq!(body["scopes"], serde_json::json!(["read", "export"]));
    assert_eq!(body["key_prefix"], prefix.as_str());

    for bad in ["", "sf_nope_nope", &format!("{prefix}_wrongsecret"), "Basic abc"] {
        let reply = client()
            .get(format!("{}/api/v1/me", server.url))
            .header("authorization", format!("Bearer {bad}"))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 401, "{bad:?}");
        assert_eq!(reply.headers()["www-authenticate"], "Bearer");
        assert_eq!(reply.headers()["content-type"], "application/problem+json");
    }
    let none = client().get(format!("{}/api/v1/me", server.url)).send().await.unwrap();
    assert_eq!(none.status(), 401);

    ok(&admin(&dir, &["api-key", "revoke", "--org", "Clinic", "--prefix", &prefix], None));
    let revoked = client().get(format!("{}/api/v1/me", server.url)).bearer_auth(&key).send().await.unwrap();
    assert_eq!(revoked.status(), 401);

    let export = ok(&admin(&dir, &["audit", "export", "--action", "api_key.create"], None));
    assert!(!export.contains(&key), "the key never reaches the audit trail");
    assert!(!server.output().contains(&key[prefix.len() + 1..]), "the secret part never reaches the logs");
}

#[tokio::test]
async fn a_key_never_grants_more_than_its_user_has() {
    let server = start(&[]);
    let dir = server.data_dir().to_path_buf();
    ok(&admin(
        &dir,
        &["admin", "bootstrap", "--org", "Clinic", "--email", "o@c.example", "--password-stdin"],
        Some(PASSWORD),
    ));
    ok(&admin(
        &dir,
        &[
            "admin",
            "user",
            "add",
            "--org",
            "Clinic",
            "--email",
            "rev@c.example",
            "--role",
            "reviewer",
            "--password-stdin",
        ],
        Some(PASSWORD),
    ));
    let too_much =
        admin(&dir, &["api-key", "create", "--email", "rev@c.example", "--name", "x", "--scope", "admin"], None);
    assert_one_line_error(&too_much, "may not hold the admin scope");
    let unknown =
        admin(&dir, &["api-key", "create", "--email", "rev@c.example", "--name", "x", "--scope", "everything"], None);
    assert_one_line_error(&unknown, "unknown scope");

    let key = ok(&admin(
        &dir,
        &["api-key", "create", "--email", "rev@c.example", "--name", "reader", "--scope", "read"],
        None,
    ));
    let key = key.trim();
    assert_eq!(client().get(format!("{}/api/v1/me", server.url)).bearer_auth(key).send().await.unwrap().status(), 200);
    ok(&admin(&dir, &["admin", "user", "deactivate", "--email", "rev@c.example"], None));
    let after = client().get(format!("{}/api/v1/me", server.url)).bearer_auth(key).send().await.unwrap();
    assert_eq!(after.status(), 401, "a deactivated user's keys stop working at once");
}
