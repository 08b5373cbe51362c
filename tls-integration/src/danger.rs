//! Choices that weaken authorization. Each one is explicit and greppable.

use svid::VerifiedX509Svid;

use crate::authorize::Authorizer;
use crate::error::Denied;

/// Accepts **every** peer whose X.509-SVID verifies against the bundle of its own trust
/// domain, whatever its SPIFFE ID.
///
/// Any workload of any trust domain in the bundle source may then connect, including federated
/// ones. That is rarely what a service wants: prefer an [`IdMatcher`](spiffe_id::IdMatcher)
/// naming the callers you expect, or at least `IdMatcher::member_of(trust_domain)`.
///
/// ```
/// use tls_integration::danger::AnyPeer;
/// let _authorizer = AnyPeer;
/// ```
#[derive(Clone, Copy, Debug, Default)]
#[allow(clippy::exhaustive_structs, reason = "a unit marker, built by name")]
pub struct AnyPeer;

impl Authorizer for AnyPeer {
    fn authorize(&self, _peer: &VerifiedX509Svid) -> Result<(), Denied> {
        Ok(())
    }
}
