//! tokio sockets: a TLS acceptor and a connector that carry the peer's identity (features
//! `hyper` or `tonic`).
//!
//! [`SpiffeAcceptor`] runs the server side of the handshake with a bounded duration and
//! returns a [`ServerStream`] that knows its [`PeerInfo`]. [`SpiffeConnector`] is a
//! `tower::Service<Uri>` for hyper-util's client and for `tonic::transport::Endpoint::
//! connect_with_connector`; it dials TCP, runs the client handshake and returns a
//! [`ClientStream`].

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::connection::{SpiffeClientConfig, SpiffeServerConfig};
use crate::error::Error;
use crate::peer::{PeerIdentity, PeerInfo};

/// How long a TLS handshake may take before the connection is dropped, unless set otherwise.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs server handshakes with a [`SpiffeServerConfig`] of this crate (or any rustls
/// `ServerConfig`, converted: its connections then report no peer identity).
///
/// Each connection gets its own configuration ([`SpiffeServerConfig::for_connection`]), so its
/// [`PeerIdentity`] is what the verifier of that very handshake accepted.
///
/// ```
/// use tls_integration::{SpiffeServerConfig, net::SpiffeAcceptor};
///
/// # fn demo(config: SpiffeServerConfig) {
/// let acceptor = SpiffeAcceptor::new(config)
///     .with_handshake_timeout(std::time::Duration::from_secs(5));
/// # let _ = acceptor;
/// # }
/// ```
#[derive(Clone)]
pub struct SpiffeAcceptor {
    config: SpiffeServerConfig,
    handshake_timeout: Duration,
}

impl SpiffeAcceptor {
    /// An acceptor for `config` (a [`SpiffeServerConfig`], an `Arc` of one, or a rustls
    /// `ServerConfig` without peer identities), with [`DEFAULT_HANDSHAKE_TIMEOUT`].
    pub fn new(config: impl Into<SpiffeServerConfig>) -> Self {
        Self {
            config: config.into(),
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
        }
    }

    /// Bounds the duration of each handshake.
    #[must_use]
    pub fn with_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Runs the server handshake on `io` with a configuration of its own. The peer identity
    /// is read once, here, from what this handshake's verifier accepted.
    ///
    /// # Errors
    /// [`Error::Handshake`] when the handshake fails (the rustls error is its source; when
    /// our verifier refused the client, [`Error::verifier_error`] gives the typed reason) or
    /// times out.
    pub async fn accept<IO>(
        &self,
        io: IO,
        remote_addr: Option<SocketAddr>,
    ) -> Result<ServerStream<IO>, Error>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let (config, slot) = self.config.for_connection();
        let accept = tokio_rustls::TlsAcceptor::from(config).accept(io);
        let stream = tokio::time::timeout(self.handshake_timeout, accept)
            .await
            .map_err(|_| Error::Handshake(io::ErrorKind::TimedOut.into()))?
            .map_err(crate::refusal::handshake_error)?;
        let identity = PeerIdentity::from_connection(stream.get_ref().1, &slot).ok();
        Ok(ServerStream {
            inner: stream,
            info: PeerInfo::new(remote_addr, identity),
        })
    }

    /// Accepts a TCP connection's handshake, recording its peer address.
    ///
    /// # Errors
    /// As [`accept`](Self::accept).
    pub async fn accept_tcp(&self, tcp: TcpStream) -> Result<ServerStream<TcpStream>, Error> {
        // Small writes (HTTP/2 frames, TLS records) go out at once, as the connector's do.
        let _ = tcp.set_nodelay(true);
        let remote = tcp.peer_addr().ok();
        self.accept(tcp, remote).await
    }
}

impl std::fmt::Debug for SpiffeAcceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpiffeAcceptor")
            .field("handshake_timeout", &self.handshake_timeout)
            .finish_non_exhaustive()
    }
}

/// A server-side TLS stream whose handshake has finished, with its [`PeerInfo`].
#[derive(Debug)]
pub struct ServerStream<IO> {
    inner: tokio_rustls::server::TlsStream<IO>,
    info: PeerInfo,
}

impl<IO> ServerStream<IO> {
    /// The peer address and, when the client presented an SVID, its identity.
    pub fn peer_info(&self) -> &PeerInfo {
        &self.info
    }

    /// The rustls stream.
    pub fn get_ref(&self) -> &tokio_rustls::server::TlsStream<IO> {
        &self.inner
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncRead for ServerStream<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncWrite for ServerStream<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Dials TCP and runs a client handshake with a [`SpiffeClientConfig`] of this crate (one
/// configuration per connection, as [`SpiffeAcceptor`] does), or with any rustls
/// `ClientConfig`, converted (its connections then report no peer identity): a
/// `tower::Service<Uri>` for hyper-util's legacy client and tonic's
/// `Endpoint::connect_with_connector`.
///
/// The URI's host and port are dialled (port 443 for `https`, 80 otherwise, when absent). The
/// server name given to rustls is the URI's host unless
/// [`with_server_name`](Self::with_server_name) fixes one; SPIFFE verifiers ignore it, WebPKI ones
/// ([`SpiffeTls::mtls_web_client`](crate::SpiffeTls::mtls_web_client)) check it.
///
/// When the handshake negotiates `h2` with ALPN (a client configuration built with
/// [`SpiffeTls::with_alpn_protocols(["h2", "http/1.1"])`](crate::SpiffeTls::with_alpn_protocols)
/// and a server that advertises `h2`), the connection says so and hyper-util's client speaks
/// HTTP/2 on it; otherwise HTTP/1.1. tonic's channel speaks HTTP/2 whatever ALPN says.
///
/// ```
/// use tls_integration::{SpiffeClientConfig, net::SpiffeConnector};
///
/// # fn demo(config: SpiffeClientConfig) {
/// let connector = SpiffeConnector::new(config);
/// # let _ = connector;
/// # }
/// ```
#[derive(Clone)]
pub struct SpiffeConnector {
    config: SpiffeClientConfig,
    server_name: Option<ServerName<'static>>,
    handshake_timeout: Duration,
}

impl SpiffeConnector {
    /// A connector with `config` (a [`SpiffeClientConfig`], an `Arc` of one, or a rustls
    /// `ClientConfig` without peer identities) and [`DEFAULT_HANDSHAKE_TIMEOUT`].
    pub fn new(config: impl Into<SpiffeClientConfig>) -> Self {
        Self {
            config: config.into(),
            server_name: None,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
        }
    }

    /// Uses `name` as the TLS server name (SNI) whatever the URI says.
    #[must_use]
    pub fn with_server_name(mut self, name: ServerName<'static>) -> Self {
        self.server_name = Some(name);
        self
    }

    /// Bounds the duration of the TCP connection plus the handshake.
    #[must_use]
    pub fn with_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Connects to `uri`'s host and port and runs the handshake.
    ///
    /// # Errors
    /// [`Error::Handshake`] when the URI has no host, the TCP connection or the handshake
    /// fails (the rustls error is inside; when our verifier refused the server,
    /// [`Error::verifier_error`] gives the typed reason), or the timeout passes.
    pub async fn connect(&self, uri: &Uri) -> Result<ClientStream, Error> {
        let host = uri.host().ok_or_else(|| {
            Error::Handshake(io::Error::new(
                io::ErrorKind::InvalidInput,
                "URI has no host",
            ))
        })?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port = uri.port_u16().unwrap_or_else(|| {
            if uri.scheme_str() == Some("https") {
                443
            } else {
                80
            }
        });
        let name = match &self.server_name {
            Some(name) => name.clone(),
            None => ServerName::try_from(host.to_owned())
                .map_err(|e| Error::Handshake(io::Error::new(io::ErrorKind::InvalidInput, e)))?,
        };
        let (config, slot) = self.config.for_connection();
        let connect = async {
            let tcp = TcpStream::connect((host, port)).await?;
            let remote = tcp.peer_addr().ok();
            let _ = tcp.set_nodelay(true);
            let stream = tokio_rustls::TlsConnector::from(config)
                .connect(name, tcp)
                .await?;
            Ok::<_, io::Error>((stream, remote))
        };
        let (stream, remote) = tokio::time::timeout(self.handshake_timeout, connect)
            .await
            .map_err(|_| Error::Handshake(io::ErrorKind::TimedOut.into()))?
            .map_err(crate::refusal::handshake_error)?;
        let identity = PeerIdentity::from_connection(stream.get_ref().1, &slot).ok();
        Ok(ClientStream {
            inner: TokioIo::new(stream),
            info: PeerInfo::new(remote, identity),
        })
    }
}

impl std::fmt::Debug for SpiffeConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpiffeConnector")
            .field("server_name", &self.server_name)
            .field("handshake_timeout", &self.handshake_timeout)
            .finish_non_exhaustive()
    }
}

impl tower::Service<Uri> for SpiffeConnector {
    type Response = ClientStream;
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<ClientStream, Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connector = self.clone();
        Box::pin(async move { connector.connect(&uri).await })
    }
}

/// A client-side TLS connection whose handshake has finished, for hyper (it implements
/// hyper's `rt::Read`/`rt::Write` and hyper-util's `Connection`, which hands the [`PeerInfo`]
/// to responses' extensions).
#[derive(Debug)]
pub struct ClientStream {
    inner: TokioIo<tokio_rustls::client::TlsStream<TcpStream>>,
    info: PeerInfo,
}

impl ClientStream {
    /// The server's address and, when it presented an SVID, its identity.
    pub fn peer_info(&self) -> &PeerInfo {
        &self.info
    }
}

impl Connection for ClientStream {
    fn connected(&self) -> Connected {
        let connected = Connected::new().extra(self.info.clone());
        if self.inner.inner().get_ref().1.alpn_protocol() == Some(b"h2") {
            connected.negotiated_h2()
        } else {
            connected
        }
    }
}

impl hyper::rt::Read for ClientStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for ClientStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Logs a failed server handshake: `WARN` when this crate's verifier refused the peer (an
/// authorization decision worth an audit trail), `DEBUG` otherwise (scanners, resets, timeouts).
/// `hyper::Server::serve` documents the levels for users.
pub(crate) fn log_handshake_failure(remote: SocketAddr, error: &Error) {
    match error.verifier_error() {
        Some(refusal @ Error::Unauthorized { spiffe_id, .. }) => tracing::warn!(
            peer.addr = %remote,
            peer.spiffe_id = %spiffe_id,
            reason = %refusal,
            "TLS handshake refused"
        ),
        Some(refusal) => tracing::warn!(
            peer.addr = %remote,
            reason = %refusal,
            "TLS handshake refused"
        ),
        None => tracing::debug!(peer.addr = %remote, %error, "TLS handshake failed"),
    }
}
