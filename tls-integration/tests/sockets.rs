//! End-to-end over real TCP sockets on 127.0.0.1: a raw echo server behind
//! [`SpiffeAcceptor`], hyper with the accept loop and connector, tonic with `incoming` and the
//! connector, and the tower layers. A refused client is judged by the response it gets (in
//! TLS 1.3 its own handshake may finish before the server refuses it).

#![cfg(all(feature = "hyper", feature = "tonic", feature = "tower"))]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests: a panic is a failed test"
)]

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, LazyLock};

use common::{Authority, JwtIssuer, SwapBundles, SwapSvid, bundle_set};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use spiffe_id::{IdMatcher, SpiffeId};
use svid::{Audience, Crypto, JwtValidator, VerifiedJwtSvid};
use tls_integration::net::{SpiffeAcceptor, SpiffeConnector};
use tls_integration::tower::{JwtBearerLayer, RequireSpiffeIdLayer};
use tls_integration::{
    PeerInfo, SpiffeClientConfig, SpiffeServerConfig, SpiffeTls, danger::AnyPeer,
};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use trust_bundle::BundleSet;

struct World {
    a: Authority,
    b: Authority,
    a_web: Arc<svid::X509Svid>,
    a_api: Arc<svid::X509Svid>,
    b_client: Arc<svid::X509Svid>,
}

static WORLD: LazyLock<World> = LazyLock::new(|| {
    let a = Authority::new("a.example");
    let b = Authority::new("b.example");
    World {
        a_web: a.svid("/web"),
        a_api: a.svid("/api"),
        b_client: b.svid("/client"),
        a,
        b,
    }
});

fn tls() -> SpiffeTls {
    SpiffeTls::new(common::provider())
}

fn both() -> Arc<BundleSet> {
    Arc::new(bundle_set(&[&WORLD.a, &WORLD.b]))
}

/// An echo server: each authenticated connection reads one line and answers
/// "hello <peer SPIFFE ID>". Returns its address.
async fn echo_server(config: impl Into<SpiffeServerConfig>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = SpiffeAcceptor::new(config);
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept_tcp(tcp).await else {
                    return;
                };
                let peer = tls
                    .peer_info()
                    .spiffe_id()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                let mut lines = BufReader::new(tls);
                let mut line = String::new();
                if lines.read_line(&mut line).await.is_ok() {
                    let _ = lines
                        .get_mut()
                        .write_all(format!("hello {peer}\n").as_bytes())
                        .await;
                    let _ = lines.get_mut().shutdown().await;
                }
            });
        }
    });
    addr
}

/// Connects with `config`, says one line, and returns the server's answer, or `None` if the
/// server refused (handshake error, reset or EOF without an answer).
async fn talk(config: impl Into<SpiffeClientConfig>, addr: SocketAddr) -> Option<String> {
    let connector = tokio_rustls::TlsConnector::from(config.into().for_connection().0);
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("workload.invalid").unwrap();
    let mut tls = connector.connect(name, tcp).await.ok()?;
    tls.write_all(b"hi\n").await.ok()?;
    let mut answer = String::new();
    BufReader::new(tls).read_line(&mut answer).await.ok()?;
    (!answer.is_empty()).then(|| answer.trim_end().to_owned())
}

/// A client presenting an arbitrary chain and key, accepting any SPIFFE server.
fn raw_client(chain: Vec<CertificateDer<'static>>, key: Vec<u8>) -> rustls::ClientConfig {
    let provider = common::provider();
    let verifier = tls_integration::SpiffeServerVerifier::new(both(), AnyPeer, &provider);
    rustls::ClientConfig::builder_with_provider(Arc::clone(provider.provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_client_auth_cert(chain, PrivateKeyDer::Pkcs8(key.into()))
        .unwrap()
}

fn id(s: &str) -> SpiffeId {
    s.parse().unwrap()
}

#[tokio::test]
async fn mtls_over_sockets_accepts_and_refuses() {
    let tls = tls();
    let server_svid = SwapSvid::new(WORLD.a_web.clone());
    let bundles = SwapBundles::new(bundle_set(&[&WORLD.a, &WORLD.b]));
    let addr = echo_server(
        tls.mtls_server(
            server_svid.clone(),
            bundles.clone(),
            IdMatcher::any_of([
                IdMatcher::pattern("spiffe://a.example/*").unwrap(),
                IdMatcher::exact(id("spiffe://b.example/client")),
            ]),
        )
        .unwrap(),
    )
    .await;
    let client = |svid: &Arc<svid::X509Svid>| {
        tls.mtls_client(
            Arc::new(svid.clone()),
            both(),
            IdMatcher::pattern("spiffe://a.example/*").unwrap(),
        )
        .unwrap()
    };

    // Allowed peer.
    assert_eq!(
        talk(client(&WORLD.a_api), addr).await.as_deref(),
        Some("hello spiffe://a.example/api")
    );

    // Wrong SPIFFE ID: verifies, but the authorizer refuses it.
    let intruder = WORLD.a.svid("/ns/other/sa/x");
    assert_eq!(talk(client(&intruder), addr).await, None);

    // Wrong trust domain: b.example ID signed by a.example's CA, both bundles loaded.
    let (chain, key) = WORLD.a.leaf_with("spiffe://b.example/client", |_| {});
    assert_eq!(talk(raw_client(chain, key), addr).await, None);

    // A CA certificate presented as the leaf.
    let (chain, key) = WORLD.a.leaf_with("spiffe://a.example/ca", |p| {
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        p.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
    });
    assert_eq!(talk(raw_client(chain, key), addr).await, None);

    // Expired SVID.
    let (chain, key) = WORLD.a.leaf_with("spiffe://a.example/api", |p| {
        p.not_after = rcgen::date_time_ymd(2021, 1, 1);
    });
    assert_eq!(talk(raw_client(chain, key), addr).await, None);

    // SVID rotated mid-run: the next connection sees the new certificate.
    let rotated = WORLD.a.svid("/web");
    server_svid.set(rotated.clone());
    let connector = tokio_rustls::TlsConnector::from(client(&WORLD.a_api).for_connection().0);
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let conn = connector
        .connect(
            rustls::pki_types::ServerName::try_from("x.invalid").unwrap(),
            tcp,
        )
        .await
        .unwrap();
    assert_eq!(
        conn.get_ref().1.peer_certificates().unwrap()[0],
        rotated.chain()[0]
    );
    drop(conn);

    // Federated peer: accepted with its bundle, refused once defederated (bundle rotated
    // mid-run), accepted again when it comes back.
    assert_eq!(
        talk(client(&WORLD.b_client), addr).await.as_deref(),
        Some("hello spiffe://b.example/client")
    );
    bundles.set(bundle_set(&[&WORLD.a]));
    assert_eq!(talk(client(&WORLD.b_client), addr).await, None);
    bundles.set(bundle_set(&[&WORLD.a, &WORLD.b]));
    assert!(talk(client(&WORLD.b_client), addr).await.is_some());

    // a.example's authority rotated away: its old SVIDs are refused.
    let next = Authority::new("a.example");
    bundles.set(bundle_set(&[&next, &WORLD.b]));
    assert_eq!(talk(client(&WORLD.a_api), addr).await, None);
    assert_eq!(
        talk(client(&next.svid("/api")), addr).await.as_deref(),
        Some("hello spiffe://a.example/api"),
        "SVIDs of the new authority are accepted"
    );
}

async fn hello(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let caller = request
        .extensions()
        .get::<PeerInfo>()
        .and_then(PeerInfo::spiffe_id)
        .map_or_else(|| "anonymous".to_owned(), ToString::to_string);
    let subject = request
        .extensions()
        .get::<VerifiedJwtSvid>()
        .map(|jwt| format!(" jwt={}", jwt.spiffe_id()))
        .unwrap_or_default();
    Ok(Response::new(Full::new(Bytes::from(format!(
        "hello {caller}{subject}"
    )))))
}

async fn hyper_server<S>(
    config: impl Into<SpiffeServerConfig>,
    service: S,
) -> (
    SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
)
where
    S: hyper::service::Service<
            Request<Incoming>,
            Response = Response<Full<Bytes>>,
            Error = Infallible,
        > + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(tls_integration::hyper::serve(
        listener,
        SpiffeAcceptor::new(config),
        service,
        async move {
            let _ = stopped.await;
        },
    ));
    (addr, stop, server)
}

fn http_client(config: impl Into<SpiffeClientConfig>) -> Client<SpiffeConnector, Empty<Bytes>> {
    Client::builder(TokioExecutor::new()).build(SpiffeConnector::new(config))
}

async fn body(response: Response<Incoming>) -> String {
    String::from_utf8(
        response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap()
}

#[tokio::test]
async fn hyper_serve_puts_peer_identity_in_extensions_and_stops() {
    let tls = tls();
    let config = tls
        .mtls_server(
            Arc::new(WORLD.a_web.clone()),
            both(),
            IdMatcher::member_of("a.example".parse().unwrap()),
        )
        .unwrap();
    let (addr, stop, server) = hyper_server(config, hyper::service::service_fn(hello)).await;
    let uri: http::Uri = format!("http://{addr}/").parse().unwrap();

    let client = http_client(
        tls.mtls_client(
            Arc::new(WORLD.a_api.clone()),
            both(),
            IdMatcher::exact(id("spiffe://a.example/web")),
        )
        .unwrap(),
    );
    let response = client.get(uri.clone()).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // The connector's PeerInfo reaches the response: the server's verified ID.
    assert_eq!(
        response
            .extensions()
            .get::<PeerInfo>()
            .and_then(PeerInfo::spiffe_id),
        Some(&id("spiffe://a.example/web"))
    );
    assert_eq!(body(response).await, "hello spiffe://a.example/api");

    // A client from another trust domain is refused by the server's authorizer.
    let refused = http_client(
        tls.mtls_client(Arc::new(WORLD.b_client.clone()), both(), IdMatcher::any())
            .unwrap(),
    );
    assert!(refused.get(uri.clone()).await.is_err());

    // A client whose authorizer refuses the server never sends the request.
    let picky = http_client(
        tls.mtls_client(
            Arc::new(WORLD.a_api.clone()),
            both(),
            IdMatcher::exact(id("spiffe://a.example/db")),
        )
        .unwrap(),
    );
    assert!(picky.get(uri).await.is_err());

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn require_spiffe_id_layer_answers_403() {
    let tls = tls();
    let service = tower::ServiceBuilder::new()
        .layer(RequireSpiffeIdLayer::new(IdMatcher::exact(id(
            "spiffe://a.example/api",
        ))))
        .service_fn(hello);
    let config = tls
        .mtls_server(Arc::new(WORLD.a_web.clone()), both(), AnyPeer)
        .unwrap();
    let (addr, _stop, _server) = hyper_server(
        config,
        hyper_util::service::TowerToHyperService::new(service),
    )
    .await;
    let uri: http::Uri = format!("http://{addr}/").parse().unwrap();

    let allowed = http_client(
        tls.mtls_client(Arc::new(WORLD.a_api.clone()), both(), AnyPeer)
            .unwrap(),
    );
    let response = allowed.get(uri.clone()).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let other = http_client(
        tls.mtls_client(Arc::new(WORLD.b_client.clone()), both(), AnyPeer)
            .unwrap(),
    );
    assert_eq!(
        other.get(uri).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn jwt_bearer_layer_over_tls() {
    let tls = tls();
    let issuer = JwtIssuer::new("a.example", "k1");
    let jwt_bundles = Arc::new(issuer.bundle());
    let layer = JwtBearerLayer::new(
        JwtValidator::new(jwt_bundles, &Crypto::default()).with_result_cache(64),
        Audience::new(["payments"]).unwrap(),
    )
    .require_subject(IdMatcher::pattern("spiffe://a.example/ns/*").unwrap());
    let service = tower::ServiceBuilder::new().layer(layer).service_fn(hello);
    // TLS server with an SVID; the client is not asked for a certificate.
    let config = tls.tls_server(Arc::new(WORLD.a_web.clone())).unwrap();
    let (addr, _stop, _server) = hyper_server(
        config,
        hyper_util::service::TowerToHyperService::new(service),
    )
    .await;
    let client = http_client(
        tls.tls_client(both(), IdMatcher::exact(id("spiffe://a.example/web")))
            .unwrap(),
    );
    let request = |token: Option<String>| {
        let mut builder = Request::get(format!("http://{addr}/"));
        if let Some(token) = token {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        builder.body(Empty::<Bytes>::new()).unwrap()
    };

    let good = issuer.token("spiffe://a.example/ns/web", "payments");
    let response = client.request(request(Some(good.clone()))).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        body(response).await,
        "hello anonymous jwt=spiffe://a.example/ns/web"
    );
    // Repeated token (served from the validator's cache) still works.
    assert_eq!(
        client.request(request(Some(good))).await.unwrap().status(),
        StatusCode::OK
    );

    let missing = client.request(request(None)).await.unwrap();
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(missing.headers()["www-authenticate"], "Bearer");
    let wrong_aud = issuer.token("spiffe://a.example/ns/web", "billing");
    assert_eq!(
        client
            .request(request(Some(wrong_aud)))
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let expired = issuer.token_with("spiffe://a.example/ns/web", "payments", 1_600_000_000);
    assert_eq!(
        client
            .request(request(Some(expired)))
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let forged = JwtIssuer::new("a.example", "k1").token("spiffe://a.example/ns/web", "payments");
    assert_eq!(
        client
            .request(request(Some(forged)))
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let wrong_sub = issuer.token("spiffe://a.example/db", "payments");
    assert_eq!(
        client
            .request(request(Some(wrong_sub)))
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
}

mod grpc {
    //! A one-method gRPC service written by hand (no protoc): `test.Greeter/Say` answers with
    //! the caller's SPIFFE ID.

    use std::convert::Infallible;
    use std::future::{Ready, ready};
    use std::pin::Pin;

    #[derive(Clone, PartialEq, prost::Message)]
    pub(super) struct Hello {
        #[prost(string, tag = "1")]
        pub(super) name: String,
    }

    #[derive(Clone, Debug)]
    pub(super) struct Greeter;

    impl tonic::server::NamedService for Greeter {
        const NAME: &'static str = "test.Greeter";
    }

    struct Say;

    impl tonic::server::UnaryService<Hello> for Say {
        type Response = Hello;
        type Future = Ready<Result<tonic::Response<Hello>, tonic::Status>>;

        fn call(&mut self, request: tonic::Request<Hello>) -> Self::Future {
            let caller = tls_integration::tonic::peer_spiffe_id(&request)
                .map(ToString::to_string)
                .unwrap_or_default();
            ready(Ok(tonic::Response::new(Hello { name: caller })))
        }
    }

    impl tower::Service<http::Request<tonic::body::Body>> for Greeter {
        type Response = http::Response<tonic::body::Body>;
        type Error = Infallible;
        type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

        fn poll_ready(
            &mut self,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Result<(), Infallible>> {
            std::task::Poll::Ready(Ok(()))
        }

        fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
            Box::pin(async move {
                let mut grpc =
                    tonic::server::Grpc::new(tonic_prost::ProstCodec::<Hello, Hello>::default());
                Ok(grpc.unary(Say, request).await)
            })
        }
    }

    pub(super) async fn say(channel: tonic::transport::Channel) -> Result<String, tonic::Status> {
        let mut client = tonic::client::Grpc::new(channel);
        client
            .ready()
            .await
            .map_err(|e| tonic::Status::unknown(e.to_string()))?;
        let response = client
            .unary(
                tonic::Request::new(Hello {
                    name: String::new(),
                }),
                http::uri::PathAndQuery::from_static("/test.Greeter/Say"),
                tonic_prost::ProstCodec::<Hello, Hello>::default(),
            )
            .await?;
        Ok(response.into_inner().name)
    }
}

#[tokio::test]
async fn tonic_server_and_client_with_spiffe_ids() {
    let tls = tls();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server_config = tls
        .mtls_server(Arc::new(WORLD.a_web.clone()), both(), AnyPeer)
        .unwrap();
    let incoming =
        tls_integration::tonic::incoming(listener, SpiffeAcceptor::new(Arc::new(server_config)));
    let mut builder = tonic::transport::Server::builder().layer(RequireSpiffeIdLayer::new(
        IdMatcher::member_of("a.example".parse().unwrap()),
    ));
    tokio::spawn(
        builder
            .add_service(grpc::Greeter)
            .serve_with_incoming(incoming),
    );
    let channel = |svid: &Arc<svid::X509Svid>| {
        let config = tls
            .mtls_client(
                Arc::new(svid.clone()),
                both(),
                IdMatcher::exact(id("spiffe://a.example/web")),
            )
            .unwrap();
        let connector = SpiffeConnector::new(Arc::new(config));
        async move {
            tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
                .unwrap()
                .connect_with_connector(connector)
                .await
        }
    };

    let allowed = channel(&WORLD.a_api).await.unwrap();
    assert_eq!(grpc::say(allowed).await.unwrap(), "spiffe://a.example/api");

    // b.example passes the handshake (AnyPeer) but not the layer: PermissionDenied.
    let other = channel(&WORLD.b_client).await.unwrap();
    let status = grpc::say(other).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::PermissionDenied, "{status:?}");

    // A client whose server authorizer refuses the server cannot connect at all.
    let config = tls
        .mtls_client(
            Arc::new(WORLD.a_api.clone()),
            both(),
            IdMatcher::exact(id("spiffe://a.example/db")),
        )
        .unwrap();
    let refused = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_with_connector(SpiffeConnector::new(Arc::new(config)))
        .await;
    assert!(refused.is_err());
}

/// A refused handshake's cause is recoverable from the acceptor's error (for logs).
#[tokio::test]
async fn acceptor_error_names_the_refusal() {
    let tls = tls();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = SpiffeAcceptor::new(Arc::new(
        tls.mtls_server(
            Arc::new(WORLD.a_web.clone()),
            both(),
            IdMatcher::exact(id("spiffe://a.example/api")),
        )
        .unwrap(),
    ));
    let client = tls
        .mtls_client(Arc::new(WORLD.b_client.clone()), both(), IdMatcher::any())
        .unwrap();
    let talking = tokio::spawn(talk(client, addr));
    let (tcp, _) = listener.accept().await.unwrap();
    let error = acceptor.accept_tcp(tcp).await.unwrap_err();
    match error.verifier_error() {
        Some(tls_integration::Error::Unauthorized { spiffe_id, .. }) => {
            assert_eq!(spiffe_id, &id("spiffe://b.example/client"));
        }
        other => panic!("{error:?} -> {other:?}"),
    }
    assert_eq!(talking.await.unwrap(), None);
}

/// A server config with rustls' own WebPKI client verifier (not ours) over the same roots: its
/// handshakes succeed, but the client's URI SAN never becomes a verified SPIFFE ID, so the
/// handler sees an anonymous caller and `RequireSpiffeIdLayer` refuses it (issue 12 §6).
#[tokio::test]
async fn a_leaf_only_another_verifier_accepted_has_no_spiffe_identity() {
    let provider = common::provider();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(WORLD.a.root.clone()).unwrap();
    let webpki = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        Arc::clone(provider.provider()),
    )
    .build()
    .unwrap();
    let server_svid = &WORLD.a_web;
    let config = rustls::ServerConfig::builder_with_provider(Arc::clone(provider.provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(webpki)
        .with_single_cert(
            server_svid.chain().to_vec(),
            server_svid.private_key().to_private_key_der().clone_key(),
        )
        .unwrap();
    let service = tower::ServiceBuilder::new()
        .layer(RequireSpiffeIdLayer::new(IdMatcher::any()))
        .service_fn(hello);
    let (addr, _stop, _server) = hyper_server(
        config.clone(),
        hyper_util::service::TowerToHyperService::new(service),
    )
    .await;
    let (open_addr, _stop_open, _server_open) =
        hyper_server(config, hyper::service::service_fn(hello)).await;

    // A leaf minted here, so no verifier of ours has seen it in this process.
    let unseen = WORLD.a.svid("/never-verified-by-spiffe");
    let client = |svid: Arc<svid::X509Svid>| {
        http_client(tls().mtls_client(Arc::new(svid), both(), AnyPeer).unwrap())
    };
    let refused = client(Arc::clone(&unseen))
        .get(format!("http://{addr}/").parse().unwrap())
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let anonymous = client(unseen)
        .get(format!("http://{open_addr}/").parse().unwrap())
        .await
        .unwrap();
    assert_eq!(body(anonymous).await, "hello anonymous");
}
