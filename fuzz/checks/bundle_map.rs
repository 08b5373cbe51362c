//! Target `bundle_map`: `BundleSet::parse_bundle_map` on arbitrary bytes.

use ::trust_bundle::{BundleSet, Error, MAX_JSON_VALUES_PER_MAP};

/// - Never panics; refusals have a message.
/// - An accepted map: each bundle is filed under its own trust domain, every ignored entry
///   names a trust domain of the set, and the bundles round-trip as documents on their own
///   (see `bundle_document::check_round_trip`).
/// - `to_bundle_map_json` parses back to an equal set: the same trust domains, and for each the
///   same authorities, JWT keys and sequence; the refresh hint is left out of maps (SPIFFE bundle
///   5.1.1), so it comes back as `None`. Emitting the reparsed set gives the same text.
/// - Duplicate trust domains are always refused: the emitted map with its entries written twice
///   fails with `DuplicateTrustDomain` naming the first trust domain.
pub(crate) fn check(data: &[u8]) {
    let set = match BundleSet::parse_bundle_map(data) {
        Ok(parsed) => parsed,
        Err(err) => {
            assert!(!err.to_string().is_empty());
            return;
        }
    };
    for (td, bundle) in set.iter() {
        assert_eq!(bundle.trust_domain(), td);
        super::bundle_document::check_round_trip(bundle);
    }
    for (td, key) in set.ignored() {
        assert_eq!(
            key.trust_domain(),
            td,
            "{key} is reported under another bundle"
        );
    }

    let json = set.to_bundle_map_json();
    let reparsed = BundleSet::parse_bundle_map(&json);
    assert!(
        reparsed
            .as_ref()
            .is_ok_and(|again| again.ignored().count() == 0),
        "emitted map does not parse back cleanly: {reparsed:?}\n{json}"
    );
    let Ok(again) = reparsed else { return };
    assert!(
        again.trust_domains().eq(set.trust_domains()),
        "trust domains differ after a round trip"
    );
    for ((td, before), (_, after)) in set.iter().zip(again.iter()) {
        assert_eq!(
            after.x509_bundle().authorities(),
            before.x509_bundle().authorities(),
            "authorities of {td} differ"
        );
        assert_eq!(after.jwt_bundle(), before.jwt_bundle(), "jwt keys of {td}");
        assert_eq!(after.sequence(), before.sequence());
        assert_eq!(after.refresh_hint(), None, "a map carries no refresh hint");
    }
    assert_eq!(
        again.to_bundle_map_json(),
        json,
        "emission is not deterministic"
    );

    check_duplicates_refused(&set, &json);
}

/// The emitted map is `{"trust_domains":{<entries>}}` with entries in name order, and trust
/// domain names need no JSON escaping, so writing `<entries>,<entries>` repeats every name.
fn check_duplicates_refused(set: &BundleSet, json: &str) {
    let Some(first) = set.trust_domains().next() else {
        return;
    };
    let entries = json
        .strip_prefix(r#"{"trust_domains":{"#)
        .and_then(|rest| rest.strip_suffix("}}"));
    assert!(entries.is_some(), "unexpected map layout: {json}");
    let Some(entries) = entries else { return };
    let doubled = format!(r#"{{"trust_domains":{{{entries},{entries}}}}}"#);
    // A JSON value takes at least one byte, so the doubled map stays within the value budget.
    if doubled.len() > MAX_JSON_VALUES_PER_MAP {
        return;
    }
    let result = BundleSet::parse_bundle_map(&doubled);
    assert!(
        matches!(&result, Err(Error::DuplicateTrustDomain { name }) if name == first.as_str()),
        "duplicate trust domain not refused: {result:?}"
    );
}
