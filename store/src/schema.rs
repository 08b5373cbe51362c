//! The SQLite schema: versioned migrations (`PRAGMA user_version`), and the check that a
//! file's tables are what its version claims.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use crate::error::Error;

/// Migration `n` (0-based) takes a database from schema `n` to `n + 1`. Append only: a
/// released migration is never edited, or files written by it would fail the schema check.
const MIGRATIONS: &[&str] = &[
    // 1: registration entries and the CA journal.
    //
    // `seq` gives the stable listing order (creation order; an INTEGER PRIMARY KEY survives
    // VACUUM, a plain rowid does not). Lists are JSON arrays of strings; `selectors` is kept
    // sorted, so the unique index below sees one spelling per selector set. STRICT makes
    // SQLite refuse values of the wrong type.
    "CREATE TABLE entries (
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
    ) STRICT;",
    // 2: fleet-server state: pending join tokens (only the SHA-256 of each token, as
    // lowercase hex) and attested nodes. `seq` gives the listing order as in `entries`
    // (creation order, first-attestation order: an upsert keeps the row); `selectors` is a
    // sorted JSON array of strings; times are unix seconds.
    "CREATE TABLE join_tokens (
        seq INTEGER PRIMARY KEY,
        hash TEXT NOT NULL UNIQUE,
        agent_id TEXT NOT NULL,
        expires_at INTEGER NOT NULL,
        created_at INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE nodes (
        seq INTEGER PRIMARY KEY,
        spiffe_id TEXT NOT NULL UNIQUE,
        attestation TEXT NOT NULL,
        selectors TEXT NOT NULL,
        svid_serial TEXT NOT NULL,
        svid_expires_at INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    ) STRICT;",
    // 3: the bundle each replica of a fleet server publishes (its CA's SPIFFE bundle JSON);
    // every replica serves the union.
    "CREATE TABLE published_bundles (
        replica TEXT PRIMARY KEY NOT NULL,
        document TEXT NOT NULL,
        updated_at INTEGER NOT NULL
    ) STRICT;",
    // 4: the last good bundle of each federated trust domain (SPIFFE bundle JSON), kept for
    // restarts while a peer's bundle endpoint is down.
    "CREATE TABLE federated_bundles (
        trust_domain TEXT PRIMARY KEY NOT NULL,
        document TEXT NOT NULL,
        updated_at INTEGER NOT NULL
    ) STRICT;",
];

/// The newest schema version this build knows.
pub(crate) const SCHEMA_VERSION: u32 = 4;

// One migration per version, checked at compile time.
#[expect(
    clippy::as_conversions,
    reason = "u32 to usize widens on every supported target"
)]
const _: () = assert!(MIGRATIONS.len() == SCHEMA_VERSION as usize);

/// The schema version the file claims.
pub(crate) fn user_version(conn: &Connection) -> Result<u32, rusqlite::Error> {
    conn.query_row("PRAGMA user_version", [], |row| row.get(0))
}

/// Brings `conn` from its version to [`SCHEMA_VERSION`], one transaction per migration. The
/// version is read again under the write lock, so two processes opening one new file at once
/// apply each migration once.
pub(crate) fn migrate(conn: &mut Connection, path: &Path) -> Result<(), Error> {
    loop {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let version = user_version(&tx)?;
        if version > SCHEMA_VERSION {
            return Err(newer(path, version));
        }
        let Some(migration) = usize::try_from(version)
            .ok()
            .and_then(|index| MIGRATIONS.get(index))
        else {
            return Ok(());
        };
        tx.execute_batch(migration)?;
        tx.pragma_update(None, "user_version", version + 1)?;
        tx.commit()?;
    }
}

pub(crate) fn newer(path: &Path, found: u32) -> Error {
    Error::NewerSchema {
        path: path.to_path_buf(),
        found,
        supported: SCHEMA_VERSION,
    }
}

/// Refuses a file whose tables, columns and indexes are not exactly those that migrations
/// 1..=`version` create: the expected shape is built by running them on an in-memory
/// database, so it is right for every version without a second description of the schema.
pub(crate) fn verify(conn: &Connection, version: u32, path: &Path) -> Result<(), Error> {
    let expected = Connection::open_in_memory()?;
    for migration in MIGRATIONS
        .iter()
        .take(usize::try_from(version).unwrap_or(usize::MAX))
    {
        expected.execute_batch(migration)?;
    }
    let want = describe(&expected)?;
    let have = describe(conn)?;
    if want == have {
        return Ok(());
    }
    let detail = match want.iter().zip(&have).find(|(w, h)| w != h) {
        Some((w, h)) => format!("expected {w}, found {h}"),
        None if want.len() > have.len() => {
            format!(
                "missing {}",
                want.get(have.len()).map_or("", String::as_str)
            )
        }
        None => format!(
            "unexpected {}",
            have.get(want.len()).map_or("", String::as_str)
        ),
    };
    Err(Error::SchemaMismatch {
        path: path.to_path_buf(),
        version,
        detail,
    })
}

/// One line per table, index and column, sorted: `table entries`, `column entries.id TEXT
/// notnull=1 pk=0`, `index entries_identity on entries`.
fn describe(conn: &Connection) -> Result<Vec<String>, rusqlite::Error> {
    let mut lines = Vec::new();
    let mut objects = conn.prepare(
        "SELECT type, name, tbl_name FROM sqlite_schema
         WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name",
    )?;
    let objects: Vec<(String, String, String)> = objects
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
        .collect::<Result<_, _>>()?;
    for (kind, name, table) in objects {
        if kind == "table" {
            lines.push(format!("table {name}"));
            let mut columns = conn.prepare(
                "SELECT name, type, \"notnull\", pk FROM pragma_table_info(?1) ORDER BY cid",
            )?;
            let columns = columns.query_map([&name], |row| {
                Ok(format!(
                    "column {name}.{} {} notnull={} pk={}",
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, i64>(2)?,
                    row.get::<_, i64>(3)?,
                ))
            })?;
            for column in columns {
                lines.push(column?);
            }
        } else {
            lines.push(format!("{kind} {name} on {table}"));
        }
    }
    lines.sort();
    Ok(lines)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn migrated_database_matches_its_version() {
        let mut conn = Connection::open_in_memory().unwrap();
        verify(&conn, 0, Path::new("mem")).unwrap();
        migrate(&mut conn, Path::new("mem")).unwrap();
        assert_eq!(user_version(&conn).unwrap(), SCHEMA_VERSION);
        verify(&conn, SCHEMA_VERSION, Path::new("mem")).unwrap();
        // Running again is a no-op.
        migrate(&mut conn, Path::new("mem")).unwrap();
        assert_eq!(user_version(&conn).unwrap(), SCHEMA_VERSION);
    }

    /// A version 1 database gains the version 2 tables and keeps what it held; claiming
    /// version 2 without them is a mismatch.
    #[test]
    fn migrates_version_1_and_refuses_version_2_without_its_tables() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(MIGRATIONS.first().unwrap()).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        verify(&conn, 1, Path::new("mem")).unwrap();
        let err = verify(&conn, 2, Path::new("mem")).unwrap_err();
        assert!(
            matches!(&err, Error::SchemaMismatch { version: 2, detail, .. }
                if detail.contains("join_tokens")),
            "{err}"
        );
        migrate(&mut conn, Path::new("mem")).unwrap();
        assert_eq!(user_version(&conn).unwrap(), SCHEMA_VERSION);
        verify(&conn, SCHEMA_VERSION, Path::new("mem")).unwrap();
    }

    #[test]
    fn rejects_tables_that_differ_from_the_claimed_version() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn, Path::new("mem")).unwrap();
        conn.execute_batch("ALTER TABLE entries ADD COLUMN extra TEXT")
            .unwrap();
        let err = verify(&conn, SCHEMA_VERSION, Path::new("mem")).unwrap_err();
        assert!(
            matches!(
                err,
                Error::SchemaMismatch {
                    version: SCHEMA_VERSION,
                    ..
                }
            ),
            "{err}"
        );

        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE other (x)").unwrap();
        let err = verify(&conn, 0, Path::new("mem")).unwrap_err();
        assert!(
            matches!(err, Error::SchemaMismatch { version: 0, .. }),
            "{err}"
        );
    }
}
