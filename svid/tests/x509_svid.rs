//! A workload's own X.509-SVID: parsing from DER and PEM, the profile checks every constructor
//! runs, the key match, file round trips, and that the private key never shows in output.
//!
//! Rule IDs are from `shared/spec/SPIFFE-DIGEST.md` section 8.5, and section numbers name the
//! digest section each test enforces.

// Every test needs a crypto backend; without one (`--no-default-features`) there is nothing
// to test.
#![cfg(any(feature = "ring", feature = "aws-lc-rs"))]

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::{
    Ca, KeyType, KeyTypeExt as _, LeafExt as _, backend, certificate_err, chain, concat, data, pem,
    pem_block, profile_err,
};
use rcgen::{BasicConstraints, IsCa, KeyUsagePurpose};
use rustls_pki_types::CertificateDer;
use svid::{
    CertificateError, Error, KeyAlgorithm, KeyError, MAX_CHAIN_LEN, PrivateKey, ProfileError,
    X509Svid,
};

/// A root, an intermediate and a P-256 leaf for `spiffe://example.org/w` under it.
fn pki() -> (Ca, Ca, common::Leaf) {
    let root = Ca::root("example.org");
    let intermediate = root.intermediate("intermediate");
    let leaf = intermediate.leaf("spiffe://example.org/w");
    (root, intermediate, leaf)
}

/// Replaces the first occurrence of `from` in `der` with `to` (same length).
fn patch(der: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let at = der.windows(from.len()).position(|w| w == from);
    let mut out = der.to_vec();
    if let Some(range) = at.and_then(|at| out.get_mut(at..at + to.len())) {
        range.copy_from_slice(to);
    } else {
        unreachable!("pattern {from:02x?} not in the certificate");
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Constructors
// ---------------------------------------------------------------------------------------------

/// The Workload API form: concatenated DER chain, PKCS#8 DER key.
///
/// shared/spec/SPIFFE-DIGEST.md 2.1, 2.2.
#[test]
fn from_der_parses_concatenated_chain() {
    let (_root, intermediate, leaf) = pki();
    let der = concat(&[&leaf.cert, &intermediate.cert]);
    let svid = X509Svid::from_der(&der, &leaf.pkcs8(), &backend()).unwrap();
    assert_eq!(svid.spiffe_id().as_str(), "spiffe://example.org/w");
    assert_eq!(svid.chain(), chain(&[&leaf.cert, &intermediate.cert]));
    assert_eq!(svid.leaf(), &leaf.cert);
    assert_eq!(svid.chain_der(), der);
    assert_eq!(svid.private_key().algorithm(), KeyAlgorithm::EcdsaP256);
    assert_eq!(svid.private_key().secret_pkcs8_der(), leaf.pkcs8());
    assert_eq!(svid.hint(), None);
}

/// Every supported key type loads and matches its leaf, with every enabled crypto backend.
///
/// shared/spec/SPIFFE-DIGEST.md 2.2.
#[test]
fn from_der_accepts_every_key_type() {
    let root = Ca::root("example.org");
    for backend in common::backends() {
        for key_type in KeyType::ALL {
            let leaf = root.leaf_with("spiffe://example.org/w", key_type, |_| {});
            let svid = X509Svid::from_der(&leaf.cert, &leaf.pkcs8(), &backend)
                .unwrap_or_else(|e| panic!("{backend:?} {key_type:?}: {e:?}"));
            assert_eq!(svid.private_key().algorithm(), key_type.algorithm());
        }
    }
}

/// PEM with the chain and the key in one document (key first or last), and in two.
///
/// shared/spec/SPIFFE-DIGEST.md 2.2.
#[test]
fn from_pem_one_or_two_documents() {
    let (_root, intermediate, leaf) = pki();
    let certs = pem(&[&leaf.cert, &intermediate.cert]);
    let key = leaf.key_pem();
    let expected = chain(&[&leaf.cert, &intermediate.cert]);

    let two = X509Svid::from_pem(certs.as_bytes(), key.as_bytes(), &backend()).unwrap();
    assert_eq!(two.chain(), expected);

    for one in [format!("{certs}{key}"), format!("{key}{certs}")] {
        let svid = X509Svid::from_pem(one.as_bytes(), one.as_bytes(), &backend()).unwrap();
        assert_eq!(svid.chain(), expected);
        assert_eq!(svid.spiffe_id().as_str(), "spiffe://example.org/w");
    }
}

/// PEM without a certificate or without a key.
///
/// shared/spec/SPIFFE-DIGEST.md 2.6 step 1.
#[test]
fn from_pem_without_certificate_or_key() {
    let (_root, _intermediate, leaf) = pki();
    let certs = pem(&[&leaf.cert]);
    let key = leaf.key_pem();
    assert!(matches!(
        X509Svid::from_pem(key.as_bytes(), key.as_bytes(), &backend()),
        Err(Error::NoCertificateInPem)
    ));
    assert!(matches!(
        X509Svid::from_pem(b"", key.as_bytes(), &backend()),
        Err(Error::NoCertificateInPem)
    ));
    assert!(matches!(
        X509Svid::from_pem(certs.as_bytes(), certs.as_bytes(), &backend()),
        Err(Error::Key(KeyError::NoKeyInPem))
    ));
}

/// `new` from parsed parts; the hint is kept.
///
/// shared/spec/SPIFFE-DIGEST.md 2.2.
#[test]
fn new_from_parts() {
    let (_root, intermediate, leaf) = pki();
    let svid = X509Svid::new(chain(&[&leaf.cert, &intermediate.cert]), leaf.private_key())
        .unwrap()
        .with_hint("internal");
    assert_eq!(svid.spiffe_id().as_str(), "spiffe://example.org/w");
    assert_eq!(svid.hint(), Some("internal"));
    // Clones share the key.
    let clone = svid.clone();
    assert!(std::sync::Arc::ptr_eq(
        clone.private_key(),
        svid.private_key()
    ));
}

/// An empty chain, and one longer than MAX_CHAIN_LEN, from every constructor.
///
/// shared/spec/SPIFFE-DIGEST.md 2.6 step 1.
#[test]
fn empty_and_overlong_chains() {
    let (_root, _intermediate, leaf) = pki();
    assert!(matches!(
        X509Svid::new(vec![], leaf.private_key()),
        Err(Error::EmptyChain)
    ));
    assert!(matches!(
        X509Svid::from_der(b"", &leaf.pkcs8(), &backend()),
        Err(Error::EmptyChain)
    ));
    let long = vec![leaf.cert.clone(); MAX_CHAIN_LEN + 1];
    assert!(matches!(
        X509Svid::new(long.clone(), leaf.private_key()),
        Err(Error::ChainTooLong { len, max: MAX_CHAIN_LEN }) if len == MAX_CHAIN_LEN + 1
    ));
    let refs: Vec<_> = long.iter().collect();
    assert!(matches!(
        X509Svid::from_der(&concat(&refs), &leaf.pkcs8(), &backend()),
        Err(Error::ChainTooLong { len, max: MAX_CHAIN_LEN }) if len == MAX_CHAIN_LEN + 1
    ));
    let many = pem(&[&leaf.cert; 20]);
    assert!(matches!(
        X509Svid::from_pem(many.as_bytes(), leaf.key_pem().as_bytes(), &backend()),
        Err(Error::ChainTooLong {
            max: MAX_CHAIN_LEN,
            ..
        })
    ));
}

// ---------------------------------------------------------------------------------------------
// Key checks
// ---------------------------------------------------------------------------------------------

/// A private key that is not the leaf's, of the same type or of another.
/// Regression: rust-spiffe#370 (mismatched key accepted at config time).
///
/// shared/spec/SPIFFE-DIGEST.md 2.2.
#[test]
fn key_mismatch_rejected() {
    let root = Ca::root("example.org");
    let leaf = root.leaf("spiffe://example.org/w");
    for backend in common::backends() {
        for key_type in KeyType::ALL {
            let other = root.leaf_with("spiffe://example.org/other", key_type, |_| {});
            assert!(
                matches!(
                    X509Svid::from_der(&leaf.cert, &other.pkcs8(), &backend),
                    Err(Error::KeyMismatch)
                ),
                "{backend:?} {key_type:?}"
            );
        }
    }
    // The intermediate's key does not do either.
    let intermediate = root.intermediate("intermediate");
    let below = intermediate.leaf("spiffe://example.org/w");
    assert!(matches!(
        X509Svid::from_der(
            &concat(&[&below.cert, &intermediate.cert]),
            &intermediate.key.serialize_der(),
            &backend()
        ),
        Err(Error::KeyMismatch)
    ));
}

/// A P-521 key (PKCS#8 from the openssl CLI) is not an X.509-SVID key type here.
///
/// shared/spec/SPIFFE-DIGEST.md 2.2.
#[test]
fn unsupported_key_rejected() {
    let (_root, _intermediate, leaf) = pki();
    let p521 = data("p521.pk8.pem");
    assert_eq!(
        PrivateKey::from_pem(&p521, &backend()).unwrap_err(),
        KeyError::Unsupported
    );
    assert!(matches!(
        X509Svid::from_pem(pem(&[&leaf.cert]).as_bytes(), &p521, &backend()),
        Err(Error::Key(KeyError::Unsupported))
    ));
}

/// Key bytes that are not PKCS#8, and PKCS#8 whose key material the backend refuses.
///
/// shared/spec/SPIFFE-DIGEST.md 2.2.
#[test]
fn malformed_and_rejected_keys() {
    let (_root, _intermediate, leaf) = pki();
    for garbage in [&b""[..], b"\x30\x00", b"not a key", &leaf.cert[..]] {
        assert_eq!(
            PrivateKey::from_pkcs8_der(garbage, &backend()).unwrap_err(),
            KeyError::Malformed
        );
    }
    assert!(matches!(
        X509Svid::from_der(&leaf.cert, b"junk", &backend()),
        Err(Error::Key(KeyError::Malformed))
    ));
    // The embedded public key no longer matches the private scalar.
    for backend in common::backends() {
        for key_type in [KeyType::P256, KeyType::P384, KeyType::Ed25519] {
            let mut pkcs8 = key_type.key_pair().serialize_der();
            *pkcs8.last_mut().unwrap() ^= 0x01;
            assert_eq!(
                PrivateKey::from_pkcs8_der(&pkcs8, &backend).unwrap_err(),
                KeyError::Rejected,
                "{backend:?} {key_type:?}"
            );
        }
    }
}

/// Whether `debug` shows any 12-byte run of `secret` that is not also in `public` (the
/// certificate holds the public key, which PKCS#8 repeats), as hex, as a Rust byte list, or as
/// base64.
fn shows_secret(debug: &str, secret: &[u8], public: &[u8]) -> bool {
    let private_runs = secret
        .windows(12)
        .filter(|w| !public.windows(12).any(|p| p == *w));
    let mut shown = false;
    for run in private_runs {
        let hex: String = run.iter().map(|b| format!("{b:02x}")).collect();
        let list = format!("{run:?}");
        let list = list.trim_start_matches('[').trim_end_matches(']');
        shown |= debug.contains(&hex) || debug.contains(list);
    }
    let public = STANDARD.encode(public);
    shown
        || STANDARD
            .encode(secret)
            .as_bytes()
            .chunks(16)
            .filter_map(|c| std::str::from_utf8(c).ok())
            .any(|c| c.len() == 16 && debug.contains(c) && !public.contains(c))
}

/// `Debug` never shows key material, on the key or on the SVID holding it.
///
/// shared/STYLE.md section 3 (secrets print redacted).
#[test]
fn debug_output_redacts_the_key() {
    let root = Ca::root("example.org");
    for key_type in KeyType::ALL {
        let leaf = root.leaf_with("spiffe://example.org/w", key_type, |_| {});
        let pkcs8 = leaf.pkcs8();
        let svid = X509Svid::from_der(&leaf.cert, &pkcs8, &backend()).unwrap();
        for debug in [
            format!("{:?}", svid.private_key()),
            format!("{:#?}", svid.private_key()),
            format!("{svid:?}"),
            format!("{svid:#?}"),
        ] {
            assert!(debug.contains("redacted"), "{debug}");
            assert!(!debug.contains(&STANDARD.encode(&pkcs8)), "{key_type:?}");
            assert!(
                !shows_secret(&debug, &pkcs8, &leaf.cert),
                "{key_type:?}: {debug}"
            );
        }
        // The check itself finds a key that is printed.
        assert!(shows_secret(&format!("{pkcs8:?}"), &pkcs8, &leaf.cert));
        assert!(shows_secret(&STANDARD.encode(&pkcs8), &pkcs8, &leaf.cert));
    }
}

// ---------------------------------------------------------------------------------------------
// Profile checks on the workload's own SVID
// ---------------------------------------------------------------------------------------------

/// Builds an SVID from a leaf minted with `edit`, signed by a fresh root.
fn own_svid(edit: impl FnOnce(&mut rcgen::CertificateParams)) -> Result<X509Svid, Error> {
    let root = Ca::root("example.org");
    let leaf = root.leaf_with("spiffe://example.org/w", KeyType::P256, edit);
    X509Svid::from_der(&leaf.cert, &leaf.pkcs8(), &backend())
}

/// A CA certificate (with a workload-style ID, so only cA=true is wrong) as the leaf.
///
/// shared/spec/SPIFFE-DIGEST.md 8.5 X-5; 2.2.
#[test]
fn ca_as_leaf_rejected() {
    let result = own_svid(|p| {
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyCertSign,
        ];
    });
    assert_eq!(profile_err(result), ProfileError::LeafIsCa);
}

/// A real signing certificate, with its key, as the workload's SVID: its ID has no path, but
/// the error names the real mistake, a CA as the leaf (checked before the root-path rule).
/// Regression: rust-spiffe#355.
///
/// shared/spec/SPIFFE-DIGEST.md 8.5; 2.3.
#[test]
fn signing_certificate_as_own_svid_rejected() {
    let root = Ca::root("example.org");
    let result = X509Svid::from_der(&root.cert, &root.key.serialize_der(), &backend());
    let error = profile_err(result);
    assert_eq!(error, ProfileError::LeafIsCa);
    assert!(error.to_string().contains("leaf is a CA"), "{error}");
}

/// A leaf whose ID has no path. Regression: go-spiffe#375, py-spiffe#412.
///
/// shared/spec/SPIFFE-DIGEST.md 8.5 X-4; 2.2.
#[test]
fn root_path_leaf_rejected() {
    let root = Ca::root("example.org");
    let leaf = root.leaf("spiffe://example.org");
    assert_eq!(
        profile_err(X509Svid::from_der(&leaf.cert, &leaf.pkcs8(), &backend())),
        ProfileError::LeafRootPath
    );
}

/// Two URI SANs, none, a non-SPIFFE one.
///
/// shared/spec/SPIFFE-DIGEST.md 8.5; 2.1.
#[test]
fn uri_san_rules_apply_to_own_svid() {
    let two = own_svid(|p| {
        p.subject_alt_names = vec![
            common::uri("spiffe://example.org/w"),
            common::uri("spiffe://example.org/x"),
        ];
    });
    assert_eq!(profile_err(two), ProfileError::MultipleUriSans { count: 2 });
    let none = own_svid(|p| p.subject_alt_names = vec![common::dns("w.example.org")]);
    assert_eq!(profile_err(none), ProfileError::NoUriSan);
    let https = own_svid(|p| p.subject_alt_names = vec![common::uri("https://example.org/w")]);
    assert_eq!(
        profile_err(https),
        ProfileError::BadSpiffeId(spiffe_id::Error::BadScheme)
    );
}

/// keyUsage without digitalSignature. Regression: rust-spiffe#366, go-spiffe#405.
///
/// shared/spec/SPIFFE-DIGEST.md 2.2 (keyUsage MUST set digitalSignature).
#[test]
fn missing_digital_signature_rejected() {
    let result = own_svid(|p| {
        p.key_usages = vec![
            KeyUsagePurpose::KeyEncipherment,
            KeyUsagePurpose::KeyAgreement,
        ];
    });
    assert_eq!(
        profile_err(result),
        ProfileError::LeafMissingDigitalSignature
    );
}

/// keyUsage with keyCertSign.
///
/// shared/spec/SPIFFE-DIGEST.md 8.5 X-6; 2.2.
#[test]
fn key_cert_sign_rejected() {
    let result = own_svid(|p| {
        p.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyCertSign,
        ];
    });
    assert_eq!(profile_err(result), ProfileError::LeafKeyCertSign);
}

/// keyUsage with cRLSign.
///
/// shared/spec/SPIFFE-DIGEST.md 8.5 X-7; 2.2.
#[test]
fn crl_sign_rejected() {
    let result = own_svid(|p| {
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::CrlSign];
    });
    assert_eq!(profile_err(result), ProfileError::LeafCrlSign);
}

/// No keyUsage extension. Regression: rust-spiffe#366.
///
/// shared/spec/SPIFFE-DIGEST.md 2.2 (keyUsage MUST be present).
#[test]
fn missing_key_usage_rejected() {
    let result = own_svid(|p| p.key_usages = vec![]);
    assert_eq!(profile_err(result), ProfileError::LeafMissingKeyUsage);
}

/// A leaf without basicConstraints is not a CA, so it is fine; one with only digitalSignature
/// and no EKU too.
///
/// shared/spec/SPIFFE-DIGEST.md 2.2.
#[test]
fn minimal_leaf_accepted() {
    let svid = own_svid(|p| {
        p.is_ca = IsCa::NoCa;
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![];
    })
    .unwrap();
    assert_eq!(svid.spiffe_id().as_str(), "spiffe://example.org/w");
}

/// Intermediates must be signing certificates: cA=true, keyCertSign, no path in their ID.
///
/// shared/spec/SPIFFE-DIGEST.md 8.5 X-10; 2.3.
#[test]
fn intermediate_profile_enforced() {
    let root = Ca::root("example.org");
    type Edit = fn(&mut rcgen::CertificateParams);
    let cases: [(Edit, ProfileError); 4] = [
        (|p| p.is_ca = IsCa::ExplicitNoCa, ProfileError::CaNotCa),
        (|p| p.is_ca = IsCa::NoCa, ProfileError::CaNotCa),
        (
            |p| p.key_usages = vec![KeyUsagePurpose::CrlSign],
            ProfileError::CaMissingKeyCertSign,
        ),
        (
            |p| p.subject_alt_names = vec![common::uri("spiffe://example.org/ca")],
            ProfileError::CaIdHasPath,
        ),
    ];
    for (edit, expected) in cases {
        let intermediate = root.intermediate_with("intermediate", KeyType::P256, edit);
        let leaf = intermediate.leaf("spiffe://example.org/w");
        let result = X509Svid::from_der(
            &concat(&[&leaf.cert, &intermediate.cert]),
            &leaf.pkcs8(),
            &backend(),
        );
        assert_eq!(profile_err(result), expected);
    }
    // An intermediate without a URI SAN is fine (SHOULD, not MUST).
    let anonymous = root.intermediate_with("anonymous", KeyType::P256, |p| {
        p.subject_alt_names = vec![];
    });
    let leaf = anonymous.leaf("spiffe://example.org/w");
    assert!(
        X509Svid::from_der(
            &concat(&[&leaf.cert, &anonymous.cert]),
            &leaf.pkcs8(),
            &backend()
        )
        .is_ok()
    );
}

// ---------------------------------------------------------------------------------------------
// Malformed certificates
// ---------------------------------------------------------------------------------------------

/// Garbage, truncated input and trailing bytes are malformed certificates, with the position
/// of the bad one. Regression: rust-spiffe#304 (trailing bytes).
///
/// shared/spec/SPIFFE-DIGEST.md 2.6 step 1.
#[test]
fn malformed_der_rejected() {
    let (_root, intermediate, leaf) = pki();
    let key = leaf.pkcs8();
    let b = backend();

    for garbage in [&b"\x00"[..], b"garbage", b"\x30\x80\x00\x00", b"\x30\x00"] {
        assert_eq!(
            certificate_err(X509Svid::from_der(garbage, &key, &b)),
            (0, CertificateError::BadDer),
            "{garbage:02x?}"
        );
    }
    // Truncated leaf.
    let truncated = &leaf.cert[..leaf.cert.len() - 1];
    assert_eq!(
        certificate_err(X509Svid::from_der(truncated, &key, &b)),
        (0, CertificateError::BadDer)
    );
    // Trailing bytes after the chain are a second, malformed certificate.
    let mut trailing = concat(&[&leaf.cert, &intermediate.cert]);
    trailing.push(0);
    assert_eq!(
        certificate_err(X509Svid::from_der(&trailing, &key, &b)),
        (2, CertificateError::BadDer)
    );
    // A truncated intermediate.
    let mut cut = concat(&[&leaf.cert, &intermediate.cert]);
    cut.pop();
    assert_eq!(
        certificate_err(X509Svid::from_der(&cut, &key, &b)),
        (1, CertificateError::BadDer)
    );
    // Trailing bytes inside one CertificateDer handed to `new`.
    let mut padded = leaf.cert.to_vec();
    padded.push(0);
    assert_eq!(
        certificate_err(X509Svid::new(
            vec![CertificateDer::from(padded)],
            leaf.private_key()
        )),
        (0, CertificateError::BadDer)
    );
    // A well-framed SEQUENCE that is not a certificate.
    assert_eq!(
        certificate_err(X509Svid::new(
            vec![
                leaf.cert.clone(),
                CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x05])
            ],
            leaf.private_key()
        )),
        (1, CertificateError::BadDer)
    );
}

/// A version 2 certificate cannot carry extensions, hence no URI SAN.
///
/// shared/spec/SPIFFE-DIGEST.md 2.1.
#[test]
fn non_v3_certificate_rejected() {
    let (_root, _intermediate, leaf) = pki();
    // `[0] { INTEGER 2 }` (v3) becomes `[0] { INTEGER 1 }` (v2); the signature is not checked
    // when parsing.
    let v2 = patch(
        &leaf.cert,
        &[0xa0, 0x03, 0x02, 0x01, 0x02],
        &[0xa0, 0x03, 0x02, 0x01, 0x01],
    );
    assert_eq!(
        certificate_err(X509Svid::from_der(&v2, &leaf.pkcs8(), &backend())),
        (0, CertificateError::NotVersion3)
    );
}

/// A validity time that is not a real instant (month 13).
///
/// shared/spec/SPIFFE-DIGEST.md 2.6 step 6.
#[test]
fn bad_time_rejected() {
    let (_root, _intermediate, leaf) = pki();
    let bad = patch(&leaf.cert, b"260101000000Z", b"261301000000Z");
    assert_eq!(
        certificate_err(X509Svid::from_der(&bad, &leaf.pkcs8(), &backend())),
        (0, CertificateError::BadTime)
    );
}

// ---------------------------------------------------------------------------------------------
// Output and files
// ---------------------------------------------------------------------------------------------

/// The PEM the SVID writes reads back to the same SVID, and matches the usual layout.
///
/// shared/spec/SPIFFE-DIGEST.md 2.2.
#[test]
fn pem_output_round_trips() {
    let (_root, intermediate, leaf) = pki();
    let svid = X509Svid::from_der(
        &concat(&[&leaf.cert, &intermediate.cert]),
        &leaf.pkcs8(),
        &backend(),
    )
    .unwrap();
    let certs = svid.chain_pem();
    let key = svid.private_key().to_pem();
    assert_eq!(certs, pem(&[&leaf.cert, &intermediate.cert]));
    assert_eq!(key.as_str(), pem_block("PRIVATE KEY", &leaf.pkcs8()));
    assert!(certs.lines().all(|l| l.len() <= 64));

    let back = X509Svid::from_pem(certs.as_bytes(), key.as_bytes(), &backend()).unwrap();
    assert_eq!(back.chain(), svid.chain());
    assert_eq!(back.spiffe_id(), svid.spiffe_id());
    assert_eq!(
        back.private_key().secret_pkcs8_der(),
        svid.private_key().secret_pkcs8_der()
    );
    let reloaded = PrivateKey::from_pem(key.as_bytes(), &backend()).unwrap();
    assert_eq!(reloaded.public_key(), svid.private_key().public_key());
    assert!(matches!(
        svid.private_key().to_private_key_der(),
        rustls_pki_types::PrivateKeyDer::Pkcs8(k) if k.secret_pkcs8_der() == leaf.pkcs8()
    ));
}

/// `save` then `load` gives the same SVID; the key file is 0600 and the certificate file 0644
/// (even when a wider key file was there before); one file may hold both.
///
/// shared/spec/SPIFFE-DIGEST.md 2.2.
#[test]
fn save_and_load_round_trip() {
    let (_root, intermediate, leaf) = pki();
    let svid = X509Svid::from_der(
        &concat(&[&leaf.cert, &intermediate.cert]),
        &leaf.pkcs8(),
        &backend(),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cert_path = dir.path().join("svid.pem");
    let key_path = dir.path().join("svid.key");
    std::fs::write(&key_path, "old contents").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o644)).unwrap();
    }

    svid.save(&cert_path, &key_path).unwrap();
    let loaded = X509Svid::load(&cert_path, &key_path, &backend()).unwrap();
    assert_eq!(loaded.chain(), svid.chain());
    assert_eq!(loaded.spiffe_id(), svid.spiffe_id());
    assert_eq!(
        loaded.private_key().secret_pkcs8_der(),
        svid.private_key().secret_pkcs8_der()
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode();
        assert_eq!(mode(&key_path) & 0o777, 0o600);
        assert_eq!(mode(&cert_path) & 0o777, 0o644);
    }
    // No temporary files are left behind.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");

    // Certificates and key in one file.
    let both = dir.path().join("both.pem");
    std::fs::write(
        &both,
        format!(
            "{}{}",
            svid.chain_pem(),
            svid.private_key().to_pem().as_str()
        ),
    )
    .unwrap();
    let loaded = X509Svid::load(&both, &both, &backend()).unwrap();
    assert_eq!(loaded.chain(), svid.chain());

    // A missing file.
    assert!(matches!(
        X509Svid::load(&dir.path().join("missing"), &key_path, &backend()),
        Err(Error::Io(_))
    ));
}
