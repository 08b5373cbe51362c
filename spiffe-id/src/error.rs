//! The one error type of this crate.

use core::fmt;

/// Why a SPIFFE ID, trust domain name or ID pattern was refused.
///
/// Every variant names the rule it enforces; section numbers refer to the SPIFFE-ID
/// specification (`SPIFFE-ID.md`). Byte offsets (`at`) count from the start of the input that
/// was handed to the parser or builder.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The input was empty.
    Empty,
    /// The input does not start with the exact bytes `spiffe://` (scheme is case-sensitive in
    /// practice and never normalised; SPIFFE-ID 2, 2.4).
    BadScheme,
    /// The authority (trust domain name) is empty (SPIFFE-ID 2.1).
    MissingTrustDomain,
    /// A trust domain name byte outside `[a-z0-9._-]` (SPIFFE-ID 2.1). This rejects uppercase,
    /// percent-encoding, userinfo (`@`), ports (`:`), IPv6 literals, queries and fragments.
    BadTrustDomainChar {
        /// Offset of the offending byte in the input.
        at: usize,
        /// The offending byte.
        byte: u8,
    },
    /// The trust domain name is longer than [`MAX_TRUST_DOMAIN_LEN`](crate::MAX_TRUST_DOMAIN_LEN)
    /// bytes (SPIFFE-ID 2.3).
    TrustDomainTooLong {
        /// The length that was found.
        len: usize,
    },
    /// The path has an empty segment (`//`) (SPIFFE-ID 2.2).
    EmptySegment {
        /// Offset of the `/` that starts the empty segment.
        at: usize,
    },
    /// The path has a segment that is exactly `.` or `..` (SPIFFE-ID 2.2).
    DotSegment {
        /// Offset of the `/` that starts the dot segment.
        at: usize,
    },
    /// The path ends with `/` (SPIFFE-ID 2.2).
    TrailingSlash,
    /// A path byte outside `[A-Za-z0-9._-]` (SPIFFE-ID 2.2). This rejects percent-encoding,
    /// queries, fragments, `:`, `@`, `~`, whitespace and non-ASCII.
    BadPathChar {
        /// Offset of the offending byte in the input.
        at: usize,
        /// The offending byte.
        byte: u8,
    },
    /// A path given to a builder is neither empty nor starts with `/` (SPIFFE-ID 2.2).
    PathMissingLeadingSlash,
    /// A builder would produce an ID longer than [`MAX_ID_LEN`](crate::MAX_ID_LEN) bytes, which
    /// implementations should not generate (SPIFFE-ID 2.3).
    IdTooLong {
        /// The length the ID would have had. Builders taking segments stop at the first
        /// segment that crosses the limit, so this counts the ID up to that segment.
        len: usize,
    },
    /// An ID pattern uses `*` or `**` other than as a whole path segment, or `**` other than as
    /// the last segment.
    BadWildcard {
        /// Offset of the segment holding the misplaced wildcard.
        at: usize,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("empty SPIFFE ID (SPIFFE-ID 2)"),
            Self::BadScheme => {
                f.write_str("scheme is missing or invalid: expected `spiffe://` (SPIFFE-ID 2)")
            }
            Self::MissingTrustDomain => f.write_str("trust domain is missing (SPIFFE-ID 2.1)"),
            Self::BadTrustDomainChar { at, byte } => write!(
                f,
                "trust domain characters are limited to lowercase letters, numbers, dots, dashes, \
                 and underscores: found byte 0x{byte:02x} at offset {at} (SPIFFE-ID 2.1)"
            ),
            Self::TrustDomainTooLong { len } => write!(
                f,
                "trust domain is {len} bytes long, more than the {} allowed (SPIFFE-ID 2.3)",
                crate::MAX_TRUST_DOMAIN_LEN
            ),
            Self::EmptySegment { at } => write!(
                f,
                "path cannot contain empty segments: at offset {at} (SPIFFE-ID 2.2)"
            ),
            Self::DotSegment { at } => write!(
                f,
                "path cannot contain dot segments: at offset {at} (SPIFFE-ID 2.2)"
            ),
            Self::TrailingSlash => f.write_str("path cannot have a trailing slash (SPIFFE-ID 2.2)"),
            Self::BadPathChar { at, byte } => write!(
                f,
                "path segment characters are limited to letters, numbers, dots, dashes, and \
                 underscores: found byte 0x{byte:02x} at offset {at} (SPIFFE-ID 2.2)"
            ),
            Self::PathMissingLeadingSlash => {
                f.write_str("path must be empty or start with a slash (SPIFFE-ID 2.2)")
            }
            Self::IdTooLong { len } => write!(
                f,
                "refusing to build a SPIFFE ID of {len} bytes, more than the {} an \
                 implementation should generate (SPIFFE-ID 2.3)",
                crate::MAX_ID_LEN
            ),
            Self::BadWildcard { at } => write!(
                f,
                "pattern wildcard at offset {at}: `*` must be a whole segment and `**` must be \
                 the last segment"
            ),
        }
    }
}

impl core::error::Error for Error {}
