//! `workload-client` benchmarks against an in-process Workload API server on a Unix socket
//! (built on the generated `server` code). Each group pairs our operation with the raw operation
//! it is made of or replaces, measured in the same run:
//!
//! - `x509_source_read`: the hot path of TLS code, `X509SvidSource::x509_svid` on an
//!   `X509Source` (`ours/x509_svid`: an arc-swap load plus one `Arc` clone), against a bare
//!   `Arc::clone` (`baseline/arc_clone`). `ours/snapshot` is the consistent full snapshot.
//! - `jwt_source_fetch`: `JwtSource::fetch_jwt_svid` served from the cache
//!   (`ours/cached_fetch`, inside `block_on` of a current-thread runtime) against
//!   `block_on` of a ready future (`baseline/block_on_ready`, the runtime overhead alone), the
//!   token parse a client without a cache must at least do per call
//!   (`baseline/parse_insecure`), and an uncached agent call (`ours/uncached_agent_call`,
//!   `Client::fetch_jwt_svid` over the socket).
//! - `x509_rotation`: time from the server publishing a rotated SVID to the source's snapshot
//!   showing it (`ours/rotation_to_snapshot`: stream message, decode, SVID parse, key check,
//!   verification against the bundle, swap, notification), against the conversion alone on the
//!   same message (`baseline/x509svid_from_der_and_verify`: `X509Svid::from_der` plus
//!   `svid::verify`).
//!
//! Run: `python3 benches/ratios.py run -- --bench workload -- --warm-up-time 1 --measurement-time 3`
//! (runs the bench, then prints the ratios of that run only).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "bench setup: fixed inputs known to be valid, a panic there is a broken bench"
)]

use std::collections::HashMap;
use std::hint::black_box;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use rustls_pki_types::UnixTime;
use svid::{Crypto, Usage, X509Svid, X509SvidSource};
use test_support::jwt::Es256Key;
use test_support::x509::{self, Validity};
use tokio::sync::watch;
use tonic::{Request, Response, Status};
use trust_bundle::{BundleSet, SpiffeBundle, X509Bundle};
use workload_api::proto::spiffe_workload_api_server::{SpiffeWorkloadApi, SpiffeWorkloadApiServer};
use workload_api::proto::{
    JwtBundlesRequest, JwtBundlesResponse, Jwtsvid, JwtsvidRequest, JwtsvidResponse,
    ValidateJwtsvidRequest, ValidateJwtsvidResponse, X509BundlesRequest, X509BundlesResponse,
    X509svid, X509svidRequest, X509svidResponse,
};
use workload_client::{Client, Endpoint, JwtSource, SourceOptions, SvidPicker, X509Source};

type BoxStream<T> = Pin<Box<dyn tokio_stream::Stream<Item = Result<T, Status>> + Send>>;

/// A lean fake agent (no script, no header bookkeeping, unlike test-support's `FakeServer`), so
/// `ours/uncached_agent_call` times the client, not the fake.
struct Server {
    x509: watch::Sender<X509svidResponse>,
    jwt: JwtsvidResponse,
    jwks: watch::Sender<JwtBundlesResponse>,
}

fn stream_of<T: Clone + Send + Sync + 'static>(mut rx: watch::Receiver<T>) -> BoxStream<T> {
    let (tx, out) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        loop {
            let message = rx.borrow_and_update().clone();
            if tx.send(Ok(message)).await.is_err() || rx.changed().await.is_err() {
                return;
            }
        }
    });
    Box::pin(tokio_stream::wrappers::ReceiverStream::new(out))
}

struct Fake(Arc<Server>);

#[tonic::async_trait]
impl SpiffeWorkloadApi for Fake {
    type FetchX509SVIDStream = BoxStream<X509svidResponse>;
    type FetchX509BundlesStream = BoxStream<X509BundlesResponse>;
    type FetchJWTBundlesStream = BoxStream<JwtBundlesResponse>;

    async fn fetch_x509svid(
        &self,
        _: Request<X509svidRequest>,
    ) -> Result<Response<Self::FetchX509SVIDStream>, Status> {
        Ok(Response::new(stream_of(self.0.x509.subscribe())))
    }

    async fn fetch_x509_bundles(
        &self,
        _: Request<X509BundlesRequest>,
    ) -> Result<Response<Self::FetchX509BundlesStream>, Status> {
        Err(Status::unimplemented("bench"))
    }

    async fn fetch_jwtsvid(
        &self,
        _: Request<JwtsvidRequest>,
    ) -> Result<Response<JwtsvidResponse>, Status> {
        Ok(Response::new(self.0.jwt.clone()))
    }

    async fn fetch_jwt_bundles(
        &self,
        _: Request<JwtBundlesRequest>,
    ) -> Result<Response<Self::FetchJWTBundlesStream>, Status> {
        Ok(Response::new(stream_of(self.0.jwks.subscribe())))
    }

    async fn validate_jwtsvid(
        &self,
        _: Request<ValidateJwtsvidRequest>,
    ) -> Result<Response<ValidateJwtsvidResponse>, Status> {
        Err(Status::unimplemented("bench"))
    }
}

/// The trust domain's authorities (test-support's CA builder and ES256 key), valid around the
/// wall clock since the client verifies at `now`.
struct Ca {
    ca: x509::Ca,
    der: Vec<u8>,
    jwt_key: Es256Key,
}

impl Ca {
    fn new() -> Self {
        let ca = x509::Ca::builder("example.org")
            .common_name("bench CA")
            .validity(Validity::around_now(HOUR, 30 * DAY))
            .build();
        Self {
            der: ca.cert.to_vec(),
            ca,
            jwt_key: Es256Key::generate("k1"),
        }
    }

    fn svid(&self, path: &str) -> X509svid {
        let id = format!("spiffe://example.org{path}");
        let leaf = self
            .ca
            .issue_leaf(&id)
            .validity(Validity::around_now(HOUR, DAY))
            .build();
        X509svid {
            spiffe_id: id,
            x509_svid: leaf.cert.to_vec(),
            x509_svid_key: leaf.pkcs8(),
            bundle: self.der.clone(),
            hint: String::new(),
        }
    }

    fn jwt(&self) -> String {
        self.jwt_key
            .jwt_svid("spiffe://example.org/web", &["api"], 3600)
    }

    fn jwks(&self) -> Vec<u8> {
        self.jwt_key.jwks()
    }
}

const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(24 * 3600);

fn response(svid: X509svid) -> X509svidResponse {
    X509svidResponse {
        svids: vec![svid],
        crl: vec![],
        federated_bundles: HashMap::new(),
    }
}

struct Setup {
    runtime: tokio::runtime::Runtime,
    server: Arc<Server>,
    endpoint: Endpoint,
    _dir: tempfile::TempDir,
    ca: Ca,
}

fn setup() -> Setup {
    let ca = Ca::new();
    let jwt = ca.jwt();
    let server = Arc::new(Server {
        x509: watch::channel(response(ca.svid("/web"))).0,
        jwt: JwtsvidResponse {
            svids: vec![Jwtsvid {
                spiffe_id: "spiffe://example.org/web".into(),
                svid: jwt,
                hint: String::new(),
            }],
        },
        jwks: watch::channel(JwtBundlesResponse {
            bundles: HashMap::from([("spiffe://example.org".into(), ca.jwks())]),
        })
        .0,
    });
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("agent.sock");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let service = SpiffeWorkloadApiServer::new(Fake(Arc::clone(&server)));
    let listener = runtime.block_on(async { tokio::net::UnixListener::bind(&socket).unwrap() });
    runtime.spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tokio_stream::wrappers::UnixListenerStream::new(listener)),
    );
    Setup {
        runtime,
        server,
        endpoint: Endpoint::unix(&socket).unwrap(),
        _dir: dir,
        ca,
    }
}

fn benches(c: &mut Criterion) {
    let setup = setup();
    // tonic spawns the connection task: build the client inside the runtime.
    let _guard = setup.runtime.enter();
    let client = Client::builder(setup.endpoint.clone())
        .connect_lazy()
        .unwrap();
    let source = setup
        .runtime
        .block_on(X509Source::new(
            client.clone(),
            SvidPicker::Default,
            SourceOptions::default(),
        ))
        .unwrap();

    let mut group = c.benchmark_group("x509_source_read");
    let held: Arc<X509Svid> = source.x509_svid().unwrap();
    group.bench_function("baseline/arc_clone", |b| {
        b.iter(|| black_box(Arc::clone(black_box(&held))));
    });
    group.bench_function("ours/x509_svid", |b| {
        b.iter(|| black_box(black_box(&source).x509_svid()));
    });
    group.bench_function("ours/snapshot", |b| {
        b.iter(|| black_box(black_box(&source).snapshot()));
    });
    group.finish();

    let local = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let jwt_source = setup
        .runtime
        .block_on(JwtSource::new(client.clone(), SourceOptions::default()))
        .unwrap();
    let token = setup.server.jwt.svids[0].svid.clone();
    let mut group = c.benchmark_group("jwt_source_fetch");
    group.bench_function("baseline/block_on_ready", |b| {
        b.iter(|| local.block_on(async { black_box(1) }));
    });
    group.bench_function("baseline/parse_insecure", |b| {
        b.iter(|| svid::UnverifiedJwtSvid::parse_insecure(black_box(&token)).unwrap());
    });
    let audience = ["api"];
    group.bench_function("ours/cached_fetch", |b| {
        b.iter(|| {
            setup
                .runtime
                .block_on(jwt_source.fetch_jwt_svid(black_box(&audience), None))
                .unwrap()
        });
    });
    group.bench_function("ours/uncached_agent_call", |b| {
        b.iter(|| {
            setup
                .runtime
                .block_on(client.fetch_jwt_svid(black_box(&audience), None))
                .unwrap()
        });
    });
    group.finish();

    // Two rotations to alternate between.
    let a = response(setup.ca.svid("/a"));
    let b_response = response(setup.ca.svid("/b"));
    let backend = Crypto::default();
    let bundle = X509Bundle::from_der("example.org".parse().unwrap(), &setup.ca.der).unwrap();
    let bundles = BundleSet::from_bundles([SpiffeBundle::from(bundle)]).unwrap();
    let mut group = c.benchmark_group("x509_rotation");
    group.bench_function("baseline/x509svid_from_der_and_verify", |b| {
        let entry = &a.svids[0];
        b.iter(|| {
            let svid =
                X509Svid::from_der(&entry.x509_svid, &entry.x509_svid_key, &backend).unwrap();
            svid::verify(
                svid.chain(),
                &bundles,
                &backend,
                Usage::Any,
                UnixTime::now(),
            )
            .unwrap()
        });
    });
    group.bench_function("ours/rotation_to_snapshot", |b| {
        let mut updates = source.updated();
        let mut flip = false;
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                flip = !flip;
                let (next, path) = if flip {
                    (a.clone(), "/a")
                } else {
                    (b_response.clone(), "/b")
                };
                updates.borrow_and_update();
                let started = Instant::now();
                setup.server.x509.send_replace(next);
                let waited =
                    setup
                        .runtime
                        .block_on(tokio::time::timeout(Duration::from_secs(5), async {
                            while source.x509_svid().unwrap().spiffe_id().path() != path {
                                updates.changed().await.unwrap();
                            }
                        }));
                if waited.is_err() {
                    panic!(
                        "no rotation to {path} seen: health {:?}, current {:?}",
                        source.health(),
                        source.x509_svid().map(|s| s.spiffe_id().to_string())
                    );
                }
                total += started.elapsed();
            }
            total
        });
    });
    group.finish();
}

criterion_group!(workload, benches);
criterion_main!(workload);
