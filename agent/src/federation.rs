//! Federation in the agent: foreign trust domains' bundles kept live from a
//! [`FederationManager`], and what the agent's own
//! bundle endpoint serves (its CA's bundle, and an X509-SVID of its CA for `https_spiffe`).

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use ca::{CertificateAuthority, X509SvidRequest};
use federation::endpoint::BundlePublisher;
use federation::manager::FederationManager;
use spiffe_id::{SpiffeId, TrustDomain};
use svid::{X509Svid, X509SvidSource};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use trust_bundle::{BundleSet, SpiffeBundle};

use crate::agent_core::AgentCore;
use crate::error::Error;
use crate::server::AgentHandle;

impl AgentHandle {
    /// Keeps the agent's federated bundles equal to `bundles`, typically
    /// [`FederationManager::subscribe`](federation::manager::FederationManager::subscribe):
    /// each change reaches the streams of the callers whose entries federate with that trust
    /// domain, and a trust domain that leaves the set is removed from them (Federation 6,
    /// "terminate"). Bundles set by other means for trust domains the set never named are left
    /// alone. The task ends when the sender is dropped.
    pub fn follow_federated_bundles(&self, bundles: watch::Receiver<BundleSet>) -> JoinHandle<()> {
        tokio::spawn(follow(Arc::clone(&self.agent), bundles))
    }
}

impl AgentHandle {
    /// Serves `manager`'s bundles as [`follow_federated_bundles`](Self::follow_federated_bundles)
    /// does, and answers the admin API's federation calls from it (list the relationships
    /// with their last refresh, sequence and error; reset a held sequence).
    pub fn federate(&self, manager: Arc<FederationManager>) -> JoinHandle<()> {
        let task = self.follow_federated_bundles(manager.subscribe());
        *self
            .agent
            .federation
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(manager);
        task
    }
}

async fn follow(core: Arc<AgentCore>, mut bundles: watch::Receiver<BundleSet>) {
    let mut applied: BTreeSet<TrustDomain> = BTreeSet::new();
    loop {
        let set = bundles.borrow_and_update().clone();
        let current = set.iter().map(|(_, bundle)| SpiffeBundle::clone(bundle));
        core.apply_federated_bundles(current, &mut applied);
        if bundles.changed().await.is_err() {
            return;
        }
    }
}

/// The agent CA's bundle for its bundle endpoint, republished on every change of the CA
/// (rotation, retirement): a new authority reaches the federated peers at their next refresh,
/// before anything is signed with it (the CA publishes prepared authorities ahead of use).
///
pub fn publish_ca_bundle(ca: &CertificateAuthority) -> (BundlePublisher, JoinHandle<()>) {
    let publisher = BundlePublisher::new(SpiffeBundle::clone(&ca.bundle()));
    let mut snapshots = ca.subscribe();
    let follower = publisher.clone();
    let task = tokio::spawn(async move {
        while snapshots.changed().await.is_ok() {
            let bundle = Arc::clone(snapshots.borrow_and_update().bundle());
            if let Err(error) = follower.publish(&bundle) {
                tracing::warn!(target: "spiffekit_agent", %error, "bundle endpoint not updated");
            }
        }
    });
    (publisher, task)
}

/// An X509-SVID for the bundle endpoint (`https_spiffe`), minted by the agent's CA and renewed
/// at half its lifetime, so it follows the CA's rotations without a restart.
pub struct EndpointSvid {
    current: Mutex<Arc<X509Svid>>,
}

impl core::fmt::Debug for EndpointSvid {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("EndpointSvid")
            .field("spiffe_id", self.current().spiffe_id())
            .finish_non_exhaustive()
    }
}

impl EndpointSvid {
    /// Mints the first SVID for `id` (lifetime `ttl`) and starts renewing it.
    ///
    /// # Errors
    /// [`Error::Ca`] when the CA refuses (e.g. an ID of another trust domain).
    pub fn start(
        ca: CertificateAuthority,
        id: SpiffeId,
        ttl: Duration,
    ) -> Result<(Arc<Self>, JoinHandle<()>), Error> {
        let request = X509SvidRequest::new(id).ttl(ttl);
        let first = ca
            .mint_x509_svid(&request, SystemTime::now())
            .map_err(Error::Ca)?;
        let svid = Arc::new(Self {
            current: Mutex::new(Arc::new(first)),
        });
        let renewed = Arc::clone(&svid);
        let task = tokio::spawn(async move {
            let half = (ttl / 2).max(Duration::from_secs(1));
            let mut wait = half;
            loop {
                tokio::time::sleep(wait).await;
                match ca.mint_x509_svid(&request, SystemTime::now()) {
                    Ok(next) => {
                        *renewed
                            .current
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner) = Arc::new(next);
                        wait = half;
                    }
                    Err(error) => {
                        tracing::warn!(
                            target: "spiffekit_agent",
                            %error,
                            "bundle endpoint SVID not renewed; retrying in 5 s"
                        );
                        wait = Duration::from_secs(5).min(half);
                    }
                }
            }
        });
        Ok((svid, task))
    }

    /// The SVID presented now.
    pub fn current(&self) -> Arc<X509Svid> {
        Arc::clone(&self.current.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl X509SvidSource for EndpointSvid {
    fn x509_svid(&self) -> Option<Arc<X509Svid>> {
        Some(self.current())
    }
}
