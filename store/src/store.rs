//! The [`Store`] trait: what a control plane persists, whatever the database.

use core::fmt;
use std::sync::Arc;

use spiffe_id::{SpiffeId, TrustDomain};

use crate::entry::EntryRecord;
use crate::entry_id::EntryId;
use crate::error::Error;
use crate::federated::FederatedBundle;
use crate::node::{JoinTokenRecord, NodeRecord};
use crate::published::PublishedBundle;

/// Persistent state of a control plane: registration entries, CA journals, and a fleet
/// server's join tokens and attested nodes.
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

    /// Stores a new join token and returns it with its creation time (system clock). Only
    /// the token's hash is stored.
    ///
    /// # Errors
    /// [`Error::Invalid`] (a hash that is not 64 lowercase hex digits, an `expires_at` past
    /// `i64::MAX`), [`Error::DuplicateJoinToken`] (the same hash is pending), storage
    /// failures.
    fn create_join_token(&self, token: &JoinTokenRecord) -> Result<JoinTokenRecord, Error>;

    /// Uses the join token whose hash is `token_hash`: deletes it and returns it, in one
    /// atomic step, so of several callers (threads, processes, replicas on one database)
    /// presenting the same token exactly one gets it.
    ///
    /// # Errors
    /// [`Error::JoinTokenNotFound`] when no pending token has this hash (never created, or
    /// used already); [`Error::JoinTokenExpired`] when it expired at or before `now` (unix
    /// seconds): it is deleted all the same. [`Error::BadStoredValue`], storage failures.
    fn consume_join_token(&self, token_hash: &str, now: u64) -> Result<JoinTokenRecord, Error>;

    /// The pending join tokens (expired ones included until purged), in creation order.
    ///
    /// # Errors
    /// [`Error::BadStoredValue`] for the first stored token that does not parse back;
    /// storage failures.
    fn join_tokens(&self) -> Result<Vec<JoinTokenRecord>, Error>;

    /// Deletes the join tokens expired at `now` (`expires_at <= now`, unix seconds) and
    /// returns how many there were.
    ///
    /// # Errors
    /// Storage failures.
    fn purge_expired_join_tokens(&self, now: u64) -> Result<usize, Error>;

    /// Records an attested node: inserts it, or replaces the node with the same SPIFFE ID
    /// keeping its `created_at`. Returns the stored form, with `created_at` and `updated_at`
    /// from the system clock.
    ///
    /// # Errors
    /// [`Error::Invalid`] (an attestation type that is not ASCII letters, digits, `_`, `-`; a
    /// selector not `type:value`; a serial that is not hex; an `svid_expires_at` past
    /// `i64::MAX`), storage failures.
    fn upsert_node(&self, node: &NodeRecord) -> Result<NodeRecord, Error>;

    /// The attested node `spiffe_id`, or `None` (never attested, or evicted).
    ///
    /// # Errors
    /// [`Error::BadStoredValue`] if the stored node does not parse back; storage failures.
    fn node(&self, spiffe_id: &SpiffeId) -> Result<Option<NodeRecord>, Error>;

    /// Every attested node, in first-attestation order.
    ///
    /// # Errors
    /// [`Error::BadStoredValue`] for the first stored node that does not parse back;
    /// storage failures.
    fn nodes(&self) -> Result<Vec<NodeRecord>, Error>;

    /// Deletes (evicts) the node `spiffe_id` and returns the record it had.
    ///
    /// # Errors
    /// [`Error::NodeNotFound`], [`Error::BadStoredValue`], storage failures.
    fn delete_node(&self, spiffe_id: &SpiffeId) -> Result<NodeRecord, Error>;

    /// Stores `document` (SPIFFE bundle JSON) as the bundle replica `replica` publishes,
    /// replacing its previous one.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a replica name that is not ASCII letters, digits, `-`, `_`, or a
    /// document over [`MAX_BUNDLE_DOCUMENT_BYTES`](crate::MAX_BUNDLE_DOCUMENT_BYTES); storage
    /// failures.
    fn publish_bundle(&self, replica: &str, document: &str) -> Result<(), Error>;

    /// Every replica's published bundle, by replica name.
    ///
    /// # Errors
    /// Storage failures.
    fn published_bundles(&self) -> Result<Vec<PublishedBundle>, Error>;

    /// Saves `document` (SPIFFE bundle JSON) as the last good bundle of the federated trust
    /// domain `trust_domain`, replacing the previous one.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a document over
    /// [`MAX_BUNDLE_DOCUMENT_BYTES`](crate::MAX_BUNDLE_DOCUMENT_BYTES); storage failures.
    fn save_federated_bundle(
        &self,
        trust_domain: &TrustDomain,
        document: &str,
    ) -> Result<(), Error>;

    /// The last good bundle saved for `trust_domain`, if any.
    ///
    /// # Errors
    /// [`Error::BadStoredValue`], storage failures.
    fn federated_bundle(
        &self,
        trust_domain: &TrustDomain,
    ) -> Result<Option<FederatedBundle>, Error>;

    /// Forgets the bundle saved for `trust_domain` (the relationship ended); whether there
    /// was one.
    ///
    /// # Errors
    /// Storage failures.
    fn delete_federated_bundle(&self, trust_domain: &TrustDomain) -> Result<bool, Error>;
}
