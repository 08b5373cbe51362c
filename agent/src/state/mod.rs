//! The agent's state (entries, their current SVIDs, bundles) and the fan-out of full-state
//! views to open streams.
//!
//! Callers with the same selectors share one `tokio::sync::watch` channel (a *group*). A
//! change recomputes the view of each live group it touches, once, and stores it in the
//! channel; each stream sends whatever is latest when its reader has room, so a reader that
//! never reads holds one view, never a queue, and never delays the others (Workload API §4.3:
//! every message is full state, so skipping intermediate ones loses nothing).
//!
//! Costs stay linear in entries + groups: each group remembers the entries it matches (that
//! set changes only when entries are added or removed, never on rotation) and each entry the
//! groups it is in, so a re-issued SVID recomputes only its own groups, each from its own
//! entries. Entries are indexed under one of their selectors, so finding the entries of a
//! new selector set (a new group, or a unary call with no stream open) costs the entries that
//! share a selector with it, not every entry. The bundle messages, which depend only on the
//! set of federated trust domains, are built once per bundle change and shared by every group.
//!
//! `registry` holds the data, `view` computes what one group is sent from it, and this module
//! keeps the groups and decides which of them a change touches.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use spiffe_id::TrustDomain;
use tokio::sync::{Notify, watch};
use trust_bundle::SpiffeBundle;

use crate::entry::RegistrationEntry;
use crate::entry_id::EntryId;
use crate::selector::SelectorSet;
use registry::GroupId;
pub(crate) use registry::{IssuedSvid, Registry};
pub(crate) use view::{Snapshot, View};

mod registry;
mod view;

/// The streams of callers with one selector set.
struct Group {
    selectors: Arc<SelectorSet>,
    sender: watch::Sender<View>,
    /// The entries whose selectors the group's satisfy, in registration order (before the
    /// per-response hint filter).
    members: BTreeSet<EntryId>,
}

/// What the agent serves: the registry (entries, SVIDs, bundles) plus the live groups of
/// streams it is pushed to, and the bookkeeping of first SVIDs still to mint.
pub(crate) struct ServedState {
    pub(crate) registry: Registry,
    groups: HashMap<GroupId, Group>,
    by_selectors: HashMap<Arc<SelectorSet>, GroupId>,
    next_group: u64,
    closed: bool,
    /// How many entries still wait for their first SVID.
    unminted: watch::Sender<usize>,
    /// Unminted entries a stream is waiting for: minted before the others.
    urgent: BTreeSet<EntryId>,
    /// Wakes the task that mints first SVIDs.
    mint_wanted: Arc<Notify>,
    /// Group views computed by `publish` (tests check that a change touches only its groups).
    #[cfg(test)]
    views_computed: usize,
}

/// The [`ServedState`] behind a mutex that is never held across an `.await`.
pub(crate) struct ServedStateLock(Mutex<ServedState>);

impl ServedStateLock {
    pub(crate) fn new(trust_domain: TrustDomain, own_bundle: Arc<SpiffeBundle>) -> Self {
        let registry = Registry::new(trust_domain, own_bundle);
        Self(Mutex::new(ServedState {
            registry,
            groups: HashMap::new(),
            by_selectors: HashMap::new(),
            next_group: 0,
            closed: false,
            unminted: watch::channel(0).0,
            urgent: BTreeSet::new(),
            mint_wanted: Arc::new(Notify::new()),
            #[cfg(test)]
            views_computed: 0,
        }))
    }

    /// Locks the state. A panic while it was held (there are no panicking paths, but a
    /// poisoned lock must not take the agent down) leaves consistent data: every mutation is
    /// a single assignment or push.
    pub(crate) fn lock(&self) -> MutexGuard<'_, ServedState> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl ServedState {
    /// A receiver of the view for callers with `selectors`, joining their group or starting
    /// one with the current view.
    pub(crate) fn subscribe(&mut self, selectors: SelectorSet) -> watch::Receiver<View> {
        if self.closed {
            return watch::channel(View::Closed).1;
        }
        if let Some(group) = self
            .by_selectors
            .get(&selectors)
            .and_then(|id| self.groups.get(id))
        {
            let receiver = group.sender.subscribe();
            self.hurry(&receiver.borrow());
            return receiver;
        }
        let members = self.registry.matching(&selectors);
        let view = self.registry.view(&members, None);
        self.hurry(&view);
        let (sender, receiver) = watch::channel(view);
        let id = GroupId(self.next_group);
        self.next_group += 1;
        for member in &members {
            if let Some(registered) = self.registry.entries.get_mut(member) {
                registered.groups.insert(id);
            }
        }
        let selectors = Arc::new(selectors);
        self.by_selectors.insert(Arc::clone(&selectors), id);
        self.groups.insert(
            id,
            Group {
                selectors,
                sender,
                members,
            },
        );
        receiver
    }

    /// The current view for callers with `selectors` (from their group when there is one;
    /// otherwise computed from the entries that share a selector with them).
    pub(crate) fn view(&mut self, selectors: &SelectorSet) -> View {
        if self.closed {
            return View::Closed;
        }
        match self
            .by_selectors
            .get(selectors)
            .and_then(|id| self.groups.get(id))
        {
            Some(group) => group.sender.borrow().clone(),
            None => {
                let members = self.registry.matching(selectors);
                self.registry.view(&members, None)
            }
        }
    }

    /// When `view` waits for first SVIDs, asks the minting task to do its entries first.
    fn hurry(&mut self, view: &View) {
        let View::Entitled(snapshot) = view else {
            return;
        };
        if snapshot.x509.is_some() {
            return;
        }
        let before = self.urgent.len();
        self.urgent.extend(
            snapshot
                .entries
                .iter()
                .map(|(id, _)| *id)
                .filter(|id| self.registry.unminted.contains(id)),
        );
        if self.urgent.len() != before {
            self.mint_wanted.notify_one();
        }
    }

    /// Up to `limit` entries waiting for their first SVID, those streams wait for first.
    pub(crate) fn next_unminted(&mut self, limit: usize) -> Vec<(EntryId, Arc<RegistrationEntry>)> {
        let batch = self.registry.unminted(&self.urgent, limit);
        for (id, _) in &batch {
            self.urgent.remove(id);
        }
        let unminted = &self.registry.unminted;
        self.urgent.retain(|id| unminted.contains(id));
        batch
    }

    /// What wakes the task that mints first SVIDs (entries added without one, or a stream
    /// waiting for one).
    pub(crate) fn mint_wanted(&self) -> Arc<Notify> {
        Arc::clone(&self.mint_wanted)
    }

    /// Whether the agent is shutting down.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed
    }

    /// A receiver of the number of entries still waiting for their first SVID.
    pub(crate) fn unminted(&self) -> watch::Receiver<usize> {
        self.unminted.subscribe()
    }

    /// Recomputes the view of every live group that the changes since the last publish touch
    /// and wakes the streams whose view changed; drops groups nobody listens to any more.
    pub(crate) fn publish(&mut self) {
        let changes = core::mem::take(&mut self.registry.changes);
        let dead: Vec<GroupId> = self
            .groups
            .iter()
            .filter(|(_, group)| group.sender.receiver_count() == 0)
            .map(|(id, _)| *id)
            .collect();
        for id in dead {
            self.drop_group(id);
        }

        let mut dirty: HashSet<GroupId> = HashSet::new();
        for (entry, groups) in changes.removed {
            for id in groups {
                if let Some(group) = self.groups.get_mut(&id) {
                    group.members.remove(&entry);
                    dirty.insert(id);
                }
            }
        }
        for entry in changes.added {
            let Some(registered) = self.registry.entries.get_mut(&entry) else {
                continue;
            };
            for (id, group) in &mut self.groups {
                if registered.entry.matches(&group.selectors) {
                    group.members.insert(entry);
                    registered.groups.insert(*id);
                    dirty.insert(*id);
                }
            }
        }
        if changes.bundles {
            dirty.extend(self.groups.keys().copied());
        } else {
            for entry in changes.svids {
                if let Some(registered) = self.registry.entries.get(&entry) {
                    dirty.extend(registered.groups.iter().copied());
                }
            }
        }

        for id in dirty {
            let Some(group) = self.groups.get(&id) else {
                continue;
            };
            let previous = match &*group.sender.borrow() {
                View::Entitled(snapshot) => Some(Arc::clone(snapshot)),
                View::Denied | View::Closed => None,
            };
            let view = self.registry.view(&group.members, previous.as_ref());
            #[cfg(test)]
            {
                self.views_computed += 1;
            }
            group.sender.send_if_modified(|current| {
                let same = match (&*current, &view) {
                    (View::Entitled(a), View::Entitled(b)) => Arc::ptr_eq(a, b),
                    (View::Denied, View::Denied) | (View::Closed, View::Closed) => true,
                    _ => false,
                };
                if !same {
                    *current = view;
                }
                !same
            });
        }
        self.registry.stale_bundle_messages.clear();
        let unminted = self.registry.unminted.len();
        if unminted > 0 {
            self.mint_wanted.notify_one();
        }
        self.unminted.send_if_modified(|count| {
            let changed = *count != unminted;
            *count = unminted;
            changed
        });
    }

    /// Forgets a group and its place in its members' group lists.
    fn drop_group(&mut self, id: GroupId) {
        let Some(group) = self.groups.remove(&id) else {
            return;
        };
        self.by_selectors.remove(&group.selectors);
        for member in &group.members {
            if let Some(registered) = self.registry.entries.get_mut(member) {
                registered.groups.remove(&id);
            }
        }
    }

    /// Ends every stream cleanly and refuses new ones.
    pub(crate) fn close(&mut self) {
        self.closed = true;
        for group in self.groups.values() {
            group.sender.send_replace(View::Closed);
        }
        self.groups.clear();
        self.by_selectors.clear();
        for registered in self.registry.entries.values_mut() {
            registered.groups.clear();
        }
    }

    /// How many groups and streams are open (for logs and tests).
    pub(crate) fn stream_counts(&self) -> (usize, usize) {
        let streams = self
            .groups
            .values()
            .map(|group| group.sender.receiver_count())
            .sum();
        (self.groups.len(), streams)
    }
}

#[cfg(test)]
mod tests;
