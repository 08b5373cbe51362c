//! The SPIFFE bundle map (digest 4.5; SPIFFE bundle 5): golden vector, round trip, B-8..B-10.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "helpers outside #[test] functions; a panic there is a failed test"
)]

mod common;

use std::time::Duration;

use common::{data, data_json, ec_jwt_entry, td};
use serde_json::{Value, json};
use trust_bundle::{
    BundleSet, Error, IgnoredReason, JwtBundleSource, SpiffeBundle, X509BundleSource,
};

fn golden_map() -> Value {
    data_json("bundle-map/golden.json")
}

fn parse_map(document: &Value) -> Result<BundleSet, Error> {
    BundleSet::parse_bundle_map(document.to_string())
}

#[test]
fn parses_golden_map() {
    let set = BundleSet::parse_bundle_map(data("bundle-map/golden.json")).unwrap();
    let ignored: Vec<_> = set.ignored().map(|(_, ignored)| ignored.clone()).collect();
    assert!(ignored.is_empty(), "{ignored:?}");
    assert_eq!(
        set.trust_domains()
            .map(|td| td.as_str())
            .collect::<Vec<_>>(),
        ["example.org", "partner.example"]
    );

    let example = set.get("example.org").unwrap();
    assert_eq!(example.sequence(), Some(42));
    assert_eq!(
        example.x509_bundle().authorities()[0].as_ref(),
        data("certs/ca-ec-p256.der")
    );
    assert!(example.jwt_bundle().key("jwt-ec-p256").is_some());

    let partner = set.get(&td("partner.example")).unwrap();
    assert_eq!(partner.sequence(), Some(7));
    assert_eq!(
        partner.x509_bundle().authorities()[0].as_ref(),
        data("certs/ca-rsa-2048.der")
    );
    let key = partner.jwt_bundle().key("jwt-ec-p384").unwrap();
    assert_eq!(key.as_ec().unwrap().x().len(), 48);

    // Each bundle answers only for its own trust domain.
    let x509 = set.x509_bundle(&td("partner.example")).unwrap();
    assert_eq!(x509.trust_domain(), &td("partner.example"));
    assert!(
        set.jwt_bundle(&td("example.org"))
            .unwrap()
            .key("jwt-ec-p384")
            .is_none()
    );
}

#[test]
fn round_trips_golden_map() {
    let set = parse_map(&golden_map()).unwrap();
    let emitted = set.to_bundle_map_json();
    let again = BundleSet::parse_bundle_map(&emitted).unwrap();
    let ignored: Vec<_> = again
        .ignored()
        .map(|(_, ignored)| ignored.clone())
        .collect();
    assert!(ignored.is_empty());
    assert_eq!(again, set);
    let emitted: Value = serde_json::from_str(&emitted).unwrap();
    assert_eq!(emitted, golden_map(), "emission reproduces the golden map");
}

#[test]
fn empty_map_is_valid() {
    let set = parse_map(&json!({"trust_domains": {}})).unwrap();
    assert!(set.is_empty());
    assert_eq!(set.to_bundle_map_json(), r#"{"trust_domains":{}}"#);
}

/// B-8 (digest 4.5; SPIFFE bundle 5.1.1, 6.3): a map with a duplicate trust domain key is
/// rejected as a whole, although `serde_json` would keep the last one.
#[test]
fn b8_duplicate_trust_domain_rejects_the_map() {
    let document = r#"{"trust_domains": {
        "example.org": {"keys": []},
        "partner.example": {"keys": []},
        "example.org": {"keys": []}
    }}"#;
    match BundleSet::parse_bundle_map(document) {
        Err(Error::DuplicateTrustDomain { name }) => assert_eq!(name, "example.org"),
        other => panic!("{other:?}"),
    }
    // The same name spelled with an escape is the same key.
    let document =
        r#"{"trust_domains": {"a.example": {"keys": []}, "\u0061.example": {"keys": []}}}"#;
    assert!(matches!(
        BundleSet::parse_bundle_map(document),
        Err(Error::DuplicateTrustDomain { .. })
    ));
    // Duplicates elsewhere are refused too, with their position.
    let document = r#"{"trust_domains": {"a.example": {"keys": [], "keys": []}}}"#;
    match BundleSet::parse_bundle_map(document) {
        Err(Error::DuplicateJsonKey { pointer }) => {
            assert_eq!(pointer, "/trust_domains/a.example/keys");
        }
        other => panic!("{other:?}"),
    }
    let document = r#"{"trust_domains": {}, "trust_domains": {}}"#;
    assert!(matches!(
        BundleSet::parse_bundle_map(document),
        Err(Error::DuplicateJsonKey { .. })
    ));
}

/// B-9 (digest 4.5; SPIFFE bundle 5.1.1): `trust_domains` MUST be present.
#[test]
fn b9_missing_trust_domains_rejects_the_map() {
    for document in [
        json!({}),
        json!({"trust_domains": null}),
        json!({"keys": []}),
    ] {
        assert!(
            matches!(parse_map(&document), Err(Error::MissingTrustDomains)),
            "{document}"
        );
    }
    assert!(matches!(
        parse_map(&json!({"trust_domains": []})),
        Err(Error::NotAnObject {
            what: "trust_domains"
        })
    ));
    assert!(matches!(
        parse_map(&json!([])),
        Err(Error::NotAnObject { what: "bundle map" })
    ));
}

/// B-10 (digest 4.5; SPIFFE bundle 5.1.1): a per-bundle refresh hint inside a map is kept on
/// that bundle but does not govern the map: the set has no refresh interval, and emitted maps
/// leave per-bundle hints out, as producers should.
#[test]
fn b10_per_bundle_refresh_hints_do_not_govern_the_map() {
    let mut document = golden_map();
    document["trust_domains"]["example.org"]["spiffe_refresh_hint"] = json!(1);
    let set = parse_map(&document).unwrap();
    assert_eq!(
        set.get("example.org").unwrap().refresh_hint(),
        Some(Duration::from_secs(1))
    );
    let emitted: Value = serde_json::from_str(&set.to_bundle_map_json()).unwrap();
    assert!(
        emitted["trust_domains"]["example.org"]
            .get("spiffe_refresh_hint")
            .is_none()
    );
    // A bad hint still makes that bundle invalid (B-6), and with it the map.
    document["trust_domains"]["example.org"]["spiffe_refresh_hint"] = json!(0.5);
    assert!(matches!(
        parse_map(&document),
        Err(Error::BundleMapEntry { source, .. }) if matches!(*source, Error::InvalidRefreshHint)
    ));
}

/// Digest 4.5: keys are bare trust domain names, validated; the `spiffe://` form is the
/// Workload API's (digest 5.5), not the bundle map's.
#[test]
fn map_keys_are_bare_valid_trust_domain_names() {
    for key in [
        "spiffe://example.org",
        "Example.org",
        "",
        "a b",
        "example.org/path",
    ] {
        let document = json!({"trust_domains": {key: {"keys": []}}});
        match parse_map(&document) {
            Err(Error::BadTrustDomainKey { key: found, .. }) => assert_eq!(found, key),
            other => panic!("{key:?}: {other:?}"),
        }
    }
}

/// Digest 4.5, Appendix B.1: the map is one complete state, so one invalid bundle rejects it.
#[test]
fn one_invalid_bundle_rejects_the_map() {
    let mut document = golden_map();
    document["trust_domains"]["partner.example"]
        .as_object_mut()
        .unwrap()
        .remove("keys");
    match parse_map(&document) {
        Err(Error::BundleMapEntry {
            trust_domain,
            source,
        }) => {
            assert_eq!(trust_domain, td("partner.example"));
            assert!(matches!(*source, Error::MissingKeys));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn ignored_entries_name_their_trust_domain() {
    let mut document = golden_map();
    let mut entry = ec_jwt_entry("odd");
    entry["use"] = json!("nope");
    document["trust_domains"]["partner.example"]["keys"]
        .as_array_mut()
        .unwrap()
        .push(entry);
    let set = BundleSet::parse_bundle_map(document.to_string()).unwrap();
    let ignored: Vec<_> = set.ignored().collect();
    assert_eq!(ignored.len(), 1);
    let (reported_under, ignored) = ignored[0];
    assert_eq!(reported_under, &td("partner.example"));
    assert_eq!(ignored.trust_domain(), &td("partner.example"));
    let ignored = [ignored];
    assert_eq!(ignored[0].index(), 2);
    assert_eq!(
        ignored[0].reason(),
        &IgnoredReason::UnknownUse {
            value: "nope".into()
        }
    );
}

#[test]
fn from_bundles_refuses_a_trust_domain_twice() {
    let err = BundleSet::from_bundles([
        SpiffeBundle::new(td("a.example")),
        SpiffeBundle::new(td("a.example")),
    ])
    .unwrap_err();
    assert!(matches!(err, Error::DuplicateTrustDomain { name } if name == "a.example"));
}
