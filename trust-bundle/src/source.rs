//! The source traits verifiers take: [`X509BundleSource`] and [`JwtBundleSource`].

use std::sync::Arc;

use spiffe_id::TrustDomain;

use crate::{JwtBundle, X509Bundle};

/// Where a verifier gets the X.509 authorities of a trust domain.
///
/// The verifier asks for the bundle of the trust domain of the SVID it is checking, never for
/// "all roots": keys are authoritative only for their own trust domain (SPIFFE bundle 3;
/// digest 8.1). `None` means the trust domain is unknown and the SVID must be rejected.
///
/// This trait and [`JwtBundleSource`] are separate on purpose: X.509 authorities never
/// validate JWT-SVIDs and JWT keys never validate X509-SVIDs (Workload API 5.2.1, 6.2.2;
/// digest W-API-11), so a verifier can only be handed the kind of authority it uses.
///
/// Implemented by [`BundleSet`](crate::BundleSet), by [`X509Bundle`] (a source of exactly one
/// trust domain), and forwarded through `&T`, `Box<T>` and `Arc<T>`. The trait is object-safe;
/// `Send + Sync` are supertraits so that `Arc<dyn X509BundleSource>` can be shared with TLS
/// verifiers on any thread.
///
/// ```
/// use std::sync::Arc;
/// use spiffe_id::TrustDomain;
/// use trust_bundle::{BundleSet, X509Bundle, X509BundleSource};
///
/// let td = TrustDomain::parse("example.org")?;
/// let set = BundleSet::from_bundles([X509Bundle::new(td.clone())])?;
/// let source: Arc<dyn X509BundleSource> = Arc::new(set);
/// assert!(source.x509_bundle(&td).is_some());
/// assert!(source.x509_bundle(&"other.example".parse()?).is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait X509BundleSource: Send + Sync {
    /// The X.509 authorities of `trust_domain`, or `None` if the source has no bundle for it.
    fn x509_bundle(&self, trust_domain: &TrustDomain) -> Option<Arc<X509Bundle>>;

    /// A number that changes on every update, so verifiers can cache results keyed by it
    /// (e.g. trust anchors built from the bundles). Values come from one process-wide counter
    /// shared by every bundle and set, so two different contents never share a generation;
    /// equal generations mean unchanged contents.
    fn generation(&self) -> u64;
}

/// Where a verifier gets the JWT authorities of a trust domain.
///
/// The verifier asks for the bundle of the trust domain of the token's `sub`; `None` means the
/// trust domain is unknown and the token must be rejected (JWT-SVID 4; digest J-9).
///
/// Separate from [`X509BundleSource`] on purpose; see there (digest W-API-11). Implemented by
/// [`BundleSet`](crate::BundleSet), by [`JwtBundle`] (a source of exactly one trust domain),
/// and forwarded through `&T`, `Box<T>` and `Arc<T>`; object-safe, `Send + Sync`.
pub trait JwtBundleSource: Send + Sync {
    /// The JWT authorities of `trust_domain`, or `None` if the source has no bundle for it.
    fn jwt_bundle(&self, trust_domain: &TrustDomain) -> Option<Arc<JwtBundle>>;

    /// A number that changes on every update, so verifiers can cache results keyed by it. See
    /// [`X509BundleSource::generation`].
    fn generation(&self) -> u64;
}

/// A single bundle is a source of its own trust domain only. Each lookup allocates one small
/// handle (the authorities themselves are shared); a [`BundleSet`](crate::BundleSet) hands out
/// its existing `Arc`s instead, as does
/// [`SpiffeBundle::x509_bundle`](crate::SpiffeBundle::x509_bundle).
impl X509BundleSource for X509Bundle {
    fn x509_bundle(&self, trust_domain: &TrustDomain) -> Option<Arc<X509Bundle>> {
        (self.trust_domain() == trust_domain).then(|| Arc::new(self.clone()))
    }

    fn generation(&self) -> u64 {
        Self::generation(self)
    }
}

/// A single bundle is a source of its own trust domain only; see the X.509 counterpart.
impl JwtBundleSource for JwtBundle {
    fn jwt_bundle(&self, trust_domain: &TrustDomain) -> Option<Arc<JwtBundle>> {
        (self.trust_domain() == trust_domain).then(|| Arc::new(self.clone()))
    }

    fn generation(&self) -> u64 {
        Self::generation(self)
    }
}

macro_rules! forward {
    ($($wrapper:ty),*) => {$(
        impl<T: X509BundleSource + ?Sized> X509BundleSource for $wrapper {
            fn x509_bundle(&self, trust_domain: &TrustDomain) -> Option<Arc<X509Bundle>> {
                (**self).x509_bundle(trust_domain)
            }

            fn generation(&self) -> u64 {
                X509BundleSource::generation(&**self)
            }
        }

        impl<T: JwtBundleSource + ?Sized> JwtBundleSource for $wrapper {
            fn jwt_bundle(&self, trust_domain: &TrustDomain) -> Option<Arc<JwtBundle>> {
                (**self).jwt_bundle(trust_domain)
            }

            fn generation(&self) -> u64 {
                JwtBundleSource::generation(&**self)
            }
        }
    )*};
}

forward!(&T, Box<T>, Arc<T>);
