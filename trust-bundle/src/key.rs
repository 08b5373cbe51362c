//! Public keys, decoded once when a bundle is parsed: [`JwtKey`] for JWT authorities, and the
//! crate-private [`AuthorityKey`] naming the key of an X.509 authority for its JWK form.

use crate::{EcCurve, KeyError, MAX_RSA_MODULUS_BITS, MIN_RSA_MODULUS_BITS};

/// An EC public key: a curve and the SEC 1 uncompressed point `04 || X || Y`, the form ring's
/// and aws-lc-rs's `UnparsedPublicKey` take for ECDSA.
///
/// Only the encoding is checked; whether the point is on the curve is left to the crypto
/// backend that verifies with it.
///
/// ```
/// use trust_bundle::{EcCurve, EcPublicKey};
///
/// let key = EcPublicKey::from_coordinates(EcCurve::P256, &[1; 32], &[2; 32])?;
/// assert_eq!(key.sec1_uncompressed().len(), 65);
/// assert_eq!(key.sec1_uncompressed()[0], 0x04);
/// assert_eq!(key.x(), &[1; 32]);
///
/// // A coordinate of the wrong length is refused, never padded or truncated.
/// assert!(EcPublicKey::from_coordinates(EcCurve::P256, &[1; 31], &[2; 32]).is_err());
/// # Ok::<(), trust_bundle::KeyError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EcPublicKey {
    curve: EcCurve,
    /// `04 || X || Y`, each coordinate exactly `curve.coordinate_len()` bytes.
    point: Box<[u8]>,
}

impl EcPublicKey {
    /// Takes a SEC 1 uncompressed point, `04 || X || Y`.
    ///
    /// # Errors
    /// [`KeyError::BadPoint`] if the point is compressed, or its length is not
    /// `1 + 2 * curve.coordinate_len()`.
    pub fn from_sec1(curve: EcCurve, point: &[u8]) -> Result<Self, KeyError> {
        let expected = curve
            .coordinate_len()
            .checked_mul(2)
            .and_then(|len| len.checked_add(1));
        if point.first() != Some(&0x04) || Some(point.len()) != expected {
            return Err(KeyError::BadPoint { curve });
        }
        Ok(Self {
            curve,
            point: point.into(),
        })
    }

    /// Takes the affine coordinates, big-endian, each exactly `curve.coordinate_len()` bytes
    /// (the JWK `x` and `y` members, RFC 7518 6.2.1.2).
    ///
    /// # Errors
    /// [`KeyError::BadCoordinateLength`] naming the coordinate of the wrong length.
    pub fn from_coordinates(curve: EcCurve, x: &[u8], y: &[u8]) -> Result<Self, KeyError> {
        let expected = curve.coordinate_len();
        for (member, value) in [("x", x), ("y", y)] {
            if value.len() != expected {
                return Err(KeyError::BadCoordinateLength {
                    member,
                    curve,
                    expected,
                    found: value.len(),
                });
            }
        }
        let mut point = Vec::with_capacity(1 + 2 * expected);
        point.push(0x04);
        point.extend_from_slice(x);
        point.extend_from_slice(y);
        Ok(Self {
            curve,
            point: point.into(),
        })
    }

    /// The curve.
    pub fn curve(&self) -> EcCurve {
        self.curve
    }

    /// The SEC 1 uncompressed point `04 || X || Y`.
    pub fn sec1_uncompressed(&self) -> &[u8] {
        &self.point
    }

    /// The X coordinate, big-endian, `curve().coordinate_len()` bytes.
    pub fn x(&self) -> &[u8] {
        let len = self.curve.coordinate_len();
        self.point.get(1..=len).unwrap_or_default()
    }

    /// The Y coordinate, big-endian, `curve().coordinate_len()` bytes.
    pub fn y(&self) -> &[u8] {
        let len = self.curve.coordinate_len();
        self.point.get(1 + len..).unwrap_or_default()
    }
}

/// An RSA public key for JWT-SVIDs (`RS*` and `PS*`): big-endian modulus and exponent with
/// leading zero bytes stripped, the form of ring's and aws-lc-rs's `RsaPublicKeyComponents`.
///
/// The modulus has from [`MIN_RSA_MODULUS_BITS`] to [`MAX_RSA_MODULUS_BITS`] bits and the
/// exponent is odd and from 3 to 2^33-1; other keys are refused when the bundle is parsed, so a
/// verifier never meets them.
///
/// ```
/// use trust_bundle::{KeyError, RsaPublicKey};
///
/// let mut n = vec![0x00, 0x00]; // leading zeros are stripped
/// n.extend_from_slice(&[0xc5; 256]);
/// let key = RsaPublicKey::from_components(&n, &[0x01, 0x00, 0x01])?;
/// assert_eq!(key.modulus_bits(), 2048);
/// assert_eq!(key.modulus().len(), 256);
/// assert_eq!(key.exponent(), &[0x01, 0x00, 0x01]);
///
/// let small = RsaPublicKey::from_components(&[0xc5; 128], &[0x01, 0x00, 0x01]);
/// assert_eq!(small, Err(KeyError::RsaModulusTooSmall { bits: 1024 }));
/// # Ok::<(), KeyError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RsaPublicKey {
    modulus: Box<[u8]>,
    exponent: Box<[u8]>,
    /// The DER `RSAPublicKey` (RFC 8017 A.1.1), built once: the form signature verification
    /// algorithms take as the public key.
    pkcs1_der: Box<[u8]>,
}

impl RsaPublicKey {
    /// Takes the big-endian modulus `n` and public exponent `e`; leading zero bytes are
    /// stripped from both.
    ///
    /// # Errors
    /// [`KeyError::RsaModulusTooSmall`], [`KeyError::RsaModulusTooLarge`] or
    /// [`KeyError::BadRsaExponent`].
    pub fn from_components(modulus: &[u8], exponent: &[u8]) -> Result<Self, KeyError> {
        let modulus = strip_leading_zeros(modulus);
        if modulus.len() > MAX_RSA_MODULUS_BITS / 8 {
            return Err(KeyError::RsaModulusTooLarge);
        }
        let bits = bit_len(modulus);
        if bits < MIN_RSA_MODULUS_BITS {
            return Err(KeyError::RsaModulusTooSmall { bits });
        }
        let exponent = strip_leading_zeros(exponent);
        if !is_usable_exponent(exponent) {
            return Err(KeyError::BadRsaExponent);
        }
        Ok(Self {
            modulus: modulus.into(),
            exponent: exponent.into(),
            pkcs1_der: rsa_public_key_der(modulus, exponent).into(),
        })
    }

    /// The modulus `n`, big-endian, no leading zero byte.
    pub fn modulus(&self) -> &[u8] {
        &self.modulus
    }

    /// The public exponent `e`, big-endian, no leading zero byte.
    pub fn exponent(&self) -> &[u8] {
        &self.exponent
    }

    /// The size of the modulus in bits.
    pub fn modulus_bits(&self) -> usize {
        bit_len(&self.modulus)
    }

    /// The key as a DER `RSAPublicKey` (RFC 8017 A.1.1), the `subjectPublicKey` form that
    /// `rustls_pki_types::SignatureVerificationAlgorithm` implementations take. Built once when
    /// the key is constructed, never per verification.
    pub fn pkcs1_der(&self) -> &[u8] {
        &self.pkcs1_der
    }
}

/// `SEQUENCE { INTEGER n, INTEGER e }` for unsigned big-endian `n` and `e` without leading zeros.
fn rsa_public_key_der(modulus: &[u8], exponent: &[u8]) -> Vec<u8> {
    let n = der_unsigned_integer(modulus);
    let e = der_unsigned_integer(exponent);
    let mut out = Vec::with_capacity(n.len() + e.len() + 4);
    out.push(0x30);
    push_der_length(&mut out, n.len() + e.len());
    out.extend_from_slice(&n);
    out.extend_from_slice(&e);
    out
}

/// An INTEGER TLV for an unsigned magnitude with no leading zero byte: a zero byte is prepended
/// when the top bit is set, so the value stays positive.
fn der_unsigned_integer(magnitude: &[u8]) -> Vec<u8> {
    let pad = magnitude.first().is_none_or(|&b| b & 0x80 != 0);
    let len = magnitude.len() + usize::from(pad);
    let mut out = Vec::with_capacity(len + 4);
    out.push(0x02);
    push_der_length(&mut out, len);
    if pad {
        out.push(0);
    }
    out.extend_from_slice(magnitude);
    out
}

/// Minimal DER length octets. Moduli are capped at 16384 bits, so two length bytes suffice.
fn push_der_length(out: &mut Vec<u8>, len: usize) {
    let bytes = len.to_be_bytes();
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    let significant = bytes.get(first..).unwrap_or_default();
    match significant {
        [] => out.push(0),
        [short] if *short < 0x80 => out.push(*short),
        _ => {
            out.push(0x80 | u8::try_from(significant.len()).unwrap_or(0x7f));
            out.extend_from_slice(significant);
        }
    }
}

/// A public key of a JWT authority, decoded once when the bundle is parsed into the form the
/// crypto backends take.
///
/// Only keys usable for a JWT-SVID `alg` exist here: EC on P-256/P-384/P-521 and RSA of at least
/// 2048 bits (JWT-SVID 2.1). `OKP` (Ed25519), `oct` and other curves are ignored when a bundle is
/// parsed (digest 4.4 step 4).
///
/// ```
/// use trust_bundle::{EcCurve, EcPublicKey, JwtKey};
///
/// let key = JwtKey::Ec(EcPublicKey::from_coordinates(EcCurve::P384, &[1; 48], &[2; 48])?);
/// assert_eq!(key.kty(), "EC");
/// assert_eq!(key.as_ec().map(EcPublicKey::curve), Some(EcCurve::P384));
/// assert!(key.as_rsa().is_none());
/// # Ok::<(), trust_bundle::KeyError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum JwtKey {
    /// An EC key (`kty` `EC`), for `ES256`/`ES384`/`ES512` by curve.
    Ec(EcPublicKey),
    /// An RSA key (`kty` `RSA`), for `RS*` and `PS*`.
    Rsa(RsaPublicKey),
}

impl JwtKey {
    /// The JWK `kty` of this key.
    pub fn kty(&self) -> &'static str {
        match self {
            Self::Ec(_) => "EC",
            Self::Rsa(_) => "RSA",
        }
    }

    /// The EC key, if this is one.
    pub fn as_ec(&self) -> Option<&EcPublicKey> {
        match self {
            Self::Ec(key) => Some(key),
            Self::Rsa(_) => None,
        }
    }

    /// The RSA key, if this is one.
    pub fn as_rsa(&self) -> Option<&RsaPublicKey> {
        match self {
            Self::Rsa(key) => Some(key),
            Self::Ec(_) => None,
        }
    }

    /// The JWK members that carry this key.
    pub(crate) fn params(&self) -> JwkParams<'_> {
        match self {
            Self::Ec(key) => JwkParams::Ec(key),
            Self::Rsa(key) => JwkParams::Rsa {
                n: key.modulus(),
                e: key.exponent(),
            },
        }
    }
}

impl From<EcPublicKey> for JwtKey {
    fn from(key: EcPublicKey) -> Self {
        Self::Ec(key)
    }
}

impl From<RsaPublicKey> for JwtKey {
    fn from(key: RsaPublicKey) -> Self {
        Self::Rsa(key)
    }
}

/// The subject public key of an X.509 authority, kept to write and check its JWK members.
///
/// RSA keys are not held to the JWT size policy here: whether a CA key is strong enough is
/// decided by the X.509 verifier, and the certificate size limit bounds them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum AuthorityKey {
    Ec(EcPublicKey),
    Rsa { n: Box<[u8]>, e: Box<[u8]> },
    Ed25519(Box<[u8]>),
}

impl AuthorityKey {
    /// The JWK members that carry this key.
    pub(crate) fn params(&self) -> JwkParams<'_> {
        match self {
            Self::Ec(key) => JwkParams::Ec(key),
            Self::Rsa { n, e } => JwkParams::Rsa { n, e },
            Self::Ed25519(x) => JwkParams::Ed25519 { x },
        }
    }
}

/// A key as JWK members (RFC 7518 6, RFC 8037 2).
#[derive(Clone, Copy, Debug)]
pub(crate) enum JwkParams<'a> {
    Ec(&'a EcPublicKey),
    Rsa { n: &'a [u8], e: &'a [u8] },
    Ed25519 { x: &'a [u8] },
}

impl JwkParams<'_> {
    /// The JWK `kty`.
    pub(crate) fn kty(&self) -> &'static str {
        match self {
            Self::Ec(_) => "EC",
            Self::Rsa { .. } => "RSA",
            Self::Ed25519 { .. } => "OKP",
        }
    }

    /// The `crv` member, for the key types that have one.
    pub(crate) fn crv(&self) -> Option<&'static str> {
        match self {
            Self::Ec(key) => Some(key.curve().jwk_name()),
            Self::Rsa { .. } => None,
            Self::Ed25519 { .. } => Some("Ed25519"),
        }
    }

    /// The binary members in the order they are written.
    pub(crate) fn binary_members(&self) -> Vec<(&'static str, &[u8])> {
        match self {
            Self::Ec(key) => vec![("x", key.x()), ("y", key.y())],
            Self::Rsa { n, e } => vec![("n", n), ("e", e)],
            Self::Ed25519 { x } => vec![("x", x)],
        }
    }
}

/// `bytes` without its leading zero bytes.
pub(crate) fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    bytes.get(start..).unwrap_or_default()
}

/// The number of significant bits of a big-endian integer without leading zero bytes.
fn bit_len(bytes: &[u8]) -> usize {
    let Some((&first, rest)) = bytes.split_first() else {
        return 0;
    };
    let mut top = 0;
    let mut byte = first;
    while byte != 0 {
        top += 1;
        byte >>= 1;
    }
    rest.len().saturating_mul(8).saturating_add(top)
}

/// Whether a big-endian exponent without leading zeros is odd and in `3..=2^33-1`, the range
/// ring accepts (`ring::rsa::PublicKeyComponents`; aws-lc-rs is not narrower).
fn is_usable_exponent(exponent: &[u8]) -> bool {
    if exponent.len() > 5 {
        return false;
    }
    let value = exponent
        .iter()
        .fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    value >= 3 && value & 1 == 1 && value < (1 << 33)
}

#[cfg(test)]
mod tests {
    #[test]
    fn rsa_public_key_der_matches_openssl_encoding() {
        // A 2048-bit modulus with the top bit set needs a zero pad; e = 65537.
        let key = RsaPublicKey::from_components(&[0xc5; 256], &[0x01, 0x00, 0x01]).unwrap();
        let der = key.pkcs1_der();
        assert_eq!(&der[..4], &[0x30, 0x82, 0x01, 0x0a]); // 266 = 4 + 257 + 5
        assert_eq!(&der[4..8], &[0x02, 0x82, 0x01, 0x01]);
        assert_eq!(der[8], 0x00);
        assert_eq!(&der[der.len() - 5..], &[0x02, 0x03, 0x01, 0x00, 0x01]);
        assert_eq!(der.len(), 4 + 4 + 257 + 5);
    }

    use super::*;

    #[test]
    fn bit_len_counts_significant_bits() {
        assert_eq!(bit_len(&[]), 0);
        assert_eq!(bit_len(&[1]), 1);
        assert_eq!(bit_len(&[0x80, 0]), 16);
        assert_eq!(bit_len(&[0x7f, 0, 0]), 23);
    }

    #[test]
    fn exponent_range_matches_ring() {
        assert!(is_usable_exponent(&[3]));
        assert!(is_usable_exponent(&[1, 0, 1]));
        assert!(is_usable_exponent(&[1, 0xff, 0xff, 0xff, 0xff]));
        assert!(!is_usable_exponent(&[2, 0, 0, 0, 1]));
        assert!(!is_usable_exponent(&[1]));
        assert!(!is_usable_exponent(&[]));
        assert!(!is_usable_exponent(&[4]));
        assert!(!is_usable_exponent(&[1, 0, 0, 0, 0, 1]));
    }

    #[test]
    fn rsa_limits_are_inclusive() {
        let e = [1, 0, 1];
        let max = vec![0xff; MAX_RSA_MODULUS_BITS / 8];
        assert_eq!(
            RsaPublicKey::from_components(&max, &e).map(|k| k.modulus_bits()),
            Ok(MAX_RSA_MODULUS_BITS)
        );
        let mut over = max;
        over.push(0xff);
        assert_eq!(
            RsaPublicKey::from_components(&over, &e),
            Err(KeyError::RsaModulusTooLarge)
        );
        let mut under = vec![0x7f];
        under.extend_from_slice(&[0xff; 255]);
        assert_eq!(
            RsaPublicKey::from_components(&under, &e),
            Err(KeyError::RsaModulusTooSmall { bits: 2047 })
        );
    }

    #[test]
    fn sec1_point_must_be_uncompressed_and_exact() {
        let mut point = vec![0x04];
        point.extend_from_slice(&[7; 132]);
        let key = EcPublicKey::from_sec1(EcCurve::P521, &point).unwrap();
        assert_eq!(key.x(), &[7; 66]);
        assert_eq!(key.y(), &[7; 66]);
        point[0] = 0x02;
        assert_eq!(
            EcPublicKey::from_sec1(EcCurve::P521, &point),
            Err(KeyError::BadPoint {
                curve: EcCurve::P521
            })
        );
        assert!(EcPublicKey::from_sec1(EcCurve::P256, &[0x04; 64]).is_err());
    }
}
