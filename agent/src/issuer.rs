//! Where the agent's SVIDs come from: its own CA (standalone), or a fleet server (upstream
//! mode, through the node API).

use std::sync::Arc;

use ca::CertificateAuthority;
use trust_bundle::SpiffeBundle;

use crate::upstream::Upstream;

/// The agent's source of SVIDs and of its trust domain's bundle.
#[derive(Clone)]
pub(crate) enum Issuer {
    /// An in-process CA.
    Ca(CertificateAuthority),
    /// A fleet server.
    Upstream(Arc<Upstream>),
}

impl Issuer {
    /// The CA, when the agent has its own.
    pub(crate) fn ca(&self) -> Option<&CertificateAuthority> {
        match self {
            Self::Ca(ca) => Some(ca),
            Self::Upstream(_) => None,
        }
    }

    /// The trust domain's current bundle.
    pub(crate) fn bundle(&self) -> Arc<SpiffeBundle> {
        match self {
            Self::Ca(ca) => ca.bundle(),
            Self::Upstream(upstream) => upstream.bundle(),
        }
    }
}
