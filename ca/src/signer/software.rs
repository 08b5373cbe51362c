//! [`SoftwareSigner`]: a private key held in memory, and [`Backend`], the crypto library
//! (ring or aws-lc-rs) that generates keys, signs, hashes and draws random bytes for the CA.

use core::fmt;
use std::sync::Arc;

use zeroize::Zeroizing;

use crate::error::{Error, SignerError};
use crate::signer::Signer;
use crate::signer::algorithm::{KeyType, SignatureAlgorithm};
use crate::spki::spki_of;

/// The library that generates keys and signs for [`SoftwareSigner`].
///
/// | backend | feature | key types |
/// |---|---|---|
/// | `Backend::Ring` | `ring` (default) | P-256, P-384, Ed25519; RSA keys can be loaded and used, not generated |
/// | `Backend::AwsLcRs` | `aws-lc-rs` | all [`KeyType`]s |
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Backend {
    /// ring.
    #[cfg(feature = "ring")]
    Ring,
    /// aws-lc-rs.
    #[cfg(feature = "aws-lc-rs")]
    AwsLcRs,
}

#[cfg(any(feature = "ring", feature = "aws-lc-rs"))]
impl Default for Backend {
    /// aws-lc-rs when its feature is on (it can generate RSA keys), otherwise ring; the same
    /// precedence as `svid::CryptoBackend::default`.
    fn default() -> Self {
        #[cfg(feature = "aws-lc-rs")]
        {
            Self::AwsLcRs
        }
        #[cfg(not(feature = "aws-lc-rs"))]
        {
            Self::Ring
        }
    }
}

#[cfg_attr(
    not(any(feature = "ring", feature = "aws-lc-rs")),
    allow(unused_variables, reason = "no backend: every method is unreachable")
)]
impl Backend {
    /// The `svid` verification backend made of the same library.
    pub fn crypto_backend(self) -> svid::CryptoBackend {
        match self {
            #[cfg(feature = "ring")]
            Self::Ring => svid::CryptoBackend::ring(),
            #[cfg(feature = "aws-lc-rs")]
            Self::AwsLcRs => svid::CryptoBackend::aws_lc_rs(),
        }
    }

    /// Fills `out` with random bytes from the library's system generator.
    pub(crate) fn fill_random(self, out: &mut [u8]) -> Result<(), Error> {
        match self {
            #[cfg(feature = "ring")]
            Self::Ring => ring_impl::fill_random(out),
            #[cfg(feature = "aws-lc-rs")]
            Self::AwsLcRs => aws_impl::fill_random(out),
        }
    }

    /// SHA-256 of `data`.
    pub(crate) fn sha256(self, data: &[u8]) -> [u8; 32] {
        match self {
            #[cfg(feature = "ring")]
            Self::Ring => ring_impl::sha256(data),
            #[cfg(feature = "aws-lc-rs")]
            Self::AwsLcRs => aws_impl::sha256(data),
        }
    }

    /// Generates a PKCS#8 private key of `key_type`.
    ///
    /// # Errors
    /// [`Error::Unsupported`] for RSA with ring; [`Error::KeyGeneration`] if the library fails.
    pub fn generate_pkcs8(self, key_type: KeyType) -> Result<Zeroizing<Vec<u8>>, Error> {
        match self {
            #[cfg(feature = "ring")]
            Self::Ring => ring_impl::generate_pkcs8(key_type),
            #[cfg(feature = "aws-lc-rs")]
            Self::AwsLcRs => aws_impl::generate_pkcs8(key_type),
        }
    }

    fn load(self, pkcs8: &[u8], algorithm: SignatureAlgorithm) -> Result<KeyImpl, Error> {
        match self {
            #[cfg(feature = "ring")]
            Self::Ring => ring_impl::Key::load(pkcs8, algorithm).map(KeyImpl::Ring),
            #[cfg(feature = "aws-lc-rs")]
            Self::AwsLcRs => aws_impl::Key::load(pkcs8, algorithm).map(KeyImpl::AwsLc),
        }
    }
}

#[allow(
    clippy::large_enum_variant,
    reason = "one per signer, built once per CA key; boxing buys nothing"
)]
enum KeyImpl {
    #[cfg(feature = "ring")]
    Ring(ring_impl::Key),
    #[cfg(feature = "aws-lc-rs")]
    AwsLc(aws_impl::Key),
    /// Without a backend there is no key; the variant keeps matches well-formed.
    #[cfg(not(any(feature = "ring", feature = "aws-lc-rs")))]
    #[allow(dead_code, reason = "uninhabited")]
    NoBackend(core::convert::Infallible),
}

/// A private key held in memory (PKCS#8, zeroized on drop) and used through ring or aws-lc-rs.
///
/// ```
/// use ca::{Backend, KeyType, Signer, SignatureAlgorithm, SoftwareSigner};
///
/// let signer = SoftwareSigner::generate(Backend::default(), KeyType::EcdsaP256)?;
/// assert_eq!(signer.algorithm(), SignatureAlgorithm::EcdsaP256Sha256);
/// let signature = signer.sign(b"hello")?;
/// assert!(!signature.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct SoftwareSigner {
    key: KeyImpl,
    algorithm: SignatureAlgorithm,
    spki: Vec<u8>,
    pkcs8: Zeroizing<Vec<u8>>,
}

impl SoftwareSigner {
    /// Generates a new key of `key_type`, signing with the type's X.509 algorithm
    /// ([`KeyType::x509_signature_algorithm`]).
    ///
    /// # Errors
    /// As [`Backend::generate_pkcs8`].
    pub fn generate(backend: Backend, key_type: KeyType) -> Result<Self, Error> {
        Self::generate_for(backend, key_type, key_type.x509_signature_algorithm())
    }

    /// Generates a new key of `key_type` that signs with `algorithm` (e.g. an RSA key for
    /// [`SignatureAlgorithm::RsaPssSha256`]).
    ///
    /// # Errors
    /// [`Error::Unsupported`] when the key type cannot sign with `algorithm`, and as
    /// [`Backend::generate_pkcs8`].
    pub fn generate_for(
        backend: Backend,
        key_type: KeyType,
        algorithm: SignatureAlgorithm,
    ) -> Result<Self, Error> {
        let fits = match key_type {
            KeyType::EcdsaP256 => algorithm == SignatureAlgorithm::EcdsaP256Sha256,
            KeyType::EcdsaP384 => algorithm == SignatureAlgorithm::EcdsaP384Sha384,
            KeyType::Ed25519 => algorithm == SignatureAlgorithm::Ed25519,
            KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096 => algorithm.is_rsa(),
        };
        if !fits {
            return Err(Error::Unsupported {
                what: "this key type cannot sign with the requested algorithm",
            });
        }
        let pkcs8 = backend.generate_pkcs8(key_type)?;
        Self::from_pkcs8(backend, &pkcs8, algorithm)
    }

    /// Loads a PKCS#8 private key that signs with `algorithm`.
    ///
    /// # Errors
    /// [`Error::KeyRejected`] when the library refuses the key or it does not fit `algorithm`.
    #[cfg_attr(
        not(any(feature = "ring", feature = "aws-lc-rs")),
        allow(unreachable_code, unused_variables, reason = "no backend: unreachable")
    )]
    pub fn from_pkcs8(
        backend: Backend,
        pkcs8: &[u8],
        algorithm: SignatureAlgorithm,
    ) -> Result<Self, Error> {
        let key = backend.load(pkcs8, algorithm)?;
        let public: Vec<u8> = match &key {
            #[cfg(feature = "ring")]
            KeyImpl::Ring(key) => key.public_key(),
            #[cfg(feature = "aws-lc-rs")]
            KeyImpl::AwsLc(key) => key.public_key(),
            #[cfg(not(any(feature = "ring", feature = "aws-lc-rs")))]
            KeyImpl::NoBackend(never) => match *never {},
        };
        let spki = spki_of(algorithm, &public);
        Ok(Self {
            key,
            algorithm,
            spki,
            pkcs8: Zeroizing::new(pkcs8.to_vec()),
        })
    }

    /// Wraps the signer for a CA builder.
    pub fn into_arc(self) -> Arc<dyn Signer> {
        Arc::new(self)
    }
}

impl Signer for SoftwareSigner {
    fn algorithm(&self) -> SignatureAlgorithm {
        self.algorithm
    }

    fn public_key_spki(&self) -> &[u8] {
        &self.spki
    }

    #[cfg_attr(
        not(any(feature = "ring", feature = "aws-lc-rs")),
        allow(unused_variables, reason = "no backend: unreachable")
    )]
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignerError> {
        match &self.key {
            #[cfg(feature = "ring")]
            KeyImpl::Ring(key) => key.sign(message),
            #[cfg(feature = "aws-lc-rs")]
            KeyImpl::AwsLc(key) => key.sign(message),
            #[cfg(not(any(feature = "ring", feature = "aws-lc-rs")))]
            KeyImpl::NoBackend(never) => match *never {},
        }
    }

    fn pkcs8_for_storage(&self) -> Option<&[u8]> {
        Some(&self.pkcs8)
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

/// ring and aws-lc-rs share ring's signing API; one body serves both. ring's
/// `EcdsaKeyPair::from_pkcs8` takes a random number generator, aws-lc-rs's does not: `$ec_rng`.
#[cfg(any(feature = "ring", feature = "aws-lc-rs"))]
macro_rules! software_backend {
    ($module:ident, $lib:ident $(, $ec_rng:expr)?) => {
        mod $module {
            use $lib::rand::{SecureRandom, SystemRandom};
            use $lib::signature::{self, KeyPair};
            use zeroize::Zeroizing;

            use super::{KeyType, SignatureAlgorithm};
            use crate::error::{Error, SignerError};

            pub(super) enum Key {
                Ecdsa(signature::EcdsaKeyPair),
                Ed25519(signature::Ed25519KeyPair),
                Rsa(signature::RsaKeyPair, &'static dyn signature::RsaEncoding),
            }

            pub(super) fn sha256(data: &[u8]) -> [u8; 32] {
                let digest = $lib::digest::digest(&$lib::digest::SHA256, data);
                let mut out = [0; 32];
                out.copy_from_slice(digest.as_ref());
                out
            }

            pub(super) fn fill_random(out: &mut [u8]) -> Result<(), Error> {
                SystemRandom::new()
                    .fill(out)
                    .map_err(|_| Error::KeyGeneration)
            }

            fn ecdsa_pkcs8(
                alg: &'static signature::EcdsaSigningAlgorithm,
            ) -> Result<Zeroizing<Vec<u8>>, Error> {
                signature::EcdsaKeyPair::generate_pkcs8(alg, &SystemRandom::new())
                    .map(|doc| Zeroizing::new(doc.as_ref().to_vec()))
                    .map_err(|_| Error::KeyGeneration)
            }

            pub(super) fn generate_common(
                key_type: KeyType,
            ) -> Option<Result<Zeroizing<Vec<u8>>, Error>> {
                Some(match key_type {
                    KeyType::EcdsaP256 => {
                        ecdsa_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING)
                    }
                    KeyType::EcdsaP384 => {
                        ecdsa_pkcs8(&signature::ECDSA_P384_SHA384_ASN1_SIGNING)
                    }
                    KeyType::Ed25519 => {
                        signature::Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
                            .map(|doc| Zeroizing::new(doc.as_ref().to_vec()))
                            .map_err(|_| Error::KeyGeneration)
                    }
                    _ => return None,
                })
            }

            impl Key {
                pub(super) fn load(
                    pkcs8: &[u8],
                    algorithm: SignatureAlgorithm,
                ) -> Result<Self, Error> {
                    let rejected = |_| Error::KeyRejected;
                    Ok(match algorithm {
                        SignatureAlgorithm::EcdsaP256Sha256 => Self::Ecdsa(
                            signature::EcdsaKeyPair::from_pkcs8(
                                &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
                                pkcs8
                                $(, $ec_rng)?
                            )
                            .map_err(rejected)?,
                        ),
                        SignatureAlgorithm::EcdsaP384Sha384 => Self::Ecdsa(
                            signature::EcdsaKeyPair::from_pkcs8(
                                &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
                                pkcs8
                                $(, $ec_rng)?
                            )
                            .map_err(rejected)?,
                        ),
                        SignatureAlgorithm::Ed25519 => Self::Ed25519(
                            signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8)
                                .map_err(rejected)?,
                        ),
                        SignatureAlgorithm::RsaPkcs1Sha256 => Self::Rsa(
                            signature::RsaKeyPair::from_pkcs8(pkcs8).map_err(rejected)?,
                            &signature::RSA_PKCS1_SHA256,
                        ),
                        SignatureAlgorithm::RsaPssSha256 => Self::Rsa(
                            signature::RsaKeyPair::from_pkcs8(pkcs8).map_err(rejected)?,
                            &signature::RSA_PSS_SHA256,
                        ),
                    })
                }

                pub(super) fn public_key(&self) -> Vec<u8> {
                    match self {
                        Self::Ecdsa(key) => key.public_key().as_ref().to_vec(),
                        Self::Ed25519(key) => key.public_key().as_ref().to_vec(),
                        Self::Rsa(key, _) => key.public_key().as_ref().to_vec(),
                    }
                }

                pub(super) fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignerError> {
                    let failed = |_| SignerError::new("the crypto library failed to sign");
                    match self {
                        Self::Ecdsa(key) => key
                            .sign(&SystemRandom::new(), message)
                            .map(|s| s.as_ref().to_vec())
                            .map_err(failed),
                        Self::Ed25519(key) => Ok(key.sign(message).as_ref().to_vec()),
                        Self::Rsa(key, padding) => {
                            #[allow(
                                deprecated,
                                reason = "the one spelling ring and aws-lc-rs share"
                            )]
                            let mut out = vec![0; key.public_modulus_len()];
                            key.sign(*padding, &SystemRandom::new(), message, &mut out)
                                .map_err(failed)?;
                            Ok(out)
                        }
                    }
                }
            }
        }
    };
}

#[cfg(feature = "ring")]
software_backend!(ring_backend, ring, &SystemRandom::new());
#[cfg(feature = "aws-lc-rs")]
software_backend!(aws_backend, aws_lc_rs);

#[cfg(feature = "ring")]
mod ring_impl {
    use zeroize::Zeroizing;

    use super::KeyType;
    use crate::error::Error;

    pub(super) use super::ring_backend::{Key, fill_random, sha256};

    pub(super) fn generate_pkcs8(key_type: KeyType) -> Result<Zeroizing<Vec<u8>>, Error> {
        super::ring_backend::generate_common(key_type).unwrap_or(Err(Error::Unsupported {
            what: "RSA key generation needs the aws-lc-rs backend (ring cannot generate RSA keys)",
        }))
    }
}

#[cfg(feature = "aws-lc-rs")]
mod aws_impl {
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::rsa::KeySize;
    use zeroize::Zeroizing;

    use super::KeyType;
    use crate::error::Error;

    pub(super) use super::aws_backend::{Key, fill_random, sha256};

    pub(super) fn generate_pkcs8(key_type: KeyType) -> Result<Zeroizing<Vec<u8>>, Error> {
        let size = match key_type {
            KeyType::Rsa2048 => KeySize::Rsa2048,
            KeyType::Rsa3072 => KeySize::Rsa3072,
            KeyType::Rsa4096 => KeySize::Rsa4096,
            _ => {
                return super::aws_backend::generate_common(key_type)
                    .unwrap_or(Err(Error::KeyGeneration));
            }
        };
        let key = aws_lc_rs::rsa::KeyPair::generate(size).map_err(|_| Error::KeyGeneration)?;
        let der = key.as_der().map_err(|_| Error::KeyGeneration)?;
        Ok(Zeroizing::new(der.as_ref().to_vec()))
    }
}
