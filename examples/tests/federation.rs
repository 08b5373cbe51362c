//! Runs the federation example (`cargo run -p examples --example federation`) as a test: two
//! trust domains federated both ways through their bundle endpoints; `b.example`'s client calls
//! `a.example`'s server with a full handshake every 100 ms while A's CA rotates, and the
//! example fails unless B held A's next authority before A's server used it and every call
//! succeeded (digest 7.4: the latest bundle authenticates the endpoint; 7.5: refresh by hint;
//! 7.6: distribution to workloads).

#![allow(
    dead_code,
    unreachable_pub,
    reason = "the example's `main` is not called here"
)]

#[path = "../examples/federation.rs"]
mod federation;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cross_domain_call_survives_a_ca_rotation() {
    let outcome = federation::run().await.unwrap();
    println!("{outcome}");
    assert_eq!(outcome.calls_failed, 0, "{outcome}");
    assert!(outcome.calls_after_rotation > 0, "{outcome}");
    assert!(outcome.calls_ok > 20, "{outcome}");
}
