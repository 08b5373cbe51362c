//! hyper 1.x: an HTTPS accept loop that authenticates clients with SVIDs and hands their
//! identity to the service (feature `hyper`). The client side is
//! [`net::SpiffeConnector`](crate::net::SpiffeConnector).
//!
//! ```no_run
//! use std::convert::Infallible;
//! use std::sync::Arc;
//! use http_body_util::Full;
//! use hyper::{Request, Response, body::Incoming};
//! use tls_integration::{PeerInfo, net::SpiffeAcceptor};
//!
//! # async fn demo(config: rustls::ServerConfig) -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8443").await?;
//! let service = hyper::service::service_fn(|request: Request<Incoming>| async move {
//!     let caller = request.extensions().get::<PeerInfo>().and_then(PeerInfo::spiffe_id);
//!     let body = format!("hello {}\n", caller.map_or("anonymous".into(), |id| id.to_string()));
//!     Ok::<_, Infallible>(Response::new(Full::new(hyper::body::Bytes::from(body))))
//! });
//! let acceptor = SpiffeAcceptor::new(Arc::new(config));
//! tls_integration::hyper::serve(listener, acceptor, service, tokio::signal::ctrl_c()).await
//! # }
//! ```

use std::error::Error as StdError;
use std::future::Future;
use std::io;

use http::{Request, Response};
use hyper::body::{Body, Incoming};
use hyper::server::conn::http1;
use hyper::service::Service;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::net::SpiffeAcceptor;
use crate::peer::PeerInfo;

/// Serves HTTP/1.1 over TLS on `listener` until `shutdown` completes.
///
/// Each accepted connection runs its handshake on its own task (a slow or failing client
/// never holds up the accept loop; failed handshakes are dropped). Every request of a
/// connection carries that connection's [`PeerInfo`] in its extensions, with the client's
/// verified SPIFFE ID when it presented an SVID. When `shutdown` completes the loop stops
/// accepting, open connections are closed, and the function returns.
///
/// # Errors
/// An I/O error from the listener's `accept`.
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
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => {
                let (tcp, remote) = match accepted {
                    Ok(accepted) => accepted,
                    // Per-connection failures (e.g. reset before accept) are not fatal.
                    Err(e) if is_connection_error(&e) => continue,
                    Err(e) => return Err(e),
                };
                let acceptor = acceptor.clone();
                let service = service.clone();
                connections.spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp, Some(remote)).await else {
                        return;
                    };
                    let info = tls.peer_info().clone();
                    let service = WithPeerInfo { inner: service, info };
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
            // Reap finished connection tasks so the set does not grow.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.shutdown().await;
    Ok(())
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
