//! What is wrong with a `[federation]` section, or with starting what it names.

use std::net::{AddrParseError, SocketAddr};
use std::path::PathBuf;

use spiffe_id::{SpiffeId, TrustDomain};

use crate::error::{Error, UrlError};

/// What is wrong with a `[federation]` section or a file it names. [`field`](Self::field)
/// names the key to fix (`federation.federates_with[0].url`); the message does not repeat it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SectionError {
    /// `address` is not an `IP:port`.
    #[error("{value:?}: {source}")]
    Address {
        /// The key.
        field: String,
        /// What was written.
        value: String,
        /// Why it did not parse.
        #[source]
        source: AddrParseError,
    },
    /// A bootstrap bundle is neither a SPIFFE bundle document nor PEM certificates.
    #[error("{}: {source}", path.display())]
    Bundle {
        /// The key.
        field: String,
        /// The file.
        path: PathBuf,
        /// Why it did not parse.
        #[source]
        source: trust_bundle::Error,
    },
    /// Two relationships name the same trust domain.
    #[error("{trust_domain} has two relationships: keep one")]
    Duplicate {
        /// The key.
        field: String,
        /// The trust domain named twice.
        trust_domain: TrustDomain,
    },
    /// A duration is not `<number><unit>` with unit `s`, `m`, `h` or `d`.
    #[error("{value:?} is not a duration like \"90s\", \"10m\", \"1h\" or \"7d\"")]
    Duration {
        /// The key.
        field: String,
        /// What was written.
        value: String,
    },
    /// `max_refresh` is below `min_refresh` (either may be the default: 5 s and 1 h).
    #[error(
        "max_refresh {max:?} is below min_refresh {min:?}: set both, min_refresh <= max_refresh"
    )]
    RefreshBounds {
        /// The key (`max_refresh`).
        field: String,
        /// The lower bound in effect.
        min: std::time::Duration,
        /// The upper bound written.
        max: std::time::Duration,
    },
    /// The bundle endpoint's SPIFFE ID is not in the own trust domain (its SVID is minted
    /// by the own CA).
    #[error("{id} is not in this trust domain {own}")]
    EndpointIdTrustDomain {
        /// The key.
        field: String,
        /// The ID written.
        id: SpiffeId,
        /// The own trust domain.
        own: TrustDomain,
    },
    /// A file named by the section cannot be read.
    #[error("{}: {source}", path.display())]
    File {
        /// The key.
        field: String,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// `lower_sequence` is neither `refuse` nor `accept`.
    #[error("{value:?}: expected \"refuse\" or \"accept\"")]
    LowerSequence {
        /// The key.
        field: String,
        /// What was written.
        value: String,
    },
    /// A bootstrap bundle holds no X.509 authority.
    #[error("{}: no X.509 authority", path.display())]
    NoAuthority {
        /// The key.
        field: String,
        /// The file.
        path: PathBuf,
    },
    /// A relationship names the own trust domain.
    #[error("{trust_domain} is this trust domain itself")]
    OwnTrustDomain {
        /// The key.
        field: String,
        /// The trust domain.
        trust_domain: TrustDomain,
    },
    /// The endpoint's `path` does not start with `/`.
    #[error("must start with /")]
    Path {
        /// The key.
        field: String,
    },
    /// A PEM file holds no usable certificate.
    #[error("{}: {source}", path.display())]
    Pem {
        /// The key.
        field: String,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: svid::Error,
    },
    /// `profile` is neither `https_web` nor `https_spiffe` (never inferred: digest 7.2).
    #[error("{value:?}: expected \"https_web\" or \"https_spiffe\"")]
    Profile {
        /// The key.
        field: String,
        /// What was written.
        value: String,
    },
    /// A profile is given settings of the other profile, or lacks its own.
    #[error("{profile} takes {takes}")]
    ProfileSettings {
        /// The key.
        field: String,
        /// The profile written.
        profile: &'static str,
        /// What it takes (and what it does not).
        takes: &'static str,
    },
    /// A root certificate is refused by rustls.
    #[error("{}: {source}", path.display())]
    Root {
        /// The key.
        field: String,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: rustls::Error,
    },
    /// A SPIFFE ID does not parse.
    #[error("{value:?}: {source}")]
    SpiffeId {
        /// The key.
        field: String,
        /// What was written.
        value: String,
        /// Why.
        #[source]
        source: spiffe_id::Error,
    },
    /// A trust domain does not parse.
    #[error("{value:?}: {source}")]
    TrustDomain {
        /// The key.
        field: String,
        /// What was written.
        value: String,
        /// Why.
        #[source]
        source: spiffe_id::Error,
    },
    /// A bundle endpoint URL is refused (not `https`, or malformed).
    #[error("{value:?}: {source}")]
    Url {
        /// The key.
        field: String,
        /// What was written.
        value: String,
        /// Why.
        #[source]
        source: UrlError,
    },
}

impl SectionError {
    /// The key to fix, with its section path (`federation.bundle_endpoint.address`).
    pub fn field(&self) -> &str {
        match self {
            Self::Address { field, .. }
            | Self::Bundle { field, .. }
            | Self::Duplicate { field, .. }
            | Self::Duration { field, .. }
            | Self::EndpointIdTrustDomain { field, .. }
            | Self::File { field, .. }
            | Self::LowerSequence { field, .. }
            | Self::NoAuthority { field, .. }
            | Self::OwnTrustDomain { field, .. }
            | Self::Path { field }
            | Self::Pem { field, .. }
            | Self::Profile { field, .. }
            | Self::ProfileSettings { field, .. }
            | Self::RefreshBounds { field, .. }
            | Self::Root { field, .. }
            | Self::SpiffeId { field, .. }
            | Self::TrustDomain { field, .. }
            | Self::Url { field, .. } => field,
        }
    }
}

/// Why [`start`](super::start) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The bundle endpoint's address cannot be bound.
    #[error("federation.bundle_endpoint.address {address}: {source}")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The bundle endpoint's TLS cannot be set up (`https_web` files, provider).
    #[error("federation.bundle_endpoint: {0}")]
    Endpoint(#[source] Error),
    /// `[federation.bundle_endpoint]` is configured but the binary gave no bundle to serve.
    #[error("federation.bundle_endpoint: no bundle source (this binary has no CA of its own)")]
    NoBundle,
    /// `https_spiffe` is configured but the binary gave no X509-SVID source.
    #[error("federation.bundle_endpoint: https_spiffe needs an X509-SVID source")]
    NoSvid,
    /// A relationship's files are unusable.
    #[error("{}: {source}", source.field())]
    Section {
        /// What is wrong.
        #[from]
        source: SectionError,
    },
}
