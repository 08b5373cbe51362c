//! A fleet on one machine: a server and two node agents, and two workloads on different
//! "nodes" talking mutual TLS, all in one process and with nothing to install.
//!
//! ```text
//! cargo run -p examples --example fleet
//! ```
//!
//! 1. A fleet server for `example.org` (the `server` crate): CA journal and entries in a SQLite
//!    store in a temporary directory, node API on loopback.
//! 2. Two registration entries for this user: `/frontend` on node A, `/backend` on node B.
//! 3. Node A's agent attests with a join token, node B's with x509pop (a certificate from an
//!    in-process "machine PKI"); each serves the Workload API on its own Unix socket.
//! 4. `backend` (identity from node B) serves HTTPS to `/frontend` only; `frontend` (identity
//!    from node A) calls it and talks to `/backend` only.
//! 5. The boundary: node A's agent does not serve `/backend`, and when it asks the server for
//!    that identity (as a compromised node would) the server refuses.

use std::convert::Infallible;
use std::error::Error;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use agent::node_api::proto::X509SvidRequest;
use agent::node_api::x509pop::NodeCredential;
use agent::node_api::{Attestation, NodeClient, NodeClientConfig};
use agent::{Agent, AgentHandle, Selector, UpstreamConfig};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::rt::TokioExecutor;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use server::{Server, X509popAttestor, X509popConfig};
use spiffe_id::{IdMatcher, SpiffeId};
use store::EntryRecord;
use tls_integration::net::{SpiffeAcceptor, SpiffeConnector};
use tls_integration::{PeerInfo, SpiffeTls};
use workload_client::{Client, Endpoint, SourceOptions, SvidPicker, X509Source};

/// Node B's certificate subject CN; the server names the node after it.
const NODE_B_CN: &str = "node-b.example.org";

/// Returns an error from the enclosing function unless the condition holds.
macro_rules! ensure {
    ($ok:expr, $($message:tt)+) => {
        if !$ok {
            return Err(format!($($message)+).into());
        }
    };
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    run().await
}

/// The backend's handler: greets the caller by the SPIFFE ID its certificate proved.
async fn hello(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let caller = request
        .extensions()
        .get::<PeerInfo>()
        .and_then(PeerInfo::spiffe_id)
        .map_or_else(|| "anonymous".to_owned(), ToString::to_string);
    let body = Bytes::from(format!("hello {caller}"));
    Ok(Response::new(Full::new(body)))
}

/// An organisation's machine PKI: its root, and a node certificate and key (PEM) for `cn`.
fn machine_pki(cn: &str) -> Result<(Vec<u8>, String, String), rcgen::Error> {
    let (root_key, node_key) = (KeyPair::generate()?, KeyPair::generate()?);
    let mut root = CertificateParams::new(Vec::<String>::new())?;
    root.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let root_der = root.self_signed(&root_key)?.der().to_vec();
    let mut node = CertificateParams::new(Vec::<String>::new())?;
    node.distinguished_name.push(DnType::CommonName, cn);
    let node_cert = node.signed_by(&node_key, &Issuer::new(root, root_key))?;
    Ok((root_der, node_cert.pem(), node_key.serialize_pem()))
}

/// An upstream-mode agent serving `socket`, attested through `client`, checked to be `node`.
async fn start_agent(
    client: &NodeClient,
    attestation: Attestation,
    socket: PathBuf,
    node: &SpiffeId,
) -> Result<AgentHandle, Box<dyn Error>> {
    let upstream = UpstreamConfig::new(client.clone(), attestation);
    let agent = Agent::upstream_builder(upstream).serve_unix(socket).await?;
    let svid = client.agent_svid().ok_or("the agent has no SVID")?;
    ensure!(svid.spiffe_id() == node, "attested as {}", svid.spiffe_id());
    Ok(agent)
}

/// A workload's X509Source on `agent`'s socket, checked to hold `expected`.
async fn source(agent: &AgentHandle, expected: &SpiffeId) -> Result<X509Source, Box<dyn Error>> {
    let client = Client::builder(Endpoint::parse(&agent.endpoint())?).connect_lazy()?;
    let options = SourceOptions::default();
    let source = X509Source::new(client, SvidPicker::Default, options).await?;
    let held = source.svid()?.spiffe_id().clone();
    ensure!(&held == expected, "expected {expected}, got {held}");
    Ok(source)
}

/// Runs the whole demo and returns when it is done.
pub async fn run() -> Result<(), Box<dyn Error>> {
    let frontend_id: SpiffeId = "spiffe://example.org/frontend".parse()?;
    let backend_id: SpiffeId = "spiffe://example.org/backend".parse()?;
    let crypto = svid::Crypto::default();
    let dir = tempfile::tempdir()?;

    // 1. The server. Join tokens are on by default; x509pop trusts the machine PKI's root and
    // names each node after its certificate's CN.
    let store: Arc<dyn store::Store> =
        Arc::new(store::SqliteStore::open(dir.path().join("server.db"))?);
    let ca = ca::CertificateAuthority::builder("example.org".parse()?)
        .key_store(store.ca_journal("server")?)
        .build(SystemTime::now())?;
    let (machine_root, node_b_cert, node_b_key) = machine_pki(NODE_B_CN)?;
    let x509pop =
        X509popConfig::new(vec![machine_root.into()]).with_template("/agent/x509pop/{subject_cn}");
    let x509pop = X509popAttestor::new("example.org".parse()?, x509pop, crypto.clone())?;
    let server = Server::builder(ca, Arc::clone(&store))
        .attestor(Arc::new(x509pop))
        .serve("127.0.0.1:0".parse()?)
        .await?;
    println!("server: example.org node API on {}", server.local_addr());

    // 2. Entries for this user, parented to each node's agent ID, known in advance: the join
    // token names node A, the template names node B.
    let token = server.create_join_token(Duration::from_secs(600), None);
    let token = token.await?;
    let node_a = token.agent_id.clone();
    let node_b: SpiffeId = format!("spiffe://example.org/agent/x509pop/{NODE_B_CN}").parse()?;
    let me = Selector::current_uid()?.to_string();
    let entry = |id: &SpiffeId, node: &SpiffeId| {
        EntryRecord::new(id.clone())
            .with_parent_id(Some(node.clone()))
            .with_selector(me.clone())
    };
    server.create_entry(entry(&frontend_id, &node_a)).await?;
    let backend = server.create_entry(entry(&backend_id, &node_b)).await?;
    println!("server: {frontend_id} on {node_a}, {backend_id} on {node_b}, for {me}");

    // 3. The agents. Each trusts the server's bundle from the start (shipped out of band in a
    // real deployment) and keeps workload keys local: only CSRs reach the server.
    let bundle = server.ca().bundle().x509_bundle().as_ref().clone();
    let servers = vec![server.local_addr().to_string()];
    let config = NodeClientConfig::new(servers, bundle, crypto.clone());
    let client_a = NodeClient::new(config.clone())?;
    let join_token = Attestation::join_token(token.token.as_str());
    let socket = dir.path().join("node-a.sock");
    let agent_a = start_agent(&client_a, join_token, socket, &node_a).await?;
    let at = agent_a.endpoint();
    println!("node A: attested by join token as {node_a}; Workload API on {at}");
    let (cert, key) = (node_b_cert.as_bytes(), node_b_key.as_bytes());
    let x509pop = Attestation::X509pop(NodeCredential::from_pem(cert, key, &crypto)?);
    let socket = dir.path().join("node-b.sock");
    let agent_b = start_agent(&NodeClient::new(config)?, x509pop, socket, &node_b).await?;
    let at = agent_b.endpoint();
    println!("node B: attested by x509pop (CN {NODE_B_CN}) as {node_b}; Workload API on {at}");

    // 4. The workloads: backend gets its identity from node B, frontend from node A; each
    // authorizes exactly the other. The source is both SVID source and bundle source.
    let backend_source = Arc::new(source(&agent_b, &backend_id).await?);
    let frontend_source = Arc::new(source(&agent_a, &frontend_id).await?);
    let tls = SpiffeTls::new(crypto.clone());
    let backend_config = tls.mtls_server(
        backend_source.clone(),
        backend_source.clone(),
        IdMatcher::exact(frontend_id.clone()),
    )?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("https://{}/", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let backend_task = tokio::spawn(tls_integration::hyper::serve(
        listener,
        SpiffeAcceptor::new(backend_config),
        hyper::service::service_fn(hello),
        async move {
            let _ = stopped.await;
        },
    ));
    println!("backend (node B): {url} accepts only {frontend_id}");
    let frontend_config = tls.mtls_client(
        frontend_source.clone(),
        frontend_source.clone(),
        IdMatcher::exact(backend_id.clone()),
    )?;
    let connector = SpiffeConnector::new(frontend_config);
    let http: HttpClient<_, Empty<Bytes>> =
        HttpClient::builder(TokioExecutor::new()).build(connector);
    let response = http.get(url.parse()?).await?;
    let peer = response
        .extensions()
        .get::<PeerInfo>()
        .and_then(PeerInfo::spiffe_id);
    let peer = peer
        .ok_or("the connection carries no verified server identity")?
        .clone();
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    let body = String::from_utf8_lossy(&body);
    println!("frontend (node A) -> backend (node B): verified {peer}, got {status} {body:?}");
    ensure!(status.is_success(), "the backend answered {status}");
    ensure!(peer == backend_id, "the frontend talked to {peer}");
    let greeting = format!("hello {frontend_id}");
    ensure!(body == greeting, "the backend saw another caller");

    // 5. The boundary. Node A's agent serves only node A's entry...
    let on_a = Client::builder(Endpoint::parse(&agent_a.endpoint())?).connect_lazy()?;
    let on_a = on_a.fetch_x509_context().await?;
    let served: Vec<_> = on_a
        .svids()
        .iter()
        .map(|s| s.spiffe_id().to_string())
        .collect();
    println!(
        "node A: its Workload API serves only [{}]",
        served.join(", ")
    );
    ensure!(
        served == [frontend_id.to_string()],
        "node A serves {served:?}"
    );
    // ...and with node A's agent SVID, the server signs nothing for node B's entry.
    let entry_id = backend.id().to_string();
    let csr = agent::node_api::keys::new_key_and_csr()?.csr;
    let request = X509SvidRequest {
        entry_id: entry_id.clone(),
        csr,
    };
    let minted = client_a.mint_x509(vec![request]).await?;
    let result = minted.first().ok_or("no result for the CSR")?;
    println!(
        "server refused node A a CSR for {backend_id}: {}",
        result.error
    );
    ensure!(
        result.chain.is_empty() && !result.error.is_empty(),
        "backend's CSR was signed"
    );
    let jwt = client_a.mint_jwt(&entry_id, &["frontend".to_owned()]).await;
    let refused = jwt
        .err()
        .ok_or("the server minted backend's JWT-SVID for node A")?;
    let denied = matches!(&refused, agent::node_api::Error::Refused { status, .. }
        if status.code() == tonic::Code::PermissionDenied);
    ensure!(denied, "not a refusal: {refused}");
    println!("server refused node A a JWT-SVID for {backend_id}: {refused}");

    // 6. Shut down: the backend, the sources, the agents, the server.
    let _ = stop.send(());
    backend_task.await??;
    frontend_source.close().await;
    backend_source.close().await;
    agent_a.shutdown().await?;
    agent_b.shutdown().await?;
    server.shutdown().await?;
    println!("done: two nodes, two workloads, one trust domain; all stopped");
    Ok(())
}
