//! A throwaway PostgreSQL cluster for tests.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The cluster shared by all tests of one test binary.
pub struct Cluster {
    bin_dir: PathBuf,
    port: u16,
    socket_dir: PathBuf,
    as_postgres_user: bool,
    _root: tempfile::TempDir,
}

/// A fresh database in the shared cluster; its URL connects over TCP on 127.0.0.1 as the `postgres` role.
pub struct TestDatabase {
    /// `postgres://postgres@127.0.0.1:PORT/NAME`.
    pub url: String,
    /// The database name.
    pub name: String,
}

static CLUSTER: OnceLock<Result<Cluster, String>> = OnceLock::new();
static NEXT_DB: AtomicU32 = AtomicU32::new(0);
static CREATE_LOCK: Mutex<()> = Mutex::new(());

/// A fresh database, or `None` (after a visible notice) when no PostgreSQL binaries exist and this is not CI.
///
/// # Panics
/// When the cluster cannot start, or when PostgreSQL is missing under `CI=true`.
#[must_use]
pub fn fresh_database(test_name: &str) -> Option<TestDatabase> {
    let cluster = match CLUSTER.get_or_init(Cluster::start) {
        Ok(cluster) => cluster,
        Err(missing) if missing.starts_with("no PostgreSQL") && !crate::in_ci() => {
            crate::visible_notice(&format!("SKIPPED PostgreSQL test {test_name}: {missing}"));
            return None;
        }
        Err(err) => panic!("PostgreSQL test harness: {err}"),
    };
    Some(cluster.create_database(test_name))
}

impl Cluster {
    fn start() -> Result<Self, String> {
        let bin_dir = find_bin_dir().ok_or_else(|| {
            "no PostgreSQL binaries found (initdb not on PATH nor in /usr/lib/postgresql/*/bin)".to_owned()
        })?;
        let as_postgres_user = running_as_root();
        let root = tempfile::Builder::new().prefix("sealform-pg-").tempdir().map_err(|e| e.to_string())?;
        let data_dir = root.path().join("data");
        let socket_dir = root.path().join("sock");
        std::fs::create_dir(&socket_dir).map_err(|e| e.to_string())?;
        if as_postgres_user {
            chown_to_postgres(root.path())?;
            chown_to_postgres(&socket_dir)?;
        }
        let cluster_tmp = Self { bin_dir, port: 0, socket_dir, as_postgres_user, _root: root };
        cluster_tmp.run(
            "initdb",
            &["-D", path_str(&data_dir)?, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"],
        )?;
        let mut last_err = String::new();
        for _ in 0..5 {
            let port = free_port()?;
            let options = format!(
                "-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={} -c fsync=off \
                 -c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
                path_str(&cluster_tmp.socket_dir)?
            );
            let log = cluster_tmp._root.path().join("postgres.log");
            match cluster_tmp.run(
                "pg_ctl",
                &["-D", path_str(&data_dir)?, "-l", path_str(&log)?, "-o", &options, "-w", "-t", "60", "start"],
            ) {
                Ok(()) => {
                    let cluster = Self { port, ..cluster_tmp };
                    cluster.stop_when_this_process_exits(&data_dir)?;
                    return Ok(cluster);
                }
                Err(err) => last_err = err,
            }
        }
        Err(format!("pg_ctl start failed: {last_err}"))
    }

    fn create_database(&self, test_name: &str) -> TestDatabase {
        let _serial = CREATE_LOCK.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = NEXT_DB.fetch_add(1, Ordering::Relaxed);
        let slug: String = test_name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' })
            .take(40)
            .collect();
        let name = format!("t{}_{n}_{slug}", std::process::id());
        let port = self.port.to_string();
        let sql = format!("CREATE DATABASE \"{name}\"");
        self.run_psql(&["-h", "127.0.0.1", "-p", &port, "-U", "postgres", "-d", "postgres", "-c", &sql])
            .unwrap_or_else(|err| panic!("creating test database {name}: {err}"));
        TestDatabase { url: format!("postgres://postgres@127.0.0.1:{}/{name}", self.port), name }
    }

    /// A watchdog process that stops the cluster and removes its files once this test process is gone, however
    /// it ends (statics are never dropped, and a killed process runs no destructors).
    fn stop_when_this_process_exits(&self, data_dir: &Path) -> Result<(), String> {
        let pg_ctl = self.bin_dir.join("pg_ctl");
        let stop = format!(
            "{} {} -D {} -m immediate stop >/dev/null 2>&1",
            if self.as_postgres_user { "runuser -u postgres --" } else { "" },
            path_str(&pg_ctl)?,
            path_str(data_dir)?,
        );
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; {stop}; rm -rf {root}",
            pid = std::process::id(),
            root = path_str(self._root.path())?,
        );
        Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting the cluster watchdog: {e}"))?;
        Ok(())
    }

    fn run(&self, tool: &str, args: &[&str]) -> Result<(), String> {
        let program = self.bin_dir.join(tool);
        self.run_program(&program, args)
    }

    fn run_psql(&self, args: &[&str]) -> Result<(), String> {
        let psql = self.bin_dir.join("psql");
        let program = if psql.exists() { psql } else { PathBuf::from("psql") };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match self.run_program(&program, args) {
                Ok(()) => return Ok(()),
                Err(err) if Instant::now() > deadline => return Err(err),
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }

    fn run_program(&self, program: &Path, args: &[&str]) -> Result<(), String> {
        let mut command = if self.as_postgres_user {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        };
        let output = command
            .args(args)
            .current_dir(self._root.path())
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("running {}: {e}", program.display()))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{} exited with {}: {}",
                program.display(),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ))
        }
    }
}

fn find_bin_dir() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let initdb = dir.join("initdb");
            if initdb.exists() {
                let resolved = std::fs::canonicalize(&initdb).unwrap_or(initdb);
                return resolved.parent().map(Path::to_path_buf);
            }
        }
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| entry.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop()
}

fn running_as_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn chown_to_postgres(path: &Path) -> Result<(), String> {
    let status = Command::new("chown")
        .arg("postgres:")
        .arg(path)
        .status()
        .map_err(|e| format!("chown {}: {e}", path.display()))?;
    if status.success() { Ok(()) } else { Err(format!("chown postgres {} failed", path.display())) }
}

fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    listener.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

fn path_str(path: &Path) -> Result<&str, String> {
    path.to_str().ok_or_else(|| format!("non-UTF-8 path {}", path.display()))
}
