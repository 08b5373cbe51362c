//! The little DER this crate writes and reads: certificate fields and CSRs.
//!
//! This is encoding plumbing only (tag, length, value). Every signature is made and checked by
//! ring or aws-lc-rs.

/// DER tags used here.
pub(crate) mod tag {
    pub(crate) const BOOLEAN: u8 = 0x01;
    pub(crate) const INTEGER: u8 = 0x02;
    pub(crate) const BIT_STRING: u8 = 0x03;
    pub(crate) const OCTET_STRING: u8 = 0x04;
    pub(crate) const OID: u8 = 0x06;
    pub(crate) const UTF8_STRING: u8 = 0x0c;
    pub(crate) const PRINTABLE_STRING: u8 = 0x13;
    pub(crate) const UTC_TIME: u8 = 0x17;
    pub(crate) const GENERALIZED_TIME: u8 = 0x18;
    pub(crate) const SEQUENCE: u8 = 0x30;
    pub(crate) const SET: u8 = 0x31;
    /// `[0]` constructed (certificate version, CSR attributes).
    pub(crate) const CONTEXT_0: u8 = 0xa0;
    /// `[3]` constructed (certificate extensions).
    pub(crate) const CONTEXT_3: u8 = 0xa3;
    /// `[0]` primitive (AKI keyIdentifier).
    pub(crate) const IMPLICIT_0: u8 = 0x80;
    /// `[2]` primitive (GeneralName dNSName).
    pub(crate) const DNS_NAME: u8 = 0x82;
    /// `[6]` primitive (GeneralName uniformResourceIdentifier).
    pub(crate) const URI: u8 = 0x86;
}

/// Appends the DER length of `len` bytes.
pub(crate) fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(low_byte(len));
        return;
    }
    let bytes = len.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    let significant = bytes.get(skip..).unwrap_or_default();
    out.push(0x80 | low_byte(significant.len()));
    out.extend_from_slice(significant);
}

/// The low byte of `value` (lengths below 0x80 and byte counts, which fit).
fn low_byte(value: usize) -> u8 {
    value.to_le_bytes().first().copied().unwrap_or(0)
}

/// Appends one TLV.
pub(crate) fn push_tlv(out: &mut Vec<u8>, tag: u8, value: &[u8]) {
    out.push(tag);
    push_len(out, value.len());
    out.extend_from_slice(value);
}

/// One TLV as a new vector.
pub(crate) fn tlv(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 6);
    push_tlv(&mut out, tag, value);
    out
}

/// A TLV whose value is the concatenation of `parts`.
pub(crate) fn tlv_parts(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    let len = parts.iter().map(|p| p.len()).sum();
    let mut out = Vec::with_capacity(len + 6);
    out.push(tag);
    push_len(&mut out, len);
    for part in parts {
        out.extend_from_slice(part);
    }
    out
}

/// A non-negative INTEGER from big-endian magnitude bytes, minimally encoded.
pub(crate) fn unsigned_integer(magnitude: &[u8]) -> Vec<u8> {
    let skip = magnitude.iter().take_while(|b| **b == 0).count();
    let trimmed = magnitude.get(skip..).unwrap_or_default();
    let mut value = Vec::with_capacity(trimmed.len() + 1);
    if trimmed.first().is_none_or(|b| b & 0x80 != 0) {
        value.push(0);
    }
    value.extend_from_slice(trimmed);
    tlv(tag::INTEGER, &value)
}

/// Why DER could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Malformed;

/// A forward-only reader over DER.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Reader<'a> {
    input: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(input: &'a [u8]) -> Self {
        Self { input }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.input.is_empty()
    }

    /// Reads any TLV: its tag, value, and the whole encoding.
    pub(crate) fn read_any(&mut self) -> Result<(u8, &'a [u8], &'a [u8]), Malformed> {
        let start = self.input;
        let (&tag, rest) = start.split_first().ok_or(Malformed)?;
        let (&first, mut rest) = rest.split_first().ok_or(Malformed)?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let count = usize::from(first & 0x7f);
            if count == 0 || count > 4 {
                return Err(Malformed);
            }
            let (bytes, after) = rest.split_at_checked(count).ok_or(Malformed)?;
            rest = after;
            let len = bytes
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
            // Minimal length encoding only.
            if len < 0x80 || bytes.first() == Some(&0) {
                return Err(Malformed);
            }
            len
        };
        let (value, after) = rest.split_at_checked(len).ok_or(Malformed)?;
        let whole_len = start.len() - after.len();
        let whole = start.get(..whole_len).ok_or(Malformed)?;
        self.input = after;
        Ok((tag, value, whole))
    }

    /// Reads a TLV with `expected` tag and returns its value.
    pub(crate) fn read(&mut self, expected: u8) -> Result<&'a [u8], Malformed> {
        self.read_whole(expected).map(|(value, _)| value)
    }

    /// Reads a TLV with `expected` tag and returns its value and whole encoding.
    pub(crate) fn read_whole(&mut self, expected: u8) -> Result<(&'a [u8], &'a [u8]), Malformed> {
        let (tag, value, whole) = self.read_any()?;
        if tag != expected {
            return Err(Malformed);
        }
        Ok((value, whole))
    }

    /// Reads a TLV with `expected` tag only if the next tag is that.
    pub(crate) fn read_optional(&mut self, expected: u8) -> Result<Option<&'a [u8]>, Malformed> {
        if self.input.first() == Some(&expected) {
            self.read(expected).map(Some)
        } else {
            Ok(None)
        }
    }
}

/// The value of the single TLV that makes up all of `input`.
pub(crate) fn read_single(input: &[u8], expected: u8) -> Result<&[u8], Malformed> {
    let mut reader = Reader::new(input);
    let value = reader.read(expected)?;
    if !reader.is_empty() {
        return Err(Malformed);
    }
    Ok(value)
}

/// The contents of a BIT STRING with no unused bits.
pub(crate) fn bit_string_bytes(value: &[u8]) -> Result<&[u8], Malformed> {
    match value.split_first() {
        Some((0, bytes)) => Ok(bytes),
        _ => Err(Malformed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }

    #[test]
    fn integers_are_minimal_and_positive() {
        assert_eq!(unsigned_integer(&[0, 0, 5]), [2, 1, 5]);
        assert_eq!(unsigned_integer(&[0x80]), [2, 2, 0, 0x80]);
        assert_eq!(unsigned_integer(&[]), [2, 1, 0]);
    }

    #[test]
    fn rejects_truncated_and_non_minimal() {
        assert!(Reader::new(&[0x30, 0x05, 1]).read_any().is_err());
        assert!(
            Reader::new(&[0x30, 0x81, 0x05, 1, 2, 3, 4, 5])
                .read_any()
                .is_err()
        );
    }
}
