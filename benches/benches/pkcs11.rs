//! `ca` with its keys on a PKCS#11 token: minting an X.509-SVID whose CA key is a SoftHSM2
//! P-256 key (`Pkcs11KeyManager`) against the same mint with a software P-256 key
//! (`SoftwareKeyManager`), both with `SelfCheck::Full` (what `SelfCheck::Auto` does for an
//! external key manager), with the same `svid::Crypto`, in the same run:
//!
//! - `ca_x509_mint_p256_pkcs11_keygen`: `mint_x509_svid` (leaf key generated in software, CA
//!   signature on the token): `ours/mint_keygen.softhsm` over `baseline/mint_keygen_software`;
//! - `ca_x509_mint_p256_pkcs11_public_key`: `mint_x509_svid_for_public_key` (no leaf key
//!   generation: the CA signature is most of the cost): `ours/mint_public_key.softhsm` over
//!   `baseline/mint_public_key_software`, and `softhsm/c_sign_ecdsa`: SoftHSM's own `C_Sign`
//!   (`CKM_ECDSA` over a 32-byte digest) with the same key, which is what the token adds.
//!
//! SoftHSM2 is found as the tests find it (`test_support::softhsm`): the bench makes a token in
//! a temporary directory and runs itself again with `SOFTHSM2_CONF` pointing there. Without
//! SoftHSM2 (`interop/softhsm/setup.sh`) it prints why and measures nothing.
//!
//! Run: `python3 benches/ratios.py run -- --bench pkcs11 -- --warm-up-time 1 --measurement-time 4`
//!
//! Measured (aws-lc-rs `Crypto`, SoftHSM 2.6.1 of Debian bookworm, shared 2-core VM; wall
//! clock, two runs): with a SoftHSM key a mint costs 1.5-1.65x the software-key mint with leaf
//! key generation, 1.9x without (supplied public key). SoftHSM's own `C_Sign` is 0.95x a whole
//! software mint: the difference is the token's signature, not the key manager.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "bench setup: a panic there is a broken bench"
)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::SystemTime;

use ca::{
    CertificateAuthority, KeyManager, Pkcs11Config, Pkcs11KeyManager, Pkcs11Token, SelfCheck,
    SoftwareKeyManager, X509SvidRequest,
};
use criterion::Criterion;
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, ObjectClass};
use cryptoki::session::Session;
use spiffe_id::{SpiffeId, TrustDomain};
use svid::Crypto;
use test_support::softhsm::{MODULE_ENV, PHASE_ENV, SoftHsm};

const PIN: &str = "5678";

fn ca(keys: Arc<dyn KeyManager>, crypto: &Crypto, now: SystemTime) -> CertificateAuthority {
    CertificateAuthority::builder(TrustDomain::parse("example.org").unwrap())
        .crypto(crypto.clone())
        .key_manager(keys)
        .self_check(SelfCheck::Full)
        .build(now)
        .unwrap()
}

fn bench(c: &mut Criterion, module: &str) {
    let crypto = Crypto::default();
    let now = SystemTime::now();
    let token = Pkcs11KeyManager::open(
        Pkcs11Config::new(module, Pkcs11Token::Label("bench".into()), PIN),
        crypto.clone(),
    )
    .unwrap();
    let on_token = ca(Arc::new(token), &crypto, now);
    let software = ca(
        Arc::new(SoftwareKeyManager::new(crypto.clone())),
        &crypto,
        now,
    );
    let request =
        X509SvidRequest::new(SpiffeId::parse("spiffe://example.org/ns/default/sa/web1").unwrap());
    let spki = {
        use rcgen::PublicKeyData;
        rcgen::KeyPair::generate()
            .unwrap()
            .subject_public_key_info()
    };

    let mut group = c.benchmark_group("ca_x509_mint_p256_pkcs11_keygen");
    group.bench_function("ours/mint_keygen.softhsm", |b| {
        b.iter(|| black_box(on_token.mint_x509_svid(black_box(&request), now).unwrap()))
    });
    group.bench_function("baseline/mint_keygen_software", |b| {
        b.iter(|| black_box(software.mint_x509_svid(black_box(&request), now).unwrap()))
    });
    group.finish();

    let session = token_session(module);
    let key = session
        .find_objects(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::Label(b"spiffekit-x509-example.org".to_vec()),
        ])
        .unwrap()[0];
    let digest = [7u8; 32];

    let mut group = c.benchmark_group("ca_x509_mint_p256_pkcs11_public_key");
    group.bench_function("softhsm/c_sign_ecdsa", |b| {
        b.iter(|| {
            black_box(
                session
                    .sign(&Mechanism::Ecdsa, key, black_box(&digest))
                    .unwrap(),
            )
        })
    });
    group.bench_function("ours/mint_public_key.softhsm", |b| {
        b.iter(|| {
            black_box(
                on_token
                    .mint_x509_svid_for_public_key(black_box(&spki), &request, now)
                    .unwrap(),
            )
        })
    });
    group.bench_function("baseline/mint_public_key_software", |b| {
        b.iter(|| {
            black_box(
                software
                    .mint_x509_svid_for_public_key(black_box(&spki), &request, now)
                    .unwrap(),
            )
        })
    });
    group.finish();
}

/// A session of our own on the bench token (the module is initialised and the user logged in
/// by the key manager).
fn token_session(module: &str) -> Session {
    let pkcs11 = Pkcs11::new(module).unwrap();
    let _already = pkcs11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK));
    let slot = pkcs11
        .get_slots_with_token()
        .unwrap()
        .into_iter()
        .find(|slot| pkcs11.get_token_info(*slot).unwrap().label().trim_end() == "bench")
        .unwrap();
    pkcs11.open_ro_session(slot).unwrap()
}

fn main() {
    if std::env::var_os(PHASE_ENV).is_none() {
        // SoftHSM reads SOFTHSM2_CONF when the module is initialised: run again with it set.
        let hsm = match SoftHsm::start() {
            Ok(hsm) => hsm,
            Err(reason) => {
                println!(
                    "skipping the PKCS#11 benches: {reason} (install with interop/softhsm/setup.sh)"
                );
                return;
            }
        };
        hsm.init_token("bench", "1234", PIN);
        let status = hsm
            .command(std::env::current_exe().unwrap())
            .args(std::env::args_os().skip(1))
            .env(PHASE_ENV, "bench")
            .env(MODULE_ENV, hsm.module())
            .status()
            .unwrap();
        drop(hsm);
        std::process::exit(status.code().unwrap_or(1));
    }
    let module = std::env::var(MODULE_ENV).unwrap();
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c, &module);
    c.final_summary();
}
