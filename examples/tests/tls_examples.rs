//! Runs the tls-integration examples (`tonic-mtls`, `jwt-bearer`, `authorize-patterns`,
//! `hyper-curl`) as functions, so `cargo test` / CI exercise them end to end: each one asserts
//! its own outcomes and returns once its demo is over.

#![allow(
    dead_code,
    unreachable_pub,
    reason = "each example's `main` is not called here"
)]

#[path = "../examples/authorize-patterns.rs"]
mod authorize_patterns;
#[path = "../examples/hyper-curl.rs"]
mod hyper_curl;
#[path = "../examples/jwt-bearer.rs"]
mod jwt_bearer;
#[path = "../examples/tonic-mtls.rs"]
mod tonic_mtls;

#[test]
fn authorize_patterns_example() {
    authorize_patterns::run().unwrap();
}

#[tokio::test]
async fn tonic_mtls_example() {
    tonic_mtls::run().await.unwrap();
}

#[tokio::test]
async fn jwt_bearer_example() {
    jwt_bearer::run().await.unwrap();
}

#[tokio::test]
async fn hyper_curl_example() {
    hyper_curl::run(false).await.unwrap();
}
