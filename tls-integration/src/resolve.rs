//! [`SvidResolver`]: the certificate a rustls client or server presents, read from an
//! [`X509SvidSource`] so that rotation needs no new configuration.

use std::fmt;
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use rustls::SignatureScheme;
use rustls::client::ResolvesClientCert;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use svid::{X509Svid, X509SvidSource};

use crate::error::Error;

/// Presents the current SVID of an [`X509SvidSource`] in every handshake, as a server
/// certificate ([`ResolvesServerCert`]) or a client certificate ([`ResolvesClientCert`]).
///
/// The rustls [`CertifiedKey`] (chain plus signing key) is built once per SVID, when a
/// handshake first sees a new one: the source returns the same `Arc` until the SVID changes,
/// and the resolver compares with [`Arc::ptr_eq`]. A rotated SVID is therefore used by the next
/// handshake, with no new `ClientConfig`/`ServerConfig`. The signing key is the one the SVID's
/// `svid::Crypto` loaded when the SVID was parsed or minted
/// ([`PrivateKey::signing_key`](svid::PrivateKey::signing_key)): keys are never parsed again
/// here.
///
/// When the source has no SVID, or its key cannot be loaded, no certificate is offered and the
/// handshake fails (a server aborts it; a client that must authenticate is refused).
///
/// ```
/// use std::sync::Arc;
/// use svid::X509SvidSource;
/// use tls_integration::SvidResolver;
///
/// # fn demo(source: Arc<dyn X509SvidSource>) {
/// let resolver = Arc::new(SvidResolver::new(source));
/// # let _ = resolver;
/// # }
/// ```
pub struct SvidResolver {
    source: Arc<dyn X509SvidSource>,
    current: ArcSwapOption<Loaded>,
}

/// What was built for one SVID. `key` is `None` when the SVID's key could not be loaded, so
/// the refusal is not repeated on every handshake.
struct Loaded {
    svid: Arc<X509Svid>,
    key: Option<Arc<CertifiedKey>>,
}

impl SvidResolver {
    /// A resolver over `source`.
    pub fn new(source: Arc<dyn X509SvidSource>) -> Self {
        Self {
            source,
            current: ArcSwapOption::empty(),
        }
    }

    /// The certificate and signing key for the source's current SVID.
    ///
    /// # Errors
    /// [`Error::NoSvid`] when the source has none, [`Error::UnusableKey`] when its key cannot
    /// be loaded.
    pub fn certified_key(&self) -> Result<Arc<CertifiedKey>, Error> {
        let svid = self.source.x509_svid().ok_or(Error::NoSvid)?;
        if let Some(loaded) = &*self.current.load() {
            if Arc::ptr_eq(&loaded.svid, &svid) {
                return loaded.key.clone().ok_or(Error::NoSvid);
            }
        }
        let built = build(&svid);
        let key = built.as_ref().ok().cloned();
        self.current.store(Some(Arc::new(Loaded { svid, key })));
        built
    }
}

fn build(svid: &X509Svid) -> Result<Arc<CertifiedKey>, Error> {
    let signing = svid
        .private_key()
        .signing_key()
        .map_err(Error::UnusableKey)?;
    Ok(Arc::new(CertifiedKey::new(
        svid.chain().to_vec(),
        Arc::clone(signing),
    )))
}

impl fmt::Debug for SvidResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let current = self.current.load();
        f.debug_struct("SvidResolver")
            .field(
                "current",
                &current
                    .as_ref()
                    .map(|loaded| loaded.svid.spiffe_id().to_string()),
            )
            .finish_non_exhaustive()
    }
}

impl ResolvesServerCert for SvidResolver {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.certified_key().ok()
    }
}

impl ResolvesClientCert for SvidResolver {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        self.certified_key().ok()
    }

    fn has_certs(&self) -> bool {
        true
    }
}
