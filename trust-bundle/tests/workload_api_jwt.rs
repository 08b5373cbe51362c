//! JWT bundles as the Workload API delivers them (`JWTBundlesResponse`, digest 5.4).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "helpers outside #[test] functions; a panic there is a failed test"
)]

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::{data, ec_jwt_entry, golden_entry, parse_ok, reasons, td, with_keys};
use serde_json::{Value, json};
use trust_bundle::{Error, IgnoredKey, IgnoredReason, JwtBundle};

fn parse(document: &Value) -> Result<(JwtBundle, Vec<IgnoredKey>), Error> {
    JwtBundle::parse_workload_api(td("example.org"), document.to_string()).map(|bundle| {
        let ignored = bundle.ignored().to_vec();
        (bundle, ignored)
    })
}

fn without_use(mut entry: Value) -> Value {
    entry.as_object_mut().unwrap().remove("use");
    entry
}

/// Digest 5.4 [de facto] / 8.4 item 11: SPIRE sends a standard JWKS without `use` and without
/// `spiffe_*` members; those keys are JWT authorities.
#[test]
fn accepts_keys_without_use() {
    let document = with_keys(vec![
        without_use(golden_entry(1)),
        without_use(golden_entry(2)),
        ec_jwt_entry("explicit"),
    ]);
    let (bundle, ignored) = parse(&document).unwrap();
    assert!(ignored.is_empty(), "{ignored:?}");
    assert_eq!(
        bundle.keys().map(|(kid, _)| kid).collect::<Vec<_>>(),
        ["explicit", "jwt-ec-p256", "jwt-rsa-2048"]
    );
    // The same entries in a SPIFFE bundle document lack a required `use` (B-3).
    let (spiffe, ignored) = parse_ok(&document);
    assert_eq!(spiffe.jwt_bundle().len(), 1);
    assert_eq!(
        reasons(&ignored),
        [
            (0, IgnoredReason::MissingUse),
            (1, IgnoredReason::MissingUse)
        ]
    );
}

/// W-API-7 (digest 5.12; Workload API 6.2.2): JWT bundles contain no non-JWT keys: an entry
/// whose `use` is present and not `jwt-svid` is dropped, and so are unusable key types.
#[test]
fn w_api_7_non_jwt_keys_are_dropped() {
    let x509 = json!({"kty": "EC", "use": "x509-svid",
                      "x5c": [STANDARD.encode(data("certs/ca-ec-p256.der"))]});
    let mut wit = ec_jwt_entry("wit");
    wit["use"] = json!("wit-svid");
    let mut enc = ec_jwt_entry("enc");
    enc["use"] = json!("enc");
    let okp = json!({"kty": "OKP", "kid": "ed", "crv": "Ed25519",
                     "x": "CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk"});
    let document = with_keys(vec![x509, wit, enc, okp, without_use(ec_jwt_entry("good"))]);
    let (bundle, ignored) = parse(&document).unwrap();
    assert_eq!(
        bundle.keys().map(|(kid, _)| kid).collect::<Vec<_>>(),
        ["good"]
    );
    assert_eq!(
        reasons(&ignored),
        [
            (
                0,
                IgnoredReason::UseNotAccepted {
                    value: "x509-svid".into()
                }
            ),
            (
                1,
                IgnoredReason::UseNotAccepted {
                    value: "wit-svid".into()
                }
            ),
            (
                2,
                IgnoredReason::UnknownUse {
                    value: "enc".into()
                }
            ),
            (3, IgnoredReason::UnsupportedKeyType { kty: "OKP".into() }),
        ]
    );
}

/// The SPIFFE bundle members are not read here (SPIRE omits them), so odd values are not fatal.
#[test]
fn spiffe_members_are_not_read() {
    let document = json!({"spiffe_sequence": "x", "spiffe_refresh_hint": 0.5, "keys": []});
    assert!(parse(&document).unwrap().0.is_empty());
}

/// B-1 applies to the JWKS too: `keys` is required (RFC 7517 5).
#[test]
fn keys_are_required() {
    assert!(matches!(parse(&json!({})), Err(Error::MissingKeys)));
    assert!(matches!(
        parse(&json!({"keys": null})),
        Err(Error::NullKeys)
    ));
    assert!(matches!(parse(&json!([])), Err(Error::NotAnObject { .. })));
}

#[test]
fn duplicate_and_missing_kids_are_reported() {
    let document = with_keys(vec![
        without_use(ec_jwt_entry("a")),
        without_use(ec_jwt_entry("a")),
        without_use(golden_entry(1)).tap_remove("kid"),
    ]);
    let (bundle, ignored) = parse(&document).unwrap();
    assert!(bundle.is_empty());
    assert_eq!(
        reasons(&ignored),
        [
            (0, IgnoredReason::DuplicateKeyId),
            (1, IgnoredReason::DuplicateKeyId),
            (2, IgnoredReason::MissingKeyId)
        ]
    );
}

trait TapRemove {
    fn tap_remove(self, member: &str) -> Self;
}

impl TapRemove for Value {
    fn tap_remove(mut self, member: &str) -> Self {
        self.as_object_mut().unwrap().remove(member);
        self
    }
}

#[test]
fn round_trips_through_workload_api_json() {
    let document = with_keys(vec![
        without_use(golden_entry(1)),
        without_use(golden_entry(2)),
    ]);
    let (bundle, _) = parse(&document).unwrap();
    let emitted = bundle.to_workload_api_json();
    let again = JwtBundle::parse_workload_api(td("example.org"), &emitted).unwrap();
    let ignored = again.ignored().to_vec();
    assert!(ignored.is_empty());
    assert_eq!(again, bundle);
    let emitted: Value = serde_json::from_str(&emitted).unwrap();
    for key in emitted["keys"].as_array().unwrap() {
        assert_eq!(key["use"], "jwt-svid");
        assert!(key["kid"].is_string());
    }
}
