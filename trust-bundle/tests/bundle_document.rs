//! The SPIFFE bundle document: golden vectors, round trips, and one negative test per rule.
//!
//! Rule IDs (B-*, X-*, J-*) are from `shared/spec/SPIFFE-DIGEST.md` section 8.5; section numbers
//! name the digest section (and through it the spec section) each test enforces.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "helpers outside #[test] functions; a panic there is a failed test"
)]

mod common;

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::{
    data, ec_jwt_entry, golden, golden_entry, parse, parse_err, parse_ok, reasons, td, with_keys,
};
use serde_json::{Value, json};
use trust_bundle::{
    CertificateError, EcCurve, Error, IgnoredReason, JwtBundle, JwtKey, KeyError, SpiffeBundle,
    X509Bundle,
};

fn x5c(path: &str) -> String {
    STANDARD.encode(data(path))
}

// ---------------------------------------------------------------------------------------------
// Golden vectors and round trips
// ---------------------------------------------------------------------------------------------

#[test]
fn parses_golden_bundle() {
    let (bundle, ignored) = parse_ok(&golden());
    assert!(ignored.is_empty(), "{ignored:?}");
    assert_eq!(bundle.trust_domain(), &td("example.org"));
    assert_eq!(bundle.sequence(), Some(42));
    assert_eq!(bundle.refresh_hint(), Some(Duration::from_secs(300)));

    let authorities = bundle.x509_bundle().authorities();
    assert_eq!(authorities.len(), 1);
    assert_eq!(authorities[0].as_ref(), data("certs/ca-ec-p256.der"));

    let jwt = bundle.jwt_bundle();
    assert_eq!(jwt.len(), 2);
    let Some(JwtKey::Ec(ec)) = jwt.key("jwt-ec-p256") else {
        panic!("EC key expected");
    };
    assert_eq!(ec.curve(), EcCurve::P256);
    let x = URL_SAFE_NO_PAD
        .decode(golden_entry(1)["x"].as_str().unwrap())
        .unwrap();
    assert_eq!(ec.x(), x);
    assert_eq!(ec.sec1_uncompressed().len(), 65);
    let Some(JwtKey::Rsa(rsa)) = jwt.key("jwt-rsa-2048") else {
        panic!("RSA key expected");
    };
    assert_eq!(rsa.modulus_bits(), 2048);
    assert_eq!(rsa.exponent(), [1, 0, 1]);
}

#[test]
fn round_trips_golden_bundle() {
    let (bundle, _) = parse_ok(&golden());
    let emitted = bundle.to_json();
    let again = SpiffeBundle::parse(td("example.org"), &emitted).unwrap();
    let ignored = again.ignored().to_vec();
    assert!(ignored.is_empty());
    assert_eq!(again, bundle);
    assert_eq!(again.to_json(), emitted, "emission is deterministic");
}

/// The emitted document is the golden document, member for member: the X.509 entry carries
/// `kty`, `crv`, `x`, `y` taken from the certificate's key.
#[test]
fn emits_the_golden_document() {
    let (bundle, _) = parse_ok(&golden());
    let emitted: Value = serde_json::from_str(&bundle.to_json()).unwrap();
    assert_eq!(emitted, golden());
}

#[test]
fn round_trips_rsa_and_ed25519_authorities() {
    let document = with_keys(vec![
        json!({"kty": "RSA", "use": "x509-svid", "x5c": [x5c("certs/ca-rsa-2048.der")]}),
        json!({"kty": "OKP", "use": "x509-svid", "x5c": [x5c("certs/ca-ed25519.der")]}),
    ]);
    let (bundle, ignored) = parse_ok(&document);
    assert!(ignored.is_empty(), "{ignored:?}");
    assert_eq!(bundle.x509_bundle().len(), 2);
    let emitted: Value = serde_json::from_str(&bundle.to_json()).unwrap();
    let keys = emitted["keys"].as_array().unwrap();
    assert_eq!(keys[0]["kty"], "RSA");
    assert_eq!(keys[0]["e"], "AQAB");
    assert_eq!(
        URL_SAFE_NO_PAD
            .decode(keys[0]["n"].as_str().unwrap())
            .unwrap()
            .len(),
        256
    );
    assert_eq!(keys[1]["kty"], "OKP");
    assert_eq!(keys[1]["crv"], "Ed25519");
    assert_eq!(
        URL_SAFE_NO_PAD
            .decode(keys[1]["x"].as_str().unwrap())
            .unwrap()
            .len(),
        32
    );
    let (again, ignored) = parse_ok(&emitted);
    assert!(
        ignored.is_empty(),
        "the emitted members match the certificates"
    );
    assert_eq!(again, bundle);
}

#[test]
fn round_trips_a_built_bundle() {
    let x509 = X509Bundle::from_der(td("example.org"), &data("certs/ca-ec-p256.der")).unwrap();
    let jwt = JwtBundle::from_keys(
        td("example.org"),
        [(
            "k\"1\n",
            JwtKey::Ec(
                trust_bundle::EcPublicKey::from_coordinates(EcCurve::P521, &[3; 66], &[4; 66])
                    .unwrap(),
            ),
        )],
    )
    .unwrap();
    let bundle = SpiffeBundle::from_parts(x509, jwt)
        .unwrap()
        .with_sequence(u64::MAX)
        .with_refresh_hint(Duration::from_millis(1500));
    let again = SpiffeBundle::parse(td("example.org"), bundle.to_json()).unwrap();
    let ignored = again.ignored().to_vec();
    assert!(ignored.is_empty());
    assert_eq!(again.sequence(), Some(u64::MAX));
    // Sub-second hints are rounded up to whole seconds (digest 4.4 step 6).
    assert_eq!(again.refresh_hint(), Some(Duration::from_secs(2)));
    assert_eq!(again.x509_bundle(), bundle.x509_bundle());
    assert_eq!(again.jwt_bundle(), bundle.jwt_bundle());
    assert!(again.jwt_bundle().key("k\"1\n").is_some(), "kid is escaped");
}

#[test]
fn refuses_parts_of_different_trust_domains() {
    let err = SpiffeBundle::from_parts(
        X509Bundle::new(td("a.example")),
        JwtBundle::new(td("b.example")),
    )
    .unwrap_err();
    assert!(matches!(err, Error::TrustDomainMismatch { .. }), "{err:?}");
}

// ---------------------------------------------------------------------------------------------
// Document-level rules
// ---------------------------------------------------------------------------------------------

/// B-1 (digest 4.2, 4.4 step 2; SPIFFE bundle 4.1.3): `keys` MUST be present; missing or `null`
/// rejects the bundle.
#[test]
fn b1_rejects_missing_or_null_keys() {
    let mut document = golden();
    document.as_object_mut().unwrap().remove("keys");
    assert!(matches!(parse_err(&document), Error::MissingKeys));

    document["keys"] = Value::Null;
    assert!(matches!(parse_err(&document), Error::NullKeys));

    document["keys"] = json!({});
    assert!(matches!(parse_err(&document), Error::KeysNotArray));
}

/// B-1 (digest 4.2; SPIFFE bundle 4.1.3): `"keys": null` is refused, and the message says the
/// member is null rather than missing, so the publisher looks at the value, not the name.
#[test]
fn b1_null_keys_message_says_is_null() {
    let mut document = golden();
    document["keys"] = Value::Null;
    let message = parse_err(&document).to_string();
    assert!(message.contains("`keys` is null"), "{message}");
    assert!(!message.contains("missing"), "{message}");

    document.as_object_mut().unwrap().remove("keys");
    let message = parse_err(&document).to_string();
    assert!(message.contains("`keys` is missing"), "{message}");
}

/// B-2, B-3 (digest 4.4 step 4; SPIFFE bundle 4.2.1, 4.2.2): skipped entries are not authorities, but
/// the bundle keeps them by `kid`, with the reason, so a validator can say why a token's `kid`
/// has no key.
#[test]
fn skipped_entries_are_kept_by_kid() {
    let document = json!({"keys": [
        {"kty": "EC", "use": "wit-svid", "kid": "wit", "crv": "P-256"},
        {"kty": "XYZ", "use": "jwt-svid", "kid": "odd"},
        {"kty": "EC", "use": "jwt-svid"},
    ]});
    let (bundle, ignored) = parse(&document).unwrap();
    assert_eq!(ignored.len(), 3);
    let jwt = bundle.jwt_bundle();
    assert!(jwt.is_empty());
    let wit = jwt.ignored_key("wit").unwrap();
    assert_eq!(
        wit.reason(),
        &IgnoredReason::UseNotAccepted {
            value: "wit-svid".into()
        }
    );
    assert_eq!(wit.index(), 0);
    assert!(matches!(
        jwt.ignored_key("odd").unwrap().reason(),
        IgnoredReason::UnknownKeyType { .. }
    ));
    assert!(jwt.ignored_key("none").is_none());
}

/// Digest 4.4 step 2: the top level must be an object.
#[test]
fn rejects_non_object_document() {
    for document in [json!([]), json!("keys"), json!(null), json!(1)] {
        assert!(
            matches!(parse_err(&document), Error::NotAnObject { .. }),
            "{document}"
        );
    }
}

/// Digest 4.4 step 1 [rec] and SPIFFE bundle 6.3: repeated member names are refused at every
/// depth, with a JSON pointer to the repeat.
#[test]
fn rejects_duplicate_members_at_any_depth() {
    let cases = [
        (r#"{"keys": [], "keys": []}"#, "/keys"),
        (
            r#"{"keys": [{"kty": "EC", "kty": "RSA", "use": "jwt-svid"}]}"#,
            "/keys/0/kty",
        ),
        (
            r#"{"keys": [], "extra": {"a": [{"b": 1, "b": 2}]}}"#,
            "/extra/a/0/b",
        ),
    ];
    for (document, expected) in cases {
        match SpiffeBundle::parse(td("example.org"), document) {
            Err(Error::DuplicateJsonKey { pointer }) => assert_eq!(pointer, expected),
            other => panic!("{document}: {other:?}"),
        }
    }
}

#[test]
fn rejects_invalid_json() {
    for document in ["", "{", r#"{"keys": []} x"#, "{\"keys\": [\"\u{0}\"]}"] {
        assert!(
            matches!(
                SpiffeBundle::parse(td("example.org"), document),
                Err(Error::Json(_))
            ),
            "{document:?}"
        );
    }
    assert!(matches!(
        SpiffeBundle::parse(td("example.org"), b"{\"keys\": [\"\xff\"]}"),
        Err(Error::Json(_))
    ));
}

/// SPIFFE bundle 4.1: other members MAY be present and MUST NOT be required.
#[test]
fn accepts_unknown_top_level_members() {
    let mut document = golden();
    document["x-vendor"] = json!({"nested": [1, 2, {"a": null}]});
    let (bundle, ignored) = parse_ok(&document);
    assert!(ignored.is_empty());
    assert_eq!(bundle, parse_ok(&golden()).0);
}

/// B-5 (digest 4.2, 4.4 step 3; SPIFFE bundle 4.1.1): `spiffe_sequence` is a 64-bit unsigned
/// integer; 2^63+5 round-trips and anything else rejects the bundle.
#[test]
fn b5_sequence_is_u64() {
    let big = (1u64 << 63) + 5;
    let (bundle, _) = parse_ok(&json!({"spiffe_sequence": big, "keys": []}));
    assert_eq!(bundle.sequence(), Some(big));
    let emitted = bundle.to_json();
    assert!(emitted.contains("9223372036854775813"), "{emitted}");
    assert_eq!(
        SpiffeBundle::parse(td("example.org"), emitted)
            .unwrap()
            .sequence(),
        Some(big)
    );

    let (bundle, _) = parse_ok(&json!({"spiffe_sequence": null, "keys": []}));
    assert_eq!(bundle.sequence(), None);

    for bad in [
        r#"{"spiffe_sequence": -1, "keys": []}"#,
        r#"{"spiffe_sequence": 1.5, "keys": []}"#,
        r#"{"spiffe_sequence": 7.0, "keys": []}"#,
        r#"{"spiffe_sequence": 18446744073709551616, "keys": []}"#,
        r#"{"spiffe_sequence": "7", "keys": []}"#,
    ] {
        assert!(
            matches!(
                SpiffeBundle::parse(td("example.org"), bad),
                Err(Error::InvalidSequence)
            ),
            "{bad}"
        );
    }
}

/// B-6 (digest 4.2, 4.4 step 3; SPIFFE bundle 4.1.2): `spiffe_refresh_hint` must be an integer
/// number of seconds; a non-integer rejects the bundle [rec]. Negative values are rejected
/// too; zero is kept as `Duration::ZERO` (documented on `SpiffeBundle::parse`).
#[test]
fn b6_refresh_hint_must_be_an_integer() {
    for bad in [
        r#"{"spiffe_refresh_hint": 300.5, "keys": []}"#,
        r#"{"spiffe_refresh_hint": 3e2, "keys": []}"#,
        r#"{"spiffe_refresh_hint": "300", "keys": []}"#,
        r#"{"spiffe_refresh_hint": -1, "keys": []}"#,
        r#"{"spiffe_refresh_hint": true, "keys": []}"#,
    ] {
        assert!(
            matches!(
                SpiffeBundle::parse(td("example.org"), bad),
                Err(Error::InvalidRefreshHint)
            ),
            "{bad}"
        );
    }
    let (bundle, _) = parse_ok(&json!({"spiffe_refresh_hint": 0, "keys": []}));
    assert_eq!(bundle.refresh_hint(), Some(Duration::ZERO));
}

/// B-7 (digest 4.4 step 5; SPIFFE bundle 4.1.3): empty `keys`, or no usable keys, is not an
/// error but a bundle that authenticates nothing.
#[test]
fn b7_empty_or_unusable_keys_give_an_empty_bundle() {
    let (bundle, ignored) = parse_ok(&with_keys(vec![]));
    assert!(ignored.is_empty());
    assert!(bundle.is_empty());
    assert!(bundle.x509_bundle().is_empty());
    assert!(bundle.jwt_bundle().is_empty());

    let (bundle, ignored) = parse_ok(&with_keys(vec![
        json!({"kty": "XYZ", "use": "jwt-svid", "kid": "a"}),
        json!({"kty": "EC", "use": "x509-svid", "x5c": []}),
    ]));
    assert!(bundle.is_empty());
    assert_eq!(ignored.len(), 2);
}

// ---------------------------------------------------------------------------------------------
// Entry-level rules: the entry is ignored and reported, the rest of the bundle stands
// ---------------------------------------------------------------------------------------------

/// Appends `entry` to the golden keys and returns the single reason reported, after checking
/// the golden authorities are all still there.
fn reason_for_extra(entry: Value) -> IgnoredReason {
    let mut document = golden();
    document["keys"].as_array_mut().unwrap().push(entry);
    let (bundle, ignored) = parse_ok(&document);
    let golden_bundle = parse_ok(&golden()).0;
    assert_eq!(bundle, golden_bundle, "the other entries are unaffected");
    match reasons(&ignored).as_slice() {
        [(3, reason)] => reason.clone(),
        other => panic!("expected exactly entry 3 to be ignored, got {other:?}"),
    }
}

/// B-2 (digest 4.3, 4.4 step 4; SPIFFE bundle 4.2.1): an unknown `kty` ignores that entry, not
/// the bundle. A missing `kty` too (RFC 7517 4.1).
#[test]
fn b2_unknown_or_missing_kty_ignores_the_entry() {
    let mut entry = ec_jwt_entry("new");
    entry["kty"] = json!("XYZ");
    assert_eq!(
        reason_for_extra(entry.clone()),
        IgnoredReason::UnknownKeyType { kty: "XYZ".into() }
    );
    entry["kty"] = json!("ec");
    assert_eq!(
        reason_for_extra(entry.clone()),
        IgnoredReason::UnknownKeyType { kty: "ec".into() }
    );
    entry.as_object_mut().unwrap().remove("kty");
    assert_eq!(reason_for_extra(entry), IgnoredReason::MissingKeyType);
}

/// B-3 (digest 4.3, 4.4 step 4; SPIFFE bundle 4.2.2): a missing or unknown `use` ignores the
/// entry.
#[test]
fn b3_missing_or_unknown_use_ignores_the_entry() {
    let mut entry = ec_jwt_entry("new");
    entry.as_object_mut().unwrap().remove("use");
    assert_eq!(reason_for_extra(entry.clone()), IgnoredReason::MissingUse);
    entry["use"] = json!("sig");
    assert_eq!(
        reason_for_extra(entry),
        IgnoredReason::UnknownUse {
            value: "sig".into()
        }
    );
}

/// B-4 (digest 4.3; SPIFFE bundle 4.2.2): `use` is compared case-sensitively.
#[test]
fn b4_use_is_case_sensitive() {
    let mut entry = golden_entry(0);
    entry["use"] = json!("X509-SVID");
    assert_eq!(
        reason_for_extra(entry),
        IgnoredReason::UnknownUse {
            value: "X509-SVID".into()
        }
    );
    let mut entry = ec_jwt_entry("new");
    entry["use"] = json!("Jwt-Svid");
    assert_eq!(
        reason_for_extra(entry),
        IgnoredReason::UnknownUse {
            value: "Jwt-Svid".into()
        }
    );
}

/// X-13 (digest 2.5; X509-SVID 6.2): `x5c` missing or empty ignores the entry; with several
/// certificates only the first is used.
#[test]
fn x13_x5c_missing_empty_or_several() {
    let mut entry = golden_entry(0);
    entry.as_object_mut().unwrap().remove("x5c");
    assert_eq!(
        reason_for_extra(entry.clone()),
        IgnoredReason::MissingCertificate
    );
    entry["x5c"] = json!([]);
    assert_eq!(
        reason_for_extra(entry.clone()),
        IgnoredReason::MissingCertificate
    );
    entry["x5c"] = json!(null);
    assert_eq!(reason_for_extra(entry), IgnoredReason::MissingCertificate);

    let entry = json!({
        "kty": "RSA", "use": "x509-svid",
        "x5c": [x5c("certs/ca-rsa-2048.der"), x5c("certs/ca-ec-p256.der"), "not even base64"]
    });
    let (bundle, ignored) = parse_ok(&with_keys(vec![entry]));
    assert!(ignored.is_empty());
    assert_eq!(
        bundle.x509_bundle().authorities(),
        X509Bundle::from_der(td("example.org"), &data("certs/ca-rsa-2048.der"))
            .unwrap()
            .authorities()
    );
}

/// X-12 (digest 2.5; X509-SVID 6.1): published `x509-svid` entries have `use` `x509-svid`, no
/// `kid`, and exactly one `x5c` certificate, even when the input had a `kid` and a chain.
#[test]
fn x12_published_x509_entries_are_conformant() {
    let mut entry = golden_entry(0);
    entry["kid"] = json!("should-not-be-emitted");
    entry["x5c"]
        .as_array_mut()
        .unwrap()
        .push(json!(x5c("certs/ca-rsa-2048.der")));
    let (bundle, ignored) = parse_ok(&with_keys(vec![entry]));
    assert!(ignored.is_empty());
    let emitted: Value = serde_json::from_str(&bundle.to_json()).unwrap();
    let keys = emitted["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["use"], "x509-svid");
    assert!(keys[0].get("kid").is_none());
    assert_eq!(keys[0]["x5c"], json!([x5c("certs/ca-ec-p256.der")]));
}

/// J-13 (digest 3.6, 4.3; JWT-SVID 6.1): a `jwt-svid` entry without `kid` is ignored and
/// reported [rec, digest 4.4 step 4]; published JWT keys always carry `kid`; a builder refuses
/// an empty one.
#[test]
fn j13_jwt_keys_carry_kid() {
    let mut entry = ec_jwt_entry("x");
    entry.as_object_mut().unwrap().remove("kid");
    assert_eq!(reason_for_extra(entry.clone()), IgnoredReason::MissingKeyId);
    entry["kid"] = json!("");
    assert_eq!(reason_for_extra(entry.clone()), IgnoredReason::MissingKeyId);
    entry["kid"] = json!(5);
    assert_eq!(
        reason_for_extra(entry),
        IgnoredReason::WrongMemberType { member: "kid" }
    );

    let (bundle, _) = parse_ok(&golden());
    let emitted: Value = serde_json::from_str(&bundle.to_json()).unwrap();
    for key in emitted["keys"].as_array().unwrap() {
        if key["use"] == "jwt-svid" {
            assert!(
                key["kid"].as_str().is_some_and(|kid| !kid.is_empty()),
                "{key}"
            );
        }
    }

    let key = bundle.jwt_bundle().key("jwt-ec-p256").unwrap().clone();
    assert!(matches!(
        JwtBundle::from_keys(td("example.org"), [("", key)]),
        Err(Error::EmptyKeyId)
    ));
}

/// Digest 4.4 step 4 [rec]: duplicate `kid`s among `jwt-svid` entries are an error for that
/// `kid`: every entry with it is dropped and reported; other keys stay.
#[test]
fn duplicate_kid_drops_every_entry_with_it() {
    let (bundle, ignored) = parse_ok(&with_keys(vec![
        ec_jwt_entry("dup"),
        ec_jwt_entry("ok"),
        golden_entry(2).tap_kid("dup"),
    ]));
    assert_eq!(
        reasons(&ignored),
        [
            (0, IgnoredReason::DuplicateKeyId),
            (2, IgnoredReason::DuplicateKeyId)
        ]
    );
    assert_eq!(ignored[0].kid(), Some("dup"));
    assert_eq!(
        bundle
            .jwt_bundle()
            .keys()
            .map(|(kid, _)| kid)
            .collect::<Vec<_>>(),
        ["ok"]
    );

    let key = bundle.jwt_bundle().key("ok").unwrap().clone();
    assert!(matches!(
        JwtBundle::from_keys(td("example.org"), [("a", key.clone()), ("a", key)]),
        Err(Error::DuplicateKeyId { kid }) if kid == "a"
    ));
}

trait TapKid {
    fn tap_kid(self, kid: &str) -> Self;
}

impl TapKid for Value {
    fn tap_kid(mut self, kid: &str) -> Self {
        self["kid"] = json!(kid);
        self
    }
}

/// J-11 (digest 3.4, 8.1; JWT-SVID 6; SPIFFE bundle 4.2.2): a key whose `use` is not
/// `jwt-svid` never becomes a JWT authority, even when its members form a valid JWT key.
#[test]
fn j11_non_jwt_use_is_never_a_jwt_key() {
    let mut as_x509 = ec_jwt_entry("looks-like-jwt");
    as_x509["use"] = json!("x509-svid");
    as_x509["x5c"] = json!([x5c("certs/ca-ec-p256.der")]);
    let mut as_wit = ec_jwt_entry("wit-key");
    as_wit["use"] = json!("wit-svid");
    let mut upper = ec_jwt_entry("upper");
    upper["use"] = json!("JWT-SVID");

    let (bundle, ignored) = parse_ok(&with_keys(vec![as_x509, as_wit, upper]));
    assert!(bundle.jwt_bundle().is_empty());
    assert_eq!(
        reasons(&ignored),
        [
            // The x509-svid entry's members do not match its certificate.
            (0, IgnoredReason::CertificateKeyMismatch),
            (
                1,
                IgnoredReason::UseNotAccepted {
                    value: "wit-svid".into()
                }
            ),
            (
                2,
                IgnoredReason::UnknownUse {
                    value: "JWT-SVID".into()
                }
            ),
        ]
    );
}

/// Digest 4.4 step 4, JWT-SVID 2.1: `OKP` (Ed25519), `oct` and curves other than
/// P-256/P-384/P-521 are unusable for JWT-SVID and ignored.
#[test]
fn unusable_jwt_key_types_are_ignored() {
    let okp = json!({"kty": "OKP", "use": "jwt-svid", "kid": "ed", "crv": "Ed25519",
                     "x": URL_SAFE_NO_PAD.encode([9; 32])});
    assert_eq!(
        reason_for_extra(okp),
        IgnoredReason::UnsupportedKeyType { kty: "OKP".into() }
    );
    let oct = json!({"kty": "oct", "use": "jwt-svid", "kid": "hmac"});
    assert_eq!(
        reason_for_extra(oct),
        IgnoredReason::UnsupportedKeyType { kty: "oct".into() }
    );
    let mut k1 = ec_jwt_entry("k1");
    k1["crv"] = json!("secp256k1");
    assert_eq!(
        reason_for_extra(k1),
        IgnoredReason::UnsupportedCurve {
            crv: "secp256k1".into()
        }
    );
}

/// RFC 7518 6.2.1.2: EC coordinates have exactly the curve's length; no padding or trimming.
#[test]
fn ec_coordinates_must_have_the_curve_length() {
    let mut short = ec_jwt_entry("short");
    short["x"] = json!(URL_SAFE_NO_PAD.encode([1; 31]));
    assert_eq!(
        reason_for_extra(short),
        IgnoredReason::InvalidKey(KeyError::BadCoordinateLength {
            member: "x",
            curve: EcCurve::P256,
            expected: 32,
            found: 31
        })
    );
    let mut p384 = ec_jwt_entry("p384");
    p384["crv"] = json!("P-384");
    assert_eq!(
        reason_for_extra(p384),
        IgnoredReason::InvalidKey(KeyError::BadCoordinateLength {
            member: "x",
            curve: EcCurve::P384,
            expected: 48,
            found: 32
        })
    );
    let mut p521 = ec_jwt_entry("p521");
    p521["crv"] = json!("P-521");
    p521["x"] = json!(URL_SAFE_NO_PAD.encode([1; 66]));
    p521["y"] = json!(URL_SAFE_NO_PAD.encode([2; 66]));
    let mut document = golden();
    document["keys"].as_array_mut().unwrap().push(p521);
    let (bundle, ignored) = parse_ok(&document);
    assert!(ignored.is_empty());
    let key = bundle.jwt_bundle().key("p521").unwrap().as_ec().unwrap();
    assert_eq!(
        (key.curve(), key.x().len(), key.y().len()),
        (EcCurve::P521, 66, 66)
    );

    let mut missing = ec_jwt_entry("missing");
    missing.as_object_mut().unwrap().remove("y");
    assert_eq!(
        reason_for_extra(missing),
        IgnoredReason::InvalidKey(KeyError::MissingMember { member: "y" })
    );
    let mut not_b64 = ec_jwt_entry("b64");
    not_b64["x"] = json!("AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQ+");
    assert_eq!(
        reason_for_extra(not_b64),
        IgnoredReason::InvalidKey(KeyError::Base64 { member: "x" })
    );
}

/// JWT-SVID 2.1, RFC 7518 3.3: RSA keys under 2048 bits are unusable and ignored; leading zero
/// bytes are stripped.
#[test]
fn rsa_jwt_keys_are_checked() {
    let small = json!({"kty": "RSA", "use": "jwt-svid", "kid": "small",
                       "n": URL_SAFE_NO_PAD.encode([0xc1; 128]), "e": "AQAB"});
    assert_eq!(
        reason_for_extra(small),
        IgnoredReason::InvalidKey(KeyError::RsaModulusTooSmall { bits: 1024 })
    );
    let bad_e = json!({"kty": "RSA", "use": "jwt-svid", "kid": "e",
                       "n": URL_SAFE_NO_PAD.encode([0xc1; 256]), "e": "AQAA"});
    assert_eq!(
        reason_for_extra(bad_e),
        IgnoredReason::InvalidKey(KeyError::BadRsaExponent)
    );

    let mut padded = vec![0, 0];
    padded.extend_from_slice(&[0xc1; 256]);
    let entry = json!({"kty": "RSA", "use": "jwt-svid", "kid": "padded",
                       "n": URL_SAFE_NO_PAD.encode(&padded), "e": "AAEAAQ"});
    let (bundle, ignored) = parse_ok(&with_keys(vec![entry]));
    assert!(ignored.is_empty());
    let key = bundle.jwt_bundle().key("padded").unwrap().as_rsa().unwrap();
    assert_eq!(key.modulus(), [0xc1; 256]);
    assert_eq!(key.exponent(), [1, 0, 1]);
}

/// Digest 2.5 [rec], RFC 7517 4.7: key members next to `x5c` must match the certificate; the
/// certificate is the authority. Absent members are fine.
#[test]
fn x509_entry_members_must_match_the_certificate() {
    let mut wrong_point = golden_entry(0);
    wrong_point["x"] = golden_entry(1)["x"].clone();
    assert_eq!(
        reason_for_extra(wrong_point),
        IgnoredReason::CertificateKeyMismatch
    );

    let mut wrong_kty = golden_entry(0);
    wrong_kty["kty"] = json!("RSA");
    assert_eq!(
        reason_for_extra(wrong_kty),
        IgnoredReason::CertificateKeyMismatch
    );

    let mut wrong_crv = golden_entry(0);
    wrong_crv["crv"] = json!("P-384");
    assert_eq!(
        reason_for_extra(wrong_crv),
        IgnoredReason::CertificateKeyMismatch
    );

    let bare = json!({"kty": "EC", "use": "x509-svid", "x5c": [x5c("certs/ca-ec-p256.der")]});
    let (bundle, ignored) = parse_ok(&with_keys(vec![bare]));
    assert!(ignored.is_empty());
    assert_eq!(bundle.x509_bundle().len(), 1);
}

/// Digest 4.4 step 4 [rec]: an `x5c` that is not base64 DER of a certificate ignores the entry.
#[test]
fn bad_x5c_certificates_are_ignored() {
    let mut entry = golden_entry(0);
    entry["x5c"] = json!(["*not base64*"]);
    assert_eq!(
        reason_for_extra(entry.clone()),
        IgnoredReason::CertificateBase64
    );

    // base64url is not base64 (RFC 7517 4.7) when it uses `-` or `_`.
    entry["x5c"] = json!(["__--"]);
    assert_eq!(
        reason_for_extra(entry.clone()),
        IgnoredReason::CertificateBase64
    );

    entry["x5c"] = json!([STANDARD.encode([0x30, 0x03, 0x02, 0x01, 0x01])]);
    assert_eq!(
        reason_for_extra(entry.clone()),
        IgnoredReason::InvalidCertificate(CertificateError::UnexpectedTag {
            offset: 2,
            expected: "tbsCertificate",
            found: Some(0x02)
        })
    );

    entry["x5c"] = json!([x5c("certs/ca-ec-secp256k1.der")]);
    assert_eq!(
        reason_for_extra(entry.clone()),
        IgnoredReason::InvalidCertificate(CertificateError::UnsupportedKey)
    );

    entry["x5c"] = json!([5]);
    assert_eq!(
        reason_for_extra(entry),
        IgnoredReason::WrongMemberType { member: "x5c" }
    );
}

/// A certificate listed twice is one authority; the repeat is reported.
#[test]
fn duplicate_certificates_are_reported() {
    let mut document = golden();
    let first = golden_entry(0);
    document["keys"].as_array_mut().unwrap().push(first);
    let (bundle, ignored) = parse_ok(&document);
    assert_eq!(bundle.x509_bundle().len(), 1);
    assert_eq!(
        reasons(&ignored),
        [(3, IgnoredReason::DuplicateCertificate)]
    );
}

/// SPIFFE bundle 3, 4.2: an entry that publishes private key members is not trusted.
#[test]
fn entries_with_private_key_members_are_ignored() {
    let mut entry = ec_jwt_entry("leaked");
    entry["d"] = json!(URL_SAFE_NO_PAD.encode([5; 32]));
    assert_eq!(reason_for_extra(entry), IgnoredReason::PrivateKeyMaterial);
    let mut entry = golden_entry(0);
    entry["d"] = json!(URL_SAFE_NO_PAD.encode([5; 32]));
    assert_eq!(reason_for_extra(entry), IgnoredReason::PrivateKeyMaterial);
}

/// Digest 4.4 step 4: an element of `keys` that is not an object is skipped.
#[test]
fn non_object_entries_are_ignored() {
    for entry in [json!(5), json!("EC"), json!([]), json!(true)] {
        assert_eq!(reason_for_extra(entry), IgnoredReason::NotAnObject);
    }
    assert_eq!(
        reason_for_extra(json!({"kty": 5, "use": "jwt-svid"})),
        IgnoredReason::WrongMemberType { member: "kty" }
    );
}

#[test]
fn ignored_keys_are_printable_and_bounded() {
    let long = "x".repeat(10_000);
    let mut entry = ec_jwt_entry(&long);
    entry["kty"] = json!(long);
    let mut document = golden();
    document["keys"].as_array_mut().unwrap().push(entry);
    let (_, ignored) = parse_ok(&document);
    let text = ignored[0].to_string();
    assert!(text.starts_with("bundle of example.org: keys[3]"), "{text}");
    assert!(text.len() < 300, "reported strings are cut: {text}");
    assert_eq!(ignored[0].trust_domain(), &td("example.org"));
}

#[test]
fn error_messages_are_lower_case_and_cite_the_spec() {
    let err = parse_err(&json!({}));
    assert_eq!(err.to_string(), "`keys` is missing (SPIFFE bundle 4.1.3)");
    let err = parse_err(&json!({"keys": [], "spiffe_refresh_hint": 1.5}));
    assert!(err.to_string().contains("(SPIFFE bundle 4.1.2)"));
    // The source chain keeps the cause.
    let err = SpiffeBundle::parse(td("example.org"), "{").unwrap_err();
    assert!(std::error::Error::source(&err).is_some());
    let _ = parse(&golden()).unwrap();
}
