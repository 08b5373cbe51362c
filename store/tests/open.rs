//! Opening store files: private modes, reopening, and files refused without being touched.

#![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use ca::KeyStore;
use store::{Error, SqliteStore, Store};

use common::{files_in, fingerprint, full_entry};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Opens `path` expecting a refusal, and checks that the file and its directory are exactly
/// as they were (bytes, mtime, no new side files).
fn refused_untouched(path: &Path) -> Error {
    let dir = path.parent().unwrap();
    let before = (fingerprint(path), files_in(dir));
    let err = SqliteStore::open(path).unwrap_err();
    assert_eq!((fingerprint(path), files_in(dir)), before, "{err}");
    err
}

/// A store with one entry and one CA key, closed (WAL checkpointed into the file).
fn written_store(path: &Path) {
    let store = SqliteStore::open(path).unwrap();
    store.create_entry(&full_entry("web", 1)).unwrap();
    store
        .ca_journal("ca")
        .unwrap()
        .put_key("x509-1", b"secret")
        .unwrap();
}

#[test]
fn creates_files_with_mode_0600_including_wal_and_shm() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.db");
    let store = SqliteStore::open(&path).unwrap();
    store.create_entry(&full_entry("web", 1)).unwrap();
    // While the store is open the WAL and shared-memory files exist.
    let files = files_in(dir.path());
    assert_eq!(files, ["agent.db", "agent.db-shm", "agent.db-wal"]);
    for name in files {
        assert_eq!(mode(&dir.path().join(&name)), 0o600, "{name}");
    }
}

#[test]
fn reopen_keeps_entries_and_journal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.db");
    let store = SqliteStore::open(&path).unwrap();
    let entries = store
        .create_entries(&[full_entry("a", 1), full_entry("b", 2)])
        .unwrap();
    let journal = store.ca_journal("agent").unwrap();
    journal.put_key("x509-1", b"key one").unwrap();
    journal.put_key("jwt-1", b"key two").unwrap();
    journal.remove_key("jwt-1").unwrap();
    journal.put_state(b"{\"state\":1}").unwrap();
    drop((journal, store));

    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.entries().unwrap(), entries);
    let journal = store.journal("agent").unwrap();
    assert_eq!(journal.key_names().unwrap(), ["x509-1"]);
    assert_eq!(
        journal.get_key("x509-1").unwrap().unwrap().as_slice(),
        b"key one"
    );
    assert_eq!(journal.get_key("jwt-1").unwrap(), None);
    assert_eq!(journal.get_state().unwrap().unwrap(), b"{\"state\":1}");
    // Another journal in the same file is separate.
    let other = store.ca_journal("root").unwrap();
    assert_eq!(other.get_state().unwrap(), None);
    assert_eq!(other.get_key("x509-1").unwrap(), None);
}

#[test]
fn opens_an_empty_file_as_a_new_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.db");
    std::fs::write(&path, b"").unwrap();
    let store = SqliteStore::open(&path).unwrap();
    assert!(store.entries().unwrap().is_empty());
}

#[test]
fn refuses_a_missing_directory() {
    let dir = tempfile::tempdir().unwrap();
    let err = SqliteStore::open(dir.path().join("no/such/agent.db")).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");
    assert!(files_in(dir.path()).is_empty());
}

#[test]
fn refuses_a_newer_schema_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.db");
    written_store(&path);
    // What a later version would write: one more migration, here a new table.
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.execute_batch("CREATE TABLE later_feature (x TEXT) STRICT")
        .unwrap();
    raw.pragma_update(None, "user_version", SqliteStore::SCHEMA_VERSION + 1)
        .unwrap();
    drop(raw);
    let err = refused_untouched(&path);
    let supported = SqliteStore::SCHEMA_VERSION;
    assert!(
        matches!(err, Error::NewerSchema { found, supported: s, .. } if found == supported + 1 && s == supported),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains(&format!("schema {}", supported + 1)) && text.contains("upgrade"),
        "{text}"
    );
}

#[test]
fn refuses_garbage_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.db");
    // Short garbage, and garbage longer than a database header.
    for garbage in [b"not a database".to_vec(), vec![0x5a; 8192]] {
        std::fs::write(&path, &garbage).unwrap();
        let err = refused_untouched(&path);
        assert!(matches!(err, Error::NotADatabase { .. }), "{err}");
    }
}

#[test]
fn refuses_a_truncated_database_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.db");
    {
        let store = SqliteStore::open(&path).unwrap();
        let batch: Vec<_> = (0..300).map(|i| full_entry(&format!("w{i}"), i)).collect();
        store.create_entries(&batch).unwrap();
    }
    let len = std::fs::metadata(&path).unwrap().len();
    assert!(len > 8 * 4096, "{len}");
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(len / 2).unwrap();
    drop(file);
    let err = refused_untouched(&path);
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
}

#[test]
fn refuses_a_damaged_page_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.db");
    {
        let store = SqliteStore::open(&path).unwrap();
        let batch: Vec<_> = (0..300).map(|i| full_entry(&format!("w{i}"), i)).collect();
        store.create_entries(&batch).unwrap();
    }
    let mut bytes = std::fs::read(&path).unwrap();
    // Overwrite the middle of the file (b-tree pages of the entries table and its indexes).
    let middle = bytes.len() / 2;
    bytes[middle..middle + 4096].fill(0xff);
    std::fs::write(&path, &bytes).unwrap();
    let err = refused_untouched(&path);
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
}

#[test]
fn refuses_tables_that_do_not_match_the_version_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.db");
    written_store(&path);
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.execute_batch("DROP INDEX entries_identity").unwrap();
    drop(raw);
    let err = refused_untouched(&path);
    assert!(
        matches!(err, Error::SchemaMismatch { version, .. } if version == SqliteStore::SCHEMA_VERSION),
        "{err}"
    );

    // Another program's database (version 0 but with tables).
    let other = dir.path().join("other.db");
    let raw = rusqlite::Connection::open(&other).unwrap();
    raw.execute_batch("CREATE TABLE notes (text TEXT)").unwrap();
    drop(raw);
    let err = refused_untouched(&other);
    assert!(
        matches!(err, Error::SchemaMismatch { version: 0, .. }),
        "{err}"
    );
}

const UNREADABLE_CHILD_ENV: &str = "STORE_UNREADABLE_CHILD";

/// Run by `refuses_an_unreadable_file_untouched` as another user: opens the file it is given
/// and prints how the open was refused.
#[test]
fn unreadable_child() {
    let Ok(path) = std::env::var(UNREADABLE_CHILD_ENV) else {
        return;
    };
    match SqliteStore::open(&path) {
        Err(Error::Io { source, .. }) => println!("refused: {:?}", source.kind()),
        other => println!("unexpected: {other:?}"),
    }
}

/// A file this user may not read is refused with `Error::Io` (permission denied) and left as
/// it was. Root reads any file, so as root the open runs in a child process as `nobody`
/// (through `setpriv`); without `setpriv` the test is skipped with a printed reason.
#[test]
fn refuses_an_unreadable_file_untouched() {
    if std::env::var(UNREADABLE_CHILD_ENV).is_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.db");
    written_store(&path);
    let before = (fingerprint(&path), files_in(dir.path()));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).unwrap();
    if std::fs::File::open(&path).is_err() {
        let err = SqliteStore::open(&path).unwrap_err();
        assert!(
            matches!(err, Error::Io { ref source, .. } if source.kind() == std::io::ErrorKind::PermissionDenied),
            "{err}"
        );
    } else {
        // Root: let `nobody` try, on a root-owned file of mode 0600 in a directory it may enter.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let output = std::process::Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "unreadable_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(UNREADABLE_CHILD_ENV, &path)
            .output();
        let Ok(output) = output else {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "setpriv is needed under CI"
            );
            println!("skipped: running as root and setpriv is not available to drop privileges");
            return;
        };
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(stdout.contains("refused: PermissionDenied"), "{stdout}");
    }
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!((fingerprint(&path), files_in(dir.path())), before);
}

/// A path that is a directory is refused as I/O, not mistaken for a new store.
#[test]
fn refuses_a_directory_path() {
    let dir = tempfile::tempdir().unwrap();
    let err = SqliteStore::open(dir.path()).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");
}
