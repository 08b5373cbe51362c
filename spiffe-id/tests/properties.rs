//! Property tests: IDs generated from the valid grammar round-trip, arbitrary input never
//! panics, and the parser agrees with a small reference scanner written here from
//! `shared/spec/SPIFFE-DIGEST.md` 1.2, 1.3 and 1.7.
#![allow(
    clippy::indexing_slicing,
    reason = "helpers outside #[test] fns, which clippy.toml does not exempt; a panic is a failed test"
)]

use proptest::collection::vec;
use proptest::prelude::*;
use spiffe_id::{Error, IdMatcher, IdPattern, SpiffeId, TrustDomain};

/// A trust domain name from `[a-z0-9._-]{1,40}`.
fn trust_domain_name() -> impl Strategy<Value = String> {
    "[a-z0-9._-]{1,40}"
}

/// A path segment from `[A-Za-z0-9._-]{1,20}`, never exactly `.` or `..`.
fn segment() -> impl Strategy<Value = String> {
    "[A-Za-z0-9._-]{1,20}".prop_filter("dot segment", |s| s != "." && s != "..")
}

/// Zero to five segments.
fn segments() -> impl Strategy<Value = Vec<String>> {
    vec(segment(), 0..6)
}

/// `/a/b/c`, or empty.
fn join(segments: &[String]) -> String {
    segments.iter().map(|s| format!("/{s}")).collect()
}

/// Strings close to the grammar, so that some parse and many fail late.
fn near_miss() -> impl Strategy<Value = String> {
    prop_oneof![
        "spiffe://[a-z.]{0,6}(/[A-Za-z.]{0,3}){0,4}",
        "spiffe://[a-zA-Z0-9./%:@_~?#\\[\\] -]{0,24}",
        "[sSpifFE:/]{0,12}[a-z./]{0,8}",
        any::<String>().prop_map(|s| format!("spiffe://{s}")),
    ]
}

/// Reference scanner, written directly from the digest (go-spiffe's check order, 1.7), to
/// compare the crate's scanner against.
fn reference_check(input: &[u8]) -> Result<(), Error> {
    let td_byte = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b);
    let seg_byte = |b: u8| b.is_ascii_alphanumeric() || b"._-".contains(&b);
    if input.is_empty() {
        return Err(Error::Empty);
    }
    if !input.starts_with(b"spiffe://") {
        return Err(Error::BadScheme);
    }
    let mut i = 9;
    while i < input.len() && input[i] != b'/' {
        if !td_byte(input[i]) {
            return Err(Error::BadTrustDomainChar {
                at: i,
                byte: input[i],
            });
        }
        i += 1;
    }
    match i - 9 {
        0 => return Err(Error::MissingTrustDomain),
        len if len > 255 => return Err(Error::TrustDomainTooLong { len }),
        _ => {}
    }
    while i < input.len() {
        // input[i] is '/'.
        let slash = i;
        let start = i + 1;
        let mut end = start;
        while end < input.len() && input[end] != b'/' {
            end += 1;
        }
        let seg = &input[start..end];
        if seg.is_empty() {
            return Err(if end == input.len() {
                Error::TrailingSlash
            } else {
                Error::EmptySegment { at: slash }
            });
        }
        if seg == b"." || seg == b".." {
            return Err(Error::DotSegment { at: slash });
        }
        if let Some(k) = seg.iter().position(|&b| !seg_byte(b)) {
            return Err(Error::BadPathChar {
                at: start + k,
                byte: seg[k],
            });
        }
        i = end;
    }
    Ok(())
}

#[test]
fn reference_scanner_agrees_with_digest_examples() {
    assert_eq!(reference_check(b"spiffe://example.org/a"), Ok(()));
    assert_eq!(
        reference_check(b"spiffe://example.org/"),
        Err(Error::TrailingSlash)
    );
    assert_eq!(
        reference_check(b"spiffe://example.org//a"),
        Err(Error::EmptySegment { at: 20 })
    );
    assert_eq!(
        reference_check(b"spiffe://Example.org"),
        Err(Error::BadTrustDomainChar { at: 9, byte: b'E' })
    );
}

proptest! {
    /// (a) Every ID from the valid grammar parses, displays unchanged and splits back into its
    /// trust domain and path (shared/spec/SPIFFE-DIGEST.md 1.2, 1.3, 1.5).
    #[test]
    fn generated_valid_ids_parse_and_round_trip(td in trust_domain_name(), segs in segments()) {
        let path = join(&segs);
        let input = format!("spiffe://{td}{path}");
        let id = SpiffeId::parse(&input).unwrap();
        prop_assert_eq!(id.to_string(), input.as_str());
        prop_assert_eq!(id.trust_domain_name(), td.as_str());
        prop_assert_eq!(id.trust_domain().to_string(), td.as_str());
        prop_assert_eq!(id.path(), path.as_str());
        prop_assert_eq!(format!("spiffe://{}{}", id.trust_domain(), id.path()), input.as_str());
        prop_assert_eq!(id.segments().collect::<Vec<_>>(), segs.iter().map(String::as_str).collect::<Vec<_>>());
        prop_assert_eq!(id.is_root(), segs.is_empty());
        prop_assert_eq!(&SpiffeId::parse_bytes(input.as_bytes()).unwrap(), &id);
        prop_assert_eq!(TrustDomain::from_id_or_name(&input).unwrap(), id.trust_domain());
        prop_assert_eq!(TrustDomain::parse(&td).unwrap(), id.trust_domain());
    }

    /// (b) Arbitrary strings never panic the parsers.
    #[test]
    fn parse_never_panics_on_arbitrary_strings(input in any::<String>()) {
        let _ = SpiffeId::parse(&input);
        let _ = TrustDomain::parse(&input);
        let _ = TrustDomain::from_id_or_name(&input);
        let _ = IdPattern::parse(&input);
    }

    /// (b) Arbitrary bytes never panic `parse_bytes`, with or without a valid prefix.
    #[test]
    fn parse_bytes_never_panics_on_arbitrary_bytes(
        bytes in vec(any::<u8>(), 0..80),
        prefixed in any::<bool>(),
    ) {
        let input = if prefixed { [b"spiffe://".as_slice(), &bytes].concat() } else { bytes };
        let _ = SpiffeId::parse_bytes(&input);
    }

    /// The parser gives exactly the reference scanner's verdict, error included.
    #[test]
    fn parse_agrees_with_reference_scanner(input in near_miss()) {
        let expected = reference_check(input.as_bytes());
        let got = SpiffeId::parse(&input).map(|_| ());
        prop_assert_eq!(got, expected);
    }

    /// The byte parser gives exactly the reference scanner's verdict on arbitrary bytes.
    #[test]
    fn parse_bytes_agrees_with_reference_scanner(bytes in vec(any::<u8>(), 0..40)) {
        let input = [b"spiffe://".as_slice(), &bytes].concat();
        prop_assert_eq!(SpiffeId::parse_bytes(&input).map(|_| ()), reference_check(&input));
        prop_assert_eq!(SpiffeId::parse_bytes(&bytes).map(|_| ()), reference_check(&bytes));
    }

    /// (c) Whatever parses re-parses from its Display to an equal value.
    #[test]
    fn successful_parse_round_trips_through_display(input in near_miss()) {
        if let Ok(id) = SpiffeId::parse(&input) {
            prop_assert_eq!(id.as_str(), input.as_str());
            let displayed = format!("{id}");
            let again = SpiffeId::parse(&displayed).unwrap();
            prop_assert_eq!(&again, &id);
            prop_assert_eq!(again.trust_domain(), id.trust_domain());
            prop_assert_eq!(again.path(), id.path());
        }
    }

    /// (d) Building from segments equals parsing the joined string.
    #[test]
    fn from_segments_equals_parse_of_joined_string(td in trust_domain_name(), segs in segments()) {
        let trust_domain = TrustDomain::parse(&td).unwrap();
        let built = SpiffeId::from_segments(&trust_domain, &segs).unwrap();
        let parsed = SpiffeId::parse(&format!("spiffe://{td}{}", join(&segs))).unwrap();
        prop_assert_eq!(&built, &parsed);
        prop_assert_eq!(&SpiffeId::from_path(&trust_domain, &join(&segs)).unwrap(), &parsed);
        prop_assert_eq!(trust_domain.id().append_segments(&segs).unwrap(), parsed);
    }

    /// (e) A pattern without wildcards matches exactly the identical ID.
    #[test]
    fn literal_pattern_matches_only_the_identical_id(
        td_a in trust_domain_name(),
        segs_a in segments(),
        td_b in prop_oneof![Just(None), trust_domain_name().prop_map(Some)],
        segs_b in prop_oneof![Just(None), segments().prop_map(Some)],
    ) {
        let a = SpiffeId::parse(&format!("spiffe://{td_a}{}", join(&segs_a))).unwrap();
        let td_b = td_b.unwrap_or_else(|| td_a.clone());
        let segs_b = segs_b.unwrap_or_else(|| segs_a.clone());
        let b = SpiffeId::parse(&format!("spiffe://{td_b}{}", join(&segs_b))).unwrap();
        let pattern = IdPattern::parse(a.as_str()).unwrap();
        prop_assert!(pattern.matches(&a));
        prop_assert_eq!(pattern.matches(&b), a == b);
        prop_assert_eq!(IdMatcher::from(pattern).matches(&b), IdMatcher::exact(a).matches(&b));
    }

    /// Wildcards: `*` in place of any one segment still matches, and `/**` matches every
    /// strict extension and never the ID itself.
    #[test]
    fn wildcard_patterns_match_their_expansions(
        td in trust_domain_name(),
        segs in vec(segment(), 1..6),
        extra in vec(segment(), 1..4),
        star_at in any::<prop::sample::Index>(),
    ) {
        let id = SpiffeId::parse(&format!("spiffe://{td}{}", join(&segs))).unwrap();
        let mut starred = segs.clone();
        starred[star_at.index(segs.len())] = "*".to_owned();
        let star = IdPattern::parse(&format!("spiffe://{td}{}", join(&starred))).unwrap();
        prop_assert!(star.matches(&id));

        let below = IdPattern::parse(&format!("{id}/**")).unwrap();
        prop_assert!(!below.matches(&id));
        let longer = id.append_segments(&extra).unwrap();
        prop_assert!(below.matches(&longer));
        prop_assert!(IdMatcher::path_prefix(id.clone()).matches(&longer));
        prop_assert!(IdMatcher::path_prefix(id.clone()).matches(&id));
        prop_assert!(!star.matches(&longer));
    }
}

/// Guards property (c) against becoming vacuous: a fair share of `near_miss` inputs must parse,
/// and a fair share must fail.
#[test]
fn near_miss_strategy_yields_both_valid_and_invalid_ids() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    let mut runner = TestRunner::deterministic();
    let strategy = near_miss();
    let total = 1000;
    let valid = (0..total)
        .filter(|_| {
            let input = strategy.new_tree(&mut runner).unwrap().current();
            SpiffeId::parse(&input).is_ok()
        })
        .count();
    assert!(valid >= total / 20, "only {valid} of {total} parsed");
    assert!(valid <= total * 9 / 10, "{valid} of {total} parsed");
}
