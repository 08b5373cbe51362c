//! The outline of the certificates in an X.509 bundle: splits the concatenated certificates of
//! a Workload API X.509 bundle (digest 5.4) and checks that each one has the outline of a
//! certificate with a public key this crate can name. The DER itself is read by [`crate::der`];
//! nothing here allocates except the returned key bytes.

use std::collections::HashSet;

use crate::der::{self, Reader, Tlv, oid, tag};
use crate::key::AuthorityKey;
use crate::{CertificateError, EcCurve, EcPublicKey, MAX_CERTIFICATE_BYTES};

impl From<der::Error> for CertificateError {
    fn from(error: der::Error) -> Self {
        match error {
            der::Error::Truncated { offset } => Self::Truncated { offset },
            der::Error::HighTagNumber { offset } => Self::HighTagNumber { offset },
            der::Error::IndefiniteLength { offset } => Self::IndefiniteLength { offset },
            der::Error::LengthTooLong { offset } => Self::LengthTooLong { offset },
            der::Error::NonMinimalLength { offset } => Self::NonMinimalLength { offset },
            der::Error::TrailingData { offset } => Self::TrailingData { offset },
            // `expect` names the field; other readers here only read framing.
            der::Error::UnexpectedTag { offset, found, .. } => Self::UnexpectedTag {
                offset,
                expected: "a der element",
                found,
            },
            der::Error::NonCanonicalValue | der::Error::BadTime => Self::MalformedKey,
        }
    }
}

/// Reads the next element, which must have tag `tag`; `expected` names the field in the
/// error.
fn expect<'a>(
    reader: &mut Reader<'a>,
    tag: u8,
    expected: &'static str,
) -> Result<Tlv<'a>, CertificateError> {
    reader.read_tlv(tag).map_err(|error| match error {
        der::Error::UnexpectedTag { offset, found, .. } => CertificateError::UnexpectedTag {
            offset,
            expected,
            found,
        },
        other => other.into(),
    })
}

/// Splits concatenated DER certificates (digest 5.4), calling `each` with every certificate
/// and its position. Stops at the first error, returned with the position it happened at.
pub(crate) fn split_certificates<'a>(
    mut input: &'a [u8],
    mut each: impl FnMut(usize, &'a [u8]) -> Result<(), crate::Error>,
) -> Result<(), crate::Error> {
    let mut index = 0;
    while !input.is_empty() {
        let at = |source| crate::Error::Certificate { index, source };
        if input.first() != Some(&tag::SEQUENCE) {
            return Err(at(CertificateError::UnexpectedTag {
                offset: 0,
                expected: "Certificate",
                found: input.first().copied(),
            }));
        }
        let total = der::Header::read(input, 0)
            .map_err(|error| at(error.into()))?
            .total_len();
        if total > MAX_CERTIFICATE_BYTES {
            return Err(at(CertificateError::TooLarge {
                len: total,
                max: MAX_CERTIFICATE_BYTES,
            }));
        }
        let (certificate, rest) = input
            .split_at_checked(total)
            .ok_or_else(|| at(CertificateError::Truncated { offset: 0 }))?;
        each(index, certificate)?;
        input = rest;
        index += 1;
    }
    Ok(())
}

/// Checks that `der` is exactly one certificate in outline (RFC 5280 4.1) and returns its
/// subject public key.
pub(crate) fn check_certificate(der: &[u8]) -> Result<AuthorityKey, CertificateError> {
    if der.len() > MAX_CERTIFICATE_BYTES {
        return Err(CertificateError::TooLarge {
            len: der.len(),
            max: MAX_CERTIFICATE_BYTES,
        });
    }
    let mut outer = Reader::new(der);
    let certificate = expect(&mut outer, tag::SEQUENCE, "Certificate")?;
    outer.finish()?;

    let mut fields = Reader::of(certificate);
    let tbs = expect(&mut fields, tag::SEQUENCE, "tbsCertificate")?;
    expect(&mut fields, tag::SEQUENCE, "signatureAlgorithm")?;
    expect(&mut fields, tag::BIT_STRING, "signatureValue")?;
    fields.finish()?;

    let mut tbs = Reader::of(tbs);
    // `[0] EXPLICIT Version` (RFC 5280 4.1).
    if tbs.peek_tag() == Some(tag::CONTEXT_0) {
        tbs.read_any()?;
    }
    expect(&mut tbs, tag::INTEGER, "serialNumber")?;
    expect(&mut tbs, tag::SEQUENCE, "signature")?;
    expect(&mut tbs, tag::SEQUENCE, "issuer")?;
    expect(&mut tbs, tag::SEQUENCE, "validity")?;
    expect(&mut tbs, tag::SEQUENCE, "subject")?;
    let spki = expect(&mut tbs, tag::SEQUENCE, "subjectPublicKeyInfo")?;
    // issuerUniqueID, subjectUniqueID, extensions: only their framing is checked here.
    while !tbs.is_empty() {
        tbs.read_any()?;
    }
    read_public_key(spki)
}

/// Reads `SubjectPublicKeyInfo` (RFC 5280 4.1.2.7) for the key types with a JWK form.
fn read_public_key(spki: Tlv<'_>) -> Result<AuthorityKey, CertificateError> {
    let mut spki = Reader::of(spki);
    let algorithm = expect(&mut spki, tag::SEQUENCE, "AlgorithmIdentifier")?;
    let bits = expect(&mut spki, tag::BIT_STRING, "subjectPublicKey")?;
    spki.finish()?;
    // Key bit strings are whole octets: the unused-bits octet must be zero.
    let key = der::bit_string_bytes(bits.value()).map_err(|_| CertificateError::MalformedKey)?;

    let mut algorithm = Reader::of(algorithm);
    let algorithm_oid = expect(&mut algorithm, tag::OID, "algorithm")?;
    match algorithm_oid.value() {
        oid::EC_PUBLIC_KEY => {
            let curve = expect(&mut algorithm, tag::OID, "namedCurve")?;
            algorithm.finish()?;
            let curve = match curve.value() {
                oid::SECP256R1 => EcCurve::P256,
                oid::SECP384R1 => EcCurve::P384,
                oid::SECP521R1 => EcCurve::P521,
                _ => return Err(CertificateError::UnsupportedKey),
            };
            // A compressed point is refused: rustls-webpki cannot verify with it either.
            let key =
                EcPublicKey::from_sec1(curve, key).map_err(|_| CertificateError::MalformedKey)?;
            Ok(AuthorityKey::Ec(key))
        }
        oid::RSA_ENCRYPTION => {
            // The parameters are NULL (RFC 3279 2.3.1); some encoders omit them.
            if !algorithm.is_empty() {
                let params = expect(&mut algorithm, tag::NULL, "NULL")?;
                if !params.value().is_empty() {
                    return Err(CertificateError::MalformedKey);
                }
            }
            algorithm.finish()?;
            read_rsa_public_key(key)
        }
        oid::ED25519 => {
            // No parameters (RFC 8410 3), and a 32-byte key (RFC 8032 5.1.5).
            algorithm.finish()?;
            if key.len() != 32 {
                return Err(CertificateError::MalformedKey);
            }
            Ok(AuthorityKey::Ed25519(key.into()))
        }
        _ => Err(CertificateError::UnsupportedKey),
    }
}

/// Reads `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }` (RFC 3279
/// 2.3.1). Errors here are [`CertificateError::MalformedKey`], whatever the framing problem.
fn read_rsa_public_key(key: &[u8]) -> Result<AuthorityKey, CertificateError> {
    let read = || -> Result<AuthorityKey, der::Error> {
        let mut fields = Reader::new(der::read_single(key, tag::SEQUENCE)?);
        let n = der::positive_integer(fields.read(tag::INTEGER)?)?;
        let e = der::positive_integer(fields.read(tag::INTEGER)?)?;
        fields.finish()?;
        Ok(AuthorityKey::Rsa {
            n: n.into(),
            e: e.into(),
        })
    };
    read().map_err(|_| CertificateError::MalformedKey)
}

/// For each certificate, whether it is the first with its bytes. Hashing keeps this linear in
/// the input size.
pub(crate) fn first_occurrences<'a>(certificates: impl Iterator<Item = &'a [u8]>) -> Vec<bool> {
    let mut seen = HashSet::new();
    certificates.map(|der| seen.insert(der)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::der::tlv;

    #[test]
    fn header_errors_keep_their_kind_and_offset() {
        // The framing rules themselves are tested in `der`; this checks the mapping.
        let outline = |input: &[u8]| check_certificate(input).unwrap_err();
        assert_eq!(
            outline(&[0x30, 0x81, 0x7f]),
            CertificateError::NonMinimalLength { offset: 0 }
        );
        assert_eq!(
            outline(&[0x30, 0x82, 0x00, 0xff]),
            CertificateError::NonMinimalLength { offset: 0 }
        );
        assert_eq!(
            outline(&[0x30, 0x80]),
            CertificateError::IndefiniteLength { offset: 0 }
        );
        assert_eq!(
            outline(&[0x30, 0x85, 1, 0, 0, 0, 0]),
            CertificateError::LengthTooLong { offset: 0 }
        );
        assert_eq!(
            outline(&[0x30, 0x82, 0x01]),
            CertificateError::Truncated { offset: 0 }
        );
        assert_eq!(outline(&[0x30]), CertificateError::Truncated { offset: 0 });
        assert_eq!(
            outline(&[0x30, 0x00, 0x00]),
            CertificateError::TrailingData { offset: 2 }
        );
        assert_eq!(
            outline(&[0x30, 0x02, 0x02, 0x00]),
            CertificateError::UnexpectedTag {
                offset: 2,
                expected: "tbsCertificate",
                found: Some(tag::INTEGER)
            }
        );
    }

    /// A certificate outline around `spki`, with `extra` appended to the TBSCertificate.
    fn certificate(spki: &[u8], extra: &[u8]) -> Vec<u8> {
        let empty = tlv(tag::SEQUENCE, &[]);
        let tbs = [
            tlv(tag::CONTEXT_0, &tlv(tag::INTEGER, &[2])),
            tlv(tag::INTEGER, &[1]),
            empty.clone(),
            empty.clone(),
            empty.clone(),
            empty.clone(),
            spki.to_vec(),
            extra.to_vec(),
        ]
        .concat();
        tlv(
            tag::SEQUENCE,
            &[tlv(tag::SEQUENCE, &tbs), empty, tlv(tag::BIT_STRING, &[0])].concat(),
        )
    }

    fn spki(algorithm: &[u8], key: &[u8]) -> Vec<u8> {
        let bits = [&[0][..], key].concat();
        tlv(
            tag::SEQUENCE,
            &[tlv(tag::SEQUENCE, algorithm), tlv(tag::BIT_STRING, &bits)].concat(),
        )
    }

    fn ed25519() -> Vec<u8> {
        spki(&tlv(tag::OID, oid::ED25519), &[7; 32])
    }

    fn rsa(params: &[u8], n: &[u8]) -> Vec<u8> {
        let key = tlv(
            tag::SEQUENCE,
            &[tlv(tag::INTEGER, n), tlv(tag::INTEGER, &[1, 0, 1])].concat(),
        );
        spki(
            &[tlv(tag::OID, oid::RSA_ENCRYPTION), params.to_vec()].concat(),
            &key,
        )
    }

    #[test]
    fn reads_each_supported_key() {
        let key = check_certificate(&certificate(&ed25519(), &[])).unwrap();
        assert_eq!(key, AuthorityKey::Ed25519(vec![7; 32].into()));

        let n = [&[0][..], &[0xc0; 256]].concat();
        for params in [&tlv(tag::NULL, &[])[..], &[]] {
            let key = check_certificate(&certificate(&rsa(params, &n), &[])).unwrap();
            assert_eq!(
                key,
                AuthorityKey::Rsa {
                    n: vec![0xc0; 256].into(),
                    e: vec![1, 0, 1].into()
                }
            );
        }

        let point = [&[4][..], &[9; 96]].concat();
        let algorithm = [
            tlv(tag::OID, oid::EC_PUBLIC_KEY),
            tlv(tag::OID, oid::SECP384R1),
        ]
        .concat();
        let key = check_certificate(&certificate(&spki(&algorithm, &point), &[])).unwrap();
        assert!(matches!(key, AuthorityKey::Ec(ec) if ec.curve() == EcCurve::P384));
    }

    #[test]
    fn refuses_malformed_keys() {
        let malformed = |spki: Vec<u8>| check_certificate(&certificate(&spki, &[]));
        // Compressed point.
        let algorithm = [
            tlv(tag::OID, oid::EC_PUBLIC_KEY),
            tlv(tag::OID, oid::SECP256R1),
        ]
        .concat();
        let compressed = [&[2][..], &[9; 32]].concat();
        assert_eq!(
            malformed(spki(&algorithm, &compressed)),
            Err(CertificateError::MalformedKey)
        );
        // Ed25519 key of the wrong size.
        assert_eq!(
            malformed(spki(&tlv(tag::OID, oid::ED25519), &[7; 31])),
            Err(CertificateError::MalformedKey)
        );
        // Negative modulus, non-NULL parameters.
        assert_eq!(
            malformed(rsa(&[], &[0x80; 256])),
            Err(CertificateError::MalformedKey)
        );
        assert_eq!(
            malformed(rsa(&tlv(tag::NULL, &[0]), &[0x40; 256])),
            Err(CertificateError::MalformedKey)
        );
        // Unused bits in the key bit string.
        let mut odd = ed25519();
        let at = odd.len() - 33;
        odd[at] = 1;
        assert_eq!(malformed(odd), Err(CertificateError::MalformedKey));
        // Unknown algorithm (id-Ed448).
        assert_eq!(
            malformed(spki(&tlv(tag::OID, &[0x2b, 0x65, 0x71]), &[7; 57])),
            Err(CertificateError::UnsupportedKey)
        );
    }

    #[test]
    fn checks_framing_after_the_public_key() {
        let extensions = tlv(tag::CONTEXT_3, &tlv(tag::SEQUENCE, &[]));
        assert!(check_certificate(&certificate(&ed25519(), &extensions)).is_ok());
        assert!(matches!(
            check_certificate(&certificate(&ed25519(), &[0xbf, 0x01, 0x00])),
            Err(CertificateError::HighTagNumber { .. })
        ));
        assert!(matches!(
            check_certificate(&certificate(&ed25519(), &[0xa3, 0x05, 0x00])),
            Err(CertificateError::Truncated { .. })
        ));
    }
}
