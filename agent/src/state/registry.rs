//! The registry: entries, their current SVIDs, the own and federated bundles, and the index
//! of entries by selector that finds a caller's entries without scanning them all.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use spiffe_id::TrustDomain;
use tokio::time::Instant;
use trust_bundle::{BundleSet, SpiffeBundle};
use workload_api::proto::{JwtBundlesResponse, X509BundlesResponse};
use zeroize::Zeroizing;

use crate::entry::RegistrationEntry;
use crate::entry_id::EntryId;
use crate::selector::{Selector, SelectorSet};

/// Names a group of streams in [`ServedState`](super::ServedState).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct GroupId(pub(super) u64);

/// An X509-SVID as served: the wire fields that do not depend on the bundle, and when to
/// replace it.
pub(crate) struct IssuedSvid {
    /// DER chain, leaf first.
    pub(crate) chain: Vec<u8>,
    /// DER PKCS#8 private key (sent to entitled callers; the wire format needs it in clear),
    /// wiped when the last holder drops it.
    pub(crate) key: Zeroizing<Vec<u8>>,
    /// When the rotation task re-issues it (about half its lifetime, with jitter).
    pub(crate) refresh_at: Instant,
}

/// A registered entry, its current X509-SVID and the live groups it is in.
pub(crate) struct Registered {
    pub(crate) entry: Arc<RegistrationEntry>,
    /// `None` until the first SVID is minted (in the background after start-up).
    pub(crate) svid: Option<Arc<IssuedSvid>>,
    /// The selector the entry is indexed under (`None` only for an entry without selectors,
    /// which `RegistrationEntry::check` refuses; it would match every caller).
    pub(super) key: Option<Selector>,
    pub(super) groups: HashSet<GroupId>,
}

/// The bundle messages for one set of federated trust domains, shared by every group with
/// that set (built by `view`, cached here).
pub(super) struct BundleMessages {
    /// The `federated_bundles` field of `X509SVIDResponse`.
    pub(super) x509_federated: HashMap<String, Vec<u8>>,
    pub(super) x509_bundles: Arc<X509BundlesResponse>,
    pub(super) jwt_bundles: Arc<JwtBundlesResponse>,
    pub(super) jwt_authorities: Arc<BundleSet>,
}

/// What changed since the last publish, so that only the groups concerned are recomputed.
#[derive(Default)]
pub(super) struct Changes {
    /// A bundle changed: every group.
    pub(super) bundles: bool,
    pub(super) added: Vec<EntryId>,
    /// Removed entries and the groups they were in.
    pub(super) removed: Vec<(EntryId, HashSet<GroupId>)>,
    /// Entries with a new SVID.
    pub(super) svids: Vec<EntryId>,
}

/// Entries, SVIDs and bundles: everything a view is computed from.
pub(crate) struct Registry {
    pub(crate) trust_domain: TrustDomain,
    pub(super) next_id: u64,
    /// In registration order (ids only grow).
    pub(super) entries: BTreeMap<EntryId, Registered>,
    /// Each entry under its key selector (see [`Registry::add`]).
    pub(super) index: HashMap<Selector, BTreeSet<EntryId>>,
    /// Entries without a key selector (none pass `RegistrationEntry::check`).
    pub(super) unindexed: BTreeSet<EntryId>,
    /// Entries without an SVID yet.
    pub(super) unminted: BTreeSet<EntryId>,
    pub(super) own_bundle: Arc<SpiffeBundle>,
    /// The own bundle's certificates concatenated (the `bundle` field), computed once per
    /// bundle change.
    pub(super) own_x509_der: Vec<u8>,
    pub(super) own_jwt_json: Vec<u8>,
    pub(super) federated: BTreeMap<TrustDomain, Arc<SpiffeBundle>>,
    /// Bundle messages by federated trust domains; emptied when a bundle changes.
    pub(super) bundle_messages: BTreeMap<Vec<TrustDomain>, Arc<BundleMessages>>,
    /// The messages before the last bundle change, reused when equal (streams then see no
    /// change); emptied by the next publish.
    pub(super) stale_bundle_messages: BTreeMap<Vec<TrustDomain>, Arc<BundleMessages>>,
    pub(super) changes: Changes,
    /// Entries `matching` looked at (tests check it does not scan every entry).
    #[cfg(test)]
    pub(super) examined: core::cell::Cell<usize>,
}

impl Registry {
    /// An empty registry serving `own_bundle` as the own trust domain's bundle.
    pub(super) fn new(trust_domain: TrustDomain, own_bundle: Arc<SpiffeBundle>) -> Self {
        let mut registry = Self {
            trust_domain,
            next_id: 1,
            entries: BTreeMap::new(),
            index: HashMap::new(),
            unindexed: BTreeSet::new(),
            unminted: BTreeSet::new(),
            own_bundle: Arc::new(SpiffeBundle::new(own_bundle.trust_domain().clone())),
            own_x509_der: Vec::new(),
            own_jwt_json: Vec::new(),
            federated: BTreeMap::new(),
            bundle_messages: BTreeMap::new(),
            stale_bundle_messages: BTreeMap::new(),
            changes: Changes::default(),
            #[cfg(test)]
            examined: core::cell::Cell::new(0),
        };
        registry.set_own_bundle(own_bundle);
        registry
    }

    /// Replaces the own trust domain's bundle; returns whether it changed.
    pub(crate) fn set_own_bundle(&mut self, bundle: Arc<SpiffeBundle>) -> bool {
        if *bundle == *self.own_bundle && !self.own_x509_der.is_empty() {
            return false;
        }
        self.own_x509_der = bundle.x509_bundle().to_der();
        self.own_jwt_json = bundle.jwt_bundle().to_workload_api_json().into_bytes();
        self.own_bundle = bundle;
        self.bundles_changed();
        true
    }

    /// Every group's bundle messages must be rebuilt.
    pub(super) fn bundles_changed(&mut self) {
        self.changes.bundles = true;
        let current = core::mem::take(&mut self.bundle_messages);
        if !current.is_empty() {
            self.stale_bundle_messages = current;
        }
    }

    /// The registered entries, in registration order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (EntryId, &Registered)> {
        self.entries
            .iter()
            .map(|(id, registered)| (*id, registered))
    }

    /// Adds an entry, with its first SVID when it has one already (otherwise it waits for
    /// [`Registry::set_first_svid`]).
    ///
    /// The entry is indexed under the one of its selectors that the fewest entries are
    /// indexed under so far: a caller can only match it if it has that selector, and
    /// spreading entries over their rarest selectors keeps a selector that many entries share
    /// (`unix:uid:1000`) from becoming one long list.
    pub(crate) fn add(
        &mut self,
        entry: Arc<RegistrationEntry>,
        svid: Option<Arc<IssuedSvid>>,
    ) -> EntryId {
        let id = EntryId(self.next_id);
        self.next_id += 1;
        let key = entry
            .selectors()
            .min_by_key(|selector| self.index.get(*selector).map_or(0, BTreeSet::len))
            .cloned();
        match &key {
            Some(key) => {
                self.index.entry(key.clone()).or_default().insert(id);
            }
            None => {
                self.unindexed.insert(id);
            }
        }
        if svid.is_none() {
            self.unminted.insert(id);
        }
        self.entries.insert(
            id,
            Registered {
                entry,
                svid,
                key,
                groups: HashSet::new(),
            },
        );
        self.changes.added.push(id);
        id
    }

    /// Removes an entry; returns it.
    pub(crate) fn remove(&mut self, id: EntryId) -> Option<Arc<RegistrationEntry>> {
        let registered = self.entries.remove(&id)?;
        match &registered.key {
            Some(key) => {
                if let Some(ids) = self.index.get_mut(key) {
                    ids.remove(&id);
                    if ids.is_empty() {
                        self.index.remove(key);
                    }
                }
            }
            None => {
                self.unindexed.remove(&id);
            }
        }
        self.unminted.remove(&id);
        self.changes.removed.push((id, registered.groups));
        Some(registered.entry)
    }

    /// Replaces an entry's SVID if the entry is still registered with the same contents.
    pub(crate) fn replace_svid(
        &mut self,
        id: EntryId,
        entry: &Arc<RegistrationEntry>,
        svid: Arc<IssuedSvid>,
    ) -> bool {
        match self.entries.get_mut(&id) {
            Some(registered) if Arc::ptr_eq(&registered.entry, entry) => {
                registered.svid = Some(svid);
                self.unminted.remove(&id);
                self.changes.svids.push(id);
                true
            }
            _ => false,
        }
    }

    /// Installs an entry's first SVID unless it has one already (a rotation was faster).
    pub(crate) fn set_first_svid(
        &mut self,
        id: EntryId,
        entry: &Arc<RegistrationEntry>,
        svid: Arc<IssuedSvid>,
    ) -> bool {
        match self.entries.get(&id) {
            Some(registered) if registered.svid.is_none() => self.replace_svid(id, entry, svid),
            _ => false,
        }
    }

    /// Moves an entry's refresh time to `at` (after a failed rotation), keeping its SVID.
    pub(crate) fn retry_at(&mut self, id: EntryId, at: Instant) {
        if let Some(registered) = self.entries.get_mut(&id) {
            if let Some(svid) = &registered.svid {
                registered.svid = Some(Arc::new(IssuedSvid {
                    chain: svid.chain.clone(),
                    key: svid.key.clone(),
                    refresh_at: at,
                }));
            }
        }
    }

    /// Up to `limit` entries still waiting for their first SVID: those of `first` (callers
    /// are waiting for them), then in registration order.
    pub(super) fn unminted(
        &self,
        first: &BTreeSet<EntryId>,
        limit: usize,
    ) -> Vec<(EntryId, Arc<RegistrationEntry>)> {
        let mut chosen: BTreeSet<EntryId> = first
            .iter()
            .filter(|id| self.unminted.contains(id))
            .take(limit)
            .copied()
            .collect();
        for id in &self.unminted {
            if chosen.len() >= limit {
                break;
            }
            chosen.insert(*id);
        }
        chosen
            .into_iter()
            .filter_map(|id| Some((id, Arc::clone(&self.entries.get(&id)?.entry))))
            .collect()
    }

    /// Sets or replaces a federated bundle; returns whether anything changed.
    pub(crate) fn set_federated(&mut self, bundle: SpiffeBundle) -> bool {
        let trust_domain = bundle.trust_domain().clone();
        if self
            .federated
            .get(&trust_domain)
            .is_some_and(|old| **old == bundle)
        {
            return false;
        }
        self.federated.insert(trust_domain, Arc::new(bundle));
        self.bundles_changed();
        true
    }

    /// Removes a federated bundle; returns whether there was one.
    pub(crate) fn remove_federated(&mut self, trust_domain: &TrustDomain) -> bool {
        let removed = self.federated.remove(trust_domain).is_some();
        if removed {
            self.bundles_changed();
        }
        removed
    }

    /// The entries a caller with `selectors` matches, from the index: only entries indexed
    /// under one of the caller's selectors can match.
    pub(super) fn matching(&self, selectors: &SelectorSet) -> BTreeSet<EntryId> {
        selectors
            .iter()
            .filter_map(|selector| self.index.get(selector))
            .flatten()
            .chain(&self.unindexed)
            .filter(|id| {
                #[cfg(test)]
                self.examined.set(self.examined.get() + 1);
                self.entries
                    .get(id)
                    .is_some_and(|r| r.entry.matches(selectors))
            })
            .copied()
            .collect()
    }

    /// The entries of `members` a caller gets, in registration order. Hints are unique per
    /// response (Workload API §5.2.1, MUST; digest W-API-5): of two entries with the same
    /// hint only the first is kept.
    pub(super) fn entitled(&self, members: &BTreeSet<EntryId>) -> Vec<(EntryId, &Registered)> {
        let mut hints = HashSet::new();
        let mut chosen = Vec::new();
        for id in members {
            let Some(registered) = self.entries.get(id) else {
                continue;
            };
            if let Some(hint) = registered.entry.hint() {
                if !hints.insert(hint) {
                    tracing::warn!(
                        entry = %id,
                        hint,
                        "entry skipped for this caller: an earlier entry has the same hint"
                    );
                    continue;
                }
            }
            chosen.push((*id, registered));
        }
        chosen
    }
}
