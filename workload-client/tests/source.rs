//! Sources against the fake server: first fetch, rotation, invalid and duplicate updates,
//! reconnects, PermissionDenied, stop conditions, startup errors and expiry.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "test helpers outside #[test] fns"
)]

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{FakeServer, Step, TestCa, client, entry, fast_options, jwt_response, x509_response};
use svid::X509SvidSource;
use tonic::Status;
use trust_bundle::{JwtBundleSource, X509BundleSource};
use workload_client::proto::{JwtBundlesResponse, JwtsvidResponse, X509BundlesResponse};
use workload_client::{
    BundleKinds, BundleSource, Error, JwtSource, PermissionDeniedPolicy, SvidPicker, X509Source,
};

const HOUR: Duration = Duration::from_secs(3600);

/// Polls `condition` on the real clock for up to 10 s.
async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for: {what}");
}

fn current_path(source: &X509Source) -> Option<String> {
    source
        .x509_svid()
        .map(|svid| svid.spiffe_id().path().to_owned())
}

async fn started(ca: &TestCa, path: &str) -> (FakeServer, X509Source) {
    let server = FakeServer::start_new().await;
    let svid = ca.x509_svid(path, HOUR);
    server.script.x509(Step::Send(x509_response(vec![entry(
        &svid,
        &ca.bundle_der(),
        "",
    )])));
    let source = X509Source::new(client(&server), SvidPicker::Default, fast_options())
        .await
        .unwrap();
    (server, source)
}

#[tokio::test]
async fn first_fetch_and_rotation_are_delivered() {
    let ca = TestCa::new("example.org");
    let (server, source) = started(&ca, "/v1").await;
    assert_eq!(current_path(&source).as_deref(), Some("/v1"));
    assert!(source.health().is_healthy());
    // The same Arc until the SVID changes (svid::X509SvidSource contract).
    assert!(Arc::ptr_eq(
        &source.x509_svid().unwrap(),
        &source.x509_svid().unwrap()
    ));
    let td = "example.org".parse().unwrap();
    assert!(source.x509_bundle(&td).is_some());

    let mut updates = source.updated();
    let before = *updates.borrow_and_update();
    let v2 = ca.x509_svid("/v2", HOUR);
    server.script.x509(Step::Send(x509_response(vec![entry(
        &v2,
        &ca.bundle_der(),
        "",
    )])));
    updates.changed().await.unwrap();
    assert_ne!(*updates.borrow(), before);
    assert_eq!(current_path(&source).as_deref(), Some("/v2"));
    let snapshot = source.snapshot().unwrap();
    assert_eq!(snapshot.svid().unwrap().spiffe_id().path(), "/v2");
}

/// An invalid update is discarded; the source keeps its last good state and the stream.
#[tokio::test]
async fn invalid_update_keeps_last_good_state() {
    let ca = TestCa::new("example.org");
    let (server, source) = started(&ca, "/good").await;
    let generation = source.snapshot().unwrap().generation();
    let mut bad = ca.x509_svid("/bad", HOUR);
    bad.key_der = ca.x509_svid("/other", HOUR).key_der;
    server.script.x509(Step::Send(x509_response(vec![entry(
        &bad,
        &ca.bundle_der(),
        "",
    )])));
    eventually("the invalid update is reported", || {
        source
            .health()
            .last_error
            .is_some_and(|e| matches!(*e, Error::InvalidResponse { .. }))
    })
    .await;
    assert_eq!(current_path(&source).as_deref(), Some("/good"));
    assert_eq!(source.snapshot().unwrap().generation(), generation);
    // The stream is still open: a good update after the bad one is applied.
    let next = ca.x509_svid("/next", HOUR);
    server.script.x509(Step::Send(x509_response(vec![entry(
        &next,
        &ca.bundle_der(),
        "",
    )])));
    eventually("the next good update", || {
        current_path(&source).as_deref() == Some("/next")
    })
    .await;
    assert_eq!(server.script.x509_streams.load(Ordering::Relaxed), 1);
}

/// An identical update (e.g. after a reconnect) does not notify.
#[tokio::test]
async fn duplicate_update_is_suppressed() {
    let ca = TestCa::new("example.org");
    let server = FakeServer::start_new().await;
    let svid = ca.x509_svid("/web", HOUR);
    let response = x509_response(vec![entry(&svid, &ca.bundle_der(), "")]);
    server.script.x509(Step::Send(response.clone()));
    let source = X509Source::new(client(&server), SvidPicker::Default, fast_options())
        .await
        .unwrap();
    let mut updates = source.updated();
    updates.borrow_and_update();
    let generation = source.snapshot().unwrap().generation();
    // End the stream: the source reconnects and receives the same state again.
    server.script.x509(Step::End);
    eventually("the reconnect", || {
        server.script.x509_streams.load(Ordering::Relaxed) >= 2
    })
    .await;
    server.script.x509(Step::Send(response));
    let streams = server.script.x509_streams.load(Ordering::Relaxed);
    eventually("one more stream, which gets the same state", || {
        server.script.x509_streams.load(Ordering::Relaxed) > streams
    })
    .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!updates.has_changed().unwrap());
    assert_eq!(source.snapshot().unwrap().generation(), generation);
}

/// Workload API 4.2: a stream that ends cleanly is reopened and updates keep flowing
/// (py-spiffe#450: EOF must not silently stop rotation).
#[tokio::test]
async fn stream_that_ends_cleanly_is_reopened() {
    let ca = TestCa::new("example.org");
    let (server, source) = started(&ca, "/v1").await;
    server.script.x509(Step::End);
    eventually("the reconnect", || {
        server.script.x509_streams.load(Ordering::Relaxed) >= 2
    })
    .await;
    let v2 = ca.x509_svid("/v2", HOUR);
    server.script.x509(Step::Send(x509_response(vec![entry(
        &v2,
        &ca.bundle_der(),
        "",
    )])));
    eventually("rotation after the reconnect", || {
        current_path(&source).as_deref() == Some("/v2")
    })
    .await;
}

/// The agent is killed and restarted: the source keeps serving, then recovers.
#[tokio::test]
async fn agent_restart_is_invisible_to_the_application() {
    let ca = TestCa::new("example.org");
    let (mut server, source) = started(&ca, "/v1").await;
    server.stop().await;
    eventually("the error is noticed", || {
        source.health().last_error.is_some()
    })
    .await;
    assert_eq!(current_path(&source).as_deref(), Some("/v1"));
    assert!(source.health().current);

    let v2 = ca.x509_svid("/v2", HOUR);
    server.script.x509(Step::Send(x509_response(vec![entry(
        &v2,
        &ca.bundle_der(),
        "",
    )])));
    server.start().await;
    eventually("recovery after the restart", || {
        current_path(&source).as_deref() == Some("/v2")
    })
    .await;
    assert!(source.health().is_healthy());
}

/// No agent at the address: startup fails after the timeout with an actionable error.
#[tokio::test]
async fn agent_down_at_startup_is_a_timeout_with_the_cause() {
    let server = FakeServer::not_started();
    let mut options = fast_options();
    options.startup_timeout = Duration::from_millis(300);
    let error = X509Source::new(client(&server), SvidPicker::Default, options)
        .await
        .unwrap_err();
    let Error::StartupTimeout { last_error, .. } = &error else {
        panic!("{error:?}");
    };
    assert!(
        matches!(last_error.as_deref(), Some(Error::Unavailable { .. })),
        "{last_error:?}"
    );
    assert!(error.to_string().contains("last error"), "{error}");
}

/// No identity for this process: startup error names PermissionDenied.
#[tokio::test]
async fn no_identity_at_startup_names_permission_denied() {
    let server = FakeServer::start_new().await;
    server
        .script
        .x509(Step::Fail(Status::permission_denied("no identity issued")));
    let mut options = fast_options();
    options.startup_timeout = Duration::from_millis(300);
    let error = X509Source::new(client(&server), SvidPicker::Default, options)
        .await
        .unwrap_err();
    let Error::StartupTimeout { last_error, .. } = &error else {
        panic!("{error:?}");
    };
    assert!(last_error.as_ref().unwrap().is_permission_denied());
    assert!(
        error.to_string().contains("registration entries"),
        "{error}"
    );
}

/// Workload API 5.2.1: PermissionDenied on a stream withdraws the identities (default), then
/// the source retries and recovers.
#[tokio::test]
async fn permission_denied_withdraws_then_recovers() {
    let ca = TestCa::new("example.org");
    let (server, source) = started(&ca, "/v1").await;
    server
        .script
        .x509(Step::Fail(Status::permission_denied("no identity issued")));
    eventually("withdrawal", || source.x509_svid().is_none()).await;
    assert!(!source.health().current);
    assert!(matches!(source.svid(), Err(Error::NoCurrentIdentity)));
    let v2 = ca.x509_svid("/v2", HOUR);
    server.script.x509(Step::Send(x509_response(vec![entry(
        &v2,
        &ca.bundle_der(),
        "",
    )])));
    eventually("recovery", || {
        current_path(&source).as_deref() == Some("/v2")
    })
    .await;
}

#[tokio::test]
async fn permission_denied_can_keep_serving_by_policy() {
    let ca = TestCa::new("example.org");
    let server = FakeServer::start_new().await;
    let svid = ca.x509_svid("/v1", HOUR);
    server.script.x509(Step::Send(x509_response(vec![entry(
        &svid,
        &ca.bundle_der(),
        "",
    )])));
    let mut options = fast_options();
    options.on_permission_denied = PermissionDeniedPolicy::KeepUntilExpiry;
    let source = X509Source::new(client(&server), SvidPicker::Default, options)
        .await
        .unwrap();
    server
        .script
        .x509(Step::Fail(Status::permission_denied("no identity issued")));
    eventually("the error is seen", || {
        source
            .health()
            .last_error
            .is_some_and(|e| e.is_permission_denied())
    })
    .await;
    assert_eq!(current_path(&source).as_deref(), Some("/v1"));
}

/// W-API-10: InvalidArgument and Unimplemented stop the watch; no retries.
#[tokio::test]
async fn w_api_10_invalid_argument_stops_retrying() {
    let ca = TestCa::new("example.org");
    let (server, source) = started(&ca, "/v1").await;
    server
        .script
        .x509(Step::Fail(Status::unimplemented("not here")));
    eventually("the stop", || source.health().stopped).await;
    let streams = server.script.x509_streams.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(server.script.x509_streams.load(Ordering::Relaxed), streams);

    let server = FakeServer::start_new().await;
    server.script.x509(Step::Fail(Status::invalid_argument(
        "security header missing",
    )));
    let error = X509Source::new(client(&server), SvidPicker::Default, fast_options())
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::SourceStopped { cause: Some(_) }),
        "{error:?}"
    );
    assert!(!error.is_retryable());
}

/// The agent stays away past the SVID's expiry: the source stops serving it and reports
/// unhealthy. Time is advanced on tokio's paused clock.
#[tokio::test]
async fn agent_down_past_expiry_stops_serving_the_svid() {
    let ca = TestCa::new("example.org");
    let (mut server, source) = started(&ca, "/v1").await;
    server.stop().await;
    eventually("the error is noticed", || {
        source.health().last_error.is_some()
    })
    .await;
    assert!(source.x509_svid().is_some());
    tokio::time::pause();
    tokio::time::advance(2 * HOUR).await;
    tokio::time::resume();
    eventually("expiry", || source.x509_svid().is_none()).await;
    let health = source.health();
    assert!(!health.current && !health.is_healthy(), "{health:?}");
}

/// W-API-4: every message is full state; a message without federated bundles drops them.
#[tokio::test]
async fn w_api_4_omitted_federated_bundles_are_cleared() {
    let ca = TestCa::new("example.org");
    let partner = TestCa::new("partner.example");
    let server = FakeServer::start_new().await;
    let svid = ca.x509_svid("/web", HOUR);
    let mut response = x509_response(vec![entry(&svid, &ca.bundle_der(), "")]);
    response.federated_bundles =
        HashMap::from([("spiffe://partner.example".to_owned(), partner.bundle_der())]);
    server.script.x509(Step::Send(response));
    let source = X509Source::new(client(&server), SvidPicker::Default, fast_options())
        .await
        .unwrap();
    let partner_td = "partner.example".parse().unwrap();
    assert!(source.x509_bundle(&partner_td).is_some());
    server.script.x509(Step::Send(x509_response(vec![entry(
        &svid,
        &ca.bundle_der(),
        "",
    )])));
    eventually("federated bundle removal", || {
        source.x509_bundle(&partner_td).is_none()
    })
    .await;
}

#[tokio::test]
async fn picker_selects_by_hint_or_id_without_fallback() {
    let ca = TestCa::new("example.org");
    let server = FakeServer::start_new().await;
    let a = ca.x509_svid("/a", HOUR);
    let b = ca.x509_svid("/b", HOUR);
    server.script.x509(Step::Send(x509_response(vec![
        entry(&a, &ca.bundle_der(), "internal"),
        entry(&b, &ca.bundle_der(), "external"),
    ])));
    let by_hint = X509Source::new(
        client(&server),
        SvidPicker::Hint("external".into()),
        fast_options(),
    )
    .await
    .unwrap();
    assert_eq!(current_path(&by_hint).as_deref(), Some("/b"));
    let by_id = X509Source::new(
        client(&server),
        SvidPicker::SpiffeId("spiffe://example.org/a".parse().unwrap()),
        fast_options(),
    )
    .await
    .unwrap();
    assert_eq!(current_path(&by_id).as_deref(), Some("/a"));
    let mut options = fast_options();
    options.startup_timeout = Duration::from_millis(200);
    let error = X509Source::new(client(&server), SvidPicker::Hint("nope".into()), options)
        .await
        .unwrap_err();
    assert!(matches!(error, Error::StartupTimeout { .. }), "{error:?}");
}

/// Dropping the last clone stops the background task (rust-spiffe#327: dropping one clone
/// must not), and change receivers see the end instead of blocking forever.
#[tokio::test]
async fn drop_and_close_stop_the_task() {
    let ca = TestCa::new("example.org");
    let (_server, source) = started(&ca, "/v1").await;
    let clone = source.clone();
    let mut updates = source.updated();
    drop(source);
    assert!(
        clone.health().is_healthy(),
        "one clone dropped: still running"
    );
    drop(clone);
    let ended = tokio::time::timeout(Duration::from_secs(5), updates.changed()).await;
    assert!(matches!(ended, Ok(Err(_))), "{ended:?}");

    let (_server, source) = started(&ca, "/v1").await;
    source.close().await;
    assert!(source.health().stopped);
    assert!(
        source.x509_svid().is_some(),
        "the last state stays readable"
    );
}

#[tokio::test]
async fn bundle_source_serves_x509_and_jwt_bundles_separately() {
    let ca = TestCa::new("example.org");
    let server = FakeServer::start_new().await;
    server.script.x509_bundles(Step::Send(X509BundlesResponse {
        crl: vec![],
        bundles: HashMap::from([("spiffe://example.org".into(), ca.bundle_der())]),
    }));
    server.script.jwt_bundles(Step::Send(JwtBundlesResponse {
        bundles: HashMap::from([("spiffe://example.org".into(), ca.jwks())]),
    }));
    let source = BundleSource::new(client(&server), BundleKinds::Both, fast_options())
        .await
        .unwrap();
    let td = "example.org".parse().unwrap();
    assert_eq!(source.x509_bundle(&td).unwrap().len(), 1);
    assert_eq!(source.jwt_bundle(&td).unwrap().len(), 1);
    let generation = JwtBundleSource::generation(&source);
    let other = TestCa::new("example.org");
    server.script.jwt_bundles(Step::Send(JwtBundlesResponse {
        bundles: HashMap::from([("spiffe://example.org".into(), other.jwks())]),
    }));
    eventually("jwt bundle rotation", || {
        JwtBundleSource::generation(&source) != generation
    })
    .await;
}

#[tokio::test]
async fn jwt_source_caches_and_refreshes_at_half_life() {
    let ca = TestCa::new("example.org");
    let server = FakeServer::start_new().await;
    server.script.jwt_bundles(Step::Send(JwtBundlesResponse {
        bundles: HashMap::from([("spiffe://example.org".into(), ca.jwks())]),
    }));
    let id = ca.spiffe_id("/web");
    let first = ca.jwt_svid("/web", &["a", "b"], HOUR);
    *server.script.jwt_svid.lock().unwrap() = Ok(JwtsvidResponse {
        svids: vec![jwt_response(&id, &first, "")],
    });
    let source = JwtSource::new(client(&server), fast_options())
        .await
        .unwrap();
    let a = source.fetch_jwt_svid(&["a", "b"], None).await.unwrap();
    let b = source.fetch_jwt_svid(&["b", "a", "a"], None).await.unwrap();
    assert!(
        Arc::ptr_eq(&a, &b),
        "same audience set: served from the cache"
    );
    assert_eq!(server.script.jwt_svid_calls.load(Ordering::Relaxed), 1);

    // Local validation against the source's JWT bundles.
    let validator = svid::JwtValidator::new(&source, &svid::Crypto::default());
    let audience = svid::Audience::new(["a"]).unwrap();
    let verified = validator
        .validate(a.token(), &audience, rustls_pki_types::UnixTime::now())
        .unwrap();
    assert_eq!(verified.spiffe_id().as_str(), id);
    assert!(source.jwt_bundle(&"example.org".parse().unwrap()).is_some());

    // Past half-life: a new token is fetched.
    let second = ca.jwt_svid("/web", &["a", "b"], 2 * HOUR);
    *server.script.jwt_svid.lock().unwrap() = Ok(JwtsvidResponse {
        svids: vec![jwt_response(&id, &second, "")],
    });
    tokio::time::pause();
    tokio::time::advance(HOUR / 2 + Duration::from_secs(1)).await;
    tokio::time::resume();
    let c = source.fetch_jwt_svid(&["a", "b"], None).await.unwrap();
    assert_eq!(c.token(), second);
    assert_eq!(server.script.jwt_svid_calls.load(Ordering::Relaxed), 2);

    // The agent fails: the cached token is served until it expires.
    *server.script.jwt_svid.lock().unwrap() = Err(Status::unavailable("down"));
    tokio::time::pause();
    tokio::time::advance(HOUR + Duration::from_secs(1)).await;
    tokio::time::resume();
    let d = source.fetch_jwt_svid(&["a", "b"], None).await.unwrap();
    assert_eq!(d.token(), second);
    tokio::time::pause();
    tokio::time::advance(HOUR).await;
    tokio::time::resume();
    assert!(source.fetch_jwt_svid(&["a", "b"], None).await.is_err());
}

/// A JWT source whose agent holds every `FetchJWTSVID` answer until released, with `token`
/// (or `answer`) as the answer.
async fn held_jwt_source(
    ca: &TestCa,
    answer: Result<JwtsvidResponse, Status>,
) -> (FakeServer, JwtSource) {
    let server = FakeServer::start_new().await;
    server.script.jwt_bundles(Step::Send(JwtBundlesResponse {
        bundles: HashMap::from([("spiffe://example.org".into(), ca.jwks())]),
    }));
    *server.script.jwt_svid.lock().unwrap() = answer;
    server.script.jwt_svid_hold.send_replace(true);
    let source = JwtSource::new(client(&server), fast_options())
        .await
        .unwrap();
    (server, source)
}

fn jwt_calls(server: &FakeServer) -> usize {
    server.script.jwt_svid_calls.load(Ordering::Relaxed)
}

/// 50 tasks asking for one cold key while the agent is slow: one `FetchJWTSVID` call, and all
/// 50 get its token.
#[tokio::test]
async fn jwt_source_sends_one_fetch_for_concurrent_callers_of_a_cold_key() {
    let ca = TestCa::new("example.org");
    let id = ca.spiffe_id("/web");
    let token = ca.jwt_svid("/web", &["a", "b"], HOUR);
    let answer = Ok(JwtsvidResponse {
        svids: vec![jwt_response(&id, &token, "")],
    });
    let (server, source) = held_jwt_source(&ca, answer).await;

    let callers: Vec<_> = (0..50)
        .map(|i| {
            let source = source.clone();
            // Both audience orders name the same key.
            let audience = if i % 2 == 0 { ["a", "b"] } else { ["b", "a"] };
            tokio::spawn(async move { source.fetch_jwt_svid(&audience, None).await })
        })
        .collect();
    eventually("the first fetch reaches the agent", || {
        jwt_calls(&server) >= 1
    })
    .await;
    server.script.jwt_svid_hold.send_replace(false);
    let mut served = Vec::new();
    for caller in callers {
        served.push(caller.await.unwrap().unwrap());
    }

    assert_eq!(jwt_calls(&server), 1, "one FetchJWTSVID for 50 callers");
    assert!(served.iter().all(|svid| Arc::ptr_eq(svid, &served[0])));
    assert_eq!(served[0].token(), token);
    assert_eq!(source.cached(), 1);
}

/// A shared fetch that fails fails for every waiting caller, with the one cause; the next call
/// tries again.
#[tokio::test]
async fn jwt_source_delivers_a_shared_fetch_error_to_every_caller_and_retries_after() {
    let ca = TestCa::new("example.org");
    let (server, source) =
        held_jwt_source(&ca, Err(Status::permission_denied("no identity issued"))).await;

    let callers: Vec<_> = (0..10)
        .map(|_| {
            let source = source.clone();
            tokio::spawn(async move { source.fetch_jwt_svid(&["a"], None).await })
        })
        .collect();
    eventually("the first fetch reaches the agent", || {
        jwt_calls(&server) >= 1
    })
    .await;
    server.script.jwt_svid_hold.send_replace(false);
    for caller in callers {
        let error = caller.await.unwrap().unwrap_err();
        assert!(
            matches!(&error, Error::SharedFetch { cause } if cause.is_permission_denied()),
            "{error:?}"
        );
        assert!(error.is_permission_denied() && error.is_retryable());
    }
    assert_eq!(jwt_calls(&server), 1);

    // Alone, the caller gets the agent's own error; and it is a new call.
    let error = source.fetch_jwt_svid(&["a"], None).await.unwrap_err();
    assert!(matches!(error, Error::PermissionDenied { .. }), "{error:?}");
    assert_eq!(jwt_calls(&server), 2);

    let id = ca.spiffe_id("/web");
    let token = ca.jwt_svid("/web", &["a"], HOUR);
    *server.script.jwt_svid.lock().unwrap() = Ok(JwtsvidResponse {
        svids: vec![jwt_response(&id, &token, "")],
    });
    let svid = source.fetch_jwt_svid(&["a"], None).await.unwrap();
    assert_eq!(svid.token(), token);
    assert_eq!(jwt_calls(&server), 3);
}

/// The caller whose fetch the others wait on is cancelled: a waiting caller takes over with a
/// fetch of its own instead of waiting forever.
#[tokio::test]
async fn jwt_source_waiters_take_over_when_the_fetching_caller_is_cancelled() {
    let ca = TestCa::new("example.org");
    let id = ca.spiffe_id("/web");
    let token = ca.jwt_svid("/web", &["a"], HOUR);
    let answer = Ok(JwtsvidResponse {
        svids: vec![jwt_response(&id, &token, "")],
    });
    let (server, source) = held_jwt_source(&ca, answer).await;

    let first = {
        let source = source.clone();
        tokio::spawn(async move { source.fetch_jwt_svid(&["a"], None).await })
    };
    eventually("the first fetch reaches the agent", || {
        jwt_calls(&server) == 1
    })
    .await;
    let second = {
        let source = source.clone();
        tokio::spawn(async move { source.fetch_jwt_svid(&["a"], None).await })
    };
    // Let the second caller find the first one's fetch and wait on it.
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert_eq!(jwt_calls(&server), 1, "the second caller waits");
    first.abort();
    assert!(first.await.unwrap_err().is_cancelled());

    eventually("the waiting caller fetches itself", || {
        jwt_calls(&server) == 2
    })
    .await;
    server.script.jwt_svid_hold.send_replace(false);
    let svid = tokio::time::timeout(Duration::from_secs(10), second)
        .await
        .expect("the waiting caller finishes")
        .unwrap()
        .unwrap();
    assert_eq!(svid.token(), token);
}
