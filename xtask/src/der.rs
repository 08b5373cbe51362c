//! Just enough DER reading to describe certificates and PKCS#8 keys for `--check`.

use crate::Result;

/// One tag-length-value element.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tlv<'a> {
    pub(crate) tag: u8,
    pub(crate) value: &'a [u8],
}

/// Reads the first element of `input`, returning it and what follows. Single-byte tags and
/// definite lengths of up to four octets, which is all X.509 and PKCS#8 use.
pub(crate) fn read(input: &[u8]) -> Result<(Tlv<'_>, &[u8])> {
    let (&tag, rest) = input.split_first().ok_or("truncated DER: no tag")?;
    if tag & 0x1f == 0x1f {
        return Err("multi-byte DER tags are not supported".into());
    }
    let (&first, rest) = rest.split_first().ok_or("truncated DER: no length")?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 {
            return Err("unsupported DER length form".into());
        }
        let (octets, rest) = rest.split_at_checked(count).ok_or("truncated DER length")?;
        let len = octets
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, rest)
    };
    let (value, rest) = rest.split_at_checked(len).ok_or("truncated DER value")?;
    Ok((Tlv { tag, value }, rest))
}

/// Reads `input` as exactly one element.
pub(crate) fn read_whole(input: &[u8]) -> Result<Tlv<'_>> {
    let (tlv, rest) = read(input)?;
    if !rest.is_empty() {
        return Err("trailing bytes after DER element".into());
    }
    Ok(tlv)
}

/// The elements inside a constructed value.
pub(crate) fn children(mut value: &[u8]) -> Result<Vec<Tlv<'_>>> {
    let mut out = Vec::new();
    while !value.is_empty() {
        let (tlv, rest) = read(value)?;
        out.push(tlv);
        value = rest;
    }
    Ok(out)
}

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An OBJECT IDENTIFIER's content octets in dotted form.
pub(crate) fn oid(value: &[u8]) -> String {
    let mut arcs: Vec<u64> = Vec::new();
    let mut current = 0u64;
    for &byte in value {
        current = (current << 7) | u64::from(byte & 0x7f);
        if byte & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (current / 40).min(2);
                arcs.push(first);
                arcs.push(current - 40 * first);
            } else {
                arcs.push(current);
            }
            current = 0;
        }
    }
    arcs.iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}
