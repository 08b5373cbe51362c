//! The helper with a real nginx (Debian `nginx-light`, `interop/nginx/setup.sh`): nginx serves
//! mTLS with the certificate, key and bundle the helper wrote, and the helper sends it SIGHUP
//! (`renew_signal`, `pid_file_name` = nginx's pid file) after a CA rotation on our agent. A
//! rustls client on `X509Source` and `curl` with helper-written client files call it before
//! and after; every call succeeds and nginx then presents the new certificate (its serial).
//!
//! As in production, nginx and the helper share a user: under root both run as `nobody` (the
//! certificate directory handed over, an agent entry for that uid); otherwise both run as the
//! test's user. Under `CI=true` a missing nginx or curl fails the test.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a panic is a failed test"
)]

mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use agent::{RegistrationEntry, Selector};
use common::TestAgent;
use spiffe_id::IdMatcher;
use svid::Crypto;
use test_support::nginx::NginxServer;
use test_support::process::{hand_over, is_root, peer_uid, skip_or_fail, unprivileged};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use workload_client::{Client, Endpoint, SourceOptions, SvidPicker, X509Source};

const WEB: &str = "spiffe://example.org/web";
const CLIENT: &str = "spiffe://example.org/client";

/// Polls `check` until it returns `Some` (a bound on waiting, not a timing assertion).
async fn wait_for<T>(
    mut check: impl AsyncFnMut() -> Option<T>,
    what: &str,
    context: impl Fn() -> String,
) -> T {
    let started = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}\n{}",
            context()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn serial(der: &[u8]) -> Vec<u8> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).unwrap();
    cert.tbs_certificate.raw_serial().to_vec()
}

fn file_leaf_serial(path: &Path) -> Vec<u8> {
    let svid = svid::X509Svid::load(
        path,
        path.with_file_name("svid_key.pem").as_path(),
        &Crypto::default(),
    )
    .expect("the helper's files make an SVID");
    serial(svid.chain()[0].as_ref())
}

/// One HTTPS request with rustls: the response's first line and the serial nginx presented.
async fn rustls_get(
    config: &tls_integration::SpiffeClientConfig,
    port: u16,
) -> Result<(String, Vec<u8>), String> {
    let connector = tokio_rustls::TlsConnector::from(Arc::clone(config.config()));
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| e.to_string())?;
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = connector
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    let presented = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| serial(c))
        .unwrap_or_default();
    tls.write_all(b"GET / HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
        .await
        .map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    let _ = tls.read_to_end(&mut response).await;
    let text = String::from_utf8_lossy(&response).into_owned();
    Ok((text, presented))
}

/// curl with the helper-written files as client certificate and trust anchors.
fn curl(certs: &Path, port: u16) -> std::process::Output {
    curl_with(
        &certs.join("svid_bundle.pem"),
        &certs.join("svid.pem"),
        &certs.join("svid_key.pem"),
        port,
    )
}

fn curl_with(bundle: &Path, cert: &Path, key: &Path, port: u16) -> std::process::Output {
    Command::new("curl")
        .args(["-sS", "--max-time", "20", "--cacert"])
        .arg(bundle)
        .arg("--cert")
        .arg(cert)
        .arg("--key")
        .arg(key)
        .arg(format!("https://localhost:{port}/"))
        .output()
        .unwrap()
}

/// Whether nginx runs exactly one worker: every worker started before the last one has
/// exited (a reload is complete).
fn one_worker(error_log: &str) -> bool {
    let started = error_log.matches("start worker process ").count();
    let exited = error_log.matches(" exited with code ").count();
    started == exited + 1
}

struct Helper(Child);

impl Drop for Helper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The nginx scenario (see the module docs). nginx 1.22 needs TLS 1.3 named and a
/// verify depth above 1; `ssl_verify_client on` makes nginx refuse a request without a client
/// certificate that verifies against the helper-written bundle (HTTP 400), so "200 ok
/// SUCCESS" proves the client certificate was checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_serves_helper_files_and_reloads_after_ca_rotation() {
    const TEST: &str = "nginx_serves_helper_files_and_reloads_after_ca_rotation";
    if NginxServer::binary().is_none() {
        skip_or_fail(TEST, "nginx", "nginx not found", "interop/nginx/setup.sh");
        return;
    }
    if Command::new("curl").arg("--version").output().is_err() {
        skip_or_fail(TEST, "curl", "curl not found", "apt-get install curl");
        return;
    }
    // The helper (as the peers' user) gets /web with a DNS name for curl; the test's own
    // rustls client gets /client. Without root both are this user: /web only.
    let web = RegistrationEntry::new(WEB.parse().unwrap())
        .with_selector(
            peer_uid().map_or_else(|| Selector::current_uid().unwrap(), Selector::unix_uid),
        )
        .with_dns_name("localhost");
    let mut entries = vec![web];
    if is_root() {
        entries.push(
            RegistrationEntry::new(CLIENT.parse().unwrap())
                .with_selector(Selector::current_uid().unwrap()),
        );
    }
    let agent = TestAgent::start_with(entries).await;
    std::fs::set_permissions(agent.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = tempfile::tempdir().unwrap();
    std::fs::set_permissions(out.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let certs = out.path().join("certs");
    std::fs::create_dir(&certs).unwrap();
    hand_over(&certs).unwrap();
    let base = format!(
        "agent_address = \"{}\"\ncert_dir = \"{}\"\nsvid_file_name = \"svid.pem\"\n\
         svid_key_file_name = \"svid_key.pem\"\nsvid_bundle_file_name = \"svid_bundle.pem\"\n",
        agent.socket().display(),
        certs.display()
    );
    // First the files (as an init container would), then nginx, then the sidecar.
    std::fs::write(out.path().join("init.conf"), &base).unwrap();
    let init = unprivileged(&common::bin())
        .args(["helper", "--daemon-mode", "false", "--config"])
        .arg(out.path().join("init.conf"))
        .output()
        .unwrap();
    common::assert_exit(&init, 0);

    let http = format!(
        "server {{\n\
           listen 127.0.0.1:{{port}} ssl;\n\
           ssl_certificate {c}/svid.pem;\n\
           ssl_certificate_key {c}/svid_key.pem;\n\
           ssl_client_certificate {c}/svid_bundle.pem;\n\
           ssl_verify_client on;\n\
           ssl_verify_depth 3;\n\
           ssl_protocols TLSv1.2 TLSv1.3;\n\
           ssl_session_tickets off;\n\
           location / {{ return 200 \"ok $ssl_client_verify\\n\"; }}\n\
         }}\n",
        c = certs.display()
    );
    let Some(nginx) = NginxServer::start_or_skip(TEST, &http) else {
        return;
    };
    let port = nginx.port();
    let daemon = format!(
        "{base}renew_signal = \"SIGHUP\"\npid_file_name = \"{}\"\n",
        nginx.prefix().join("nginx.pid").display()
    );
    std::fs::write(out.path().join("helper.conf"), daemon).unwrap();
    let log = out.path().join("helper.log");
    let helper = Helper(
        unprivileged(&common::bin())
            .args(["helper", "--config"])
            .arg(out.path().join("helper.conf"))
            .stdin(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let context = || {
        format!(
            "helper log:\n{}\nnginx error log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default(),
            nginx.error_log()
        )
    };
    wait_for(
        async || {
            std::fs::read_to_string(&log)
                .unwrap_or_default()
                .contains("sent SIGHUP")
                .then_some(())
        },
        "the first SIGHUP",
        context,
    )
    .await;

    wait_for(
        async || one_worker(&nginx.error_log()).then_some(()),
        "nginx's first reload",
        context,
    )
    .await;
    // The test's rustls client: X509Source on the same agent.
    let client = Client::builder(Endpoint::unix(agent.socket()).unwrap())
        .connect_lazy()
        .unwrap();
    let source = Arc::new(
        X509Source::new(client, SvidPicker::Default, SourceOptions::default())
            .await
            .unwrap(),
    );
    let tls = tls_integration::SpiffeTls::new(Crypto::default())
        .mtls_client(
            source.clone(),
            source.clone(),
            IdMatcher::exact(WEB.parse().unwrap()),
        )
        .unwrap();

    let before = file_leaf_serial(&certs.join("svid.pem"));
    let (response, presented) = rustls_get(&tls, port)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", context()));
    assert!(
        response.starts_with("HTTP/1.1 200"),
        "{response}\n{}",
        context()
    );
    assert!(response.contains("ok SUCCESS"), "{response}");
    assert_eq!(presented, before, "nginx serves the helper's certificate");
    let output = curl(&certs, port);
    assert!(
        output.status.success(),
        "curl: {}\n{}",
        String::from_utf8_lossy(&output.stderr),
        context()
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout), "ok SUCCESS\n");

    // Keep the client files of before the rotation.
    let old = out.path().join("old");
    std::fs::create_dir(&old).unwrap();
    for name in ["svid.pem", "svid_key.pem"] {
        std::fs::copy(certs.join(name), old.join(name)).unwrap();
    }
    // CA rotation: new authority, new SVIDs for everyone; the helper rewrites and SIGHUPs.
    let old_ca = agent.ca.x509_bundle();
    agent.ca.rotate();
    let after = wait_for(
        async || {
            let serial =
                std::panic::catch_unwind(|| file_leaf_serial(&certs.join("svid.pem"))).ok()?;
            (serial != before).then_some(serial)
        },
        "the helper's new files",
        context,
    )
    .await;
    let bundle = std::fs::read_to_string(certs.join("svid_bundle.pem")).unwrap();
    assert!(
        bundle.matches("BEGIN CERTIFICATE").count() > old_ca.authorities().len(),
        "new authority in the bundle"
    );
    // nginx reloads in the background: wait until a new connection sees the new serial. The
    // forced rotation activates the new authority at once (a scheduled one publishes it
    // first), so until the reload nginx still trusts only the old one and may answer the
    // client's new SVID with 400: the probe looks at the presented certificate only.
    // After a reload the old worker still accepts for a moment: wait until it has exited
    // (one worker left in the error log) and a new connection gets the new certificate.
    wait_for(
        async || {
            if !one_worker(&nginx.error_log()) {
                return None;
            }
            let (_, presented) = rustls_get(&tls, port).await.ok()?;
            (presented == after).then_some(())
        },
        "nginx to present the new certificate",
        context,
    )
    .await;
    let (response, presented) = rustls_get(&tls, port)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", context()));
    assert!(
        response.contains("ok SUCCESS"),
        "rustls after rotation: {response}\n{}",
        context()
    );
    assert_eq!(presented, after);
    let output = curl(&certs, port);
    assert!(
        output.status.success(),
        "curl after rotation: {}\n{}",
        String::from_utf8_lossy(&output.stderr),
        context()
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout), "ok SUCCESS\n");
    // The client certificate of before the rotation still works: the retired authority
    // stays in the helper-written bundle while what it signed is valid.
    let output = curl_with(
        &certs.join("svid_bundle.pem"),
        &old.join("svid.pem"),
        &old.join("svid_key.pem"),
        port,
    );
    assert!(
        output.status.success(),
        "curl with the old client files: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout), "ok SUCCESS\n");
    let svid = source.svid().unwrap();
    assert!(
        agent.ca.x509_bundle().authorities().len() > old_ca.authorities().len(),
        "{svid:?}"
    );

    drop(helper);
    source.close().await;
    drop(nginx);
    agent.agent.shutdown().await.unwrap();
}
