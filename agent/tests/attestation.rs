//! Caller attestation end to end: the built-in Unix attestor's binary and account-name
//! selectors, and custom attestors plugged in without changing the server.

#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] fns")]

mod common;

use std::sync::{Arc, Mutex};

use agent::{Agent, AttestFuture, Attestor, Caller, RegistrationEntry, Selector};
use common::{Client, me, mine, req, start, test_ca, x509_stream};
use tonic::Code;
use workload_api::proto::X509svidRequest;

fn sha256_hex(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn ids(client: &mut Client) -> Vec<String> {
    let (_stream, first) = x509_stream(client).await;
    first
        .svids
        .into_iter()
        .map(|s| s.spiffe_id.clone())
        .collect()
}

/// `unix:path` and `unix:sha256` name the binary of the calling process (here the test
/// binary, which is the process on the other end of the socket).
#[tokio::test]
async fn binary_path_and_digest_select_the_calling_program() {
    let exe = std::env::current_exe().unwrap();
    let digest = sha256_hex(&std::fs::read(&exe).unwrap());
    let path = Selector::new("unix", &format!("path:{}", exe.display())).unwrap();
    let sha = Selector::new("unix", &format!("sha256:{digest}")).unwrap();
    let wrong_sha = Selector::new("unix", &format!("sha256:{}", "0".repeat(64))).unwrap();
    let ca = test_ca();
    let running = start(
        Agent::builder(ca.ca().clone())
            .entry(mine("/by-binary").with_selector(path).with_selector(sha))
            .entry(mine("/other-binary").with_selector(wrong_sha)),
    )
    .await;
    let mut client = running.client().await;
    assert_eq!(ids(&mut client).await, ["spiffe://example.org/by-binary"]);
}

/// Without binary selectors the attestor never reads /proc: path-bound entries do not match.
#[tokio::test]
async fn binary_selectors_can_be_turned_off() {
    let exe = std::env::current_exe().unwrap();
    let path = Selector::new("unix", &format!("path:{}", exe.display())).unwrap();
    let ca = test_ca();
    let running = start(
        Agent::builder(ca.ca().clone())
            .without_default_attestors()
            .attestor(agent::UnixAttestor::new().without_binary_selectors())
            .entry(mine("/by-uid"))
            .entry(mine("/by-binary").with_selector(path)),
    )
    .await;
    let mut client = running.client().await;
    assert_eq!(ids(&mut client).await, ["spiffe://example.org/by-uid"]);
}

/// `unix:user` and `unix:group` name the caller's uid and gid in the account files, so
/// SPIRE-style entries by user name select it (here with files naming this test's ids).
#[tokio::test]
async fn user_and_group_names_select_the_caller() {
    let meta = std::fs::metadata("/proc/self").unwrap();
    let (uid, gid) = (
        std::os::unix::fs::MetadataExt::uid(&meta),
        std::os::unix::fs::MetadataExt::gid(&meta),
    );
    let dir = tempfile::tempdir().unwrap();
    let (passwd, group) = (dir.path().join("passwd"), dir.path().join("group"));
    std::fs::write(&passwd, format!("svc-web:x:{uid}:{gid}::/:/bin/false\n")).unwrap();
    std::fs::write(&group, format!("web:x:{gid}:\n")).unwrap();
    let by = |selector: &str| {
        RegistrationEntry::new(
            format!("spiffe://example.org/{}", selector.replace(':', "-"))
                .parse()
                .unwrap(),
        )
        .with_selector(Selector::parse(selector).unwrap())
    };
    let ca = test_ca();
    let running = start(
        Agent::builder(ca.ca().clone())
            .without_default_attestors()
            .attestor(
                agent::UnixAttestor::new()
                    .without_binary_selectors()
                    .with_account_files(&passwd, &group),
            )
            .entry(by("unix:user:svc-web"))
            .entry(by("unix:group:web"))
            .entry(by("unix:user:someone-else")),
    )
    .await;
    let mut client = running.client().await;
    assert_eq!(
        ids(&mut client).await,
        [
            "spiffe://example.org/unix-user-svc-web",
            "spiffe://example.org/unix-group-web"
        ]
    );
}

/// A test attestor that says the caller belongs to whichever tenant is set.
#[derive(Debug, Clone)]
struct TenantAttestor(Arc<Mutex<Option<String>>>);

impl Attestor for TenantAttestor {
    fn attest<'a>(&'a self, _caller: &'a Caller) -> AttestFuture<'a> {
        Box::pin(async move {
            let tenant = self.0.lock().unwrap().clone();
            Ok(tenant
                .map(|t| vec![Selector::new("tenant", &t).unwrap()])
                .unwrap_or_default())
        })
    }
}

/// Custom attestors add selectors next to the built-in ones; attestation happens per call, so
/// one connection can be several identities over time (as a process's container changes).
#[tokio::test]
async fn custom_attestors_add_identities() {
    let tenant = Arc::new(Mutex::new(Some("a".to_owned())));
    let ca = test_ca();
    let tenant_a = Selector::new("tenant", "a").unwrap();
    let running = start(
        Agent::builder(ca.ca().clone())
            .attestor(TenantAttestor(Arc::clone(&tenant)))
            .entry(
                RegistrationEntry::new("spiffe://example.org/tenant-a".parse().unwrap())
                    .with_selector(tenant_a.clone()),
            )
            .entry(
                RegistrationEntry::new("spiffe://example.org/tenant-b".parse().unwrap())
                    .with_selector(Selector::new("tenant", "b").unwrap()),
            )
            .entry(
                RegistrationEntry::new("spiffe://example.org/tenant-a-admin".parse().unwrap())
                    .with_selector(tenant_a)
                    .with_selector(me()),
            ),
    )
    .await;
    let mut client = running.client().await;
    assert_eq!(
        ids(&mut client).await,
        [
            "spiffe://example.org/tenant-a",
            "spiffe://example.org/tenant-a-admin"
        ]
    );
    *tenant.lock().unwrap() = Some("b".to_owned());
    assert_eq!(ids(&mut client).await, ["spiffe://example.org/tenant-b"]);
    *tenant.lock().unwrap() = None;
    let status = client
        .fetch_x509svid(req(X509svidRequest {}))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
}

#[derive(Debug)]
struct BrokenAttestor;

impl Attestor for BrokenAttestor {
    fn attest<'a>(&'a self, _caller: &'a Caller) -> AttestFuture<'a> {
        Box::pin(async { Err(agent::Error::AttestationFailed) })
    }
}

/// An attestor that fails makes the call Unavailable (retryable), never a wrong identity.
#[tokio::test]
async fn failing_attestor_makes_calls_unavailable() {
    let ca = test_ca();
    let running = start(
        Agent::builder(ca.ca().clone())
            .attestor(BrokenAttestor)
            .entry(mine("/a")),
    )
    .await;
    let mut client = running.client().await;
    let status = client
        .fetch_x509svid(req(X509svidRequest {}))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
}
