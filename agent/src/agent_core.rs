//! The running agent's core, shared by every RPC, the rotation task and the [`AgentHandle`]:
//! registering entries and bundles, attesting callers, minting and re-issuing SVIDs.
//!
//! [`AgentHandle`]: crate::AgentHandle

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use spiffe_id::TrustDomain;
use svid::{Audience, Crypto};
use tokio::sync::Notify;
use tokio::time::Instant;
use tonic::Status;
use trust_bundle::SpiffeBundle;

use crate::attest::Attestor;
use crate::caller::Caller;
use crate::entry::RegistrationEntry;
use crate::entry_id::EntryId;
use crate::error::Error;
use crate::issue::{self, JwtCache};
use crate::issuer::Issuer;
use crate::selector::SelectorSet;
use crate::state::ServedStateLock;

/// How long to wait before trying again when the CA refused a rotation.
pub(crate) const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(5);

/// What every RPC and the rotation task share: the CA, the served state, the attestors, the
/// default TTLs, the JWT-SVID cache and the rotation task's signals.
pub(crate) struct AgentCore {
    /// Where SVIDs and the bundle come from.
    pub(crate) issuer: Issuer,
    pub(crate) trust_domain: TrustDomain,
    pub(crate) state: ServedStateLock,
    pub(crate) attestors: Vec<Arc<dyn Attestor>>,
    pub(crate) x509_ttl: Duration,
    pub(crate) jwt_ttl: Duration,
    /// What `ValidateJWTSVID` verifies with.
    pub(crate) crypto: Crypto,
    pub(crate) jwt_cache: JwtCache,
    /// Wakes the rotation task when an SVID with an earlier refresh time was added.
    pub(crate) reschedule: Notify,
    /// How many X.509 authority changes the rotation task has seen (it compares the CA's
    /// `x509_authority_epoch` to notice them); an SVID minted while this moved is re-issued
    /// at once.
    pub(crate) x509_authority_changes: AtomicU64,
    /// How often the rotation task runs the CA's key lifecycle, if at all.
    pub(crate) ca_rotation_interval: Option<Duration>,
    /// The federation manager whose bundles this agent serves, for the admin API
    /// ([`AgentHandle::federate`](crate::AgentHandle::federate)).
    pub(crate) federation: std::sync::Mutex<Option<Arc<federation::manager::FederationManager>>>,
}

impl core::fmt::Debug for AgentCore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AgentCore")
            .field("trust_domain", &self.trust_domain)
            .finish_non_exhaustive()
    }
}

impl AgentCore {
    /// Runs every attestor for `caller` and unions their selectors.
    pub(crate) async fn attest(&self, caller: &Caller) -> Result<SelectorSet, Status> {
        let mut selectors = BTreeSet::new();
        for attestor in &self.attestors {
            let found = attestor.attest(caller).await.map_err(|error| {
                tracing::warn!(?caller, %error, "attestation failed");
                crate::metrics::attestation_failed();
                Status::unavailable(format!("caller attestation failed: {error}"))
            })?;
            selectors.extend(found);
        }
        Ok(selectors)
    }

    /// One JWT-SVID per entry for `audience`.
    pub(crate) async fn jwt_svids(
        &self,
        entries: &[(EntryId, Arc<RegistrationEntry>)],
        audience: &Audience,
    ) -> Result<Vec<String>, Error> {
        self.jwt_cache
            .tokens(&self.issuer, entries, audience.values(), self.jwt_ttl)
            .await
    }

    pub(crate) fn set_federated_bundle(&self, bundle: SpiffeBundle) -> Result<(), Error> {
        if *bundle.trust_domain() == self.trust_domain {
            return Err(Error::FederatedBundleForOwnTrustDomain(
                self.trust_domain.clone(),
            ));
        }
        let mut state = self.state.lock();
        if state.registry.set_federated(bundle) {
            state.publish();
        }
        Ok(())
    }

    /// Removes a foreign trust domain's bundle; whether there was one.
    pub(crate) fn remove_federated_bundle(&self, trust_domain: &TrustDomain) -> bool {
        let mut state = self.state.lock();
        let removed = state.registry.remove_federated(trust_domain);
        if removed {
            state.publish();
        }
        removed
    }

    /// Makes the federated bundles that came from one source (a manager, the fleet server) equal
    /// to `bundles`: each is set (the streams of the callers whose entries federate with its trust
    /// domain see a change), and a trust domain of `applied` missing from `bundles` is removed
    /// (Federation 6, "terminate"). `applied` is what this source applied before, and becomes
    /// what it applies now.
    pub(crate) fn apply_federated_bundles(
        &self,
        bundles: impl IntoIterator<Item = SpiffeBundle>,
        applied: &mut BTreeSet<TrustDomain>,
    ) {
        let mut current = BTreeSet::new();
        for bundle in bundles {
            let trust_domain = bundle.trust_domain().clone();
            match self.set_federated_bundle(bundle) {
                Ok(()) => {
                    current.insert(trust_domain);
                }
                Err(error) => tracing::warn!(
                    target: "spiffekit_agent",
                    trust_domain = %trust_domain,
                    %error,
                    "federated bundle not used"
                ),
            }
        }
        for gone in applied.difference(&current) {
            self.remove_federated_bundle(gone);
        }
        *applied = current;
    }

    pub(crate) async fn add_entry(&self, entry: RegistrationEntry) -> Result<EntryId, Error> {
        self.register_minted(None, entry).await
    }

    /// Replaces the entry `old` by `entry` in one step (callers see the new entry's SVID
    /// where they saw the old one), once the new SVID is minted. Returns the new id.
    pub(crate) async fn replace_entry(
        &self,
        old: EntryId,
        entry: RegistrationEntry,
    ) -> Result<EntryId, Error> {
        self.register_minted(Some(old), entry).await
    }

    /// Mints `entry`'s first SVID, then registers it (in place of `replaced`, in the same
    /// publication) and wakes the streams it changes.
    async fn register_minted(
        &self,
        replaced: Option<EntryId>,
        entry: RegistrationEntry,
    ) -> Result<EntryId, Error> {
        entry.check(&self.trust_domain)?;
        let entry = Arc::new(entry);
        let epoch = self.x509_authority_changes.load(Ordering::SeqCst);
        let minted = issue::mint_x509(&self.issuer, vec![Arc::clone(&entry)], self.x509_ttl).await;
        let mut svid = minted.into_iter().next().ok_or(Error::ShutDown)??;
        let mut state = self.state.lock();
        if self.x509_authority_changes.load(Ordering::SeqCst) != epoch {
            // The CA rotated while this was minted: serve it, and replace it right away.
            svid.refresh_at = Instant::now();
        }
        if let Some(old) = replaced {
            state.registry.remove(old).ok_or(Error::UnknownEntry(old))?;
        }
        let id = state.registry.add(entry, Some(Arc::new(svid)));
        state.publish();
        drop(state);
        self.reschedule.notify_one();
        match replaced {
            Some(old) => tracing::info!(old = %old, entry = %id, "replaced"),
            None => tracing::info!(entry = %id, "registered"),
        }
        Ok(id)
    }

    /// Removes an entry; callers left without any get `PermissionDenied` on their streams.
    pub(crate) fn remove_entry(&self, id: EntryId) -> Result<RegistrationEntry, Error> {
        let mut state = self.state.lock();
        let entry = state.registry.remove(id).ok_or(Error::UnknownEntry(id))?;
        state.publish();
        Ok(Arc::unwrap_or_clone(entry))
    }

    /// Registers start-up entries without SVIDs: the minting task (started with the rotation
    /// task) mints them, entries a stream waits for first.
    pub(crate) fn register_unminted(&self, entries: Vec<RegistrationEntry>) -> Vec<EntryId> {
        let mut state = self.state.lock();
        let mut ids = Vec::with_capacity(entries.len());
        for entry in entries {
            let id = state.registry.add(Arc::new(entry), None);
            ids.push(id);
            tracing::debug!(entry = %id, "registered");
        }
        state.publish();
        tracing::info!(entries = state.registry.iter().count(), "registered");
        ids
    }

    /// Re-issues every X509-SVID and publishes them together with the CA's current bundle.
    pub(crate) async fn reissue_all(&self) -> Result<(), Error> {
        let entries: Vec<(EntryId, Arc<RegistrationEntry>)> = {
            let state = self.state.lock();
            state
                .registry
                .iter()
                .map(|(id, r)| (id, Arc::clone(&r.entry)))
                .collect()
        };
        self.reissue(entries, true).await
    }

    /// Mints new SVIDs for `entries` and installs those whose entry is still registered,
    /// publishing once (only the groups of those entries are recomputed, unless the bundle
    /// changed too). With `refresh_bundle` the CA's bundle is read (after minting, so it holds
    /// the authority that signed them) and published in the same step.
    pub(crate) async fn reissue(
        &self,
        entries: Vec<(EntryId, Arc<RegistrationEntry>)>,
        refresh_bundle: bool,
    ) -> Result<(), Error> {
        let to_mint = entries.iter().map(|(_, entry)| Arc::clone(entry)).collect();
        let minted = issue::mint_x509(&self.issuer, to_mint, self.x509_ttl).await;
        let mut first_error = None;
        let mut state = self.state.lock();
        if refresh_bundle {
            state.registry.set_own_bundle(self.issuer.bundle());
        }
        for ((id, entry), svid) in entries.iter().zip(minted) {
            match svid {
                Ok(svid) => {
                    state.registry.replace_svid(*id, entry, Arc::new(svid));
                }
                Err(error) => {
                    tracing::error!(spiffe_id = %entry.spiffe_id(), %error, "SVID rotation failed; retrying later");
                    let retry = Instant::now() + RETRY_AFTER_FAILURE;
                    state.registry.retry_at(*id, retry);
                    first_error.get_or_insert(error);
                }
            }
        }
        state.publish();
        drop(state);
        first_error.map_or(Ok(()), Err)
    }
}
