//! [`SignatureAlgorithm`] (what a [`Signer`] signs with), with its X.509
//! `AlgorithmIdentifier`s. The key types a CA generates are [`svid::KeyType`].
//!
//! [`Signer`]: crate::Signer

use svid::KeyType;

/// A signature algorithm a [`Signer`] implements.
///
/// [`Signer`]: crate::Signer
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SignatureAlgorithm {
    /// ECDSA P-256 with SHA-256. Signatures are ASN.1 DER `Ecdsa-Sig-Value` (as X.509 and cloud
    /// KMSs produce them); JWT signing converts them to the fixed-width JOSE form.
    EcdsaP256Sha256,
    /// ECDSA P-384 with SHA-384, DER signatures as above.
    EcdsaP384Sha384,
    /// Ed25519 (pure). X.509 only.
    Ed25519,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (X.509 `sha256WithRSAEncryption`, JOSE `RS256`).
    RsaPkcs1Sha256,
    /// RSASSA-PSS with SHA-256, MGF1-SHA-256 and a 32-byte salt (JOSE `PS256`). JWT only here.
    RsaPssSha256,
}

/// `1.2.840.10045.4.3.2` ecdsa-with-SHA256, no parameters.
const ALG_ECDSA_SHA256: &[u8] = &[
    0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02,
];
/// `1.2.840.10045.4.3.3` ecdsa-with-SHA384, no parameters.
const ALG_ECDSA_SHA384: &[u8] = &[
    0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03,
];
/// `1.3.101.112` Ed25519, no parameters.
pub(crate) const ALG_ED25519: &[u8] = &[0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70];
/// `1.2.840.113549.1.1.11` sha256WithRSAEncryption, NULL parameters.
const ALG_RSA_PKCS1_SHA256: &[u8] = &[
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00,
];
/// `1.2.840.113549.1.1.10` RSASSA-PSS with SHA-256, MGF1-SHA-256, salt 32 (RFC 4055).
const ALG_RSA_PSS_SHA256: &[u8] = &[
    0x30, 0x41, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a, 0x30, 0x34, 0xa0,
    0x0f, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00,
    0xa1, 0x1c, 0x30, 0x1a, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08, 0x30,
    0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0xa2, 0x03,
    0x02, 0x01, 0x20,
];

impl SignatureAlgorithm {
    /// The signature algorithm a CA key of `key_type` signs certificates with.
    pub fn for_x509(key_type: KeyType) -> Self {
        match key_type {
            KeyType::EcdsaP256 => Self::EcdsaP256Sha256,
            KeyType::EcdsaP384 => Self::EcdsaP384Sha384,
            KeyType::Ed25519 => Self::Ed25519,
            KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096 => Self::RsaPkcs1Sha256,
            // `KeyType` is non-exhaustive; a later one is RSA-like until it says otherwise.
            _ => Self::RsaPkcs1Sha256,
        }
    }

    /// The DER `AlgorithmIdentifier` of this algorithm in a certificate or CSR.
    pub fn x509_algorithm_identifier(self) -> &'static [u8] {
        match self {
            Self::EcdsaP256Sha256 => ALG_ECDSA_SHA256,
            Self::EcdsaP384Sha384 => ALG_ECDSA_SHA384,
            Self::Ed25519 => ALG_ED25519,
            Self::RsaPkcs1Sha256 => ALG_RSA_PKCS1_SHA256,
            Self::RsaPssSha256 => ALG_RSA_PSS_SHA256,
        }
    }

    /// The JOSE `alg` for this algorithm, if JWT-SVID allows it (Ed25519 is not allowed).
    pub fn jwt_algorithm(self) -> Option<svid::JwtAlgorithm> {
        match self {
            Self::EcdsaP256Sha256 => Some(svid::JwtAlgorithm::Es256),
            Self::EcdsaP384Sha384 => Some(svid::JwtAlgorithm::Es384),
            Self::RsaPkcs1Sha256 => Some(svid::JwtAlgorithm::Rs256),
            Self::RsaPssSha256 => Some(svid::JwtAlgorithm::Ps256),
            Self::Ed25519 => None,
        }
    }

    /// Whether the key is RSA.
    pub(crate) fn is_rsa(self) -> bool {
        matches!(self, Self::RsaPkcs1Sha256 | Self::RsaPssSha256)
    }
}
