//! X.509 bundles from concatenated DER (the Workload API form, digest 5.4) and from PEM.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "helpers outside #[test] functions; a panic there is a failed test"
)]

mod common;

use common::{data, td};
use rustls_pki_types::CertificateDer;
use trust_bundle::{CertificateError, Error, X509Bundle};

fn ec() -> Vec<u8> {
    data("certs/ca-ec-p256.der")
}

fn rsa() -> Vec<u8> {
    data("certs/ca-rsa-2048.der")
}

fn from_der(der: &[u8]) -> Result<X509Bundle, Error> {
    X509Bundle::from_der(td("example.org"), der)
}

/// The `CertificateError` of a refused input, with the position of the certificate.
fn der_error(der: &[u8]) -> (usize, CertificateError) {
    match from_der(der) {
        Err(Error::Certificate { index, source }) => (index, source),
        other => panic!("expected a certificate error, got {other:?}"),
    }
}

#[test]
fn splits_two_concatenated_certificates() {
    let both = [ec(), rsa()].concat();
    let bundle = from_der(&both).unwrap();
    let authorities: Vec<&[u8]> = bundle.authorities().iter().map(|c| c.as_ref()).collect();
    assert_eq!(authorities, [ec().as_slice(), rsa().as_slice()]);
    assert_eq!(bundle.to_der(), both);
    assert_eq!(bundle.trust_domain(), &td("example.org"));
}

#[test]
fn empty_input_is_an_empty_bundle() {
    let bundle = from_der(&[]).unwrap();
    assert!(bundle.is_empty());
    assert_eq!(bundle.len(), 0);
}

#[test]
fn repeated_certificates_are_kept_once() {
    let bundle = from_der(&[ec(), rsa(), ec()].concat()).unwrap();
    assert_eq!(bundle.len(), 2);
}

#[test]
fn accepts_ed25519_authorities() {
    assert_eq!(from_der(&data("certs/ca-ed25519.der")).unwrap().len(), 1);
}

#[test]
fn refuses_unsupported_key_algorithms() {
    assert_eq!(
        der_error(&data("certs/ca-ec-secp256k1.der")),
        (0, CertificateError::UnsupportedKey)
    );
}

#[test]
fn rejects_trailing_garbage() {
    let mut der = [ec(), rsa()].concat();
    der.push(0x00);
    assert_eq!(
        der_error(&der),
        (
            2,
            CertificateError::UnexpectedTag {
                offset: 0,
                expected: "Certificate",
                found: Some(0x00)
            }
        )
    );
    // A lone SEQUENCE tag after the last certificate.
    let mut der = ec();
    der.push(0x30);
    assert_eq!(
        der_error(&der),
        (1, CertificateError::Truncated { offset: 0 })
    );
}

#[test]
fn rejects_truncated_input() {
    // The length says three more octets follow; one does.
    assert_eq!(
        der_error(&[0x30, 0x83, 0x01]),
        (0, CertificateError::Truncated { offset: 0 })
    );
    // A whole certificate minus its last byte.
    let der = ec();
    assert_eq!(
        der_error(&der[..der.len() - 1]),
        (0, CertificateError::Truncated { offset: 0 })
    );
    // Second certificate cut short.
    let both = [ec(), rsa()].concat();
    assert_eq!(
        der_error(&both[..both.len() - 10]),
        (1, CertificateError::Truncated { offset: 0 })
    );
}

#[test]
fn rejects_indefinite_length() {
    let mut der = vec![0x30, 0x80];
    der.extend_from_slice(&ec()[4..]);
    der.extend_from_slice(&[0x00, 0x00]);
    assert_eq!(
        der_error(&der),
        (0, CertificateError::IndefiniteLength { offset: 0 })
    );
}

#[test]
fn rejects_non_minimal_lengths() {
    let cert = ec();
    assert_eq!(&cert[..2], &[0x30, 0x82], "outer length uses two octets");
    // The same length with a leading zero octet.
    let mut padded = vec![0x30, 0x83, 0x00];
    padded.extend_from_slice(&cert[2..]);
    assert_eq!(
        der_error(&padded),
        (0, CertificateError::NonMinimalLength { offset: 0 })
    );
    // A short length written in the long form.
    assert_eq!(
        der_error(&[0x30, 0x81, 0x03, 0x02, 0x01, 0x01]),
        (0, CertificateError::NonMinimalLength { offset: 0 })
    );
    // Inside the certificate: the tbsCertificate length re-encoded with an extra octet, the
    // outer length fixed up to match.
    assert_eq!(&cert[4..6], &[0x30, 0x82]);
    let outer = u16::from_be_bytes([cert[2], cert[3]]) + 1;
    let mut inner = vec![0x30, 0x82];
    inner.extend_from_slice(&outer.to_be_bytes());
    inner.extend_from_slice(&[0x30, 0x83, 0x00]);
    inner.extend_from_slice(&cert[6..]);
    assert_eq!(
        der_error(&inner),
        (0, CertificateError::NonMinimalLength { offset: 4 })
    );
}

#[test]
fn rejects_huge_declared_lengths_before_reading() {
    for header in [
        &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff][..],
        &[0x30, 0x84, 0x7f, 0xff, 0xff, 0xff],
        &[0x30, 0x83, 0x01, 0x00, 0x01],
    ] {
        assert!(
            matches!(der_error(header), (0, CertificateError::TooLarge { .. })),
            "{header:02x?}"
        );
    }
    assert_eq!(
        der_error(&[0x30, 0x85, 0x01, 0x00, 0x00, 0x00, 0x00]),
        (0, CertificateError::LengthTooLong { offset: 0 })
    );
}

#[test]
fn rejects_elements_that_are_not_certificates() {
    // A SEQUENCE holding an INTEGER.
    assert_eq!(
        der_error(&[0x30, 0x03, 0x02, 0x01, 0x01]),
        (
            0,
            CertificateError::UnexpectedTag {
                offset: 2,
                expected: "tbsCertificate",
                found: Some(0x02)
            }
        )
    );
    // An empty SEQUENCE.
    assert!(matches!(
        der_error(&[0x30, 0x00]),
        (0, CertificateError::UnexpectedTag { found: None, .. })
    ));
    // Not a SEQUENCE at all.
    assert!(matches!(
        der_error(&[0x3f, 0x01, 0x00]),
        (
            0,
            CertificateError::UnexpectedTag {
                found: Some(0x3f),
                ..
            }
        )
    ));
    // A certificate with a byte appended inside its outer SEQUENCE.
    let cert = ec();
    let outer = u16::from_be_bytes([cert[2], cert[3]]) + 2;
    let mut extra = vec![0x30, 0x82];
    extra.extend_from_slice(&outer.to_be_bytes());
    extra.extend_from_slice(&cert[4..]);
    extra.extend_from_slice(&[0x05, 0x00]);
    assert!(matches!(
        der_error(&extra),
        (0, CertificateError::TrailingData { .. })
    ));
}

/// Hostile input never panics: every prefix and every single-byte change of a valid
/// certificate either parses or is an error.
#[test]
fn never_panics_on_mutations() {
    for cert in [ec(), rsa(), data("certs/ca-ed25519.der")] {
        for len in 0..cert.len() {
            assert!(from_der(&cert[..len]).is_err() || len == 0);
        }
        for at in 0..cert.len() {
            for flip in [0x01, 0x80, 0xff] {
                let mut mutated = cert.clone();
                mutated[at] ^= flip;
                let _ = from_der(&mutated);
            }
        }
    }
}

#[test]
fn from_certificates_checks_each_one() {
    let bundle = X509Bundle::from_certificates(
        td("example.org"),
        [CertificateDer::from(ec()), CertificateDer::from(rsa())],
    )
    .unwrap();
    assert_eq!(bundle.len(), 2);
    let err = X509Bundle::from_certificates(
        td("example.org"),
        [
            CertificateDer::from(ec()),
            CertificateDer::from(vec![0x30, 0x00]),
        ],
    )
    .unwrap_err();
    assert!(
        matches!(err, Error::Certificate { index: 1, .. }),
        "{err:?}"
    );
}

#[test]
fn parses_pem_bundles() {
    let pem = [data("certs/ca-ec-p256.pem"), data("certs/ca-rsa-2048.pem")].concat();
    let bundle = X509Bundle::from_pem(td("example.org"), &pem).unwrap();
    assert_eq!(bundle, from_der(&[ec(), rsa()].concat()).unwrap());

    // Text around sections is fine.
    let mut commented = b"# example.org CAs\n".to_vec();
    commented.extend_from_slice(&data("certs/ca-ec-p256.pem"));
    assert_eq!(
        X509Bundle::from_pem(td("example.org"), &commented)
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn rejects_bad_pem_bundles() {
    assert!(matches!(
        X509Bundle::from_pem(td("example.org"), b""),
        Err(Error::NoCertificates)
    ));
    assert!(matches!(
        X509Bundle::from_pem(td("example.org"), b"just text\n"),
        Err(Error::NoCertificates)
    ));
    let key = b"-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n-----END PRIVATE KEY-----\n";
    let pem = [data("certs/ca-ec-p256.pem"), key.to_vec()].concat();
    assert!(matches!(
        X509Bundle::from_pem(td("example.org"), &pem),
        Err(Error::PemNotCertificate { index: 1, .. })
    ));
    let broken = b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
    assert!(matches!(
        X509Bundle::from_pem(td("example.org"), broken),
        Err(Error::Pem(_))
    ));
    let unterminated = b"-----BEGIN CERTIFICATE-----\nMIIB\n";
    assert!(matches!(
        X509Bundle::from_pem(td("example.org"), unterminated),
        Err(Error::Pem(_))
    ));
    let not_a_cert = b"-----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END CERTIFICATE-----\n";
    assert!(matches!(
        X509Bundle::from_pem(td("example.org"), not_a_cert),
        Err(Error::Certificate { index: 0, .. })
    ));
}

#[test]
fn certificate_errors_read_well() {
    let (_, error) = der_error(&[0x30, 0x03, 0x02, 0x01, 0x01]);
    assert_eq!(
        error.to_string(),
        "expected tbsCertificate at offset 2, found tag 0x02"
    );
    let (_, error) = der_error(&[0x30, 0x00]);
    assert_eq!(
        error.to_string(),
        "expected tbsCertificate at offset 2, found the end of the input"
    );
}
