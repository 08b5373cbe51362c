//! A small, bounded DER reader: splits the concatenated certificates of a Workload API X.509
//! bundle (digest 5.4) and checks that each one has the outline of a certificate with a public
//! key this crate can name.
//!
//! Only single-byte tags and definite lengths of at most four octets in their shortest form
//! are accepted (X.690 10.1). Nothing here allocates except the returned key bytes, and every
//! length is compared with the bytes actually present before it is used.

use crate::key::{AuthorityKey, strip_leading_zeros};
use crate::{CertificateError, EcCurve, EcPublicKey, MAX_CERTIFICATE_BYTES};

const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const NULL: u8 = 0x05;
const OID: u8 = 0x06;
const SEQUENCE: u8 = 0x30;
/// `[0] EXPLICIT Version` in `TBSCertificate` (RFC 5280 4.1).
const VERSION: u8 = 0xa0;

/// 1.2.840.10045.2.1 id-ecPublicKey (RFC 5480 2.1.1).
const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// 1.2.840.10045.3.1.7 secp256r1 (RFC 5480 2.1.1.1).
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// 1.3.132.0.34 secp384r1 (RFC 5480 2.1.1.1).
const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
/// 1.3.132.0.35 secp521r1 (RFC 5480 2.1.1.1).
const OID_P521: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x23];
/// 1.2.840.113549.1.1.1 rsaEncryption (RFC 3279 2.3.1).
const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
/// 1.3.101.112 id-Ed25519 (RFC 8410 3).
const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];

/// The contents of one DER element, and where they start.
#[derive(Clone, Copy, Debug)]
struct Element<'a> {
    /// Offset of the first content byte, counted like the reader's offsets.
    content_offset: usize,
    content: &'a [u8],
}

/// The size of the identifier and length octets, and the length they declare.
#[derive(Clone, Copy, Debug)]
struct Header {
    header_len: usize,
    content_len: usize,
}

/// Reads the identifier and length octets at the start of `input`; `offset` is where `input`
/// starts, for error reporting.
fn read_header(input: &[u8], offset: usize) -> Result<Header, CertificateError> {
    let truncated = || CertificateError::Truncated { offset };
    let (&tag, rest) = input.split_first().ok_or_else(truncated)?;
    if tag & 0x1f == 0x1f {
        return Err(CertificateError::HighTagNumber { offset });
    }
    let (&first, rest) = rest.split_first().ok_or_else(truncated)?;
    if first < 0x80 {
        return Ok(Header {
            header_len: 2,
            content_len: usize::from(first),
        });
    }
    if first == 0x80 {
        return Err(CertificateError::IndefiniteLength { offset });
    }
    let count = usize::from(first & 0x7f);
    if count > 4 {
        return Err(CertificateError::LengthTooLong { offset });
    }
    let octets = rest.get(..count).ok_or_else(truncated)?;
    if octets.first() == Some(&0) {
        return Err(CertificateError::NonMinimalLength { offset });
    }
    let value = octets
        .iter()
        .fold(0u64, |acc, octet| (acc << 8) | u64::from(*octet));
    if value < 0x80 {
        return Err(CertificateError::NonMinimalLength { offset });
    }
    let content_len =
        usize::try_from(value).map_err(|_| CertificateError::LengthTooLong { offset })?;
    Ok(Header {
        header_len: 2 + count,
        content_len,
    })
}

/// Reads DER elements one after another from a slice.
#[derive(Clone, Copy, Debug)]
struct Reader<'a> {
    rest: &'a [u8],
    /// Offset of `rest[0]`.
    offset: usize,
}

impl<'a> Reader<'a> {
    fn new(input: &'a [u8], offset: usize) -> Self {
        Self {
            rest: input,
            offset,
        }
    }

    fn of(element: Element<'a>) -> Self {
        Self::new(element.content, element.content_offset)
    }

    fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    fn peek_tag(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// Reads the next element, whatever its tag.
    fn read(&mut self) -> Result<Element<'a>, CertificateError> {
        let header = read_header(self.rest, self.offset)?;
        let offset = self.offset;
        let truncated = || CertificateError::Truncated { offset };
        let total = header
            .header_len
            .checked_add(header.content_len)
            .ok_or_else(truncated)?;
        let (element, rest) = self.rest.split_at_checked(total).ok_or_else(truncated)?;
        let content = element.get(header.header_len..).ok_or_else(truncated)?;
        let parsed = Element {
            content_offset: self.offset + header.header_len,
            content,
        };
        self.rest = rest;
        self.offset += total;
        Ok(parsed)
    }

    /// Reads the next element, which must have tag `tag`.
    fn expect(&mut self, tag: u8, expected: &'static str) -> Result<Element<'a>, CertificateError> {
        if self.peek_tag() != Some(tag) {
            return Err(CertificateError::UnexpectedTag {
                offset: self.offset,
                expected,
                found: self.peek_tag(),
            });
        }
        self.read()
    }

    /// Fails unless every byte has been read.
    fn finish(&self) -> Result<(), CertificateError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(CertificateError::TrailingData {
                offset: self.offset,
            })
        }
    }
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
        if input.first() != Some(&SEQUENCE) {
            return Err(at(CertificateError::UnexpectedTag {
                offset: 0,
                expected: "Certificate",
                found: input.first().copied(),
            }));
        }
        let header = read_header(input, 0).map_err(at)?;
        let total = header.header_len.saturating_add(header.content_len);
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
    let mut outer = Reader::new(der, 0);
    let certificate = outer.expect(SEQUENCE, "Certificate")?;
    outer.finish()?;

    let mut fields = Reader::of(certificate);
    let tbs = fields.expect(SEQUENCE, "tbsCertificate")?;
    fields.expect(SEQUENCE, "signatureAlgorithm")?;
    fields.expect(BIT_STRING, "signatureValue")?;
    fields.finish()?;

    let mut tbs = Reader::of(tbs);
    if tbs.peek_tag() == Some(VERSION) {
        tbs.read()?;
    }
    tbs.expect(INTEGER, "serialNumber")?;
    tbs.expect(SEQUENCE, "signature")?;
    tbs.expect(SEQUENCE, "issuer")?;
    tbs.expect(SEQUENCE, "validity")?;
    tbs.expect(SEQUENCE, "subject")?;
    let spki = tbs.expect(SEQUENCE, "subjectPublicKeyInfo")?;
    // issuerUniqueID, subjectUniqueID, extensions: only their framing is checked here.
    while !tbs.is_empty() {
        tbs.read()?;
    }
    read_public_key(spki)
}

/// Reads `SubjectPublicKeyInfo` (RFC 5280 4.1.2.7) for the key types with a JWK form.
fn read_public_key(spki: Element<'_>) -> Result<AuthorityKey, CertificateError> {
    let mut spki = Reader::of(spki);
    let algorithm = spki.expect(SEQUENCE, "AlgorithmIdentifier")?;
    let bits = spki.expect(BIT_STRING, "subjectPublicKey")?;
    spki.finish()?;
    // Key bit strings are whole octets: the unused-bits octet must be zero.
    let Some((0, key)) = bits.content.split_first() else {
        return Err(CertificateError::MalformedKey);
    };

    let mut algorithm = Reader::of(algorithm);
    let oid = algorithm.expect(OID, "algorithm")?;
    match oid.content {
        OID_EC_PUBLIC_KEY => {
            let curve = algorithm.expect(OID, "namedCurve")?;
            algorithm.finish()?;
            let curve = match curve.content {
                OID_P256 => EcCurve::P256,
                OID_P384 => EcCurve::P384,
                OID_P521 => EcCurve::P521,
                _ => return Err(CertificateError::UnsupportedKey),
            };
            // A compressed point is refused: rustls-webpki cannot verify with it either.
            let key =
                EcPublicKey::from_sec1(curve, key).map_err(|_| CertificateError::MalformedKey)?;
            Ok(AuthorityKey::Ec(key))
        }
        OID_RSA => {
            // The parameters are NULL (RFC 3279 2.3.1); some encoders omit them.
            if !algorithm.is_empty() {
                let params = algorithm.expect(NULL, "NULL")?;
                if !params.content.is_empty() {
                    return Err(CertificateError::MalformedKey);
                }
            }
            algorithm.finish()?;
            read_rsa_public_key(key)
        }
        OID_ED25519 => {
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
    let malformed = |_| CertificateError::MalformedKey;
    let mut outer = Reader::new(key, 0);
    let sequence = outer.expect(SEQUENCE, "RSAPublicKey").map_err(malformed)?;
    outer.finish().map_err(malformed)?;
    let mut fields = Reader::of(sequence);
    let n = positive_integer(fields.expect(INTEGER, "modulus").map_err(malformed)?)?;
    let e = positive_integer(
        fields
            .expect(INTEGER, "publicExponent")
            .map_err(malformed)?,
    )?;
    fields.finish().map_err(malformed)?;
    Ok(AuthorityKey::Rsa {
        n: n.into(),
        e: e.into(),
    })
}

/// The magnitude of a positive, minimally encoded INTEGER (X.690 8.3.2), without its leading
/// zero byte.
fn positive_integer(element: Element<'_>) -> Result<&[u8], CertificateError> {
    match element.content {
        [] => Err(CertificateError::MalformedKey),
        [first, ..] if first & 0x80 != 0 => Err(CertificateError::MalformedKey),
        [0, second, ..] if second & 0x80 == 0 => Err(CertificateError::MalformedKey),
        content => {
            let magnitude = strip_leading_zeros(content);
            if magnitude.is_empty() {
                Err(CertificateError::MalformedKey)
            } else {
                Ok(magnitude)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_forms() {
        let h = read_header(&[0x30, 0x05], 0).unwrap();
        assert_eq!((h.header_len, h.content_len), (2, 5));
        let h = read_header(&[0x30, 0x81, 0x80], 0).unwrap();
        assert_eq!((h.header_len, h.content_len), (3, 0x80));
        let h = read_header(&[0x30, 0x84, 0x01, 0x00, 0x00, 0x00], 0).unwrap();
        assert_eq!((h.header_len, h.content_len), (6, 1 << 24));
        assert_eq!(
            read_header(&[0x30, 0x81, 0x7f], 3).unwrap_err(),
            CertificateError::NonMinimalLength { offset: 3 }
        );
        assert_eq!(
            read_header(&[0x30, 0x82, 0x00, 0xff], 0).unwrap_err(),
            CertificateError::NonMinimalLength { offset: 0 }
        );
        assert_eq!(
            read_header(&[0x30, 0x80], 0).unwrap_err(),
            CertificateError::IndefiniteLength { offset: 0 }
        );
        assert_eq!(
            read_header(&[0x30, 0x85, 1, 0, 0, 0, 0], 0).unwrap_err(),
            CertificateError::LengthTooLong { offset: 0 }
        );
        assert_eq!(
            read_header(&[0x1f, 0x01], 0).unwrap_err(),
            CertificateError::HighTagNumber { offset: 0 }
        );
        assert_eq!(
            read_header(&[0x30, 0x82, 0x01], 0).unwrap_err(),
            CertificateError::Truncated { offset: 0 }
        );
        assert_eq!(
            read_header(&[0x30], 0).unwrap_err(),
            CertificateError::Truncated { offset: 0 }
        );
    }

    /// One DER element with a minimal length.
    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let len = u16::try_from(content.len()).unwrap();
        let [high, low] = len.to_be_bytes();
        let mut out = vec![tag];
        match len {
            0..=0x7f => out.push(low),
            0x80..=0xff => out.extend_from_slice(&[0x81, low]),
            _ => out.extend_from_slice(&[0x82, high, low]),
        }
        out.extend_from_slice(content);
        out
    }

    /// A certificate outline around `spki`, with `extra` appended to the TBSCertificate.
    fn certificate(spki: &[u8], extra: &[u8]) -> Vec<u8> {
        let empty = tlv(SEQUENCE, &[]);
        let tbs = [
            tlv(VERSION, &tlv(INTEGER, &[2])),
            tlv(INTEGER, &[1]),
            empty.clone(),
            empty.clone(),
            empty.clone(),
            empty.clone(),
            spki.to_vec(),
            extra.to_vec(),
        ]
        .concat();
        tlv(
            SEQUENCE,
            &[tlv(SEQUENCE, &tbs), empty, tlv(BIT_STRING, &[0])].concat(),
        )
    }

    fn spki(algorithm: &[u8], key: &[u8]) -> Vec<u8> {
        let bits = [&[0][..], key].concat();
        tlv(
            SEQUENCE,
            &[tlv(SEQUENCE, algorithm), tlv(BIT_STRING, &bits)].concat(),
        )
    }

    fn ed25519() -> Vec<u8> {
        spki(&tlv(OID, OID_ED25519), &[7; 32])
    }

    fn rsa(params: &[u8], n: &[u8]) -> Vec<u8> {
        let key = tlv(
            SEQUENCE,
            &[tlv(INTEGER, n), tlv(INTEGER, &[1, 0, 1])].concat(),
        );
        spki(&[tlv(OID, OID_RSA), params.to_vec()].concat(), &key)
    }

    #[test]
    fn reads_each_supported_key() {
        let key = check_certificate(&certificate(&ed25519(), &[])).unwrap();
        assert_eq!(key, AuthorityKey::Ed25519(vec![7; 32].into()));

        let n = [&[0][..], &[0xc0; 256]].concat();
        for params in [&tlv(NULL, &[])[..], &[]] {
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
        let algorithm = [tlv(OID, OID_EC_PUBLIC_KEY), tlv(OID, OID_P384)].concat();
        let key = check_certificate(&certificate(&spki(&algorithm, &point), &[])).unwrap();
        assert!(matches!(key, AuthorityKey::Ec(ec) if ec.curve() == EcCurve::P384));
    }

    #[test]
    fn refuses_malformed_keys() {
        let malformed = |spki: Vec<u8>| check_certificate(&certificate(&spki, &[]));
        // Compressed point.
        let algorithm = [tlv(OID, OID_EC_PUBLIC_KEY), tlv(OID, OID_P256)].concat();
        let compressed = [&[2][..], &[9; 32]].concat();
        assert_eq!(
            malformed(spki(&algorithm, &compressed)),
            Err(CertificateError::MalformedKey)
        );
        // Ed25519 key of the wrong size.
        assert_eq!(
            malformed(spki(&tlv(OID, OID_ED25519), &[7; 31])),
            Err(CertificateError::MalformedKey)
        );
        // Negative modulus, non-NULL parameters.
        assert_eq!(
            malformed(rsa(&[], &[0x80; 256])),
            Err(CertificateError::MalformedKey)
        );
        assert_eq!(
            malformed(rsa(&tlv(NULL, &[0]), &[0x40; 256])),
            Err(CertificateError::MalformedKey)
        );
        // Unused bits in the key bit string.
        let mut odd = ed25519();
        let at = odd.len() - 33;
        odd[at] = 1;
        assert_eq!(malformed(odd), Err(CertificateError::MalformedKey));
        // Unknown algorithm.
        assert_eq!(
            malformed(spki(&tlv(OID, &[0x2b, 0x65, 0x71]), &[7; 57])),
            Err(CertificateError::UnsupportedKey)
        );
    }

    #[test]
    fn checks_framing_after_the_public_key() {
        let extensions = tlv(0xa3, &tlv(SEQUENCE, &[]));
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

    #[test]
    fn positive_integers_are_minimal() {
        let int = |content: &'static [u8]| Element {
            content_offset: 0,
            content,
        };
        assert_eq!(positive_integer(int(&[0x00, 0x80])), Ok(&[0x80][..]));
        assert_eq!(
            positive_integer(int(&[0x01, 0x00, 0x01])),
            Ok(&[1, 0, 1][..])
        );
        assert!(positive_integer(int(&[0x80])).is_err());
        assert!(positive_integer(int(&[0x00, 0x01])).is_err());
        assert!(positive_integer(int(&[0x00])).is_err());
        assert!(positive_integer(int(&[])).is_err());
    }
}
