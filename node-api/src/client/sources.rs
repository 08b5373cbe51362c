//! What the client's TLS reads at each handshake: the agent SVID it presents and the bundle
//! that authenticates the server, both replaced in place (renewal, bundle sync).

use std::sync::{Arc, RwLock};

use spiffe_id::TrustDomain;
use svid::{X509Svid, X509SvidSource};
use trust_bundle::{BundleSet, JwtBundle, SpiffeBundle, X509Bundle, X509BundleSource};

/// The agent SVID, once attested.
#[derive(Default)]
pub(crate) struct AgentSvidSlot(RwLock<Option<Arc<X509Svid>>>);

impl AgentSvidSlot {
    pub(crate) fn set(&self, svid: Arc<X509Svid>) {
        *self
            .0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(svid);
    }

    pub(crate) fn get(&self) -> Option<Arc<X509Svid>> {
        self.0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

impl X509SvidSource for AgentSvidSlot {
    fn x509_svid(&self) -> Option<Arc<X509Svid>> {
        self.get()
    }
}

/// The trust domain's bundle: the bootstrap one until the server sends its own.
pub(crate) struct ServerBundle {
    current: RwLock<Arc<BundleSet>>,
}

impl ServerBundle {
    pub(crate) fn bootstrap(bundle: X509Bundle) -> Result<Self, trust_bundle::Error> {
        let jwt = JwtBundle::new(bundle.trust_domain().clone());
        let document = SpiffeBundle::from_parts(bundle, jwt)?;
        Ok(Self {
            current: RwLock::new(Arc::new(BundleSet::from_bundles([document])?)),
        })
    }

    /// Replaces the bundle (the server's, after attestation and each sync).
    pub(crate) fn set(&self, bundle: SpiffeBundle) -> Result<(), trust_bundle::Error> {
        let set = Arc::new(BundleSet::from_bundles([bundle])?);
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = set;
        Ok(())
    }

    fn read(&self) -> Arc<BundleSet> {
        Arc::clone(
            &self
                .current
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }
}

impl X509BundleSource for ServerBundle {
    fn x509_bundle(&self, trust_domain: &TrustDomain) -> Option<Arc<X509Bundle>> {
        self.read().x509_bundle(trust_domain)
    }

    fn generation(&self) -> u64 {
        X509BundleSource::generation(&*self.read())
    }
}
