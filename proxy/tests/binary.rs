//! The `spiffekit-proxy` binary: `check-config`, `--help`, and a full run on a real Workload
//! API (the agent with an in-process CA): serving, a refused peer logged with its reason and
//! counted on `/metrics`, `/live` and `/ready`, and a drain on SIGTERM; and identity from files
//! (`[identity] files_dir`) following a `..data` swap.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers: a panic is a failed test"
)]

mod common;

use std::io::{Read as _, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use agent::{Agent, RegistrationEntry, Selector};
use spiffe_id::IdMatcher;

const BINARY: &str = env!("CARGO_BIN_EXE_spiffekit-proxy");

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn check_config_reports_valid_and_invalid_files_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(
        dir.path(),
        "good.toml",
        "mode = \"server\"\nlisten = \"127.0.0.1:8443\"\nbackend = \"unix:/run/app.sock\"\n\
         backend_protocol = \"http\"\nallowed_ids = [\"spiffe://example.org/ns/*/web\"]\n",
    );
    let out = Command::new(BINARY)
        .args(["check-config", "--json", "-c"])
        .arg(&good)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["valid"], true);
    assert_eq!(json["mode"], "server");
    assert_eq!(json["backend"], "unix:/run/app.sock");
    assert_eq!(json["peer_header"], "x-forwarded-client-cert");

    let bad = write(
        dir.path(),
        "bad.toml",
        "mode = \"server\"\nlisten = \"127.0.0.1:8443\"\n",
    );
    let out = Command::new(BINARY)
        .args(["check-config", "--json", "-c"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["valid"], false);
    assert!(json["error"].as_str().unwrap().contains("backend"));

    let help = Command::new(BINARY).arg("--help").output().unwrap();
    assert!(String::from_utf8_lossy(&help.stdout).contains("Examples:"));
    let usage = Command::new(BINARY).output().unwrap();
    assert_eq!(usage.status.code(), Some(2));
}

/// One HTTP/1.0 GET to the admin address: (status line, body).
async fn get(admin: &str, path: &str) -> Option<(String, String)> {
    let admin = admin.to_owned();
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut tcp = std::net::TcpStream::connect(&admin).ok()?;
        write!(tcp, "GET {path} HTTP/1.0\r\nHost: admin\r\n\r\n").ok()?;
        let mut text = String::new();
        tcp.read_to_string(&mut text).ok()?;
        let (head, body) = text.split_once("\r\n\r\n")?;
        Some((head.lines().next()?.to_owned(), body.to_owned()))
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_serves_refuses_with_reason_and_drains_on_sigterm() {
    let ca = ca::TestCa::new("example.org");
    let dir = tempfile::tempdir().unwrap();
    let entry =
        RegistrationEntry::new(ca.id("/proxy")).with_selector(Selector::current_uid().unwrap());
    let agent = Agent::builder(ca.ca().clone())
        .entries(vec![entry])
        .serve_unix(dir.path().join("agent.sock"))
        .await
        .unwrap();
    agent.minted().await;

    let listen = format!("127.0.0.1:{}", test_support::process::free_port().unwrap());
    let admin = format!("127.0.0.1:{}", test_support::process::free_port().unwrap());
    let config = write(
        dir.path(),
        "proxy.toml",
        &format!(
            "mode = \"server\"\nlisten = \"{listen}\"\nbackend = \"{}\"\n\
             allowed_ids = [\"spiffe://example.org/web\"]\n\
             workload_api_socket = \"unix://{}\"\nadmin_address = \"{admin}\"\n\
             [timeouts]\ndrain = \"5s\"\n",
            common::half_close_backend().await,
            agent.socket_path().display()
        ),
    );
    let log = dir.path().join("stderr.log");
    let mut child = Command::new(BINARY)
        .arg("--config")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let stderr = || std::fs::read_to_string(&log).unwrap_or_default();

    let mut ready = None;
    for _ in 0..400 {
        ready = get(&admin, "/ready").await;
        if ready
            .as_ref()
            .is_some_and(|(status, _)| status.contains("200"))
        {
            break;
        }
        assert!(child.try_wait().unwrap().is_none(), "exited: {}", stderr());
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(
        ready.is_some_and(|(status, _)| status.contains("200")),
        "{}",
        stderr()
    );
    assert!(get(&admin, "/live").await.unwrap().0.contains("200"));

    let bundles: Arc<dyn trust_bundle::X509BundleSource> = Arc::new(ca.bundle_set());
    let mut tls = common::mtls_connect(
        &listen,
        ca.x509_svid("/web"),
        bundles.clone(),
        IdMatcher::exact(ca.id("/proxy")),
    )
    .await
    .unwrap();
    assert_eq!(
        common::exchange(&mut tls, b"12345").await.unwrap(),
        b"got 5 bytes"
    );

    if let Ok(mut refused) = common::mtls_connect(
        &listen,
        ca.x509_svid("/intruder"),
        bundles,
        IdMatcher::any(),
    )
    .await
    {
        assert!(
            common::exchange(&mut refused, b"x")
                .await
                .map_or(true, |r| r.is_empty())
        );
    }
    let wanted = "spiffekit_proxy_refusals_total{mode=\"server\",reason=\"unauthorized\"} 1";
    let mut metrics = String::new();
    for _ in 0..200 {
        metrics = get(&admin, "/metrics")
            .await
            .map(|(_, body)| body)
            .unwrap_or_default();
        if metrics.contains(wanted) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(metrics.contains(wanted), "{metrics}");
    assert!(
        metrics.contains("spiffekit_proxy_handshake_seconds"),
        "{metrics}"
    );

    rustix::process::kill_process(
        rustix::process::Pid::from_raw(i32::try_from(child.id()).unwrap()).unwrap(),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    let text = stderr();
    assert!(status.success(), "{status}: {text}");
    let refusal = text
        .lines()
        .find(|line| line.contains("refused peer"))
        .unwrap_or_else(|| panic!("no refusal logged: {text}"));
    assert!(refusal.contains("reason=\"unauthorized\""), "{refusal}");
    assert!(
        refusal.contains("spiffe://example.org/intruder"),
        "{refusal}"
    );
    assert!(text.contains("SIGTERM"), "{text}");
    assert!(text.contains("stopped"), "{text}");
    assert!(std::net::TcpStream::connect(&listen).is_err());
}

/// One kubelet-style generation in `dir`: `<name>/` with the Filesystem Delivery files, then
/// `..data` switched to it by a rename (atomic, as kubelet's atomic writer does).
fn write_generation(dir: &Path, name: &str, ca: &ca::TestCa, svid: &svid::X509Svid) {
    let generation = dir.join(name);
    std::fs::create_dir(&generation).unwrap();
    let mut credential = svid.private_key().to_pem().to_string();
    credential.push_str(&svid.chain_pem());
    write(&generation, "credential-bundle.pem", &credential);
    write(
        &generation,
        "example.org.spiffe-trust-bundle.pem",
        &test_support::pem::pem(ca.x509_bundle().authorities()),
    );
    let staging = dir.join("..data_tmp");
    std::os::unix::fs::symlink(name, &staging).unwrap();
    std::fs::rename(&staging, dir.join("..data")).unwrap();
}

/// The leaf the proxy presents to a new connection of an allowed client (after its reply).
async fn presented_leaf(ca: &ca::TestCa, listen: &str) -> Option<Vec<u8>> {
    let bundles: Arc<dyn trust_bundle::X509BundleSource> = Arc::new(ca.bundle_set());
    let mut tls = common::mtls_connect(
        listen,
        ca.x509_svid("/web"),
        bundles,
        IdMatcher::exact(ca.id("/proxy")),
    )
    .await
    .ok()?;
    let leaf = tls.get_ref().1.peer_certificates()?.first()?.to_vec();
    let reply = common::exchange(&mut tls, b"12345").await.ok()?;
    (reply == b"got 5 bytes").then_some(leaf)
}

/// `[identity] files_dir`: the binary serves the SVID from the files of the SPIFFE Filesystem
/// Delivery draft (a credential bundle plus one bundle file per trust domain; the draft is not
/// in SPIFFE-DIGEST) and, after a kubelet-style `..data` swap to a new generation, presents the
/// new SVID to new connections without a restart, as it does for a Workload API rotation
/// (SPIFFE-DIGEST §5.8: an SVID rotation is a new state to use).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_serves_identity_from_files_and_follows_a_data_swap() {
    let ca = ca::TestCa::new("example.org");
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    std::fs::create_dir(&certs).unwrap();
    let first = ca.x509_svid("/proxy");
    write_generation(&certs, "gen-1", &ca, &first);

    let listen = format!("127.0.0.1:{}", test_support::process::free_port().unwrap());
    let config = write(
        dir.path(),
        "proxy.toml",
        &format!(
            "mode = \"server\"\nlisten = \"{listen}\"\nbackend = \"{}\"\n\
             allowed_ids = [\"spiffe://example.org/web\"]\n\
             [identity]\nfiles_dir = \"{}\"\n[timeouts]\ndrain = \"1s\"\n",
            common::half_close_backend().await,
            certs.display()
        ),
    );
    let checked = Command::new(BINARY)
        .args(["check-config", "--json", "-c"])
        .arg(&config)
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&checked.stdout).unwrap();
    assert_eq!(json["identity_files"]["dir"], certs.display().to_string());
    assert_eq!(
        json["identity_files"]["credential_bundle"],
        "credential-bundle.pem"
    );

    let log = dir.path().join("stderr.log");
    let child = Command::new(BINARY)
        .arg("--config")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    // Stopped at the end even when an assertion fails.
    struct Stop(std::process::Child);
    impl Drop for Stop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = Stop(child);
    let stderr = || std::fs::read_to_string(&log).unwrap_or_default();

    let mut leaf = None;
    for _ in 0..400 {
        leaf = presented_leaf(&ca, &listen).await;
        if leaf.is_some() {
            break;
        }
        assert!(
            child.0.try_wait().unwrap().is_none(),
            "exited: {}",
            stderr()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(leaf.as_deref(), Some(first.leaf().as_ref()), "{}", stderr());

    let second = ca.x509_svid("/proxy");
    assert_ne!(first.leaf(), second.leaf());
    write_generation(&certs, "gen-2", &ca, &second);
    let mut seen = leaf;
    for _ in 0..400 {
        seen = presented_leaf(&ca, &listen).await;
        if seen.as_deref() == Some(second.leaf().as_ref()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(
        seen.as_deref(),
        Some(second.leaf().as_ref()),
        "{}",
        stderr()
    );
    assert!(child.0.try_wait().unwrap().is_none(), "{}", stderr());
}
