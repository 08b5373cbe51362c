//! Regression tests for JWT-SVID / JOSE bugs found in other libraries
//! (shared/research/USER-NEEDS.md section 2, "JWT-SVID / JOSE", items 23-35). Each test names
//! the upstream issue in its doc comment.
//!
//! Not here: item 31 (spiffe/spire#4309, a JWT-SVID cache keyed by a lossy audience encoding)
//! concerns a Workload API client's cache; `svid` has no cache.

#![cfg(any(feature = "ring", feature = "aws-lc-rs"))]
#![allow(
    clippy::unwrap_used,
    reason = "the file-level helpers `error` and `fixture` unwrap: a panic there is a failed test"
)]

mod jwt_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use jwt_support::{
    AUD, EXP, NOW, SUB, TD, TestKey, audience, b64, backends, bundle, claims, claims_for, compact,
    default_claims, header, now, set, td, validator,
};
use spiffe_id::TrustDomain;
use svid::{
    Audience, JwtAlgorithm, JwtError, JwtValidator, MAX_TOKEN_LEN, UnverifiedJwtSvid,
    VerifiedJwtSvid,
};
use trust_bundle::{BundleSet, IgnoredReason, JwtBundle, JwtBundleSource, JwtKey, SpiffeBundle};

fn check(token: &str, source: &dyn JwtBundleSource) -> Result<VerifiedJwtSvid, JwtError> {
    validator(source).validate(token, &audience(), now())
}

fn error(token: &str, source: &dyn JwtBundleSource) -> JwtError {
    check(token, source).unwrap_err()
}

fn fixture() -> (TestKey, JwtBundle) {
    let key = TestKey::p256("k1");
    let bundle = bundle(TD, &[&key]);
    (key, bundle)
}

/// spiffe/go-spiffe#407 (USER-NEEDS 23): an empty expected-audience list disabled the audience
/// check, and tokens without `aud` were accepted. Here the expected audience cannot be empty
/// (`validate` takes an [`Audience`], which refuses to be built empty), and a token without
/// `aud` is refused.
#[test]
fn go_spiffe_407_empty_expected_audience_and_missing_aud() {
    assert_eq!(
        Audience::new(Vec::<&str>::new()),
        Err(JwtError::EmptyExpectedAudience)
    );
    assert_eq!(
        Audience::new(std::iter::empty::<String>()),
        Err(JwtError::EmptyExpectedAudience)
    );
    assert_eq!(Audience::new([""]), Err(JwtError::EmptyExpectedAudience));

    let (key, bundle) = fixture();
    let token = key.mint(&format!(r#"{{"sub":"{SUB}","exp":{EXP}}}"#));
    assert_eq!(error(&token, &bundle), JwtError::MissingClaim("aud"));
    let token = key.mint(&claims(SUB, "[]", EXP));
    assert_eq!(error(&token, &bundle), JwtError::EmptyAudienceClaim);
}

/// Keats/jsonwebtoken#329 → #332 (USER-NEEDS 24): a token carrying `aud` was accepted when the
/// validator expected no audience. There is no "no audience" mode: whatever the token's `aud`,
/// it must contain one of the validator's audiences.
#[test]
fn jsonwebtoken_329_aud_never_accepted_without_a_match() {
    let (key, bundle) = fixture();
    for aud in [
        r#""spiffe://example.org/other""#,
        r#"["spiffe://example.org/other","spiffe://example.org/another"]"#,
        r#""*""#,
    ] {
        let token = key.mint(&claims(SUB, aud, EXP));
        assert_eq!(error(&token, &bundle), JwtError::AudienceMismatch, "{aud}");
        // Nor under any other configuration.
        let lenient = JwtValidator::new(&bundle, &svid::Crypto::default())
            .allow_missing_kid()
            .with_leeway(svid::MAX_LEEWAY)
            .unwrap();
        assert_eq!(
            lenient.validate(&token, &audience(), now()).unwrap_err(),
            JwtError::AudienceMismatch
        );
    }
}

/// CVE-2026-25537 / GHSA-h395-gr6q-cpjc (jsonwebtoken < 10.3.0; USER-NEEDS 25): a malformed
/// `exp` or `nbf` was treated as absent, so a token with `"exp":"never"` never expired. Here
/// any present date claim of the wrong type or sign is an error. (USER-NEEDS also lists
/// "float"; RFC 7519 2 allows fractional NumericDates, so a positive fraction is accepted:
/// shared/spec/SPIFFE-DIGEST.md 3.3.)
#[test]
fn cve_2026_25537_malformed_dates_are_never_absent() {
    let (key, bundle) = fixture();
    let with = |extra: &str, exp: &str| {
        key.mint(&format!(
            r#"{{"sub":"{SUB}","aud":"{AUD}","exp":{exp}{extra}}}"#
        ))
    };
    for (token, claim) in [
        (with("", r#""never""#), "exp"),
        (with("", "null"), "exp"),
        (with("", "-1"), "exp"),
        (with("", "-1.5"), "exp"),
        (with("", r#""1780272300""#), "exp"),
        (with(r#","nbf":"9999999999""#, &EXP.to_string()), "nbf"),
        (with(r#","nbf":null"#, &EXP.to_string()), "nbf"),
        (with(r#","nbf":-1"#, &EXP.to_string()), "nbf"),
        (with(r#","iat":"yesterday""#, &EXP.to_string()), "iat"),
    ] {
        assert_eq!(
            error(&token, &bundle),
            JwtError::BadClaimType(claim),
            "{claim}"
        );
        // parse_insecure agrees: it is a structural error, not a validation-time one.
        assert_eq!(
            UnverifiedJwtSvid::parse_insecure(&token).unwrap_err(),
            JwtError::BadClaimType(claim)
        );
    }
    check(&with("", &format!("{EXP}.5")), &bundle).unwrap();
}

/// Keats/jsonwebtoken#542; brandonrc/mobula#27 (USER-NEEDS 26): `nbf` was documented as
/// validated but not validated by default. Here it always is: an `nbf` beyond the leeway is
/// refused by the default validator.
#[test]
fn jsonwebtoken_542_nbf_is_validated_by_default() {
    let (key, bundle) = fixture();
    let token = key.mint(&format!(
        r#"{{"sub":"{SUB}","aud":"{AUD}","exp":{EXP},"nbf":{}}}"#,
        NOW + 120
    ));
    assert_eq!(error(&token, &bundle), JwtError::NotYetValid);
    for backend in backends() {
        let result = JwtValidator::new(&bundle, &backend).validate(&token, &audience(), now());
        assert_eq!(result.unwrap_err(), JwtError::NotYetValid);
    }
}

/// spiffe/java-spiffe#59/#60 and #58/#62; spiffe/go-spiffe#158 (USER-NEEDS 27): `alg` and `typ`
/// were not validated. Here `alg` outside the nine and `typ` outside `JWT`/`JOSE` are refused,
/// even with a signature that would verify.
#[test]
fn java_spiffe_59_alg_and_typ_are_validated() {
    let (key, bundle) = fixture();
    for alg in [
        "none", "None", "HS256", "HS512", "ES256K", "EdDSA", "RS1", "XYZ",
    ] {
        let token = key.mint_with_header(&header(alg, "k1"), &default_claims());
        assert_eq!(
            error(&token, &bundle),
            JwtError::UnsupportedAlgorithm(alg.into()),
            "{alg}"
        );
    }
    for typ in ["wit+jwt", "jwt", "JWS", "secevent+jwt"] {
        let token = key.mint_with_header(
            &format!(r#"{{"alg":"ES256","kid":"k1","typ":"{typ}"}}"#),
            &default_claims(),
        );
        assert_eq!(
            error(&token, &bundle),
            JwtError::BadType(typ.into()),
            "{typ}"
        );
    }
}

/// HMAC over `input` with `secret`, as an attacker who knows the public key would compute it.
fn hs256(secret: &[u8], kid: &str) -> String {
    let input = format!("{}.{}", b64(header("HS256", kid)), b64(default_claims()));
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    let tag = ring::hmac::sign(&key, input.as_bytes());
    format!("{input}.{}", b64(tag.as_ref()))
}

/// maxsherman/rust-spiffe#366; benmcollins/libjwt#200; Keats/jsonwebtoken#251/#264/#271
/// (USER-NEEDS 28): algorithm / key-family confusion. Each pair is refused:
/// - HS256 with the RSA or EC public key (DER, JWK text) as the HMAC secret;
/// - an EC-signed token whose `kid` names an RSA key, and the reverse;
/// - an `oct` (symmetric) key in a bundle is never a JWT authority.
#[test]
fn rust_spiffe_366_algorithm_and_key_family_confusion() {
    let ec = TestKey::p256("ec");
    let rsa = TestKey::rsa("rsa");
    let bundle = bundle(TD, &[&ec, &rsa]);

    let JwtKey::Rsa(rsa_public) = rsa.jwt_key() else {
        panic!()
    };
    let JwtKey::Ec(ec_public) = ec.jwt_key() else {
        panic!()
    };
    for (secret, kid) in [
        (rsa_public.pkcs1_der().to_vec(), "rsa"),
        (rsa.jwk(Some("jwt-svid")).into_bytes(), "rsa"),
        (ec_public.sec1_uncompressed().to_vec(), "ec"),
        (ec.jwk(None).into_bytes(), "ec"),
    ] {
        assert_eq!(
            error(&hs256(&secret, kid), &bundle),
            JwtError::UnsupportedAlgorithm("HS256".into())
        );
    }

    // EC token vs RSA key, RSA token vs EC key.
    let es_on_rsa = ec.mint_with_header(&header("ES256", "rsa"), &default_claims());
    let rs_on_ec = rsa.mint_with_header(&header("RS256", "ec"), &default_claims());
    let ps_on_ec = rsa.mint_as(
        JwtAlgorithm::Ps256,
        &header("PS256", "ec"),
        &default_claims(),
    );
    for token in [es_on_rsa, rs_on_ec, ps_on_ec] {
        assert!(matches!(
            error(&token, &bundle),
            JwtError::KeyDoesNotFitAlgorithm { .. }
        ));
    }

    // An `oct` key in a SPIFFE bundle or a Workload API JWKS is dropped, so its kid is unknown
    // and HS256 stays refused.
    let secret = b"0123456789abcdef0123456789abcdef";
    let oct = format!(
        r#"{{"kty":"oct","use":"jwt-svid","kid":"hmac","k":"{}"}}"#,
        b64(secret)
    );
    let document = format!(r#"{{"keys":[{oct},{}]}}"#, ec.jwk(Some("jwt-svid")));
    let spiffe = SpiffeBundle::parse(td(TD), &document).unwrap();
    let ignored = spiffe.ignored().to_vec();
    assert_eq!(ignored.len(), 1);
    assert_eq!(ignored[0].kid(), Some("hmac"));
    assert!(spiffe.jwt_bundle().key("hmac").is_none());
    let workload = JwtBundle::parse_workload_api(td(TD), &document).unwrap();
    let ignored = workload.ignored().to_vec();
    assert_eq!(ignored.len(), 1);
    let source = BundleSet::from_bundles([spiffe]).unwrap();
    let sources: [&dyn JwtBundleSource; 2] = [&source, &workload];
    for source in sources {
        assert_eq!(
            error(&hs256(secret, "hmac"), source),
            JwtError::UnsupportedAlgorithm("HS256".into())
        );
        let token = ec.mint_with_header(&header("ES256", "hmac"), &default_claims());
        // No key has that kid; a parsed document also says why its entry was ignored.
        assert!(matches!(
            error(&token, source),
            JwtError::UnknownKid(kid) | JwtError::IgnoredKid { kid, .. } if kid == "hmac"
        ));
    }
}

/// HewlettPackard/py-spiffe#449 (USER-NEEDS 29): the `sub` trust domain was not bound to the
/// bundle that validated the token, so a key (and kid) published by trust domain A validated
/// tokens claiming to be from B. Here the same key and kid in A and B: a token for B validates
/// only against B's bundle; with only A's bundle it is refused.
#[test]
fn py_spiffe_449_sub_trust_domain_is_bound_to_its_bundle() {
    let shared = TestKey::p256("shared");
    let a = bundle("a.org", &[&shared]);
    let b = bundle("b.org", &[&shared]);
    let token = shared.mint(&claims_for("spiffe://b.org/workload"));
    let no_b = JwtError::NoBundle {
        trust_domain: td("b.org"),
    };

    // Only A's bundle, as a bundle or in a set.
    assert_eq!(error(&token, &a), no_b);
    assert_eq!(error(&token, &set([a.clone()])), no_b);
    // A without kid: still only B's keys may be tried.
    let no_kid = shared.mint_with_header(r#"{"alg":"ES256"}"#, &claims_for("spiffe://b.org/w"));
    let lenient = validator(&a).allow_missing_kid();
    assert_eq!(
        lenient.validate(&no_kid, &audience(), now()).unwrap_err(),
        no_b
    );

    // B's own bundle validates it (B published the key too).
    check(&token, &set([a, b])).unwrap();

    // And when A's key is not in B, a token for B signed with A's key fails.
    let a_only = TestKey::p256("a-only");
    let b_key = TestKey::p256("b-key");
    let source = set([bundle("a.org", &[&a_only]), bundle("b.org", &[&b_key])]);
    let token = a_only.mint(&claims_for("spiffe://b.org/workload"));
    assert_eq!(
        error(&token, &source),
        JwtError::UnknownKid("a-only".into())
    );
}

/// HewlettPackard/py-spiffe#413; maxsherman/rust-spiffe#318 (USER-NEEDS 30): JWKs that are not
/// `jwt-svid` (X.509 authorities, or entries without `use`) were treated as JWT authorities.
/// Here a JWT signed with a key published as `use: x509-svid` or with no `use` in a SPIFFE
/// bundle is refused, and the error says the kid's entry was ignored and why.
#[test]
fn py_spiffe_413_non_jwt_svid_keys_are_not_jwt_authorities() {
    let key = TestKey::p256("k1");
    let token = key.mint_default();
    for (entry, reason) in [
        (
            key.jwk(Some("x509-svid")),
            IgnoredReason::MissingCertificate,
        ),
        (key.jwk(None), IgnoredReason::MissingUse),
        (
            key.jwk(Some("wit-svid")),
            IgnoredReason::UseNotAccepted {
                value: "wit-svid".into(),
            },
        ),
    ] {
        let parsed = SpiffeBundle::parse(td(TD), format!(r#"{{"keys":[{entry}]}}"#)).unwrap();
        let ignored = parsed.ignored().to_vec();
        assert_eq!(ignored.len(), 1, "{entry}");
        assert_eq!(ignored[0].reason(), &reason);
        let source = BundleSet::from_bundles([parsed]).unwrap();
        match error(&token, &source) {
            JwtError::IgnoredKid { kid, entry } => {
                assert_eq!(kid, "k1");
                assert_eq!(entry.reason(), &reason);
            }
            other => panic!("{other:?}"),
        }
    }
    // A Workload API JWKS takes entries without `use` as JWT keys (SPIRE omits it), but not
    // x509-svid ones.
    let jwt = JwtBundle::parse_workload_api(
        td(TD),
        format!(r#"{{"keys":[{}]}}"#, key.jwk(Some("x509-svid"))),
    )
    .unwrap();
    let ignored = jwt.ignored().to_vec();
    assert_eq!(ignored.len(), 1);
    assert!(matches!(
        error(&token, &jwt),
        JwtError::IgnoredKid { kid, .. } if kid == "k1"
    ));
    let jwt = JwtBundle::parse_workload_api(td(TD), format!(r#"{{"keys":[{}]}}"#, key.jwk(None)))
        .unwrap();
    check(&token, &jwt).unwrap();
}

/// spiffe/go-spiffe#233 (and #223 for X.509; USER-NEEDS 32): a malformed JWT-SVID made the
/// library panic. Here every truncation and every single-character change of a valid token,
/// and assorted hostile inputs, give an error, never a panic and never a valid token.
#[test]
fn go_spiffe_233_malformed_tokens_never_panic() {
    let (key, bundle) = fixture();
    let token = key.mint_default();
    check(&token, &bundle).unwrap();

    for end in 0..token.len() {
        assert!(check(&token[..end], &bundle).is_err(), "prefix {end}");
        assert!(
            UnverifiedJwtSvid::parse_insecure(&token[..end]).is_err(),
            "prefix {end}"
        );
    }
    for (index, original) in token.char_indices() {
        for replacement in ['A', '_', '-', '.', '=', '{', ' ', 'é'] {
            if original == replacement {
                continue;
            }
            let mutated = format!("{}{replacement}{}", &token[..index], &token[index + 1..]);
            assert!(
                check(&mutated, &bundle).is_err(),
                "changing byte {index} to {replacement:?} still validates"
            );
        }
    }

    // Deep nesting (serde_json's recursion limit, not the stack, stops it), odd shapes.
    let deep_claims = format!(r#"{{"sub":"{SUB}","x":{}}}"#, "[".repeat(5_000));
    let deep_header = "[".repeat(5_000);
    for hostile in [
        compact(&header("ES256", "k1"), &deep_claims, &[0; 64]),
        compact(&deep_header, &default_claims(), &[0; 64]),
        "..".to_owned(),
        ".".repeat(MAX_TOKEN_LEN),
        "\u{0}.\u{0}.\u{0}".to_owned(),
        "é.é.é".to_owned(),
        format!("{}.{}.", b64("{}"), b64("{}")),
        format!(
            "{}.{}.{}",
            b64(header("ES256", "k1")),
            b64("[]"),
            b64([0; 64])
        ),
    ] {
        assert!(check(&hostile, &bundle).is_err());
        assert!(UnverifiedJwtSvid::parse_insecure(&hostile).is_err());
    }
}

/// parallaxsecond/parsec#289/#290 (USER-NEEDS 33): a service trusted what another component
/// returned for a token without checking that it matched the token. Here the verified result
/// is read from the token itself: its `sub`, `aud`, expiry and claims equal those of a local
/// insecure parse of the same token.
#[test]
fn parsec_289_verified_fields_match_the_token() {
    let (key, bundle) = fixture();
    let token = key.mint(&format!(
        r#"{{"sub":"spiffe://example.org/ns/prod/sa/api","aud":["{AUD}","b"],"exp":{EXP},"iat":{NOW},"x":{{"y":[1,2]}}}}"#
    ));
    let verified = check(&token, &bundle).unwrap();
    let parsed = UnverifiedJwtSvid::parse_insecure(&token).unwrap();
    assert_eq!(verified.spiffe_id(), parsed.spiffe_id());
    assert_eq!(
        verified.spiffe_id().as_str(),
        "spiffe://example.org/ns/prod/sa/api"
    );
    assert_eq!(verified.audience(), parsed.audience());
    assert_eq!(verified.claims(), parsed.claims());
    assert_eq!(verified.kid(), parsed.kid());
    assert_eq!(verified.algorithm(), parsed.algorithm());
}

/// A bundle source that counts lookups.
struct Counting {
    inner: BundleSet,
    lookups: AtomicUsize,
}

impl JwtBundleSource for Counting {
    fn jwt_bundle(&self, trust_domain: &TrustDomain) -> Option<Arc<JwtBundle>> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        self.inner.jwt_bundle(trust_domain)
    }

    fn generation(&self) -> u64 {
        JwtBundleSource::generation(&self.inner)
    }
}

/// buildkite/cleanroom#496; coupergateway/couper#801 (USER-NEEDS 34): random unknown `kid`s
/// forced a JWKS refetch each, a denial-of-service lever. The validator has no refresh path:
/// an unknown `kid` costs exactly one lookup in the caller's source and is refused, and
/// tokens failing earlier checks cost none.
#[test]
fn cleanroom_496_unknown_kids_cost_one_lookup_and_no_refresh() {
    let key = TestKey::p256("k1");
    let source = Counting {
        inner: set([bundle(TD, &[&key])]),
        lookups: AtomicUsize::new(0),
    };
    for i in 0..100 {
        let kid = format!("random-{i}");
        let token = key.mint_with_header(&header("ES256", &kid), &default_claims());
        assert_eq!(error(&token, &source), JwtError::UnknownKid(kid));
    }
    assert_eq!(source.lookups.load(Ordering::SeqCst), 100);

    // Expired, wrong audience, or malformed: refused before any lookup.
    let expired = key.mint(&claims(SUB, &format!(r#""{AUD}""#), NOW - 3600));
    let elsewhere = key.mint(&claims(SUB, r#""elsewhere""#, EXP));
    for token in [expired, elsewhere, "x.y.z".to_owned()] {
        assert!(check(&token, &source).is_err());
    }
    assert_eq!(source.lookups.load(Ordering::SeqCst), 100);
}

/// go-jose v3 → v4 (go-spiffe 2.2.0 "not impacted due to stringent algorithm checking");
/// CVE-2024-28180 in go-jose (traefik/traefik#11385) (USER-NEEDS 35): keep the algorithm
/// allow-list independent of the JOSE or crypto backend. Here the nine names are our own list:
/// EdDSA is refused although every backend verifies Ed25519, ES512 with a P-256 key is "does
/// not fit" on every backend (never a signature check), and the decompression header `zip` of
/// CVE-2024-28180 is refused before anything is decoded.
#[test]
fn go_jose_cve_2024_28180_allow_list_is_independent_of_the_backend() {
    let names = [
        "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512",
    ];
    for name in names {
        assert_eq!(JwtAlgorithm::from_name(name).unwrap().name(), name);
    }
    for name in [
        "EdDSA", "ES256K", "HS256", "none", "RSA-OAEP", "A256GCM", "ES512 ",
    ] {
        assert_eq!(JwtAlgorithm::from_name(name), None, "{name}");
    }

    let (key, bundle) = fixture();
    let eddsa = compact(&header("EdDSA", "k1"), &default_claims(), &[0; 64]);
    let zip = key.mint_with_header(
        r#"{"alg":"ES256","kid":"k1","zip":"DEF"}"#,
        &default_claims(),
    );
    let es512 = compact(&header("ES512", "k1"), &default_claims(), &[1; 132]);
    for backend in backends() {
        let validator = JwtValidator::new(&bundle, &backend);
        let result = |token: &str| validator.validate(token, &audience(), now());
        assert_eq!(
            result(&eddsa).unwrap_err(),
            JwtError::UnsupportedAlgorithm("EdDSA".into())
        );
        assert!(matches!(result(&zip).unwrap_err(), JwtError::BadHeader(_)));
        // Both backends verify ES512; the P-256 key does not fit it.
        assert!(matches!(
            result(&es512).unwrap_err(),
            JwtError::KeyDoesNotFitAlgorithm { .. }
        ));
    }
}
