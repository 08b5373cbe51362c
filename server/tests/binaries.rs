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

use std::process::Command;

use serde_json::Value;

use common::processes::{
    Process, admin, agent_binary, eventually_served, http_get, pem, served, server_binary,
    start_server_with_health, write,
};

mod common;

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
         health_address = \"127.0.0.1:0\"\n\
         [x509pop]\nroots_path = \"machine-ca.pem\"\ntemplate = \"/agent/x509pop/{subject_cn}\"\n",
    );
    let (server, address, health) = start_server_with_health(&server_config);
    let health = health.expect("the server reports its health address");
    assert_eq!(http_get(&health, "/live").0, 200);
    assert_eq!(http_get(&health, "/ready"), (200, "ready\n".to_owned()));

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
    let (status, metrics) = http_get(&health, "/metrics");
    assert_eq!(status, 200);
    for attested in [
        "spiffe_server_attestations_total{method=\"join_token\",result=\"ok\"} 1",
        "spiffe_server_attestations_total{method=\"x509pop\",result=\"ok\"} 1",
    ] {
        assert!(metrics.contains(attested), "{attested} not in {metrics}");
    }
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

    // An entry changed through `entry update` (its selector moved to another uid) leaves its
    // node; an entry created after `ca rotate` is signed by the new key and served.
    let cache = admin(&server_config, &["entry", "list", "--parent-id", node_b])
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["spiffe_id"] == "spiffe://example.org/cache")
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .unwrap();
    let other_uid = format!("unix:uid:{}", uid.wrapping_add(4242));
    let updated = admin(
        &server_config,
        &["entry", "update", &cache, "--selector", &other_uid],
    );
    assert_eq!(updated["revision"], 2);
    eventually_served(&path("b.sock"), &["spiffe://example.org/db"]).await;
    let before = admin(&server_config, &["ca", "list"]);
    let rotated = admin(&server_config, &["ca", "rotate", "--x509"]);
    let x509 = |listing: &Value| {
        listing["authorities"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["kind"] == "x509")
            .map(|a| {
                (
                    a["id"].as_str().unwrap().to_owned(),
                    a["status"].as_str().unwrap().to_owned(),
                )
            })
            .collect::<Vec<_>>()
    };
    let active_before: Vec<_> = x509(&before)
        .into_iter()
        .filter(|(_, s)| s == "active")
        .collect();
    let active_after: Vec<_> = x509(&rotated)
        .into_iter()
        .filter(|(_, s)| s == "active")
        .collect();
    assert_eq!(active_before.len(), 1);
    assert_eq!(active_after.len(), 1);
    assert_ne!(
        active_before, active_after,
        "the rotation put a new X.509 key in service"
    );
    admin(
        &server_config,
        &[
            "entry",
            "create",
            "--spiffe-id",
            "spiffe://example.org/after-rotation",
            "--parent-id",
            node_b,
            "--selector",
            &format!("unix:uid:{uid}"),
        ],
    );
    eventually_served(
        &path("b.sock"),
        &[
            "spiffe://example.org/db",
            "spiffe://example.org/after-rotation",
        ],
    )
    .await;

    agent_a.terminate();
    agent_b.terminate();
    server.terminate();
}
