//! The key seam: [`KeyManager`] (where a CA's keys are created, found again and destroyed) and
//! what crosses it ([`KeyRequest`], [`ManagedKey`]).
//!
//! The CA asks its key manager for every key it creates — the first X.509 authority and JWT
//! key, and each one rotation prepares — loads them back by reference when it resumes from its
//! journal, and destroys them once what they signed has expired. [`SoftwareKeyManager`] keeps
//! keys in process memory (optionally persisted through a [`KeyStore`](crate::KeyStore)); a
//! hardware module or KMS implements the same trait.
//!
//! [`SoftwareKeyManager`]: crate::SoftwareKeyManager

#[cfg(feature = "pkcs11")]
pub(crate) mod pkcs11;
pub(crate) mod software;

use core::fmt;
use std::sync::Arc;

use svid::KeyType;

use crate::algorithm::SignatureAlgorithm;
use crate::error::Error;
use crate::signer::Signer;

/// The longest key reference the CA accepts.
pub const MAX_KEY_REF_LEN: usize = 128;

/// Where a CA's private keys live: generates them, finds them again by reference after a
/// restart, and destroys them.
///
/// The CA stores each key's reference ([`ManagedKey::key_ref`]) in its lifecycle journal and
/// calls [`load`](Self::load) with it when it resumes. A reference is chosen by the key
/// manager: ASCII letters, digits, `-`, `_` and `.`, at most [`MAX_KEY_REF_LEN`] bytes (the CA
/// refuses others, so a journal cannot smuggle paths or labels into a key manager).
///
/// ```
/// use ca::{CertificateAuthority, KeyManager, SoftwareKeyManager};
/// use std::sync::Arc;
/// use std::time::SystemTime;
///
/// let keys = Arc::new(SoftwareKeyManager::new(svid::Crypto::default()));
/// let ca = CertificateAuthority::builder("example.org".parse()?)
///     .key_manager(keys.clone())
///     .build(SystemTime::now())?;
/// // The first X.509 authority and the first JWT key.
/// assert_eq!(keys.key_refs().len(), 2);
/// # drop(ca);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait KeyManager: Send + Sync + fmt::Debug {
    /// Creates a new key as `request` describes.
    ///
    /// # Errors
    /// [`Error::Unsupported`] when this manager cannot make such a key;
    /// [`Error::KeyManager`] for failures of the key's home (token absent, wrong PIN, I/O).
    fn generate(&self, request: &KeyRequest) -> Result<ManagedKey, Error>;

    /// The key `key_ref`, which signs with `algorithm`.
    ///
    /// # Errors
    /// [`Error::KeyNotFound`] when the manager has no such key; [`Error::KeyRejected`] when
    /// it cannot sign with `algorithm`; [`Error::KeyManager`] for other failures.
    fn load(&self, key_ref: &str, algorithm: SignatureAlgorithm) -> Result<Arc<dyn Signer>, Error>;

    /// Destroys the key `key_ref`; no error when it is already gone.
    ///
    /// # Errors
    /// [`Error::KeyManager`] when the key's home fails.
    fn destroy(&self, key_ref: &str) -> Result<(), Error>;

    /// Where the keys are, which decides how much the CA re-checks what they sign (see
    /// [`SelfCheck::Auto`](crate::SelfCheck::Auto)). Default: [`KeyResidence::External`].
    fn residence(&self) -> KeyResidence {
        KeyResidence::External
    }
}

/// Where a key manager's keys are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyResidence {
    /// In this process' memory, used through the CA's own [`svid::Crypto`]: the faults a
    /// signature check would catch are those of that library, proven once per key.
    InProcess,
    /// Outside the process (PKCS#11 token, KMS, remote signer): every signature comes from
    /// software and hardware the CA cannot vouch for.
    External,
}

/// What a key is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyPurpose {
    /// An X.509 authority's key: signs X.509-SVIDs and intermediate CA certificates.
    X509Authority,
    /// A JWT signing key.
    JwtAuthority,
}

impl KeyPurpose {
    /// A short lowercase name (`x509` or `jwt`), usable in labels and file names.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::X509Authority => "x509",
            Self::JwtAuthority => "jwt",
        }
    }
}

/// What the CA asks of a key manager for a new key.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyRequest {
    /// What the key is for.
    pub purpose: KeyPurpose,
    /// Its type and size.
    pub key_type: KeyType,
    /// How it signs (fits `key_type`).
    pub algorithm: SignatureAlgorithm,
    /// The trust domain of the CA (for labels; a manager may ignore it).
    pub trust_domain: spiffe_id::TrustDomain,
}

impl KeyRequest {
    /// A request for a key of `key_type` that signs with `algorithm`.
    pub fn new(
        purpose: KeyPurpose,
        key_type: KeyType,
        algorithm: SignatureAlgorithm,
        trust_domain: spiffe_id::TrustDomain,
    ) -> Self {
        Self {
            purpose,
            key_type,
            algorithm,
            trust_domain,
        }
    }
}

/// A key a [`KeyManager`] created: its reference and what signs with it.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ManagedKey {
    /// How [`KeyManager::load`] and [`KeyManager::destroy`] find the key again.
    pub key_ref: String,
    /// Signs with the key.
    pub signer: Arc<dyn Signer>,
}

impl ManagedKey {
    /// A key known as `key_ref`.
    pub fn new(key_ref: impl Into<String>, signer: Arc<dyn Signer>) -> Self {
        Self {
            key_ref: key_ref.into(),
            signer,
        }
    }
}

/// Whether `key_ref` is a reference the CA accepts (see [`KeyManager`]).
pub(crate) fn check_key_ref(key_ref: &str) -> Result<(), Error> {
    let valid = !key_ref.is_empty()
        && key_ref.len() <= MAX_KEY_REF_LEN
        && key_ref
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && !key_ref.starts_with('.');
    if valid {
        Ok(())
    } else {
        Err(Error::StoredState {
            reason: format!(
                "key reference {:?} is not 1-{MAX_KEY_REF_LEN} ASCII letters, digits, '-', '_' or '.' (not starting with '.')",
                key_ref
                    .chars()
                    .take(MAX_KEY_REF_LEN + 1)
                    .collect::<String>()
            ),
        })
    }
}

/// Asks `manager` for a key and checks what it returns: a valid reference and a signer for
/// the requested algorithm.
pub(crate) fn generate_checked(
    manager: &dyn KeyManager,
    request: &KeyRequest,
) -> Result<ManagedKey, Error> {
    let key = manager.generate(request)?;
    check_key_ref(&key.key_ref)?;
    if key.signer.algorithm() != request.algorithm {
        return Err(Error::KeyRejected);
    }
    Ok(key)
}
