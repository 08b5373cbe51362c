//! Limits and small conversions the response checks share.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls_pki_types::UnixTime;
use spiffe_id::SpiffeId;

use crate::error::ResponseError;
use crate::types::Limits;

/// How far in the future a `notBefore` may be and still be accepted: the agent's clock may run
/// slightly ahead of ours, and a freshly minted SVID must not be refused for that. Five minutes
/// is the JWT leeway bound of the `svid` crate ([`svid::MAX_LEEWAY`]).
pub(super) const CLOCK_SKEW: Duration = Duration::from_secs(300);

/// Hints longer than this are not supported (Workload API 5.2.1 says implementations SHOULD
/// NOT support hints over 1024 bytes); such an SVID is kept without its hint.
pub(super) const MAX_HINT_LEN: usize = 1024;

pub(super) trait AsSecsDuration {
    fn as_secs_duration(&self) -> Duration;
}

impl AsSecsDuration for UnixTime {
    fn as_secs_duration(&self) -> Duration {
        Duration::from_secs(self.as_secs())
    }
}

pub(super) fn unix_time(time: SystemTime) -> UnixTime {
    UnixTime::since_unix_epoch(time.duration_since(UNIX_EPOCH).unwrap_or_default())
}

pub(super) fn spiffe_id(value: &str, index: usize) -> Result<SpiffeId, ResponseError> {
    SpiffeId::parse(value).map_err(|source| ResponseError::BadSpiffeId {
        value: value.to_owned(),
        index,
        source,
    })
}

pub(super) fn check_count(count: usize, max: usize) -> Result<(), ResponseError> {
    if count > max {
        return Err(ResponseError::TooManySvids { count, max });
    }
    Ok(())
}

pub(super) fn check_bundle_count(count: usize, limits: &Limits) -> Result<(), ResponseError> {
    if count > limits.max_bundles {
        return Err(ResponseError::TooManyBundles {
            count,
            max: limits.max_bundles,
        });
    }
    Ok(())
}
