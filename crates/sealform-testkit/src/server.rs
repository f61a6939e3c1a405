//! The real server, started as a child process on 127.0.0.1:0 over a temp data dir.

use std::io::{BufRead as _, BufReader, Read as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The line prefix `sealform serve` prints on stdout once it accepts connections.
pub const LISTENING_PREFIX: &str = "sealform listening on ";

/// A running `sealform serve`. Killed on drop.
pub struct TestServer {
    /// `http://127.0.0.1:PORT` or `https://…`.
    pub url: String,
    child: Child,
    output: Arc<Mutex<Vec<u8>>>,
    data_dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
}

/// How to start the server.
pub struct ServerBuilder {
    binary: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    data_dir: Option<PathBuf>,
    subcommand: &'static str,
}

impl ServerBuilder {
    /// `binary` is the `sealform` executable (`env!("CARGO_BIN_EXE_sealform")` in integration tests).
    #[must_use]
    pub fn new(binary: impl Into<PathBuf>) -> Self {
        Self { binary: binary.into(), args: Vec::new(), env: Vec::new(), data_dir: None, subcommand: "serve" }
    }

    /// Extra arguments after `serve`.
    #[must_use]
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// An environment variable for the child.
    #[must_use]
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Start with `demo` (seed, then serve) instead of `serve`.
    #[must_use]
    pub fn demo(mut self) -> Self {
        self.subcommand = "demo";
        self
    }

    /// Serve over this data dir instead of a fresh temp dir (for restarts).
    #[must_use]
    pub fn data_dir(mut self, dir: &Path) -> Self {
        self.data_dir = Some(dir.to_path_buf());
        self
    }

    /// Starts the server and waits until it listens.
    ///
    /// # Errors
    /// The server's combined output when it exits or stays silent for 60 s.
    pub fn start(self) -> Result<TestServer, String> {
        let (temp, data_dir) = match self.data_dir {
            Some(dir) => (None, dir),
            None => {
                let temp = tempfile::Builder::new().prefix("sealform-test-").tempdir().map_err(|e| e.to_string())?;
                let dir = temp.path().join("data");
                (Some(temp), dir)
            }
        };
        // A free loopback port unless the test chose its own address.
        let default_listen: &[&str] =
            if self.args.iter().any(|a| a == "--listen") { &[] } else { &["--listen", "127.0.0.1:0"] };
        let mut child = Command::new(&self.binary)
            .arg("--data-dir")
            .arg(&data_dir)
            .arg(self.subcommand)
            .args(default_listen)
            .args(&self.args)
            // The caller's environment must not leak in; the test's own variables are set after.
            .env_remove("SEALFORM_DATABASE_URL")
            .env_remove("SEALFORM_MASTER_KEY")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("starting {}: {e}", self.binary.display()))?;
        let output = Arc::new(Mutex::new(Vec::new()));
        let (url_tx, url_rx) = mpsc::channel();
        if let Some(stdout) = child.stdout.take() {
            let output = Arc::clone(&output);
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    if let Some(url) = line.strip_prefix(LISTENING_PREFIX) {
                        let _ = url_tx.send(url.trim().to_owned());
                    }
                    append(&output, line.as_bytes());
                }
            });
        }
        if let Some(mut stderr) = child.stderr.take() {
            let output = Arc::clone(&output);
            std::thread::spawn(move || {
                let mut buf = [0u8; 8192];
                while let Ok(n) = stderr.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    if let Ok(mut out) = output.lock() {
                        out.extend_from_slice(&buf[..n]);
                    }
                }
            });
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(url) = url_rx.recv_timeout(Duration::from_millis(50)) {
                return Ok(TestServer { url, child, output, data_dir, _temp: temp });
            }
            if let Ok(Some(status)) = child.try_wait() {
                std::thread::sleep(Duration::from_millis(100));
                return Err(format!("server exited with {status} before listening:\n{}", text(&output)));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return Err(format!("server did not listen within 60 s:\n{}", text(&output)));
            }
        }
    }
}

impl TestServer {
    /// The server's data directory.
    #[must_use]
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Everything the server printed so far (stdout and stderr).
    #[must_use]
    pub fn output(&self) -> String {
        text(&self.output)
    }

    /// The child's process id, to signal it.
    #[must_use]
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM.
    ///
    /// # Panics
    /// When `kill` cannot be run.
    pub fn terminate(&self) {
        let status = Command::new("kill").args(["-TERM", &self.pid().to_string()]).status().expect("run kill");
        assert!(status.success(), "kill -TERM failed");
    }

    /// Waits up to `timeout` for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Kills the process at once (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Keeps the temp dir alive past this server, so a second server can start over the same data.
    pub fn take_temp_dir(&mut self) -> Option<tempfile::TempDir> {
        self._temp.take()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn append(output: &Mutex<Vec<u8>>, line: &[u8]) {
    if let Ok(mut out) = output.lock() {
        out.extend_from_slice(line);
        out.push(b'\n');
    }
}

fn text(output: &Mutex<Vec<u8>>) -> String {
    output.lock().map(|o| String::from_utf8_lossy(&o).into_owned()).unwrap_or_default()
}
