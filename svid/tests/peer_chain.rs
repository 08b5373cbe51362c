//! Reading a peer's chain without a key: `certificates_from_pem` and `certificates_from_der`
//! give what `X509Verifier::verify` takes, and refuse malformed input with a typed error.

#![cfg(any(feature = "ring", feature = "aws-lc-rs"))]

mod common;

use common::{Ca, CaExt as _, concat, pem, pem_block};
use svid::{CertificateError, Error, MAX_CHAIN_LEN, X509Verifier};

/// A leaf and its intermediate, as PEM and as concatenated DER, read back in order and verified
/// (X509-SVID 5: the peer sends leaf first, then intermediates).
#[test]
fn pem_and_der_chains_read_back_in_order_and_verify() {
    let root = Ca::root("example.org");
    let intermediate = root.intermediate("example.org intermediate");
    let leaf = intermediate.leaf("spiffe://example.org/w");
    let sent = [leaf.cert.clone(), intermediate.cert.clone()];
    let verifier = X509Verifier::new(root.bundle(), &common::backend());

    let from_pem = svid::certificates_from_pem(pem(&sent).as_bytes()).unwrap();
    let from_der = svid::certificates_from_der(concat(&sent)).unwrap();
    assert_eq!(from_pem, sent);
    assert_eq!(from_der, sent);
    for chain in [from_pem, from_der] {
        let peer = verifier.verify(&chain, common::now()).unwrap();
        assert_eq!(peer.spiffe_id().as_str(), "spiffe://example.org/w");
    }
}

/// Blocks with other labels (a key next to the certificate, as in a combined file) are skipped.
#[test]
fn pem_skips_blocks_that_are_not_certificates() {
    let root = Ca::root("example.org");
    let leaf = root.leaf("spiffe://example.org/w");
    let document = format!(
        "{}{}",
        pem_block("PRIVATE KEY", &leaf.pkcs8()),
        pem([&leaf.cert])
    );
    let chain = svid::certificates_from_pem(document.as_bytes()).unwrap();
    assert_eq!(chain, [leaf.cert]);
}

/// No certificate, a malformed block, or more certificates than a chain may hold: each is a
/// typed error, never a panic.
#[test]
fn malformed_pem_is_refused_with_a_typed_error() {
    let root = Ca::root("example.org");
    let leaf = root.leaf("spiffe://example.org/w");
    let good = pem([&leaf.cert]);
    let truncated = &good[..good.len() / 2];
    let bad_base64 = "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
    let unterminated = good.replace("-----END CERTIFICATE-----\n", "");
    for input in [
        "",
        "not pem at all",
        truncated,
        bad_base64,
        unterminated.as_str(),
    ] {
        assert!(
            matches!(
                svid::certificates_from_pem(input.as_bytes()),
                Err(Error::NoCertificateInPem)
            ),
            "{input:?}"
        );
    }
    let too_many = pem(vec![&leaf.cert; MAX_CHAIN_LEN + 1]);
    assert!(matches!(
        svid::certificates_from_pem(too_many.as_bytes()),
        Err(Error::ChainTooLong { len, max }) if len == MAX_CHAIN_LEN + 1 && max == MAX_CHAIN_LEN
    ));
}

/// Empty input, a truncated second certificate, trailing bytes that are not a `SEQUENCE`, and
/// too many certificates are refused, naming the position where it matters.
#[test]
fn malformed_der_is_refused_with_a_typed_error() {
    let root = Ca::root("example.org");
    let leaf = root.leaf("spiffe://example.org/w");
    assert!(matches!(
        svid::certificates_from_der([]),
        Err(Error::EmptyChain)
    ));
    let two = concat([&leaf.cert, &root.cert]);
    let truncated = two.get(..two.len() - 1).unwrap();
    assert!(matches!(
        svid::certificates_from_der(truncated),
        Err(Error::Certificate {
            index: 1,
            source: CertificateError::BadDer
        })
    ));
    let mut trailing = concat([&leaf.cert]);
    trailing.extend_from_slice(&[0x04, 0x01, 0x00]);
    assert!(matches!(
        svid::certificates_from_der(&trailing),
        Err(Error::Certificate {
            index: 1,
            source: CertificateError::BadDer
        })
    ));
    let too_many = concat(vec![&leaf.cert; MAX_CHAIN_LEN + 1]);
    assert!(matches!(
        svid::certificates_from_der(&too_many),
        Err(Error::ChainTooLong { max, .. }) if max == MAX_CHAIN_LEN
    ));
}
