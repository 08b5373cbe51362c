//! Peer X.509-SVID verification: one negative test ..X-10 requirement, the security
//! regressions of other SPIFFE libraries that apply to standalone X.509-SVID verification, and
//! the positive cases (key types, chain shapes, the verified path and its expiry).
//!
//! Rule IDs are from `shared/spec/SPIFFE-DIGEST.md` section 8.5, and section numbers name the
//! digest section each test enforces. Upstream issues come from
//! `shared/research/USER-NEEDS.md` section 2. Certificates are minted in-test with fixed
//! validity windows and verified at a fixed instant (`common::now`, 2026-06-01).

// Every test needs a crypto backend; without one (`--no-default-features`) there is nothing
// to test.
#![cfg(any(feature = "ring", feature = "aws-lc-rs"))]

mod common;

use std::slice::from_ref;
use std::sync::{Arc, PoisonError, RwLock};

use common::{
    Ca, CaExt as _, KeyType, NOT_AFTER, NOT_BEFORE, NOW, OID_BASIC_CONSTRAINTS, OID_KEY_USAGE,
    OID_NAME_CONSTRAINTS, at, backend, bundle, chain, dns, epoch, flip_signature, now, profile_err,
    raw_extension, raw_uri_sans, set, td, tlv, uri, validity, verify_err,
};
use rcgen::{BasicConstraints, ExtendedKeyUsagePurpose, IsCa, KeyUsagePurpose};
use rustls_pki_types::CertificateDer;
use spiffe_id::TrustDomain;
use svid::{
    CertificateError, ChainPosition, Error, MAX_CHAIN_LEN, MAX_URI_LEN, ProfileError, Usage,
    VerifiedX509Svid, VerifyError, X509Verifier,
};
use trust_bundle::{BundleSet, X509Bundle, X509BundleSource};

/// Verifies `chain` at the fixed time for any usage.
fn verify(
    chain: &[CertificateDer<'static>],
    bundles: &dyn X509BundleSource,
) -> Result<VerifiedX509Svid, Error> {
    verify_for(chain, bundles, Usage::Any)
}

/// Verifies `chain` at the fixed time for `usage`.
fn verify_for(
    chain: &[CertificateDer<'static>],
    bundles: &dyn X509BundleSource,
    usage: Usage,
) -> Result<VerifiedX509Svid, Error> {
    svid::verify(chain, bundles, &backend(), usage, now())
}

// ---------------------------------------------------------------------------------------------
// X-1 .. X-10
// ---------------------------------------------------------------------------------------------

/// A leaf with two SPIFFE URI SANs is refused.
///
/// shared/spec/SPIFFE-DIGEST.md 8.5 X-1; 2.1, 2.6 step 2.
#[test]
fn x1_two_uri_sans_rejected() {
    let root = Ca::root("example.org");
    let leaf = root.leaf_with("spiffe://example.org/a", KeyType::P256, |p| {
        p.subject_alt_names = vec![uri("spiffe://example.org/a"), uri("spiffe://example.org/b")];
    });
    assert_eq!(
        profile_err(verify(&[leaf.cert], &root.bundle())),
        ProfileError::MultipleUriSans { count: 2 }
    );
}

/// A leaf without URI SANs (a DNS SAN only) carries no SPIFFE ID and is refused.
///
/// shared/spec/SPIFFE-DIGEST.md 8.5 X-2; 2.1, 2.6 step 2.
#[test]
fn x2_no_uri_san_rejected() {
    let root = Ca::root("example.org");
    let leaf = root.leaf_with("spiffe://example.org/w", KeyType::P256, |p| {
        p.subject_alt_names = vec![dns("w.example.org")];
    });
    assert_eq!(
        profile_err(verify(&[leaf.cert], &root.bundle())),
        ProfileError::NoUriSan
    );
}

/// A URI SAN with a scheme other than `spiffe` is not a SPIFFE ID.
///
/// shared/spec/SPIFFE-DIGEST.md 8.5 X-3; 2.1, 2.6 step 2.
#[test]
fn x3_non_spiffe_scheme_rejected() {
    let root = Ca::root("example.org");
    let leaf = root.leaf("https://example.org/w");
    assert_eq!(
        profile_err(verify(&[leaf.cert], &root.bundle())),
        ProfileError::BadSpiffeId(spiffe_id::Error::BadScheme)
    );
}

/// A leaf whose SPIFFE ID has no path names a trust domain, not a workload.
/// Regression: go-spiffe#375 (Parse), go-spiffe#405 (Verify), py-spiffe#412, rust-spiffe#384.
///
/// shared/spec/SPIFFE-DIGEST.md 8.5 X-4; 2.2, 2.6 step 3.
#[test]
fn x4_leaf_with_root_path_rejected() {
    let root = Ca::root("example.org");
    let leaf = root.leaf("spiffe://example.org");
    assert_eq!(
        profile_err(verify(&[leaf.cert], &root.bundle())),
        ProfileError::LeafRootPath
    );
}

/// A leaf with `cA=true` is a signing certificate and cannot authenticate.
///
/// shared/spec/SPIFFE-DIGEST.md 8.5 X-5; 2.2, 2.6 step 4.
#[test]
fn x5_leaf_with_ca_true_rejected() {
    let root = Ca::root("example.org");
    let leaf = root.leaf_with("spiffe://example.org/w", KeyType::P256, |p| {
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    });
    assert_eq!(
        profile_err(verify(&[leaf.cert], &root.bundle())),
        ProfileError::LeafIsCa
    );
}

/// A leaf with `keyCertSign` could sign certificates and is refused.
///
/// shared/spec/SPIFFE-DIGEST.md 8.5 X-6; 2.2, 2.6 step 4.
#[test]
fn x6_leaf_with_key_cert_sign_rejected() {
    let root = Ca::root("example.org");
    let leaf = root.leaf_with("spiffe://example.org/w", KeyType::P256, |p| {
        p.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyCertSign,
        ];
    });
    assert_eq!(
        profile_err(verify(&[leaf.cert], &root.bundle())),
        ProfileError::LeafKeyCertSign
    );
}

/// A leaf with `cRLSign` is refused.
///
/// shared/spec/SPIFFE-DIGEST.md 8.5 X-7; 2.2, 2.6 step 4.
#[test]
fn x7_leaf_with_crl_sign_rejected() {
    let root = Ca::root("example.org");
    let leaf = root.leaf_with("spiffe://example.org/w", KeyType::P256, |p| {
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::CrlSign];
    });
    assert_eq!(
        profile_err(verify(&[leaf.cert], &root.bundle())),
        ProfileError::LeafCrlSign
    );
}

/// Cross-domain impersonation: a leaf claiming `spiffe://b.org/w` but signed by a.org's CA is
/// refused even though a.org's bundle is loaded too, because only b.org's bundle may anchor
/// it. Regression: spiffe/spiffe#375 and spiffe/spiffe#26 (pooled bundles), the regression
/// rust-spiffe#366 added.
///
/// shared/spec/SPIFFE-DIGEST.md 8.5 X-8; 2.4, 2.6 step 5.
#[test]
fn x8_leaf_signed_by_other_trust_domain_rejected() {
    let a = Ca::root("a.org");
    let b = Ca::root("b.org");
    let bundles = set([a.bundle(), b.bundle()]);

    let forged = a.leaf("spiffe://b.org/w");
    assert_eq!(
        verify_err(verify(from_ref(&forged.cert), &bundles)),
        VerifyError::UnknownIssuer
    );
    // Sending a.org's root along changes nothing: it is only an untrusted intermediate here.
    assert_eq!(
        verify_err(verify(&chain(&[&forged.cert, &a.cert]), &bundles)),
        VerifyError::UnknownIssuer
    );
    // The same issuer is trusted for its own trust domain.
    let honest = a.leaf("spiffe://a.org/w");
    assert_eq!(
        verify(&[honest.cert], &bundles)
            .unwrap()
            .spiffe_id()
            .as_str(),
        "spiffe://a.org/w"
    );
}

/// X-8 through an intermediate: a.org's CA issues an intermediate named `spiffe://b.org`, which
/// issues `spiffe://b.org/w`. The chain reaches a.org's bundle, not b.org's: refused.
/// Regression: spiffe/spiffe#375 (the intermediate variant), rust-spiffe#366.
///
/// shared/spec/SPIFFE-DIGEST.md 8.5 X-8; 2.3 (cross-domain signing), 2.6 step 5.
#[test]
fn x8_intermediate_named_for_other_trust_domain_rejected() {
    let a = Ca::root("a.org");
    let b = Ca::root("b.org");
    let bundles = set([a.bundle(), b.bundle()]);
    let rogue = a.intermediate_with("b.org intermediate", KeyType::P256, |p| {
        p.subject_alt_names = vec![uri("spiffe://b.org")];
    });
    let leaf = rogue.leaf("spiffe://b.org/w");
    assert_eq!(
        verify_err(verify(&chain(&[&leaf.cert, &rogue.cert]), &bundles)),
        VerifyError::UnknownIssuer
    );
    assert_eq!(
        verify_err(verify(
            &chain(&[&leaf.cert, &rogue.cert, &a.cert]),
            &bundles
        )),
        VerifyError::UnknownIssuer
    );
}

/// X-8 when both roots have the same subject name: the leaf's issuer name matches b.org's
/// root, so the only thing that stops it is the signature, which b.org's key did not make.
///
/// shared/spec/SPIFFE-DIGEST.md 8.5 X-8; 2.6 steps 5-6.
#[test]
fn x8_other_trust_domain_with_same_ca_name_rejected() {
    let same_name = |p: &mut rcgen::CertificateParams| {
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name
            .push(rcgen::DnType::CommonName, "SPIFFE root CA");
    };
    let a = Ca::root_with("a.org", KeyType::P256, same_name);
    let b = Ca::root_with("b.org", KeyType::P256, same_name);
    let forged = a.leaf("spiffe://b.org/w");
    assert_eq!(
        verify_err(verify(&[forged.cert], &set([a.bundle(), b.bundle()]))),
        VerifyError::BadSignature
    );
}

/// No bundle for the leaf's trust domain: refused, naming the trust domain.
///
/// shared/spec/SPIFFE-DIGEST.md 8.5 X-9; 2.6 step 5.
#[test]
fn x9_no_bundle_for_trust_domain_rejected() {
    let root = Ca::root("example.org");
    let other = Ca::root("other.org");
    let leaf = root.leaf("spiffe://example.org/w");
    assert_eq!(
        verify_err(verify(from_ref(&leaf.cert), &set([other.bundle()]))),
        VerifyError::NoBundle {
            trust_domain: td("example.org")
        }
    );
    assert_eq!(
        verify_err(verify(from_ref(&leaf.cert), &BundleSet::new())),
        VerifyError::NoBundle {
            trust_domain: td("example.org")
        }
    );
    // A single X509Bundle is a source of its own trust domain only.
    assert_eq!(
        verify_err(verify(&[leaf.cert], &other.bundle())),
        VerifyError::NoBundle {
            trust_domain: td("example.org")
        }
    );
}

/// An expired leaf; the error names the leaf and its `notAfter`.
///
/// shared/spec/SPIFFE-DIGEST.md 8.5 X-10; 2.6 step 6.
#[test]
fn x10_expired_leaf_rejected() {
    let root = Ca::root("example.org");
    let leaf = root.leaf_with("spiffe://example.org/w", KeyType::P256, |p| {
        validity(p, (2026, 1, 1), (2026, 3, 1));
    });
    let error = verify_err(verify(from_ref(&leaf.cert), &root.bundle()));
    assert!(
        matches!(
            error,
            VerifyError::Expired {
                certificate: ChainPosition::Leaf,
                ..
            }
        ),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains("leaf certificate expired at 2026-03-01T00:00:00Z"),
        "{message}"
    );
    // The validity window is inclusive at both ends (RFC 5280 4.1.2.5).
    let at_time = |secs| {
        svid::verify(
            from_ref(&leaf.cert),
            &root.bundle(),
            &backend(),
            Usage::Any,
            at(secs),
        )
    };
    assert!(at_time(NOT_BEFORE).is_ok());
    assert!(at_time(epoch(2026, 3, 1)).is_ok());
    assert!(matches!(
        verify_err(at_time(epoch(2026, 3, 1) + 1)),
        VerifyError::Expired { .. }
    ));
    assert!(matches!(
        verify_err(at_time(NOT_BEFORE - 1)),
        VerifyError::NotYetValid { .. }
    ));
}

/// A not-yet-valid leaf.
///
/// shared/spec/SPIFFE-DIGEST.md 8.5 X-10; 2.6 step 6.
#[test]
fn x10_not_yet_valid_leaf_rejected() {
    let root = Ca::root("example.org");
    let leaf = root.leaf_with("spiffe://example.org/w", KeyType::P256, |p| {
        validity(p, (2026, 9, 1), (2027, 1, 1));
    });
    assert!(matches!(
        verify_err(verify(&[leaf.cert], &root.bundle())),
        VerifyError::NotYetValid { .. }
    ));
}

/// An expired intermediate, even though the leaf and the root are valid.
///
/// shared/spec/SPIFFE-DIGEST.md 8.5 X-10; 2.6 step 6.
#[test]
fn x10_expired_intermediate_rejected() {
    let root = Ca::root("example.org");
    let intermediate = root.intermediate_with("intermediate", KeyType::P256, |p| {
        validity(p, (2025, 1, 1), (2026, 3, 1));
    });
    let leaf = intermediate.leaf("spiffe://example.org/w");
    let error = verify_err(verify(
        &chain(&[&leaf.cert, &intermediate.cert]),
        &root.bundle(),
    ));
    assert!(
        matches!(
            error,
            VerifyError::Expired {
                certificate: ChainPosition::Intermediate { index: 1 },
                ..
            }
        ),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains(
            "intermediate certificate at chain position 1 expired at 2026-03-01T00:00:00Z"
        ),
        "{message}"
    );
}

/// A not-yet-valid intermediate.
///
/// shared/spec/SPIFFE-DIGEST.md 8.5 X-10; 2.6 step 6.
#[test]
fn x10_not_yet_valid_intermediate_rejected() {
    let root = Ca::root("example.org");
    let intermediate = root.intermediate_with("intermediate", KeyType::P256, |p| {
        validity(p, (2026, 9, 1), (2027, 1, 1));
    });
    let leaf = intermediate.leaf("spiffe://example.org/w");
    assert!(matches!(
        verify_err(verify(
            &chain(&[&leaf.cert, &intermediate.cert]),
            &root.bundle()
        )),
        VerifyError::NotYetValid { .. }
    ));
}

/// A leaf whose signature was altered after signing.
///
/// shared/spec/SPIFFE-DIGEST.md 8.5 X-10; 2.6 step 6.
#[test]
fn x10_bad_leaf_signature_rejected() {
    let root = Ca::root("example.org");
    let leaf = root.leaf("spiffe://example.org/w");
    assert_eq!(
        verify_err(verify(&[flip_signature(&leaf.cert)], &root.bundle())),
        VerifyError::BadSignature
    );
}

/// An intermediate whose signature was altered after signing.
///
/// shared/spec/SPIFFE-DIGEST.md 8.5 X-10; 2.6 step 6.
#[test]
fn x10_bad_intermediate_signature_rejected() {
    let root = Ca::root("example.org");
    let intermediate = root.intermediate("intermediate");
    let leaf = intermediate.leaf("spiffe://example.org/w");
    assert_eq!(
        verify_err(verify(
            &chain(&[&leaf.cert, &flip_signature(&intermediate.cert)]),
            &root.bundle()
        )),
        VerifyError::BadSignature
    );
}

/// A leaf signed by a key that is not the one of the CA it names as issuer.
///
/// shared/spec/SPIFFE-DIGEST.md 8.5 X-10; 2.6 step 6.
#[test]
fn x10_signature_by_wrong_key_rejected() {
    let root = Ca::root("example.org");
    let impostor = Ca::root("example.org"); // same subject name, different key
    let leaf = impostor.leaf("spiffe://example.org/w");
    assert_eq!(
        verify_err(verify(&[leaf.cert], &root.bundle())),
        VerifyError::BadSignature
    );
}

/// An intermediate with `cA=false` (and one without basicConstraints) cannot sign.
///
/// shared/spec/SPIFFE-DIGEST.md 8.5 X-10; 2.3, 2.6 step 6.
#[test]
fn x10_intermediate_not_ca_rejected() {
    let root = Ca::root("example.org");
    for is_ca in [IsCa::ExplicitNoCa, IsCa::NoCa] {
        let intermediate = root.intermediate_with("intermediate", KeyType::P256, |p| {
            p.is_ca = is_ca;
        });
        let leaf = intermediate.leaf("spiffe://example.org/w");
        assert_eq!(
            verify_err(verify(
                &chain(&[&leaf.cert, &intermediate.cert]),
                &root.bundle()
            )),
            VerifyError::IntermediateNotCa(ProfileError::CaNotCa),
            "{is_ca:?}"
        );
    }
}

/// An intermediate with `cA=true` but without `keyCertSign` (cRLSign only, digitalSignature
/// only, or no keyUsage at all). rustls-webpki ignores keyUsage on CAs, so this is the
/// verifier's own check.
///
/// shared/spec/SPIFFE-DIGEST.md 8.5 X-10; 2.3, 2.6 step 6.
#[test]
fn x10_intermediate_without_key_cert_sign_rejected() {
    let root = Ca::root("example.org");
    for usages in [
        vec![KeyUsagePurpose::CrlSign],
        vec![KeyUsagePurpose::DigitalSignature],
        vec![],
    ] {
        let intermediate = root.intermediate_with("intermediate", KeyType::P256, |p| {
            p.key_usages = usages.clone();
        });
        let leaf = intermediate.leaf("spiffe://example.org/w");
        assert_eq!(
            verify_err(verify(
                &chain(&[&leaf.cert, &intermediate.cert]),
                &root.bundle()
            )),
            VerifyError::IntermediateNotCa(ProfileError::CaMissingKeyCertSign),
            "{usages:?}"
        );
    }
}

/// The bundle authority has pathLenConstraint 0, so no intermediate may follow it.
/// rustls-webpki treats trust anchors as a bare name and key, so this is the verifier's own
/// check.
///
/// shared/spec/SPIFFE-DIGEST.md 8.5 X-10; 2.3, 2.6 step 6.
#[test]
fn x10_authority_path_len_exceeded_rejected() {
    let root = Ca::root_with("example.org", KeyType::P256, |p| {
        p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    });
    let intermediate = root.intermediate("intermediate");
    let leaf = intermediate.leaf("spiffe://example.org/w");
    assert_eq!(
        verify_err(verify(
            &chain(&[&leaf.cert, &intermediate.cert]),
            &root.bundle()
        )),
        VerifyError::PathLenExceeded
    );
    // pathLen 0 still allows the root to issue leaves directly.
    let direct = root.leaf("spiffe://example.org/direct");
    assert!(verify(&[direct.cert], &root.bundle()).is_ok());
}

/// An intermediate with pathLenConstraint 0 followed by a second intermediate.
///
/// shared/spec/SPIFFE-DIGEST.md 8.5 X-10; 2.3, 2.6 step 6.
#[test]
fn x10_intermediate_path_len_exceeded_rejected() {
    let root = Ca::root("example.org");
    let first = root.intermediate_with("first", KeyType::P256, |p| {
        p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    });
    let second = first.intermediate("second");
    let leaf = second.leaf("spiffe://example.org/w");
    assert_eq!(
        verify_err(verify(
            &chain(&[&leaf.cert, &second.cert, &first.cert]),
            &root.bundle()
        )),
        VerifyError::PathLenExceeded
    );
}

/// A pathLenConstraint that is exactly met is fine.
///
/// shared/spec/SPIFFE-DIGEST.md 2.3 (pathLenConstraint MAY be set).
#[test]
fn path_len_exactly_met_accepted() {
    let root = Ca::root_with("example.org", KeyType::P256, |p| {
        p.is_ca = IsCa::Ca(BasicConstraints::Constrained(1));
    });
    let intermediate = root.intermediate("intermediate");
    let leaf = intermediate.leaf("spiffe://example.org/w");
    assert!(verify(&chain(&[&leaf.cert, &intermediate.cert]), &root.bundle()).is_ok());
}

// ---------------------------------------------------------------------------------------------
// Bundle authorities
// ---------------------------------------------------------------------------------------------

/// An expired bundle authority anchors nothing (go-spiffe checks anchor validity too; webpki
/// does not, so this is the verifier's own check).
///
/// shared/spec/SPIFFE-DIGEST.md 2.6 ("Trust anchor expiry" [rec]).
#[test]
fn expired_authority_rejected() {
    let root = Ca::root_with("example.org", KeyType::P256, |p| {
        validity(p, (2025, 1, 1), (2026, 3, 1));
    });
    let leaf = root.leaf("spiffe://example.org/w");
    let error = verify_err(verify(&[leaf.cert], &root.bundle()));
    assert!(
        matches!(error, VerifyError::AuthorityExpired { index: 0, .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains("bundle authority #0")
            && message.contains("expired at 2026-03-01T00:00:00Z"),
        "{message}"
    );
}

/// The authority's validity window is inclusive at both ends, like the leaf's.
///
/// shared/spec/SPIFFE-DIGEST.md 2.6 ("Trust anchor expiry" [rec]).
#[test]
fn authority_validity_bounds_are_inclusive() {
    let root = Ca::root_with("example.org", KeyType::P256, |p| {
        validity(p, (2025, 6, 1), (2026, 6, 1));
    });
    let leaf = root.leaf("spiffe://example.org/w");
    let at_time = |secs| {
        svid::verify(
            from_ref(&leaf.cert),
            &root.bundle(),
            &backend(),
            Usage::Any,
            at(secs),
        )
    };
    assert!(at_time(NOW).is_ok());
    assert!(matches!(
        verify_err(at_time(NOW + 1)),
        VerifyError::AuthorityExpired { .. }
    ));
}

/// A bundle authority that is not valid yet anchors nothing.
///
/// shared/spec/SPIFFE-DIGEST.md 2.6 ("Trust anchor expiry" [rec]).
#[test]
fn not_yet_valid_authority_rejected() {
    let root = Ca::root_with("example.org", KeyType::P256, |p| {
        validity(p, (2026, 9, 1), (2027, 1, 1));
    });
    let leaf = root.leaf("spiffe://example.org/w");
    assert!(matches!(
        verify_err(verify(&[leaf.cert], &root.bundle())),
        VerifyError::AuthorityNotYetValid { .. }
    ));
}

/// Root rotation with the same key: an expired and a renewed certificate of one root are both
/// in the bundle. The path is anchored on the renewed one.
///
/// shared/spec/SPIFFE-DIGEST.md 2.6 step 6 (every bundle certificate is a trust anchor).
#[test]
fn renewed_authority_with_same_key_accepted_next_to_expired_one() {
    let old = Ca::root_with("example.org", KeyType::P256, |p| {
        validity(p, (2025, 1, 1), (2026, 3, 1));
    });
    let mut renewed_params = old.params.clone();
    validity(&mut renewed_params, (2026, 2, 1), (2026, 12, 1));
    let renewed_cert = renewed_params.self_signed(&old.key).unwrap().der().clone();
    let leaf = old.leaf("spiffe://example.org/w");

    let bundle = bundle("example.org", &[&old.cert, &renewed_cert]);
    let verified = verify(from_ref(&leaf.cert), &bundle).unwrap();
    assert_eq!(verified.path(), chain(&[&leaf.cert, &renewed_cert]));
    assert_eq!(verified.expires_at(), at(epoch(2026, 12, 1)));
}

/// A bundle entry with `cA=false` cannot sign, so the bundle has no usable authority.
///
/// shared/spec/SPIFFE-DIGEST.md 2.3 (signing certificate definition), 2.6 step 5.
#[test]
fn authority_not_ca_gives_no_authorities() {
    let root = Ca::root_with("example.org", KeyType::P256, |p| {
        p.is_ca = IsCa::ExplicitNoCa;
    });
    let leaf = root.leaf("spiffe://example.org/w");
    assert_eq!(
        verify_err(verify(&[leaf.cert], &root.bundle())),
        VerifyError::NoAuthorities {
            trust_domain: td("example.org")
        }
    );
}

/// A bundle entry without `keyCertSign` cannot sign either.
///
/// shared/spec/SPIFFE-DIGEST.md 2.3, 2.6 step 5.
#[test]
fn authority_without_key_cert_sign_gives_no_authorities() {
    let root = Ca::root_with("example.org", KeyType::P256, |p| {
        p.key_usages = vec![KeyUsagePurpose::CrlSign];
    });
    let leaf = root.leaf("spiffe://example.org/w");
    assert_eq!(
        verify_err(verify(&[leaf.cert], &root.bundle())),
        VerifyError::NoAuthorities {
            trust_domain: td("example.org")
        }
    );
}

/// An empty bundle authenticates nothing.
///
/// shared/spec/SPIFFE-DIGEST.md 2.6 step 5 (bundle without X.509 authorities).
#[test]
fn empty_bundle_gives_no_authorities() {
    let root = Ca::root("example.org");
    let leaf = root.leaf("spiffe://example.org/w");
    let empty = X509Bundle::new(td("example.org"));
    assert_eq!(
        verify_err(verify(from_ref(&leaf.cert), &empty)),
        VerifyError::NoAuthorities {
            trust_domain: td("example.org")
        }
    );
    assert_eq!(
        verify_err(verify(&[leaf.cert], &set([empty]))),
        VerifyError::NoAuthorities {
            trust_domain: td("example.org")
        }
    );
}

/// Unusable entries are skipped, not fatal: a bundle with a non-CA entry and a real root
/// still verifies through the root.
///
/// shared/spec/SPIFFE-DIGEST.md 2.6 step 5.
#[test]
fn unusable_authority_skipped_next_to_usable_one() {
    let root = Ca::root("example.org");
    let not_ca = Ca::root_with("example.org", KeyType::P256, |p| {
        p.is_ca = IsCa::ExplicitNoCa;
    });
    let leaf = root.leaf("spiffe://example.org/w");
    let bundle = bundle("example.org", &[&not_ca.cert, &root.cert]);
    let verified = verify(from_ref(&leaf.cert), &bundle).unwrap();
    assert_eq!(verified.path(), chain(&[&leaf.cert, &root.cert]));
}

/// Every certificate in the bundle is a trust anchor, not only self-signed ones: a bundle that
/// holds an intermediate anchors the leaves it issued.
///
/// shared/spec/SPIFFE-DIGEST.md 2.6 step 6 ("trust anchors = every certificate in that bundle").
#[test]
fn intermediate_in_bundle_is_an_anchor() {
    let root = Ca::root("example.org");
    let intermediate = root.intermediate("intermediate");
    let leaf = intermediate.leaf("spiffe://example.org/w");
    let verified = verify(
        from_ref(&leaf.cert),
        &bundle("example.org", &[&intermediate.cert]),
    )
    .unwrap();
    assert_eq!(verified.path(), chain(&[&leaf.cert, &intermediate.cert]));
}

// ---------------------------------------------------------------------------------------------
// Extended key usage
// ---------------------------------------------------------------------------------------------

/// A leaf whose EKU is clientAuth only cannot act as a TLS server, but can as a client, and
/// passes when no role is checked.
///
/// shared/spec/SPIFFE-DIGEST.md 2.2 (extKeyUsage), 2.6 (EKU [rec]).
#[test]
fn client_auth_only_leaf_is_not_a_server() {
    let root = Ca::root("example.org");
    let leaf = root.leaf_with("spiffe://example.org/w", KeyType::P256, |p| {
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    });
    let chain = [leaf.cert];
    assert_eq!(
        verify_err(verify_for(&chain, &root.bundle(), Usage::ServerAuth)),
        VerifyError::WrongUsage
    );
    assert!(verify_for(&chain, &root.bundle(), Usage::ClientAuth).is_ok());
    assert!(verify_for(&chain, &root.bundle(), Usage::Any).is_ok());
}

/// The mirror case: serverAuth only is not a TLS client.
///
/// shared/spec/SPIFFE-DIGEST.md 2.2 (extKeyUsage), 2.6 (EKU [rec]).
#[test]
fn server_auth_only_leaf_is_not_a_client() {
    let root = Ca::root("example.org");
    let leaf = root.leaf_with("spiffe://example.org/w", KeyType::P256, |p| {
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    });
    let chain = [leaf.cert];
    assert_eq!(
        verify_err(verify_for(&chain, &root.bundle(), Usage::ClientAuth)),
        VerifyError::WrongUsage
    );
    assert!(verify_for(&chain, &root.bundle(), Usage::ServerAuth).is_ok());
}

/// Outside TLS there is no role: a verifier starts at `Usage::Any` and accepts a serverAuth-only
/// leaf until `with_usage` gives it a role, after which it refuses it as a client; a result cached
/// for the old usage is not served for the new one.
///
/// shared/spec/SPIFFE-DIGEST.md 2.2 (extKeyUsage), 2.6 (EKU [rec]: require the role's usage).
#[test]
fn verifier_usage_defaults_to_any_and_with_usage_sets_the_role() {
    let root = Ca::root("example.org");
    let leaf = root.leaf_with("spiffe://example.org/w", KeyType::P256, |p| {
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    });
    let chain = [leaf.cert];
    let verifier = X509Verifier::new(root.bundle(), &backend()).with_result_cache(4);
    assert_eq!(verifier.usage(), Usage::Any);
    assert!(verifier.verify(&chain, now()).is_ok());
    let client = verifier.with_usage(Usage::ClientAuth);
    assert_eq!(client.usage(), Usage::ClientAuth);
    assert_eq!(
        verify_err(client.verify(&chain, now())),
        VerifyError::WrongUsage
    );
    let server = client.with_usage(Usage::ServerAuth);
    assert!(server.verify(&chain, now()).is_ok());
}

/// EKU is only a SHOULD: a leaf without it is accepted for every usage.
///
/// shared/spec/SPIFFE-DIGEST.md 2.2 (extKeyUsage SHOULD), 2.6 (EKU [rec]).
#[test]
fn leaf_without_eku_accepted_for_every_usage() {
    let root = Ca::root("example.org");
    let leaf = root.leaf_with("spiffe://example.org/w", KeyType::P256, |p| {
        p.extended_key_usages = vec![];
    });
    for usage in [Usage::Any, Usage::ServerAuth, Usage::ClientAuth] {
        let verified = verify_for(from_ref(&leaf.cert), &root.bundle(), usage);
        assert!(verified.is_ok(), "{usage:?}: {verified:?}");
    }
}

/// The usual SVID EKU (serverAuth + clientAuth) passes for every usage.
///
/// shared/spec/SPIFFE-DIGEST.md 2.2 (extKeyUsage).
#[test]
fn leaf_with_both_ekus_accepted_for_every_usage() {
    let root = Ca::root("example.org");
    let leaf = root.leaf("spiffe://example.org/w");
    for usage in [Usage::Any, Usage::ServerAuth, Usage::ClientAuth] {
        let verified = verify_for(from_ref(&leaf.cert), &root.bundle(), usage);
        assert!(verified.is_ok(), "{usage:?}: {verified:?}");
    }
}

/// A CA's EKU does not restrict its subtree: an intermediate limited to serverAuth still issues
/// a client leaf that verifies as a client. rustls-webpki alone would refuse it; go-spiffe
/// ignores EKU altogether.
///
/// shared/spec/SPIFFE-DIGEST.md 2.3 (CA extKeyUsage MAY), 2.6 (EKU [rec]).
#[test]
fn intermediate_eku_does_not_restrict_leaf_usage() {
    let root = Ca::root("example.org");
    let intermediate = root.intermediate_with("server-only CA", KeyType::P256, |p| {
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    });
    let leaf = intermediate.leaf_with("spiffe://example.org/w", KeyType::P256, |p| {
        p.extended_key_usages = vec![];
    });
    let chain = [leaf.cert, intermediate.cert.clone()];
    for usage in [Usage::Any, Usage::ServerAuth, Usage::ClientAuth] {
        let verified = verify_for(&chain, &root.bundle(), usage);
        assert!(verified.is_ok(), "{usage:?}: {verified:?}");
    }
}

/// anyExtendedKeyUsage allows every role (RFC 5280 4.2.1.12).
///
/// shared/spec/SPIFFE-DIGEST.md 2.2 (extKeyUsage).
#[test]
fn any_extended_key_usage_leaf_accepted_for_every_usage() {
    let root = Ca::root("example.org");
    let leaf = root.leaf_with("spiffe://example.org/w", KeyType::P256, |p| {
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::Any];
    });
    for usage in [Usage::Any, Usage::ServerAuth, Usage::ClientAuth] {
        let verified = verify_for(from_ref(&leaf.cert), &root.bundle(), usage);
        assert!(verified.is_ok(), "{usage:?}: {verified:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Valid chains and the verified result
// ---------------------------------------------------------------------------------------------

/// A leaf issued directly by the bundle's root.
///
/// shared/spec/SPIFFE-DIGEST.md 2.6 step 7.
#[test]
fn leaf_under_root_verifies() {
    let root = Ca::root("example.org");
    let leaf = root.leaf("spiffe://example.org/w");
    let verified = verify(from_ref(&leaf.cert), &root.bundle()).unwrap();
    assert_eq!(verified.spiffe_id().as_str(), "spiffe://example.org/w");
    assert_eq!(verified.path(), chain(&[&leaf.cert, &root.cert]));
    assert_eq!(verified.expires_at(), at(NOT_AFTER));
}

/// A leaf, one intermediate, the root.
///
/// shared/spec/SPIFFE-DIGEST.md 2.6 steps 6-7.
#[test]
fn one_intermediate_verifies() {
    let root = Ca::root("example.org");
    let intermediate = root.intermediate("intermediate");
    let leaf = intermediate.leaf("spiffe://example.org/w");
    let verified = verify(&chain(&[&leaf.cert, &intermediate.cert]), &root.bundle()).unwrap();
    assert_eq!(verified.spiffe_id().as_str(), "spiffe://example.org/w");
    assert_eq!(
        verified.path(),
        chain(&[&leaf.cert, &intermediate.cert, &root.cert])
    );
}

/// A leaf, two intermediates, the root; the path lists them leaf to root even when the peer
/// sends the intermediates in the wrong order or adds the root and an unrelated certificate.
///
/// shared/spec/SPIFFE-DIGEST.md 2.6 steps 6-7.
#[test]
fn two_intermediates_verify_and_path_is_leaf_to_root() {
    let root = Ca::root("example.org");
    let first = root.intermediate("first");
    let second = first.intermediate("second");
    let leaf = second.leaf("spiffe://example.org/w");
    let expected = chain(&[&leaf.cert, &second.cert, &first.cert, &root.cert]);

    let verified = verify(
        &chain(&[&leaf.cert, &second.cert, &first.cert]),
        &root.bundle(),
    )
    .unwrap();
    assert_eq!(verified.path(), expected);

    let unrelated = Ca::root("unrelated.org");
    let verified = verify(
        &chain(&[
            &leaf.cert,
            &unrelated.cert,
            &first.cert,
            &root.cert,
            &second.cert,
        ]),
        &root.bundle(),
    )
    .unwrap();
    assert_eq!(verified.path(), expected);
}

/// `expires_at` is the earliest `notAfter` on the path: here the intermediate's, then the
/// root's.
///
/// shared/spec/SPIFFE-DIGEST.md 2.6 step 7.
#[test]
fn expires_at_is_earliest_not_after_on_path() {
    let root = Ca::root_with("example.org", KeyType::P256, |p| {
        validity(p, (2026, 1, 1), (2026, 12, 1));
    });
    let intermediate = root.intermediate_with("intermediate", KeyType::P256, |p| {
        validity(p, (2026, 1, 1), (2026, 11, 1));
    });
    let leaf = intermediate.leaf("spiffe://example.org/w");
    let verified = verify(&chain(&[&leaf.cert, &intermediate.cert]), &root.bundle()).unwrap();
    assert_eq!(verified.expires_at(), at(epoch(2026, 11, 1)));

    let direct = root.leaf("spiffe://example.org/direct");
    let verified = verify(&[direct.cert], &root.bundle()).unwrap();
    assert_eq!(verified.expires_at(), at(epoch(2026, 12, 1)));

    let short = root.leaf_with("spiffe://example.org/short", KeyType::P256, |p| {
        validity(p, (2026, 1, 1), (2026, 7, 1));
    });
    let verified = verify(&[short.cert], &root.bundle()).unwrap();
    assert_eq!(verified.expires_at(), at(epoch(2026, 7, 1)));
}

/// A keyUsage that needs two octets (decipherOnly is bit 8) is read in full.
///
/// shared/spec/SPIFFE-DIGEST.md 2.2 (keyUsage).
#[test]
fn two_octet_key_usage_read() {
    let root = Ca::root("example.org");
    let leaf = root.leaf_with("spiffe://example.org/w", KeyType::P256, |p| {
        p.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyAgreement,
            KeyUsagePurpose::DecipherOnly,
        ];
    });
    assert!(verify(&[leaf.cert], &root.bundle()).is_ok());
    let bad = root.leaf_with("spiffe://example.org/w", KeyType::P256, |p| {
        p.key_usages = vec![KeyUsagePurpose::KeyAgreement, KeyUsagePurpose::DecipherOnly];
    });
    assert_eq!(
        profile_err(verify(&[bad.cert], &root.bundle())),
        ProfileError::LeafMissingDigitalSignature
    );
}

/// Every supported key type, as the root's and as the leaf's key: P-256, P-384, RSA 2048 and
/// Ed25519, with every enabled crypto backend; a flipped signature fails with each.
///
/// shared/spec/SPIFFE-DIGEST.md 2.6 step 6 (signatures).
#[test]
fn every_key_type_verifies() {
    for backend in common::backends() {
        for root_key in KeyType::ALL {
            let root = Ca::root_with("example.org", root_key, |_| {});
            for leaf_key in KeyType::ALL {
                let leaf = root.leaf_with("spiffe://example.org/w", leaf_key, |_| {});
                let verified = svid::verify(
                    from_ref(&leaf.cert),
                    &root.bundle(),
                    &backend,
                    Usage::Any,
                    now(),
                );
                assert!(
                    verified.is_ok(),
                    "{backend:?}: root {root_key:?}, leaf {leaf_key:?}: {verified:?}"
                );
                // And a flipped signature is caught by every backend, for every key type.
                let flipped = svid::verify(
                    &[flip_signature(&leaf.cert)],
                    &root.bundle(),
                    &backend,
                    Usage::Any,
                    now(),
                );
                assert_eq!(
                    verify_err(flipped),
                    VerifyError::BadSignature,
                    "{backend:?}: root {root_key:?}, leaf {leaf_key:?}"
                );
            }
        }
    }
}

/// The longest chain accepted, MAX_CHAIN_LEN certificates (a leaf, six intermediates, the
/// root), verifies; rustls-webpki's path depth limit is the reason for the number.
///
/// shared/spec/SPIFFE-DIGEST.md 2.6 step 6.
#[test]
fn longest_accepted_chain_verifies() {
    let root = Ca::root("example.org");
    let mut cas = vec![root];
    for n in 1..=6 {
        let next = cas
            .last()
            .unwrap()
            .intermediate(&format!("intermediate {n}"));
        cas.push(next);
    }
    let leaf = cas.last().unwrap().leaf("spiffe://example.org/w");
    let mut presented = vec![leaf.cert.clone()];
    presented.extend(cas.iter().rev().map(|ca| ca.cert.clone()));
    assert_eq!(presented.len(), MAX_CHAIN_LEN);
    let verified = verify(&presented, &cas[0].bundle()).unwrap();
    assert_eq!(verified.path(), presented);
}

/// One intermediate more than rustls-webpki builds through (a leaf and seven intermediates,
/// still within MAX_CHAIN_LEN) is refused as over budget.
///
/// shared/spec/SPIFFE-DIGEST.md 2.6 step 6.
#[test]
fn path_deeper_than_webpki_limit_rejected() {
    let mut cas = vec![Ca::root("example.org")];
    for n in 1..=7 {
        let next = cas
            .last()
            .unwrap()
            .intermediate(&format!("intermediate {n}"));
        cas.push(next);
    }
    let leaf = cas.last().unwrap().leaf("spiffe://example.org/w");
    let mut presented = vec![leaf.cert.clone()];
    presented.extend(cas.iter().skip(1).rev().map(|ca| ca.cert.clone()));
    assert_eq!(presented.len(), MAX_CHAIN_LEN);
    assert_eq!(
        verify_err(verify(&presented, &cas[0].bundle())),
        VerifyError::BudgetExceeded
    );
}

/// Validity times from 2050 on are GeneralizedTime (RFC 5280 4.1.2.5); `expires_at` reads
/// them right.
///
/// shared/spec/SPIFFE-DIGEST.md 2.6 step 7.
#[test]
fn generalized_time_validity_read() {
    let root = Ca::root_with("example.org", KeyType::P256, |p| {
        validity(p, (2026, 1, 1), (2060, 1, 1));
    });
    let leaf = root.leaf_with("spiffe://example.org/w", KeyType::P256, |p| {
        validity(p, (2026, 1, 1), (2055, 3, 1));
    });
    let verified = verify(&[leaf.cert], &root.bundle()).unwrap();
    assert_eq!(verified.expires_at(), at(epoch(2055, 3, 1)));
    assert_eq!(epoch(2055, 3, 1), 2_687_472_000);
}

/// A 2048-byte SPIFFE ID must be accepted in a certificate as well.
///
/// shared/spec/SPIFFE-DIGEST.md 8.5 ID-13; 2.1.
#[test]
fn longest_spiffe_id_accepted() {
    let root = Ca::root("example.org");
    let id = format!("spiffe://example.org/{}", "a".repeat(MAX_URI_LEN - 21));
    assert_eq!(id.len(), MAX_URI_LEN);
    let leaf = root.leaf(&id);
    let verified = verify(&[leaf.cert], &root.bundle()).unwrap();
    assert_eq!(verified.spiffe_id().as_str(), id);
}

/// The verifier works through every source shape: a single bundle, a set, `Arc<dyn _>`.
///
/// shared/spec/SPIFFE-DIGEST.md 2.6 step 5.
#[test]
fn sources_of_every_shape_verify() {
    let root = Ca::root("example.org");
    let leaf = root.leaf("spiffe://example.org/w");
    let chain = [leaf.cert];
    assert!(verify(&chain, &root.bundle()).is_ok());
    assert!(verify(&chain, &set([root.bundle()])).is_ok());
    let shared: Arc<dyn X509BundleSource> = Arc::new(set([root.bundle()]));
    let verifier = X509Verifier::new(shared, &backend()).with_usage(Usage::ServerAuth);
    assert!(verifier.verify(&chain, now()).is_ok());
}

// ---------------------------------------------------------------------------------------------
// Regressions from other SPIFFE libraries (shared/research/USER-NEEDS.md section 2)
// ---------------------------------------------------------------------------------------------

/// One SPIFFE URI SAN plus one non-SPIFFE URI SAN is still two URI SANs.
/// Regression: rust-spiffe#325, java-spiffe#433.
///
/// shared/spec/SPIFFE-DIGEST.md 8.5 X-1; 2.1.
#[test]
fn spiffe_plus_https_uri_sans_rejected() {
    let root = Ca::root("example.org");
    for sans in [
        vec![uri("spiffe://example.org/w"), uri("https://example.org/w")],
        vec![uri("https://example.org/w"), uri("spiffe://example.org/w")],
    ] {
        let leaf = root.leaf_with("spiffe://example.org/w", KeyType::P256, |p| {
            p.subject_alt_names = sans;
        });
        assert_eq!(
            profile_err(verify(&[leaf.cert], &root.bundle())),
            ProfileError::MultipleUriSans { count: 2 }
        );
    }
}

/// URI SANs that are not canonical SPIFFE IDs are refused, never normalised into one (so
/// `%61dmin` never becomes `admin`). Regression: java-spiffe#67, java-spiffe#74.
///
/// shared/spec/SPIFFE-DIGEST.md 8.5 X-3, ID-1..ID-12; 2.1.
#[test]
fn non_canonical_spiffe_ids_rejected() {
    let root = Ca::root("example.org");
    for id in [
        "spiffe://example.org/%61dmin",
        "spiffe://Example.org/admin",
        "SPIFFE://example.org/admin",
        "spiffe://example.org/a/../admin",
        "spiffe://example.org/./admin",
        "spiffe://example.org//admin",
        "spiffe://example.org/admin/",
        "spiffe://user@example.org/admin",
        "spiffe://example.org:443/admin",
        "spiffe://example.org/admin?x=1",
        "spiffe://example.org/admin#x",
        "spiffe:///admin",
    ] {
        let leaf = root.leaf(id);
        let error = profile_err(verify(from_ref(&leaf.cert), &root.bundle()));
        assert!(
            matches!(error, ProfileError::BadSpiffeId(_)),
            "{id}: {error:?}"
        );
    }
}

/// A URI SAN that is not UTF-8 next to a valid SPIFFE ID counts as a second URI SAN. webpki's
/// `valid_uri_names` skips entries it cannot decode, so an "exactly one" check built on it
/// would pass this certificate (STYLE.md section 3, the `valid_uri_names` pitfall).
///
/// shared/spec/SPIFFE-DIGEST.md 8.5 X-1; 2.1.
#[test]
fn undecodable_extra_uri_san_rejected() {
    let root = Ca::root("example.org");
    let valid: &[u8] = b"spiffe://example.org/w";
    let junk: &[u8] = b"spiffe://example.org/\xff\xfe";
    for sans in [[valid, junk], [junk, valid]] {
        let leaf = root.leaf_with("spiffe://example.org/w", KeyType::P256, |p| {
            p.subject_alt_names = vec![];
            p.custom_extensions = vec![raw_uri_sans(&sans)];
        });
        assert_eq!(
            profile_err(verify(&[leaf.cert], &root.bundle())),
            ProfileError::MultipleUriSans { count: 2 }
        );
    }
}

/// The only URI SAN is not UTF-8: not a SPIFFE ID.
///
/// shared/spec/SPIFFE-DIGEST.md 8.5 X-3; 2.1.
#[test]
fn undecodable_only_uri_san_rejected() {
    let root = Ca::root("example.org");
    let leaf = root.leaf_with("spiffe://example.org/w", KeyType::P256, |p| {
        p.subject_alt_names = vec![];
        p.custom_extensions = vec![raw_uri_sans(&[b"spiffe://example.org/\xff"])];
    });
    assert_eq!(
        profile_err(verify(&[leaf.cert], &root.bundle())),
        ProfileError::BadSpiffeId(spiffe_id::Error::BadPathChar { at: 21, byte: 0xff })
    );
}

/// An oversized URI SAN next to a normal one is an error, never skipped so that the other
/// wins; alone, it is too long. Regression: rust-spiffe#348.
///
/// shared/spec/SPIFFE-DIGEST.md 8.5 X-1; 2.1.
#[test]
fn oversized_uri_san_rejected() {
    let root = Ca::root("example.org");
    let huge = format!("spiffe://example.org/{}", "a".repeat(3000 - 21));
    let leaf = root.leaf_with("spiffe://example.org/w", KeyType::P256, |p| {
        p.subject_alt_names = vec![];
        p.custom_extensions = vec![raw_uri_sans(&[huge.as_bytes(), b"spiffe://example.org/w"])];
    });
    assert_eq!(
        profile_err(verify(&[leaf.cert], &root.bundle())),
        ProfileError::MultipleUriSans { count: 2 }
    );

    let alone = root.leaf(&huge);
    assert_eq!(
        profile_err(verify(&[alone.cert], &root.bundle())),
        ProfileError::UriTooLong { len: 3000 }
    );
    let just_over = root.leaf(&format!(
        "spiffe://example.org/{}",
        "a".repeat(MAX_URI_LEN + 1 - 21)
    ));
    assert_eq!(
        profile_err(verify(&[just_over.cert], &root.bundle())),
        ProfileError::UriTooLong {
            len: MAX_URI_LEN + 1
        }
    );
}

/// A signing certificate presented as the peer's leaf is refused: the intermediate CA (whose
/// ID is the trust domain's) and the root itself. Its ID has a root path too, but "leaf is a
/// CA" is reported first: that is the mistake to fix. Regression: rust-spiffe#355.
///
/// shared/spec/SPIFFE-DIGEST.md 8.5; 2.3 ("MUST NOT be used to authenticate").
#[test]
fn ca_presented_as_leaf_rejected() {
    let root = Ca::root("example.org");
    let intermediate = root.intermediate("intermediate");
    let error = profile_err(verify(from_ref(&intermediate.cert), &root.bundle()));
    assert_eq!(error, ProfileError::LeafIsCa);
    assert!(error.to_string().contains("leaf is a CA"), "{error}");
    assert_eq!(
        profile_err(verify(from_ref(&root.cert), &root.bundle())),
        ProfileError::LeafIsCa
    );
    // A CA that (against 2.3) carries a workload-style ID is still refused, as a CA.
    let odd = root.intermediate_with("odd", KeyType::P256, |p| {
        p.subject_alt_names = vec![uri("spiffe://example.org/ca")];
    });
    assert_eq!(
        profile_err(verify(&[odd.cert], &root.bundle())),
        ProfileError::LeafIsCa
    );
}

/// A leaf without `digitalSignature`, and one without a keyUsage extension at all.
/// Regression: rust-spiffe#366, go-spiffe#405.
///
/// shared/spec/SPIFFE-DIGEST.md 2.2 (keyUsage), 2.6 (strictness [rec]).
#[test]
fn leaf_without_digital_signature_rejected() {
    let root = Ca::root("example.org");
    let no_ds = root.leaf_with("spiffe://example.org/w", KeyType::P256, |p| {
        p.key_usages = vec![KeyUsagePurpose::KeyEncipherment];
    });
    assert_eq!(
        profile_err(verify(&[no_ds.cert], &root.bundle())),
        ProfileError::LeafMissingDigitalSignature
    );
    let no_ku = root.leaf_with("spiffe://example.org/w", KeyType::P256, |p| {
        p.key_usages = vec![];
    });
    assert_eq!(
        profile_err(verify(&[no_ku.cert], &root.bundle())),
        ProfileError::LeafMissingKeyUsage
    );
}

/// basicConstraints or keyUsage bytes that do not parse are an error, never read as "no
/// extension". Regression: rust-spiffe#301.
///
/// shared/spec/SPIFFE-DIGEST.md 2.2, 2.6 step 4.
#[test]
fn malformed_basic_constraints_or_key_usage_rejected() {
    let root = Ca::root("example.org");
    // BOOLEAN 0x01 is BER, not DER; it would read as cA=true to a lenient parser.
    let bad_bc = root.leaf_with("spiffe://example.org/w", KeyType::P256, |p| {
        p.is_ca = IsCa::NoCa;
        p.custom_extensions = vec![raw_extension(
            OID_BASIC_CONSTRAINTS,
            tlv(0x30, &[0x01, 0x01, 0x01]),
            true,
        )];
    });
    assert_eq!(
        common::certificate_err(verify(&[bad_bc.cert], &root.bundle())),
        (0, CertificateError::BadDer)
    );
    // keyUsage as an OCTET STRING instead of a BIT STRING.
    let bad_ku = root.leaf_with("spiffe://example.org/w", KeyType::P256, |p| {
        p.key_usages = vec![];
        p.custom_extensions = vec![raw_extension(OID_KEY_USAGE, tlv(0x04, &[0x80]), true)];
    });
    assert_eq!(
        common::certificate_err(verify(&[bad_ku.cert], &root.bundle())),
        (0, CertificateError::BadDer)
    );
}

/// Trailing bytes after the leaf's DER, and a truncated leaf, are malformed certificates.
/// Regression: rust-spiffe#304.
///
/// shared/spec/SPIFFE-DIGEST.md 2.6 step 1.
#[test]
fn trailing_or_truncated_leaf_rejected() {
    let root = Ca::root("example.org");
    let leaf = root.leaf("spiffe://example.org/w");
    let mut trailing = leaf.cert.to_vec();
    trailing.push(0);
    assert_eq!(
        common::certificate_err(verify(&[CertificateDer::from(trailing)], &root.bundle())),
        (0, CertificateError::BadDer)
    );
    let truncated = leaf.cert[..leaf.cert.len() - 1].to_vec();
    assert_eq!(
        common::certificate_err(verify(&[CertificateDer::from(truncated)], &root.bundle())),
        (0, CertificateError::BadDer)
    );
    assert_eq!(
        common::certificate_err(verify(
            &[CertificateDer::from(vec![0x30, 0x00])],
            &root.bundle()
        )),
        (0, CertificateError::BadDer)
    );
}

/// A second subjectAltName extension could disagree with the first; refused (RFC 5280 4.2).
///
/// shared/spec/SPIFFE-DIGEST.md 8.5 X-1; 2.1.
#[test]
fn duplicate_san_extension_rejected() {
    let root = Ca::root("example.org");
    let leaf = root.leaf_with("spiffe://example.org/w", KeyType::P256, |p| {
        p.custom_extensions = vec![raw_uri_sans(&[b"spiffe://example.org/other"])];
    });
    assert_eq!(
        common::certificate_err(verify(&[leaf.cert], &root.bundle())),
        (0, CertificateError::DuplicateExtension)
    );
}

/// An empty chain, and one longer than MAX_CHAIN_LEN (refused before any parsing; long
/// intermediate lists are how path building was made exponential, RUSTSEC-2023-0052).
///
/// shared/spec/SPIFFE-DIGEST.md 2.6 step 1.
#[test]
fn empty_and_overlong_chains_rejected() {
    let root = Ca::root("example.org");
    let leaf = root.leaf("spiffe://example.org/w");
    assert!(matches!(
        verify(&[], &root.bundle()),
        Err(Error::EmptyChain)
    ));
    let long = vec![leaf.cert.clone(); MAX_CHAIN_LEN + 1];
    assert!(matches!(
        verify(&long, &root.bundle()),
        Err(Error::ChainTooLong { len, max: MAX_CHAIN_LEN }) if len == MAX_CHAIN_LEN + 1
    ));
    // Too long is refused even when the certificates are garbage: nothing is parsed.
    let garbage = vec![CertificateDer::from(vec![0u8; 4]); MAX_CHAIN_LEN + 1];
    assert!(matches!(
        verify(&garbage, &root.bundle()),
        Err(Error::ChainTooLong { .. })
    ));
}

/// An unknown critical extension on the leaf is refused, and the error names the certificate
/// and the extension's OID in dotted form.
///
/// shared/spec/SPIFFE-DIGEST.md 2.6 step 6 ("reject unknown critical extensions").
#[test]
fn unknown_critical_extension_rejected() {
    let root = Ca::root("example.org");
    let leaf = root.leaf_with("spiffe://example.org/w", KeyType::P256, |p| {
        p.custom_extensions = vec![raw_extension(
            &[1, 3, 6, 1, 4, 1, 55555, 1],
            tlv(0x05, &[]),
            true,
        )];
    });
    let error = verify_err(verify(&[leaf.cert], &root.bundle()));
    assert!(
        matches!(
            error,
            VerifyError::UnsupportedCriticalExtension {
                certificate: ChainPosition::Leaf,
                ..
            }
        ),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains("leaf certificate")
            && message.contains("critical extension 1.3.6.1.4.1.55555.1"),
        "{message}"
    );
}

/// An intermediate with URI name constraints is refused whether or not the leaf is inside the
/// permitted subtree: rustls-webpki cannot check URI constraints and refuses them
/// (GHSA-965h-392x-2mh5 / RUSTSEC-2026-0098), so a leaf outside the permitted trust domain can
/// never pass.
///
/// shared/spec/SPIFFE-DIGEST.md 2.4.
#[test]
fn uri_name_constraints_rejected() {
    let root = Ca::root("example.org");
    for permitted in ["example.org", "elsewhere.org"] {
        // nameConstraints { permittedSubtrees [0] { GeneralSubtree { [6] permitted } } }
        let subtree = tlv(0x30, &tlv(0x86, permitted.as_bytes()));
        let value = tlv(0x30, &tlv(0xa0, &subtree));
        let intermediate = root.intermediate_with("constrained", KeyType::P256, |p| {
            p.custom_extensions = vec![raw_extension(OID_NAME_CONSTRAINTS, value, true)];
        });
        let leaf = intermediate.leaf("spiffe://example.org/w");
        let result = verify(&chain(&[&leaf.cert, &intermediate.cert]), &root.bundle());
        assert_eq!(
            verify_err(result),
            VerifyError::UnsupportedNameConstraints,
            "permitted {permitted}"
        );
    }
}

/// A source whose bundle set can be replaced, like a Workload API source after an update.
struct SwappableSource(RwLock<BundleSet>);

impl SwappableSource {
    fn replace(&self, set: BundleSet) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = set;
    }
}

impl X509BundleSource for SwappableSource {
    fn x509_bundle(&self, trust_domain: &TrustDomain) -> Option<Arc<X509Bundle>> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .x509_bundle(trust_domain)
    }

    fn generation(&self) -> u64 {
        X509BundleSource::generation(&*self.0.read().unwrap_or_else(PoisonError::into_inner))
    }
}

/// A verifier that is kept across bundle updates (it caches trust anchors) applies each update
/// on the next call: removing a root revokes trust at once, restoring it restores trust.
/// Regression: spiffe-rustls 0.1.1 (bundle rotation not applied to rustls roots).
///
/// shared/spec/SPIFFE-DIGEST.md 8.5; 2.6 step 5.
#[test]
fn reused_verifier_follows_bundle_updates() {
    let root_a = Ca::root("example.org");
    let root_b = Ca::root_with("example.org", KeyType::P256, |p| {
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name
            .push(rcgen::DnType::CommonName, "example.org rotated root CA");
    });
    let leaf = root_a.leaf("spiffe://example.org/w");
    let chain = [leaf.cert];

    let with_a = set([root_a.bundle()]);
    let verifier = X509Verifier::new(SwappableSource(RwLock::new(with_a.clone())), &backend());
    assert!(verifier.verify(&chain, now()).is_ok());
    assert!(verifier.verify(&chain, now()).is_ok()); // from the cache

    // Root A replaced by root B: a new set, a new generation.
    let with_b = set([root_b.bundle()]);
    assert_ne!(
        X509BundleSource::generation(&with_a),
        X509BundleSource::generation(&with_b)
    );
    verifier.source().replace(with_b);
    assert_eq!(
        verify_err(verifier.verify(&chain, now())),
        VerifyError::UnknownIssuer
    );

    // The trust domain is gone altogether.
    verifier.source().replace(BundleSet::new());
    assert_eq!(
        verify_err(verifier.verify(&chain, now())),
        VerifyError::NoBundle {
            trust_domain: td("example.org")
        }
    );

    // Its bundle is back, now empty.
    verifier
        .source()
        .replace(set([X509Bundle::new(td("example.org"))]));
    assert_eq!(
        verify_err(verifier.verify(&chain, now())),
        VerifyError::NoAuthorities {
            trust_domain: td("example.org")
        }
    );

    // Root A restored (the original set, so the original bundle generation).
    verifier.source().replace(with_a);
    assert!(verifier.verify(&chain, now()).is_ok());
}

/// Counts the signature checks of a verifier, through a backend whose algorithms are the
/// default backend's, each wrapped to bump [`SIGNATURE_CHECKS`].
mod counting {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use rustls_pki_types::{AlgorithmIdentifier, InvalidSignature, SignatureVerificationAlgorithm};
    use svid::Crypto;

    pub(super) static SIGNATURE_CHECKS: AtomicUsize = AtomicUsize::new(0);

    #[derive(Debug)]
    struct Counting(&'static dyn SignatureVerificationAlgorithm);

    impl SignatureVerificationAlgorithm for Counting {
        fn verify_signature(
            &self,
            public_key: &[u8],
            message: &[u8],
            signature: &[u8],
        ) -> Result<(), InvalidSignature> {
            SIGNATURE_CHECKS.fetch_add(1, Ordering::SeqCst);
            self.0.verify_signature(public_key, message, signature)
        }

        fn public_key_alg_id(&self) -> AlgorithmIdentifier {
            self.0.public_key_alg_id()
        }

        fn signature_alg_id(&self) -> AlgorithmIdentifier {
            self.0.signature_alg_id()
        }
    }

    pub(super) fn backend() -> Crypto {
        let algorithms: Vec<&'static dyn SignatureVerificationAlgorithm> = Crypto::default()
            .algorithms()
            .iter()
            .map(|&alg| -> &'static dyn SignatureVerificationAlgorithm {
                Box::leak(Box::new(Counting(alg)))
            })
            .collect();
        let provider = rustls::crypto::CryptoProvider {
            signature_verification_algorithms: rustls::crypto::WebPkiSupportedAlgorithms {
                all: Vec::leak(algorithms),
                mapping: &[],
            },
            ..rustls::crypto::ring::default_provider()
        };
        Crypto::from_provider(std::sync::Arc::new(provider))
    }

    /// The signature checks `run` makes.
    pub(super) fn checks(run: impl FnOnce()) -> usize {
        let before = SIGNATURE_CHECKS.load(Ordering::SeqCst);
        run();
        SIGNATURE_CHECKS.load(Ordering::SeqCst) - before
    }
}

/// 150 authorities that share the signer's subject name (other keys, so other subject key
/// identifiers), placed before the real one, cost no signature check: candidates are chosen by
/// the child's authorityKeyIdentifier before any signature is checked, so a verification costs
/// the same as with a clean bundle (it used to fail with `BudgetExceeded` past 100). The same
/// holds through an intermediate.
///
/// shared/spec/SPIFFE-DIGEST.md 2.6 step 6 (bounded path building).
#[test]
fn same_subject_decoy_authorities_cost_no_signature_checks() {
    let with_aki =
        |p: &mut rcgen::CertificateParams| p.use_authority_key_identifier_extension = true;
    let root = Ca::root("example.org");
    let decoys: Vec<Ca> = (0..150).map(|_| Ca::root("example.org")).collect();
    assert_eq!(
        decoys[0].params.distinguished_name,
        root.params.distinguished_name
    );
    let leaf = root.leaf_with("spiffe://example.org/w", KeyType::P256, with_aki);
    let intermediate = root.intermediate_with("intermediate", KeyType::P256, with_aki);
    let deep_leaf = intermediate.leaf_with("spiffe://example.org/deep", KeyType::P256, with_aki);

    let mut authorities: Vec<&CertificateDer<'static>> = decoys.iter().map(|d| &d.cert).collect();
    authorities.push(&root.cert);
    let decoyed = set([bundle("example.org", &authorities)]);
    let clean = set([root.bundle()]);
    let verifier = |bundles: BundleSet| X509Verifier::new(bundles, &counting::backend());
    let (decoyed, clean) = (verifier(decoyed), verifier(clean));

    for presented in [
        vec![leaf.cert.clone()],
        chain(&[&deep_leaf.cert, &intermediate.cert]),
    ] {
        let clean_checks = counting::checks(|| {
            clean.verify(&presented, now()).unwrap();
        });
        let decoyed_checks = counting::checks(|| {
            let verified = decoyed.verify(&presented, now()).unwrap();
            assert_eq!(verified.path().last(), Some(&root.cert));
        });
        assert_eq!(clean_checks, presented.len());
        assert_eq!(decoyed_checks, clean_checks);
    }
}

/// Without an authorityKeyIdentifier in the child (or a subjectKeyIdentifier in the
/// authority) candidates fall back to the subject name, so such certificates still verify;
/// an authorityKeyIdentifier that names no authority of the bundle is an unknown issuer, even
/// if an authority of the same name holds the key.
///
/// shared/spec/SPIFFE-DIGEST.md 2.6 step 5.
#[test]
fn authorities_are_matched_by_name_without_key_identifiers() {
    let root = Ca::root("example.org");
    let decoys: Vec<Ca> = (0..5).map(|_| Ca::root("example.org")).collect();
    let mut authorities: Vec<&CertificateDer<'static>> = decoys.iter().map(|d| &d.cert).collect();
    authorities.push(&root.cert);
    let bundles = set([bundle("example.org", &authorities)]);

    let no_aki = root.leaf("spiffe://example.org/w");
    assert!(verify(&[no_aki.cert], &bundles).is_ok());

    // The root re-issued with the same key and name but another subjectKeyIdentifier: a leaf
    // whose authorityKeyIdentifier names the old identifier no longer finds it.
    let mut reissued_params = root.params.clone();
    reissued_params.key_identifier_method = rcgen::KeyIdMethod::PreSpecified(vec![7; 20]);
    let reissued = reissued_params
        .self_signed(&root.key)
        .unwrap()
        .der()
        .clone();
    let leaf = root.leaf_with("spiffe://example.org/w", KeyType::P256, |p| {
        p.use_authority_key_identifier_extension = true;
    });
    assert!(verify(from_ref(&leaf.cert), &root.bundle()).is_ok());
    assert_eq!(
        verify_err(verify(
            from_ref(&leaf.cert),
            &bundle("example.org", &[&reissued])
        )),
        VerifyError::UnknownIssuer
    );
}
