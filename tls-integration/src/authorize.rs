//! [`Authorizer`]: who may talk to us, decided on the verified peer SVID.

use std::fmt;
use std::sync::Arc;

use spiffe_id::IdMatcher;
use svid::VerifiedX509Svid;

use crate::error::Denied;

/// Decides whether a peer whose X.509-SVID verified may connect.
///
/// It runs after the chain has verified against the bundle of the peer's own trust domain, on
/// every full handshake, and only ever sees a [`VerifiedX509Svid`] (the SPIFFE ID and the
/// verified path): an unverified chain never reaches it.
///
/// Implemented by [`IdMatcher`] (exact IDs, trust domains, path prefixes, `*`/`**` patterns and
/// their combinations) and by closures through [`from_fn`]. There is no default authorizer:
/// every configuration names one. Accepting any verified peer is possible only through
/// [`danger::AnyPeer`](crate::danger::AnyPeer).
///
/// ```
/// use spiffe_id::IdMatcher;
/// use tls_integration::Authorizer;
///
/// fn check(authorizer: &dyn Authorizer) { let _ = authorizer; }
///
/// // Only workloads of the payments namespace, whatever their service account.
/// check(&IdMatcher::pattern("spiffe://prod.example/ns/payments/**")?);
///
/// // Or anything you can compute from the verified SVID.
/// check(&tls_integration::authorize::from_fn(|peer| {
///     if peer.spiffe_id().path().starts_with("/ns/payments/") {
///         Ok(())
///     } else {
///         Err(tls_integration::Denied::new("not in the payments namespace"))
///     }
/// }));
/// # Ok::<(), spiffe_id::Error>(())
/// ```
pub trait Authorizer: Send + Sync {
    /// `Ok(())` to accept `peer`, or the reason it is refused.
    ///
    /// # Errors
    /// A [`Denied`] saying why the peer may not connect; the handshake fails with it.
    fn authorize(&self, peer: &VerifiedX509Svid) -> Result<(), Denied>;
}

/// Accepts a peer whose SPIFFE ID the matcher matches.
impl Authorizer for IdMatcher {
    fn authorize(&self, peer: &VerifiedX509Svid) -> Result<(), Denied> {
        if self.matches(peer.spiffe_id()) {
            Ok(())
        } else {
            Err(Denied::new(format!("SPIFFE ID does not match {self}")))
        }
    }
}

impl<A: Authorizer + ?Sized> Authorizer for Arc<A> {
    fn authorize(&self, peer: &VerifiedX509Svid) -> Result<(), Denied> {
        (**self).authorize(peer)
    }
}

impl<A: Authorizer + ?Sized> Authorizer for Box<A> {
    fn authorize(&self, peer: &VerifiedX509Svid) -> Result<(), Denied> {
        (**self).authorize(peer)
    }
}

impl<A: Authorizer + ?Sized> Authorizer for &A {
    fn authorize(&self, peer: &VerifiedX509Svid) -> Result<(), Denied> {
        (**self).authorize(peer)
    }
}

/// An authorizer made from a closure over the verified SVID.
///
/// ```
/// use tls_integration::{Denied, authorize};
///
/// let only_web = authorize::from_fn(|peer| match peer.spiffe_id().path() {
///     "/web" => Ok(()),
///     other => Err(Denied::new(format!("{other} is not /web"))),
/// });
/// # let _ = only_web;
/// ```
pub fn from_fn<F>(f: F) -> FnAuthorizer<F>
where
    F: Fn(&VerifiedX509Svid) -> Result<(), Denied> + Send + Sync,
{
    FnAuthorizer(f)
}

/// The [`Authorizer`] [`from_fn`] returns.
#[derive(Clone, Copy)]
pub struct FnAuthorizer<F>(F);

impl<F> Authorizer for FnAuthorizer<F>
where
    F: Fn(&VerifiedX509Svid) -> Result<(), Denied> + Send + Sync,
{
    fn authorize(&self, peer: &VerifiedX509Svid) -> Result<(), Denied> {
        (self.0)(peer)
    }
}

impl<F> fmt::Debug for FnAuthorizer<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FnAuthorizer(..)")
    }
}
