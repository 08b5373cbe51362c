//! The server's errors.

use spiffe_id::SpiffeId;

/// What can go wrong building or running a server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The CA refused a request.
    #[error("the CA failed: {0}")]
    Ca(#[from] ca::Error),
    /// The store failed.
    #[error("the store failed: {0}")]
    Store(#[from] store::Error),
    /// TLS set-up failed.
    #[error(transparent)]
    Tls(#[from] tls_integration::Error),
    /// Binding or serving the listener failed.
    #[error("the node API listener failed: {0}")]
    Io(#[from] std::io::Error),
    /// An x509pop trust bundle, template or setting cannot be used.
    #[error("invalid x509pop configuration: {0}")]
    X509popConfig(String),
    /// A join token was asked for an agent ID outside the agent namespace.
    #[error("{0} is not an agent ID: agent IDs are spiffe://<trust domain>/agent/...")]
    NotAnAgentId(SpiffeId),
    /// An entry cannot be served by this server.
    #[error("invalid entry: {0}")]
    InvalidEntry(String),
    /// A blocking task was cancelled (the runtime is shutting down).
    #[error("the server is shutting down")]
    ShutDown,
    /// `[federation]` could not be started (its files, its endpoint's TLS or address).
    #[error(transparent)]
    Federation(#[from] federation::config::StartError),
}

/// Why an attestation was refused: said to the node (without secrets) and audited.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AttestError {
    /// The token was never issued, or was used already.
    #[error("the join token is unknown or was used already (tokens are single-use)")]
    UnknownToken,
    /// The token expired before it was used.
    #[error("the join token expired at {expired_at} (unix seconds): create a new one")]
    ExpiredToken {
        /// When it expired.
        expired_at: u64,
    },
    /// The node's certificate does not chain to the configured x509pop roots, or is not valid.
    #[error("the node certificate is not trusted: {0}")]
    UntrustedCertificate(String),
    /// The proof of possession did not verify.
    #[error("the x509pop proof does not verify with the node certificate's key")]
    BadProof,
    /// The attestation messages are out of order or malformed.
    #[error("malformed attestation: {0}")]
    Malformed(String),
    /// This server has no attestor for the method the node used.
    #[error("this server does not accept {0} attestation")]
    MethodNotEnabled(&'static str),
    /// The agent's clock and the server's differ by more than allowed.
    #[error(
        "the agent's clock is {skew_seconds} s off the server's (at most {max_seconds} s allowed): \
         synchronise the clocks (NTP)"
    )]
    ClockSkew {
        /// Agent time minus server time.
        skew_seconds: i64,
        /// The allowed difference.
        max_seconds: u64,
    },
    /// The SPIFFE ID derived for the node is invalid.
    #[error("the node's agent ID cannot be made: {0}")]
    BadAgentId(String),
    /// The store failed (retry).
    #[error("the store failed: {0}")]
    Store(store::Error),
}

impl From<AttestError> for tonic::Status {
    fn from(error: AttestError) -> Self {
        match &error {
            AttestError::Malformed(_) => Self::invalid_argument(error.to_string()),
            AttestError::ClockSkew { .. } => Self::failed_precondition(error.to_string()),
            AttestError::Store(_) => Self::unavailable(error.to_string()),
            _ => Self::permission_denied(error.to_string()),
        }
    }
}
