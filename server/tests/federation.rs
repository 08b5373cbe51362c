//! Federation through the `server` and `agent` binaries: server A (trust domain a.example)
//! serves its bundle endpoint (`https_spiffe`, an X509-SVID of its own CA); server B
//! (b.example) federates with it (`[[federation.federates_with]]`, bootstrapped with A's
//! `server bundle show`); an upstream agent of B whose entry federates with a.example streams
//! A's bundle to its workload. A's `ca rotate --x509` reaches that workload without a restart;
//! with A down, B keeps serving the last good bundle, shows the failing relationship in
//! `server federation list`, and after a restart serves that bundle from its store at once.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::processes::{Process, admin, agent_binary, server_binary, write};
use trust_bundle::{SpiffeBundle, X509Bundle};
use workload_client::{Client, Endpoint};

mod common;

/// `server --config <config>` logging to `log`; returns it once it serves, with the lines of
/// its log up to then.
async fn start_logged(config: &Path, log: &Path) -> (Process, String) {
    let mut process = Process(
        Command::new(server_binary())
            .arg("--config")
            .arg(config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap(),
    );
    for _ in 0..600 {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.contains("server: serving trust domain") {
            return (process, text);
        }
        if let Some(status) = process.0.try_wait().unwrap() {
            panic!("server exited early: {status}\n{text}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "the server never served: {}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

/// The address after `prefix` on a line of `log`.
fn reported(log: &str, prefix: &str) -> String {
    log.lines()
        .find_map(|line| line.split_once(prefix).map(|(_, rest)| rest))
        .map(|rest| rest.split_whitespace().next().unwrap().to_owned())
        .unwrap_or_else(|| panic!("{prefix:?} not in {log}"))
}

/// The bundle `server bundle show` prints for `config`'s trust domain.
fn bundle_of(config: &Path, trust_domain: &str) -> (String, X509Bundle) {
    let output = Command::new(server_binary())
        .args(["bundle", "show", "--config"])
        .arg(config)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json = String::from_utf8(output.stdout).unwrap();
    let bundle = SpiffeBundle::parse(trust_domain.parse().unwrap(), &json).unwrap();
    (json, X509Bundle::clone(bundle.x509_bundle()))
}

/// Waits until the workload receives `expected` as a.example's bundle.
async fn until_served(client: &Client, expected: &X509Bundle) {
    for _ in 0..600 {
        if let Ok(bundles) = client.fetch_x509_bundles().await {
            if bundles
                .get("a.example")
                .is_some_and(|b| **b.x509_bundle() == *expected)
            {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the workload never received a.example's bundle {expected:?}");
}

/// Waits until `log` holds `needle` `count` times.
async fn until_logged(log: &Path, needle: &str, count: usize) {
    for _ in 0..600 {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.matches(needle).count() >= count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "{needle:?} not logged {count} times: {}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

/// Digest 7.4 (self-serving `https_spiffe`: bootstrap bundle, then the latest fetched), 7.5
/// (refresh; a failed poll keeps the last good bundle), 7.6 (establish, maintain: the bundle
/// is distributed to workloads and redistributed on change), 7.2 (the trust domain travels
/// with the bundle through the node API).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_agent_streams_a_federated_bundle_through_rotation_and_outage() {
    let agent_binary = agent_binary();
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| -> PathBuf { dir.path().join(name) };
    let uid = nix::unistd::getuid().as_raw();

    // Server A serves its bundle endpoint.
    let a_config = path("a.toml");
    write(
        &a_config,
        "trust_domain = \"a.example\"\nlisten_address = \"127.0.0.1:0\"\n\
         admin_socket_path = \"a-admin.sock\"\nentry_refresh_interval = \"1s\"\n\
         [store]\npath = \"a.db\"\n\
         [federation.bundle_endpoint]\naddress = \"127.0.0.1:0\"\nprofile = \"https_spiffe\"\n\
         spiffe_id = \"spiffe://a.example/federation/bundle-endpoint\"\n",
    );
    let (a, a_log) = start_logged(&a_config, &path("a.log")).await;
    let endpoint = reported(&a_log, "server: federation bundle endpoint on https://");
    let (a_json, a_bundle) = bundle_of(&a_config, "a.example");
    write(&path("a-bundle.json"), &a_json);

    // Server B federates with A and serves an upstream agent.
    let b_config = path("b.toml");
    write(
        &b_config,
        &format!(
            "trust_domain = \"b.example\"\nlisten_address = \"127.0.0.1:0\"\n\
             admin_socket_path = \"b-admin.sock\"\nentry_refresh_interval = \"1s\"\n\
             [store]\npath = \"b.db\"\n\
             [[federation.federates_with]]\ntrust_domain = \"a.example\"\n\
             url = \"https://{endpoint}/\"\nprofile = \"https_spiffe\"\n\
             endpoint_spiffe_id = \"spiffe://a.example/federation/bundle-endpoint\"\n\
             bundle_path = \"a-bundle.json\"\nmin_refresh = \"1s\"\nmax_refresh = \"1s\"\n"
        ),
    );
    let b_log = path("b.log");
    let (b, b_text) = start_logged(&b_config, &b_log).await;
    let b_address = reported(&b_text, "server: serving trust domain b.example on ");
    let output = Command::new(server_binary())
        .args(["bundle", "show", "--pem", "--config"])
        .arg(&b_config)
        .output()
        .unwrap();
    assert!(output.status.success());
    std::fs::write(path("b-bootstrap.pem"), &output.stdout).unwrap();
    let token = admin(&b_config, &["token", "create", "--ttl", "5m"]);
    let node = token["agent_id"].as_str().unwrap().to_owned();
    let created = admin(
        &b_config,
        &[
            "entry",
            "create",
            "--spiffe-id",
            "spiffe://b.example/workload",
            "--parent-id",
            &node,
            "--selector",
            &format!("unix:uid:{uid}"),
            "--federates-with",
            "a.example",
        ],
    );
    assert_eq!(created["federates_with"][0], "a.example");
    let agent_config = path("agent.toml");
    write(
        &agent_config,
        &format!(
            "trust_domain = \"b.example\"\nsocket_path = \"agent.sock\"\n\
             [upstream]\nservers = [\"{b_address}\"]\nbootstrap_bundle_path = \"b-bootstrap.pem\"\n\
             sync_interval = \"1s\"\n"
        ),
    );
    let agent = Process(
        Command::new(&agent_binary)
            .arg("--config")
            .arg(&agent_config)
            .current_dir(dir.path())
            .env("SPIFFE_AGENT_JOIN_TOKEN", token["token"].as_str().unwrap())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    common::processes::eventually_served(&path("agent.sock"), &["spiffe://b.example/workload"])
        .await;
    let client = Client::builder(Endpoint::unix(path("agent.sock")).unwrap())
        .connect()
        .await
        .unwrap();
    until_served(&client, &a_bundle).await;

    // A rotates: its new authority reaches B's workload through A's endpoint, B and B's agent.
    admin(&a_config, &["ca", "rotate", "--x509"]);
    let (_, rotated) = bundle_of(&a_config, "a.example");
    assert_ne!(rotated, a_bundle);
    until_served(&client, &rotated).await;

    // A is down: B's fetches fail, and the last good bundle stays with B's workload.
    a.terminate();
    let failed = "bundle fetch failed; the last good bundle stays in use";
    until_logged(&b_log, failed, 2).await;
    until_served(&client, &rotated).await;
    let bundles = client.fetch_x509_bundles().await.unwrap();
    assert!(bundles.get("b.example").is_some());

    // The admin API shows the relationship failing, with the bundle it still holds.
    let listed = admin(&b_config, &["federation", "list"]);
    let relationship = &listed["relationships"][0];
    assert_eq!(relationship["trust_domain"], "a.example", "{listed}");
    assert_eq!(relationship["has_bundle"], true, "{listed}");
    assert!(relationship["last_error"].is_string(), "{listed}");
    assert!(
        relationship["consecutive_failures"].as_u64().unwrap() >= 1,
        "{listed}"
    );
    let held = relationship["sequence"].as_u64().unwrap();
    let reset = admin(&b_config, &["federation", "reset-sequence", "a.example"]);
    assert_eq!(reset["relationships"][0]["trust_domain"], "a.example");
    let unknown = Command::new(server_binary())
        .args(["federation", "reset-sequence", "other.example", "--config"])
        .arg(&b_config)
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("no federation relationship"),
        "{}",
        String::from_utf8_lossy(&unknown.stderr)
    );

    // B restarts while A is still down: the last good bundle comes back from B's store at
    // once (it has not fetched anything since the restart), with its sequence.
    agent.terminate();
    b.terminate();
    let (b, _) = start_logged(&b_config, &path("b-restarted.log")).await;
    let listed = admin(&b_config, &["federation", "list"]);
    let relationship = &listed["relationships"][0];
    assert_eq!(relationship["has_bundle"], true, "{listed}");
    assert!(relationship["last_success"].is_null(), "{listed}");
    assert_eq!(relationship["sequence"].as_u64(), Some(held), "{listed}");
    b.terminate();
}
