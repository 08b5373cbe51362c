//! gRPC over SPIFFE mTLS with tonic: the server accepts only the payments namespace, reads each
//! caller's SPIFFE ID in its handler, and rotates its SVID without restarting.
//!
//! tonic's own TLS can neither rotate certificates nor check SPIFFE IDs, so the server takes
//! authenticated connections from `tls_integration::tonic::incoming` and the client dials
//! through `tls_integration::net::SpiffeConnector` (the endpoint URI says `http`: TLS is done
//! by the connector). The gRPC service is written by hand here so the example needs no protoc.
//!
//! Run: `cargo run -p examples --example tonic-mtls` (it runs to completion by itself).

use std::error::Error;
use std::sync::{Arc, RwLock};

use ca::TestCa;
use spiffe_id::{IdMatcher, TrustDomain};
use svid::{X509Svid, X509SvidSource};
use tls_integration::SpiffeTls;
use tls_integration::net::{SpiffeAcceptor, SpiffeConnector};
use trust_bundle::{BundleSet, X509Bundle, X509BundleSource};

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    run().await
}

/// Starts the server, makes the calls, rotates, shuts down.
pub async fn run() -> Result<(), Box<dyn Error>> {
    let ca = TestCa::new("prod.example");
    let bundles = Arc::new(ca.bundle_set());
    let tls = SpiffeTls::new(svid::Crypto::default());

    // The server: its SVID and bundles come from a source that is updated while it runs (a
    // Workload API client does this for real).
    let server_source = Arc::new(Live::new(
        ca.x509_svid("/ns/payments/sa/ledger"),
        ca.bundle_set(),
    ));
    let server_config = tls.mtls_server(
        server_source.clone(),
        server_source.clone(),
        IdMatcher::pattern("spiffe://prod.example/ns/payments/**")?,
    )?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let incoming = tls_integration::tonic::incoming(listener, SpiffeAcceptor::new(server_config));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(greeter::Greeter)
            .serve_with_incoming_shutdown(incoming, async {
                let _ = stopped.await;
            }),
    );
    println!("ledger serving gRPC on {addr}, accepting spiffe://prod.example/ns/payments/**");

    // A client in the payments namespace that only talks to the ledger.
    let call = |svid: X509Svid| {
        let config = tls.mtls_client(
            Arc::new(Arc::new(svid)),
            bundles.clone(),
            IdMatcher::exact(ca.id("/ns/payments/sa/ledger")),
        );
        async move {
            let connector = SpiffeConnector::new(config?);
            let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))?
                .connect_with_connector(connector)
                .await?;
            Ok::<_, Box<dyn Error>>(greeter::say(channel).await?)
        }
    };

    let reply = call(ca.x509_svid("/ns/payments/sa/api")).await?;
    println!("payments/api -> {reply}");
    assert_eq!(reply, "hello spiffe://prod.example/ns/payments/sa/api");

    let refused = call(ca.x509_svid("/ns/web/sa/frontend")).await;
    println!(
        "web/frontend -> refused: {}",
        refused
            .as_ref()
            .err()
            .map_or_else(String::new, ToString::to_string)
    );
    assert!(refused.is_err());

    // Rotation: a new CA key (the old one stays in the bundle, retired), a new server SVID;
    // no restart, no new ServerConfig.
    ca.rotate();
    server_source.update(ca.x509_svid("/ns/payments/sa/ledger"), ca.bundle_set());
    let bundles = Arc::new(ca.bundle_set());
    let config = tls.mtls_client(
        Arc::new(Arc::new(ca.x509_svid("/ns/payments/sa/api"))),
        bundles,
        IdMatcher::exact(ca.id("/ns/payments/sa/ledger")),
    )?;
    let connector = SpiffeConnector::new(config);
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))?
        .connect_with_connector(connector)
        .await?;
    println!(
        "after rotation: payments/api -> {}",
        greeter::say(channel).await?
    );

    let _ = stop.send(());
    server.await??;
    println!("server stopped");
    Ok(())
}

/// The server's SVID and bundles, replaced together on rotation.
struct Live {
    svid: RwLock<Arc<X509Svid>>,
    bundles: RwLock<Arc<BundleSet>>,
}

impl Live {
    fn new(svid: X509Svid, bundles: BundleSet) -> Self {
        Self {
            svid: RwLock::new(Arc::new(svid)),
            bundles: RwLock::new(Arc::new(bundles)),
        }
    }

    fn update(&self, svid: X509Svid, bundles: BundleSet) {
        if let Ok(mut current) = self.bundles.write() {
            *current = Arc::new(bundles);
        }
        if let Ok(mut current) = self.svid.write() {
            *current = Arc::new(svid);
        }
    }
}

impl X509SvidSource for Live {
    fn x509_svid(&self) -> Option<Arc<X509Svid>> {
        self.svid.read().ok().map(|svid| Arc::clone(&svid))
    }
}

impl X509BundleSource for Live {
    fn x509_bundle(&self, trust_domain: &TrustDomain) -> Option<Arc<X509Bundle>> {
        self.bundles.read().ok()?.x509_bundle(trust_domain)
    }

    fn generation(&self) -> u64 {
        self.bundles
            .read()
            .map_or(0, |set| X509BundleSource::generation(&**set))
    }
}

mod greeter {
    //! `example.Greeter/Say`, answering with the caller's verified SPIFFE ID.

    use std::convert::Infallible;
    use std::future::{Ready, ready};
    use std::pin::Pin;

    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct Hello {
        #[prost(string, tag = "1")]
        pub(crate) text: String,
    }

    #[derive(Clone, Debug)]
    pub(crate) struct Greeter;

    impl tonic::server::NamedService for Greeter {
        const NAME: &'static str = "example.Greeter";
    }

    struct Say;

    impl tonic::server::UnaryService<Hello> for Say {
        type Response = Hello;
        type Future = Ready<Result<tonic::Response<Hello>, tonic::Status>>;

        fn call(&mut self, request: tonic::Request<Hello>) -> Self::Future {
            // The caller's identity, verified during the handshake.
            let reply = match tls_integration::tonic::peer_spiffe_id(&request) {
                Some(caller) => Ok(tonic::Response::new(Hello {
                    text: format!("hello {caller}"),
                })),
                None => Err(tonic::Status::unauthenticated("no SPIFFE ID")),
            };
            ready(reply)
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
                let codec = tonic_prost::ProstCodec::<Hello, Hello>::default();
                Ok(tonic::server::Grpc::new(codec).unary(Say, request).await)
            })
        }
    }

    pub(crate) async fn say(channel: tonic::transport::Channel) -> Result<String, tonic::Status> {
        let mut client = tonic::client::Grpc::new(channel);
        client
            .ready()
            .await
            .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
        let response = client
            .unary(
                tonic::Request::new(Hello::default()),
                http::uri::PathAndQuery::from_static("/example.Greeter/Say"),
                tonic_prost::ProstCodec::<Hello, Hello>::default(),
            )
            .await?;
        Ok(response.into_inner().text)
    }
}
