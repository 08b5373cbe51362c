//! What a group of callers is sent: its [`View`], computed from the registry, with every
//! message behind an `Arc` that is reused while it stays equal.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use spiffe_id::TrustDomain;
use trust_bundle::{BundleSet, SpiffeBundle};
use workload_api::proto::{JwtBundlesResponse, X509BundlesResponse, X509svid, X509svidResponse};

use super::registry::{BundleMessages, Registered, Registry};
use crate::entry::RegistrationEntry;
use crate::entry_id::EntryId;

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

impl Registry {
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
    pub(super) fn view(
        &mut self,
        members: &BTreeSet<EntryId>,
        previous: Option<&Arc<Snapshot>>,
    ) -> View {
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
