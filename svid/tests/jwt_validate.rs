//! JWT-SVID validation: one test per rule J-1..J-11 of the digest's requirement index
//! (shared/spec/SPIFFE-DIGEST.md 8.5), plus the header, claim, key-selection and limit rules of
//! its section 3. Every test asserts the exact [`JwtError`] and validates at the fixed instant
//! `jwt_support::NOW`.
//!
//! Regressions for upstream bugs (shared/research/USER-NEEDS.md section 2) are in
//! `jwt_regressions.rs`.

#![cfg(any(feature = "ring", feature = "aws-lc-rs"))]
#![allow(
    clippy::unwrap_used,
    reason = "the file-level helpers `error` and `fixture` unwrap: a panic there is a failed test"
)]

mod jwt_support;

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jwt_support::{
    AUD, EXP, NOW, SUB, TD, TestKey, at, audience, b64, backends, bundle, claims, claims_for,
    compact, default_claims, header, now, set, td, validator,
};
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, KeyUsagePurpose, SanType};
use svid::{
    Audience, Crypto, JwtAlgorithm, JwtError, JwtValidator, MAX_AUDIENCES, MAX_LEEWAY,
    MAX_TOKEN_LEN, UnverifiedJwtSvid, VerifiedJwtSvid,
};
use trust_bundle::{EcCurve, JwtBundle, JwtBundleSource, SpiffeBundle};

/// Validates with the default validator, audience [`AUD`] and time [`NOW`].
fn check(token: &str, source: &dyn JwtBundleSource) -> Result<VerifiedJwtSvid, JwtError> {
    validator(source).validate(token, &audience(), now())
}

/// The error the default validator returns.
fn error(token: &str, source: &dyn JwtBundleSource) -> JwtError {
    check(token, source).unwrap_err()
}

/// A P-256 key `k1` and the bundle of `example.org` holding it.
fn fixture() -> (TestKey, JwtBundle) {
    let key = TestKey::p256("k1");
    let bundle = bundle(TD, &[&key]);
    (key, bundle)
}

/// A token with this header, signed by `key` (its default algorithm) over the default claims.
fn with_header(key: &TestKey, header_json: &str) -> String {
    key.mint_with_header(header_json, &default_claims())
}

/// A token with these claims and a well-formed header, signed by `key`.
fn with_claims(key: &TestKey, claims_json: &str) -> String {
    key.mint(claims_json)
}

// ---------------------------------------------------------------------------------------------
// J-1: compact serialization only
// ---------------------------------------------------------------------------------------------

/// The JWS JSON serialization (general and flattened) is refused: JWT-SVIDs are compact only.
///
/// shared/spec/SPIFFE-DIGEST.md 8.5 J-1; 3.1.
#[test]
fn j1_json_serialization_is_not_compact() {
    let (key, bundle) = fixture();
    let token = key.mint_default();
    let parts: Vec<&str> = token.split('.').collect();
    let general = format!(
        r#"{{"payload":"{}","signatures":[{{"protected":"{}","signature":"{}"}}]}}"#,
        parts[1], parts[0], parts[2]
    );
    let flattened = format!(
        r#"{{"payload":"{}","protected":"{}","signature":"{}"}}"#,
        parts[1], parts[0], parts[2]
    );
    // An unprotected header may hold dots, making the text split into three parts.
    let flattened_with_dots = format!(
        r#"{{"payload":"{}","protected":"{}","header":{{"kid":"a.b.c"}},"signature":"{}"}}"#,
        parts[1], parts[0], parts[2]
    );
    for json in [general, flattened, flattened_with_dots] {
        assert_eq!(error(&json, &bundle), JwtError::NotCompact, "{json}");
        assert_eq!(
            UnverifiedJwtSvid::parse_insecure(&json).unwrap_err(),
            JwtError::NotCompact
        );
    }
}

/// A five-part token (JWE compact) is refused, as is any part count other than three.
///
/// shared/spec/SPIFFE-DIGEST.md 8.5 J-1; 3.1.
#[test]
fn j1_five_part_jwe_and_other_part_counts_are_not_compact() {
    let (key, bundle) = fixture();
    let token = key.mint_default();
    let jwe = format!(
        "{}.{}.{}.{}.{}",
        b64(r#"{"alg":"RSA-OAEP","enc":"A256GCM"}"#),
        b64([1; 256]),
        b64([2; 12]),
        b64([3; 40]),
        b64([4; 16])
    );
    let (signing_input, _) = token.rsplit_once('.').unwrap();
    for bad in [
        jwe,
        String::new(),
        signing_input.to_owned(),
        format!("{token}."),
        format!("{token}.{}", b64("x")),
    ] {
        assert_eq!(error(&bad, &bundle), JwtError::NotCompact, "{bad}");
    }
    // The positive control.
    check(&token, &bundle).unwrap();
}

/// Parts must be unpadded base64url (RFC 7515 2): padding, the standard alphabet and
/// whitespace are refused.
///
/// shared/spec/SPIFFE-DIGEST.md 3.1.
#[test]
fn parts_must_be_unpadded_base64url() {
    let (key, bundle) = fixture();
    let token = key.mint_default();
    let parts: Vec<&str> = token.split('.').collect();
    let padded_header = format!("{}==", parts[0]);
    let with_standard_alphabet = format!(
        "{}.{}.{}",
        parts[0],
        parts[1],
        parts[2].replace('-', "+").replace('_', "/")
    );
    for (index, bad) in [
        format!("{padded_header}.{}.{}", parts[1], parts[2]),
        format!("{}.{} .{}", parts[0], parts[1], parts[2]),
        format!("{}.{}.{}=", parts[0], parts[1], parts[2]),
        format!("{}.{}.{}", parts[0], parts[1], "*".repeat(86)),
    ]
    .into_iter()
    .enumerate()
    {
        assert_eq!(error(&bad, &bundle), JwtError::BadBase64, "case {index}");
    }
    if with_standard_alphabet != token {
        assert_eq!(error(&with_standard_alphabet, &bundle), JwtError::BadBase64);
    }
}

// ---------------------------------------------------------------------------------------------
// J-2: the nine algorithms
// ---------------------------------------------------------------------------------------------

/// `alg` values outside the nine are refused before anything else, whatever the signature:
/// `none`, HMAC, EdDSA, ES256K, unknown names, and the nine in another case.
///
/// shared/spec/SPIFFE-DIGEST.md 8.5 J-2; 3.2.
#[test]
fn j2_algorithms_outside_the_nine_are_unsupported() {
    let (key, bundle) = fixture();
    for alg in [
        "none", "None", "NONE", "HS256", "HS384", "HS512", "EdDSA", "Ed25519", "ES256K", "RS1",
        "PS256K", "es256", "rs256", "ES521", "RSA-OAEP", "",
    ] {
        let token = with_header(&key, &header(alg, "k1"));
        assert_eq!(
            error(&token, &bundle),
            JwtError::UnsupportedAlgorithm(alg.to_owned()),
            "{alg}"
        );
    }
    // `alg: none` the classic way: an empty signature.
    let none = format!("{}.{}.", b64(header("none", "k1")), b64(default_claims()));
    assert_eq!(
        error(&none, &bundle),
        JwtError::UnsupportedAlgorithm("none".into())
    );
    // A non-string alg is not a header of the JWT-SVID shape.
    let numeric = with_header(&key, r#"{"alg":256,"kid":"k1"}"#);
    assert!(matches!(error(&numeric, &bundle), JwtError::BadHeader(_)));
}

/// EdDSA is refused even though every backend can verify Ed25519: the allow-list is our own,
/// not the backend's (JWT-SVID 2.1).
///
/// shared/spec/SPIFFE-DIGEST.md 8.5 J-2; 3.2.
#[test]
fn j2_eddsa_is_refused_although_the_backends_verify_ed25519() {
    let (_, bundle) = fixture();
    let token = compact(&header("EdDSA", "k1"), &default_claims(), &[7; 64]);
    for backend in backends() {
        let result = JwtValidator::new(&bundle, &backend).validate(&token, &audience(), now());
        assert_eq!(
            result.unwrap_err(),
            JwtError::UnsupportedAlgorithm("EdDSA".into()),
            "{backend:?}"
        );
    }
}

/// HS256 signed with the bundle key's public bytes as the HMAC secret (the RS/ES→HS
/// confusion, maxsherman/rust-spiffe#366 style) is refused as an algorithm, whichever public
/// encoding was used.
///
/// shared/spec/SPIFFE-DIGEST.md 8.5 J-2; 3.2, 3.4 step 5.
#[test]
fn j2_hs256_signed_with_the_public_key_is_unsupported() {
    let ec = TestKey::p256("ec");
    let rsa = TestKey::rsa("rsa");
    let bundle = bundle(TD, &[&ec, &rsa]);
    for key in [&ec, &rsa] {
        let public = match key.jwt_key() {
            trust_bundle::JwtKey::Ec(ec) => ec.sec1_uncompressed().to_vec(),
            trust_bundle::JwtKey::Rsa(rsa) => rsa.pkcs1_der().to_vec(),
            other => panic!("{other:?}"),
        };
        for secret in [public, key.jwk(Some("jwt-svid")).into_bytes()] {
            let signing_input = format!(
                "{}.{}",
                b64(header("HS256", key.kid())),
                b64(default_claims())
            );
            let mac = ring::hmac::sign(
                &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &secret),
                signing_input.as_bytes(),
            );
            let token = format!("{signing_input}.{}", b64(mac.as_ref()));
            assert_eq!(
                error(&token, &bundle),
                JwtError::UnsupportedAlgorithm("HS256".into())
            );
        }
    }
}

/// All nine algorithms validate, on every backend that offers them: RS256/384/512,
/// PS256/384/512, ES256, ES384 here, ES512 below.
///
/// shared/spec/SPIFFE-DIGEST.md 8.5 J-2; 3.2.
#[test]
fn j2_every_allowed_algorithm_validates() {
    let p256 = TestKey::p256("p256");
    let p384 = TestKey::p384("p384");
    let rsa = TestKey::rsa("rsa");
    let bundle = bundle(TD, &[&p256, &p384, &rsa]);
    let cases = [
        (&rsa, JwtAlgorithm::Rs256),
        (&rsa, JwtAlgorithm::Rs384),
        (&rsa, JwtAlgorithm::Rs512),
        (&rsa, JwtAlgorithm::Ps256),
        (&rsa, JwtAlgorithm::Ps384),
        (&rsa, JwtAlgorithm::Ps512),
        (&p256, JwtAlgorithm::Es256),
        (&p384, JwtAlgorithm::Es384),
    ];
    for backend in backends() {
        for (key, alg) in cases {
            let token = key.mint_as(alg, &header(alg.name(), key.kid()), &default_claims());
            let verified = JwtValidator::new(&bundle, &backend)
                .validate(&token, &audience(), now())
                .unwrap_or_else(|e| panic!("{alg} on {backend:?}: {e}"));
            assert_eq!(verified.algorithm(), alg);
            assert_eq!(verified.kid(), Some(key.kid()));
        }
    }
}

/// The OpenSSL-minted ES512 token of `tests/data/jwt/` (see its README) and the bundle of its key.
fn es512_fixture() -> (String, JwtBundle) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/jwt/");
    let token = std::fs::read_to_string(format!("{dir}es512.jwt")).unwrap();
    let jwks = std::fs::read(format!("{dir}es512.jwks.json")).unwrap();
    let bundle = JwtBundle::parse_workload_api(td(TD), jwks).unwrap();
    let ignored = bundle.ignored().to_vec();
    assert!(ignored.is_empty());
    (token.trim_end().to_owned(), bundle)
}

/// ES512 is one of the nine algorithms, so it validates in the default build: a token signed by
/// the OpenSSL CLI verifies with the default backend and with every backend compiled in (ring
/// gets P-521 from RustCrypto `p521`).
///
/// shared/spec/SPIFFE-DIGEST.md 8.5 J-2; 3.2, 3.4 step 6.
#[test]
fn j2_es512_from_openssl_validates_on_every_backend() {
    let (token, bundle) = es512_fixture();
    for backend in [Crypto::default()].into_iter().chain(backends()) {
        let verified = JwtValidator::new(&bundle, &backend)
            .validate(&token, &audience(), now())
            .unwrap_or_else(|e| panic!("ES512 on {backend:?}: {e}"));
        assert_eq!(verified.algorithm(), JwtAlgorithm::Es512);
        assert_eq!(verified.kid(), Some("p521"));
        assert_eq!(verified.spiffe_id().as_str(), SUB);
    }
}

/// An ES512 token verifies only against an EC P-521 key: the same `kid` on a P-256, P-384 or
/// RSA key is refused as not fitting, never tried.
///
/// shared/spec/SPIFFE-DIGEST.md 3.4 step 5; 8.5 J-2.
#[test]
fn j2_es512_refuses_keys_of_another_curve_or_type() {
    let (token, _) = es512_fixture();
    for key in [
        TestKey::p256("p521"),
        TestKey::p384("p521"),
        TestKey::rsa("p521"),
    ] {
        let wrong = bundle(TD, &[&key]);
        for backend in backends() {
            assert!(matches!(
                JwtValidator::new(&wrong, &backend)
                    .validate(&token, &audience(), now())
                    .unwrap_err(),
                JwtError::KeyDoesNotFitAlgorithm { .. }
            ));
        }
    }
}

/// A JWS ES512 signature is exactly 132 bytes of `r || s` (RFC 7518 3.4): shorter, longer or
/// DER-encoded signatures are refused as malformed, and a 132-byte one that is not the
/// signature (or has `r` = 0) does not verify.
///
/// shared/spec/SPIFFE-DIGEST.md 3.4 step 6.
#[test]
fn j2_es512_signature_must_be_132_bytes_of_r_and_s() {
    let (token, bundle) = es512_fixture();
    let (signing_input, signature) = token.rsplit_once('.').unwrap();
    let signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
    assert_eq!(signature.len(), 132);
    let with = |sig: &[u8]| format!("{signing_input}.{}", b64(sig));
    let mut der = vec![0x30, 0x81, 0x88, 0x02, 0x42];
    der.extend_from_slice(&signature[..66]);
    der.extend_from_slice(&[0x02, 0x42]);
    der.extend_from_slice(&signature[66..]);
    let mut long = signature.clone();
    long.push(0);
    let mut flipped = signature.clone();
    flipped[100] ^= 1;
    let mut zero_r = signature.clone();
    zero_r[..66].fill(0);
    for backend in backends() {
        let validator = JwtValidator::new(&bundle, &backend);
        let result = |sig: &[u8]| validator.validate(&with(sig), &audience(), now());
        for malformed in [&signature[..131], &long[..], &der[..], &signature[..66]] {
            assert_eq!(
                result(malformed).unwrap_err(),
                JwtError::BadSignatureEncoding,
                "{} bytes on {backend:?}",
                malformed.len(),
            );
        }
        for bad in [&flipped, &zero_r] {
            assert_eq!(result(bad).unwrap_err(), JwtError::BadSignature);
        }
        assert!(result(&signature).is_ok());
    }
}

/// A backend of the caller's own parts that lacks P-521 refuses ES512 as an algorithm it cannot
/// verify (never as a bad signature), and the message names the features whose backends can.
///
/// shared/spec/SPIFFE-DIGEST.md 8.5 J-2.
#[test]
fn j2_backend_without_p521_names_the_features_that_add_it() {
    use rustls_pki_types::{SignatureVerificationAlgorithm, alg_id};

    let without_p521: &'static [&'static dyn SignatureVerificationAlgorithm] = Vec::leak(
        Crypto::default()
            .algorithms()
            .iter()
            .copied()
            .filter(|alg| alg.public_key_alg_id() != alg_id::ECDSA_P521)
            .collect(),
    );
    let provider = rustls::crypto::CryptoProvider {
        signature_verification_algorithms: rustls::crypto::WebPkiSupportedAlgorithms {
            all: without_p521,
            mapping: &[],
        },
        ..rustls::crypto::ring::default_provider()
    };
    let backend = Crypto::from_provider(std::sync::Arc::new(provider));
    let (token, bundle) = es512_fixture();
    let error = JwtValidator::new(&bundle, &backend)
        .validate(&token, &audience(), now())
        .unwrap_err();
    assert_eq!(error, JwtError::AlgorithmNotInProvider(JwtAlgorithm::Es512));
    let message = error.to_string();
    assert!(
        message.contains("`ring`") && message.contains("`aws-lc-rs`"),
        "{message}"
    );
}

/// ES512 (ECDSA P-521, 132-byte `r || s`) validates with the aws-lc-rs backend.
///
/// shared/spec/SPIFFE-DIGEST.md 8.5 J-2; 3.2, 3.4 step 6.
#[cfg(feature = "aws-lc-rs")]
#[test]
fn j2_es512_validates_with_aws_lc_rs() {
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{ECDSA_P521_SHA512_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
    use trust_bundle::{EcPublicKey, JwtKey};

    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P521_SHA512_FIXED_SIGNING, &rng).unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P521_SHA512_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
    let public = EcPublicKey::from_sec1(EcCurve::P521, pair.public_key().as_ref()).unwrap();
    let bundle = JwtBundle::from_keys(td(TD), [("p521", JwtKey::Ec(public))]).unwrap();

    let signing_input = format!("{}.{}", b64(header("ES512", "p521")), b64(default_claims()));
    let signature = pair.sign(&rng, signing_input.as_bytes()).unwrap();
    assert_eq!(signature.as_ref().len(), 132);
    let token = format!("{signing_input}.{}", b64(signature.as_ref()));

    let verified = JwtValidator::new(&bundle, &Crypto::aws_lc_rs())
        .validate(&token, &audience(), now())
        .unwrap();
    assert_eq!(verified.algorithm(), JwtAlgorithm::Es512);

    // A P-256 key never verifies ES512, and a P-521 key never verifies ES256.
    let p256 = TestKey::p256("p256");
    let both = JwtBundle::from_keys(
        td(TD),
        [
            ("p521", bundle.key("p521").unwrap().clone()),
            ("p256", p256.jwt_key()),
        ],
    )
    .unwrap();
    let es512_on_p256 = compact(
        &header("ES512", "p256"),
        &default_claims(),
        signature.as_ref(),
    );
    let es256_on_p521 = p256.mint_with_header(&header("ES256", "p521"), &default_claims());
    for token in [es512_on_p256, es256_on_p521] {
        let result =
            JwtValidator::new(&both, &Crypto::aws_lc_rs()).validate(&token, &audience(), now());
        assert!(matches!(
            result.unwrap_err(),
            JwtError::KeyDoesNotFitAlgorithm { .. }
        ));
    }
}

// ---------------------------------------------------------------------------------------------
// J-3: typ
// ---------------------------------------------------------------------------------------------

/// `typ` other than `JWT` or `JOSE` (case-sensitive) is refused, including the WIT-SVID
/// `wit+jwt`.
///
/// shared/spec/SPIFFE-DIGEST.md 8.5 J-3; 3.2.
#[test]
fn j3_other_typ_values_are_refused() {
    let (key, bundle) = fixture();
    for typ in [
        "wit+jwt",
        "jwt",
        "Jwt",
        "jose",
        "application/jwt",
        "at+jwt",
        "JWS",
        "",
    ] {
        let token = with_header(
            &key,
            &format!(r#"{{"alg":"ES256","kid":"k1","typ":"{typ}"}}"#),
        );
        assert_eq!(
            error(&token, &bundle),
            JwtError::BadType(typ.to_owned()),
            "{typ}"
        );
    }
}

/// `typ` `JWT`, `JOSE`, or absent is accepted.
///
/// shared/spec/SPIFFE-DIGEST.md 8.5 J-3; 3.2.
#[test]
fn j3_typ_jwt_jose_or_absent_is_accepted() {
    let (key, bundle) = fixture();
    for header_json in [
        r#"{"alg":"ES256","kid":"k1","typ":"JWT"}"#,
        r#"{"alg":"ES256","kid":"k1","typ":"JOSE"}"#,
        r#"{"alg":"ES256","kid":"k1"}"#,
        r#"{"typ":"JWT","kid":"k1","alg":"ES256"}"#,
    ] {
        check(&with_header(&key, header_json), &bundle)
            .unwrap_or_else(|e| panic!("{header_json}: {e}"));
    }
}

// ---------------------------------------------------------------------------------------------
// Header shape (3.2)
// ---------------------------------------------------------------------------------------------

/// Headers other than `alg`, `kid` and `typ` are refused: `crit`, `jwk`, `jku`, `x5c`, `x5u`,
/// `x5t`, `cty`, `b64` and private ones. A key is never taken from the header.
///
/// shared/spec/SPIFFE-DIGEST.md 3.2.
#[test]
fn extra_headers_are_refused() {
    let (key, bundle) = fixture();
    let jwk = key.jwk(None);
    for extra in [
        r#""crit":["exp"]"#.to_owned(),
        format!(r#""jwk":{jwk}"#),
        r#""jku":"https://attacker.example/jwks.json""#.to_owned(),
        r#""x5c":["MIIB"]"#.to_owned(),
        r#""x5u":"https://attacker.example/cert.pem""#.to_owned(),
        r#""x5t":"AAAA""#.to_owned(),
        r#""cty":"JWT""#.to_owned(),
        r#""b64":false"#.to_owned(),
        r#""iss":"spiffe://example.org""#.to_owned(),
        r#""zip":"DEF""#.to_owned(),
    ] {
        let token = with_header(&key, &format!(r#"{{"alg":"ES256","kid":"k1",{extra}}}"#));
        assert!(
            matches!(error(&token, &bundle), JwtError::BadHeader(_)),
            "{extra}: {:?}",
            error(&token, &bundle)
        );
    }
}

/// A header member given twice is refused: two parsers could read two algorithms or keys.
///
/// shared/spec/SPIFFE-DIGEST.md 3.2; RFC 7515 4 (member names must be unique).
#[test]
fn duplicate_header_members_are_refused() {
    let (key, bundle) = fixture();
    for header_json in [
        r#"{"alg":"ES256","alg":"ES256","kid":"k1"}"#,
        r#"{"alg":"HS256","kid":"k1","alg":"ES256"}"#,
        r#"{"alg":"ES256","kid":"k1","kid":"k2"}"#,
        r#"{"alg":"ES256","kid":"k1","typ":"JWT","typ":"JWT"}"#,
        // The same name spelt with a JSON escape is the same member.
        r#"{"alg":"HS256","\u0061lg":"ES256","kid":"k1"}"#,
    ] {
        let err = error(&with_header(&key, header_json), &bundle);
        assert!(
            matches!(err, JwtError::BadHeader(_)),
            "{header_json}: {err:?}"
        );
    }
}

/// The header must be a JSON object whose members have the right types; `null` is not
/// "absent".
///
/// shared/spec/SPIFFE-DIGEST.md 3.2; RFC 7515 4.
#[test]
fn malformed_headers_are_refused() {
    let (key, bundle) = fixture();
    for header_json in [
        r#"["ES256","k1","JWT"]"#,
        r#""ES256""#,
        "null",
        "",
        "{",
        r#"{"kid":"k1"}"#,
        r#"{"alg":null,"kid":"k1"}"#,
        r#"{"alg":"ES256","kid":1}"#,
        r#"{"alg":"ES256","kid":["k1"]}"#,
        r#"{"alg":"ES256","kid":null}"#,
        r#"{"alg":"ES256","kid":"k1","typ":null}"#,
        r#"{"alg":"ES256","kid":"k1","typ":1}"#,
        r#"{"alg":"ES256","kid":"k1"} trailing"#,
    ] {
        let err = error(&with_header(&key, header_json), &bundle);
        assert!(
            matches!(err, JwtError::BadHeader(_)),
            "{header_json}: {err:?}"
        );
    }
    // Not UTF-8.
    let token = format!(
        "{}.{}.{}",
        b64([0xff, 0xfe]),
        b64(default_claims()),
        b64([0; 64])
    );
    assert!(matches!(error(&token, &bundle), JwtError::BadHeader(_)));
}

// ---------------------------------------------------------------------------------------------
// Claims object
// ---------------------------------------------------------------------------------------------

/// A claim given twice is refused: two parsers could see different `sub` or `aud` values
/// (RFC 7519 4 allows rejection; we take it).
///
/// shared/spec/SPIFFE-DIGEST.md 3.3; RFC 7519 4.
#[test]
fn duplicate_claims_are_refused() {
    let (key, bundle) = fixture();
    for claims_json in [
        format!(
            r#"{{"sub":"{SUB}","sub":"spiffe://example.org/admin","aud":"{AUD}","exp":{EXP}}}"#
        ),
        format!(r#"{{"sub":"{SUB}","aud":"other","aud":"{AUD}","exp":{EXP}}}"#),
        format!(
            r#"{{"sub":"{SUB}","aud":"{AUD}","exp":{EXP},"exp":{}}}"#,
            EXP + 1_000_000
        ),
        format!(r#"{{"sub":"{SUB}","aud":"{AUD}","exp":{EXP},"x":1,"x":2}}"#),
        format!(
            r#"{{"sub":"spiffe://example.org/admin","\u0073ub":"{SUB}","aud":"{AUD}","exp":{EXP}}}"#
        ),
    ] {
        let err = error(&with_claims(&key, &claims_json), &bundle);
        assert!(
            matches!(err, JwtError::BadClaims(_)),
            "{claims_json}: {err:?}"
        );
    }
}

/// The claims must be a JSON object.
///
/// shared/spec/SPIFFE-DIGEST.md 3.3; RFC 7519 7.2 step 10.
#[test]
fn claims_must_be_a_json_object() {
    let (key, bundle) = fixture();
    for claims_json in [
        format!(r#"["{SUB}","{AUD}",{EXP}]"#),
        format!(r#""{SUB}""#),
        "null".to_owned(),
        String::new(),
        format!(r#"{{"sub":"{SUB}","aud":"{AUD}","exp":{EXP}}}x"#),
    ] {
        let err = error(&with_claims(&key, &claims_json), &bundle);
        assert!(
            matches!(err, JwtError::BadClaims(_)),
            "{claims_json}: {err:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// J-4, J-5: aud
// ---------------------------------------------------------------------------------------------

/// A token without `aud` is refused.
///
/// shared/spec/SPIFFE-DIGEST.md 8.5 J-4; 3.3.
#[test]
fn j4_missing_aud_is_refused() {
    let (key, bundle) = fixture();
    let token = with_claims(&key, &format!(r#"{{"sub":"{SUB}","exp":{EXP}}}"#));
    assert_eq!(error(&token, &bundle), JwtError::MissingClaim("aud"));
}

/// `aud` may be a single string or an array of strings (RFC 7519 4.1.3); both are accepted.
///
/// shared/spec/SPIFFE-DIGEST.md 8.5 J-4; 3.3.
#[test]
fn j4_aud_as_string_or_array_is_accepted() {
    let (key, bundle) = fixture();
    for aud in [
        format!(r#""{AUD}""#),
        format!(r#"["{AUD}"]"#),
        format!(r#"["other","{AUD}"]"#),
    ] {
        let verified = check(&with_claims(&key, &claims(SUB, &aud, EXP)), &bundle).unwrap();
        assert!(verified.audience().iter().any(|a| a == AUD), "{aud}");
    }
}

/// An empty `aud` (empty array or empty string) means no audience and is refused.
///
/// shared/spec/SPIFFE-DIGEST.md 8.5 J-4; 3.3.
#[test]
fn j4_empty_aud_is_refused() {
    let (key, bundle) = fixture();
    for aud in ["[]", r#""""#, r#"[""]"#, &format!(r#"["{AUD}",""]"#)] {
        let token = with_claims(&key, &claims(SUB, aud, EXP));
        assert_eq!(
            error(&token, &bundle),
            JwtError::EmptyAudienceClaim,
            "{aud}"
        );
    }
}

/// `aud` of another type, or an array holding a non-string, is refused.
///
/// shared/spec/SPIFFE-DIGEST.md 8.5 J-4; 3.3; RFC 7519 4.1.3.
#[test]
fn j4_aud_of_the_wrong_type_is_refused() {
    let (key, bundle) = fixture();
    for aud in [
        "null",
        "1",
        "true",
        r#"{"aud":"x"}"#,
        &format!(r#"["{AUD}",1]"#),
        "[null]",
    ] {
        let token = with_claims(&key, &claims(SUB, aud, EXP));
        assert_eq!(
            error(&token, &bundle),
            JwtError::BadClaimType("aud"),
            "{aud}"
        );
    }
}

/// At most [`MAX_AUDIENCES`] (32) audiences: 32 pass, 33 are refused.
///
/// shared/spec/SPIFFE-DIGEST.md 3.3, 3.7 (a token for many audiences can be replayed among
/// them).
#[test]
fn j4_more_than_32_audiences_are_refused() {
    let (key, bundle) = fixture();
    let many = |count: usize| {
        let mut values: Vec<String> = (1..count).map(|i| format!(r#""aud{i}""#)).collect();
        values.push(format!(r#""{AUD}""#));
        format!("[{}]", values.join(","))
    };
    assert_eq!(MAX_AUDIENCES, 32);
    let ok = check(&with_claims(&key, &claims(SUB, &many(32), EXP)), &bundle).unwrap();
    assert_eq!(ok.audience().len(), 32);
    let token = with_claims(&key, &claims(SUB, &many(33), EXP));
    assert_eq!(
        error(&token, &bundle),
        JwtError::TooManyAudiences { count: 33 }
    );
}

/// A token whose `aud` does not contain the validator's audience is refused, including near
/// misses (prefix, case, trailing slash).
///
/// shared/spec/SPIFFE-DIGEST.md 8.5 J-5; 3.4 step 8.
#[test]
fn j5_aud_without_the_expected_audience_is_refused() {
    let (key, bundle) = fixture();
    for aud in [
        r#""spiffe://example.org/other""#.to_owned(),
        format!(r#""{AUD}/""#),
        format!(r#""{}""#, AUD.to_uppercase()),
        r#""spiffe://example.org/servic""#.to_owned(),
        r#"["a","b","c"]"#.to_owned(),
        format!(r#"["{AUD} "]"#),
    ] {
        let token = with_claims(&key, &claims(SUB, &aud, EXP));
        assert_eq!(error(&token, &bundle), JwtError::AudienceMismatch, "{aud}");
    }
}

/// With several expected audiences, a token passes when its `aud` has any of them.
///
/// shared/spec/SPIFFE-DIGEST.md 8.5 J-5; 3.4 step 8.
#[test]
fn j5_any_expected_audience_matches() {
    let (key, bundle) = fixture();
    let expected = Audience::new(["x", "y"]).unwrap();
    assert_eq!(expected.values(), ["x", "y"]);
    for (aud, ok) in [
        (r#""y""#, true),
        (r#"["z","x"]"#, true),
        (r#"["z"]"#, false),
    ] {
        let token = with_claims(&key, &claims(SUB, aud, EXP));
        let result = validator(&bundle).validate(&token, &expected, now());
        match (result, ok) {
            (Ok(_), true) => {}
            (Err(e), false) => assert_eq!(e, JwtError::AudienceMismatch),
            (result, _) => panic!("{aud}: {result:?}"),
        }
    }
}

/// An empty expected audience is a construction error, never "skip the check"
/// (spiffe/go-spiffe#407).
///
/// shared/spec/SPIFFE-DIGEST.md 8.5 J-5; 3.4 step 8.
#[test]
fn j5_empty_expected_audience_cannot_be_built() {
    assert_eq!(
        Audience::new(Vec::<String>::new()),
        Err(JwtError::EmptyExpectedAudience)
    );
    assert_eq!(Audience::new([""]), Err(JwtError::EmptyExpectedAudience));
    assert_eq!(
        Audience::new(["a", ""]),
        Err(JwtError::EmptyExpectedAudience)
    );
}

// ---------------------------------------------------------------------------------------------
// J-6, J-7: exp, nbf, iat
// ---------------------------------------------------------------------------------------------

/// A token without `exp` is refused.
///
/// shared/spec/SPIFFE-DIGEST.md 8.5 J-6; 3.3.
#[test]
fn j6_missing_exp_is_refused() {
    let (key, bundle) = fixture();
    let token = with_claims(&key, &format!(r#"{{"sub":"{SUB}","aud":"{AUD}"}}"#));
    assert_eq!(error(&token, &bundle), JwtError::MissingClaim("exp"));
}

/// A malformed `exp` is an error, never treated as absent: strings (even numeric ones),
/// `null`, booleans, arrays, objects, negative numbers (CVE-2026-25537 style).
///
/// shared/spec/SPIFFE-DIGEST.md 8.5 J-6; 3.3 (NumericDate: accept numbers, reject
/// non-numbers).
#[test]
fn j6_malformed_exp_is_a_bad_claim_type() {
    let (key, bundle) = fixture();
    for exp in [
        r#""never""#,
        &format!(r#""{EXP}""#),
        "null",
        "true",
        "false",
        &format!("[{EXP}]"),
        r#"{"t":1}"#,
        "-1",
        "-0.5",
        &format!("-{EXP}"),
    ] {
        let token = with_claims(
            &key,
            &format!(r#"{{"sub":"{SUB}","aud":"{AUD}","exp":{exp}}}"#),
        );
        assert_eq!(
            error(&token, &bundle),
            JwtError::BadClaimType("exp"),
            "{exp}"
        );
    }
}

/// A fractional `exp` is a valid NumericDate (RFC 7519 2); `expires_at` rounds it down.
///
/// shared/spec/SPIFFE-DIGEST.md 8.5 J-6; 3.3.
#[test]
fn j6_fractional_exp_is_accepted() {
    let (key, bundle) = fixture();
    for (exp, floor) in [
        (format!("{EXP}.75"), EXP),
        (format!("{}e2", EXP / 100), EXP),
        (format!("{}.5", NOW - 10), NOW - 10),
    ] {
        let token = with_claims(
            &key,
            &format!(r#"{{"sub":"{SUB}","aud":"{AUD}","exp":{exp}}}"#),
        );
        let verified = check(&token, &bundle).unwrap_or_else(|e| panic!("{exp}: {e}"));
        assert_eq!(verified.expires_at(), at(floor), "{exp}");
    }
}

/// An `exp` far in the future (beyond `u64` seconds) is a valid number: `expires_at` saturates
/// instead of overflowing. A number JSON cannot hold as `f64` makes the claims unreadable.
///
/// shared/spec/SPIFFE-DIGEST.md 8.5 J-6; 3.3 (no upper bound on lifetime).
#[test]
fn j6_huge_exp_saturates() {
    let (key, bundle) = fixture();
    for exp in ["1e300", "18446744073709551616", "1.7976931348623157e308"] {
        let token = with_claims(
            &key,
            &format!(r#"{{"sub":"{SUB}","aud":"{AUD}","exp":{exp}}}"#),
        );
        let verified = check(&token, &bundle).unwrap_or_else(|e| panic!("{exp}: {e}"));
        assert_eq!(verified.expires_at(), at(u64::MAX), "{exp}");
    }
    let token = with_claims(
        &key,
        &format!(r#"{{"sub":"{SUB}","aud":"{AUD}","exp":1e400}}"#),
    );
    assert!(matches!(error(&token, &bundle), JwtError::BadClaims(_)));
}

/// `nbf` and `iat` are optional, but a present one must be a NumericDate.
///
/// shared/spec/SPIFFE-DIGEST.md 3.3; RFC 7519 4.1.5, 4.1.6.
#[test]
fn j6_malformed_nbf_and_iat_are_bad_claim_types() {
    let (key, bundle) = fixture();
    for (name, value) in [
        ("nbf", r#""9999999999""#),
        ("nbf", r#""0""#),
        ("nbf", "null"),
        ("nbf", "-1"),
        ("iat", r#""now""#),
        ("iat", "null"),
        ("iat", "[]"),
    ] {
        let token = with_claims(
            &key,
            &format!(r#"{{"sub":"{SUB}","aud":"{AUD}","exp":{EXP},"{name}":{value}}}"#),
        );
        let expected = if name == "nbf" { "nbf" } else { "iat" };
        assert_eq!(
            error(&token, &bundle),
            JwtError::BadClaimType(expected),
            "{name}: {value}"
        );
    }
}

/// A token expired beyond the leeway (30 s by default) is refused; within it, accepted. The
/// boundary is inclusive: at `exp + leeway` the token still passes.
///
/// shared/spec/SPIFFE-DIGEST.md 8.5 J-7; 3.4 step 7.
#[test]
fn j7_expired_beyond_leeway_is_refused() {
    let (key, bundle) = fixture();
    let expired_at = |exp: u64| with_claims(&key, &claims(SUB, &format!(r#""{AUD}""#), exp));
    assert_eq!(error(&expired_at(NOW - 31), &bundle), JwtError::Expired);
    assert_eq!(error(&expired_at(NOW - 3600), &bundle), JwtError::Expired);
    assert_eq!(error(&expired_at(0), &bundle), JwtError::Expired);
    check(&expired_at(NOW - 30), &bundle).unwrap();
    check(&expired_at(NOW - 1), &bundle).unwrap();
    check(&expired_at(NOW), &bundle).unwrap();

    // With no leeway, one second past `exp` is expired.
    let strict = validator(&bundle).with_leeway(Duration::ZERO).unwrap();
    let token = expired_at(NOW);
    strict.validate(&token, &audience(), at(NOW)).unwrap();
    assert_eq!(
        strict
            .validate(&token, &audience(), at(NOW + 1))
            .unwrap_err(),
        JwtError::Expired
    );
}

/// `nbf` in the future beyond the leeway is refused; within it, accepted.
///
/// shared/spec/SPIFFE-DIGEST.md 3.3, 3.4 step 7; RFC 7519 4.1.5.
#[test]
fn j7_nbf_in_the_future_beyond_leeway_is_refused() {
    let (key, bundle) = fixture();
    let not_before = |nbf: u64| {
        with_claims(
            &key,
            &format!(r#"{{"sub":"{SUB}","aud":"{AUD}","exp":{EXP},"nbf":{nbf}}}"#),
        )
    };
    assert_eq!(error(&not_before(NOW + 31), &bundle), JwtError::NotYetValid);
    assert_eq!(error(&not_before(EXP - 1), &bundle), JwtError::NotYetValid);
    check(&not_before(NOW + 30), &bundle).unwrap();
    check(&not_before(NOW), &bundle).unwrap();
    check(&not_before(NOW - 100), &bundle).unwrap();
}

/// The leeway is capped at [`MAX_LEEWAY`] (5 min).
///
/// shared/spec/SPIFFE-DIGEST.md 3.4 step 7 ("small leeway").
#[test]
fn leeway_over_five_minutes_is_refused() {
    assert_eq!(MAX_LEEWAY, Duration::from_secs(300));
    assert_eq!(
        validator(svid::BundleSet::new())
            .with_leeway(MAX_LEEWAY + Duration::from_nanos(1))
            .unwrap_err(),
        JwtError::LeewayTooLarge
    );
    assert_eq!(
        validator(svid::BundleSet::new())
            .with_leeway(Duration::MAX)
            .unwrap_err(),
        JwtError::LeewayTooLarge
    );
    let (key, bundle) = fixture();
    let generous = validator(&bundle).with_leeway(MAX_LEEWAY).unwrap();
    let token = with_claims(&key, &claims(SUB, &format!(r#""{AUD}""#), NOW - 300));
    generous.validate(&token, &audience(), now()).unwrap();
    let token = with_claims(&key, &claims(SUB, &format!(r#""{AUD}""#), NOW - 301));
    assert_eq!(
        generous.validate(&token, &audience(), now()).unwrap_err(),
        JwtError::Expired
    );
}

// ---------------------------------------------------------------------------------------------
// J-8: sub
// ---------------------------------------------------------------------------------------------

/// A token without `sub` is refused.
///
/// shared/spec/SPIFFE-DIGEST.md 8.5 J-8; 3.3.
#[test]
fn j8_missing_sub_is_refused() {
    let (key, bundle) = fixture();
    let token = with_claims(&key, &format!(r#"{{"aud":"{AUD}","exp":{EXP}}}"#));
    assert_eq!(error(&token, &bundle), JwtError::MissingClaim("sub"));
}

/// A `sub` that is not a valid SPIFFE ID is refused, with the SPIFFE ID error.
///
/// shared/spec/SPIFFE-DIGEST.md 8.5 J-8; 3.3; 1 (SPIFFE ID rules).
#[test]
fn j8_invalid_sub_is_refused() {
    let (key, bundle) = fixture();
    for sub in [
        "https://example.org/workload",
        "spiffe://Example.org/workload",
        "spiffe://example.org/workload/",
        "spiffe://example.org//workload",
        "spiffe://example.org/a/../b",
        "spiffe://example.org:8080/workload",
        "spiffe://user@example.org/workload",
        "spiffe://example.org/workload?x=1",
        "spiffe://example.org/work%20load",
        "spiffe:///workload",
        "workload",
        "",
    ] {
        let token = with_claims(&key, &claims_for(sub));
        let err = error(&token, &bundle);
        assert!(matches!(err, JwtError::BadSubject(_)), "{sub}: {err:?}");
    }
}

/// A `sub` of the wrong JSON type is refused as such.
///
/// shared/spec/SPIFFE-DIGEST.md 8.5 J-8; 3.3.
#[test]
fn j8_sub_of_the_wrong_type_is_refused() {
    let (key, bundle) = fixture();
    for sub in ["null", "1", &format!(r#"["{SUB}"]"#), r#"{"id":"x"}"#] {
        let token = with_claims(
            &key,
            &format!(r#"{{"sub":{sub},"aud":"{AUD}","exp":{EXP}}}"#),
        );
        assert_eq!(
            error(&token, &bundle),
            JwtError::BadClaimType("sub"),
            "{sub}"
        );
    }
}

/// A `sub` naming a trust domain (no path) is refused: it names no workload. (The spec does
/// not forbid it; this crate does, see `JwtError::RootSubject`.)
///
/// shared/spec/SPIFFE-DIGEST.md 8.5 J-8; 3.3.
#[test]
fn j8_root_sub_is_refused() {
    let (key, bundle) = fixture();
    let token = with_claims(&key, &claims_for("spiffe://example.org"));
    assert_eq!(error(&token, &bundle), JwtError::RootSubject);
}

// ---------------------------------------------------------------------------------------------
// J-9, J-10, J-11: which keys
// ---------------------------------------------------------------------------------------------

/// A token whose `sub` trust domain has no bundle is refused, even when the token's key is in
/// another trust domain's bundle.
///
/// shared/spec/SPIFFE-DIGEST.md 8.5 J-9; 3.4 step 4.
#[test]
fn j9_no_bundle_for_the_sub_trust_domain() {
    let (key, bundle) = fixture();
    let token = with_claims(&key, &claims_for("spiffe://other.org/workload"));
    let expected = JwtError::NoBundle {
        trust_domain: td("other.org"),
    };
    assert_eq!(error(&token, &bundle), expected);
    assert_eq!(error(&token, &set([bundle])), expected);
    assert_eq!(error(&token, &set([])), expected);
}

/// A key from another trust domain's bundle never verifies: a token for `b.org` signed with
/// `a.org`'s key, whose `kid` is only in `a.org`'s bundle, is refused although both bundles
/// are loaded.
///
/// shared/spec/SPIFFE-DIGEST.md 8.5 J-10; 3.4 steps 4-5.
#[test]
fn j10_a_key_of_another_trust_domain_never_verifies() {
    let a_key = TestKey::p256("a-key");
    let b_key = TestKey::p256("b-key");
    let source = set([bundle("a.org", &[&a_key]), bundle("b.org", &[&b_key])]);

    let token = a_key.mint(&claims_for("spiffe://b.org/x"));
    assert_eq!(error(&token, &source), JwtError::UnknownKid("a-key".into()));

    // Same kid in both bundles, different keys: the b.org key is used, and fails.
    let a_shared = TestKey::p256("shared");
    let b_shared = TestKey::p256("shared");
    let source = set([bundle("a.org", &[&a_shared]), bundle("b.org", &[&b_shared])]);
    let token = a_shared.mint(&claims_for("spiffe://b.org/x"));
    assert_eq!(error(&token, &source), JwtError::BadSignature);

    // Positive controls.
    check(&a_shared.mint(&claims_for("spiffe://a.org/x")), &source).unwrap();
    check(&b_shared.mint(&claims_for("spiffe://b.org/x")), &source).unwrap();
}

/// Without `kid` (when allowed), only keys of the `sub` trust domain are tried.
///
/// shared/spec/SPIFFE-DIGEST.md 8.5 J-10; 3.2 (`kid`), 3.4 step 4.
#[test]
fn j10_keyless_tokens_try_only_the_sub_trust_domain() {
    let a_key = TestKey::p256("a-key");
    let b_key = TestKey::p256("b-key");
    let source = set([bundle("a.org", &[&a_key]), bundle("b.org", &[&b_key])]);
    let lenient = validator(&source).allow_missing_kid();
    let no_kid = r#"{"alg":"ES256","typ":"JWT"}"#;

    let token = a_key.mint_with_header(no_kid, &claims_for("spiffe://b.org/x"));
    assert_eq!(
        lenient.validate(&token, &audience(), now()).unwrap_err(),
        JwtError::BadSignature
    );
    let token = a_key.mint_with_header(no_kid, &claims_for("spiffe://a.org/x"));
    lenient.validate(&token, &audience(), now()).unwrap();
}

/// A key published in a SPIFFE bundle document with `use` other than `jwt-svid`
/// (`x509-svid`, `wit-svid`, or none) is not a JWT authority: its `kid` is unknown.
///
/// shared/spec/SPIFFE-DIGEST.md 8.5 J-11; 3.4 step 4, 3.6.
#[test]
fn j11_keys_without_use_jwt_svid_are_not_used() {
    // An X.509 authority whose certificate key also signs a token.
    let ca_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let signer = TestKey::ec_from_pkcs8("ca", EcCurve::P256, &ca_key.serialize_der());
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.subject_alt_names = vec![SanType::URI("spiffe://example.org".try_into().unwrap())];
    let cert = params.self_signed(&ca_key).unwrap();
    let x509_entry = signer.jwk(Some("x509-svid")).replace(
        '}',
        &format!(r#","x5c":["{}"]}}"#, STANDARD.encode(cert.der())),
    );

    let token = signer.mint_default();
    for entry in [
        x509_entry,
        signer.jwk(Some("wit-svid")),
        signer.jwk(None),
        signer.jwk(Some("JWT-SVID")),
        signer.jwk(Some("sig")),
    ] {
        let document = format!(r#"{{"keys":[{entry}]}}"#);
        let parsed = SpiffeBundle::parse(td(TD), &document).unwrap();
        let source = trust_bundle::BundleSet::from_bundles([parsed]).unwrap();
        // The kid has no JWT key; when the entry was skipped, the error also says why.
        assert!(
            matches!(
                error(&token, &source),
                JwtError::UnknownKid(kid) | JwtError::IgnoredKid { kid, .. } if kid == "ca"
            ),
            "{entry}"
        );
    }

    // The X.509 entry was read as an X.509 authority, and nothing else.
    let document = format!(
        r#"{{"keys":[{}]}}"#,
        signer.jwk(Some("x509-svid")).replace(
            '}',
            &format!(r#","x5c":["{}"]}}"#, STANDARD.encode(cert.der()))
        )
    );
    let parsed = SpiffeBundle::parse(td(TD), &document).unwrap();
    let ignored = parsed.ignored().to_vec();
    assert!(ignored.is_empty(), "{ignored:?}");
    assert!(!parsed.x509_bundle().is_empty());
    assert!(parsed.jwt_bundle().is_empty());

    // A Workload API JWT bundle drops x509-svid entries too.
    let jwks = format!(r#"{{"keys":[{}]}}"#, signer.jwk(Some("x509-svid")));
    let jwt = JwtBundle::parse_workload_api(td(TD), &jwks).unwrap();
    assert!(matches!(
        error(&token, &jwt),
        JwtError::IgnoredKid { kid, .. } if kid == "ca"
    ));

    // The positive control: the same key as `jwt-svid`.
    let document = format!(r#"{{"keys":[{}]}}"#, signer.jwk(Some("jwt-svid")));
    let parsed = SpiffeBundle::parse(td(TD), &document).unwrap();
    check(
        &token,
        &trust_bundle::BundleSet::from_bundles([parsed]).unwrap(),
    )
    .unwrap();
}

// ---------------------------------------------------------------------------------------------
// Key selection (3.2 kid, 3.4 step 5)
// ---------------------------------------------------------------------------------------------

/// A key never verifies an algorithm of another family or curve: RS256/PS256 against an EC
/// key, ES256 against an RSA key, ES384 against a P-256 key, ES256 against a P-384 key.
///
/// shared/spec/SPIFFE-DIGEST.md 3.4 step 5.
#[test]
fn keys_must_fit_the_algorithm() {
    let p256 = TestKey::p256("p256");
    let p384 = TestKey::p384("p384");
    let rsa = TestKey::rsa("rsa");
    let bundle = bundle(TD, &[&p256, &p384, &rsa]);
    let cases = [
        // (signer, alg in the header, kid in the header)
        (&rsa, JwtAlgorithm::Rs256, "p256"),
        (&rsa, JwtAlgorithm::Ps256, "p384"),
        (&p256, JwtAlgorithm::Es256, "rsa"),
        (&p384, JwtAlgorithm::Es384, "p256"),
        (&p256, JwtAlgorithm::Es256, "p384"),
    ];
    for (signer, alg, kid) in cases {
        let token = signer.mint_as(alg, &header(alg.name(), kid), &default_claims());
        assert!(
            matches!(
                error(&token, &bundle),
                JwtError::KeyDoesNotFitAlgorithm { .. }
            ),
            "{alg} with kid {kid}"
        );
    }
}

/// A `kid` that the trust domain's bundle does not have is refused.
///
/// shared/spec/SPIFFE-DIGEST.md 3.2 (`kid`: not found → reject).
#[test]
fn unknown_kid_is_refused() {
    let (key, bundle) = fixture();
    let token = key.mint_with_header(&header("ES256", "k2"), &default_claims());
    assert_eq!(error(&token, &bundle), JwtError::UnknownKid("k2".into()));
    let token = key.mint_with_header(&header("ES256", ""), &default_claims());
    assert_eq!(error(&token, &bundle), JwtError::UnknownKid(String::new()));
    // kids are compared exactly.
    let token = key.mint_with_header(&header("ES256", "K1"), &default_claims());
    assert_eq!(error(&token, &bundle), JwtError::UnknownKid("K1".into()));
}

/// A token without `kid` is refused by default (as go-spiffe and SPIRE do) and accepted with
/// `allow_missing_kid`, as the spec allows.
///
/// shared/spec/SPIFFE-DIGEST.md 3.2 (`kid`).
#[test]
fn missing_kid_is_refused_by_default_and_allowed_on_request() {
    let (key, _) = fixture();
    let other = TestKey::p256("k0");
    let rsa = TestKey::rsa("rsa");
    let bundle = bundle(TD, &[&other, &key, &rsa]);
    let token = key.mint_with_header(r#"{"alg":"ES256","typ":"JWT"}"#, &default_claims());
    assert_eq!(error(&token, &bundle), JwtError::MissingKid);

    let verified = validator(&bundle)
        .allow_missing_kid()
        .validate(&token, &audience(), now())
        .unwrap();
    assert_eq!(verified.kid(), None);

    // A kid, when present, is still matched by it.
    let token = key.mint_with_header(&header("ES256", "k0"), &default_claims());
    assert_eq!(
        validator(&bundle)
            .allow_missing_kid()
            .validate(&token, &audience(), now())
            .unwrap_err(),
        JwtError::BadSignature
    );
    // No key of the right type: nothing to try.
    let only_rsa = jwt_support::bundle(TD, &[&rsa]);
    let token = key.mint_with_header(r#"{"alg":"ES256"}"#, &default_claims());
    assert!(matches!(
        validator(&only_rsa)
            .allow_missing_kid()
            .validate(&token, &audience(), now())
            .unwrap_err(),
        JwtError::NoKeyFitsAlgorithm { .. }
    ));
}

/// A kid-less token is tried only against keys whose type and curve fit its `alg`, and at most
/// `MAX_KEYS_WITHOUT_KID` of them: 200 keys of other types or curves are never candidates (the
/// bound would refuse the token if they were), and one fitting key past the bound refuses the
/// token with a typed error before any signature check, so a forged token's cost is bounded.
///
/// shared/spec/SPIFFE-DIGEST.md 3.2 (`kid`), 3.4 step 5.
#[test]
fn kidless_tokens_try_only_fitting_keys_up_to_a_bound() {
    use svid::MAX_KEYS_WITHOUT_KID;

    let signer = TestKey::p256("signer");
    let mut keys: Vec<TestKey> = (0..100).map(|i| TestKey::rsa(&format!("rsa{i}"))).collect();
    keys.extend((0..100).map(|i| TestKey::p384(&format!("p384-{i}"))));
    // The signer and other P-256 keys: exactly the bound of fitting keys.
    keys.extend((1..MAX_KEYS_WITHOUT_KID).map(|i| TestKey::p256(&format!("p256-{i}"))));
    let es256 = signer.mint_with_header(r#"{"alg":"ES256"}"#, &default_claims());
    let at_bound = bundle(TD, &keys.iter().chain([&signer]).collect::<Vec<_>>());
    assert_eq!(at_bound.len(), 200 + MAX_KEYS_WITHOUT_KID);
    assert!(
        validator(&at_bound)
            .allow_missing_kid()
            .validate(&es256, &audience(), now())
            .is_ok()
    );
    // RS256 without kid: 100 RSA keys fit, more than the bound, whatever the EC keys.
    let rs256 = keys[0].mint_as(JwtAlgorithm::Rs256, r#"{"alg":"RS256"}"#, &default_claims());
    assert_eq!(
        validator(&at_bound)
            .allow_missing_kid()
            .validate(&rs256, &audience(), now())
            .unwrap_err(),
        JwtError::TooManyCandidateKeys {
            count: 100,
            max: MAX_KEYS_WITHOUT_KID
        }
    );

    keys.push(TestKey::p256("p256-extra"));
    let past_bound = bundle(TD, &keys.iter().chain([&signer]).collect::<Vec<_>>());
    assert_eq!(
        validator(&past_bound)
            .allow_missing_kid()
            .validate(&es256, &audience(), now())
            .unwrap_err(),
        JwtError::TooManyCandidateKeys {
            count: MAX_KEYS_WITHOUT_KID + 1,
            max: MAX_KEYS_WITHOUT_KID
        }
    );
    // With a kid the bound does not apply: one lookup, one signature check.
    let with_kid = signer.mint_default();
    assert!(
        validator(&past_bound)
            .allow_missing_kid()
            .validate(&with_kid, &audience(), now())
            .is_ok()
    );
}

// ---------------------------------------------------------------------------------------------
// Signatures (3.4 step 6)
// ---------------------------------------------------------------------------------------------

/// A token whose payload or header was changed after signing is refused.
///
/// shared/spec/SPIFFE-DIGEST.md 3.4 step 6.
#[test]
fn tampered_tokens_have_bad_signatures() {
    let (key, bundle) = fixture();
    let token = key.mint_default();
    let parts: Vec<&str> = token.split('.').collect();
    let admin = b64(claims_for("spiffe://example.org/admin"));
    let other_header = b64(r#"{"alg":"ES256","kid":"k1"}"#);
    let other_message = b64(key.sign(JwtAlgorithm::Es256, b"something else"));
    for bad in [
        format!("{}.{admin}.{}", parts[0], parts[2]),
        format!("{other_header}.{}.{}", parts[1], parts[2]),
        format!("{}.{}.{other_message}", parts[0], parts[1]),
        format!("{}.{}.{}", parts[0], parts[1], b64([0; 64])),
        format!("{}.{}.{}", parts[0], parts[1], b64([0xff; 64])),
    ] {
        assert_eq!(error(&bad, &bundle), JwtError::BadSignature, "{bad}");
    }
    // A signature by another key under the same kid.
    let impostor = TestKey::p256("k1");
    assert_eq!(
        error(&impostor.mint_default(), &bundle),
        JwtError::BadSignature
    );
    // PKCS#1 v1.5 signature presented as PSS, and the reverse.
    let rsa = TestKey::rsa("rsa");
    let rsa_bundle = jwt_support::bundle(TD, &[&rsa]);
    let pkcs1_as_pss = rsa.mint_as(
        JwtAlgorithm::Rs256,
        &header("PS256", "rsa"),
        &default_claims(),
    );
    let pss_as_pkcs1 = rsa.mint_as(
        JwtAlgorithm::Ps256,
        &header("RS256", "rsa"),
        &default_claims(),
    );
    let sha256_as_sha512 = rsa.mint_as(
        JwtAlgorithm::Rs256,
        &header("RS512", "rsa"),
        &default_claims(),
    );
    let good = rsa.mint(&default_claims());
    let (signing_input, signature) = good.rsplit_once('.').unwrap();
    let mut short = URL_SAFE_NO_PAD.decode(signature).unwrap();
    short.pop();
    let short = format!("{signing_input}.{}", b64(&short));
    let empty = format!("{signing_input}.");
    let long = format!("{signing_input}.{}", b64([1; 512]));
    for bad in [
        pkcs1_as_pss,
        pss_as_pkcs1,
        sha256_as_sha512,
        short,
        empty,
        long,
    ] {
        assert_eq!(error(&bad, &rsa_bundle), JwtError::BadSignature);
    }
    check(&good, &rsa_bundle).unwrap();
}

/// ES* signatures are the fixed-width `r || s` (64 bytes for ES256, 96 for ES384), never DER;
/// other lengths are refused before any key is used.
///
/// shared/spec/SPIFFE-DIGEST.md 3.4 step 6; RFC 7518 3.4.
#[test]
fn ecdsa_signatures_must_be_fixed_width() {
    let (key, bundle) = fixture();
    let signing_input = format!("{}.{}", b64(header("ES256", "k1")), b64(default_claims()));
    let raw = key.sign(JwtAlgorithm::Es256, signing_input.as_bytes());
    // The same signature as a DER ECDSA-Sig-Value, as TLS would carry it.
    let der = {
        let int = |v: &[u8]| {
            let v: Vec<u8> = v.iter().copied().skip_while(|&b| b == 0).collect();
            let mut out = vec![0x02];
            let pad = v.first().is_some_and(|&b| b & 0x80 != 0);
            out.push(u8::try_from(v.len() + usize::from(pad)).unwrap());
            if pad {
                out.push(0);
            }
            out.extend_from_slice(&v);
            out
        };
        let body = [int(&raw[..32]), int(&raw[32..])].concat();
        let mut out = vec![0x30, u8::try_from(body.len()).unwrap()];
        out.extend_from_slice(&body);
        out
    };
    assert_ne!(der.len(), 64);
    let mut long = raw.clone();
    long.push(0);
    for signature in [
        der,
        raw[..63].to_vec(),
        long,
        Vec::new(),
        [raw.clone(), raw.clone()].concat(),
    ] {
        let token = format!("{signing_input}.{}", b64(&signature));
        assert_eq!(
            error(&token, &bundle),
            JwtError::BadSignatureEncoding,
            "{} bytes",
            signature.len()
        );
    }
    // ES384 wants 96 bytes, but first a P-384 key: the P-256 `kid` key is the mistake named.
    let token = compact(&header("ES384", "k1"), &default_claims(), &raw);
    assert!(matches!(
        error(&token, &bundle),
        JwtError::KeyDoesNotFitAlgorithm { .. }
    ));
    // The raw form verifies.
    check(&format!("{signing_input}.{}", b64(&raw)), &bundle).unwrap();
}

/// `r` or `s` with leading zero bytes (about one signature in 128) still verifies: the
/// re-encoding for the backend must strip them.
///
/// shared/spec/SPIFFE-DIGEST.md 3.4 step 6.
#[test]
fn ecdsa_scalars_with_leading_zeros_verify() {
    for key in [TestKey::p256("k1"), TestKey::p384("k1")] {
        let bundle = bundle(TD, &[&key]);
        let alg = key.alg();
        let half = if alg == JwtAlgorithm::Es256 { 32 } else { 48 };
        let signing_input = format!(
            "{}.{}",
            b64(header(alg.name(), "k1")),
            b64(default_claims())
        );
        let (mut zero_r, mut zero_s, mut high) = (false, false, false);
        for _ in 0..20_000 {
            let sig = key.sign(alg, signing_input.as_bytes());
            let r0 = sig[0] == 0;
            let s0 = sig[half] == 0;
            let hi = sig[0] & 0x80 != 0 && sig[half] & 0x80 != 0;
            if (r0 && !zero_r) || (s0 && !zero_s) || (hi && !high) {
                let token = format!("{signing_input}.{}", b64(&sig));
                check(&token, &bundle).unwrap_or_else(|e| panic!("{alg} {sig:02x?}: {e}"));
                zero_r |= r0;
                zero_s |= s0;
                high |= hi;
            }
            if zero_r && zero_s && high {
                break;
            }
        }
        assert!(zero_r && zero_s && high, "{alg}: no such signature found");
    }
}

// ---------------------------------------------------------------------------------------------
// Limits
// ---------------------------------------------------------------------------------------------

/// Tokens over [`MAX_TOKEN_LEN`] (16 KiB) are refused before decoding; a token of exactly that
/// length is accepted.
///
/// shared/spec/SPIFFE-DIGEST.md 3.1 (size bound: this crate's choice).
#[test]
fn tokens_over_16_kib_are_refused() {
    let (key, bundle) = fixture();
    // Find a header and padding that make the token exactly MAX_TOKEN_LEN long (base64
    // lengths skip every fourth value, so vary the header too). ES256 signatures are 86
    // characters.
    let padded = |pad: usize| {
        format!(
            r#"{{"sub":"{SUB}","aud":"{AUD}","exp":{EXP},"pad":"{}"}}"#,
            "x".repeat(pad)
        )
    };
    let headers = [
        header("ES256", "k1"),
        r#"{"alg":"ES256","kid":"k1"}"#.to_owned(),
        r#"{"alg":"ES256","kid":"k1","typ":"JOSE"}"#.to_owned(),
    ];
    let length = |h: &str, c: &str| b64(h).len() + b64(c).len() + 2 + 86;
    let mut exact = None;
    'search: for h in &headers {
        for pad in 11_000..12_500 {
            if length(h, &padded(pad)) == MAX_TOKEN_LEN {
                exact = Some((h.clone(), pad));
                break 'search;
            }
        }
    }
    let (exact_header, pad) = exact.unwrap();
    let token = key.mint_with_header(&exact_header, &padded(pad));
    assert_eq!(token.len(), MAX_TOKEN_LEN);
    check(&token, &bundle).unwrap();

    let over = key.mint_with_header(&exact_header, &padded(pad + 1));
    assert!(over.len() > MAX_TOKEN_LEN);
    assert_eq!(
        error(&over, &bundle),
        JwtError::TokenTooLong { len: over.len() }
    );
    let huge = "a.".repeat(1 << 20);
    assert_eq!(
        UnverifiedJwtSvid::parse_insecure(&huge).unwrap_err(),
        JwtError::TokenTooLong { len: huge.len() }
    );
}

// ---------------------------------------------------------------------------------------------
// The result
// ---------------------------------------------------------------------------------------------

/// The verified token exposes the SPIFFE ID, audience, expiry (rounded down), every claim
/// (private ones included), the `kid` and the algorithm.
///
/// shared/spec/SPIFFE-DIGEST.md 3.4 step 9.
#[test]
fn verified_token_exposes_id_audience_expiry_and_claims() {
    let (key, bundle) = fixture();
    let token = key.mint(&format!(
        r#"{{"sub":"{SUB}","aud":["{AUD}","x"],"exp":{EXP}.9,"iat":{NOW},"iss":"spiffe://example.org","jti":"j-1","org.example/tenant":{{"id":7}}}}"#
    ));
    let verified = check(&token, &bundle).unwrap();
    assert_eq!(verified.spiffe_id().as_str(), SUB);
    assert_eq!(verified.audience(), [AUD, "x"]);
    assert_eq!(verified.expires_at(), at(EXP));
    assert_eq!(verified.kid(), Some("k1"));
    assert_eq!(verified.algorithm(), JwtAlgorithm::Es256);
    let claims = verified.claims();
    assert_eq!(claims["jti"], "j-1");
    assert_eq!(claims["iss"], "spiffe://example.org");
    assert_eq!(claims["org.example/tenant"]["id"], 7);
    assert_eq!(claims["iat"], NOW);
    assert_eq!(claims["sub"], SUB);
    assert_eq!(claims.len(), 7);
}

/// `parse_insecure` reads structure and claims without any bundle, and agrees with the
/// verified result; it still applies every structural rule.
///
/// shared/spec/SPIFFE-DIGEST.md 3.4 steps 1-3.
#[test]
fn parse_insecure_needs_no_bundle() {
    let key = TestKey::p384("unpublished");
    let token = key.mint(&claims(SUB, &format!(r#""{AUD}""#), EXP));
    let parsed = UnverifiedJwtSvid::parse_insecure(&token).unwrap();
    assert_eq!(parsed.spiffe_id().as_str(), SUB);
    assert_eq!(parsed.audience(), [AUD]);
    assert_eq!(parsed.kid(), Some("unpublished"));
    assert_eq!(parsed.algorithm(), JwtAlgorithm::Es384);
    assert!((parsed.expiry() - 1_780_272_300.0).abs() < f64::EPSILON);
    assert_eq!(parsed.claims()["iat"], NOW);

    // Expired and for any audience: not its business.
    let old = key.mint(&claims(SUB, r#""elsewhere""#, 1));
    assert!((UnverifiedJwtSvid::parse_insecure(&old).unwrap().expiry() - 1.0).abs() < f64::EPSILON);

    // Structural rules still apply.
    let none = format!("{}.{}.", b64(header("none", "x")), b64(default_claims()));
    assert_eq!(
        UnverifiedJwtSvid::parse_insecure(&none).unwrap_err(),
        JwtError::UnsupportedAlgorithm("none".into())
    );

    // And it agrees with validation.
    let bundle = bundle(TD, &[&key]);
    let verified = check(&token, &bundle).unwrap();
    assert_eq!(verified.spiffe_id(), parsed.spiffe_id());
    assert_eq!(verified.audience(), parsed.audience());
    assert_eq!(verified.claims(), parsed.claims());
}

/// The validator works through every kind of source: a single bundle, a set, and the
/// `&`, `Box` and `Arc` forwarders.
///
/// shared/spec/SPIFFE-DIGEST.md 3.4 step 4.
#[test]
fn every_source_kind_works() {
    let (key, bundle) = fixture();
    let token = key.mint_default();
    let set = set([bundle.clone()]);
    check(&token, &bundle).unwrap();
    check(&token, &set).unwrap();
    check(&token, &&set).unwrap();
    check(&token, &Box::new(set.clone())).unwrap();
    check(&token, &std::sync::Arc::new(set)).unwrap();
    let dynamic: std::sync::Arc<dyn JwtBundleSource> = std::sync::Arc::new(bundle);
    check(&token, &dynamic).unwrap();
}

// ---------------------------------------------------------------------------------------------
// Errors a user can act on
// ---------------------------------------------------------------------------------------------

/// A token signed by a P-256 key but labelled ES384: the error says the `kid` names a key of
/// the wrong curve, not that the signature has the wrong length.
///
/// shared/spec/SPIFFE-DIGEST.md 3.4 step 5 (the key must fit `alg`); JWT-SVID 2.1.
#[test]
fn kid_of_another_curve_is_named_in_the_error() {
    let key = TestKey::p256("k1");
    let bundle = bundle(TD, &[&key]);
    let token = key.mint_with_header(&header("ES384", "k1"), &default_claims());
    let error = error(&token, &bundle);
    assert!(
        matches!(
            &error,
            JwtError::KeyDoesNotFitAlgorithm { kid, algorithm: JwtAlgorithm::Es384, .. } if kid == "k1"
        ),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "kid \"k1\" names an EC P-256 key, but alg ES384 needs EC P-384 (JWT-SVID 2.1)"
    );
    let rsa = TestKey::rsa("r1");
    let token = key.mint_with_header(&header("ES256", "r1"), &default_claims());
    let message = self::error(&token, &jwt_support::bundle(TD, &[&rsa])).to_string();
    assert!(
        message.contains("names an RSA key, but alg ES256 needs EC P-256"),
        "{message}"
    );
}

/// A `kid` whose bundle entry was skipped at parse time (`use` `wit-svid`, an unknown `kty`):
/// the error says it was ignored and why, not only that the kid is unknown.
///
/// shared/spec/SPIFFE-DIGEST.md 8.5 J-11 (a key whose `use` is not `jwt-svid` is not used),
/// B-2 (an unknown `kty` is ignored); 3.4 step 4.
#[test]
fn ignored_kid_says_it_was_ignored_and_why() {
    let key = TestKey::p256("k1");
    let token = key.mint_default();
    let document = format!(r#"{{"keys":[{}]}}"#, key.jwk(Some("wit-svid")));
    let parsed = SpiffeBundle::parse(td(TD), &document).unwrap();
    let source = trust_bundle::BundleSet::from_bundles([parsed]).unwrap();
    let message = error(&token, &source).to_string();
    assert!(
        message.contains("kid \"k1\"")
            && message.contains("ignored")
            && message.contains("\"wit-svid\" is not accepted"),
        "{message}"
    );

    let document = r#"{"keys":[{"kty":"XYZ","use":"jwt-svid","kid":"k1"}]}"#;
    let parsed = SpiffeBundle::parse(td(TD), document).unwrap();
    let source = trust_bundle::BundleSet::from_bundles([parsed]).unwrap();
    let message = error(&token, &source).to_string();
    assert!(
        message.contains("ignored") && message.contains("kty \"XYZ\" is unknown"),
        "{message}"
    );
}
