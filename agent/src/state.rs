//! The agent's state (entries, their current SVIDs, bundles) and the fan-out of full-state
//! views to open streams.
//!
//! Callers with the same selectors share one `tokio::sync::watch` channel (a *group*). Every
//! change recomputes each live group's view once and stores it in the channel; each stream
//! sends whatever is latest when its reader has room, so a reader that never reads holds one
//! view, never a queue, and never delays the others (Workload API §4.3: every message is full
//! state, so skipping intermediate ones loses nothing).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use spiffe_id::TrustDomain;
use tokio::sync::watch;
use tokio::time::Instant;
use trust_bundle::{BundleSet, SpiffeBundle};
use workload_client::proto::{JwtBundlesResponse, X509BundlesResponse, X509svid, X509svidResponse};

use crate::entry::{EntryId, RegistrationEntry};
use crate::selector::SelectorSet;

/// An X509-SVID as served: the wire fields that do not depend on the bundle, and when to
/// replace it.
pub(crate) struct IssuedSvid {
    /// DER chain, leaf first.
    pub(crate) chain: Vec<u8>,
    /// DER PKCS#8 private key (sent to entitled callers; the wire format needs it in clear).
    pub(crate) key: Vec<u8>,
    /// When the rotation task re-issues it (about half its lifetime, with jitter).
    pub(crate) refresh_at: Instant,
}

/// A registered entry and its current X509-SVID.
pub(crate) struct Registered {
    pub(crate) id: EntryId,
    pub(crate) entry: Arc<RegistrationEntry>,
    pub(crate) svid: Arc<IssuedSvid>,
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
    pub(crate) x509: Arc<X509svidResponse>,
    pub(crate) x509_bundles: Arc<X509BundlesResponse>,
    pub(crate) jwt_bundles: Arc<JwtBundlesResponse>,
    /// The JWT authorities of the own and federated trust domains the callers get, for
    /// `ValidateJWTSVID` (JWT keys only: digest W-API-11).
    pub(crate) jwt_authorities: Arc<BundleSet>,
}

/// Entries, SVIDs and bundles: everything a view is computed from.
pub(crate) struct Registry {
    pub(crate) trust_domain: TrustDomain,
    next_id: u64,
    pub(crate) entries: Vec<Registered>,
    own_bundle: Arc<SpiffeBundle>,
    /// The own bundle's certificates concatenated (the `bundle` field), computed once per
    /// bundle change.
    own_x509_der: Vec<u8>,
    own_jwt_json: Vec<u8>,
    federated: BTreeMap<TrustDomain, Arc<SpiffeBundle>>,
}

/// The registry plus the live groups.
pub(crate) struct State {
    pub(crate) registry: Registry,
    groups: HashMap<Arc<SelectorSet>, watch::Sender<View>>,
    closed: bool,
}

/// The state behind a mutex that is never held across an `.await`.
pub(crate) struct SharedState(Mutex<State>);

impl SharedState {
    pub(crate) fn new(trust_domain: TrustDomain, own_bundle: Arc<SpiffeBundle>) -> Self {
        let mut registry = Registry {
            trust_domain,
            next_id: 1,
            entries: Vec::new(),
            own_bundle: Arc::new(SpiffeBundle::new(own_bundle.trust_domain().clone())),
            own_x509_der: Vec::new(),
            own_jwt_json: Vec::new(),
            federated: BTreeMap::new(),
        };
        registry.set_own_bundle(own_bundle);
        Self(Mutex::new(State {
            registry,
            groups: HashMap::new(),
            closed: false,
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
        if let Some(sender) = self.groups.get(&selectors) {
            return sender.subscribe();
        }
        let view = self.registry.view(&selectors, None);
        let (sender, receiver) = watch::channel(view);
        self.groups.insert(Arc::new(selectors), sender);
        receiver
    }

    /// The current view for callers with `selectors` (from their group when there is one).
    pub(crate) fn view(&self, selectors: &SelectorSet) -> View {
        if self.closed {
            return View::Closed;
        }
        match self.groups.get(selectors) {
            Some(sender) => sender.borrow().clone(),
            None => self.registry.view(selectors, None),
        }
    }

    /// Recomputes every live group's view and wakes the streams whose view changed; drops
    /// groups nobody listens to any more.
    pub(crate) fn publish(&mut self) {
        let registry = &self.registry;
        self.groups.retain(|selectors, sender| {
            if sender.receiver_count() == 0 {
                return false;
            }
            let previous = match &*sender.borrow() {
                View::Entitled(snapshot) => Some(Arc::clone(snapshot)),
                View::Denied | View::Closed => None,
            };
            let view = registry.view(selectors, previous.as_ref());
            sender.send_if_modified(|current| {
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
            true
        });
    }

    /// Ends every stream cleanly and refuses new ones.
    pub(crate) fn close(&mut self) {
        self.closed = true;
        for sender in self.groups.values() {
            sender.send_replace(View::Closed);
        }
        self.groups.clear();
    }

    /// How many groups and streams are open (for logs and tests).
    pub(crate) fn stream_counts(&self) -> (usize, usize) {
        let streams = self
            .groups
            .values()
            .map(watch::Sender::receiver_count)
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
        true
    }

    /// Adds an entry with its first SVID.
    pub(crate) fn add(&mut self, entry: Arc<RegistrationEntry>, svid: Arc<IssuedSvid>) -> EntryId {
        let id = EntryId(self.next_id);
        self.next_id += 1;
        self.entries.push(Registered { id, entry, svid });
        id
    }

    /// Removes an entry; returns it.
    pub(crate) fn remove(&mut self, id: EntryId) -> Option<Arc<RegistrationEntry>> {
        let index = self.entries.iter().position(|r| r.id == id)?;
        Some(self.entries.remove(index).entry)
    }

    /// Replaces an entry's SVID if the entry is still registered with the same contents.
    pub(crate) fn replace_svid(
        &mut self,
        id: EntryId,
        entry: &Arc<RegistrationEntry>,
        svid: Arc<IssuedSvid>,
    ) -> bool {
        match self.entries.iter_mut().find(|r| r.id == id) {
            Some(registered) if Arc::ptr_eq(&registered.entry, entry) => {
                registered.svid = svid;
                true
            }
            _ => false,
        }
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
        true
    }

    /// Removes a federated bundle; returns whether there was one.
    pub(crate) fn remove_federated(&mut self, trust_domain: &TrustDomain) -> bool {
        self.federated.remove(trust_domain).is_some()
    }

    /// The entries a caller with `selectors` gets, in registration order. Hints are unique per
    /// response (Workload API §5.2.1, MUST; digest W-API-5): of two entries with the same
    /// hint only the first is kept.
    fn entitled(&self, selectors: &SelectorSet) -> Vec<&Registered> {
        let mut hints = HashSet::new();
        let mut chosen = Vec::new();
        for registered in &self.entries {
            if !registered.entry.matches(selectors) {
                continue;
            }
            if let Some(hint) = registered.entry.hint() {
                if !hints.insert(hint) {
                    tracing::warn!(
                        entry = %registered.id,
                        hint,
                        "entry skipped for this caller: an earlier entry has the same hint"
                    );
                    continue;
                }
            }
            chosen.push(registered);
        }
        chosen
    }

    /// The view for callers with `selectors`; messages equal to `previous`'s are reused.
    pub(crate) fn view(&self, selectors: &SelectorSet, previous: Option<&Arc<Snapshot>>) -> View {
        let chosen = self.entitled(selectors);
        if chosen.is_empty() {
            return View::Denied;
        }
        let federated: BTreeSet<&TrustDomain> = chosen
            .iter()
            .flat_map(|r| r.entry.federates_with())
            .filter(|td| self.federated.contains_key(*td))
            .collect();
        let federated: Vec<&Arc<SpiffeBundle>> = federated
            .into_iter()
            .filter_map(|td| self.federated.get(td))
            .collect();

        let own_key = self.trust_domain.id().to_string();
        let x509_federated: HashMap<String, Vec<u8>> = federated
            .iter()
            .filter(|b| !b.x509_bundle().is_empty())
            .map(|b| (b.trust_domain().id().to_string(), b.x509_bundle().to_der()))
            .collect();
        let x509 = X509svidResponse {
            svids: chosen
                .iter()
                .map(|r| X509svid {
                    spiffe_id: r.entry.spiffe_id().to_string(),
                    x509_svid: r.svid.chain.clone(),
                    x509_svid_key: r.svid.key.clone(),
                    bundle: self.own_x509_der.clone(),
                    hint: r.entry.hint().unwrap_or_default().to_owned(),
                })
                .collect(),
            crl: Vec::new(),
            federated_bundles: x509_federated.clone(),
        };
        let mut x509_bundles = x509_federated;
        x509_bundles.insert(own_key.clone(), self.own_x509_der.clone());
        let x509_bundles = X509BundlesResponse {
            crl: Vec::new(),
            bundles: x509_bundles,
        };
        let mut jwt_bundles: HashMap<String, Vec<u8>> = federated
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

        let x509 = reuse(x509, previous.map(|p| &p.x509));
        let x509_bundles = reuse(x509_bundles, previous.map(|p| &p.x509_bundles));
        let jwt_bundles = reuse(jwt_bundles, previous.map(|p| &p.jwt_bundles));
        let entries: Vec<(EntryId, Arc<RegistrationEntry>)> = chosen
            .iter()
            .map(|r| (r.id, Arc::clone(&r.entry)))
            .collect();

        let jwt_authorities = match previous {
            Some(p) if Arc::ptr_eq(&p.jwt_bundles, &jwt_bundles) => Arc::clone(&p.jwt_authorities),
            _ => Arc::new(self.jwt_authorities(&federated)),
        };
        if let Some(previous) = previous {
            let same_entries = previous.entries.len() == entries.len()
                && previous
                    .entries
                    .iter()
                    .zip(&entries)
                    .all(|(a, b)| a.0 == b.0 && Arc::ptr_eq(&a.1, &b.1));
            if same_entries
                && Arc::ptr_eq(&previous.x509, &x509)
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
