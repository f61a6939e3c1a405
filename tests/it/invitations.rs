//! Invitations: the CLI e-mails a single-use link (here into `<data dir>/mail`), the invitee sets a password on the
//! linked page and is a member; the link works once and never reaches the logs.

use crate::support::{admin, client, ok, start};

const PASSWORD: &str = "correct horse battery staple\n";

/// The invitation link in the only message in the mail directory (quoted-printable soft breaks undone).
pub fn link_in_mail(dir: &std::path::Path) -> String {
    let files: Vec<_> = std::fs::read_dir(dir.join("mail")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let raw = std::fs::read_to_string(&files[0]).unwrap().replace("=\r\n", "").replace("=\n", "").replace("=3D", "=");
    let start = raw.find("http://").expect("a link in the message");
    raw[start..].split_whitespace().next().unwrap().to_owned()
}

#[tokio::test]
async fn an_invitee_sets_a_password_through_a_single_use_link() {
    let server = start(&[]);
    let dir = server.data_dir().to_path_buf();
    ok(&admin(
        &dir,
        &["admin", "bootstrap", "--org", "Clinic", "--email", "o@c.example", "--password-stdin"],
        Some(PASSWORD),
    ));
    let sent = ok(&admin(
        &dir,
        &[
            "--public-url",
            &server.url,
            "admin",
            "user",
            "invite",
            "--org",
            "Clinic",
            "--email",
            "New@C.example",
            "--role",
            "reviewer",
        ],
        None,
    ));
    assert!(sent.contains("sent to New@C.example"), "{sent}");
    let link = link_in_mail(&dir);
    assert!(link.starts_with(&format!("{}/invite/", server.url)), "{link}");
    let token = link.rsplit('/').next().unwrap().to_owned();

    let page = client().get(&link).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let cookie = page.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let html = page.text().await.unwrap();
    assert!(html.contains("new@c.example") && html.contains("reviewer"), "{html}");
    let start = html.find("name=\"csrf\" value=\"").unwrap() + "name=\"csrf\" value=\"".len();
    let csrf = html[start..].split('"').next().unwrap().to_owned();
    let post = |password: &str| {
        client()
            .post(&link)
            .header("cookie", &cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("csrf={}&password={}", encode(&csrf), encode(password)))
            .send()
    };
    assert_eq!(post("short").await.unwrap().status(), 422, "the password policy applies");
    let accepted = post("the invitee's own passphrase").await.unwrap();
    assert_eq!(accepted.status(), 303);
    assert_eq!(accepted.headers()["location"], "/login");
    assert_eq!(client().get(&link).send().await.unwrap().status(), 404, "the link works once");
    assert_eq!(post("another passphrase here").await.unwrap().status(), 404);

    // The invitee is a reviewer now: a reviewer may hold a read key, not an admin one.
    ok(&admin(&dir, &["api-key", "create", "--email", "new@c.example", "--name", "k", "--scope", "read"], None));
    let output = server.output();
    assert!(output.contains("/invite/[redacted]"), "{output}");
    assert!(!output.contains(&token), "the invitation token must not reach the logs");
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }
        })
        .collect()
}
