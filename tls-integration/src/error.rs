//! The one error type of this crate.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use spiffe_id::SpiffeId;

/// Why a peer, a configuration or a request was refused.
///
/// In a handshake, a verifier refusal reaches rustls as the `CertificateError` of the precise
/// TLS alert (expired -> `certificate_expired`, unknown authority -> `unknown_ca`, ...), and
/// the typed reason is kept beside it: [`Error::take_refusal`] and [`Error::verifier_error`]
/// get it back. Other errors of this crate reach rustls as `CertificateError::Other` carrying
/// this type; [`Error::from_rustls`] gets those back.
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
    /// The SVID's private key cannot be loaded for signing.
    #[error("the crypto provider refused the SVID private key: {0}")]
    UnusableKey(#[source] svid::KeyError),
    /// rustls refused to build the configuration (e.g. the provider offers no TLS version).
    #[error("cannot build the rustls configuration: {0}")]
    Config(#[source] rustls::Error),
    /// No verifier of this crate accepted a peer on this connection, so no verified SPIFFE ID
    /// is known for it: the peer sent no certificate, the handshake has not finished or was a
    /// resumption (no verifier ran), or the configuration was not a per-connection one
    /// ([`PeerIdentity::from_connection`](crate::PeerIdentity::from_connection) lists the
    /// cases).
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
}

/// Becomes `InvalidCertificate(Other(..))`, so rustls keeps the typed cause (and sends a
/// `certificate_unknown` alert if it is a handshake's error). The verifiers of this crate do
/// not use this for refusals: they send the precise alert (see [`Error::take_refusal`]).
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
