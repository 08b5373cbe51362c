//! Differential test against the `spiffe` crate 0.19 (rust-spiffe) on the vector corpus of
//! `tests/data/vectors/` (made by `cargo xtask gen-vectors`).
//!
//! Only what both crates can be asked is compared:
//!
//! - **X.509-SVID profile.** The `spiffe` crate has no peer-chain verification (that lives in
//!   `spiffe-rustls`, on top of rustls-webpki). Its `X509Svid::parse_from_der` checks a
//!   workload's *own* SVID: the leaf profile (one SPIFFE URI SAN with a path, not a CA, key
//!   usage) and that the other certificates are CAs with keyCertSign. It takes no bundle and no
//!   clock, checks no signature, and accepts any PKCS#8 key. Ours for the same question is
//!   `svid::X509Svid::from_pem` (the same leaf and intermediate profile as the verifier; it also
//!   checks the key belongs to the leaf, which every vector's key does). So a vector whose
//!   defect is in path validation (time, signature, pathLen, which bundle) is profile-valid, and
//!   both must accept it here; `tests/vectors.rs` checks our verifier refuses it. Each bundle
//!   file is also parsed by both (`X509Bundle::parse_from_der` / `X509Bundle::from_pem`).
//! - **JWT-SVID validation.** `JwtSvid::parse_and_validate` against a `JwtBundleSet`, and our
//!   [`JwtValidator`] with default settings. The `spiffe` crate reads `SystemTime::now()` and
//!   takes no clock, so its side runs at the real time; the corpus is built for that: valid
//!   tokens expire 2036-01-01, the expired one expired 2020-01-01 and the not-yet-valid one
//!   starts 2035-01-01, so any clock in [2020-01-01, 2035-01-01) gives the verdict of the fixed
//!   validation time, and the test refuses to run outside that window. Its
//!   `JwtBundle::from_jwt_authorities` reads a Workload API JWKS and documents that callers
//!   holding a SPIFFE bundle document must first keep only the `use: jwt-svid` entries; this
//!   test does that for it.
//!
//! Verdicts are compared as accept/reject, plus the SPIFFE ID when both accept; error kinds
//! are printed but not compared (the vocabularies differ). Where the two disagree, the case must
//! be in [`EXPECTED_DISAGREEMENTS`] with the side we take and the spec rule that makes it right;
//! an unlisted disagreement fails the test, and so does a listed one that no longer happens.

#![cfg(any(feature = "ring", feature = "aws-lc-rs"))]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code and its helpers: a panic is a failed test"
)]

mod vector_corpus;

use std::time::{Duration, SystemTime};

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde_json::Value;
use svid::{Crypto, JwtValidator, X509Svid};
use test_support::differential::{self, Expected, Judgement, Ours, judge};
use vector_corpus::{Kind, Vector, error_name, jwt_error_name, load, read};

/// Every case on which we differ from the `spiffe` crate 0.19, and why we are right.
const EXPECTED_DISAGREEMENTS: &[Expected] = &[
    Expected {
        case: "x509/valid-leaf-no-basic-constraints",
        ours: Ours::Accepts,
        rule: "digest 2.6 step 4: the leaf is not a CA when basicConstraints cA is false *or the \
               extension is absent* (RFC 5280 4.2.1.9: absent means not a CA); X509-SVID 4.1 \
               only forbids cA=true. rust-spiffe requires the extension to be present",
    },
    Expected {
        case: "x509/leaf-uppercase-scheme",
        ours: Ours::Rejects,
        rule: "digest 1.5, 8.4 item 1 (SPIFFE-ID 2: the scheme MUST be `spiffe`): the decided \
               reading is lowercase only, rejected and never normalized (go-spiffe's ID parser \
               rejects it too); rust-spiffe matches the scheme case-insensitively and accepts \
               `SPIFFE://example.org/workload` as `spiffe://example.org/workload`",
    },
    Expected {
        case: "x509/intermediate-id-with-path",
        ours: Ours::Rejects,
        rule: "digest 2.3 (X509-SVID 3.2): a signing certificate's SPIFFE ID MUST NOT have a \
               path; rust-spiffe does not read the URI SANs of signing certificates",
    },
    Expected {
        case: "jwt/root-sub",
        ours: Ours::Rejects,
        rule: "JWT-SVID 3.1: sub MUST be the SPIFFE ID of the workload, and a trust domain ID \
               (no path) names no workload (X509-SVID 3.1 and digest 2.6 step 3 draw the same \
               line for X.509). A deliberate choice: digest 3.3 [rec] would let authorization \
               decide, as rust-spiffe and go-spiffe do",
    },
];

/// A side's verdict on one case.
#[derive(Clone, Debug)]
enum Verdict {
    Accept(String),
    Reject(String),
}

impl Verdict {
    /// The accepted ID, `None` for a refusal.
    fn id(&self) -> Option<&str> {
        match self {
            Self::Accept(id) => Some(id),
            Self::Reject(_) => None,
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Accept(id) => write!(f, "accept {id}"),
            Self::Reject(why) => write!(f, "reject ({why})"),
        }
    }
}

/// One compared question.
struct Case {
    id: String,
    ours: Verdict,
    theirs: Verdict,
}

// ---- X.509 -------------------------------------------------------------------------------

/// The profile verdicts on one X.509 vector (see the module docs for why only the profile).
fn x509_profile_case(vector: &Vector) -> Case {
    let ours = match X509Svid::from_pem(
        &vector.file("chain"),
        &vector.file("key"),
        &Crypto::default(),
    ) {
        Ok(svid) => Verdict::Accept(svid.spiffe_id().as_str().to_owned()),
        Err(error) => Verdict::Reject(error_name(&error)),
    };
    let chain_der: Vec<u8> = vector.chain().iter().flat_map(|c| c.to_vec()).collect();
    let theirs = match spiffe::X509Svid::parse_from_der(&chain_der, &vector.key_pkcs8()) {
        Ok(svid) => Verdict::Accept(svid.spiffe_id().to_string()),
        Err(error) => Verdict::Reject(format!("{error:?}")),
    };
    Case {
        id: format!("x509/{}", vector.name),
        ours,
        theirs,
    }
}

/// Both parse each X.509 bundle file of the vector.
fn x509_bundle_cases(vector: &Vector) -> Vec<Case> {
    vector
        .bundles
        .iter()
        .map(|(td, path)| {
            let pem = read(path);
            let ours = match trust_bundle::X509Bundle::from_pem(
                spiffe_id::TrustDomain::parse(td).unwrap(),
                &pem,
            ) {
                Ok(bundle) => Verdict::Accept(format!("{} authorities", bundle.len())),
                Err(error) => Verdict::Reject(error.to_string()),
            };
            let der: Vec<u8> = CertificateDer::pem_slice_iter(&pem)
                .flat_map(|c| c.unwrap().to_vec())
                .collect();
            let theirs = match spiffe::X509Bundle::parse_from_der(
                spiffe::TrustDomain::new(td).unwrap(),
                &der,
            ) {
                Ok(bundle) => {
                    Verdict::Accept(format!("{} authorities", bundle.authorities().len()))
                }
                Err(error) => Verdict::Reject(format!("{error:?}")),
            };
            Case {
                id: format!("x509-bundle/{}/{td}", vector.name),
                ours,
                theirs,
            }
        })
        .collect()
}

// ---- JWT ---------------------------------------------------------------------------------

/// The earliest and latest system clock (Unix seconds) at which the `spiffe` crate's verdicts
/// equal those at the fixed validation time: after the expired vector's `exp`
/// (2020-01-01) and before the not-yet-valid vector's `nbf` (2035-01-01).
const CLOCK_WINDOW: (u64, u64) = (1_577_836_800, 2_051_222_400);

/// The verdicts on one JWT vector.
fn jwt_case(vector: &Vector) -> Case {
    let token = vector.token();
    let ours = match JwtValidator::new(&vector.jwt_bundles(), &Crypto::default()).validate(
        &token,
        &vector.audience(),
        vector.now(),
    ) {
        Ok(verified) => Verdict::Accept(verified.spiffe_id().as_str().to_owned()),
        Err(error) => Verdict::Reject(jwt_error_name(&error)),
    };

    let mut set = spiffe::JwtBundleSet::new();
    for (td, path) in &vector.bundles {
        set.add_bundle(
            spiffe::JwtBundle::from_jwt_authorities(
                spiffe::TrustDomain::new(td).unwrap(),
                &jwt_svid_entries(&read(path)),
            )
            .unwrap_or_else(|e| panic!("{path}: {e}")),
        );
    }
    let audience = vector.audience.clone().unwrap_or_default();
    let theirs = match spiffe::JwtSvid::parse_and_validate(&token, &set, &audience) {
        Ok(svid) => Verdict::Accept(svid.spiffe_id().to_string()),
        Err(error) => Verdict::Reject(format!("{error:?}")),
    };
    Case {
        id: format!("jwt/{}", vector.name),
        ours,
        theirs,
    }
}

/// The JWK Set of a SPIFFE bundle document's `jwt-svid` entries, the purpose filtering
/// `spiffe::JwtBundle::from_jwt_authorities` leaves to its caller (JWT-SVID 6.2; digest 3.6).
fn jwt_svid_entries(document: &[u8]) -> Vec<u8> {
    let document: Value = serde_json::from_slice(document).unwrap();
    let keys: Vec<Value> = document["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|key| key["use"] == "jwt-svid")
        .cloned()
        .collect();
    serde_json::to_vec(&serde_json::json!({ "keys": keys })).unwrap()
}

// ---- the comparison ----------------------------------------------------------------------

/// The `spiffe` crate agrees with us on every vector, except the listed disagreements, each of
/// which must still happen.
///
/// shared/spec/SPIFFE-DIGEST.md 2.2, 2.3, 2.6, 3.3, 3.4 (the rule of each expected
/// disagreement is in [`EXPECTED_DISAGREEMENTS`]).
#[test]
fn agrees_with_the_spiffe_crate_except_listed_disagreements() {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs();
    assert!(
        (CLOCK_WINDOW.0..CLOCK_WINDOW.1).contains(&now),
        "the system clock ({now}) is outside the window in which the spiffe crate, which only \
         validates JWT-SVIDs at SystemTime::now(), sees the corpus as it is at the fixed \
         validation time; move the JWT dates of xtask/src/mint.rs and CLOCK_WINDOW"
    );

    let manifest = load();
    let mut cases = Vec::new();
    for vector in &manifest.vectors {
        match vector.kind {
            Kind::X509 => {
                cases.push(x509_profile_case(vector));
                cases.extend(x509_bundle_cases(vector));
            }
            Kind::Jwt => cases.push(jwt_case(vector)),
        }
    }

    let mut failures = Vec::new();
    let mut agreed = 0;
    for case in &cases {
        println!(
            "{:<60} ours {} | spiffe {}",
            case.id, case.ours, case.theirs
        );
        let listed = differential::listed(EXPECTED_DISAGREEMENTS, &case.id);
        match judge(case.ours.id(), case.theirs.id(), listed) {
            Judgement::Agree => agreed += 1,
            Judgement::Stale => failures.push(format!(
                "{}: listed as a disagreement but both now say {} / {}; remove it from \
                 EXPECTED_DISAGREEMENTS",
                case.id, case.ours, case.theirs
            )),
            Judgement::ExpectedDisagreement => {
                println!(
                    "expected disagreement {}: ours {}, spiffe {} [{}]",
                    case.id,
                    case.ours,
                    case.theirs,
                    listed.map_or("", |e| e.rule)
                );
            }
            Judgement::IdMismatch | Judgement::Unexpected => failures.push(format!(
                "{}: ours {}, spiffe {} (not an expected disagreement)",
                case.id, case.ours, case.theirs
            )),
        }
    }
    for expected in EXPECTED_DISAGREEMENTS {
        assert!(
            cases.iter().any(|c| c.id == expected.case),
            "{}: listed in EXPECTED_DISAGREEMENTS but no such case",
            expected.case
        );
    }
    println!(
        "{} cases, {agreed} agreements, {} expected disagreements",
        cases.len(),
        EXPECTED_DISAGREEMENTS.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
