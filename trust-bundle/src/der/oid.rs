//! The object identifiers the spiffekit crates read and write, as DER content octets (what
//! follows the tag and length of an OBJECT IDENTIFIER), defined once from the RustCrypto
//! `const-oid` database so that no crate spells the octets by hand.
//!
//! Each constant is a `&[u8]` so it can be matched directly against a read value. [`dotted`]
//! shows any content octets, well-formed or not, in dotted form; [`ObjectIdentifier`] gives the
//! arcs of a well-formed one:
//!
//! ```
//! use trust_bundle::der::oid::{self, ObjectIdentifier};
//!
//! assert_eq!(oid::dotted(oid::SUBJECT_ALT_NAME).to_string(), "2.5.29.17");
//! let san = <ObjectIdentifier>::from_bytes(oid::SUBJECT_ALT_NAME).unwrap();
//! assert_eq!(san.arcs().collect::<Vec<_>>(), [2, 5, 29, 17]);
//! ```

use core::fmt;

use const_oid::db::{rfc4519, rfc5280, rfc5912, rfc8410};

pub use const_oid::ObjectIdentifier;

/// `2.5.29.14` subjectKeyIdentifier (RFC 5280 4.2.1.2).
pub const SUBJECT_KEY_ID: &[u8] = rfc5280::ID_CE_SUBJECT_KEY_IDENTIFIER.as_bytes();
/// `2.5.29.15` keyUsage (RFC 5280 4.2.1.3).
pub const KEY_USAGE: &[u8] = rfc5280::ID_CE_KEY_USAGE.as_bytes();
/// `2.5.29.17` subjectAltName (RFC 5280 4.2.1.6).
pub const SUBJECT_ALT_NAME: &[u8] = rfc5280::ID_CE_SUBJECT_ALT_NAME.as_bytes();
/// `2.5.29.19` basicConstraints (RFC 5280 4.2.1.9).
pub const BASIC_CONSTRAINTS: &[u8] = rfc5280::ID_CE_BASIC_CONSTRAINTS.as_bytes();
/// `2.5.29.30` nameConstraints (RFC 5280 4.2.1.10).
pub const NAME_CONSTRAINTS: &[u8] = rfc5280::ID_CE_NAME_CONSTRAINTS.as_bytes();
/// `2.5.29.31` cRLDistributionPoints (RFC 5280 4.2.1.13).
pub const CRL_DISTRIBUTION_POINTS: &[u8] = rfc5280::ID_CE_CRL_DISTRIBUTION_POINTS.as_bytes();
/// `2.5.29.35` authorityKeyIdentifier (RFC 5280 4.2.1.1).
pub const AUTHORITY_KEY_ID: &[u8] = rfc5280::ID_CE_AUTHORITY_KEY_IDENTIFIER.as_bytes();
/// `2.5.29.37` extKeyUsage (RFC 5280 4.2.1.12).
pub const EXT_KEY_USAGE: &[u8] = rfc5280::ID_CE_EXT_KEY_USAGE.as_bytes();
/// `2.5.29.37.0` anyExtendedKeyUsage (RFC 5280 4.2.1.12).
pub const ANY_EXT_KEY_USAGE: &[u8] = rfc5280::ANY_EXTENDED_KEY_USAGE.as_bytes();
/// `1.3.6.1.5.5.7.3.1` id-kp-serverAuth (RFC 5280 4.2.1.12).
pub const KP_SERVER_AUTH: &[u8] = rfc5280::ID_KP_SERVER_AUTH.as_bytes();
/// `1.3.6.1.5.5.7.3.2` id-kp-clientAuth (RFC 5280 4.2.1.12).
pub const KP_CLIENT_AUTH: &[u8] = rfc5280::ID_KP_CLIENT_AUTH.as_bytes();

/// `2.5.4.3` commonName (RFC 4519 2.3).
pub const COMMON_NAME: &[u8] = rfc4519::CN.as_bytes();
/// `2.5.4.5` serialNumber (RFC 4519 2.31).
pub const SERIAL_NUMBER: &[u8] = rfc4519::SERIAL_NUMBER.as_bytes();
/// `2.5.4.10` organizationName (RFC 4519 2.19).
pub const ORGANIZATION: &[u8] = rfc4519::O.as_bytes();
/// `2.5.4.11` organizationalUnitName (RFC 4519 2.20).
pub const ORGANIZATIONAL_UNIT: &[u8] = rfc4519::OU.as_bytes();

/// `1.2.840.10045.2.1` id-ecPublicKey (RFC 5480 2.1.1).
pub const EC_PUBLIC_KEY: &[u8] = rfc5912::ID_EC_PUBLIC_KEY.as_bytes();
/// `1.2.840.10045.3.1.7` secp256r1, NIST P-256 (RFC 5480 2.1.1.1).
pub const SECP256R1: &[u8] = rfc5912::SECP_256_R_1.as_bytes();
/// `1.3.132.0.34` secp384r1, NIST P-384 (RFC 5480 2.1.1.1).
pub const SECP384R1: &[u8] = rfc5912::SECP_384_R_1.as_bytes();
/// `1.3.132.0.35` secp521r1, NIST P-521 (RFC 5480 2.1.1.1).
pub const SECP521R1: &[u8] = rfc5912::SECP_521_R_1.as_bytes();
/// `1.2.840.113549.1.1.1` rsaEncryption (RFC 3279 2.3.1).
pub const RSA_ENCRYPTION: &[u8] = rfc5912::RSA_ENCRYPTION.as_bytes();
/// `1.3.101.112` id-Ed25519 (RFC 8410 3).
pub const ED25519: &[u8] = rfc8410::ID_ED_25519.as_bytes();

/// Shows OBJECT IDENTIFIER content octets in dotted form; see [`dotted`].
#[derive(Clone, Copy, Debug)]
pub struct Dotted<'a>(&'a [u8]);

/// `content` (the octets after an OBJECT IDENTIFIER's tag and length) in dotted form, for
/// messages. It may come from an untrusted certificate, so anything is shown: an arc too large
/// for `u64`, or a truncated last arc, prints as `?`.
pub fn dotted(content: &[u8]) -> Dotted<'_> {
    Dotted(content)
}

impl fmt::Display for Dotted<'_> {
    /// Base-128 arcs (X.690 8.19); the first octet group holds the first two arcs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut arc: u64 = 0;
        let mut first = true;
        let mut overflow = false;
        for &byte in self.0 {
            overflow |= arc > (u64::MAX >> 7);
            arc = (arc << 7) | u64::from(byte & 0x7f);
            if byte & 0x80 != 0 {
                continue;
            }
            if overflow {
                f.write_str(if first { "?" } else { ".?" })?;
            } else if first {
                let (a, b) = match arc {
                    0..40 => (0, arc),
                    40..80 => (1, arc - 40),
                    _ => (2, arc - 80),
                };
                write!(f, "{a}.{b}")?;
            } else {
                write!(f, ".{arc}")?;
            }
            first = false;
            arc = 0;
            overflow = false;
        }
        if first || self.0.last().is_some_and(|b| b & 0x80 != 0) {
            f.write_str(if first { "?" } else { ".?" })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The octets are the ones the crates spelled by hand before.
    #[test]
    fn octets_match_the_registered_encodings() {
        assert_eq!(SUBJECT_ALT_NAME, [0x55, 0x1d, 0x11]);
        assert_eq!(ANY_EXT_KEY_USAGE, [0x55, 0x1d, 0x25, 0x00]);
        assert_eq!(
            KP_CLIENT_AUTH,
            [0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x02]
        );
        assert_eq!(ORGANIZATIONAL_UNIT, [0x55, 0x04, 0x0b]);
        assert_eq!(SECP256R1, [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07]);
        assert_eq!(SECP521R1, [0x2b, 0x81, 0x04, 0x00, 0x23]);
        assert_eq!(
            RSA_ENCRYPTION,
            [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01]
        );
        assert_eq!(ED25519, [0x2b, 0x65, 0x70]);
    }
}
