//! Which nodes were recently seen attested in the store, so that a call need not read the
//! store again within [`ServerBuilder::max_node_staleness`](crate::ServerBuilder::max_node_staleness).
//!
//! Only "attested" is cached, never "refused". An eviction through this replica forgets the
//! node at once; an eviction through another replica of the same store applies here once the
//! node's last read is older than the staleness bound. With a bound of zero (the default)
//! every call reads the store, as SPIRE's `max_attested_node_info_staleness` does by default.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use spiffe_id::SpiffeId;

/// Entries kept before stale ones are swept out (then twice the live count).
const SWEEP_FLOOR: usize = 1024;

/// Recently confirmed attested nodes, each with the instant of its confirmation.
#[derive(Debug)]
pub(crate) struct NodeCache {
    staleness: Duration,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    seen: HashMap<SpiffeId, Instant>,
    /// The size at which the next sweep happens.
    sweep_at: usize,
    /// Bumped by each [`NodeCache::forget`]: a store read that began before an eviction
    /// must not confirm the node after it.
    generation: u64,
}

impl NodeCache {
    /// A cache trusting a confirmation for `staleness` (zero: never trusted).
    pub(crate) fn new(staleness: Duration) -> Self {
        Self {
            staleness,
            state: Mutex::new(State {
                seen: HashMap::new(),
                sweep_at: SWEEP_FLOOR,
                generation: 0,
            }),
        }
    }

    /// Whether `node` was confirmed attested less than the staleness bound ago.
    pub(crate) fn is_fresh(&self, node: &SpiffeId, now: Instant) -> bool {
        if self.staleness.is_zero() {
            return false;
        }
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state
            .seen
            .get(node)
            .is_some_and(|seen| now.saturating_duration_since(*seen) < self.staleness)
    }

    /// The value to pass to [`confirm`](Self::confirm), taken before reading the store.
    pub(crate) fn generation(&self) -> u64 {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .generation
    }

    /// Records that a store read begun at `generation` found `node` attested; ignored when
    /// a node was forgotten since (that read may predate an eviction).
    pub(crate) fn confirm(&self, node: &SpiffeId, now: Instant, generation: u64) {
        if self.staleness.is_zero() {
            return;
        }
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.generation != generation {
            return;
        }
        state.seen.insert(node.clone(), now);
        if state.seen.len() >= state.sweep_at {
            let staleness = self.staleness;
            state
                .seen
                .retain(|_, seen| now.saturating_duration_since(*seen) < staleness);
            state.sweep_at = (state.seen.len() * 2).max(SWEEP_FLOOR);
        }
    }

    /// Forgets `node`: evicted here, or not found in the store.
    pub(crate) fn forget(&self, node: &SpiffeId) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.seen.remove(node);
        state.generation = state.generation.wrapping_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(n: usize) -> SpiffeId {
        format!("spiffe://example.org/agent/n{n}").parse().unwrap()
    }

    #[test]
    fn a_confirmation_is_trusted_for_the_bound_only() {
        let cache = NodeCache::new(Duration::from_secs(5));
        let start = Instant::now();
        assert!(!cache.is_fresh(&node(1), start));
        cache.confirm(&node(1), start, cache.generation());
        assert!(cache.is_fresh(&node(1), start + Duration::from_secs(4)));
        assert!(!cache.is_fresh(&node(1), start + Duration::from_secs(5)));
        assert!(!cache.is_fresh(&node(2), start));
    }

    /// Forgetting (an eviction here) applies at once, whatever the bound.
    #[test]
    fn forgetting_applies_at_once() {
        let cache = NodeCache::new(Duration::from_secs(3600));
        let now = Instant::now();
        cache.confirm(&node(1), now, cache.generation());
        cache.forget(&node(1));
        assert!(!cache.is_fresh(&node(1), now));
    }

    /// A store read that began before an eviction cannot bring the node back afterwards.
    #[test]
    fn a_read_older_than_an_eviction_confirms_nothing() {
        let cache = NodeCache::new(Duration::from_secs(3600));
        let now = Instant::now();
        let before_the_read = cache.generation();
        cache.forget(&node(1));
        cache.confirm(&node(1), now, before_the_read);
        assert!(!cache.is_fresh(&node(1), now));
        cache.confirm(&node(1), now, cache.generation());
        assert!(cache.is_fresh(&node(1), now));
    }

    /// A zero bound (the default) never answers from memory.
    #[test]
    fn a_zero_bound_caches_nothing() {
        let cache = NodeCache::new(Duration::ZERO);
        let now = Instant::now();
        cache.confirm(&node(1), now, cache.generation());
        assert!(!cache.is_fresh(&node(1), now));
    }

    /// Stale confirmations are swept out as the cache grows: memory follows the live nodes.
    #[test]
    fn stale_entries_are_swept() {
        let cache = NodeCache::new(Duration::from_secs(5));
        let start = Instant::now();
        for n in 0..SWEEP_FLOOR - 1 {
            cache.confirm(&node(n), start, 0);
        }
        let later = start + Duration::from_secs(10);
        cache.confirm(&node(SWEEP_FLOOR), later, 0);
        let state = cache.state.lock().unwrap();
        assert_eq!(state.seen.len(), 1);
        assert_eq!(state.sweep_at, SWEEP_FLOOR);
    }
}
