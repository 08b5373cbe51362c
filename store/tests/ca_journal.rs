//! A real `ca::CertificateAuthority` on the SQLite journal: it keeps its trust root, JWT keys
//! and `spiffe_sequence` across a restart (SPIFFE Trust Domain and Bundle 4.1: the sequence
//! number only grows).

#![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ca::{CertificateAuthority, KeyStore, X509SvidRequest};
use rustls_pki_types::{CertificateDer, UnixTime};
use store::{Error, SqliteStore, Store};
use svid::{Crypto, Usage, X509Verifier};
use trust_bundle::{BundleSet, SpiffeBundle};

fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

fn after(secs: u64) -> SystemTime {
    t0() + Duration::from_secs(secs)
}

fn verify(bundle: &SpiffeBundle, chain: &[CertificateDer<'static>], now: SystemTime) {
    let bundles = BundleSet::from_bundles([bundle.clone()]).unwrap();
    let verifier = X509Verifier::new(bundles, &Crypto::default()).with_usage(Usage::ClientAuth);
    let at = UnixTime::since_unix_epoch(now.duration_since(SystemTime::UNIX_EPOCH).unwrap());
    verifier.verify(chain, at).unwrap();
}

fn build(store: &SqliteStore, now: SystemTime) -> CertificateAuthority {
    CertificateAuthority::builder("example.org".parse().unwrap())
        .key_store(store.ca_journal("agent").unwrap())
        .build(now)
        .unwrap()
}

#[test]
fn ca_resumes_same_bundle_from_reopened_file_and_sequence_grows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.db");
    let store = SqliteStore::open(&path).unwrap();
    let first = build(&store, t0());
    let svid = first
        .mint_x509_svid(
            &X509SvidRequest::new("spiffe://example.org/web".parse().unwrap()),
            t0(),
        )
        .unwrap();
    let bundle = first.bundle();
    let sequence = first.snapshot().sequence();
    assert_eq!(
        store.journal("agent").unwrap().key_names().unwrap().len(),
        2
    );
    drop((first, store));

    // A restart: a new store over the same file, a new CA on its journal.
    let store = SqliteStore::open(&path).unwrap();
    let second = build(&store, after(10));
    assert_eq!(second.bundle().x509_bundle(), bundle.x509_bundle());
    assert_eq!(second.bundle().jwt_bundle(), bundle.jwt_bundle());
    assert!(second.snapshot().sequence() >= sequence);
    let again = second
        .mint_x509_svid(
            &X509SvidRequest::new("spiffe://example.org/web".parse().unwrap()),
            after(10),
        )
        .unwrap();
    // Signed with the resumed key: it verifies under the bundle from before the restart, and
    // the SVID from before verifies under the new one.
    verify(&bundle, again.chain(), after(10));
    verify(&second.bundle(), svid.chain(), after(10));

    // A rotation is journalled too: the next restart sees it and a larger sequence.
    second.force_rotate_x509(after(20)).unwrap();
    second.force_rotate_jwt(after(20)).unwrap();
    let rotated = second.bundle();
    let rotated_sequence = second.snapshot().sequence();
    assert!(
        rotated_sequence > sequence,
        "{rotated_sequence} > {sequence}"
    );
    assert_ne!(rotated.x509_bundle(), bundle.x509_bundle());
    drop((second, store));

    let store = SqliteStore::open(&path).unwrap();
    let third = build(&store, after(30));
    assert_eq!(third.bundle().x509_bundle(), rotated.x509_bundle());
    assert_eq!(third.bundle().jwt_bundle(), rotated.jwt_bundle());
    assert!(third.snapshot().sequence() >= rotated_sequence);
    third.force_rotate_x509(after(40)).unwrap();
    assert!(third.snapshot().sequence() > rotated_sequence);
}

#[test]
fn journal_keeps_keys_out_of_debug() {
    let store = SqliteStore::in_memory().unwrap();
    let journal = store.ca_journal("agent").unwrap();
    journal.put_key("x509-abc", b"TOP-SECRET-KEY").unwrap();
    journal.put_key("x509-abc", b"REPLACED-SECRET").unwrap();
    let key = journal.get_key("x509-abc").unwrap().unwrap();
    assert_eq!(key.as_slice(), b"REPLACED-SECRET");
    for debug in [
        format!("{journal:?}"),
        format!("{store:?}"),
        format!("{:?}", store.journal("agent").unwrap()),
    ] {
        assert!(!debug.contains("SECRET"), "{debug}");
    }
    assert_eq!(
        store.journal("agent").unwrap().key_names().unwrap(),
        ["x509-abc"]
    );
}

#[test]
fn refuses_bad_journal_names() {
    let store = SqliteStore::in_memory().unwrap();
    for bad in ["", "a/b", "a b", "ä"] {
        let err = store.ca_journal(bad).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Invalid {
                    what: "journal name",
                    ..
                }
            ),
            "{bad}"
        );
    }
    let shared: Arc<dyn KeyStore> = store.ca_journal("root-1_a").unwrap();
    assert_eq!(shared.get_state().unwrap(), None);
}

/// A removed key's bytes do not stay in the database file (`secure_delete`), once the WAL is
/// checkpointed into it by closing the store.
#[test]
fn removed_keys_leave_no_bytes_in_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.db");
    let store = SqliteStore::open(&path).unwrap();
    let journal = store.ca_journal("agent").unwrap();
    let secret = b"PKCS8-SECRET-BYTES-".repeat(20);
    journal.put_key("x509-old", &secret).unwrap();
    drop((journal, store));
    let contains = |bytes: &[u8]| bytes.windows(secret.len()).any(|w| w == secret.as_slice());
    assert!(contains(&std::fs::read(&path).unwrap()));

    let store = SqliteStore::open(&path).unwrap();
    store
        .ca_journal("agent")
        .unwrap()
        .remove_key("x509-old")
        .unwrap();
    drop(store);
    assert!(!contains(&std::fs::read(&path).unwrap()));
}
