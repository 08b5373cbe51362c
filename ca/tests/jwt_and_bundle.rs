//! JWT-SVID issuance (digest 3.8; J-12, J-13) and bundle publication (digest 2.5, 4.2; X-12).

#![cfg(any(feature = "ring", feature = "aws-lc-rs"))]

mod common;

use std::time::Duration;

use ca::{Error, JwtSvidRequest};
use common::{
    after, builder, bundle_json, id, jwt_parts, root, secs, t0, validate_jwt as validate,
};
use serde_json::json;
use svid::JwtAlgorithm;
use trust_bundle::SpiffeBundle;

fn web(aud: &[&str]) -> JwtSvidRequest {
    JwtSvidRequest::new(id("spiffe://example.org/web"), aud.iter().copied())
}

/// J-12: the header carries exactly `alg`, `kid`, `typ` (JWT-SVID 2); claims `sub`, `aud`
/// (array), `exp`, `iat` (digest 3.8).
#[test]
fn header_and_claims() {
    let ca = root();
    let token = ca.mint_jwt_svid(&web(&["db", ""]), after(10)).unwrap();
    let (header, claims) = jwt_parts(&token);
    let header = header.as_object().unwrap();
    let mut names: Vec<_> = header.keys().cloned().collect();
    names.sort();
    assert_eq!(names, ["alg", "kid", "typ"]);
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["typ"], "JWT");
    assert_eq!(claims["sub"], "spiffe://example.org/web");
    assert_eq!(claims["aud"], json!(["db"]), "empty audiences are dropped");
    assert_eq!(claims["iat"], json!(secs(after(10))));
    assert_eq!(claims["exp"], json!(secs(after(10)) + 300));
    let verified = validate(&ca.bundle(), &token, "db", after(10)).unwrap();
    assert_eq!(verified.spiffe_id().path(), "/web");
}

/// J-13: the signing key is published as `use: jwt-svid` with the header's `kid`.
#[test]
fn published_jwt_key_carries_the_kid() {
    let ca = root();
    let token = ca.mint_jwt_svid(&web(&["db"]), t0()).unwrap();
    let (header, _) = jwt_parts(&token);
    let doc = bundle_json(&ca.bundle());
    let jwt_keys: Vec<_> = doc["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["use"] == "jwt-svid")
        .collect();
    assert_eq!(jwt_keys.len(), 1);
    assert_eq!(jwt_keys[0]["kid"], header["kid"]);
    assert!(!jwt_keys[0]["kid"].as_str().unwrap().is_empty());
}

/// `kid`s are random and unique per key (checked across CAs and rotations).
#[test]
fn kids_are_unique() {
    let mut kids = std::collections::HashSet::new();
    for _ in 0..8 {
        let ca = root();
        // A key that signed something stays published after rotation.
        ca.mint_jwt_svid(&web(&["db"]), t0()).unwrap();
        ca.force_rotate_jwt(t0()).unwrap();
        for (kid, _) in ca.bundle().jwt_bundle().keys() {
            assert!(kids.insert(kid.to_owned()), "kid {kid} repeated");
        }
    }
    assert_eq!(kids.len(), 16);
}

/// JWT-SVID 3.2: `aud` must hold at least one value (negative test).
#[test]
fn rejects_empty_audience() {
    let ca = root();
    assert!(matches!(
        ca.mint_jwt_svid(&web(&[]), t0()),
        Err(Error::EmptyAudience)
    ));
    assert!(matches!(
        ca.mint_jwt_svid(&web(&["", ""]), t0()),
        Err(Error::EmptyAudience)
    ));
}

/// Extra claims are added but can never override registered ones (negative test).
#[test]
fn extra_claims_cannot_override_registered_claims() {
    let ca = root();
    let token = ca
        .mint_jwt_svid(
            &web(&["db"]).claim("tenant", json!({"name": "blue", "n": 1})),
            t0(),
        )
        .unwrap();
    let (_, claims) = jwt_parts(&token);
    assert_eq!(claims["tenant"], json!({"name": "blue", "n": 1}));
    for name in ["sub", "aud", "exp", "iat", "nbf", "iss", "jti"] {
        let err = ca
            .mint_jwt_svid(&web(&["db"]).claim(name, json!("x")), t0())
            .unwrap_err();
        assert!(
            matches!(err, Error::ReservedClaim { .. }),
            "{name}: {err:?}"
        );
    }
}

/// `exp` is capped at the signing key's expiry.
#[test]
fn exp_is_capped_at_key_expiry() {
    let ca = builder()
        .jwt_key_ttl(Duration::from_secs(3600))
        .build(t0())
        .unwrap();
    let token = ca
        .mint_jwt_svid(&web(&["db"]).ttl(Duration::from_secs(7200)), after(3000))
        .unwrap();
    let (_, claims) = jwt_parts(&token);
    assert_eq!(claims["exp"], json!(secs(t0()) + 3600));
    assert!(matches!(
        ca.mint_jwt_svid(&web(&["db"]), after(3600)),
        Err(Error::AuthorityNotValid)
    ));
}

#[test]
fn jwt_rejects_foreign_and_root_ids() {
    let ca = root();
    let foreign = JwtSvidRequest::new(id("spiffe://other.org/web"), ["db"]);
    assert!(matches!(
        ca.mint_jwt_svid(&foreign, t0()),
        Err(Error::TrustDomainMismatch { .. })
    ));
    let root_id = JwtSvidRequest::new(id("spiffe://example.org"), ["db"]);
    assert!(matches!(
        ca.mint_jwt_svid(&root_id, t0()),
        Err(Error::RootIdForWorkload { .. })
    ));
}

#[test]
fn es384_signing() {
    let ca = builder()
        .jwt_algorithm(JwtAlgorithm::Es384)
        .build(t0())
        .unwrap();
    let token = ca.mint_jwt_svid(&web(&["db"]), t0()).unwrap();
    assert_eq!(jwt_parts(&token).0["alg"], "ES384");
    assert!(validate(&ca.bundle(), &token, "db", t0()).is_ok());
}

#[cfg(feature = "aws-lc-rs")]
#[test]
fn rsa_signing_with_aws_lc_rs() {
    for (algorithm, name) in [
        (JwtAlgorithm::Rs256, "RS256"),
        (JwtAlgorithm::Ps256, "PS256"),
    ] {
        let ca = builder()
            .crypto(svid::Crypto::aws_lc_rs())
            .jwt_algorithm(algorithm)
            .build(t0())
            .unwrap();
        let token = ca.mint_jwt_svid(&web(&["db"]), t0()).unwrap();
        assert_eq!(jwt_parts(&token).0["alg"], name);
        assert!(validate(&ca.bundle(), &token, "db", t0()).is_ok());
    }
}

/// JWT-SVID 2.1 lists no EdDSA and nothing beyond the nine; the CA refuses to sign with
/// algorithms it does not implement rather than emitting something else.
#[test]
fn unsupported_jwt_algorithms_are_refused() {
    for algorithm in [
        JwtAlgorithm::Es512,
        JwtAlgorithm::Rs512,
        JwtAlgorithm::Ps384,
    ] {
        let err = builder().jwt_algorithm(algorithm).build(t0()).unwrap_err();
        assert!(matches!(err, Error::Unsupported { .. }), "{err:?}");
    }
}

/// X-12 (digest 2.5): X.509 authorities are published with `use: x509-svid`, no `kid`, and
/// exactly one `x5c` certificate (the CA itself); `spiffe_sequence` and
/// `spiffe_refresh_hint` are present (digest 4.2).
#[test]
fn bundle_document_publishes_x509_authorities_per_spec() {
    let ca = builder()
        .refresh_hint(Duration::from_secs(120))
        .build(t0())
        .unwrap();
    let doc = bundle_json(&ca.bundle());
    assert_eq!(doc["spiffe_refresh_hint"], 120);
    assert!(doc["spiffe_sequence"].as_u64().unwrap() >= 1);
    let x509: Vec<_> = doc["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["use"] == "x509-svid")
        .collect();
    assert_eq!(x509.len(), 1);
    assert!(
        x509[0].get("kid").is_none(),
        "x509-svid entries have no kid"
    );
    let x5c = x509[0]["x5c"].as_array().unwrap();
    assert_eq!(x5c.len(), 1);
    use base64::Engine;
    let der = base64::engine::general_purpose::STANDARD
        .decode(x5c[0].as_str().unwrap())
        .unwrap();
    assert_eq!(der, ca.x509_authority_certificate().unwrap().as_ref());
    // The document parses back to the same bundle.
    let again = SpiffeBundle::parse(common::td("example.org"), ca.bundle().to_json()).unwrap();
    let ignored = again.ignored().to_vec();
    assert!(ignored.is_empty());
    assert_eq!(&again, ca.bundle().as_ref());
}
