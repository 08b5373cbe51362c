//! Every fetch fault is a typed error: wrong trust domain, malformed or oversize documents,
//! TLS peers that must be refused, invalid URLs, redirects, and a server that never answers.
//!
//! No test measures time: short configured timeouts only make the tests quick.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests: a panic is a failed test"
)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Reply, Running, WebPki, chunked, crypto, reply, within, write_pair};
use federation::client::{Client, Endpoint, EndpointUrl, Profile};
use federation::endpoint::{BundlePublisher, EndpointTls, WebCertificate};
use federation::{Error, UrlError};
use hyper::body::Bytes;
use trust_bundle::SpiffeBundle;

/// An `https_web` TLS setup for "localhost" by a fresh WebPKI CA, with its files kept alive.
struct Web {
    pki: WebPki,
    tls: EndpointTls,
    _dir: tempfile::TempDir,
}

fn web(names: &[&str]) -> Web {
    let pki = WebPki::new("web");
    let dir = tempfile::tempdir().unwrap();
    let (chain, key, _) = pki.server(names);
    let (chain_path, key_path) = write_pair(dir.path(), &chain, &key);
    let certificate =
        Arc::new(WebCertificate::from_pem_files(chain_path, key_path, &crypto()).unwrap());
    let tls = EndpointTls::https_web(certificate, &crypto()).unwrap();
    Web {
        pki,
        tls,
        _dir: dir,
    }
}

fn web_endpoint(url: EndpointUrl, pki: &WebPki, trust_domain: &str) -> Endpoint {
    Endpoint::new(
        url,
        Profile::HttpsWeb { roots: pki.roots() },
        trust_domain.parse().unwrap(),
    )
}

async fn fetch_with(client: Client, endpoint: &Endpoint) -> Result<SpiffeBundle, Error> {
    within(client.fetch(endpoint))
        .await
        .map(federation::client::Fetched::into_bundle)
}

async fn fetch(endpoint: &Endpoint) -> Result<SpiffeBundle, Error> {
    fetch_with(Client::new(crypto()), endpoint).await
}

/// A raw `https_web` server on "localhost" answering every request with `respond`.
async fn raw_web<F>(respond: F) -> (Running, WebPki)
where
    F: Fn(&hyper::Request<hyper::body::Incoming>) -> Reply + Send + Sync + 'static,
{
    let Web { pki, tls, _dir } = web(&["localhost"]);
    (Running::raw(tls, respond).await, pki)
}

/// Digest 7.2, 7.7: the bundle belongs to the configured trust domain; a document whose
/// authorities are another trust domain's is refused.
#[tokio::test]
async fn rejects_a_bundle_of_another_trust_domain() {
    let b = ca::TestCa::new("b.example");
    let publisher = BundlePublisher::new(SpiffeBundle::clone(&b.bundle()));
    let Web { pki, tls, _dir } = web(&["localhost"]);
    let server = Running::endpoint(tls, publisher.service("/")).await;
    let endpoint = web_endpoint(server.url("localhost", "/"), &pki, "a.example");
    let refused = fetch(&endpoint).await.unwrap_err();
    assert!(
        matches!(&refused, Error::WrongTrustDomain { expected, found }
            if expected.as_str() == "a.example" && found.as_str() == "b.example"),
        "{refused:?}"
    );
    // The same endpoint configured for b.example is fine.
    let endpoint = web_endpoint(server.url("localhost", "/"), &pki, "b.example");
    fetch(&endpoint).await.unwrap();
    server.stop().await;
}

/// Digest 7.3 (the body is a SPIFFE bundle) and 4.4: malformed JSON is refused.
#[tokio::test]
async fn rejects_malformed_json() {
    let (server, pki) =
        raw_web(|_| reply(200, &[("content-type", "application/json")], "{\"keys\": [")).await;
    let endpoint = web_endpoint(server.url("localhost", "/"), &pki, "a.example");
    let refused = fetch(&endpoint).await.unwrap_err();
    assert!(
        matches!(refused, Error::Document(trust_bundle::Error::Json(_))),
        "{refused:?}"
    );
    server.stop().await;
}

/// A body over the configured bound is refused, whether its length is declared or it is
/// sent chunked.
#[tokio::test]
async fn rejects_an_oversize_response() {
    let (server, pki) = raw_web(|request| {
        // 16 KiB either way, over the client's 8 KiB.
        if request.uri().path() == "/declared" {
            reply(200, &[], Bytes::from(vec![b' '; 16 * 1024]))
        } else {
            chunked(200, Bytes::from(vec![b' '; 1024]), 16)
        }
    })
    .await;
    for path in ["/declared", "/chunked"] {
        let endpoint = web_endpoint(server.url("localhost", path), &pki, "a.example");
        let client = Client::new(crypto()).with_max_response_bytes(8 * 1024);
        let refused = fetch_with(client, &endpoint).await.unwrap_err();
        assert!(
            matches!(refused, Error::TooLarge { max: 8192 }),
            "{path}: {refused:?}"
        );
    }
    server.stop().await;
}

/// Digest 7.4: the endpoint's SPIFFE ID must equal the configured one exactly.
#[tokio::test]
async fn rejects_an_endpoint_with_another_spiffe_id() {
    let a = ca::TestCa::new("a.example");
    let publisher = BundlePublisher::new(SpiffeBundle::clone(&a.bundle()));
    let svid = Arc::new(a.x509_svid("/federation/impostor"));
    let tls = EndpointTls::https_spiffe(Arc::new(svid), &crypto()).unwrap();
    let server = Running::endpoint(tls, publisher.service("/")).await;
    let endpoint = Endpoint::new(
        server.url("127.0.0.1", "/"),
        Profile::HttpsSpiffe {
            endpoint_id: a.id("/federation/endpoint"),
            bundle: a.x509_bundle(),
        },
        a.trust_domain().clone(),
    );
    let refused = fetch(&endpoint).await.unwrap_err();
    let Error::EndpointIdentity(reason) = &refused else {
        panic!("{refused:?}")
    };
    assert!(
        matches!(
            reason.verifier_error(),
            Some(tls_integration::Error::Unauthorized { spiffe_id, .. })
                if spiffe_id == &a.id("/federation/impostor")
        ),
        "{refused:?}"
    );
    server.stop().await;
}

/// Digest 7.4: the endpoint's SVID must verify against the bundle of the endpoint ID's trust
/// domain; an SVID of a look-alike CA of the same name is refused.
#[tokio::test]
async fn rejects_an_endpoint_svid_of_an_unknown_ca() {
    let a = ca::TestCa::new("a.example");
    let impostor = ca::TestCa::new("a.example");
    let publisher = BundlePublisher::new(SpiffeBundle::clone(&a.bundle()));
    let svid = Arc::new(impostor.x509_svid("/federation/endpoint"));
    let tls = EndpointTls::https_spiffe(Arc::new(svid), &crypto()).unwrap();
    let server = Running::endpoint(tls, publisher.service("/")).await;
    let endpoint = Endpoint::new(
        server.url("127.0.0.1", "/"),
        Profile::HttpsSpiffe {
            endpoint_id: a.id("/federation/endpoint"),
            bundle: a.x509_bundle(),
        },
        a.trust_domain().clone(),
    );
    let refused = fetch(&endpoint).await.unwrap_err();
    assert!(matches!(refused, Error::EndpointIdentity(_)), "{refused:?}");
    server.stop().await;
}

/// Digest 7.3 (RFC 6125): the certificate must name the URL's host.
#[tokio::test]
async fn rejects_a_webpki_name_mismatch() {
    let a = ca::TestCa::new("a.example");
    let publisher = BundlePublisher::new(SpiffeBundle::clone(&a.bundle()));
    let Web { pki, tls, _dir } = web(&["other.example"]);
    let server = Running::endpoint(tls, publisher.service("/")).await;
    let endpoint = web_endpoint(server.url("localhost", "/"), &pki, "a.example");
    let refused = fetch(&endpoint).await.unwrap_err();
    assert!(
        matches!(
            refused,
            Error::Tls(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
                    | rustls::CertificateError::NotValidForNameContext { .. }
            ))
        ),
        "{refused:?}"
    );
    server.stop().await;
}

/// Digest 7.3: the certificate must chain to a root the client was given (never the OS store).
#[tokio::test]
async fn rejects_a_webpki_certificate_of_an_unknown_ca() {
    let a = ca::TestCa::new("a.example");
    let publisher = BundlePublisher::new(SpiffeBundle::clone(&a.bundle()));
    let Web { tls, _dir, .. } = web(&["localhost"]);
    let server = Running::endpoint(tls, publisher.service("/")).await;
    let stranger = WebPki::new("stranger");
    let endpoint = web_endpoint(server.url("localhost", "/"), &stranger, "a.example");
    let refused = fetch(&endpoint).await.unwrap_err();
    assert!(
        matches!(
            refused,
            Error::Tls(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer
            ))
        ),
        "{refused:?}"
    );
    server.stop().await;
}

/// Digest 7.3: the URL's scheme is https and it carries no userinfo.
#[test]
fn rejects_http_and_userinfo_urls() {
    assert_eq!(
        "http://127.0.0.1:8443/bundle".parse::<EndpointUrl>(),
        Err(UrlError::NotHttps)
    );
    assert_eq!(
        "https://operator:secret@127.0.0.1:8443/bundle".parse::<EndpointUrl>(),
        Err(UrlError::UserInfo)
    );
}

/// The total time of a fetch is bounded: a peer that accepts TCP but never speaks TLS, and
/// one that completes TLS but never answers the request.
#[tokio::test]
async fn gives_up_on_a_server_that_never_answers() {
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    let (server, pki) = raw_web(|_| Reply::Never).await;
    let urls = [
        format!("https://localhost:{port}/").parse().unwrap(),
        server.url("localhost", "/"),
    ];
    for url in urls {
        let endpoint = web_endpoint(url, &pki, "a.example");
        let client = Client::new(crypto()).with_timeout(Duration::from_millis(300));
        let refused = fetch_with(client, &endpoint).await.unwrap_err();
        assert!(matches!(refused, Error::Timeout { .. }), "{refused:?}");
    }
    drop(silent);
    server.stop().await;
}

/// Digest 7.3: redirects to valid endpoint URLs are followed with the same checks, a bounded
/// number of times; a redirect to an `http` URL is refused.
#[tokio::test]
async fn follows_valid_redirects_and_refuses_the_others() {
    let a = ca::TestCa::new("a.example");
    let document = SpiffeBundle::clone(&a.bundle()).with_sequence(3).to_json();
    let (server, pki) = raw_web(move |request| match request.uri().path() {
        "/bundle" => reply(200, &[], document.clone()),
        "/moved" => reply(307, &[("location", "/bundle")], ""),
        "/loop" => reply(302, &[("location", "/loop")], ""),
        "/plain" => reply(301, &[("location", "http://localhost/bundle")], ""),
        "/nowhere" => reply(307, &[], ""),
        _ => reply(404, &[], ""),
    })
    .await;
    let endpoint = |path| web_endpoint(server.url("localhost", path), &pki, "a.example");

    let fetched = fetch(&endpoint("/moved")).await.unwrap();
    assert_eq!(fetched.sequence(), Some(3));
    let refused = fetch_with(
        Client::new(crypto()).with_max_redirects(0),
        &endpoint("/moved"),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(refused, Error::TooManyRedirects { max: 0 }),
        "{refused:?}"
    );
    let refused = fetch(&endpoint("/loop")).await.unwrap_err();
    assert!(
        matches!(refused, Error::TooManyRedirects { max: 3 }),
        "{refused:?}"
    );
    let refused = fetch(&endpoint("/plain")).await.unwrap_err();
    assert!(
        matches!(refused, Error::Url(UrlError::NotHttps)),
        "{refused:?}"
    );
    let refused = fetch(&endpoint("/nowhere")).await.unwrap_err();
    assert!(matches!(refused, Error::BadRedirect), "{refused:?}");
    let refused = fetch(&endpoint("/missing")).await.unwrap_err();
    assert!(
        matches!(refused, Error::Status { status } if status == 404),
        "{refused:?}"
    );
    server.stop().await;
}

/// Digest 7.4: under `https_spiffe` a redirect target must present the same SPIFFE ID.
#[tokio::test]
async fn refuses_a_redirect_to_an_endpoint_with_another_spiffe_id() {
    let a = ca::TestCa::new("a.example");
    let publisher = BundlePublisher::new(SpiffeBundle::clone(&a.bundle()));
    let other = Arc::new(a.x509_svid("/federation/other"));
    let target = Running::endpoint(
        EndpointTls::https_spiffe(Arc::new(other), &crypto()).unwrap(),
        publisher.service("/bundle"),
    )
    .await;
    let location = format!("https://127.0.0.1:{}/bundle", target.addr.port());
    let svid = Arc::new(a.x509_svid("/federation/endpoint"));
    let origin = Running::raw(
        EndpointTls::https_spiffe(Arc::new(svid), &crypto()).unwrap(),
        move |_| reply(307, &[("location", location.as_str())], ""),
    )
    .await;
    let endpoint = Endpoint::new(
        origin.url("127.0.0.1", "/"),
        Profile::HttpsSpiffe {
            endpoint_id: a.id("/federation/endpoint"),
            bundle: a.x509_bundle(),
        },
        a.trust_domain().clone(),
    );
    let refused = fetch(&endpoint).await.unwrap_err();
    assert!(matches!(refused, Error::EndpointIdentity(_)), "{refused:?}");
    origin.stop().await;
    target.stop().await;
}
