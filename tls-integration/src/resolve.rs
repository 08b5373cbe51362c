//! [`SvidResolver`]: the certificate a rustls client or server presents, read from an
//! [`X509SvidSource`] so that rotation needs no new configuration.

use std::fmt;
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use rustls::SignatureScheme;
use rustls::client::ResolvesClientCert;
use rustls::crypto::KeyProvider;
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
/// handshake, with no new `ClientConfig`/`ServerConfig` and no per-handshake key parsing.
///
/// When the source has no SVID, or the provider cannot use its key, no certificate is offered
/// and the handshake fails (a server aborts it; a client that must authenticate is refused).
///
/// ```
/// use std::sync::Arc;
/// use svid::X509SvidSource;
/// use tls_integration::SvidResolver;
///
/// # fn demo(source: Arc<dyn X509SvidSource>) {
/// let provider = tls_integration::default_provider();
/// let resolver = Arc::new(SvidResolver::new(source, &provider));
/// # let _ = resolver;
/// # }
/// ```
pub struct SvidResolver {
    source: Arc<dyn X509SvidSource>,
    key_provider: &'static dyn KeyProvider,
    current: ArcSwapOption<Loaded>,
}

/// What was built for one SVID. `key` is `None` when the provider refused the SVID's key, so
/// the refusal is not repeated on every handshake.
struct Loaded {
    svid: Arc<X509Svid>,
    key: Option<Arc<CertifiedKey>>,
}

impl SvidResolver {
    /// A resolver over `source`, loading keys with `provider`'s key provider.
    pub fn new(source: Arc<dyn X509SvidSource>, provider: &rustls::crypto::CryptoProvider) -> Self {
        Self {
            source,
            key_provider: provider.key_provider,
            current: ArcSwapOption::empty(),
        }
    }

    /// The certificate and signing key for the source's current SVID.
    ///
    /// # Errors
    /// [`Error::NoSvid`] when the source has none, [`Error::UnusableKey`] when the provider
    /// cannot sign with its key.
    pub fn certified_key(&self) -> Result<Arc<CertifiedKey>, Error> {
        let svid = self.source.x509_svid().ok_or(Error::NoSvid)?;
        if let Some(loaded) = &*self.current.load() {
            if Arc::ptr_eq(&loaded.svid, &svid) {
                return loaded.key.clone().ok_or(Error::NoSvid);
            }
        }
        let built = build(&svid, self.key_provider);
        let key = built.as_ref().ok().cloned();
        self.current.store(Some(Arc::new(Loaded { svid, key })));
        built
    }
}

fn build(svid: &X509Svid, keys: &dyn KeyProvider) -> Result<Arc<CertifiedKey>, Error> {
    let signing = keys
        .load_private_key(svid.private_key().to_private_key_der().clone_key())
        .map_err(Error::UnusableKey)?;
    Ok(Arc::new(CertifiedKey::new(svid.chain().to_vec(), signing)))
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
