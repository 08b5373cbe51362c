//! Every size limit holds at its boundary and is checked before expensive work.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "helpers outside #[test] functions; a panic there is a failed test"
)]

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::{data, ec_jwt_entry, parse_err, parse_ok, reasons, td, with_keys};
use serde_json::{Value, json};
use trust_bundle::{
    BundleSet, CertificateError, EcCurve, EcPublicKey, Error, IgnoredReason, JwtBundle, JwtKey,
    KeyError, MAX_BUNDLE_BYTES, MAX_BUNDLE_MAP_BYTES, MAX_CERTIFICATE_BYTES,
    MAX_JSON_VALUES_PER_BUNDLE, MAX_JSON_VALUES_PER_MAP, MAX_KEYS_PER_BUNDLE, MAX_RSA_MODULUS_BITS,
    MAX_TRUST_DOMAINS_PER_MAP, SpiffeBundle, X509Bundle,
};

/// Input over the limit is refused by length alone: these inputs are not even JSON, so a
/// `TooLarge` error shows the length was checked before parsing.
#[test]
fn input_length_is_checked_before_parsing() {
    let big = vec![b'!'; MAX_BUNDLE_BYTES + 1];
    let too_large = |result: Result<_, Error>| matches!(result, Err(Error::TooLarge { len, max }) if len == MAX_BUNDLE_BYTES + 1 && max == MAX_BUNDLE_BYTES);
    assert!(too_large(
        SpiffeBundle::parse(td("example.org"), &big).map(|_| ())
    ));
    assert!(too_large(
        JwtBundle::parse_workload_api(td("example.org"), &big).map(|_| ())
    ));
    assert!(too_large(
        X509Bundle::from_der(td("example.org"), &big).map(|_| ())
    ));
    assert!(too_large(
        X509Bundle::from_pem(td("example.org"), &big).map(|_| ())
    ));
    // At the limit, the parser runs (and finds it is not JSON).
    assert!(matches!(
        SpiffeBundle::parse(td("example.org"), &big[1..]),
        Err(Error::Json(_))
    ));

    let big_map = vec![b'!'; MAX_BUNDLE_MAP_BYTES + 1];
    assert!(matches!(
        BundleSet::parse_bundle_map(&big_map),
        Err(Error::TooLarge { max, .. }) if max == MAX_BUNDLE_MAP_BYTES
    ));
}

#[test]
fn keys_per_bundle() {
    let keys: Vec<Value> = (0..MAX_KEYS_PER_BUNDLE)
        .map(|i| ec_jwt_entry(&format!("k{i}")))
        .collect();
    let (bundle, ignored) = parse_ok(&with_keys(keys.clone()));
    assert!(ignored.is_empty());
    assert_eq!(bundle.jwt_bundle().len(), MAX_KEYS_PER_BUNDLE);

    let mut over = keys;
    over.push(json!(null));
    assert!(matches!(
        parse_err(&with_keys(over)),
        Error::TooManyKeys { max } if max == MAX_KEYS_PER_BUNDLE
    ));

    let key = JwtKey::Ec(EcPublicKey::from_coordinates(EcCurve::P256, &[1; 32], &[2; 32]).unwrap());
    let many = (0..=MAX_KEYS_PER_BUNDLE).map(|i| (format!("k{i}"), key.clone()));
    assert!(matches!(
        JwtBundle::from_keys(td("example.org"), many),
        Err(Error::TooManyKeys { .. })
    ));
}

#[test]
fn certificates_per_der_bundle() {
    // Distinct certificates are needed only to avoid deduplication; the count limit applies
    // to certificates read, so repeats of one certificate show it as well.
    let cert = data("certs/ca-ec-p256.der");
    let at_limit = cert.repeat(MAX_KEYS_PER_BUNDLE);
    assert_eq!(
        X509Bundle::from_der(td("example.org"), &at_limit)
            .unwrap()
            .len(),
        1
    );
    let over = cert.repeat(MAX_KEYS_PER_BUNDLE + 1);
    assert!(matches!(
        X509Bundle::from_der(td("example.org"), &over),
        Err(Error::TooManyKeys { max }) if max == MAX_KEYS_PER_BUNDLE
    ));
}

#[test]
fn json_values_per_bundle() {
    let filler = vec![0; MAX_JSON_VALUES_PER_BUNDLE];
    let document = json!({"keys": [], "x-filler": filler});
    match SpiffeBundle::parse(td("example.org"), document.to_string()) {
        Err(Error::TooManyJsonValues { max }) => assert_eq!(max, MAX_JSON_VALUES_PER_BUNDLE),
        other => panic!("{other:?}"),
    }
    // Just under: the document itself, `keys`, the filler array and its items.
    let filler = vec![0; MAX_JSON_VALUES_PER_BUNDLE - 3];
    let document = json!({"keys": [], "x-filler": filler});
    assert!(SpiffeBundle::parse(td("example.org"), document.to_string()).is_ok());
}

#[test]
fn json_values_per_map() {
    let filler = vec![0; MAX_JSON_VALUES_PER_MAP];
    let document = json!({"trust_domains": {}, "x-filler": filler});
    assert!(matches!(
        BundleSet::parse_bundle_map(document.to_string()),
        Err(Error::TooManyJsonValues { max }) if max == MAX_JSON_VALUES_PER_MAP
    ));
}

#[test]
fn nesting_depth_is_bounded() {
    let deep = format!(
        r#"{{"keys": [], "x": {}{}}}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    assert!(matches!(
        SpiffeBundle::parse(td("example.org"), deep),
        Err(Error::Json(_))
    ));
}

#[test]
fn trust_domains_per_map() {
    let bundles = |count: usize| -> Value {
        let map: serde_json::Map<String, Value> = (0..count)
            .map(|i| (format!("td{i}.example"), json!({"keys": []})))
            .collect();
        json!({ "trust_domains": map })
    };
    let set = BundleSet::parse_bundle_map(bundles(MAX_TRUST_DOMAINS_PER_MAP).to_string()).unwrap();
    assert_eq!(set.len(), MAX_TRUST_DOMAINS_PER_MAP);
    assert!(matches!(
        BundleSet::parse_bundle_map(bundles(MAX_TRUST_DOMAINS_PER_MAP + 1).to_string()),
        Err(Error::TooManyTrustDomains { max }) if max == MAX_TRUST_DOMAINS_PER_MAP
    ));
}

#[test]
fn certificate_size() {
    // A declared length one over the limit is refused from the header.
    let len = MAX_CERTIFICATE_BYTES - 4 + 1;
    let mut header = vec![0x30, 0x82];
    header.extend_from_slice(&u16::try_from(len).unwrap().to_be_bytes());
    match X509Bundle::from_der(td("example.org"), &header) {
        Err(Error::Certificate {
            source: CertificateError::TooLarge { len, max },
            ..
        }) => assert_eq!(
            (len, max),
            (MAX_CERTIFICATE_BYTES + 1, MAX_CERTIFICATE_BYTES)
        ),
        other => panic!("{other:?}"),
    }

    // In a bundle document, an oversized `x5c` is refused before base64 decoding.
    let huge = "A".repeat(MAX_CERTIFICATE_BYTES / 3 * 4 + 8);
    let entry = json!({"kty": "EC", "use": "x509-svid", "x5c": [huge]});
    let (_, ignored) = parse_ok(&with_keys(vec![entry]));
    assert!(matches!(
        reasons(&ignored).as_slice(),
        [(
            0,
            IgnoredReason::InvalidCertificate(CertificateError::TooLarge { .. })
        )]
    ));
    // A valid certificate is far below the limit.
    let entry = json!({"kty": "EC", "use": "x509-svid",
                       "x5c": [STANDARD.encode(data("certs/ca-ec-p256.der"))]});
    assert!(parse_ok(&with_keys(vec![entry])).1.is_empty());
}

#[test]
fn rsa_modulus_size() {
    let entry = |bytes: usize| {
        json!({"kty": "RSA", "use": "jwt-svid", "kid": "big",
               "n": URL_SAFE_NO_PAD.encode(vec![0xc1; bytes]), "e": "AQAB"})
    };
    let (bundle, ignored) = parse_ok(&with_keys(vec![entry(MAX_RSA_MODULUS_BITS / 8)]));
    assert!(ignored.is_empty());
    assert_eq!(
        bundle
            .jwt_bundle()
            .key("big")
            .unwrap()
            .as_rsa()
            .unwrap()
            .modulus_bits(),
        MAX_RSA_MODULUS_BITS
    );
    let (_, ignored) = parse_ok(&with_keys(vec![entry(MAX_RSA_MODULUS_BITS / 8 + 1)]));
    assert_eq!(
        reasons(&ignored),
        [(0, IgnoredReason::InvalidKey(KeyError::RsaModulusTooLarge))]
    );
    // Far over: refused from the encoded length (this text is not even base64).
    let far = json!({"kty": "RSA", "use": "jwt-svid", "kid": "far",
                     "n": "!".repeat(1 << 20), "e": "AQAB"});
    let (_, ignored) = parse_ok(&with_keys(vec![far]));
    assert_eq!(
        reasons(&ignored),
        [(0, IgnoredReason::InvalidKey(KeyError::RsaModulusTooLarge))]
    );
}
