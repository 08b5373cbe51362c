//! [`SqliteStore`]: the embedded store, one SQLite file.

use core::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{
    Connection, ErrorCode, OptionalExtension, Transaction, TransactionBehavior, params,
};
use spiffe_id::{SpiffeId, TrustDomain};

use crate::entry::EntryRecord;
use crate::entry_id::EntryId;
use crate::error::Error;
use crate::federated::{self, FederatedBundle};
use crate::journal::SqliteCaJournal;
use crate::node::{self, JoinTokenRecord, NodeRecord};
use crate::published::{self, PublishedBundle};
use crate::row::{self, COLUMNS, Columns};
use crate::shared::Inner;
use crate::store::Store;
use crate::{open, schema, sqlite_nodes};

/// The embedded store: registration entries, CA journals, join tokens and attested nodes in
/// one SQLite database file.
///
/// Opening creates the file (mode 0600; SQLite gives its `-wal` and `-shm` files the same
/// mode) or checks an existing one without writing to it, then runs the migrations this build
/// knows, each in one transaction. The connection runs in WAL mode with `synchronous=FULL`:
/// every write is one transaction, on disk when the call returns, and a crash (even `kill -9`)
/// leaves the last committed state.
///
/// Cheap to clone (one shared connection behind a mutex); calls block, so async code runs
/// them in `tokio::task::spawn_blocking`.
#[derive(Clone)]
pub struct SqliteStore {
    pub(crate) inner: Arc<Inner>,
}

impl SqliteStore {
    /// Opens the store at `path`, creating the file if it does not exist (its directory must).
    ///
    /// # Errors
    /// Without having written to the file: [`Error::Io`] (cannot create or read and write it),
    /// [`Error::NotADatabase`], [`Error::Corrupt`] (`PRAGMA quick_check` failed),
    /// [`Error::NewerSchema`], [`Error::SchemaMismatch`]. [`Error::Sqlite`] if a migration
    /// fails (it is rolled back).
    pub fn open(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let conn = open::open_file(path)?;
        Ok(Self::with(conn, path.to_path_buf()))
    }

    /// A store in memory, gone when the last clone is dropped (tests).
    ///
    /// # Errors
    /// [`Error::Sqlite`] if SQLite cannot allocate the database.
    pub fn in_memory() -> Result<Self, Error> {
        Ok(Self::with(open::open_memory()?, PathBuf::from(":memory:")))
    }

    fn with(conn: Connection, path: PathBuf) -> Self {
        Self {
            inner: Arc::new(Inner::new(conn, path)),
        }
    }

    /// The database file (`:memory:` for [`SqliteStore::in_memory`]).
    pub fn path(&self) -> &Path {
        self.inner.path()
    }

    /// The newest schema version this build writes; files of a newer one are refused.
    pub const SCHEMA_VERSION: u32 = schema::SCHEMA_VERSION;

    /// The CA journal `name` in this database, as a concrete type (see
    /// [`Store::ca_journal`] for the `Arc<dyn KeyStore>` form).
    ///
    /// # Errors
    /// [`Error::Invalid`] for a name that is empty or not ASCII letters, digits, `-`, `_`.
    pub fn journal(&self, name: &str) -> Result<SqliteCaJournal, Error> {
        SqliteCaJournal::new(Arc::clone(&self.inner), name)
    }

    fn write<T>(
        &self,
        body: impl FnOnce(&Transaction<'_>) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let mut conn = self.inner.lock()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let value = body(&tx)?;
        tx.commit()?;
        Ok(value)
    }
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.inner.path())
            .finish_non_exhaustive()
    }
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()
        .and_then(|since| i64::try_from(since.as_secs()).ok())
        .unwrap_or(0)
}

fn to_i64(n: u64) -> Result<i64, Error> {
    i64::try_from(n).map_err(|_| Error::invalid("revision", format!("{n} is out of range")))
}

/// Inserts one checked entry inside `tx`.
fn insert(
    tx: &Transaction<'_>,
    entry: &EntryRecord,
    id: EntryId,
    created_at: i64,
) -> Result<EntryRecord, Error> {
    entry.check()?;
    let c = Columns::of(entry)?;
    let mut statement = tx.prepare_cached(
        "INSERT INTO entries (id, spiffe_id, parent_id, selectors, x509_ttl, jwt_ttl, \
         dns_names, hint, federates_with, revision, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 1, ?10)",
    )?;
    let inserted = statement.execute(params![
        id.as_str(),
        c.spiffe_id,
        c.parent_id,
        c.selectors,
        c.x509_ttl,
        c.jwt_ttl,
        c.dns_names,
        c.hint,
        c.federates_with,
        created_at,
    ]);
    unique(tx, entry, &c, inserted)?;
    let mut stored = entry.clone();
    stored.id = id;
    stored.revision = 1;
    stored.created_at = u64::try_from(created_at).unwrap_or(0);
    Ok(stored)
}

/// Turns a violation of the `entries_identity` index into [`Error::DuplicateEntry`].
fn unique(
    tx: &Transaction<'_>,
    entry: &EntryRecord,
    c: &Columns,
    result: Result<usize, rusqlite::Error>,
) -> Result<usize, Error> {
    match result {
        Err(e) if e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation) => {
            let existing: Option<String> = tx
                .query_row(
                    "SELECT id FROM entries WHERE spiffe_id = ?1 \
                     AND coalesce(parent_id, '') = coalesce(?2, '') AND selectors = ?3",
                    params![c.spiffe_id, c.parent_id, c.selectors],
                    |row| row.get(0),
                )
                .optional()?;
            match existing.and_then(|id| id.parse().ok()) {
                Some(existing) => Err(Error::DuplicateEntry {
                    spiffe_id: entry.spiffe_id.to_string(),
                    existing,
                }),
                None => Err(Error::Sqlite(e)),
            }
        }
        other => Ok(other?),
    }
}

impl Store for SqliteStore {
    fn create_entry(&self, entry: &EntryRecord) -> Result<EntryRecord, Error> {
        self.create_entries(core::slice::from_ref(entry))?
            .pop()
            .ok_or_else(|| Error::invalid("entry", "nothing was created"))
    }

    fn create_entries(&self, entries: &[EntryRecord]) -> Result<Vec<EntryRecord>, Error> {
        let created_at = now_secs();
        let ids = EntryId::random(entries.len()).map_err(|e| Error::Random { source: e.into() })?;
        self.write(|tx| {
            entries
                .iter()
                .zip(ids)
                .map(|(entry, id)| insert(tx, entry, id, created_at))
                .collect()
        })
    }

    fn entry(&self, id: &EntryId) -> Result<Option<EntryRecord>, Error> {
        let conn = self.inner.lock()?;
        let mut statement =
            conn.prepare_cached(&format!("SELECT {COLUMNS} FROM entries WHERE id = ?1"))?;
        let mut rows = statement.query([id.as_str()])?;
        match rows.next()? {
            Some(found) => row::from_row(found).map(Some),
            None => Ok(None),
        }
    }

    fn entries(&self) -> Result<Vec<EntryRecord>, Error> {
        let conn = self.inner.lock()?;
        let mut statement =
            conn.prepare_cached(&format!("SELECT {COLUMNS} FROM entries ORDER BY seq"))?;
        let mut rows = statement.query([])?;
        let mut entries = Vec::new();
        while let Some(found) = rows.next()? {
            entries.push(row::from_row(found)?);
        }
        Ok(entries)
    }

    fn update_entry(&self, entry: &EntryRecord) -> Result<EntryRecord, Error> {
        entry.check()?;
        let c = Columns::of(entry)?;
        self.write(|tx| {
            let updated = tx.execute(
                "UPDATE entries SET spiffe_id = ?3, parent_id = ?4, selectors = ?5, \
                 x509_ttl = ?6, jwt_ttl = ?7, dns_names = ?8, hint = ?9, federates_with = ?10, \
                 revision = revision + 1 WHERE id = ?1 AND revision = ?2",
                params![
                    entry.id.as_str(),
                    to_i64(entry.revision)?,
                    c.spiffe_id,
                    c.parent_id,
                    c.selectors,
                    c.x509_ttl,
                    c.jwt_ttl,
                    c.dns_names,
                    c.hint,
                    c.federates_with,
                ],
            );
            if unique(tx, entry, &c, updated)? == 0 {
                let found: Option<i64> = tx
                    .query_row(
                        "SELECT revision FROM entries WHERE id = ?1",
                        [entry.id.as_str()],
                        |row| row.get(0),
                    )
                    .optional()?;
                return Err(match found {
                    Some(found) => Error::StaleRevision {
                        id: entry.id.clone(),
                        expected: entry.revision,
                        found: u64::try_from(found).unwrap_or(0),
                    },
                    None => Error::EntryNotFound {
                        id: entry.id.clone(),
                    },
                });
            }
            let mut stored = entry.clone();
            stored.revision = entry.revision.saturating_add(1);
            Ok(stored)
        })
    }

    fn delete_entry(&self, id: &EntryId) -> Result<(), Error> {
        self.write(
            |tx| match tx.execute("DELETE FROM entries WHERE id = ?1", [id.as_str()])? {
                0 => Err(Error::EntryNotFound { id: id.clone() }),
                _ => Ok(()),
            },
        )
    }

    fn ca_journal(&self, name: &str) -> Result<Arc<dyn ca::KeyStore>, Error> {
        Ok(Arc::new(self.journal(name)?))
    }

    fn create_join_token(&self, token: &JoinTokenRecord) -> Result<JoinTokenRecord, Error> {
        let created_at = now_secs();
        self.write(|tx| sqlite_nodes::create_join_token(tx, token, created_at))
    }

    fn consume_join_token(&self, token_hash: &str, now: u64) -> Result<JoinTokenRecord, Error> {
        let taken = self.write(|tx| sqlite_nodes::take_join_token(tx, token_hash))?;
        node::consumed(taken, now)
    }

    fn join_tokens(&self) -> Result<Vec<JoinTokenRecord>, Error> {
        let conn = self.inner.lock()?;
        sqlite_nodes::join_tokens(&conn)
    }

    fn purge_expired_join_tokens(&self, now: u64) -> Result<usize, Error> {
        self.write(|tx| sqlite_nodes::purge_expired_join_tokens(tx, now))
    }

    fn upsert_node(&self, node: &NodeRecord) -> Result<NodeRecord, Error> {
        let now = now_secs();
        self.write(|tx| sqlite_nodes::upsert_node(tx, node, now))
    }

    fn node(&self, spiffe_id: &SpiffeId) -> Result<Option<NodeRecord>, Error> {
        let conn = self.inner.lock()?;
        sqlite_nodes::node(&conn, spiffe_id)
    }

    fn nodes(&self) -> Result<Vec<NodeRecord>, Error> {
        let conn = self.inner.lock()?;
        sqlite_nodes::nodes(&conn)
    }

    fn delete_node(&self, spiffe_id: &SpiffeId) -> Result<NodeRecord, Error> {
        self.write(|tx| sqlite_nodes::delete_node(tx, spiffe_id))
    }

    fn publish_bundle(&self, replica: &str, document: &str) -> Result<(), Error> {
        published::check(replica, document)?;
        let now = now_secs();
        self.write(|tx| {
            tx.execute(
                "INSERT INTO published_bundles (replica, document, updated_at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (replica) DO UPDATE SET document = excluded.document, \
                 updated_at = excluded.updated_at",
                rusqlite::params![replica, document, now],
            )?;
            Ok(())
        })
    }

    fn published_bundles(&self) -> Result<Vec<PublishedBundle>, Error> {
        let conn = self.inner.lock()?;
        let mut statement = conn.prepare_cached(
            "SELECT replica, document, updated_at FROM published_bundles ORDER BY replica",
        )?;
        let rows = statement.query_map([], |row| {
            Ok(PublishedBundle {
                replica: row.get(0)?,
                document: row.get(1)?,
                updated_at: u64::try_from(row.get::<_, i64>(2)?).unwrap_or(0),
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn save_federated_bundle(
        &self,
        trust_domain: &TrustDomain,
        document: &str,
    ) -> Result<(), Error> {
        federated::check(document)?;
        let now = now_secs();
        self.write(|tx| {
            tx.execute(
                "INSERT INTO federated_bundles (trust_domain, document, updated_at) \
                 VALUES (?1, ?2, ?3) ON CONFLICT (trust_domain) DO UPDATE SET \
                 document = excluded.document, updated_at = excluded.updated_at",
                rusqlite::params![trust_domain.as_str(), document, now],
            )?;
            Ok(())
        })
    }

    fn federated_bundle(
        &self,
        trust_domain: &TrustDomain,
    ) -> Result<Option<FederatedBundle>, Error> {
        let conn = self.inner.lock()?;
        let mut statement = conn.prepare_cached(
            "SELECT trust_domain, document, updated_at FROM federated_bundles \
             WHERE trust_domain = ?1",
        )?;
        let mut rows = statement.query([trust_domain.as_str()])?;
        let Some(row) = rows.next()? else {
            return Ok(None);
        };
        let name: String = row.get(0)?;
        FederatedBundle::from_row(&name, row.get(1)?, row.get(2)?).map(Some)
    }

    fn delete_federated_bundle(&self, trust_domain: &TrustDomain) -> Result<bool, Error> {
        self.write(|tx| {
            let deleted = tx.execute(
                "DELETE FROM federated_bundles WHERE trust_domain = ?1",
                [trust_domain.as_str()],
            )?;
            Ok(deleted > 0)
        })
    }
}
