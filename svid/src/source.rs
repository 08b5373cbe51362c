//! [`X509SvidSource`]: where TLS code gets "my current identity" without knowing who rotates it.

use std::sync::Arc;

use crate::X509Svid;

/// Something that holds a workload's current X.509-SVID and may replace it at any time.
///
/// The Workload API sources of `workload-client`, the `ca` crate's test helpers and a plain
/// `Arc<X509Svid>` all implement it, so TLS integrations depend on this trait and never on the
/// crate that fetches or rotates the SVID.
///
/// Implementations must return the **same** `Arc` for as long as the SVID has not changed:
/// consumers cache what they derive from it (a rustls `CertifiedKey`, say) and compare with
/// [`Arc::ptr_eq`] to notice a rotation, so a fresh `Arc` per call would defeat that cache.
///
/// ```
/// use std::sync::Arc;
/// use svid::{X509Svid, X509SvidSource};
///
/// fn current_id(source: &dyn X509SvidSource) -> Option<String> {
///     source.x509_svid().map(|svid| svid.spiffe_id().to_string())
/// }
/// # let _ = current_id;
/// ```
pub trait X509SvidSource: Send + Sync {
    /// The SVID to present now, or `None` when there is none (not fetched yet, expired, or
    /// withdrawn by the issuer).
    fn x509_svid(&self) -> Option<Arc<X509Svid>>;
}

/// A fixed SVID: useful for tests and for programs that reload from files themselves.
impl X509SvidSource for Arc<X509Svid> {
    fn x509_svid(&self) -> Option<Arc<X509Svid>> {
        Some(Self::clone(self))
    }
}

impl<T: X509SvidSource + ?Sized> X509SvidSource for &T {
    fn x509_svid(&self) -> Option<Arc<X509Svid>> {
        (**self).x509_svid()
    }
}

impl<T: X509SvidSource + ?Sized> X509SvidSource for Box<T> {
    fn x509_svid(&self) -> Option<Arc<X509Svid>> {
        (**self).x509_svid()
    }
}

impl<T: X509SvidSource + ?Sized> X509SvidSource for Arc<T> {
    fn x509_svid(&self) -> Option<Arc<X509Svid>> {
        (**self).x509_svid()
    }
}
