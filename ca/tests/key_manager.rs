//! The key seam: every key the CA creates, at build and at each rotation, comes from its
//! `KeyManager`; resumed keys are loaded from it by reference; removed ones are destroyed after
//! the journal stops naming them; a failing key manager leaves no half-rotated state; and
//! `SelfCheck::Auto` checks every credential in full when the keys are external.

#![cfg(any(feature = "ring", feature = "aws-lc-rs"))]
#![allow(
    clippy::unwrap_used,
    reason = "helpers outside #[test] functions; a panic there is a failed test"
)]

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ca::{
    AuthorityKind, Error, FileKeyStore, KeyManager, KeyManagerError, KeyRequest, KeyResidence,
    KeyStore, ManagedKey, MemoryKeyStore, SelfCheck, SignatureAlgorithm, Signer, SignerError,
    SoftwareKeyManager, X509SvidRequest,
};
use common::{after, builder, id, t0, verify};

const HOUR: u64 = 3600;

/// A key manager that records every call and can be told to fail or to hand out faulty keys.
#[derive(Debug)]
struct Recording {
    inner: SoftwareKeyManager,
    residence: KeyResidence,
    generated: Mutex<Vec<(ca::KeyPurpose, String)>>,
    loaded: Mutex<Vec<String>>,
    destroyed: Mutex<Vec<String>>,
    fail_generate: AtomicBool,
    fail_destroy: AtomicBool,
    /// Keys generated from now on sign correctly this many times, then return garbage
    /// (`usize::MAX`: never).
    faulty_from: AtomicUsize,
    bad_ref: AtomicBool,
}

impl Recording {
    fn new(store: Arc<dyn KeyStore>, residence: KeyResidence) -> Arc<Self> {
        Arc::new(Self {
            inner: SoftwareKeyManager::with_store(svid::Crypto::default(), store),
            residence,
            generated: Mutex::default(),
            loaded: Mutex::default(),
            destroyed: Mutex::default(),
            fail_generate: AtomicBool::new(false),
            fail_destroy: AtomicBool::new(false),
            faulty_from: AtomicUsize::new(usize::MAX),
            bad_ref: AtomicBool::new(false),
        })
    }

    fn generated(&self) -> Vec<(ca::KeyPurpose, String)> {
        self.generated.lock().unwrap().clone()
    }
}

impl KeyManager for Recording {
    fn generate(&self, request: &KeyRequest) -> Result<ManagedKey, Error> {
        if self.fail_generate.load(Ordering::SeqCst) {
            return Err(Error::KeyManager(KeyManagerError::new(
                "token not present in slot 0",
            )));
        }
        let mut key = self.inner.generate(request)?;
        if self.bad_ref.load(Ordering::SeqCst) {
            key.key_ref = "../../etc/passwd".into();
        }
        let bad_from = self.faulty_from.load(Ordering::SeqCst);
        if bad_from != usize::MAX {
            key.signer = Arc::new(Faulty {
                inner: key.signer,
                calls: AtomicUsize::new(0),
                bad_from,
            });
        }
        self.generated
            .lock()
            .unwrap()
            .push((request.purpose, key.key_ref.clone()));
        Ok(key)
    }

    fn load(&self, key_ref: &str, algorithm: SignatureAlgorithm) -> Result<Arc<dyn Signer>, Error> {
        self.loaded.lock().unwrap().push(key_ref.to_owned());
        self.inner.load(key_ref, algorithm)
    }

    fn destroy(&self, key_ref: &str) -> Result<(), Error> {
        if self.fail_destroy.load(Ordering::SeqCst) {
            return Err(Error::KeyManager(KeyManagerError::new(
                "token is read-only",
            )));
        }
        self.destroyed.lock().unwrap().push(key_ref.to_owned());
        self.inner.destroy(key_ref)
    }

    fn residence(&self) -> KeyResidence {
        self.residence
    }
}

/// A signer whose signatures from the `bad_from`th on are corrupted: a module that goes bad.
#[derive(Debug)]
struct Faulty {
    inner: Arc<dyn Signer>,
    calls: AtomicUsize,
    bad_from: usize,
}

impl Signer for Faulty {
    fn algorithm(&self) -> SignatureAlgorithm {
        self.inner.algorithm()
    }
    fn public_key_spki(&self) -> &[u8] {
        self.inner.public_key_spki()
    }
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignerError> {
        let mut signature = self.inner.sign(message)?;
        if self.calls.fetch_add(1, Ordering::SeqCst) >= self.bad_from {
            if let Some(byte) = signature.last_mut() {
                *byte ^= 1;
            }
        }
        Ok(signature)
    }
}

fn web() -> X509SvidRequest {
    X509SvidRequest::new(id("spiffe://example.org/web"))
}

fn six_hours() -> ca::CertificateAuthorityBuilder {
    builder()
        .ca_ttl(Duration::from_secs(6 * HOUR))
        .jwt_key_ttl(Duration::from_secs(6 * HOUR))
}

fn spki_of_active_x509(ca: &ca::CertificateAuthority) -> Vec<u8> {
    let cert = ca.x509_authority_certificate().unwrap();
    let (_, parsed) = x509_parser::parse_x509_certificate(&cert).unwrap();
    parsed.public_key().raw.to_vec()
}

/// Every generated key goes through the seam: the first pair at build, one more per kind at
/// each prepared rotation; the active X.509 authority signs with a key the manager made;
/// removed authorities' keys are destroyed, and only after the journal dropped them.
#[test]
fn every_rotation_goes_through_the_key_manager() {
    let store: Arc<dyn KeyStore> = Arc::new(MemoryKeyStore::new());
    let keys = Recording::new(store.clone(), KeyResidence::InProcess);
    let ca = six_hours()
        .key_store(store.clone())
        .key_manager(keys.clone())
        .build(t0())
        .unwrap();
    let purposes: Vec<_> = keys.generated().into_iter().map(|(p, _)| p).collect();
    assert_eq!(
        purposes,
        [ca::KeyPurpose::X509Authority, ca::KeyPurpose::JwtAuthority]
    );
    let first_x509_ref = keys.generated()[0].1.clone();
    let first_spki = spki_of_active_x509(&ca);
    let loaded = keys.load(&first_x509_ref, SignatureAlgorithm::EcdsaP256Sha256);
    assert_eq!(loaded.unwrap().public_key_spki(), first_spki.as_slice());

    // Half-life: one new key per kind, prepared.
    ca.rotate(after(3 * HOUR)).unwrap();
    assert_eq!(keys.generated().len(), 4);
    // Activation, then the old authorities expire and are removed.
    ca.rotate(after(5 * HOUR)).unwrap();
    assert_ne!(spki_of_active_x509(&ca), first_spki);
    assert!(keys.destroyed.lock().unwrap().is_empty());
    ca.rotate(after(6 * HOUR)).unwrap();
    let destroyed = keys.destroyed.lock().unwrap().clone();
    assert!(destroyed.contains(&first_x509_ref), "{destroyed:?}");
    assert!(destroyed.contains(&keys.generated()[1].1), "{destroyed:?}");
    // The journal names no destroyed key: a restart resumes.
    let again = six_hours()
        .key_store(store)
        .key_manager(keys.clone())
        .build(after(6 * HOUR))
        .unwrap();
    assert_eq!(again.bundle().x509_bundle(), ca.bundle().x509_bundle());
    assert!(again.undestroyed_keys().is_empty());
}

/// A restarted CA loads its keys from the manager by the references in its journal, and the
/// bundle is the same (files at 0600 through `FileKeyStore`).
#[test]
fn restart_loads_keys_by_reference() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn KeyStore> = Arc::new(FileKeyStore::open(dir.path()).unwrap());
    let keys = Recording::new(store.clone(), KeyResidence::InProcess);
    let first = builder()
        .key_store(store.clone())
        .key_manager(keys)
        .build(t0())
        .unwrap();
    let svid = first.mint_x509_svid(&web(), t0()).unwrap();

    let store: Arc<dyn KeyStore> = Arc::new(FileKeyStore::open(dir.path()).unwrap());
    let keys = Recording::new(store.clone(), KeyResidence::InProcess);
    let second = builder()
        .key_store(store)
        .key_manager(keys.clone())
        .build(after(60))
        .unwrap();
    assert_eq!(second.bundle().x509_bundle(), first.bundle().x509_bundle());
    assert_eq!(second.bundle().jwt_bundle(), first.bundle().jwt_bundle());
    assert_eq!(keys.loaded.lock().unwrap().len(), 2);
    assert!(keys.generated().is_empty(), "nothing new at restart");
    assert!(verify(&second, svid.chain(), after(60)).is_ok());
}

/// A key manager that fails mid-rotation (token removed) gives a typed error, and the CA
/// keeps its previous consistent state: same bundle, same sequence, same active key.
#[test]
fn failing_key_manager_leaves_no_half_rotated_state() {
    let store: Arc<dyn KeyStore> = Arc::new(MemoryKeyStore::new());
    let keys = Recording::new(store.clone(), KeyResidence::External);
    let ca = six_hours()
        .key_store(store.clone())
        .key_manager(keys.clone())
        .build(t0())
        .unwrap();
    let before = ca.snapshot();
    let journal = store.get_state().unwrap();
    keys.fail_generate.store(true, Ordering::SeqCst);
    let err = ca.rotate(after(3 * HOUR)).unwrap_err();
    assert!(
        matches!(&err, Error::KeyManager(e) if e.to_string().contains("token not present")),
        "{err:?}"
    );
    let err = ca.force_rotate_x509(after(3 * HOUR)).unwrap_err();
    assert!(matches!(err, Error::KeyManager(_)), "{err:?}");
    assert_eq!(ca.snapshot().sequence(), before.sequence());
    assert_eq!(ca.bundle(), *before.bundle());
    assert_eq!(store.get_state().unwrap(), journal);
    assert!(ca.mint_x509_svid(&web(), after(3 * HOUR)).is_ok());

    // The token is back: the rotation happens.
    keys.fail_generate.store(false, Ordering::SeqCst);
    ca.rotate(after(3 * HOUR)).unwrap();
    assert!(ca.snapshot().sequence() > before.sequence());
}

/// Keys the manager fails to destroy are listed and tried again; the removal stands.
#[test]
fn undestroyed_keys_are_retried() {
    let store: Arc<dyn KeyStore> = Arc::new(MemoryKeyStore::new());
    let keys = Recording::new(store.clone(), KeyResidence::InProcess);
    let ca = six_hours()
        .key_store(store)
        .key_manager(keys.clone())
        .build(t0())
        .unwrap();
    ca.rotate(after(3 * HOUR)).unwrap();
    ca.rotate(after(5 * HOUR)).unwrap();
    keys.fail_destroy.store(true, Ordering::SeqCst);
    ca.rotate(after(6 * HOUR)).unwrap();
    assert_eq!(
        ca.undestroyed_keys().len(),
        2,
        "{:?}",
        ca.undestroyed_keys()
    );
    assert_eq!(
        ca.snapshot()
            .authorities()
            .iter()
            .filter(|a| a.kind == AuthorityKind::X509)
            .count(),
        2
    );
    keys.fail_destroy.store(false, Ordering::SeqCst);
    ca.rotate(after(6 * HOUR + 60)).unwrap();
    assert!(ca.undestroyed_keys().is_empty());
    assert_eq!(keys.destroyed.lock().unwrap().len(), 2);
}

/// A key manager's reference must be a plain name: the CA refuses one that could name a path
/// (negative test), and a signer for another algorithm than asked.
#[test]
fn key_references_and_algorithms_are_checked() {
    let store: Arc<dyn KeyStore> = Arc::new(MemoryKeyStore::new());
    let keys = Recording::new(store, KeyResidence::InProcess);
    keys.bad_ref.store(true, Ordering::SeqCst);
    let err = builder().key_manager(keys).build(t0()).unwrap_err();
    assert!(matches!(err, Error::StoredState { .. }), "{err:?}");

    #[derive(Debug)]
    struct WrongAlgorithm(SoftwareKeyManager);
    impl KeyManager for WrongAlgorithm {
        fn generate(&self, request: &KeyRequest) -> Result<ManagedKey, Error> {
            let mut request = request.clone();
            request.key_type = ca::KeyType::EcdsaP384;
            request.algorithm = SignatureAlgorithm::EcdsaP384Sha384;
            self.0.generate(&request)
        }
        fn load(&self, key_ref: &str, a: SignatureAlgorithm) -> Result<Arc<dyn Signer>, Error> {
            self.0.load(key_ref, a)
        }
        fn destroy(&self, key_ref: &str) -> Result<(), Error> {
            self.0.destroy(key_ref)
        }
    }
    let err = builder()
        .key_manager(Arc::new(WrongAlgorithm(SoftwareKeyManager::new(
            svid::Crypto::default(),
        ))))
        .build(t0())
        .unwrap_err();
    assert!(matches!(err, Error::KeyRejected), "{err:?}");
}

/// A journal naming a key the manager does not have (another token, a lost key file) stops
/// the build with an error that says so.
#[test]
fn journal_key_missing_from_the_manager_is_an_error() {
    let store: Arc<dyn KeyStore> = Arc::new(MemoryKeyStore::new());
    builder().key_store(store.clone()).build(t0()).unwrap();
    let elsewhere = Arc::new(SoftwareKeyManager::new(svid::Crypto::default()));
    let err = builder()
        .key_store(store)
        .key_manager(elsewhere)
        .build(after(1))
        .unwrap_err();
    assert!(
        matches!(&err, Error::StoredState { reason } if reason.contains("does not have")),
        "{err:?}"
    );
}

/// A version 1 journal (keys stored as `x509-<authority id>` / `jwt-<kid>`, no references)
/// is still resumed.
#[test]
fn version_1_journal_is_resumed() {
    let store = Arc::new(MemoryKeyStore::new());
    let first = builder().key_store(store.clone()).build(t0()).unwrap();
    let mut journal: serde_json::Value =
        serde_json::from_slice(&store.get_state().unwrap().unwrap()).unwrap();
    journal["version"] = 1.into();
    for (kind, id_field) in [("x509", "id"), ("jwt", "kid")] {
        for authority in journal[kind].as_array_mut().unwrap() {
            let key_ref = authority["key"].as_str().unwrap().to_owned();
            let old_name = format!("{kind}-{}", authority[id_field].as_str().unwrap());
            let pkcs8 = store.get_key(&key_ref).unwrap().unwrap();
            store.put_key(&old_name, &pkcs8).unwrap();
            store.remove_key(&key_ref).unwrap();
            authority.as_object_mut().unwrap().remove("key");
        }
    }
    store
        .put_state(&serde_json::to_vec(&journal).unwrap())
        .unwrap();
    let second = builder().key_store(store).build(after(1)).unwrap();
    assert_eq!(second.bundle().x509_bundle(), first.bundle().x509_bundle());
    assert_eq!(second.bundle().jwt_bundle(), first.bundle().jwt_bundle());
}

/// `SelfCheck::Auto` with keys outside the process verifies every credential: a module that
/// starts returning bad signatures is caught. With keys in process it checks the first
/// credential per key in full and the rest structurally, so the same fault would pass;
/// `SelfCheck::Full` catches it there too.
#[test]
fn auto_self_check_is_full_for_external_keys() {
    for (residence, mode, caught) in [
        (KeyResidence::External, SelfCheck::Auto, true),
        (KeyResidence::InProcess, SelfCheck::Auto, false),
        (KeyResidence::InProcess, SelfCheck::Full, true),
    ] {
        let store: Arc<dyn KeyStore> = Arc::new(MemoryKeyStore::new());
        let keys = Recording::new(store, residence);
        // Good signatures: the self-signed CA certificate, the build's probe, the first SVID.
        keys.faulty_from.store(3, Ordering::SeqCst);
        let ca = builder()
            .key_manager(keys)
            .self_check(mode)
            .build(t0())
            .unwrap_or_else(|e| panic!("{residence:?} {mode:?}: {e:?}"));
        assert!(ca.mint_x509_svid(&web(), t0()).is_ok());
        let minted = ca.mint_x509_svid(&web(), t0());
        assert_eq!(
            matches!(minted, Err(Error::SelfCheck(_))),
            caught,
            "{residence:?} {mode:?}: {minted:?}"
        );
    }
}

/// A key that signs garbage from the start is refused when it is made: at build (nothing is
/// returned) and at rotation (the rotation fails, the previous authority keeps signing and
/// the journal is unchanged), never at the first mint after it took over.
#[test]
fn a_key_that_signs_garbage_is_refused_when_made() {
    let store: Arc<dyn KeyStore> = Arc::new(MemoryKeyStore::new());
    let keys = Recording::new(store.clone(), KeyResidence::External);
    keys.faulty_from.store(0, Ordering::SeqCst);
    let err = builder()
        .key_store(store.clone())
        .key_manager(keys.clone())
        .build(t0())
        .unwrap_err();
    assert!(matches!(err, Error::SelfCheck(_)), "{err:?}");

    keys.faulty_from.store(usize::MAX, Ordering::SeqCst);
    let ca = six_hours()
        .key_store(store.clone())
        .key_manager(keys.clone())
        .build(t0())
        .unwrap();
    let journal = store.get_state().unwrap();
    keys.faulty_from.store(1, Ordering::SeqCst);
    let err = ca.force_rotate_x509(after(60)).unwrap_err();
    assert!(matches!(err, Error::SelfCheck(_)), "{err:?}");
    assert_eq!(store.get_state().unwrap(), journal);
    assert!(ca.mint_x509_svid(&web(), after(60)).is_ok());
}
