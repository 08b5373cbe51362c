//! The rotation task: replaces X509-SVIDs at about half their lifetime, and reacts to CA
//! changes (a new bundle is published at once; a new X.509 authority re-issues everything).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use ca::CaSnapshot;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::agent_core::{AgentCore, RETRY_AFTER_FAILURE};
use crate::issue;

/// Runs until `stop` turns true (or its sender is dropped).
pub(crate) async fn run(
    agent: Arc<AgentCore>,
    ca_changes: Option<(watch::Receiver<Arc<CaSnapshot>>, u64)>,
    mut stop: watch::Receiver<bool>,
) {
    // Without a CA of its own (upstream mode) nothing ever changes on this channel; the
    // upstream sync task publishes bundle changes itself.
    let (mut ca_changes, mut x509_epoch) = match ca_changes {
        Some((receiver, epoch)) => (Some(receiver), epoch),
        None => (None, 0),
    };
    // The receiver and epoch were taken before the first SVIDs were minted, so a rotation
    // since then shows up as a change with a new epoch.
    let minter = tokio::spawn(mint_first_svids(Arc::clone(&agent), stop.clone()));
    let mut ca_ticks = agent.ca_rotation_interval.map(|period| {
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks
    });
    loop {
        if *stop.borrow() {
            break;
        }
        let next = next_refresh(&agent);
        let sleep = async {
            match next {
                Some(at) => tokio::time::sleep_until(at).await,
                None => core::future::pending().await,
            }
        };
        tokio::select! {
            changed = stop.changed() => if changed.is_err() { break },
            changed = ca_changed(&mut ca_changes) => match changed {
                Some(epoch) => {
                    let authority_changed = epoch != x509_epoch;
                    x509_epoch = epoch;
                    on_ca_change(&agent, authority_changed).await;
                }
                None => ca_changes = None,
            },
            () = agent.reschedule.notified() => {}
            _ = tick(&mut ca_ticks) => drive_ca(&agent).await,
            () = sleep => rotate_due(&agent).await,
        }
    }
    let _ = minter.await;
}

/// First SVIDs minted per step: small enough that a caller whose entry was just asked for
/// waits a few milliseconds, large enough to keep every core busy.
const FIRST_MINT_BATCH: usize = 64;

/// Mints the first SVIDs of entries registered without one (start-up entries), those a stream
/// waits for first, until `stop` turns true. An SVID minted while the CA's authority changed is
/// installed and re-issued at once.
async fn mint_first_svids(agent: Arc<AgentCore>, mut stop: watch::Receiver<bool>) {
    let wanted = agent.state.lock().mint_wanted();
    loop {
        if *stop.borrow() {
            break;
        }
        let batch = agent.state.lock().next_unminted(FIRST_MINT_BATCH);
        if batch.is_empty() {
            tokio::select! {
                changed = stop.changed() => if changed.is_err() { break },
                () = wanted.notified() => {}
            }
            continue;
        }
        let epoch = agent.x509_authority_changes.load(Ordering::SeqCst);
        let entries = batch.iter().map(|(_, entry)| Arc::clone(entry)).collect();
        let minted = issue::mint_x509(&agent.issuer, entries, agent.x509_ttl).await;
        let rotated = agent.x509_authority_changes.load(Ordering::SeqCst) != epoch;
        let mut failed = false;
        {
            let mut state = agent.state.lock();
            for ((id, entry), svid) in batch.iter().zip(minted) {
                match svid {
                    Ok(mut svid) => {
                        if rotated {
                            svid.refresh_at = Instant::now();
                        }
                        state.registry.set_first_svid(*id, entry, Arc::new(svid));
                    }
                    Err(error) => {
                        tracing::error!(spiffe_id = %entry.spiffe_id(), %error, "minting a first SVID failed; retrying later");
                        failed = true;
                    }
                }
            }
            state.publish();
        }
        agent.reschedule.notify_one();
        if failed {
            tokio::select! {
                changed = stop.changed() => if changed.is_err() { break },
                () = tokio::time::sleep(RETRY_AFTER_FAILURE) => {}
            }
        }
    }
}

/// The X.509 authority epoch of the CA's next change; `None` when the CA is gone; never
/// without a CA.
async fn ca_changed(changes: &mut Option<watch::Receiver<Arc<CaSnapshot>>>) -> Option<u64> {
    match changes {
        Some(changes) => match changes.changed().await {
            Ok(()) => Some(changes.borrow_and_update().x509_authority_epoch()),
            Err(_) => None,
        },
        None => core::future::pending().await,
    }
}

/// The next CA lifecycle tick, or never.
async fn tick(ticks: &mut Option<tokio::time::Interval>) {
    match ticks {
        Some(ticks) => {
            ticks.tick().await;
        }
        None => core::future::pending().await,
    }
}

/// Runs the CA's scheduled key lifecycle (key generation: on a blocking thread). Changes it
/// makes arrive through the CA's watch channel like any other.
async fn drive_ca(agent: &AgentCore) {
    let Some(ca) = agent.issuer.ca().cloned() else {
        return;
    };
    let result = tokio::task::spawn_blocking(move || ca.rotate(std::time::SystemTime::now())).await;
    match result {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::error!(%error, "CA key rotation failed; retrying next tick"),
        Err(_) => tracing::error!("CA key rotation did not complete"),
    }
}

/// The earliest refresh time of any SVID.
fn next_refresh(agent: &AgentCore) -> Option<Instant> {
    let state = agent.state.lock();
    state
        .registry
        .iter()
        .filter_map(|(_, r)| r.svid.as_ref().map(|svid| svid.refresh_at))
        .min()
}

/// Re-issues the SVIDs whose refresh time has come.
async fn rotate_due(agent: &AgentCore) {
    let now = Instant::now();
    let due: Vec<_> = {
        let state = agent.state.lock();
        state
            .registry
            .iter()
            .filter(|(_, r)| r.svid.as_ref().is_some_and(|svid| svid.refresh_at <= now))
            .map(|(id, r)| (id, Arc::clone(&r.entry)))
            .collect()
    };
    if due.is_empty() {
        return;
    }
    tracing::debug!(count = due.len(), "rotating X509-SVIDs");
    // Errors are logged and retried by `reissue`.
    let _ = agent.reissue(due, false).await;
}

/// The CA's bundle changed: JWT keys may have changed (forget cached tokens), and when the
/// X.509 authority changed every SVID is re-issued and published with the new bundle.
async fn on_ca_change(agent: &AgentCore, authority_changed: bool) {
    agent.jwt_cache.clear();
    if authority_changed {
        agent.x509_authority_changes.fetch_add(1, Ordering::SeqCst);
        crate::metrics::ca_rotated();
        tracing::info!("CA authority changed; re-issuing every X509-SVID");
        let _ = agent.reissue_all().await;
    } else {
        let mut state = agent.state.lock();
        if state.registry.set_own_bundle(agent.issuer.bundle()) {
            state.publish();
        }
    }
}
