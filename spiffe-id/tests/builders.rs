//! Builders (`from_path`, `from_segments`, `append_path`, `append_segments`, `replace_path`,
//! `TrustDomain::id`) and the length caps of `shared/spec/SPIFFE-DIGEST.md` 1.2 and 1.4.
#![allow(
    clippy::unwrap_used,
    reason = "helpers outside #[test] fns, which clippy.toml does not exempt; a panic is a failed test"
)]

use std::collections::{BTreeSet, HashSet};

use spiffe_id::{Error, MAX_ID_LEN, MAX_TRUST_DOMAIN_LEN, SpiffeId, TrustDomain};

fn td(name: &str) -> TrustDomain {
    TrustDomain::parse(name).unwrap()
}

fn id(input: &str) -> SpiffeId {
    SpiffeId::parse(input).unwrap()
}

/// `spiffe://example.org/` (21 bytes) plus a one-segment path bringing the ID to `len` bytes.
fn path_for_total(len: usize) -> String {
    format!("/{}", "a".repeat(len - "spiffe://example.org/".len()))
}

#[test]
fn from_path_builds_the_same_id_parse_gives() {
    let example = td("example.org");
    let built = SpiffeId::from_path(&example, "/ns/prod/sa/web").unwrap();
    assert_eq!(built, id("spiffe://example.org/ns/prod/sa/web"));
    assert_eq!(built.as_str(), "spiffe://example.org/ns/prod/sa/web");
    assert_eq!(built.trust_domain(), example);
    assert_eq!(built.path(), "/ns/prod/sa/web");
    assert!(!built.is_root());
}

#[test]
fn from_path_with_empty_path_builds_the_trust_domain_id() {
    let built = SpiffeId::from_path(&td("example.org"), "").unwrap();
    assert_eq!(built.as_str(), "spiffe://example.org");
    assert!(built.is_root());
    assert_eq!(built, td("example.org").id());
}

/// A builder path must be empty or start with `/`: shared/spec/SPIFFE-DIGEST.md 1.3, 1.7
/// (`path must have a leading slash`, builder API only).
#[test]
fn from_path_rejects_path_without_leading_slash() {
    let example = td("example.org");
    for path in ["a", "a/b", ".", "*", " /a"] {
        assert_eq!(
            SpiffeId::from_path(&example, path),
            Err(Error::PathMissingLeadingSlash),
            "{path:?}"
        );
    }
}

/// Builder paths follow the parse rules, with offsets counted within the path:
/// shared/spec/SPIFFE-DIGEST.md 1.3.
#[test]
fn from_path_rejects_invalid_paths_with_offsets_into_the_path() {
    let example = td("example.org");
    for (path, error) in [
        ("/", Error::TrailingSlash),
        ("/a/", Error::TrailingSlash),
        ("//a", Error::EmptySegment { at: 0 }),
        ("/a//b", Error::EmptySegment { at: 2 }),
        ("/.", Error::DotSegment { at: 0 }),
        ("/a/../b", Error::DotSegment { at: 2 }),
        ("/a b", Error::BadPathChar { at: 2, byte: b' ' }),
        ("/%41", Error::BadPathChar { at: 1, byte: b'%' }),
        ("/a?q", Error::BadPathChar { at: 2, byte: b'?' }),
        ("/caf\u{e9}", Error::BadPathChar { at: 4, byte: 0xc3 }),
    ] {
        assert_eq!(SpiffeId::from_path(&example, path), Err(error), "{path:?}");
    }
}

#[test]
fn from_segments_joins_segments_with_slashes() {
    let example = td("example.org");
    let built = SpiffeId::from_segments(&example, ["ns", "prod", "sa", "web"]).unwrap();
    assert_eq!(built, id("spiffe://example.org/ns/prod/sa/web"));
    assert_eq!(
        built.segments().collect::<Vec<_>>(),
        ["ns", "prod", "sa", "web"]
    );
    let owned: Vec<String> = vec!["a".into(), "...".into(), ".b".into()];
    assert_eq!(
        SpiffeId::from_segments(&example, &owned).unwrap().as_str(),
        "spiffe://example.org/a/.../.b"
    );
    let none: [&str; 0] = [];
    assert_eq!(
        SpiffeId::from_segments(&example, none).unwrap(),
        example.id()
    );
}

/// A segment given to `from_segments` may not contain `/` (go-spiffe `FromSegments`):
/// shared/spec/SPIFFE-DIGEST.md 1.3.
#[test]
fn from_segments_rejects_segment_containing_slash() {
    let example = td("example.org");
    assert_eq!(
        SpiffeId::from_segments(&example, ["a/b"]),
        Err(Error::BadPathChar { at: 2, byte: b'/' })
    );
    assert_eq!(
        SpiffeId::from_segments(&example, ["ns", "/prod"]),
        Err(Error::BadPathChar { at: 4, byte: b'/' })
    );
    assert_eq!(
        SpiffeId::from_segments(&example, ["a", "b/"]),
        Err(Error::BadPathChar { at: 4, byte: b'/' })
    );
}

/// Empty segments are refused by builders too, never dropped: shared/spec/SPIFFE-DIGEST.md
/// 1.3.
#[test]
fn from_segments_rejects_empty_segment() {
    let example = td("example.org");
    assert_eq!(
        SpiffeId::from_segments(&example, [""]),
        Err(Error::EmptySegment { at: 0 })
    );
    assert_eq!(
        SpiffeId::from_segments(&example, ["a", ""]),
        Err(Error::EmptySegment { at: 2 })
    );
    assert_eq!(
        SpiffeId::from_segments(&example, ["ab", "", "c"]),
        Err(Error::EmptySegment { at: 3 })
    );
}

/// `.` and `..` segments are refused by builders, never resolved: shared/spec/SPIFFE-DIGEST.md
/// 1.3.
#[test]
fn from_segments_rejects_dot_segments() {
    let example = td("example.org");
    assert_eq!(
        SpiffeId::from_segments(&example, ["."]),
        Err(Error::DotSegment { at: 0 })
    );
    assert_eq!(
        SpiffeId::from_segments(&example, ["a", ".."]),
        Err(Error::DotSegment { at: 2 })
    );
    assert_eq!(
        SpiffeId::from_segments(&example, ["a", "..", "b"]),
        Err(Error::DotSegment { at: 2 })
    );
}

/// Segment characters outside `[A-Za-z0-9._-]` are refused: shared/spec/SPIFFE-DIGEST.md 1.3.
#[test]
fn from_segments_rejects_bad_segment_chars() {
    let example = td("example.org");
    assert_eq!(
        SpiffeId::from_segments(&example, ["ns", "pr od"]),
        Err(Error::BadPathChar { at: 6, byte: b' ' })
    );
    assert_eq!(
        SpiffeId::from_segments(&example, ["%41"]),
        Err(Error::BadPathChar { at: 1, byte: b'%' })
    );
    assert_eq!(
        SpiffeId::from_segments(&example, ["*"]),
        Err(Error::BadPathChar { at: 1, byte: b'*' })
    );
    assert_eq!(
        SpiffeId::from_segments(&example, ["ok", "caf\u{e9}"]),
        Err(Error::BadPathChar { at: 7, byte: 0xc3 })
    );
}

#[test]
fn append_path_extends_the_path_and_keeps_the_original() {
    let base = id("spiffe://example.org/ns");
    let longer = base.append_path("/prod/sa").unwrap();
    assert_eq!(longer.as_str(), "spiffe://example.org/ns/prod/sa");
    assert_eq!(base.as_str(), "spiffe://example.org/ns");
    assert_eq!(base.append_path("").unwrap(), base);
    assert_eq!(
        td("example.org").id().append_path("/x").unwrap().as_str(),
        "spiffe://example.org/x"
    );
}

/// `append_path` validates what it appends: shared/spec/SPIFFE-DIGEST.md 1.3.
#[test]
fn append_path_rejects_invalid_paths() {
    let base = id("spiffe://example.org/ns");
    assert_eq!(
        base.append_path("prod"),
        Err(Error::PathMissingLeadingSlash)
    );
    assert_eq!(base.append_path("/"), Err(Error::TrailingSlash));
    assert_eq!(base.append_path("/prod/"), Err(Error::TrailingSlash));
    assert_eq!(base.append_path("//a"), Err(Error::EmptySegment { at: 0 }));
    assert_eq!(base.append_path("/.."), Err(Error::DotSegment { at: 0 }));
    assert_eq!(
        base.append_path("/a:b"),
        Err(Error::BadPathChar { at: 2, byte: b':' })
    );
}

#[test]
fn append_segments_extends_the_path() {
    let base = id("spiffe://example.org/ns");
    assert_eq!(
        base.append_segments(["prod", "sa"]).unwrap().as_str(),
        "spiffe://example.org/ns/prod/sa"
    );
    let none: [&str; 0] = [];
    assert_eq!(base.append_segments(none).unwrap(), base);
    assert_eq!(
        td("example.org")
            .id()
            .append_segments(["a"])
            .unwrap()
            .as_str(),
        "spiffe://example.org/a"
    );
}

/// `append_segments` validates each segment, offsets counting within the appended path:
/// shared/spec/SPIFFE-DIGEST.md 1.3.
#[test]
fn append_segments_rejects_invalid_segments() {
    let base = id("spiffe://example.org/ns");
    assert_eq!(
        base.append_segments(["a/b"]),
        Err(Error::BadPathChar { at: 2, byte: b'/' })
    );
    assert_eq!(
        base.append_segments(["a", ""]),
        Err(Error::EmptySegment { at: 2 })
    );
    assert_eq!(
        base.append_segments([".."]),
        Err(Error::DotSegment { at: 0 })
    );
    assert_eq!(
        base.append_segments(["a", "b~"]),
        Err(Error::BadPathChar { at: 4, byte: b'~' })
    );
}

#[test]
fn replace_path_keeps_the_trust_domain() {
    let base = id("spiffe://example.org/ns/prod");
    let replaced = base.replace_path("/other").unwrap();
    assert_eq!(replaced.as_str(), "spiffe://example.org/other");
    assert_eq!(replaced.trust_domain(), base.trust_domain());
    assert_eq!(base.replace_path("").unwrap(), td("example.org").id());
}

/// `replace_path` validates the new path: shared/spec/SPIFFE-DIGEST.md 1.3.
#[test]
fn replace_path_rejects_invalid_paths() {
    let base = id("spiffe://example.org/ns/prod");
    assert_eq!(base.replace_path("x"), Err(Error::PathMissingLeadingSlash));
    assert_eq!(base.replace_path("/x/"), Err(Error::TrailingSlash));
    assert_eq!(base.replace_path("/./x"), Err(Error::DotSegment { at: 0 }));
}

#[test]
fn trust_domain_id_is_the_root_id_without_trailing_slash() {
    let example = td("example.org");
    let root = example.id();
    assert_eq!(root.as_str(), "spiffe://example.org");
    assert_eq!(root.to_string(), "spiffe://example.org");
    assert!(root.is_root());
    assert_eq!(root.path(), "");
    assert_eq!(root.segments().count(), 0);
    assert_eq!(root.trust_domain(), example);
    assert!(root.is_member_of(&example));
    assert_eq!(root, id("spiffe://example.org"));
}

#[test]
fn built_and_parsed_ids_are_equal_hash_alike_and_borrow_as_str() {
    let built = SpiffeId::from_segments(&td("example.org"), ["a", "b"]).unwrap();
    let parsed = id("spiffe://example.org/a/b");
    assert_eq!(built, parsed);
    let mut set = HashSet::new();
    set.insert(built);
    assert!(set.contains(&parsed));
    assert!(set.contains("spiffe://example.org/a/b"));
    assert!(!set.contains("spiffe://example.org/a/B"));
    let ordered: BTreeSet<SpiffeId> = [id("spiffe://b/x"), id("spiffe://a/y"), id("spiffe://a")]
        .into_iter()
        .collect();
    let order: Vec<&str> = ordered.iter().map(SpiffeId::as_str).collect();
    assert_eq!(order, ["spiffe://a", "spiffe://a/y", "spiffe://b/x"]);
}

/// Builders produce IDs of exactly 2048 bytes and refuse 2049 (SHOULD NOT generate longer):
/// shared/spec/SPIFFE-DIGEST.md 1.4.
#[test]
fn builders_refuse_ids_over_2048_bytes() {
    assert_eq!(MAX_ID_LEN, 2048);
    let example = td("example.org");
    let root = example.id();

    let at_cap = path_for_total(2048);
    let over = path_for_total(2049);
    let seg_at_cap = &at_cap[1..];
    let seg_over = &over[1..];

    assert_eq!(
        SpiffeId::from_path(&example, &at_cap)
            .unwrap()
            .as_str()
            .len(),
        2048
    );
    assert_eq!(
        SpiffeId::from_path(&example, &over),
        Err(Error::IdTooLong { len: 2049 })
    );
    assert_eq!(
        SpiffeId::from_segments(&example, [seg_at_cap])
            .unwrap()
            .as_str()
            .len(),
        2048
    );
    assert_eq!(
        SpiffeId::from_segments(&example, [seg_over]),
        Err(Error::IdTooLong { len: 2049 })
    );
    assert_eq!(root.append_path(&at_cap).unwrap().as_str().len(), 2048);
    assert_eq!(root.append_path(&over), Err(Error::IdTooLong { len: 2049 }));
    assert_eq!(
        root.append_segments([seg_at_cap]).unwrap().as_str().len(),
        2048
    );
    assert_eq!(
        root.append_segments([seg_over]),
        Err(Error::IdTooLong { len: 2049 })
    );
    let short = id("spiffe://example.org/x");
    assert_eq!(short.replace_path(&at_cap).unwrap().as_str().len(), 2048);
    assert_eq!(
        short.replace_path(&over),
        Err(Error::IdTooLong { len: 2049 })
    );

    // Appending to a non-empty path counts the existing path too.
    let half = id(&format!("spiffe://example.org{}", path_for_total(1024)));
    let rest = format!("/{}", "b".repeat(2048 - 1024 - 1));
    assert_eq!(half.append_path(&rest).unwrap().as_str().len(), 2048);
    assert_eq!(
        half.append_path(&format!("{rest}b")),
        Err(Error::IdTooLong { len: 2049 })
    );
    assert_eq!(
        half.append_segments([&rest[1..], "c"]),
        Err(Error::IdTooLong { len: 2050 })
    );
}

/// `IdTooLong` counts the whole ID, scheme and trust domain included, not only the path; a
/// segment builder stops at the first segment crossing the cap, even on endless input:
/// shared/spec/SPIFFE-DIGEST.md 1.4.
#[test]
fn id_too_long_counts_the_whole_id_and_stops_at_the_crossing_segment() {
    let example = td("example.org");
    let prefix = "spiffe://example.org".len();
    let huge = "a".repeat(3000);
    let whole = prefix + 1 + 3000;
    assert_eq!(
        SpiffeId::from_segments(&example, [huge.as_str()]),
        Err(Error::IdTooLong { len: whole })
    );
    assert_eq!(
        SpiffeId::from_path(&example, &format!("/{huge}")),
        Err(Error::IdTooLong { len: whole })
    );
    assert_eq!(
        example.id().append_segments([huge.as_str()]),
        Err(Error::IdTooLong { len: whole })
    );
    assert_eq!(
        example.id().append_path(&format!("/{huge}")),
        Err(Error::IdTooLong { len: whole })
    );

    // 20 + 4 * 507 = 2048 fits; the 508th `/abc` crosses the cap.
    let many = vec!["abc"; 1000];
    assert_eq!(
        SpiffeId::from_segments(&example, &many),
        Err(Error::IdTooLong { len: 2052 })
    );
    assert_eq!(
        SpiffeId::from_segments(&example, &many[..507])
            .unwrap()
            .as_str()
            .len(),
        2048
    );
    // 23 + 4 * 506 = 2047; the 507th crosses.
    let base = id("spiffe://example.org/ns");
    assert_eq!(
        base.append_segments(&many),
        Err(Error::IdTooLong { len: 2051 })
    );
    // Endless input terminates: 20 + 2 * 1014 = 2048, the 1015th `/a` crosses.
    assert_eq!(
        SpiffeId::from_segments(&example, std::iter::repeat("a")),
        Err(Error::IdTooLong { len: 2050 })
    );
    // A bad segment before the crossing point is reported as such.
    assert_eq!(
        SpiffeId::from_segments(
            &example,
            ["ok", "b d"].into_iter().chain(std::iter::repeat("a"))
        ),
        Err(Error::BadPathChar { at: 5, byte: b' ' })
    );
}

/// The parser accepts valid IDs longer than 2048 bytes (the spec forbids nothing longer), but
/// builders refuse to extend them: shared/spec/SPIFFE-DIGEST.md 1.4 [rec].
#[test]
fn parse_accepts_3000_byte_id_that_builders_would_refuse() {
    let input = format!("spiffe://example.org{}", path_for_total(3000));
    assert_eq!(input.len(), 3000);
    let long = id(&input);
    assert_eq!(long.as_str(), input);
    assert_eq!(SpiffeId::parse_bytes(input.as_bytes()).unwrap(), long);
    assert_eq!(long.append_path(""), Err(Error::IdTooLong { len: 3000 }));
    assert_eq!(long.append_path("/b"), Err(Error::IdTooLong { len: 3002 }));
    assert_eq!(
        long.append_segments(["b"]),
        Err(Error::IdTooLong { len: 3002 })
    );
    assert_eq!(
        long.replace_path("/short").unwrap().as_str(),
        "spiffe://example.org/short"
    );
}

/// Trust domain names of 255 bytes are accepted and 256 refused, through every way of making
/// one: shared/spec/SPIFFE-DIGEST.md 1.2 [rec].
#[test]
fn trust_domain_is_capped_at_255_bytes() {
    assert_eq!(MAX_TRUST_DOMAIN_LEN, 255);
    let at_cap = "a".repeat(255);
    let over = "a".repeat(256);

    assert_eq!(TrustDomain::parse(&at_cap).unwrap().as_str(), at_cap);
    assert_eq!(
        TrustDomain::parse(&over),
        Err(Error::TrustDomainTooLong { len: 256 })
    );
    assert_eq!(
        TrustDomain::from_id_or_name(&over),
        Err(Error::TrustDomainTooLong { len: 256 })
    );

    let id_at_cap = format!("spiffe://{at_cap}/p");
    assert_eq!(id(&id_at_cap).trust_domain_name(), at_cap);
    assert_eq!(
        TrustDomain::from_id_or_name(&id_at_cap).unwrap().as_str(),
        at_cap
    );
    for input in [format!("spiffe://{over}"), format!("spiffe://{over}/p")] {
        assert_eq!(
            SpiffeId::parse(&input),
            Err(Error::TrustDomainTooLong { len: 256 })
        );
        assert_eq!(
            SpiffeId::parse_bytes(input.as_bytes()),
            Err(Error::TrustDomainTooLong { len: 256 })
        );
        assert_eq!(
            TrustDomain::from_id_or_name(&input),
            Err(Error::TrustDomainTooLong { len: 256 })
        );
    }
    // Character errors are found before the length.
    assert_eq!(
        TrustDomain::parse(&format!("{over}A")),
        Err(Error::BadTrustDomainChar {
            at: 256,
            byte: b'A'
        })
    );

    // A maximal trust domain still leaves room for a 2048-byte ID.
    let max_td = td(&at_cap);
    let path = format!("/{}", "p".repeat(2048 - "spiffe://".len() - 255 - 1));
    let built = SpiffeId::from_path(&max_td, &path).unwrap();
    assert_eq!(built.as_str().len(), 2048);
    assert_eq!(max_td.id().as_str().len(), "spiffe://".len() + 255);
}
