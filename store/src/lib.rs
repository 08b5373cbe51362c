//! Persistent state for SPIFFE control planes: registration entries, a CA's key journal, and
//! a fleet server's join tokens and attested nodes, with SQLite as the embedded default.
//!
//! A control plane that embeds `ca` keeps its trust root and its registration entries across
//! restarts through a [`Store`]:
//!
//! - Registration entries ([`EntryRecord`]): create (one or a batch), read, list in creation
//!   order, update with optimistic concurrency (a stale [`EntryRecord::revision`] is
//!   [`Error::StaleRevision`]), delete. Entry IDs are 128 random bits ([`EntryId`]), and two
//!   entries with the same SPIFFE ID, parent and selector set are refused
//!   ([`Error::DuplicateEntry`]), as SPIRE does.
//! - CA journals: [`Store::ca_journal`] is a [`ca::KeyStore`], so a
//!   [`ca::CertificateAuthority`] built on it keeps its keys, authorities and
//!   `spiffe_sequence` in the same database.
//! - Join tokens ([`JoinTokenRecord`]), for a fleet server's `join_token` node attestation:
//!   only the SHA-256 of each token is stored, and [`Store::consume_join_token`] deletes and
//!   returns it in one atomic step, so a token attests one node once, even with several
//!   replicas on one database. An expired token is refused ([`Error::JoinTokenExpired`]) and
//!   removed; [`Store::purge_expired_join_tokens`] clears the unused ones.
//! - Attested nodes ([`NodeRecord`]): upserted at each attestation or agent-SVID renewal
//!   (keeping the first-attestation time), listed in first-attestation order; evicting a node
//!   deletes its record ([`Store::delete_node`]).
//!
//! [`SqliteStore`] is the embedded implementation: one file, created with mode 0600, WAL mode
//! with `synchronous=FULL` (each write is one transaction, durable when the call returns; a
//! crash leaves the last commit), versioned migrations run at open. A file it cannot use
//! (unreadable, not a database, corrupt, written by a newer version, or with tables that do
//! not match its version) is refused with a typed [`Error`] before anything is written to it.
//!
//! It is not a query engine or a cache: the caller keeps its working set in memory and
//! writes through. Calls block; async code runs them in `tokio::task::spawn_blocking`.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use store::{EntryRecord, SqliteStore, Store};
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("agent.db");
//! let store = SqliteStore::open(&path)?;
//!
//! let web = store.create_entry(
//!     &EntryRecord::new("spiffe://example.org/web".parse()?)
//!         .with_selector("unix:uid:1000")
//!         .with_x509_ttl(Some(Duration::from_secs(3600))),
//! )?;
//! assert_eq!(web.revision(), 1);
//!
//! // The CA keeps its keys and state in the same file.
//! let now = SystemTime::now();
//! let ca = ca::CertificateAuthority::builder("example.org".parse()?)
//!     .key_store(store.ca_journal("agent")?)
//!     .build(now)?;
//! let bundle = ca.bundle();
//! drop((ca, store));
//!
//! // After a restart: the same entries, the same trust root.
//! let store = SqliteStore::open(&path)?;
//! assert_eq!(store.entries()?, vec![web]);
//! let ca = ca::CertificateAuthority::builder("example.org".parse()?)
//!     .key_store(store.ca_journal("agent")?)
//!     .build(now)?;
//! assert_eq!(ca.bundle().x509_bundle(), bundle.x509_bundle());
//! assert_eq!(ca.bundle().jwt_bundle(), bundle.jwt_bundle());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `postgres` | no | [`PostgresStore`]: the same [`Store`] on PostgreSQL, for several replicas sharing one database (the `postgres` crate; pure Rust) |
//!
//! SQLite is compiled from source by `rusqlite`'s `bundled` feature: no system library is
//! needed and nothing is downloaded at build time.

#![forbid(unsafe_code)]

mod entry;
mod entry_id;
mod error;
mod federated;
mod journal;
mod node;
mod node_row;
mod open;
#[cfg(feature = "postgres")]
mod pg;
mod published;
mod row;
mod schema;
mod shared;
mod sqlite;
mod sqlite_nodes;
mod store;

pub use entry::EntryRecord;
pub use entry_id::{EntryId, InvalidEntryId};
pub use error::Error;
pub use federated::FederatedBundle;
pub use journal::SqliteCaJournal;
pub use node::{JoinTokenRecord, NodeRecord};
#[cfg(feature = "postgres")]
pub use pg::{PostgresCaJournal, PostgresOptions, PostgresStore};
pub use published::{MAX_BUNDLE_DOCUMENT_BYTES, PublishedBundle};
pub use sqlite::SqliteStore;
pub use store::Store;
