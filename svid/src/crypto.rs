//! The cryptography seam: which library verifies signatures and loads private keys.
//!
//! Nothing here is implemented by hand. Signature checks go through the
//! `rustls_pki_types::SignatureVerificationAlgorithm` implementations of rustls-webpki (the same
//! ones a rustls `CryptoProvider` carries), and private keys are loaded by ring or aws-lc-rs.
//! Both backends are cargo features and may be enabled together; nothing global is chosen.

use rustls_pki_types::SignatureVerificationAlgorithm;

use crate::error::KeyError;
use crate::key::KeyAlgorithm;

/// Derives the public key (the `subjectPublicKey` bits) from a PKCS#8 private key, validating it.
pub type LoadPublicKey = fn(KeyAlgorithm, &[u8]) -> Result<Vec<u8>, KeyError>;

/// A cryptography library: its signature verification algorithms and its private key loader.
///
/// ```
/// let backend = svid::CryptoBackend::default();
/// assert!(!backend.algorithms().is_empty());
/// ```
#[derive(Clone, Copy)]
pub struct CryptoBackend {
    name: &'static str,
    algorithms: &'static [&'static dyn SignatureVerificationAlgorithm],
    load_public_key: LoadPublicKey,
}

impl CryptoBackend {
    /// A backend made of the caller's own parts, e.g. the algorithms of a rustls
    /// `CryptoProvider` (`provider.signature_verification_algorithms.all`) and a key loader.
    pub const fn new(
        name: &'static str,
        algorithms: &'static [&'static dyn SignatureVerificationAlgorithm],
        load_public_key: LoadPublicKey,
    ) -> Self {
        Self {
            name,
            algorithms,
            load_public_key,
        }
    }

    /// ring: ECDSA P-256/P-384, RSA (PKCS#1 v1.5 and PSS, 2048-8192 bits) and Ed25519.
    /// ring has no P-521, so it cannot verify ES512 JWT-SVIDs.
    #[cfg(feature = "ring")]
    pub const fn ring() -> Self {
        Self::new("ring", RING_ALGORITHMS, ring_backend::load_public_key)
    }

    /// aws-lc-rs: everything ring offers plus ECDSA P-521 (ES512).
    #[cfg(feature = "aws-lc-rs")]
    pub const fn aws_lc_rs() -> Self {
        Self::new(
            "aws-lc-rs",
            AWS_LC_RS_ALGORITHMS,
            aws_lc_backend::load_public_key,
        )
    }

    /// The signature verification algorithms.
    pub fn algorithms(&self) -> &'static [&'static dyn SignatureVerificationAlgorithm] {
        self.algorithms
    }

    /// The backend's name, for logs.
    pub fn name(&self) -> &'static str {
        self.name
    }

    pub(crate) fn public_key_of(
        &self,
        algorithm: KeyAlgorithm,
        pkcs8: &[u8],
    ) -> Result<Vec<u8>, KeyError> {
        (self.load_public_key)(algorithm, pkcs8)
    }
}

/// The default backend: aws-lc-rs when its feature is on (it covers ES512), otherwise ring.
#[cfg(any(feature = "ring", feature = "aws-lc-rs"))]
impl Default for CryptoBackend {
    fn default() -> Self {
        #[cfg(feature = "aws-lc-rs")]
        {
            Self::aws_lc_rs()
        }
        #[cfg(not(feature = "aws-lc-rs"))]
        {
            Self::ring()
        }
    }
}

impl core::fmt::Debug for CryptoBackend {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CryptoBackend")
            .field("name", &self.name)
            .field("algorithms", &self.algorithms.len())
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "ring")]
static RING_ALGORITHMS: &[&dyn SignatureVerificationAlgorithm] = &[
    webpki::ring::ECDSA_P256_SHA256,
    webpki::ring::ECDSA_P256_SHA384,
    webpki::ring::ECDSA_P384_SHA256,
    webpki::ring::ECDSA_P384_SHA384,
    webpki::ring::ED25519,
    webpki::ring::RSA_PKCS1_2048_8192_SHA256,
    webpki::ring::RSA_PKCS1_2048_8192_SHA384,
    webpki::ring::RSA_PKCS1_2048_8192_SHA512,
    webpki::ring::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
    webpki::ring::RSA_PSS_2048_8192_SHA384_LEGACY_KEY,
    webpki::ring::RSA_PSS_2048_8192_SHA512_LEGACY_KEY,
];

#[cfg(feature = "aws-lc-rs")]
static AWS_LC_RS_ALGORITHMS: &[&dyn SignatureVerificationAlgorithm] = &[
    webpki::aws_lc_rs::ECDSA_P256_SHA256,
    webpki::aws_lc_rs::ECDSA_P256_SHA384,
    webpki::aws_lc_rs::ECDSA_P384_SHA256,
    webpki::aws_lc_rs::ECDSA_P384_SHA384,
    webpki::aws_lc_rs::ECDSA_P521_SHA512,
    webpki::aws_lc_rs::ED25519,
    webpki::aws_lc_rs::RSA_PKCS1_2048_8192_SHA256,
    webpki::aws_lc_rs::RSA_PKCS1_2048_8192_SHA384,
    webpki::aws_lc_rs::RSA_PKCS1_2048_8192_SHA512,
    webpki::aws_lc_rs::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
    webpki::aws_lc_rs::RSA_PSS_2048_8192_SHA384_LEGACY_KEY,
    webpki::aws_lc_rs::RSA_PSS_2048_8192_SHA512_LEGACY_KEY,
];

/// ring and aws-lc-rs share ring's key API, so one body serves both. The one difference:
/// ring's `EcdsaKeyPair::from_pkcs8` takes a random number generator, aws-lc-rs's does not;
/// `$ec_rng` is that extra argument, given for ring only.
#[cfg(any(feature = "ring", feature = "aws-lc-rs"))]
macro_rules! key_loader {
    ($module:ident, $lib:ident $(, $ec_rng:expr)?) => {
        mod $module {
            use $lib::signature::{self, KeyPair};

            use crate::error::KeyError;
            use crate::key::KeyAlgorithm;

            pub(super) fn load_public_key(
                algorithm: KeyAlgorithm,
                pkcs8: &[u8],
            ) -> Result<Vec<u8>, KeyError> {
                let public = match algorithm {
                    KeyAlgorithm::EcdsaP256 | KeyAlgorithm::EcdsaP384 => {
                        let signing = if algorithm == KeyAlgorithm::EcdsaP256 {
                            &signature::ECDSA_P256_SHA256_ASN1_SIGNING
                        } else {
                            &signature::ECDSA_P384_SHA384_ASN1_SIGNING
                        };
                        signature::EcdsaKeyPair::from_pkcs8(signing, pkcs8 $(, $ec_rng)?)
                            .map_err(|_| KeyError::Rejected)?
                            .public_key()
                            .as_ref()
                            .to_vec()
                    }
                    KeyAlgorithm::Ed25519 => {
                        signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8)
                            .map_err(|_| KeyError::Rejected)?
                            .public_key()
                            .as_ref()
                            .to_vec()
                    }
                    KeyAlgorithm::Rsa => signature::RsaKeyPair::from_pkcs8(pkcs8)
                        .map_err(|_| KeyError::Rejected)?
                        .public_key()
                        .as_ref()
                        .to_vec(),
                };
                Ok(public)
            }
        }
    };
}

#[cfg(feature = "ring")]
key_loader!(ring_backend, ring, &ring::rand::SystemRandom::new());
#[cfg(feature = "aws-lc-rs")]
key_loader!(aws_lc_backend, aws_lc_rs);
