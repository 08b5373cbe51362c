//! Federation through the `agent` binary: trust domain A serves its bundle endpoint
//! (`https_spiffe`, an X509-SVID of its own CA), trust domain B federates with it
//! (`[[federation.federates_with]]`, bootstrapped with A's `agent bundle show`), and B's
//! workload, whose entry federates with A, receives A's bundle on the Workload API; after
//! `agent ca rotate --x509` on A, it receives A's new authorities without a restart.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers outside #[test] fns"
)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{AgentProcess, current_uid};
use trust_bundle::{SpiffeBundle, X509Bundle};
use workload_client::{Client, Endpoint};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn spawn(config: &Path, log: &Path) -> AgentProcess {
    AgentProcess(
        Command::new(env!("CARGO_BIN_EXE_agent"))
            .arg("--config")
            .arg(config)
            .env_remove("SPIFFE_AGENT_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap(),
    )
}

async fn wait_for(socket: &Path, agent: &mut AgentProcess, log: &Path) {
    for _ in 0..400 {
        if tokio::net::UnixStream::connect(socket).await.is_ok() {
            return;
        }
        if let Some(status) = agent.try_wait().unwrap() {
            panic!(
                "agent exited early: {status}\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("agent did not listen on {}", socket.display());
}

/// `agent <args> --config <config>`; its stdout (must succeed).
fn cli(config: &Path, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_agent"))
        .args(args)
        .arg("--config")
        .arg(config)
        .env_remove("SPIFFE_AGENT_CONFIG")
        .env_remove("SPIFFE_AGENT_ADMIN_SOCKET")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "agent {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// A's X.509 authorities as `agent bundle show` prints them.
fn authorities_of(config: &Path) -> (String, X509Bundle) {
    let json = cli(config, &["bundle", "show"]);
    let bundle = SpiffeBundle::parse("a.example".parse().unwrap(), &json).unwrap();
    (json, X509Bundle::clone(bundle.x509_bundle()))
}

/// Waits until B's workload receives `expected` as a.example's bundle.
async fn until_b_serves(client: &Client, expected: &X509Bundle) {
    for _ in 0..600 {
        let bundles = client.fetch_x509_bundles().await.unwrap();
        if bundles
            .get("a.example")
            .is_some_and(|b| **b.x509_bundle() == *expected)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("B's workload never received a.example's bundle {expected:?}");
}

fn write(path: PathBuf, text: &str) -> PathBuf {
    std::fs::write(&path, text).unwrap();
    path
}

/// Digest 7.4 (self-serving `https_spiffe`, bootstrap then latest bundle), 7.5 (refresh),
/// 7.6 (distribution to workloads).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_federated_bundle_reaches_workloads_and_follows_a_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    let port = free_port();
    let a_config = write(
        path("a.toml"),
        &format!(
            "trust_domain = \"a.example\"\nsocket_path = \"{}\"\nadmin_socket_path = \"{}\"\n\
             [store]\npath = \"a.db\"\n[federation.bundle_endpoint]\naddress = \"127.0.0.1:{port}\"\n\
             profile = \"https_spiffe\"\n\
             spiffe_id = \"spiffe://a.example/federation/bundle-endpoint\"\n",
            path("a.sock").display(),
            path("a-admin.sock").display()
        ),
    );
    let mut a = spawn(&a_config, &path("a.log"));
    wait_for(&path("a.sock"), &mut a, &path("a.log")).await;
    let (a_json, a_bundle) = authorities_of(&a_config);
    write(path("a-bundle.json"), &a_json);

    let b_config = write(
        path("b.toml"),
        &format!(
            "trust_domain = \"b.example\"\nsocket_path = \"{}\"\n[store]\npath = \"b.db\"\n\
             [[entry]]\nspiffe_id = \"spiffe://b.example/workload\"\n\
             selectors = [\"unix:uid:{}\"]\nfederates_with = [\"a.example\"]\n\
             [[federation.federates_with]]\ntrust_domain = \"a.example\"\n\
             url = \"https://127.0.0.1:{port}/\"\nprofile = \"https_spiffe\"\n\
             endpoint_spiffe_id = \"spiffe://a.example/federation/bundle-endpoint\"\n\
             bundle_path = \"a-bundle.json\"\nmin_refresh = \"1s\"\nmax_refresh = \"1s\"\n",
            path("b.sock").display(),
            current_uid()
        ),
    );
    let mut b = spawn(&b_config, &path("b.log"));
    wait_for(&path("b.sock"), &mut b, &path("b.log")).await;
    let client = Client::builder(Endpoint::unix(path("b.sock")).unwrap())
        .connect()
        .await
        .unwrap();
    until_b_serves(&client, &a_bundle).await;

    // A rotates: its new authority reaches B's workload through federation.
    cli(&a_config, &["ca", "rotate", "--x509"]);
    let (_, rotated) = authorities_of(&a_config);
    assert_ne!(rotated, a_bundle);
    until_b_serves(&client, &rotated).await;

    let log = std::fs::read_to_string(path("b.log")).unwrap();
    assert!(log.contains("federating with"), "{log}");
    let log = std::fs::read_to_string(path("a.log")).unwrap();
    assert!(log.contains("serving the bundle endpoint"), "{log}");
}
