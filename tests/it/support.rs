//! Shared helpers for the integration tests.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use sealform_testkit::server::{ServerBuilder, TestServer};

/// The binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_sealform")
}

/// A server builder for the binary under test.
pub fn server() -> ServerBuilder {
    ServerBuilder::new(bin())
}

/// Starts a server with `args` after `serve`, panicking with its output if it fails.
pub fn start(args: &[&str]) -> TestServer {
    server().args(args.iter().copied()).start().unwrap_or_else(|e| panic!("{e}"))
}

/// Runs `sealform ARGS` with an optional stdin and a clean environment for Sealform's variables.
pub fn run_cli(args: &[&str], stdin: Option<&str>) -> Output {
    run_cli_env(args, stdin, &[])
}

/// As [`run_cli`], with extra environment variables.
pub fn run_cli_env(args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(bin());
    for (key, _) in std::env::vars() {
        if key.starts_with("SEALFORM_") {
            command.env_remove(key);
        }
    }
    let mut child = command
        .envs(env.iter().copied())
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run sealform");
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    }
    child.wait_with_output().unwrap()
}

/// Runs an admin command against a data dir (and optional database URL).
pub fn admin(data_dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut full = vec!["--data-dir", data_dir.to_str().unwrap()];
    full.extend_from_slice(args);
    run_cli(&full, stdin)
}

/// Asserts a failed run printed exactly one line, `error: …`, containing `needle`, and no panic or backtrace.
pub fn assert_one_line_error(output: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "expected failure, got success; stderr: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line on stderr, got: {stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    assert!(lines[0].contains(needle), "expected {needle:?} in: {stderr}");
    assert!(!stderr.contains("panicked") && !stderr.contains("backtrace"), "{stderr}");
}

/// A plain HTTP client that never follows redirects (so tests see them) and trusts nothing extra.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// The standard output of a run that must have succeeded (its stderr shown when it did not).
pub fn ok(output: &Output) -> String {
    assert!(output.status.success(), "stderr: {}", String::from_utf8_lossy(&output.stderr));
    stdout(output)
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}
