//! The server's own TLS identities, minted by its CA and replaced at half their lifetime: the
//! node API's (`spiffe://<td>/server`) and the bundle endpoint's (`https_spiffe`).

use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use ca::{CertificateAuthority, X509SvidRequest};
use spiffe_id::SpiffeId;
use svid::{X509Svid, X509SvidSource};

/// The server SVID's lifetime.
pub(crate) const SERVER_SVID_TTL: Duration = Duration::from_secs(3600);

/// One of the server's SVIDs, replaced in place.
pub(crate) struct ServerSvid {
    ca: CertificateAuthority,
    id: SpiffeId,
    current: RwLock<Arc<X509Svid>>,
}

impl ServerSvid {
    /// Mints the first SVID of the node API (`spiffe://<td>/server`).
    pub(crate) fn new(ca: CertificateAuthority) -> Result<Self, ca::Error> {
        let id = node_api::server_id(ca.trust_domain());
        Self::for_id(ca, id)
    }

    /// Mints the first SVID for `id` (of the CA's trust domain).
    pub(crate) fn for_id(ca: CertificateAuthority, id: SpiffeId) -> Result<Self, ca::Error> {
        let first = mint(&ca, &id)?;
        Ok(Self {
            ca,
            id,
            current: RwLock::new(Arc::new(first)),
        })
    }

    /// Mints a new SVID (blocking).
    pub(crate) fn renew(&self) -> Result<(), ca::Error> {
        let svid = Arc::new(mint(&self.ca, &self.id)?);
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = svid;
        Ok(())
    }
}

fn mint(ca: &CertificateAuthority, id: &SpiffeId) -> Result<X509Svid, ca::Error> {
    ca.mint_x509_svid(
        &X509SvidRequest::new(id.clone()).ttl(SERVER_SVID_TTL),
        SystemTime::now(),
    )
}

impl X509SvidSource for ServerSvid {
    fn x509_svid(&self) -> Option<Arc<X509Svid>> {
        Some(Arc::clone(
            &self
                .current
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        ))
    }
}
