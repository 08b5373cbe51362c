//! The bundle endpoint server (SPIFFE Federation 4, 5; digest 7.1-7.4).
//!
//! - [`BundlePublisher`]: the current bundle document of one trust domain, serialized once per
//!   bundle change ([`publish`](BundlePublisher::publish), or
//!   [`follow`](BundlePublisher::follow) a `tokio::sync::watch` channel).
//! - [`BundleService`]: the hyper service that answers `GET <path>` with that document; mount
//!   it in your own hyper server or run it with [`serve`].
//! - [`EndpointTls`]: the server side of both profiles, `https_web` (a WebPKI certificate from
//!   files, reloaded when they change: [`WebCertificate`]) and `https_spiffe` (the endpoint's
//!   X509-SVID from a rotating source).
//!
//! No client authentication of any kind is asked for (digest 7.3, 7.4).

mod tls;

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use arc_swap::ArcSwap;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Bytes;
use spiffe_id::TrustDomain;
use tokio::sync::watch;
use trust_bundle::SpiffeBundle;

use crate::error::Error;

pub use tls::{EndpointTls, WebCertificate, serve};

/// A bundle document as served: the JSON bytes, built once per published bundle.
#[derive(Debug)]
struct Document {
    json: Bytes,
    sequence: Option<u64>,
}

/// The bundle document an endpoint serves, for one trust domain.
///
/// Cheap to clone (an `Arc`); every clone and every [`BundleService`] made from it sees the
/// latest [`publish`](Self::publish). The JSON is written on publish, so a request costs an
/// atomic load and a reference-count increment.
///
/// ```
/// use federation::endpoint::BundlePublisher;
///
/// let ca = ca::TestCa::new("a.example");
/// let publisher = BundlePublisher::new((*ca.bundle()).clone().with_sequence(1));
/// assert_eq!(publisher.sequence(), Some(1));
/// publisher.publish(&(*ca.bundle()).clone().with_sequence(2))?;
/// assert_eq!(publisher.sequence(), Some(2));
///
/// let other = ca::TestCa::new("b.example");
/// assert!(publisher.publish(&other.bundle()).is_err()); // one trust domain per endpoint
/// # Ok::<(), federation::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct BundlePublisher {
    trust_domain: TrustDomain,
    current: Arc<ArcSwap<Document>>,
}

impl BundlePublisher {
    /// Serves `bundle` until the next [`publish`](Self::publish); its trust domain is the
    /// endpoint's for good.
    pub fn new(bundle: SpiffeBundle) -> Self {
        Self {
            trust_domain: bundle.trust_domain().clone(),
            current: Arc::new(ArcSwap::from_pointee(Document::of(&bundle))),
        }
    }

    /// Serves `bundle` from the next request on.
    ///
    /// # Errors
    /// [`Error::WrongTrustDomain`] when `bundle` is not of the endpoint's trust domain: an
    /// endpoint serves one trust domain's bundle (digest 7.1, 7.7).
    pub fn publish(&self, bundle: &SpiffeBundle) -> Result<(), Error> {
        if bundle.trust_domain() != &self.trust_domain {
            return Err(Error::WrongTrustDomain {
                expected: self.trust_domain.clone(),
                found: bundle.trust_domain().clone(),
            });
        }
        self.current.store(Arc::new(Document::of(bundle)));
        tracing::debug!(
            trust_domain = %self.trust_domain,
            sequence = ?bundle.sequence(),
            "bundle endpoint: new bundle published"
        );
        Ok(())
    }

    /// A publisher that serves the channel's current bundle and then each bundle sent on it,
    /// with the task that follows the channel (spawned on the current tokio runtime; it ends
    /// when the sender is dropped). A bundle of another trust domain is not served, and
    /// logged at `WARN`.
    ///
    /// Must be called within a tokio runtime.
    pub fn follow(
        mut bundles: watch::Receiver<Arc<SpiffeBundle>>,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let first = SpiffeBundle::clone(&bundles.borrow_and_update());
        let publisher = Self::new(first);
        let follower = publisher.clone();
        let task = tokio::spawn(async move {
            while bundles.changed().await.is_ok() {
                let bundle = Arc::clone(&bundles.borrow_and_update());
                if let Err(error) = follower.publish(&bundle) {
                    tracing::warn!(%error, "bundle endpoint: bundle not published");
                }
            }
        });
        (publisher, task)
    }

    /// The endpoint's trust domain.
    pub fn trust_domain(&self) -> &TrustDomain {
        &self.trust_domain
    }

    /// The `spiffe_sequence` of the document served now.
    pub fn sequence(&self) -> Option<u64> {
        self.current.load().sequence
    }

    /// The document served now, as served.
    pub fn document(&self) -> Bytes {
        self.current.load().json.clone()
    }

    /// The hyper service answering `GET path` with the document (`path` as in the request
    /// line, e.g. `/` or `/bundle`, without query).
    pub fn service(&self, path: impl Into<String>) -> BundleService {
        BundleService {
            publisher: self.clone(),
            path: Arc::from(path.into()),
        }
    }
}

impl Document {
    fn of(bundle: &SpiffeBundle) -> Self {
        Self {
            json: Bytes::from(bundle.to_json()),
            sequence: bundle.sequence(),
        }
    }
}

/// A hyper service answering `GET <path>` with the current bundle document
/// (`Content-Type: application/json`), `405` to other methods on that path (with `Allow:
/// GET`), and `404` to other paths. It asks for no authentication (digest 7.3, 7.4).
///
/// Mount it in your own hyper server (it is `Clone`, and generic over the request body), or
/// run it with [`serve`].
#[derive(Clone, Debug)]
pub struct BundleService {
    publisher: BundlePublisher,
    path: Arc<str>,
}

impl BundleService {
    /// The response to `request` (what [`hyper::service::Service::call`] returns).
    pub fn respond<B>(&self, request: &Request<B>) -> Response<Full<Bytes>> {
        if request.uri().path() != &*self.path {
            return status(StatusCode::NOT_FOUND);
        }
        if request.method() != Method::GET {
            let mut response = status(StatusCode::METHOD_NOT_ALLOWED);
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET"));
            return response;
        }
        let mut response = Response::new(Full::new(self.publisher.document()));
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response
    }
}

fn status(code: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = code;
    response
}

impl<B> hyper::service::Service<Request<B>> for BundleService {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, request: Request<B>) -> Self::Future {
        let response = self.respond(&request);
        Box::pin(std::future::ready(Ok(response)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn publisher() -> BundlePublisher {
        let ca = ca::TestCa::new("a.example");
        BundlePublisher::new(SpiffeBundle::clone(&ca.bundle()).with_sequence(7))
    }

    /// Digest 7.3: `GET` of the right path returns the bundle, as JSON.
    #[test]
    fn get_on_the_path_returns_the_document() {
        let service = publisher().service("/bundle");
        let response = service.respond(&Request::get("/bundle").body(()).unwrap());
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    }

    #[test]
    fn other_methods_get_405_and_other_paths_404() {
        let service = publisher().service("/bundle");
        let post = service.respond(&Request::post("/bundle").body(()).unwrap());
        assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(post.headers()[header::ALLOW], "GET");
        let other = service.respond(&Request::get("/other").body(()).unwrap());
        assert_eq!(other.status(), StatusCode::NOT_FOUND);
    }

    /// The document is built on publish: the same bytes are handed to every request.
    #[test]
    fn document_is_built_once_per_publish() {
        let publisher = publisher();
        let first = publisher.document();
        let second = publisher.document();
        assert_eq!(first.as_ptr(), second.as_ptr());
    }
}
