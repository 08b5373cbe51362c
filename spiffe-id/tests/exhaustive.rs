//! Character classes checked byte by byte over `0..=255` (go-spiffe `spiffeid/id_test.go`
//! style), against an oracle written here independently of the crate's lookup table.
//!
//! ASCII inputs go through both `SpiffeId::parse` and `SpiffeId::parse_bytes`; bytes `>= 0x80`
//! are not UTF-8 on their own and go through `parse_bytes`, while `parse` gets the character
//! U+0080..=U+00FF (whose UTF-8 lead byte, 0xC2 or 0xC3, is the one reported).
#![allow(
    clippy::indexing_slicing,
    reason = "helpers outside #[test] fns, which clippy.toml does not exempt; a panic is a failed test"
)]

use spiffe_id::{Error, IdPattern, SpiffeId, TrustDomain};

/// `[a-z0-9._-]`, written out byte by byte (shared/spec/SPIFFE-DIGEST.md 1.2).
fn is_td_byte(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'_' || b == b'-'
}

/// `[A-Za-z0-9._-]` (shared/spec/SPIFFE-DIGEST.md 1.3).
fn is_path_byte(b: u8) -> bool {
    b.is_ascii_alphabetic() || b.is_ascii_digit() || b == b'.' || b == b'_' || b == b'-'
}

/// `prefix`, `byte`, `suffix` as raw bytes.
fn with_byte(prefix: &str, byte: u8, suffix: &str) -> Vec<u8> {
    let mut out = prefix.as_bytes().to_vec();
    out.push(byte);
    out.extend_from_slice(suffix.as_bytes());
    out
}

/// The character `byte` stands for when it is pasted into a `&str` (Latin-1 for `>= 0x80`).
fn as_char(byte: u8) -> char {
    char::from(byte)
}

/// The first byte of `byte`'s character in UTF-8: the byte itself for ASCII, else the lead byte.
fn utf8_lead(byte: u8) -> u8 {
    as_char(byte).to_string().as_bytes()[0]
}

/// Checks `parse_bytes` on the raw byte and `parse` on the character agree with `expect`
/// (which is given the byte a scanner sees first at that position).
fn check_id(prefix: &str, byte: u8, suffix: &str, expect: impl Fn(u8) -> Result<String, Error>) {
    let raw = with_byte(prefix, byte, suffix);
    let got = SpiffeId::parse_bytes(&raw).map(|id| id.as_str().to_owned());
    assert_eq!(got, expect(byte), "parse_bytes, byte 0x{byte:02x}");

    let text = format!("{prefix}{}{suffix}", as_char(byte));
    let got = SpiffeId::parse(&text).map(|id| id.as_str().to_owned());
    assert_eq!(got, expect(utf8_lead(byte)), "parse, byte 0x{byte:02x}");
}

/// Every byte in the middle of a trust domain: accepted iff in `[a-z0-9._-]`, else
/// `BadTrustDomainChar` at its offset; `/` ends the trust domain instead
/// (shared/spec/SPIFFE-DIGEST.md 1.2, 8.5 ID-5, ID-6).
#[test]
fn trust_domain_accepts_exactly_the_allowed_bytes() {
    let mut accepted = 0;
    for byte in 0..=255u8 {
        check_id("spiffe://a", byte, "c/p", |seen| {
            if byte == b'/' {
                // `spiffe://a/c/p`: trust domain `a`, path `/c/p`.
                Ok("spiffe://a/c/p".to_owned())
            } else if is_td_byte(byte) {
                Ok(format!("spiffe://a{}c/p", as_char(byte)))
            } else {
                Err(Error::BadTrustDomainChar { at: 10, byte: seen })
            }
        });
        if is_td_byte(byte) {
            let id = SpiffeId::parse_bytes(&with_byte("spiffe://a", byte, "c/p")).unwrap();
            assert_eq!(id.trust_domain_name(), format!("a{}c", as_char(byte)));
            assert_eq!(id.path(), "/p");
            accepted += 1;
        }
    }
    assert_eq!(accepted, 26 + 10 + 3);
    let slash = SpiffeId::parse("spiffe://a/c/p").unwrap();
    assert_eq!(slash.trust_domain_name(), "a");
    assert_eq!(slash.path(), "/c/p");
}

/// Every byte as the whole trust domain: a `/` there leaves the trust domain empty
/// (shared/spec/SPIFFE-DIGEST.md 1.1, 1.2).
#[test]
fn single_byte_trust_domain_accepts_exactly_the_allowed_bytes() {
    for byte in 0..=255u8 {
        check_id("spiffe://", byte, "/p", |seen| {
            if byte == b'/' {
                Err(Error::MissingTrustDomain)
            } else if is_td_byte(byte) {
                Ok(format!("spiffe://{}/p", as_char(byte)))
            } else {
                Err(Error::BadTrustDomainChar { at: 9, byte: seen })
            }
        });
    }
}

/// `TrustDomain::parse` (and `from_id_or_name` on bare names) accept exactly the allowed bytes;
/// `/` is a bad character in a bare name (shared/spec/SPIFFE-DIGEST.md 1.2, 1.6).
#[test]
fn bare_trust_domain_accepts_exactly_the_allowed_bytes() {
    for byte in 0..=255u8 {
        let name = format!("a{}c", as_char(byte));
        let expected = if is_td_byte(byte) {
            Ok(name.clone())
        } else {
            Err(Error::BadTrustDomainChar {
                at: 1,
                byte: utf8_lead(byte),
            })
        };
        let got = TrustDomain::parse(&name).map(|td| td.as_str().to_owned());
        assert_eq!(got, expected, "TrustDomain::parse, byte 0x{byte:02x}");
        let got = TrustDomain::from_id_or_name(&name).map(|td| td.as_str().to_owned());
        assert_eq!(got, expected, "from_id_or_name, byte 0x{byte:02x}");
    }
}

/// Every byte in the middle of a path segment: accepted iff in `[A-Za-z0-9._-]`, else
/// `BadPathChar` at its offset; `/` splits the segment in two
/// (shared/spec/SPIFFE-DIGEST.md 1.3, 8.5 ID-12).
#[test]
fn path_accepts_exactly_the_allowed_bytes() {
    let mut accepted = 0;
    for byte in 0..=255u8 {
        check_id("spiffe://td/a", byte, "c", |seen| {
            if byte == b'/' {
                Ok("spiffe://td/a/c".to_owned())
            } else if is_path_byte(byte) {
                Ok(format!("spiffe://td/a{}c", as_char(byte)))
            } else {
                Err(Error::BadPathChar { at: 13, byte: seen })
            }
        });
        if is_path_byte(byte) {
            accepted += 1;
        }
    }
    assert_eq!(accepted, 26 + 26 + 10 + 3);
    let slash = SpiffeId::parse("spiffe://td/a/c").unwrap();
    assert_eq!(slash.segments().collect::<Vec<_>>(), ["a", "c"]);
}

/// Every byte as a whole one-byte segment: `.` is a dot segment and `/` makes an empty one
/// (shared/spec/SPIFFE-DIGEST.md 1.3, 8.5 ID-9, ID-10).
#[test]
fn single_byte_segment_accepts_exactly_the_allowed_bytes() {
    for byte in 0..=255u8 {
        check_id("spiffe://td/", byte, "", |seen| match byte {
            b'.' => Err(Error::DotSegment { at: 11 }),
            b'/' => Err(Error::EmptySegment { at: 11 }),
            _ if is_path_byte(byte) => Ok(format!("spiffe://td/{}", as_char(byte))),
            _ => Err(Error::BadPathChar { at: 12, byte: seen }),
        });
    }
}

/// Builders check every byte of a segment the same way, and a segment may not contain `/`
/// (shared/spec/SPIFFE-DIGEST.md 1.3, go-spiffe `FromSegments`).
#[test]
fn from_segments_accepts_exactly_the_allowed_bytes() {
    let td = TrustDomain::parse("td").unwrap();
    for byte in 0..=255u8 {
        let segment = format!("a{}c", as_char(byte));
        let expected = if is_path_byte(byte) {
            Ok(format!("spiffe://td/{segment}"))
        } else {
            // Offsets count within the joined path `/a?c`.
            Err(Error::BadPathChar {
                at: 2,
                byte: utf8_lead(byte),
            })
        };
        let got = SpiffeId::from_segments(&td, [&segment]).map(|id| id.as_str().to_owned());
        assert_eq!(got, expected, "from_segments, byte 0x{byte:02x}");
        let path = format!("/{segment}");
        let got = SpiffeId::from_path(&td, &path).map(|id| id.as_str().to_owned());
        let expected_path = if byte == b'/' {
            Ok("spiffe://td/a/c".to_owned())
        } else {
            expected
        };
        assert_eq!(got, expected_path, "from_path, byte 0x{byte:02x}");
    }
}

/// Literal pattern segments follow the path class; `*` inside a segment is a wildcard error,
/// not a bad path character.
#[test]
fn pattern_segment_accepts_exactly_the_allowed_bytes() {
    for byte in 0..=255u8 {
        let text = format!("spiffe://td/a{}c", as_char(byte));
        let expected = match byte {
            b'*' => Err(Error::BadWildcard { at: 11 }),
            b'/' => Ok(text.clone()),
            _ if is_path_byte(byte) => Ok(text.clone()),
            _ => Err(Error::BadPathChar {
                at: 13,
                byte: utf8_lead(byte),
            }),
        };
        let got = IdPattern::parse(&text).map(|p| p.as_str().to_owned());
        assert_eq!(got, expected, "IdPattern::parse, byte 0x{byte:02x}");
    }
}
