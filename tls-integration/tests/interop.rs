//! Interop with independent TLS stacks, both directions, client certificates required:
//!
//! - go-spiffe's `spiffetls` (`interop/.go/bin/spiffetlspeer`, built by
//!   `bash interop/go/setup.sh` from interop/go/gopath/src/spiffetlspeer);
//! - `openssl s_server` / `openssl s_client`;
//! - `curl` against a hyper server whose SVID also carries a DNS SAN (`localhost`), as the
//!   `hyper-curl` example does.
//!
//! Rejections are judged by the reply, never by the peer's exit code: in TLS 1.3 a refused
//! client finishes its own handshake before the server refuses it. A missing peer skips the
//! test locally with a printed reason and fails it under `CI=true`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests: a panic is a failed test"
)]

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use common::{Authority, bundle_set, pem_certs, pem_key};
use rustls::pki_types::ServerName;
use spiffe_id::IdMatcher;
use tls_integration::{PeerIdentity, SpiffeClientConfig, SpiffeServerConfig, SpiffeTls};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::process::Command;

struct World {
    a: Authority,
    b: Authority,
    dir: tempfile::TempDir,
}

static WORLD: LazyLock<World> = LazyLock::new(|| World {
    a: Authority::new("a.example"),
    b: Authority::new("b.example"),
    dir: tempfile::tempdir().unwrap(),
});

/// Writes an SVID (chain + key) for `id` signed by `authority` (with `edit` applied) to files;
/// returns (cert path, key path).
fn svid_files(
    name: &str,
    authority: &Authority,
    id: &str,
    edit: impl FnOnce(&mut rcgen::CertificateParams),
) -> (PathBuf, PathBuf) {
    let (chain, key) = authority.leaf_with(id, edit);
    let cert_path = WORLD.dir.path().join(format!("{name}.pem"));
    let key_path = WORLD.dir.path().join(format!("{name}.key"));
    std::fs::write(&cert_path, pem_certs(&chain)).unwrap();
    std::fs::write(&key_path, pem_key(&key)).unwrap();
    (cert_path, key_path)
}

fn bundle_file(authority: &Authority) -> PathBuf {
    let path = WORLD
        .dir
        .path()
        .join(format!("{}-bundle.pem", authority.trust_domain));
    std::fs::write(&path, pem_certs(std::slice::from_ref(&authority.root))).unwrap();
    path
}

fn both() -> Arc<trust_bundle::BundleSet> {
    Arc::new(bundle_set(&[&WORLD.a, &WORLD.b]))
}

fn tls() -> SpiffeTls {
    SpiffeTls::new(common::provider())
}

/// Our echo server: answers the first line of each authenticated connection with
/// "hello <peer SPIFFE ID>". Plain tokio-rustls, one configuration per connection.
async fn our_server(config: SpiffeServerConfig) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (config, slot) = config.for_connection();
            tokio::spawn(async move {
                let acceptor = tokio_rustls::TlsAcceptor::from(config);
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(peer) = PeerIdentity::from_connection(tls.get_ref().1, &slot) else {
                    return;
                };
                let mut lines = BufReader::new(tls);
                let mut line = String::new();
                if lines.read_line(&mut line).await.is_ok() {
                    let reply = format!("hello {}\n", peer.spiffe_id());
                    let _ = lines.get_mut().write_all(reply.as_bytes()).await;
                    let _ = lines.get_mut().shutdown().await;
                }
            });
        }
    });
    addr
}

/// Our client: sends "hi", returns the first reply line or `None` when refused.
async fn our_client(config: SpiffeClientConfig, addr: SocketAddr) -> Option<String> {
    let connector = tokio_rustls::TlsConnector::from(config.for_connection().0);
    let tcp = connect_retrying(addr).await;
    let name = ServerName::try_from("localhost").unwrap();
    let mut tls = tokio::time::timeout(Duration::from_secs(10), connector.connect(name, tcp))
        .await
        .ok()?
        .ok()?;
    tls.write_all(b"hi\n").await.ok()?;
    let mut reply = String::new();
    tokio::time::timeout(
        Duration::from_secs(10),
        BufReader::new(tls).read_line(&mut reply),
    )
    .await
    .ok()?
    .ok()?;
    (!reply.is_empty()).then(|| reply.trim_end().to_owned())
}

async fn connect_retrying(addr: SocketAddr) -> tokio::net::TcpStream {
    for _ in 0..100 {
        if let Ok(tcp) = tokio::net::TcpStream::connect(addr).await {
            return tcp;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("nothing listens on {addr}");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

// ---- go-spiffe -------------------------------------------------------------------------

fn go_peer() -> Option<PathBuf> {
    common::peer_program(
        &repo_root().join("interop/.go/bin/spiffetlspeer"),
        "run `bash interop/go/setup.sh` to build it",
    )
}

fn go_bundles() -> String {
    format!(
        "a.example={},b.example={}",
        bundle_file(&WORLD.a).display(),
        bundle_file(&WORLD.b).display()
    )
}

/// Starts the go-spiffe server for `connections` connections; returns its address and child.
async fn go_server(
    program: &Path,
    cert: &(PathBuf, PathBuf),
    authorize: &str,
    connections: usize,
) -> (SocketAddr, tokio::process::Child) {
    let mut child = Command::new(program)
        .args(["server", "-cert"])
        .arg(&cert.0)
        .arg("-key")
        .arg(&cert.1)
        .args(["-bundle", &go_bundles(), "-authorize", authorize, "-n"])
        .arg(connections.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    tokio::time::timeout(Duration::from_secs(20), stdout.read_line(&mut line))
        .await
        .unwrap()
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening ")
        .unwrap_or_else(|| panic!("{line}"));
    (addr.parse().unwrap(), child)
}

/// Runs the go-spiffe client; returns its stdout (stderr appended).
async fn go_client(
    program: &Path,
    addr: SocketAddr,
    cert: &(PathBuf, PathBuf),
    authorize: &str,
) -> String {
    let output = tokio::time::timeout(
        Duration::from_secs(30),
        Command::new(program)
            .args(["client", "-addr", &addr.to_string(), "-cert"])
            .arg(&cert.0)
            .arg("-key")
            .arg(&cert.1)
            .args(["-bundle", &go_bundles(), "-authorize", authorize])
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap()
    .unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Our rustls client against go-spiffe's spiffetls server.
#[tokio::test]
async fn our_client_against_go_spiffe_server() {
    let Some(go) = go_peer() else { return };
    let web = svid_files("go-web", &WORLD.a, "spiffe://a.example/web", |_| {});
    let (addr, mut server) = go_server(&go, &web, "member:a.example", 3).await;
    let api = WORLD.a.svid("/api");
    let expect_web = || IdMatcher::exact("spiffe://a.example/web".parse().unwrap());

    // Accepted both ways.
    let ok = tls()
        .mtls_client(Arc::new(api.clone()), both(), expect_web())
        .unwrap();
    assert_eq!(
        our_client(ok, addr).await.as_deref(),
        Some("hello spiffe://a.example/api")
    );

    // go-spiffe refuses a client outside a.example.
    let b = WORLD.b.svid("/client");
    let refused = tls()
        .mtls_client(Arc::new(b), both(), expect_web())
        .unwrap();
    assert_eq!(our_client(refused, addr).await, None);

    // We refuse the go-spiffe server when our authorizer expects another ID.
    let picky = tls()
        .mtls_client(
            Arc::new(api),
            both(),
            IdMatcher::exact("spiffe://a.example/db".parse().unwrap()),
        )
        .unwrap();
    assert_eq!(our_client(picky, addr).await, None);

    let mut log = String::new();
    server
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .await
        .unwrap();
    assert!(log.contains("served: spiffe://a.example/api"), "{log}");
    assert!(log.contains("refused"), "{log}");
}

/// go-spiffe's spiffetls client against our rustls server.
#[tokio::test]
async fn go_spiffe_client_against_our_server() {
    let Some(go) = go_peer() else { return };
    let server = tls()
        .mtls_server(
            Arc::new(WORLD.a.svid("/web")),
            both(),
            IdMatcher::pattern("spiffe://a.example/ns/payments/*").unwrap(),
        )
        .unwrap();
    let addr = our_server(server).await;

    let payments = svid_files(
        "go-pay",
        &WORLD.a,
        "spiffe://a.example/ns/payments/api",
        |_| {},
    );
    let out = go_client(&go, addr, &payments, "id:spiffe://a.example/web").await;
    assert!(out.contains("server spiffe://a.example/web"), "{out}");
    assert!(
        out.contains("reply hello spiffe://a.example/ns/payments/api"),
        "{out}"
    );

    // Outside the payments namespace: refused.
    let other = svid_files(
        "go-other",
        &WORLD.a,
        "spiffe://a.example/ns/billing/api",
        |_| {},
    );
    let out = go_client(&go, addr, &other, "id:spiffe://a.example/web").await;
    assert!(!out.contains("reply hello"), "{out}");

    // Cross-domain impersonation: a b.example ID issued by a.example's CA, both bundles loaded
    // on our side. (go-spiffe's client does not check its own certificate.)
    let rogue = svid_files(
        "go-rogue",
        &WORLD.a,
        "spiffe://b.example/ns/payments/api",
        |_| {},
    );
    let out = go_client(&go, addr, &rogue, "id:spiffe://a.example/web").await;
    assert!(!out.contains("reply hello"), "{out}");

    // go-spiffe's authorizer refuses our server.
    let out = go_client(&go, addr, &payments, "id:spiffe://a.example/db").await;
    assert!(
        out.contains("error:") && !out.contains("reply hello"),
        "{out}"
    );
}

// ---- openssl ---------------------------------------------------------------------------

/// Our rustls client against `openssl s_server` requiring a client certificate.
#[tokio::test]
async fn our_client_against_openssl_server() {
    let Some(openssl) = common::system_program("openssl") else {
        return;
    };
    let web = svid_files("ossl-web", &WORLD.a, "spiffe://a.example/web", |_| {});
    let port = free_port();
    let _server = Command::new(&openssl)
        .args(["s_server", "-accept", &format!("127.0.0.1:{port}"), "-cert"])
        .arg(&web.0)
        .arg("-key")
        .arg(&web.1)
        .arg("-CAfile")
        .arg(bundle_file(&WORLD.a))
        .args([
            "-Verify",
            "1",
            "-verify_return_error",
            "-rev",
            "-quiet",
            "-naccept",
            "3",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let expect_web = || IdMatcher::exact("spiffe://a.example/web".parse().unwrap());

    // openssl -rev answers the line reversed.
    let ok = tls()
        .mtls_client(Arc::new(WORLD.a.svid("/api")), both(), expect_web())
        .unwrap();
    assert_eq!(our_client(ok, addr).await.as_deref(), Some("ih"));

    // openssl only trusts a.example's CA: a b.example client is refused.
    let b = tls()
        .mtls_client(Arc::new(WORLD.b.svid("/client")), both(), expect_web())
        .unwrap();
    assert_eq!(our_client(b, addr).await, None);

    // We refuse the openssl server when it is not who we expect.
    let picky = tls()
        .mtls_client(
            Arc::new(WORLD.a.svid("/api")),
            both(),
            IdMatcher::exact("spiffe://a.example/db".parse().unwrap()),
        )
        .unwrap();
    assert_eq!(our_client(picky, addr).await, None);
}

/// Runs `openssl s_client` with `cert` against `addr`, sending "hi"; returns stdout.
async fn openssl_client(openssl: &Path, addr: SocketAddr, cert: &(PathBuf, PathBuf)) -> String {
    let mut child = Command::new(openssl)
        .args(["s_client", "-connect", &addr.to_string(), "-cert"])
        .arg(&cert.0)
        .arg("-key")
        .arg(&cert.1)
        .arg("-CAfile")
        .arg(bundle_file(&WORLD.a))
        .args(["-verify_return_error", "-quiet", "-ign_eof"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let _ = stdin.write_all(b"hi\n").await;
    drop(stdin);
    let output = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `openssl s_client` against our rustls server.
#[tokio::test]
async fn openssl_client_against_our_server() {
    let Some(openssl) = common::system_program("openssl") else {
        return;
    };
    let server = tls()
        .mtls_server(
            Arc::new(WORLD.a.svid("/web")),
            both(),
            IdMatcher::member_of("a.example".parse().unwrap()),
        )
        .unwrap();
    let addr = our_server(server).await;

    let api = svid_files("ossl-api", &WORLD.a, "spiffe://a.example/api", |_| {});
    let out = openssl_client(&openssl, addr, &api).await;
    assert!(out.contains("hello spiffe://a.example/api"), "{out}");

    // Refused by our authorizer (b.example), by our chain check (b.example ID under a.example's
    // CA), and as a CA certificate presented as the leaf.
    let b = svid_files("ossl-b", &WORLD.b, "spiffe://b.example/client", |_| {});
    let rogue = svid_files("ossl-rogue", &WORLD.a, "spiffe://b.example/client", |_| {});
    let ca_leaf = svid_files("ossl-ca", &WORLD.a, "spiffe://a.example/ca", |p| {
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        p.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
    });
    for cert in [&b, &rogue, &ca_leaf] {
        let out = openssl_client(&openssl, addr, cert).await;
        assert!(!out.contains("hello"), "{}: {out}", cert.0.display());
    }
}

// ---- curl ------------------------------------------------------------------------------

/// curl against the hyper accept loop, with an SVID carrying a DNS SAN (`localhost`) so that
/// curl's hostname check passes; client certificate required.
#[cfg(feature = "hyper")]
#[tokio::test]
async fn curl_against_hyper_server() {
    use http_body_util::Full;
    use hyper::body::Bytes;
    use tls_integration::PeerInfo;

    let Some(curl) = common::system_program("curl") else {
        return;
    };
    let server_svid = WORLD.a.svid_with("spiffe://a.example/web", |p| {
        p.subject_alt_names
            .push(rcgen::SanType::DnsName("localhost".try_into().unwrap()));
    });
    let config = tls()
        .mtls_server(
            Arc::new(server_svid),
            both(),
            IdMatcher::pattern("spiffe://a.example/ns/payments/*").unwrap(),
        )
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let service = hyper::service::service_fn(
        |request: hyper::Request<hyper::body::Incoming>| async move {
            let caller = request
                .extensions()
                .get::<PeerInfo>()
                .and_then(PeerInfo::spiffe_id)
                .map(ToString::to_string)
                .unwrap_or_default();
            Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(Bytes::from(
                format!("hello {caller}\n"),
            ))))
        },
    );
    tokio::spawn(tls_integration::hyper::serve(
        listener,
        tls_integration::net::SpiffeAcceptor::new(Arc::new(config)),
        service,
        std::future::pending::<()>(),
    ));

    let run = |cert: (PathBuf, PathBuf)| {
        let curl = curl.clone();
        async move {
            let output = Command::new(curl)
                .args(["--silent", "--show-error", "--max-time", "10", "--cacert"])
                .arg(bundle_file(&WORLD.a))
                .arg("--cert")
                .arg(&cert.0)
                .arg("--key")
                .arg(&cert.1)
                .arg(format!("https://localhost:{port}/"))
                .output()
                .await
                .unwrap();
            String::from_utf8_lossy(&output.stdout).into_owned()
        }
    };
    let allowed = svid_files(
        "curl-pay",
        &WORLD.a,
        "spiffe://a.example/ns/payments/web",
        |_| {},
    );
    assert_eq!(
        run(allowed).await,
        "hello spiffe://a.example/ns/payments/web\n"
    );
    let other = svid_files(
        "curl-other",
        &WORLD.a,
        "spiffe://a.example/ns/billing/web",
        |_| {},
    );
    assert_eq!(run(other).await, "");
    let rogue = svid_files(
        "curl-rogue",
        &WORLD.a,
        "spiffe://b.example/ns/payments/web",
        |_| {},
    );
    assert_eq!(run(rogue).await, "");
}
