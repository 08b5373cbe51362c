//! An HTTPS service that authenticates callers by JWT-SVID bearer token.
//!
//! The server presents an X.509-SVID (callers verify it is the payments API) but asks for no
//! client certificate; instead `tls_integration::tower::JwtBearerLayer` requires
//! `Authorization: Bearer <JWT-SVID>` for the audience `payments-api`, validated against the JWT
//! bundle of the token's own trust domain, and a subject in `prod.example`. The handler reads
//! the verified claims from the request extensions.
//!
//! Run: `cargo run -p examples --example jwt-bearer` (it runs to completion by itself).

use std::convert::Infallible;
use std::error::Error;
use std::sync::Arc;

use ca::TestCa;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use hyper_util::service::TowerToHyperService;
use spiffe_id::IdMatcher;
use svid::{Audience, Crypto, JwtValidator, VerifiedJwtSvid};
use tls_integration::SpiffeTls;
use tls_integration::net::{SpiffeAcceptor, SpiffeConnector};
use tls_integration::tower::JwtBearerLayer;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    run().await
}

async fn handler(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    // Only requests with a valid token get here; the layer put the claims in the extensions.
    let body = match request.extensions().get::<VerifiedJwtSvid>() {
        Some(jwt) => format!("hello {} (token for {:?})", jwt.spiffe_id(), jwt.audience()),
        None => "unreachable: the layer refuses requests without a token".to_owned(),
    };
    Ok(Response::new(Full::new(Bytes::from(body))))
}

/// Starts the service, sends a valid and several invalid requests, checks the statuses.
pub async fn run() -> Result<(), Box<dyn Error>> {
    let prod = TestCa::new("prod.example");
    let partner = TestCa::new("partner.example");
    // The one crypto choice: TLS and JWT-SVID validation use the same value.
    let crypto = Crypto::default();
    let tls = SpiffeTls::new(crypto.clone());

    // Server: TLS with its SVID; callers authenticate with JWT-SVIDs of either trust domain,
    // but only prod.example subjects are authorized.
    let jwt_bundles = Arc::new(TestCa::bundle_set_of(&[&prod, &partner]));
    let layer = JwtBearerLayer::new(
        JwtValidator::new(jwt_bundles, &crypto).with_result_cache(1024),
        Audience::new(["payments-api"])?,
    )
    .require_subject(IdMatcher::member_of(prod.trust_domain().clone()));
    let service = tower::ServiceBuilder::new()
        .layer(layer)
        .service_fn(handler);
    let server_config =
        tls.tls_server(Arc::new(Arc::new(prod.x509_svid("/ns/payments/sa/api"))))?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(tls_integration::hyper::serve(
        listener,
        SpiffeAcceptor::new(server_config),
        TowerToHyperService::new(service),
        async {
            let _ = stopped.await;
        },
    ));

    // Client: verifies the server's SVID, presents no certificate.
    let client_config = tls.tls_client(
        Arc::new(prod.bundle_set()),
        IdMatcher::exact(prod.id("/ns/payments/sa/api")),
    )?;
    let client: Client<SpiffeConnector, Empty<Bytes>> =
        Client::builder(TokioExecutor::new()).build(SpiffeConnector::new(client_config));
    let send = |token: Option<String>| {
        let client = client.clone();
        async move {
            let mut request = Request::get(format!("http://{addr}/balance"));
            if let Some(token) = token {
                request = request.header("authorization", format!("Bearer {token}"));
            }
            let response = client.request(request.body(Empty::new())?).await?;
            let status = response.status();
            let body = response.into_body().collect().await?.to_bytes();
            Ok::<_, Box<dyn Error>>((status, String::from_utf8_lossy(&body).into_owned()))
        }
    };

    let token = prod.jwt_svid("/ns/web/sa/frontend", &["payments-api"]);
    let cases = [
        ("valid token", Some(token.clone()), StatusCode::OK),
        ("same token again (cached)", Some(token), StatusCode::OK),
        ("no token", None, StatusCode::UNAUTHORIZED),
        (
            "wrong audience",
            Some(prod.jwt_svid("/ns/web/sa/frontend", &["billing"])),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "expired token",
            Some(prod.expired_jwt_svid("/ns/web/sa/frontend", &["payments-api"])),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "partner subject",
            Some(partner.jwt_svid("/ns/billing/sa/job", &["payments-api"])),
            StatusCode::FORBIDDEN,
        ),
    ];
    for (label, token, expected) in cases {
        let (status, body) = send(token).await?;
        println!("{label:<26} -> {status} {body}");
        assert_eq!(status, expected, "{label}");
    }

    let _ = stop.send(());
    server.await??;
    Ok(())
}
