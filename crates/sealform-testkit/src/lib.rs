//! Test harness shared by the workspace's test suites.
//!
//! - [`postgres`]: one throwaway PostgreSQL cluster per test binary (initdb + pg_ctl on a free port, its own socket
//!   dir; as the `postgres` OS user when running as root), one fresh database per test, torn down when the test
//!   process exits, even when it is killed.
//! - [`server`]: the real `sealform` binary serving on 127.0.0.1:0 over a temp data dir.

pub mod fixtures;
pub mod postgres;
pub mod server;

/// Whether this run is CI, where nothing may be skipped.
#[must_use]
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Prints a notice that libtest does not capture, so a skip is visible in the run's output.
pub fn visible_notice(message: &str) {
    use std::io::Write as _;
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "\n*** {message} ***");
}
