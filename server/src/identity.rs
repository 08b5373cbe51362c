//! The server's own TLS identity (`spiffe://<td>/server`, minted by its CA and replaced at half
//! its lifetime).

use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use ca::{CertificateAuthority, X509SvidRequest};
use svid::{X509Svid, X509SvidSource};

/// The server SVID's lifetime.
pub(crate) const SERVER_SVID_TTL: Duration = Duration::from_secs(3600);

/// The server's SVID, replaced in place.
pub(crate) struct ServerSvid {
    ca: CertificateAuthority,
    current: RwLock<Arc<X509Svid>>,
}

impl ServerSvid {
    /// Mints the first SVID.
    pub(crate) fn new(ca: CertificateAuthority) -> Result<Self, ca::Error> {
        let first = mint(&ca)?;
        Ok(Self {
            ca,
            current: RwLock::new(Arc::new(first)),
        })
    }

    /// Mints a new SVID (blocking).
    pub(crate) fn renew(&self) -> Result<(), ca::Error> {
        let svid = Arc::new(mint(&self.ca)?);
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = svid;
        Ok(())
    }
}

fn mint(ca: &CertificateAuthority) -> Result<X509Svid, ca::Error> {
    let id = node_api::server_id(ca.trust_domain());
    ca.mint_x509_svid(
        &X509SvidRequest::new(id).ttl(SERVER_SVID_TTL),
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
