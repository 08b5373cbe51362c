//! Opening a database file: create it private, inspect an existing one without writing to it,
//! then configure the connection and migrate.

use std::fs::OpenOptions;
use std::io::Read;
use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags};

use crate::error::Error;
use crate::schema;

/// How long a write waits for another connection's lock before failing with "busy".
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The first 16 bytes of every SQLite 3 database (file format, "The Database Header").
const MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// Bytes in the database header.
const HEADER_LEN: usize = 100;

/// Opens (or creates) the database at `path`, refusing without writing anything a file that
/// is unreadable, not a database, corrupt, newer than this build, or whose tables differ from
/// its version.
pub(crate) fn open_file(path: &Path) -> Result<Connection, Error> {
    if !create_private(path)? {
        inspect(path)?;
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut conn = Connection::open_with_flags(path, flags).map_err(|e| classify(path, e))?;
    configure(&conn).map_err(|e| classify(path, e))?;
    schema::migrate(&mut conn, path)?;
    Ok(conn)
}

/// A migrated database in memory.
pub(crate) fn open_memory() -> Result<Connection, Error> {
    let mut conn = Connection::open_in_memory()?;
    configure(&conn)?;
    schema::migrate(&mut conn, Path::new(":memory:"))?;
    Ok(conn)
}

/// Creates an empty file with mode 0600 if there is none, and says whether it did. SQLite
/// then uses the file as it is and gives its `-wal` and `-shm` files the same mode.
fn create_private(path: &Path) -> Result<bool, Error> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(source) => Err(io(path, source)),
    }
}

/// Checks an existing file through a read-only connection, which cannot write to it.
fn inspect(path: &Path) -> Result<(), Error> {
    // Read and write access as the store will need it; opening for write changes nothing.
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| io(path, e))?;
    let mut header = Vec::with_capacity(HEADER_LEN);
    file.by_ref()
        .take(u64::try_from(HEADER_LEN).unwrap_or(u64::MAX))
        .read_to_end(&mut header)
        .map_err(|e| io(path, e))?;
    drop(file);
    if header.is_empty() {
        // SQLite treats an empty file as an empty database: a store created by a process
        // that stopped before its first write.
        return Ok(());
    }
    if header.len() < HEADER_LEN || !header.starts_with(MAGIC) {
        return Err(Error::NotADatabase {
            path: path.to_path_buf(),
        });
    }
    let conn = open_read_only(path).map_err(|e| classify(path, e))?;
    quick_check(&conn, path)?;
    let version = schema::user_version(&conn).map_err(|e| classify(path, e))?;
    if version > schema::SCHEMA_VERSION {
        return Err(schema::newer(path, version));
    }
    schema::verify(&conn, version, path)
}

/// A read-only connection that creates no file. Without a `-wal` file (the store was closed
/// cleanly, or never used WAL) the file is opened `immutable`: SQLite then reads it without
/// locks and without creating `-wal` and `-shm` files, which a plain read-only open of a
/// WAL-mode database would leave behind. With a `-wal` file (a process stopped without closing
/// the store, or one is running) a plain read-only open sees the committed transactions in it;
/// its side files exist already.
fn open_read_only(path: &Path) -> Result<Connection, rusqlite::Error> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    if Path::new(&wal).exists() {
        return Connection::open_with_flags(path, flags);
    }
    match path.to_str() {
        Some(text) => {
            let uri = format!("file:{}?mode=ro&immutable=1", uri_escape(text));
            Connection::open_with_flags(uri, flags | OpenFlags::SQLITE_OPEN_URI)
        }
        None => Connection::open_with_flags(path, flags),
    }
}

/// Percent-encodes what a `file:` URI path may not hold literally (RFC 3986: unreserved
/// characters and `/` stay).
fn uri_escape(path: &str) -> String {
    let mut uri = String::with_capacity(path.len());
    for byte in path.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~' | b'/') {
            uri.push(char::from(byte));
        } else {
            uri.push_str(&format!("%{byte:02X}"));
        }
    }
    uri
}

/// `PRAGMA quick_check`: SQLite's scan of every page and index, without the slower
/// cross-checks of `integrity_check`.
fn quick_check(conn: &Connection, path: &Path) -> Result<(), Error> {
    let mut statement = conn
        .prepare("PRAGMA quick_check")
        .map_err(|e| classify(path, e))?;
    let problems: Vec<String> = statement
        .query_map([], |row| row.get(0))
        .and_then(Iterator::collect)
        .map_err(|e| classify(path, e))?;
    match problems.as_slice() {
        [ok] if ok == "ok" => Ok(()),
        _ => Err(Error::Corrupt {
            path: path.to_path_buf(),
            detail: problems.join("; "),
        }),
    }
}

/// WAL (readers never block the writer; a crash leaves the last commit), `synchronous=FULL`
/// (a commit is on disk when it returns, also in WAL mode), foreign keys, a busy timeout, and
/// `secure_delete` (deleted content is overwritten with zeros, so a removed CA key does not
/// linger in free pages of the file).
fn configure(conn: &Connection) -> Result<(), rusqlite::Error> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "secure_delete", "ON")?;
    Ok(())
}

/// Names the file in SQLite's "not a database" and "corrupt" answers.
fn classify(path: &Path, error: rusqlite::Error) -> Error {
    match error.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => Error::NotADatabase {
            path: path.to_path_buf(),
        },
        Some(ErrorCode::DatabaseCorrupt) => Error::Corrupt {
            path: path.to_path_buf(),
            detail: error.to_string(),
        },
        Some(ErrorCode::CannotOpen | ErrorCode::PermissionDenied | ErrorCode::ReadOnly) => {
            io(path, std::io::Error::other(error))
        }
        _ => Error::Sqlite(error),
    }
}

fn io(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_escape_keeps_unreserved_and_encodes_the_rest() {
        assert_eq!(
            uri_escape("/var/lib/agent-1/a_b.db"),
            "/var/lib/agent-1/a_b.db"
        );
        assert_eq!(uri_escape("/tmp/a b?c#d%e"), "/tmp/a%20b%3Fc%23d%25e");
        assert_eq!(uri_escape("/tmp/é"), "/tmp/%C3%A9");
    }
}
