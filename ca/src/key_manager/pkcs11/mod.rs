//! [`Pkcs11KeyManager`]: CA keys generated on a PKCS#11 token (an HSM, a smart card, SoftHSM2)
//! that never leave it.
//!
//! Keys are made with `C_GenerateKeyPair` as token objects that are sensitive and not
//! extractable, named by a random 16-byte `CKA_ID` (the key reference is `p11-<hex id>`) and
//! labelled `<prefix>-<purpose>-<trust domain>` for people listing the token. Signing hashes in
//! software with the CA's crypto provider and asks the token for `CKM_ECDSA` (re-encoded as
//! DER), `CKM_EDDSA`, `CKM_SHA256_RSA_PKCS` or `CKM_SHA256_RSA_PKCS_PSS`.

mod signer;
mod token;

use core::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, ObjectClass};
use cryptoki::types::AuthPin;
use rustls::crypto::hash::{Hash, HashAlgorithm};
use svid::{Crypto, KeyType};
use zeroize::Zeroizing;

use self::signer::{EC_PARAMS_ED25519, EC_PARAMS_P256, EC_PARAMS_P384, Pkcs11Signer};
use self::token::Token;
use crate::algorithm::SignatureAlgorithm;
use crate::error::{Error, KeyManagerError};
use crate::key_manager::{KeyManager, KeyRequest, KeyResidence, ManagedKey};
use crate::signer::Signer;

/// The prefix of every key reference this manager hands out.
const KEY_REF_PREFIX: &str = "p11-";
/// Bytes of random `CKA_ID`.
const ID_LEN: usize = 16;

/// Which token of the module holds the keys.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Pkcs11Token {
    /// The token with this label (`CKA_LABEL` of the token, without the padding spaces).
    Label(String),
    /// The token in this slot (slot ids may change when tokens are added; prefer labels).
    Slot(u64),
}

/// How to reach a PKCS#11 token: the module, the token and the user PIN.
///
/// The PIN is kept in a zeroizing secret and never printed (`Debug` leaves it out).
pub struct Pkcs11Config {
    module: PathBuf,
    token: Pkcs11Token,
    pin: AuthPin,
    label_prefix: String,
}

impl Pkcs11Config {
    /// The token `token` of the module at `module` (e.g.
    /// `/usr/lib/softhsm/libsofthsm2.so`), logged in as the user with `user_pin`.
    pub fn new(
        module: impl Into<PathBuf>,
        token: Pkcs11Token,
        user_pin: impl Into<String>,
    ) -> Self {
        Self {
            module: module.into(),
            token,
            // An exact-size copy (a `String` shrunk into a box could leave an unzeroized
            // buffer behind); the caller's string is zeroized here.
            pin: AuthPin::from(Zeroizing::new(user_pin.into()).as_str()),
            label_prefix: "spiffekit".to_owned(),
        }
    }

    /// The start of the `CKA_LABEL` of the keys this manager creates (default `spiffekit`):
    /// `<prefix>-<purpose>-<trust domain>`. [`Pkcs11KeyManager::key_refs`] lists the keys with
    /// this prefix.
    #[must_use]
    pub fn label_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.label_prefix = prefix.into();
        self
    }
}

impl fmt::Debug for Pkcs11Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11Config")
            .field("module", &self.module)
            .field("token", &self.token)
            .field("label_prefix", &self.label_prefix)
            .finish_non_exhaustive()
    }
}

/// Why a PKCS#11 operation failed: the source of the [`Error::KeyManager`] that
/// [`Pkcs11KeyManager`] returns (reach it with `std::error::Error::source` and
/// `downcast_ref`). The key manager error's message says which module or token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Pkcs11Error {
    /// The module could not be loaded or initialised.
    #[error("the PKCS#11 module could not be loaded or initialised")]
    Module(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The user PIN is wrong (`CKR_PIN_INCORRECT`).
    #[error("CKR_PIN_INCORRECT")]
    PinIncorrect,
    /// The user PIN is locked after too many wrong tries (`CKR_PIN_LOCKED`).
    #[error("CKR_PIN_LOCKED")]
    PinLocked,
    /// Another failure reported by the module or token.
    #[error("the PKCS#11 module failed")]
    Token(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// No token matches the configuration.
    #[error("no such token; tokens present: {found:?}")]
    TokenNotFound {
        /// The labels of the tokens present.
        found: Vec<String>,
    },
}

/// CA keys on a PKCS#11 token: generated there, used there, destroyed there.
///
/// Give it to [`CertificateAuthorityBuilder::key_manager`](crate::CertificateAuthorityBuilder::key_manager),
/// with a [`FileKeyStore`](crate::FileKeyStore) (or another [`KeyStore`](crate::KeyStore)) as
/// the [`key_store`](crate::CertificateAuthorityBuilder::key_store) for the journal: the
/// journal names each key by reference, and a restarted CA loads the same token keys.
/// [`residence`](KeyManager::residence) is [`KeyResidence::External`], so
/// [`SelfCheck::Auto`](crate::SelfCheck::Auto) verifies every credential in full.
///
/// The module is loaded and initialised once per process and path, shared by every manager
/// of that path, and finalised when the last manager and signer using it are dropped (not when
/// something else in the process had initialised it). Sessions are pooled; one the token
/// closes or logs out is replaced and logged in again.
///
/// Key types: P-256 and P-384 (ECDSA), Ed25519 (`CKM_EDDSA`, X.509 only, as in software),
/// RSA 2048/3072/4096 (PKCS#1 v1.5 and PSS, SHA-256); others are [`Error::Unsupported`].
///
/// ```no_run
/// use std::sync::Arc;
/// use std::time::SystemTime;
/// use ca::{CertificateAuthority, FileKeyStore, Pkcs11Config, Pkcs11KeyManager, Pkcs11Token};
///
/// let config = Pkcs11Config::new(
///     "/usr/lib/softhsm/libsofthsm2.so",
///     Pkcs11Token::Label("spiffe-ca".into()),
///     std::env::var("CA_TOKEN_PIN")?,
/// );
/// let keys = Arc::new(Pkcs11KeyManager::open(config, svid::Crypto::default())?);
/// let ca = CertificateAuthority::builder("example.org".parse()?)
///     .key_store(Arc::new(FileKeyStore::open("/var/lib/ca")?))
///     .key_manager(keys)
///     .build(SystemTime::now())?;
/// # drop(ca);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Pkcs11KeyManager {
    token: Arc<Token>,
    module: PathBuf,
    label_prefix: String,
    crypto: Crypto,
    sha256: Option<&'static dyn Hash>,
    sha384: Option<&'static dyn Hash>,
}

impl fmt::Debug for Pkcs11KeyManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11KeyManager")
            .field("module", &self.module)
            .field("token", &self.token.label())
            .field("slot", &self.token.slot_id())
            .field("label_prefix", &self.label_prefix)
            .finish_non_exhaustive()
    }
}

impl Pkcs11KeyManager {
    /// Loads the module, finds the token and logs in. `crypto` hashes what ECDSA keys sign
    /// and draws key ids.
    ///
    /// # Errors
    /// [`Error::KeyManager`] (source: [`Pkcs11Error`]) when the module cannot be loaded, no
    /// token matches (the message lists the labels present) or the PIN is refused.
    pub fn open(config: Pkcs11Config, crypto: Crypto) -> Result<Self, Error> {
        let Pkcs11Config {
            module,
            token,
            pin,
            label_prefix,
        } = config;
        let opened = Token::open(&module, &token, pin).map_err(|e| {
            let what = match &e {
                Pkcs11Error::Module(source) => {
                    format!("cannot load PKCS#11 module {}: {source}", module.display())
                }
                Pkcs11Error::TokenNotFound { found } => format!(
                    "no PKCS#11 token {} in {}; tokens present: {found:?}",
                    describe(&token),
                    module.display()
                ),
                e => format!(
                    "{} of {}: {}",
                    describe(&token),
                    module.display(),
                    wording(e)
                ),
            };
            Error::KeyManager(KeyManagerError::with_source(what, e))
        })?;
        let hash = |algorithm| {
            crypto
                .provider()
                .cipher_suites
                .iter()
                .filter_map(|suite| suite.tls13())
                .map(|suite| suite.common.hash_provider)
                .find(|hash| hash.algorithm() == algorithm)
        };
        Ok(Self {
            sha256: hash(HashAlgorithm::SHA256),
            sha384: hash(HashAlgorithm::SHA384),
            token: Arc::new(opened),
            module,
            label_prefix,
            crypto,
        })
    }

    /// The references of the keys on the token whose label starts with this manager's
    /// prefix, sorted: what an operator compares with the CA's journal.
    ///
    /// # Errors
    /// [`Error::KeyManager`] when the token fails.
    pub fn key_refs(&self) -> Result<Vec<String>, Error> {
        let prefix = format!("{}-", self.label_prefix);
        let mut refs = self
            .token
            .with_session(|session| {
                let keys = session.find_objects(&[Attribute::Class(ObjectClass::PRIVATE_KEY)])?;
                let mut refs = Vec::new();
                for key in keys {
                    let attributes = session.get_attributes(
                        key,
                        &[
                            cryptoki::object::AttributeType::Id,
                            cryptoki::object::AttributeType::Label,
                        ],
                    )?;
                    let (mut id, mut ours) = (None, false);
                    for attribute in attributes {
                        match attribute {
                            Attribute::Id(value) => id = Some(value),
                            Attribute::Label(label) => ours = label.starts_with(prefix.as_bytes()),
                            _ => {}
                        }
                    }
                    if let Some(id) = id.filter(|id| ours && !id.is_empty()) {
                        refs.push(key_ref_of(&id));
                    }
                }
                Ok(refs)
            })
            .map_err(|e| self.error("listing the keys of", e))?;
        refs.sort();
        Ok(refs)
    }

    /// A key manager error for a failure while `doing` something with the token.
    fn error(&self, doing: &str, e: Pkcs11Error) -> Error {
        let what = format!(
            "{doing} PKCS#11 token '{}' failed: {}",
            self.token.label(),
            wording(&e)
        );
        Error::KeyManager(KeyManagerError::with_source(what, e))
    }
}

impl KeyManager for Pkcs11KeyManager {
    fn generate(&self, request: &KeyRequest) -> Result<ManagedKey, Error> {
        let (mechanism, type_specific) = match request.key_type {
            KeyType::EcdsaP256 => (
                Mechanism::EccKeyPairGen,
                Attribute::EcParams(EC_PARAMS_P256.to_vec()),
            ),
            KeyType::EcdsaP384 => (
                Mechanism::EccKeyPairGen,
                Attribute::EcParams(EC_PARAMS_P384.to_vec()),
            ),
            KeyType::Ed25519 => (
                Mechanism::EccEdwardsKeyPairGen,
                Attribute::EcParams(EC_PARAMS_ED25519.to_vec()),
            ),
            KeyType::Rsa2048 => (
                Mechanism::RsaPkcsKeyPairGen,
                Attribute::ModulusBits(2048.into()),
            ),
            KeyType::Rsa3072 => (
                Mechanism::RsaPkcsKeyPairGen,
                Attribute::ModulusBits(3072.into()),
            ),
            KeyType::Rsa4096 => (
                Mechanism::RsaPkcsKeyPairGen,
                Attribute::ModulusBits(4096.into()),
            ),
            _ => {
                return Err(Error::Unsupported {
                    what: "this key type on a PKCS#11 token (P-256, P-384, Ed25519 and RSA are)",
                });
            }
        };
        let mut id = [0u8; ID_LEN];
        self.crypto
            .fill_random(&mut id)
            .map_err(|_| Error::KeyGeneration)?;
        let label = format!(
            "{}-{}-{}",
            self.label_prefix,
            request.purpose.as_str(),
            request.trust_domain
        )
        .into_bytes();
        let common = [
            Attribute::Token(true),
            Attribute::Id(id.to_vec()),
            Attribute::Label(label),
        ];
        let mut public = common.to_vec();
        public.extend([
            Attribute::Private(false),
            Attribute::Verify(true),
            type_specific,
        ]);
        if matches!(mechanism, Mechanism::RsaPkcsKeyPairGen) {
            public.push(Attribute::PublicExponent(vec![0x01, 0x00, 0x01]));
        }
        let mut private = common.to_vec();
        private.extend([
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
        ]);
        self.token
            .with_session(|session| session.generate_key_pair(&mechanism, &public, &private))
            .map_err(|e| self.error("generating a key on", e))?;
        let signer = Pkcs11Signer::load(self, &id, request.algorithm)?;
        Ok(ManagedKey::new(key_ref_of(&id), Arc::new(signer)))
    }

    fn load(&self, key_ref: &str, algorithm: SignatureAlgorithm) -> Result<Arc<dyn Signer>, Error> {
        let id = id_of(key_ref).ok_or_else(|| Error::KeyNotFound {
            key_ref: key_ref.to_owned(),
        })?;
        Ok(Arc::new(Pkcs11Signer::load(self, &id, algorithm)?))
    }

    fn destroy(&self, key_ref: &str) -> Result<(), Error> {
        let Some(id) = id_of(key_ref) else {
            return Ok(());
        };
        self.token
            .with_session(|session| {
                for object in session.find_objects(&[Attribute::Id(id.clone())])? {
                    session.destroy_object(object)?;
                }
                Ok(())
            })
            .map_err(|e| self.error("destroying a key on", e))
    }

    fn residence(&self) -> KeyResidence {
        KeyResidence::External
    }
}

/// `p11-<hex id>`.
fn key_ref_of(id: &[u8]) -> String {
    format!("{KEY_REF_PREFIX}{}", crate::x509::hex(id))
}

/// The `CKA_ID` a reference names, if it is one of ours.
fn id_of(key_ref: &str) -> Option<Vec<u8>> {
    let hex = key_ref.strip_prefix(KEY_REF_PREFIX)?;
    if hex.len() != 2 * ID_LEN {
        return None;
    }
    (0..ID_LEN)
        .map(|i| {
            let pair = hex.get(2 * i..2 * i + 2)?;
            u8::from_str_radix(pair, 16).ok()
        })
        .collect()
}

fn describe(token: &Pkcs11Token) -> String {
    match token {
        Pkcs11Token::Label(label) => format!("token '{label}'"),
        Pkcs11Token::Slot(slot) => format!("token in slot {slot}"),
    }
}

/// What to tell an operator about `e`.
fn wording(e: &Pkcs11Error) -> String {
    match e {
        Pkcs11Error::PinIncorrect => "login refused: wrong PIN".to_owned(),
        Pkcs11Error::PinLocked => "login refused: the PIN is locked".to_owned(),
        Pkcs11Error::Module(source) | Pkcs11Error::Token(source) => {
            match source.downcast_ref::<cryptoki::error::Error>() {
                // The return value's name, not its paragraph-long description.
                Some(cryptoki::error::Error::Pkcs11(rv, function)) => {
                    format!("C_{function:?} returned {rv:?}")
                }
                _ => source.to_string(),
            }
        }
        Pkcs11Error::TokenNotFound { found } => format!("token gone; tokens present: {found:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_refs_round_trip_and_foreign_ones_are_not_ours() {
        let id: Vec<u8> = (0..16).collect();
        let key_ref = key_ref_of(&id);
        assert_eq!(key_ref, "p11-000102030405060708090a0b0c0d0e0f");
        assert_eq!(id_of(&key_ref), Some(id));
        for foreign in [
            "x509-00",
            "p11-",
            "p11-zz0102030405060708090a0b0c0d0e0f",
            "p11-0001",
        ] {
            assert_eq!(id_of(foreign), None, "{foreign}");
        }
    }

    #[test]
    fn config_debug_never_shows_the_pin() {
        let config = Pkcs11Config::new("/m.so", Pkcs11Token::Label("t".into()), "s3cret-pin");
        assert!(!format!("{config:?}").contains("s3cret"));
    }
}
