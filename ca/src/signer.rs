//! The signing seam: [`Signer`] (what a CA key must do), [`SoftwareSigner`] (a key in memory,
//! signed with ring or aws-lc-rs), [`Backend`] and [`KeyType`].

use core::fmt;
use std::sync::Arc;

use zeroize::Zeroizing;

use crate::der::{self, tag};
use crate::error::{Error, SignerError};

/// The key types this crate generates.
///
/// RSA keys can only be generated with the `aws-lc-rs` backend (ring has no RSA key
/// generation); asking ring for one is [`Error::Unsupported`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyType {
    /// ECDSA on NIST P-256 (the default: small, fast, accepted everywhere).
    #[default]
    EcdsaP256,
    /// ECDSA on NIST P-384.
    EcdsaP384,
    /// RSA with a 2048-bit modulus (`aws-lc-rs` only).
    Rsa2048,
    /// RSA with a 3072-bit modulus (`aws-lc-rs` only).
    Rsa3072,
    /// RSA with a 4096-bit modulus (`aws-lc-rs` only).
    Rsa4096,
    /// Ed25519 (X.509 only: JWT-SVID does not allow EdDSA).
    Ed25519,
}

impl KeyType {
    /// Whether this is an RSA key type (whose leaves also get `keyEncipherment`).
    pub fn is_rsa(self) -> bool {
        matches!(self, Self::Rsa2048 | Self::Rsa3072 | Self::Rsa4096)
    }

    /// The signature algorithm a CA key of this type signs certificates with.
    pub fn x509_signature_algorithm(self) -> SignatureAlgorithm {
        match self {
            Self::EcdsaP256 => SignatureAlgorithm::EcdsaP256Sha256,
            Self::EcdsaP384 => SignatureAlgorithm::EcdsaP384Sha384,
            Self::Rsa2048 | Self::Rsa3072 | Self::Rsa4096 => SignatureAlgorithm::RsaPkcs1Sha256,
            Self::Ed25519 => SignatureAlgorithm::Ed25519,
        }
    }
}

/// A signature algorithm a [`Signer`] implements.
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
const ALG_ED25519: &[u8] = &[0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70];
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

/// SubjectPublicKeyInfo algorithm: id-ecPublicKey with prime256v1.
const SPKI_ALG_P256: &[u8] = &[
    0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48,
    0xce, 0x3d, 0x03, 0x01, 0x07,
];
/// SubjectPublicKeyInfo algorithm: id-ecPublicKey with secp384r1.
const SPKI_ALG_P384: &[u8] = &[
    0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x05, 0x2b, 0x81, 0x04,
    0x00, 0x22,
];
/// SubjectPublicKeyInfo algorithm: rsaEncryption with NULL parameters.
const SPKI_ALG_RSA: &[u8] = &[
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
];

impl SignatureAlgorithm {
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
    fn is_rsa(self) -> bool {
        matches!(self, Self::RsaPkcs1Sha256 | Self::RsaPssSha256)
    }
}

/// A private key that signs: the seam between a CA and wherever its key lives.
///
/// [`SoftwareSigner`] holds the key in memory. A hardware module or cloud KMS implements this
/// trait and slots in without any other API change. Signatures use the encoding of
/// [`SignatureAlgorithm`] (ECDSA: ASN.1 DER).
pub trait Signer: Send + Sync + fmt::Debug {
    /// The algorithm [`sign`](Self::sign) uses.
    fn algorithm(&self) -> SignatureAlgorithm;

    /// The public key as a DER `SubjectPublicKeyInfo`.
    fn public_key_spki(&self) -> &[u8];

    /// Signs `message` (the whole message; the signer hashes it).
    ///
    /// # Errors
    /// Whatever the key's home reports; it becomes [`Error::Signer`].
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignerError>;

    /// The PKCS#8 private key, for signers whose key may be persisted by a
    /// [`KeyStore`](crate::KeyStore). Keys that never leave their module return `None` (the
    /// default), and the CA then keeps them out of the store.
    fn pkcs8_for_storage(&self) -> Option<&[u8]> {
        None
    }
}

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

/// The SubjectPublicKeyInfo for `public` (a ring/aws-lc-rs public key: an uncompressed EC
/// point, a DER `RSAPublicKey`, or 32 Ed25519 bytes).
pub(crate) fn spki_of(algorithm: SignatureAlgorithm, public: &[u8]) -> Vec<u8> {
    let alg = match algorithm {
        SignatureAlgorithm::EcdsaP256Sha256 => SPKI_ALG_P256,
        SignatureAlgorithm::EcdsaP384Sha384 => SPKI_ALG_P384,
        SignatureAlgorithm::Ed25519 => ALG_ED25519,
        SignatureAlgorithm::RsaPkcs1Sha256 | SignatureAlgorithm::RsaPssSha256 => SPKI_ALG_RSA,
    };
    spki_from_parts(alg, public)
}

/// The public key a crypto library wrote into a PKCS#8 document it generated: the ECPrivateKey
/// `publicKey` (RFC 5915), the PKCS#8 v2 `publicKey` (RFC 5958, Ed25519), or `n` and `e` of an
/// RSAPrivateKey (RFC 8017 A.1.2) as an RSAPublicKey.
///
/// Used as the `svid` key loader for keys this crate has just generated with ring or
/// aws-lc-rs, whose two halves come from the same generation call: re-deriving the public key
/// from the private scalar (what a loader must do for a key of unknown origin) would cost as
/// much as generating it. `svid`'s `X509Svid::new` still checks that this public key is the one
/// in the leaf.
pub(crate) fn generated_public_key(
    algorithm: svid::KeyAlgorithm,
    pkcs8: &[u8],
) -> Result<Vec<u8>, svid::KeyError> {
    let inner = || -> Option<Vec<u8>> {
        let mut info = der::Reader::new(der::read_single(pkcs8, tag::SEQUENCE).ok()?);
        info.read(tag::INTEGER).ok()?;
        info.read(tag::SEQUENCE).ok()?;
        let private = info.read(tag::OCTET_STRING).ok()?;
        match algorithm {
            svid::KeyAlgorithm::EcdsaP256 | svid::KeyAlgorithm::EcdsaP384 => {
                let mut ec = der::Reader::new(der::read_single(private, tag::SEQUENCE).ok()?);
                ec.read(tag::INTEGER).ok()?;
                ec.read(tag::OCTET_STRING).ok()?;
                ec.read_optional(tag::CONTEXT_0).ok()?;
                let public = ec.read(CONTEXT_1_CONSTRUCTED).ok()?;
                let bits = der::read_single(public, tag::BIT_STRING).ok()?;
                der::bit_string_bytes(bits).ok().map(<[u8]>::to_vec)
            }
            svid::KeyAlgorithm::Ed25519 => {
                info.read_optional(tag::CONTEXT_0).ok()?;
                let bits = info.read(CONTEXT_1_PRIMITIVE).ok()?;
                der::bit_string_bytes(bits).ok().map(<[u8]>::to_vec)
            }
            svid::KeyAlgorithm::Rsa => {
                let mut rsa = der::Reader::new(der::read_single(private, tag::SEQUENCE).ok()?);
                rsa.read(tag::INTEGER).ok()?;
                let (_, n) = rsa.read_whole(tag::INTEGER).ok()?;
                let (_, e) = rsa.read_whole(tag::INTEGER).ok()?;
                Some(der::tlv_parts(tag::SEQUENCE, &[n, e]))
            }
            _ => None,
        }
    };
    inner().ok_or(svid::KeyError::Malformed)
}

/// `[1]` constructed (ECPrivateKey publicKey, EXPLICIT).
const CONTEXT_1_CONSTRUCTED: u8 = 0xa1;
/// `[1]` primitive (PKCS#8 v2 publicKey, IMPLICIT BIT STRING).
const CONTEXT_1_PRIMITIVE: u8 = 0x81;

/// The SubjectPublicKeyInfo for an svid key algorithm and its public key bits.
pub(crate) fn spki_of_key(algorithm: svid::KeyAlgorithm, public: &[u8]) -> Option<Vec<u8>> {
    let alg = match algorithm {
        svid::KeyAlgorithm::EcdsaP256 => SPKI_ALG_P256,
        svid::KeyAlgorithm::EcdsaP384 => SPKI_ALG_P384,
        svid::KeyAlgorithm::Ed25519 => ALG_ED25519,
        svid::KeyAlgorithm::Rsa => SPKI_ALG_RSA,
        _ => return None,
    };
    Some(spki_from_parts(alg, public))
}

/// Whether `spki` is a well-formed SubjectPublicKeyInfo of a key type this crate certifies,
/// with a public key of the right size for its type.
pub(crate) fn is_supported_spki(spki: &[u8]) -> bool {
    let inner = || -> Option<bool> {
        let mut info = der::Reader::new(der::read_single(spki, tag::SEQUENCE).ok()?);
        let (_, alg) = info.read_whole(tag::SEQUENCE).ok()?;
        let bits = der::bit_string_bytes(info.read(tag::BIT_STRING).ok()?).ok()?;
        if !info.is_empty() {
            return Some(false);
        }
        let ok = match alg {
            a if a == SPKI_ALG_P256 => bits.len() == 65 && bits.first() == Some(&4),
            a if a == SPKI_ALG_P384 => bits.len() == 97 && bits.first() == Some(&4),
            a if a == ALG_ED25519 => bits.len() == 32,
            a if a == SPKI_ALG_RSA => {
                let mut rsa = der::Reader::new(der::read_single(bits, tag::SEQUENCE).ok()?);
                let n = rsa.read(tag::INTEGER).ok()?;
                rsa.read(tag::INTEGER).ok()?;
                // 2048 bits or more (the verifiers refuse smaller moduli).
                rsa.is_empty() && n.len() >= 256
            }
            _ => false,
        };
        Some(ok)
    };
    inner().unwrap_or(false)
}

fn spki_from_parts(alg: &[u8], public: &[u8]) -> Vec<u8> {
    let mut bits = Vec::with_capacity(public.len() + 1);
    bits.push(0);
    bits.extend_from_slice(public);
    der::tlv_parts(tag::SEQUENCE, &[alg, &der::tlv(tag::BIT_STRING, &bits)])
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

#[cfg(all(test, any(feature = "ring", feature = "aws-lc-rs")))]
mod tests {
    use super::*;

    /// The embedded public key equals the one the library derives, for every key type and
    /// backend that can generate it.
    #[test]
    fn generated_public_key_matches_the_library() {
        let mut backends = Vec::new();
        #[cfg(feature = "ring")]
        backends.push(Backend::Ring);
        #[cfg(feature = "aws-lc-rs")]
        backends.push(Backend::AwsLcRs);
        for backend in backends {
            for (key_type, algorithm) in [
                (KeyType::EcdsaP256, svid::KeyAlgorithm::EcdsaP256),
                (KeyType::EcdsaP384, svid::KeyAlgorithm::EcdsaP384),
                (KeyType::Ed25519, svid::KeyAlgorithm::Ed25519),
                (KeyType::Rsa2048, svid::KeyAlgorithm::Rsa),
            ] {
                let Ok(pkcs8) = backend.generate_pkcs8(key_type) else {
                    assert!(key_type.is_rsa(), "{backend:?} {key_type:?}");
                    continue;
                };
                let loaded =
                    svid::PrivateKey::from_pkcs8_der(&pkcs8, &backend.crypto_backend()).unwrap();
                let embedded = generated_public_key(algorithm, &pkcs8).unwrap();
                assert_eq!(embedded, loaded.public_key(), "{backend:?} {key_type:?}");
            }
        }
    }
}
