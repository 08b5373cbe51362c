//! [`KeyType`]: the key types a generator makes. Its own module so that the crypto backends and
//! [`KeyError`](crate::KeyError) can both name it without importing each other.

/// The key types a [`KeyGenerator`](crate::KeyGenerator) makes (for a CA's own keys and the SVIDs it mints).
///
/// ring generates no RSA keys; [`Crypto::ring`](crate::Crypto::ring) reports
/// [`KeyError::GenerationUnsupported`](crate::KeyError::GenerationUnsupported) for them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyType {
    /// ECDSA on NIST P-256 (the default: small, fast, accepted everywhere).
    #[default]
    EcdsaP256,
    /// ECDSA on NIST P-384.
    EcdsaP384,
    /// RSA with a 2048-bit modulus (not with ring).
    Rsa2048,
    /// RSA with a 3072-bit modulus (not with ring).
    Rsa3072,
    /// RSA with a 4096-bit modulus (not with ring).
    Rsa4096,
    /// Ed25519 (X.509 only: JWT-SVID does not allow EdDSA).
    Ed25519,
}

impl KeyType {
    /// Whether this is an RSA key type (whose leaves also get `keyEncipherment`).
    pub fn is_rsa(self) -> bool {
        matches!(self, Self::Rsa2048 | Self::Rsa3072 | Self::Rsa4096)
    }
}
