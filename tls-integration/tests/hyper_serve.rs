//! `tls_integration::hyper::serve` / `Server` over real TCP sockets on 127.0.0.1, with
//! certificates of `ca::TestCa`, for every enabled crypto provider: HTTP/2 and HTTP/1.1 chosen
//! by ALPN, graceful shutdown with a drain timeout, the handshake timeout, and failed handshakes
//! (logged, and never stopping the accept loop).
//!
//! No test measures time: short timeouts only make the tests quick, and `within` only turns a
//! hang into a failure.

#![cfg(feature = "hyper")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests: a panic is a failed test"
)]

mod common;

use std::convert::Infallible;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use ca::TestCa;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode, Version};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use spiffe_id::IdMatcher;
use svid::Crypto;
use tls_integration::hyper::Server;
use tls_integration::net::{SpiffeAcceptor, SpiffeConnector};
use tls_integration::{PeerInfo, SpiffeClientConfig, SpiffeServerConfig, SpiffeTls};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::task::JoinHandle;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// prod.example serves and calls; other.example is a federated domain the server's
/// authorizer does not accept.
struct World {
    prod: TestCa,
    other: TestCa,
}

static WORLD: LazyLock<World> = LazyLock::new(|| World {
    prod: TestCa::new("prod.example"),
    other: TestCa::new("other.example"),
});

fn bundles() -> Arc<trust_bundle::BundleSet> {
    Arc::new(TestCa::bundle_set_of(&[&WORLD.prod, &WORLD.other]))
}

/// An mTLS server configuration for spiffe://prod.example/server accepting only
/// prod.example clients, advertising `alpn`.
fn server_config(provider: &Crypto, alpn: &[&str]) -> SpiffeServerConfig {
    SpiffeTls::new(provider.clone())
        .with_alpn_protocols(alpn.iter().copied())
        .mtls_server(
            Arc::new(Arc::new(WORLD.prod.x509_svid("/server"))),
            bundles(),
            IdMatcher::member_of(WORLD.prod.trust_domain().clone()),
        )
        .unwrap()
}

/// A client presenting `svid` that accepts only spiffe://prod.example/server, offering
/// `alpn`.
fn client_config(
    provider: &Crypto,
    svid: svid::X509Svid,
    alpn: &[&str],
) -> Arc<SpiffeClientConfig> {
    Arc::new(
        SpiffeTls::new(provider.clone())
            .with_alpn_protocols(alpn.iter().copied())
            .mtls_client(
                Arc::new(Arc::new(svid)),
                bundles(),
                IdMatcher::exact(WORLD.prod.id("/server")),
            )
            .unwrap(),
    )
}

fn client(provider: &Crypto, alpn: &[&str]) -> Arc<SpiffeClientConfig> {
    client_config(provider, WORLD.prod.x509_svid("/client"), alpn)
}

/// Lets `/slow` requests tell the test they arrived, then wait until the test releases them.
#[derive(Clone)]
struct Gate {
    arrived: mpsc::UnboundedSender<()>,
    release: Arc<Semaphore>,
}

/// Answers "<HTTP version seen by the server> <caller's SPIFFE ID>"; `/slow` waits on the gate
/// first.
async fn handle(
    gate: Gate,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if request.uri().path() == "/slow" {
        let _ = gate.arrived.send(());
        let _permit = gate.release.acquire().await;
    }
    let caller = request
        .extensions()
        .get::<PeerInfo>()
        .and_then(PeerInfo::spiffe_id)
        .map_or_else(|| "anonymous".to_owned(), ToString::to_string);
    Ok(Response::new(Full::new(Bytes::from(format!(
        "{:?} {caller}",
        request.version()
    )))))
}

struct Running {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    server: JoinHandle<std::io::Result<()>>,
    arrived: mpsc::UnboundedReceiver<()>,
    release: Arc<Semaphore>,
}

async fn start(server: Server, acceptor: SpiffeAcceptor) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let (arrived_tx, arrived) = mpsc::unbounded_channel();
    let release = Arc::new(Semaphore::new(0));
    let gate = Gate {
        arrived: arrived_tx,
        release: release.clone(),
    };
    let service = hyper::service::service_fn(move |request| handle(gate.clone(), request));
    let server = tokio::spawn(async move {
        server
            .serve(listener, acceptor, service, async move {
                let _ = stopped.await;
            })
            .await
    });
    Running {
        addr,
        stop,
        server,
        arrived,
        release,
    }
}

/// One GET on a fresh connection, with hyper's HTTP/2 client when the handshake negotiated
/// `h2` and its HTTP/1.1 client otherwise. Returns the response's version, status and body.
async fn get(
    config: &Arc<SpiffeClientConfig>,
    addr: SocketAddr,
    path: &str,
) -> Result<(Version, StatusCode, String), BoxError> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("workload.invalid")?;
    let tls = tokio_rustls::TlsConnector::from(config.for_connection().0)
        .connect(name, tcp)
        .await?;
    let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
    let io = TokioIo::new(tls);
    let request = Request::get(format!("https://{addr}{path}")).body(Empty::<Bytes>::new())?;
    let response = if h2 {
        let (mut sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), io).await?;
        tokio::spawn(connection);
        sender.send_request(request).await?
    } else {
        let (mut sender, connection) = hyper::client::conn::http1::handshake(io).await?;
        tokio::spawn(connection);
        sender.send_request(request).await?
    };
    let (version, status) = (response.version(), response.status());
    let body = response.into_body().collect().await?.to_bytes();
    Ok((version, status, String::from_utf8(body.to_vec())?))
}

/// Turns a hang into a failure; no test depends on how long anything takes.
async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), future)
        .await
        .unwrap_or_else(|_| panic!("{what} did not complete"))
}

/// Waits until the listener is closed: connecting is refused by the operating system.
async fn until_refused(addr: SocketAddr) {
    loop {
        match TcpStream::connect(addr).await {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => return,
            // Still open, or reset while it closes: try again.
            Ok(_) => tokio::task::yield_now().await,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                tokio::task::yield_now().await;
            }
            Err(e) => panic!("connecting failed otherwise: {e}"),
        }
    }
}

const CLIENT: &str = "spiffe://prod.example/client";

#[tokio::test]
async fn http2_over_mtls_reaches_the_service_with_the_peer_identity() {
    for (name, provider) in common::providers() {
        let running = start(
            Server::new(),
            SpiffeAcceptor::new(Arc::new(server_config(&provider, &["h2", "http/1.1"]))),
        )
        .await;

        // hyper's HTTP/2 client over tokio-rustls with ALPN h2.
        let (version, status, body) = get(&client(&provider, &["h2"]), running.addr, "/")
            .await
            .unwrap();
        assert_eq!(status, StatusCode::OK, "{name}");
        assert_eq!(version, Version::HTTP_2, "{name}");
        assert_eq!(body, format!("HTTP/2.0 {CLIENT}"), "{name}");

        // hyper-util's client through SpiffeConnector: ALPN h2 makes it speak HTTP/2, and the
        // server's identity reaches the response.
        let legacy: Client<SpiffeConnector, Empty<Bytes>> = Client::builder(TokioExecutor::new())
            .build(SpiffeConnector::new(client(&provider, &["h2", "http/1.1"])));
        let uri: http::Uri = format!("https://{}/", running.addr).parse().unwrap();
        let response = legacy.get(uri).await.unwrap();
        assert_eq!(response.version(), Version::HTTP_2, "{name}");
        assert_eq!(
            response
                .extensions()
                .get::<PeerInfo>()
                .and_then(PeerInfo::spiffe_id),
            Some(&WORLD.prod.id("/server")),
            "{name}"
        );
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, format!("HTTP/2.0 {CLIENT}").as_bytes(), "{name}");

        running.stop.send(()).unwrap();
        within("serve", running.server).await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn http1_is_served_by_alpn_and_without_it() {
    for (name, provider) in common::providers() {
        let with_alpn = start(
            Server::new(),
            SpiffeAcceptor::new(Arc::new(server_config(&provider, &["h2", "http/1.1"]))),
        )
        .await;
        let expected = format!("HTTP/1.1 {CLIENT}");
        for alpn in [&["http/1.1"][..], &[]] {
            let (version, status, body) = get(&client(&provider, alpn), with_alpn.addr, "/")
                .await
                .unwrap();
            assert_eq!(
                (version, status, body.as_str()),
                (Version::HTTP_11, StatusCode::OK, expected.as_str()),
                "{name}: client ALPN {alpn:?}"
            );
        }

        // A server configuration without ALPN (what SpiffeTls builds unless asked) keeps
        // serving HTTP/1.1, even to a client that would prefer h2.
        let without_alpn = start(
            Server::new(),
            SpiffeAcceptor::new(Arc::new(server_config(&provider, &[]))),
        )
        .await;
        let (version, status, body) = get(
            &client(&provider, &["h2", "http/1.1"]),
            without_alpn.addr,
            "/",
        )
        .await
        .unwrap();
        assert_eq!(
            (version, status, body.as_str()),
            (Version::HTTP_11, StatusCode::OK, expected.as_str()),
            "{name}"
        );
    }
}

/// A protocol the server advertises but cannot serve over hyper ends the connection after
/// the handshake instead of being guessed at.
#[tokio::test]
async fn other_alpn_protocols_are_disconnected() {
    for (name, provider) in common::providers() {
        let running = start(
            Server::new(),
            SpiffeAcceptor::new(Arc::new(server_config(
                &provider,
                &["h2", "http/1.1", "x-test/1"],
            ))),
        )
        .await;
        let tcp = TcpStream::connect(running.addr).await.unwrap();
        let mut tls =
            tokio_rustls::TlsConnector::from(client(&provider, &["x-test/1"]).for_connection().0)
                .connect(ServerName::try_from("workload.invalid").unwrap(), tcp)
                .await
                .unwrap();
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"x-test/1"[..]));
        let _ = tls.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").await;
        let mut answer = Vec::new();
        let _ = within("the server closing", tls.read_to_end(&mut answer)).await;
        assert!(
            answer.is_empty(),
            "{name}: {}",
            String::from_utf8_lossy(&answer)
        );

        // The loop still serves HTTP.
        assert_eq!(
            get(&client(&provider, &["h2"]), running.addr, "/")
                .await
                .unwrap()
                .1,
            StatusCode::OK
        );
    }
}

#[tokio::test]
async fn shutdown_lets_in_flight_requests_finish_and_refuses_new_connections() {
    for (name, provider) in common::providers() {
        for alpn in ["h2", "http/1.1"] {
            let mut running = start(
                Server::new(),
                SpiffeAcceptor::new(Arc::new(server_config(&provider, &["h2", "http/1.1"]))),
            )
            .await;
            let config = client(&provider, &[alpn]);
            let addr = running.addr;
            let in_flight = tokio::spawn(async move { get(&config, addr, "/slow").await });
            within("the request to arrive", running.arrived.recv())
                .await
                .unwrap();

            running.stop.send(()).unwrap();
            // The listener closes while the request is still held by the service.
            within("the listener to close", until_refused(addr)).await;
            assert!(
                !running.server.is_finished(),
                "{name} {alpn}: still draining"
            );

            running.release.add_permits(1);
            let (version, status, body) = within("the in-flight request", in_flight)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(status, StatusCode::OK, "{name} {alpn}");
            let expected = if alpn == "h2" {
                Version::HTTP_2
            } else {
                Version::HTTP_11
            };
            assert_eq!(version, expected, "{name} {alpn}");
            assert!(body.ends_with(CLIENT), "{name} {alpn}: {body}");
            within("serve to return after draining", running.server)
                .await
                .unwrap()
                .unwrap();
        }
    }
}

#[tokio::test]
async fn drain_timeout_closes_connections_that_do_not_finish() {
    for (name, provider) in common::providers() {
        for alpn in ["h2", "http/1.1"] {
            let mut running = start(
                Server::new().with_drain_timeout(Duration::from_millis(50)),
                SpiffeAcceptor::new(Arc::new(server_config(&provider, &["h2", "http/1.1"]))),
            )
            .await;
            let config = client(&provider, &[alpn]);
            let addr = running.addr;
            let stuck = tokio::spawn(async move { get(&config, addr, "/slow").await });
            within("the request to arrive", running.arrived.recv())
                .await
                .unwrap();

            // The service never answers: serve returns once the drain timeout passes, and the
            // request fails because its connection was closed.
            running.stop.send(()).unwrap();
            within("serve to return", running.server)
                .await
                .unwrap()
                .unwrap();
            let outcome = within("the stuck request", stuck).await.unwrap();
            assert!(outcome.is_err(), "{name} {alpn}: {outcome:?}");
        }
    }
}

#[tokio::test]
async fn silent_client_is_dropped_after_the_handshake_timeout() {
    for (name, provider) in common::providers() {
        let running = start(
            Server::new(),
            // Long enough for the good client's handshake on a loaded machine (100 ms was
            // not), short enough to keep the test quick.
            SpiffeAcceptor::new(Arc::new(server_config(&provider, &["h2", "http/1.1"])))
                .with_handshake_timeout(Duration::from_secs(2)),
        )
        .await;
        // Connects and never sends a ClientHello.
        let mut silent = TcpStream::connect(running.addr).await.unwrap();

        // Meanwhile a good client is served: the silent one holds no one up.
        let (_, status, _) = get(&client(&provider, &["h2"]), running.addr, "/")
            .await
            .unwrap();
        assert_eq!(status, StatusCode::OK, "{name}");

        // The server gives up on the silent client and closes its connection.
        let mut buf = [0_u8; 16];
        let read = within(
            "the server dropping the silent client",
            silent.read(&mut buf),
        )
        .await;
        assert!(
            matches!(read, Ok(0) | Err(_)),
            "{name}: the server sent {read:?} to a client that said nothing"
        );

        running.stop.send(()).unwrap();
        within("serve", running.server).await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn http1_client_that_trickles_headers_is_dropped_after_the_header_timeout() {
    for (name, provider) in common::providers() {
        let running = start(
            Server::new().with_header_read_timeout(Duration::from_millis(100)),
            SpiffeAcceptor::new(Arc::new(server_config(&provider, &["http/1.1"]))),
        )
        .await;
        let tcp = TcpStream::connect(running.addr).await.unwrap();
        let name_ = ServerName::try_from("workload.invalid").unwrap();
        let mut tls =
            tokio_rustls::TlsConnector::from(client(&provider, &["http/1.1"]).for_connection().0)
                .connect(name_, tcp)
                .await
                .unwrap();
        // Half a request, then nothing (slowloris).
        tls.write_all(b"GET / HTTP/1.1\r\nhost: workload\r\n")
            .await
            .unwrap();
        tls.flush().await.unwrap();

        // A complete request on another connection is still served.
        let (_, status, _) = get(&client(&provider, &["http/1.1"]), running.addr, "/")
            .await
            .unwrap();
        assert_eq!(status, StatusCode::OK, "{name}");

        // The server closes the slow connection (hyper may first answer 408).
        let mut received = Vec::new();
        let read = within(
            "the server dropping the slow client",
            tls.read_to_end(&mut received),
        )
        .await;
        let received = String::from_utf8_lossy(&received);
        assert!(
            read.is_err() || received.is_empty() || received.starts_with("HTTP/1.1 408"),
            "{name}: the server answered half a request with {received:?}"
        );

        running.stop.send(()).unwrap();
        within("serve", running.server).await.unwrap().unwrap();
    }
}

/// Collects the events of this crate (level and fields) on the current thread.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<(tracing::Level, String)>>>);

struct Fields<'a>(&'a mut String);

impl tracing::field::Visit for Fields<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, "{}={value:?} ", field.name());
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        if event.metadata().target().starts_with("tls_integration") {
            let mut fields = String::new();
            event.record(&mut Fields(&mut fields));
            self.0
                .lock()
                .unwrap()
                .push((*event.metadata().level(), fields));
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

impl Capture {
    fn events(&self) -> Vec<(tracing::Level, String)> {
        self.0.lock().unwrap().clone()
    }
}

/// A refused client and a client that is not TLS at all: both are logged with their address
/// and reason (the SPIFFE ID and the authorizer's refusal for the first), and the next good
/// client is served. The runtime is single-threaded, so every task logs to `capture`.
#[tokio::test(flavor = "current_thread")]
async fn failed_handshakes_are_logged_and_do_not_stop_the_loop() {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());
    for (name, provider) in common::providers() {
        let running = start(
            Server::new(),
            SpiffeAcceptor::new(Arc::new(server_config(&provider, &["h2", "http/1.1"]))),
        )
        .await;

        // other.example verifies (its bundle is loaded) but the authorizer wants prod.example.
        let stranger = client_config(&provider, WORLD.other.x509_svid("/client"), &["h2"]);
        let refused = get(&stranger, running.addr, "/").await;
        assert!(refused.is_err(), "{name}: {refused:?}");

        // Plain HTTP on the TLS port.
        let mut plain = TcpStream::connect(running.addr).await.unwrap();
        let plain_addr = plain.local_addr().unwrap();
        plain
            .write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        let mut answer = Vec::new();
        let _ = within("the server closing", plain.read_to_end(&mut answer)).await;

        let (_, status, body) = get(&client(&provider, &["h2"]), running.addr, "/")
            .await
            .unwrap();
        assert_eq!(status, StatusCode::OK, "{name}");
        assert!(body.ends_with(CLIENT), "{name}: {body}");

        running.stop.send(()).unwrap();
        within("serve", running.server).await.unwrap().unwrap();

        let events = capture.events();
        let refusal = events
            .iter()
            .find(|(_, fields)| fields.contains("spiffe://other.example/client"))
            .unwrap_or_else(|| panic!("{name}: no refusal logged in {events:?}"));
        assert_eq!(refusal.0, tracing::Level::WARN, "{name}: {refusal:?}");
        assert!(
            refusal.1.contains("peer.addr=127.0.0.1:"),
            "{name}: {refusal:?}"
        );
        assert!(refusal.1.contains("not authorized"), "{name}: {refusal:?}");

        let garbage = events
            .iter()
            .find(|(_, fields)| fields.contains(&format!("peer.addr={plain_addr}")))
            .unwrap_or_else(|| panic!("{name}: no failure logged for {plain_addr} in {events:?}"));
        assert_eq!(garbage.0, tracing::Level::DEBUG, "{name}: {garbage:?}");
        assert!(
            garbage.1.contains("TLS handshake failed"),
            "{name}: {garbage:?}"
        );
        capture.0.lock().unwrap().clear();
    }
}
