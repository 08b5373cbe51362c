//! [`SoftwareSigner`]: a private key held in memory, loaded and used through the rustls
//! provider of an [`svid::Crypto`].

use core::fmt;
use std::sync::Arc;

use rustls::SignatureScheme;
use svid::{Crypto, KeyType, PrivateKey};

use crate::algorithm::SignatureAlgorithm;
use crate::error::{Error, SignerError};
use crate::signer::Signer;
use crate::spki::spki_of;

/// A private key held in memory (PKCS#8, zeroized on drop), loaded once by the [`Crypto`]'s
/// rustls key provider and signing through that provider's `SigningKey`.
///
/// Which key types can be generated depends on the [`Crypto`]: `Crypto::ring` makes P-256,
/// P-384 and Ed25519 keys (RSA keys can be loaded and used, not generated), `Crypto::aws_lc_rs`
/// every [`KeyType`].
///
/// ```
/// use ca::{KeyType, Signer, SignatureAlgorithm, SoftwareSigner};
///
/// let signer = SoftwareSigner::generate(&svid::Crypto::default(), KeyType::EcdsaP256)?;
/// assert_eq!(signer.algorithm(), SignatureAlgorithm::EcdsaP256Sha256);
/// let signature = signer.sign(b"hello")?;
/// assert!(!signature.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct SoftwareSigner {
    key: PrivateKey,
    /// The provider's signer for [`algorithm`](Self::algorithm), chosen once.
    signer: Box<dyn rustls::sign::Signer>,
    algorithm: SignatureAlgorithm,
    spki: Vec<u8>,
}

impl SoftwareSigner {
    /// Generates a new key of `key_type`, signing with the type's X.509 algorithm
    /// ([`SignatureAlgorithm::for_x509`]).
    ///
    /// # Errors
    /// [`Error::Unsupported`] when `crypto` cannot generate `key_type` (RSA with ring, any key
    /// with a bare provider); [`Error::KeyGeneration`] if the library fails.
    pub fn generate(crypto: &Crypto, key_type: KeyType) -> Result<Self, Error> {
        Self::generate_for(crypto, key_type, SignatureAlgorithm::for_x509(key_type))
    }

    /// Generates a new key of `key_type` that signs with `algorithm` (e.g. an RSA key for
    /// [`SignatureAlgorithm::RsaPssSha256`]).
    ///
    /// # Errors
    /// [`Error::Unsupported`] when the key type cannot sign with `algorithm`, and as
    /// [`generate`](Self::generate).
    pub fn generate_for(
        crypto: &Crypto,
        key_type: KeyType,
        algorithm: SignatureAlgorithm,
    ) -> Result<Self, Error> {
        let fits = match key_type {
            KeyType::EcdsaP256 => algorithm == SignatureAlgorithm::EcdsaP256Sha256,
            KeyType::EcdsaP384 => algorithm == SignatureAlgorithm::EcdsaP384Sha384,
            KeyType::Ed25519 => algorithm == SignatureAlgorithm::Ed25519,
            _ => key_type.is_rsa() && algorithm.is_rsa(),
        };
        if !fits {
            return Err(Error::Unsupported {
                what: "this key type cannot sign with the requested algorithm",
            });
        }
        let pkcs8 = crypto.generate_pkcs8(key_type).map_err(generation_error)?;
        Self::from_pkcs8(crypto, &pkcs8, algorithm)
    }

    /// Loads a PKCS#8 private key that signs with `algorithm`.
    ///
    /// # Errors
    /// [`Error::KeyRejected`] when the provider refuses the key or it does not fit `algorithm`.
    pub fn from_pkcs8(
        crypto: &Crypto,
        pkcs8: &[u8],
        algorithm: SignatureAlgorithm,
    ) -> Result<Self, Error> {
        let key = PrivateKey::from_pkcs8_der(pkcs8, crypto).map_err(|_| Error::KeyRejected)?;
        let signer = key
            .signing_key()
            .map_err(|_| Error::KeyRejected)?
            .choose_scheme(&[scheme(algorithm)])
            .ok_or(Error::KeyRejected)?;
        let spki = spki_of(algorithm, key.public_key());
        Ok(Self {
            key,
            signer,
            algorithm,
            spki,
        })
    }

    /// The PKCS#8 private key, for a [`KeyStore`](crate::KeyStore).
    pub(crate) fn pkcs8(&self) -> &[u8] {
        self.key.secret_pkcs8_der()
    }

    /// Wraps the signer for a CA builder.
    pub fn into_arc(self) -> Arc<dyn Signer> {
        Arc::new(self)
    }
}

/// The TLS signature scheme that signs as `algorithm` does: the same hash, padding and (ECDSA)
/// DER encoding. RSA-PSS is MGF1 with the same hash and a hash-length salt, as JOSE `PS256`.
fn scheme(algorithm: SignatureAlgorithm) -> SignatureScheme {
    match algorithm {
        SignatureAlgorithm::EcdsaP256Sha256 => SignatureScheme::ECDSA_NISTP256_SHA256,
        SignatureAlgorithm::EcdsaP384Sha384 => SignatureScheme::ECDSA_NISTP384_SHA384,
        SignatureAlgorithm::Ed25519 => SignatureScheme::ED25519,
        SignatureAlgorithm::RsaPkcs1Sha256 => SignatureScheme::RSA_PKCS1_SHA256,
        SignatureAlgorithm::RsaPssSha256 => SignatureScheme::RSA_PSS_SHA256,
    }
}

/// Key generation refused (no generator, or not this type) is [`Error::Unsupported`]; anything
/// else [`Error::KeyGeneration`].
pub(crate) fn generation_error(error: svid::KeyError) -> Error {
    match error {
        svid::KeyError::GenerationUnsupported(_) => Error::Unsupported {
            what: "key generation for this key type (ring cannot generate RSA keys; a bare provider needs svid::Crypto::with_key_generator)",
        },
        _ => Error::KeyGeneration,
    }
}

impl Signer for SoftwareSigner {
    fn algorithm(&self) -> SignatureAlgorithm {
        self.algorithm
    }

    fn public_key_spki(&self) -> &[u8] {
        &self.spki
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignerError> {
        self.signer.sign(message).map_err(SignerError::new)
    }
}

impl fmt::Debug for SoftwareSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SoftwareSigner")
            .field("algorithm", &self.algorithm)
            .field("pkcs8", &"<redacted>")
            .finish_non_exhaustive()
    }
}
