//! The TLS proxy (`proxy` crate, server mode, TCP backend) against HAProxy doing the same mTLS
//! termination to the same backend, and against a plain tokio-rustls forwarder without SPIFFE
//! checks (the floor of our own stack), in the same run.
//!
//! - Backend: nginx on loopback serving `/1k` and `/1m` (static files).
//! - HAProxy (Debian 2.6, OpenSSL): `mode tcp`, `bind ... ssl crt .. ca-file .. verify
//!   required no-tls-tickets`, `tune.ssl.cachesize 0`, `nbthread 2`, TLS 1.3 only.
//! - Ours: `Proxy::server` on its own 2-thread tokio runtime, TLS 1.3 and 1.2 offered.
//! - Plain: tokio-rustls with rustls' `WebPkiClientVerifier` over the same root, and
//!   `copy_bidirectional`, on a 2-thread runtime.
//! - Load: our own client on a 1-thread runtime, 2 concurrent connections, ECDSA P-256 SVIDs,
//!   client certificate presented, resumption off (`SpiffeTls` never resumes).
//!
//! Measured for each: full handshakes per second (new TCP + TLS + one `/1k` request with
//! `Connection: close`), kept-alive requests per second for 1 KiB and 1 MiB bodies, and the p99
//! added latency of a kept-alive 1 KiB request over plain HTTP straight to nginx. Ratios are
//! ours / HAProxy and ours / plain. Caveats: one 2-core machine shared by everything (proxy,
//! load, backend), no CPU pinning inside one process; read the ratios, not the absolutes.
//!
//! `cargo bench -p benches --bench proxy` (`PROXY_BENCH_SECONDS`, default 3 per measurement).
//! Skips HAProxy or the whole bench with a printed reason when HAProxy or nginx is missing.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::zombie_processes,
    reason = "a bench: a panic ends the run"
)]

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ca::TestCa;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use proxy::{Address, Proxy, ServerOptions};
use spiffe_id::IdMatcher;
use test_support::nginx::NginxServer;
use tls_integration::{SpiffeClientConfig, SpiffeTls};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const CONCURRENCY: usize = 2;

fn seconds() -> Duration {
    Duration::from_secs(
        std::env::var("PROXY_BENCH_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(3),
    )
}

#[derive(Clone, Copy, Debug, Default)]
struct Numbers {
    handshakes: f64,
    rps_1k: f64,
    rps_1m: f64,
    p99_1k: Duration,
}

fn main() {
    let ca = TestCa::new("example.org");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("1k"), vec![b'a'; 1024]).unwrap();
    std::fs::write(dir.path().join("1m"), vec![b'b'; 1024 * 1024]).unwrap();
    let proxy_svid = ca.x509_svid("/proxy");
    let pem = proxy_svid.chain_pem();
    let (_, key) = (dir.path().join("p.pem"), dir.path().join("p.key"));
    proxy_svid.save(&dir.path().join("p.pem"), &key).unwrap();
    let combined = format!("{pem}{}", std::fs::read_to_string(&key).unwrap());
    std::fs::write(dir.path().join("crt.pem"), combined).unwrap();
    let bundle_pem = test_support::pem::pem(ca.x509_bundle().authorities());
    std::fs::write(dir.path().join("ca.pem"), &bundle_pem).unwrap();
    test_support::process::hand_over(dir.path()).unwrap();

    let http = format!(
        "server {{ listen 127.0.0.1:{{port}}; access_log off; keepalive_requests 1000000; \
         location / {{ root {}; }} }}",
        dir.path().display()
    );
    let nginx = match NginxServer::start(&http) {
        Ok(nginx) => nginx,
        Err(reason) => {
            println!("proxy bench skipped: nginx: {reason} (interop/nginx/setup.sh)");
            return;
        }
    };
    let backend = format!("127.0.0.1:{}", nginx.port());

    // The proxies under test, each on its own runtime.
    let servers = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let ours = servers.block_on(async {
        let proxy = Proxy::server(
            ServerOptions::new(
                "127.0.0.1:0".parse().unwrap(),
                Address::Tcp(backend.clone()),
                IdMatcher::pattern("spiffe://example.org/client").unwrap(),
            ),
            Arc::new(Arc::new(proxy_svid)),
            Arc::new(ca.bundle_set()),
            svid::Crypto::ring(),
        )
        .await
        .unwrap();
        let Address::Tcp(address) = proxy.local_address() else {
            unreachable!()
        };
        tokio::spawn(proxy.run(std::future::pending::<()>()));
        address
    });
    let plain = servers.block_on(plain_forwarder(dir.path(), backend.clone()));
    let haproxy = haproxy(dir.path(), &backend);

    let load = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = SpiffeTls::new(svid::Crypto::ring())
        .mtls_client(
            Arc::new(Arc::new(ca.x509_svid("/client"))),
            Arc::new(ca.bundle_set()),
            IdMatcher::exact(ca.id("/proxy")),
        )
        .unwrap();
    load.block_on(async {
        let direct = measure_direct(&backend).await;
        println!(
            "proxy bench: {} s per measurement, {CONCURRENCY} connections",
            seconds().as_secs()
        );
        println!("direct nginx (plain HTTP): p99 1 KiB {:?}", direct);
        let ours_n = measure(&client, &ours).await;
        report("ours (spiffekit-proxy)", ours_n, direct);
        let plain_n = measure(&client, &plain).await;
        report("plain tokio-rustls forwarder", plain_n, direct);
        ratios("ours/plain", ours_n, plain_n, direct);
        match &haproxy {
            Some((_, address)) => {
                let ha = measure(&client, address).await;
                report("HAProxy 2.6", ha, direct);
                ratios("ours/HAProxy", ours_n, ha, direct);
            }
            None => println!("HAProxy skipped: not installed (interop/haproxy/setup.sh)"),
        }
    });
    if let Some((mut child, _)) = haproxy {
        test_support::process::stop_child(&mut child, "TERM", Duration::from_secs(5));
    }
}

fn report(name: &str, n: Numbers, direct: Duration) {
    println!(
        "{name:32} handshakes/s {:8.0}  1KiB req/s {:8.0}  1MiB req/s {:6.1}  p99 added {:?}",
        n.handshakes,
        n.rps_1k,
        n.rps_1m,
        n.p99_1k.saturating_sub(direct)
    );
}

fn ratios(name: &str, a: Numbers, b: Numbers, direct: Duration) {
    let added = |n: Numbers| n.p99_1k.saturating_sub(direct).as_secs_f64().max(1e-9);
    println!(
        "ratio {name:14} handshakes {:.2}x  1KiB {:.2}x  1MiB {:.2}x  p99 added latency {:.2}x",
        a.handshakes / b.handshakes,
        a.rps_1k / b.rps_1k,
        a.rps_1m / b.rps_1m,
        added(a) / added(b)
    );
}

async fn tls(
    client: &SpiffeClientConfig,
    address: &str,
) -> tokio_rustls::client::TlsStream<TcpStream> {
    let (config, _) = client.for_connection();
    let tcp = TcpStream::connect(address).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    let name = rustls_pki_types::ServerName::try_from("proxy").unwrap();
    tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .unwrap()
}

async fn measure(client: &SpiffeClientConfig, address: &str) -> Numbers {
    let handshakes = run_for(|| async {
        let mut tls = tls(client, address).await;
        tls.write_all(b"GET /1k HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut sink = Vec::new();
        let _ = tls.read_to_end(&mut sink).await;
        assert!(sink.len() > 1024, "short response through {address}");
        Duration::ZERO
    })
    .await;
    let (rps_1k, latencies) = keep_alive(client, address, "/1k").await;
    let (rps_1m, _) = keep_alive(client, address, "/1m").await;
    Numbers {
        handshakes: handshakes.0,
        rps_1k,
        rps_1m,
        p99_1k: p99(latencies),
    }
}

/// Runs `op` on `CONCURRENCY` tasks for the bench duration: (operations per second, each
/// operation's reported latency).
async fn run_for<F, Fut>(op: F) -> (f64, Vec<Duration>)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Duration>,
{
    let deadline = Instant::now() + seconds();
    let started = Instant::now();
    let worker = || async {
        let mut latencies = Vec::new();
        while Instant::now() < deadline {
            latencies.push(op().await);
        }
        latencies
    };
    let (mut all, more) = tokio::join!(worker(), worker());
    all.extend(more);
    (count(&all) / started.elapsed().as_secs_f64(), all)
}

async fn keep_alive(
    client: &SpiffeClientConfig,
    address: &str,
    path: &str,
) -> (f64, Vec<Duration>) {
    let deadline = Instant::now() + seconds();
    let started = Instant::now();
    let worker = || async {
        let stream = tls(client, address).await;
        requests(TokioIo::new(stream), path, deadline).await
    };
    let (a, b) = tokio::join!(worker(), worker());
    let mut all = a;
    all.extend(b);
    (count(&all) / started.elapsed().as_secs_f64(), all)
}

async fn requests<IO>(io: IO, path: &str, deadline: Instant) -> Vec<Duration>
where
    IO: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io).await.unwrap();
    tokio::spawn(connection);
    let mut latencies = Vec::new();
    while Instant::now() < deadline {
        let request = http::Request::get(path)
            .header("host", "backend")
            .body(Empty::<Bytes>::new())
            .unwrap();
        let started = Instant::now();
        let response = sender.send_request(request).await.unwrap();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert!(body.len() >= 1024);
        latencies.push(started.elapsed());
    }
    latencies
}

async fn measure_direct(backend: &str) -> Duration {
    let deadline = Instant::now() + seconds();
    let tcp = TcpStream::connect(backend).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    p99(requests(TokioIo::new(tcp), "/1k", deadline).await)
}

fn count(items: &[Duration]) -> f64 {
    f64::from(u32::try_from(items.len()).unwrap_or(u32::MAX))
}

fn p99(mut latencies: Vec<Duration>) -> Duration {
    latencies.sort();
    let index = latencies.len().saturating_mul(99) / 100;
    latencies
        .get(index.min(latencies.len().saturating_sub(1)))
        .copied()
        .unwrap_or_default()
}

/// tokio-rustls with rustls' WebPKI client verifier over the same root; no SPIFFE checks.
async fn plain_forwarder(dir: &Path, backend: String) -> String {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs = svid::certificates_from_pem(std::fs::read(dir.join("p.pem")).unwrap()).unwrap();
    let key = rustls_pki_types::PrivateKeyDer::try_from(pem_block(
        &std::fs::read_to_string(dir.join("p.key")).unwrap(),
    ))
    .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for root in svid::certificates_from_pem(std::fs::read(dir.join("ca.pem")).unwrap()).unwrap() {
        roots.add(root).unwrap();
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .unwrap();
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let _ = tcp.set_nodelay(true);
            let acceptor = acceptor.clone();
            let backend = backend.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut out) = TcpStream::connect(&backend).await else {
                    return;
                };
                let _ = out.set_nodelay(true);
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut out).await;
            });
        }
    });
    address
}

/// The DER of the first PEM block.
fn pem_block(pem: &str) -> Vec<u8> {
    use base64::Engine as _;
    let body: String = pem
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap()
}

/// HAProxy terminating the same mTLS, in the foreground; `None` when it is not installed.
fn haproxy(dir: &Path, backend: &str) -> Option<(std::process::Child, String)> {
    let binary = ["/usr/sbin/haproxy", "/usr/bin/haproxy"]
        .iter()
        .map(Path::new)
        .find(|path| path.is_file())?;
    let port = test_support::process::free_port().unwrap();
    let d = dir.display();
    let config = format!(
        "global\n  nbthread 2\n  tune.ssl.cachesize 0\n  ssl-default-bind-options ssl-min-ver TLSv1.3\n\
         defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n\
         frontend fe\n  bind 127.0.0.1:{port} ssl crt {d}/crt.pem ca-file {d}/ca.pem verify required no-tls-tickets\n  default_backend be\n\
         backend be\n  server s1 {backend}\n"
    );
    std::fs::write(dir.join("haproxy.cfg"), config).unwrap();
    test_support::process::hand_over(&dir.join("haproxy.cfg")).unwrap();
    let child = test_support::process::unprivileged(binary)
        .args(["-db", "-f"])
        .arg(dir.join("haproxy.cfg"))
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some((child, format!("127.0.0.1:{port}")));
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("HAProxy did not start");
}
