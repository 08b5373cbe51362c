//! `IdMatcher` primitives and combinators, and the `IdPattern` syntax.
#![allow(
    clippy::unwrap_used,
    reason = "helpers outside #[test] fns, which clippy.toml does not exempt; a panic is a failed test"
)]

use spiffe_id::{Error, IdMatcher, IdPattern, SpiffeId, TrustDomain};

fn id(input: &str) -> SpiffeId {
    SpiffeId::parse(input).unwrap()
}

fn td(name: &str) -> TrustDomain {
    TrustDomain::parse(name).unwrap()
}

fn pattern(text: &str) -> IdPattern {
    IdPattern::parse(text).unwrap()
}

/// Asserts `matcher` accepts exactly the `yes` IDs among `yes` and `no`.
fn assert_matches(matcher: &IdMatcher, yes: &[&str], no: &[&str]) {
    for input in yes {
        assert!(
            matcher.matches(&id(input)),
            "{matcher} should match {input}"
        );
    }
    for input in no {
        assert!(
            !matcher.matches(&id(input)),
            "{matcher} should not match {input}"
        );
    }
}

#[test]
fn any_matches_every_id() {
    assert_matches(
        &IdMatcher::any(),
        &[
            "spiffe://example.org",
            "spiffe://example.org/a",
            "spiffe://other.org/x/y/z",
        ],
        &[],
    );
}

#[test]
fn exact_matches_only_the_identical_id() {
    let m = IdMatcher::exact(id("spiffe://example.org/ns/prod"));
    assert_matches(
        &m,
        &["spiffe://example.org/ns/prod"],
        &[
            "spiffe://example.org/ns/Prod",
            "spiffe://example.org/ns/prod/x",
            "spiffe://example.org/ns",
            "spiffe://example.org./ns/prod",
            "spiffe://other.org/ns/prod",
        ],
    );
    assert_eq!(
        IdMatcher::from(id("spiffe://a/b")),
        IdMatcher::exact(id("spiffe://a/b"))
    );
}

#[test]
fn one_of_matches_listed_ids_and_empty_set_matches_nothing() {
    let m = IdMatcher::one_of([id("spiffe://example.org/a"), id("spiffe://other.org/b")]);
    assert_matches(
        &m,
        &["spiffe://example.org/a", "spiffe://other.org/b"],
        &[
            "spiffe://example.org/b",
            "spiffe://other.org/a",
            "spiffe://example.org/a/b",
        ],
    );
    let empty = IdMatcher::one_of([]);
    assert_matches(
        &empty,
        &[],
        &["spiffe://example.org/a", "spiffe://example.org"],
    );
}

/// Trust-domain membership is exact byte equality of the name: shared/spec/SPIFFE-DIGEST.md
/// 1.5.
#[test]
fn member_of_matches_ids_of_exactly_that_trust_domain() {
    let m = IdMatcher::member_of(td("example.org"));
    assert_matches(
        &m,
        &[
            "spiffe://example.org",
            "spiffe://example.org/a",
            "spiffe://example.org/a/b/c",
        ],
        &[
            "spiffe://example.org./a",
            "spiffe://sub.example.org/a",
            "spiffe://example.org.evil/a",
            "spiffe://example.or/a",
            "spiffe://xexample.org/a",
        ],
    );
    assert_eq!(IdMatcher::from(td("example.org")), m);
}

#[test]
fn path_prefix_is_segment_aligned() {
    let m = IdMatcher::path_prefix(id("spiffe://example.org/ns/prod"));
    assert_matches(
        &m,
        &[
            "spiffe://example.org/ns/prod",
            "spiffe://example.org/ns/prod/x",
            "spiffe://example.org/ns/prod/x/y",
        ],
        &[
            "spiffe://example.org/ns/production",
            "spiffe://example.org/ns/prod-x",
            "spiffe://example.org/ns/prod.x",
            "spiffe://example.org/ns",
            "spiffe://example.org/ns/Prod",
            "spiffe://example.org",
        ],
    );
}

#[test]
fn path_prefix_never_matches_another_trust_domain() {
    let m = IdMatcher::path_prefix(id("spiffe://example.org/ns"));
    assert_matches(
        &m,
        &["spiffe://example.org/ns/a"],
        &[
            "spiffe://other.org/ns",
            "spiffe://other.org/ns/a",
            "spiffe://example.org.evil/ns/a",
        ],
    );
    // A root prefix matches the whole trust domain and nothing that merely starts with its
    // name.
    let root = IdMatcher::path_prefix(td("example.org").id());
    assert_matches(
        &root,
        &["spiffe://example.org", "spiffe://example.org/a/b"],
        &[
            "spiffe://example.org./a",
            "spiffe://example.org.evil",
            "spiffe://example.org-x/a",
            "spiffe://example.orgx",
        ],
    );
}

#[test]
fn pattern_star_matches_exactly_one_segment() {
    let m = IdMatcher::pattern("spiffe://example.org/ns/*/sa/web").unwrap();
    assert_matches(
        &m,
        &[
            "spiffe://example.org/ns/prod/sa/web",
            "spiffe://example.org/ns/x/sa/web",
        ],
        &[
            "spiffe://example.org/ns/sa/web",
            "spiffe://example.org/ns/a/b/sa/web",
            "spiffe://example.org/ns/prod/sa/web/x",
            "spiffe://example.org/ns/prod/sa/db",
            "spiffe://other.org/ns/prod/sa/web",
        ],
    );
    let last = pattern("spiffe://example.org/*");
    assert!(last.matches(&id("spiffe://example.org/a")));
    assert!(!last.matches(&id("spiffe://example.org")));
    assert!(!last.matches(&id("spiffe://example.org/a/b")));
}

#[test]
fn pattern_double_star_matches_one_or_more_segments_but_not_the_prefix() {
    let m = IdMatcher::pattern("spiffe://example.org/ns/prod/**").unwrap();
    assert_matches(
        &m,
        &[
            "spiffe://example.org/ns/prod/web",
            "spiffe://example.org/ns/prod/a/b/c",
        ],
        &[
            "spiffe://example.org/ns/prod",
            "spiffe://example.org/ns/production/web",
            "spiffe://example.org/ns",
            "spiffe://other.org/ns/prod/web",
        ],
    );
    let both = pattern("spiffe://example.org/*/x/**");
    assert!(both.matches(&id("spiffe://example.org/a/x/b")));
    assert!(both.matches(&id("spiffe://example.org/a/x/b/c")));
    assert!(!both.matches(&id("spiffe://example.org/a/x")));
    assert!(!both.matches(&id("spiffe://example.org/a/y/b")));
}

#[test]
fn pattern_double_star_after_trust_domain_does_not_match_the_root_id() {
    let m = pattern("spiffe://example.org/**");
    assert!(!m.matches(&id("spiffe://example.org")));
    assert!(m.matches(&id("spiffe://example.org/a")));
    assert!(m.matches(&id("spiffe://example.org/a/b")));
    assert!(!m.matches(&id("spiffe://other.org/a")));
}

#[test]
fn pattern_trust_domain_is_literal() {
    let m = pattern("spiffe://example.org/a");
    assert_eq!(m.trust_domain_name(), "example.org");
    assert!(m.matches(&id("spiffe://example.org/a")));
    assert!(!m.matches(&id("spiffe://example.org./a")));
    assert!(!m.matches(&id("spiffe://sub.example.org/a")));
    let root = pattern("spiffe://example.org");
    assert!(root.matches(&id("spiffe://example.org")));
    assert!(!root.matches(&id("spiffe://example.org/a")));
}

#[test]
fn pattern_without_wildcards_matches_only_the_identical_id() {
    let m = pattern("spiffe://example.org/ns/prod");
    assert!(m.matches(&id("spiffe://example.org/ns/prod")));
    assert!(!m.matches(&id("spiffe://example.org/ns/prod/x")));
    assert!(!m.matches(&id("spiffe://example.org/ns")));
    assert!(!m.matches(&id("spiffe://example.org/ns/PROD")));
    assert_eq!(m.as_str(), "spiffe://example.org/ns/prod");
    assert_eq!(m.to_string(), "spiffe://example.org/ns/prod");
    assert_eq!(
        "spiffe://example.org/ns/prod".parse::<IdPattern>().unwrap(),
        m
    );
    assert_eq!(
        IdPattern::try_from("spiffe://example.org/ns/prod").unwrap(),
        m
    );
}

/// A wildcard that is not a whole segment is an error, not a prefix glob.
#[test]
fn pattern_rejects_partial_segment_wildcard() {
    for (text, at) in [
        ("spiffe://example.org/web-*", 20),
        ("spiffe://example.org/*-web", 20),
        ("spiffe://example.org/ns/pr*d", 23),
        ("spiffe://example.org/ns/***", 23),
        ("spiffe://example.org/ns/**x", 23),
    ] {
        assert_eq!(
            IdPattern::parse(text),
            Err(Error::BadWildcard { at }),
            "{text:?}"
        );
    }
}

#[test]
fn pattern_rejects_double_star_before_the_last_segment() {
    assert_eq!(
        IdPattern::parse("spiffe://example.org/**/web"),
        Err(Error::BadWildcard { at: 20 })
    );
    assert_eq!(
        IdPattern::parse("spiffe://example.org/ns/**/**"),
        Err(Error::BadWildcard { at: 23 })
    );
}

/// The trust domain of a pattern follows the trust domain rules, so `*` is a bad character
/// there: shared/spec/SPIFFE-DIGEST.md 1.2.
#[test]
fn pattern_rejects_wildcard_in_trust_domain() {
    assert_eq!(
        IdPattern::parse("spiffe://*/a"),
        Err(Error::BadTrustDomainChar { at: 9, byte: b'*' })
    );
    assert_eq!(
        IdPattern::parse("spiffe://*.example.org/a"),
        Err(Error::BadTrustDomainChar { at: 9, byte: b'*' })
    );
    assert_eq!(
        IdPattern::parse("spiffe://Example.org/*"),
        Err(Error::BadTrustDomainChar { at: 9, byte: b'E' })
    );
    assert_eq!(
        IdPattern::parse("spiffe:///*"),
        Err(Error::MissingTrustDomain)
    );
    assert_eq!(
        IdPattern::parse(&format!("spiffe://{}/*", "a".repeat(256))),
        Err(Error::TrustDomainTooLong { len: 256 })
    );
}

/// Patterns follow the path rules for their literal parts: shared/spec/SPIFFE-DIGEST.md 1.3.
#[test]
fn pattern_rejects_trailing_slash_and_dot_segments() {
    for (text, error) in [
        ("spiffe://example.org/", Error::TrailingSlash),
        ("spiffe://example.org/*/", Error::TrailingSlash),
        ("spiffe://example.org/**/", Error::BadWildcard { at: 20 }),
        ("spiffe://example.org/./*", Error::DotSegment { at: 20 }),
        ("spiffe://example.org/*/..", Error::DotSegment { at: 22 }),
        ("spiffe://example.org//*", Error::EmptySegment { at: 20 }),
        (
            "spiffe://example.org/a%2a",
            Error::BadPathChar { at: 22, byte: b'%' },
        ),
    ] {
        assert_eq!(IdPattern::parse(text), Err(error), "{text:?}");
    }
}

/// Patterns use the same exact scheme as IDs: shared/spec/SPIFFE-DIGEST.md 1.1, 1.5.
#[test]
fn pattern_rejects_bad_scheme() {
    for text in [
        "SPIFFE://example.org/*",
        "https://example.org/*",
        "spiffe:/example.org/*",
        "*://example.org/*",
        "example.org/*",
    ] {
        assert_eq!(IdPattern::parse(text), Err(Error::BadScheme), "{text:?}");
        assert_eq!(IdMatcher::pattern(text), Err(Error::BadScheme), "{text:?}");
    }
    assert_eq!(IdPattern::parse(""), Err(Error::Empty));
}

#[test]
fn and_or_negate_combine_as_boolean_operators() {
    let prod = IdMatcher::path_prefix(id("spiffe://example.org/prod"));
    let web = IdMatcher::pattern("spiffe://example.org/*/web").unwrap();
    let both = prod.clone().and(web.clone());
    let either = prod.clone().or(web.clone());
    let not_prod = prod.clone().negate();

    for (input, p, w) in [
        ("spiffe://example.org/prod/web", true, true),
        ("spiffe://example.org/prod/db", true, false),
        ("spiffe://example.org/dev/web", false, true),
        ("spiffe://example.org/dev/db", false, false),
    ] {
        let x = id(input);
        assert_eq!(prod.matches(&x), p, "{input}");
        assert_eq!(web.matches(&x), w, "{input}");
        assert_eq!(both.matches(&x), p && w, "{input}");
        assert_eq!(either.matches(&x), p || w, "{input}");
        assert_eq!(not_prod.matches(&x), !p, "{input}");
        assert_eq!(not_prod.clone().negate().matches(&x), p, "{input}");
    }
}

#[test]
fn empty_all_of_matches_everything_and_empty_any_of_matches_nothing() {
    let x = id("spiffe://example.org/a");
    assert!(IdMatcher::all_of([]).matches(&x));
    assert!(!IdMatcher::any_of([]).matches(&x));
    assert!(!IdMatcher::all_of([]).negate().matches(&x));
    assert!(IdMatcher::any_of([]).negate().matches(&x));
}

#[test]
fn all_of_and_any_of_need_all_or_one_of_their_members() {
    let a = IdMatcher::member_of(td("example.org"));
    let b = IdMatcher::pattern("spiffe://example.org/*").unwrap();
    let c = IdMatcher::exact(id("spiffe://example.org/x"));
    let all = IdMatcher::all_of([a.clone(), b.clone(), c.clone()]);
    let any = IdMatcher::any_of([a, b, c]);
    assert_matches(
        &all,
        &["spiffe://example.org/x"],
        &[
            "spiffe://example.org/y",
            "spiffe://example.org",
            "spiffe://other.org/x",
        ],
    );
    assert_matches(
        &any,
        &[
            "spiffe://example.org/x",
            "spiffe://example.org/y",
            "spiffe://example.org",
        ],
        &["spiffe://other.org/x"],
    );
}

#[test]
fn display_renders_the_matcher_expression() {
    assert_eq!(IdMatcher::any().to_string(), "any");
    assert_eq!(
        IdMatcher::exact(id("spiffe://a/b")).to_string(),
        "exact(spiffe://a/b)"
    );
    assert_eq!(
        IdMatcher::one_of([id("spiffe://b/x"), id("spiffe://a/y")]).to_string(),
        "one-of(spiffe://a/y, spiffe://b/x)"
    );
    assert_eq!(IdMatcher::one_of([]).to_string(), "one-of()");
    assert_eq!(IdMatcher::member_of(td("a")).to_string(), "member-of(a)");
    assert_eq!(
        IdMatcher::path_prefix(id("spiffe://a/ns")).to_string(),
        "path-prefix(spiffe://a/ns)"
    );
    assert_eq!(
        IdMatcher::pattern("spiffe://a/*/**").unwrap().to_string(),
        "pattern(spiffe://a/*/**)"
    );
    let composed = IdMatcher::pattern("spiffe://a/*")
        .unwrap()
        .or(IdMatcher::exact(id("spiffe://a/b")))
        .and(IdMatcher::member_of(td("a")).negate());
    assert_eq!(
        composed.to_string(),
        "all-of(any-of(pattern(spiffe://a/*), exact(spiffe://a/b)), not(member-of(a)))"
    );
    assert_eq!(IdMatcher::all_of([]).to_string(), "all-of()");
    assert_eq!(IdMatcher::any_of([]).to_string(), "any-of()");
    assert_eq!(
        format!("{:?}", IdMatcher::any().negate()),
        "IdMatcher(not(any))"
    );
}
