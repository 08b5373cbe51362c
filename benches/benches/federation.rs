//! `federation` benchmarks: the bundle endpoint against a static hyper + rustls server sending
//! the same bytes, and (on request) how long a bundle change at one trust domain takes to reach
//! another trust domain's workloads.
//!
//! - `federation_endpoint`: one `GET /` of a bundle document on a kept-alive HTTP/1.1 TLS 1.3
//!   connection (loopback, same certificate, same client):
//!   - `ours/bundle_endpoint`: `federation::endpoint::serve` with `EndpointTls::https_web` and a
//!     `BundlePublisher`'s service (the document is built once per bundle change);
//!   - `baseline/static_hyper_rustls`: `tls_integration::hyper::serve` on a plain rustls
//!     `ServerConfig` with a `service_fn` answering the same bytes from a `Bytes` clone.
//!
//!   The goal is at least 0.9x the baseline's requests per second, i.e. a time ratio
//!   of at most 1.11x.
//! - Propagation (`FEDERATION_PROPAGATION=<changes>`; off by default, each change takes up to
//!   the refresh hint): trust domain A publishes a new bundle (`spiffe_refresh_hint` 5 s) at a
//!   random moment; B's `FederationManager` fetches it, B's agent pushes it, and the time until
//!   B's workload (`X509Source` on B's Workload API) holds it is printed as p50 / p99 / max,
//!   and as a ratio of the hint (a poll at the hint's interval alone gives about 0.5x p50).
//!
//! Run: `python3 benches/ratios.py run -- --bench federation -- --warm-up-time 1
//! --measurement-time 4`, and `FEDERATION_PROPAGATION=40 cargo bench -p benches --bench
//! federation -- propagation`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs,
    reason = "bench setup: fixed inputs known to be valid, a panic there is a broken bench"
)]

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use agent::{Agent, RegistrationEntry, Selector};
use criterion::{Criterion, criterion_group, criterion_main};
use federation::client::Client as FederationClient;
use federation::endpoint::{self, BundlePublisher, EndpointTls, WebCertificate};
use federation::manager::{EndpointFetcher, FederationManager, RefreshPolicy, Relationship};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tls_integration::net::SpiffeAcceptor;
use tokio::runtime::Runtime;
use trust_bundle::SpiffeBundle;
use workload_client::{Client, Endpoint, SourceOptions, SvidPicker, X509Source};

/// The web PKI of the bench: a root, and a `localhost` server certificate and key (PEM).
struct WebPki {
    root: CertificateDer<'static>,
    cert_pem: String,
    key_pem: String,
    cert_der: CertificateDer<'static>,
    key_der: Vec<u8>,
}

fn web_pki() -> WebPki {
    let root_key = rcgen::KeyPair::generate().unwrap();
    let mut root = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    root.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let root_cert = root.self_signed(&root_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    let leaf = leaf
        .signed_by(&key, &rcgen::Issuer::new(root, root_key))
        .unwrap();
    WebPki {
        root: root_cert.der().clone(),
        cert_pem: leaf.pem(),
        key_pem: key.serialize_pem(),
        cert_der: leaf.der().clone(),
        key_der: key.serialize_der(),
    }
}

/// A bundle document of a realistic size: two X.509 authorities and two JWT keys.
fn bundle() -> SpiffeBundle {
    let ca = ca::CertificateAuthority::builder("a.example".parse().unwrap())
        .build(SystemTime::now())
        .unwrap();
    ca.prepare_x509(SystemTime::now()).unwrap();
    ca.prepare_jwt(SystemTime::now()).unwrap();
    SpiffeBundle::clone(&ca.bundle())
}

/// A kept-alive HTTP/1.1 connection over TLS to `addr`, trusting `root`.
async fn connect(
    addr: std::net::SocketAddr,
    root: &CertificateDer<'static>,
) -> hyper::client::conn::http1::SendRequest<Empty<Bytes>> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root.clone()).unwrap();
    let provider = Arc::clone(svid::Crypto::default().provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let tls = connector.connect(name, tcp).await.unwrap();
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(connection);
    sender
}

async fn get(sender: &mut hyper::client::conn::http1::SendRequest<Empty<Bytes>>) -> usize {
    sender.ready().await.unwrap();
    let request = hyper::Request::get("https://localhost/")
        .body(Empty::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert!(response.status().is_success());
    response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .len()
}

fn endpoint(c: &mut Criterion) {
    let runtime = Runtime::new().unwrap();
    let pki = web_pki();
    let dir = tempfile::tempdir().unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, &pki.cert_pem).unwrap();
    std::fs::write(&key_path, &pki.key_pem).unwrap();
    let crypto = svid::Crypto::default();
    let publisher = BundlePublisher::new(bundle().with_refresh_hint(Duration::from_secs(300)));
    let document = publisher.document();

    let (ours, baseline) = runtime.block_on(async {
        // Ours: the bundle endpoint with https_web.
        let certificate = WebCertificate::from_pem_files(&cert_path, &key_path, &crypto).unwrap();
        let tls = EndpointTls::https_web(Arc::new(certificate), &crypto).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let ours = listener.local_addr().unwrap();
        tokio::spawn(endpoint::serve(
            listener,
            tls,
            publisher.service("/"),
            std::future::pending::<()>(),
        ));

        // Baseline: the same bytes from a static hyper service on plain rustls.
        let chain = vec![pki.cert_der.clone()];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.key_der.clone()));
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::clone(crypto.provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let baseline = listener.local_addr().unwrap();
        let body = document.clone();
        let service = hyper::service::service_fn(move |_request| {
            let body = body.clone();
            async move {
                let mut response = hyper::Response::new(Full::new(body));
                response.headers_mut().insert(
                    hyper::header::CONTENT_TYPE,
                    hyper::header::HeaderValue::from_static("application/json"),
                );
                Ok::<_, Infallible>(response)
            }
        });
        tokio::spawn(tls_integration::hyper::serve(
            listener,
            SpiffeAcceptor::new(config),
            service,
            std::future::pending::<()>(),
        ));
        (ours, baseline)
    });

    let mut group = c.benchmark_group("federation_endpoint");
    for (name, addr) in [
        ("ours/bundle_endpoint", ours),
        ("baseline/static_hyper_rustls", baseline),
    ] {
        let mut sender = runtime.block_on(connect(addr, &pki.root));
        assert_eq!(runtime.block_on(get(&mut sender)), document.len());
        group.bench_function(name, |b| {
            b.iter(|| runtime.block_on(get(&mut sender)));
        });
    }
    group.finish();
}

/// Percentile `p` (0..=100) of sorted `samples`.
fn percentile(samples: &[Duration], p: usize) -> Duration {
    let index = (samples.len() * p).div_ceil(100).saturating_sub(1);
    samples[index.min(samples.len() - 1)]
}

fn propagation(c: &mut Criterion) {
    let Some(changes) = std::env::var("FEDERATION_PROPAGATION")
        .ok()
        .and_then(|n| n.parse::<usize>().ok())
    else {
        return;
    };
    let hint = Duration::from_secs(5);
    let runtime = Runtime::new().unwrap();
    let samples = runtime.block_on(async {
        let crypto = svid::Crypto::default();
        let dir = tempfile::tempdir().unwrap();
        // A: a bundle endpoint (https_spiffe, its own SVID) over a publisher the bench drives.
        let a = ca::TestCa::new("a.example");
        let first = SpiffeBundle::clone(&a.bundle())
            .with_sequence(1)
            .with_refresh_hint(hint);
        let publisher = BundlePublisher::new(first.clone());
        let endpoint_svid = Arc::new(a.x509_svid("/bundle-endpoint"));
        let tls = EndpointTls::https_spiffe(Arc::new(endpoint_svid), &crypto).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("https://{}/", listener.local_addr().unwrap());
        tokio::spawn(endpoint::serve(
            listener,
            tls,
            publisher.service("/"),
            std::future::pending::<()>(),
        ));

        // B: a manager that refreshes by A's hint, an agent, a workload on B's socket.
        let fetcher = EndpointFetcher::self_serving_spiffe(
            FederationClient::new(crypto.clone()),
            url.parse().unwrap(),
            a.id("/bundle-endpoint"),
            trust_bundle::X509Bundle::clone(&a.x509_bundle()),
        );
        let manager = FederationManager::new();
        let policy = RefreshPolicy::new(Duration::from_secs(1), Duration::from_secs(3600));
        manager.add(Relationship::new(a.trust_domain().clone(), Arc::new(fetcher)).refresh(policy));
        let b_ca = ca::CertificateAuthority::builder("b.example".parse().unwrap())
            .build(SystemTime::now())
            .unwrap();
        let entry = RegistrationEntry::new("spiffe://b.example/workload".parse().unwrap())
            .with_selector(Selector::current_uid().unwrap())
            .with_federates_with(a.trust_domain().clone());
        let agent = Agent::builder(b_ca)
            .entry(entry)
            .serve_unix(dir.path().join("b.sock"))
            .await
            .unwrap();
        agent.follow_federated_bundles(manager.subscribe());
        let client = Client::builder(Endpoint::parse(&agent.endpoint()).unwrap())
            .connect_lazy()
            .unwrap();
        let source = X509Source::new(client, SvidPicker::Default, SourceOptions::default())
            .await
            .unwrap();
        // The Workload API carries certificates, not sequences: changes alternate between A's
        // authorities alone and A's plus a second root, told apart by their count.
        let extra = ca::TestCa::new("a.example");
        let one = a.x509_bundle().authorities().to_vec();
        let two: Vec<_> = one
            .iter()
            .chain(extra.x509_bundle().authorities())
            .cloned()
            .collect();
        let variant = |sequence: u64| {
            let certificates = if sequence % 2 == 0 {
                two.clone()
            } else {
                one.clone()
            };
            let x509 =
                trust_bundle::X509Bundle::from_certificates(a.trust_domain().clone(), certificates)
                    .unwrap();
            SpiffeBundle::from_parts(x509, Arc::clone(a.bundle().jwt_bundle()))
                .unwrap()
                .with_sequence(sequence)
                .with_refresh_hint(hint)
        };
        let held_count = || {
            source.snapshot().and_then(|snapshot| {
                let bundle = snapshot.context().bundles().get(a.trust_domain())?;
                Some(bundle.x509_bundle().len())
            })
        };
        while held_count() != Some(one.len()) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }

        // Each change: wait a random part of the hint (so changes fall anywhere in B's poll
        // cycle), publish the next sequence, time until B's workload holds it.
        let mut samples = Vec::with_capacity(changes);
        let last = 2 + u64::try_from(changes).unwrap();
        for sequence in 2..last {
            let pause = hint.mul_f64(rand_unit(sequence));
            tokio::time::sleep(pause).await;
            let next = variant(sequence);
            let expected = next.x509_bundle().len();
            publisher.publish(&next).unwrap();
            let published = Instant::now();
            while held_count() != Some(expected) {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            samples.push(published.elapsed());
        }
        samples
    });
    let mut sorted = samples;
    sorted.sort();
    let (p50, p99, max) = (
        percentile(&sorted, 50),
        percentile(&sorted, 99),
        sorted[sorted.len() - 1],
    );
    let ratio = |d: Duration| d.as_secs_f64() / hint.as_secs_f64();
    println!(
        "federation propagation ({} changes, refresh hint {} s): p50 {:.2} s ({:.2}x hint), \
         p99 {:.2} s ({:.2}x), max {:.2} s ({:.2}x)",
        sorted.len(),
        hint.as_secs(),
        p50.as_secs_f64(),
        ratio(p50),
        p99.as_secs_f64(),
        ratio(p99),
        max.as_secs_f64(),
        ratio(max)
    );
    let _ = c;
}

/// A number in [0, 1) from `seed` (splitmix64): the pauses differ per change and per run
/// without a random number crate.
fn rand_unit(seed: u64) -> f64 {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_nanos()));
    let mut z = seed.wrapping_add(nanos).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    #[expect(clippy::as_conversions, reason = "53 bits convert to f64 exactly")]
    let unit = (z >> 11) as f64 / (1u64 << 53) as f64;
    unit
}

criterion_group!(benches, endpoint, propagation);
criterion_main!(benches);
