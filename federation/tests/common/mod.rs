//! Helpers of the federation tests: a WebPKI CA made with rcgen, endpoints on loopback, raw
//! HTTPS servers that answer what a test wants, and handshakes that report what the server
//! presented.

#![allow(
    dead_code,
    unreachable_pub,
    reason = "shared by several test binaries, each using a subset"
)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers: a panic is a failed test"
)]

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use federation::client::EndpointUrl;
use federation::endpoint::{self, BundleService, EndpointTls};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Bytes, Frame, Incoming};
use hyper::{Request, Response};
use rcgen::{
    BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::RootCertStore;
use rustls::pki_types::{CertificateDer, ServerName};
use svid::{X509Svid, X509SvidSource};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use trust_bundle::X509BundleSource;

/// Turns a hang into a failure (no timing is asserted).
pub async fn within<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(30), future)
        .await
        .expect("the test hung")
}

pub fn crypto() -> svid::Crypto {
    svid::Crypto::default()
}

/// A WebPKI certificate authority (rcgen), standing in for a public CA.
pub struct WebPki {
    params: CertificateParams,
    key: KeyPair,
    pub cert: CertificateDer<'static>,
    pub pem: String,
}

impl WebPki {
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, format!("{name} test root"));
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Self {
            pem: cert.pem(),
            cert: cert.der().clone(),
            params,
            key,
        }
    }

    /// A server certificate for `names` (DNS names or IP addresses): (chain PEM, key PEM, leaf).
    pub fn server(&self, names: &[&str]) -> (String, String, CertificateDer<'static>) {
        let mut params =
            CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
                .unwrap();
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().unwrap();
        let issuer = Issuer::from_params(&self.params, &self.key);
        let cert = params.signed_by(&key, &issuer).unwrap();
        (cert.pem(), key.serialize_pem(), cert.der().clone())
    }

    pub fn roots(&self) -> Arc<RootCertStore> {
        let mut roots = RootCertStore::empty();
        roots.add(self.cert.clone()).unwrap();
        Arc::new(roots)
    }
}

/// Writes a chain and a key as `chain.pem` and `key.pem` in `dir` (replacing them by rename,
/// as certificate tools do), returning their paths.
pub fn write_pair(dir: &Path, chain: &str, key: &str) -> (PathBuf, PathBuf) {
    let chain_path = dir.join("chain.pem");
    let key_path = dir.join("key.pem");
    replace(&chain_path, chain.as_bytes());
    replace(&key_path, key.as_bytes());
    (chain_path, key_path)
}

pub fn replace(path: &Path, contents: &[u8]) {
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, contents).unwrap();
    std::fs::rename(&temporary, path).unwrap();
}

/// An X509-SVID source the test rotates by hand.
#[derive(Debug)]
pub struct RotatingSvid(Mutex<Arc<X509Svid>>);

impl RotatingSvid {
    pub fn new(svid: X509Svid) -> Arc<Self> {
        Arc::new(Self(Mutex::new(Arc::new(svid))))
    }

    pub fn set(&self, svid: X509Svid) {
        *self.0.lock().unwrap() = Arc::new(svid);
    }
}

impl X509SvidSource for RotatingSvid {
    fn x509_svid(&self) -> Option<Arc<X509Svid>> {
        Some(Arc::clone(&self.0.lock().unwrap()))
    }
}

/// A server on 127.0.0.1, stopped by [`Running::stop`] (or when the test's runtime ends).
pub struct Running {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// Our endpoint: `service` over `tls`.
    pub async fn endpoint(tls: EndpointTls, service: BundleService) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(endpoint::serve(listener, tls, service, stopped));
        Self {
            addr,
            stop: Some(stop),
            task,
        }
    }

    /// A raw HTTPS server (the endpoint's TLS) whose answers `respond` chooses.
    pub async fn raw<F>(tls: EndpointTls, respond: F) -> Self
    where
        F: Fn(&Request<Incoming>) -> Reply + Send + Sync + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let respond = Arc::new(respond);
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            let reply = respond(&request);
            async move {
                match reply {
                    Reply::Now(response) => Ok::<_, Infallible>(response),
                    Reply::Never => std::future::pending().await,
                }
            }
        });
        let task = tokio::spawn(tls_integration::hyper::serve(
            listener,
            tls.acceptor().clone(),
            service,
            stopped,
        ));
        Self {
            addr,
            stop: Some(stop),
            task,
        }
    }

    pub fn url(&self, host: &str, path: &str) -> EndpointUrl {
        format!("https://{host}:{}{path}", self.addr.port())
            .parse()
            .unwrap()
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        within(&mut self.task).await.unwrap().unwrap();
    }
}

/// What a raw server answers.
pub enum Reply {
    Now(Response<BoxBody<Bytes, Infallible>>),
    Never,
}

pub fn reply(status: u16, headers: &[(&str, &str)], body: impl Into<Bytes>) -> Reply {
    let mut response = Response::builder().status(status);
    for (name, value) in headers {
        response = response.header(*name, *value);
    }
    Reply::Now(response.body(Full::new(body.into()).boxed()).unwrap())
}

/// A body sent in `chunks` frames without a declared length (chunked encoding).
pub fn chunked(status: u16, chunk: Bytes, chunks: usize) -> Reply {
    let body = Chunks {
        chunk,
        left: chunks,
    };
    Reply::Now(
        Response::builder()
            .status(status)
            .body(body.boxed())
            .unwrap(),
    )
}

struct Chunks {
    chunk: Bytes,
    left: usize,
}

impl Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        self.left -= 1;
        Poll::Ready(Some(Ok(Frame::data(self.chunk.clone()))))
    }
}

/// The leaf a `https_web` server presents to a client trusting `roots`, reaching it as `name`.
pub async fn web_leaf(
    addr: SocketAddr,
    roots: Arc<RootCertStore>,
    name: &str,
) -> CertificateDer<'static> {
    let config = rustls::ClientConfig::builder_with_provider(Arc::clone(crypto().provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let stream = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from(name.to_owned()).unwrap(), tcp)
        .await
        .unwrap();
    stream.get_ref().1.peer_certificates().unwrap()[0].clone()
}

/// The leaf a `https_spiffe` server presents (any SVID valid against `bundles`).
pub async fn spiffe_leaf(
    addr: SocketAddr,
    bundles: Arc<dyn X509BundleSource>,
) -> CertificateDer<'static> {
    let config = tls_integration::SpiffeTls::new(crypto())
        .tls_client(bundles, tls_integration::danger::AnyPeer)
        .unwrap();
    let (config, _peer) = config.for_connection();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let stream = tokio_rustls::TlsConnector::from(config)
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    stream.get_ref().1.peer_certificates().unwrap()[0].clone()
}

/// Records whether a server asked for a client certificate (rustls calls a client resolver
/// only on a CertificateRequest); presents none.
#[derive(Debug, Default)]
struct Recorder(std::sync::atomic::AtomicBool);

impl rustls::client::ResolvesClientCert for Recorder {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _schemes: &[rustls::SignatureScheme],
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
        None
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// Whether the server at `addr` asks a client with `config` for a certificate in a full
/// handshake.
pub async fn asks_for_client_certificate(addr: SocketAddr, config: &rustls::ClientConfig) -> bool {
    let recorder = Arc::new(Recorder::default());
    let mut config = config.clone();
    config.client_auth_cert_resolver = recorder.clone();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    recorder.0.load(std::sync::atomic::Ordering::SeqCst)
}
