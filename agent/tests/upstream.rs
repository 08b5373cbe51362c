//! Upstream mode against a real fleet server on loopback: the agent attests with a join
//! token, serves the server's entries to workloads, follows entry changes, keeps serving while
//! the server is down and recovers when it is back, and never holds another node's entries.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use agent::node_api::{Attestation, NodeClient, NodeClientConfig};
use agent::{Agent, AgentHandle, UpstreamConfig};
use spiffe_id::SpiffeId;
use workload_client::{Client, Endpoint};

const SYNC: Duration = Duration::from_millis(100);

struct Fleet {
    store: Arc<dyn store::Store>,
    server: Option<server::Server>,
    address: SocketAddr,
    bundle: trust_bundle::X509Bundle,
    dir: tempfile::TempDir,
}

async fn start_server(store: &Arc<dyn store::Store>, address: SocketAddr) -> server::Server {
    let ca = ca::CertificateAuthority::builder("example.org".parse().unwrap())
        .key_store(store.ca_journal("server").unwrap())
        .build(SystemTime::now())
        .unwrap();
    server::Server::builder(ca, Arc::clone(store))
        .entry_refresh_interval(SYNC)
        .serve(address)
        .await
        .unwrap()
}

impl Fleet {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn store::Store> =
            Arc::new(store::SqliteStore::open(dir.path().join("server.db")).unwrap());
        let server = start_server(&store, "127.0.0.1:0".parse().unwrap()).await;
        let address = server.local_addr();
        let bundle = server.ca().bundle().x509_bundle().as_ref().clone();
        Self {
            store,
            server: Some(server),
            address,
            bundle,
            dir,
        }
    }

    fn server(&self) -> &server::Server {
        self.server.as_ref().unwrap()
    }

    /// An agent attested with a fresh join token, and its agent ID.
    async fn agent(&self, name: &str) -> (AgentHandle, SpiffeId) {
        let token = self
            .server()
            .create_join_token(Duration::from_secs(60), None)
            .await
            .unwrap();
        let mut config = NodeClientConfig::new(
            vec![self.address.to_string()],
            self.bundle.clone(),
            svid::Crypto::default(),
        );
        config.timeout = Duration::from_secs(2);
        let client = NodeClient::new(config).unwrap();
        let upstream = UpstreamConfig::new(client, Attestation::join_token(token.token.as_str()))
            .with_sync_interval(SYNC);
        let agent = Agent::upstream_builder(upstream)
            .serve_unix(self.dir.path().join(format!("{name}.sock")))
            .await
            .unwrap();
        (agent, token.agent_id)
    }

    async fn entry(&self, path: &str, parent: &SpiffeId) -> store::EntryRecord {
        let uid = nix::unistd::getuid().as_raw();
        self.server()
            .create_entry(
                store::EntryRecord::new(format!("spiffe://example.org{path}").parse().unwrap())
                    .with_parent_id(Some(parent.clone()))
                    .with_selector(format!("unix:uid:{uid}")),
            )
            .await
            .unwrap()
    }
}

fn client(path: &Path) -> Client {
    Client::builder(Endpoint::unix(path).unwrap())
        .timeout(Duration::from_secs(5))
        .connect_lazy()
        .unwrap()
}

/// The IDs the workload gets now (empty when it gets none).
async fn served(path: &Path) -> Vec<String> {
    match client(path).fetch_x509_context().await {
        Ok(context) => context
            .svids()
            .iter()
            .map(|svid| svid.spiffe_id().to_string())
            .collect(),
        Err(_) => Vec::new(),
    }
}

async fn eventually_served(path: &Path, expected: &[&str]) {
    let mut expected: Vec<String> = expected.iter().map(|s| (*s).to_owned()).collect();
    expected.sort();
    let mut last = Vec::new();
    for _ in 0..200 {
        last = served(path).await;
        last.sort();
        if last == expected {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("expected {expected:?}, the agent serves {last:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_agent_serves_the_entries_of_its_node() {
    let fleet = Fleet::start().await;
    // The entry exists before the agent starts: it is served from the first sync.
    let (first, first_id) = {
        let token = fleet
            .server()
            .create_join_token(Duration::from_secs(60), None)
            .await
            .unwrap();
        let id = token.agent_id.clone();
        fleet.entry("/web", &id).await;
        let client = NodeClient::new(NodeClientConfig::new(
            vec![fleet.address.to_string()],
            fleet.bundle.clone(),
            svid::Crypto::default(),
        ))
        .unwrap();
        let upstream = UpstreamConfig::new(client, Attestation::join_token(token.token.as_str()))
            .with_sync_interval(SYNC);
        let agent = Agent::upstream_builder(upstream)
            .serve_unix(fleet.dir.path().join("first.sock"))
            .await
            .unwrap();
        (agent, id)
    };
    let (second, second_id) = fleet.agent("second").await;
    assert!(first.ca().is_none());
    eventually_served(first.socket_path(), &["spiffe://example.org/web"]).await;

    // The workload's SVID verifies against the bundle it is served with, and a JWT-SVID
    // comes from the server.
    let workload = client(first.socket_path());
    let context = workload.fetch_x509_context().await.unwrap();
    assert_eq!(context.svids().len(), 1);
    let jwt = workload.fetch_jwt_svid(&["backend"], None).await.unwrap();
    assert_eq!(jwt.spiffe_id().as_str(), "spiffe://example.org/web");
    let bundles = workload.fetch_jwt_bundles().await.unwrap();
    assert!(bundles.contains("example.org"));

    // Entries created later reach the right agent only.
    fleet.entry("/api", &first_id).await;
    fleet.entry("/db", &second_id).await;
    eventually_served(
        first.socket_path(),
        &["spiffe://example.org/web", "spiffe://example.org/api"],
    )
    .await;
    eventually_served(second.socket_path(), &["spiffe://example.org/db"]).await;

    first.shutdown().await.unwrap();
    second.shutdown().await.unwrap();
}

/// With the server gone the agent keeps serving what it holds; when a server is back on the
/// same address (and store) it syncs again without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_agent_rides_out_a_server_outage() {
    let mut fleet = Fleet::start().await;
    let (agent, agent_id) = fleet.agent("node").await;
    fleet.entry("/web", &agent_id).await;
    eventually_served(agent.socket_path(), &["spiffe://example.org/web"]).await;

    fleet.server.take().unwrap().shutdown().await.unwrap();
    tokio::time::sleep(SYNC * 5).await;
    assert_eq!(
        served(agent.socket_path()).await,
        ["spiffe://example.org/web"]
    );

    fleet.server = Some(start_server(&fleet.store, fleet.address).await);
    fleet.entry("/api", &agent_id).await;
    eventually_served(
        agent.socket_path(),
        &["spiffe://example.org/web", "spiffe://example.org/api"],
    )
    .await;
    agent.shutdown().await.unwrap();
}

/// An agent whose node was evicted stops getting entry changes (its calls are refused), and
/// one that starts with a used token does not start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_evicted_or_unattested_agent_gets_nothing_new() {
    let fleet = Fleet::start().await;
    let (agent, agent_id) = fleet.agent("node").await;
    fleet.entry("/web", &agent_id).await;
    eventually_served(agent.socket_path(), &["spiffe://example.org/web"]).await;
    fleet.server().evict(agent_id.clone()).await.unwrap();
    fleet.entry("/api", &agent_id).await;
    tokio::time::sleep(SYNC * 10).await;
    assert_eq!(
        served(agent.socket_path()).await,
        ["spiffe://example.org/web"]
    );
    agent.shutdown().await.unwrap();

    let token = fleet
        .server()
        .create_join_token(Duration::from_secs(60), None)
        .await
        .unwrap();
    let client = || {
        NodeClient::new(NodeClientConfig::new(
            vec![fleet.address.to_string()],
            fleet.bundle.clone(),
            svid::Crypto::default(),
        ))
        .unwrap()
    };
    client()
        .attest(Attestation::join_token(token.token.as_str()))
        .await
        .unwrap();
    let upstream = UpstreamConfig::new(client(), Attestation::join_token(token.token.as_str()));
    let refused = Agent::upstream_builder(upstream)
        .serve_unix(fleet.dir.path().join("late.sock"))
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("used already"), "{refused}");
}

/// A join token works once: an agent with a state directory restarts on the agent SVID it
/// saved (mode 0600), with the same node identity, and serves its entries again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_agent_resumes_with_its_saved_identity() {
    use std::os::unix::fs::PermissionsExt as _;

    let fleet = Fleet::start().await;
    let token = fleet
        .server()
        .create_join_token(Duration::from_secs(60), None)
        .await
        .unwrap();
    fleet.entry("/web", &token.agent_id).await;
    let state = fleet.dir.path().join("state");
    let start = || {
        let client = NodeClient::new(NodeClientConfig::new(
            vec![fleet.address.to_string()],
            fleet.bundle.clone(),
            svid::Crypto::default(),
        ))
        .unwrap();
        let upstream = UpstreamConfig::new(client, Attestation::join_token(token.token.as_str()))
            .with_sync_interval(SYNC)
            .with_state_dir(&state);
        Agent::upstream_builder(upstream).serve_unix(fleet.dir.path().join("node.sock"))
    };
    let agent = start().await.unwrap();
    eventually_served(agent.socket_path(), &["spiffe://example.org/web"]).await;
    agent.shutdown().await.unwrap();
    let saved = state.join("agent-svid.json");
    let mode = std::fs::metadata(&saved).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    // The token is spent; the saved SVID carries the agent through the restart.
    let agent = start().await.unwrap();
    eventually_served(agent.socket_path(), &["spiffe://example.org/web"]).await;
    let nodes = fleet.server().nodes().await.unwrap();
    assert_eq!(nodes.len(), 1);
    assert_eq!(nodes[0].spiffe_id(), &token.agent_id);
    agent.shutdown().await.unwrap();

    // A damaged file is ignored: the agent tries to attest, and the used token is refused.
    std::fs::write(&saved, b"{not json").unwrap();
    let refused = start().await.unwrap_err();
    assert!(refused.to_string().contains("used already"), "{refused}");
}

/// The fleet server's federated bundles reach the upstream agent's workload whose entry
/// federates with them: added, changed (a new authority), and removed once the server no
/// longer sends it (digest 7.6: establish, maintain, terminate; Workload API 5.13: foreign
/// trust domains' bundles in the X.509 stream).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_agent_follows_the_servers_federated_bundles() {
    use trust_bundle::{BundleSet, X509Bundle};

    let partner = ca::TestCa::new("partner.example");
    let rotated = ca::TestCa::new("partner.example");
    let set = |ca: &ca::TestCa| BundleSet::from_bundles([ca.bundle()]).unwrap();
    let (sender, receiver) = tokio::sync::watch::channel(set(&partner));
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn store::Store> =
        Arc::new(store::SqliteStore::open(dir.path().join("server.db")).unwrap());
    let ca = ca::CertificateAuthority::builder("example.org".parse().unwrap())
        .key_store(store.ca_journal("server").unwrap())
        .build(SystemTime::now())
        .unwrap();
    let server = server::Server::builder(ca, Arc::clone(&store))
        .entry_refresh_interval(SYNC)
        .federated_bundles(receiver)
        .serve("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let fleet = Fleet {
        store,
        address: server.local_addr(),
        bundle: server.ca().bundle().x509_bundle().as_ref().clone(),
        server: Some(server),
        dir,
    };
    let (agent, node) = fleet.agent("federated").await;
    let uid = nix::unistd::getuid().as_raw();
    fleet
        .server()
        .create_entry(
            store::EntryRecord::new("spiffe://example.org/web".parse().unwrap())
                .with_parent_id(Some(node))
                .with_selector(format!("unix:uid:{uid}"))
                .with_federates_with(["partner.example".parse().unwrap()]),
        )
        .await
        .unwrap();
    let workload = client(agent.socket_path());
    let partner_bundle = async |expected: Option<&X509Bundle>| {
        for _ in 0..200 {
            if let Ok(bundles) = workload.fetch_x509_bundles().await {
                let held = bundles
                    .get("partner.example")
                    .map(|b| b.x509_bundle().clone());
                if held.as_deref() == expected {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the workload never saw partner.example's bundle as {expected:?}");
    };
    partner_bundle(Some(&partner.x509_bundle())).await;

    sender.send_replace(set(&rotated));
    partner_bundle(Some(&rotated.x509_bundle())).await;

    // The server no longer holds it (the relationship ended): the agent drops it although
    // the entry still federates with it.
    sender.send_replace(BundleSet::new());
    partner_bundle(None).await;
    agent.shutdown().await.unwrap();
}
