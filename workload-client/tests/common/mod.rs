//! Test helpers: a small rcgen CA with JWT signing, and a scriptable fake Workload API server
//! built on the generated `server` code, for fault injection.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::as_conversions,
    dead_code,
    unreachable_pub,
    missing_docs,
    missing_debug_implementations,
    reason = "test helper"
)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use tokio::sync::watch;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};
use workload_client::proto::spiffe_workload_api_server::{
    SpiffeWorkloadApi, SpiffeWorkloadApiServer,
};
use workload_client::proto::{
    JwtBundlesRequest, JwtBundlesResponse, Jwtsvid, JwtsvidRequest, JwtsvidResponse,
    ValidateJwtsvidRequest, ValidateJwtsvidResponse, X509BundlesRequest, X509BundlesResponse,
    X509svid, X509svidRequest, X509svidResponse,
};

/// rcgen's time type from a `SystemTime`, without naming the `time` crate.
macro_rules! offset {
    ($time:expr) => {
        rcgen::date_time_ymd(1970, 1, 1) + $time.duration_since(UNIX_EPOCH).unwrap()
    };
}

/// A trust domain's CA: X.509 and JWT authorities.
pub struct TestCa {
    pub trust_domain: String,
    issuer: Issuer<'static, KeyPair>,
    ca_der: Vec<u8>,
    jwt_key: EcdsaKeyPair,
    jwt_kid: String,
}

/// An issued X.509-SVID in Workload API form.
#[derive(Clone)]
pub struct IssuedSvid {
    pub spiffe_id: String,
    pub chain_der: Vec<u8>,
    pub key_der: Vec<u8>,
}

impl TestCa {
    pub fn new(trust_domain: &str) -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params
            .distinguished_name
            .push(DnType::CommonName, format!("{trust_domain} CA"));
        params.subject_alt_names = vec![SanType::URI(
            format!("spiffe://{trust_domain}").try_into().unwrap(),
        )];
        let now = SystemTime::now();
        params.not_before = offset!(now - Duration::from_secs(3600));
        params.not_after = offset!(now + Duration::from_secs(10 * 24 * 3600));
        let cert = params.self_signed(&key).unwrap();
        let ca_der = cert.der().to_vec();
        let issuer = Issuer::new(params, key);
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let jwt_key =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
                .unwrap();
        Self {
            trust_domain: trust_domain.to_owned(),
            issuer,
            ca_der,
            jwt_key,
            jwt_kid: format!("{trust_domain}-k1"),
        }
    }

    /// The X.509 bundle as concatenated DER.
    pub fn bundle_der(&self) -> Vec<u8> {
        self.ca_der.clone()
    }

    pub fn spiffe_id(&self, path: &str) -> String {
        format!("spiffe://{}{path}", self.trust_domain)
    }

    /// An SVID valid from an hour ago for `lifetime`.
    pub fn x509_svid(&self, path: &str, lifetime: Duration) -> IssuedSvid {
        let now = SystemTime::now();
        self.x509_svid_between(path, now - Duration::from_secs(3600), now + lifetime)
    }

    pub fn x509_svid_between(
        &self,
        path: &str,
        not_before: SystemTime,
        not_after: SystemTime,
    ) -> IssuedSvid {
        let key = KeyPair::generate().unwrap();
        let spiffe_id = self.spiffe_id(path);
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.subject_alt_names = vec![SanType::URI(spiffe_id.clone().try_into().unwrap())];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.not_before = offset!(not_before);
        params.not_after = offset!(not_after);
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        IssuedSvid {
            spiffe_id,
            chain_der: cert.der().to_vec(),
            key_der: key.serialize_der(),
        }
    }

    /// A JWT-SVID signed with ES256.
    pub fn jwt_svid(&self, path: &str, audience: &[&str], lifetime: Duration) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let header = serde_json::json!({"alg": "ES256", "kid": self.jwt_kid, "typ": "JWT"});
        let claims = serde_json::json!({
            "sub": self.spiffe_id(path),
            "aud": audience,
            "iat": now,
            "exp": now + lifetime.as_secs(),
        });
        let signed = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let rng = ring::rand::SystemRandom::new();
        let signature = self.jwt_key.sign(&rng, signed.as_bytes()).unwrap();
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
    }

    /// The JWT bundle as a Workload API JWKS (no `use`, as SPIRE sends it).
    pub fn jwks(&self) -> Vec<u8> {
        let point = self.jwt_key.public_key().as_ref();
        let (x, y) = point[1..].split_at(32);
        serde_json::json!({"keys": [{
            "kty": "EC", "crv": "P-256", "kid": self.jwt_kid,
            "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y),
        }]})
        .to_string()
        .into_bytes()
    }
}

/// One X509SVIDResponse entry for `svid`.
pub fn entry(svid: &IssuedSvid, bundle: &[u8], hint: &str) -> X509svid {
    X509svid {
        spiffe_id: svid.spiffe_id.clone(),
        x509_svid: svid.chain_der.clone(),
        x509_svid_key: svid.key_der.clone(),
        bundle: bundle.to_vec(),
        hint: hint.to_owned(),
    }
}

pub fn x509_response(svids: Vec<X509svid>) -> X509svidResponse {
    X509svidResponse {
        svids,
        crl: vec![],
        federated_bundles: HashMap::new(),
    }
}

/// What a fake stream does next.
#[derive(Clone, Debug)]
pub enum Step<T> {
    /// Send this message (again, to every open stream).
    Send(T),
    /// Fail every stream, and every new one, with this status.
    Fail(Status),
    /// End every open stream cleanly; new streams get nothing until the next step.
    End,
    /// Hold: open streams wait.
    Idle,
}

/// Shared, scriptable behaviour of the fake server.
pub struct Script {
    pub x509: watch::Sender<(u64, Step<X509svidResponse>)>,
    pub x509_bundles: watch::Sender<(u64, Step<X509BundlesResponse>)>,
    pub jwt_bundles: watch::Sender<(u64, Step<JwtBundlesResponse>)>,
    pub jwt_svid: Mutex<Result<JwtsvidResponse, Status>>,
    pub validate: Mutex<Result<ValidateJwtsvidResponse, Status>>,
    /// Requests seen without the security header.
    pub missing_header: AtomicUsize,
    /// Requests seen with it.
    pub with_header: AtomicUsize,
    /// Streams opened, per RPC.
    pub x509_streams: AtomicUsize,
    pub jwt_svid_calls: AtomicUsize,
    /// While `true`, `FetchJWTSVID` calls are counted and then wait before answering.
    pub jwt_svid_hold: watch::Sender<bool>,
    /// Extra metadata seen on the last request (for interceptor tests).
    pub last_metadata: Mutex<Vec<(String, String)>>,
    seq: AtomicUsize,
}

impl Script {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            x509: watch::channel((0, Step::Idle)).0,
            x509_bundles: watch::channel((0, Step::Idle)).0,
            jwt_bundles: watch::channel((0, Step::Idle)).0,
            jwt_svid: Mutex::new(Err(Status::unavailable("not scripted"))),
            validate: Mutex::new(Err(Status::unavailable("not scripted"))),
            missing_header: AtomicUsize::new(0),
            with_header: AtomicUsize::new(0),
            x509_streams: AtomicUsize::new(0),
            jwt_svid_calls: AtomicUsize::new(0),
            jwt_svid_hold: watch::channel(false).0,
            last_metadata: Mutex::new(vec![]),
            seq: AtomicUsize::new(1),
        })
    }

    fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed) as u64
    }

    pub fn x509(&self, step: Step<X509svidResponse>) {
        self.x509.send_replace((self.next_seq(), step));
    }

    pub fn x509_bundles(&self, step: Step<X509BundlesResponse>) {
        self.x509_bundles.send_replace((self.next_seq(), step));
    }

    pub fn jwt_bundles(&self, step: Step<JwtBundlesResponse>) {
        self.jwt_bundles.send_replace((self.next_seq(), step));
    }

    fn check<T>(&self, request: &Request<T>) -> Result<(), Status> {
        let metadata = request.metadata();
        *self.last_metadata.lock().unwrap() = metadata
            .iter()
            .filter_map(|kv| match kv {
                tonic::metadata::KeyAndValueRef::Ascii(k, v) => {
                    Some((k.to_string(), v.to_str().unwrap_or("").to_owned()))
                }
                tonic::metadata::KeyAndValueRef::Binary(..) => None,
            })
            .collect();
        let values: Vec<_> = metadata.get_all("workload.spiffe.io").iter().collect();
        if values.len() == 1 && values[0] == "true" {
            self.with_header.fetch_add(1, Ordering::Relaxed);
            Ok(())
        } else {
            self.missing_header.fetch_add(1, Ordering::Relaxed);
            Err(Status::invalid_argument(
                "security header missing from request",
            ))
        }
    }
}

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// Streams a watched script: every new step is sent to the stream; Fail/End close it.
fn stream_of<T: Clone + Send + Sync + 'static>(
    mut rx: watch::Receiver<(u64, Step<T>)>,
) -> BoxStream<T> {
    let (tx, out) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        // A fresh stream acts on the current step, whatever its age.
        let mut first = true;
        loop {
            let step = if first {
                first = false;
                rx.borrow_and_update().1.clone()
            } else {
                if rx.changed().await.is_err() {
                    return;
                }
                rx.borrow_and_update().1.clone()
            };
            match step {
                Step::Send(message) => {
                    if tx.send(Ok(message)).await.is_err() {
                        return;
                    }
                }
                Step::Fail(status) => {
                    let _ = tx.send(Err(status)).await;
                    return;
                }
                Step::End => return,
                Step::Idle => {}
            }
        }
    });
    Box::pin(tokio_stream::wrappers::ReceiverStream::new(out))
}

pub struct Fake(pub Arc<Script>);

#[tonic::async_trait]
impl SpiffeWorkloadApi for Fake {
    type FetchX509SVIDStream = BoxStream<X509svidResponse>;
    type FetchX509BundlesStream = BoxStream<X509BundlesResponse>;
    type FetchJWTBundlesStream = BoxStream<JwtBundlesResponse>;

    async fn fetch_x509svid(
        &self,
        request: Request<X509svidRequest>,
    ) -> Result<Response<Self::FetchX509SVIDStream>, Status> {
        self.0.check(&request)?;
        self.0.x509_streams.fetch_add(1, Ordering::Relaxed);
        if let Step::Fail(status) = &self.0.x509.borrow().1 {
            return Err(status.clone());
        }
        Ok(Response::new(stream_of(self.0.x509.subscribe())))
    }

    async fn fetch_x509_bundles(
        &self,
        request: Request<X509BundlesRequest>,
    ) -> Result<Response<Self::FetchX509BundlesStream>, Status> {
        self.0.check(&request)?;
        Ok(Response::new(stream_of(self.0.x509_bundles.subscribe())))
    }

    async fn fetch_jwtsvid(
        &self,
        request: Request<JwtsvidRequest>,
    ) -> Result<Response<JwtsvidResponse>, Status> {
        self.0.check(&request)?;
        self.0.jwt_svid_calls.fetch_add(1, Ordering::Relaxed);
        let _ = self
            .0
            .jwt_svid_hold
            .subscribe()
            .wait_for(|held| !held)
            .await;
        if request.get_ref().audience.is_empty() {
            return Err(Status::invalid_argument("audience must be specified"));
        }
        self.0.jwt_svid.lock().unwrap().clone().map(Response::new)
    }

    async fn fetch_jwt_bundles(
        &self,
        request: Request<JwtBundlesRequest>,
    ) -> Result<Response<Self::FetchJWTBundlesStream>, Status> {
        self.0.check(&request)?;
        Ok(Response::new(stream_of(self.0.jwt_bundles.subscribe())))
    }

    async fn validate_jwtsvid(
        &self,
        request: Request<ValidateJwtsvidRequest>,
    ) -> Result<Response<ValidateJwtsvidResponse>, Status> {
        self.0.check(&request)?;
        self.0.validate.lock().unwrap().clone().map(Response::new)
    }
}

/// A running fake server on a Unix socket; `stop` kills it, `start` brings it back on the same
/// path with the same script.
pub struct FakeServer {
    pub script: Arc<Script>,
    pub path: PathBuf,
    _dir: Option<tempfile::TempDir>,
    /// The server runs on its own runtime, so `stop` can kill it outright: every task and
    /// every connection goes away, as when an agent process dies.
    runtime: Option<tokio::runtime::Runtime>,
}

impl FakeServer {
    pub async fn start_new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.sock");
        let mut server = Self {
            script: Script::new(),
            path,
            _dir: Some(dir),
            runtime: None,
        };
        server.start().await;
        server
    }

    /// A server that is not running yet (for "agent down at startup").
    pub fn not_started() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.sock");
        Self {
            script: Script::new(),
            path,
            _dir: Some(dir),
            runtime: None,
        }
    }

    pub fn endpoint(&self) -> workload_client::Endpoint {
        workload_client::Endpoint::unix(&self.path).unwrap()
    }

    pub async fn start(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let path = self.path.clone();
        let service = SpiffeWorkloadApiServer::new(Fake(Arc::clone(&self.script)));
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        runtime.spawn(async move {
            let listener = tokio::net::UnixListener::bind(&path).unwrap();
            let _ = ready_tx.send(());
            let incoming = tokio_stream::wrappers::UnixListenerStream::new(listener);
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(incoming)
                .await
                .unwrap();
        });
        ready_rx.await.unwrap();
        self.runtime = Some(runtime);
    }

    /// Kills the server: open streams break, the socket disappears.
    pub async fn stop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

pub fn path_exists(path: &Path) -> bool {
    path.exists()
}

/// A client with a short timeout for tests.
pub fn client(server: &FakeServer) -> workload_client::Client {
    workload_client::Client::builder(server.endpoint())
        .timeout(Duration::from_secs(5))
        .connect_lazy()
        .unwrap()
}

pub fn jwt_response(spiffe_id: &str, token: &str, hint: &str) -> Jwtsvid {
    Jwtsvid {
        spiffe_id: spiffe_id.to_owned(),
        svid: token.to_owned(),
        hint: hint.to_owned(),
    }
}

/// Options with tiny backoff so tests that run on the real clock stay fast.
pub fn fast_options() -> workload_client::SourceOptions {
    let mut options = workload_client::SourceOptions::default();
    options.backoff_initial = Duration::from_millis(20);
    options.backoff_max = Duration::from_millis(200);
    options.startup_timeout = Duration::from_secs(10);
    options
}
