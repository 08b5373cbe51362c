//! A token bucket per node: a node that floods the server with CSRs is slowed down, others are
//! not. Hand-written (twenty lines) rather than a crate: one keyed bucket with a size bound is
//! all that is needed.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use spiffe_id::SpiffeId;

/// Nodes tracked at most; beyond that, buckets that are full again are forgotten.
const MAX_TRACKED: usize = 100_000;

/// Requests per second and burst allowed per node.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct RateLimit {
    /// Sustained requests per second.
    pub per_second: f64,
    /// Requests allowed at once after a quiet period.
    pub burst: f64,
}

impl RateLimit {
    /// A limit of `per_second` with bursts of `burst`.
    pub fn new(per_second: f64, burst: f64) -> Self {
        Self { per_second, burst }
    }
}

impl Default for RateLimit {
    /// 200 SVIDs per second per node, bursts of 2,000 (a node starting with many workloads).
    fn default() -> Self {
        Self::new(200.0, 2000.0)
    }
}

pub(crate) struct Limiter {
    limit: RateLimit,
    buckets: Mutex<HashMap<SpiffeId, (f64, Instant)>>,
}

impl Limiter {
    pub(crate) fn new(limit: RateLimit) -> Self {
        Self {
            limit,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes `cost` tokens from `node`'s bucket, or says how long until they are there.
    pub(crate) fn take(&self, node: &SpiffeId, cost: f64) -> Result<(), Duration> {
        let now = Instant::now();
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() >= MAX_TRACKED && !buckets.contains_key(node) {
            let limit = self.limit;
            buckets.retain(|_, (tokens, at)| {
                *tokens + now.duration_since(*at).as_secs_f64() * limit.per_second < limit.burst
            });
        }
        let (tokens, at) = buckets
            .entry(node.clone())
            .or_insert((self.limit.burst, now));
        let refilled = (*tokens + now.duration_since(*at).as_secs_f64() * self.limit.per_second)
            .min(self.limit.burst);
        if refilled >= cost {
            *tokens = refilled - cost;
            *at = now;
            Ok(())
        } else {
            *tokens = refilled;
            *at = now;
            let wait = (cost - refilled) / self.limit.per_second.max(f64::MIN_POSITIVE);
            Err(Duration::from_secs_f64(wait.min(3600.0)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_past_its_burst_waits_and_others_do_not() {
        let limiter = Limiter::new(RateLimit::new(1.0, 3.0));
        let a: SpiffeId = "spiffe://example.org/agent/a".parse().unwrap();
        let b: SpiffeId = "spiffe://example.org/agent/b".parse().unwrap();
        assert!(limiter.take(&a, 3.0).is_ok());
        assert!(limiter.take(&a, 1.0).is_err());
        assert!(limiter.take(&b, 3.0).is_ok());
    }
}
