//! A private PostgreSQL server for the store tests: `initdb` in a temporary directory, the
//! server listening on a Unix socket there only (no TCP), stopped and removed on drop, even
//! when the test fails. [`PostgresServer::start_with_tls`] also listens on a free loopback
//! port that accepts TLS only, with the certificate the test gives.
//!
//! PostgreSQL refuses to run as root: under root the directory is handed to `nobody` and the
//! server runs as that user through `setpriv`. Under `CI=true` a missing PostgreSQL panics
//! (the test fails); elsewhere [`PostgresServer::start_or_skip`] prints why and returns
//! `None`. `interop/postgres/setup.sh` installs the Debian package.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::process::{NOBODY, free_port, is_root, run_as, skip_or_fail};

/// The superuser the test cluster is created with.
pub const USER: &str = "spiffekit";

/// A running test server; stopped (fast shutdown) and its directory removed on drop.
#[derive(Debug)]
pub struct PostgresServer {
    dir: TempDir,
    bin: PathBuf,
    server: Child,
    /// The port of the socket (and of the loopback listener, with TLS).
    port: u16,
    /// Whether the server also listens on 127.0.0.1 (TLS only).
    tcp: bool,
}

impl PostgresServer {
    /// A fresh server, or `None` with a printed reason when PostgreSQL is not installed.
    ///
    /// # Panics
    /// Under `CI=true` when PostgreSQL is missing or does not start.
    pub fn start_or_skip(test: &str) -> Option<Self> {
        Self::or_skip(test, Self::start())
    }

    /// [`start_with_tls`](Self::start_with_tls), or `None` with a printed reason as
    /// [`start_or_skip`](Self::start_or_skip).
    ///
    /// # Panics
    /// Under `CI=true` when PostgreSQL is missing or does not start.
    pub fn start_with_tls_or_skip(test: &str, cert_pem: &str, key_pem: &str) -> Option<Self> {
        Self::or_skip(test, Self::start_with_tls(cert_pem, key_pem))
    }

    fn or_skip(test: &str, started: Result<Self, String>) -> Option<Self> {
        match started {
            Ok(server) => Some(server),
            Err(reason) => {
                skip_or_fail(test, "PostgreSQL", &reason, "interop/postgres/setup.sh");
                None
            }
        }
    }

    /// A fresh server, or why it cannot be started here.
    ///
    /// # Errors
    /// The reason: binaries missing, `initdb` failed, the server did not accept connections.
    pub fn start() -> Result<Self, String> {
        Self::start_inner(false, None)
    }

    /// A fresh server that also listens on a free 127.0.0.1 port, in clear (TLS off): a
    /// server, or a machine in the middle, that answers "no TLS".
    ///
    /// # Errors
    /// As [`start`](Self::start).
    pub fn start_on_loopback() -> Result<Self, String> {
        Self::start_inner(true, None)
    }

    /// A fresh server that also listens on a free 127.0.0.1 port, where it accepts TLS only
    /// (`hostssl` in `pg_hba.conf`), with `cert_pem` (a chain for `localhost`) and its key.
    ///
    /// # Errors
    /// As [`start`](Self::start).
    pub fn start_with_tls(cert_pem: &str, key_pem: &str) -> Result<Self, String> {
        Self::start_inner(true, Some((cert_pem, key_pem)))
    }

    fn start_inner(tcp: bool, tls: Option<(&str, &str)>) -> Result<Self, String> {
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
        if let Some((cert, key)) = tls {
            configure_tls(&data, cert, key, as_nobody)?;
        }
        let port = if tcp { free_port()? } else { 5432 };
        let server = spawn_postgres(&bin, dir.path(), port, tcp)?;
        let server = Self {
            dir,
            bin,
            server,
            port,
            tcp,
        };
        server.wait_ready()?;
        Ok(server)
    }

    /// Stops the server (fast shutdown), keeping its data: a database that went away.
    pub fn stop(&mut self) {
        stop_fast(&mut self.server);
    }

    /// Starts the server again on the same data and socket, after [`stop`](Self::stop).
    ///
    /// # Errors
    /// When it does not start or accept connections.
    pub fn restart(&mut self) -> Result<(), String> {
        self.server = spawn_postgres(&self.bin, self.dir.path(), self.port, self.tcp)?;
        self.wait_ready()
    }

    /// A connection string for database `dbname` (create it with
    /// [`create_database`](Self::create_database); `postgres` exists).
    pub fn connection_string(&self, dbname: &str) -> String {
        format!(
            "host={} port={} user={USER} dbname={dbname}",
            self.dir.path().display(),
            self.port
        )
    }

    /// A connection string over loopback TCP for database `dbname`, naming the host
    /// `localhost` (what the certificate must be for); only with
    /// [`start_with_tls`](Self::start_with_tls) or [`start_on_loopback`](Self::start_on_loopback).
    pub fn tcp_connection_string(&self, dbname: &str) -> String {
        format!(
            "host=localhost hostaddr=127.0.0.1 port={} user={USER} dbname={dbname}",
            self.port
        )
    }

    /// Creates the database `name`.
    ///
    /// # Panics
    /// When `createdb` fails.
    pub fn create_database(&self, name: &str) {
        let out = Command::new(self.bin.join("createdb"))
            .args(["-h", &self.dir.path().display().to_string()])
            .args(["-p", &self.port.to_string()])
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
            .args(["-h", &self.dir.path().display().to_string()])
            .args(["-p", &self.port.to_string()])
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
                .args(["-h", &self.dir.path().display().to_string()])
                .args(["-p", &self.port.to_string()])
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
        stop_fast(&mut self.server);
    }
}

/// The server on the data directory in `dir`, listening on a socket there, and on loopback
/// when `tcp`.
fn spawn_postgres(bin: &Path, dir: &Path, port: u16, tcp: bool) -> Result<Child, String> {
    let listen = if tcp { "127.0.0.1" } else { "" };
    run_as(is_root(), &bin.join("postgres"))
        .arg("-D")
        .arg(dir.join("data"))
        .arg("-k")
        .arg(dir)
        .args([
            "-c",
            &format!("listen_addresses={listen}"),
            "-c",
            "fsync=off",
        ])
        .args(["-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("postgres: {e}"))
}

/// Writes the certificate and key into the data directory, turns TLS on and lets TCP clients
/// in over TLS only (the socket stays open without it).
fn configure_tls(data: &Path, cert: &str, key: &str, as_nobody: bool) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let write = |name: &str, text: &str| -> Result<(), String> {
        let path = data.join(name);
        std::fs::write(&path, text).map_err(|e| format!("{name}: {e}"))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| format!("{name}: {e}"))?;
        if as_nobody {
            std::os::unix::fs::chown(&path, Some(NOBODY), Some(NOBODY))
                .map_err(|e| format!("chown {name}: {e}"))?;
        }
        Ok(())
    };
    write("server.crt", cert)?;
    write("server.key", key)?;
    write(
        "pg_hba.conf",
        "local all all trust\nhostssl all all 127.0.0.1/32 trust\n",
    )?;
    let conf = data.join("postgresql.conf");
    let mut text = std::fs::read_to_string(&conf).map_err(|e| format!("postgresql.conf: {e}"))?;
    text.push_str("\nssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n");
    std::fs::write(&conf, text).map_err(|e| format!("postgresql.conf: {e}"))
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

/// SIGINT (fast shutdown: ends sessions without waiting for clients), then SIGKILL after 10 s.
fn stop_fast(server: &mut Child) {
    crate::process::stop_child(server, "INT", Duration::from_secs(10));
}
