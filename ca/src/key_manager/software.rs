//! [`SoftwareKeyManager`]: keys generated and used in process memory through an
//! [`svid::Crypto`], kept in a [`KeyStore`] (memory by default, files at 0600 with
//! [`FileKeyStore`](crate::FileKeyStore)).

use core::fmt;
use std::sync::Arc;

use svid::Crypto;

use crate::algorithm::SignatureAlgorithm;
use crate::error::Error;
use crate::key_manager::{KeyManager, KeyRequest, KeyResidence, ManagedKey};
use crate::keystore::{KeyStore, MemoryKeyStore};
use crate::signer::Signer;
use crate::signer::software::SoftwareSigner;

/// Keys in process memory, generated and used through an [`svid::Crypto`], their PKCS#8 kept
/// in a [`KeyStore`] under their reference (`x509-<random>`, `jwt-<random>`).
///
/// This is what a CA uses when given no key manager: with its
/// [`key_store`](crate::CertificateAuthorityBuilder::key_store) when it has one, so keys and
/// journal persist together, otherwise in memory.
///
/// ```
/// use ca::{KeyManager, KeyPurpose, KeyRequest, KeyType, SignatureAlgorithm, SoftwareKeyManager};
///
/// let keys = SoftwareKeyManager::new(svid::Crypto::default());
/// let key = keys.generate(&KeyRequest::new(
///     KeyPurpose::JwtAuthority,
///     KeyType::EcdsaP256,
///     SignatureAlgorithm::EcdsaP256Sha256,
///     "example.org".parse()?,
/// ))?;
/// let again = keys.load(&key.key_ref, SignatureAlgorithm::EcdsaP256Sha256)?;
/// assert_eq!(again.public_key_spki(), key.signer.public_key_spki());
/// keys.destroy(&key.key_ref)?;
/// assert!(keys.load(&key.key_ref, SignatureAlgorithm::EcdsaP256Sha256).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct SoftwareKeyManager {
    crypto: Crypto,
    store: Arc<dyn KeyStore>,
    /// The in-memory store when `store` is one, to list its keys.
    memory: Option<Arc<MemoryKeyStore>>,
}

impl SoftwareKeyManager {
    /// Keys in memory only: they live as long as this value.
    pub fn new(crypto: Crypto) -> Self {
        let memory = Arc::new(MemoryKeyStore::new());
        Self {
            crypto,
            store: memory.clone(),
            memory: Some(memory),
        }
    }

    /// Keys kept in `store` (e.g. a [`FileKeyStore`](crate::FileKeyStore): one file per key,
    /// mode 0600, written atomically).
    pub fn with_store(crypto: Crypto, store: Arc<dyn KeyStore>) -> Self {
        Self {
            crypto,
            store,
            memory: None,
        }
    }

    /// The references of the keys held in memory, sorted; empty for a manager on another
    /// store (list that store instead).
    pub fn key_refs(&self) -> Vec<String> {
        self.memory
            .as_ref()
            .map(|memory| memory.key_names())
            .unwrap_or_default()
    }
}

impl fmt::Debug for SoftwareKeyManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SoftwareKeyManager")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl KeyManager for SoftwareKeyManager {
    fn generate(&self, request: &KeyRequest) -> Result<ManagedKey, Error> {
        let signer =
            SoftwareSigner::generate_for(&self.crypto, request.key_type, request.algorithm)?;
        let mut suffix = [0u8; 12];
        self.crypto
            .fill_random(&mut suffix)
            .map_err(|_| Error::KeyGeneration)?;
        let key_ref = format!("{}-{}", request.purpose.as_str(), crate::x509::hex(&suffix));
        self.store.put_key(&key_ref, signer.pkcs8())?;
        Ok(ManagedKey::new(key_ref, Arc::new(signer)))
    }

    fn load(&self, key_ref: &str, algorithm: SignatureAlgorithm) -> Result<Arc<dyn Signer>, Error> {
        let pkcs8 = self
            .store
            .get_key(key_ref)?
            .ok_or_else(|| Error::KeyNotFound {
                key_ref: key_ref.to_owned(),
            })?;
        Ok(Arc::new(SoftwareSigner::from_pkcs8(
            &self.crypto,
            &pkcs8,
            algorithm,
        )?))
    }

    fn destroy(&self, key_ref: &str) -> Result<(), Error> {
        self.store.remove_key(key_ref)
    }

    fn residence(&self) -> KeyResidence {
        KeyResidence::InProcess
    }
}
