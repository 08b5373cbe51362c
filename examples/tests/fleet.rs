//! Runs the fleet example (`cargo run -p examples --example fleet`) as a test: it checks its
//! own outcomes (both nodes attested under the expected agent IDs, each workload holding its
//! identity from its own node, the mTLS request with both peers' SPIFFE IDs, and the server
//! refusing node A the backend's identity) and returns when everything is stopped.

#![allow(
    dead_code,
    unreachable_pub,
    reason = "the example's `main` is not called here"
)]

#[path = "../examples/fleet.rs"]
mod fleet;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_example() {
    fleet::run().await.unwrap();
}
