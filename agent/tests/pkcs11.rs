//! The `agent` binary with its CA keys on a PKCS#11 token (SoftHSM2): SVIDs served and
//! verified, the same trust root after a restart (the journal in the SQLite store names the
//! token keys), a rotation through the admin command, and a wrong PIN refused at start with
//! the reason.

#![cfg(feature = "pkcs11")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers outside #[test] fns"
)]

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::current_uid;
use test_support::softhsm::SoftHsm;
use workload_api::proto::X509svidRequest;

const PIN: &str = "5678";

/// The agent process, killed when the test ends, even by a failed assertion.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(hsm: &SoftHsm, dir: &Path, pin: &str, log: &str) -> Running {
    Running(
        hsm.command(env!("CARGO_BIN_EXE_agent"))
            .arg("--config")
            .arg(dir.join("agent.toml"))
            .env("SPIFFE_AGENT_PKCS11_PIN", pin)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join(log)).unwrap())
            .spawn()
            .unwrap(),
    )
}

async fn wait_ready(dir: &Path, Running(child): &mut Running) {
    for _ in 0..200 {
        if tokio::net::UnixStream::connect(dir.join("admin.sock"))
            .await
            .is_ok()
        {
            return;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("agent exited early: {status}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the agent did not start within 10 s");
}

/// SIGTERM, then waits without blocking the runtime (the test's client connections must be
/// able to answer the agent's goodbye).
async fn stop(mut running: Running) {
    let child = &mut running.0;
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    for _ in 0..200 {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the agent did not stop within 10 s");
}

/// The X509-SVID bundle this process is served (after verifying the SVID against it).
async fn served_bundle(dir: &Path) -> Vec<u8> {
    let mut client = common::client(&dir.join("agent.sock")).await;
    let mut stream = client
        .fetch_x509svid(common::req(X509svidRequest::default()))
        .await
        .unwrap()
        .into_inner();
    let message = common::next(&mut stream).await;
    common::verify_x509(&message.svids[0]);
    message.svids[0].bundle.clone()
}

fn admin(dir: &Path, args: &[&str]) -> serde_json::Value {
    let output = Command::new(env!("CARGO_BIN_EXE_agent"))
        .args(args)
        .arg("--json")
        .arg("--config")
        .arg(dir.join("agent.toml"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[tokio::test]
async fn agent_keeps_its_ca_keys_on_the_token_across_restarts() {
    let Some(hsm) = SoftHsm::start_or_skip("agent_keeps_its_ca_keys_on_the_token_across_restarts")
    else {
        return;
    };
    hsm.init_token("spiffe", "1234", PIN);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("agent.toml"),
        format!(
            r#"
trust_domain = "example.org"
socket_path = "{dir}/agent.sock"
admin_socket_path = "{dir}/admin.sock"
[ca.pkcs11]
module = "{module}"
token_label = "spiffe"
[[entry]]
spiffe_id = "spiffe://example.org/on-hsm"
selectors = ["unix:uid:{uid}"]
"#,
            dir = dir.path().display(),
            module = hsm.module().display(),
            uid = current_uid(),
        ),
    )
    .unwrap();

    let mut child = spawn(&hsm, dir.path(), PIN, "1.log");
    wait_ready(dir.path(), &mut child).await;
    let before = served_bundle(dir.path()).await;
    // The journal names token keys, not key files (it may still be in the write-ahead log).
    let mut journal = std::fs::read(dir.path().join("agent.db")).unwrap();
    journal.extend(std::fs::read(dir.path().join("agent.db-wal")).unwrap_or_default());
    assert!(
        journal.windows(4).any(|w| w == b"p11-"),
        "the store names p11-<id> key references"
    );
    stop(child).await;

    let mut child = spawn(&hsm, dir.path(), PIN, "2.log");
    wait_ready(dir.path(), &mut child).await;
    assert_eq!(
        served_bundle(dir.path()).await,
        before,
        "the same trust root"
    );
    let rotated = admin(dir.path(), &["ca", "rotate", "--x509"]);
    let x509 = rotated["authorities"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "x509")
        .count();
    assert_eq!(x509, 2, "{rotated}");
    let after = served_bundle(dir.path()).await;
    assert_ne!(after, before, "the new authority is published");
    stop(child).await;

    // A wrong PIN stops the agent at start, saying so; the store is left as it was.
    let db_before = std::fs::read(dir.path().join("agent.db")).unwrap();
    let mut child = spawn(&hsm, dir.path(), "0000", "3.log");
    let status = child.0.wait().unwrap();
    assert!(!status.success());
    let log = std::fs::read_to_string(dir.path().join("3.log")).unwrap();
    assert!(log.contains("wrong PIN"), "{log}");
    assert_eq!(
        std::fs::read(dir.path().join("agent.db")).unwrap(),
        db_before
    );
}
