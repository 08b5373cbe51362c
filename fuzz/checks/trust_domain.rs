//! Target `trust_domain`: `TrustDomain::parse` and `TrustDomain::from_id_or_name`.

use ::spiffe_id::{MAX_TRUST_DOMAIN_LEN, SpiffeId, TrustDomain};

/// - Non-UTF-8 input is skipped (both parsers take `&str`; `spiffe_id` covers raw bytes).
/// - `parse`, `FromStr` and `TryFrom<&str>` agree. An accepted name is the input, 1 to 255
///   bytes, round-trips through `Display`, and its `spiffe://` ID parses back to it.
/// - `from_id_or_name` is `SpiffeId::parse(..).trust_domain()` when the input contains `:/`,
///   else `parse`, errors included; a name it returns round-trips through `parse`.
/// - Refusals satisfy [`super::check_error`].
pub(crate) fn check(data: &[u8]) {
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };

    let parsed = TrustDomain::parse(text);
    assert_eq!(text.parse::<TrustDomain>(), parsed);
    assert_eq!(TrustDomain::try_from(text), parsed);
    match &parsed {
        Ok(td) => check_accepted(text, td),
        Err(err) => super::check_error(data, err),
    }

    let either = TrustDomain::from_id_or_name(text);
    if text.contains(":/") {
        let via_id = SpiffeId::parse(text).map(|id| id.trust_domain());
        assert_eq!(
            either, via_id,
            "from_id_or_name differs from SpiffeId::parse"
        );
    } else {
        assert_eq!(
            either, parsed,
            "from_id_or_name differs from parse on a bare name"
        );
    }
    match either {
        Ok(td) => {
            assert_eq!(TrustDomain::parse(td.as_str()).as_ref(), Ok(&td));
            assert!(text.contains(td.as_str()));
        }
        Err(err) => super::check_error(data, &err),
    }
}

fn check_accepted(text: &str, td: &TrustDomain) {
    assert_eq!(td.as_str(), text);
    assert!((1..=MAX_TRUST_DOMAIN_LEN).contains(&text.len()));
    assert!(text.is_ascii() && !text.contains(":/"));

    let shown = td.to_string();
    assert_eq!(shown, text);
    assert_eq!(TrustDomain::parse(&shown).as_ref(), Ok(td));

    let id = td.id();
    assert_eq!(id.as_str(), format!("spiffe://{text}"));
    assert!(id.is_root() && id.is_member_of(td));
    assert_eq!(id.trust_domain_name(), text);
    assert_eq!(SpiffeId::parse(id.as_str()).as_ref(), Ok(&id));
    assert_eq!(TrustDomain::from_id_or_name(id.as_str()).as_ref(), Ok(td));
}
