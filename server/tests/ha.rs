//! High availability on one PostgreSQL: two `server` replicas (each with its own intermediate
//! under one upstream root on disk, so the bundle is that root for both) and three upstream-mode
//! `agent`s configured with both servers. One server is killed while SVIDs rotate: every
//! workload keeps a valid SVID, an entry created through the surviving server reaches its
//! agent, and the killed server, started again, serves the same state (and takes over when
//! the other one goes).

#![cfg(feature = "postgres")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::processes::{
    Process, admin, agent_binary, eventually_served, pem, start_server, write,
};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use test_support::postgres::PostgresServer;

mod common;

/// Workload SVIDs live 30 s (rotated every ~15 s), so rotations happen around the kill.
const SVID_TTL: &str = "30s";

fn server_config(dir: &Path, name: &str, listen: &str, postgres: &str) -> std::path::PathBuf {
    let file = dir.join(format!("{name}.toml"));
    write(
        &file,
        &format!(
            "trust_domain = \"example.org\"\nlisten_address = \"{listen}\"\n\
             admin_socket_path = \"{name}.sock\"\nentry_refresh_interval = \"1s\"\n\
             x509_svid_ttl = \"{SVID_TTL}\"\nagent_svid_ttl = \"10m\"\n\
             [store]\npostgres = \"{postgres}\"\njournal = \"{name}\"\n\
             postgres_ca_path = \"db-ca.pem\"\n\
             [ca.upstream_disk]\ncert_path = \"root.pem\"\nkey_path = \"root.key\"\n"
        ),
    );
    file
}

fn entry(config: &Path, path: &str, parent: &str) {
    let uid = nix::unistd::getuid().as_raw();
    admin(
        config,
        &[
            "entry",
            "create",
            "--spiffe-id",
            &format!("spiffe://example.org{path}"),
            "--parent-id",
            parent,
            "--selector",
            &format!("unix:uid:{uid}"),
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_postgres_survive_losing_either() {
    // The replicas reach the database over loopback TCP, TLS only, as across a network.
    let db_ca = test_support::x509::Ca::builder("example.org")
        .common_name("database CA")
        .validity(test_support::x509::Validity::around_now(
            Duration::from_secs(3600),
            Duration::from_secs(3600),
        ))
        .build();
    let db_cert = db_ca.leaf_with(
        "spiffe://example.org/db",
        test_support::x509::KeyType::P256,
        |params| params.subject_alt_names = vec![test_support::x509::dns("localhost")],
    );
    let Some(postgres) = PostgresServer::start_with_tls_or_skip(
        "two_servers_on_one_postgres_survive_losing_either",
        &test_support::pem::pem([&db_cert.cert, &db_ca.cert]),
        &db_cert.key_pem(),
    ) else {
        return;
    };
    postgres.create_database("spiffe");
    let params = postgres.tcp_connection_string("spiffe");
    let agent_binary = agent_binary();
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    write(&path("db-ca.pem"), &pem(&db_ca.cert));

    // The organisation's root: both replicas sign under it.
    let key = KeyPair::generate().unwrap();
    let mut root = CertificateParams::new(Vec::<String>::new()).unwrap();
    root.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    root.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    root.distinguished_name
        .push(DnType::CommonName, "example.org root");
    let root = root.self_signed(&key).unwrap();
    write(&path("root.pem"), &pem(root.der()));
    write(&path("root.key"), &key.serialize_pem());
    std::fs::set_permissions(path("root.key"), std::fs::Permissions::from_mode(0o600)).unwrap();
    // The agents trust the root from the start.
    write(&path("bootstrap.pem"), &pem(root.der()));

    let config_a = server_config(dir.path(), "replica_a", "127.0.0.1:0", &params);
    let config_b = server_config(dir.path(), "replica_b", "127.0.0.1:0", &params);
    let (server_a, address_a) = start_server(&config_a);
    let (server_b, address_b) = start_server(&config_b);

    // Three nodes, each with a workload entry; tokens and entries through replica A.
    let mut agents = Vec::new();
    let mut nodes = Vec::new();
    for n in 1..=3 {
        let token = admin(&config_a, &["token", "create"]);
        let node = token["agent_id"].as_str().unwrap().to_owned();
        entry(&config_a, &format!("/w{n}"), &node);
        let config = path(&format!("agent{n}.toml"));
        write(
            &config,
            &format!(
                "trust_domain = \"example.org\"\nsocket_path = \"agent{n}.sock\"\n\
                 [upstream]\nservers = [\"{address_a}\", \"{address_b}\"]\n\
                 bootstrap_bundle_path = \"bootstrap.pem\"\nsync_interval = \"1s\"\n"
            ),
        );
        agents.push(Process(
            Command::new(&agent_binary)
                .arg("--config")
                .arg(&config)
                .current_dir(dir.path())
                .env("SPIFFE_AGENT_JOIN_TOKEN", token["token"].as_str().unwrap())
                .spawn()
                .unwrap(),
        ));
        nodes.push(node);
    }
    for n in 1..=3 {
        eventually_served(
            &path(&format!("agent{n}.sock")),
            &[&format!("spiffe://example.org/w{n}")],
        )
        .await;
    }

    // Replica A dies while SVIDs rotate (every ~15 s).
    tokio::time::sleep(Duration::from_secs(8)).await;
    server_a.kill();
    entry(&config_b, "/w1-extra", &nodes[0]);
    eventually_served(
        &path("agent1.sock"),
        &["spiffe://example.org/w1", "spiffe://example.org/w1-extra"],
    )
    .await;
    // Past the SVIDs' lifetime: every workload still holds a valid one (re-issued by B).
    tokio::time::sleep(Duration::from_secs(32)).await;
    eventually_served(
        &path("agent1.sock"),
        &["spiffe://example.org/w1", "spiffe://example.org/w1-extra"],
    )
    .await;
    for n in 2..=3 {
        eventually_served(
            &path(&format!("agent{n}.sock")),
            &[&format!("spiffe://example.org/w{n}")],
        )
        .await;
    }

    // A comes back on its address and serves the same state; then B goes and A takes over.
    let config_a = server_config(dir.path(), "replica_a", &address_a, &params);
    let (server_a, _) = start_server(&config_a);
    let entries = admin(&config_a, &["entry", "list"]);
    assert_eq!(entries.as_array().unwrap().len(), 4, "{entries}");
    let listed = admin(&config_a, &["node", "list"]);
    assert_eq!(listed.as_array().unwrap().len(), 3, "{listed}");
    assert_eq!(
        admin(&config_a, &["bundle", "show"])["bundle"],
        admin(&config_b, &["bundle", "show"])["bundle"],
        "both replicas serve one bundle"
    );
    server_b.kill();
    entry(&config_a, "/w2-extra", &nodes[1]);
    eventually_served(
        &path("agent2.sock"),
        &["spiffe://example.org/w2", "spiffe://example.org/w2-extra"],
    )
    .await;

    for agent in agents {
        agent.terminate();
    }
    server_a.terminate();
}

/// PostgreSQL going away mid-run: node calls get `Unavailable` (the agent keeps what it has
/// and retries), admin writes fail with a typed error and write nothing, readiness says why;
/// when the database is back the same server recovers without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_disappears_gives_typed_errors_and_recovers() {
    use std::sync::Arc;
    use std::time::SystemTime;

    let Some(mut postgres) =
        PostgresServer::start_or_skip("a_database_that_disappears_gives_typed_errors_and_recovers")
    else {
        return;
    };
    postgres.create_database("spiffe");
    let params = postgres.connection_string("spiffe");
    let store: Arc<dyn store::Store> = Arc::new(store::PostgresStore::connect(&params).unwrap());
    let ca = ca::CertificateAuthority::builder("example.org".parse().unwrap())
        .key_store(store.ca_journal("server").unwrap())
        .build(SystemTime::now())
        .unwrap();
    let server = server::Server::builder(ca, Arc::clone(&store))
        .entry_refresh_interval(Duration::from_millis(100))
        .serve("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let bundle = server.ca().bundle().x509_bundle().as_ref().clone();
    let client = node_api::NodeClient::new(node_api::NodeClientConfig::new(
        vec![server.local_addr().to_string()],
        bundle,
        svid::Crypto::default(),
    ))
    .unwrap();
    let token = server
        .create_join_token(Duration::from_secs(60), None)
        .await
        .unwrap();
    client
        .attest(node_api::Attestation::join_token(token.token.as_str()))
        .await
        .unwrap();
    let node = token.agent_id.clone();
    let web = common::entry("/web", &node);
    server.create_entry(web).await.unwrap();
    assert_eq!(client.sync().await.unwrap().entries.len(), 1);

    postgres.stop();
    let error = client.sync().await.unwrap_err();
    assert!(error.is_transient(), "{error}");
    let refused = server
        .create_entry(common::entry("/api", &node))
        .await
        .unwrap_err();
    assert!(matches!(refused, server::Error::Store(_)), "{refused}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(server.readiness().is_err());

    postgres.restart().unwrap();
    let mut synced = None;
    for _ in 0..100 {
        if let Ok(sync) = client.sync().await {
            synced = Some(sync);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(synced.expect("the server recovers").entries.len(), 1);
    server
        .create_entry(common::entry("/api", &node))
        .await
        .unwrap();
    let ids: Vec<String> = store
        .entries()
        .unwrap()
        .iter()
        .map(|e| e.spiffe_id().to_string())
        .collect();
    assert_eq!(
        ids,
        ["spiffe://example.org/web", "spiffe://example.org/api"]
    );
    server.shutdown().await.unwrap();
}
