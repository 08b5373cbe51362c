//! The one error type of this crate.

use std::path::PathBuf;
use std::time::Duration;

use spiffe_id::TrustDomain;

/// Why an endpoint could not be set up or a bundle could not be fetched.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A redirect without a usable `Location`.
    #[error("redirect without a usable Location header")]
    BadRedirect,
    /// The `https_web` certificate files hold no usable certificate chain and key.
    #[error("{path}: {reason}")]
    CertificateFiles {
        /// The file at fault (the chain or the key).
        path: PathBuf,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The TCP connection to the endpoint failed.
    #[error("cannot connect to the bundle endpoint: {0}")]
    Connect(#[source] std::io::Error),
    /// The body is not a valid SPIFFE bundle document (digest 4.4).
    #[error("invalid bundle document: {0}")]
    Document(#[source] trust_bundle::Error),
    /// Under `https_spiffe`, the endpoint's certificate is not a valid X509-SVID of the
    /// configured bundle, or its SPIFFE ID is not the configured endpoint ID (digest 7.4). The
    /// source's [`verifier_error`](tls_integration::Error::verifier_error) says which.
    #[error("the bundle endpoint's X509-SVID was refused (digest 7.4): {0}")]
    EndpointIdentity(#[source] tls_integration::Error),
    /// HTTP failed after the handshake (connection closed, malformed response).
    #[error("HTTP exchange with the bundle endpoint failed: {0}")]
    Http(#[source] hyper::Error),
    /// A `PEM` file of the `https_web` certificate could not be read.
    #[error("cannot read {path}: {source}")]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// rustls refused the certificate, the key or a configuration.
    #[error("rustls refused the TLS material or configuration: {0}")]
    Rustls(#[source] rustls::Error),
    /// tls-integration could not build the `https_spiffe` configuration.
    #[error("cannot build the https_spiffe TLS configuration: {0}")]
    SpiffeTls(#[source] tls_integration::Error),
    /// The endpoint answered with a status other than 200 (after redirects).
    #[error("bundle endpoint answered HTTP {status}")]
    Status {
        /// The status.
        status: http::StatusCode,
    },
    /// The whole fetch (connection, redirects, body) took longer than allowed
    /// ([`Client::with_timeout`](crate::client::Client::with_timeout)).
    #[error("bundle fetch did not finish within {after:?}")]
    Timeout {
        /// The limit.
        after: Duration,
    },
    /// The TLS handshake failed for a reason other than the endpoint's SPIFFE identity: under
    /// `https_web` an unknown issuer or a name mismatch (RFC 6125, digest 7.3), or an alert.
    #[error("TLS handshake with the bundle endpoint failed: {0}")]
    Tls(#[source] rustls::Error),
    /// The response body is larger than allowed
    /// ([`Client::with_max_response_bytes`](crate::client::Client::with_max_response_bytes)).
    #[error("bundle document larger than {max} bytes")]
    TooLarge {
        /// The limit.
        max: usize,
    },
    /// More redirects than allowed ([`Client::with_max_redirects`](crate::client::Client::with_max_redirects)).
    #[error("more than {max} redirects")]
    TooManyRedirects {
        /// The limit.
        max: usize,
    },
    /// The endpoint URL (configured, or a redirect target) is not a valid bundle endpoint
    /// URL (digest 7.3, 7.4).
    #[error("invalid bundle endpoint URL: {0}")]
    Url(#[from] UrlError),
    /// A bundle of another trust domain was published to an endpoint or fetched for a
    /// relationship (digest 7.2, 7.7: the trust domain is configured, never taken from a
    /// document).
    #[error("bundle of trust domain {found} where {expected} was expected (digest 7.2)")]
    WrongTrustDomain {
        /// The configured trust domain.
        expected: TrustDomain,
        /// The trust domain of the bundle.
        found: TrustDomain,
    },
}

impl Error {
    /// Whether trying again later may succeed: network, TLS, HTTP and time-bound failures, as
    /// opposed to a configuration that can never work (an invalid URL). A refused document
    /// is retryable too: the peer may fix it.
    pub fn is_retryable(&self) -> bool {
        !matches!(
            self,
            Self::Url(_) | Self::CertificateFiles { .. } | Self::SpiffeTls(_) | Self::Rustls(_)
        )
    }
}

/// Why a URL is not a valid bundle endpoint URL (digest 7.3: scheme `https`, no userinfo).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UrlError {
    /// Not a URL `http` can parse.
    #[error("not a valid absolute URL")]
    Invalid,
    /// The URL has no host.
    #[error("URL has no host")]
    NoHost,
    /// The scheme is not `https` (digest 7.3).
    #[error("scheme is not https (digest 7.3)")]
    NotHttps,
    /// The URL carries userinfo (`user:password@`) (digest 7.3).
    #[error("URL carries userinfo (digest 7.3)")]
    UserInfo,
}
