//! Client mode: plaintext in (TCP or an owner-only Unix socket), mTLS out to a server whose
//! SPIFFE ID must match; the remote here is our own server mode in front of a TCP backend.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers: a panic is a failed test"
)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use ca::TestCa;
use common::Running;
use proxy::{Address, ClientOptions, Proxy, ServerOptions};
use spiffe_id::IdMatcher;

async fn remote(ca: &TestCa) -> Running {
    let proxy = Proxy::server(
        ServerOptions::new(
            "127.0.0.1:0".parse().unwrap(),
            Address::Tcp(common::half_close_backend().await),
            IdMatcher::pattern("spiffe://example.org/app").unwrap(),
        ),
        Arc::new(Arc::new(ca.x509_svid("/db"))),
        Arc::new(ca.bundle_set()),
        svid::Crypto::default(),
    )
    .await
    .unwrap();
    Running::start(proxy)
}

async fn client(ca: &TestCa, listen: Address, remote: Address, server_id: &str) -> Running {
    let proxy = Proxy::client(
        ClientOptions::new(listen, remote, IdMatcher::exact(ca.id(server_id))),
        Arc::new(Arc::new(ca.x509_svid("/app"))),
        Arc::new(ca.bundle_set()),
        svid::Crypto::default(),
    )
    .await
    .unwrap();
    Running::start(proxy)
}

/// A Unix socket listener is owner-only (0600) by default, and bytes go through both proxies
/// with half-close respected.
#[tokio::test]
async fn unix_socket_client_reaches_the_mtls_remote() {
    let ca = TestCa::new("example.org");
    let remote = remote(&ca).await;
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("app.sock");
    let client = client(
        &ca,
        Address::Unix(socket.clone()),
        remote.address.clone(),
        "/db",
    )
    .await;
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let mut plain = tokio::net::UnixStream::connect(&socket).await.unwrap();
    let reply = common::exchange(&mut plain, b"0123456789").await.unwrap();
    assert_eq!(reply, b"got 10 bytes");
    client.stop().await;
    assert!(!socket.exists(), "the socket file outlived the proxy");
    remote.stop().await;
}

/// A remote whose SVID names another workload is refused: the local client's connection ends
/// without data, and the refusal is counted with its reason.
#[tokio::test]
async fn refuses_a_remote_with_the_wrong_spiffe_id() {
    let ca = TestCa::new("example.org");
    let remote = remote(&ca).await;
    let client = client(
        &ca,
        "127.0.0.1:0".parse().unwrap(),
        remote.address.clone(),
        "/cache",
    )
    .await;
    let metric = "spiffekit_proxy_refusals_total{mode=\"client\",reason=\"unauthorized\"}";
    let before = common::counter(metric);
    let mut plain = tokio::net::TcpStream::connect(client.tcp()).await.unwrap();
    let reply = common::exchange(&mut plain, b"secret").await;
    assert!(reply.map_or(true, |r| r.is_empty()));
    common::counter_rises(metric, before).await;
    client.stop().await;
    remote.stop().await;
}

/// A remote that is down: the local connection is closed, the proxy goes on.
#[tokio::test]
async fn remote_down_closes_the_local_connection() {
    let ca = TestCa::new("example.org");
    let client = client(
        &ca,
        "127.0.0.1:0".parse().unwrap(),
        Address::Tcp(common::closed_port()),
        "/db",
    )
    .await;
    let metric = "spiffekit_proxy_connections_total{mode=\"client\",result=\"handshake_failed\"}";
    for _ in 0..2 {
        let before = common::counter(metric);
        let mut plain = tokio::net::TcpStream::connect(client.tcp()).await.unwrap();
        let reply = common::exchange(&mut plain, b"x").await;
        assert!(reply.map_or(true, |r| r.is_empty()));
        common::counter_rises(metric, before).await;
    }
    client.stop().await;
}
