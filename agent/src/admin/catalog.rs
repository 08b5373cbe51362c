//! The admin view of the registration entries: a stable string id, where each entry came from
//! (config file or API), its revision, and the registry id that serves it.
//!
//! Writes are serialized by one async lock: an entry is minted and registered (and persisted,
//! when the agent has a store) before the next write starts, so the catalog, the registry and
//! the store never disagree about which entries exist.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use spiffe_id::SpiffeId;
use tokio::sync::Mutex;

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
    entries: Mutex<Vec<Cataloged>>,
}

impl Catalog {
    /// The catalog of an agent whose registry holds `config` entries (in registration order).
    pub(crate) fn new(agent: Arc<AgentCore>, config: Vec<(EntryId, RegistrationEntry)>) -> Self {
        let now = unix_now();
        let entries = config
            .into_iter()
            .enumerate()
            .map(|(index, (entry_id, entry))| Cataloged {
                id: format!("config-{}", index + 1),
                entry_id,
                entry,
                parent_id: None,
                revision: 1,
                created_at: now,
                source: Source::Config,
            })
            .collect();
        Self {
            agent,
            entries: Mutex::new(entries),
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
        let id = self.new_id()?;
        let entry_id = self
            .agent
            .add_entry(entry.clone())
            .await
            .map_err(CatalogError::Agent)?;
        let cataloged = Cataloged {
            id,
            entry_id,
            entry,
            parent_id,
            revision: 1,
            created_at: unix_now(),
            source: Source::Api,
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
        let entry_id = self
            .agent
            .replace_entry(old.entry_id, entry.clone())
            .await
            .map_err(CatalogError::Agent)?;
        old.entry_id = entry_id;
        old.entry = entry;
        old.parent_id = parent_id;
        old.revision += 1;
        Ok(old.clone())
    }

    /// Removes the entry `id` (created through the API).
    pub(crate) async fn delete(&self, id: &str) -> Result<Cataloged, CatalogError> {
        let mut entries = self.entries.lock().await;
        let index = writable(&entries, id)?;
        let removed = entries.remove(index);
        self.agent
            .remove_entry(removed.entry_id)
            .map_err(CatalogError::Agent)?;
        Ok(removed)
    }

    fn new_id(&self) -> Result<String, CatalogError> {
        let mut bytes = [0u8; 16];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).map_err(
            |_| CatalogError::Agent(Error::Io(std::io::Error::other("no randomness for an id"))),
        )?;
        Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }
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
