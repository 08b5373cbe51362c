//! Target `bundle_document`: `SpiffeBundle::parse` (trust domain `example.org`) and
//! `JwtBundle::parse_workload_api` on arbitrary bytes.

use ::trust_bundle::{IgnoredKey, JwtBundle, SpiffeBundle, X509Bundle};

/// - Neither parser panics; refusals have a message.
/// - An accepted document: every entry of `keys` is either an authority, a JWT key or reported
///   as ignored (exactly once, in index order); [`check_round_trip`] holds.
/// - An accepted Workload API JWT bundle: `to_workload_api_json` parses back to an equal bundle
///   with nothing ignored, and emitting again gives the same text.
pub(crate) fn check(data: &[u8]) {
    let td = super::example_org();
    match SpiffeBundle::parse(td.clone(), data) {
        Ok(bundle) => {
            let ignored = bundle.ignored();
            assert_eq!(bundle.trust_domain(), &td);
            check_ignored(ignored, &td);
            // The document is JSON without duplicate members (or it would have been refused),
            // so a plain JSON parser sees the same `keys` array.
            let entries = keys_len(data);
            assert_eq!(
                Some(bundle.x509_bundle().len() + bundle.jwt_bundle().len() + ignored.len()),
                entries,
                "entries are lost or counted twice: {ignored:?}"
            );
            check_round_trip(&bundle);
        }
        Err(err) => assert!(!err.to_string().is_empty()),
    }

    match JwtBundle::parse_workload_api(td.clone(), data) {
        Ok(jwt) => {
            let ignored = jwt.ignored();
            assert_eq!(jwt.trust_domain(), &td);
            check_ignored(ignored, &td);
            assert_eq!(Some(jwt.len() + ignored.len()), keys_len(data));
            check_jwt_round_trip(&jwt);
        }
        Err(err) => assert!(!err.to_string().is_empty()),
    }
}

/// `to_json()` parses back to an equal bundle with nothing ignored, and emitting is
/// deterministic (the second emission is the same text). The parts round-trip on their own too.
pub(crate) fn check_round_trip(bundle: &SpiffeBundle) {
    let json = bundle.to_json();
    let reparsed = SpiffeBundle::parse(bundle.trust_domain().clone(), &json);
    assert!(
        reparsed
            .as_ref()
            .is_ok_and(|again| again.ignored().is_empty()),
        "emitted document does not parse back cleanly: {reparsed:?}\n{json}"
    );
    let Ok(again) = reparsed else { return };
    assert_eq!(
        again.x509_bundle().authorities(),
        bundle.x509_bundle().authorities()
    );
    assert!(
        again.jwt_bundle().keys().eq(bundle.jwt_bundle().keys()),
        "jwt keys differ after a round trip"
    );
    assert_eq!(again.sequence(), bundle.sequence());
    assert_eq!(again.refresh_hint(), bundle.refresh_hint());
    assert_eq!(&again, bundle);
    assert_eq!(again.to_json(), json, "emission is not deterministic");

    check_jwt_round_trip(bundle.jwt_bundle());
    let der = bundle.x509_bundle().to_der();
    let x509 = X509Bundle::from_der(bundle.trust_domain().clone(), &der);
    assert!(
        x509.as_ref()
            .is_ok_and(|x509| x509 == &**bundle.x509_bundle()),
        "to_der() does not parse back to the same authorities: {x509:?}"
    );
}

/// The Workload API form of a JWT bundle parses back to an equal bundle.
fn check_jwt_round_trip(jwt: &JwtBundle) {
    let json = jwt.to_workload_api_json();
    let reparsed = JwtBundle::parse_workload_api(jwt.trust_domain().clone(), &json);
    assert!(
        reparsed
            .as_ref()
            .is_ok_and(|again| again.ignored().is_empty() && again == jwt),
        "workload api json does not round-trip: {reparsed:?}\n{json}"
    );
    if let Ok(again) = reparsed {
        assert_eq!(again.to_workload_api_json(), json);
    }
}

/// Every report names the bundle's trust domain, and no entry is reported twice.
pub(crate) fn check_ignored(ignored: &[IgnoredKey], td: &::spiffe_id::TrustDomain) {
    for key in ignored {
        assert_eq!(key.trust_domain(), td);
        assert!(!key.to_string().is_empty());
        assert!(key.kid().is_none_or(|kid| kid.len() <= 64 + '…'.len_utf8()));
    }
    assert!(
        ignored
            .windows(2)
            .all(|pair| matches!(pair, [a, b] if a.index() < b.index())),
        "ignored entries are not in strictly increasing index order"
    );
}

/// The length of the `keys` array of a JSON document, by a plain JSON parser.
fn keys_len(data: &[u8]) -> Option<usize> {
    let value: ::serde_json::Value = ::serde_json::from_slice(data).ok()?;
    Some(value.get("keys")?.as_array()?.len())
}
