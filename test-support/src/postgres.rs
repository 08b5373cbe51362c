//! A private PostgreSQL server for the store tests: `initdb` in a temporary directory, the
//! server listening on a Unix socket there only (no TCP), stopped and removed on drop, even
//! when the test fails.
//!
//! PostgreSQL refuses to run as root: under root the directory is handed to `nobody` and the
//! server runs as that user through `setpriv`. Under `CI=true` a missing PostgreSQL panics
//! (the test fails); elsewhere [`PostgresServer::start_or_skip`] prints why and returns
//! `None`. `interop/postgres/setup.sh` installs the Debian package.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// The superuser the test cluster is created with.
pub const USER: &str = "spiffekit";

/// The uid and gid of `nobody` on Debian, which runs the server when the tests run as root.
const NOBODY: u32 = 65_534;

/// A running test server; stopped (fast shutdown) and its directory removed on drop.
#[derive(Debug)]
pub struct PostgresServer {
    dir: TempDir,
    bin: PathBuf,
    server: Child,
}

impl PostgresServer {
    /// A fresh server, or `None` with a printed reason when PostgreSQL is not installed.
    ///
    /// # Panics
    /// Under `CI=true` when PostgreSQL is missing or does not start.
    pub fn start_or_skip(test: &str) -> Option<Self> {
        match Self::start() {
            Ok(server) => Some(server),
            Err(reason) => {
                assert!(
                    std::env::var("CI").as_deref() != Ok("true"),
                    "{test}: PostgreSQL is required under CI ({reason}); run interop/postgres/setup.sh"
                );
                println!("skipping {test}: {reason} (install with interop/postgres/setup.sh)");
                None
            }
        }
    }

    /// A fresh server, or why it cannot be started here.
    ///
    /// # Errors
    /// The reason: binaries missing, `initdb` failed, the server did not accept connections.
    pub fn start() -> Result<Self, String> {
        let bin = bin_dir().ok_or("initdb not found (Debian: /usr/lib/postgresql/<n>/bin)")?;
        let dir = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
        let as_nobody = is_root();
        if as_nobody {
            std::os::unix::fs::chown(dir.path(), Some(NOBODY), Some(NOBODY))
                .map_err(|e| format!("chown to nobody: {e}"))?;
        }
        let data = dir.path().join("data");
        let initdb = run_as(as_nobody, &bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                USER,
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ])
            .output()
            .map_err(|e| format!("initdb: {e}"))?;
        if !initdb.status.success() {
            return Err(format!(
                "initdb failed: {}",
                String::from_utf8_lossy(&initdb.stderr)
            ));
        }
        let server = spawn_postgres(&bin, dir.path())?;
        let server = Self { dir, bin, server };
        server.wait_ready()?;
        Ok(server)
    }

    /// Stops the server (fast shutdown), keeping its data: a database that went away.
    pub fn stop(&mut self) {
        stop_child(&mut self.server);
    }

    /// Starts the server again on the same data and socket, after [`stop`](Self::stop).
    ///
    /// # Errors
    /// When it does not start or accept connections.
    pub fn restart(&mut self) -> Result<(), String> {
        self.server = spawn_postgres(&self.bin, self.dir.path())?;
        self.wait_ready()
    }

    /// A connection string for database `dbname` (create it with
    /// [`create_database`](Self::create_database); `postgres` exists).
    pub fn connection_string(&self, dbname: &str) -> String {
        format!(
            "host={} port=5432 user={USER} dbname={dbname}",
            self.dir.path().display()
        )
    }

    /// Creates the database `name`.
    ///
    /// # Panics
    /// When `createdb` fails.
    pub fn create_database(&self, name: &str) {
        let out = Command::new(self.bin.join("createdb"))
            .args(["-h", &self.dir.path().display().to_string(), "-p", "5432"])
            .args(["-U", USER, name])
            .output()
            .expect("createdb runs");
        assert!(
            out.status.success(),
            "createdb {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Runs one SQL statement with `psql` in database `dbname`; its output.
    ///
    /// # Panics
    /// When `psql` fails.
    pub fn psql(&self, dbname: &str, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .args(["-h", &self.dir.path().display().to_string(), "-p", "5432"])
            .args([
                "-U",
                USER,
                "-d",
                dbname,
                "-At",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ])
            .output()
            .expect("psql runs");
        assert!(
            out.status.success(),
            "psql {sql:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn wait_ready(&self) -> Result<(), String> {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            let ready = Command::new(self.bin.join("pg_isready"))
                .args(["-h", &self.dir.path().display().to_string(), "-p", "5432"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|status| status.success());
            if ready {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err("the server did not accept connections within 30 s".to_owned())
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        stop_child(&mut self.server);
    }
}

/// The server on the data directory in `dir`, listening on a socket there only.
fn spawn_postgres(bin: &Path, dir: &Path) -> Result<Child, String> {
    run_as(is_root(), &bin.join("postgres"))
        .arg("-D")
        .arg(dir.join("data"))
        .arg("-k")
        .arg(dir)
        .args(["-c", "listen_addresses=", "-c", "fsync=off", "-p", "5432"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("postgres: {e}"))
}

/// SIGINT (fast shutdown: ends sessions without waiting for clients), then SIGKILL after 10 s.
fn stop_child(server: &mut Child) {
    if let Ok(Some(_)) = server.try_wait() {
        return;
    }
    let _ = Command::new("kill")
        .args(["-INT", &server.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = server.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = server.kill();
    let _ = server.wait();
}

/// Debian's versioned binary directory (the newest), else the directory of `initdb` on PATH.
fn bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("bin"))
        .filter(|bin| bin.join("initdb").is_file())
        .collect();
    versions.sort();
    versions.pop().or_else(|| {
        let path = std::env::var_os("PATH")?;
        let dir = std::env::split_paths(&path).find(|dir| dir.join("initdb").is_file())?;
        let initdb = std::fs::canonicalize(dir.join("initdb")).ok()?;
        initdb.parent().map(Path::to_path_buf)
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.starts_with(b"0\n"))
}

/// `program`, run as `nobody` through `setpriv` when `as_nobody`.
fn run_as(as_nobody: bool, program: &Path) -> Command {
    if as_nobody {
        let mut command = Command::new("setpriv");
        command
            .args([
                "--reuid",
                &NOBODY.to_string(),
                "--regid",
                &NOBODY.to_string(),
                "--clear-groups",
                "--",
            ])
            .arg(program);
        command
    } else {
        Command::new(program)
    }
}
