//! Real peers: nginx as the HTTP backend of server mode and as the mTLS remote of client mode,
//! curl with client certificate files as the client. Skipped with a printed reason when nginx
//! or curl is missing (failing under `CI=true`; `interop/nginx/setup.sh` installs nginx).

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers: a panic is a failed test"
)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ca::{TestCa, X509SvidRequest};
use common::Running;
use proxy::{Address, Backend, ClientOptions, HttpOptions, Proxy, ServerOptions};
use spiffe_id::IdMatcher;
use test_support::nginx::NginxServer;

const ECHO_XFCC: &str = r#"
server {
    listen 127.0.0.1:{port};
    location / {
        default_type text/plain;
        return 200 "xfcc=$http_x_forwarded_client_cert\n";
    }
}
"#;

fn curl_or_skip(test: &str) -> bool {
    let found = std::process::Command::new("curl")
        .arg("-V")
        .output()
        .is_ok();
    if !found {
        test_support::process::skip_or_fail(test, "curl", "curl not found", "apt-get install curl");
    }
    found
}

/// A server-mode proxy with an HTTP backend, presenting an SVID that also names `localhost`
/// (so curl can check it against the bundle without skipping verification).
async fn http_proxy(ca: &TestCa, backend: String) -> Running {
    let svid = ca.x509_svid_with(&X509SvidRequest::new(ca.id("/proxy")).dns_names(["localhost"]));
    let mut options = ServerOptions::new(
        "127.0.0.1:0".parse().unwrap(),
        Address::Tcp(backend),
        IdMatcher::pattern("spiffe://example.org/web").unwrap(),
    );
    options.protocol = Backend::Http(HttpOptions::default());
    let proxy = Proxy::server(
        options,
        Arc::new(Arc::new(svid)),
        Arc::new(ca.bundle_set()),
        svid::Crypto::default(),
    )
    .await
    .unwrap();
    Running::start(proxy)
}

struct Curl {
    dir: tempfile::TempDir,
    bundle: PathBuf,
}

impl Curl {
    fn new(ca: &TestCa) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let bundle = common::write_bundle(dir.path(), ca);
        Self { dir, bundle }
    }

    /// `curl` to `https://localhost:<port>/` presenting `svid`; (exit code, body).
    async fn get(&self, port: &str, svid: &svid::X509Svid, extra: &[&str]) -> (i32, String) {
        let (cert, key) = common::write_svid(self.dir.path(), "client", svid);
        let output = tokio::process::Command::new("curl")
            .args(["-sS", "--max-time", "20", "--resolve"])
            .arg(format!("localhost:{port}:127.0.0.1"))
            .arg("--cacert")
            .arg(&self.bundle)
            .arg("--cert")
            .arg(&cert)
            .arg("--key")
            .arg(&key)
            .args(extra)
            .arg(format!("https://localhost:{port}/"))
            .output()
            .await
            .unwrap();
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        )
    }
}

fn port(running: &Running) -> String {
    running.tcp().rsplit(':').next().unwrap().to_owned()
}

/// The backend sees the verified client ID in Envoy's XFCC format, over HTTP/1.1 and HTTP/2,
/// and a header of that name sent by the client is removed first (it could name anyone).
#[tokio::test]
async fn nginx_backend_sees_xfcc_and_a_forged_header_is_stripped() {
    let test = "nginx_backend_sees_xfcc_and_a_forged_header_is_stripped";
    if !curl_or_skip(test) {
        return;
    }
    let Some(nginx) = NginxServer::start_or_skip(test, ECHO_XFCC) else {
        return;
    };
    let ca = TestCa::new("example.org");
    let proxy = http_proxy(&ca, format!("127.0.0.1:{}", nginx.port())).await;
    let curl = Curl::new(&ca);
    let web = ca.x509_svid("/web");
    let expected = "xfcc=URI=spiffe://example.org/web\n";
    for extra in [
        &[][..],
        &["--http2"][..],
        &[
            "-H",
            "x-forwarded-client-cert: URI=spiffe://example.org/admin",
        ][..],
        &[
            "--http2",
            "-H",
            "X-Forwarded-Client-Cert: URI=spiffe://example.org/admin",
        ][..],
    ] {
        let (code, body) = curl.get(&port(&proxy), &web, extra).await;
        assert_eq!((code, body.as_str()), (0, expected), "curl {extra:?}");
    }
    proxy.stop().await;
}

/// A client whose ID is not allowed gets no response (curl fails), and it is counted.
#[tokio::test]
async fn curl_with_a_refused_id_gets_nothing() {
    let test = "curl_with_a_refused_id_gets_nothing";
    if !curl_or_skip(test) {
        return;
    }
    let Some(nginx) = NginxServer::start_or_skip(test, ECHO_XFCC) else {
        return;
    };
    let ca = TestCa::new("example.org");
    let proxy = http_proxy(&ca, format!("127.0.0.1:{}", nginx.port())).await;
    let metric = "spiffekit_proxy_refusals_total{mode=\"server\",reason=\"unauthorized\"}";
    let before = common::counter(metric);
    let (code, body) = Curl::new(&ca)
        .get(&port(&proxy), &ca.x509_svid("/intruder"), &[])
        .await;
    assert_ne!(code, 0, "refused client got {body:?}");
    assert!(!body.contains("xfcc"));
    common::counter_rises(metric, before).await;
    proxy.stop().await;
}

/// An HTTP backend that is down: 502 with a short body; the proxy goes on.
#[tokio::test]
async fn http_backend_down_answers_bad_gateway() {
    let test = "http_backend_down_answers_bad_gateway";
    if !curl_or_skip(test) {
        return;
    }
    let ca = TestCa::new("example.org");
    let proxy = http_proxy(&ca, common::closed_port()).await;
    let curl = Curl::new(&ca);
    for _ in 0..2 {
        let (code, body) = curl
            .get(
                &port(&proxy),
                &ca.x509_svid("/web"),
                &["-w", "%{http_code}"],
            )
            .await;
        assert_eq!((code, body.as_str()), (0, "backend unavailable\n502"));
    }
    proxy.stop().await;
}

/// nginx as the mTLS remote of client mode: it verifies our client SVID against the bundle
/// (`$ssl_client_verify`); our proxy verifies nginx's SVID by SPIFFE ID, and refuses it when
/// the expected ID differs.
#[tokio::test]
async fn client_mode_to_an_nginx_mtls_remote() {
    let test = "client_mode_to_an_nginx_mtls_remote";
    if !curl_or_skip(test) {
        return;
    }
    let ca = TestCa::new("example.org");
    let files = tempfile::tempdir().unwrap();
    let (cert, key) = common::write_svid(files.path(), "nginx", &ca.x509_svid("/nginx"));
    let bundle = common::write_bundle(files.path(), &ca);
    test_support::process::hand_over(files.path()).unwrap();
    let http = format!(
        r#"
server {{
    listen 127.0.0.1:{{port}} ssl;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_certificate {};
    ssl_certificate_key {};
    ssl_client_certificate {};
    ssl_verify_client on;
    ssl_verify_depth 3;
    location / {{
        default_type text/plain;
        return 200 "verify=$ssl_client_verify\n";
    }}
}}
"#,
        path(&cert),
        path(&key),
        path(&bundle)
    );
    let Some(nginx) = NginxServer::start_or_skip(test, &http) else {
        return;
    };
    let remote = Address::Tcp(format!("127.0.0.1:{}", nginx.port()));
    for (server_id, expected) in [("/nginx", Some("verify=SUCCESS\n")), ("/other", None)] {
        let proxy = Proxy::client(
            ClientOptions::new(
                "127.0.0.1:0".parse().unwrap(),
                remote.clone(),
                IdMatcher::exact(ca.id(server_id)),
            ),
            Arc::new(Arc::new(ca.x509_svid("/app"))),
            Arc::new(ca.bundle_set()),
            svid::Crypto::default(),
        )
        .await
        .unwrap();
        let proxy = Running::start(proxy);
        let output = tokio::process::Command::new("curl")
            .args(["-sS", "--max-time", "20"])
            .arg(format!("http://{}/", proxy.tcp()))
            .output()
            .await
            .unwrap();
        let body = String::from_utf8_lossy(&output.stdout).into_owned();
        match expected {
            Some(expected) => assert_eq!(body, expected, "{}", nginx.error_log()),
            None => assert!(!output.status.success(), "wrong server accepted: {body:?}"),
        }
        proxy.stop().await;
    }
}

fn path(path: &Path) -> String {
    path.display().to_string()
}
