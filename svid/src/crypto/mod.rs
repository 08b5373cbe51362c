//! [`Crypto`]: the one cryptography choice, made once by the user and passed to every crate.
//!
//! It is a rustls [`CryptoProvider`] plus what a provider cannot do. Signature checks use the
//! provider's `signature_verification_algorithms` (rustls-webpki's
//! `SignatureVerificationAlgorithm`s, as rustls-webpki takes them), private keys load through
//! its `key_provider` into a rustls [`SigningKey`] (once per key: the same loaded key signs TLS
//! handshakes and CA certificates), and random bytes come from its `secure_random`. Key
//! generation, which a provider lacks, is a [`KeyGenerator`] that the built-in constructors
//! supply. ring has no P-521, so [`Crypto::ring`] adds ECDSA P-521 / SHA-512 verification from
//! RustCrypto's `p521`: every JWT-SVID algorithm (ES512 included) verifies in the default build.
//! Nothing global is chosen or installed.

use core::fmt;
use std::sync::Arc;

use rustls::crypto::hash::{Hash, HashAlgorithm};
use rustls::crypto::{CryptoProvider, GetRandomFailed};
use rustls::sign::SigningKey;
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer, SignatureVerificationAlgorithm};
use zeroize::Zeroizing;

use crate::error::KeyError;

mod keygen;
#[cfg(feature = "ring")]
mod ring_p521;

pub use crate::key_type::KeyType;
pub use keygen::KeyGenerator;

/// The cryptography every crate of this workspace uses: a rustls [`CryptoProvider`] and, for
/// issuing CAs, a [`KeyGenerator`].
///
/// Chosen once and passed by value (cloning is one reference count): `svid` verifies and loads
/// keys with it, `ca` generates keys, signs, hashes and draws serials with it, and
/// `tls-integration` builds its rustls configurations on [`provider`](Self::provider).
///
/// ```
/// let crypto = svid::Crypto::default();
/// assert!(!crypto.algorithms().is_empty());
/// // The same value configures TLS: `crypto.provider()` is the rustls provider.
/// assert!(!crypto.provider().cipher_suites.is_empty());
/// ```
#[derive(Clone)]
pub struct Crypto {
    inner: Arc<Inner>,
}

struct Inner {
    provider: Arc<CryptoProvider>,
    key_generator: Option<Arc<dyn KeyGenerator>>,
    /// SHA-256 from the provider's first TLS 1.3 suite that uses it.
    sha256: Option<&'static dyn Hash>,
}

impl Crypto {
    /// Any rustls provider, e.g. a FIPS one. It verifies, loads keys and draws random bytes;
    /// it generates no keys (a CA built on it reports key generation as unsupported) unless
    /// [`with_key_generator`](Self::with_key_generator) adds a generator.
    pub fn from_provider(provider: Arc<CryptoProvider>) -> Self {
        Self::build(provider, None)
    }

    /// ring (rustls' ring provider): ECDSA P-256/P-384, RSA (PKCS#1 v1.5 and PSS, 2048-8192
    /// bits) and Ed25519, plus ECDSA P-521 with SHA-512 (ES512, and P-521 chains) from
    /// RustCrypto's `p521`, which ring lacks, added to the provider's algorithms and to its
    /// TLS scheme mapping. Private keys load with ring, so P-521 is for verification only.
    /// Generates P-256, P-384 and Ed25519 keys (ring has no RSA key generation).
    #[cfg(feature = "ring")]
    pub fn ring() -> Self {
        static RING: std::sync::OnceLock<Crypto> = std::sync::OnceLock::new();
        RING.get_or_init(|| {
            let provider = CryptoProvider {
                signature_verification_algorithms: ring_p521::ALGORITHMS,
                ..rustls::crypto::ring::default_provider()
            };
            Self::build(Arc::new(provider), Some(Arc::new(keygen::Ring)))
        })
        .clone()
    }

    /// aws-lc-rs (rustls' aws-lc-rs provider): the same algorithms as [`Crypto::ring`], all
    /// from aws-lc-rs (its own ECDSA P-521 included). Generates every [`KeyType`], RSA
    /// included.
    #[cfg(feature = "aws-lc-rs")]
    pub fn aws_lc_rs() -> Self {
        static AWS_LC_RS: std::sync::OnceLock<Crypto> = std::sync::OnceLock::new();
        AWS_LC_RS
            .get_or_init(|| {
                let provider = rustls::crypto::aws_lc_rs::default_provider();
                Self::build(Arc::new(provider), Some(Arc::new(keygen::AwsLcRs)))
            })
            .clone()
    }

    /// The same provider, generating keys with `generator` (e.g. a FIPS module's key
    /// generation next to its rustls provider).
    #[must_use]
    pub fn with_key_generator(self, generator: Arc<dyn KeyGenerator>) -> Self {
        Self::build(Arc::clone(&self.inner.provider), Some(generator))
    }

    fn build(provider: Arc<CryptoProvider>, key_generator: Option<Arc<dyn KeyGenerator>>) -> Self {
        let sha256 = provider
            .cipher_suites
            .iter()
            .filter_map(|suite| suite.tls13())
            .map(|suite| suite.common.hash_provider)
            .find(|hash| hash.algorithm() == HashAlgorithm::SHA256);
        Self {
            inner: Arc::new(Inner {
                provider,
                key_generator,
                sha256,
            }),
        }
    }

    /// The rustls provider, for TLS configurations (`builder_with_provider`).
    pub fn provider(&self) -> &Arc<CryptoProvider> {
        &self.inner.provider
    }

    /// The signature verification algorithms (the provider's
    /// `signature_verification_algorithms.all`). A `'static` slice, so its address is never
    /// reused by another list: the JWT result cache compares it by address.
    pub fn algorithms(&self) -> &'static [&'static dyn SignatureVerificationAlgorithm] {
        self.inner.provider.signature_verification_algorithms.all
    }

    /// Loads a PKCS#8 private key with the provider's key provider.
    pub(crate) fn load_private_key(&self, pkcs8: &[u8]) -> Result<Arc<dyn SigningKey>, KeyError> {
        // The provider takes an owned key; rustls-pki-types does not zeroize this copy, as with
        // any key handed to rustls. The caller's own copy is zeroized.
        let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pkcs8.to_vec()));
        self.inner
            .provider
            .key_provider
            .load_private_key(der)
            .map_err(|_| KeyError::Rejected)
    }

    /// Generates a PKCS#8 private key of `key_type` with the [`KeyGenerator`].
    ///
    /// # Errors
    /// [`KeyError::GenerationUnsupported`] without a generator or for a type it cannot make
    /// (RSA with ring); [`KeyError::GenerationFailed`] when the library fails.
    pub fn generate_pkcs8(&self, key_type: KeyType) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        match &self.inner.key_generator {
            Some(generator) => generator.generate_pkcs8(key_type),
            None => Err(KeyError::GenerationUnsupported(key_type)),
        }
    }

    /// Fills `out` with random bytes from the provider's `secure_random`.
    ///
    /// # Errors
    /// When the provider's generator fails.
    pub fn fill_random(&self, out: &mut [u8]) -> Result<(), GetRandomFailed> {
        self.inner.provider.secure_random.fill(out)
    }

    /// SHA-256 of `data`, from the provider's TLS 1.3 SHA-256 suite; `None` when the provider
    /// has no such suite.
    pub fn sha256(&self, data: &[u8]) -> Option<[u8; 32]> {
        let output = self.inner.sha256?.hash(data);
        output.as_ref().try_into().ok()
    }
}

/// aws-lc-rs when its feature is on, otherwise ring (both verify every JWT-SVID algorithm).
#[cfg(any(feature = "ring", feature = "aws-lc-rs"))]
impl Default for Crypto {
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

impl fmt::Debug for Crypto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Crypto")
            .field("algorithms", &self.algorithms().len())
            .field("key_generator", &self.inner.key_generator)
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, feature = "ring"))]
mod tests {
    use super::*;

    #[test]
    fn ring_verifies_p521_in_all_and_in_the_tls_mapping() {
        let crypto = Crypto::ring();
        let algorithms = crypto.provider().signature_verification_algorithms;
        let p521 = |alg: &&dyn SignatureVerificationAlgorithm| {
            alg.public_key_alg_id() == rustls_pki_types::alg_id::ECDSA_P521
        };
        assert!(algorithms.all.iter().any(p521));
        let mapped = algorithms
            .mapping
            .iter()
            .find(|(scheme, _)| *scheme == rustls::SignatureScheme::ECDSA_NISTP521_SHA512)
            .map(|(_, algs)| *algs)
            .unwrap_or_default();
        assert!(mapped.iter().any(p521));
        assert!(core::ptr::eq(
            crypto.algorithms(),
            Crypto::ring().algorithms()
        ));
    }

    #[test]
    fn sha256_and_random_come_from_the_provider() {
        let crypto = Crypto::ring();
        let digest = crypto.sha256(b"abc").unwrap();
        assert_eq!(digest[..4], [0xba, 0x78, 0x16, 0xbf]);
        let mut out = [0u8; 16];
        crypto.fill_random(&mut out).unwrap();
        assert_ne!(out, [0; 16]);
    }

    #[test]
    fn a_bare_provider_generates_no_keys() {
        let crypto = Crypto::from_provider(Arc::new(rustls::crypto::ring::default_provider()));
        assert_eq!(
            crypto.generate_pkcs8(KeyType::EcdsaP256).unwrap_err(),
            KeyError::GenerationUnsupported(KeyType::EcdsaP256)
        );
        assert!(!core::ptr::eq(
            crypto.algorithms(),
            Crypto::ring().algorithms()
        ));
    }
}
