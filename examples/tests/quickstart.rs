//! Runs the README's main demo (`cargo run -p examples --example quickstart`) as a test: it
//! asserts its own outcomes (both peers' SPIFFE IDs, new certificates after the CA rotation, a
//! successful request with them) and returns when it is done.

#![allow(
    dead_code,
    unreachable_pub,
    reason = "the example's `main` is not called here"
)]

#[path = "../examples/quickstart.rs"]
mod quickstart;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quickstart_example() {
    quickstart::run().await.unwrap();
}
