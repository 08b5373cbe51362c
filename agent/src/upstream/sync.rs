//! Starting upstream mode (attest, first sync) and turning the server's entries into
//! registration entries. The task that keeps syncing is `upstream_sync` (it drives the
//! agent's core, which this module sits below).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::{Upstream, UpstreamConfig, saved};
use crate::entry::RegistrationEntry;
use crate::entry_id::EntryId;
use crate::error::Error;
use crate::selector::Selector;
use node_api::proto;
use spiffe_id::{SpiffeId, TrustDomain};
use trust_bundle::SpiffeBundle;

/// A server entry as the agent serves it: its server ID and revision, and the entry.
pub(crate) struct Synced {
    pub(crate) upstream_id: String,
    pub(crate) revision: u64,
    pub(crate) entry: RegistrationEntry,
}

/// What the sync task knows was registered: server entry ID -> (local ID, revision).
pub(crate) type Known = HashMap<String, (EntryId, u64)>;

/// What the first sync gave: the entries and the federated bundles.
pub(crate) type FirstSync = (Vec<Synced>, Vec<SpiffeBundle>);

/// Attests (unless the client already holds an agent SVID) and runs the first sync.
pub(crate) async fn start(config: UpstreamConfig) -> Result<(Arc<Upstream>, FirstSync), Error> {
    let client = config.client.clone();
    let trust_domain = client.config().trust_domain.clone();
    if client.agent_svid().is_none() {
        let saved = match &config.state_dir {
            Some(dir) => {
                let (dir, crypto) = (dir.clone(), client.config().crypto.clone());
                let trust_domain = trust_domain.clone();
                tokio::task::spawn_blocking(move || saved::load(&dir, &trust_domain, &crypto))
                    .await
                    .ok()
                    .flatten()
            }
            None => None,
        };
        if let Some(resumed) = saved {
            tracing::info!(agent = %resumed.svid.spiffe_id(), "resuming with the saved agent SVID");
            client
                .resume(resumed.svid, resumed.expires_at, resumed.bundle)
                .map_err(Error::UpstreamStart)?;
        }
    }
    let sync = match client.agent_svid() {
        Some(_) => match client.sync().await {
            Err(error) if error.is_node_refused() => {
                tracing::warn!(%error, "the server refuses the saved identity; attesting again");
                None
            }
            other => Some(other.map_err(Error::UpstreamStart)?),
        },
        None => None,
    };
    let sync = match sync {
        Some(sync) => sync,
        None => {
            let attested = client
                .attest(config.attestation.clone())
                .await
                .map_err(Error::UpstreamStart)?;
            tracing::info!(agent = %attested.svid.spiffe_id(), method = config.attestation.kind(), "node attested");
            client.sync().await.map_err(Error::UpstreamStart)?
        }
    };
    let entries = convert(&sync.entries, &trust_domain);
    let upstream = Arc::new(Upstream::new(config, sync.bundle));
    upstream.record(Ok(()));
    let saving = Arc::clone(&upstream);
    let _ = tokio::task::spawn_blocking(move || saving.save()).await;
    crate::metrics::upstream_connected(true);
    Ok((upstream, (entries, sync.federated_bundles)))
}

/// The server's entries as registration entries; one the agent cannot serve is skipped (and
/// logged), not fatal.
pub(crate) fn convert(entries: &[proto::Entry], trust_domain: &TrustDomain) -> Vec<Synced> {
    entries
        .iter()
        .filter_map(|message| match entry_of(message) {
            Ok(entry) if entry.check(trust_domain).is_ok() => Some(Synced {
                upstream_id: message.id.clone(),
                revision: message.revision,
                entry,
            }),
            Ok(_) | Err(_) => {
                tracing::warn!(entry = %message.id, spiffe_id = %message.spiffe_id, "skipping a server entry this agent cannot serve");
                None
            }
        })
        .collect()
}

fn entry_of(message: &proto::Entry) -> Result<RegistrationEntry, String> {
    let id: SpiffeId = message.spiffe_id.parse().map_err(|e| format!("{e}"))?;
    let mut entry = RegistrationEntry::new(id).with_upstream_id(&message.id);
    for selector in &message.selectors {
        let selector: Selector = selector.parse().map_err(|e| format!("{e}"))?;
        entry = entry.with_selector(selector);
    }
    if message.x509_ttl_seconds > 0 {
        entry = entry.with_x509_ttl(Duration::from_secs(message.x509_ttl_seconds));
    }
    if message.jwt_ttl_seconds > 0 {
        entry = entry.with_jwt_ttl(Duration::from_secs(message.jwt_ttl_seconds));
    }
    for name in &message.dns_names {
        entry = entry.with_dns_name(name.clone());
    }
    entry = entry.with_hint(message.hint.clone());
    for domain in &message.federates_with {
        entry = entry.with_federates_with(domain.parse().map_err(|e| format!("{e}"))?);
    }
    Ok(entry)
}
