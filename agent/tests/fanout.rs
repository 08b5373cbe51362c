//! Many streams: every watcher sees a CA rotation, and a reader that never reads holds one
//! state at most and never stalls the others (Workload API §4.3: full state per message).

#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] fns")]

mod common;

use std::time::Duration;

use agent::Agent;
use common::{mine, next, req, start, start_with, test_ca, verify_x509};
use tokio::task::JoinSet;
use workload_api::proto::X509svidRequest;

/// Streams per connection: 1,000 watchers over 20 connections, within hyper's default of 200
/// concurrent streams per connection.
const PER_CONNECTION: usize = 50;

/// 1,000 concurrent FetchX509SVID streams all receive the SVID re-issued after one CA
/// rotation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_watchers_all_observe_one_ca_rotation() {
    const WATCHERS: usize = 1000;
    let ca = test_ca();
    let running = start_with(&ca, vec![mine("/fleet")]).await;

    let mut streams = Vec::with_capacity(WATCHERS);
    let mut first_leaf = None;
    for connection in 0..WATCHERS / PER_CONNECTION {
        let client = common::client(&running.socket()).await;
        for _ in 0..PER_CONNECTION {
            let mut client = client.clone();
            let mut stream = client
                .fetch_x509svid(req(X509svidRequest {}))
                .await
                .unwrap()
                .into_inner();
            let first = next(&mut stream).await;
            let leaf = first.svids[0].x509_svid.clone();
            assert_eq!(first_leaf.get_or_insert_with(|| leaf.clone()), &leaf);
            streams.push(stream);
        }
        assert_eq!(streams.len(), (connection + 1) * PER_CONNECTION);
    }
    assert_eq!(running.agent.open_streams(), WATCHERS);
    let old = first_leaf.unwrap();

    ca.rotate();

    let mut waiting = JoinSet::new();
    for mut stream in streams {
        let old = old.clone();
        waiting.spawn(async move {
            loop {
                let message = next(&mut stream).await;
                if message.svids[0].x509_svid != old {
                    return message;
                }
            }
        });
    }
    let mut new_leaves = std::collections::HashSet::new();
    let mut checked = false;
    while let Some(message) = waiting.join_next().await {
        let message = message.unwrap();
        if !checked {
            verify_x509(&message.svids[0]);
            checked = true;
        }
        new_leaves.insert(message.svids[0].x509_svid.clone());
    }
    // Everyone got the same new SVID (one per entry, shared by all its callers).
    assert_eq!(new_leaves.len(), 1);
}

/// Clients that open streams and never read them do not delay rotation for anyone else; when
/// they finally read they get the latest state after at most what was already in flight, not
/// a queue of every intermediate one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_that_never_read_do_not_stall_others() {
    const ROTATIONS: usize = 8;
    let ca = test_ca();
    // Forty identities make each message ~40 KB, so a few unread messages fill the HTTP/2
    // flow-control window of the stuck streams.
    let entries: Vec<_> = (0..40).map(|i| mine(&format!("/w{i}"))).collect();
    let running = start(Agent::builder(ca.ca().clone()).entries(entries)).await;

    // Stuck clients: each on its own connection with the smallest HTTP/2 windows (64 KiB,
    // the protocol default; hyper's client would otherwise buffer megabytes on its own side),
    // not even the first message read.
    let mut stuck = Vec::new();
    for _ in 0..5 {
        let mut client = common::client_with_small_windows(&running.socket()).await;
        stuck.push(
            client
                .fetch_x509svid(req(X509svidRequest {}))
                .await
                .unwrap()
                .into_inner(),
        );
    }

    let mut reader = running.client().await;
    let mut stream = reader
        .fetch_x509svid(req(X509svidRequest {}))
        .await
        .unwrap()
        .into_inner();
    let mut last = next(&mut stream).await;
    for _ in 0..ROTATIONS {
        tokio::time::timeout(Duration::from_secs(10), running.agent.rotate_svids())
            .await
            .expect("rotation stalled")
            .unwrap();
        let update = next(&mut stream).await;
        assert_ne!(update.svids[0].x509_svid, last.svids[0].x509_svid);
        last = update;
    }

    // Now the stuck streams read: each reaches the latest state within the few messages that
    // were in flight (fewer than the rotations that happened).
    for mut stuck_stream in stuck {
        let mut received = 0;
        loop {
            let message = next(&mut stuck_stream).await;
            received += 1;
            if message.svids[0].x509_svid == last.svids[0].x509_svid {
                break;
            }
            assert!(received <= 3, "stuck stream got {received} stale messages");
        }
        assert!(received < ROTATIONS);
    }
}
