//! The node API client's errors.

use spiffe_id::SpiffeId;

/// What can go wrong talking to a fleet server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No server address was configured.
    #[error("no server address is configured: give at least one `host:port`")]
    NoServers,
    /// A server address is not `host:port`.
    #[error("server address {address:?} is not host:port ({reason})")]
    BadAddress {
        /// The address as given.
        address: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Every server was unreachable; the last failure is given.
    #[error("no server answered ({tried} tried); the last one, {address}, said: {status}")]
    Unreachable {
        /// How many addresses were tried.
        tried: usize,
        /// The last address tried.
        address: String,
        /// Its failure.
        status: tonic::Status,
    },
    /// The server answered with an error.
    #[error("the server {address} refused: {}", status.message())]
    Refused {
        /// The server that answered.
        address: String,
        /// Its status (code and message).
        status: tonic::Status,
    },
    /// The server's answer breaks the node API's rules.
    #[error("the server sent an invalid answer: {0}")]
    Protocol(String),
    /// The node's x509pop certificate or key cannot be used.
    #[error("the node credential cannot be used: {0}")]
    NodeCredential(String),
    /// A key or CSR could not be made.
    #[error("generating a key and CSR failed: {0}")]
    Key(String),
    /// A call needs the agent SVID, and the agent is not attested.
    #[error("the agent is not attested yet: call attest first")]
    NotAttested,
    /// The server returned an SVID for another identity than the one asked for.
    #[error("the server returned an SVID for {got}, not {expected}")]
    WrongIdentity {
        /// The SPIFFE ID expected.
        expected: SpiffeId,
        /// The SPIFFE ID received.
        got: SpiffeId,
    },
    /// TLS set-up failed.
    #[error(transparent)]
    Tls(#[from] tls_integration::Error),
    /// An SVID from the server did not parse or verify.
    #[error("an SVID from the server is invalid: {0}")]
    Svid(#[from] svid::Error),
    /// The bundle from the server did not parse.
    #[error("the bundle from the server is invalid: {0}")]
    Bundle(#[from] trust_bundle::Error),
}

impl Error {
    /// Whether trying again later may succeed (server unreachable, or busy).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unreachable { .. } => true,
            Self::Refused { status, .. } => matches!(
                status.code(),
                tonic::Code::Unavailable
                    | tonic::Code::ResourceExhausted
                    | tonic::Code::DeadlineExceeded
                    | tonic::Code::Aborted
            ),
            _ => false,
        }
    }

    /// Whether the server refused this node (evicted, or never attested): attest again.
    pub fn is_node_refused(&self) -> bool {
        matches!(self, Self::Refused { status, .. } if status.code() == tonic::Code::PermissionDenied
            && status.message().contains(crate::NODE_NOT_ATTESTED))
    }
}
