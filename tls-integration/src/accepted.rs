//! The leaf certificates this crate's verifiers accepted, so a [`PeerIdentity`] is only ever
//! the result of our own verification.
//!
//! rustls does not hand a verifier's result to the connection, and a rustls config may carry
//! any verifier: a `WebPkiClientVerifier`, or a `danger` one that accepts everything. Reading
//! the URI SAN of whatever certificate the peer presented would then turn a certificate that
//! no SPIFFE bundle vouches for into an "authenticated" SPIFFE ID. Instead, every successful
//! verification by [`SpiffeServerVerifier`] or [`SpiffeClientVerifier`] (chain valid against
//! the peer's own trust domain bundle, authorizer passed) records the exact leaf bytes with
//! the SPIFFE ID the verifier derived; peer identity is looked up here by the leaf the
//! connection saw. A leaf that none of our verifiers accepted has no identity.
//!
//! The record is process-wide because rustls configs give no way back to their verifier. A
//! leaf accepted by one of our verifiers therefore also has an identity on a connection whose
//! config used another verifier; that identity is still one a SPIFFE bundle vouches for. The
//! record is bounded ([`CAPACITY`]); an entry ends at the leaf's expiry. The lookup happens
//! right after the handshake, so an eviction in between needs [`CAPACITY`] other leaves
//! accepted in that moment, and then fails closed (no identity).
//!
//! [`PeerIdentity`]: crate::PeerIdentity
//! [`SpiffeServerVerifier`]: crate::SpiffeServerVerifier
//! [`SpiffeClientVerifier`]: crate::SpiffeClientVerifier

use std::collections::{HashMap, VecDeque};
use std::sync::{LazyLock, Mutex, MutexGuard, PoisonError};

use rustls_pki_types::UnixTime;
use spiffe_id::SpiffeId;
use svid::VerifiedX509Svid;

/// How many distinct leaves are remembered: far more than the handshakes that can finish
/// between one verification and the lookup that follows it, and about 10 MiB at most with
/// typical 1 KiB leaves plus IDs.
pub(crate) const CAPACITY: usize = 8192;

static ACCEPTED: LazyLock<AcceptedLeaves> = LazyLock::new(|| AcceptedLeaves::new(CAPACITY));

/// Records that one of our verifiers accepted `verified` (leaf first).
pub(crate) fn record(verified: &VerifiedX509Svid) {
    ACCEPTED.record(verified, UnixTime::now());
}

/// The SPIFFE ID one of our verifiers derived for exactly this leaf, while it is unexpired.
pub(crate) fn spiffe_id_of(leaf: &[u8]) -> Option<SpiffeId> {
    ACCEPTED.lookup(leaf, UnixTime::now())
}

struct Accepted {
    spiffe_id: SpiffeId,
    expires_at: UnixTime,
}

/// A bounded map from leaf DER to what our verifier derived from it, oldest out first.
struct AcceptedLeaves {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    leaves: HashMap<Box<[u8]>, Accepted>,
    /// Insertion order, for eviction. A leaf re-recorded is moved to the back.
    order: VecDeque<Box<[u8]>>,
}

impl AcceptedLeaves {
    fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Every mutation below leaves the map and the queue consistent, so a poisoned lock is
    /// still usable.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn record(&self, verified: &VerifiedX509Svid, now: UnixTime) {
        let Some(leaf) = verified.path().first() else {
            return;
        };
        let accepted = Accepted {
            spiffe_id: verified.spiffe_id().clone(),
            expires_at: verified.expires_at(),
        };
        let mut inner = self.lock();
        let inner = &mut *inner;
        if let Some(existing) = inner.leaves.get_mut(leaf.as_ref()) {
            *existing = accepted;
            return;
        }
        while inner.leaves.len() >= self.capacity {
            let Some(oldest) = inner.order.pop_front() else {
                break;
            };
            inner.leaves.remove(&oldest);
        }
        // Expired entries at the front go first: they can no longer be looked up anyway.
        while let Some(front) = inner.order.front() {
            let expired = inner
                .leaves
                .get(front)
                .is_none_or(|entry| entry.expires_at.as_secs() < now.as_secs());
            if !expired {
                break;
            }
            if let Some(front) = inner.order.pop_front() {
                inner.leaves.remove(&front);
            }
        }
        let key: Box<[u8]> = leaf.as_ref().into();
        inner.order.push_back(key.clone());
        inner.leaves.insert(key, accepted);
    }

    fn lookup(&self, leaf: &[u8], now: UnixTime) -> Option<SpiffeId> {
        let inner = self.lock();
        let accepted = inner.leaves.get(leaf)?;
        (accepted.expires_at.as_secs() >= now.as_secs()).then(|| accepted.spiffe_id.clone())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn verified(td: &str) -> VerifiedX509Svid {
        let ca = ca::TestCa::new(td);
        let svid = ca.x509_svid(&format!("spiffe://{td}/w"));
        svid::X509Verifier::new(
            ca.bundle_set(),
            &svid::Crypto::default(),
            svid::Usage::ClientAuth,
        )
        .verify(svid.chain(), UnixTime::now())
        .unwrap()
    }

    #[test]
    fn only_recorded_leaves_have_an_identity() {
        let leaves = AcceptedLeaves::new(4);
        let a = verified("a.example");
        let b = verified("b.example");
        let now = UnixTime::now();
        leaves.record(&a, now);
        assert_eq!(
            leaves.lookup(a.path()[0].as_ref(), now).as_ref(),
            Some(a.spiffe_id())
        );
        assert_eq!(leaves.lookup(b.path()[0].as_ref(), now), None);
    }

    #[test]
    fn an_expired_leaf_has_no_identity() {
        let leaves = AcceptedLeaves::new(4);
        let a = verified("a.example");
        leaves.record(&a, UnixTime::now());
        let later = UnixTime::since_unix_epoch(Duration::from_secs(
            a.expires_at().as_secs().saturating_add(1),
        ));
        assert_eq!(leaves.lookup(a.path()[0].as_ref(), later), None);
    }

    #[test]
    fn the_oldest_leaf_goes_first_past_capacity() {
        let leaves = AcceptedLeaves::new(2);
        let now = UnixTime::now();
        let all: Vec<_> = ["a.example", "b.example", "c.example"]
            .into_iter()
            .map(verified)
            .collect();
        for v in &all {
            leaves.record(v, now);
        }
        assert_eq!(leaves.lookup(all[0].path()[0].as_ref(), now), None);
        assert!(leaves.lookup(all[1].path()[0].as_ref(), now).is_some());
        assert!(leaves.lookup(all[2].path()[0].as_ref(), now).is_some());
        assert_eq!(leaves.lock().order.len(), 2);
    }
}
