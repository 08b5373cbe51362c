//! A private nginx for the tests that need a real one (the cert-sync helper's mTLS test, the
//! proxy's backend and remote): `nginx -p <tempdir>` in the foreground on a free loopback port,
//! with the `http` block the test gives, stopped on drop even when the test fails.
//!
//! Under root nginx runs as `nobody` (through `setpriv`), so the files it reads must be handed
//! over first ([`crate::process::hand_over`]); the test's own user otherwise. Under `CI=true` a
//! missing nginx panics (the test fails); elsewhere [`NginxServer::start_or_skip`] prints why
//! and returns `None`. `interop/nginx/setup.sh` installs Debian's `nginx-light` (1.22: name
//! `ssl_protocols TLSv1.2 TLSv1.3`, and raise `ssl_verify_depth` above its default of 1 for
//! chains with an intermediate).

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::process::{free_port, hand_over, signal, skip_or_fail, stop_child, unprivileged};

/// What [`NginxServer::start`] replaces in the `http` block: the port it chose.
pub const PORT: &str = "{port}";
/// What [`NginxServer::start`] replaces in the `http` block: its prefix directory.
pub const PREFIX: &str = "{prefix}";

/// A running nginx; stopped (SIGQUIT, graceful; SIGKILL after 10 s) on drop.
#[derive(Debug)]
pub struct NginxServer {
    dir: TempDir,
    child: Child,
    port: u16,
}

impl NginxServer {
    /// The nginx binary of this machine, if any.
    pub fn binary() -> Option<PathBuf> {
        let on_path = std::env::var_os("PATH").and_then(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join("nginx"))
                .find(|candidate| candidate.is_file())
        });
        on_path.or_else(|| {
            let sbin = Path::new("/usr/sbin/nginx");
            sbin.is_file().then(|| sbin.to_owned())
        })
    }

    /// [`start`](Self::start), or `None` with a printed reason when nginx is missing.
    ///
    /// # Panics
    /// Under `CI=true` when nginx is missing or does not start.
    pub fn start_or_skip(test: &str, http: &str) -> Option<Self> {
        match Self::start(http) {
            Ok(server) => Some(server),
            Err(reason) => {
                skip_or_fail(test, "nginx", &reason, "interop/nginx/setup.sh");
                None
            }
        }
    }

    /// Starts nginx with `http` as the body of its `http { }` block, after replacing [`PORT`]
    /// with a free loopback port and [`PREFIX`] with its own directory; waits until the port
    /// accepts connections. Write `listen 127.0.0.1:{port} ssl;` (or without `ssl`).
    ///
    /// # Errors
    /// nginx missing, the configuration refused, or the port not accepting within 30 s (the
    /// error log is in the message).
    pub fn start(http: &str) -> Result<Self, String> {
        let binary = Self::binary().ok_or("nginx not found")?;
        let dir = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
        let port = free_port()?;
        let prefix = dir.path();
        let http = http
            .replace(PORT, &port.to_string())
            .replace(PREFIX, &prefix.display().to_string());
        let conf = main_conf(prefix, &http);
        std::fs::write(prefix.join("nginx.conf"), conf).map_err(|e| format!("nginx.conf: {e}"))?;
        hand_over(prefix)?;
        let child = unprivileged(&binary)
            .arg("-p")
            .arg(prefix)
            .arg("-c")
            .arg(prefix.join("nginx.conf"))
            .arg("-e")
            .arg(prefix.join("error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("nginx: {e}"))?;
        let mut server = Self { dir, child, port };
        server.wait_ready()?;
        Ok(server)
    }

    /// The loopback port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The master process id (what a `renew_signal` goes to).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its prefix directory (configuration, logs, pid file).
    pub fn prefix(&self) -> &Path {
        self.dir.path()
    }

    /// The error log so far (for assertion messages).
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }

    /// The access log so far (`$ssl_client_s_dn`-free default format plus what the test's
    /// `log_format` adds, if it logs to `{prefix}/access.log`).
    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default()
    }

    /// Sends SIGHUP: nginx re-reads its configuration and certificates.
    ///
    /// # Errors
    /// When the signal cannot be sent.
    pub fn reload(&self) -> Result<(), String> {
        signal(self.pid(), "HUP")
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("nginx exited ({status}): {}", self.error_log()));
            }
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!(
            "nginx did not accept connections within 30 s: {}",
            self.error_log()
        ))
    }
}

impl Drop for NginxServer {
    fn drop(&mut self) {
        stop_child(&mut self.child, "QUIT", Duration::from_secs(10));
    }
}

/// The main configuration: foreground, one worker, every path inside `prefix`.
fn main_conf(prefix: &Path, http: &str) -> String {
    let p = prefix.display();
    format!(
        "daemon off;\n\
         worker_processes 1;\n\
         pid {p}/nginx.pid;\n\
         error_log {p}/error.log info;\n\
         events {{ worker_connections 256; }}\n\
         http {{\n\
         access_log {p}/access.log;\n\
         client_body_temp_path {p}/client_body;\n\
         proxy_temp_path {p}/proxy;\n\
         fastcgi_temp_path {p}/fastcgi;\n\
         uwsgi_temp_path {p}/uwsgi;\n\
         scgi_temp_path {p}/scgi;\n\
         {http}\n\
         }}\n"
    )
}
