//! `serde` support: values travel as strings and are validated on the way in.
#![cfg(feature = "serde")]

use spiffe_id::{IdPattern, SpiffeId, TrustDomain};

#[test]
fn spiffe_id_serializes_as_a_json_string() {
    let id = SpiffeId::parse("spiffe://example.org/ns/prod").unwrap();
    assert_eq!(
        serde_json::to_string(&id).unwrap(),
        r#""spiffe://example.org/ns/prod""#
    );
    let back: SpiffeId = serde_json::from_str(r#""spiffe://example.org/ns/prod""#).unwrap();
    assert_eq!(back, id);
}

#[test]
fn trust_domain_serializes_as_its_bare_name() {
    let td = TrustDomain::parse("example.org").unwrap();
    assert_eq!(serde_json::to_string(&td).unwrap(), r#""example.org""#);
    let back: TrustDomain = serde_json::from_str(r#""example.org""#).unwrap();
    assert_eq!(back, td);
}

#[test]
fn id_pattern_serializes_as_written() {
    let pattern = IdPattern::parse("spiffe://example.org/*/web/**").unwrap();
    assert_eq!(
        serde_json::to_string(&pattern).unwrap(),
        r#""spiffe://example.org/*/web/**""#
    );
    let back: IdPattern = serde_json::from_str(r#""spiffe://example.org/*/web/**""#).unwrap();
    assert_eq!(back, pattern);
}

#[test]
fn values_round_trip_inside_containers_and_through_escapes() {
    let ids = vec![
        SpiffeId::parse("spiffe://a/x").unwrap(),
        SpiffeId::parse("spiffe://b").unwrap(),
    ];
    let json = serde_json::to_string(&ids).unwrap();
    assert_eq!(json, r#"["spiffe://a/x","spiffe://b"]"#);
    assert_eq!(serde_json::from_str::<Vec<SpiffeId>>(&json).unwrap(), ids);
    // An escaped (owned) string goes through the same validation as a borrowed one.
    let escaped: SpiffeId = serde_json::from_str(r#""spiffe:\/\/a\/x""#).unwrap();
    assert_eq!(escaped, ids[0]);
    let from_value: SpiffeId =
        serde_json::from_value(serde_json::Value::String("spiffe://a/x".into())).unwrap();
    assert_eq!(from_value, ids[0]);
}

/// Deserialising validates: an uppercase trust domain is refused, not normalised
/// (shared/spec/SPIFFE-DIGEST.md 1.2, 8.5 ID-5).
#[test]
fn deserializing_invalid_spiffe_id_fails_with_the_parse_error() {
    let err = serde_json::from_str::<SpiffeId>(r#""spiffe://Example.org""#).unwrap_err();
    assert!(err.is_data(), "{err}");
    assert!(
        err.to_string().contains("found byte 0x45 at offset 9"),
        "{err}"
    );
    for bad in [
        r#""spiffe://example.org/""#,
        r#""spiffe://example.org/a/../b""#,
        r#""SPIFFE://example.org/a""#,
        r#""""#,
        r#""spiffe:\/\/example.org\/%41""#,
    ] {
        assert!(serde_json::from_str::<SpiffeId>(bad).is_err(), "{bad}");
    }
}

/// Deserialising a trust domain takes the bare name only and validates it
/// (shared/spec/SPIFFE-DIGEST.md 1.2).
#[test]
fn deserializing_invalid_trust_domain_fails() {
    for bad in [
        r#""Example.org""#,
        r#""spiffe://example.org""#,
        r#""""#,
        r#""example.org/path""#,
    ] {
        let err = serde_json::from_str::<TrustDomain>(bad).unwrap_err();
        assert!(err.is_data(), "{bad}: {err}");
    }
    let long = format!("\"{}\"", "a".repeat(256));
    let err = serde_json::from_str::<TrustDomain>(&long).unwrap_err();
    assert!(err.to_string().contains("256 bytes long"), "{err}");
}

#[test]
fn deserializing_invalid_pattern_fails() {
    for bad in [
        r#""spiffe://example.org/web-*""#,
        r#""spiffe://example.org/**/a""#,
        r#""spiffe://*/a""#,
        r#""spiffe://example.org/""#,
    ] {
        let err = serde_json::from_str::<IdPattern>(bad).unwrap_err();
        assert!(err.is_data(), "{bad}: {err}");
    }
}

#[test]
fn deserializing_non_string_json_fails() {
    for bad in [
        "42",
        "null",
        "true",
        r#"["spiffe://a/b"]"#,
        r#"{"id":"spiffe://a/b"}"#,
    ] {
        let err = serde_json::from_str::<SpiffeId>(bad).unwrap_err();
        assert!(err.is_data(), "{bad}: {err}");
        assert!(
            err.to_string().contains("a SPIFFE ID string"),
            "{bad}: {err}"
        );
        assert!(serde_json::from_str::<TrustDomain>(bad).is_err(), "{bad}");
        assert!(serde_json::from_str::<IdPattern>(bad).is_err(), "{bad}");
    }
    let err = serde_json::from_str::<TrustDomain>("1").unwrap_err();
    assert!(err.to_string().contains("a trust domain name"), "{err}");
    let err = serde_json::from_str::<IdPattern>("1").unwrap_err();
    assert!(
        err.to_string().contains("a SPIFFE ID pattern string"),
        "{err}"
    );
}
