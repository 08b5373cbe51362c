//! `workload-client` sources against the in-process agent: first fetch, rotation, the agent
//! killed and restarted, the agent down at startup and past SVID expiry, PermissionDenied when
//! an entry is removed, JWT-SVIDs with the source's cache and local validation, and the
//! agent's own ValidateJWTSVID.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers outside #[test] fns"
)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use agent::{Agent, AgentHandle, RegistrationEntry, Selector};
use rustls_pki_types::UnixTime;
use svid::{Audience, Crypto, JwtValidator, X509SvidSource};
use trust_bundle::{JwtBundleSource, X509BundleSource};
use workload_client::{
    BundleKinds, BundleSource, Client, Endpoint, Error, JwtSource, SourceOptions, SvidPicker,
    X509Source,
};

const HOUR: Duration = Duration::from_secs(3600);

fn options() -> SourceOptions {
    let mut options = SourceOptions::default();
    options.backoff_initial = Duration::from_millis(20);
    options.backoff_max = Duration::from_millis(200);
    options.startup_timeout = Duration::from_secs(10);
    options
}

fn entry(path: &str) -> RegistrationEntry {
    RegistrationEntry::new(format!("spiffe://example.org{path}").parse().unwrap())
        .with_selector(Selector::current_uid().unwrap())
}

async fn serve(ca: &ca::TestCa, path: &Path, entries: Vec<RegistrationEntry>) -> AgentHandle {
    Agent::builder(ca.ca().clone())
        .entries(entries)
        .x509_svid_ttl(HOUR)
        .serve_unix(path)
        .await
        .unwrap()
}

fn client(path: &Path) -> Client {
    Client::builder(Endpoint::unix(path).unwrap())
        .timeout(Duration::from_secs(5))
        .connect_lazy()
        .unwrap()
}

async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for: {what}");
}

fn leaf(source: &X509Source) -> Option<Vec<u8>> {
    source.x509_svid().map(|svid| svid.leaf().to_vec())
}

/// An in-process agent on a temporary socket that gives this process `spiffe://example.org/web`,
/// and an `X509Source` that has its first SVID.
struct Web {
    ca: ca::TestCa,
    socket: std::path::PathBuf,
    agent: AgentHandle,
    source: X509Source,
    _dir: tempfile::TempDir,
}

impl Web {
    async fn start() -> Self {
        let ca = ca::TestCa::new("example.org");
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("agent.sock");
        let agent = serve(&ca, &socket, vec![entry("/web")]).await;
        let source = X509Source::new(client(&socket), SvidPicker::Default, options())
            .await
            .unwrap();
        Self {
            ca,
            socket,
            agent,
            source,
            _dir: dir,
        }
    }
}

#[tokio::test]
async fn first_fetch_and_rotation() {
    let Web {
        ca,
        agent,
        source,
        _dir,
        ..
    } = Web::start().await;
    let svid = source.x509_svid().unwrap();
    assert_eq!(svid.spiffe_id().as_str(), "spiffe://example.org/web");
    assert!(source.x509_bundle(ca.trust_domain()).is_some());
    assert!(source.health().is_healthy());

    let before = leaf(&source).unwrap();
    let mut updates = source.updated();
    updates.borrow_and_update();
    agent.rotate_svids().await.unwrap();
    updates.changed().await.unwrap();
    eventually("the rotated svid", || {
        leaf(&source).is_some_and(|now| now != before)
    })
    .await;
    agent.shutdown().await.unwrap();
}

/// Each rotation wakes a waiting reader exactly when the new SVID is readable: one
/// `changed()` per rotation is enough, and the snapshot seen right after it is the new one
/// (the source stores the snapshot before it notifies).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rotation_notifies_with_the_new_snapshot_in_place() {
    let Web {
        agent,
        source,
        _dir,
        ..
    } = Web::start().await;
    let mut updates = source.updated();
    for round in 0..50 {
        let before = leaf(&source).unwrap();
        updates.borrow_and_update();
        agent.rotate_svids().await.unwrap();
        tokio::time::timeout(Duration::from_secs(10), updates.changed())
            .await
            .unwrap_or_else(|_| panic!("round {round}: no notification for a rotation"))
            .unwrap();
        assert_ne!(
            leaf(&source).unwrap(),
            before,
            "round {round}: notified before the new SVID was readable"
        );
    }
    agent.shutdown().await.unwrap();
}

/// The agent process goes away and comes back on the same socket: the source keeps serving
/// meanwhile and then picks up the new agent's SVID, with no action from the application.
#[tokio::test]
async fn agent_killed_and_restarted() {
    let Web {
        ca,
        socket,
        agent,
        source,
        _dir,
    } = Web::start().await;
    let before = leaf(&source).unwrap();
    agent.shutdown().await.unwrap();
    eventually("the outage is noticed", || {
        source.health().last_error.is_some()
    })
    .await;
    assert_eq!(
        leaf(&source).unwrap(),
        before,
        "last good svid still served"
    );
    assert!(source.health().current);

    let agent = serve(&ca, &socket, vec![entry("/web")]).await;
    eventually("the restarted agent's svid", || {
        leaf(&source).is_some_and(|now| now != before)
    })
    .await;
    eventually("healthy again", || {
        let health = source.health();
        health.is_healthy() && health.last_error.is_none()
    })
    .await;
    agent.shutdown().await.unwrap();
}

#[tokio::test]
async fn agent_down_at_startup() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("agent.sock");
    let mut options = options();
    options.startup_timeout = Duration::from_millis(300);
    let error = X509Source::new(client(&socket), SvidPicker::Default, options)
        .await
        .unwrap_err();
    assert!(
        matches!(
            &error,
            Error::StartupTimeout {
                last_error: Some(last),
                ..
            } if matches!(**last, Error::Unavailable { .. })
        ),
        "{error:?}"
    );
}

/// The agent stays down past the SVID's expiry: the source stops serving it and says so.
#[tokio::test]
async fn agent_down_past_svid_expiry() {
    let Web {
        agent,
        source,
        _dir,
        ..
    } = Web::start().await;
    agent.shutdown().await.unwrap();
    eventually("the outage is noticed", || {
        source.health().last_error.is_some()
    })
    .await;
    tokio::time::pause();
    tokio::time::advance(2 * HOUR).await;
    tokio::time::resume();
    eventually("expiry", || source.x509_svid().is_none()).await;
    assert!(!source.health().is_healthy());
    assert!(matches!(source.svid(), Err(Error::NoCurrentIdentity)));
}

/// No entry for this process: startup names PermissionDenied. An entry removed while the
/// stream is open: the agent sends PermissionDenied and the source withdraws the identity
/// (Workload API 5.2.1), then recovers when an entry comes back.
#[tokio::test]
async fn permission_denied() {
    let ca = ca::TestCa::new("example.org");
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("agent.sock");
    let agent = serve(&ca, &socket, vec![]).await;
    // Long enough for the first attempt to be answered even on a loaded machine (300 ms was
    // not: `last_error` was still `None`); the source keeps retrying until then.
    let mut short = options();
    short.startup_timeout = Duration::from_secs(3);
    let error = X509Source::new(client(&socket), SvidPicker::Default, short)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::StartupTimeout { last_error: Some(last), .. } if last.is_permission_denied()),
        "{error:?}"
    );

    let id = agent.add_entry(entry("/web")).await.unwrap();
    let source = X509Source::new(client(&socket), SvidPicker::Default, options())
        .await
        .unwrap();
    agent.remove_entry(id).unwrap();
    eventually("withdrawal", || source.x509_svid().is_none()).await;
    assert!(!source.health().current);
    agent.add_entry(entry("/web2")).await.unwrap();
    eventually("recovery", || {
        source
            .x509_svid()
            .is_some_and(|svid| svid.spiffe_id().path() == "/web2")
    })
    .await;
    agent.shutdown().await.unwrap();
}

#[tokio::test]
async fn jwt_source_and_bundle_source() {
    let ca = ca::TestCa::new("example.org");
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("agent.sock");
    let agent = serve(&ca, &socket, vec![entry("/web")]).await;
    let source = JwtSource::new(client(&socket), options()).await.unwrap();
    let first = source.fetch_jwt_svid(&["api"], None).await.unwrap();
    let again = source.fetch_jwt_svid(&["api"], None).await.unwrap();
    assert!(Arc::ptr_eq(&first, &again), "served from the cache");
    assert_eq!(first.spiffe_id().as_str(), "spiffe://example.org/web");

    // Local validation against the source's JWT bundles.
    let validator = JwtValidator::new(&source, &Crypto::default());
    let verified = validator
        .validate(
            first.token(),
            &Audience::new(["api"]).unwrap(),
            UnixTime::now(),
        )
        .unwrap();
    assert_eq!(verified.spiffe_id().as_str(), "spiffe://example.org/web");
    // And through the agent.
    let validated = source
        .validate_jwt_svid("api", first.token())
        .await
        .unwrap();
    assert_eq!(validated.spiffe_id().as_str(), "spiffe://example.org/web");
    assert!(matches!(
        source.validate_jwt_svid("other", first.token()).await,
        Err(Error::InvalidArgument { .. })
    ));

    let bundles = BundleSource::new(client(&socket), BundleKinds::Both, options())
        .await
        .unwrap();
    assert!(bundles.x509_bundle(ca.trust_domain()).is_some());
    assert!(bundles.jwt_bundle(ca.trust_domain()).is_some());
    agent.shutdown().await.unwrap();
}
