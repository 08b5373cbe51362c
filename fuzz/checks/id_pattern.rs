//! Target `id_pattern`: `IdPattern::parse` and `IdPattern::matches`.

use ::spiffe_id::{IdMatcher, IdPattern, SpiffeId, TrustDomain};

/// - Non-UTF-8 input is skipped (the parser takes `&str`).
/// - `parse`, `FromStr`, `TryFrom<&str>` and `IdMatcher::pattern` agree.
/// - Without `*`, the input is a pattern exactly when it is a SPIFFE ID (errors included), and
///   the pattern matches that ID and nothing else (checked on IDs next to it).
/// - With `*`, the pattern matches an ID made by filling in its wildcards, and on IDs next to
///   that one it agrees with [`model_matches`], a plain segment-by-segment model.
/// - An accepted pattern displays as the input; refusals satisfy [`super::check_error`].
pub(crate) fn check(data: &[u8]) {
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };

    let parsed = IdPattern::parse(text);
    assert_eq!(text.parse::<IdPattern>(), parsed);
    assert_eq!(IdPattern::try_from(text), parsed);
    assert_eq!(
        IdMatcher::pattern(text),
        parsed.clone().map(IdMatcher::from)
    );

    if !text.contains('*') {
        let as_id = SpiffeId::parse(text);
        assert_eq!(
            parsed.as_ref().err(),
            as_id.as_ref().err(),
            "a pattern without `*` must parse exactly as a SPIFFE ID"
        );
        if let (Ok(pattern), Ok(id)) = (&parsed, &as_id) {
            let exact = IdMatcher::exact(id.clone());
            for candidate in neighbours(id) {
                let expected = candidate == *id;
                assert_eq!(
                    pattern.matches(&candidate),
                    expected,
                    "{pattern} vs {candidate}"
                );
                assert_eq!(exact.matches(&candidate), expected);
            }
        }
    }

    match parsed {
        Ok(pattern) => check_accepted(text, &pattern),
        Err(err) => super::check_error(data, &err),
    }
}

fn check_accepted(text: &str, pattern: &IdPattern) {
    assert_eq!(pattern.to_string(), text, "Display differs from the input");
    assert_eq!(pattern.as_str(), text);
    assert_eq!(IdPattern::parse(&pattern.to_string()).as_ref(), Ok(pattern));

    let td_name = pattern.trust_domain_name();
    assert!(TrustDomain::parse(td_name).is_ok());
    let rest = text
        .strip_prefix("spiffe://")
        .and_then(|r| r.strip_prefix(td_name));
    assert!(rest.is_some_and(|r| r.is_empty() || r.starts_with('/')));

    // Fill each wildcard with one segment: a valid ID the pattern matches.
    let filled: Vec<&str> = text
        .split('/')
        .map(|part| {
            if part == "*" || part == "**" {
                "x"
            } else {
                part
            }
        })
        .collect();
    let witness = SpiffeId::parse(&filled.join("/"));
    assert!(
        witness.is_ok(),
        "filling the wildcards of {text} gives no valid ID"
    );
    let Ok(witness) = witness else { return };
    assert!(
        pattern.matches(&witness),
        "{pattern} does not match {witness}"
    );

    for candidate in neighbours(&witness) {
        assert_eq!(
            pattern.matches(&candidate),
            model_matches(text, &candidate),
            "{pattern} vs {candidate}"
        );
    }
}

/// IDs next to `id`: itself, one segment more, one less, the last segment changed, another
/// trust domain, the trust domain's own ID. Builders may refuse some (length caps); those are
/// left out.
fn neighbours(id: &SpiffeId) -> Vec<SpiffeId> {
    let td = id.trust_domain();
    let segments: Vec<&str> = id.segments().collect();
    let mut out = vec![id.clone(), td.id()];
    out.extend(id.append_path("/x"));
    out.extend(id.append_segments(["x", "y"]));
    if let Some((last, parent)) = segments.split_last() {
        out.extend(SpiffeId::from_segments(&td, parent));
        let changed = format!("{last}x");
        out.extend(SpiffeId::from_segments(&td, parent).and_then(|p| p.append_segments([changed])));
    }
    if let Ok(other_td) = TrustDomain::parse(&format!("{td}x")) {
        out.extend(SpiffeId::from_path(&other_td, id.path()));
    }
    out
}

/// What a pattern means, written as plainly as possible: same trust domain; then segment by
/// segment, `*` matches any one segment and anything else itself; a final `**` matches one or
/// more further segments.
fn model_matches(pattern: &str, id: &SpiffeId) -> bool {
    let Some(rest) = pattern.strip_prefix("spiffe://") else {
        return false;
    };
    let (td, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if td != id.trust_domain_name() {
        return false;
    }
    let mut wanted: Vec<&str> = path.split('/').skip(1).collect();
    let any_suffix = wanted.last() == Some(&"**");
    if any_suffix {
        wanted.pop();
    }
    let actual: Vec<&str> = id.segments().collect();
    let count_ok = if any_suffix {
        actual.len() > wanted.len()
    } else {
        actual.len() == wanted.len()
    };
    count_ok && wanted.iter().zip(&actual).all(|(w, a)| *w == "*" || w == a)
}
