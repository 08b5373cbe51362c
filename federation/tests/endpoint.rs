//! Our client against our endpoint over real TLS on 127.0.0.1, with both profiles; the
//! `https_web` certificate reloaded from files; the `https_spiffe` SVID rotated; `curl` as an
//! independent client.
//!
//! No test measures time: `within` only turns a hang into a failure.

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

use common::{RotatingSvid, Running, WebPki, crypto, within, write_pair};
use federation::client::{Client, Endpoint, Fetched, Profile};
use federation::endpoint::{BundlePublisher, EndpointTls, WebCertificate};
use trust_bundle::SpiffeBundle;

fn bundle_of(ca: &ca::TestCa, sequence: u64) -> SpiffeBundle {
    SpiffeBundle::clone(&ca.bundle())
        .with_sequence(sequence)
        .with_refresh_hint(Duration::from_secs(60))
}

async fn fetch(endpoint: &Endpoint) -> Fetched {
    within(Client::new(crypto()).fetch(endpoint)).await.unwrap()
}

/// Digest 7.4: `https_spiffe`, the endpoint's X509-SVID with the configured ID, verified
/// against the bundle of its trust domain; the served bundle follows its source (7.5: the
/// sequence moves).
#[tokio::test]
async fn https_spiffe_fetch_follows_the_published_bundle() {
    let a = ca::TestCa::new("a.example");
    let (sender, receiver) = tokio::sync::watch::channel(Arc::new(bundle_of(&a, 1)));
    let (publisher, _follow) = BundlePublisher::follow(receiver);
    let svid = Arc::new(a.x509_svid("/federation/endpoint"));
    let tls = EndpointTls::https_spiffe(Arc::new(svid), &crypto()).unwrap();
    let server = Running::endpoint(tls, publisher.service("/bundle")).await;

    let endpoint = Endpoint::new(
        server.url("127.0.0.1", "/bundle"),
        Profile::HttpsSpiffe {
            endpoint_id: a.id("/federation/endpoint"),
            bundle: a.x509_bundle(),
        },
        a.trust_domain().clone(),
    );
    let first = fetch(&endpoint).await;
    assert_eq!(first.sequence(), Some(1));
    assert_eq!(first.refresh_hint(), Some(Duration::from_secs(60)));
    assert_eq!(first.bundle().x509_bundle(), a.bundle().x509_bundle());

    a.rotate();
    sender.send(Arc::new(bundle_of(&a, 2))).unwrap();
    within(async {
        while publisher.sequence() != Some(2) {
            tokio::task::yield_now().await;
        }
    })
    .await;
    let second = fetch(&endpoint).await;
    assert_eq!(second.sequence(), Some(2));
    assert_eq!(second.bundle().x509_bundle(), a.bundle().x509_bundle());
    assert_ne!(second.bundle().x509_bundle(), first.bundle().x509_bundle());
    server.stop().await;
}

/// Digest 7.3: `https_web`, a WebPKI certificate checked against the given roots and the
/// URL's host (a DNS name and an IP address).
#[tokio::test]
async fn https_web_fetch_by_name_and_by_address() {
    let a = ca::TestCa::new("a.example");
    let publisher = BundlePublisher::new(bundle_of(&a, 5));
    let pki = WebPki::new("web");
    let (chain, key, _) = pki.server(&["localhost", "127.0.0.1"]);
    let dir = tempfile::tempdir().unwrap();
    let (chain_path, key_path) = write_pair(dir.path(), &chain, &key);
    let certificate =
        Arc::new(WebCertificate::from_pem_files(chain_path, key_path, &crypto()).unwrap());
    let tls = EndpointTls::https_web(certificate, &crypto()).unwrap();
    let server = Running::endpoint(tls, publisher.service("/")).await;

    for host in ["localhost", "127.0.0.1"] {
        let endpoint = Endpoint::new(
            server.url(host, "/"),
            Profile::HttpsWeb { roots: pki.roots() },
            a.trust_domain().clone(),
        );
        let fetched = fetch(&endpoint).await;
        assert_eq!(fetched.sequence(), Some(5), "{host}");
    }
    server.stop().await;
}

/// Digest 7.3: the `https_web` certificate is reloaded when its files change; a file that
/// does not load keeps the previous certificate in service.
#[tokio::test]
async fn https_web_certificate_reloads_and_survives_garbage() {
    let a = ca::TestCa::new("a.example");
    let publisher = BundlePublisher::new(bundle_of(&a, 1));
    let pki = WebPki::new("web");
    let dir = tempfile::tempdir().unwrap();
    let (chain, key, first_leaf) = pki.server(&["localhost"]);
    let (chain_path, key_path) = write_pair(dir.path(), &chain, &key);
    let certificate =
        Arc::new(WebCertificate::from_pem_files(&chain_path, &key_path, &crypto()).unwrap());
    let tls = EndpointTls::https_web(Arc::clone(&certificate), &crypto()).unwrap();
    let server = Running::endpoint(tls, publisher.service("/bundle")).await;
    let presented = || common::web_leaf(server.addr, pki.roots(), "localhost");

    assert_eq!(within(presented()).await, first_leaf);
    assert!(
        !certificate.reload().unwrap(),
        "unchanged files are not reloaded"
    );

    let (chain, key, second_leaf) = pki.server(&["localhost"]);
    write_pair(dir.path(), &chain, &key);
    assert!(certificate.reload().unwrap());
    assert_eq!(within(presented()).await, second_leaf);

    common::replace(&chain_path, b"-----BEGIN CERTIFICATE-----\ngarbage\n");
    assert!(certificate.reload().is_err());
    assert_eq!(within(presented()).await, second_leaf);

    // A key that does not match the chain (a renewal half written) is refused as well.
    let (chain, _, _) = pki.server(&["localhost"]);
    common::replace(&chain_path, chain.as_bytes());
    assert!(matches!(
        certificate.reload(),
        Err(federation::Error::Rustls(_))
    ));
    assert_eq!(within(presented()).await, second_leaf);
    server.stop().await;
}

/// The poll of [`WebCertificate::watch`] finds replaced files by itself.
#[tokio::test]
async fn https_web_certificate_watch_picks_up_new_files() {
    let a = ca::TestCa::new("a.example");
    let publisher = BundlePublisher::new(bundle_of(&a, 1));
    let pki = WebPki::new("web");
    let dir = tempfile::tempdir().unwrap();
    let (chain, key, _) = pki.server(&["localhost"]);
    let (chain_path, key_path) = write_pair(dir.path(), &chain, &key);
    let certificate =
        Arc::new(WebCertificate::from_pem_files(&chain_path, &key_path, &crypto()).unwrap());
    let _watch = certificate.watch(Duration::from_millis(20));
    let tls = EndpointTls::https_web(Arc::clone(&certificate), &crypto()).unwrap();
    let server = Running::endpoint(tls, publisher.service("/bundle")).await;

    let (chain, key, new_leaf) = pki.server(&["localhost"]);
    write_pair(dir.path(), &chain, &key);
    within(async {
        while common::web_leaf(server.addr, pki.roots(), "localhost").await != new_leaf {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    server.stop().await;
}

/// Digest 7.4: the `https_spiffe` endpoint presents its current SVID: a rotation applies to
/// the next handshake, and the client that expects the endpoint ID keeps fetching.
#[tokio::test]
async fn https_spiffe_svid_rotates_without_restart() {
    let a = ca::TestCa::new("a.example");
    let publisher = BundlePublisher::new(bundle_of(&a, 1));
    let first = a.x509_svid("/federation/endpoint");
    let first_leaf = first.chain()[0].clone();
    let svids = RotatingSvid::new(first);
    let tls = EndpointTls::https_spiffe(svids.clone(), &crypto()).unwrap();
    let server = Running::endpoint(tls, publisher.service("/bundle")).await;
    let bundles = Arc::new(a.bundle_set());

    assert_eq!(
        within(common::spiffe_leaf(server.addr, bundles.clone())).await,
        first_leaf
    );
    let second = a.x509_svid("/federation/endpoint");
    let second_leaf = second.chain()[0].clone();
    assert_ne!(first_leaf, second_leaf);
    svids.set(second);
    assert_eq!(
        within(common::spiffe_leaf(server.addr, bundles)).await,
        second_leaf
    );

    let endpoint = Endpoint::new(
        server.url("127.0.0.1", "/bundle"),
        Profile::HttpsSpiffe {
            endpoint_id: a.id("/federation/endpoint"),
            bundle: a.x509_bundle(),
        },
        a.trust_domain().clone(),
    );
    assert_eq!(fetch(&endpoint).await.sequence(), Some(1));
    server.stop().await;
}

/// Digest 7.3, 7.4: the endpoint requires no client authentication; under either profile it
/// does not even ask for a client certificate.
#[tokio::test]
async fn endpoint_asks_for_no_client_certificate() {
    let a = ca::TestCa::new("a.example");
    let publisher = BundlePublisher::new(bundle_of(&a, 1));

    let pki = WebPki::new("web");
    let dir = tempfile::tempdir().unwrap();
    let (chain, key, _) = pki.server(&["localhost"]);
    let (chain_path, key_path) = write_pair(dir.path(), &chain, &key);
    let certificate =
        Arc::new(WebCertificate::from_pem_files(chain_path, key_path, &crypto()).unwrap());
    let web = Running::endpoint(
        EndpointTls::https_web(certificate, &crypto()).unwrap(),
        publisher.service("/"),
    )
    .await;
    let web_client = rustls::ClientConfig::builder_with_provider(Arc::clone(crypto().provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(pki.roots())
        .with_no_client_auth();
    assert!(!within(common::asks_for_client_certificate(web.addr, &web_client)).await);

    let svid = Arc::new(a.x509_svid("/federation/endpoint"));
    let spiffe = Running::endpoint(
        EndpointTls::https_spiffe(Arc::new(svid), &crypto()).unwrap(),
        publisher.service("/"),
    )
    .await;
    let spiffe_client = tls_integration::SpiffeTls::new(crypto())
        .tls_client(Arc::new(a.bundle_set()), tls_integration::danger::AnyPeer)
        .unwrap();
    let (spiffe_client, _peer) = spiffe_client.for_connection();
    assert!(
        !within(common::asks_for_client_certificate(
            spiffe.addr,
            &spiffe_client
        ))
        .await
    );

    web.stop().await;
    spiffe.stop().await;
}

/// Digest 7.3, with an independent client: `curl --cacert` fetches the `https_web` endpoint
/// and gets the bundle document as JSON.
#[tokio::test]
async fn curl_fetches_the_https_web_endpoint() {
    let Some(curl) = curl() else { return };
    let a = ca::TestCa::new("a.example");
    let publisher = BundlePublisher::new(bundle_of(&a, 9));
    let pki = WebPki::new("web");
    let dir = tempfile::tempdir().unwrap();
    let (chain, key, _) = pki.server(&["localhost"]);
    let (chain_path, key_path) = write_pair(dir.path(), &chain, &key);
    let ca_path = dir.path().join("ca.pem");
    std::fs::write(&ca_path, &pki.pem).unwrap();
    let certificate =
        Arc::new(WebCertificate::from_pem_files(chain_path, key_path, &crypto()).unwrap());
    let tls = EndpointTls::https_web(certificate, &crypto()).unwrap();
    let server = Running::endpoint(tls, publisher.service("/bundle")).await;

    let output = within(
        tokio::process::Command::new(curl)
            .arg("--silent")
            .arg("--show-error")
            .arg("--fail")
            .arg("--include")
            .arg("--cacert")
            .arg(&ca_path)
            .arg(format!("https://localhost:{}/bundle", server.addr.port()))
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "curl failed: {stderr}");
    let text = String::from_utf8(output.stdout).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{head}"
    );
    let bundle = SpiffeBundle::parse(a.trust_domain().clone(), body).unwrap();
    assert_eq!(bundle.sequence(), Some(9));
    assert_eq!(bundle.x509_bundle(), a.bundle().x509_bundle());
    server.stop().await;
}

/// curl from PATH; missing: fails under `CI=true`, skips with a reason otherwise
/// (`interop/tls/setup.sh` installs it).
fn curl() -> Option<std::path::PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("curl"))
            .find(|candidate| candidate.exists())
    });
    if found.is_none() {
        let message = "curl not found on PATH; run interop/tls/setup.sh";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{message}");
        eprintln!("skipped: {message}");
    }
    found
}
