//! The registration entries in memory, indexed by parent, refreshed from the store: which
//! entries a node may serve and mint.
//!
//! A node's entries are those parented to its agent ID, then, transitively, those parented to
//! the SPIFFE ID of an entry already included (SPIRE's model: an entry can stand for a group of
//! nodes or a pod that others hang under). Replicas sharing a database see each other's
//! changes at the next refresh.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use spiffe_id::SpiffeId;
use store::{EntryRecord, Store};

/// The most entries one node may be given (a bound on the walk and on the sync message).
pub const MAX_ENTRIES_PER_NODE: usize = 10_000;

#[derive(Default)]
struct Index {
    by_id: HashMap<String, Arc<EntryRecord>>,
    by_parent: HashMap<SpiffeId, Vec<Arc<EntryRecord>>>,
}

/// The entries, replaced whole at each refresh.
#[derive(Default)]
pub(crate) struct EntryIndex {
    current: RwLock<Arc<Index>>,
}

impl EntryIndex {
    /// Reloads every entry from `store` (blocking).
    pub(crate) fn refresh(&self, store: &dyn Store) -> Result<usize, store::Error> {
        let entries = store.entries()?;
        let count = entries.len();
        let mut index = Index::default();
        for entry in entries {
            let entry = Arc::new(entry);
            if let Some(parent) = entry.parent_id() {
                index
                    .by_parent
                    .entry(parent.clone())
                    .or_default()
                    .push(Arc::clone(&entry));
            }
            index.by_id.insert(entry.id().to_string(), entry);
        }
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(index);
        Ok(count)
    }

    fn read(&self) -> Arc<Index> {
        Arc::clone(
            &self
                .current
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// The entries node `agent` may serve, in creation order of discovery (parents first).
    pub(crate) fn for_node(&self, agent: &SpiffeId) -> Vec<Arc<EntryRecord>> {
        let index = self.read();
        let mut found = Vec::new();
        let mut seen_ids = HashSet::new();
        let mut seen_parents = HashSet::from([agent.clone()]);
        let mut frontier = vec![agent.clone()];
        while let Some(parent) = frontier.pop() {
            for entry in index.by_parent.get(&parent).into_iter().flatten() {
                if found.len() >= MAX_ENTRIES_PER_NODE {
                    return found;
                }
                if seen_ids.insert(entry.id().to_string()) {
                    found.push(Arc::clone(entry));
                    if seen_parents.insert(entry.spiffe_id().clone()) {
                        frontier.push(entry.spiffe_id().clone());
                    }
                }
            }
        }
        found
    }

    /// The entries node `agent` may use, by entry ID (one walk for a batch of requests).
    pub(crate) fn authorized(&self, agent: &SpiffeId) -> HashMap<String, Arc<EntryRecord>> {
        self.for_node(agent)
            .into_iter()
            .map(|entry| (entry.id().to_string(), entry))
            .collect()
    }
}
