//! The server's tunables, with their defaults.

use std::time::Duration;

use crate::rate_limit::RateLimit;

/// Tunables set through [`ServerBuilder`](crate::ServerBuilder).
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) agent_svid_ttl: Duration,
    pub(crate) x509_svid_ttl: Duration,
    pub(crate) jwt_svid_ttl: Duration,
    pub(crate) max_clock_skew: Duration,
    pub(crate) max_batch: usize,
    pub(crate) rate_limit: RateLimit,
    pub(crate) entry_refresh: Duration,
    pub(crate) max_node_staleness: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            agent_svid_ttl: Duration::from_secs(3600),
            x509_svid_ttl: Duration::from_secs(3600),
            jwt_svid_ttl: Duration::from_secs(300),
            max_clock_skew: Duration::from_secs(300),
            max_batch: 1000,
            rate_limit: RateLimit::default(),
            entry_refresh: Duration::from_secs(5),
            max_node_staleness: Duration::ZERO,
        }
    }
}
