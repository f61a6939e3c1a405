//! Jotform's official Python client (PyPI `jotform`, pinned, unchanged) against the real binary: the script in
//! `tests/jotform/client_test.py` drives user, forms, questions, submissions, webhooks, properties, folders and
//! history through `http://127.0.0.1:PORT/jotform/`. The client is installed into a virtual environment kept under
//! the target directory. Skipped with a visible notice when python3 or its venv module is missing, except under CI.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{admin, client, ok, start};

/// The client version the test pins (PyPI's latest; its code is the GitHub repository's `jotform.py`).
const CLIENT: &str = "jotform==1.2";

/// A virtual environment with the client installed, or why there cannot be one.
fn venv() -> Result<PathBuf, String> {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("jotform-venv");
    let python = dir.join("bin/python");
    let installed = || Command::new(&python).args(["-c", "import jotform"]).output().is_ok_and(|o| o.status.success());
    if installed() {
        return Ok(python);
    }
    if Command::new("python3").arg("--version").output().is_err() {
        return Err("python3 is not installed (apt-get install python3 python3-venv)".into());
    }
    let made = Command::new("python3").args(["-m", "venv", "--clear"]).arg(&dir).output().map_err(|e| e.to_string())?;
    if !made.status.success() {
        return Err(format!(
            "python3 -m venv failed (apt-get install python3-venv): {}",
            String::from_utf8_lossy(&made.stderr).trim()
        ));
    }
    let pip = Command::new(&python)
        .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", CLIENT])
        .output()
        .map_err(|e| e.to_string())?;
    // A venv exists but the registry could not be reached: that is a failure, not a skip.
    assert!(pip.status.success(), "pip install {CLIENT} failed: {}", String::from_utf8_lossy(&pip.stderr));
    assert!(installed(), "{CLIENT} installed but does not import");
    Ok(python)
}

#[tokio::test]
async fn the_official_python_client_works_unchanged() {
    let python = match venv() {
        Ok(python) => python,
        Err(missing) => {
            assert!(!sealform_testkit::in_ci(), "the Jotform client test cannot run under CI: {missing}");
            sealform_testkit::visible_notice(&format!("SKIPPED Jotform Python client test: {missing}"));
            return;
        }
    };
    let server = start(&[]);
    let dir = server.data_dir().to_path_buf();
    ok(&admin(
        &dir,
        &["admin", "bootstrap", "--org", "Py Clinic", "--email", "owner@py.example", "--password-stdin"],
        Some("a python test passphrase\n"),
    ));
    let key = ok(&admin(
        &dir,
        &[
            "api-key",
            "create",
            "--email",
            "owner@py.example",
            "--name",
            "python",
            "--scope",
            "read,submit,write,export,admin",
        ],
        None,
    ));
    let key = key.trim().to_owned();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/jotform/client_test.py");
    let run = Command::new(&python)
        .arg(&script)
        .arg(format!("{}/jotform/", server.url))
        .arg(&key)
        .output()
        .expect("run the client script");
    let stdout = String::from_utf8_lossy(&run.stdout);
    println!("{stdout}");
    assert!(
        run.status.success(),
        "the Python client script failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(stdout.contains("jotform client: ") && stdout.contains(" checks passed"), "{stdout}");

    // The key in the query string (Jotform's other way) works, and never reaches the request log.
    let reply = client().get(format!("{}/jotform/v1/user?apiKey={key}", server.url)).send().await.unwrap();
    assert_eq!(reply.status(), 200);
    let secret = &key[14..];
    assert!(!server.output().contains(secret), "the key's secret never reaches the logs");
}

#[tokio::test]
async fn the_query_string_key_can_be_turned_off() {
    let server = start(&["--jotform-query-api-key", "false"]);
    let dir = server.data_dir().to_path_buf();
    ok(&admin(
        &dir,
        &["admin", "bootstrap", "--org", "Q Clinic", "--email", "owner@q.example", "--password-stdin"],
        Some("a query test passphrase\n"),
    ));
    let key =
        ok(&admin(&dir, &["api-key", "create", "--email", "owner@q.example", "--name", "q", "--scope", "read"], None));
    let key = key.trim();
    let by_query = client().get(format!("{}/jotform/user?apiKey={key}", server.url)).send().await.unwrap();
    assert_eq!(by_query.status(), 401);
    let body: serde_json::Value = by_query.json().await.unwrap();
    assert_eq!(body["responseCode"], 401);
    let by_header = client().get(format!("{}/jotform/user", server.url)).header("APIKEY", key).send().await.unwrap();
    assert_eq!(by_header.status(), 200);
}
