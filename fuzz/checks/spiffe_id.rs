//! Target `spiffe_id`: `SpiffeId::parse_bytes` on arbitrary bytes.

use ::spiffe_id::{IdMatcher, IdPattern, MAX_ID_LEN, SpiffeId, TrustDomain};

/// - `parse_bytes`, `TryFrom<&[u8]>` and, for UTF-8 input, `parse` / `FromStr` give the same
///   result (value or error); non-UTF-8 input is refused.
/// - Refusals satisfy [`super::check_error`].
/// - An accepted ID satisfies [`check_accepted`].
pub(crate) fn check(data: &[u8]) {
    let parsed = SpiffeId::parse_bytes(data);
    assert_eq!(SpiffeId::try_from(data), parsed);
    match core::str::from_utf8(data) {
        Ok(text) => {
            assert_eq!(
                SpiffeId::parse(text),
                parsed,
                "parse and parse_bytes disagree"
            );
            assert_eq!(text.parse::<SpiffeId>(), parsed);
        }
        Err(_) => assert!(parsed.is_err(), "non-UTF-8 input accepted"),
    }
    match parsed {
        Ok(id) => check_accepted(data, &id),
        Err(err) => super::check_error(data, &err),
    }
}

/// Properties of an ID that `input` parsed to.
fn check_accepted(input: &[u8], id: &SpiffeId) {
    let text = id.as_str();
    assert_eq!(text.as_bytes(), input, "as_str() differs from the input");
    assert!(text.is_ascii());

    // Display round trip.
    let shown = id.to_string();
    assert_eq!(shown, text);
    assert_eq!(SpiffeId::parse(&shown).as_ref(), Ok(id));

    // Components recompose to the input.
    let td_name = id.trust_domain_name();
    let path = id.path();
    assert_eq!(format!("spiffe://{td_name}{path}"), text);
    assert_eq!(id.is_root(), path.is_empty());

    // The trust domain is a valid one on its own, in both spellings.
    let td = id.trust_domain();
    assert_eq!(td.as_str(), td_name);
    assert_eq!(TrustDomain::parse(td_name).as_ref(), Ok(&td));
    assert_eq!(TrustDomain::from_id_or_name(text).as_ref(), Ok(&td));
    assert!(id.is_member_of(&td));
    assert_eq!(td.id().as_str(), format!("spiffe://{td_name}"));

    // Segments: none for a root ID, else non-empty, not dot segments, and they rejoin to the
    // path.
    let segments: Vec<&str> = id.segments().collect();
    if id.is_root() {
        assert!(segments.is_empty());
    } else {
        assert_eq!(format!("/{}", segments.join("/")), path);
        for segment in &segments {
            assert!(!segment.is_empty() && *segment != "." && *segment != "..");
            assert!(!segment.contains('/'));
        }
    }

    // Builders agree with the parser up to the generation cap, and refuse beyond it.
    let built_from_path = SpiffeId::from_path(&td, path);
    let built_from_segments = SpiffeId::from_segments(&td, &segments);
    if text.len() <= MAX_ID_LEN {
        assert_eq!(built_from_path.as_ref(), Ok(id));
        assert_eq!(built_from_segments.as_ref(), Ok(id));
        assert_eq!(td.id().append_path(path).as_ref(), Ok(id));
        assert_eq!(id.replace_path(path).as_ref(), Ok(id));
    } else {
        assert!(built_from_path.is_err());
        assert!(built_from_segments.is_err());
    }

    // Matchers built from the ID accept it.
    assert!(IdMatcher::exact(id.clone()).matches(id));
    assert!(IdMatcher::one_of([id.clone()]).matches(id));
    assert!(IdMatcher::path_prefix(id.clone()).matches(id));
    assert!(IdMatcher::member_of(td.clone()).matches(id));
    assert!(!IdMatcher::exact(id.clone()).negate().matches(id));
    assert!(IdMatcher::path_prefix(td.id()).matches(id));

    // A valid ID (which cannot hold `*`) is also a valid pattern, matching itself.
    let pattern = IdPattern::parse(text);
    assert!(
        pattern.is_ok_and(|p| p.matches(id)),
        "ID is not a pattern matching itself"
    );
}
