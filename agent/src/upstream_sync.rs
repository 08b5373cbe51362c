//! Upstream mode's sync task: entries and bundle from the server every few seconds, agent
//! SVID renewal at half its life, re-attestation after an eviction (x509pop), bounded backoff
//! while no server answers.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use spiffe_id::TrustDomain;
use tokio::sync::watch;

use crate::agent_core::AgentCore;
use crate::upstream::Upstream;
use crate::upstream::sync::{Known, convert};

/// The longest wait between sync attempts while servers do not answer.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Syncs until `stop` turns true; `known` is what the first sync registered: its entries and
/// the trust domains of the federated bundles applied.
pub(crate) async fn run(
    agent: Arc<AgentCore>,
    upstream: Arc<Upstream>,
    known: (Known, BTreeSet<TrustDomain>),
    mut stop: watch::Receiver<bool>,
) {
    let (mut known, mut federated) = known;
    let interval = upstream.config.sync_interval;
    let mut wait = interval;
    loop {
        tokio::select! {
            () = stop_requested(&mut stop) => return,
            () = tokio::time::sleep(wait) => {}
        }
        renew_if_due(&upstream).await;
        match upstream.client().sync().await {
            Ok(sync) => {
                apply(&agent, &upstream, &mut known, &mut federated, sync).await;
                upstream.record(Ok(()));
                crate::metrics::upstream_connected(true);
                wait = interval;
            }
            Err(error) => {
                crate::metrics::upstream_connected(false);
                tracing::warn!(%error, "syncing with the server failed; serving what the agent holds");
                upstream.record(Err(error.to_string()));
                if error.is_node_refused() {
                    reattest(&upstream).await;
                }
                wait = (wait * 2).min(MAX_BACKOFF.max(interval));
            }
        }
    }
}

/// Resolves once a stop is requested (or the sender is gone).
async fn stop_requested(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

/// Saves the agent SVID and bundle off the async threads.
async fn save(upstream: &Arc<Upstream>) {
    let upstream = Arc::clone(upstream);
    let _ = tokio::task::spawn_blocking(move || upstream.save()).await;
}

/// Renews the agent SVID once half its life has passed.
async fn renew_if_due(upstream: &Arc<Upstream>) {
    let client = upstream.client();
    let Some(expires_at) = client.agent_svid_expires_at() else {
        return;
    };
    let due = upstream.renew_at().is_none_or(|at| SystemTime::now() >= at);
    if !due {
        return;
    }
    match client.renew().await {
        Ok(_) => {
            upstream.schedule_renewal();
            save(upstream).await;
            tracing::info!("agent SVID renewed");
        }
        Err(error) => {
            let left = expires_at
                .duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO);
            tracing::warn!(%error, left_seconds = left.as_secs(), "renewing the agent SVID failed; retrying");
        }
    }
}

/// Attests again after the server refused this node (evicted); works for x509pop, not for a
/// used join token.
async fn reattest(upstream: &Arc<Upstream>) {
    match upstream
        .client()
        .attest(upstream.config.attestation.clone())
        .await
    {
        Ok(attested) => {
            upstream.schedule_renewal();
            save(upstream).await;
            tracing::warn!(agent = %attested.svid.spiffe_id(), "the server had refused this node; attested again");
        }
        Err(error) => {
            tracing::error!(%error, "the server refuses this node and attesting again failed")
        }
    }
}

/// Installs a sync: bundle, federated bundles (added, changed, removed), then entries added,
/// changed and removed.
async fn apply(
    agent: &AgentCore,
    upstream: &Arc<Upstream>,
    known: &mut Known,
    federated: &mut BTreeSet<TrustDomain>,
    sync: node_api::Sync,
) {
    if upstream.set_bundle(sync.bundle) {
        save(upstream).await;
        agent.jwt_cache.clear();
        let mut state = agent.state.lock();
        if state.registry.set_own_bundle(upstream.bundle()) {
            state.publish();
        }
    }
    agent.apply_federated_bundles(sync.federated_bundles, federated);
    let desired = convert(&sync.entries, &agent.trust_domain);
    let wanted: HashSet<&str> = desired.iter().map(|s| s.upstream_id.as_str()).collect();
    let gone: Vec<String> = known
        .keys()
        .filter(|id| !wanted.contains(id.as_str()))
        .cloned()
        .collect();
    for upstream_id in gone {
        if let Some((local, _)) = known.remove(&upstream_id) {
            if agent.remove_entry(local).is_ok() {
                tracing::info!(entry = %upstream_id, "entry removed by the server");
            }
        }
    }
    for synced in desired {
        let result = match known.get(&synced.upstream_id) {
            Some((_, revision)) if *revision == synced.revision => continue,
            Some((local, _)) => agent.replace_entry(*local, synced.entry).await,
            None => agent.add_entry(synced.entry).await,
        };
        match result {
            Ok(local) => {
                known.insert(synced.upstream_id, (local, synced.revision));
            }
            Err(error) => {
                tracing::warn!(entry = %synced.upstream_id, %error, "installing a server entry failed; retrying at the next sync");
            }
        }
    }
}
