//! The admin view of the registration entries: a stable string id, where each entry came from
//! (config file or API), its revision, and the registry id that serves it.
//!
//! Writes are serialized by one async lock. With a store, a write reaches the store first and
//! then the registry; when the registry refuses (the CA cannot mint), the store write is undone,
//! so the catalog, the registry and the store never disagree about which entries exist. Entries
//! created through the API keep their store id across restarts.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use spiffe_id::SpiffeId;
use store::{EntryRecord, Store};
use tokio::sync::Mutex;

use crate::admin::records::{on_store, record_of};
use crate::agent_core::AgentCore;
use crate::entry::RegistrationEntry;
use crate::entry_id::EntryId;
use crate::error::Error;

/// Where an entry came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    /// The config file (or the builder): changed by editing it, not through the API.
    Config,
    /// Created through the admin API.
    Api,
}

/// One entry as the admin API sees it.
#[derive(Clone, Debug)]
pub(crate) struct Cataloged {
    pub(crate) id: String,
    pub(crate) entry_id: EntryId,
    pub(crate) entry: RegistrationEntry,
    pub(crate) parent_id: Option<SpiffeId>,
    pub(crate) revision: u64,
    pub(crate) created_at: i64,
    pub(crate) source: Source,
}

/// Why a catalog write was refused.
#[derive(Debug)]
pub(crate) enum CatalogError {
    NotFound(String),
    Duplicate(String),
    StaleRevision { id: String, current: u64 },
    FromConfig(String),
    Agent(Error),
}

/// The entries of one agent, in registration order.
#[derive(Debug)]
pub(crate) struct Catalog {
    agent: Arc<AgentCore>,
    store: Option<Arc<dyn Store>>,
    entries: Mutex<Vec<Cataloged>>,
}

impl Catalog {
    /// The catalog of an agent whose registry holds `entries` (in registration order), which
    /// persists API writes in `store` when it has one.
    pub(crate) fn new(
        agent: Arc<AgentCore>,
        entries: Vec<Cataloged>,
        store: Option<Arc<dyn Store>>,
    ) -> Self {
        Self {
            agent,
            store,
            entries: Mutex::new(entries),
        }
    }

    /// The catalog entry of a config-file entry (`index` in file order).
    pub(crate) fn from_config(
        index: usize,
        entry_id: EntryId,
        entry: RegistrationEntry,
    ) -> Cataloged {
        Cataloged {
            id: format!("config-{}", index + 1),
            entry_id,
            entry,
            parent_id: None,
            revision: 1,
            // Declared, not created: no time to report.
            created_at: 0,
            source: Source::Config,
        }
    }

    /// The catalog entry of a stored entry.
    pub(crate) fn from_record(
        record: &EntryRecord,
        entry_id: EntryId,
        entry: RegistrationEntry,
    ) -> Cataloged {
        Cataloged {
            id: record.id().to_string(),
            entry_id,
            entry,
            parent_id: record.parent_id().cloned(),
            revision: record.revision(),
            created_at: i64::try_from(record.created_at()).unwrap_or(i64::MAX),
            source: Source::Api,
        }
    }

    pub(crate) async fn list(&self) -> Vec<Cataloged> {
        self.entries.lock().await.clone()
    }

    pub(crate) async fn get(&self, id: &str) -> Option<Cataloged> {
        self.entries
            .lock()
            .await
            .iter()
            .find(|c| c.id == id)
            .cloned()
    }

    /// Registers `entry` (minted before it is served) under a new random id.
    pub(crate) async fn create(
        &self,
        entry: RegistrationEntry,
        parent_id: Option<SpiffeId>,
    ) -> Result<Cataloged, CatalogError> {
        let mut entries = self.entries.lock().await;
        if let Some(same) = entries
            .iter()
            .find(|c| same_registration(c, &entry, parent_id.as_ref()))
        {
            return Err(CatalogError::Duplicate(same.id.clone()));
        }
        let stored = match &self.store {
            Some(store) => {
                let record = record_of(&entry, parent_id.as_ref());
                Some(
                    on_store(store, "create_entry", move |s| s.create_entry(&record))
                        .await
                        .map_err(CatalogError::Agent)?,
                )
            }
            None => None,
        };
        let entry_id = match self.agent.add_entry(entry.clone()).await {
            Ok(entry_id) => entry_id,
            Err(error) => {
                if let (Some(store), Some(record)) = (&self.store, &stored) {
                    let id = record.id().clone();
                    // Undo: the entry was never served. A failure here leaves an entry that
                    // the next start serves, which is what the caller asked for.
                    let _ = on_store(store, "delete_entry", move |s| s.delete_entry(&id)).await;
                }
                return Err(CatalogError::Agent(error));
            }
        };
        let cataloged = match &stored {
            Some(record) => Self::from_record(record, entry_id, entry),
            None => Cataloged {
                id: self.new_id()?,
                entry_id,
                entry,
                parent_id,
                revision: 1,
                created_at: unix_now(),
                source: Source::Api,
            },
        };
        entries.push(cataloged.clone());
        Ok(cataloged)
    }

    /// Replaces the entry `id` (created through the API, at `revision`) by `entry`.
    pub(crate) async fn update(
        &self,
        id: &str,
        revision: u64,
        entry: RegistrationEntry,
        parent_id: Option<SpiffeId>,
    ) -> Result<Cataloged, CatalogError> {
        let mut entries = self.entries.lock().await;
        let index = writable(&entries, id)?;
        let current = entries.get(index).map_or(0, |c| c.revision);
        if current != revision {
            return Err(CatalogError::StaleRevision {
                id: id.to_owned(),
                current,
            });
        }
        if let Some(same) = entries
            .iter()
            .find(|c| c.id != id && same_registration(c, &entry, parent_id.as_ref()))
        {
            return Err(CatalogError::Duplicate(same.id.clone()));
        }
        let Some(old) = entries.get_mut(index) else {
            return Err(CatalogError::NotFound(id.to_owned()));
        };
        let stored = match &self.store {
            Some(store) => {
                let current = self.stored_record(store, id).await?;
                let replacement = merge(current, &entry, parent_id.as_ref());
                Some(
                    on_store(store, "update_entry", move |s| s.update_entry(&replacement))
                        .await
                        .map_err(CatalogError::Agent)?,
                )
            }
            None => None,
        };
        let entry_id = match self.agent.replace_entry(old.entry_id, entry.clone()).await {
            Ok(entry_id) => entry_id,
            Err(error) => {
                if let (Some(store), Some(updated)) = (&self.store, stored) {
                    // Undo: put the old values back at the new revision.
                    let restore = merge(updated, &old.entry, old.parent_id.as_ref());
                    let _ =
                        on_store(store, "update_entry", move |s| s.update_entry(&restore)).await;
                }
                return Err(CatalogError::Agent(error));
            }
        };
        old.entry_id = entry_id;
        old.entry = entry;
        old.parent_id = parent_id;
        old.revision = stored.map_or(old.revision + 1, |record| record.revision());
        Ok(old.clone())
    }

    /// Removes the entry `id` (created through the API).
    pub(crate) async fn delete(&self, id: &str) -> Result<Cataloged, CatalogError> {
        let mut entries = self.entries.lock().await;
        let index = writable(&entries, id)?;
        if let Some(store) = &self.store {
            let store_id = store_id(id)?;
            on_store(store, "delete_entry", move |s| s.delete_entry(&store_id))
                .await
                .map_err(CatalogError::Agent)?;
        }
        let removed = entries.remove(index);
        self.agent
            .remove_entry(removed.entry_id)
            .map_err(CatalogError::Agent)?;
        Ok(removed)
    }

    /// The stored record of the API entry `id`.
    async fn stored_record(
        &self,
        store: &Arc<dyn Store>,
        id: &str,
    ) -> Result<EntryRecord, CatalogError> {
        let store_id = store_id(id)?;
        on_store(store, "get_entry", move |s| s.entry(&store_id))
            .await
            .map_err(CatalogError::Agent)?
            .ok_or_else(|| CatalogError::NotFound(id.to_owned()))
    }

    fn new_id(&self) -> Result<String, CatalogError> {
        let mut bytes = [0u8; 16];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).map_err(
            |_| CatalogError::Agent(Error::Io(std::io::Error::other("no randomness for an id"))),
        )?;
        Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }
}

/// `id` as a store id.
fn store_id(id: &str) -> Result<store::EntryId, CatalogError> {
    id.parse()
        .map_err(|_| CatalogError::NotFound(id.to_owned()))
}

/// `record` (its id and revision) carrying the fields of `entry` and `parent_id`.
fn merge(
    record: EntryRecord,
    entry: &RegistrationEntry,
    parent_id: Option<&SpiffeId>,
) -> EntryRecord {
    let fields = record_of(entry, parent_id);
    record
        .with_spiffe_id(fields.spiffe_id().clone())
        .with_parent_id(fields.parent_id().cloned())
        .with_selectors(fields.selectors().iter().cloned())
        .with_x509_ttl(fields.x509_ttl())
        .with_jwt_ttl(fields.jwt_ttl())
        .with_dns_names(fields.dns_names().iter().cloned())
        .with_hint(fields.hint().map(str::to_owned))
        .with_federates_with(fields.federates_with().iter().cloned())
}

/// The index of `id` if it may be changed through the API.
fn writable(entries: &[Cataloged], id: &str) -> Result<usize, CatalogError> {
    let index = entries
        .iter()
        .position(|c| c.id == id)
        .ok_or_else(|| CatalogError::NotFound(id.to_owned()))?;
    match entries.get(index).map(|c| c.source) {
        Some(Source::Api) => Ok(index),
        _ => Err(CatalogError::FromConfig(id.to_owned())),
    }
}

/// SPIRE's uniqueness rule: one entry per SPIFFE ID, parent and selector set.
fn same_registration(
    existing: &Cataloged,
    entry: &RegistrationEntry,
    parent_id: Option<&SpiffeId>,
) -> bool {
    existing.entry.spiffe_id() == entry.spiffe_id()
        && existing.parent_id.as_ref() == parent_id
        && existing.entry.selectors().eq(entry.selectors())
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_secs()).ok())
        .unwrap_or(0)
}
