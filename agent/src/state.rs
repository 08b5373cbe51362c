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

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use spiffe_id::TrustDomain;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;
use trust_bundle::{BundleSet, SpiffeBundle};
use workload_api::proto::{JwtBundlesResponse, X509BundlesResponse, X509svid, X509svidResponse};
use zeroize::Zeroizing;

use crate::entry::{EntryId, RegistrationEntry};
use crate::selector::{Selector, SelectorSet};

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
    key: Option<Selector>,
    groups: HashSet<GroupId>,
}

/// Names a group in [`State`].
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct GroupId(u64);

/// The streams of callers with one selector set.
struct Group {
    selectors: Arc<SelectorSet>,
    sender: watch::Sender<View>,
    /// The entries whose selectors the group's satisfy, in registration order (before the
    /// per-response hint filter).
    members: BTreeSet<EntryId>,
}

/// What a group of callers currently gets.
#[derive(Clone)]
pub(crate) enum View {
    /// The callers match no entry: streams end with `PermissionDenied`.
    Denied,
    /// The callers' full state.
    Entitled(Arc<Snapshot>),
    /// The agent is shutting down: streams end cleanly.
    Closed,
}

/// The full state for one set of selectors, shared by every stream of those callers. Each
/// message is behind its own `Arc`, reused when a recomputation gives an equal message, so a
/// stream can tell "unchanged for me" by pointer.
pub(crate) struct Snapshot {
    /// The entries the callers get, in registration order, without later duplicate hints.
    pub(crate) entries: Vec<(EntryId, Arc<RegistrationEntry>)>,
    /// `None` while the first SVID of one of the entries is still being minted: X.509 streams
    /// wait for it rather than send an incomplete list.
    pub(crate) x509: Option<Arc<X509svidResponse>>,
    pub(crate) x509_bundles: Arc<X509BundlesResponse>,
    pub(crate) jwt_bundles: Arc<JwtBundlesResponse>,
    /// The JWT authorities of the own and federated trust domains the callers get, for
    /// `ValidateJWTSVID` (JWT keys only: digest W-API-11).
    pub(crate) jwt_authorities: Arc<BundleSet>,
}

/// The bundle messages for one set of federated trust domains, shared by every group with
/// that set.
struct BundleMessages {
    /// The `federated_bundles` field of `X509SVIDResponse`.
    x509_federated: HashMap<String, Vec<u8>>,
    x509_bundles: Arc<X509BundlesResponse>,
    jwt_bundles: Arc<JwtBundlesResponse>,
    jwt_authorities: Arc<BundleSet>,
}

/// What changed since the last publish, so that only the groups concerned are recomputed.
#[derive(Default)]
struct Changes {
    /// A bundle changed: every group.
    bundles: bool,
    added: Vec<EntryId>,
    /// Removed entries and the groups they were in.
    removed: Vec<(EntryId, HashSet<GroupId>)>,
    /// Entries with a new SVID.
    svids: Vec<EntryId>,
}

/// Entries, SVIDs and bundles: everything a view is computed from.
pub(crate) struct Registry {
    pub(crate) trust_domain: TrustDomain,
    next_id: u64,
    /// In registration order (ids only grow).
    entries: BTreeMap<EntryId, Registered>,
    /// Each entry under its key selector (see [`Registry::add`]).
    index: HashMap<Selector, BTreeSet<EntryId>>,
    /// Entries without a key selector (none pass `RegistrationEntry::check`).
    unindexed: BTreeSet<EntryId>,
    /// Entries without an SVID yet.
    unminted: BTreeSet<EntryId>,
    own_bundle: Arc<SpiffeBundle>,
    /// The own bundle's certificates concatenated (the `bundle` field), computed once per
    /// bundle change.
    own_x509_der: Vec<u8>,
    own_jwt_json: Vec<u8>,
    federated: BTreeMap<TrustDomain, Arc<SpiffeBundle>>,
    /// Bundle messages by federated trust domains; emptied when a bundle changes.
    bundle_messages: BTreeMap<Vec<TrustDomain>, Arc<BundleMessages>>,
    /// The messages before the last bundle change, reused when equal (streams then see no
    /// change); emptied by the next publish.
    stale_bundle_messages: BTreeMap<Vec<TrustDomain>, Arc<BundleMessages>>,
    changes: Changes,
    /// Entries `matching` looked at (tests check it does not scan every entry).
    #[cfg(test)]
    examined: core::cell::Cell<usize>,
}

/// The registry plus the live groups.
pub(crate) struct State {
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

/// The state behind a mutex that is never held across an `.await`.
pub(crate) struct SharedState(Mutex<State>);

impl SharedState {
    pub(crate) fn new(trust_domain: TrustDomain, own_bundle: Arc<SpiffeBundle>) -> Self {
        let mut registry = Registry {
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
        Self(Mutex::new(State {
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
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl State {
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

impl Registry {
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
    fn bundles_changed(&mut self) {
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
    fn unminted(
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
    fn matching(&self, selectors: &SelectorSet) -> BTreeSet<EntryId> {
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
    fn entitled(&self, members: &BTreeSet<EntryId>) -> Vec<(EntryId, &Registered)> {
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

    /// The bundle messages for the federated trust domains `federated` (each present in the
    /// federated map), built once per bundle change.
    fn bundle_messages(&mut self, federated: Vec<TrustDomain>) -> Arc<BundleMessages> {
        if let Some(messages) = self.bundle_messages.get(&federated) {
            return Arc::clone(messages);
        }
        let bundles: Vec<&Arc<SpiffeBundle>> = federated
            .iter()
            .filter_map(|td| self.federated.get(td))
            .collect();
        let own_key = self.trust_domain.id().to_string();
        let x509_federated: HashMap<String, Vec<u8>> = bundles
            .iter()
            .filter(|b| !b.x509_bundle().is_empty())
            .map(|b| (b.trust_domain().id().to_string(), b.x509_bundle().to_der()))
            .collect();
        let mut x509_bundles = x509_federated.clone();
        x509_bundles.insert(own_key.clone(), self.own_x509_der.clone());
        let x509_bundles = X509BundlesResponse {
            crl: Vec::new(),
            bundles: x509_bundles,
        };
        let mut jwt_bundles: HashMap<String, Vec<u8>> = bundles
            .iter()
            .filter(|b| !b.jwt_bundle().is_empty())
            .map(|b| {
                let json = b.jwt_bundle().to_workload_api_json().into_bytes();
                (b.trust_domain().id().to_string(), json)
            })
            .collect();
        jwt_bundles.insert(own_key, self.own_jwt_json.clone());
        let jwt_bundles = JwtBundlesResponse {
            bundles: jwt_bundles,
        };
        let stale = self.stale_bundle_messages.get(&federated);
        let x509_bundles = reuse(x509_bundles, stale.map(|s| &s.x509_bundles));
        let jwt_bundles = reuse(jwt_bundles, stale.map(|s| &s.jwt_bundles));
        let jwt_authorities = match stale {
            Some(s) if Arc::ptr_eq(&s.jwt_bundles, &jwt_bundles) => Arc::clone(&s.jwt_authorities),
            _ => Arc::new(self.jwt_authorities(&bundles)),
        };
        let messages = Arc::new(BundleMessages {
            x509_federated,
            x509_bundles,
            jwt_bundles,
            jwt_authorities,
        });
        self.bundle_messages
            .insert(federated, Arc::clone(&messages));
        messages
    }

    /// The view for callers matching `members`; messages equal to `previous`'s are reused.
    fn view(&mut self, members: &BTreeSet<EntryId>, previous: Option<&Arc<Snapshot>>) -> View {
        let (ids, federated): (Vec<EntryId>, Vec<TrustDomain>) = {
            let chosen = self.entitled(members);
            if chosen.is_empty() {
                return View::Denied;
            }
            let federated: BTreeSet<&TrustDomain> = chosen
                .iter()
                .flat_map(|(_, r)| r.entry.federates_with())
                .filter(|td| self.federated.contains_key(*td))
                .collect();
            (
                chosen.iter().map(|(id, _)| *id).collect(),
                federated.into_iter().cloned().collect(),
            )
        };
        let bundles = self.bundle_messages(federated);
        let chosen: Vec<(EntryId, &Registered)> = ids
            .iter()
            .filter_map(|id| Some((*id, self.entries.get(id)?)))
            .collect();

        let svids: Option<Vec<X509svid>> = chosen
            .iter()
            .map(|(_, r)| {
                let svid = r.svid.as_ref()?;
                Some(X509svid {
                    spiffe_id: r.entry.spiffe_id().to_string(),
                    x509_svid: svid.chain.clone(),
                    x509_svid_key: svid.key.to_vec(),
                    bundle: self.own_x509_der.clone(),
                    hint: r.entry.hint().unwrap_or_default().to_owned(),
                })
            })
            .collect();
        let x509 = svids.map(|svids| {
            let message = X509svidResponse {
                svids,
                crl: Vec::new(),
                federated_bundles: bundles.x509_federated.clone(),
            };
            match previous.and_then(|p| p.x509.as_ref()) {
                Some(old) if **old == message => Arc::clone(old),
                _ => Arc::new(message),
            }
        });
        let x509_bundles = reuse_arc(&bundles.x509_bundles, previous.map(|p| &p.x509_bundles));
        let jwt_bundles = reuse_arc(&bundles.jwt_bundles, previous.map(|p| &p.jwt_bundles));
        let jwt_authorities = match previous {
            Some(p) if Arc::ptr_eq(&p.jwt_bundles, &jwt_bundles) => Arc::clone(&p.jwt_authorities),
            _ => Arc::clone(&bundles.jwt_authorities),
        };
        let entries: Vec<(EntryId, Arc<RegistrationEntry>)> = chosen
            .iter()
            .map(|(id, r)| (*id, Arc::clone(&r.entry)))
            .collect();

        if let Some(previous) = previous {
            let same_entries = previous.entries.len() == entries.len()
                && previous
                    .entries
                    .iter()
                    .zip(&entries)
                    .all(|(a, b)| a.0 == b.0 && Arc::ptr_eq(&a.1, &b.1));
            let same_x509 = match (&previous.x509, &x509) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                (None, None) => true,
                _ => false,
            };
            if same_entries
                && same_x509
                && Arc::ptr_eq(&previous.x509_bundles, &x509_bundles)
                && Arc::ptr_eq(&previous.jwt_bundles, &jwt_bundles)
            {
                return View::Entitled(Arc::clone(previous));
            }
        }
        View::Entitled(Arc::new(Snapshot {
            entries,
            x509,
            x509_bundles,
            jwt_bundles,
            jwt_authorities,
        }))
    }

    /// The JWT authorities (JWT keys only) of the own trust domain and `federated`.
    fn jwt_authorities(&self, federated: &[&Arc<SpiffeBundle>]) -> BundleSet {
        let own = SpiffeBundle::from((**self.own_bundle.jwt_bundle()).clone());
        let others = federated
            .iter()
            .map(|b| SpiffeBundle::from((**b.jwt_bundle()).clone()));
        // Trust domains are distinct: the own one is never federated (checked when set).
        BundleSet::from_bundles(core::iter::once(own).chain(others)).unwrap_or_default()
    }
}

/// `old` when it holds a message equal to `new` (so streams see "unchanged" by pointer), else
/// `new` in a fresh `Arc`.
fn reuse<M: PartialEq>(new: M, old: Option<&Arc<M>>) -> Arc<M> {
    match old {
        Some(old) if **old == new => Arc::clone(old),
        _ => Arc::new(new),
    }
}

/// `old` when it is `new` or equal to it, else `new`.
fn reuse_arc<M: PartialEq>(new: &Arc<M>, old: Option<&Arc<M>>) -> Arc<M> {
    match old {
        Some(old) if Arc::ptr_eq(old, new) || **old == **new => Arc::clone(old),
        _ => Arc::clone(new),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> SharedState {
        let trust_domain: TrustDomain = "example.org".parse().unwrap();
        let bundle = Arc::new(SpiffeBundle::new(trust_domain.clone()));
        SharedState::new(trust_domain, bundle)
    }

    fn entry(i: u32) -> Arc<RegistrationEntry> {
        Arc::new(
            RegistrationEntry::new(format!("spiffe://example.org/w/{i}").parse().unwrap())
                .with_selector(Selector::unix_uid(4_000_000 + i)),
        )
    }

    fn caller(i: u32) -> SelectorSet {
        [Selector::unix_uid(4_000_000 + i), Selector::unix_gid(7)].into()
    }

    fn svid(byte: u8) -> Arc<IssuedSvid> {
        Arc::new(IssuedSvid {
            chain: vec![byte; 16],
            key: Zeroizing::new(vec![byte; 8]),
            refresh_at: Instant::now(),
        })
    }

    fn snapshot(view: &View) -> Arc<Snapshot> {
        match view {
            View::Entitled(snapshot) => Arc::clone(snapshot),
            View::Denied | View::Closed => panic!("not entitled"),
        }
    }

    /// A re-issued SVID recomputes only the groups of its entry, not every group (the old
    /// publish recomputed all of them from all entries: O(groups x entries) per rotation).
    #[test]
    fn reissued_svid_recomputes_only_its_groups() {
        let shared = state();
        let mut state = shared.lock();
        let entries: Vec<_> = (0..3).map(entry).collect();
        let ids: Vec<_> = entries
            .iter()
            .map(|e| state.registry.add(Arc::clone(e), Some(svid(1))))
            .collect();
        state.publish();
        let mut receivers: Vec<_> = (0..3).map(|i| state.subscribe(caller(i))).collect();
        for receiver in &mut receivers {
            receiver.borrow_and_update();
        }
        state.views_computed = 0;

        assert!(state.registry.replace_svid(ids[1], &entries[1], svid(2)));
        state.publish();

        assert_eq!(state.views_computed, 1);
        assert!(!receivers[0].has_changed().unwrap());
        assert!(receivers[1].has_changed().unwrap());
        assert!(!receivers[2].has_changed().unwrap());
        let x509 = snapshot(&receivers[1].borrow()).x509.clone().unwrap();
        assert_eq!(x509.svids[0].x509_svid, vec![2; 16]);
    }

    /// A caller with no group (a unary call, no stream open) is matched through the index: only
    /// entries sharing a selector with it are looked at, however many are registered.
    #[test]
    fn unary_lookup_examines_only_entries_sharing_a_selector() {
        let shared = state();
        let mut state = shared.lock();
        for i in 0..1000 {
            state.registry.add(entry(i), Some(svid(1)));
        }
        state.publish();
        state.registry.examined.set(0);

        let view = state.view(&caller(500));

        let entries = &snapshot(&view).entries;
        assert_eq!(entries.len(), 1);
        assert_eq!(
            entries[0].1.spiffe_id().as_str(),
            "spiffe://example.org/w/500"
        );
        assert_eq!(state.registry.examined.get(), 1);
    }

    /// Entries sharing a common selector are spread over their rarer ones, so that selector's
    /// list stays short.
    #[test]
    fn entries_are_indexed_under_their_rarest_selector() {
        let shared = state();
        let mut state = shared.lock();
        let common = Selector::unix_gid(7);
        for i in 0..100 {
            let entry = RegistrationEntry::clone(&entry(i)).with_selector(common.clone());
            state.registry.add(Arc::new(entry), Some(svid(1)));
        }
        assert!(state.registry.index.get(&common).map_or(0, BTreeSet::len) <= 1);
        state.registry.examined.set(0);
        let view = state.view(&caller(42));
        assert_eq!(snapshot(&view).entries.len(), 1);
        assert!(state.registry.examined.get() <= 2);
    }

    /// Groups with the same federation share one bundle message instead of a copy each.
    #[test]
    fn groups_share_bundle_messages() {
        let shared = state();
        let mut state = shared.lock();
        state.registry.add(entry(0), Some(svid(1)));
        state.registry.add(entry(1), Some(svid(1)));
        state.publish();
        let a = snapshot(&state.subscribe(caller(0)).borrow());
        let b = snapshot(&state.subscribe(caller(1)).borrow());
        assert!(Arc::ptr_eq(&a.x509_bundles, &b.x509_bundles));
        assert!(Arc::ptr_eq(&a.jwt_bundles, &b.jwt_bundles));
        assert!(Arc::ptr_eq(&a.jwt_authorities, &b.jwt_authorities));
    }

    /// An entry without its first SVID gives its callers no X.509 message (streams wait),
    /// but its entries for JWT-SVIDs; the first SVID then reaches the group, and a stream waiting
    /// for it asks for it to be minted first.
    #[test]
    fn x509_message_waits_for_the_first_svid() {
        let shared = state();
        let mut state = shared.lock();
        let early = entry(0);
        let waiting = entry(1);
        state.registry.add(Arc::clone(&early), None);
        let id = state.registry.add(Arc::clone(&waiting), None);
        state.publish();
        let mut receiver = state.subscribe(caller(1));
        let pending = snapshot(&receiver.borrow_and_update());
        assert!(pending.x509.is_none());
        assert_eq!(pending.entries.len(), 1);

        let batch = state.next_unminted(1);
        assert_eq!(batch.len(), 1);
        assert_eq!(batch[0].0, id, "the entry a stream waits for comes first");

        assert!(state.registry.set_first_svid(id, &waiting, svid(3)));
        assert!(!state.registry.set_first_svid(id, &waiting, svid(4)));
        state.publish();
        assert!(receiver.has_changed().unwrap());
        let x509 = snapshot(&receiver.borrow()).x509.clone().unwrap();
        assert_eq!(x509.svids[0].x509_svid_key, vec![3; 8]);
        assert_eq!(*state.unminted().borrow(), 1);
    }
}
