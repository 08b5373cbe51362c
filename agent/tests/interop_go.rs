//! Interop with go-spiffe 2.5.0 (Debian's package), the Workload API client library of the
//! SPIRE ecosystem, on grpc-go: `interop/go/gopath/src/workloadclient` fetches X509-SVIDs,
//! bundles and JWT-SVIDs from our agent, verifies them with `x509svid.Verify` and
//! `jwtsvid.ParseAndValidate`, calls ValidateJWTSVID, and watches X.509 contexts across
//! rotations and federation changes.
//!
//! The Go program is built by `interop/go/setup.sh`. Without it the test is skipped with a
//! printed reason, except under CI (`CI=true`), where it fails.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers outside #[test] fns"
)]

mod common;

use std::path::PathBuf;
use std::time::Duration;

use agent::Agent;
use common::{mine, start, test_ca};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use trust_bundle::SpiffeBundle;

/// The Go program, or `None` (after printing why) when the test should be skipped.
fn workloadclient() -> Option<PathBuf> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../interop/.go/bin/workloadclient");
    if path.exists() {
        return Some(path);
    }
    let message = format!(
        "go-spiffe interop: {} is missing; run `bash interop/go/setup.sh` to build it",
        path.display()
    );
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{message}");
    eprintln!("skipped: {message}");
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_spiffe_fetches_and_verifies_svids_and_bundles() {
    let Some(program) = workloadclient() else {
        return;
    };
    let ca = test_ca();
    let partner = ca::TestCa::new("partner.org");
    let running = start(
        Agent::builder(ca.ca().clone())
            .entry(
                mine("/go")
                    .with_hint("main")
                    .with_federates_with("partner.org".parse().unwrap()),
            )
            .entry(mine("/go-2").with_hint("second"))
            .federated_bundle(SpiffeBundle::clone(&partner.bundle())),
    )
    .await;
    let output = Command::new(&program)
        .arg("-addr")
        .arg(running.agent.endpoint())
        .arg("-audience")
        .arg("spiffe://example.org/db")
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "workloadclient failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();

    let x509 = report["x509_svids"].as_array().unwrap();
    assert_eq!(x509.len(), 2, "{report:#}");
    for (svid, (id, hint)) in x509.iter().zip([
        ("spiffe://example.org/go", "main"),
        ("spiffe://example.org/go-2", "second"),
    ]) {
        assert_eq!(svid["spiffe_id"], id);
        assert_eq!(svid["hint"], hint);
        assert_eq!(
            svid["verified_id"], id,
            "x509svid.Verify: {}",
            svid["error"]
        );
    }
    assert_eq!(
        report["x509_bundles"],
        serde_json::json!(["example.org", "partner.org"])
    );
    assert_eq!(
        report["jwt_bundles"],
        serde_json::json!(["example.org", "partner.org"])
    );
    let jwt = report["jwt_svids"].as_array().unwrap();
    assert_eq!(jwt.len(), 2);
    for svid in jwt {
        assert_eq!(
            svid["validated_id"], svid["spiffe_id"],
            "jwtsvid.ParseAndValidate: {}",
            svid["error"]
        );
    }
    assert_eq!(report["validate"]["spiffe_id"], "spiffe://example.org/go");
    assert_ne!(report["validate_wrong_audience_error"], "");
    assert_ne!(report["local_wrong_audience_error"], "");
}

/// go-spiffe's watcher sees rotations and federation changes as full states.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_spiffe_watch_follows_rotation_and_federation() {
    let Some(program) = workloadclient() else {
        return;
    };
    let ca = test_ca();
    let partner = ca::TestCa::new("partner.org");
    let running = start(
        Agent::builder(ca.ca().clone())
            .entry(mine("/go").with_federates_with("partner.org".parse().unwrap())),
    )
    .await;
    let mut child = Command::new(&program)
        .arg("-addr")
        .arg(running.agent.endpoint())
        .arg("-watch")
        .arg("4")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut update = async || -> Value {
        let line = tokio::time::timeout(Duration::from_secs(15), lines.next_line())
            .await
            .expect("no update from go-spiffe within 15 s")
            .unwrap()
            .expect("workloadclient ended early");
        serde_json::from_str(&line).unwrap()
    };

    let first = update().await;
    assert_eq!(first["ids"], serde_json::json!(["spiffe://example.org/go"]));
    assert_eq!(first["bundles"], serde_json::json!(["example.org"]));

    running.agent.rotate_svids().await.unwrap();
    let rotated = update().await;
    assert_ne!(rotated["leaf_sha256"], first["leaf_sha256"]);

    running
        .agent
        .set_federated_bundle(SpiffeBundle::clone(&partner.bundle()))
        .unwrap();
    let federated = update().await;
    assert_eq!(
        federated["bundles"],
        serde_json::json!(["example.org", "partner.org"])
    );

    running
        .agent
        .remove_federated_bundle(&"partner.org".parse().unwrap());
    let cleared = update().await;
    assert_eq!(cleared["bundles"], serde_json::json!(["example.org"]));

    let status = tokio::time::timeout(Duration::from_secs(15), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success());
}
