//! Server mode against real TCP peers: mTLS in, SPIFFE ID authorization, plaintext out.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers: a panic is a failed test"
)]

mod common;

use std::sync::Arc;

use ca::TestCa;
use common::{Rotating, Running};
use proxy::{Address, Backend, Proxy, SPIFFE_ID_TLV, ServerOptions};
use spiffe_id::IdMatcher;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn server(ca: &TestCa, backend: String, allowed: &str) -> Running {
    server_with(ca, backend, allowed, |_| {}).await
}

async fn server_with(
    ca: &TestCa,
    backend: String,
    allowed: &str,
    adjust: impl FnOnce(&mut ServerOptions),
) -> Running {
    let mut options = ServerOptions::new(
        "127.0.0.1:0".parse().unwrap(),
        Address::Tcp(backend),
        IdMatcher::pattern(allowed).unwrap(),
    );
    adjust(&mut options);
    let proxy = Proxy::server(
        options,
        Arc::new(Arc::new(ca.x509_svid("/proxy"))),
        Arc::new(ca.bundle_set()),
        svid::Crypto::default(),
    )
    .await
    .unwrap();
    Running::start(proxy)
}

/// The client's half-close reaches the backend and the backend's answer still comes back.
#[tokio::test]
async fn allowed_client_reaches_the_backend_and_half_close_is_respected() {
    let ca = TestCa::new("example.org");
    let proxy = server(
        &ca,
        common::half_close_backend().await,
        "spiffe://example.org/web",
    )
    .await;
    let mut tls = common::mtls_connect(
        &proxy.tcp(),
        ca.x509_svid("/web"),
        Arc::new(ca.bundle_set()),
        IdMatcher::exact(ca.id("/proxy")),
    )
    .await
    .unwrap();
    let reply = common::exchange(&mut tls, &[7u8; 100_000]).await.unwrap();
    assert_eq!(reply, b"got 100000 bytes");
    proxy.stop().await;
}

/// Refused peers: the handshake fails for them (with TLS 1.3 the client sees it on its first
/// read), nothing reaches the backend, and the refusal is counted with its typed reason.
/// X509-SVID 5 (validation: chain to the bundle of the SVID's own trust domain; validity).
#[tokio::test]
async fn refuses_wrong_id_other_trust_domain_and_expired_svid_by_reason() {
    let ca = TestCa::new("example.org");
    let other = TestCa::new("other.org");
    let proxy = server(
        &ca,
        common::half_close_backend().await,
        "spiffe://example.org/web",
    )
    .await;
    let cases = [
        (ca.x509_svid("/intruder"), "unauthorized"),
        (other.x509_svid("/web"), "unknown_trust_domain"),
        (ca.expired_x509_svid("/web"), "expired"),
    ];
    for (svid, reason) in cases {
        let metric =
            format!("spiffekit_proxy_refusals_total{{mode=\"server\",reason=\"{reason}\"}}");
        let before = common::counter(&metric);
        let bundles = Arc::new(TestCa::bundle_set_of(&[&ca, &other]));
        let connected = common::mtls_connect(&proxy.tcp(), svid, bundles, IdMatcher::any()).await;
        if let Ok(mut tls) = connected {
            let reply = common::exchange(&mut tls, b"hello").await;
            assert!(
                reply.as_ref().map_or(true, Vec::is_empty),
                "{reason}: the refused client got {reply:?}"
            );
        }
        common::counter_rises(&metric, before).await;
    }
    proxy.stop().await;
}

/// A backend that is down: the client's connection is closed cleanly, counted, and the proxy
/// goes on serving.
#[tokio::test]
async fn backend_down_closes_the_client_cleanly_and_keeps_serving() {
    let ca = TestCa::new("example.org");
    let proxy = server(&ca, common::closed_port(), "spiffe://example.org/web").await;
    let metric = "spiffekit_proxy_connections_total{mode=\"server\",result=\"backend_error\"}";
    for _ in 0..2 {
        let before = common::counter(metric);
        let mut tls = common::mtls_connect(
            &proxy.tcp(),
            ca.x509_svid("/web"),
            Arc::new(ca.bundle_set()),
            IdMatcher::any(),
        )
        .await
        .unwrap();
        let mut reply = Vec::new();
        // A TLS close_notify, then EOF: a clean end, not a reset.
        tls.read_to_end(&mut reply).await.unwrap();
        assert!(reply.is_empty());
        common::counter_rises(metric, before).await;
    }
    proxy.stop().await;
}

/// A rotation in the middle of a long-lived connection: it keeps going; the next connection's
/// handshake presents the new SVID.
#[tokio::test]
async fn rotation_keeps_open_connections_and_new_ones_get_the_new_svid() {
    let ca = TestCa::new("example.org");
    let svids = Rotating::new(ca.x509_svid("/proxy"));
    let first_leaf = svids.current().leaf().clone();
    let proxy = Proxy::server(
        ServerOptions::new(
            "127.0.0.1:0".parse().unwrap(),
            Address::Tcp(common::echo_backend().await),
            IdMatcher::pattern("spiffe://example.org/web").unwrap(),
        ),
        svids.clone(),
        Arc::new(ca.bundle_set()),
        svid::Crypto::default(),
    )
    .await
    .unwrap();
    let proxy = Running::start(proxy);
    let address = proxy.tcp();
    let connect = || {
        common::mtls_connect(
            &address,
            ca.x509_svid("/web"),
            Arc::new(ca.bundle_set()),
            IdMatcher::exact(ca.id("/proxy")),
        )
    };
    let mut long_lived = connect().await.unwrap();
    let mut buf = [0u8; 5];
    long_lived.write_all(b"one..").await.unwrap();
    long_lived.read_exact(&mut buf).await.unwrap();
    assert_eq!(
        long_lived.get_ref().1.peer_certificates().unwrap()[0],
        first_leaf
    );

    svids.rotate(ca.x509_svid("/proxy"));
    let second_leaf = svids.current().leaf().clone();
    assert_ne!(first_leaf, second_leaf);

    long_lived.write_all(b"two..").await.unwrap();
    long_lived.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"two..");
    let fresh = connect().await.unwrap();
    assert_eq!(
        fresh.get_ref().1.peer_certificates().unwrap()[0],
        second_leaf
    );
    drop(fresh);
    long_lived.shutdown().await.unwrap();
    proxy.stop().await;
}

/// PROXY protocol v2 (HAProxy proxy-protocol.txt 2.2): the backend reads the header first, with
/// the client's addresses and its SPIFFE ID in TLV 0xE0, then the client's bytes.
#[tokio::test]
async fn proxy_protocol_v2_header_carries_the_client_spiffe_id() {
    let ca = TestCa::new("example.org");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let backend = listener.local_addr().unwrap().to_string();
    let received = tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.unwrap();
        let mut data = Vec::new();
        tcp.read_to_end(&mut data).await.unwrap();
        data
    });
    let proxy = server_with(&ca, backend, "spiffe://example.org/web", |options| {
        options.protocol = Backend::Tcp {
            proxy_protocol: true,
        };
    })
    .await;
    let mut tls = common::mtls_connect(
        &proxy.tcp(),
        ca.x509_svid("/web"),
        Arc::new(ca.bundle_set()),
        IdMatcher::any(),
    )
    .await
    .unwrap();
    let client_addr = tls.get_ref().0.local_addr().unwrap();
    common::exchange(&mut tls, b"payload").await.unwrap();
    let data = received.await.unwrap();
    let header = ppp::v2::Header::try_from(data.as_slice()).unwrap();
    assert_eq!(header.command, ppp::v2::Command::Proxy);
    match header.addresses {
        ppp::v2::Addresses::IPv4(ip) => {
            assert_eq!(ip.source_address, std::net::Ipv4Addr::LOCALHOST);
            assert_eq!(ip.source_port, client_addr.port());
        }
        other => panic!("addresses {other:?}"),
    }
    let tlvs: Vec<_> = header.tlvs().map(Result::unwrap).collect();
    assert_eq!(tlvs.len(), 1);
    assert_eq!(tlvs[0].kind, SPIFFE_ID_TLV);
    assert_eq!(&*tlvs[0].value, b"spiffe://example.org/web");
    assert_eq!(&data[header.len()..], b"payload");
    proxy.stop().await;
}

/// Shutdown: the listener closes at once (new connections are refused), the open connection
/// goes on until it ends, and only then does `run` return.
#[tokio::test]
async fn drain_stops_accepting_and_lets_open_connections_finish() {
    let ca = TestCa::new("example.org");
    let mut proxy = server(
        &ca,
        common::echo_backend().await,
        "spiffe://example.org/web",
    )
    .await;
    let address = proxy.tcp();
    let mut open = common::mtls_connect(
        &address,
        ca.x509_svid("/web"),
        Arc::new(ca.bundle_set()),
        IdMatcher::any(),
    )
    .await
    .unwrap();
    let mut buf = [0u8; 3];
    open.write_all(b"abc").await.unwrap();
    open.read_exact(&mut buf).await.unwrap();

    proxy.begin_stop();
    // The listener is dropped when the loop sees the shutdown.
    let mut refused = false;
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(&address).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(refused, "the proxy still accepts after shutdown began");
    open.write_all(b"def").await.unwrap();
    open.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"def");
    open.shutdown().await.unwrap();
    let mut rest = Vec::new();
    let _ = open.read_to_end(&mut rest).await;
    proxy.stopped().await;
}

/// A backend that echoes and records the most connections it ever had open at once.
async fn counting_echo_backend() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let open = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&most);
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let now = open.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            let open = Arc::clone(&open);
            tokio::spawn(async move {
                let (mut reader, mut writer) = tcp.split();
                let _ = tokio::io::copy(&mut reader, &mut writer).await;
                let _ = writer.shutdown().await;
                open.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    (address, seen)
}

/// With `max_connections = 1` a second client is not refused: it waits (in the listen
/// backlog) and is served once the first connection has ended, so the backend never sees two.
#[tokio::test]
async fn excess_connections_wait_for_a_free_slot() {
    let ca = TestCa::new("example.org");
    let (backend, most) = counting_echo_backend().await;
    let proxy = server_with(&ca, backend, "spiffe://example.org/web", |options| {
        options.max_connections = 1;
    })
    .await;
    let address = proxy.tcp();
    let connect = || {
        common::mtls_connect(
            &address,
            ca.x509_svid("/web"),
            Arc::new(ca.bundle_set()),
            IdMatcher::any(),
        )
    };
    let mut first = connect().await.unwrap();
    let mut buf = [0u8; 5];
    first.write_all(b"first").await.unwrap();
    first.read_exact(&mut buf).await.unwrap();
    let second = tokio::spawn({
        let address = address.clone();
        let svid = ca.x509_svid("/web");
        let bundles = Arc::new(ca.bundle_set());
        async move {
            let mut tls = common::mtls_connect(&address, svid, bundles, IdMatcher::any())
                .await
                .unwrap();
            common::exchange(&mut tls, b"second").await.unwrap()
        }
    });
    first.write_all(b"again").await.unwrap();
    first.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"again");
    assert_eq!(common::exchange(&mut first, b"").await.unwrap(), b"");
    assert_eq!(second.await.unwrap(), b"second");
    assert_eq!(most.load(std::sync::atomic::Ordering::SeqCst), 1);
    proxy.stop().await;
}

/// A connection with no bytes either way for the idle timeout is closed, and counted so.
#[tokio::test]
async fn idle_connections_are_closed() {
    let ca = TestCa::new("example.org");
    let proxy = server_with(
        &ca,
        common::echo_backend().await,
        "spiffe://example.org/web",
        |options| {
            options.timeouts.idle = Some(std::time::Duration::from_millis(200));
        },
    )
    .await;
    let metric = "spiffekit_proxy_connections_total{mode=\"server\",result=\"idle_timeout\"}";
    let before = common::counter(metric);
    let mut tls = common::mtls_connect(
        &proxy.tcp(),
        ca.x509_svid("/web"),
        Arc::new(ca.bundle_set()),
        IdMatcher::any(),
    )
    .await
    .unwrap();
    let mut rest = Vec::new();
    let _ = tls.read_to_end(&mut rest).await; // returns once the proxy closes
    assert!(rest.is_empty());
    common::counter_rises(metric, before).await;
    proxy.stop().await;
}
