//! The agent at scale: start-up does not wait for minting, and a caller whose SVID is not
//! minted yet still gets a correct answer.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "test code: a panic is a failed test"
)]

mod common;

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use agent::{Agent, RegistrationEntry, Selector};
use ca::{CertificateAuthority, CredentialKind, IssuanceContext};
use common::{client, mine, next, req, verify_x509};
use workload_api::proto::{JwtsvidRequest, X509svidRequest};

/// Holds every X509-SVID mint until opened (JWT-SVIDs pass).
#[derive(Default)]
struct Gate {
    open: Mutex<bool>,
    opened: Condvar,
}

impl Gate {
    fn wait(&self) {
        let mut open = self.open.lock().unwrap();
        while !*open {
            open = self.opened.wait(open).unwrap();
        }
    }

    fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.opened.notify_all();
    }
}

/// Opens the gate when the test ends, passed or failed, so blocked mints let the runtime stop.
struct OpenOnDrop(Arc<Gate>);

impl Drop for OpenOnDrop {
    fn drop(&mut self) {
        self.0.open();
    }
}

/// `serve_unix` returns while no X509-SVID can be minted yet (the old agent minted every
/// entry first and did not return); JWT-SVIDs are served meanwhile, and the caller's X.509
/// stream sends its first message, a complete and verifiable one for its own entry (SPIFFE
/// Workload API §5.2.1: the response lists every SVID the caller is entitled to), once its
/// SVID exists. [`agent::AgentHandle::minted`] then resolves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_up_does_not_wait_for_minting() {
    let gate = Arc::new(Gate::default());
    let _open_on_exit = OpenOnDrop(Arc::clone(&gate));
    let policy_gate = Arc::clone(&gate);
    let policy = move |request: &IssuanceContext<'_>| -> Result<(), String> {
        if request.kind == CredentialKind::X509Svid {
            policy_gate.wait();
        }
        Ok(())
    };
    let ca = CertificateAuthority::builder("example.org".parse().unwrap())
        .policy(Arc::new(policy))
        .build(std::time::SystemTime::now() - Duration::from_secs(60))
        .unwrap();
    // Entries for other workloads first, the caller's last.
    let others = (0..200_u32).map(|i| {
        RegistrationEntry::new(format!("spiffe://example.org/other/{i}").parse().unwrap())
            .with_selector(Selector::unix_uid(4_000_000 + i))
    });
    let dir = tempfile::tempdir().unwrap();
    let builder = Agent::builder(ca).entries(others).entry(mine("/last"));
    let serve = builder.serve_unix(dir.path().join("agent.sock"));
    // A hang here is the failure (no timing assertion: the gate never opens before this).
    let agent = tokio::time::timeout(Duration::from_secs(30), serve)
        .await
        .expect("serve_unix waited for the X509-SVIDs to be minted")
        .unwrap();

    let mut client = client(agent.socket_path()).await;
    let jwt = client
        .fetch_jwtsvid(req(JwtsvidRequest {
            audience: vec!["a".to_owned()],
            spiffe_id: String::new(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(jwt.svids.len(), 1);
    assert_eq!(jwt.svids[0].spiffe_id, "spiffe://example.org/last");

    let mut stream = client
        .fetch_x509svid(req(X509svidRequest {}))
        .await
        .unwrap()
        .into_inner();
    gate.open();
    let first = next(&mut stream).await;
    assert_eq!(first.svids.len(), 1);
    assert_eq!(first.svids[0].spiffe_id, "spiffe://example.org/last");
    verify_x509(&first.svids[0]);

    tokio::time::timeout(Duration::from_secs(30), agent.minted())
        .await
        .expect("every entry minted");
    agent.shutdown().await.unwrap();
}
