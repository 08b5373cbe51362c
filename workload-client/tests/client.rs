//! The client against a fake Workload API server built on the generated `server` code:
//! security header, conversions, hints, bundle keys, and fault injection at the wire.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "test helpers outside #[test] fns"
)]

mod common;

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{FakeServer, Step, TestCa, client, entry, jwt_response, x509_response};
use spiffe_id::TrustDomain;
use tonic::Status;
use trust_bundle::{JwtBundleSource, X509BundleSource};
use workload_client::proto::{
    JwtBundlesResponse, JwtsvidResponse, ValidateJwtsvidResponse, X509BundlesResponse,
};
use workload_client::{Client, Error, Limits, ResponseError};

const HOUR: Duration = Duration::from_secs(3600);

fn td(name: &str) -> TrustDomain {
    name.parse().unwrap()
}

fn invalid(result: Result<impl std::fmt::Debug, Error>) -> ResponseError {
    match result {
        Err(Error::InvalidResponse { source, .. }) => source,
        other => panic!("expected InvalidResponse, got {other:?}"),
    }
}

/// W-API-2: every request carries `workload.spiffe.io: true`, even when the caller installs
/// an interceptor that tries to remove or change it.
#[tokio::test]
async fn w_api_2_security_header_on_every_call_even_with_a_caller_interceptor() {
    let server = FakeServer::start_new().await;
    let ca = TestCa::new("example.org");
    let svid = ca.x509_svid("/web", HOUR);
    server.script.x509(Step::Send(x509_response(vec![entry(
        &svid,
        &ca.bundle_der(),
        "",
    )])));
    let client = Client::builder(server.endpoint())
        .interceptor(|mut request| {
            request.metadata_mut().remove("workload.spiffe.io");
            request
                .metadata_mut()
                .insert("workload.spiffe.io", "false".parse().unwrap());
            request
                .metadata_mut()
                .insert("x-caller", "hello".parse().unwrap());
            Ok(request)
        })
        .connect()
        .await
        .unwrap();
    client.fetch_x509_context().await.unwrap();
    let _ = client.fetch_jwt_svid(&["aud"], None).await;
    let _ = client.validate_jwt_svid("aud", "x.y.z").await;
    assert_eq!(server.script.missing_header.load(Ordering::Relaxed), 0);
    assert_eq!(server.script.with_header.load(Ordering::Relaxed), 3);
    let metadata = server.script.last_metadata.lock().unwrap().clone();
    assert!(metadata.contains(&("x-caller".into(), "hello".into())));
}

/// W-API-1 from the client side: a server that rejects the request (InvalidArgument) gives a
/// non-retryable typed error.
#[tokio::test]
async fn invalid_argument_is_typed_and_not_retryable() {
    let server = FakeServer::start_new().await;
    server.script.x509(Step::Fail(Status::invalid_argument(
        "security header missing from request",
    )));
    let error = client(&server).fetch_x509_context().await.unwrap_err();
    assert!(matches!(error, Error::InvalidArgument { .. }), "{error:?}");
    assert!(!error.is_retryable());
}

#[tokio::test]
async fn status_codes_map_to_typed_errors() {
    let server = FakeServer::start_new().await;
    let c = client(&server);
    for (status, retryable) in [
        (Status::permission_denied("no identity issued"), true),
        (Status::unavailable("starting"), true),
        (Status::unimplemented("nope"), false),
    ] {
        *server.script.jwt_svid.lock().unwrap() = Err(status.clone());
        let error = c.fetch_jwt_svid(&["a"], None).await.unwrap_err();
        assert_eq!(error.is_retryable(), retryable, "{error:?}");
        match status.code() {
            tonic::Code::PermissionDenied => {
                assert!(matches!(error, Error::PermissionDenied { .. }));
                assert!(error.to_string().contains("registration entries"));
            }
            tonic::Code::Unavailable => assert!(matches!(error, Error::Unavailable { .. })),
            _ => assert!(matches!(error, Error::Unimplemented { .. })),
        }
    }
}

#[tokio::test]
async fn nothing_listening_is_a_connect_error() {
    let server = FakeServer::not_started();
    let error = Client::builder(server.endpoint())
        .connect()
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Connect { .. }), "{error:?}");
    assert!(error.is_retryable());
    assert!(error.to_string().contains("is the agent running"));
}

#[tokio::test]
async fn fetches_and_converts_x509_context_with_federated_bundles_under_both_key_forms() {
    let server = FakeServer::start_new().await;
    let ca = TestCa::new("example.org");
    let partner = TestCa::new("partner.example");
    let other = TestCa::new("other.example");
    let web = ca.x509_svid("/web", HOUR);
    let db = ca.x509_svid("/db", HOUR);
    let mut response = x509_response(vec![
        entry(&web, &ca.bundle_der(), "internal"),
        entry(&db, &ca.bundle_der(), "external"),
    ]);
    response.federated_bundles = HashMap::from([
        ("spiffe://partner.example".to_owned(), partner.bundle_der()),
        ("other.example".to_owned(), other.bundle_der()),
    ]);
    server.script.x509(Step::Send(response));
    let context = client(&server).fetch_x509_context().await.unwrap();
    assert_eq!(context.svids().len(), 2);
    let first = context.default_svid().unwrap();
    assert_eq!(first.spiffe_id().as_str(), "spiffe://example.org/web");
    assert_eq!(first.hint(), Some("internal"));
    assert_eq!(context.bundles().len(), 3);
    for name in ["example.org", "partner.example", "other.example"] {
        assert!(context.bundles().x509_bundle(&td(name)).is_some(), "{name}");
    }
    assert!(context.earliest_expiry().unwrap() > std::time::SystemTime::now());
}

/// W-API-5: a duplicate hint keeps the first SVID with it.
#[tokio::test]
async fn w_api_5_duplicate_hints_keep_the_first() {
    let server = FakeServer::start_new().await;
    let ca = TestCa::new("example.org");
    let a = ca.x509_svid("/a", HOUR);
    let b = ca.x509_svid("/b", HOUR);
    let c = ca.x509_svid("/c", HOUR);
    server.script.x509(Step::Send(x509_response(vec![
        entry(&a, &ca.bundle_der(), "same"),
        entry(&b, &ca.bundle_der(), "same"),
        entry(&c, &ca.bundle_der(), ""),
    ])));
    let context = client(&server).fetch_x509_context().await.unwrap();
    let ids: Vec<_> = context
        .svids()
        .iter()
        .map(|s| s.spiffe_id().path().to_owned())
        .collect();
    assert_eq!(ids, ["/a", "/c"]);
}

async fn x509_fault(
    response: workload_client::proto::X509svidResponse,
    limits: Limits,
) -> ResponseError {
    let server = FakeServer::start_new().await;
    server.script.x509(Step::Send(response));
    let client = Client::builder(server.endpoint())
        .limits(limits)
        .connect_lazy()
        .unwrap();
    invalid(client.fetch_x509_context().await)
}

#[tokio::test]
async fn rejects_garbage_der() {
    let ca = TestCa::new("example.org");
    let mut svid = ca.x509_svid("/web", HOUR);
    svid.chain_der = vec![0x30, 0x03, 0x01, 0x02];
    let error = x509_fault(
        x509_response(vec![entry(&svid, &ca.bundle_der(), "")]),
        Limits::default(),
    )
    .await;
    assert!(
        matches!(error, ResponseError::X509Svid { index: 0, .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn rejects_an_svid_whose_key_does_not_match() {
    let ca = TestCa::new("example.org");
    let mut svid = ca.x509_svid("/web", HOUR);
    svid.key_der = ca.x509_svid("/other", HOUR).key_der;
    let error = x509_fault(
        x509_response(vec![entry(&svid, &ca.bundle_der(), "")]),
        Limits::default(),
    )
    .await;
    assert!(
        matches!(
            error,
            ResponseError::X509Svid {
                source: svid::Error::KeyMismatch,
                ..
            }
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn rejects_oversized_bundles_and_too_many_svids() {
    let ca = TestCa::new("example.org");
    let svid = ca.x509_svid("/web", HOUR);
    let mut limits = Limits::default();
    limits.max_bundle_bytes = 16;
    let error = x509_fault(
        x509_response(vec![entry(&svid, &ca.bundle_der(), "")]),
        limits,
    )
    .await;
    assert!(
        matches!(error, ResponseError::BundleTooLarge { max: 16, .. }),
        "{error:?}"
    );

    let mut limits = Limits::default();
    limits.max_svids = 1;
    let error = x509_fault(
        x509_response(vec![
            entry(&svid, &ca.bundle_der(), ""),
            entry(&svid, &ca.bundle_der(), ""),
        ]),
        limits,
    )
    .await;
    assert!(
        matches!(error, ResponseError::TooManySvids { count: 2, max: 1 }),
        "{error:?}"
    );
}

/// Workload API 4.5: empty mandatory fields discard the message.
#[tokio::test]
async fn rejects_empty_mandatory_fields() {
    let ca = TestCa::new("example.org");
    let svid = ca.x509_svid("/web", HOUR);
    let error = x509_fault(x509_response(vec![]), Limits::default()).await;
    assert!(matches!(error, ResponseError::NoSvids), "{error:?}");
    let mut e = entry(&svid, &ca.bundle_der(), "");
    e.bundle.clear();
    let error = x509_fault(x509_response(vec![e]), Limits::default()).await;
    assert!(
        matches!(
            error,
            ResponseError::EmptyField {
                field: "bundle",
                index: 0
            }
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn rejects_spiffe_id_field_that_differs_from_the_certificate() {
    let ca = TestCa::new("example.org");
    let svid = ca.x509_svid("/web", HOUR);
    let mut e = entry(&svid, &ca.bundle_der(), "");
    e.spiffe_id = "spiffe://example.org/admin".into();
    let error = x509_fault(x509_response(vec![e]), Limits::default()).await;
    assert!(
        matches!(error, ResponseError::SpiffeIdMismatch { .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn rejects_svid_that_does_not_chain_to_its_bundle_or_is_expired() {
    let ca = TestCa::new("example.org");
    let impostor = TestCa::new("example.org");
    let svid = impostor.x509_svid("/web", HOUR);
    let error = x509_fault(
        x509_response(vec![entry(&svid, &ca.bundle_der(), "")]),
        Limits::default(),
    )
    .await;
    assert!(
        matches!(error, ResponseError::X509SvidNotValid { .. }),
        "{error:?}"
    );

    let now = std::time::SystemTime::now();
    let expired = ca.x509_svid_between("/web", now - 2 * HOUR, now - HOUR);
    let error = x509_fault(
        x509_response(vec![entry(&expired, &ca.bundle_der(), "")]),
        Limits::default(),
    )
    .await;
    assert!(
        matches!(error, ResponseError::X509SvidNotValid { .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn rejects_malformed_bundle_keys() {
    let ca = TestCa::new("example.org");
    let svid = ca.x509_svid("/web", HOUR);
    let mut response = x509_response(vec![entry(&svid, &ca.bundle_der(), "")]);
    response
        .federated_bundles
        .insert("spiffe://Bad.Example".into(), ca.bundle_der());
    let error = x509_fault(response, Limits::default()).await;
    assert!(
        matches!(error, ResponseError::BadBundleKey { .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn x509_and_jwt_bundles() {
    let server = FakeServer::start_new().await;
    let ca = TestCa::new("example.org");
    server.script.x509_bundles(Step::Send(X509BundlesResponse {
        crl: vec![],
        bundles: HashMap::from([("spiffe://example.org".into(), ca.bundle_der())]),
    }));
    server.script.jwt_bundles(Step::Send(JwtBundlesResponse {
        bundles: HashMap::from([("example.org".into(), ca.jwks())]),
    }));
    let c = client(&server);
    let x509 = c.fetch_x509_bundles().await.unwrap();
    assert_eq!(x509.x509_bundle(&td("example.org")).unwrap().len(), 1);
    let jwt = c.fetch_jwt_bundles().await.unwrap();
    assert_eq!(jwt.jwt_bundle(&td("example.org")).unwrap().len(), 1);

    server.script.jwt_bundles(Step::Send(JwtBundlesResponse {
        bundles: HashMap::new(),
    }));
    assert!(matches!(
        invalid(c.fetch_jwt_bundles().await),
        ResponseError::NoBundles
    ));
}

#[tokio::test]
async fn jwt_svid_fetch_checks_identity_audience_and_expiry() {
    let server = FakeServer::start_new().await;
    let ca = TestCa::new("example.org");
    let token = ca.jwt_svid("/web", &["a", "b"], HOUR);
    let id = ca.spiffe_id("/web");
    *server.script.jwt_svid.lock().unwrap() = Ok(JwtsvidResponse {
        svids: vec![jwt_response(&id, &token, "h")],
    });
    let c = client(&server);
    let svid = c.fetch_jwt_svid(&["b", "a"], None).await.unwrap();
    assert_eq!(svid.token(), token);
    assert_eq!(svid.spiffe_id().as_str(), id);
    assert_eq!(svid.hint(), Some("h"));
    assert!(
        !format!("{svid:?}").contains(&token),
        "Debug must not print the token"
    );

    // An audience the token does not carry.
    let error = invalid(c.fetch_jwt_svid(&["c"], None).await);
    assert!(
        matches!(error, ResponseError::JwtAudienceMissing { .. }),
        "{error:?}"
    );
    // An identity other than the one requested.
    let other: spiffe_id::SpiffeId = "spiffe://example.org/other".parse().unwrap();
    let error = invalid(c.fetch_jwt_svid(&["a"], Some(&other)).await);
    assert!(
        matches!(error, ResponseError::UnrequestedIdentity { .. }),
        "{error:?}"
    );
    // Empty audience is refused before sending.
    let none: [&str; 0] = [];
    assert!(matches!(
        c.fetch_jwt_svid(&none, None).await,
        Err(Error::InvalidRequest(_))
    ));
    // Garbage token.
    *server.script.jwt_svid.lock().unwrap() = Ok(JwtsvidResponse {
        svids: vec![jwt_response(&id, "not-a-jwt", "")],
    });
    assert!(matches!(
        invalid(c.fetch_jwt_svid(&["a"], None).await),
        ResponseError::JwtSvid { .. }
    ));
}

#[tokio::test]
async fn validate_jwt_svid_cross_checks_the_agent_answer() {
    let server = FakeServer::start_new().await;
    let ca = TestCa::new("example.org");
    let token = ca.jwt_svid("/web", &["a"], HOUR);
    let claims = prost_types_struct(&[("sub", &ca.spiffe_id("/web"))]);
    *server.script.validate.lock().unwrap() = Ok(ValidateJwtsvidResponse {
        spiffe_id: ca.spiffe_id("/web"),
        claims: Some(claims.clone()),
    });
    let c = client(&server);
    let validated = c.validate_jwt_svid("a", &token).await.unwrap();
    assert_eq!(validated.spiffe_id().as_str(), "spiffe://example.org/web");
    assert_eq!(validated.claims()["sub"], "spiffe://example.org/web");

    // The agent names another identity than the token's `sub`.
    *server.script.validate.lock().unwrap() = Ok(ValidateJwtsvidResponse {
        spiffe_id: ca.spiffe_id("/admin"),
        claims: Some(claims),
    });
    assert!(matches!(
        invalid(c.validate_jwt_svid("a", &token).await),
        ResponseError::SpiffeIdMismatch { .. }
    ));
    // The agent rejects the token.
    *server.script.validate.lock().unwrap() = Err(Status::invalid_argument("token expired"));
    assert!(matches!(
        c.validate_jwt_svid("a", &token).await,
        Err(Error::InvalidArgument { .. })
    ));
}

fn prost_types_struct(fields: &[(&str, &str)]) -> prost_types::Struct {
    prost_types::Struct {
        fields: fields
            .iter()
            .map(|(k, v)| {
                (
                    (*k).to_owned(),
                    prost_types::Value {
                        kind: Some(prost_types::value::Kind::StringValue((*v).to_owned())),
                    },
                )
            })
            .collect(),
    }
}

#[tokio::test]
async fn tcp_endpoint_works() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let script = common::Script::new();
    let ca = TestCa::new("example.org");
    let svid = ca.x509_svid("/web", HOUR);
    script.x509(Step::Send(x509_response(vec![entry(
        &svid,
        &ca.bundle_der(),
        "",
    )])));
    let service = workload_client::proto::spiffe_workload_api_server::SpiffeWorkloadApiServer::new(
        common::Fake(std::sync::Arc::clone(&script)),
    );
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let endpoint: workload_client::Endpoint = format!("tcp://{addr}").parse().unwrap();
    let context = Client::builder(endpoint)
        .connect()
        .await
        .unwrap()
        .fetch_x509_context()
        .await
        .unwrap();
    assert_eq!(context.svids().len(), 1);
}
