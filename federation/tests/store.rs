//! The manager's last good bundles kept in a real store (`store::SqliteStore` on a file):
//! after a restart with the peer's endpoint down, the saved bundle is served at once, and a
//! lower `spiffe_sequence` is still refused, so a restart does not reopen the rollback that
//! the sequence check closes (digest 7.5).
//!
//! No test measures time: `within` only turns a hang into a failure.

#![cfg(feature = "store")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests: a panic is a failed test"
)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{RotatingSvid, Running, crypto, within};
use federation::client::Client;
use federation::endpoint::{BundlePublisher, EndpointTls};
use federation::manager::{
    EndpointFetcher, FederationManager, RefreshPolicy, Relationship, RelationshipStatus,
    StoreLastGood,
};
use trust_bundle::SpiffeBundle;

fn fast() -> RefreshPolicy {
    RefreshPolicy::new(Duration::from_millis(50), Duration::from_millis(100))
}

async fn until(manager: &FederationManager, done: impl Fn(&RelationshipStatus) -> bool) {
    within(async {
        while !manager.statuses().iter().any(&done) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

/// The peer's endpoint serving `sequence`.
async fn endpoint(peer: &ca::TestCa, sequence: u64) -> Running {
    let bundle = SpiffeBundle::clone(&peer.bundle())
        .with_sequence(sequence)
        .with_refresh_hint(Duration::from_secs(60));
    let publisher = BundlePublisher::new(bundle);
    let svid = RotatingSvid::new(peer.x509_svid("/federation/endpoint"));
    let tls = EndpointTls::https_spiffe(svid, &crypto()).unwrap();
    Running::endpoint(tls, publisher.service("/bundle")).await
}

fn relationship(peer: &ca::TestCa, server: &Running) -> Relationship {
    let fetcher = EndpointFetcher::self_serving_spiffe(
        Client::new(crypto()).with_timeout(Duration::from_secs(2)),
        server.url("127.0.0.1", "/bundle"),
        peer.id("/federation/endpoint"),
        (*peer.x509_bundle()).clone(),
    );
    Relationship::new(peer.trust_domain().clone(), Arc::new(fetcher)).refresh(fast())
}

fn manager_on(path: &std::path::Path) -> FederationManager {
    let store: Arc<dyn store::Store> = Arc::new(store::SqliteStore::open(path).unwrap());
    FederationManager::with_store(Arc::new(StoreLastGood::new(store)))
}

#[tokio::test]
async fn a_restart_serves_the_saved_bundle_and_still_refuses_a_rollback() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("agent.db");
    let peer = ca::TestCa::new("peer.example");

    // First run: sequence 7 fetched and saved.
    let server = endpoint(&peer, 7).await;
    let manager = manager_on(&db);
    manager.add(relationship(&peer, &server));
    until(&manager, |s| s.sequence == Some(7)).await;
    let taken = manager.bundles().get("peer.example").unwrap().clone();
    server.stop().await;
    drop(manager);

    // Restart with the endpoint down: the saved bundle is served before any fetch succeeds.
    let down = endpoint(&peer, 7).await;
    let down_rel = relationship(&peer, &down);
    down.stop().await;
    let manager = manager_on(&db);
    manager.add(down_rel);
    let held = manager.bundles().get("peer.example").cloned();
    assert_eq!(
        held.as_deref(),
        Some(&*taken),
        "served at once from the store"
    );
    until(&manager, |s| s.consecutive_failures >= 1).await;
    assert_eq!(
        manager.bundles().get("peer.example").unwrap().sequence(),
        Some(7)
    );
    drop(manager);

    // Restart against an endpoint that went back to sequence 3: refused, 7 kept.
    let rolled_back = endpoint(&peer, 3).await;
    let manager = manager_on(&db);
    manager.add(relationship(&peer, &rolled_back));
    until(&manager, |s| s.refused_sequence == Some(3)).await;
    let status = manager.statuses().pop().unwrap();
    assert_eq!(status.sequence, Some(7), "{status:?}");
    assert_eq!(
        manager.bundles().get("peer.example").unwrap().sequence(),
        Some(7)
    );
    rolled_back.stop().await;
}
