//! Target `jwt_svid`: `UnverifiedJwtSvid::parse_insecure` and `JwtValidator::validate` on UTF-8 input.

use std::sync::OnceLock;
use std::time::Duration;

use ::rustls_pki_types::UnixTime;
use ::spiffe_id::SpiffeId;
use ::svid::{Audience, Crypto, JwtAlgorithm, JwtValidator, MAX_AUDIENCES, UnverifiedJwtSvid};
use ::trust_bundle::JwtBundle;

/// The JWT authorities of `example.org` (a P-256 key made by `data/gen.py` and the RSA key of
/// the trust-bundle golden bundle), as a Workload API JWKS.
const JWKS: &[u8] = include_bytes!("data/jwt-bundle.json");

/// The audience the validator expects; the valid seeds carry it.
const AUDIENCE: &str = "spiffe://example.org/fuzz-audience";

/// The instant tokens are validated at: 2030-01-01T00:00:00Z (the seeds expire in 2100).
const NOW: u64 = 1_893_456_000;

/// - Non-UTF-8 input is skipped (a token is a `&str`).
/// - `UnverifiedJwtSvid::parse_insecure` never panics; refusals have a message. Accepted: the SPIFFE ID
///   is not the root and is the `sub` claim, the audience has 1..=32 non-empty values and is the
///   `aud` claim, `exp` is finite and non-negative, the algorithm is a JWT-SVID one.
/// - `JwtValidator::validate` against the fixed bundle never panics, with `kid` required and
///   with `allow_missing_kid`. A success: the parse properties, the ID is in `example.org`, the
///   audience holds the expected value, the token has not expired (30 s leeway), the parser
///   accepts the token too, and (when `kid` is required) `kid` is present and names a key of
///   the bundle.
pub(crate) fn check(data: &[u8]) {
    let Ok(token) = core::str::from_utf8(data) else {
        return;
    };
    let parsed = UnverifiedJwtSvid::parse_insecure(token);
    match &parsed {
        Ok(svid) => {
            check_claims(svid.spiffe_id(), svid.audience());
            assert!(svid.expiry().is_finite() && svid.expiry() >= 0.0);
            assert_eq!(
                JwtAlgorithm::from_name(svid.algorithm().name()),
                Some(svid.algorithm())
            );
            let claims = svid.claims();
            assert_eq!(
                claims.get("sub").and_then(|sub| sub.as_str()),
                Some(svid.spiffe_id().as_str())
            );
            let aud = claims.get("aud");
            let aud_values: Option<Vec<&str>> = match aud {
                Some(::serde_json::Value::String(one)) => Some(vec![one.as_str()]),
                Some(::serde_json::Value::Array(many)) => {
                    many.iter().map(|value| value.as_str()).collect()
                }
                _ => None,
            };
            assert_eq!(
                aud_values,
                Some(svid.audience().iter().map(String::as_str).collect())
            );
        }
        Err(err) => assert!(!err.to_string().is_empty()),
    }

    let (strict, lenient, bundle, audience) = fixtures();
    let now = UnixTime::since_unix_epoch(Duration::from_secs(NOW));
    for (validator, require_kid) in [(strict, true), (lenient, false)] {
        match validator.validate(token, audience, now) {
            Ok(verified) => {
                assert!(parsed.is_ok(), "validated a token the parser refuses");
                check_claims(verified.spiffe_id(), verified.audience());
                assert_eq!(verified.spiffe_id().trust_domain_name(), "example.org");
                assert!(verified.audience().iter().any(|aud| aud == AUDIENCE));
                assert!(verified.expires_at().as_secs().saturating_add(30) >= NOW);
                if require_kid {
                    assert!(
                        verified.kid().is_some_and(|kid| bundle.key(kid).is_some()),
                        "validated without a known kid"
                    );
                }
                if let Some(kid) = verified.kid() {
                    let key = bundle.key(kid);
                    assert!(key.is_some_and(|key| verified.algorithm().fits(key)));
                }
            }
            Err(err) => assert!(!err.to_string().is_empty()),
        }
    }
}

/// The claims every accepted JWT-SVID has.
fn check_claims(id: &SpiffeId, audience: &[String]) {
    assert!(!id.is_root(), "JWT-SVID with a root subject");
    assert!(
        (1..=MAX_AUDIENCES).contains(&audience.len()),
        "{} audiences",
        audience.len()
    );
    assert!(audience.iter().all(|aud| !aud.is_empty()));
}

/// A validator over the fixed bundle.
type Validator = JwtValidator<JwtBundle>;

/// The validators (`kid` required, and not), the bundle and the expected audience. Built once.
#[allow(
    clippy::expect_used,
    reason = "fixed, checked-in inputs: a failure here is a broken fuzz target"
)]
fn fixtures() -> &'static (Validator, Validator, JwtBundle, Audience) {
    static FIXTURES: OnceLock<(Validator, Validator, JwtBundle, Audience)> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        let bundle = JwtBundle::parse_workload_api(super::example_org(), JWKS)
            .expect("data/jwt-bundle.json is a JWKS");
        assert!(
            bundle.len() == 2 && bundle.ignored().is_empty(),
            "data/jwt-bundle.json: {:?}",
            bundle.ignored()
        );
        let audience = Audience::new([AUDIENCE]).expect("a non-empty audience");
        let strict = JwtValidator::new(bundle.clone(), &Crypto::default());
        let lenient = strict.clone().allow_missing_kid();
        (strict, lenient, bundle, audience)
    })
}
