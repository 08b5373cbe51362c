//! [`PostgresCaJournal`]: a CA's keys and lifecycle state in a PostgreSQL store, as a
//! [`ca::KeyStore`].

use core::fmt;
use std::sync::Arc;

use zeroize::Zeroizing;

use crate::error::Error;
use crate::pg::connection::Connection;

/// One CA's journal in a [`PostgresStore`](crate::PostgresStore)'s database, under a name
/// (one database can hold several CAs: each replica's intermediate, say).
///
/// Every call is one statement in its own transaction. Keys come back in [`Zeroizing`]
/// buffers and never appear in `Debug`.
pub struct PostgresCaJournal {
    connection: Arc<Connection>,
    name: String,
}

impl PostgresCaJournal {
    pub(crate) fn new(connection: Arc<Connection>, name: &str) -> Result<Self, Error> {
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
            connection,
            name: name.to_owned(),
        })
    }

    /// The journal's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs one statement's worth of work, mapping errors into `ca::Error`.
    fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut postgres::Client, &str) -> Result<T, postgres::Error> + Send + 'static,
    ) -> Result<T, ca::Error> {
        let name = self.name.clone();
        let target = self.connection.target().to_owned();
        self.connection
            .run(move |client| {
                work(client, &name).map_err(|source| Error::Postgres { target, source })
            })
            .map_err(|error| ca::Error::Io {
                path: self.connection.target().into(),
                source: std::io::Error::other(error),
            })
    }
}

impl fmt::Debug for PostgresCaJournal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresCaJournal")
            .field("target", &self.connection.target())
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl ca::KeyStore for PostgresCaJournal {
    fn put_key(&self, name: &str, pkcs8: &[u8]) -> Result<(), ca::Error> {
        let key = name.to_owned();
        let pkcs8 = Zeroizing::new(pkcs8.to_vec());
        self.run(move |client, journal| {
            client
                .execute(
                    "INSERT INTO ca_keys (journal, name, pkcs8) VALUES ($1, $2, $3) \
                     ON CONFLICT (journal, name) DO UPDATE SET pkcs8 = excluded.pkcs8",
                    &[&journal, &key, &pkcs8.as_slice()],
                )
                .map(drop)
        })
    }

    fn get_key(&self, name: &str) -> Result<Option<Zeroizing<Vec<u8>>>, ca::Error> {
        let key = name.to_owned();
        self.run(move |client, journal| {
            let row = client.query_opt(
                "SELECT pkcs8 FROM ca_keys WHERE journal = $1 AND name = $2",
                &[&journal, &key],
            )?;
            row.map(|row| row.try_get::<_, Vec<u8>>(0).map(Zeroizing::new))
                .transpose()
        })
    }

    fn remove_key(&self, name: &str) -> Result<(), ca::Error> {
        let key = name.to_owned();
        self.run(move |client, journal| {
            client
                .execute(
                    "DELETE FROM ca_keys WHERE journal = $1 AND name = $2",
                    &[&journal, &key],
                )
                .map(drop)
        })
    }

    fn put_state(&self, state: &[u8]) -> Result<(), ca::Error> {
        let state = state.to_vec();
        self.run(move |client, journal| {
            client
                .execute(
                    "INSERT INTO ca_state (journal, document) VALUES ($1, $2) \
                     ON CONFLICT (journal) DO UPDATE SET document = excluded.document",
                    &[&journal, &state],
                )
                .map(drop)
        })
    }

    fn get_state(&self) -> Result<Option<Vec<u8>>, ca::Error> {
        self.run(move |client, journal| {
            let row = client.query_opt(
                "SELECT document FROM ca_state WHERE journal = $1",
                &[&journal],
            )?;
            row.map(|row| row.try_get::<_, Vec<u8>>(0)).transpose()
        })
    }
}
