//! [`KeyGenerator`]: what a rustls provider cannot do, key generation, and [`KeyType`], what
//! it generates. The built-in generators are ring's and aws-lc-rs's.

use core::fmt;

use zeroize::Zeroizing;

use crate::error::KeyError;
use crate::key_type::KeyType;

/// Generates private keys, which a rustls `CryptoProvider` cannot: the part of a
/// [`Crypto`](super::Crypto) only issuing CAs use.
pub trait KeyGenerator: Send + Sync + fmt::Debug {
    /// A new PKCS#8 private key of `key_type`, in memory zeroized on drop.
    ///
    /// # Errors
    /// [`KeyError::GenerationUnsupported`] for a type this generator does not make,
    /// [`KeyError::GenerationFailed`] when the library fails.
    fn generate_pkcs8(&self, key_type: KeyType) -> Result<Zeroizing<Vec<u8>>, KeyError>;
}

/// ring and aws-lc-rs share ring's key generation API; one body serves both (EC and Ed25519).
#[cfg(any(feature = "ring", feature = "aws-lc-rs"))]
macro_rules! common_generation {
    ($lib:ident, $key_type:expr) => {{
        use $lib::rand::SystemRandom;
        use $lib::signature;
        let document = match $key_type {
            KeyType::EcdsaP256 => signature::EcdsaKeyPair::generate_pkcs8(
                &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
                &SystemRandom::new(),
            ),
            KeyType::EcdsaP384 => signature::EcdsaKeyPair::generate_pkcs8(
                &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
                &SystemRandom::new(),
            ),
            KeyType::Ed25519 => signature::Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()),
            other => return Err(KeyError::GenerationUnsupported(other)),
        };
        document
            .map(|doc| Zeroizing::new(doc.as_ref().to_vec()))
            .map_err(|_| KeyError::GenerationFailed)
    }};
}

/// ring's key generation: P-256, P-384, Ed25519.
#[cfg(feature = "ring")]
#[derive(Debug)]
pub(super) struct Ring;

#[cfg(feature = "ring")]
impl KeyGenerator for Ring {
    fn generate_pkcs8(&self, key_type: KeyType) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        common_generation!(ring, key_type)
    }
}

/// aws-lc-rs's key generation: every [`KeyType`].
#[cfg(feature = "aws-lc-rs")]
#[derive(Debug)]
pub(super) struct AwsLcRs;

#[cfg(feature = "aws-lc-rs")]
impl KeyGenerator for AwsLcRs {
    fn generate_pkcs8(&self, key_type: KeyType) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        use aws_lc_rs::encoding::AsDer;
        use aws_lc_rs::rsa::KeySize;
        let size = match key_type {
            KeyType::Rsa2048 => KeySize::Rsa2048,
            KeyType::Rsa3072 => KeySize::Rsa3072,
            KeyType::Rsa4096 => KeySize::Rsa4096,
            other => return common_generation!(aws_lc_rs, other),
        };
        let key =
            aws_lc_rs::rsa::KeyPair::generate(size).map_err(|_| KeyError::GenerationFailed)?;
        let der = key.as_der().map_err(|_| KeyError::GenerationFailed)?;
        Ok(Zeroizing::new(der.as_ref().to_vec()))
    }
}
