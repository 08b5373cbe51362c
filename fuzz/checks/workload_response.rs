//! Target `workload_response`: the public Workload API response conversions
//! (`workload_client::response`) on arbitrary protobuf messages. A response comes from the
//! agent over a socket, so it is untrusted input for the client (Workload API 4.5).
//!
//! Input: the first byte (mod 5) selects the message; the rest is decoded with prost as that
//! message, and a message that decodes goes through its conversion at 2030-01-01 with the
//! default limits:
//!
//! | byte | message | conversion |
//! |---|---|---|
//! | 0 | `X509SVIDResponse` | `x509_context` |
//! | 1 | `X509BundlesResponse` | `x509_bundles` |
//! | 2 | `JWTSVIDResponse` | `jwt_svids` for audience `fuzz`, any identity |
//! | 3 | `JWTBundlesResponse` | `jwt_bundles` |
//! | 4 | `ValidateJWTSVIDResponse` | `validated_jwt_svid` for `data/workload-validate-token.jwt`, audience `fuzz` |
//!
//! The seeds and the token are made by `workload-client/tests/fuzz_seeds.rs` (see its header).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ::prost::Message;
use ::rustls_pki_types::UnixTime;
use ::spiffe_id::TrustDomain;
use ::svid::{Crypto, Usage};
use ::trust_bundle::BundleSet;
use ::workload_client::{Limits, ResponseError, X509Context, proto, response};

/// The instant of every conversion: 2030-01-01T00:00:00Z.
const NOW_SECS: u64 = 1_893_456_000;

/// The `notBefore` tolerance of `x509_context` (five minutes of agent clock skew).
const CLOCK_SKEW_SECS: u64 = 300;

/// The audience asked of `jwt_svids` and `validated_jwt_svid`.
const AUDIENCE: &str = "fuzz";

/// The token whose `ValidateJWTSVID` answer kind 4 inputs hold: a JWT-SVID for
/// `spiffe://example.org/fuzz` and audience `fuzz`.
const TOKEN: &str = include_str!("data/workload-validate-token.jwt");
const TOKEN_ID: &str = "spiffe://example.org/fuzz";

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(NOW_SECS)
}

/// - No conversion panics; a refusal has a message.
/// - Accepted `X509SVIDResponse`: at least one SVID, one expiry per SVID, no more SVIDs than
///   sent, hints unique (W-API-5), and every SVID's chain verifies with `svid::verify` against
///   a set holding only the context's bundle of the SVID's own trust domain, as the
///   SVID's own ID, with the context's expiry.
/// - Accepted bundle responses: one bundle per map entry (two keys naming one trust domain
///   are never both accepted, B-8), each under a trust domain some key names; X.509 sets hold
///   no JWT keys and JWT sets no X.509 authorities (W-API-11).
/// - Accepted `JWTSVIDResponse`: at least one SVID, each sent, carrying `fuzz`, unexpired at
///   the fixed time, `sub` equal to its ID; hints unique.
/// - Accepted `ValidateJWTSVIDResponse`: the ID is the token's `sub`.
pub(crate) fn check(data: &[u8]) {
    let Some((&kind, message)) = data.split_first() else {
        return;
    };
    let limits = Limits::default();
    let result = match kind % 5 {
        0 => {
            let Ok(message) = proto::X509svidResponse::decode(message) else {
                return;
            };
            response::x509_context(&message, &limits, &Crypto::default(), now())
                .map(|context| check_x509_context(&message, &context))
        }
        1 => {
            let Ok(message) = proto::X509BundlesResponse::decode(message) else {
                return;
            };
            response::x509_bundles(&message, &limits).map(|set| {
                check_bundle_set(&message.bundles, &set);
                for (_, bundle) in set.iter() {
                    assert!(bundle.jwt_bundle().is_empty(), "jwt keys in an x509 set");
                }
            })
        }
        2 => {
            let Ok(message) = proto::JwtsvidResponse::decode(message) else {
                return;
            };
            response::jwt_svids(&message, &[AUDIENCE], None, &limits, now())
                .map(|svids| check_jwt_svids(&message, &svids))
        }
        3 => {
            let Ok(message) = proto::JwtBundlesResponse::decode(message) else {
                return;
            };
            response::jwt_bundles(&message, &limits).map(|set| {
                check_bundle_set(&message.bundles, &set);
                for (_, bundle) in set.iter() {
                    assert!(
                        bundle.x509_bundle().is_empty(),
                        "x509 authorities in a jwt set"
                    );
                }
            })
        }
        _ => {
            let Ok(message) = proto::ValidateJwtsvidResponse::decode(message) else {
                return;
            };
            response::validated_jwt_svid(&message, TOKEN.trim(), AUDIENCE).map(|validated| {
                assert_eq!(validated.spiffe_id().as_str(), TOKEN_ID);
            })
        }
    };
    if let Err(err) = result {
        check_refusal(&err);
    }
}

fn check_refusal(err: &ResponseError) {
    assert!(!err.to_string().is_empty(), "empty message for {err:?}");
}

fn unix(secs: u64) -> UnixTime {
    UnixTime::since_unix_epoch(Duration::from_secs(secs))
}

fn check_x509_context(message: &proto::X509svidResponse, context: &X509Context) {
    let svids = context.svids();
    assert!(!svids.is_empty(), "accepted a context without svids");
    assert!(svids.len() <= message.svids.len());
    assert_eq!(svids.len(), context.expiries().len());
    let mut hints = HashSet::new();
    let backend = Crypto::default();
    for (svid, expiry) in svids.iter().zip(context.expiries()) {
        if let Some(hint) = svid.hint() {
            assert!(hints.insert(hint.to_owned()), "duplicate hint {hint:?}");
        }
        assert!(
            message
                .svids
                .iter()
                .any(|entry| entry.spiffe_id == svid.spiffe_id().as_str()),
            "an svid that was not sent"
        );
        let trust_domain = svid.spiffe_id().trust_domain();
        let own = context.bundles().get(&trust_domain);
        assert!(own.is_some(), "no bundle for {trust_domain}");
        // Only the SVID's own trust domain's bundle: no other bundle can vouch for it.
        let only_own = BundleSet::from_bundles(own.map(Arc::clone));
        assert!(only_own.is_ok(), "one bundle is a valid set");
        let only_own = only_own.unwrap_or_default();
        let verified = match ::svid::verify(
            svid.chain(),
            &only_own,
            &backend,
            Usage::Any,
            unix(NOW_SECS),
        ) {
            Err(::svid::Error::Verify(
                ::svid::VerifyError::NotYetValid { .. }
                | ::svid::VerifyError::AuthorityNotYetValid { .. },
            )) => ::svid::verify(
                svid.chain(),
                &only_own,
                &backend,
                Usage::Any,
                unix(NOW_SECS + CLOCK_SKEW_SECS),
            ),
            other => other,
        };
        assert!(
            verified.is_ok(),
            "an accepted svid does not verify against its own bundle: {verified:?}"
        );
        if let Ok(verified) = verified {
            assert_eq!(verified.spiffe_id(), svid.spiffe_id());
            assert_eq!(
                UNIX_EPOCH + Duration::from_secs(verified.expires_at().as_secs()),
                *expiry,
                "the context's expiry is not the verified path's"
            );
        }
        assert!(*expiry > now(), "accepted an expired svid");
    }
}

fn check_bundle_set(map: &HashMap<String, Vec<u8>>, set: &BundleSet) {
    assert!(!set.is_empty(), "accepted an empty bundle set");
    // Two keys naming one trust domain (`spiffe://a` and `a`) are refused, so every key
    // gave its own bundle.
    assert_eq!(set.len(), map.len(), "a trust domain was accepted twice");
    let mut named = HashSet::new();
    for key in map.keys() {
        let trust_domain = TrustDomain::from_id_or_name(key);
        assert!(trust_domain.is_ok(), "accepted the bad bundle key {key:?}");
        named.extend(trust_domain.ok());
    }
    for trust_domain in set.trust_domains() {
        assert!(named.contains(trust_domain), "{trust_domain} was not sent");
    }
}

fn check_jwt_svids(message: &proto::JwtsvidResponse, svids: &[::workload_client::JwtSvid]) {
    assert!(!svids.is_empty(), "accepted a response without svids");
    assert!(svids.len() <= message.svids.len());
    let mut hints = HashSet::new();
    for svid in svids {
        if let Some(hint) = svid.hint() {
            assert!(hints.insert(hint.to_owned()), "duplicate hint {hint:?}");
        }
        assert!(
            message
                .svids
                .iter()
                .any(|entry| entry.svid == svid.token()
                    && entry.spiffe_id == svid.spiffe_id().as_str()),
            "a token that was not sent under its id"
        );
        assert_eq!(svid.parsed().spiffe_id(), svid.spiffe_id());
        assert!(svid.audience().iter().any(|aud| aud == AUDIENCE));
        assert!(svid.expires_at() > now(), "accepted an expired token");
    }
}
