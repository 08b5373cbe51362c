//! The fleet end to end through its binaries: a `server` with join token and x509pop
//! attestation, administered by its own subcommands, and two `agent`s in upstream mode (one
//! per attestation method) serving workloads on their own sockets. Eviction through
//! `server node evict` cuts a node off.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use workload_client::{Client, Endpoint};

mod common;

/// A child process killed (and reaped) when the test ends, even on failure.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Process {
    /// Sends SIGTERM and expects a clean exit.
    fn terminate(mut self) {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.0.id()).unwrap());
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
        let status = self.0.wait().unwrap();
        assert!(status.success(), "exited with {status}");
    }
}

fn server_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_server"))
}

/// The `agent` binary, built next to this crate's binary (cargo builds only this package's
/// binaries for its tests).
fn agent_binary() -> PathBuf {
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
    server_binary().with_file_name("agent")
}

/// Runs `server <args>` against the config and returns its JSON output.
fn admin(config: &Path, args: &[&str]) -> Value {
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

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

async fn served(socket: &Path) -> Vec<String> {
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

async fn eventually_served(socket: &Path, expected: &[&str]) {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_and_two_upstream_agents_through_their_binaries() {
    let agent_binary = agent_binary();
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    let uid = nix::unistd::getuid().as_raw();

    // The machine PKI for x509pop.
    let pki = common::NodePki::new("machine root");
    write(&path("machine-ca.pem"), &pem(&pki.root_der));
    let (node_cert, node_key) = pki.node_pem("node-b");
    write(&path("node-b.pem"), &node_cert);
    write(&path("node-b.key"), &node_key);

    let server_config = path("server.toml");
    write(
        &server_config,
        "trust_domain = \"example.org\"\nlisten_address = \"127.0.0.1:0\"\n\
         admin_socket_path = \"admin.sock\"\nentry_refresh_interval = \"1s\"\n\
         [x509pop]\nroots_path = \"machine-ca.pem\"\ntemplate = \"/agent/x509pop/{subject_cn}\"\n",
    );
    let mut server = Command::new(server_binary())
        .arg("--config")
        .arg(&server_config)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = server.stderr.take().unwrap();
    let server = Process(server);
    let mut lines = BufReader::new(stderr).lines();
    let mut address = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("server: serving trust domain example.org on ") {
            address = Some(rest.trim().to_owned());
            break;
        }
    }
    let address = address.expect("the server did not report its address");
    // Keep reading its log, so that a full pipe never blocks it.
    std::thread::spawn(move || lines.for_each(drop));

    // Bootstrap bundle and a join token, through the admin subcommands.
    let output = Command::new(server_binary())
        .args(["bundle", "show", "--pem", "--config"])
        .arg(&server_config)
        .output()
        .unwrap();
    assert!(output.status.success());
    std::fs::write(path("bootstrap.pem"), &output.stdout).unwrap();
    let token = admin(&server_config, &["token", "create", "--ttl", "5m"]);
    let token_value = token["token"].as_str().unwrap().to_owned();
    let node_a = token["agent_id"].as_str().unwrap().to_owned();
    admin(
        &server_config,
        &[
            "entry",
            "create",
            "--spiffe-id",
            "spiffe://example.org/web",
            "--parent-id",
            &node_a,
            "--selector",
            &format!("unix:uid:{uid}"),
        ],
    );
    let node_b = "spiffe://example.org/agent/x509pop/node-b";
    admin(
        &server_config,
        &[
            "entry",
            "create",
            "--spiffe-id",
            "spiffe://example.org/db",
            "--parent-id",
            node_b,
            "--selector",
            &format!("unix:uid:{uid}"),
        ],
    );

    let agent_config = |name: &str, attestation: &str| {
        let file = path(&format!("{name}.toml"));
        write(
            &file,
            &format!(
                "trust_domain = \"example.org\"\nsocket_path = \"{name}.sock\"\n\
                 [upstream]\nservers = [\"{address}\"]\nbootstrap_bundle_path = \"bootstrap.pem\"\n\
                 sync_interval = \"1s\"\n{attestation}"
            ),
        );
        file
    };
    let config_a = agent_config("a", "");
    let config_b = agent_config(
        "b",
        "x509pop_cert_path = \"node-b.pem\"\nx509pop_key_path = \"node-b.key\"\n",
    );
    let agent_a = Process(
        Command::new(&agent_binary)
            .arg("--config")
            .arg(&config_a)
            .current_dir(dir.path())
            .env("SPIFFE_AGENT_JOIN_TOKEN", &token_value)
            .spawn()
            .unwrap(),
    );
    let agent_b = Process(
        Command::new(&agent_binary)
            .arg("--config")
            .arg(&config_b)
            .current_dir(dir.path())
            .spawn()
            .unwrap(),
    );

    eventually_served(&path("a.sock"), &["spiffe://example.org/web"]).await;
    eventually_served(&path("b.sock"), &["spiffe://example.org/db"]).await;
    let nodes = admin(&server_config, &["node", "list"]);
    let mut ids: Vec<&str> = nodes
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["spiffe_id"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    let mut expected = vec![node_a.as_str(), node_b];
    expected.sort_unstable();
    assert_eq!(ids, expected);

    // A new entry reaches its node; after eviction, node A gets nothing new.
    admin(&server_config, &["node", "evict", &node_a]);
    admin(
        &server_config,
        &[
            "entry",
            "create",
            "--spiffe-id",
            "spiffe://example.org/api",
            "--parent-id",
            &node_a,
            "--selector",
            &format!("unix:uid:{uid}"),
        ],
    );
    admin(
        &server_config,
        &[
            "entry",
            "create",
            "--spiffe-id",
            "spiffe://example.org/cache",
            "--parent-id",
            node_b,
            "--selector",
            &format!("unix:uid:{uid}"),
        ],
    );
    eventually_served(
        &path("b.sock"),
        &["spiffe://example.org/db", "spiffe://example.org/cache"],
    )
    .await;
    assert_eq!(served(&path("a.sock")).await, ["spiffe://example.org/web"]);

    agent_a.terminate();
    agent_b.terminate();
    server.terminate();
}

fn pem(der: &[u8]) -> String {
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
