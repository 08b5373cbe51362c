//! [`PrivateKey`]: an SVID's PKCS#8 private key, zeroized on drop and never printed.

use core::fmt;
use std::sync::{Arc, OnceLock};

use rustls::sign::SigningKey;
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use zeroize::Zeroizing;

use crate::Crypto;
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

/// An SVID private key: loaded once by the crypto provider, and kept in PKCS#8 form.
///
/// Loading goes through the [`Crypto`]'s rustls key provider, once per key: the resulting
/// [`SigningKey`] derives the public key (to match the key against a certificate) and is the
/// very key TLS handshakes and CA signatures use, never parsed again. A key
/// [`generate`](Self::generate)d here is loaded on its first [`signing_key`](Self::signing_key)
/// call instead (its public key comes from the generation), so SVIDs a CA mints for others never
/// pay for a load they do not need. The PKCS#8 bytes are zeroized when the key is dropped;
/// `Debug` shows only the algorithm; there is no `Clone` or `PartialEq` (share a key through
/// `Arc`).
pub struct PrivateKey {
    pkcs8: Zeroizing<Vec<u8>>,
    algorithm: KeyAlgorithm,
    public_key: Vec<u8>,
    signing_key: OnceLock<Result<Arc<dyn SigningKey>, KeyError>>,
    crypto: Crypto,
}

impl PrivateKey {
    /// Loads a PKCS#8 DER private key with `crypto`'s key provider.
    ///
    /// # Errors
    /// [`KeyError::Malformed`] when it is not PKCS#8, [`KeyError::Unsupported`] for other key
    /// types or curves, [`KeyError::Rejected`] when the provider refuses the key material,
    /// [`KeyError::NoPublicKey`] when the provider's key cannot tell its public key.
    pub fn from_pkcs8_der(pkcs8: &[u8], crypto: &Crypto) -> Result<Self, KeyError> {
        let algorithm = KeyAlgorithm::of_pkcs8(pkcs8)?;
        let signing_key = crypto.load_private_key(pkcs8)?;
        let spki = signing_key.public_key().ok_or(KeyError::NoPublicKey)?;
        let public_key = subject_public_key(&spki)
            .ok_or(KeyError::NoPublicKey)?
            .to_vec();
        Ok(Self {
            pkcs8: Zeroizing::new(pkcs8.to_vec()),
            algorithm,
            public_key,
            signing_key: OnceLock::from(Ok(signing_key)),
            crypto: crypto.clone(),
        })
    }

    /// Generates a new key of `key_type` with `crypto`'s [`KeyGenerator`](crate::KeyGenerator).
    ///
    /// EC and Ed25519 keys take their public key from the document the generator wrote (both
    /// halves come from one generation call), and are loaded by the provider on first use; other
    /// keys are loaded at once, as [`from_pkcs8_der`](Self::from_pkcs8_der) does.
    ///
    /// # Errors
    /// [`KeyError::GenerationUnsupported`] or [`KeyError::GenerationFailed`] from the
    /// generator, then as [`from_pkcs8_der`](Self::from_pkcs8_der).
    pub fn generate(key_type: crate::KeyType, crypto: &Crypto) -> Result<Self, KeyError> {
        let pkcs8 = crypto.generate_pkcs8(key_type)?;
        let algorithm = KeyAlgorithm::of_pkcs8(&pkcs8)?;
        match embedded_public_key(algorithm, &pkcs8) {
            Some(public_key) => Ok(Self {
                public_key: public_key.to_vec(),
                pkcs8,
                algorithm,
                signing_key: OnceLock::new(),
                crypto: crypto.clone(),
            }),
            None => Self::from_pkcs8_der(&pkcs8, crypto),
        }
    }

    /// Loads the first `PRIVATE KEY` (PKCS#8) block of a PEM document. Other PEM blocks, such as
    /// certificates in the same file, are skipped.
    ///
    /// # Errors
    /// [`KeyError::NoKeyInPem`] without a PKCS#8 block; otherwise as
    /// [`from_pkcs8_der`](Self::from_pkcs8_der).
    pub fn from_pem(pem: &[u8], crypto: &Crypto) -> Result<Self, KeyError> {
        use rustls_pki_types::pem::PemObject;
        match PrivateKeyDer::from_pem_slice(pem) {
            Ok(PrivateKeyDer::Pkcs8(key)) => Self::from_pkcs8_der(key.secret_pkcs8_der(), crypto),
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

    /// The key as the crypto provider loaded it: what signs TLS handshakes (a rustls
    /// `CertifiedKey` takes it as is) and CA certificates. Loaded at most once per key.
    ///
    /// # Errors
    /// [`KeyError::Rejected`] when the provider refuses a [`generate`](Self::generate)d key on
    /// its first use (a key loaded by [`from_pkcs8_der`](Self::from_pkcs8_der) cannot fail here).
    pub fn signing_key(&self) -> Result<&Arc<dyn SigningKey>, KeyError> {
        self.signing_key
            .get_or_init(|| self.crypto.load_private_key(&self.pkcs8))
            .as_ref()
            .map_err(|error| *error)
    }

    /// The secret PKCS#8 bytes. Named so every exposure is visible in review.
    pub fn secret_pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The key as a borrowed rustls-pki-types value (to hand the key to another library; rustls
    /// itself takes [`signing_key`](Self::signing_key)).
    pub fn to_private_key_der(&self) -> PrivateKeyDer<'_> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.secret_pkcs8_der()))
    }

    /// The key as a `PRIVATE KEY` PEM block, in memory that is zeroized on drop.
    pub fn to_pem(&self) -> Zeroizing<String> {
        Zeroizing::new(crate::pem::encode("PRIVATE KEY", &self.pkcs8))
    }
}

/// The public key a generator wrote into the PKCS#8 document it made: the ECPrivateKey
/// `publicKey` (RFC 5915) or the PKCS#8 v2 `publicKey` (RFC 5958, Ed25519). `None` for RSA or
/// any other layout, which are then loaded instead.
fn embedded_public_key(algorithm: KeyAlgorithm, pkcs8: &[u8]) -> Option<&[u8]> {
    /// `[1]` constructed (ECPrivateKey publicKey, EXPLICIT).
    const CONTEXT_1_CONSTRUCTED: u8 = 0xa1;
    let mut info = Reader::new(der::read_single(pkcs8, tag::SEQUENCE).ok()?);
    info.read(tag::INTEGER).ok()?;
    info.read(tag::SEQUENCE).ok()?;
    let private = info.read(tag::OCTET_STRING).ok()?;
    let bits = match algorithm {
        KeyAlgorithm::EcdsaP256 | KeyAlgorithm::EcdsaP384 => {
            let mut ec = Reader::new(der::read_single(private, tag::SEQUENCE).ok()?);
            ec.read(tag::INTEGER).ok()?;
            ec.read(tag::OCTET_STRING).ok()?;
            ec.read_optional(tag::CONTEXT_0).ok()?;
            let public = ec.read(CONTEXT_1_CONSTRUCTED).ok()?;
            der::read_single(public, tag::BIT_STRING).ok()?
        }
        KeyAlgorithm::Ed25519 => {
            info.read_optional(tag::CONTEXT_0).ok()?;
            info.read(tag::CONTEXT_1_PRIMITIVE).ok()?
        }
        KeyAlgorithm::Rsa => return None,
    };
    match bits.split_first() {
        Some((0, key)) if !key.is_empty() => Some(key),
        _ => None,
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

#[cfg(all(test, any(feature = "ring", feature = "aws-lc-rs")))]
mod tests {
    use super::*;
    use crate::KeyType;

    /// A generated key's public key (read from the generator's document) is the one the
    /// provider derives when it loads the key, for every built-in crypto and key type.
    #[test]
    fn generated_public_key_matches_the_loaded_key() {
        let mut all = Vec::new();
        #[cfg(feature = "ring")]
        all.push(Crypto::ring());
        #[cfg(feature = "aws-lc-rs")]
        all.push(Crypto::aws_lc_rs());
        for crypto in all {
            for key_type in [KeyType::EcdsaP256, KeyType::EcdsaP384, KeyType::Ed25519] {
                let generated = PrivateKey::generate(key_type, &crypto).unwrap();
                assert!(
                    generated.signing_key.get().is_none(),
                    "{key_type:?} loaded eagerly"
                );
                let loaded =
                    PrivateKey::from_pkcs8_der(generated.secret_pkcs8_der(), &crypto).unwrap();
                assert_eq!(generated.public_key(), loaded.public_key(), "{key_type:?}");
                assert_eq!(generated.algorithm(), loaded.algorithm());
                let spki = generated.signing_key().unwrap().public_key().unwrap();
                assert_eq!(subject_public_key(&spki), Some(generated.public_key()));
            }
        }
    }
}
/// The `subjectPublicKey` bits of a SubjectPublicKeyInfo TLV (no unused bits allowed).
pub(crate) fn subject_public_key(spki: &[u8]) -> Option<&[u8]> {
    let mut info = Reader::new(der::read_single(spki, tag::SEQUENCE).ok()?);
    info.read(tag::SEQUENCE).ok()?;
    let bits = info.read(tag::BIT_STRING).ok()?;
    info.finish().ok()?;
    match bits.split_first() {
        Some((0, key)) => Some(key),
        _ => None,
    }
}
