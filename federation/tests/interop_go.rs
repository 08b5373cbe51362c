//! go-spiffe's `federation` package against ours, both ways, over real TLS on 127.0.0.1
//! (`interop/.go/bin/federationpeer`, built by `bash interop/go/setup.sh` from
//! interop/go/gopath/src/federationpeer):
//!
//! - go-spiffe's `FetchBundle` fetches from our endpoint with both profiles and verifies an
//!   X509-SVID of the served trust domain with the result;
//! - our client fetches from go-spiffe's `NewHandler`, with both profiles.
//!
//! A missing peer skips locally with a printed reason and fails under `CI=true`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests: a panic is a failed test"
)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use common::{Running, WebPki, crypto, within, write_pair};
use federation::client::{Client, Endpoint, Profile};
use federation::endpoint::{BundlePublisher, EndpointTls, WebCertificate};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use trust_bundle::SpiffeBundle;

fn peer() -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../interop/.go/bin/federationpeer");
    if path.exists() {
        return Some(path);
    }
    let message = format!(
        "{} not found; run `bash interop/go/setup.sh` to build it",
        path.display()
    );
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{message}");
    eprintln!("skipped: {message}");
    None
}

fn bundle_of(ca: &ca::TestCa, sequence: u64) -> SpiffeBundle {
    SpiffeBundle::clone(&ca.bundle())
        .with_sequence(sequence)
        .with_refresh_hint(Duration::from_secs(120))
}

/// Writes `contents` to `dir/name`; its path.
fn file(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

/// An X509-SVID of `ca` as (chain PEM file, key PEM file).
fn svid_files(dir: &Path, ca: &ca::TestCa, path: &str, name: &str) -> (PathBuf, PathBuf) {
    let svid = ca.x509_svid(path);
    (
        file(dir, &format!("{name}.pem"), &svid.chain_pem()),
        file(dir, &format!("{name}.key"), &svid.private_key().to_pem()),
    )
}

/// Runs `federationpeer fetch` with `args`; its parsed JSON line, or its error output.
async fn go_fetch(program: &Path, args: &[&str]) -> Result<serde_json::Value, String> {
    let output = within(
        Command::new(program)
            .arg("fetch")
            .args(args)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap();
    if output.status.success() {
        Ok(serde_json::from_slice(&output.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

/// Digest 7.3: go-spiffe fetches our `https_web` endpoint (its WebPKI roots, host checked)
/// and verifies an X509-SVID of the served trust domain with what it got.
#[tokio::test]
async fn go_spiffe_fetches_our_https_web_endpoint() {
    let Some(go) = peer() else { return };
    let a = ca::TestCa::new("a.example");
    let publisher = BundlePublisher::new(bundle_of(&a, 9));
    let pki = WebPki::new("web");
    let dir = tempfile::tempdir().unwrap();
    let (chain, key, _) = pki.server(&["localhost"]);
    let (chain_path, key_path) = write_pair(dir.path(), &chain, &key);
    let certificate =
        Arc::new(WebCertificate::from_pem_files(chain_path, key_path, &crypto()).unwrap());
    let tls = EndpointTls::https_web(certificate, &crypto()).unwrap();
    let server = Running::endpoint(tls, publisher.service("/bundle")).await;
    let roots = file(dir.path(), "roots.pem", &pki.pem);
    let (workload, _) = svid_files(dir.path(), &a, "/web", "web");

    let url = server.url("localhost", "/bundle").to_string();
    let fetched = go_fetch(
        &go,
        &[
            "-url",
            &url,
            "-td",
            "a.example",
            "-roots",
            roots.to_str().unwrap(),
            "-verify",
            workload.to_str().unwrap(),
        ],
    )
    .await
    .unwrap();
    assert_eq!(fetched["trust_domain"], "a.example");
    assert_eq!(fetched["sequence"], 9);
    assert_eq!(fetched["refresh_hint_seconds"], 120);
    assert_eq!(fetched["verified_id"], "spiffe://a.example/web");

    // go-spiffe checks the name as well: 127.0.0.1 is not in the certificate.
    let by_address = server.url("127.0.0.1", "/bundle").to_string();
    let refused = go_fetch(
        &go,
        &[
            "-url",
            &by_address,
            "-td",
            "a.example",
            "-roots",
            roots.to_str().unwrap(),
        ],
    )
    .await
    .unwrap_err();
    assert!(refused.contains("127.0.0.1"), "{refused}");
    server.stop().await;
}

/// Digest 7.4: go-spiffe fetches our `https_spiffe` endpoint with the endpoint's SPIFFE ID
/// and a bootstrap bundle, and refuses it under another expected ID.
#[tokio::test]
async fn go_spiffe_fetches_our_https_spiffe_endpoint() {
    let Some(go) = peer() else { return };
    let a = ca::TestCa::new("a.example");
    let publisher = BundlePublisher::new(bundle_of(&a, 3));
    let svid = Arc::new(a.x509_svid("/federation/endpoint"));
    let tls = EndpointTls::https_spiffe(Arc::new(svid), &crypto()).unwrap();
    let server = Running::endpoint(tls, publisher.service("/bundle")).await;
    let dir = tempfile::tempdir().unwrap();
    let bootstrap = file(dir.path(), "bootstrap.json", &a.bundle().to_json());
    let (workload, _) = svid_files(dir.path(), &a, "/api", "api");
    let url = server.url("127.0.0.1", "/bundle").to_string();

    let fetched = go_fetch(
        &go,
        &[
            "-url",
            &url,
            "-td",
            "a.example",
            "-endpoint-id",
            "spiffe://a.example/federation/endpoint",
            "-endpoint-bundle",
            bootstrap.to_str().unwrap(),
            "-verify",
            workload.to_str().unwrap(),
        ],
    )
    .await
    .unwrap();
    assert_eq!(fetched["sequence"], 3);
    assert_eq!(fetched["verified_id"], "spiffe://a.example/api");

    let refused = go_fetch(
        &go,
        &[
            "-url",
            &url,
            "-td",
            "a.example",
            "-endpoint-id",
            "spiffe://a.example/someone-else",
            "-endpoint-bundle",
            bootstrap.to_str().unwrap(),
        ],
    )
    .await
    .unwrap_err();
    assert!(refused.contains("unexpected ID"), "{refused}");
    server.stop().await;
}

/// go-spiffe's `NewHandler` behind TLS with `cert`/`key`, serving `bundle` for `td`; its
/// address, and the child (killed on drop).
async fn go_serve(
    program: &Path,
    td: &str,
    bundle: &Path,
    cert: &Path,
    key: &Path,
) -> (String, tokio::process::Child) {
    let mut child = Command::new(program)
        .args(["serve", "-td", td, "-bundle"])
        .arg(bundle)
        .arg("-cert")
        .arg(cert)
        .arg("-key")
        .arg(key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    within(stdout.read_line(&mut line)).await.unwrap();
    let address = line
        .trim()
        .strip_prefix("listening ")
        .unwrap_or_else(|| panic!("federationpeer serve said {line:?}"))
        .to_owned();
    (address, child)
}

/// Digest 7.3, 7.4: our client fetches from go-spiffe's handler with both profiles.
#[tokio::test]
async fn our_client_fetches_from_go_spiffe_handler() {
    let Some(go) = peer() else { return };
    let a = ca::TestCa::new("a.example");
    let dir = tempfile::tempdir().unwrap();
    let bundle = file(dir.path(), "bundle.json", &bundle_of(&a, 5).to_json());

    // https_spiffe: the handler presents a.example's X509-SVID.
    let (cert, key) = svid_files(dir.path(), &a, "/federation/endpoint", "endpoint");
    let (address, _spiffe) = go_serve(&go, "a.example", &bundle, &cert, &key).await;
    let endpoint = Endpoint::new(
        format!("https://{address}/").parse().unwrap(),
        Profile::HttpsSpiffe {
            endpoint_id: a.id("/federation/endpoint"),
            bundle: a.x509_bundle(),
        },
        a.trust_domain().clone(),
    );
    let fetched = within(Client::new(crypto()).fetch(&endpoint))
        .await
        .unwrap();
    assert_eq!(fetched.sequence(), Some(5));
    assert_eq!(fetched.refresh_hint(), Some(Duration::from_secs(120)));
    assert_eq!(fetched.bundle().x509_bundle(), a.bundle().x509_bundle());
    assert_eq!(fetched.bundle().jwt_bundle(), a.bundle().jwt_bundle());

    // https_web: the handler presents a WebPKI certificate for localhost.
    let pki = WebPki::new("web");
    let (chain, web_key, _) = pki.server(&["localhost"]);
    let (chain_path, key_path) = write_pair(dir.path(), &chain, &web_key);
    let (address, _web) = go_serve(&go, "a.example", &bundle, &chain_path, &key_path).await;
    let port = address.rsplit_once(':').unwrap().1;
    let endpoint = Endpoint::new(
        format!("https://localhost:{port}/").parse().unwrap(),
        Profile::HttpsWeb { roots: pki.roots() },
        a.trust_domain().clone(),
    );
    let fetched = within(Client::new(crypto()).fetch(&endpoint))
        .await
        .unwrap();
    assert_eq!(fetched.sequence(), Some(5));
}
