//! The one error type of this crate.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use spiffe_id::SpiffeId;

/// Why a peer, a configuration or a request was refused.
///
/// In a handshake, verifier errors reach rustls as
/// `rustls::Error::InvalidCertificate(CertificateError::Other(..))` carrying this type, so the
/// rustls error a caller logs names the SPIFFE rule that failed; [`Error::from_rustls`] gets it
/// back.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The peer's certificate chain is not a valid X.509-SVID of a trust domain whose bundle is
    /// known (the `svid` error says which rule it broke).
    #[error("peer X.509-SVID rejected: {0}")]
    Verify(#[source] svid::Error),
    /// The peer's SVID verified, but the authorizer refused its SPIFFE ID.
    #[error("peer {spiffe_id} is not authorized: {reason}")]
    Unauthorized {
        /// The verified SPIFFE ID that was refused.
        spiffe_id: SpiffeId,
        /// The authorizer's reason.
        reason: Denied,
    },
    /// The SVID source has no SVID to present (not fetched yet, or withdrawn).
    #[error("the X.509-SVID source has no SVID to present")]
    NoSvid,
    /// The crypto provider cannot sign with the SVID's private key.
    #[error("the crypto provider refused the SVID private key: {0}")]
    UnusableKey(#[source] rustls::Error),
    /// rustls refused to build the configuration (e.g. the provider offers no TLS version).
    #[error("cannot build the rustls configuration: {0}")]
    Config(#[source] rustls::Error),
    /// The connection has no peer certificate, or none of this crate's verifiers accepted its
    /// leaf (so no verified SPIFFE ID is known for it).
    #[error("the connection has no SPIFFE-authenticated peer")]
    NoPeerIdentity,
    /// The TLS handshake failed or timed out.
    #[error("TLS handshake failed: {0}")]
    Handshake(#[source] std::io::Error),
    /// The request carries no `Authorization: Bearer` token.
    #[error("request has no Authorization: Bearer token")]
    MissingBearer,
    /// The bearer token is not a valid JWT-SVID for the expected audience.
    #[error("bearer JWT-SVID rejected: {0}")]
    Jwt(#[source] svid::JwtError),
}

impl Error {
    /// The error of this crate carried by a rustls error, if any: what a verifier of this crate
    /// reported when it refused a handshake.
    ///
    /// ```
    /// use tls_integration::Error;
    ///
    /// let rustls_error: rustls::Error = Error::NoPeerIdentity.into();
    /// assert!(matches!(Error::from_rustls(&rustls_error), Some(Error::NoPeerIdentity)));
    /// ```
    pub fn from_rustls(error: &rustls::Error) -> Option<&Self> {
        match error {
            rustls::Error::InvalidCertificate(rustls::CertificateError::Other(other)) => {
                other.0.downcast_ref::<Self>()
            }
            rustls::Error::Other(other) => other.0.downcast_ref::<Self>(),
            _ => None,
        }
    }

    /// For a failed [`Handshake`](Self::Handshake), the error of this crate's verifier that
    /// refused the peer, when that is why it failed (tokio-rustls wraps the rustls error in
    /// the I/O error). Lets an accept loop log which SPIFFE rule or authorizer refused a
    /// client.
    pub fn verifier_error(&self) -> Option<&Self> {
        match self {
            Self::Handshake(io) => io
                .get_ref()?
                .downcast_ref::<rustls::Error>()
                .and_then(Self::from_rustls),
            _ => None,
        }
    }
}

/// Errors of a verifier become `InvalidCertificate(Other(..))`, so rustls sends a
/// `bad_certificate` alert and keeps the typed cause.
impl From<Error> for rustls::Error {
    fn from(error: Error) -> Self {
        Self::InvalidCertificate(rustls::CertificateError::Other(rustls::OtherError(
            Arc::new(error),
        )))
    }
}

/// An authorizer's refusal, with the reason it gives.
///
/// ```
/// let denied = tls_integration::Denied::new("only the payments namespace may call");
/// assert_eq!(denied.to_string(), "only the payments namespace may call");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denied {
    reason: Cow<'static, str>,
}

impl Denied {
    /// A refusal with `reason`.
    pub fn new(reason: impl Into<Cow<'static, str>>) -> Self {
        Self {
            reason: reason.into(),
        }
    }

    /// The reason.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for Denied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for Denied {}
