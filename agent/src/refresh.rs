//! When an SVID is replaced: at half its lifetime, minus a random share so that SVIDs minted
//! together do not all rotate at once.

use std::time::Duration;

use ring::rand::SecureRandom as _;
use tokio::time::Instant;

/// The share of an SVID's lifetime subtracted at random from its half-life refresh time, so
/// that SVIDs minted together (at start-up, after a CA rotation) do not all rotate at once
/// (Workload API §4.3 allows splay; SPIRE rotates at half life).
const JITTER_FRACTION: u32 = 10;

/// When an SVID minted now with lifetime `ttl` should be replaced: at half its lifetime,
/// earlier by a random amount up to a tenth of it.
pub(crate) fn refresh_time(now: Instant, ttl: Duration) -> Instant {
    let half = ttl / 2;
    let jitter_max = ttl / JITTER_FRACTION;
    let mut bytes = [0_u8; 8];
    let random = match ring::rand::SystemRandom::new().fill(&mut bytes) {
        Ok(()) => u64::from_le_bytes(bytes),
        Err(_) => 0,
    };
    let jitter_nanos = u64::try_from(jitter_max.as_nanos()).unwrap_or(u64::MAX);
    let jitter = Duration::from_nanos(random.checked_rem(jitter_nanos).unwrap_or(0));
    now + half.saturating_sub(jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_is_between_forty_and_fifty_percent_of_the_lifetime() {
        let now = Instant::now();
        let ttl = Duration::from_secs(100);
        for _ in 0..100 {
            let at = refresh_time(now, ttl) - now;
            assert!(at <= Duration::from_secs(50), "{at:?}");
            assert!(at >= Duration::from_secs(40), "{at:?}");
        }
    }
}
