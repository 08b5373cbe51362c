//! One test per SPIFFE ID requirement of `shared/spec/SPIFFE-DIGEST.md` 8.5 (ID-1 to ID-14).
//!
//! ID-1 to ID-12 are negative tests asserting the exact [`Error`] variant; ID-13 and ID-14
//! are positive tests.

use spiffe_id::{Error, IdMatcher, SpiffeId, TrustDomain};

fn parse(input: &str) -> Result<SpiffeId, Error> {
    SpiffeId::parse(input)
}

/// A scheme other than exactly `spiffe://` is rejected, including other spellings of the same
/// scheme: shared/spec/SPIFFE-DIGEST.md 8.5 ID-1; 1.1, 1.5 (scheme case).
#[test]
fn id01_rejects_scheme_other_than_lowercase_spiffe() {
    for input in [
        "https://example.org/a",
        "http://example.org/a",
        "urn:spiffe:example.org",
        "SPIFFE://example.org/a",
        "Spiffe://example.org/a",
        "spiffE://example.org/a",
        "spiffe:/example.org/a",
        "spiffe:example.org/a",
        "spiffe//example.org/a",
        "spiffe:\\\\example.org/a",
        "xspiffe://example.org/a",
        " spiffe://example.org/a",
        "\u{feff}spiffe://example.org/a",
        "example.org/a",
        "spiffe",
        "spiffe:/",
    ] {
        assert_eq!(parse(input), Err(Error::BadScheme), "{input:?}");
    }
    assert_eq!(parse(""), Err(Error::Empty));
    assert_eq!(
        parse("spiffe://example.org/a").unwrap().as_str(),
        "spiffe://example.org/a"
    );
}

/// An empty trust domain is rejected: shared/spec/SPIFFE-DIGEST.md 8.5 ID-2; 1.1.
#[test]
fn id02_rejects_empty_trust_domain() {
    for input in ["spiffe://", "spiffe:///", "spiffe:///path", "spiffe:///a/b"] {
        assert_eq!(parse(input), Err(Error::MissingTrustDomain), "{input:?}");
    }
    assert_eq!(TrustDomain::parse(""), Err(Error::MissingTrustDomain));
    assert_eq!(
        TrustDomain::from_id_or_name("spiffe://"),
        Err(Error::MissingTrustDomain)
    );
}

/// A query or fragment is rejected, after the trust domain or in the path:
/// shared/spec/SPIFFE-DIGEST.md 8.5 ID-3; 1.1.
#[test]
fn id03_rejects_query_and_fragment() {
    assert_eq!(
        parse("spiffe://example.org?x=1"),
        Err(Error::BadTrustDomainChar { at: 20, byte: b'?' })
    );
    assert_eq!(
        parse("spiffe://example.org#frag"),
        Err(Error::BadTrustDomainChar { at: 20, byte: b'#' })
    );
    assert_eq!(
        parse("spiffe://example.org/a?x=1"),
        Err(Error::BadPathChar { at: 22, byte: b'?' })
    );
    assert_eq!(
        parse("spiffe://example.org/a#frag"),
        Err(Error::BadPathChar { at: 22, byte: b'#' })
    );
    assert_eq!(
        parse("spiffe://example.org/?"),
        Err(Error::BadPathChar { at: 21, byte: b'?' })
    );
    assert_eq!(
        parse("spiffe://example.org/#"),
        Err(Error::BadPathChar { at: 21, byte: b'#' })
    );
}

/// Userinfo and ports are rejected: shared/spec/SPIFFE-DIGEST.md 8.5 ID-4; 1.1.
#[test]
fn id04_rejects_userinfo_and_port() {
    assert_eq!(
        parse("spiffe://example.org:8080/a"),
        Err(Error::BadTrustDomainChar { at: 20, byte: b':' })
    );
    assert_eq!(
        parse("spiffe://example.org:/a"),
        Err(Error::BadTrustDomainChar { at: 20, byte: b':' })
    );
    assert_eq!(
        parse("spiffe://user@example.org/a"),
        Err(Error::BadTrustDomainChar { at: 13, byte: b'@' })
    );
    assert_eq!(
        parse("spiffe://@example.org/a"),
        Err(Error::BadTrustDomainChar { at: 9, byte: b'@' })
    );
    assert_eq!(
        parse("spiffe://user:pass@example.org/a"),
        Err(Error::BadTrustDomainChar { at: 13, byte: b':' })
    );
}

/// Uppercase in the trust domain is rejected, never lowercased:
/// shared/spec/SPIFFE-DIGEST.md 8.5 ID-5; 1.2.
#[test]
fn id05_rejects_uppercase_trust_domain() {
    assert_eq!(
        parse("spiffe://Example.org/a"),
        Err(Error::BadTrustDomainChar { at: 9, byte: b'E' })
    );
    assert_eq!(
        parse("spiffe://example.orG"),
        Err(Error::BadTrustDomainChar { at: 19, byte: b'G' })
    );
    assert_eq!(
        TrustDomain::parse("exAmple.org"),
        Err(Error::BadTrustDomainChar { at: 2, byte: b'A' })
    );
    for upper in b'A'..=b'Z' {
        let input = format!("spiffe://x{}/a", char::from(upper));
        assert_eq!(
            parse(&input),
            Err(Error::BadTrustDomainChar {
                at: 10,
                byte: upper
            }),
            "{input:?}"
        );
    }
}

/// Trust domain bytes outside `[a-z0-9._-]` are rejected, including those a regex range
/// `[.-_]` would let in: shared/spec/SPIFFE-DIGEST.md 8.5 ID-6; 1.2.
#[test]
fn id06_rejects_trust_domain_char_outside_class() {
    // 0x2F..=0x5E is what `.-_` copied into a regex would wrongly admit; `/` ends the TD.
    for byte in (0x30u8..=0x5e).filter(|b| !b.is_ascii_digit()) {
        let input = format!("spiffe://a{}b/p", char::from(byte));
        assert_eq!(
            parse(&input),
            Err(Error::BadTrustDomainChar { at: 10, byte }),
            "{input:?}"
        );
    }
    for (input, at, byte) in [
        ("spiffe://ex ample.org", 11, b' '),
        ("spiffe://exa~mple.org", 12, b'~'),
        ("spiffe://example.org\\a", 20, b'\\'),
        ("spiffe://[::1]/a", 9, b'['),
        ("spiffe://ex\u{e4}mple.org/a", 11, 0xc3),
        ("spiffe://example.org\t/a", 20, b'\t'),
    ] {
        assert_eq!(
            parse(input),
            Err(Error::BadTrustDomainChar { at, byte }),
            "{input:?}"
        );
    }
}

/// Percent-encoding in the trust domain is rejected, not decoded:
/// shared/spec/SPIFFE-DIGEST.md 8.5 ID-7; 1.2.
#[test]
fn id07_rejects_percent_encoding_in_trust_domain() {
    assert_eq!(
        parse("spiffe://exa%6Dple.org/a"),
        Err(Error::BadTrustDomainChar { at: 12, byte: b'%' })
    );
    assert_eq!(
        parse("spiffe://%65xample.org"),
        Err(Error::BadTrustDomainChar { at: 9, byte: b'%' })
    );
    assert_eq!(
        TrustDomain::parse("example%2eorg"),
        Err(Error::BadTrustDomainChar { at: 7, byte: b'%' })
    );
}

/// Percent-encoding in the path is rejected, even when it decodes to a legal character:
/// shared/spec/SPIFFE-DIGEST.md 8.5 ID-8; 1.3.
#[test]
fn id08_rejects_percent_encoding_in_path() {
    assert_eq!(
        parse("spiffe://example.org/%41"),
        Err(Error::BadPathChar { at: 21, byte: b'%' })
    );
    assert_eq!(
        parse("spiffe://example.org/a/b%2Fc"),
        Err(Error::BadPathChar { at: 24, byte: b'%' })
    );
    assert_eq!(
        parse("spiffe://example.org/%2e%2e"),
        Err(Error::BadPathChar { at: 21, byte: b'%' })
    );
}

/// An empty path segment is rejected wherever it is: shared/spec/SPIFFE-DIGEST.md 8.5 ID-9;
/// 1.3.
#[test]
fn id09_rejects_empty_path_segment() {
    assert_eq!(
        parse("spiffe://example.org//a"),
        Err(Error::EmptySegment { at: 20 })
    );
    assert_eq!(
        parse("spiffe://example.org/a//b"),
        Err(Error::EmptySegment { at: 22 })
    );
    assert_eq!(
        parse("spiffe://example.org/a/b///c"),
        Err(Error::EmptySegment { at: 24 })
    );
    // `//` at the very end is an empty segment followed by a trailing slash; the first
    // problem found scanning left to right wins.
    assert_eq!(
        parse("spiffe://example.org/a//"),
        Err(Error::EmptySegment { at: 22 })
    );
}

/// A segment that is exactly `.` or `..` is rejected, never resolved; longer dot runs are
/// fine: shared/spec/SPIFFE-DIGEST.md 8.5 ID-10; 1.3.
#[test]
fn id10_rejects_dot_segments() {
    for (input, at) in [
        ("spiffe://example.org/.", 20),
        ("spiffe://example.org/..", 20),
        ("spiffe://example.org/./a", 20),
        ("spiffe://example.org/a/..", 22),
        ("spiffe://example.org/a/../b", 22),
        ("spiffe://example.org/a/b/./c", 24),
    ] {
        assert_eq!(parse(input), Err(Error::DotSegment { at }), "{input:?}");
    }
    for valid in [
        "spiffe://example.org/...",
        "spiffe://example.org/.a",
        "spiffe://example.org/a.",
        "spiffe://example.org/..a",
    ] {
        assert_eq!(parse(valid).unwrap().as_str(), valid);
    }
}

/// A trailing `/` is rejected, also right after the trust domain:
/// shared/spec/SPIFFE-DIGEST.md 8.5 ID-11; 1.3.
#[test]
fn id11_rejects_trailing_slash() {
    for input in [
        "spiffe://example.org/",
        "spiffe://example.org/a/",
        "spiffe://example.org/a/b/",
    ] {
        assert_eq!(parse(input), Err(Error::TrailingSlash), "{input:?}");
    }
    let td = TrustDomain::parse("example.org").unwrap();
    assert_eq!(SpiffeId::from_path(&td, "/"), Err(Error::TrailingSlash));
    assert_eq!(SpiffeId::from_path(&td, "/a/"), Err(Error::TrailingSlash));
}

/// Path bytes outside `[A-Za-z0-9._-]` are rejected, including RFC 3986 unreserved `~` and
/// the sub-delims: shared/spec/SPIFFE-DIGEST.md 8.5 ID-12; 1.3.
#[test]
fn id12_rejects_path_char_outside_class() {
    for byte in *b"%:@~+!$&'()*,;= \\\"<>[]^`{|}\n\r\t\0\x7f" {
        let input = format!("spiffe://example.org/a{}b", char::from(byte));
        assert_eq!(
            parse(&input),
            Err(Error::BadPathChar { at: 22, byte }),
            "{input:?}"
        );
    }
    assert_eq!(
        parse("spiffe://example.org/caf\u{e9}"),
        Err(Error::BadPathChar { at: 24, byte: 0xc3 })
    );
    assert_eq!(
        SpiffeId::parse_bytes(b"spiffe://example.org/a\xffb"),
        Err(Error::BadPathChar { at: 22, byte: 0xff })
    );
}

/// A 2048-byte SPIFFE ID is accepted (MUST), and so is a longer one (the parser does not
/// reject on length alone): shared/spec/SPIFFE-DIGEST.md 8.5 ID-13; 1.4.
#[test]
fn id13_accepts_2048_byte_id() {
    let prefix = "spiffe://example.org/";
    let input = format!("{prefix}{}", "a".repeat(2048 - prefix.len()));
    assert_eq!(input.len(), 2048);
    let id = parse(&input).unwrap();
    assert_eq!(id.as_str(), input);
    assert_eq!(id.path().len(), 2048 - "spiffe://example.org".len());

    // Many segments, 2048 bytes in all.
    let many = format!("spiffe://example.org{}", "/ab".repeat(676));
    assert_eq!(many.len(), 2048);
    assert_eq!(parse(&many).unwrap().segments().count(), 676);

    let longer = format!("{prefix}{}", "a".repeat(5000));
    assert_eq!(parse(&longer).unwrap().as_str(), longer);
}

/// IP-looking and DNS-looking trust domains are opaque names: nothing is normalised, so
/// `127.0.0.1` and `127.000.000.001` stay distinct, as do `example.org.` and `example.org`:
/// shared/spec/SPIFFE-DIGEST.md 8.5 ID-14; 1.2.
#[test]
fn id14_treats_ip_and_dns_looking_trust_domains_as_opaque_names() {
    let ip = parse("spiffe://127.0.0.1/a").unwrap();
    let padded = parse("spiffe://127.000.000.001/a").unwrap();
    assert_eq!(ip.trust_domain_name(), "127.0.0.1");
    assert_eq!(padded.trust_domain_name(), "127.000.000.001");
    assert_ne!(ip, padded);
    assert_ne!(ip.trust_domain(), padded.trust_domain());
    assert!(!IdMatcher::member_of(ip.trust_domain()).matches(&padded));

    let dns = parse("spiffe://example.org/a").unwrap();
    let fqdn = parse("spiffe://example.org./a").unwrap();
    assert_eq!(fqdn.trust_domain_name(), "example.org.");
    assert_ne!(dns, fqdn);
    assert_ne!(dns.trust_domain(), fqdn.trust_domain());
    assert!(!fqdn.is_member_of(&dns.trust_domain()));
    assert!(!IdMatcher::path_prefix(dns.trust_domain().id()).matches(&fqdn));

    // Both kinds go through the same rules: accepted as written, refused on the same bytes.
    for name in [
        "127.0.0.1",
        "127.000.000.001",
        "0x7f.1",
        "example.org.",
        "xn--bcher-kva.example",
    ] {
        assert_eq!(TrustDomain::parse(name).unwrap().as_str(), name);
    }
    assert_eq!(
        TrustDomain::parse("127.0.0.1:80"),
        Err(Error::BadTrustDomainChar { at: 9, byte: b':' })
    );
    assert_eq!(
        TrustDomain::parse("example.org:80"),
        Err(Error::BadTrustDomainChar { at: 11, byte: b':' })
    );
}
