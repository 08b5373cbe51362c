//! The one error type of this crate, with a sub-enum per concern.

use std::path::PathBuf;

use spiffe_id::{SpiffeId, TrustDomain};

use crate::entry_id::EntryId;

/// What went wrong while configuring, starting or changing an agent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An attestor's blocking work was cancelled or panicked.
    #[error("caller attestation did not complete")]
    AttestationFailed,
    /// Binding the Workload API socket failed.
    #[error("cannot listen on {path}: {source}")]
    Bind {
        /// The socket path (or TCP address) that could not be bound.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The certificate authority could not be set up.
    #[error("the certificate authority could not be set up: {0}")]
    Ca(#[source] ca::Error),
    /// The configuration file is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A registration entry is unusable.
    #[error(transparent)]
    Entry(#[from] EntryError),
    /// A federated bundle was given for the agent's own trust domain (whose bundle comes from
    /// the CA).
    #[error("a federated bundle cannot be for the agent's own trust domain {0}")]
    FederatedBundleForOwnTrustDomain(TrustDomain),
    /// File or socket I/O failed.
    #[error("i/o failed: {0}")]
    Io(#[source] std::io::Error),
    /// The certificate authority refused to mint an SVID.
    #[error("the certificate authority refused to mint an SVID for {spiffe_id}: {source}")]
    Mint {
        /// The identity that was being minted.
        spiffe_id: SpiffeId,
        /// The CA's reason.
        #[source]
        source: ca::Error,
    },
    /// The fleet server did not give an SVID (upstream mode); retried later.
    #[error("the server did not issue an SVID for {spiffe_id}: {reason}")]
    Upstream {
        /// The identity that was being minted.
        spiffe_id: SpiffeId,
        /// What the server or the connection said.
        reason: String,
    },
    /// An agent in upstream mode serves the server's entries only.
    #[error(
        "an agent in upstream mode takes its entries from the server: remove the config-file \
         entries and the store, and create the entries on the server"
    )]
    UpstreamLocalEntries,
    /// Upstream mode could not start: attestation or the first sync failed.
    #[error("upstream mode: {0}")]
    UpstreamStart(#[source] node_api::Error),
    /// The path exists and is not a socket, so the agent will not replace it.
    #[error("{0} exists and is not a socket; refusing to replace it")]
    NotASocket(PathBuf),
    /// A selector is malformed.
    #[error(transparent)]
    Selector(#[from] SelectorError),
    /// The agent has shut down.
    #[error("the agent has shut down")]
    ShutDown,
    /// An entry in the store cannot be served by this agent (edited by hand, or written by an
    /// agent with other attestors or another trust domain); the agent does not start.
    #[error(
        "stored entry {id} cannot be served: {reason}; run the agent version that wrote it, or remove the entry from the store"
    )]
    StoredEntry {
        /// The entry's store id.
        id: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The persistent store refused or failed (see the store's message for what to fix).
    #[error("the store failed: {0}")]
    Store(#[source] store::Error),
    /// Another process is serving on the socket path.
    #[error("another server is accepting connections on {0}")]
    SocketInUse(PathBuf),
    /// The gRPC server failed.
    #[error("the gRPC server failed: {0}")]
    Transport(#[source] tonic::transport::Error),
    /// No entry has this id (it was never added, or was removed).
    #[error("no registration entry {0}")]
    UnknownEntry(EntryId),
}

/// Why a registration entry cannot be added.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EntryError {
    /// The entry federates with the agent's own trust domain.
    #[error("an entry cannot federate with its own trust domain {0}")]
    FederatesWithSelf(TrustDomain),
    /// The entry's SPIFFE ID is outside the CA's trust domain.
    #[error("{spiffe_id} is not in the agent's trust domain {trust_domain}")]
    ForeignTrustDomain {
        /// The entry's ID.
        spiffe_id: SpiffeId,
        /// The agent's trust domain.
        trust_domain: TrustDomain,
    },
    /// The hint is longer than [`MAX_HINT_LEN`](crate::MAX_HINT_LEN) (Workload API §8).
    #[error("hint is {len} bytes, more than the {max} allowed (Workload API §8)")]
    HintTooLong {
        /// The hint's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The entry has no selectors, so it would match every caller.
    #[error("entry has no selectors (it would match every caller)")]
    NoSelectors,
    /// The entry's SPIFFE ID is the trust domain itself, which names the authority, not a
    /// workload (X509-SVID §2).
    #[error("{0} has no path; workload SVIDs need one (X509-SVID §2)")]
    RootId(SpiffeId),
    /// The entry has more than [`MAX_SELECTORS_PER_ENTRY`](crate::MAX_SELECTORS_PER_ENTRY)
    /// selectors.
    #[error("entry has {len} selectors, more than the {max} allowed")]
    TooManySelectors {
        /// How many it has.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A TTL of zero.
    #[error("an SVID lifetime of zero is not usable")]
    ZeroTtl,
}

/// Why a selector is malformed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SelectorError {
    /// The type contains a character outside `[a-z0-9_-]`.
    #[error("selector type contains {0:?}; only a-z, 0-9, '_' and '-' are allowed")]
    BadTypeCharacter(char),
    /// The value contains a control character.
    #[error("selector value contains the control character {0:?}")]
    ControlCharacter(char),
    /// There is no `type:` prefix.
    #[error("selector has no type (expected type:value)")]
    MissingType,
    /// The value is empty.
    #[error("selector has an empty value (expected type:value)")]
    MissingValue,
    /// Longer than [`MAX_SELECTOR_LEN`](crate::MAX_SELECTOR_LEN).
    #[error("selector is {len} bytes, more than the {max} allowed")]
    TooLong {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
}

/// Why the configuration file is unusable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A duration is not `<number><unit>` with unit `s`, `m`, `h` or `d`.
    #[error("{field}: {value:?} is not a duration like \"90s\", \"10m\", \"1h\" or \"7d\"")]
    Duration {
        /// The setting.
        field: String,
        /// What was written.
        value: String,
    },
    /// A federated bundle file is not a SPIFFE bundle document.
    #[error("federated bundle {path}: {source}")]
    FederatedBundle {
        /// The bundle file.
        path: PathBuf,
        /// Why it did not parse.
        #[source]
        source: trust_bundle::Error,
    },
    /// A field holds a value that is not allowed.
    #[error("{field}: {message}")]
    Invalid {
        /// The setting.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML of the expected shape.
    #[error("{path}: {source}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's message (line and column included).
        #[source]
        source: toml::de::Error,
    },
    /// The files `[ca.upstream_disk]` names are not a usable upstream CA (the error names
    /// the file and what is wrong with it).
    #[error("ca.upstream_disk: {source}")]
    UpstreamDisk {
        /// The CA's reason ([`ca::Error::DiskUpstream`] or [`ca::Error::KeyFilePermissions`]).
        #[source]
        source: ca::Error,
    },
}
