//! tonic 0.14 over this crate's TLS (feature `tonic`): tonic's own TLS can neither rotate
//! certificates nor verify SPIFFE IDs, so the server takes a stream of already-authenticated
//! connections ([`incoming`]) and the client a connector
//! ([`net::SpiffeConnector`](crate::net::SpiffeConnector)).
//!
//! ```no_run
//! use tls_integration::net::{SpiffeAcceptor, SpiffeConnector};
//! use tls_integration::{SpiffeClientConfig, SpiffeServerConfig};
//!
//! # async fn demo(server: SpiffeServerConfig, client: SpiffeClientConfig) -> Result<(), Box<dyn std::error::Error>> {
//! // Server: plain HTTP/2 on connections this crate has authenticated.
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:50051").await?;
//! let incoming = tls_integration::tonic::incoming(listener, SpiffeAcceptor::new(server));
//! # let router: tonic::service::Routes = Default::default();
//! tokio::spawn(tonic::transport::Server::builder()
//!     .add_routes(router)
//!     .serve_with_incoming(incoming));
//!
//! // Client: the URI scheme is http because TLS is done by the connector.
//! let channel = tonic::transport::Endpoint::from_static("http://127.0.0.1:50051")
//!     .connect_with_connector(SpiffeConnector::new(client))
//!     .await?;
//! # let _ = channel;
//! # Ok(())
//! # }
//! ```
//!
//! In a handler or interceptor, [`peer_spiffe_id`] reads the caller's verified SPIFFE ID.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use spiffe_id::SpiffeId;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_stream::Stream;
use tonic::transport::server::Connected;

use crate::net::{ServerStream, SpiffeAcceptor};
use crate::peer::PeerInfo;

/// Connections kept ready for tonic before the accept loop waits (back-pressure).
const BACKLOG: usize = 64;

/// The TLS connections accepted on `listener`, for
/// `tonic::transport::Server::serve_with_incoming`.
///
/// Handshakes run concurrently on their own tasks; only connections whose handshake
/// succeeded are yielded (a refused client is dropped, never an error of the stream, and
/// logged with `tracing` at the levels [`hyper::Server::serve`](crate::hyper::Server::serve)
/// describes: `WARN` when the verifier refused it, `DEBUG` otherwise). Each
/// connection's [`PeerInfo`] is its tonic `ConnectInfo`, so it is in every request's
/// extensions ([`peer_spiffe_id`]). The accept task stops when the stream is dropped.
pub fn incoming(listener: TcpListener, acceptor: SpiffeAcceptor) -> Incoming {
    let (tx, rx) = mpsc::channel(BACKLOG);
    let task = tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                () = tx.closed() => return,
                accepted = listener.accept() => accepted,
            };
            let Ok((tcp, remote)) = accepted else {
                // Accept errors (e.g. too many open files) are transient; yield a moment.
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            };
            // gRPC answers in small writes: without this, the second TLS record of a response
            // waits for the peer's delayed ACK (about 40 ms per call on Linux).
            let _ = tcp.set_nodelay(true);
            let acceptor = acceptor.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                match acceptor.accept(tcp, Some(remote)).await {
                    Ok(tls) => {
                        let _ = tx.send(TlsConnection(tls)).await;
                    }
                    Err(error) => crate::net::log_handshake_failure(remote, &error),
                }
            });
        }
    });
    Incoming { rx, task }
}

/// The stream [`incoming`] returns.
#[derive(Debug)]
pub struct Incoming {
    rx: mpsc::Receiver<TlsConnection>,
    task: JoinHandle<()>,
}

impl Stream for Incoming {
    type Item = Result<TlsConnection, io::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().rx.poll_recv(cx).map(|next| next.map(Ok))
    }
}

impl Drop for Incoming {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One authenticated server connection, as tonic sees it: its `ConnectInfo` is the
/// [`PeerInfo`].
#[derive(Debug)]
pub struct TlsConnection(ServerStream<TcpStream>);

impl TlsConnection {
    /// The peer address and identity.
    pub fn peer_info(&self) -> &PeerInfo {
        self.0.peer_info()
    }
}

impl Connected for TlsConnection {
    type ConnectInfo = PeerInfo;

    fn connect_info(&self) -> PeerInfo {
        self.0.peer_info().clone()
    }
}

impl AsyncRead for TlsConnection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsConnection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

/// The caller's verified SPIFFE ID in a tonic handler or interceptor, when the connection
/// came from [`incoming`] and the client presented an SVID.
///
/// ```
/// fn handler(request: &tonic::Request<()>) -> Result<(), tonic::Status> {
///     let caller = tls_integration::tonic::peer_spiffe_id(request)
///         .ok_or_else(|| tonic::Status::unauthenticated("no SPIFFE ID"))?;
///     println!("called by {caller}");
///     Ok(())
/// }
/// assert!(handler(&tonic::Request::new(())).is_err());
/// ```
pub fn peer_spiffe_id<T>(request: &tonic::Request<T>) -> Option<&SpiffeId> {
    peer_info(request).and_then(PeerInfo::spiffe_id)
}

/// The connection's [`PeerInfo`] in a tonic handler or interceptor.
pub fn peer_info<T>(request: &tonic::Request<T>) -> Option<&PeerInfo> {
    request.extensions().get::<PeerInfo>()
}
