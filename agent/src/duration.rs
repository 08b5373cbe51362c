//! Durations as the configuration file writes them.

use std::time::Duration;

use crate::error::{ConfigError, Error};

/// A duration as the config file writes it, `<number><unit>` with unit `s`, `m`, `h` or `d`
/// and above zero (`90s`, `10m`, `1h`, `7d`); `None` otherwise.
pub fn parse_duration(text: &str) -> Option<Duration> {
    duration_field("", text).ok()
}

/// `<number><unit>` with unit `s`, `m`, `h` or `d`, greater than zero.
pub(crate) fn duration_field(field: &str, value: &str) -> Result<Duration, Error> {
    let error = || ConfigError::Duration {
        field: field.to_owned(),
        value: value.to_owned(),
    };
    let split = value
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(error)?;
    let (number, unit) = value.split_at(split);
    let number: u64 = number.parse().map_err(|_| error())?;
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(error().into()),
    };
    let seconds = number.checked_mul(scale).ok_or_else(error)?;
    if seconds == 0 {
        return Err(error().into());
    }
    Ok(Duration::from_secs(seconds))
}
