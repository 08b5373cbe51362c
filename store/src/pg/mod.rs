//! [`PostgresStore`]: the same [`Store`] on PostgreSQL, for several control-plane replicas
//! sharing one database (feature `postgres`).

mod connection;
mod journal;
mod nodes;
mod options;
mod schema;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use postgres::error::SqlState;
use postgres::{Row, Transaction};
use spiffe_id::{SpiffeId, TrustDomain};

pub use journal::PostgresCaJournal;
pub use options::PostgresOptions;

use crate::entry::EntryRecord;
use crate::entry_id::EntryId;
use crate::error::Error;
use crate::federated::{self, FederatedBundle};
use crate::node::{self, JoinTokenRecord, NodeRecord};
use crate::published::{self, PublishedBundle};
use crate::row::{COLUMNS, Columns, RawEntry, decode};
use crate::store::Store;
use connection::Connection;

/// Registration entries, CA journals, join tokens and attested nodes in a PostgreSQL
/// database, shared by every replica connected to it.
///
/// Connecting runs the migrations this build knows (under an advisory lock, so replicas
/// starting together migrate once) and refuses a database migrated by a newer version
/// ([`Error::NewerSchema`]) without changing it. Every write is one transaction; updates
/// compare the revision the caller read in the same statement, so two replicas editing one
/// entry cannot both win ([`Error::StaleRevision`]).
///
/// Calls block: async code runs them in `tokio::task::spawn_blocking`. The connection lives on
/// a thread of its own (the `postgres` client must not be used or dropped inside an async
/// task), and is re-established when the server closed it. Over a network, connect with
/// [`PostgresOptions::tls`] ([`connect_with`](Self::connect_with)): without it the password and
/// the entries travel in clear, which only a Unix socket or a trusted network makes safe.
///
/// ```no_run
/// use store::{EntryRecord, PostgresStore, Store};
///
/// let store = PostgresStore::connect("host=/run/postgresql user=spiffe dbname=spiffe")?;
/// let entry = store.create_entry(
///     &EntryRecord::new("spiffe://example.org/web".parse()?).with_selector("unix:uid:1000"),
/// )?;
/// println!("{}", entry.id());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct PostgresStore {
    connection: Arc<Connection>,
}

impl core::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("target", &self.connection.target())
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects with a libpq-style connection string (`host=... user=... dbname=...`, or a
    /// `postgresql://` URL) and migrates the schema.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a connection string that does not parse, [`Error::Postgres`]
    /// when the server cannot be reached or refuses, [`Error::NewerSchema`].
    pub fn connect(params: &str) -> Result<Self, Error> {
        Self::connect_with(PostgresOptions::new(params))
    }

    /// Connects as `options` say (TLS, a password apart from the string) and migrates the
    /// schema.
    ///
    /// # Errors
    /// As [`connect`](Self::connect); [`Error::Invalid`] for `sslmode=disable` with TLS set,
    /// [`Error::Postgres`] when the server refuses TLS or its certificate does not verify.
    pub fn connect_with(options: PostgresOptions) -> Result<Self, Error> {
        let (config, tls) = options.resolve()?;
        let connection = Connection::open(config, tls)?;
        let target = connection.target().to_owned();
        connection.run(move |client| schema::migrate(client, &target))?;
        Ok(Self {
            connection: Arc::new(connection),
        })
    }

    /// The newest schema version this build writes.
    #[expect(
        clippy::as_conversions,
        reason = "a small positive i32 constant; a const context has no try_from"
    )]
    pub const SCHEMA_VERSION: u32 = schema::SCHEMA_VERSION as u32;

    /// The CA journal `name` in this database, as a concrete type.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a name that is empty or not ASCII letters, digits, `-`, `_`.
    pub fn journal(&self, name: &str) -> Result<PostgresCaJournal, Error> {
        PostgresCaJournal::new(Arc::clone(&self.connection), name)
    }

    /// Runs `body` in one transaction on the connection thread.
    fn write<T: Send + 'static>(
        &self,
        body: impl FnOnce(&mut Transaction<'_>, &str) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        let target = self.connection.target().to_owned();
        self.connection.run(move |client| {
            let db = |source| Error::Postgres {
                target: target.clone(),
                source,
            };
            let mut tx = client.transaction().map_err(db)?;
            let value = body(&mut tx, &target)?;
            tx.commit().map_err(db)?;
            Ok(value)
        })
    }
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()
        .and_then(|since| i64::try_from(since.as_secs()).ok())
        .unwrap_or(0)
}

fn db_error(target: &str) -> impl Fn(postgres::Error) -> Error + '_ {
    move |source| Error::Postgres {
        target: target.to_owned(),
        source,
    }
}

/// Reads a row selected with [`COLUMNS`].
fn from_row(row: &Row) -> Result<EntryRecord, Error> {
    let id: String = row.try_get(0).unwrap_or_else(|_| "<unknown>".to_owned());
    let get_err = |column: &'static str| {
        let id = id.clone();
        move |e: postgres::Error| Error::BadStoredValue {
            record: "entry",
            id: id.clone(),
            column,
            reason: e.to_string(),
        }
    };
    decode(RawEntry {
        spiffe_id: row.try_get(1).map_err(get_err("spiffe_id"))?,
        parent_id: row.try_get(2).map_err(get_err("parent_id"))?,
        selectors: row.try_get(3).map_err(get_err("selectors"))?,
        x509_ttl: row.try_get(4).map_err(get_err("x509_ttl"))?,
        jwt_ttl: row.try_get(5).map_err(get_err("jwt_ttl"))?,
        dns_names: row.try_get(6).map_err(get_err("dns_names"))?,
        hint: row.try_get(7).map_err(get_err("hint"))?,
        federates_with: row.try_get(8).map_err(get_err("federates_with"))?,
        revision: row.try_get(9).map_err(get_err("revision"))?,
        created_at: row.try_get(10).map_err(get_err("created_at"))?,
        id,
    })
}

/// A violation of the `entries_identity` index as [`Error::DuplicateEntry`]. The failed
/// statement aborted the transaction, so the existing entry is looked up under a savepoint
/// taken before it (see [`insert`]).
fn duplicate(
    tx: &mut Transaction<'_>,
    target: &str,
    entry: &EntryRecord,
    c: &Columns,
    error: postgres::Error,
) -> Error {
    if error.code() != Some(&SqlState::UNIQUE_VIOLATION) {
        return db_error(target)(error);
    }
    if tx.execute("ROLLBACK TO SAVEPOINT statement", &[]).is_err() {
        return db_error(target)(error);
    }
    let existing = tx
        .query_opt(
            "SELECT id FROM entries WHERE spiffe_id = $1 \
             AND coalesce(parent_id, '') = coalesce($2, '') AND selectors = $3",
            &[&c.spiffe_id, &c.parent_id, &c.selectors],
        )
        .ok()
        .flatten()
        .and_then(|row| row.try_get::<_, String>(0).ok())
        .and_then(|id| id.parse().ok());
    match existing {
        Some(existing) => Error::DuplicateEntry {
            spiffe_id: entry.spiffe_id.to_string(),
            existing,
        },
        None => db_error(target)(error),
    }
}

/// Inserts one checked entry inside `tx`.
fn insert(
    tx: &mut Transaction<'_>,
    target: &str,
    entry: &EntryRecord,
    id: EntryId,
    created_at: i64,
) -> Result<EntryRecord, Error> {
    entry.check()?;
    let c = Columns::of(entry)?;
    tx.execute("SAVEPOINT statement", &[])
        .map_err(db_error(target))?;
    let inserted = tx.execute(
        "INSERT INTO entries (id, spiffe_id, parent_id, selectors, x509_ttl, jwt_ttl, \
         dns_names, hint, federates_with, revision, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 1, $10)",
        &[
            &id.as_str(),
            &c.spiffe_id,
            &c.parent_id,
            &c.selectors,
            &c.x509_ttl,
            &c.jwt_ttl,
            &c.dns_names,
            &c.hint,
            &c.federates_with,
            &created_at,
        ],
    );
    if let Err(error) = inserted {
        return Err(duplicate(tx, target, entry, &c, error));
    }
    let mut stored = entry.clone();
    stored.id = id;
    stored.revision = 1;
    stored.created_at = u64::try_from(created_at).unwrap_or(0);
    Ok(stored)
}

impl Store for PostgresStore {
    fn create_entry(&self, entry: &EntryRecord) -> Result<EntryRecord, Error> {
        self.create_entries(core::slice::from_ref(entry))?
            .pop()
            .ok_or_else(|| Error::invalid("entry", "nothing was created"))
    }

    fn create_entries(&self, entries: &[EntryRecord]) -> Result<Vec<EntryRecord>, Error> {
        let created_at = now_secs();
        let ids = EntryId::random(entries.len()).map_err(|e| Error::Random { source: e.into() })?;
        let entries = entries.to_vec();
        self.write(move |tx, target| {
            entries
                .iter()
                .zip(ids)
                .map(|(entry, id)| insert(tx, target, entry, id, created_at))
                .collect()
        })
    }

    fn entry(&self, id: &EntryId) -> Result<Option<EntryRecord>, Error> {
        let id = id.clone();
        self.write(move |tx, target| {
            tx.query_opt(
                &format!("SELECT {COLUMNS} FROM entries WHERE id = $1"),
                &[&id.as_str()],
            )
            .map_err(db_error(target))?
            .as_ref()
            .map(from_row)
            .transpose()
        })
    }

    fn entries(&self) -> Result<Vec<EntryRecord>, Error> {
        self.write(|tx, target| {
            tx.query(&format!("SELECT {COLUMNS} FROM entries ORDER BY seq"), &[])
                .map_err(db_error(target))?
                .iter()
                .map(from_row)
                .collect()
        })
    }

    fn update_entry(&self, entry: &EntryRecord) -> Result<EntryRecord, Error> {
        entry.check()?;
        let c = Columns::of(entry)?;
        let entry = entry.clone();
        let revision = i64::try_from(entry.revision)
            .map_err(|_| Error::invalid("revision", "out of range".to_owned()))?;
        self.write(move |tx, target| {
            tx.execute("SAVEPOINT statement", &[])
                .map_err(db_error(target))?;
            let updated = tx.execute(
                "UPDATE entries SET spiffe_id = $3, parent_id = $4, selectors = $5, \
                 x509_ttl = $6, jwt_ttl = $7, dns_names = $8, hint = $9, federates_with = $10, \
                 revision = revision + 1 WHERE id = $1 AND revision = $2",
                &[
                    &entry.id.as_str(),
                    &revision,
                    &c.spiffe_id,
                    &c.parent_id,
                    &c.selectors,
                    &c.x509_ttl,
                    &c.jwt_ttl,
                    &c.dns_names,
                    &c.hint,
                    &c.federates_with,
                ],
            );
            let updated = match updated {
                Ok(count) => count,
                Err(error) => return Err(duplicate(tx, target, &entry, &c, error)),
            };
            if updated == 0 {
                let found = tx
                    .query_opt(
                        "SELECT revision FROM entries WHERE id = $1",
                        &[&entry.id.as_str()],
                    )
                    .map_err(db_error(target))?
                    .and_then(|row| row.try_get::<_, i64>(0).ok());
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
            let mut stored = entry;
            stored.revision = stored.revision.saturating_add(1);
            Ok(stored)
        })
    }

    fn delete_entry(&self, id: &EntryId) -> Result<(), Error> {
        let id = id.clone();
        self.write(move |tx, target| {
            match tx
                .execute("DELETE FROM entries WHERE id = $1", &[&id.as_str()])
                .map_err(db_error(target))?
            {
                0 => Err(Error::EntryNotFound { id }),
                _ => Ok(()),
            }
        })
    }

    fn ca_journal(&self, name: &str) -> Result<Arc<dyn ca::KeyStore>, Error> {
        Ok(Arc::new(self.journal(name)?))
    }

    fn create_join_token(&self, token: &JoinTokenRecord) -> Result<JoinTokenRecord, Error> {
        let created_at = now_secs();
        let token = token.clone();
        self.write(move |tx, target| nodes::create_join_token(tx, target, &token, created_at))
    }

    fn consume_join_token(&self, token_hash: &str, now: u64) -> Result<JoinTokenRecord, Error> {
        let token_hash = token_hash.to_owned();
        let taken =
            self.write(move |tx, target| nodes::take_join_token(tx, target, &token_hash))?;
        node::consumed(taken, now)
    }

    fn join_tokens(&self) -> Result<Vec<JoinTokenRecord>, Error> {
        self.write(nodes::join_tokens)
    }

    fn purge_expired_join_tokens(&self, now: u64) -> Result<usize, Error> {
        self.write(move |tx, target| nodes::purge_expired_join_tokens(tx, target, now))
    }

    fn upsert_node(&self, node: &NodeRecord) -> Result<NodeRecord, Error> {
        let now = now_secs();
        let node = node.clone();
        self.write(move |tx, target| nodes::upsert_node(tx, target, &node, now))
    }

    fn node(&self, spiffe_id: &SpiffeId) -> Result<Option<NodeRecord>, Error> {
        let spiffe_id = spiffe_id.clone();
        self.write(move |tx, target| nodes::node(tx, target, &spiffe_id))
    }

    fn nodes(&self) -> Result<Vec<NodeRecord>, Error> {
        self.write(nodes::nodes)
    }

    fn delete_node(&self, spiffe_id: &SpiffeId) -> Result<NodeRecord, Error> {
        let spiffe_id = spiffe_id.clone();
        self.write(move |tx, target| nodes::delete_node(tx, target, &spiffe_id))
    }

    fn publish_bundle(&self, replica: &str, document: &str) -> Result<(), Error> {
        published::check(replica, document)?;
        let now = now_secs();
        let (replica, document) = (replica.to_owned(), document.to_owned());
        self.write(move |tx, target| {
            tx.execute(
                "INSERT INTO published_bundles (replica, document, updated_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (replica) DO UPDATE SET document = excluded.document, \
                 updated_at = excluded.updated_at",
                &[&replica, &document, &now],
            )
            .map_err(db_error(target))?;
            Ok(())
        })
    }

    fn published_bundles(&self) -> Result<Vec<PublishedBundle>, Error> {
        self.write(|tx, target| {
            let rows = tx
                .query(
                    "SELECT replica, document, updated_at FROM published_bundles ORDER BY replica",
                    &[],
                )
                .map_err(db_error(target))?;
            rows.iter()
                .map(|row| {
                    Ok(PublishedBundle {
                        replica: row.try_get(0).map_err(db_error(target))?,
                        document: row.try_get(1).map_err(db_error(target))?,
                        updated_at: u64::try_from(
                            row.try_get::<_, i64>(2).map_err(db_error(target))?,
                        )
                        .unwrap_or(0),
                    })
                })
                .collect()
        })
    }

    fn save_federated_bundle(
        &self,
        trust_domain: &TrustDomain,
        document: &str,
    ) -> Result<(), Error> {
        federated::check(document)?;
        let now = now_secs();
        let (name, document) = (trust_domain.as_str().to_owned(), document.to_owned());
        self.write(move |tx, target| {
            tx.execute(
                "INSERT INTO federated_bundles (trust_domain, document, updated_at) \
                 VALUES ($1, $2, $3) ON CONFLICT (trust_domain) DO UPDATE SET \
                 document = excluded.document, updated_at = excluded.updated_at",
                &[&name, &document, &now],
            )
            .map_err(db_error(target))?;
            Ok(())
        })
    }

    fn federated_bundle(
        &self,
        trust_domain: &TrustDomain,
    ) -> Result<Option<FederatedBundle>, Error> {
        let name = trust_domain.as_str().to_owned();
        self.write(move |tx, target| {
            let row = tx
                .query_opt(
                    "SELECT trust_domain, document, updated_at FROM federated_bundles \
                     WHERE trust_domain = $1",
                    &[&name],
                )
                .map_err(db_error(target))?;
            let Some(row) = row else {
                return Ok(None);
            };
            let stored: String = row.try_get(0).map_err(db_error(target))?;
            FederatedBundle::from_row(
                &stored,
                row.try_get(1).map_err(db_error(target))?,
                row.try_get(2).map_err(db_error(target))?,
            )
            .map(Some)
        })
    }

    fn delete_federated_bundle(&self, trust_domain: &TrustDomain) -> Result<bool, Error> {
        let name = trust_domain.as_str().to_owned();
        self.write(move |tx, target| {
            let deleted = tx
                .execute(
                    "DELETE FROM federated_bundles WHERE trust_domain = $1",
                    &[&name],
                )
                .map_err(db_error(target))?;
            Ok(deleted > 0)
        })
    }
}
