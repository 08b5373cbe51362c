//! The admin API's federation calls on an in-process agent: relationships listed with their
//! held sequence, last success and error; a lower `spiffe_sequence` refused and shown as
//! refused until an operator resets the sequence, which admits it once (digest 7.5: a lower
//! sequence is an open question; refusing by default resists rollback); unknown trust domains
//! and agents without federation refused with a status that says why. And the two-step
//! rotation: `prepare_only` publishes the next authority without activating it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers outside #[test] fns"
)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use agent::admin::{AdminClient, proto};
use agent::{Agent, AgentHandle};
use federation::manager::{
    BundleFetcher, FederationManager, FetchFuture, RefreshPolicy, Relationship,
};
use trust_bundle::SpiffeBundle;

/// Answers each fetch with the document it holds now.
struct Scripted(Mutex<SpiffeBundle>);

impl Scripted {
    fn set_sequence(&self, sequence: u64) {
        let mut held = self.0.lock().unwrap();
        *held = held.clone().with_sequence(sequence);
    }
}

impl BundleFetcher for Scripted {
    fn fetch(&self) -> FetchFuture<'_> {
        let bundle = self.0.lock().unwrap().clone();
        Box::pin(async move { Ok(bundle) })
    }
    fn endpoint(&self) -> String {
        "https://partner.example/bundle (https_web)".to_owned()
    }
}

async fn agent_with_admin(dir: &std::path::Path) -> AgentHandle {
    let ca = ca::CertificateAuthority::builder("example.org".parse().unwrap())
        .build(SystemTime::now())
        .unwrap();
    Agent::builder(ca)
        .admin_socket(dir.join("admin.sock"))
        .serve_unix(dir.join("agent.sock"))
        .await
        .unwrap()
}

async fn list(admin: &mut AdminClient) -> Vec<proto::FederationRelationship> {
    admin
        .grpc()
        .list_federation_relationships(proto::ListFederationRelationshipsRequest {})
        .await
        .unwrap()
        .into_inner()
        .relationships
}

/// Polls the admin API until `done` holds for the only relationship.
async fn until(admin: &mut AdminClient, done: impl Fn(&proto::FederationRelationship) -> bool) {
    for _ in 0..400 {
        if list(admin).await.first().is_some_and(&done) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("not reached: {:?}", list(admin).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relationships_are_listed_and_a_refused_sequence_is_reset_by_an_operator() {
    let dir = tempfile::tempdir().unwrap();
    let agent = agent_with_admin(dir.path()).await;
    let mut admin = AdminClient::connect(dir.path().join("admin.sock"))
        .await
        .unwrap();

    // No federation yet: the call says so.
    let status = admin
        .grpc()
        .list_federation_relationships(proto::ListFederationRelationshipsRequest {})
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::FailedPrecondition, "{status:?}");

    let partner = ca::TestCa::new("partner.example");
    let fetcher = Arc::new(Scripted(Mutex::new(
        SpiffeBundle::clone(&partner.bundle()).with_sequence(5),
    )));
    let manager = FederationManager::new();
    let fast = RefreshPolicy::new(Duration::from_millis(50), Duration::from_millis(100));
    manager.add(Relationship::new(partner.trust_domain().clone(), fetcher.clone()).refresh(fast));
    let _follow = agent.federate(Arc::new(manager));

    until(&mut admin, |r| r.sequence == Some(5)).await;
    let listed = list(&mut admin).await;
    assert_eq!(listed.len(), 1);
    let r = &listed[0];
    assert_eq!(r.trust_domain, "partner.example");
    assert_eq!(r.endpoint, "https://partner.example/bundle (https_web)");
    assert!(
        r.has_bundle && r.last_success.is_some() && r.last_error.is_empty(),
        "{r:?}"
    );

    // The peer goes back to 3: refused, 5 kept, the refusal shown.
    fetcher.set_sequence(3);
    until(&mut admin, |r| r.refused_sequence == Some(3)).await;
    let r = &list(&mut admin).await[0];
    assert_eq!(r.sequence, Some(5), "{r:?}");
    assert!(
        r.last_error.contains('3'),
        "the error names the refused sequence: {r:?}"
    );

    // The operator resets: 3 is taken once.
    let reset = admin
        .grpc()
        .reset_federation_sequence(proto::ResetFederationSequenceRequest {
            trust_domain: "partner.example".to_owned(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reset.relationships.len(), 1);
    until(&mut admin, |r| r.sequence == Some(3)).await;

    // Unknown and malformed trust domains.
    for (name, code) in [
        ("other.example", tonic::Code::NotFound),
        ("Not A Domain", tonic::Code::InvalidArgument),
    ] {
        let status = admin
            .grpc()
            .reset_federation_sequence(proto::ResetFederationSequenceRequest {
                trust_domain: name.to_owned(),
            })
            .await
            .unwrap_err();
        assert_eq!(status.code(), code, "{name}: {status:?}");
    }
    agent.shutdown().await.unwrap();
}

/// `prepare_only` publishes the next X.509 authority (the bundle grows, its sequence moves)
/// and activates nothing; the same call without it activates the prepared one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepare_only_publishes_the_next_authority_without_activating_it() {
    let dir = tempfile::tempdir().unwrap();
    let agent = agent_with_admin(dir.path()).await;
    let mut admin = AdminClient::connect(dir.path().join("admin.sock"))
        .await
        .unwrap();
    let statuses = |a: &proto::Authorities| -> Vec<String> {
        a.authorities
            .iter()
            .filter(|a| a.kind() == proto::AuthorityKind::X509)
            .map(|a| a.status.clone())
            .collect()
    };
    let rotate = |prepare_only| proto::RotateAuthoritiesRequest {
        x509: true,
        jwt: false,
        prepare_only,
    };
    let before = admin
        .grpc()
        .list_authorities(proto::ListAuthoritiesRequest {})
        .await
        .unwrap()
        .into_inner();
    let prepared = admin
        .grpc()
        .rotate_authorities(rotate(true))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(statuses(&prepared), ["active", "prepared"]);
    assert!(prepared.bundle_sequence > before.bundle_sequence);
    let next = prepared
        .authorities
        .iter()
        .find(|a| a.status == "prepared")
        .unwrap()
        .id
        .clone();
    let activated = admin
        .grpc()
        .rotate_authorities(rotate(false))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(statuses(&activated), ["retired", "active"]);
    let active = activated
        .authorities
        .iter()
        .find(|a| a.status == "active")
        .unwrap();
    assert_eq!(
        active.id, next,
        "the prepared authority is the one activated"
    );
    agent.shutdown().await.unwrap();
}
