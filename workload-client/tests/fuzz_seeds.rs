//! The seeds of the `workload_response` fuzz target (`fuzz/corpus/workload_response/`) and the
//! token its `ValidateJWTSVIDResponse` check uses (`fuzz/checks/data/workload-validate-token.jwt`).
//!
//! `seeds_are_accepted_or_refused_as_named` (always runs) replays the checked-in seeds through
//! the public conversions at the target's fixed time and checks each `valid-*` seed is accepted
//! and each `invalid-*` seed refused, so the seeds keep exercising both outcomes.
//!
//! `regenerate_workload_response_seeds` (ignored) rewrites them:
//! `cargo test -p spiffekit-workload-client --test fuzz_seeds -- --ignored`. Keys are fresh on every run,
//! so every file changes; everything is minted at the target's fixed time, 2030-01-01.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "test code"
)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ca::{CertificateAuthority, JwtSvidRequest, X509SvidRequest};
use prost::Message;
use spiffe_id::{SpiffeId, TrustDomain};
use svid::Crypto;
use workload_client::{Limits, proto, response};

/// The fixed time of the fuzz check: 2030-01-01T00:00:00Z.
fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_893_456_000)
}

/// The audience the check asks `jwt_svids` and `validated_jwt_svid` for.
const AUDIENCE: &str = "fuzz";

/// Input kinds: the first byte of a fuzz input (mod 5), as in `fuzz/checks/workload_response.rs`.
const X509_SVID: u8 = 0;
const X509_BUNDLES: u8 = 1;
const JWT_SVID: u8 = 2;
const JWT_BUNDLES: u8 = 3;
const VALIDATE: u8 = 4;

fn fuzz_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

fn seed_dir() -> PathBuf {
    fuzz_dir().join("corpus/workload_response")
}

fn token_path() -> PathBuf {
    fuzz_dir().join("checks/data/workload-validate-token.jwt")
}

/// A CA whose keys start two hours before [`now`], so an expired token can be minted too.
fn authority(name: &str) -> CertificateAuthority {
    CertificateAuthority::builder(TrustDomain::parse(name).unwrap())
        .build(now() - Duration::from_secs(7200))
        .unwrap()
}

fn id(value: &str) -> SpiffeId {
    value.parse().unwrap()
}

fn x509_entry(ca: &CertificateAuthority, spiffe_id: &str, hint: &str) -> proto::X509svid {
    let svid = ca
        .mint_x509_svid(&X509SvidRequest::new(id(spiffe_id)), now())
        .unwrap();
    proto::X509svid {
        spiffe_id: spiffe_id.to_owned(),
        x509_svid: svid.chain_der(),
        x509_svid_key: svid.private_key().secret_pkcs8_der().to_vec(),
        bundle: ca.bundle().x509_bundle().to_der(),
        hint: hint.to_owned(),
    }
}

fn jwt(ca: &CertificateAuthority, spiffe_id: &str, audience: &str, at: SystemTime) -> String {
    ca.mint_jwt_svid(&JwtSvidRequest::new(id(spiffe_id), [audience]), at)
        .unwrap()
}

fn jwks(ca: &CertificateAuthority) -> Vec<u8> {
    ca.bundle().jwt_bundle().to_workload_api_json().into_bytes()
}

fn framed(kind: u8, message: &impl Message) -> Vec<u8> {
    let mut out = vec![kind];
    out.extend(message.encode_to_vec());
    out
}

#[test]
#[ignore = "rewrites fuzz/corpus/workload_response/; run by hand after a format change"]
fn regenerate_workload_response_seeds() {
    let example = authority("example.org");
    let other = authority("other.org");
    let mut seeds: Vec<(&str, Vec<u8>)> = Vec::new();

    // X509SVIDResponse.
    let one = proto::X509svidResponse {
        svids: vec![x509_entry(
            &example,
            "spiffe://example.org/fuzz",
            "internal",
        )],
        ..Default::default()
    };
    seeds.push(("valid-x509-one-svid", framed(X509_SVID, &one)));
    let mut federated = proto::X509svidResponse {
        svids: vec![
            x509_entry(&example, "spiffe://example.org/fuzz", "a"),
            x509_entry(&other, "spiffe://other.org/fuzz", "b"),
            // Same hint as the first: skipped, first wins (W-API-5).
            x509_entry(&example, "spiffe://example.org/dup", "a"),
        ],
        ..Default::default()
    };
    federated.federated_bundles.insert(
        "spiffe://third.org".to_owned(),
        authority("third.org").bundle().x509_bundle().to_der(),
    );
    seeds.push((
        "valid-x509-two-trust-domains-duplicate-hint-federated",
        framed(X509_SVID, &federated),
    ));
    let mut foreign_bundle = one.clone();
    // The SVID of example.org with other.org's bundle: it must not verify.
    foreign_bundle.svids[0].bundle = other.bundle().x509_bundle().to_der();
    seeds.push((
        "invalid-x509-svid-with-another-trust-domains-bundle",
        framed(X509_SVID, &foreign_bundle),
    ));
    let mut mismatch = one;
    mismatch.svids[0].spiffe_id = "spiffe://example.org/other".to_owned();
    seeds.push((
        "invalid-x509-spiffe-id-field-mismatch",
        framed(X509_SVID, &mismatch),
    ));
    seeds.push((
        "invalid-x509-no-svids",
        framed(X509_SVID, &proto::X509svidResponse::default()),
    ));

    // X509BundlesResponse.
    let mut bundles = proto::X509BundlesResponse::default();
    bundles.bundles.insert(
        "spiffe://example.org".to_owned(),
        example.bundle().x509_bundle().to_der(),
    );
    bundles.bundles.insert(
        "other.org".to_owned(),
        other.bundle().x509_bundle().to_der(),
    );
    seeds.push(("valid-x509-bundles", framed(X509_BUNDLES, &bundles)));
    let mut twice = bundles.clone();
    twice.bundles.insert(
        "example.org".to_owned(),
        example.bundle().x509_bundle().to_der(),
    );
    seeds.push((
        "invalid-x509-bundles-trust-domain-twice",
        framed(X509_BUNDLES, &twice),
    ));

    // JWTSVIDResponse.
    let jwt_svids = proto::JwtsvidResponse {
        svids: vec![
            proto::Jwtsvid {
                spiffe_id: "spiffe://example.org/fuzz".to_owned(),
                svid: jwt(&example, "spiffe://example.org/fuzz", AUDIENCE, now()),
                hint: "a".to_owned(),
            },
            proto::Jwtsvid {
                spiffe_id: "spiffe://example.org/dup".to_owned(),
                svid: jwt(&example, "spiffe://example.org/dup", AUDIENCE, now()),
                hint: "a".to_owned(),
            },
        ],
    };
    seeds.push((
        "valid-jwt-svids-duplicate-hint",
        framed(JWT_SVID, &jwt_svids),
    ));
    let expired = proto::JwtsvidResponse {
        svids: vec![proto::Jwtsvid {
            spiffe_id: "spiffe://example.org/fuzz".to_owned(),
            svid: jwt(
                &example,
                "spiffe://example.org/fuzz",
                AUDIENCE,
                now() - Duration::from_secs(3600),
            ),
            hint: String::new(),
        }],
    };
    seeds.push(("invalid-jwt-svid-expired", framed(JWT_SVID, &expired)));

    // JWTBundlesResponse.
    let mut jwt_bundles = proto::JwtBundlesResponse::default();
    jwt_bundles
        .bundles
        .insert("spiffe://example.org".to_owned(), jwks(&example));
    jwt_bundles
        .bundles
        .insert("spiffe://other.org".to_owned(), jwks(&other));
    seeds.push(("valid-jwt-bundles", framed(JWT_BUNDLES, &jwt_bundles)));
    let mut jwt_twice = jwt_bundles.clone();
    jwt_twice
        .bundles
        .insert("other.org".to_owned(), jwks(&other));
    seeds.push((
        "invalid-jwt-bundles-trust-domain-twice",
        framed(JWT_BUNDLES, &jwt_twice),
    ));

    // ValidateJWTSVIDResponse, for the token written next to the checks.
    let token = jwt(&example, "spiffe://example.org/fuzz", AUDIENCE, now());
    let mut claims = prost_types::Struct::default();
    claims.fields.insert(
        "sub".to_owned(),
        prost_types::Value {
            kind: Some(prost_types::value::Kind::StringValue(
                "spiffe://example.org/fuzz".to_owned(),
            )),
        },
    );
    let validated = proto::ValidateJwtsvidResponse {
        spiffe_id: "spiffe://example.org/fuzz".to_owned(),
        claims: Some(claims),
    };
    seeds.push(("valid-validate", framed(VALIDATE, &validated)));
    let mut other_id = validated;
    other_id.spiffe_id = "spiffe://example.org/admin".to_owned();
    seeds.push((
        "invalid-validate-another-identity",
        framed(VALIDATE, &other_id),
    ));

    // Not a protobuf message (a truncated length-delimited field).
    seeds.push(("invalid-not-protobuf", vec![X509_SVID, 0x0a, 0xff, 0x01]));

    let dir = seed_dir();
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(&dir).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
    }
    for (name, bytes) in &seeds {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    std::fs::write(token_path(), &token).unwrap();
}

/// Runs one seed through the conversion its first byte selects, at the fixed time.
fn accepted(data: &[u8], token: &str) -> Option<bool> {
    let (&kind, message) = data.split_first()?;
    let limits = Limits::default();
    Some(match kind % 5 {
        X509_SVID => {
            let message = proto::X509svidResponse::decode(message).ok()?;
            response::x509_context(&message, &limits, &Crypto::default(), now()).is_ok()
        }
        X509_BUNDLES => {
            let message = proto::X509BundlesResponse::decode(message).ok()?;
            response::x509_bundles(&message, &limits).is_ok()
        }
        JWT_SVID => {
            let message = proto::JwtsvidResponse::decode(message).ok()?;
            response::jwt_svids(&message, &[AUDIENCE], None, &limits, now()).is_ok()
        }
        JWT_BUNDLES => {
            let message = proto::JwtBundlesResponse::decode(message).ok()?;
            response::jwt_bundles(&message, &limits).is_ok()
        }
        _ => {
            let message = proto::ValidateJwtsvidResponse::decode(message).ok()?;
            response::validated_jwt_svid(&message, token, AUDIENCE).is_ok()
        }
    })
}

#[test]
fn seeds_are_accepted_or_refused_as_named() {
    let token = std::fs::read_to_string(token_path()).unwrap();
    let mut seen = HashMap::new();
    for entry in std::fs::read_dir(seed_dir()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let data = std::fs::read(&path).unwrap();
        let outcome = accepted(&data, &token);
        let expected = name.starts_with("valid-");
        assert!(
            expected || name.starts_with("invalid-"),
            "seed {name} is not named valid-* or invalid-*"
        );
        assert_eq!(
            outcome.unwrap_or(false),
            expected,
            "seed {name}: accepted {outcome:?}"
        );
        *seen.entry(expected).or_insert(0) += 1;
    }
    assert!(seen.get(&true).copied().unwrap_or(0) >= 5, "{seen:?}");
    assert!(seen.get(&false).copied().unwrap_or(0) >= 5, "{seen:?}");
}
