//! The one ECDSA signature re-encoder, both ways: JWS carries ECDSA signatures as fixed-width
//! `r || s` (RFC 7518 3.4), while signature verification algorithms, rustls signers and X.509
//! use the DER `ECDSA-Sig-Value` (RFC 3279 2.2.3). Validation goes JWS -> DER
//! ([`jws_to_der`]); JWT-SVID signing (the `ca` crate, through
//! [`JwtAlgorithm::jws_signature`](crate::JwtAlgorithm::jws_signature)) goes DER -> JWS
//! ([`der_to_fixed`]).

use std::borrow::Cow;

use crate::der::{self, Reader, tag};
use crate::error::JwtError;
use crate::jwt::{JwtAlgorithm, UnverifiedJwtSvid};

/// ASN.1 `ECDSA-Sig-Value` to the JOSE `r || s` form, each `width` bytes (RFC 7518 3.4).
pub(crate) fn der_to_fixed(signature: &[u8], width: usize) -> Result<Vec<u8>, JwtError> {
    let malformed = |_| JwtError::BadSignatureEncoding;
    let mut seq = Reader::new(der::read_single(signature, tag::SEQUENCE).map_err(malformed)?);
    let mut out = vec![0; width * 2];
    for half in 0..2 {
        let int = seq.read(tag::INTEGER).map_err(malformed)?;
        let skip = int.iter().take_while(|b| **b == 0).count();
        let magnitude = int.get(skip..).unwrap_or_default();
        if magnitude.len() > width {
            return Err(JwtError::BadSignatureEncoding);
        }
        let end = width * (half + 1);
        let start = end - magnitude.len();
        out.get_mut(start..end)
            .ok_or(JwtError::BadSignatureEncoding)?
            .copy_from_slice(magnitude);
    }
    seq.finish().map_err(malformed)?;
    Ok(out)
}

/// JWS ECDSA signatures are fixed-width `r || s` (RFC 7518 3.4); the verification algorithms
/// take the DER `ECDSA-Sig-Value` TLS uses, so re-encode. RSA signatures pass through.
pub(crate) fn jws_to_der(token: &UnverifiedJwtSvid) -> Result<Cow<'_, [u8]>, JwtError> {
    let Some(scalar_len) = token.algorithm.ecdsa_scalar_len() else {
        return Ok(Cow::Borrowed(&token.signature));
    };
    token.check_signature_len()?;
    let (r, s) = token
        .signature
        .split_at_checked(scalar_len)
        .ok_or(JwtError::BadSignatureEncoding)?;
    let (r, s) = (Magnitude::of(r), Magnitude::of(s));
    let body_len = r.der_len() + s.der_len();
    let mut out = Vec::with_capacity(body_len + 4);
    out.push(0x30);
    push_der_len(&mut out, body_len);
    r.push_der(&mut out);
    s.push_der(&mut out);
    Ok(Cow::Owned(out))
}

/// An unsigned big-endian scalar without its leading zeros, and whether DER needs one zero back
/// (top bit set, or the value is zero).
struct Magnitude<'a> {
    bytes: &'a [u8],
    pad: bool,
}

impl<'a> Magnitude<'a> {
    fn of(bytes: &'a [u8]) -> Self {
        let start = bytes
            .iter()
            .position(|&b| b != 0)
            .unwrap_or_else(|| bytes.len().saturating_sub(1));
        let bytes = bytes.get(start..).unwrap_or_default();
        let pad = bytes.first().is_none_or(|&b| b & 0x80 != 0);
        Self { bytes, pad }
    }

    fn content_len(&self) -> usize {
        self.bytes.len() + usize::from(self.pad)
    }

    /// The whole INTEGER: tag, length (at most 0x81 nn here) and content.
    fn der_len(&self) -> usize {
        let len = self.content_len();
        len + if len < 0x80 { 2 } else { 3 }
    }

    fn push_der(&self, out: &mut Vec<u8>) {
        out.push(0x02);
        push_der_len(out, self.content_len());
        if self.pad {
            out.push(0);
        }
        out.extend_from_slice(self.bytes);
    }
}

/// A DER INTEGER for an unsigned big-endian scalar: leading zeros stripped, one zero added back
/// when the top bit is set.
// `jws_signature` lives here, not beside `JwtAlgorithm`: it returns a `JwtError` and uses
// `der_to_fixed`, and `jwt_algorithm` sits below both the error module and `jwt`.
impl JwtAlgorithm {
    /// A signature in the form signers give (ECDSA: DER `ECDSA-Sig-Value`, as rustls signers,
    /// X.509 and cloud KMSs produce it) in the form a JWS carries: fixed-width `r || s` for
    /// `ES*` (RFC 7518 3.4); RSA signatures pass through. For issuers signing JWT-SVIDs.
    ///
    /// # Errors
    /// [`JwtError::BadSignatureEncoding`](JwtError::BadSignatureEncoding) when an ECDSA signature is not DER or a scalar is too
    /// long for the curve.
    pub fn jws_signature(self, signature: Vec<u8>) -> Result<Vec<u8>, JwtError> {
        match self.ecdsa_scalar_len() {
            Some(width) => der_to_fixed(&signature, width),
            None => Ok(signature),
        }
    }
}

#[cfg(test)]
fn der_integer(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    Magnitude::of(bytes).push_der(&mut out);
    out
}

fn push_der_len(out: &mut Vec<u8>, len: usize) {
    // ECDSA values here are at most 2 * 67 bytes plus headers, below 256.
    match u8::try_from(len) {
        Ok(short) if short < 0x80 => out.push(short),
        Ok(long) => out.extend_from_slice(&[0x81, long]),
        Err(_) => {
            let [hi, lo] = u16::try_from(len).unwrap_or(u16::MAX).to_be_bytes();
            out.extend_from_slice(&[0x82, hi, lo]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_integers_are_minimal() {
        assert_eq!(der_integer(&[0, 0, 1]), [0x02, 0x01, 0x01]);
        assert_eq!(der_integer(&[0x80, 0]), [0x02, 0x03, 0x00, 0x80, 0x00]);
        assert_eq!(der_integer(&[0, 0]), [0x02, 0x01, 0x00]);
        assert_eq!(der_integer(&[0x7f]), [0x02, 0x01, 0x7f]);
    }

    #[test]
    fn der_to_fixed_pads_and_strips() {
        // r = 0x00ff (positive with a leading zero), s = 0x01
        let der = [0x30, 0x07, 0x02, 0x02, 0x00, 0xff, 0x02, 0x01, 0x01];
        let fixed = der_to_fixed(&der, 4).unwrap();
        assert_eq!(fixed, [0, 0, 0, 0xff, 0, 0, 0, 1]);
        assert!(der_to_fixed(&der, 0).is_err());
        // Trailing bytes after `s` are refused.
        let trailing = [0x30, 0x08, 0x02, 0x02, 0x00, 0xff, 0x02, 0x01, 0x01, 0x00];
        assert!(der_to_fixed(&trailing, 4).is_err());
    }
}
