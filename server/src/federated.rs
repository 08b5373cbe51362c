//! Federation in the server (SPIFFE Federation): `[federation]` started with the server's
//! bundle and CA, and the foreign trust domains' bundles a server sends its agents: from the
//! server's federation manager (or any `BundleSet` channel), each node gets those its entries
//! federate with, with every sync.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};

use ca::CertificateAuthority;
use federation::config::{EndpointProfileConfig, EndpointSources, FederationConfig};
use federation::endpoint::BundlePublisher;
use node_api::proto;
use spiffe_id::TrustDomain;
use store::EntryRecord;
use tokio::sync::watch;
use trust_bundle::BundleSet;

use crate::bundle::MergedBundle;
use crate::error::Error;
use crate::identity::ServerSvid;

/// The federated bundles and their wire form, rebuilt once per change of the set (its
/// generation), not once per sync.
pub(crate) struct FederatedBundles {
    bundles: watch::Receiver<BundleSet>,
    wire: Mutex<Wire>,
}

/// The wire form of one generation of the set.
#[derive(Default)]
struct Wire {
    generation: Option<u64>,
    bundles: BTreeMap<TrustDomain, Arc<proto::FederatedBundle>>,
}

impl FederatedBundles {
    /// Follows `bundles`.
    pub(crate) fn new(bundles: watch::Receiver<BundleSet>) -> Self {
        Self {
            bundles,
            wire: Mutex::new(Wire::default()),
        }
    }

    /// None at all (no federation configured).
    pub(crate) fn none() -> Self {
        Self::new(watch::channel(BundleSet::new()).1)
    }

    /// The bundles of the trust domains `entries` federate with, among those held now (a
    /// trust domain without a bundle yet is left out until one is fetched).
    pub(crate) fn for_entries(&self, entries: &[Arc<EntryRecord>]) -> Vec<proto::FederatedBundle> {
        let wanted: BTreeSet<&TrustDomain> = entries
            .iter()
            .flat_map(|entry| entry.federates_with())
            .collect();
        if wanted.is_empty() {
            return Vec::new();
        }
        let mut wire = self.wire.lock().unwrap_or_else(PoisonError::into_inner);
        {
            let set = self.bundles.borrow();
            if wire.generation != Some(set.generation()) {
                wire.bundles = set
                    .iter()
                    .map(|(trust_domain, bundle)| {
                        let message = proto::FederatedBundle {
                            trust_domain: trust_domain.to_string(),
                            bundle_json: bundle.to_json(),
                            sequence: bundle.sequence().unwrap_or(0),
                        };
                        (trust_domain.clone(), Arc::new(message))
                    })
                    .collect();
                wire.generation = Some(set.generation());
            }
        }
        wanted
            .into_iter()
            .filter_map(|trust_domain| wire.bundles.get(trust_domain))
            .map(|message| proto::FederatedBundle::clone(message))
            .collect()
    }
}

/// Starts `[federation]`: the endpoint serving `bundle` (its SVID, for `https_spiffe`, added
/// to `renewed`) and the relationships.
pub(crate) async fn start_federation(
    config: &FederationConfig,
    ca: &CertificateAuthority,
    bundle: &MergedBundle,
    crypto: &svid::Crypto,
    renewed: &mut Vec<Arc<ServerSvid>>,
    store: &Arc<dyn store::Store>,
) -> Result<federation::config::Running, Error> {
    let mut follow = None;
    let sources = match &config.bundle_endpoint {
        None => None,
        Some(settings) => {
            let (publisher, task) = BundlePublisher::follow(bundle.subscribe());
            follow = Some(task);
            let mut sources = EndpointSources::new(publisher);
            if let EndpointProfileConfig::HttpsSpiffe { spiffe_id } = &settings.profile {
                let svid = Arc::new(ServerSvid::for_id(ca.clone(), spiffe_id.clone())?);
                renewed.push(Arc::clone(&svid));
                sources = sources.with_svid(svid);
            }
            Some(sources)
        }
    };
    // Last good bundles survive restarts in the shared store (every replica reads them).
    let last_good: Arc<dyn federation::manager::LastGoodStore> =
        Arc::new(federation::manager::StoreLastGood::new(Arc::clone(store)));
    match federation::config::start(config, crypto, sources, Some(last_good)).await {
        Ok(mut running) => {
            if let Some(task) = follow {
                running.attach(task);
            }
            Ok(running)
        }
        Err(error) => {
            if let Some(task) = follow {
                task.abort();
            }
            Err(error.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(federates_with: &[&str]) -> Arc<EntryRecord> {
        let record = EntryRecord::new("spiffe://example.org/w".parse().unwrap())
            .with_selector("unix:uid:1")
            .with_federates_with(federates_with.iter().map(|td| td.parse().unwrap()));
        Arc::new(record)
    }

    /// A node gets the bundles of the trust domains its entries federate with, each with its
    /// trust domain (digest 7.2: the association travels with the bundle), and no other; a
    /// change of the set reaches the next sync, a removal included (digest 7.6, maintain and
    /// terminate).
    #[test]
    fn sends_only_the_bundles_the_entries_federate_with() {
        let ca = |td: &str| {
            CertificateAuthority::builder(td.parse().unwrap())
                .build(std::time::SystemTime::now())
                .unwrap()
        };
        let (a, b) = (ca("a.example"), ca("b.example"));
        let set = |bundles: Vec<Arc<trust_bundle::SpiffeBundle>>| {
            BundleSet::from_bundles(bundles).unwrap()
        };
        let (sender, receiver) = watch::channel(set(vec![a.bundle()]));
        let federated = FederatedBundles::new(receiver);
        let names = |sent: Vec<proto::FederatedBundle>| -> Vec<String> {
            sent.into_iter().map(|b| b.trust_domain).collect()
        };
        assert!(federated.for_entries(&[entry(&[])]).is_empty());
        assert_eq!(
            names(federated.for_entries(&[entry(&["a.example", "b.example"])])),
            ["a.example"]
        );
        sender.send_replace(set(vec![a.bundle(), b.bundle()]));
        let sent = federated.for_entries(&[entry(&["b.example"]), entry(&["b.example"])]);
        assert_eq!(names(sent.clone()), ["b.example"]);
        let [only] = sent.as_slice() else {
            panic!("one bundle")
        };
        assert_eq!(only.bundle_json, b.bundle().to_json());
        sender.send_replace(set(vec![a.bundle()]));
        assert!(federated.for_entries(&[entry(&["b.example"])]).is_empty());
    }
}
