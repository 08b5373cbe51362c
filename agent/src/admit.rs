//! Enforcing the connection caps of `limits` in front of the gRPC service: calls on a
//! connection accepted over a cap are answered with `ResourceExhausted`, and each open
//! streaming RPC holds its connection's stream permit until it ends.

use core::convert::Infallible;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use tokio::sync::OwnedSemaphorePermit;
use tokio_stream::Stream;
use tonic::body::Body;
use tonic::codegen::{Service, http};
use tonic::server::NamedService;

use crate::caller::Caller;
/// Answers every call on a connection accepted over a cap with `ResourceExhausted`, in front
/// of the gRPC service (so before header checks and request decoding).
#[derive(Clone, Debug)]
pub(crate) struct Admit<S> {
    inner: S,
}

impl<S> Admit<S> {
    pub(crate) fn new(inner: S) -> Self {
        Self { inner }
    }
}

impl<S: NamedService> NamedService for Admit<S> {
    const NAME: &'static str = S::NAME;
}

impl<S> Service<http::Request<Body>> for Admit<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let over = request
            .extensions()
            .get::<Caller>()
            .and_then(Caller::over_limit);
        match over {
            Some(over) => {
                let response = over.status().into_http();
                Box::pin(async move { Ok(response) })
            }
            None => Box::pin(self.inner.call(request)),
        }
    }
}

/// A response stream that holds its connection's stream permit until it ends or is dropped.
pub(crate) struct Counted<S> {
    inner: S,
    _permit: Option<OwnedSemaphorePermit>,
}

impl<S> Counted<S> {
    pub(crate) fn new(inner: S, permit: Option<OwnedSemaphorePermit>) -> Self {
        crate::metrics::stream_opened();
        Self {
            inner,
            _permit: permit,
        }
    }
}

impl<S> Drop for Counted<S> {
    fn drop(&mut self) {
        crate::metrics::stream_closed();
    }
}

impl<S: Stream + Unpin> Stream for Counted<S> {
    type Item = S::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        Pin::new(&mut self.get_mut().inner).poll_next(cx)
    }
}
