//! The nine JWS algorithms a JWT-SVID may use (JWT-SVID 2.1), bound to key types.

use rustls_pki_types::{AlgorithmIdentifier, alg_id};
use trust_bundle::{EcCurve, JwtKey};

/// A JWT-SVID signature algorithm. Everything else (`none`, `HS*`, `EdDSA`, `ES256K`, ...) is
/// refused before any other processing (JWT-SVID 2.1; digest J-2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum JwtAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    Rs384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    Rs512,
    /// RSASSA-PSS with SHA-256 and MGF1-SHA-256.
    Ps256,
    /// RSASSA-PSS with SHA-384 and MGF1-SHA-384.
    Ps384,
    /// RSASSA-PSS with SHA-512 and MGF1-SHA-512.
    Ps512,
    /// ECDSA on P-256 with SHA-256.
    Es256,
    /// ECDSA on P-384 with SHA-384.
    Es384,
    /// ECDSA on P-521 (not P-512) with SHA-512.
    Es512,
}

impl JwtAlgorithm {
    /// Looks up a JOSE `alg` value, case-sensitively.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "RS256" => Self::Rs256,
            "RS384" => Self::Rs384,
            "RS512" => Self::Rs512,
            "PS256" => Self::Ps256,
            "PS384" => Self::Ps384,
            "PS512" => Self::Ps512,
            "ES256" => Self::Es256,
            "ES384" => Self::Es384,
            "ES512" => Self::Es512,
            _ => return None,
        })
    }

    /// The JOSE `alg` value.
    pub fn name(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Rs384 => "RS384",
            Self::Rs512 => "RS512",
            Self::Ps256 => "PS256",
            Self::Ps384 => "PS384",
            Self::Ps512 => "PS512",
            Self::Es256 => "ES256",
            Self::Es384 => "ES384",
            Self::Es512 => "ES512",
        }
    }

    /// Whether `key` may verify this algorithm: RSA keys for `RS*`/`PS*`, and for `ES*` an EC
    /// key on exactly the algorithm's curve (digest 3.4 step 5, against algorithm confusion).
    pub fn fits(self, key: &JwtKey) -> bool {
        match (self.curve(), key) {
            (None, JwtKey::Rsa(_)) => true,
            (Some(curve), JwtKey::Ec(ec)) => ec.curve() == curve,
            _ => false,
        }
    }

    /// The key type (and curve) this algorithm verifies with.
    pub fn key_type(self) -> JwtKeyType {
        match self.curve() {
            Some(curve) => JwtKeyType::Ec(curve),
            None => JwtKeyType::Rsa,
        }
    }

    /// The curve an `ES*` algorithm requires; `None` for RSA algorithms.
    fn curve(self) -> Option<EcCurve> {
        match self {
            Self::Es256 => Some(EcCurve::P256),
            Self::Es384 => Some(EcCurve::P384),
            Self::Es512 => Some(EcCurve::P521),
            _ => None,
        }
    }

    /// The (public key, signature) algorithm identifiers a verification algorithm must carry.
    pub(crate) fn identifiers(self) -> (AlgorithmIdentifier, AlgorithmIdentifier) {
        match self {
            Self::Rs256 => (alg_id::RSA_ENCRYPTION, alg_id::RSA_PKCS1_SHA256),
            Self::Rs384 => (alg_id::RSA_ENCRYPTION, alg_id::RSA_PKCS1_SHA384),
            Self::Rs512 => (alg_id::RSA_ENCRYPTION, alg_id::RSA_PKCS1_SHA512),
            Self::Ps256 => (alg_id::RSA_ENCRYPTION, alg_id::RSA_PSS_SHA256),
            Self::Ps384 => (alg_id::RSA_ENCRYPTION, alg_id::RSA_PSS_SHA384),
            Self::Ps512 => (alg_id::RSA_ENCRYPTION, alg_id::RSA_PSS_SHA512),
            Self::Es256 => (alg_id::ECDSA_P256, alg_id::ECDSA_SHA256),
            Self::Es384 => (alg_id::ECDSA_P384, alg_id::ECDSA_SHA384),
            Self::Es512 => (alg_id::ECDSA_P521, alg_id::ECDSA_SHA512),
        }
    }

    /// For `ES*`: the byte length of each of `r` and `s` in the JWS signature (RFC 7518 3.4).
    pub(crate) fn ecdsa_scalar_len(self) -> Option<usize> {
        self.curve().map(EcCurve::coordinate_len)
    }
}

impl core::fmt::Display for JwtAlgorithm {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// The type of a JWT authority key, with its curve for EC: what an algorithm needs and what a
/// `kid` names, so an error can say both ("an EC P-256 key, but alg ES384 needs EC P-384").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum JwtKeyType {
    /// An EC key on this curve (`ES256`, `ES384`, `ES512`).
    Ec(EcCurve),
    /// An RSA key (`RS*`, `PS*`).
    Rsa,
}

impl JwtKeyType {
    /// The type of `key`; `None` for a key type this crate does not know.
    pub fn of(key: &JwtKey) -> Option<Self> {
        match key {
            JwtKey::Ec(ec) => Some(Self::Ec(ec.curve())),
            JwtKey::Rsa(_) => Some(Self::Rsa),
            // `JwtKey` is non-exhaustive: a future key type has no JWT-SVID algorithm here.
            _ => None,
        }
    }
}

impl core::fmt::Display for JwtKeyType {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Ec(curve) => write!(f, "EC {curve}"),
            Self::Rsa => f.write_str("RSA"),
        }
    }
}
