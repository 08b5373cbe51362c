//! The federation manager against our endpoint over real TLS on 127.0.0.1: a self-serving
//! `https_spiffe` relationship that follows the peer through a CA rotation, and an endpoint
//! that goes down and comes back while the last good bundle stays in use.
//!
//! No test measures time: `within` only turns a hang into a failure.

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
};
use trust_bundle::SpiffeBundle;

fn bundle_of(ca: &ca::TestCa, sequence: u64) -> Arc<SpiffeBundle> {
    Arc::new(
        SpiffeBundle::clone(&ca.bundle())
            .with_sequence(sequence)
            .with_refresh_hint(Duration::from_secs(60)),
    )
}

/// Polls every 50-100 ms whatever the hint says, so the test follows changes quickly.
fn fast() -> RefreshPolicy {
    RefreshPolicy::new(Duration::from_millis(50), Duration::from_millis(100))
}

async fn until(manager: &FederationManager, done: impl Fn(&RelationshipStatus) -> bool) {
    within(async {
        loop {
            if manager.statuses().iter().any(&done) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

/// Digest 7.4: a self-serving `https_spiffe` endpoint is authenticated with the bootstrap
/// bundle first and with the latest fetched bundle afterwards, so the peer's endpoint may
/// present an SVID of an authority the bootstrap bundle never had. Digest 7.6: the fetched
/// bundles reach the manager's set.
#[tokio::test]
async fn a_self_serving_spiffe_relationship_follows_a_ca_rotation() {
    let peer = ca::TestCa::new("peer.example");
    let (sender, receiver) = tokio::sync::watch::channel(bundle_of(&peer, 1));
    let (publisher, _follow) = BundlePublisher::follow(receiver);
    let svid = RotatingSvid::new(peer.x509_svid("/federation/endpoint"));
    let tls = EndpointTls::https_spiffe(svid.clone(), &crypto()).unwrap();
    let server = Running::endpoint(tls, publisher.service("/bundle")).await;

    let fetcher = Arc::new(EndpointFetcher::self_serving_spiffe(
        Client::new(crypto()),
        server.url("127.0.0.1", "/bundle"),
        peer.id("/federation/endpoint"),
        (*peer.x509_bundle()).clone(),
    ));
    let manager = FederationManager::new();
    manager.add(Relationship::new(peer.trust_domain().clone(), fetcher.clone()).refresh(fast()));
    until(&manager, |s| s.sequence == Some(1)).await;
    assert_eq!(
        manager.bundles().get("peer.example").unwrap().x509_bundle(),
        peer.bundle().x509_bundle()
    );

    // The peer rotates: the new authority is published before anything is signed with it.
    peer.rotate();
    sender.send(bundle_of(&peer, 2)).unwrap();
    until(&manager, |s| s.sequence == Some(2)).await;
    // Its endpoint now presents an SVID of the new authority only.
    svid.set(peer.x509_svid("/federation/endpoint"));
    sender.send(bundle_of(&peer, 3)).unwrap();
    until(&manager, |s| s.sequence == Some(3)).await;
    let status = manager.statuses().pop().unwrap();
    assert_eq!(status.last_error, None, "{status:?}");
    assert_eq!(
        fetcher.latest_bundle().unwrap().current(),
        peer.x509_bundle(),
        "later connections use the latest bundle"
    );
    server.stop().await;
}

/// Digest 7.5: a failed poll keeps the last good bundle in use and is reported; the next
/// successful poll clears the error.
#[tokio::test]
async fn an_endpoint_that_goes_away_leaves_the_last_good_bundle() {
    let peer = ca::TestCa::new("peer.example");
    let publisher = BundlePublisher::new(SpiffeBundle::clone(&bundle_of(&peer, 4)));
    let svid = RotatingSvid::new(peer.x509_svid("/federation/endpoint"));
    let tls = EndpointTls::https_spiffe(svid.clone(), &crypto()).unwrap();
    let server = Running::endpoint(tls, publisher.service("/bundle")).await;
    let url = server.url("127.0.0.1", "/bundle");

    let fetcher = Arc::new(EndpointFetcher::self_serving_spiffe(
        Client::new(crypto()).with_timeout(Duration::from_secs(2)),
        url,
        peer.id("/federation/endpoint"),
        (*peer.x509_bundle()).clone(),
    ));
    let manager = FederationManager::new();
    manager.add(Relationship::new(peer.trust_domain().clone(), fetcher).refresh(fast()));
    until(&manager, |s| s.sequence == Some(4)).await;
    let held = manager.bundles();

    server.stop().await;
    until(&manager, |s| {
        s.last_error.is_some() && s.consecutive_failures >= 1
    })
    .await;
    assert_eq!(manager.bundles().generation(), held.generation());
    assert_eq!(
        manager.bundles().get("peer.example").unwrap().sequence(),
        Some(4)
    );
}
