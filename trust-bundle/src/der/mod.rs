//! DER plumbing shared by the spiffekit crates: one bounded reader, one writer, the named
//! OIDs ([`oid`]) and certificate times ([`time`]).
//!
//! This is not a general ASN.1 library. It reads and writes exactly the certificate, key and
//! CSR structures the spiffekit crates handle; `svid` and `ca` build on it so that DER rules
//! live in one place. Signatures and chain building are rustls-webpki's job; nothing here
//! decides trust.
//!
//! The reader accepts only DER (X.690 10.1): single-byte tags, definite lengths of at most four
//! octets in their shortest form, nothing past the end of the input. Every length is compared
//! with the bytes actually present before it is used, so hostile input costs at most one pass,
//! and nothing allocates. Header parsing is hand-written rather than taken from the `der`
//! crate, whose decoder reports one error kind for both a non-minimal and an over-long length
//! and refuses unknown universal tags that certificates may carry in fields nobody reads.
//!
//! ```
//! use trust_bundle::der::{self, Reader, tag};
//!
//! let encoded = der::tlv_parts(tag::SEQUENCE, &[&der::unsigned_integer(&[5]), &der::tlv(tag::BOOLEAN, &[0xff])]);
//! let mut fields = Reader::new(der::read_single(&encoded, tag::SEQUENCE)?);
//! assert_eq!(fields.read(tag::INTEGER)?, [5]);
//! assert!(der::boolean(fields.read(tag::BOOLEAN)?)?);
//! fields.finish()?;
//! # Ok::<(), der::Error>(())
//! ```

pub mod oid;
pub mod time;

/// Universal and context-specific tags (single identifier octets) of the structures read and
/// written here.
pub mod tag {
    /// BOOLEAN.
    pub const BOOLEAN: u8 = 0x01;
    /// INTEGER.
    pub const INTEGER: u8 = 0x02;
    /// BIT STRING.
    pub const BIT_STRING: u8 = 0x03;
    /// OCTET STRING.
    pub const OCTET_STRING: u8 = 0x04;
    /// NULL.
    pub const NULL: u8 = 0x05;
    /// OBJECT IDENTIFIER.
    pub const OID: u8 = 0x06;
    /// UTF8String.
    pub const UTF8_STRING: u8 = 0x0c;
    /// PrintableString.
    pub const PRINTABLE_STRING: u8 = 0x13;
    /// UTCTime.
    pub const UTC_TIME: u8 = 0x17;
    /// GeneralizedTime.
    pub const GENERALIZED_TIME: u8 = 0x18;
    /// SEQUENCE (constructed).
    pub const SEQUENCE: u8 = 0x30;
    /// SET (constructed).
    pub const SET: u8 = 0x31;
    /// `[0]` constructed: certificate version (EXPLICIT), CSR attributes.
    pub const CONTEXT_0: u8 = 0xa0;
    /// `[3]` constructed: certificate extensions (EXPLICIT).
    pub const CONTEXT_3: u8 = 0xa3;
    /// `[0]` primitive: authorityKeyIdentifier keyIdentifier (IMPLICIT).
    pub const CONTEXT_0_PRIMITIVE: u8 = 0x80;
    /// `[1]` primitive: issuerUniqueID (IMPLICIT).
    pub const CONTEXT_1_PRIMITIVE: u8 = 0x81;
    /// `[2]` primitive: subjectUniqueID (IMPLICIT).
    pub const CONTEXT_2_PRIMITIVE: u8 = 0x82;
    /// `[2] IMPLICIT IA5String`: GeneralName dNSName.
    pub const DNS_NAME: u8 = 0x82;
    /// `[6] IMPLICIT IA5String`: GeneralName uniformResourceIdentifier.
    pub const URI_NAME: u8 = 0x86;
}

/// Why DER could not be read. Offsets count bytes from the start of the outermost input (see
/// [`Reader::at`]); for framing errors they point at the element's tag byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input ends inside an element's header or value.
    #[error("der element at offset {offset} is truncated")]
    Truncated {
        /// Offset of the element's tag byte.
        offset: usize,
    },
    /// A tag uses the high-tag-number form, which no certificate field needs.
    #[error("der tag at offset {offset} uses the high-tag-number form")]
    HighTagNumber {
        /// Offset of the tag byte.
        offset: usize,
    },
    /// A length uses the indefinite form, which DER forbids (X.690 10.1).
    #[error("der length at offset {offset} uses the indefinite form (X.690 10.1)")]
    IndefiniteLength {
        /// Offset of the element's tag byte.
        offset: usize,
    },
    /// A length has more than four octets: larger than any input accepted here.
    #[error("der length at offset {offset} has more than four octets")]
    LengthTooLong {
        /// Offset of the element's tag byte.
        offset: usize,
    },
    /// A length is not in its shortest form (X.690 10.1).
    #[error("der length at offset {offset} is not minimally encoded (X.690 10.1)")]
    NonMinimalLength {
        /// Offset of the element's tag byte.
        offset: usize,
    },
    /// An element has another tag than the structure requires, or is missing.
    #[error("der element at offset {offset} has tag {found:02x?}, expected {expected:#04x}")]
    UnexpectedTag {
        /// Offset of the element's tag byte (the end of the input when it is missing).
        offset: usize,
        /// The tag the structure requires.
        expected: u8,
        /// The tag found, `None` at the end of the input.
        found: Option<u8>,
    },
    /// Bytes follow the last element of a structure.
    #[error("unexpected data at offset {offset} after the der structure")]
    TrailingData {
        /// Offset of the first extra byte.
        offset: usize,
    },
    /// A BOOLEAN, INTEGER or BIT STRING value is not in its DER form (X.690 11).
    #[error("der value is not in its canonical form (X.690 11)")]
    NonCanonicalValue,
    /// A UTCTime or GeneralizedTime is not in the form RFC 5280 4.1.2.5 requires, or names an
    /// instant before 1970.
    #[error("certificate time is not in RFC 5280 form (4.1.2.5)")]
    BadTime,
}

/// The identifier and length octets of one element.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    tag: u8,
    header_len: usize,
    value_len: usize,
}

impl Header {
    /// Reads the header at the start of `input`; `offset` is where `input` starts, for errors.
    ///
    /// # Errors
    /// [`Error::Truncated`], [`Error::HighTagNumber`], [`Error::IndefiniteLength`],
    /// [`Error::LengthTooLong`] or [`Error::NonMinimalLength`]. The value itself is not
    /// checked to be present.
    pub fn read(input: &[u8], offset: usize) -> Result<Self, Error> {
        let truncated = Error::Truncated { offset };
        let (&tag, rest) = input.split_first().ok_or(truncated)?;
        if tag & 0x1f == 0x1f {
            return Err(Error::HighTagNumber { offset });
        }
        let (&first, rest) = rest.split_first().ok_or(truncated)?;
        if first < 0x80 {
            return Ok(Self {
                tag,
                header_len: 2,
                value_len: usize::from(first),
            });
        }
        if first == 0x80 {
            return Err(Error::IndefiniteLength { offset });
        }
        let count = usize::from(first & 0x7f);
        if count > 4 {
            return Err(Error::LengthTooLong { offset });
        }
        let octets = rest.get(..count).ok_or(truncated)?;
        if octets.first() == Some(&0) {
            return Err(Error::NonMinimalLength { offset });
        }
        let value = octets
            .iter()
            .fold(0u64, |acc, octet| (acc << 8) | u64::from(*octet));
        if value < 0x80 {
            return Err(Error::NonMinimalLength { offset });
        }
        let value_len = usize::try_from(value).map_err(|_| Error::LengthTooLong { offset })?;
        Ok(Self {
            tag,
            header_len: 2 + count,
            value_len,
        })
    }

    /// The tag byte.
    pub fn tag(&self) -> u8 {
        self.tag
    }

    /// The size of the identifier and length octets.
    pub fn header_len(&self) -> usize {
        self.header_len
    }

    /// The length the header declares for the value.
    pub fn value_len(&self) -> usize {
        self.value_len
    }

    /// The size of the whole element, header and value; saturates instead of overflowing.
    pub fn total_len(&self) -> usize {
        self.header_len.saturating_add(self.value_len)
    }
}

/// One element read by a [`Reader`], borrowing from its input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tlv<'a> {
    tag: u8,
    value: &'a [u8],
    encoded: &'a [u8],
    /// Offset of the tag byte.
    offset: usize,
}

impl<'a> Tlv<'a> {
    /// The tag byte.
    pub fn tag(&self) -> u8 {
        self.tag
    }

    /// The value (content octets).
    pub fn value(&self) -> &'a [u8] {
        self.value
    }

    /// The whole encoding: tag, length and value.
    pub fn encoded(&self) -> &'a [u8] {
        self.encoded
    }

    /// Offset of the tag byte, counted like the reader's offsets.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Offset of the first value byte, counted like the reader's offsets.
    pub fn value_offset(&self) -> usize {
        self.offset + (self.encoded.len() - self.value.len())
    }
}

/// A forward-only cursor over DER elements.
#[derive(Clone, Copy, Debug)]
pub struct Reader<'a> {
    rest: &'a [u8],
    /// Offset of `rest[0]`, for errors.
    offset: usize,
}

impl<'a> Reader<'a> {
    /// A reader over `input`, which starts at offset 0.
    pub fn new(input: &'a [u8]) -> Self {
        Self::at(input, 0)
    }

    /// A reader over `input`, which starts at `offset` of the outermost input.
    pub fn at(input: &'a [u8], offset: usize) -> Self {
        Self {
            rest: input,
            offset,
        }
    }

    /// A reader over the value of `tlv`, keeping offsets relative to the outermost input.
    pub fn of(tlv: Tlv<'a>) -> Self {
        Self::at(tlv.value, tlv.value_offset())
    }

    /// Whether every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The bytes not read yet.
    pub fn remaining(&self) -> &'a [u8] {
        self.rest
    }

    /// The offset of the next byte.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// The next tag byte, if any, without reading.
    pub fn peek_tag(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// Reads the next element, whatever its tag.
    ///
    /// # Errors
    /// A framing error of [`Header::read`], or [`Error::Truncated`] when the value runs past
    /// the end of the input.
    pub fn read_any(&mut self) -> Result<Tlv<'a>, Error> {
        let header = Header::read(self.rest, self.offset)?;
        let truncated = Error::Truncated {
            offset: self.offset,
        };
        let total = header
            .header_len
            .checked_add(header.value_len)
            .ok_or(truncated)?;
        let (encoded, rest) = self.rest.split_at_checked(total).ok_or(truncated)?;
        let value = encoded.get(header.header_len..).ok_or(truncated)?;
        let tlv = Tlv {
            tag: header.tag,
            value,
            encoded,
            offset: self.offset,
        };
        self.rest = rest;
        self.offset += total;
        Ok(tlv)
    }

    /// Reads the next element, which must have tag `expected`.
    ///
    /// # Errors
    /// [`Error::UnexpectedTag`], or an error of [`Reader::read_any`].
    pub fn read_tlv(&mut self, expected: u8) -> Result<Tlv<'a>, Error> {
        let found = self.peek_tag();
        if found != Some(expected) {
            return Err(Error::UnexpectedTag {
                offset: self.offset,
                expected,
                found,
            });
        }
        self.read_any()
    }

    /// Reads the next element, which must have tag `expected`, and returns its value.
    ///
    /// # Errors
    /// As [`Reader::read_tlv`].
    pub fn read(&mut self, expected: u8) -> Result<&'a [u8], Error> {
        self.read_tlv(expected).map(|tlv| tlv.value)
    }

    /// Reads the next element, which must have tag `expected`, and returns its value and its
    /// whole encoding.
    ///
    /// # Errors
    /// As [`Reader::read_tlv`].
    pub fn read_whole(&mut self, expected: u8) -> Result<(&'a [u8], &'a [u8]), Error> {
        self.read_tlv(expected).map(|tlv| (tlv.value, tlv.encoded))
    }

    /// Reads the next element if its tag is `expected` (an OPTIONAL or DEFAULT field).
    ///
    /// # Errors
    /// As [`Reader::read_any`].
    pub fn read_optional(&mut self, expected: u8) -> Result<Option<&'a [u8]>, Error> {
        if self.peek_tag() == Some(expected) {
            self.read(expected).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Fails unless every byte has been read.
    ///
    /// # Errors
    /// [`Error::TrailingData`].
    pub fn finish(self) -> Result<(), Error> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(Error::TrailingData {
                offset: self.offset,
            })
        }
    }
}

/// The value of the single element with tag `expected` that makes up all of `input`.
///
/// # Errors
/// As [`Reader::read_tlv`], or [`Error::TrailingData`].
pub fn read_single(input: &[u8], expected: u8) -> Result<&[u8], Error> {
    let mut reader = Reader::new(input);
    let value = reader.read(expected)?;
    reader.finish()?;
    Ok(value)
}

/// Decodes a BOOLEAN value; DER allows only `0x00` and `0xff` (X.690 11.1).
///
/// # Errors
/// [`Error::NonCanonicalValue`].
pub fn boolean(value: &[u8]) -> Result<bool, Error> {
    match value {
        [0x00] => Ok(false),
        [0xff] => Ok(true),
        _ => Err(Error::NonCanonicalValue),
    }
}

/// Decodes a non-negative INTEGER below 256 (a pathLenConstraint), minimally encoded.
///
/// # Errors
/// [`Error::NonCanonicalValue`] for a negative, too large or non-minimal value.
pub fn small_unsigned(value: &[u8]) -> Result<u8, Error> {
    match value {
        [b] if *b < 0x80 => Ok(*b),
        // 0x00 then a byte >= 0x80 is the minimal encoding of 128..=255.
        [0x00, b] if *b >= 0x80 => Ok(*b),
        _ => Err(Error::NonCanonicalValue),
    }
}

/// The magnitude of a positive, minimally encoded INTEGER (X.690 8.3.2), without its leading
/// zero octet.
///
/// # Errors
/// [`Error::NonCanonicalValue`] for zero, a negative or a non-minimal value.
pub fn positive_integer(value: &[u8]) -> Result<&[u8], Error> {
    match value {
        [] => Err(Error::NonCanonicalValue),
        [first, ..] if first & 0x80 != 0 => Err(Error::NonCanonicalValue),
        [0, second, ..] if second & 0x80 == 0 => Err(Error::NonCanonicalValue),
        [0, magnitude @ ..] | magnitude => {
            if magnitude.iter().all(|b| *b == 0) {
                Err(Error::NonCanonicalValue)
            } else {
                Ok(magnitude)
            }
        }
    }
}

/// The octets of a BIT STRING value with no unused bits (keys and signatures).
///
/// # Errors
/// [`Error::NonCanonicalValue`] when the unused-bits octet is missing or not zero.
pub fn bit_string_bytes(value: &[u8]) -> Result<&[u8], Error> {
    match value.split_first() {
        Some((0, bytes)) => Ok(bytes),
        _ => Err(Error::NonCanonicalValue),
    }
}

/// Appends the DER length octets of `len` (X.690 8.1.3, shortest form).
pub fn push_len(out: &mut Vec<u8>, len: usize) {
    let bytes = len.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    let significant = bytes.get(skip..).unwrap_or_default();
    match significant {
        [] => out.push(0),
        [short] if *short < 0x80 => out.push(*short),
        _ => {
            // At most size_of::<usize>() octets, so the count fits the low seven bits.
            let count = u8::try_from(significant.len()).unwrap_or(0x7f);
            out.push(0x80 | count);
            out.extend_from_slice(significant);
        }
    }
}

/// Appends one element.
pub fn push_tlv(out: &mut Vec<u8>, tag: u8, value: &[u8]) {
    out.push(tag);
    push_len(out, value.len());
    out.extend_from_slice(value);
}

/// One element as a new vector.
pub fn tlv(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 6);
    push_tlv(&mut out, tag, value);
    out
}

/// An element whose value is the concatenation of `parts`.
pub fn tlv_parts(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    let len = parts.iter().map(|p| p.len()).sum();
    let mut out = Vec::with_capacity(len + 6);
    out.push(tag);
    push_len(&mut out, len);
    for part in parts {
        out.extend_from_slice(part);
    }
    out
}

/// A non-negative INTEGER element from big-endian magnitude octets, minimally encoded.
pub fn unsigned_integer(magnitude: &[u8]) -> Vec<u8> {
    let skip = magnitude.iter().take_while(|b| **b == 0).count();
    let trimmed = magnitude.get(skip..).unwrap_or_default();
    let mut value = Vec::with_capacity(trimmed.len() + 1);
    if trimmed.first().is_none_or(|b| b & 0x80 != 0) {
        value.push(0);
    }
    value.extend_from_slice(trimmed);
    tlv(tag::INTEGER, &value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_forms() {
        let h = Header::read(&[0x30, 0x05], 0).unwrap();
        assert_eq!((h.header_len(), h.value_len()), (2, 5));
        let h = Header::read(&[0x30, 0x81, 0x80], 0).unwrap();
        assert_eq!((h.header_len(), h.value_len()), (3, 0x80));
        let h = Header::read(&[0x30, 0x84, 0x01, 0x00, 0x00, 0x00], 0).unwrap();
        assert_eq!((h.header_len(), h.value_len()), (6, 1 << 24));
        assert_eq!(
            Header::read(&[0x30, 0x81, 0x7f], 3),
            Err(Error::NonMinimalLength { offset: 3 })
        );
        assert_eq!(
            Header::read(&[0x30, 0x82, 0x00, 0xff], 0),
            Err(Error::NonMinimalLength { offset: 0 })
        );
        assert_eq!(
            Header::read(&[0x30, 0x80], 0),
            Err(Error::IndefiniteLength { offset: 0 })
        );
        assert_eq!(
            Header::read(&[0x30, 0x85, 1, 0, 0, 0, 0], 0),
            Err(Error::LengthTooLong { offset: 0 })
        );
        assert_eq!(
            Header::read(&[0x1f, 0x01], 0),
            Err(Error::HighTagNumber { offset: 0 })
        );
        assert_eq!(
            Header::read(&[0x30, 0x82, 0x01], 0),
            Err(Error::Truncated { offset: 0 })
        );
        assert_eq!(
            Header::read(&[0x30], 0),
            Err(Error::Truncated { offset: 0 })
        );
    }

    #[test]
    fn reads_short_and_long_lengths() {
        let mut long = vec![0x04, 0x81, 0x80];
        long.extend([7u8; 0x80]);
        let mut r = Reader::new(&long);
        assert_eq!(r.read(tag::OCTET_STRING).unwrap().len(), 0x80);
        assert!(r.is_empty());
        assert_eq!(read_single(&[0x02, 0x01, 0x05], tag::INTEGER).unwrap(), [5]);
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
            &[0x30, 0x05, 1][..],                   // value cut short
        ] {
            assert!(Reader::new(bad).read_any().is_err(), "{bad:02x?}");
        }
    }

    #[test]
    fn read_single_rejects_trailing_bytes_and_other_tags() {
        assert_eq!(
            read_single(&[0x02, 0x01, 0x05, 0x00], tag::INTEGER),
            Err(Error::TrailingData { offset: 3 })
        );
        assert_eq!(
            read_single(&[0x02, 0x01, 0x05], tag::SEQUENCE),
            Err(Error::UnexpectedTag {
                offset: 0,
                expected: tag::SEQUENCE,
                found: Some(tag::INTEGER)
            })
        );
    }

    #[test]
    fn offsets_continue_into_nested_values() {
        let input = [0x30, 0x03, 0x04, 0x01, 0x07];
        let mut outer = Reader::new(&input);
        let sequence = outer.read_tlv(tag::SEQUENCE).unwrap();
        assert_eq!(sequence.encoded(), input);
        let mut inner = Reader::of(sequence);
        let octets = inner.read_tlv(tag::OCTET_STRING).unwrap();
        assert_eq!((octets.offset(), octets.value_offset()), (2, 4));
        assert_eq!(
            inner.read(tag::OCTET_STRING),
            Err(Error::UnexpectedTag {
                offset: 5,
                expected: tag::OCTET_STRING,
                found: None
            })
        );
    }

    #[test]
    fn booleans_and_integers_are_der_only() {
        assert!(boolean(&[0xff]).unwrap());
        assert!(!boolean(&[0x00]).unwrap());
        assert!(boolean(&[0x01]).is_err());
        assert_eq!(small_unsigned(&[0x05]).unwrap(), 5);
        assert_eq!(small_unsigned(&[0x00, 0xc8]).unwrap(), 200);
        assert!(small_unsigned(&[0x00, 0x05]).is_err());
        assert!(small_unsigned(&[0x80]).is_err());
        assert!(small_unsigned(&[0x01, 0x00]).is_err());
        assert_eq!(positive_integer(&[0x00, 0x80]), Ok(&[0x80][..]));
        assert_eq!(positive_integer(&[0x01, 0x00, 0x01]), Ok(&[1, 0, 1][..]));
        assert!(positive_integer(&[0x80]).is_err());
        assert!(positive_integer(&[0x00, 0x01]).is_err());
        assert!(positive_integer(&[0x00]).is_err());
        assert!(positive_integer(&[]).is_err());
        assert_eq!(bit_string_bytes(&[0, 1, 2]), Ok(&[1, 2][..]));
        assert!(bit_string_bytes(&[1, 2]).is_err());
        assert!(bit_string_bytes(&[]).is_err());
    }

    #[test]
    fn lengths_round_trip() {
        for len in [0usize, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x1_0000] {
            let value = vec![7u8; len];
            let encoded = tlv(tag::OCTET_STRING, &value);
            assert_eq!(
                read_single(&encoded, tag::OCTET_STRING).unwrap(),
                &value[..]
            );
        }
        assert_eq!(
            tlv_parts(tag::SEQUENCE, &[&[1], &[2, 3]]),
            [0x30, 3, 1, 2, 3]
        );
    }

    #[test]
    fn integers_are_written_minimal_and_positive() {
        assert_eq!(unsigned_integer(&[0, 0, 5]), [2, 1, 5]);
        assert_eq!(unsigned_integer(&[0x80]), [2, 2, 0, 0x80]);
        assert_eq!(unsigned_integer(&[]), [2, 1, 0]);
    }
}
