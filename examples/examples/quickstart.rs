//! The main demo: SPIFFE mTLS between two services that get their identities from a Workload
//! API, with a CA rotation in the middle, all in one process and with nothing to install.
//!
//! ```text
//! cargo run -p examples --example quickstart
//! ```
//!
//! 1. An in-process CA for `example.org` (the `ca` crate).
//! 2. An agent (the `agent` crate) serving the Workload API on a socket in a temporary
//!    directory, with two registration entries for this user, told apart by their hints.
//! 3. A server and a client that each fetch their SVID and the bundle over the Workload API with
//!    an `X509Source` (the `workload-client` crate), which keeps them current by itself.
//! 4. A hyper HTTPS server and client with mutual TLS (the `tls-integration` crate): the server
//!    accepts only `spiffe://example.org/client`, the client talks only to
//!    `spiffe://example.org/server`.
//! 5. A forced rotation of the CA's X.509 authority: the agent re-issues both SVIDs, the sources
//!    pick them up, and the next request succeeds with new certificates, without rebuilding any
//!    TLS configuration.

use std::convert::Infallible;
use std::error::Error;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use agent::{Agent, RegistrationEntry, Selector};
use ca::CertificateAuthority;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::rt::TokioExecutor;
use spiffe_id::{IdMatcher, SpiffeId};
use svid::X509SvidSource;
use tls_integration::net::{SpiffeAcceptor, SpiffeConnector};
use tls_integration::{PeerInfo, SpiffeTls};
use workload_client::{Client, Endpoint, SourceOptions, SvidPicker, X509Source};

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    run().await
}

/// The server's handler: greets the caller by the SPIFFE ID its certificate proved.
async fn hello(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let caller = request
        .extensions()
        .get::<PeerInfo>()
        .and_then(PeerInfo::spiffe_id)
        .map_or_else(|| "anonymous".to_owned(), ToString::to_string);
    Ok(Response::new(Full::new(Bytes::from(format!(
        "hello {caller}"
    )))))
}

/// A short fingerprint of a certificate, to show that rotation changed it.
fn fingerprint(der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    digest
        .as_ref()
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// One request from the client; prints what each side proved to the other.
async fn call(
    client: &HttpClient<SpiffeConnector, Empty<Bytes>>,
    url: &str,
    client_source: &X509Source,
) -> Result<(), Box<dyn Error>> {
    let response = client.get(url.parse()?).await?;
    let server = response
        .extensions()
        .get::<PeerInfo>()
        .and_then(PeerInfo::identity)
        .ok_or("the connection carries no verified server identity")?
        .clone();
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    let own = client_source.x509_svid().ok_or("the client has no SVID")?;
    println!(
        "client: {status} {:?} from {} (server cert {}, client cert {})",
        String::from_utf8_lossy(&body),
        server.spiffe_id(),
        server
            .certificates()
            .first()
            .map_or_else(String::new, |c| fingerprint(c)),
        fingerprint(own.leaf()),
    );
    if !status.is_success() {
        return Err(format!("the server answered {status}").into());
    }
    Ok(())
}

/// Runs the whole demo and returns when it is done.
pub async fn run() -> Result<(), Box<dyn Error>> {
    let server_id: SpiffeId = "spiffe://example.org/server".parse()?;
    let client_id: SpiffeId = "spiffe://example.org/client".parse()?;

    // 1. The trust domain's CA.
    let ca = CertificateAuthority::builder("example.org".parse()?).build(SystemTime::now())?;
    println!("ca: {} is up", ca.spiffe_id());

    // 2. The agent. Both services run as this user, so both entries select on the uid; the
    // hints let each service pick its own identity.
    let dir = tempfile::tempdir()?;
    let me = Selector::current_uid()?;
    let agent = Agent::builder(ca.clone())
        .entry(
            RegistrationEntry::new(server_id.clone())
                .with_selector(me.clone())
                .with_hint("server"),
        )
        .entry(
            RegistrationEntry::new(client_id.clone())
                .with_selector(me.clone())
                .with_hint("client"),
        )
        .serve_unix(dir.path().join("agent.sock"))
        .await?;
    println!("agent: Workload API on {} for {me}", agent.endpoint());

    // 3. Each service's view of the Workload API: an X509Source that waits for its first SVID
    // and then keeps itself current.
    let endpoint = Endpoint::parse(&agent.endpoint())?;
    let source = |hint: &str| {
        let client = Client::builder(endpoint.clone()).connect_lazy();
        let picker = SvidPicker::Hint(hint.to_owned());
        async move { X509Source::new(client?, picker, SourceOptions::default()).await }
    };
    let server_source = source("server").await?;
    let client_source = source("client").await?;
    println!(
        "sources: server holds {}, client holds {}",
        server_source.svid()?.spiffe_id(),
        client_source.svid()?.spiffe_id()
    );

    // 4. mTLS: each side presents its current SVID and authorizes the other by SPIFFE ID. The
    // source is both the SVID source and the bundle source.
    let tls = SpiffeTls::new(svid::Crypto::default());
    let server_config = tls.mtls_server(
        Arc::new(server_source.clone()),
        Arc::new(server_source.clone()),
        IdMatcher::exact(client_id.clone()),
    )?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("https://{}/", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(tls_integration::hyper::serve(
        listener,
        SpiffeAcceptor::new(server_config),
        hyper::service::service_fn(hello),
        async move {
            let _ = stopped.await;
        },
    ));
    println!("server: {url} accepts only {client_id}");

    let client_config = tls.mtls_client(
        Arc::new(client_source.clone()),
        Arc::new(client_source.clone()),
        IdMatcher::exact(server_id.clone()),
    )?;
    let http: HttpClient<SpiffeConnector, Empty<Bytes>> = HttpClient::builder(TokioExecutor::new())
        // One connection per request, so every request shows a fresh handshake.
        .pool_max_idle_per_host(0)
        .build(SpiffeConnector::new(client_config));
    call(&http, &url, &client_source).await?;

    // 5. Rotate the CA's X.509 authority now. The agent re-issues every SVID under the new
    // authority and pushes it with the new bundle; the sources swap their snapshots.
    let (old_server, old_client) = (server_source.svid()?, client_source.svid()?);
    let mut server_updates = server_source.updated();
    let mut client_updates = client_source.updated();
    ca.force_rotate_x509(SystemTime::now())?;
    println!("ca: X.509 authority rotated; waiting for the agent to push new SVIDs");
    let rotated = |source: &X509Source, old: &Arc<svid::X509Svid>| {
        source.svid().is_ok_and(|now| now.leaf() != old.leaf())
    };
    tokio::time::timeout(Duration::from_secs(30), async {
        while !rotated(&server_source, &old_server) {
            server_updates.changed().await?;
        }
        while !rotated(&client_source, &old_client) {
            client_updates.changed().await?;
        }
        Ok::<(), tokio::sync::watch::error::RecvError>(())
    })
    .await??;
    call(&http, &url, &client_source).await?;
    println!("done: both certificates changed and the same TLS configurations kept working");

    let _ = stop.send(());
    server.await??;
    server_source.close().await;
    client_source.close().await;
    agent.shutdown().await?;
    Ok(())
}
