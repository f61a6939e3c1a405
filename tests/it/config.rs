//! Configuration: precedence (flag > environment > file > default), redaction, and bad input that must end in one
//! clear line and a non-zero exit.

use crate::support::{assert_one_line_error, client, run_cli, run_cli_env, start, stdout};

fn temp_file(name: &str, contents: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, contents).unwrap();
    let path = path.to_str().unwrap().to_owned();
    (dir, path)
}

fn shown_listen(args: &[&str], env: &[(&str, &str)]) -> String {
    let output = run_cli_env(args, None, env);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let shown = stdout(&output);
    let line = shown.lines().find(|l| l.starts_with("listen = ")).unwrap_or_else(|| panic!("{shown}"));
    line.trim_start_matches("listen = ").trim_matches('"').to_owned()
}

#[test]
fn flags_beat_environment_which_beats_the_file() {
    let (_dir, file) = temp_file("sealform.toml", "listen = \"127.0.0.1:7001\"\n");
    assert_eq!(shown_listen(&["config", "show"], &[]), "127.0.0.1:8080", "default");
    assert_eq!(shown_listen(&["--config", &file, "config", "show"], &[]), "127.0.0.1:7001", "file");
    assert_eq!(
        shown_listen(&["--config", &file, "config", "show"], &[("SEALFORM_LISTEN", "127.0.0.1:7002")]),
        "127.0.0.1:7002",
        "environment over file"
    );
    assert_eq!(
        shown_listen(
            &["--config", &file, "config", "show", "--listen", "127.0.0.1:7003"],
            &[("SEALFORM_LISTEN", "127.0.0.1:7002")]
        ),
        "127.0.0.1:7003",
        "flag over environment"
    );
}

#[test]
fn config_show_redacts_the_database_password() {
    let output = run_cli(&["--database-url", "postgres://sf:s3cr3tpw@db.internal/sealform", "config", "show"], None);
    assert!(output.status.success());
    let shown = stdout(&output);
    assert!(shown.contains("postgres://sf:[redacted]@db.internal/sealform"), "{shown}");
    assert!(!shown.contains("s3cr3tpw"), "{shown}");
}

#[test]
fn unknown_key_in_the_file_is_named() {
    let (_dir, file) = temp_file("sealform.toml", "listen = \"127.0.0.1:8080\"\nlisn = \"typo\"\n");
    let output = run_cli(&["--config", &file, "serve"], None);
    assert_one_line_error(&output, "unknown field `lisn`");
    assert_one_line_error(&output, "line 2");
}

#[test]
fn unparseable_address_is_named() {
    assert_one_line_error(&run_cli(&["serve", "--listen", "localhost:eighty"], None), "listen");
}

#[test]
fn missing_tls_key_file_is_named() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (dir, cert_path) = temp_file("cert.pem", &cert.cert.pem());
    let missing = dir.path().join("missing-key.pem");
    let data = dir.path().join("data");
    let output = run_cli(
        &[
            "--data-dir",
            data.to_str().unwrap(),
            "serve",
            "--tls-cert",
            &cert_path,
            "--tls-key",
            missing.to_str().unwrap(),
        ],
        None,
    );
    assert_one_line_error(&output, "tls_key");
    assert!(!data.exists(), "a bad TLS file must fail before anything is created");
}

#[test]
fn unreachable_database_is_named_without_its_password() {
    let dir = tempfile::tempdir().unwrap();
    let output = run_cli(
        &[
            "--data-dir",
            dir.path().join("data").to_str().unwrap(),
            "--database-url",
            "postgres://sf:s3cr3tpw@127.0.0.1:1/sealform",
            "serve",
            "--db-connect-timeout-secs",
            "2",
        ],
        None,
    );
    assert_one_line_error(&output, "opening the database postgres://sf:[redacted]@127.0.0.1:1/sealform");
    assert!(!String::from_utf8_lossy(&output.stderr).contains("s3cr3tpw"));
}

#[test]
fn unknown_database_scheme_is_refused() {
    assert_one_line_error(&run_cli(&["--database-url", "mysql://h/db", "serve"], None), "unsupported database URL");
}

#[test]
fn plain_http_on_a_public_address_is_refused() {
    assert_one_line_error(&run_cli(&["serve", "--listen", "0.0.0.0:0"], None), "--behind-tls-proxy");
}

#[tokio::test]
async fn behind_a_tls_proxy_plain_http_is_allowed_and_sends_hsts() {
    // Bound to all interfaces, but the test only talks to loopback.
    let server = crate::support::server()
        .args(["--listen", "0.0.0.0:0", "--behind-tls-proxy"])
        .start()
        .unwrap_or_else(|e| panic!("{e}"));
    let port = server.url.rsplit(':').next().unwrap();
    let response = client().get(format!("http://127.0.0.1:{port}/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let hsts = response.headers()["strict-transport-security"].to_str().unwrap();
    assert!(hsts.contains("max-age=31536000"), "{hsts}");
}

#[tokio::test]
async fn json_logs_carry_the_request_id() {
    let server = start(&["--log-format", "json"]);
    let response = client().get(format!("{}/healthz?apiKey=SECRETKEY123", server.url)).send().await.unwrap();
    let request_id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let output = server.output();
    let line = output
        .lines()
        .find(|l| l.contains("request finished") && l.contains(&request_id))
        .unwrap_or_else(|| panic!("no request log line with {request_id}: {output}"));
    let parsed: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(parsed["span"]["path"], "/healthz", "{line}");
    assert_eq!(parsed["span"]["request_id"], request_id.as_str(), "{line}");
    assert!(!output.contains("SECRETKEY123"), "the query string must never be logged");
}

#[test]
fn audit_retention_below_six_years_is_refused() {
    assert_one_line_error(&run_cli(&["serve", "--audit-retention-days", "365"], None), "audit_retention_days");
    let (_dir, file) = temp_file("sealform.toml", "audit_retention_days = 2000\n");
    assert_one_line_error(&run_cli(&["--config", &file, "serve"], None), "six years");
    let shown = stdout(&run_cli(&["config", "show", "--audit-retention-days", "3000"], None));
    assert!(shown.contains("audit_retention_days = 3000"), "{shown}");
}

#[test]
fn account_policy_settings_are_validated_and_shown() {
    let shown =
        stdout(&run_cli(&["config", "show", "--password-expiry-days", "0", "--session-absolute-minutes", "30"], None));
    assert!(shown.contains("password_expiry_days = 0") && shown.contains("session_absolute_minutes = 30"), "{shown}");
    assert_one_line_error(&run_cli(&["serve", "--session-absolute-minutes", "5"], None), "session_absolute_minutes");
}

/// Signs in with a wrong password through `server`, as if a proxy had forwarded the request for `forwarded_for`.
async fn failed_sign_in(server: &str, forwarded_for: &str) {
    let page = client().get(format!("{server}/login")).send().await.unwrap();
    let cookie = page.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let html = page.text().await.unwrap();
    let start = html.find("name=\"csrf\" value=\"").unwrap() + "name=\"csrf\" value=\"".len();
    let csrf = html[start..].split('"').next().unwrap().to_owned();
    let response = client()
        .post(format!("{server}/login"))
        .header("cookie", cookie)
        .header("x-forwarded-for", forwarded_for)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("email=nobody%40x.example&password=wrong-password&csrf={csrf}"))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error(), "{}", response.status());
}

#[tokio::test]
async fn the_forwarded_client_is_audited_only_from_a_trusted_proxy() {
    for (trusted, expected, not_expected) in [(true, "203.0.113.9", "127.0.0.1"), (false, "127.0.0.1", "203.0.113.9")] {
        let temp = tempfile::tempdir().unwrap();
        let data = temp.path().join("data");
        let args: &[&str] = if trusted { &["--trusted-proxy", "127.0.0.1,::1"] } else { &[] };
        let server = crate::support::server()
            .data_dir(&data)
            .args(args.iter().copied())
            .start()
            .unwrap_or_else(|e| panic!("{e}"));
        failed_sign_in(&server.url, "198.51.100.1, 203.0.113.9").await;
        let export =
            crate::support::ok(&crate::support::admin(&data, &["audit", "export", "--action", "login.failure"], None));
        assert_eq!(export.lines().count(), 1, "{export}");
        assert!(export.contains(expected) && !export.contains(not_expected), "trusted: {trusted}: {export}");
        assert!(!export.contains("198.51.100.1"), "only the address our proxy saw, never the client's own claim");
    }
}

#[test]
fn trusted_proxies_are_shown_and_a_bad_one_is_named() {
    let (_dir, file) = temp_file("sealform.toml", "trusted_proxies = [\"10.0.0.0/8\", \"::1\"]\n");
    let shown = stdout(&run_cli(&["--config", &file, "config", "show"], None));
    assert!(shown.contains("trusted_proxies = [\"10.0.0.0/8\", \"::1/128\"]"), "{shown}");
    let flagged = stdout(&run_cli(&["--config", &file, "config", "show", "--trusted-proxy", "192.0.2.1"], None));
    assert!(flagged.contains("\"192.0.2.1/32\"") && !flagged.contains("10.0.0.0/8"), "the flag wins: {flagged}");
    assert_one_line_error(&run_cli(&["serve", "--trusted-proxy", "proxy.example"], None), "trusted_proxies");
}
