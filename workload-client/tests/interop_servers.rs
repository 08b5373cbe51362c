//! Our client against Workload API servers on independent gRPC stacks: Python grpcio (gRPC
//! C-core, `interop/python/workload_server.py`, stubs generated from our proto with
//! grpcio-tools at test time) and Go grpc-go on go-spiffe's generated package
//! (`interop/go/gopath/src/workloadserver`). Both serve fixed credentials from a JSON file,
//! reject requests without the security header (W-API-1), and use both bundle map key forms
//! (`spiffe://td` as SPIRE sends, and bare `td`).
//!
//! Needs `interop/.venv` (`bash interop/python/setup.sh`) and `interop/.go/bin/workloadserver`
//! (`bash interop/go/setup.sh`). Without them each test is skipped with a printed reason,
//! except under `CI=true`, where it fails.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "test helpers outside #[test] fns"
)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::{TestCa, fast_options};
use serde_json::json;
use svid::X509SvidSource;
use trust_bundle::{JwtBundleSource, X509BundleSource};
use workload_client::{Client, Endpoint, Error, JwtSource, SvidPicker, X509Source};

const HOUR: Duration = Duration::from_secs(3600);

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `Some(path)` if the peer exists; otherwise prints why and returns `None` (panics under CI).
fn peer(path: PathBuf, setup: &str) -> Option<PathBuf> {
    if path.exists() {
        return Some(path);
    }
    let message = format!("{} is missing; run `bash {setup}`", path.display());
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{message}");
    }
    eprintln!("skipping: {message}");
    None
}

struct Server {
    child: Child,
    _dir: tempfile::TempDir,
    socket: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Credentials the servers hand out, and what the tests expect back.
struct Fixture {
    ca: TestCa,
    partner: TestCa,
    jwt: String,
}

fn config(fixture: &Fixture, socket: &Path) -> serde_json::Value {
    let ca = &fixture.ca;
    let web = ca.x509_svid("/web", HOUR);
    let db = ca.x509_svid("/db", HOUR);
    let svid = |s: &common::IssuedSvid, hint: &str| {
        json!({
            "spiffe_id": s.spiffe_id,
            "x509_svid": STANDARD.encode(&s.chain_der),
            "x509_svid_key": STANDARD.encode(&s.key_der),
            "bundle": STANDARD.encode(ca.bundle_der()),
            "hint": hint,
        })
    };
    json!({
        "socket": socket,
        "x509_svids": [svid(&web, "internal"), svid(&db, "external")],
        "federated_bundles": {"partner.example": STANDARD.encode(fixture.partner.bundle_der())},
        "x509_bundles": {
            "spiffe://example.org": STANDARD.encode(ca.bundle_der()),
            "partner.example": STANDARD.encode(fixture.partner.bundle_der()),
        },
        "jwt_svids": [{"spiffe_id": ca.spiffe_id("/web"), "svid": fixture.jwt, "hint": ""}],
        "jwt_bundles": {"spiffe://example.org": STANDARD.encode(ca.jwks())},
        "validate": {
            "spiffe_id": ca.spiffe_id("/web"),
            "claims": {"sub": ca.spiffe_id("/web"), "aud": ["api"], "exp": 4_102_444_800_u64},
        },
    })
}

fn start(mut command: Command, fixture: &Fixture) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("agent.sock");
    let config_path = dir.path().join("config.json");
    std::fs::write(&config_path, config(fixture, &socket).to_string()).unwrap();
    let mut child = command
        .arg(&config_path)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("listening"), "server said {line:?}");
    Server {
        child,
        _dir: dir,
        socket,
    }
}

fn fixture() -> Fixture {
    let ca = TestCa::new("example.org");
    let jwt = ca.jwt_svid("/web", &["api"], HOUR);
    Fixture {
        ca,
        partner: TestCa::new("partner.example"),
        jwt,
    }
}

fn python_server(fixture: &Fixture) -> Option<Server> {
    let python = peer(
        repo_root().join("interop/.venv/bin/python"),
        "interop/python/setup.sh",
    )?;
    let stubs = tempfile::tempdir().unwrap();
    let status = Command::new(&python)
        .args(["-m", "grpc_tools.protoc", "-I"])
        .arg(repo_root().join("workload-api/proto"))
        .arg(format!("--python_out={}", stubs.path().display()))
        .arg(format!("--grpc_python_out={}", stubs.path().display()))
        .arg("workload.proto")
        .status()
        .unwrap();
    assert!(status.success(), "grpcio-tools failed");
    let mut command = Command::new(python);
    command
        .arg(repo_root().join("interop/python/workload_server.py"))
        .arg(stubs.path());
    let server = start(command, fixture);
    // The stubs are imported at startup; the folder may go now.
    drop(stubs);
    Some(server)
}

fn go_server(fixture: &Fixture) -> Option<Server> {
    let binary = peer(
        repo_root().join("interop/.go/bin/workloadserver"),
        "interop/go/setup.sh",
    )?;
    let mut command = Command::new(binary);
    command.arg("-config");
    Some(start(command, fixture))
}

async fn exercise(server: &Server, fixture: &Fixture) {
    let endpoint = Endpoint::unix(&server.socket).unwrap();
    let client = Client::builder(endpoint.clone()).connect().await.unwrap();
    let example = "example.org".parse().unwrap();
    let partner = "partner.example".parse().unwrap();

    // FetchX509SVID: both SVIDs in order, hints, own bundle and a bare-keyed federated one.
    let context = client.fetch_x509_context().await.unwrap();
    let ids: Vec<_> = context
        .svids()
        .iter()
        .map(|s| (s.spiffe_id().path().to_owned(), s.hint().map(str::to_owned)))
        .collect();
    assert_eq!(
        ids,
        [
            ("/web".to_owned(), Some("internal".to_owned())),
            ("/db".to_owned(), Some("external".to_owned()))
        ]
    );
    assert!(context.bundles().x509_bundle(&example).is_some());
    assert!(context.bundles().x509_bundle(&partner).is_some());

    // FetchX509Bundles with both key forms.
    let bundles = client.fetch_x509_bundles().await.unwrap();
    assert_eq!(bundles.len(), 2);

    // FetchJWTSVID, FetchJWTBundles, ValidateJWTSVID.
    let jwt = client.fetch_jwt_svid(&["api"], None).await.unwrap();
    assert_eq!(jwt.token(), fixture.jwt);
    let jwt_bundles = client.fetch_jwt_bundles().await.unwrap();
    assert_eq!(jwt_bundles.jwt_bundle(&example).unwrap().len(), 1);
    let validated = client.validate_jwt_svid("api", &fixture.jwt).await.unwrap();
    assert_eq!(validated.spiffe_id().as_str(), "spiffe://example.org/web");
    assert_eq!(validated.claims()["exp"], 4_102_444_800.0);
    let other: spiffe_id::SpiffeId = "spiffe://example.org/nobody".parse().unwrap();
    assert!(matches!(
        client.fetch_jwt_svid(&["api"], Some(&other)).await,
        Err(Error::PermissionDenied { .. })
    ));

    // Sources over the same server.
    let source = X509Source::new(
        Client::builder(endpoint.clone()).connect_lazy().unwrap(),
        SvidPicker::Hint("external".into()),
        fast_options(),
    )
    .await
    .unwrap();
    assert_eq!(source.x509_svid().unwrap().spiffe_id().path(), "/db");
    assert!(source.x509_bundle(&partner).is_some());
    let jwt_source = JwtSource::new(
        Client::builder(endpoint.clone()).connect_lazy().unwrap(),
        fast_options(),
    )
    .await
    .unwrap();
    assert!(jwt_source.jwt_bundle(&example).is_some());
    let cached = jwt_source.fetch_jwt_svid(&["api"], None).await.unwrap();
    assert_eq!(cached.token(), fixture.jwt);

    // W-API-1: the independent server refuses a request without the security header.
    let channel = tonic::transport::Endpoint::from_static("http://localhost")
        .connect_with_connector(tower::service_fn({
            let socket = server.socket.clone();
            move |_| {
                let socket = socket.clone();
                async move {
                    Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(
                        tokio::net::UnixStream::connect(socket).await?,
                    ))
                }
            }
        }))
        .await
        .unwrap();
    let mut bare =
        workload_client::proto::spiffe_workload_api_client::SpiffeWorkloadApiClient::new(channel);
    let status = bare
        .fetch_jwtsvid(workload_client::proto::JwtsvidRequest {
            audience: vec!["api".into()],
            spiffe_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
}

#[tokio::test]
async fn against_python_grpcio_server() {
    let fixture = fixture();
    let Some(server) = python_server(&fixture) else {
        return;
    };
    exercise(&server, &fixture).await;
}

#[tokio::test]
async fn against_go_grpc_server() {
    let fixture = fixture();
    let Some(server) = go_server(&fixture) else {
        return;
    };
    exercise(&server, &fixture).await;
}
