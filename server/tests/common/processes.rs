//! The binaries as child processes: the `server` and `agent` executables, their admin
//! subcommands, and a workload's view of an agent socket.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use workload_client::{Client, Endpoint};

/// A child process killed (and reaped) when the test ends, even on failure.
pub struct Process(pub Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Process {
    /// Kills it at once (SIGKILL), as a crash would.
    pub fn kill(mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }

    /// Sends SIGTERM and expects a clean exit.
    pub fn terminate(mut self) {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.0.id()).unwrap());
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
        let status = self.0.wait().unwrap();
        assert!(status.success(), "exited with {status}");
    }
}

pub fn server_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_server"))
}

/// The `agent` binary next to this crate's binary. A workspace test run (CI) builds it with
/// every other binary; when only this package's tests were built it is missing, and it is
/// built here once (a local run with an older one uses that one: rebuild it after changing
/// the agent).
pub fn agent_binary() -> PathBuf {
    let agent = server_binary().with_file_name("agent");
    if agent.exists() {
        return agent;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(cargo)
        .args([
            "build",
            "--quiet",
            "-p",
            "spiffekit-agent",
            "--bin",
            "agent",
        ])
        .status()
        .unwrap();
    assert!(status.success(), "building the agent binary failed");
    agent
}

/// Runs `server <args>` against the config and returns its JSON output.
pub fn admin(config: &Path, args: &[&str]) -> Value {
    let output = Command::new(server_binary())
        .args(args)
        .arg("--config")
        .arg(config)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "server {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

pub fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

pub async fn served(socket: &Path) -> Vec<String> {
    let client = Client::builder(Endpoint::unix(socket).unwrap())
        .timeout(Duration::from_secs(3))
        .connect_lazy()
        .unwrap();
    match client.fetch_x509_context().await {
        Ok(context) => context
            .svids()
            .iter()
            .map(|s| s.spiffe_id().to_string())
            .collect(),
        Err(_) => Vec::new(),
    }
}

pub async fn eventually_served(socket: &Path, expected: &[&str]) {
    let mut last = Vec::new();
    for _ in 0..300 {
        last = served(socket).await;
        last.sort();
        let mut want: Vec<String> = expected.iter().map(|s| (*s).to_owned()).collect();
        want.sort();
        if last == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("expected {expected:?}, got {last:?}");
}

/// Starts `server --config <config>` and returns it with the node API address it reports.
pub fn start_server(config: &Path) -> (Process, String) {
    let (process, address, _) = start_server_with_health(config);
    (process, address)
}

/// As [`start_server`], with the health address when the config sets one.
pub fn start_server_with_health(config: &Path) -> (Process, String, Option<String>) {
    let mut command = Command::new(server_binary());
    command.arg("--config").arg(config);
    spawn_server(command)
}

/// Starts the server `command` (the binary with its arguments and environment), and returns
/// it with the node API address and the health address it reports.
pub fn spawn_server(mut command: Command) -> (Process, String, Option<String>) {
    let mut child = command.stderr(Stdio::piped()).spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let process = Process(child);
    let mut lines = BufReader::new(stderr).lines();
    let mut address = None;
    let mut health = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("server: /live /ready /metrics on http://") {
            health = Some(rest.trim().to_owned());
        }
        if let Some(rest) = line
            .strip_prefix("server: serving trust domain ")
            .and_then(|rest| rest.split_once(" on "))
        {
            address = Some(rest.1.trim().to_owned());
            break;
        }
    }
    let address = address.expect("the server did not report its address");
    // Keep reading its log, so that a full pipe never blocks it.
    std::thread::spawn(move || lines.for_each(drop));
    (process, address, health)
}

/// `GET path` over HTTP/1.1: the status code and the body.
pub fn http_get(address: &str, path: &str) -> (u16, String) {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

pub fn pem(der: &[u8]) -> String {
    use base64::Engine as _;
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        lines.join("\n")
    )
}
