//! Certificate times (RFC 5280 4.1.2.5) to seconds since the Unix epoch.
//!
//! DER fixes the formats: `YYMMDDHHMMSSZ` for UTCTime and `YYYYMMDDHHMMSSZ` for GeneralizedTime,
//! always UTC, never fractional seconds.

use crate::error::CertificateError;

/// Decodes a UTCTime; years 50..=99 are 19xx, 00..=49 are 20xx (RFC 5280 4.1.2.5.1).
pub(crate) fn utc_time(value: &[u8]) -> Result<u64, CertificateError> {
    let [y1, y2, rest @ ..] = value else {
        return Err(CertificateError::BadTime);
    };
    let yy = two_digits(*y1, *y2)?;
    let year = if yy >= 50 { 1900 + yy } else { 2000 + yy };
    date_time(year, rest)
}

/// Decodes a GeneralizedTime without fractional seconds (RFC 5280 4.1.2.5.2).
pub(crate) fn generalized_time(value: &[u8]) -> Result<u64, CertificateError> {
    let [y1, y2, y3, y4, rest @ ..] = value else {
        return Err(CertificateError::BadTime);
    };
    let year = two_digits(*y1, *y2)? * 100 + two_digits(*y3, *y4)?;
    date_time(year, rest)
}

/// `MMDDHHMMSSZ` after the year.
fn date_time(year: u64, rest: &[u8]) -> Result<u64, CertificateError> {
    let [m1, m2, d1, d2, h1, h2, i1, i2, s1, s2, b'Z'] = rest else {
        return Err(CertificateError::BadTime);
    };
    let month = two_digits(*m1, *m2)?;
    let day = two_digits(*d1, *d2)?;
    let hour = two_digits(*h1, *h2)?;
    let minute = two_digits(*i1, *i2)?;
    let second = two_digits(*s1, *s2)?;
    if year < 1970
        || !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return Err(CertificateError::BadTime);
    }
    let days = days_since_epoch(year, month, day);
    Ok(days * 86_400 + hour * 3_600 + minute * 60 + second)
}

fn two_digits(tens: u8, ones: u8) -> Result<u64, CertificateError> {
    if tens.is_ascii_digit() && ones.is_ascii_digit() {
        Ok(u64::from(tens - b'0') * 10 + u64::from(ones - b'0'))
    } else {
        Err(CertificateError::BadTime)
    }
}

fn is_leap(year: u64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: u64, month: u64) -> u64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Leap years in `1..=year`.
fn leap_years_through(year: u64) -> u64 {
    year / 4 - year / 100 + year / 400
}

/// Days from 1970-01-01 to the given date (year >= 1970), in constant time.
fn days_since_epoch(year: u64, month: u64, day: u64) -> u64 {
    let leap_days = leap_years_through(year - 1) - leap_years_through(1969);
    let whole_years = (year - 1970) * 365 + leap_days;
    let months: u64 = (1..month).map(|m| days_in_month(year, m)).sum();
    whole_years + months + day - 1
}

/// Shows an instant as RFC 3339 UTC (`2025-01-31T23:59:59Z`), for error messages.
pub(crate) struct Rfc3339<'a>(pub(crate) &'a rustls_pki_types::UnixTime);

impl core::fmt::Display for Rfc3339<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let secs = self.0.as_secs();
        let (days, rest) = (secs / 86_400, secs % 86_400);
        let (year, month, day) = civil_from_days(days);
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
            rest / 3_600,
            rest % 3_600 / 60,
            rest % 60
        )
    }
}

/// (year, month, day) of the day `days` after 1970-01-01 (H. Hinnant's `civil_from_days`,
/// for non-negative day counts).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339_round_trip() {
        for (der, text) in [
            (&b"19700101000000Z"[..], "1970-01-01T00:00:00Z"),
            (b"20000229120000Z", "2000-02-29T12:00:00Z"),
            (b"20491231235959Z", "2049-12-31T23:59:59Z"),
            (b"21000301000001Z", "2100-03-01T00:00:01Z"),
            (b"99991231235959Z", "9999-12-31T23:59:59Z"),
        ] {
            let secs = generalized_time(der).unwrap();
            let time =
                rustls_pki_types::UnixTime::since_unix_epoch(core::time::Duration::from_secs(secs));
            assert_eq!(Rfc3339(&time).to_string(), text);
        }
    }

    #[test]
    fn decodes_known_instants() {
        assert_eq!(utc_time(b"700101000000Z").unwrap(), 0);
        assert_eq!(utc_time(b"491231235959Z").unwrap(), 2_524_607_999);
        assert_eq!(generalized_time(b"20000229120000Z").unwrap(), 951_825_600);
        assert_eq!(
            generalized_time(b"99991231235959Z").unwrap(),
            253_402_300_799
        );
    }

    #[test]
    fn rejects_malformed_times() {
        for bad in [
            &b"700101000000"[..], // no Z
            b"700101000000+0100", // offset
            b"701301000000Z",     // month 13
            b"700230000000Z",     // Feb 30
            b"190229000000Z",     // 2019 is not a leap year
            b"700101240000Z",     // hour 24
            b"70010100000aZ",     // not a digit
            b"700101000060Z",     // second 60
        ] {
            assert!(utc_time(bad).is_err(), "{:?}", core::str::from_utf8(bad));
        }
        assert!(generalized_time(b"19691231235959Z").is_err());
        assert!(generalized_time(b"20000101000000.5Z").is_err());
    }
}
