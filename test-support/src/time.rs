//! The fixed instants the tests run at, so certificate validity never depends on the wall clock.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls_pki_types::UnixTime;

/// 2026-01-01T00:00:00Z, the default `notBefore` ([`crate::x509::Validity::default`]).
pub const NOT_BEFORE: u64 = 1_767_225_600;
/// 2027-01-01T00:00:00Z, the default `notAfter`.
pub const NOT_AFTER: u64 = 1_798_761_600;
/// 2026-06-01T00:00:00Z, the verification time of the tests.
pub const NOW: u64 = 1_780_272_000;

/// The fixed verification time, [`NOW`].
pub fn now() -> UnixTime {
    at(NOW)
}

/// A verification time in seconds since the Unix epoch.
pub fn at(secs: u64) -> UnixTime {
    UnixTime::since_unix_epoch(Duration::from_secs(secs))
}

/// Seconds since the Unix epoch of midnight UTC on a date, as rcgen encodes it.
#[track_caller]
pub fn epoch(year: i32, month: u8, day: u8) -> u64 {
    u64::try_from(rcgen::date_time_ymd(year, month, day).unix_timestamp()).unwrap()
}

/// The wall clock in seconds since the Unix epoch (for peers that only validate at the system
/// clock, and for live-server tests).
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}
