//! An opt-in, bounded cache of verification results.
//!
//! A service that sees the same client certificate chain or the same bearer token on every
//! request pays for one signature check per request; with the cache it pays for a hash and a
//! byte comparison. An entry is only reused when
//!
//! - the input is byte-for-byte the one verified (the fingerprint only picks the slot), and the
//!   caller's `matches` confirms every setting that decides the verdict is the same,
//! - the caller confirms the generation the result was computed with is still current (any
//!   bundle update makes the entry unusable: a removed authority or key takes effect on the
//!   next call),
//! - and `now` lies inside the result's validity window (latest `notBefore` / `nbf` to earliest
//!   `notAfter` / `exp`, with the verifier's own leeway).
//!
//! Entries are replaced, never trusted beyond those checks; the cache holds at most `capacity`
//! results and evicts an arbitrary one when full.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::RwLock;

use rustls_pki_types::UnixTime;

/// What a cached result is valid for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Validity {
    /// The generation the result was computed with (of the bundle source, or of the bundle
    /// itself); the caller decides which and compares it on every hit.
    pub(crate) generation: u64,
    /// Seconds since the epoch; the result holds from here ...
    pub(crate) from: u64,
    /// ... to here, inclusive.
    pub(crate) until: u64,
}

impl Validity {
    fn covers(&self, now: u64) -> bool {
        self.from <= now && now <= self.until
    }
}

struct Entry<K, V> {
    input: K,
    validity: Validity,
    value: V,
}

/// A bounded map from a fingerprint to the exact input and its result.
pub(crate) struct ResultCache<K, V> {
    capacity: usize,
    entries: RwLock<HashMap<u64, Entry<K, V>>>,
}

impl<K, V: Clone> ResultCache<K, V> {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            entries: RwLock::new(HashMap::new()),
        }
    }

    /// The most entries kept.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// The cached result for the input with this fingerprint, with the generation it was
    /// computed with, if `matches` confirms the stored input (and settings) are the same and
    /// `now` is inside its window. The caller must still check the generation is current; it
    /// does so outside the lock, so no caller code runs while the cache is locked.
    pub(crate) fn get(
        &self,
        fingerprint: u64,
        matches: impl FnOnce(&K) -> bool,
        now: UnixTime,
    ) -> Option<(u64, V)> {
        let entries = self.entries.read().ok()?;
        let entry = entries.get(&fingerprint)?;
        (entry.validity.covers(now.as_secs()) && matches(&entry.input))
            .then(|| (entry.validity.generation, entry.value.clone()))
    }

    pub(crate) fn insert(
        &self,
        fingerprint: u64,
        input: K,
        validity: Validity,
        value: V,
        now: UnixTime,
    ) {
        let Ok(mut entries) = self.entries.write() else {
            return;
        };
        if entries.len() >= self.capacity && !entries.contains_key(&fingerprint) {
            // Drop everything already expired, then one arbitrary entry if that freed nothing:
            // bounded work, bounded memory.
            let now = now.as_secs();
            entries.retain(|_, e| e.validity.until >= now);
            if entries.len() >= self.capacity {
                if let Some(victim) = entries.keys().next().copied() {
                    entries.remove(&victim);
                }
            }
        }
        entries.insert(
            fingerprint,
            Entry {
                input,
                validity,
                value,
            },
        );
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.read().map(|e| e.len()).unwrap_or(0)
    }
}

/// A fingerprint over the parts of the input most likely to differ (signatures sit at the end
/// of certificates and tokens), so computing it costs far less than hashing everything. `salt`
/// (the verifier's settings) keeps differently configured verifiers in different slots.
pub(crate) fn fingerprint<'a>(parts: impl IntoIterator<Item = &'a [u8]>, salt: impl Hash) -> u64 {
    const TAIL: usize = 48;
    let mut hasher = DefaultHasher::new();
    salt.hash(&mut hasher);
    for part in parts {
        part.len().hash(&mut hasher);
        part.get(part.len().saturating_sub(TAIL)..)
            .unwrap_or_default()
            .hash(&mut hasher);
    }
    hasher.finish()
}

impl<K, V> core::fmt::Debug for ResultCache<K, V> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ResultCache")
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use core::time::Duration;

    use super::*;

    fn at(secs: u64) -> UnixTime {
        UnixTime::since_unix_epoch(Duration::from_secs(secs))
    }

    #[test]
    fn hit_requires_same_input_and_window_and_reports_generation() {
        let cache = ResultCache::new(4);
        let validity = Validity {
            generation: 7,
            from: 100,
            until: 200,
        };
        cache.insert(1, b"input".to_vec(), validity, "ok", at(150));
        let same = |k: &Vec<u8>| k == b"input";
        assert_eq!(cache.get(1, same, at(150)), Some((7, "ok")));
        assert_eq!(
            cache.get(1, same, at(200)),
            Some((7, "ok")),
            "until is inclusive"
        );
        assert_eq!(
            cache.get(1, same, at(100)),
            Some((7, "ok")),
            "from is inclusive"
        );
        assert_eq!(cache.get(1, |k: &Vec<u8>| k == b"other", at(150)), None);
        assert_eq!(cache.get(1, same, at(201)), None, "expired");
        assert_eq!(cache.get(1, same, at(99)), None, "not yet valid");
        assert_eq!(cache.get(2, same, at(150)), None);
    }

    #[test]
    fn stays_bounded() {
        let cache = ResultCache::new(3);
        for i in 0..100u64 {
            cache.insert(
                i,
                i,
                Validity {
                    generation: 1,
                    from: 0,
                    until: 10,
                },
                i,
                at(5),
            );
        }
        assert!(cache.len() <= 3);
        assert_eq!(cache.get(99, |k| *k == 99, at(5)), Some((1, 99)));
    }

    #[test]
    fn fingerprint_depends_on_tails_lengths_and_salt() {
        let a: &[u8] = &[1; 100];
        let mut b = [1u8; 100];
        b[99] = 2;
        assert_ne!(fingerprint([a], 0), fingerprint([&b[..]], 0));
        assert_ne!(fingerprint([a], 0), fingerprint([a], 1));
        assert_ne!(fingerprint([&a[..50]], 0), fingerprint([&a[..51]], 0));
        assert_eq!(fingerprint([a], 3), fingerprint([a], 3));
    }
}
