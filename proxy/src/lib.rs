//! A SPIFFE-aware TLS proxy: mutual TLS by SPIFFE ID in front of any TCP or HTTP service
//! (server mode), and mTLS out of programs that speak plaintext (client mode).
//!
//! - **Server mode** ([`Proxy::server`]): accepts mTLS, verifies the client's X.509-SVID
//!   against the bundle of its own trust domain, authorizes its SPIFFE ID with an
//!   [`IdMatcher`](spiffe_id::IdMatcher), and forwards plaintext to a backend (TCP or Unix
//!   socket). TCP backends may get a PROXY protocol v2 header with the client's SPIFFE ID in
//!   TLV [`SPIFFE_ID_TLV`]; HTTP backends get it in a header (Envoy's
//!   `x-forwarded-client-cert: URI=spiffe://...` by default), any client-sent header of that
//!   name removed first.
//! - **Client mode** ([`Proxy::client`]): accepts plaintext (TCP, or a Unix socket that is
//!   owner-only by default) and opens mTLS to a remote whose SPIFFE ID must match.
//!
//! Identity comes from any [`svid::X509SvidSource`] and [`trust_bundle::X509BundleSource`]: the
//! Workload API's `workload_client::X509Source`, files, or the `ca` crate's test CA. Each
//! handshake reads them, so a rotated SVID or a bundle update applies to the next connection
//! while open connections go on. Sessions never resume: every connection is verified.
//!
//! Operations: handshake, connect and idle timeouts ([`Timeouts`]), a limit on concurrent
//! connections (new clients wait in the backlog), a drain on shutdown, a WARN log line per
//! refused peer with its [`RefusalReason`], and [`metrics`] through the `metrics` facade.
//! The `spiffekit-proxy` binary adds a TOML configuration, `/live`, `/ready`, `/metrics` and
//! SIGTERM (see the README).
//!
//! What it is not: a general reverse proxy. There is no routing, no load balancing, no
//! HTTP upgrade (WebSocket) forwarding in HTTP mode (use TCP mode for those).
//!
//! # Both modes, end to end
//!
//! A plaintext client talks to a client-mode proxy, which opens mTLS to a server-mode proxy,
//! which forwards to an echo service:
//!
//! ```
//! use std::sync::Arc;
//! use ca::TestCa;
//! use proxy::{Address, ClientOptions, Proxy, ServerOptions};
//! use spiffe_id::IdMatcher;
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let ca = TestCa::new("example.org"); // in production: workload_client::X509Source
//! let bundles = Arc::new(ca.bundle_set());
//! let crypto = svid::Crypto::default();
//!
//! // The service: echoes what it reads.
//! let echo = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let backend = Address::Tcp(echo.local_addr()?.to_string());
//! tokio::spawn(async move {
//!     while let Ok((mut tcp, _)) = echo.accept().await {
//!         tokio::spawn(async move {
//!             let (mut r, mut w) = tcp.split();
//!             let _ = tokio::io::copy(&mut r, &mut w).await;
//!         });
//!     }
//! });
//!
//! // mTLS in front of it: only spiffe://example.org/web may connect.
//! let server = Proxy::server(
//!     ServerOptions::new(
//!         "127.0.0.1:0".parse()?,
//!         backend,
//!         IdMatcher::pattern("spiffe://example.org/web")?,
//!     ),
//!     Arc::new(Arc::new(ca.x509_svid("/db"))),
//!     bundles.clone(),
//!     crypto.clone(),
//! )
//! .await?;
//!
//! // The web workload's side: plaintext in, mTLS out to a server that must be /db.
//! let client = Proxy::client(
//!     ClientOptions::new(
//!         "127.0.0.1:0".parse()?,
//!         server.local_address(),
//!         IdMatcher::exact(ca.id("/db")),
//!     ),
//!     Arc::new(Arc::new(ca.x509_svid("/web"))),
//!     bundles,
//!     crypto,
//! )
//! .await?;
//! let Address::Tcp(local) = client.local_address() else { unreachable!() };
//!
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! let server = tokio::spawn(server.run(async { let _ = stopped.await; }));
//! let client = tokio::spawn(client.run(std::future::pending::<()>()));
//!
//! let mut app = tokio::net::TcpStream::connect(local).await?;
//! app.write_all(b"ping").await?;
//! app.shutdown().await?; // half-close: the reply still comes back
//! let mut reply = String::new();
//! app.read_to_string(&mut reply).await?;
//! assert_eq!(reply, "ping");
//!
//! let _ = stop.send(());
//! server.await??;
//! client.abort();
//! # Ok(())
//! # }
//! ```
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `ring` | yes | TLS and SVID checks with ring (`svid::Crypto::ring`) |
//! | `aws-lc-rs` | no | the same with aws-lc-rs; `svid::Crypto::default` prefers it |

mod addr;
pub mod config;
mod error;
mod forward;
mod http;
pub mod metrics;
mod net;
mod options;
mod proxy;
mod proxy_protocol;

pub use addr::Address;
pub use error::{Error, RefusalReason};
pub use options::{
    Backend, ClientOptions, DEFAULT_MAX_CONNECTIONS, DEFAULT_SOCKET_MODE, HeaderFormat,
    HttpOptions, Mode, ServerOptions, Timeouts,
};
pub use proxy::{Proxy, Readiness};
pub use proxy_protocol::{SPIFFE_ID_TLV, header as proxy_protocol_header};
