//! The node API between SPIFFE node agents and a fleet server.
//!
//! A fleet server (the `server` crate) holds a trust domain's CA and registration entries; node
//! agents (the `agent` crate in upstream mode) run on each machine, prove which node they run
//! on, and serve the Workload API to the workloads there. This crate is what both sides share:
//!
//! - [`proto`]: the protocol (`node-api/proto/node.proto`): attestation, agent SVID renewal,
//!   entry sync, X509-SVID minting from CSRs (workload keys stay on the node), JWT-SVIDs.
//! - [`NodeClient`]: the agent's side, with failover over several server addresses.
//! - [`x509pop`]: what a node signs to prove possession of its certificate's key.
//! - [`keys`]: the keys and CSRs made on the node.
//! - The reserved SPIFFE IDs: [`server_id`] and agent IDs under [`AGENT_PATH_PREFIX`].
//!
//! ```
//! let td: spiffe_id::TrustDomain = "example.org".parse()?;
//! assert_eq!(node_api::server_id(&td).as_str(), "spiffe://example.org/server");
//! assert!(node_api::is_reserved(&"spiffe://example.org/agent/join_token/1".parse()?));
//! assert!(!node_api::is_reserved(&"spiffe://example.org/web".parse()?));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `ring` | yes | TLS and signatures with ring |
//! | `aws-lc-rs` | no | TLS and signatures with aws-lc-rs |

#![forbid(unsafe_code)]

mod client;
mod error;
pub mod keys;
pub mod proto;
pub mod x509pop;

use spiffe_id::{SpiffeId, TrustDomain};

pub use client::{Attestation, AttestedAgent, DEFAULT_TIMEOUT, NodeClient, NodeClientConfig, Sync};
pub use error::Error;

/// The path under which agent SVIDs are issued: `spiffe://<td>/agent/<method>/<node>`.
pub const AGENT_PATH_PREFIX: &str = "/agent/";

/// The path of the server's own SVID.
pub const SERVER_PATH: &str = "/server";

/// What a server's `PermissionDenied` says when the calling node is not attested (never was,
/// or was evicted), so that an agent knows to attest again rather than retry.
pub const NODE_NOT_ATTESTED: &str = "is not attested or was evicted";

/// The largest message either side accepts (a sync of many entries fits; a flood does not).
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// The SPIFFE ID every server of `trust_domain` presents: `spiffe://<td>/server`.
pub fn server_id(trust_domain: &TrustDomain) -> SpiffeId {
    // A trust domain plus a fixed valid path is always a valid SPIFFE ID.
    SpiffeId::from_path(trust_domain, SERVER_PATH).unwrap_or_else(|_| trust_domain.id())
}

/// Whether `id` is one of the fleet's own identities (the server, an agent), which no
/// registration entry may claim: a workload with one could pose as a node or a server.
pub fn is_reserved(id: &SpiffeId) -> bool {
    id.path() == SERVER_PATH || id.path().starts_with(AGENT_PATH_PREFIX)
}
