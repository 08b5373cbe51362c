//! The byte scanner behind every parser and builder in this crate.
//!
//! Written byte by byte on purpose: the specification's classes `[a-z0-9.-_]` and
//! `[a-zA-Z0-9.-_]` turn into ranges when pasted into a regex, and URL libraries normalise
//! (lowercase, percent-decode, resolve dot segments) where SPIFFE requires rejection
//! (digest 1.2, 1.5).

use crate::Error;

/// The only accepted scheme and authority separator, compared as exact bytes.
pub(crate) const SCHEME: &str = "spiffe://";

/// Byte may appear in a trust domain name: `a-z 0-9 . - _` (SPIFFE-ID 2.1).
const TD: u8 = 0b01;
/// Byte may appear in a path segment: `a-z A-Z 0-9 . - _` (SPIFFE-ID 2.2).
const SEG: u8 = 0b10;

/// One lookup per byte keeps the hot loop branch-light.
static CLASS: [u8; 256] = build_class_table();

#[allow(
    clippy::indexing_slicing,
    reason = "const fn over a fixed 256-entry table; i < 256 is the loop bound"
)]
const fn build_class_table() -> [u8; 256] {
    let mut table = [0u8; 256];
    let mut i = 0usize;
    while i < 256 {
        let lower = i >= 0x61 && i <= 0x7a;
        let upper = i >= 0x41 && i <= 0x5a;
        let digit = i >= 0x30 && i <= 0x39;
        let punct = i == 0x2e || i == 0x2d || i == 0x5f; // . - _
        if lower || digit || punct {
            table[i] = TD | SEG;
        } else if upper {
            table[i] = SEG;
        }
        i += 1;
    }
    table
}

fn has_class(byte: u8, class: u8) -> bool {
    CLASS
        .get(usize::from(byte))
        .is_some_and(|bits| bits & class != 0)
}

/// Whether `byte` may appear in a trust domain name.
pub(crate) fn is_trust_domain_byte(byte: u8) -> bool {
    has_class(byte, TD)
}

/// Whether `byte` may appear in a path segment.
pub(crate) fn is_segment_byte(byte: u8) -> bool {
    has_class(byte, SEG)
}

/// Checks a bare trust domain name. `base` is the offset of `name` in the caller's input, so
/// errors point into what the user handed in.
pub(crate) fn check_trust_domain(name: &[u8], base: usize) -> Result<(), Error> {
    if let Some(at) = name.iter().position(|&b| !is_trust_domain_byte(b)) {
        return Err(bad_td_char(name, at, base));
    }
    check_trust_domain_len(name.len())
}

fn bad_td_char(name: &[u8], at: usize, base: usize) -> Error {
    Error::BadTrustDomainChar {
        at: base + at,
        byte: name.get(at).copied().unwrap_or_default(),
    }
}

fn check_trust_domain_len(len: usize) -> Result<(), Error> {
    if len == 0 {
        return Err(Error::MissingTrustDomain);
    }
    if len > crate::MAX_TRUST_DOMAIN_LEN {
        return Err(Error::TrustDomainTooLong { len });
    }
    Ok(())
}

/// Checks a full SPIFFE ID and returns where the trust domain ends (the offset of the path).
///
/// Checks run in go-spiffe's order (digest 1.7): empty, scheme, trust domain characters up to
/// the first `/`, trust domain non-empty and not too long, then the path left to right.
pub(crate) fn check_id(input: &[u8]) -> Result<usize, Error> {
    if input.is_empty() {
        return Err(Error::Empty);
    }
    let rest = input
        .strip_prefix(SCHEME.as_bytes())
        .ok_or(Error::BadScheme)?;
    let base = SCHEME.len();
    let td_len = match rest.iter().position(|&b| !is_trust_domain_byte(b)) {
        None => rest.len(),
        Some(at) if rest.get(at) == Some(&b'/') => at,
        Some(at) => return Err(bad_td_char(rest, at, base)),
    };
    check_trust_domain_len(td_len)?;
    let td_end = base + td_len;
    check_path(input.get(td_end..).unwrap_or_default(), td_end)?;
    Ok(td_end)
}

/// Checks a path: empty, or one or more `/segment`. `base` is the offset of `path` in the
/// caller's input.
///
/// One pass over the bytes: `/` is not a segment byte, so the scan for the first non-segment
/// byte stops at the end of each segment or at a bad byte, whichever comes first.
pub(crate) fn check_path(path: &[u8], base: usize) -> Result<(), Error> {
    let mut rest = match path.split_first() {
        None => return Ok(()),
        Some((b'/', after_slash)) => after_slash,
        Some(_) => return Err(Error::PathMissingLeadingSlash),
    };
    // Offset of the first byte of the segment being scanned.
    let mut at = base + 1;
    loop {
        let len = segment_len(rest);
        let (segment, tail) = rest.split_at(len);
        match tail.split_first() {
            None => return check_segment_shape(segment, at, true),
            Some((b'/', next)) => {
                check_segment_shape(segment, at, false)?;
                at += len + 1;
                rest = next;
            }
            Some((&byte, _)) => return Err(Error::BadPathChar { at: at + len, byte }),
        }
    }
}

/// The length of the run of segment bytes at the start of `bytes`.
fn segment_len(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .position(|&b| !is_segment_byte(b))
        .unwrap_or(bytes.len())
}

/// Checks one segment. `at` is the offset of its first byte (just after its `/`).
pub(crate) fn check_segment(segment: &[u8], at: usize, is_last: bool) -> Result<(), Error> {
    let len = segment_len(segment);
    match segment.get(len) {
        None => check_segment_shape(segment, at, is_last),
        Some(&byte) => Err(Error::BadPathChar { at: at + len, byte }),
    }
}

/// The rules for a segment made of segment bytes only: not empty, not `.` or `..`. `at` is the
/// offset of its first byte.
fn check_segment_shape(segment: &[u8], at: usize, is_last: bool) -> Result<(), Error> {
    let slash = at.saturating_sub(1);
    match segment {
        [] if is_last => Err(Error::TrailingSlash),
        [] => Err(Error::EmptySegment { at: slash }),
        b"." | b".." => Err(Error::DotSegment { at: slash }),
        _ => Ok(()),
    }
}

/// Refuses to build IDs longer than [`MAX_ID_LEN`](crate::MAX_ID_LEN) (SPIFFE-ID 2.3: should not
/// generate).
pub(crate) fn check_generated_len(len: usize) -> Result<(), Error> {
    if len > crate::MAX_ID_LEN {
        Err(Error::IdTooLong { len })
    } else {
        Ok(())
    }
}
