//! [`PrivateKey`]: an SVID's PKCS#8 private key, zeroized on drop and never printed.

use core::fmt;

use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use zeroize::Zeroizing;

use crate::CryptoBackend;
use crate::der::{self, Reader, oid, tag};
use crate::error::KeyError;

/// The key types an X.509-SVID may use here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyAlgorithm {
    /// ECDSA on NIST P-256.
    EcdsaP256,
    /// ECDSA on NIST P-384.
    EcdsaP384,
    /// RSA, 2048 bits or more (the backends refuse smaller moduli).
    Rsa,
    /// Ed25519.
    Ed25519,
}

impl KeyAlgorithm {
    /// Reads the algorithm from a PKCS#8 `PrivateKeyInfo` / `OneAsymmetricKey`.
    fn of_pkcs8(pkcs8: &[u8]) -> Result<Self, KeyError> {
        let malformed = |_| KeyError::Malformed;
        let mut info = Reader::new(der::read_single(pkcs8, tag::SEQUENCE).map_err(malformed)?);
        info.read(tag::INTEGER).map_err(malformed)?; // version
        let mut algorithm = Reader::new(info.read(tag::SEQUENCE).map_err(malformed)?);
        match algorithm.read(tag::OID).map_err(malformed)? {
            oid::EC_PUBLIC_KEY => match algorithm.read(tag::OID).map_err(malformed)? {
                oid::SECP256R1 => Ok(Self::EcdsaP256),
                oid::SECP384R1 => Ok(Self::EcdsaP384),
                _ => Err(KeyError::Unsupported),
            },
            oid::RSA_ENCRYPTION => Ok(Self::Rsa),
            oid::ED25519 => Ok(Self::Ed25519),
            _ => Err(KeyError::Unsupported),
        }
    }
}

/// An SVID private key in PKCS#8 form.
///
/// The bytes are zeroized when the key is dropped; `Debug` shows only the algorithm; there is no
/// `Clone` or `PartialEq` (share a key through `Arc`). Loading validates the key with the crypto
/// backend and derives its public key, so a key can be matched against a certificate.
pub struct PrivateKey {
    pkcs8: Zeroizing<Vec<u8>>,
    algorithm: KeyAlgorithm,
    public_key: Vec<u8>,
}

impl PrivateKey {
    /// Loads a PKCS#8 DER private key.
    ///
    /// # Errors
    /// [`KeyError::Malformed`] when it is not PKCS#8, [`KeyError::Unsupported`] for other key
    /// types or curves, [`KeyError::Rejected`] when the backend refuses the key material.
    pub fn from_pkcs8_der(pkcs8: &[u8], backend: &CryptoBackend) -> Result<Self, KeyError> {
        let algorithm = KeyAlgorithm::of_pkcs8(pkcs8)?;
        let public_key = backend.public_key_of(algorithm, pkcs8)?;
        Ok(Self {
            pkcs8: Zeroizing::new(pkcs8.to_vec()),
            algorithm,
            public_key,
        })
    }

    /// Loads the first `PRIVATE KEY` (PKCS#8) block of a PEM document. Other PEM blocks, such as
    /// certificates in the same file, are skipped.
    ///
    /// # Errors
    /// [`KeyError::NoKeyInPem`] without a PKCS#8 block; otherwise as
    /// [`from_pkcs8_der`](Self::from_pkcs8_der).
    pub fn from_pem(pem: &[u8], backend: &CryptoBackend) -> Result<Self, KeyError> {
        use rustls_pki_types::pem::PemObject;
        match PrivateKeyDer::from_pem_slice(pem) {
            Ok(PrivateKeyDer::Pkcs8(key)) => Self::from_pkcs8_der(key.secret_pkcs8_der(), backend),
            Ok(_) => Err(KeyError::Unsupported),
            Err(_) => Err(KeyError::NoKeyInPem),
        }
    }

    /// The key type.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    /// The public key as it appears in a certificate's `subjectPublicKey` bits (an uncompressed
    /// EC point, a DER `RSAPublicKey`, or 32 Ed25519 bytes).
    pub fn public_key(&self) -> &[u8] {
        &self.public_key
    }

    /// The secret PKCS#8 bytes. Named so every exposure is visible in review.
    pub fn secret_pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The key as a borrowed rustls-pki-types value, e.g. for a rustls signing key.
    pub fn to_private_key_der(&self) -> PrivateKeyDer<'_> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.secret_pkcs8_der()))
    }

    /// The key as a `PRIVATE KEY` PEM block, in memory that is zeroized on drop.
    pub fn to_pem(&self) -> Zeroizing<String> {
        Zeroizing::new(crate::pem::encode("PRIVATE KEY", &self.pkcs8))
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("algorithm", &self.algorithm)
            .field("pkcs8", &"<redacted>")
            .finish()
    }
}
