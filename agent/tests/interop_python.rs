//! Interop with py-spiffe (PyPI `spiffe` 0.3.2) on grpcio, an independent Workload API client
//! on grpc C-core: `interop/python/workload_client.py` fetches an X509-SVID (verified with
//! `cryptography`'s X.509 path validation) and a JWT-SVID (validated locally with py-spiffe
//! and through our ValidateJWTSVID) over the Unix socket. grpc C-core sends the socket path as
//! `:authority`, which the agent's Unix transport accepts (see `h2_authority.rs`).
//!
//! It needs the virtual environment made by `interop/python/setup.sh`. Without it the test is
//! skipped with a printed reason, except under CI (`CI=true`), where it fails.

#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] fns")]

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{mine, start_with, test_ca};
use serde_json::Value;
use tokio::process::Command;

/// The venv's Python, or `None` (after printing why) when the test should be skipped.
fn python() -> Option<PathBuf> {
    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../interop/.venv/bin/python");
    if python.exists() {
        return Some(python);
    }
    let message = format!(
        "py-spiffe interop: {} is missing; run `bash interop/python/setup.sh` to create it",
        python.display()
    );
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{message}");
    eprintln!("skipped: {message}");
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn py_spiffe_fetches_and_validates_svids() {
    let Some(python) = python() else {
        return;
    };
    let ca = test_ca();
    let running = start_with(&ca, vec![mine("/python").with_hint("py")]).await;
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../interop/python/workload_client.py");
    let output = tokio::time::timeout(
        Duration::from_secs(60),
        Command::new(python)
            .arg(script)
            .arg(running.agent.endpoint())
            .arg("spiffe://example.org/api")
            .output(),
    )
    .await
    .expect("py-spiffe did not finish within 60 s")
    .unwrap();
    assert!(
        output.status.success(),
        "workload_client.py failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let id = "spiffe://example.org/python";
    assert_eq!(report["x509"]["spiffe_id"], id);
    assert_eq!(report["x509"]["verified_subject_uri"], id);
    assert_eq!(report["x509_bundles"], serde_json::json!(["example.org"]));
    assert_eq!(report["jwt"]["spiffe_id"], id);
    assert_eq!(report["jwt"]["local_validated_id"], id);
    assert_eq!(report["jwt"]["remote_validated_id"], id);
    assert_eq!(report["jwt_bundles"], serde_json::json!(["example.org"]));
    assert_ne!(report["wrong_audience"]["local"], "");
    let remote = report["wrong_audience"]["remote"].as_str().unwrap();
    assert!(remote.contains("INVALID_ARGUMENT"), "{remote}");
}
