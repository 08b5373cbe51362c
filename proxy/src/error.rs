//! The error type of this crate and the typed reason a peer was refused.

use std::fmt;
use std::io;

/// Why the proxy could not start or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An address in the configuration is not `HOST:PORT` or `unix:PATH`.
    #[error("bad address {address:?}: {reason}")]
    Address {
        /// The text given.
        address: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The configuration file is invalid (the TOML error says where).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The listener could not be bound or its socket set up.
    #[error("cannot listen on {address}: {source}")]
    Listen {
        /// The listen address.
        address: String,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The accept loop failed.
    #[error("accept failed: {0}")]
    Accept(#[source] io::Error),
    /// The TLS configuration could not be built.
    #[error("cannot build the TLS configuration: {0}")]
    Tls(#[from] tls_integration::Error),
    /// The Workload API source could not start.
    #[error("Workload API: {0}")]
    WorkloadApi(#[from] workload_client::Error),
}

/// Why a peer was refused: the label of the `spiffekit_proxy_refusals_total` metric and the
/// `reason` field of the log line written for each refused peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RefusalReason {
    /// The peer's SVID (or a CA of its chain) has expired.
    Expired,
    /// The peer presented an X.509-SVID that breaks the profile or does not verify.
    InvalidSvid,
    /// The peer presented no certificate.
    NoCertificate,
    /// The SVID (or a CA of its chain) is not valid yet.
    NotYetValid,
    /// The SVID verified, but its SPIFFE ID matches no allowed pattern.
    Unauthorized,
    /// The chain does not lead to an authority of the bundle of its trust domain.
    UnknownIssuer,
    /// No bundle is known for the peer's trust domain (not ours, not federated).
    UnknownTrustDomain,
}

impl RefusalReason {
    /// The metric label and log value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Expired => "expired",
            Self::InvalidSvid => "invalid_svid",
            Self::NoCertificate => "no_certificate",
            Self::NotYetValid => "not_yet_valid",
            Self::Unauthorized => "unauthorized",
            Self::UnknownIssuer => "unknown_issuer",
            Self::UnknownTrustDomain => "unknown_trust_domain",
        }
    }

    /// The reason of a failed handshake that refused its peer, `None` when it failed for
    /// another reason (timeout, reset, not TLS, the peer refusing us).
    pub fn of_handshake(error: &tls_integration::Error) -> Option<Self> {
        if let Some(refusal) = error.verifier_error() {
            return Some(Self::of_verifier(refusal));
        }
        let tls_integration::Error::Handshake(io) = error else {
            return None;
        };
        let tls = io.get_ref()?.downcast_ref::<rustls::Error>()?;
        matches!(tls, rustls::Error::NoCertificatesPresented).then_some(Self::NoCertificate)
    }

    fn of_verifier(error: &tls_integration::Error) -> Self {
        use svid::VerifyError as V;
        match error {
            tls_integration::Error::Unauthorized { .. } => Self::Unauthorized,
            tls_integration::Error::Verify(svid::Error::Verify(verify)) => match verify {
                V::Expired { .. } | V::AuthorityExpired { .. } => Self::Expired,
                V::NotYetValid { .. } | V::AuthorityNotYetValid { .. } => Self::NotYetValid,
                V::NoBundle { .. } => Self::UnknownTrustDomain,
                V::NoAuthorities { .. } | V::UnknownIssuer => Self::UnknownIssuer,
                _ => Self::InvalidSvid,
            },
            _ => Self::InvalidSvid,
        }
    }
}

impl fmt::Display for RefusalReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
