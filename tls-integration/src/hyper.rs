//! hyper 1.x: an HTTPS accept loop that authenticates clients with SVIDs and hands their
//! identity to the service (feature `hyper`). The client side is
//! [`net::SpiffeConnector`](crate::net::SpiffeConnector).
//!
//! [`serve`] (or [`Server`], to set the drain timeout) runs the TLS handshake of each
//! connection, then HTTP/2 when the client and the server agreed on `h2` with ALPN, HTTP/1.1
//! otherwise, and puts the connection's [`PeerInfo`] in every request's extensions.
//!
//! # HTTP/2 needs ALPN
//!
//! Over TLS the HTTP version is the one negotiated with ALPN (RFC 9113 section 3.2), never
//! guessed from the first bytes. The server configuration must therefore advertise `h2` for
//! HTTP/2 to be used: build it with
//! [`SpiffeTls::with_alpn_protocols(["h2", "http/1.1"])`](crate::SpiffeTls::with_alpn_protocols),
//! or set `alpn_protocols` on a `rustls::ServerConfig` yourself. A configuration without ALPN
//! (what `SpiffeTls` builds unless asked) serves HTTP/1.1 only, as before. A client that
//! offers no ALPN gets HTTP/1.1; one that negotiates a protocol other than `h2` and
//! `http/1.1` is disconnected.
//!
//! ```no_run
//! use std::convert::Infallible;
//! use std::sync::Arc;
//! use http_body_util::Full;
//! use hyper::{Request, Response, body::Incoming};
//! use spiffe_id::IdMatcher;
//! use svid::X509SvidSource;
//! use trust_bundle::X509BundleSource;
//! use tls_integration::{PeerInfo, SpiffeTls, net::SpiffeAcceptor};
//!
//! # async fn demo(
//! #     svids: Arc<dyn X509SvidSource>,
//! #     bundles: Arc<dyn X509BundleSource>,
//! # ) -> Result<(), Box<dyn std::error::Error>> {
//! let tls = SpiffeTls::new(svid::Crypto::default())
//!     .with_alpn_protocols(["h2", "http/1.1"]);
//! let config = tls.mtls_server(svids, bundles, IdMatcher::pattern("spiffe://prod.example/*")?)?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8443").await?;
//! let service = hyper::service::service_fn(|request: Request<Incoming>| async move {
//!     let caller = request.extensions().get::<PeerInfo>().and_then(PeerInfo::spiffe_id);
//!     let body = format!("hello {}\n", caller.map_or("anonymous".into(), |id| id.to_string()));
//!     Ok::<_, Infallible>(Response::new(Full::new(hyper::body::Bytes::from(body))))
//! });
//! let acceptor = SpiffeAcceptor::new(config);
//! tls_integration::hyper::serve(listener, acceptor, service, tokio::signal::ctrl_c()).await?;
//! # Ok(())
//! # }
//! ```

use std::error::Error as StdError;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::{Body, Incoming};
use hyper::server::conn::{http1, http2};
use hyper::service::Service;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use crate::net::SpiffeAcceptor;
use crate::peer::PeerInfo;

/// How long [`serve`] lets open connections finish their requests after shutdown, unless
/// [`Server::with_drain_timeout`] says otherwise.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// How long an HTTP/1.1 client may take to send a request's headers before [`serve`] closes
/// its connection, unless [`Server::with_header_read_timeout`] says otherwise. A client that
/// trickles headers (slowloris) would otherwise hold a connection and its task forever. The
/// same value as hyper's own default once a timer is set.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the accept loop pauses when the process is out of file descriptors or memory,
/// instead of ending: connections that close meanwhile free what the next `accept` needs.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Serves HTTPS on `listener` until `shutdown` completes, then drains open connections for up
/// to [`DEFAULT_DRAIN_TIMEOUT`]. Same as `Server::new().serve(..)`; see [`Server::serve`].
///
/// # Errors
/// An I/O error from the listener's `accept` (other than a connection reset or aborted by
/// its client before it was accepted).
pub async fn serve<S, B, F>(
    listener: TcpListener,
    acceptor: SpiffeAcceptor,
    service: S,
    shutdown: F,
) -> io::Result<()>
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn StdError + Send + Sync>>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
    F: Future,
{
    Server::new()
        .serve(listener, acceptor, service, shutdown)
        .await
}

/// The HTTPS accept loop with its settings: [`serve`] with a chosen drain timeout.
///
/// The handshake timeout is the acceptor's
/// ([`SpiffeAcceptor::with_handshake_timeout`], 10 s by default): a client that opens a
/// connection and never finishes its handshake is dropped when it passes.
/// An HTTP/1.1 client that then takes longer than the header read timeout
/// ([`Server::with_header_read_timeout`], 30 s by default) to send a request's headers is
/// dropped too.
///
/// ```no_run
/// use std::time::Duration;
/// use tls_integration::{hyper::Server, net::SpiffeAcceptor};
///
/// # async fn demo<S, B>(config: tls_integration::SpiffeServerConfig, service: S) -> std::io::Result<()>
/// # where
/// #     S: hyper::service::Service<hyper::Request<hyper::body::Incoming>, Response = hyper::Response<B>> + Clone + Send + 'static,
/// #     S::Future: Send + 'static,
/// #     S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
/// #     B: hyper::body::Body + Send + 'static,
/// #     B::Data: Send,
/// #     B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
/// # {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8443").await?;
/// let acceptor = SpiffeAcceptor::new(config).with_handshake_timeout(Duration::from_secs(5));
/// Server::new()
///     .with_drain_timeout(Duration::from_secs(10))
///     .serve(listener, acceptor, service, tokio::signal::ctrl_c())
///     .await
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Server {
    drain_timeout: Duration,
    header_read_timeout: Option<Duration>,
}

impl Default for Server {
    fn default() -> Self {
        Self::new()
    }
}

impl Server {
    /// An accept loop with [`DEFAULT_DRAIN_TIMEOUT`] and [`DEFAULT_HEADER_READ_TIMEOUT`].
    pub fn new() -> Self {
        Self {
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
            header_read_timeout: Some(DEFAULT_HEADER_READ_TIMEOUT),
        }
    }

    /// How long open connections may take to finish their requests once shutdown has begun;
    /// connections still open then are closed.
    #[must_use]
    pub fn with_drain_timeout(mut self, timeout: Duration) -> Self {
        self.drain_timeout = timeout;
        self
    }

    /// How long an HTTP/1.1 client may take to send a request's headers, from the first
    /// byte of the request (or from the start of the connection for the first one); the
    /// connection is closed when it passes. `None` removes the limit (not recommended on a
    /// network with untrusted clients). HTTP/2 connections are not affected.
    #[must_use]
    pub fn with_header_read_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.header_read_timeout = timeout.into();
        self
    }

    /// Serves HTTPS on `listener` until `shutdown` completes.
    ///
    /// Each accepted connection runs its handshake on its own task, bounded by the
    /// acceptor's handshake timeout, so a slow or failing client never holds up the loop.
    /// After the handshake the connection speaks HTTP/2 if ALPN chose `h2` and HTTP/1.1
    /// otherwise (see the [module documentation](self)). Every request carries its
    /// connection's [`PeerInfo`] in its extensions, with the client's verified SPIFFE ID when
    /// it presented an SVID.
    ///
    /// # Shutdown
    ///
    /// When `shutdown` completes the loop stops accepting and closes the listener (new
    /// connections are refused), and every open connection is shut down gracefully: requests
    /// in flight run to completion, then HTTP/1.1 connections close and HTTP/2 connections
    /// send `GOAWAY`. Connections still handshaking are shut down the same way as soon as
    /// they are ready. Whatever is still open after the drain timeout is closed, and the
    /// function returns.
    ///
    /// # Logs
    ///
    /// Through `tracing`, target `tls_integration::hyper`, with the peer's address as
    /// `peer.addr`; certificates and keys are never logged.
    ///
    /// - `WARN`: a handshake refused by this crate's verifier, with its reason
    ///   ([`Error::verifier_error`](crate::Error::verifier_error)), e.g. `peer spiffe://b.example/client is not
    ///   authorized: ..` (and `peer.spiffe_id`). The peer spoke TLS and presented a
    ///   certificate that SPIFFE verification or the authorizer turned down: that is an
    ///   authorization decision worth an audit trail, and the usual sign of a misconfiguration
    ///   (a missing federation, an authorizer too narrow, an expired SVID). On a network
    ///   where hostile clients may flood these, filter the target.
    /// - `DEBUG`: every other failed handshake (timeouts, resets, clients that are not TLS,
    ///   TLS alerts such as a client refusing our certificate), which port scanners and
    ///   health checks produce all day, connection errors after the handshake, and a
    ///   connection dropped for an unsupported ALPN protocol.
    /// - `DEBUG`: the start of shutdown; `WARN` when the drain timeout closes connections.
    ///
    /// # Errors
    /// An I/O error from the listener's `accept`, other than a connection reset or aborted by
    /// its client before it was accepted, and other than running out of file descriptors or
    /// memory (then the loop logs a warning, pauses briefly and accepts again, so a burst of
    /// connections does not end the server). Open connections are closed before it is
    /// returned.
    pub async fn serve<S, B, F>(
        &self,
        listener: TcpListener,
        acceptor: SpiffeAcceptor,
        service: S,
        shutdown: F,
    ) -> io::Result<()>
    where
        S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
        S::Future: Send + 'static,
        S::Error: Into<Box<dyn StdError + Send + Sync>>,
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn StdError + Send + Sync>>,
        F: Future,
    {
        let graceful = GracefulShutdown::new();
        let mut connections = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                biased;
                _ = &mut shutdown => break,
                accepted = listener.accept() => {
                    let (tcp, remote) = match accepted {
                        Ok(accepted) => accepted,
                        // Per-connection failures (e.g. reset before accept) are not fatal.
                        Err(e) if is_connection_error(&e) => continue,
                        Err(e) if is_resource_exhaustion(&e) => {
                            tracing::warn!(
                                error = %e,
                                open = connections.len(),
                                "accept failed for lack of resources; retrying shortly"
                            );
                            tokio::select! {
                                biased;
                                _ = &mut shutdown => break,
                                () = tokio::time::sleep(ACCEPT_BACKOFF) => continue,
                            }
                        }
                        Err(e) => {
                            connections.shutdown().await;
                            return Err(e);
                        }
                    };
                    // Small writes (HTTP/2 frames, TLS records) go out at once.
                    let _ = tcp.set_nodelay(true);
                    // The watcher is taken now, so a shutdown that starts during the handshake
                    // still reaches this connection.
                    connections.spawn(connection(
                        acceptor.clone(),
                        tcp,
                        remote,
                        service.clone(),
                        graceful.watcher(),
                        self.header_read_timeout,
                    ));
                }
                // Reap finished connection tasks so the set does not grow.
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        drop(listener);
        while connections.try_join_next().is_some() {}
        tracing::debug!(
            open = connections.len(),
            drain_timeout = ?self.drain_timeout,
            "shutdown: stopped accepting, draining open connections"
        );
        if tokio::time::timeout(self.drain_timeout, graceful.shutdown())
            .await
            .is_err()
        {
            while connections.try_join_next().is_some() {}
            tracing::warn!(
                open = connections.len(),
                drain_timeout = ?self.drain_timeout,
                "shutdown: drain timeout passed, closing the connections still open"
            );
        }
        connections.shutdown().await;
        Ok(())
    }
}

/// The HTTP version a connection speaks, from the ALPN protocol its handshake agreed on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Protocol {
    Http1,
    Http2,
}

impl Protocol {
    /// `h2` is HTTP/2; no ALPN or `http/1.1` is HTTP/1.1; anything else is not ours to serve.
    fn from_alpn(alpn: Option<&[u8]>) -> Option<Self> {
        match alpn {
            Some(b"h2") => Some(Self::Http2),
            None | Some(b"http/1.1") => Some(Self::Http1),
            Some(_) => None,
        }
    }
}

/// One connection: handshake, then HTTP until the client leaves or shutdown drains it.
async fn connection<S, B>(
    acceptor: SpiffeAcceptor,
    tcp: TcpStream,
    remote: SocketAddr,
    service: S,
    watcher: Watcher,
    header_read_timeout: Option<Duration>,
) where
    S: Service<Request<Incoming>, Response = Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn StdError + Send + Sync>>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let tls = match acceptor.accept(tcp, Some(remote)).await {
        Ok(tls) => tls,
        Err(error) => {
            crate::net::log_handshake_failure(remote, &error);
            return;
        }
    };
    let alpn = tls.get_ref().get_ref().1.alpn_protocol();
    let Some(protocol) = Protocol::from_alpn(alpn) else {
        tracing::debug!(
            peer.addr = %remote,
            alpn = %String::from_utf8_lossy(alpn.unwrap_or_default()),
            "closing a connection whose ALPN protocol is neither h2 nor http/1.1"
        );
        return;
    };
    let service = WithPeerInfo::new(service, tls.peer_info().clone());
    let io = TokioIo::new(tls);
    let served = match protocol {
        Protocol::Http1 => {
            let mut http1 = http1::Builder::new();
            // The timer is what makes hyper enforce the header read timeout.
            http1
                .timer(TokioTimer::new())
                .header_read_timeout(header_read_timeout);
            watcher.watch(http1.serve_connection(io, service)).await
        }
        Protocol::Http2 => {
            watcher
                .watch(http2::Builder::new(TokioExecutor::new()).serve_connection(io, service))
                .await
        }
    };
    if let Err(error) = served {
        tracing::debug!(peer.addr = %remote, ?protocol, %error, "HTTP connection error");
    }
}

/// Out of file descriptors (`EMFILE`, `ENFILE`: the same numbers on Linux, macOS and the BSDs)
/// or memory: transient, unlike a broken listener.
fn is_resource_exhaustion(e: &io::Error) -> bool {
    const ENFILE: i32 = 23;
    const EMFILE: i32 = 24;
    e.kind() == io::ErrorKind::OutOfMemory
        || (cfg!(unix) && matches!(e.raw_os_error(), Some(ENFILE | EMFILE)))
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// A hyper service that inserts one connection's [`PeerInfo`] into each request's extensions
/// before calling the inner service. [`serve`] uses it; use it directly with your own accept
/// loop.
#[derive(Clone, Debug)]
pub struct WithPeerInfo<S> {
    inner: S,
    info: PeerInfo,
}

impl<S> WithPeerInfo<S> {
    /// Wraps `inner` for the connection described by `info`.
    pub fn new(inner: S, info: PeerInfo) -> Self {
        Self { inner, info }
    }
}

impl<S, B> Service<Request<B>> for WithPeerInfo<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn call(&self, mut request: Request<B>) -> Self::Future {
        request.extensions_mut().insert(self.info.clone());
        self.inner.call(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_out_of_descriptors_or_memory_is_transient() {
        for transient in [
            io::Error::from_raw_os_error(23),
            io::Error::from_raw_os_error(24),
            io::Error::from(io::ErrorKind::OutOfMemory),
        ] {
            assert!(is_resource_exhaustion(&transient), "{transient}");
        }
        // EBADF, EINVAL: the listener itself is broken.
        for fatal in [
            io::Error::from_raw_os_error(9),
            io::Error::from_raw_os_error(22),
        ] {
            assert!(!is_resource_exhaustion(&fatal), "{fatal}");
        }
    }
}
