//! The cryptography seam: which library verifies signatures and loads private keys.
//!
//! Nothing here is implemented by hand. Signature checks go through the
//! `rustls_pki_types::SignatureVerificationAlgorithm` implementations of rustls-webpki (the same
//! ones a rustls `CryptoProvider` carries), and private keys are loaded by ring or aws-lc-rs.
//! ring has no P-521, so the ring backend adds ECDSA P-521 / SHA-512 from RustCrypto's `p521`
//! behind the same trait: every JWT-SVID algorithm (ES512 included) verifies in the default
//! build. Both backends are cargo features and may be enabled together; nothing global is
//! chosen.

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

    /// ring: ECDSA P-256/P-384, RSA (PKCS#1 v1.5 and PSS, 2048-8192 bits) and Ed25519, plus
    /// ECDSA P-521 with SHA-512 (ES512) from RustCrypto's `p521`, which ring lacks. Private keys
    /// load with ring only, so P-521 is for verification.
    #[cfg(feature = "ring")]
    pub const fn ring() -> Self {
        Self::new("ring", RING_ALGORITHMS, ring_backend::load_public_key)
    }

    /// aws-lc-rs: the same algorithms as [`CryptoBackend::ring`], all from aws-lc-rs (its own
    /// ECDSA P-521 included).
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

    /// Whether both offer the very same algorithm list (a `'static` slice, so its address
    /// is never reused by another list).
    pub(crate) fn same_algorithms(&self, other: &Self) -> bool {
        core::ptr::eq(self.algorithms, other.algorithms)
    }

    pub(crate) fn public_key_of(
        &self,
        algorithm: KeyAlgorithm,
        pkcs8: &[u8],
    ) -> Result<Vec<u8>, KeyError> {
        (self.load_public_key)(algorithm, pkcs8)
    }
}

/// The default backend: aws-lc-rs when its feature is on, otherwise ring (both verify every
/// JWT-SVID algorithm).
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
    &p521_backend::EcdsaP521Sha512,
];

/// ECDSA P-521 for the ring backend, from RustCrypto's `p521` (ring has no P-521).
#[cfg(feature = "ring")]
mod p521_backend {
    use p521::ecdsa::signature::Verifier as _;
    use p521::ecdsa::{Signature, VerifyingKey};
    use rustls_pki_types::{
        AlgorithmIdentifier, InvalidSignature, SignatureVerificationAlgorithm, alg_id,
    };

    /// An uncompressed SEC1 point on P-521: `04 || x || y`, 66 bytes each (SEC1 2.3.3). The
    /// only form X.509 subject keys and JWKs (RFC 7518 6.2.1) give here; ring and aws-lc-rs
    /// accept no other either.
    const UNCOMPRESSED_POINT_LEN: usize = 1 + 2 * 66;

    /// ECDSA on P-521 with SHA-512, as webpki's `ECDSA_P521_SHA512`: the key is the SEC1
    /// point, the signature a DER `ECDSA-Sig-Value` (RFC 3279 2.2.3).
    #[derive(Debug)]
    pub(super) struct EcdsaP521Sha512;

    impl SignatureVerificationAlgorithm for EcdsaP521Sha512 {
        fn verify_signature(
            &self,
            public_key: &[u8],
            message: &[u8],
            signature: &[u8],
        ) -> Result<(), InvalidSignature> {
            if public_key.len() != UNCOMPRESSED_POINT_LEN || public_key.first() != Some(&0x04) {
                return Err(InvalidSignature);
            }
            let key = VerifyingKey::from_sec1_bytes(public_key).map_err(|_| InvalidSignature)?;
            let signature = Signature::from_der(signature).map_err(|_| InvalidSignature)?;
            key.verify(message, &signature)
                .map_err(|_| InvalidSignature)
        }

        fn public_key_alg_id(&self) -> AlgorithmIdentifier {
            alg_id::ECDSA_P521
        }

        fn signature_alg_id(&self) -> AlgorithmIdentifier {
            alg_id::ECDSA_SHA512
        }
    }
}

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
