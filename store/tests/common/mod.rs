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
