//! [`EcCurve`]: the elliptic curves of JWT authorities. Its own module so that the key types
//! and [`KeyError`](crate::KeyError) can both name it without importing each other.

use std::fmt;

/// An elliptic curve usable for JWT-SVIDs: the curves of `ES256`, `ES384` and `ES512`
/// (JWT-SVID 2.1; RFC 7518 3.4).
///
/// ```
/// use trust_bundle::EcCurve;
///
/// assert_eq!(EcCurve::from_jwk_name("P-521"), Some(EcCurve::P521));
/// assert_eq!(EcCurve::P521.coordinate_len(), 66);
/// assert_eq!(EcCurve::P521.jws_algorithm(), "ES512");
/// assert_eq!(EcCurve::from_jwk_name("secp256k1"), None);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum EcCurve {
    /// NIST P-256 (secp256r1), for `ES256`.
    P256,
    /// NIST P-384 (secp384r1), for `ES384`.
    P384,
    /// NIST P-521 (secp521r1), for `ES512`.
    P521,
}

impl EcCurve {
    /// Parses a JWK `crv` value, case-sensitively (RFC 7518 6.2.1.1).
    pub fn from_jwk_name(name: &str) -> Option<Self> {
        match name {
            "P-256" => Some(Self::P256),
            "P-384" => Some(Self::P384),
            "P-521" => Some(Self::P521),
            _ => None,
        }
    }

    /// The JWK `crv` value.
    pub const fn jwk_name(self) -> &'static str {
        match self {
            Self::P256 => "P-256",
            Self::P384 => "P-384",
            Self::P521 => "P-521",
        }
    }

    /// The JWS `alg` that signs with this curve.
    pub const fn jws_algorithm(self) -> &'static str {
        match self {
            Self::P256 => "ES256",
            Self::P384 => "ES384",
            Self::P521 => "ES512",
        }
    }

    /// The length in bytes of one coordinate, which the JWK `x` and `y` members must have
    /// exactly (RFC 7518 6.2.1.2).
    pub const fn coordinate_len(self) -> usize {
        match self {
            Self::P256 => 32,
            Self::P384 => 48,
            Self::P521 => 66,
        }
    }
}

impl fmt::Display for EcCurve {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.jwk_name())
    }
}
