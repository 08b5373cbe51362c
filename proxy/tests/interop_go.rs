//! go-spiffe's `spiffetls` (`interop/.go/bin/spiffetlspeer`, built by `bash interop/go/setup.sh`)
//! as the client of a server-mode proxy: an independent SPIFFE mTLS implementation passes the
//! proxy's checks (and checks the proxy's SVID by SPIFFE ID), and one with a refused ID does
//! not. Skipped with a printed reason when the program is missing (failing under `CI=true`).

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "a panic is a failed test"
)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ca::TestCa;
use common::Running;
use proxy::{Address, Proxy, ServerOptions};
use spiffe_id::IdMatcher;

fn go_peer(test: &str) -> Option<PathBuf> {
    let program = Path::new(env!("CARGO_MANIFEST_DIR")).join("../interop/.go/bin/spiffetlspeer");
    if program.is_file() {
        Some(program)
    } else {
        test_support::process::skip_or_fail(
            test,
            "go-spiffe",
            "interop/.go/bin/spiffetlspeer not built",
            "interop/go/setup.sh",
        );
        None
    }
}

#[tokio::test]
async fn go_spiffe_client_through_the_server_mode_proxy() {
    let test = "go_spiffe_client_through_the_server_mode_proxy";
    let Some(program) = go_peer(test) else {
        return;
    };
    let ca = TestCa::new("example.org");
    let proxy = Proxy::server(
        ServerOptions::new(
            "127.0.0.1:0".parse().unwrap(),
            Address::Tcp(common::echo_backend().await),
            IdMatcher::pattern("spiffe://example.org/web").unwrap(),
        ),
        Arc::new(Arc::new(ca.x509_svid("/proxy"))),
        Arc::new(ca.bundle_set()),
        svid::Crypto::default(),
    )
    .await
    .unwrap();
    let proxy = Running::start(proxy);
    let dir = tempfile::tempdir().unwrap();
    let bundle = common::write_bundle(dir.path(), &ca);
    for (id, accepted) in [("/web", true), ("/intruder", false)] {
        let (cert, key) = common::write_svid(dir.path(), "client", &ca.x509_svid(id));
        let output = tokio::process::Command::new(&program)
            .args(["client", "-addr", &proxy.tcp(), "-cert"])
            .arg(&cert)
            .arg("-key")
            .arg(&key)
            .arg("-bundle")
            .arg(format!("example.org={}", bundle.display()))
            .args(["-authorize", "id:spiffe://example.org/proxy"])
            .output()
            .await
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        if accepted {
            assert!(output.status.success(), "{stdout}{stderr}");
            assert_eq!(stdout, "server spiffe://example.org/proxy\nreply hi\n");
        } else {
            assert!(
                !output.status.success(),
                "refused client got through: {stdout}"
            );
        }
    }
    proxy.stop().await;
}
