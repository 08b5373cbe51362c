//! Helpers shared by the store's integration tests.

#![allow(dead_code, reason = "each test binary uses a subset")]
#![allow(clippy::unwrap_used, reason = "tests")]

use std::path::Path;
use std::time::{Duration, SystemTime};

use store::EntryRecord;

/// An entry for `spiffe://example.org/<path>` with every field set.
pub(crate) fn full_entry(path: &str, uid: u32) -> EntryRecord {
    EntryRecord::new(format!("spiffe://example.org/{path}").parse().unwrap())
        .with_parent_id(Some("spiffe://example.org/node".parse().unwrap()))
        .with_selector(format!("unix:uid:{uid}"))
        .with_selector("unix:gid:0")
        .with_x509_ttl(Some(Duration::from_secs(3600)))
        .with_jwt_ttl(Some(Duration::from_secs(300)))
        .with_dns_names([format!("{path}.internal"), "alt.internal".to_owned()])
        .with_hint(Some(format!("hint-{path}")))
        .with_federates_with(["other.org".parse().unwrap(), "third.org".parse().unwrap()])
}

/// The file's length, a hash of its bytes, and its modification time, to show that a refused
/// open wrote nothing.
pub(crate) fn fingerprint(path: &Path) -> (usize, u64, SystemTime) {
    use std::hash::{Hash, Hasher};
    let bytes = std::fs::read(path).unwrap();
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut hasher);
    (
        bytes.len(),
        hasher.finish(),
        std::fs::metadata(path).unwrap().modified().unwrap(),
    )
}

/// The names of the files in `dir`, sorted.
pub(crate) fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Migration 1 of the SQLite schema exactly as released (schema version 1), to build the
/// files an older version wrote.
pub(crate) const SQLITE_SCHEMA_V1: &str = "CREATE TABLE entries (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        spiffe_id TEXT NOT NULL,
        parent_id TEXT,
        selectors TEXT NOT NULL,
        x509_ttl INTEGER,
        jwt_ttl INTEGER,
        dns_names TEXT NOT NULL,
        hint TEXT,
        federates_with TEXT NOT NULL,
        revision INTEGER NOT NULL,
        created_at INTEGER NOT NULL
    ) STRICT;
    CREATE UNIQUE INDEX entries_identity
        ON entries (spiffe_id, coalesce(parent_id, ''), selectors);
    CREATE TABLE ca_keys (
        journal TEXT NOT NULL,
        name TEXT NOT NULL,
        pkcs8 BLOB NOT NULL,
        PRIMARY KEY (journal, name)
    ) STRICT;
    CREATE TABLE ca_state (
        journal TEXT PRIMARY KEY NOT NULL,
        document BLOB NOT NULL
    ) STRICT;";

/// A lowercase hex SHA-256-shaped token hash: the byte `n` 32 times.
pub(crate) fn token_hash(n: u8) -> String {
    format!("{n:02x}").repeat(32)
}

/// A federated trust domain's last good bundle: saved (the latest replaces the previous),
/// read back per trust domain, forgotten on delete; an oversized document is refused and the
/// previous one stays.
pub(crate) fn check_federated_bundles(name: &str, store: &dyn store::Store) {
    let (a, b): (spiffe_id::TrustDomain, spiffe_id::TrustDomain) =
        ("a.example".parse().unwrap(), "b.example".parse().unwrap());
    assert!(store.federated_bundle(&a).unwrap().is_none(), "{name}");
    store.save_federated_bundle(&a, "{\"keys\":[1]}").unwrap();
    store.save_federated_bundle(&b, "{\"keys\":[2]}").unwrap();
    store.save_federated_bundle(&a, "{\"keys\":[3]}").unwrap();
    let saved = store.federated_bundle(&a).unwrap().unwrap();
    assert_eq!(saved.trust_domain, a, "{name}");
    assert_eq!(saved.document, "{\"keys\":[3]}", "{name}");
    assert!(saved.updated_at > 0, "{name}");
    let huge = "x".repeat(store::MAX_BUNDLE_DOCUMENT_BYTES + 1);
    assert!(
        matches!(
            store.save_federated_bundle(&a, &huge),
            Err(store::Error::Invalid { .. })
        ),
        "{name}"
    );
    let kept = store.federated_bundle(&a).unwrap().unwrap();
    assert_eq!(kept.document, "{\"keys\":[3]}", "{name}");
    assert!(store.delete_federated_bundle(&a).unwrap(), "{name}");
    assert!(!store.delete_federated_bundle(&a).unwrap(), "{name}");
    assert!(store.federated_bundle(&a).unwrap().is_none(), "{name}");
    let other = store.federated_bundle(&b).unwrap().unwrap();
    assert_eq!(other.document, "{\"keys\":[2]}", "{name}");
}
