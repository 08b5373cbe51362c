//! Shared by the proxy's integration tests: SVID sources, a proxy runner, a TLS client, a
//! metrics recorder, backends.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    dead_code,
    reason = "test helpers: a panic is a failed test; each test binary uses a subset"
)]

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use arc_swap::ArcSwap;
use ca::TestCa;
use metrics_exporter_prometheus::PrometheusHandle;
use proxy::{Address, Proxy};
use spiffe_id::IdMatcher;
use svid::{X509Svid, X509SvidSource};
use tls_integration::SpiffeTls;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::client::TlsStream;
use trust_bundle::X509BundleSource;

/// An SVID source whose SVID the test replaces (a rotation).
#[derive(Debug)]
pub(crate) struct Rotating(ArcSwap<X509Svid>);

impl Rotating {
    pub(crate) fn new(svid: X509Svid) -> Arc<Self> {
        Arc::new(Self(ArcSwap::from_pointee(svid)))
    }

    pub(crate) fn rotate(&self, svid: X509Svid) {
        self.0.store(Arc::new(svid));
    }

    pub(crate) fn current(&self) -> Arc<X509Svid> {
        self.0.load_full()
    }
}

impl X509SvidSource for Rotating {
    fn x509_svid(&self) -> Option<Arc<X509Svid>> {
        Some(self.0.load_full())
    }
}

/// The process-wide Prometheus recorder (installed once per test process).
pub(crate) fn metrics() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
            .install_recorder()
            .unwrap();
        proxy::metrics::describe();
        handle
    })
}

/// The value of the counter line that starts with `prefix` (e.g.
/// `spiffekit_proxy_refusals_total{mode="server",reason="expired"}`), 0 when absent.
pub(crate) fn counter(prefix: &str) -> u64 {
    metrics()
        .render()
        .lines()
        .find(|line| line.starts_with(prefix))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
        .unwrap_or(0)
}

/// Waits until the counter exceeds `before` (the proxy counts on its own task).
pub(crate) async fn counter_rises(prefix: &str, before: u64) -> u64 {
    for _ in 0..200 {
        let now = counter(prefix);
        if now > before {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{prefix} stayed at {before}:\n{}", metrics().render());
}

/// A running proxy: its address and a way to stop it.
pub(crate) struct Running {
    pub(crate) address: Address,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), proxy::Error>>,
}

impl Running {
    pub(crate) fn start(proxy: Proxy) -> Self {
        metrics();
        let address = proxy.local_address();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(proxy.run(async {
            let _ = stopped.await;
        }));
        Self {
            address,
            stop: Some(stop),
            task,
        }
    }

    pub(crate) fn tcp(&self) -> String {
        match &self.address {
            Address::Tcp(address) => address.clone(),
            other => panic!("not TCP: {other}"),
        }
    }

    /// Starts the drain and waits for `run` to return.
    pub(crate) async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task).await.unwrap().unwrap();
    }

    pub(crate) fn begin_stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    pub(crate) async fn stopped(self) {
        self.task.await.unwrap().unwrap();
    }
}

/// A TLS client presenting `svid` and accepting a server that `server` matches; TLS 1.3.
pub(crate) async fn mtls_connect(
    address: &str,
    svid: X509Svid,
    bundles: Arc<dyn X509BundleSource>,
    server: IdMatcher,
) -> std::io::Result<TlsStream<TcpStream>> {
    let config = SpiffeTls::new(svid::Crypto::default())
        .mtls_client(Arc::new(Arc::new(svid)), bundles, server)
        .unwrap();
    let (config, _) = config.for_connection();
    let tcp = TcpStream::connect(address).await?;
    let name = rustls_pki_types::ServerName::try_from("proxy.test").unwrap();
    tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
}

/// Writes `data`, half-closes, reads to the end.
pub(crate) async fn exchange<S>(stream: &mut S, data: &[u8]) -> std::io::Result<Vec<u8>>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    stream.write_all(data).await?;
    stream.shutdown().await?;
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).await?;
    Ok(reply)
}

/// A TCP backend: for each connection, reads everything until the client half-closes, then
/// answers `got <n> bytes` and closes. An answer proves the half-close reached it and the way
/// back stayed open.
pub(crate) async fn half_close_backend() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut data = Vec::new();
                if tcp.read_to_end(&mut data).await.is_ok() {
                    let _ = tcp
                        .write_all(format!("got {} bytes", data.len()).as_bytes())
                        .await;
                    let _ = tcp.shutdown().await;
                }
            });
        }
    });
    address
}

/// A TCP backend that echoes each read at once, until the client closes.
pub(crate) async fn echo_backend() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut reader, mut writer) = tcp.split();
                let _ = tokio::io::copy(&mut reader, &mut writer).await;
            });
        }
    });
    address
}

/// A loopback address nothing listens on.
pub(crate) fn closed_port() -> String {
    format!("127.0.0.1:{}", test_support::process::free_port().unwrap())
}

/// Writes `svid`'s chain and key as PEM files named `<name>.pem` and `<name>.key` in `dir`.
pub(crate) fn write_svid(
    dir: &Path,
    name: &str,
    svid: &X509Svid,
) -> (std::path::PathBuf, std::path::PathBuf) {
    let cert = dir.join(format!("{name}.pem"));
    let key = dir.join(format!("{name}.key"));
    svid.save(&cert, &key).unwrap();
    (cert, key)
}

/// The bundle of `ca` as a PEM file in `dir`.
pub(crate) fn write_bundle(dir: &Path, ca: &TestCa) -> std::path::PathBuf {
    let path = dir.join("bundle.pem");
    std::fs::write(
        &path,
        test_support::pem::pem(ca.x509_bundle().authorities()),
    )
    .unwrap();
    path
}
