//! `Pkcs11KeyManager` against a real SoftHSM2 token: minted chains pass `openssl verify`,
//! rotation creates and destroys token keys, a restarted process keeps the same root, a token
//! that fails (PIN changed, token gone, wrong label) gives a typed error and no half-rotated
//! state, JWT-SVIDs signed on the token validate, and the private keys cannot be read out.
//!
//! Each test runs its body in a child process of this binary with its own `SOFTHSM2_CONF`
//! and token directory (`test_support::softhsm`): SoftHSM reads the variable when the module
//! is initialised, and a process-wide variable cannot be set safely from parallel tests.
//! Without SoftHSM2 the tests skip with a printed reason, except under `CI=true`, where they
//! fail (`interop/softhsm/setup.sh` installs it).

#![cfg(all(feature = "pkcs11", any(feature = "ring", feature = "aws-lc-rs")))]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers: a panic there is a failed test"
)]

mod common;

use std::error::Error as _;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ca::{
    CertificateAuthority, CertificateAuthorityBuilder, Error, FileKeyStore, JwtSvidRequest,
    KeyStore, Pkcs11Config, Pkcs11Error, Pkcs11KeyManager, Pkcs11Token, X509SvidRequest,
};
use common::{id, td, validate_jwt, verify};
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::object::{Attribute, AttributeInfo, AttributeType, ObjectClass};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use rustls_pki_types::CertificateDer;
use svid::{JwtAlgorithm, KeyType};
use test_support::softhsm::{ChildEnv, SoftHsm};

const LABEL: &str = "test";
const SO_PIN: &str = "1234";
const PIN: &str = "5678";
const HOUR: u64 = 3600;

/// Runs `body` once per phase, each in a new child process with its own SoftHSM token
/// directory holding the token `test` (user PIN 5678); the phases share the directories.
fn on_softhsm(test: &str, phases: &[&str], body: impl Fn(&ChildEnv)) {
    if let Some(env) = ChildEnv::current() {
        body(&env);
        std::fs::write(env.work.join(format!("{}.done", env.phase)), "").unwrap();
        return;
    }
    let Some(hsm) = SoftHsm::start_or_skip(test) else {
        return;
    };
    hsm.init_token(LABEL, SO_PIN, PIN);
    for phase in phases {
        let status = hsm.run_child(test, phase);
        assert!(status.success(), "{test}, phase {phase}: {status}");
        // A child whose test filter matched nothing would also succeed.
        let done = hsm.work().join(format!("{phase}.done"));
        assert!(
            done.exists(),
            "{test}, phase {phase}: the child did not run the test"
        );
    }
}

fn config(env: &ChildEnv, token: &str, pin: &str) -> Pkcs11Config {
    Pkcs11Config::new(&env.module, Pkcs11Token::Label(token.into()), pin)
}

fn manager(env: &ChildEnv) -> Arc<Pkcs11KeyManager> {
    Arc::new(Pkcs11KeyManager::open(config(env, LABEL, PIN), svid::Crypto::default()).unwrap())
}

fn builder(keys: Arc<Pkcs11KeyManager>, store: Arc<dyn KeyStore>) -> CertificateAuthorityBuilder {
    CertificateAuthority::builder(td("example.org"))
        .key_manager(keys)
        .key_store(store)
        .ca_ttl(Duration::from_secs(6 * HOUR))
        .jwt_key_ttl(Duration::from_secs(6 * HOUR))
}

fn file_store(env: &ChildEnv) -> Arc<dyn KeyStore> {
    Arc::new(FileKeyStore::open(env.work.join("state")).unwrap())
}

fn web() -> X509SvidRequest {
    X509SvidRequest::new(id("spiffe://example.org/web"))
}

/// The token seen directly through cryptoki, next to the key manager (same process: the
/// module is already initialised and the user already logged in).
struct Probe {
    session: Session,
    _pkcs11: Pkcs11,
}

impl Probe {
    fn open(env: &ChildEnv) -> Self {
        let pkcs11 = Pkcs11::new(&env.module).unwrap();
        match pkcs11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            Ok(())
            | Err(cryptoki::error::Error::Pkcs11(
                cryptoki::error::RvError::CryptokiAlreadyInitialized,
                _,
            )) => {}
            Err(e) => panic!("{e}"),
        }
        let slot = pkcs11
            .get_slots_with_token()
            .unwrap()
            .into_iter()
            .find(|slot| pkcs11.get_token_info(*slot).unwrap().label().trim_end() == LABEL)
            .unwrap();
        let session = pkcs11.open_rw_session(slot).unwrap();
        match session.login(UserType::User, Some(&AuthPin::from(PIN.to_owned()))) {
            Ok(())
            | Err(cryptoki::error::Error::Pkcs11(
                cryptoki::error::RvError::UserAlreadyLoggedIn,
                _,
            )) => {}
            Err(e) => panic!("{e}"),
        }
        Self {
            session,
            _pkcs11: pkcs11,
        }
    }

    /// (private keys, public keys) on the token.
    fn count(&self) -> (usize, usize) {
        let count = |class| {
            self.session
                .find_objects(&[Attribute::Class(class)])
                .unwrap()
                .len()
        };
        (
            count(ObjectClass::PRIVATE_KEY),
            count(ObjectClass::PUBLIC_KEY),
        )
    }
}

/// The `CKA_ID` of a `p11-<hex>` reference.
fn id_of(key_ref: &str) -> Vec<u8> {
    let hex = key_ref.strip_prefix("p11-").unwrap();
    (0..hex.len() / 2)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

fn pem(certs: &[CertificateDer<'_>]) -> String {
    use base64::Engine;
    let mut out = String::new();
    for cert in certs {
        out.push_str("-----BEGIN CERTIFICATE-----\n");
        let b64 = base64::engine::general_purpose::STANDARD.encode(cert);
        for line in b64.as_bytes().chunks(64) {
            out.push_str(std::str::from_utf8(line).unwrap());
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
    }
    out
}

/// `openssl verify` in `dir`: the CA file, the untrusted intermediates, the leaf.
fn openssl_verify(dir: &Path, root: &[CertificateDer<'_>], chain: &[CertificateDer<'static>]) {
    std::fs::write(dir.join("root.pem"), pem(root)).unwrap();
    std::fs::write(dir.join("leaf.pem"), pem(&chain[..1])).unwrap();
    std::fs::write(dir.join("inter.pem"), pem(&chain[1..])).unwrap();
    let out = Command::new("openssl")
        .args([
            "verify",
            "-x509_strict",
            "-purpose",
            "sslclient",
            "-CAfile",
            "root.pem",
        ])
        .args(if chain.len() > 1 {
            &["-untrusted", "inter.pem"][..]
        } else {
            &[]
        })
        .arg("leaf.pem")
        .current_dir(dir)
        .output()
        .expect("openssl runs (CI has it; install the openssl package)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("leaf.pem: OK"),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A root and a node CA whose keys are on the token (P-256, P-384, Ed25519, RSA 2048) mint a
/// chain that `openssl verify -x509_strict` accepts (X509-SVID 4, 5: leaf signed by the node
/// CA, node by the root in the bundle); the keys are non-extractable, sensitive token objects whose
/// `CKA_VALUE` the token refuses to return.
#[test]
fn token_keys_mint_chains_that_openssl_verifies() {
    on_softhsm(
        "token_keys_mint_chains_that_openssl_verifies",
        &["main"],
        |env| {
            let keys = manager(env);
            for key_type in [
                KeyType::EcdsaP256,
                KeyType::EcdsaP384,
                KeyType::Ed25519,
                KeyType::Rsa2048,
            ] {
                let now = SystemTime::now();
                let root = builder(keys.clone(), Arc::new(ca::MemoryKeyStore::new()))
                    .x509_key_type(key_type)
                    .build(now)
                    .unwrap();
                let node = CertificateAuthority::builder(td("example.org"))
                    .key_manager(keys.clone())
                    .x509_key_type(key_type)
                    .parent(&root)
                    .build(now)
                    .unwrap();
                let svid = node.mint_x509_svid(&web(), now).unwrap();
                assert_eq!(svid.chain().len(), 2);
                assert!(verify(&root, svid.chain(), now).is_ok());
                openssl_verify(
                    &env.work,
                    root.bundle().x509_bundle().authorities(),
                    svid.chain(),
                );
            }

            let probe = Probe::open(env);
            let refs = keys.key_refs().unwrap();
            assert_eq!(refs.len(), 16, "{refs:?}");
            for key_ref in refs {
                let private = probe
                    .session
                    .find_objects(&[
                        Attribute::Class(ObjectClass::PRIVATE_KEY),
                        Attribute::Id(id_of(&key_ref)),
                    ])
                    .unwrap();
                assert_eq!(private.len(), 1);
                let info = probe
                    .session
                    .get_attribute_info(
                        private[0],
                        &[
                            AttributeType::Value,
                            AttributeType::PrivateExponent,
                            AttributeType::Prime1,
                        ],
                    )
                    .unwrap();
                assert!(
                    info.iter().all(|i| matches!(
                        i,
                        AttributeInfo::Sensitive | AttributeInfo::TypeInvalid
                    )) && info.iter().any(|i| matches!(i, AttributeInfo::Sensitive)),
                    "{key_ref}: {info:?}"
                );
                let flags = probe
                    .session
                    .get_attributes(
                        private[0],
                        &[
                            AttributeType::Sensitive,
                            AttributeType::Extractable,
                            AttributeType::Token,
                            AttributeType::NeverExtractable,
                        ],
                    )
                    .unwrap();
                for flag in flags {
                    match flag {
                        Attribute::Sensitive(v)
                        | Attribute::Token(v)
                        | Attribute::NeverExtractable(v) => assert!(v, "{key_ref}: {flag:?}"),
                        Attribute::Extractable(v) => assert!(!v, "{key_ref}: extractable"),
                        other => panic!("{other:?}"),
                    }
                }
            }
        },
    );
}

/// JWT-SVIDs signed on the token (ES256, ES384, RS256, PS256) validate with svid's
/// `JwtValidator` against the CA's bundle (JWT-SVID 3: signed with a key in the bundle).
#[test]
fn jwt_svids_signed_on_the_token_validate() {
    on_softhsm("jwt_svids_signed_on_the_token_validate", &["main"], |env| {
        let keys = manager(env);
        for algorithm in [
            JwtAlgorithm::Es256,
            JwtAlgorithm::Es384,
            JwtAlgorithm::Rs256,
            JwtAlgorithm::Ps256,
        ] {
            let now = SystemTime::now();
            let ca = builder(keys.clone(), Arc::new(ca::MemoryKeyStore::new()))
                .jwt_algorithm(algorithm)
                .build(now)
                .unwrap();
            let token = ca
                .mint_jwt_svid(
                    &JwtSvidRequest::new(id("spiffe://example.org/web"), ["db"]),
                    now,
                )
                .unwrap();
            let verified = validate_jwt(&ca.bundle(), &token, "db", now);
            assert!(verified.is_ok(), "{algorithm:?}: {verified:?}");
        }
    });
}

/// Rotation creates new token keys through the key manager, and once the old authorities are
/// removed their token objects (private and public) are destroyed: the token then holds
/// exactly the keys the journal names.
#[test]
fn rotation_creates_and_destroys_token_keys() {
    on_softhsm(
        "rotation_creates_and_destroys_token_keys",
        &["main"],
        |env| {
            let keys = manager(env);
            let probe = Probe::open(env);
            let now = SystemTime::now();
            let at = |secs| now + Duration::from_secs(secs);
            let store = file_store(env);
            let ca = builder(keys.clone(), store.clone()).build(now).unwrap();
            let first = keys.key_refs().unwrap();
            assert_eq!(first.len(), 2);
            assert_eq!(probe.count(), (2, 2));

            ca.rotate(at(3 * HOUR)).unwrap();
            assert_eq!(probe.count(), (4, 4), "one prepared key per kind");
            // Activation, then the old authorities are removed (one call after they retire).
            ca.rotate(at(5 * HOUR)).unwrap();
            ca.rotate(at(6 * HOUR + 1)).unwrap();
            ca.rotate(at(6 * HOUR + 2)).unwrap();
            assert!(ca.undestroyed_keys().is_empty());
            for key_ref in &first {
                let objects = probe
                    .session
                    .find_objects(&[Attribute::Id(id_of(key_ref))])
                    .unwrap();
                assert!(objects.is_empty(), "{key_ref} is still on the token");
            }
            // The token holds exactly the keys the journal names: the active pair and the pair
            // prepared at the new authorities' half-life.
            let journal = String::from_utf8(store.get_state().unwrap().unwrap()).unwrap();
            let mut named: Vec<_> = journal
                .split('"')
                .filter(|s| s.starts_with("p11-"))
                .map(str::to_owned)
                .collect();
            named.sort();
            assert_eq!(keys.key_refs().unwrap(), named);
            assert_eq!(probe.count(), (4, 4));
            let svid = ca.mint_x509_svid(&web(), at(6 * HOUR + 2)).unwrap();
            assert!(verify(&ca, svid.chain(), at(6 * HOUR + 2)).is_ok());
        },
    );
}

/// A CA on the token with its journal in a `FileKeyStore`, stopped and started again in a new
/// process, has the same bundle and keys, and its SVIDs verify against the first bundle; so
/// does one rebuilt in the same process after the module was finalised.
#[test]
fn restarted_process_keeps_the_same_root() {
    on_softhsm(
        "restarted_process_keeps_the_same_root",
        &["first", "second"],
        |env| {
            let keys = manager(env);
            let now = SystemTime::now();
            let ca = builder(keys.clone(), file_store(env)).build(now).unwrap();
            let bundle = ca.bundle().to_json();
            let saved = env.work.join("bundle.json");
            if env.phase == "first" {
                std::fs::write(&saved, &bundle).unwrap();
                std::fs::write(env.work.join("refs"), keys.key_refs().unwrap().join("\n")).unwrap();
            } else {
                let first = trust_bundle::SpiffeBundle::parse(
                    td("example.org"),
                    std::fs::read(&saved).unwrap(),
                )
                .unwrap();
                assert_eq!(ca.bundle().x509_bundle(), first.x509_bundle());
                assert_eq!(ca.bundle().jwt_bundle(), first.jwt_bundle());
                let refs = std::fs::read_to_string(env.work.join("refs")).unwrap();
                assert_eq!(keys.key_refs().unwrap().join("\n"), refs, "no new keys");
                let svid = ca.mint_x509_svid(&web(), now).unwrap();
                assert!(common::verify_with(&first, svid.chain(), now).is_ok());
                let token = ca
                    .mint_jwt_svid(
                        &JwtSvidRequest::new(id("spiffe://example.org/web"), ["db"]),
                        now,
                    )
                    .unwrap();
                assert!(validate_jwt(&first, &token, "db", now).is_ok());

                // Within one process too: dropping every user finalises the module; opening
                // it again initialises it again and finds the same keys.
                drop((ca, keys));
                let again = builder(manager(env), file_store(env)).build(now).unwrap();
                assert_eq!(again.bundle().x509_bundle(), first.x509_bundle());
                assert!(again.mint_x509_svid(&web(), now).is_ok());
            }
        },
    );
}

fn pkcs11_source(err: &Error) -> &Pkcs11Error {
    let Error::KeyManager(inner) = err else {
        panic!("not a key manager error: {err:?}");
    };
    inner
        .source()
        .and_then(|s| s.downcast_ref::<Pkcs11Error>())
        .unwrap_or_else(|| panic!("no Pkcs11Error source: {err:?}"))
}

/// A wrong PIN and an unknown token label or slot are typed errors at open (the message names
/// the token and, for a label, the labels present); a module that cannot be loaded names its
/// path. The token is found by slot id as well.
#[test]
fn wrong_pin_unknown_token_and_missing_module_are_typed_errors() {
    let err = Pkcs11KeyManager::open(
        Pkcs11Config::new(
            "/nonexistent/libpkcs11.so",
            Pkcs11Token::Label(LABEL.into()),
            PIN,
        ),
        svid::Crypto::default(),
    )
    .unwrap_err();
    assert!(
        matches!(pkcs11_source(&err), Pkcs11Error::Module(_)),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("/nonexistent/libpkcs11.so"),
        "{err}"
    );

    on_softhsm(
        "wrong_pin_unknown_token_and_missing_module_are_typed_errors",
        &["main"],
        |env| {
            let open =
                |config| Pkcs11KeyManager::open(config, svid::Crypto::default()).unwrap_err();
            let err = open(config(env, LABEL, "0000"));
            assert!(
                matches!(pkcs11_source(&err), Pkcs11Error::PinIncorrect),
                "{err:?}"
            );
            assert!(
                err.to_string().contains("token 'test'") && err.to_string().contains("wrong PIN"),
                "{err}"
            );

            let err = open(config(env, "spire", PIN));
            match pkcs11_source(&err) {
                Pkcs11Error::TokenNotFound { found } => {
                    assert!(found.iter().any(|l| l == LABEL), "{found:?}")
                }
                other => panic!("{other:?}"),
            }
            assert!(err.to_string().contains("\"test\""), "{err}");
            // The right PIN still works: the failed login did not lock anything. By slot id
            // too; an empty slot is no token.
            manager(env);
            let slot = Probe::open(env)
                .session
                .get_session_info()
                .unwrap()
                .slot_id();
            let by_slot = Pkcs11Config::new(&env.module, Pkcs11Token::Slot(slot.id()), PIN);
            assert!(Pkcs11KeyManager::open(by_slot, svid::Crypto::default()).is_ok());
            let empty = Pkcs11Config::new(&env.module, Pkcs11Token::Slot(slot.id() ^ 1), PIN);
            let err = Pkcs11KeyManager::open(empty, svid::Crypto::default()).unwrap_err();
            assert!(
                matches!(pkcs11_source(&err), Pkcs11Error::TokenNotFound { .. }),
                "{err:?}"
            );
        },
    );
}

/// The user PIN changes under a running CA (the token logs it out): rotation fails with the
/// typed wrong-PIN error, the bundle, sequence and journal stay as they were, and the
/// rotation succeeds once the PIN is back (the manager logs in again by itself).
#[test]
fn failing_token_leaves_no_half_rotated_state() {
    on_softhsm(
        "failing_token_leaves_no_half_rotated_state",
        &["main"],
        |env| {
            let keys = manager(env);
            let store = file_store(env);
            let now = SystemTime::now();
            let at = |secs| now + Duration::from_secs(secs);
            let ca = builder(keys.clone(), store.clone()).build(now).unwrap();
            let before = ca.snapshot();
            let journal = store.get_state().unwrap();

            let probe = Probe::open(env);
            let new_pin = AuthPin::from("8765".to_owned());
            probe
                .session
                .set_pin(&AuthPin::from(PIN.to_owned()), &new_pin)
                .unwrap();
            probe.session.logout().unwrap();

            let err = ca.rotate(at(3 * HOUR)).unwrap_err();
            assert!(
                matches!(pkcs11_source(&err), Pkcs11Error::PinIncorrect),
                "{err:?}"
            );
            assert!(err.to_string().contains("wrong PIN"), "{err}");
            assert_eq!(ca.snapshot().sequence(), before.sequence());
            assert_eq!(ca.bundle(), *before.bundle());
            assert_eq!(store.get_state().unwrap(), journal);
            // Signing needs the login too: a mint fails, saying why.
            let err = ca.mint_x509_svid(&web(), now).unwrap_err();
            assert!(
                matches!(&err, Error::Signer(_))
                    && err.source().unwrap().to_string().contains("wrong PIN"),
                "{err:?}"
            );
            assert_eq!(
                keys.key_refs().map_err(|e| pkcs11_source(&e).to_string()),
                Err("CKR_PIN_INCORRECT".into())
            );

            // The PIN is back: the manager logs in again and the rotation happens.
            probe.session.login(UserType::User, Some(&new_pin)).unwrap();
            probe
                .session
                .set_pin(&new_pin, &AuthPin::from(PIN.to_owned()))
                .unwrap();
            ca.rotate(at(3 * HOUR)).unwrap();
            assert!(ca.snapshot().sequence() > before.sequence());
            assert_eq!(keys.key_refs().unwrap().len(), 4);
            let svid = ca.mint_x509_svid(&web(), at(3 * HOUR)).unwrap();
            assert!(verify(&ca, svid.chain(), at(3 * HOUR)).is_ok());
        },
    );
}
