//! [`SqliteCaJournal`]: a CA's keys and lifecycle state in the store's database, as a
//! [`ca::KeyStore`].

use core::fmt;
use std::sync::Arc;

use rusqlite::{OptionalExtension, TransactionBehavior, params};
use zeroize::Zeroizing;

use crate::error::Error;
use crate::shared::Inner;

/// One CA's journal (its PKCS#8 keys and its state document) in a [`SqliteStore`]'s
/// database, under a name so that one file can hold several CAs (e.g. a root and an
/// intermediate).
///
/// Give it to `ca::CertificateAuthorityBuilder::key_store`: the CA then resumes its
/// authorities, keys and `spiffe_sequence` from the file. Every call is one transaction.
/// Keys come back in [`Zeroizing`] buffers and never appear in `Debug`.
///
/// [`SqliteStore`]: crate::SqliteStore
pub struct SqliteCaJournal {
    inner: Arc<Inner>,
    name: String,
}

impl SqliteCaJournal {
    pub(crate) fn new(inner: Arc<Inner>, name: &str) -> Result<Self, Error> {
        let ok = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            return Err(Error::invalid(
                "journal name",
                format!("{name:?} is not ASCII letters, digits, '-' and '_'"),
            ));
        }
        Ok(Self {
            inner,
            name: name.to_owned(),
        })
    }

    /// The journal's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The names of the stored keys, sorted (no key material).
    ///
    /// # Errors
    /// [`Error::Sqlite`], [`Error::Poisoned`].
    pub fn key_names(&self) -> Result<Vec<String>, Error> {
        let conn = self.inner.lock()?;
        let mut statement =
            conn.prepare_cached("SELECT name FROM ca_keys WHERE journal = ?1 ORDER BY name")?;
        let names = statement
            .query_map([&self.name], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(names)
    }

    /// Runs `body` on the connection in one transaction (taking the write lock first when
    /// `behavior` is `Immediate`), mapping errors into `ca::Error`.
    fn run<T>(
        &self,
        behavior: TransactionBehavior,
        body: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, rusqlite::Error>,
    ) -> Result<T, ca::Error> {
        let result = self.inner.lock().and_then(|mut conn| {
            let tx = conn.transaction_with_behavior(behavior)?;
            let value = body(&tx)?;
            tx.commit()?;
            Ok(value)
        });
        result.map_err(|error| ca::Error::Io {
            path: self.inner.path().to_path_buf(),
            source: std::io::Error::other(error),
        })
    }
}

impl fmt::Debug for SqliteCaJournal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteCaJournal")
            .field("path", &self.inner.path())
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl ca::KeyStore for SqliteCaJournal {
    fn put_key(&self, name: &str, pkcs8: &[u8]) -> Result<(), ca::Error> {
        self.run(TransactionBehavior::Immediate, |tx| {
            tx.execute(
                "INSERT INTO ca_keys (journal, name, pkcs8) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (journal, name) DO UPDATE SET pkcs8 = excluded.pkcs8",
                params![self.name, name, pkcs8],
            )
            .map(drop)
        })
    }

    fn get_key(&self, name: &str) -> Result<Option<Zeroizing<Vec<u8>>>, ca::Error> {
        self.run(TransactionBehavior::Deferred, |tx| {
            tx.query_row(
                "SELECT pkcs8 FROM ca_keys WHERE journal = ?1 AND name = ?2",
                params![self.name, name],
                |row| row.get::<_, Vec<u8>>(0).map(Zeroizing::new),
            )
            .optional()
        })
    }

    fn remove_key(&self, name: &str) -> Result<(), ca::Error> {
        self.run(TransactionBehavior::Immediate, |tx| {
            tx.execute(
                "DELETE FROM ca_keys WHERE journal = ?1 AND name = ?2",
                params![self.name, name],
            )
            .map(drop)
        })
    }

    fn put_state(&self, state: &[u8]) -> Result<(), ca::Error> {
        self.run(TransactionBehavior::Immediate, |tx| {
            tx.execute(
                "INSERT INTO ca_state (journal, document) VALUES (?1, ?2) \
                 ON CONFLICT (journal) DO UPDATE SET document = excluded.document",
                params![self.name, state],
            )
            .map(drop)
        })
    }

    fn get_state(&self) -> Result<Option<Vec<u8>>, ca::Error> {
        self.run(TransactionBehavior::Deferred, |tx| {
            tx.query_row(
                "SELECT document FROM ca_state WHERE journal = ?1",
                [&self.name],
                |row| row.get(0),
            )
            .optional()
        })
    }
}
