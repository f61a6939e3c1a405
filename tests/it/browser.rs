//! Runs the browser tests in tests/browser (node's test runner, playwright-core, Debian's Chromium) against a real
//! server. Skipped with a visible notice when Node, Chromium or the npm packages are missing, except under CI.

use std::path::Path;
use std::process::Command;

const CHROMIUM: &str = "/usr/bin/chromium";

fn missing_tools(dir: &Path) -> Option<String> {
    if Command::new("node").arg("--version").output().is_err() {
        return Some("node is not installed".into());
    }
    if !Path::new(CHROMIUM).exists() {
        return Some(format!("{CHROMIUM} is not installed (apt-get install chromium)"));
    }
    if !dir.join("node_modules/playwright-core").exists() {
        return Some("tests/browser/node_modules is missing (npm ci --prefix tests/browser)".into());
    }
    None
}

#[test]
fn browser_suite_passes() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    if let Some(missing) = missing_tools(&dir) {
        assert!(!sealform_testkit::in_ci(), "browser tests cannot run under CI: {missing}");
        sealform_testkit::visible_notice(&format!("SKIPPED browser tests: {missing}"));
        return;
    }
    // The demo seeds the public-form tests' forms; the other tests use their own organisation beside it.
    // WebAuthn refuses IP addresses as relying-party ids: the public URL says localhost, on a port chosen first.
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
    let localhost = format!("http://localhost:{port}");
    let listen = format!("127.0.0.1:{port}");
    let server = crate::support::server()
        .demo()
        .args(["--listen", listen.as_str(), "--public-url", localhost.as_str()])
        .start()
        .unwrap_or_else(|e| panic!("{e}"));
    let demo_output = server.output();
    let demo_form = |title: &str| -> String {
        let line = demo_output.lines().find(|l| l.contains(&format!("{title}: "))).expect("the demo lists its forms");
        let id = line.split("/f/").nth(1).and_then(|rest| rest.split_whitespace().next()).expect("form id");
        format!("{}/f/{id}", server.url)
    };
    let (email, password) = ("owner@browser.example", "a browser test passphrase");
    let boot = crate::support::admin(
        server.data_dir(),
        &["admin", "org", "create", "--name", "Browser Clinic", "--owner-email", email, "--password-stdin"],
        Some(&format!("{password}\n")),
    );
    assert!(boot.status.success(), "{}", String::from_utf8_lossy(&boot.stderr));
    // The TOTP user arrives by invitation: the browser test follows the e-mailed link.
    let mfa_email = "mfa@browser.example";
    let invited = crate::support::admin(
        server.data_dir(),
        &[
            "--public-url",
            &server.url,
            "admin",
            "user",
            "invite",
            "--org",
            "Browser Clinic",
            "--email",
            mfa_email,
            "--role",
            "reviewer",
        ],
        None,
    );
    assert!(invited.status.success(), "{}", String::from_utf8_lossy(&invited.stderr));
    let invite_link = crate::invitations::link_in_mail(server.data_dir());
    // The passkey user can log in at once; the nurse of the access test is a reviewer with no grant.
    let add_reviewer = |new_email: &str| {
        let added = crate::support::admin(
            server.data_dir(),
            &[
                "admin",
                "user",
                "add",
                "--org",
                "Browser Clinic",
                "--email",
                new_email,
                "--role",
                "reviewer",
                "--password-stdin",
            ],
            Some(&format!("{password}\n")),
        );
        assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    };
    let passkey_email = "passkey@browser.example";
    add_reviewer(passkey_email);
    let nurse_email = "nurse@browser.example";
    add_reviewer(nurse_email);
    let output = Command::new("node")
        .args(["--test", "--test-reporter=spec", "--test-concurrency=1"])
        .arg(dir.join("home.test.mjs"))
        .arg(dir.join("login.test.mjs"))
        .arg(dir.join("mfa.test.mjs"))
        .arg(dir.join("builder.test.mjs"))
        .arg(dir.join("public_form.test.mjs"))
        .arg(dir.join("flow.test.mjs"))
        .arg(dir.join("webauthn.test.mjs"))
        .arg(dir.join("access.test.mjs"))
        .env("SEALFORM_INTAKE_URL", demo_form("Patient intake"))
        .env("SEALFORM_CONSENT_URL", demo_form("Consent to treatment"))
        .env("SEALFORM_MFA_EMAIL", mfa_email)
        .env("SEALFORM_INVITE_LINK", &invite_link)
        .env("SEALFORM_URL", &server.url)
        .env("SEALFORM_WEBAUTHN_URL", &localhost)
        .env("SEALFORM_PASSKEY_EMAIL", passkey_email)
        .env("SEALFORM_NURSE_EMAIL", nurse_email)
        .env("SEALFORM_EMAIL", email)
        .env("SEALFORM_PASSWORD", password)
        .current_dir(&dir)
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "browser tests failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("pass 12"), "expected 12 passing browser tests:\n{stdout}");
}
