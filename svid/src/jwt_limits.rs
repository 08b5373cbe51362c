//! The JWT-SVID limits, re-exported by `jwt`. Their own module so that
//! [`JwtError`](crate::JwtError) can name them in its messages without importing `jwt`.

use core::time::Duration;

/// The longest token accepted. A JWT-SVID is a few hundred bytes; 16 KiB is twice the 8 KiB
/// header line limit common HTTP servers apply, so no legitimate token comes near it, and
/// decoding stays cheap for hostile input.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// The most `aud` values accepted. The spec recommends a single audience (JWT-SVID 3.2); 32 is
/// the bound other SPIFFE libraries settled on after unbounded arrays were reported.
pub const MAX_AUDIENCES: usize = 32;

/// The longest clock-skew allowance [`JwtValidator::with_leeway`](crate::JwtValidator::with_leeway) accepts. Leeway stretches a
/// bearer token's life; five minutes is already generous for synchronised clocks.
pub const MAX_LEEWAY: Duration = Duration::from_secs(300);
