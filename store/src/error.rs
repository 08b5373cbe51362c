//! The crate's one error type.

use std::path::PathBuf;

use spiffe_id::SpiffeId;

use crate::entry_id::{EntryId, InvalidEntryId};

/// What went wrong with a store. Messages say what was wrong and what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A stored value does not parse back (the database was edited or damaged).
    #[error(
        "{record} {id} holds an unreadable {column} in the store ({reason}): fix or delete the \
         {record}, or restore a backup"
    )]
    BadStoredValue {
        /// What kind of record holds it: `entry`, `node`, `join token`.
        record: &'static str,
        /// Which record: an entry's ID or a node's SPIFFE ID as stored, a join token's
        /// position in the table (never its hash).
        id: String,
        /// The column that did not parse.
        column: &'static str,
        /// Why it did not parse.
        reason: String,
    },
    /// The file is not usable as a store: SQLite reports damage (`PRAGMA quick_check`, or an
    /// error while reading it).
    #[error("the store at {path} is corrupt ({detail}): restore a backup or move the file away")]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What SQLite reported.
        detail: String,
    },
    /// An entry with the same SPIFFE ID, parent and selector set exists (SPIRE refuses these
    /// too: they would be indistinguishable to a workload).
    #[error(
        "an entry for {spiffe_id} with the same parent and selectors exists ({existing}): \
         update that entry instead"
    )]
    DuplicateEntry {
        /// The SPIFFE ID of the refused entry.
        spiffe_id: String,
        /// The entry that already has this identity and selector set.
        existing: EntryId,
    },
    /// A join token with the same hash is pending (the token was created twice, or tokens
    /// are not random).
    #[error(
        "a join token with the same hash is already pending: generate a new random token, or \
         use the pending one"
    )]
    DuplicateJoinToken,
    /// No entry has this ID.
    #[error("no entry {id} in the store: list the entries to find its current ID")]
    EntryNotFound {
        /// The ID asked for.
        id: EntryId,
    },
    /// An entry or journal name the store refuses before writing it.
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// What was refused (`selector`, `x509_ttl`, `entry id`, ...).
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// The join token expired before it was presented; it was deleted.
    #[error(
        "the join token expired at {expired_at} (unix seconds) and was removed: create a new \
         token for the node"
    )]
    JoinTokenExpired {
        /// When it expired (unix seconds).
        expired_at: u64,
    },
    /// No pending join token has this hash: it was never created, or was used already.
    #[error(
        "the join token is unknown or was already used (each token attests one node once): \
         create a new token for the node"
    )]
    JoinTokenNotFound,
    /// The store file cannot be created, opened or inspected.
    #[error(
        "cannot open the store at {path}: check that its directory exists and that this user \
         may read and write the file"
    )]
    Io {
        /// The database file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file exists but is not a SQLite database.
    #[error(
        "the file at {path} is not a SQLite database: point the store at another path or \
         restore a backup"
    )]
    NotADatabase {
        /// The file.
        path: PathBuf,
    },
    /// The database was written by a newer version of this program.
    #[error(
        "the store at {path} was written by a newer version (schema {found}, this build knows \
         {supported}): upgrade the program or restore a backup"
    )]
    NewerSchema {
        /// The database file.
        path: PathBuf,
        /// The schema version found in the file.
        found: u32,
        /// The newest schema version this build knows.
        supported: u32,
    },
    /// No attested node has this SPIFFE ID.
    #[error("no attested node {spiffe_id} in the store: list the nodes to find its SPIFFE ID")]
    NodeNotFound {
        /// The SPIFFE ID asked for.
        spiffe_id: SpiffeId,
    },
    /// A lock was poisoned by a panic in another thread; the store refuses further use.
    #[error("the store was poisoned by a panic in another thread: restart the process")]
    Poisoned,
    /// The operating system's random source failed while drawing an entry ID.
    #[error("the operating system's random source failed: check the system and retry")]
    Random {
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The tables do not match the schema version the file claims.
    #[error(
        "the store at {path} claims schema {version} but its tables differ ({detail}): it was \
         not written by this program or was edited; restore a backup"
    )]
    SchemaMismatch {
        /// The database file.
        path: PathBuf,
        /// The schema version the file claims.
        version: u32,
        /// The first difference found.
        detail: String,
    },
    /// PostgreSQL refused or failed (unreachable, authentication, a statement that failed);
    /// nothing was half-written: each write is one transaction.
    #[cfg(feature = "postgres")]
    #[error("the PostgreSQL store at {target} failed: {}", with_causes(.source))]
    Postgres {
        /// Where the store is (`postgres://user@host:port/db`, never the password).
        target: String,
        /// The driver's error.
        #[source]
        source: postgres::Error,
    },
    /// SQLite failed an operation on an open store (disk full, I/O error, busy past the
    /// timeout).
    #[error("the store's database failed: check disk space and permissions, then retry")]
    Sqlite(#[from] rusqlite::Error),
    /// The entry changed since the caller read it (optimistic concurrency).
    #[error(
        "entry {id} changed since it was read (revision {expected}, now {found}): read it again \
         and reapply the change"
    )]
    StaleRevision {
        /// The entry.
        id: EntryId,
        /// The revision the caller read.
        expected: u64,
        /// The revision in the store.
        found: u64,
    },
}

impl Error {
    pub(crate) fn invalid(what: &'static str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            what,
            reason: reason.into(),
        }
    }
}

impl From<InvalidEntryId> for Error {
    fn from(error: InvalidEntryId) -> Self {
        Self::Invalid {
            what: "entry id",
            reason: error.to_string(),
        }
    }
}

/// The driver's message and its causes ("error performing TLS handshake: invalid peer
/// certificate: UnknownIssuer"): its own message alone rarely says what to fix.
#[cfg(feature = "postgres")]
fn with_causes(error: &postgres::Error) -> String {
    let mut text = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(next) = cause {
        text.push_str(": ");
        text.push_str(&next.to_string());
        cause = next.source();
    }
    text
}
