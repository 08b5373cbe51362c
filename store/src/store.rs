//! The [`Store`] trait: what a control plane persists, whatever the database.

use core::fmt;
use std::sync::Arc;

use crate::entry::EntryRecord;
use crate::entry_id::EntryId;
use crate::error::Error;

/// Persistent state of a control plane: registration entries and CA journals.
///
/// [`SqliteStore`](crate::SqliteStore) is the embedded implementation; a fleet server can put
/// the same data in PostgreSQL behind this trait. Calls are synchronous and may block on disk
/// or on another writer: async callers run them in `tokio::task::spawn_blocking`.
///
/// Every write is one transaction: it happens whole or not at all.
pub trait Store: Send + Sync + fmt::Debug {
    /// Stores a new entry and returns it with its assigned ID, revision 1 and creation time
    /// (read from the system clock).
    ///
    /// # Errors
    /// [`Error::Invalid`] (no selector, a selector not `type:value`, a TTL not a positive
    /// whole number of seconds), [`Error::DuplicateEntry`] (same SPIFFE ID, parent and
    /// selectors as a stored entry), storage failures.
    fn create_entry(&self, entry: &EntryRecord) -> Result<EntryRecord, Error>;

    /// Stores several new entries in one transaction: all of them or, on any error, none.
    ///
    /// # Errors
    /// As [`Store::create_entry`], for the first entry that fails (duplicates within the
    /// batch included).
    fn create_entries(&self, entries: &[EntryRecord]) -> Result<Vec<EntryRecord>, Error>;

    /// The entry `id`, or `None`.
    ///
    /// # Errors
    /// [`Error::BadStoredValue`] if the stored entry does not parse back; storage failures.
    fn entry(&self, id: &EntryId) -> Result<Option<EntryRecord>, Error>;

    /// Every entry, in creation order.
    ///
    /// # Errors
    /// [`Error::BadStoredValue`] for the first stored entry that does not parse back;
    /// storage failures.
    fn entries(&self) -> Result<Vec<EntryRecord>, Error>;

    /// Replaces the entry `entry.id()` if its stored revision is still `entry.revision()`
    /// (the one the caller read), and returns it with the next revision.
    ///
    /// # Errors
    /// [`Error::StaleRevision`] if it changed since, [`Error::EntryNotFound`], and the
    /// errors of [`Store::create_entry`].
    fn update_entry(&self, entry: &EntryRecord) -> Result<EntryRecord, Error>;

    /// Deletes the entry `id`.
    ///
    /// # Errors
    /// [`Error::EntryNotFound`], storage failures.
    fn delete_entry(&self, id: &EntryId) -> Result<(), Error>;

    /// The CA journal `name`, for `ca::CertificateAuthorityBuilder::key_store`: the CA's keys
    /// and lifecycle state live in this store under that name.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a name that is empty or not ASCII letters, digits, `-`, `_`.
    fn ca_journal(&self, name: &str) -> Result<Arc<dyn ca::KeyStore>, Error>;
}
