//! A minimal, bounded DER reader: just enough to walk a certificate to the fields the X.509-SVID
//! profile constrains (SAN, basicConstraints, keyUsage, extKeyUsage, validity), and the names and
//! key identifiers that pick candidate issuers.
//!
//! Signatures and chain building are rustls-webpki's job; this reader never decides trust. It
//! accepts only DER: single-byte tags, definite minimal lengths, no trailing bytes where a caller
//! says none may follow. Every read is bounded by the input slice, so hostile input costs at most
//! one pass.

use crate::error::CertificateError;

/// Universal and context tags this crate reads.
pub(crate) mod tag {
    pub(crate) const BOOLEAN: u8 = 0x01;
    pub(crate) const INTEGER: u8 = 0x02;
    pub(crate) const BIT_STRING: u8 = 0x03;
    pub(crate) const OCTET_STRING: u8 = 0x04;
    pub(crate) const OID: u8 = 0x06;
    pub(crate) const UTC_TIME: u8 = 0x17;
    pub(crate) const GENERALIZED_TIME: u8 = 0x18;
    pub(crate) const SEQUENCE: u8 = 0x30;
    /// `[0] EXPLICIT` (certificate version).
    pub(crate) const CONTEXT_0: u8 = 0xa0;
    /// `[0] IMPLICIT` primitive (authorityKeyIdentifier keyIdentifier).
    pub(crate) const CONTEXT_0_PRIMITIVE: u8 = 0x80;
    /// `[1] IMPLICIT` primitive (issuerUniqueID).
    pub(crate) const CONTEXT_1_PRIMITIVE: u8 = 0x81;
    /// `[2] IMPLICIT` primitive (subjectUniqueID).
    pub(crate) const CONTEXT_2_PRIMITIVE: u8 = 0x82;
    /// `[3] EXPLICIT` (certificate extensions).
    pub(crate) const CONTEXT_3: u8 = 0xa3;
    /// `[6] IMPLICIT IA5String` (GeneralName uniformResourceIdentifier).
    pub(crate) const URI_NAME: u8 = 0x86;
}

/// A cursor over DER-encoded bytes.
#[derive(Clone, Copy)]
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(input: &'a [u8]) -> Self {
        Self { rest: input }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The bytes not read yet.
    pub(crate) fn remaining(&self) -> &'a [u8] {
        self.rest
    }

    /// Reads one TLV and returns its tag and value.
    pub(crate) fn read_any(&mut self) -> Result<(u8, &'a [u8]), CertificateError> {
        let (&tag, after_tag) = self.rest.split_first().ok_or(CertificateError::BadDer)?;
        // High-tag-number form (low five bits all set) never occurs in certificates.
        if tag & 0x1f == 0x1f {
            return Err(CertificateError::BadDer);
        }
        let (&first, mut after_len) = after_tag.split_first().ok_or(CertificateError::BadDer)?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            // Long form: 0x81..=0x84 length octets; 0x80 (indefinite) is BER, not DER.
            let count = usize::from(first & 0x7f);
            if count == 0 || count > 4 {
                return Err(CertificateError::BadDer);
            }
            let (octets, rest) = after_len
                .split_at_checked(count)
                .ok_or(CertificateError::BadDer)?;
            after_len = rest;
            let len = octets
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
            // Minimal encoding: no leading zero octet, and the long form only from 128 up.
            if octets.first() == Some(&0) || len < 0x80 {
                return Err(CertificateError::BadDer);
            }
            len
        };
        let (value, rest) = after_len
            .split_at_checked(len)
            .ok_or(CertificateError::BadDer)?;
        self.rest = rest;
        Ok((tag, value))
    }

    /// Reads one TLV that must carry `expected` as its tag.
    pub(crate) fn read(&mut self, expected: u8) -> Result<&'a [u8], CertificateError> {
        match self.read_any()? {
            (tag, value) if tag == expected => Ok(value),
            _ => Err(CertificateError::BadDer),
        }
    }

    /// Reads one TLV if the next tag is `expected`.
    pub(crate) fn read_optional(
        &mut self,
        expected: u8,
    ) -> Result<Option<&'a [u8]>, CertificateError> {
        if self.rest.first() == Some(&expected) {
            self.read(expected).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Fails unless every byte was consumed.
    pub(crate) fn finish(self) -> Result<(), CertificateError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(CertificateError::BadDer)
        }
    }
}

/// Reads the single TLV that makes up `input` exactly.
pub(crate) fn read_whole(input: &[u8], expected: u8) -> Result<&[u8], CertificateError> {
    let mut reader = Reader::new(input);
    let value = reader.read(expected)?;
    reader.finish()?;
    Ok(value)
}

/// Decodes a DER BOOLEAN value (only `0x00` and `0xff` are DER).
pub(crate) fn boolean(value: &[u8]) -> Result<bool, CertificateError> {
    match value {
        [0x00] => Ok(false),
        [0xff] => Ok(true),
        _ => Err(CertificateError::BadDer),
    }
}

/// Decodes a small non-negative DER INTEGER (used for pathLenConstraint).
pub(crate) fn small_unsigned(value: &[u8]) -> Result<u8, CertificateError> {
    match value {
        [b] if *b < 0x80 => Ok(*b),
        // 0x00 then a byte >= 0x80 is the minimal encoding of 128..=255.
        [0x00, b] if *b >= 0x80 => Ok(*b),
        _ => Err(CertificateError::BadDer),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_short_and_long_lengths() {
        let mut long = vec![0x04, 0x81, 0x80];
        long.extend([7u8; 0x80]);
        let mut r = Reader::new(&long);
        assert_eq!(r.read(tag::OCTET_STRING).unwrap().len(), 0x80);
        assert!(r.is_empty());
        assert_eq!(read_whole(&[0x02, 0x01, 0x05], tag::INTEGER).unwrap(), [5]);
    }

    #[test]
    fn rejects_non_der_lengths() {
        for bad in [
            &[0x04, 0x80][..],                      // indefinite length (BER)
            &[0x04, 0x81, 0x05, 1, 2, 3, 4, 5][..], // long form below 128
            &[0x04, 0x82, 0x00, 0x80][..],          // leading zero length octet
            &[0x04, 0x85, 1, 1, 1, 1, 1][..],       // more than four length octets
            &[0x04, 0x05, 1, 2][..],                // length past the end
            &[0x1f, 0x01, 0x00][..],                // high tag number form
            &[0x04][..],                            // no length
        ] {
            assert!(Reader::new(bad).read_any().is_err(), "{bad:02x?}");
        }
    }

    #[test]
    fn read_whole_rejects_trailing_bytes() {
        assert!(read_whole(&[0x02, 0x01, 0x05, 0x00], tag::INTEGER).is_err());
        assert!(read_whole(&[0x02, 0x01, 0x05], tag::SEQUENCE).is_err());
    }

    #[test]
    fn booleans_and_small_integers_are_der_only() {
        assert!(boolean(&[0xff]).unwrap());
        assert!(!boolean(&[0x00]).unwrap());
        assert!(boolean(&[0x01]).is_err());
        assert_eq!(small_unsigned(&[0x05]).unwrap(), 5);
        assert_eq!(small_unsigned(&[0x00, 0xc8]).unwrap(), 200);
        assert!(small_unsigned(&[0x00, 0x05]).is_err());
        assert!(small_unsigned(&[0x80]).is_err());
        assert!(small_unsigned(&[0x01, 0x00]).is_err());
    }
}
