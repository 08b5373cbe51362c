//! The bundle endpoint client: one fetch of one bundle, with explicit parameters (SPIFFE
//! Federation 5; digest 7.2-7.4).
//!
//! An [`Endpoint`] is the three parameters the spec requires, each given, never inferred
//! (digest 7.2): the URL, the [`Profile`] and the trust domain whose bundle the endpoint
//! serves. A [`Client`] holds the crypto provider and the bounds (response size, total time,
//! redirects) and [`fetch`](Client::fetch)es.

mod url;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, StatusCode, header};
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use rustls::RootCertStore;
use spiffe_id::{IdMatcher, SpiffeId, TrustDomain};
use svid::Crypto;
use tls_integration::net::SpiffeConnector;
use tls_integration::{SpiffeClientConfig, SpiffeTls};
use trust_bundle::{SpiffeBundle, X509BundleSource};

use crate::error::Error;

pub use url::EndpointUrl;

/// The largest bundle document [`Client`] reads unless told otherwise: 1 MiB, far above real
/// bundles (a few certificates and keys: kilobytes) and below trust-bundle's own parse cap.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// How long one [`Client::fetch`] may take in all (connections, handshakes, redirects, body)
/// unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// How many redirects one fetch follows unless told otherwise (digest 7.3: clients SHOULD
/// follow them; a few is what real deployments use, and every hop costs a handshake).
pub const DEFAULT_MAX_REDIRECTS: usize = 3;

/// How the endpoint authenticates (digest 7.3, 7.4). Never guessed from the URL, and a failure
/// with one profile is never retried with the other (digest 7.2).
#[derive(Clone)]
#[non_exhaustive]
pub enum Profile {
    /// `https_web`: a WebPKI certificate, verified against `roots` with an RFC 6125 check of
    /// the URL's host. The roots are whatever the caller gives: the OS store is never used
    /// unless the caller loads it into `roots`.
    HttpsWeb {
        /// The trusted roots.
        roots: Arc<RootCertStore>,
    },
    /// `https_spiffe`: the endpoint presents an X509-SVID whose SPIFFE ID is exactly
    /// `endpoint_id`, valid against the bundle of `endpoint_id`'s trust domain taken from
    /// `bundle` at each handshake. No hostname check.
    ///
    /// For a self-serving endpoint, `bundle` starts as the configured bootstrap bundle and
    /// must then hold the latest fetched one (digest 7.4): give a live source.
    HttpsSpiffe {
        /// The endpoint's SPIFFE ID.
        endpoint_id: SpiffeId,
        /// The bundle of `endpoint_id`'s trust domain.
        bundle: Arc<dyn X509BundleSource>,
    },
}

impl fmt::Debug for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::HttpsWeb { roots } => f
                .debug_struct("HttpsWeb")
                .field("roots", &roots.len())
                .finish(),
            Self::HttpsSpiffe { endpoint_id, .. } => f
                .debug_struct("HttpsSpiffe")
                .field("endpoint_id", endpoint_id)
                .finish_non_exhaustive(),
        }
    }
}

/// The parameters of one bundle endpoint (digest 7.2).
#[derive(Clone, Debug)]
pub struct Endpoint {
    url: EndpointUrl,
    profile: Profile,
    trust_domain: TrustDomain,
}

impl Endpoint {
    /// The endpoint at `url`, authenticated by `profile`, serving the bundle of
    /// `trust_domain`.
    pub fn new(url: EndpointUrl, profile: Profile, trust_domain: TrustDomain) -> Self {
        Self {
            url,
            profile,
            trust_domain,
        }
    }

    /// The configured URL (every fetch starts here; redirects are never remembered).
    pub fn url(&self) -> &EndpointUrl {
        &self.url
    }

    /// The profile.
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// The trust domain whose bundle the endpoint serves.
    pub fn trust_domain(&self) -> &TrustDomain {
        &self.trust_domain
    }
}

/// A bundle fetched from an endpoint.
#[derive(Clone, Debug)]
pub struct Fetched {
    bundle: SpiffeBundle,
}

impl Fetched {
    /// The bundle (of the endpoint's configured trust domain).
    pub fn bundle(&self) -> &SpiffeBundle {
        &self.bundle
    }

    /// The bundle, by value.
    pub fn into_bundle(self) -> SpiffeBundle {
        self.bundle
    }

    /// The document's `spiffe_sequence`.
    pub fn sequence(&self) -> Option<u64> {
        self.bundle.sequence()
    }

    /// The document's `spiffe_refresh_hint` (zero is kept: the caller applies its floor).
    pub fn refresh_hint(&self) -> Option<Duration> {
        self.bundle.refresh_hint()
    }
}

/// Fetches bundles, with bounds on size, time and redirects.
///
/// ```
/// use std::time::Duration;
/// use federation::client::Client;
///
/// let client = Client::new(svid::Crypto::default())
///     .with_timeout(Duration::from_secs(5))
///     .with_max_response_bytes(256 * 1024)
///     .with_max_redirects(0); // an operator may refuse redirects (digest 7.7)
/// # let _ = client;
/// ```
#[derive(Clone, Debug)]
pub struct Client {
    crypto: Crypto,
    max_response_bytes: usize,
    timeout: Duration,
    max_redirects: usize,
}

impl Client {
    /// A client whose TLS uses `crypto`'s provider, with [`DEFAULT_MAX_RESPONSE_BYTES`],
    /// [`DEFAULT_TIMEOUT`] and [`DEFAULT_MAX_REDIRECTS`].
    pub fn new(crypto: Crypto) -> Self {
        Self {
            crypto,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            timeout: DEFAULT_TIMEOUT,
            max_redirects: DEFAULT_MAX_REDIRECTS,
        }
    }

    /// Refuses bodies over `max` bytes ([`Error::TooLarge`]).
    #[must_use]
    pub fn with_max_response_bytes(mut self, max: usize) -> Self {
        self.max_response_bytes = max;
        self
    }

    /// Bounds one whole fetch ([`Error::Timeout`]).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Follows at most `max` redirects ([`Error::TooManyRedirects`]); zero refuses them all.
    #[must_use]
    pub fn with_max_redirects(mut self, max: usize) -> Self {
        self.max_redirects = max;
        self
    }

    /// Fetches the bundle of `endpoint` once: `GET` of its URL over TLS of its profile,
    /// following redirects to valid endpoint URLs with the same TLS checks (under
    /// `https_spiffe` the same SPIFFE ID), then parses the body as a bundle document of the
    /// configured trust domain. Each fetch is logged at `DEBUG`; a
    /// [`FederationManager`](crate::manager::FederationManager) logs each fetch of its
    /// relationships at `INFO` (digest 7.7: log every fetch).
    ///
    /// # Errors
    /// [`Error::Connect`], [`Error::Tls`] (WebPKI refusals), [`Error::EndpointIdentity`]
    /// (SPIFFE refusals), [`Error::Http`], [`Error::Status`], [`Error::BadRedirect`],
    /// [`Error::Url`] (a redirect to an invalid URL), [`Error::TooManyRedirects`],
    /// [`Error::TooLarge`], [`Error::Timeout`] or [`Error::Document`].
    pub async fn fetch(&self, endpoint: &Endpoint) -> Result<Fetched, Error> {
        let result = tokio::time::timeout(self.timeout, self.fetch_unbounded(endpoint))
            .await
            .unwrap_or(Err(Error::Timeout {
                after: self.timeout,
            }));
        // Debug level: the manager logs each fetch of a relationship at info (digest 7.7);
        // a caller using the client alone has the result in hand.
        match &result {
            Ok(fetched) => tracing::debug!(
                url = %endpoint.url,
                trust_domain = %endpoint.trust_domain,
                sequence = ?fetched.sequence(),
                "bundle fetched"
            ),
            Err(error) => tracing::debug!(
                url = %endpoint.url,
                trust_domain = %endpoint.trust_domain,
                %error,
                "bundle fetch failed"
            ),
        }
        result
    }

    async fn fetch_unbounded(&self, endpoint: &Endpoint) -> Result<Fetched, Error> {
        let connector = SpiffeConnector::new(self.tls_config(&endpoint.profile)?)
            .with_handshake_timeout(self.timeout);
        let mut url = endpoint.url.clone();
        let mut redirects = 0;
        let body = loop {
            // The connection task lives as long as this iteration's response and body.
            let (response, _connection) =
                get(&connector, &endpoint.profile, &url, self.timeout).await?;
            let status = response.status();
            if status.is_redirection() && status != StatusCode::NOT_MODIFIED {
                if redirects == self.max_redirects {
                    return Err(Error::TooManyRedirects {
                        max: self.max_redirects,
                    });
                }
                redirects += 1;
                let location = response
                    .headers()
                    .get(header::LOCATION)
                    .and_then(|value| value.to_str().ok())
                    .ok_or(Error::BadRedirect)?;
                url = url.redirect(location)?;
                tracing::debug!(%url, "bundle endpoint redirects");
                continue;
            }
            if status != StatusCode::OK {
                return Err(Error::Status { status });
            }
            break self.read_body(response).await?;
        };
        let bundle =
            SpiffeBundle::parse(endpoint.trust_domain.clone(), &body).map_err(Error::Document)?;
        check_authorities(&bundle)?;
        Ok(Fetched { bundle })
    }

    async fn read_body(
        &self,
        response: http::Response<hyper::body::Incoming>,
    ) -> Result<Bytes, Error> {
        let max = self.max_response_bytes;
        let declared = response
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok());
        if declared.is_some_and(|length| usize::try_from(length).map_or(true, |l| l > max)) {
            return Err(Error::TooLarge { max });
        }
        let collected = Limited::new(response.into_body(), max)
            .collect()
            .await
            .map_err(|error| match error.downcast::<hyper::Error>() {
                Ok(http) => Error::Http(*http),
                // The only other error of `Limited` is its `LengthLimitError`.
                Err(_) => Error::TooLarge { max },
            })?;
        Ok(collected.to_bytes())
    }

    fn tls_config(&self, profile: &Profile) -> Result<SpiffeClientConfig, Error> {
        match profile {
            Profile::HttpsWeb { roots } => {
                let config =
                    rustls::ClientConfig::builder_with_provider(Arc::clone(self.crypto.provider()))
                        .with_safe_default_protocol_versions()
                        .map_err(Error::Rustls)?
                        .with_root_certificates(Arc::clone(roots))
                        .with_no_client_auth();
                Ok(config.into())
            }
            Profile::HttpsSpiffe {
                endpoint_id,
                bundle,
            } => SpiffeTls::new(self.crypto.clone())
                .tls_client(Arc::clone(bundle), IdMatcher::exact(endpoint_id.clone()))
                .map_err(Error::SpiffeTls),
        }
    }
}

/// The task driving one HTTP connection, aborted when dropped: a fetch that ends (done,
/// refused, or timed out with the request in flight) leaves no connection behind.
struct ConnectionTask(tokio::task::JoinHandle<()>);

impl Drop for ConnectionTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One `GET` over a new connection (HTTP/1.1).
async fn get(
    connector: &SpiffeConnector,
    profile: &Profile,
    url: &EndpointUrl,
    timeout: Duration,
) -> Result<(http::Response<hyper::body::Incoming>, ConnectionTask), Error> {
    let stream = connector
        .connect(url.as_uri())
        .await
        .map_err(|error| handshake_error(error, profile, timeout))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(stream)
        .await
        .map_err(Error::Http)?;
    let task = ConnectionTask(tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%error, "bundle endpoint connection closed");
        }
    }));
    let path = url
        .as_uri()
        .path_and_query()
        .map_or("/", http::uri::PathAndQuery::as_str);
    let authority = url
        .as_uri()
        .authority()
        .map_or("", http::uri::Authority::as_str);
    let request = Request::get(path)
        .header(header::HOST, authority)
        .header(header::ACCEPT, "application/json")
        .body(Empty::<Bytes>::new())
        .map_err(|_| Error::Url(crate::UrlError::Invalid))?;
    let response = sender.send_request(request).await.map_err(Error::Http)?;
    Ok((response, task))
}

/// Sorts a connector failure: our SPIFFE verifier's refusal, another TLS refusal, or a
/// connection failure.
fn handshake_error(error: tls_integration::Error, profile: &Profile, timeout: Duration) -> Error {
    let spiffe = matches!(profile, Profile::HttpsSpiffe { .. });
    if spiffe && error.verifier_error().is_some() {
        return Error::EndpointIdentity(error);
    }
    let tls_integration::Error::Handshake(io) = error else {
        return Error::SpiffeTls(error);
    };
    if io.kind() == std::io::ErrorKind::TimedOut {
        return Error::Timeout { after: timeout };
    }
    match io
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        // Under https_spiffe only our verifier judges certificates.
        Some(rustls::Error::InvalidCertificate(_)) if spiffe => {
            Error::EndpointIdentity(tls_integration::Error::Handshake(io))
        }
        Some(rustls) => Error::Tls(rustls.clone()),
        None => Error::Connect(io),
    }
}

/// Refuses a document whose X.509 authorities name only other trust domains.
///
/// A bundle document does not name its trust domain: the configured one is bound to it
/// (digest 7.2). But signing certificates SHOULD carry the SPIFFE ID of their trust domain
/// (digest 2.3; SPIRE's and the `ca` crate's do), so a document whose authorities carry
/// SPIFFE IDs, none of them of the configured trust domain, is another trust domain's bundle
/// (a misconfigured or swapped endpoint, digest 7.7). Authorities without a SPIFFE ID, and a
/// cross-domain authority next to one of the configured trust domain (digest 2.3 allows it),
/// pass.
fn check_authorities(bundle: &SpiffeBundle) -> Result<(), Error> {
    let expected = bundle.trust_domain();
    let mut other = None;
    for der in bundle.x509_bundle().authorities() {
        let Ok(certificate) = webpki::EndEntityCert::try_from(der) else {
            continue;
        };
        for uri in certificate.valid_uri_names() {
            let Ok(id) = SpiffeId::parse(uri) else {
                continue;
            };
            let found = id.trust_domain();
            if &found == expected {
                return Ok(());
            }
            other = Some(found);
        }
    }
    match other {
        Some(found) => Err(Error::WrongTrustDomain {
            expected: expected.clone(),
            found,
        }),
        None => Ok(()),
    }
}
