//! Two trust domains on one machine, federated both ways, and a cross-domain mTLS call that
//! keeps working while one of them rotates its CA. Nothing to install.
//!
//! ```text
//! cargo run -p examples --example federation
//! ```
//!
//! 1. `a.example` and `b.example`: each an in-process CA and agent with a Workload API socket.
//! 2. Each trust domain serves its bundle on a bundle endpoint (`https_spiffe`, an X509-SVID of
//!    its own CA) and federates with the other through a `FederationManager` (refresh hint 1 s).
//!    Each bootstraps the other's bundle once (out of band in a real deployment); from then on
//!    every bundle comes over federation.
//! 3. `a.example/server` serves HTTPS to `b.example/client` only; `b.example/client` calls it
//!    with a new connection (a full handshake) every 100 ms, and trusts only
//!    `a.example/server`.
//! 4. A's CA rotates in two steps, as an operator would (SPIRE's `localauthority x509 prepare`
//!    / `activate`; the CA's own schedule does the same at half and 5/6 of a key's life):
//!    `prepare_x509` publishes the next authority, B's manager fetches it from A's bundle
//!    endpoint, and only then `force_rotate_x509` makes it sign. When A's server presents an
//!    SVID of the new authority, B already trusts it: no call fails. The demo counts them.

use std::convert::Infallible;
use std::error::Error;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use agent::federation::{EndpointSvid, publish_ca_bundle};
use agent::{Agent, AgentHandle, RegistrationEntry, Selector};
use ca::CertificateAuthority;
use federation::client::Client as FederationClient;
use federation::endpoint::{self, EndpointTls};
use federation::manager::{EndpointFetcher, FederationManager, RefreshPolicy, Relationship};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::rt::TokioExecutor;
use spiffe_id::{IdMatcher, SpiffeId, TrustDomain};
use svid::{UnixTime, Usage};
use tls_integration::SpiffeTls;
use tls_integration::net::{SpiffeAcceptor, SpiffeConnector};
use tokio::sync::oneshot;
use trust_bundle::X509Bundle;
use workload_client::{Client, Endpoint, SourceOptions, SvidPicker, X509Source};

/// The bundle endpoints' `spiffe_refresh_hint`, and the managers' refresh bounds.
const REFRESH: Duration = Duration::from_secs(1);
/// The path of each trust domain's bundle endpoint SVID.
const ENDPOINT_PATH: &str = "/federation/bundle-endpoint";

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
    let outcome = run().await?;
    println!("{outcome}");
    Ok(())
}

/// What the demo saw.
#[derive(Debug)]
#[non_exhaustive]
pub struct Outcome {
    /// Calls from B's client to A's server that succeeded.
    pub calls_ok: u64,
    /// Calls that failed (the demo fails when there is one).
    pub calls_failed: u64,
    /// Of the successful calls, those made after A's server presented an SVID of A's new
    /// authority.
    pub calls_after_rotation: u64,
    /// How long after A prepared its next authority B's agent held it.
    pub learned_after: Duration,
}

impl core::fmt::Display for Outcome {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "{} calls, {} failed, {} after A's rotation; B held A's next authority {:.1} s \
             after A prepared it",
            self.calls_ok + self.calls_failed,
            self.calls_failed,
            self.calls_after_rotation,
            self.learned_after.as_secs_f64()
        )
    }
}

/// One trust domain: its CA, agent and bundle endpoint.
struct Domain {
    ca: CertificateAuthority,
    agent: AgentHandle,
    endpoint_url: String,
    stop_endpoint: oneshot::Sender<()>,
}

/// Starts `trust_domain`'s CA and agent (one entry, `workload`, for this user, federating with
/// `peer`) and its bundle endpoint.
async fn start_domain(
    trust_domain: &str,
    workload: &SpiffeId,
    peer: &TrustDomain,
    dir: &Path,
) -> Result<Domain, Box<dyn Error>> {
    let crypto = svid::Crypto::default();
    let ca = CertificateAuthority::builder(trust_domain.parse()?)
        .refresh_hint(REFRESH)
        .build(SystemTime::now())?;
    let entry = RegistrationEntry::new(workload.clone())
        .with_selector(Selector::current_uid()?)
        .with_federates_with(peer.clone());
    let agent = Agent::builder(ca.clone())
        .entry(entry)
        .x509_svid_ttl(Duration::from_secs(4))
        .serve_unix(dir.join(format!("{trust_domain}.sock")))
        .await?;

    // The bundle endpoint: the CA's published bundle (prepared authorities included), over
    // TLS with an X509-SVID of the CA that follows its rotations.
    let (publisher, _follow) = publish_ca_bundle(&ca);
    let endpoint_id = SpiffeId::from_path(ca.trust_domain(), ENDPOINT_PATH)?;
    let (svid, _renew) = EndpointSvid::start(ca.clone(), endpoint_id, Duration::from_secs(4))?;
    let tls = EndpointTls::https_spiffe(svid, &crypto)?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let endpoint_url = format!("https://{}/", listener.local_addr()?);
    let (stop_endpoint, stopped) = oneshot::channel::<()>();
    tokio::spawn(endpoint::serve(
        listener,
        tls,
        publisher.service("/"),
        stopped,
    ));
    println!(
        "{trust_domain}: agent on {}, bundle endpoint {endpoint_url}",
        agent.endpoint()
    );
    Ok(Domain {
        ca,
        agent,
        endpoint_url,
        stop_endpoint,
    })
}

/// `local` federates with `remote`: a manager fetching `remote`'s bundle endpoint, bootstrapped
/// with `remote`'s bundle of now, feeding `local`'s agent.
fn federate(local: &Domain, remote: &Domain) -> Result<FederationManager, Box<dyn Error>> {
    let remote_td = remote.ca.trust_domain().clone();
    let bootstrap = X509Bundle::clone(remote.ca.bundle().x509_bundle());
    let fetcher = EndpointFetcher::self_serving_spiffe(
        FederationClient::new(svid::Crypto::default()),
        remote.endpoint_url.parse()?,
        SpiffeId::from_path(&remote_td, ENDPOINT_PATH)?,
        bootstrap,
    );
    let manager = FederationManager::new();
    manager.add(
        Relationship::new(remote_td, Arc::new(fetcher))
            .refresh(RefreshPolicy::new(REFRESH, REFRESH)),
    );
    local.agent.follow_federated_bundles(manager.subscribe());
    Ok(manager)
}

/// A workload's X509Source on `agent`'s socket.
async fn source(agent: &AgentHandle) -> Result<Arc<X509Source>, Box<dyn Error>> {
    let client = Client::builder(Endpoint::parse(&agent.endpoint())?).connect_lazy()?;
    Ok(Arc::new(
        X509Source::new(client, SvidPicker::Default, SourceOptions::default()).await?,
    ))
}

async fn hello(_request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(
        b"hello from a.example",
    ))))
}

/// The calls' outcomes.
#[derive(Default)]
struct Counts {
    ok: AtomicU64,
    failed: AtomicU64,
    after_rotation: AtomicU64,
    /// Set once A's server presents an SVID of the new authority.
    rotated: AtomicBool,
}

impl Counts {
    async fn record(
        &self,
        response: Result<Response<Incoming>, hyper_util::client::legacy::Error>,
    ) {
        let ok = match response {
            Ok(response) if response.status().is_success() => {
                response.into_body().collect().await.is_ok()
            }
            Ok(response) => {
                println!("call refused: {}", response.status());
                false
            }
            Err(error) => {
                println!("call failed: {error:?}");
                false
            }
        };
        if !ok {
            self.failed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.ok.fetch_add(1, Ordering::Relaxed);
        if self.rotated.load(Ordering::Relaxed) {
            self.after_rotation.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Polls `done` every 50 ms for up to 10 s.
async fn wait_until(done: impl Fn() -> bool, what: &str) -> Result<(), Box<dyn Error>> {
    for _ in 0..200 {
        if done() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!("timed out waiting for {what}").into())
}

/// Whether `svid`'s chain verifies with `authorities` alone.
fn signed_by(svid: &svid::X509Svid, authorities: &X509Bundle) -> bool {
    let crypto = svid::Crypto::default();
    svid::verify(
        svid.chain(),
        authorities,
        &crypto,
        Usage::ServerAuth,
        UnixTime::now(),
    )
    .is_ok()
}

/// Runs the whole demo and returns what it saw; an error if a call failed or no rotation
/// happened.
pub async fn run() -> Result<Outcome, Box<dyn Error>> {
    let dir = tempfile::tempdir()?;
    let (a_td, b_td): (TrustDomain, TrustDomain) = ("a.example".parse()?, "b.example".parse()?);
    let server_id = SpiffeId::from_path(&a_td, "/server")?;
    let client_id = SpiffeId::from_path(&b_td, "/client")?;

    // 1-2. Both trust domains, federated both ways.
    let a = start_domain("a.example", &server_id, &b_td, dir.path()).await?;
    let b = start_domain("b.example", &client_id, &a_td, dir.path()).await?;
    let _a_follows_b = federate(&a, &b)?;
    let _b_follows_a = federate(&b, &a)?;
    let a_first = X509Bundle::clone(a.ca.bundle().x509_bundle());

    // 3. A's server, B's client; each authorizes exactly the other.
    let tls = SpiffeTls::new(svid::Crypto::default());
    let server_source = source(&a.agent).await?;
    let server_config = tls.mtls_server(
        server_source.clone(),
        server_source.clone(),
        IdMatcher::exact(client_id.clone()),
    )?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url: hyper::Uri = format!("https://{}/", listener.local_addr()?).parse()?;
    let (stop_server, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(tls_integration::hyper::serve(
        listener,
        SpiffeAcceptor::new(server_config),
        hyper::service::service_fn(hello),
        async move {
            let _ = stopped.await;
        },
    ));
    let client_source = source(&b.agent).await?;
    let client_config = tls.mtls_client(
        client_source.clone(),
        client_source.clone(),
        IdMatcher::exact(server_id.clone()),
    )?;
    let connector = SpiffeConnector::new(client_config);
    // No pooling: every call is a new connection with a full handshake, so each one checks
    // the SVIDs and bundles held at that moment.
    let http: HttpClient<_, Empty<Bytes>> = HttpClient::builder(TokioExecutor::new())
        .pool_max_idle_per_host(0)
        .build(connector);

    // The calls: a new connection every 100 ms until told to stop, counted.
    let counts = Arc::new(Counts::default());
    let (stop_calls, mut calls_stopped) = tokio::sync::watch::channel(false);
    let caller = tokio::spawn({
        let counts = Arc::clone(&counts);
        async move {
            while !*calls_stopped.borrow() {
                let response = http.get(url.clone()).await;
                counts.record(response).await;
                let _ =
                    tokio::time::timeout(Duration::from_millis(100), calls_stopped.changed()).await;
            }
        }
    });
    tokio::time::sleep(Duration::from_secs(1)).await;

    // 4. A prepares its next authority; B's manager fetches it from A's bundle endpoint.
    let started = Instant::now();
    a.ca.prepare_x509(SystemTime::now())?;
    println!("a.example: next authority prepared and published");
    // What B's workload holds, from its own agent's Workload API stream.
    let b_holds_next = || {
        client_source.snapshot().is_some_and(|snapshot| {
            let bundles = snapshot.context().bundles();
            bundles.get(&a_td).is_some_and(|bundle| {
                let held = bundle.x509_bundle().authorities();
                held.iter().any(|c| !a_first.authorities().contains(c))
            })
        })
    };
    wait_until(b_holds_next, "B to hold A's next authority").await?;
    let learned = started.elapsed();
    println!(
        "b.example/client: holds it after {:.1} s",
        learned.as_secs_f64()
    );

    // A activates it; A's agent re-issues its workloads' SVIDs under it.
    a.ca.force_rotate_x509(SystemTime::now())?;
    let presents_new = || {
        server_source
            .svid()
            .is_ok_and(|svid| !signed_by(&svid, &a_first))
    };
    wait_until(
        presents_new,
        "A's server to present an SVID of the new authority",
    )
    .await?;
    println!("a.example/server: presents an SVID of the new authority");
    counts.rotated.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let _ = stop_calls.send(true);
    caller.await?;

    let _ = stop_server.send(());
    server.await??;
    for domain in [a, b] {
        let _ = domain.stop_endpoint.send(());
        domain.agent.shutdown().await?;
    }
    let outcome = Outcome {
        calls_ok: counts.ok.load(Ordering::Relaxed),
        calls_failed: counts.failed.load(Ordering::Relaxed),
        calls_after_rotation: counts.after_rotation.load(Ordering::Relaxed),
        learned_after: learned,
    };
    ensure!(outcome.calls_failed == 0, "{outcome}");
    ensure!(
        outcome.calls_after_rotation > 0,
        "no call after the rotation: {outcome}"
    );
    Ok(outcome)
}
