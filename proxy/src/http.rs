//! HTTP backends: hyper parses each request from the TLS stream (HTTP/1.1, or HTTP/2 when ALPN
//! chose `h2`), the peer header is replaced, and hyper-util's pooled client sends it to the
//! backend over HTTP/1.1 (TCP or Unix socket).

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode, Uri, Version};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::{http1, http2};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use spiffe_id::SpiffeId;
use tokio::sync::watch;

use crate::addr::Address;
use crate::net::{self, Stream};
use crate::options::{HeaderFormat, HttpOptions};

/// The body of responses to clients: the backend's, or our own error text.
type Body = BoxBody<Bytes, hyper::Error>;

/// What every HTTP connection of a server-mode proxy shares: the pooled backend client.
pub(crate) struct HttpBackend {
    client: Client<BackendConnector, Incoming>,
    /// The `Host` of requests that arrive without one (HTTP/2 gives `:authority` instead),
    /// and the authority of the URI hyper-util dials (the connector ignores it).
    authority: http::uri::Authority,
    options: HttpOptions,
    header_read: Duration,
}

impl HttpBackend {
    pub(crate) fn new(
        backend: Address,
        connect: Duration,
        header_read: Duration,
        options: HttpOptions,
    ) -> Self {
        let authority = match &backend {
            Address::Tcp(text) => text.parse().ok(),
            Address::Unix(_) => None,
        }
        .unwrap_or_else(|| http::uri::Authority::from_static("localhost"));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .build(BackendConnector {
                backend: Arc::new(backend),
                timeout: connect,
            });
        Self {
            client,
            authority,
            options,
            header_read,
        }
    }

    /// Serves one client connection until it ends, or gracefully once `drain` turns true.
    pub(crate) async fn serve(
        self: Arc<Self>,
        tls: tls_integration::net::ServerStream<Stream>,
        peer: SpiffeId,
        mut drain: watch::Receiver<bool>,
    ) -> Result<(), hyper::Error> {
        let h2 = tls.get_ref().get_ref().1.alpn_protocol() == Some(b"h2");
        let peer_value = peer_value(&self.options, &peer);
        let backend = Arc::clone(&self);
        let service = hyper::service::service_fn(move |request| {
            let backend = Arc::clone(&backend);
            let peer_value = peer_value.clone();
            async move { Ok::<_, Infallible>(backend.forward(request, peer_value).await) }
        });
        let io = TokioIo::new(tls);
        let draining = async move {
            let _ = drain.wait_for(|draining| *draining).await;
        };
        if h2 {
            let connection = http2::Builder::new(TokioExecutor::new())
                .timer(TokioTimer::new())
                .serve_connection(io, service);
            tokio::pin!(connection, draining);
            tokio::select! {
                result = connection.as_mut() => result,
                () = &mut draining => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            }
        } else {
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(self.header_read)
                .serve_connection(io, service);
            tokio::pin!(connection, draining);
            tokio::select! {
                result = connection.as_mut() => result,
                () = &mut draining => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            }
        }
    }

    /// One request: hop-by-hop headers and any client-sent peer header removed, our peer
    /// header set, sent to the backend; its response back, or 502 when it cannot be reached.
    async fn forward(
        &self,
        mut request: Request<Incoming>,
        peer_value: Option<HeaderValue>,
    ) -> Response<Body> {
        let authority = request.uri().authority().cloned();
        let path = request
            .uri()
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| http::uri::PathAndQuery::from_static("/"));
        let headers = request.headers_mut();
        strip_hop_by_hop(headers);
        if let Some(name) = &self.options.peer_header {
            // Whatever the client sent under our header's name must never reach the backend.
            headers.remove(name);
            if let Some(value) = peer_value {
                headers.insert(name.clone(), value);
            }
        }
        if !headers.contains_key(header::HOST) {
            let host = authority.as_ref().unwrap_or(&self.authority).as_str();
            if let Ok(host) = HeaderValue::from_str(host) {
                headers.insert(header::HOST, host);
            }
        }
        let uri = Uri::builder()
            .scheme("http")
            .authority(self.authority.clone())
            .path_and_query(path)
            .build();
        match uri {
            Ok(uri) => *request.uri_mut() = uri,
            Err(_) => return error_response(StatusCode::BAD_REQUEST, "bad request target\n"),
        }
        *request.version_mut() = Version::HTTP_11;
        match self.client.request(request).await {
            Ok(response) => {
                let (mut parts, body) = response.into_parts();
                strip_hop_by_hop(&mut parts.headers);
                Response::from_parts(parts, body.boxed())
            }
            Err(error) => {
                crate::metrics::backend_error(crate::options::Mode::Server);
                tracing::warn!(%error, "HTTP backend request failed");
                error_response(StatusCode::BAD_GATEWAY, "backend unavailable\n")
            }
        }
    }
}

/// The header value naming `peer`, in the configured format.
fn peer_value(options: &HttpOptions, peer: &SpiffeId) -> Option<HeaderValue> {
    let text = match options.format {
        // SPIFFE IDs hold no `,`, `;`, `=` or `"` (SPIFFE-ID 2.2), so no quoting is needed.
        HeaderFormat::Xfcc => format!("URI={peer}"),
        HeaderFormat::SpiffeId => peer.to_string(),
    };
    HeaderValue::from_str(&text).ok()
}

/// Removes the headers that describe one connection (RFC 9110 section 7.6.1), which a proxy
/// must not forward: those named in `Connection`, and the usual hop-by-hop ones.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let listed: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in listed {
        headers.remove(name);
    }
    for name in [
        header::CONNECTION,
        header::PROXY_AUTHENTICATE,
        header::PROXY_AUTHORIZATION,
        header::TE,
        header::TRAILER,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
    ] {
        headers.remove(name);
    }
    headers.remove("keep-alive");
    headers.remove("proxy-connection");
}

fn error_response(status: StatusCode, text: &'static str) -> Response<Body> {
    let mut response = Response::new(
        Full::new(Bytes::from_static(text.as_bytes()))
            .map_err(|never| match never {})
            .boxed(),
    );
    *response.status_mut() = status;
    response
}

/// Dials the backend for hyper-util's client, whatever the URI says.
#[derive(Clone, Debug)]
struct BackendConnector {
    backend: Arc<Address>,
    timeout: Duration,
}

impl tower::Service<Uri> for BackendConnector {
    type Response = BackendIo;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<BackendIo>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _uri: Uri) -> Self::Future {
        let backend = Arc::clone(&self.backend);
        let timeout = self.timeout;
        Box::pin(async move {
            let (stream, _) = net::connect(&backend, timeout).await?;
            Ok(BackendIo(TokioIo::new(stream)))
        })
    }
}

/// A backend connection for hyper.
struct BackendIo(TokioIo<Stream>);

impl Connection for BackendIo {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl hyper::rt::Read for BackendIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for BackendIo {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_connection_listed_and_hop_by_hop_headers() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("close, x-secret"),
        );
        headers.insert("x-secret", HeaderValue::from_static("1"));
        headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        headers.insert("x-kept", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut headers);
        assert_eq!(headers.len(), 1);
        assert!(headers.contains_key("x-kept"));
    }

    #[test]
    fn xfcc_value_names_the_uri() {
        let peer: SpiffeId = "spiffe://example.org/client".parse().unwrap();
        let value = peer_value(&HttpOptions::default(), &peer).unwrap();
        assert_eq!(value, "URI=spiffe://example.org/client");
    }
}
