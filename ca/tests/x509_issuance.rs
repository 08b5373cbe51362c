//! X.509-SVID and CA certificate profile: the issuance checklist (shared/spec/SPIFFE-DIGEST.md
//! 2.7) and requirement X-11, each with a negative test.

#![cfg(any(feature = "ring", feature = "aws-lc-rs"))]

mod common;

use std::collections::HashSet;
use std::time::Duration;

use ca::{CsrError, DistinguishedName, Error, KeyType, X509SvidRequest};
use common::{after, at, builder, id, parse, root, secs, t0, verify};
use rcgen::PublicKeyData;
use rustls_pki_types::CertificateDer;
use svid::KeyAlgorithm;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::oid_registry::{
    OID_X509_EXT_AUTHORITY_KEY_IDENTIFIER, OID_X509_EXT_BASIC_CONSTRAINTS, OID_X509_EXT_KEY_USAGE,
    OID_X509_EXT_NAME_CONSTRAINTS, OID_X509_EXT_SUBJECT_ALT_NAME,
};

fn web() -> X509SvidRequest {
    X509SvidRequest::new(id("spiffe://example.org/web"))
}

/// X-11 (digest 2.2, 2.7): the leaf has exactly one URI SAN, critical keyUsage with
/// digitalSignature only, EKU serverAuth+clientAuth, cA=false, SKID and an AKI equal to the
/// CA's SKID, an empty subject with a critical SAN.
#[test]
fn leaf_follows_the_issuance_checklist() {
    let ca = root();
    let svid = ca.mint_x509_svid(&web(), t0()).unwrap();
    assert_eq!(
        svid.chain().len(),
        1,
        "a root's leaves carry no intermediates"
    );
    let leaf = parse(svid.leaf());

    let sans = leaf.subject_alternative_name().unwrap().unwrap();
    assert!(
        sans.critical,
        "empty subject => critical SAN (RFC 5280 4.1.2.6)"
    );
    let uris: Vec<_> = sans
        .value
        .general_names
        .iter()
        .filter_map(|n| match n {
            GeneralName::URI(u) => Some(*u),
            _ => None,
        })
        .collect();
    assert_eq!(uris, ["spiffe://example.org/web"]);
    assert!(leaf.subject().iter().next().is_none());

    let ku = leaf.key_usage().unwrap().unwrap();
    assert!(ku.critical);
    assert!(ku.value.digital_signature());
    assert!(!ku.value.key_cert_sign() && !ku.value.crl_sign());
    assert!(
        !ku.value.key_encipherment(),
        "P-256 leaf: no keyEncipherment"
    );

    let eku = leaf.extended_key_usage().unwrap().unwrap();
    assert!(eku.value.server_auth && eku.value.client_auth);

    let bc = leaf.basic_constraints().unwrap().unwrap();
    assert!(!bc.value.ca);
    assert!(bc.value.path_len_constraint.is_none());

    let ca_cert_der = ca.x509_authority_certificate().unwrap();
    let ca_cert = parse(&ca_cert_der);
    let Some(ca_skid) = ca_cert
        .extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0.to_vec()),
            _ => None,
        })
    else {
        panic!("CA has no SKID")
    };
    let aki = leaf
        .get_extension_unique(&OID_X509_EXT_AUTHORITY_KEY_IDENTIFIER)
        .unwrap()
        .unwrap();
    match aki.parsed_extension() {
        ParsedExtension::AuthorityKeyIdentifier(a) => {
            assert_eq!(a.key_identifier.as_ref().unwrap().0, &ca_skid[..]);
        }
        other => panic!("AKI: {other:?}"),
    }
    assert!(leaf.extensions().iter().any(|e| matches!(
        e.parsed_extension(),
        ParsedExtension::SubjectKeyIdentifier(_)
    )));
    assert_eq!(leaf.issuer(), ca_cert.subject());
    assert!(verify(&ca, svid.chain(), t0()).is_ok());
}

/// Digest 2.7: random positive serial of at most 20 octets (here 128 random bits), unique.
#[test]
fn serials_are_positive_random_and_unique() {
    let ca = root();
    let mut seen = HashSet::new();
    for _ in 0..64 {
        let svid = ca.mint_x509_svid(&web(), t0()).unwrap();
        let leaf = parse(svid.leaf());
        let raw = leaf.raw_serial();
        assert!(raw.len() <= 17 && !raw.is_empty());
        assert_eq!(raw[0] & 0x80, 0, "serial must be positive");
        assert!(seen.insert(raw.to_vec()), "duplicate serial");
    }
}

/// Digest 2.7: notBefore is backdated a few seconds, notAfter is now + TTL.
#[test]
fn validity_is_backdated_and_follows_the_ttl() {
    let ca = root();
    let now = after(100);
    let svid = ca
        .mint_x509_svid(&web().ttl(Duration::from_secs(600)), now)
        .unwrap();
    let leaf = parse(svid.leaf());
    let nb = u64::try_from(leaf.validity().not_before.timestamp()).unwrap();
    let na = u64::try_from(leaf.validity().not_after.timestamp()).unwrap();
    assert!(nb < secs(now) && secs(now) - nb <= 60, "notBefore {nb}");
    assert_eq!(na, secs(now) + 600);
}

/// Digest 2.7: notAfter is capped at the CA's own notAfter (negative: a TTL beyond the CA).
#[test]
fn ttl_is_capped_at_the_ca_expiry() {
    let ca = builder()
        .ca_ttl(Duration::from_secs(3600))
        .build(t0())
        .unwrap();
    let ca_na = parse(&ca.x509_authority_certificate().unwrap())
        .validity()
        .not_after
        .timestamp();
    let svid = ca
        .mint_x509_svid(&web().ttl(Duration::from_secs(10 * 3600)), after(1800))
        .unwrap();
    let na = parse(svid.leaf()).validity().not_after.timestamp();
    assert_eq!(na, ca_na);
    assert!(verify(&ca, svid.chain(), after(3500)).is_ok());
}

/// Once the CA's certificate has expired it issues nothing.
#[test]
fn expired_authority_refuses_to_issue() {
    let ca = builder()
        .ca_ttl(Duration::from_secs(3600))
        .build(t0())
        .unwrap();
    assert!(matches!(
        ca.mint_x509_svid(&web(), after(3600)),
        Err(Error::AuthorityNotValid)
    ));
    assert!(matches!(
        ca.mint_x509_svid(&web(), at(secs(t0()) - 3600)),
        Err(Error::AuthorityNotValid)
    ));
}

/// Digest 2.7: the ID must be in the CA's trust domain (negative test).
#[test]
fn rejects_an_id_of_another_trust_domain() {
    let err = root()
        .mint_x509_svid(&X509SvidRequest::new(id("spiffe://other.org/web")), t0())
        .unwrap_err();
    assert!(matches!(err, Error::TrustDomainMismatch { .. }), "{err:?}");
}

/// X509-SVID 3.1: a workload SVID needs a non-root path (negative test).
#[test]
fn rejects_the_trust_domain_id_for_a_workload() {
    let err = root()
        .mint_x509_svid(&X509SvidRequest::new(id("spiffe://example.org")), t0())
        .unwrap_err();
    assert!(matches!(err, Error::RootIdForWorkload { .. }), "{err:?}");
}

/// DNS SANs and a subject are optional; with a subject the SAN is not critical.
#[test]
fn dns_names_and_subject() {
    let ca = root();
    let request = web()
        .dns_names(["web.example.org", "*.web.example.org"])
        .subject(
            DistinguishedName::new()
                .organization("Example")
                .common_name("web"),
        );
    let svid = ca.mint_x509_svid(&request, t0()).unwrap();
    let leaf = parse(svid.leaf());
    let sans = leaf.subject_alternative_name().unwrap().unwrap();
    assert!(!sans.critical);
    let dns: Vec<_> = sans
        .value
        .general_names
        .iter()
        .filter_map(|n| match n {
            GeneralName::DNSName(d) => Some(*d),
            _ => None,
        })
        .collect();
    assert_eq!(dns, ["web.example.org", "*.web.example.org"]);
    assert_eq!(leaf.subject().to_string(), "O=Example, CN=web");
    assert!(verify(&ca, svid.chain(), t0()).is_ok());

    let bad = ca.mint_x509_svid(&web().dns_names(["not a name"]), t0());
    assert!(matches!(bad, Err(Error::InvalidDnsName { .. })));
}

/// Leaves of every generated key type verify; RSA leaves also carry keyEncipherment.
#[test]
fn key_types() {
    let ca = root();
    for (key_type, algorithm) in [
        (KeyType::EcdsaP256, KeyAlgorithm::EcdsaP256),
        (KeyType::EcdsaP384, KeyAlgorithm::EcdsaP384),
        (KeyType::Ed25519, KeyAlgorithm::Ed25519),
    ] {
        let svid = ca.mint_x509_svid(&web().key_type(key_type), t0()).unwrap();
        assert_eq!(svid.private_key().algorithm(), algorithm);
        assert!(verify(&ca, svid.chain(), t0()).is_ok());
    }
}

#[cfg(feature = "aws-lc-rs")]
#[test]
fn rsa_leaves_with_aws_lc_rs() {
    let ca = builder()
        .crypto(svid::Crypto::aws_lc_rs())
        .build(t0())
        .unwrap();
    let svid = ca
        .mint_x509_svid(&web().key_type(KeyType::Rsa2048), t0())
        .unwrap();
    assert_eq!(svid.private_key().algorithm(), KeyAlgorithm::Rsa);
    let leaf = parse(svid.leaf());
    let ku = leaf.key_usage().unwrap().unwrap().value;
    assert!(ku.digital_signature() && ku.key_encipherment());
    assert!(verify(&ca, svid.chain(), t0()).is_ok());

    // An RSA CA signs with PKCS#1 v1.5 SHA-256.
    let rsa_ca = builder()
        .crypto(svid::Crypto::aws_lc_rs())
        .x509_key_type(KeyType::Rsa3072)
        .build(t0())
        .unwrap();
    let svid = rsa_ca.mint_x509_svid(&web(), t0()).unwrap();
    assert!(verify(&rsa_ca, svid.chain(), t0()).is_ok());
}

/// ring cannot generate RSA keys: a typed error, not a panic.
#[cfg(feature = "ring")]
#[test]
fn ring_refuses_rsa_generation() {
    let ca = builder().crypto(svid::Crypto::ring()).build(t0()).unwrap();
    let err = ca
        .mint_x509_svid(&web().key_type(KeyType::Rsa2048), t0())
        .unwrap_err();
    assert!(matches!(err, Error::Unsupported { .. }), "{err:?}");
}

/// A bare rustls provider verifies, loads and signs, but generates no keys: building a CA on it
/// is a typed `Unsupported`, and a `KeyGenerator` supplied with the same provider makes it work.
#[cfg(feature = "ring")]
#[test]
fn bare_provider_cannot_generate_ca_keys_until_given_a_generator() {
    #[derive(Debug)]
    struct Borrowed(svid::Crypto);
    impl svid::KeyGenerator for Borrowed {
        fn generate_pkcs8(
            &self,
            key_type: KeyType,
        ) -> Result<zeroize::Zeroizing<Vec<u8>>, svid::KeyError> {
            self.0.generate_pkcs8(key_type)
        }
    }
    let bare =
        svid::Crypto::from_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()));
    let err = builder().crypto(bare.clone()).build(t0()).unwrap_err();
    assert!(matches!(err, Error::Unsupported { .. }), "{err:?}");

    let with_generator =
        bare.with_key_generator(std::sync::Arc::new(Borrowed(svid::Crypto::ring())));
    let ca = builder().crypto(with_generator).build(t0()).unwrap();
    let svid = ca.mint_x509_svid(&web(), t0()).unwrap();
    assert!(verify(&ca, svid.chain(), t0()).is_ok());
}

/// X-11 (digest 2.3, 2.7): the CA certificate has critical cA=true, critical keyUsage
/// keyCertSign|cRLSign (no digitalSignature, Appendix A), the URI SAN `spiffe://<td>` with no
/// path, a non-empty subject, SKID, and never a name constraint.
#[test]
fn ca_certificate_profile() {
    let ca = root();
    let der = ca.x509_authority_certificate().unwrap();
    let cert = parse(&der);
    let bc = cert
        .get_extension_unique(&OID_X509_EXT_BASIC_CONSTRAINTS)
        .unwrap()
        .unwrap();
    assert!(bc.critical);
    assert!(cert.basic_constraints().unwrap().unwrap().value.ca);
    let ku = cert
        .get_extension_unique(&OID_X509_EXT_KEY_USAGE)
        .unwrap()
        .unwrap();
    assert!(ku.critical);
    let ku = cert.key_usage().unwrap().unwrap().value;
    assert!(ku.key_cert_sign() && ku.crl_sign() && !ku.digital_signature());
    let san = cert
        .get_extension_unique(&OID_X509_EXT_SUBJECT_ALT_NAME)
        .unwrap()
        .unwrap();
    match san.parsed_extension() {
        ParsedExtension::SubjectAlternativeName(s) => {
            assert_eq!(s.general_names.len(), 1);
            assert!(matches!(
                s.general_names[0],
                GeneralName::URI("spiffe://example.org")
            ));
        }
        other => panic!("{other:?}"),
    }
    assert!(
        cert.subject().iter().next().is_some(),
        "CA subject must be non-empty"
    );
    assert!(
        cert.get_extension_unique(&OID_X509_EXT_NAME_CONSTRAINTS)
            .unwrap()
            .is_none()
    );
    assert_eq!(cert.subject(), cert.issuer(), "root is self-signed");
    assert_eq!(ca.spiffe_id().as_str(), "spiffe://example.org");
}

/// A CSR's key is certified; the requested subject and SANs are ignored.
#[test]
fn csr_key_is_certified_and_its_names_ignored() {
    let ca = root();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["evil.example.com".to_string()]).unwrap();
    params.subject_alt_names.push(rcgen::SanType::URI(
        "spiffe://example.org/admin".try_into().unwrap(),
    ));
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "admin");
    let csr = params.serialize_request(&key).unwrap();
    let chain = ca.mint_x509_svid_for_csr(csr.der(), &web(), t0()).unwrap();
    let leaf = parse(&chain[0]);
    assert_eq!(
        leaf.public_key().raw,
        key.subject_public_key_info().as_slice()
    );
    let sans = leaf.subject_alternative_name().unwrap().unwrap();
    assert_eq!(sans.value.general_names.len(), 1);
    assert!(matches!(
        sans.value.general_names[0],
        GeneralName::URI("spiffe://example.org/web")
    ));
    assert!(leaf.subject().iter().next().is_none());
    assert_eq!(
        verify(&ca, &chain, t0()).unwrap().spiffe_id().path(),
        "/web"
    );
}

/// Proof of possession: a CSR whose signature does not verify is refused (negative test).
#[test]
fn rejects_csr_with_a_bad_signature() {
    let ca = root();
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    let mut csr = params.serialize_request(&key).unwrap().der().to_vec();
    // Flip a bit of the signature (the last bytes).
    let last = csr.len() - 3;
    csr[last] ^= 0x01;
    assert!(matches!(
        ca.mint_x509_svid_for_csr(&csr, &web(), t0()),
        Err(Error::Csr(CsrError::BadSignature))
    ));

    // A CSR with someone else's key: re-signed info from key A, public key from key B.
    let other = rcgen::KeyPair::generate().unwrap();
    let good = params.serialize_request(&key).unwrap().der().to_vec();
    let spki_a = key.subject_public_key_info();
    let spki_b = other.subject_public_key_info();
    let pos = good
        .windows(spki_a.len())
        .position(|w| w == spki_a.as_slice())
        .unwrap();
    let mut swapped = good;
    swapped[pos..pos + spki_a.len()].copy_from_slice(&spki_b);
    assert!(matches!(
        ca.mint_x509_svid_for_csr(&swapped, &web(), t0()),
        Err(Error::Csr(CsrError::BadSignature))
    ));
}

#[test]
fn rejects_malformed_csr() {
    let ca = root();
    for bad in [&b""[..], b"\x30\x03\x02\x01\x00", b"not der at all"] {
        assert!(matches!(
            ca.mint_x509_svid_for_csr(bad, &web(), t0()),
            Err(Error::Csr(CsrError::Malformed))
        ));
    }
    // A certificate is not a CSR.
    let cert: CertificateDer<'_> = ca.x509_authority_certificate().unwrap();
    assert!(ca.mint_x509_svid_for_csr(&cert, &web(), t0()).is_err());
}

/// Every SVID is returned with its key and passes svid's own profile reader.
#[test]
fn returned_svid_holds_its_key() {
    let ca = root();
    let svid = ca.mint_x509_svid(&web(), t0()).unwrap();
    let again = svid::X509Svid::from_der(
        &svid.chain_der(),
        svid.private_key().secret_pkcs8_der(),
        &svid::Crypto::default(),
    )
    .unwrap();
    assert_eq!(again.spiffe_id(), svid.spiffe_id());
}

/// A caller-supplied public key is certified; malformed or unsupported keys are refused.
#[test]
fn public_key_issuance() {
    let ca = root();
    let key = rcgen::KeyPair::generate().unwrap();
    let chain = ca
        .mint_x509_svid_for_public_key(&key.subject_public_key_info(), &web(), t0())
        .unwrap();
    assert_eq!(
        parse(&chain[0]).public_key().raw,
        key.subject_public_key_info().as_slice()
    );
    assert!(verify(&ca, &chain, t0()).is_ok());
    let mut truncated = key.subject_public_key_info();
    truncated.truncate(truncated.len() - 1);
    for bad in [&b""[..], &truncated, b"\x30\x00"] {
        assert!(matches!(
            ca.mint_x509_svid_for_public_key(bad, &web(), t0()),
            Err(Error::InvalidRequest { .. })
        ));
    }
}
