//! The blocking facades from plain `#[test]`s (no async test runtime) against the fake server.
#![cfg(feature = "blocking")]
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "test code"
)]

mod common;

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{FakeServer, Step, TestCa, entry, fast_options, jwt_response, x509_response};
use workload_client::blocking::{BlockingJwtSource, BlockingX509Source};
use workload_client::proto::{JwtBundlesResponse, JwtsvidResponse};
use workload_client::{Client, SvidPicker};

const HOUR: Duration = Duration::from_secs(3600);

/// The fake server runs on its own runtime; this one only waits for it to listen.
fn start_server() -> FakeServer {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(FakeServer::start_new())
}

fn client(server: &FakeServer) -> workload_client::ClientBuilder {
    Client::builder(server.endpoint()).timeout(Duration::from_secs(5))
}

/// Polls `condition` for up to 10 s, sleeping the thread in between.
fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if condition() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("timed out waiting for: {what}");
}

#[test]
fn blocking_x509_source_serves_and_follows_rotation_without_an_async_caller() {
    let ca = TestCa::new("example.org");
    let server = start_server();
    let first = ca.x509_svid("/web", HOUR);
    server.script.x509(Step::Send(x509_response(vec![entry(
        &first,
        &ca.bundle_der(),
        "",
    )])));

    let source =
        BlockingX509Source::new(client(&server), SvidPicker::Default, fast_options()).unwrap();
    let svid = source.x509_svid().unwrap();
    assert_eq!(svid.spiffe_id().as_str(), first.spiffe_id);
    assert!(source.bundle(&"example.org".parse().unwrap()).is_some());
    assert!(source.bundle(&"other.org".parse().unwrap()).is_none());

    // The source's task keeps running between calls: a rotation arrives without one.
    let second = ca.x509_svid("/db", HOUR);
    server.script.x509(Step::Send(x509_response(vec![entry(
        &second,
        &ca.bundle_der(),
        "",
    )])));
    eventually("the rotated svid", || {
        source
            .x509_svid()
            .is_ok_and(|svid| svid.spiffe_id().as_str() == second.spiffe_id)
    });

    source.close();
    assert!(!source.source().health().is_healthy());
    // The last state is still served after close.
    assert_eq!(
        source
            .snapshot()
            .unwrap()
            .svid()
            .unwrap()
            .spiffe_id()
            .as_str(),
        second.spiffe_id
    );
}

#[test]
fn blocking_jwt_source_fetches_caches_and_validates_without_an_async_caller() {
    let ca = TestCa::new("example.org");
    let server = start_server();
    server.script.jwt_bundles(Step::Send(JwtBundlesResponse {
        bundles: HashMap::from([("spiffe://example.org".into(), ca.jwks())]),
    }));
    let id = ca.spiffe_id("/web");
    let token = ca.jwt_svid("/web", &["api"], HOUR);
    *server.script.jwt_svid.lock().unwrap() = Ok(JwtsvidResponse {
        svids: vec![jwt_response(&id, &token, "")],
    });
    *server.script.validate.lock().unwrap() = Ok(workload_client::proto::ValidateJwtsvidResponse {
        spiffe_id: id.clone(),
        claims: None,
    });

    let source = BlockingJwtSource::new(client(&server), fast_options()).unwrap();
    let svid = source.fetch(&["api"], None).unwrap();
    assert_eq!(svid.token(), token);
    let again = source.fetch(&["api"], None).unwrap();
    assert!(
        std::sync::Arc::ptr_eq(&svid, &again),
        "served from the cache"
    );
    assert_eq!(server.script.jwt_svid_calls.load(Ordering::Relaxed), 1);

    assert!(source.bundle(&"example.org".parse().unwrap()).is_some());
    let validated = source.validate("api", &token).unwrap();
    assert_eq!(validated.spiffe_id().as_str(), id);
    // The async source's checks apply: the token does not carry this audience.
    assert!(source.validate("other", &token).is_err());

    source.close();
    assert!(!source.source().health().is_healthy());
}
