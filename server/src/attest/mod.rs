//! Node attestation: how a server decides which node an agent runs on.
//!
//! Each [`NodeAttestor`] handles one method of `node-api`'s `AttestStart`. It either decides
//! at once ([`Step::Attested`]) or sends a challenge and decides on the node's answer
//! ([`Step::Challenge`]). Calls may block (the join token attestor consumes the token in the
//! store); the node API runs them on blocking threads.

mod join_token;
mod x509pop;

use spiffe_id::SpiffeId;

pub use join_token::{JoinTokenAttestor, NewJoinToken, create_join_token, token_hash};
pub use x509pop::{DEFAULT_TEMPLATE, X509popAttestor, X509popConfig};

use crate::error::AttestError;
use node_api::proto;

/// A node's attested identity.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AttestedNode {
    /// The agent ID (`spiffe://<td>/agent/...`).
    pub spiffe_id: SpiffeId,
    /// What attestation learnt about the node (`type:value`), recorded with the node.
    pub selectors: Vec<String>,
}

impl AttestedNode {
    /// A node with an agent ID and no selectors.
    pub fn new(spiffe_id: SpiffeId) -> Self {
        Self {
            spiffe_id,
            selectors: Vec::new(),
        }
    }
}

/// The rest of a challenge-response attestation: checks the node's answer.
pub type Finish =
    Box<dyn FnOnce(&proto::AttestRequest) -> Result<AttestedNode, AttestError> + Send>;

/// What an attestor decided on the first message.
#[non_exhaustive]
pub enum Step {
    /// The node is attested.
    Attested(AttestedNode),
    /// Send `challenge`, then call `finish` with the node's answer.
    Challenge {
        /// The message to send.
        challenge: proto::AttestResponse,
        /// Decides on the answer.
        finish: Finish,
    },
}

impl core::fmt::Debug for Step {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Attested(node) => f.debug_tuple("Attested").field(node).finish(),
            Self::Challenge { .. } => f.write_str("Challenge"),
        }
    }
}

/// One node attestation method.
pub trait NodeAttestor: Send + Sync {
    /// The method's name (`join_token`, `x509pop`), as recorded with the node.
    fn method(&self) -> &'static str;

    /// Decides on the first message (`start.method` is this attestor's).
    ///
    /// # Errors
    /// Why the node is refused.
    fn begin(&self, start: &proto::AttestStart) -> Result<Step, AttestError>;
}

/// The method name of an `AttestStart`.
pub(crate) fn method_of(start: &proto::AttestStart) -> Option<&'static str> {
    match start.method.as_ref()? {
        proto::attest_start::Method::JoinToken(_) => Some("join_token"),
        proto::attest_start::Method::X509pop(_) => Some("x509pop"),
    }
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use core::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}
