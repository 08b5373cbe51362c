//! The tower layers on their own (no sockets): who passes, what a refusal looks like for HTTP
//! and for gRPC, and how bearer tokens are read.

#![cfg(feature = "tower")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests: a panic is a failed test"
)]

mod common;

use std::convert::Infallible;
use std::sync::Arc;

use common::JwtIssuer;
use http::{Request, Response, StatusCode};
use rustls_pki_types::UnixTime;
use spiffe_id::IdMatcher;
use svid::{Audience, Crypto, JwtValidator, VerifiedJwtSvid};
use tls_integration::tower::{JwtBearerLayer, RequireSpiffeIdLayer};
use tls_integration::{Error, PeerInfo};
use tower::{Layer, ServiceExt};

async fn ok(_: Request<()>) -> Result<Response<String>, Infallible> {
    Ok(Response::new("inner".to_owned()))
}

fn peer(id: Option<&str>) -> PeerInfo {
    // A PeerIdentity can only come from a handshake; build one through an in-memory one.
    let Some(id) = id else {
        return PeerInfo::new(None, None);
    };
    let ca = common::Authority::new("a.example");
    let svid = ca.svid_with(id, |_| {});
    let tls = tls_integration::SpiffeTls::new(common::provider());
    let bundles = Arc::new(common::bundle_set(&[&ca]));
    let server = Arc::new(
        tls.mtls_server(Arc::new(svid.clone()), bundles.clone(), IdMatcher::any())
            .unwrap(),
    );
    let client = Arc::new(
        tls.mtls_client(Arc::new(svid), bundles, IdMatcher::any())
            .unwrap(),
    );
    let (_, s) = common::handshake(&client, &server).unwrap();
    PeerInfo::new(None, Some(s.peer().unwrap()))
}

fn request(info: Option<PeerInfo>, grpc: bool) -> Request<()> {
    let mut builder = Request::get("/");
    if grpc {
        builder = builder.header("content-type", "application/grpc+proto");
    }
    let mut request = builder.body(()).unwrap();
    if let Some(info) = info {
        request.extensions_mut().insert(info);
    }
    request
}

#[tokio::test]
async fn require_spiffe_id_passes_matching_peers_only() {
    let layer =
        RequireSpiffeIdLayer::new(IdMatcher::pattern("spiffe://a.example/ns/payments/*").unwrap());
    let service = layer.layer(tower::service_fn(ok));

    let allowed = peer(Some("spiffe://a.example/ns/payments/api"));
    let response = service
        .clone()
        .oneshot(request(Some(allowed), false))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.body(), "inner");

    let other = peer(Some("spiffe://a.example/ns/web/api"));
    let response = service
        .clone()
        .oneshot(request(Some(other.clone()), false))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(response.body(), "");

    // No PeerInfo at all, or a client without certificate: refused too (fail closed).
    for info in [None, Some(peer(None))] {
        let response = service.clone().oneshot(request(info, false)).await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
    }

    // gRPC callers get a trailers-only PERMISSION_DENIED.
    let response = service.oneshot(request(Some(other), true)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["grpc-status"], "7");
    assert_eq!(response.headers()["content-type"], "application/grpc");
}

fn bearer_layer(issuer: &JwtIssuer) -> JwtBearerLayer {
    JwtBearerLayer::new(
        JwtValidator::new(Arc::new(issuer.bundle()), &Crypto::default()).with_result_cache(16),
        Audience::new(["payments"]).unwrap(),
    )
}

#[tokio::test]
async fn jwt_bearer_validates_and_exposes_claims() {
    async fn echo_sub(request: Request<()>) -> Result<Response<String>, Infallible> {
        let sub = request
            .extensions()
            .get::<VerifiedJwtSvid>()
            .map(|j| j.spiffe_id().to_string());
        Ok(Response::new(sub.unwrap_or_default()))
    }
    let issuer = JwtIssuer::new("a.example", "k1");
    let service = bearer_layer(&issuer)
        .require_subject(IdMatcher::member_of("a.example".parse().unwrap()))
        .layer(tower::service_fn(echo_sub));
    let with = |value: &str, grpc: bool| {
        let mut request = request(None, grpc);
        request
            .headers_mut()
            .insert("authorization", value.parse().unwrap());
        request
    };
    let token = issuer.token("spiffe://a.example/web", "payments");

    for scheme in ["Bearer", "bearer", "BEARER"] {
        let response = service
            .clone()
            .oneshot(with(&format!("{scheme} {token}"), false))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{scheme}");
        assert_eq!(response.body(), "spiffe://a.example/web");
    }
    for bad in [
        format!("Basic {token}"),
        "Bearer ".to_owned(),
        token.clone(),
        "Bearer not.a.jwt".to_owned(),
    ] {
        let response = service.clone().oneshot(with(&bad, false)).await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{bad}");
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
    }
    let response = service.clone().oneshot(request(None, true)).await.unwrap();
    assert_eq!(response.headers()["grpc-status"], "16");

    // A valid token of a subject the layer does not accept: forbidden, not unauthenticated.
    let stranger = JwtIssuer::new("b.example", "k2");
    let layer = JwtBearerLayer::new(
        JwtValidator::new(
            Arc::new(
                trust_bundle::BundleSet::from_bundles([
                    trust_bundle::SpiffeBundle::from_parts(
                        trust_bundle::X509Bundle::new("a.example".parse().unwrap()),
                        issuer.bundle(),
                    )
                    .unwrap(),
                    trust_bundle::SpiffeBundle::from_parts(
                        trust_bundle::X509Bundle::new("b.example".parse().unwrap()),
                        stranger.bundle(),
                    )
                    .unwrap(),
                ])
                .unwrap(),
            ),
            &Crypto::default(),
        ),
        Audience::new(["payments"]).unwrap(),
    )
    .require_subject(IdMatcher::member_of("a.example".parse().unwrap()));
    let b_token = stranger.token("spiffe://b.example/web", "payments");
    let mut headers = http::HeaderMap::new();
    headers.insert(
        "authorization",
        format!("Bearer {b_token}").parse().unwrap(),
    );
    assert!(matches!(
        layer.authenticate(&headers, UnixTime::now()),
        Err(Error::Unauthorized { .. })
    ));
    let service = layer.layer(tower::service_fn(echo_sub));
    let response = service
        .oneshot(with(&format!("Bearer {b_token}"), false))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

/// A token whose `sub` names b.example is checked against b.example's keys only, even when
/// a.example's bundle holds the signing key under the same kid (JWT-SVID 4; digest J-9).
#[test]
fn jwt_bearer_binds_subject_trust_domain_to_its_bundle() {
    let issuer = JwtIssuer::new("a.example", "k1");
    let layer = bearer_layer(&issuer);
    let token = issuer.token("spiffe://b.example/web", "payments");
    let mut headers = http::HeaderMap::new();
    headers.insert("authorization", format!("Bearer {token}").parse().unwrap());
    assert!(matches!(
        layer.authenticate(&headers, UnixTime::now()),
        Err(Error::Jwt(_))
    ));
    assert!(matches!(
        layer.authenticate(&http::HeaderMap::new(), UnixTime::now()),
        Err(Error::MissingBearer)
    ));
}
