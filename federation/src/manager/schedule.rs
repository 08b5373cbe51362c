//! When a relationship fetches its peer's bundle next (SPIFFE Federation 4.1, 6.2; digest
//! 7.5): every `spiffe_refresh_hint`, five minutes without one, clamped to bounds the
//! operator sets, a little earlier at random so that many relationships do not poll in step.
//! A failed fetch is retried at the next polling interval, not sooner (digest 7.5: "do not
//! retry aggressively"); consecutive failures stretch it, up to the upper bound.

use std::time::Duration;

/// The refresh interval without a `spiffe_refresh_hint` (digest 7.5).
pub const DEFAULT_REFRESH_HINT: Duration = Duration::from_secs(300);

/// How often a relationship polls.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct RefreshPolicy {
    /// The shortest interval, whatever the peer's hint says (a hint of 0 s is a denial of
    /// service on the peer and on us).
    pub min_interval: Duration,
    /// The longest interval, whatever the hint says, and the most a run of failures stretches
    /// the retries to.
    pub max_interval: Duration,
    /// The share of the interval taken off at random (0.0 to 0.5): 0.1 polls between 90% and
    /// 100% of the interval.
    pub jitter: f64,
}

impl Default for RefreshPolicy {
    fn default() -> Self {
        Self {
            min_interval: Duration::from_secs(5),
            max_interval: Duration::from_secs(3600),
            jitter: 0.1,
        }
    }
}

impl RefreshPolicy {
    /// Bounds `[min, max]` (swapped if given the wrong way round), jitter 10%.
    pub fn new(min_interval: Duration, max_interval: Duration) -> Self {
        let (min_interval, max_interval) = if min_interval <= max_interval {
            (min_interval, max_interval)
        } else {
            (max_interval, min_interval)
        };
        Self {
            min_interval,
            max_interval,
            ..Self::default()
        }
    }

    /// The polling interval for a bundle with `hint` (none: [`DEFAULT_REFRESH_HINT`]), before
    /// jitter.
    pub fn interval(&self, hint: Option<Duration>) -> Duration {
        hint.unwrap_or(DEFAULT_REFRESH_HINT)
            .clamp(self.min_interval, self.max_interval)
    }

    /// The wait after a successful fetch of a bundle with `hint`; `random` in `[0, 1)`.
    pub fn after_success(&self, hint: Option<Duration>, random: f64) -> Duration {
        self.jittered(self.interval(hint), random)
    }

    /// The wait after the `failures`-th failure in a row (1 for the first), with `hint` the one
    /// of the bundle held (if any): the polling interval, doubled for each further failure,
    /// at most `max_interval`.
    pub fn after_failure(&self, hint: Option<Duration>, failures: u32, random: f64) -> Duration {
        let doublings = failures.saturating_sub(1).min(16);
        let stretched = self
            .interval(hint)
            .saturating_mul(1_u32 << doublings)
            .min(self.max_interval.max(self.interval(hint)));
        self.jittered(stretched, random)
    }

    fn jittered(&self, interval: Duration, random: f64) -> Duration {
        let share = if self.jitter.is_finite() {
            self.jitter.clamp(0.0, 0.5)
        } else {
            0.0
        };
        let random = if random.is_finite() {
            random.clamp(0.0, 1.0)
        } else {
            0.0
        };
        interval
            .mul_f64(1.0 - share * random)
            .max(self.min_interval.min(interval))
    }
}

/// A number in `[0, 1)` from the OS generator (0.5 if it fails: jitter is not security).
pub(crate) fn random_unit() -> f64 {
    let mut bytes = [0_u8; 4];
    if getrandom::fill(&mut bytes).is_err() {
        return 0.5;
    }
    f64::from(u32::from_le_bytes(bytes)) / (f64::from(u32::MAX) + 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    /// Digest 7.5: poll every refresh hint; five minutes without one.
    #[test]
    fn the_hint_sets_the_interval_within_bounds() {
        let policy = RefreshPolicy::new(S(10), S(600));
        assert_eq!(policy.interval(Some(S(60))), S(60));
        assert_eq!(policy.interval(None), DEFAULT_REFRESH_HINT);
        assert_eq!(policy.interval(Some(S(0))), S(10), "a zero hint is clamped");
        assert_eq!(policy.interval(Some(S(86_400))), S(600));
        assert_eq!(RefreshPolicy::new(S(600), S(10)), policy, "bounds swapped");
    }

    #[test]
    fn jitter_only_shortens_and_stays_above_the_minimum() {
        let policy = RefreshPolicy::new(S(10), S(600));
        assert_eq!(policy.after_success(Some(S(100)), 0.0), S(100));
        assert_eq!(policy.after_success(Some(S(100)), 1.0), S(90));
        assert_eq!(policy.after_success(Some(S(10)), 0.999), S(10));
        assert_eq!(policy.after_success(Some(S(100)), f64::NAN), S(100));
    }

    /// Digest 7.5: a failed poll is retried at the next interval, never sooner; failures in a
    /// row stretch it up to the upper bound.
    #[test]
    fn failures_retry_at_the_interval_then_back_off() {
        let policy = RefreshPolicy::new(S(10), S(600));
        assert_eq!(policy.after_failure(Some(S(60)), 1, 0.0), S(60));
        assert_eq!(policy.after_failure(Some(S(60)), 2, 0.0), S(120));
        assert_eq!(policy.after_failure(Some(S(60)), 4, 0.0), S(480));
        assert_eq!(policy.after_failure(Some(S(60)), 5, 0.0), S(600));
        assert_eq!(policy.after_failure(Some(S(60)), u32::MAX, 0.0), S(600));
    }

    #[test]
    fn random_units_are_in_range() {
        for _ in 0..1000 {
            let r = random_unit();
            assert!((0.0..1.0).contains(&r), "{r}");
        }
    }
}
