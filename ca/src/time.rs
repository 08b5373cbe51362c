//! Seconds since the epoch, and their X.509 encoding (RFC 5280 4.1.2.5).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::der::{self, tag};

/// Whole seconds since the Unix epoch; times before 1970 count as 0.
pub(crate) fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The instant `seconds` after the epoch.
pub(crate) fn from_unix_seconds(seconds: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(seconds)
}

/// The time since the Unix epoch; times before 1970 count as zero.
pub(crate) fn since_epoch(now: SystemTime) -> Duration {
    now.duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
}

/// The latest instant a certificate can name: 9999-12-31T23:59:59Z.
pub(crate) const MAX_X509_SECONDS: u64 = 253_402_300_799;

/// Encodes `seconds` as UTCTime for 1950..=2049 and GeneralizedTime otherwise (RFC 5280
/// 4.1.2.5), clamped to year 9999.
pub(crate) fn x509_time(seconds: u64) -> Vec<u8> {
    let seconds = seconds.min(MAX_X509_SECONDS);
    let days = seconds / 86_400;
    let rest = seconds % 86_400;
    let (year, month, day) = civil_from_days(days);
    let (hour, minute, second) = (rest / 3600, (rest % 3600) / 60, rest % 60);
    if year < 2050 {
        let text = format!(
            "{:02}{month:02}{day:02}{hour:02}{minute:02}{second:02}Z",
            year % 100
        );
        der::tlv(tag::UTC_TIME, text.as_bytes())
    } else {
        let text = format!("{year:04}{month:02}{day:02}{hour:02}{minute:02}{second:02}Z");
        der::tlv(tag::GENERALIZED_TIME, text.as_bytes())
    }
}

/// Year, month, day of the `days`-th day after 1970-01-01 (proleptic Gregorian calendar;
/// H. Hinnant's `civil_from_days`, restricted to non-negative days).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_known_dates() {
        assert_eq!(&x509_time(0)[2..], b"700101000000Z");
        // 2024-02-29T12:34:56Z
        assert_eq!(&x509_time(1_709_210_096)[2..], b"240229123456Z");
        // 2050-01-01T00:00:00Z switches to GeneralizedTime.
        let t = x509_time(2_524_608_000);
        assert_eq!(t[0], tag::GENERALIZED_TIME);
        assert_eq!(&t[2..], b"20500101000000Z");
        assert_eq!(&x509_time(u64::MAX)[2..], b"99991231235959Z");
    }
}
