//! What a proxy is told: its mode, addresses, who may connect, timeouts and limits.

use std::time::Duration;

use http::HeaderName;
use spiffe_id::IdMatcher;

use crate::addr::Address;

/// Which side of the proxy speaks mTLS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mode {
    /// mTLS in, plaintext to the backend.
    Server,
    /// Plaintext in, mTLS to the remote.
    Client,
}

impl Mode {
    /// The metric label and log value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Server => "server",
            Self::Client => "client",
        }
    }
}

/// Timeouts; [`Default`] gives the documented defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Timeouts {
    /// The TLS handshake, from the accept (server mode) or from the TCP connect to the remote
    /// (client mode). Default 10 s.
    pub handshake: Duration,
    /// Connecting to the backend (server mode). Default 10 s.
    pub connect: Duration,
    /// Closes a forwarded TCP connection after this long without a byte in either direction;
    /// `None` (the default) never does. HTTP connections use `http_header_read` instead.
    pub idle: Option<Duration>,
    /// How long an HTTP/1.1 client may take to send a request's headers. Default 30 s.
    pub http_header_read: Duration,
    /// After shutdown starts, how long open connections may go on before they are closed.
    /// Default 30 s.
    pub drain: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            handshake: Duration::from_secs(10),
            connect: Duration::from_secs(10),
            idle: None,
            http_header_read: Duration::from_secs(30),
            drain: Duration::from_secs(30),
        }
    }
}

/// The default limit of concurrent connections ([`ServerOptions::max_connections`]).
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

/// The default mode of a Unix socket the proxy listens on: owner only.
pub const DEFAULT_SOCKET_MODE: u32 = 0o600;

/// How the server mode talks to its backend.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Backend {
    /// Bytes as they come; with `proxy_protocol`, a PROXY protocol v2 header first, carrying
    /// the client's addresses and SPIFFE ID ([`SPIFFE_ID_TLV`](crate::SPIFFE_ID_TLV)).
    Tcp {
        /// Send the PROXY v2 header.
        proxy_protocol: bool,
    },
    /// HTTP: requests parsed (HTTP/1.1, or HTTP/2 when the client negotiated `h2`), forwarded
    /// to the backend over HTTP/1.1, with the client's SPIFFE ID in a header.
    Http(HttpOptions),
}

/// The peer header of HTTP backends.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct HttpOptions {
    /// The header that carries the client's SPIFFE ID; any header of that name the client sent
    /// is removed first. `None`: no header is added (and none stripped). Default
    /// `x-forwarded-client-cert`.
    pub peer_header: Option<HeaderName>,
    /// How the value is written. Default [`HeaderFormat::Xfcc`].
    pub format: HeaderFormat,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            peer_header: Some(HeaderName::from_static("x-forwarded-client-cert")),
            format: HeaderFormat::Xfcc,
        }
    }
}

/// The value of the peer header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeaderFormat {
    /// Envoy's `x-forwarded-client-cert` element: `URI=spiffe://example.org/client`.
    Xfcc,
    /// The SPIFFE ID alone.
    SpiffeId,
}

/// A server-mode proxy: mTLS on `listen`, clients authorized by `allowed`, plaintext to
/// `backend`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ServerOptions {
    /// Where clients connect with mTLS.
    pub listen: Address,
    /// The backend (TCP or Unix).
    pub backend: Address,
    /// How to talk to it.
    pub protocol: Backend,
    /// The client SPIFFE IDs let through.
    pub allowed: IdMatcher,
    /// Timeouts.
    pub timeouts: Timeouts,
    /// Connections served at once; when reached, the proxy stops accepting and new clients
    /// wait in the listen backlog until one closes. Default [`DEFAULT_MAX_CONNECTIONS`].
    pub max_connections: usize,
    /// The mode of `listen` when it is a Unix socket. Default [`DEFAULT_SOCKET_MODE`].
    pub socket_mode: u32,
}

impl ServerOptions {
    /// A TCP backend without PROXY protocol, the default timeouts and limits.
    pub fn new(listen: Address, backend: Address, allowed: IdMatcher) -> Self {
        Self {
            listen,
            backend,
            protocol: Backend::Tcp {
                proxy_protocol: false,
            },
            allowed,
            timeouts: Timeouts::default(),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            socket_mode: DEFAULT_SOCKET_MODE,
        }
    }
}

/// A client-mode proxy: plaintext on `listen`, mTLS to `remote`, whose SPIFFE ID must match
/// `server_ids`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ClientOptions {
    /// Where local clients connect (a Unix socket gets [`socket_mode`](Self::socket_mode)).
    pub listen: Address,
    /// The mTLS server, `HOST:PORT`.
    pub remote: Address,
    /// The server SPIFFE IDs accepted.
    pub server_ids: IdMatcher,
    /// Timeouts (`handshake` covers the TCP connect and the handshake).
    pub timeouts: Timeouts,
    /// Connections served at once, as for [`ServerOptions::max_connections`].
    pub max_connections: usize,
    /// The mode of `listen` when it is a Unix socket. Default [`DEFAULT_SOCKET_MODE`].
    pub socket_mode: u32,
}

impl ClientOptions {
    /// The default timeouts and limits.
    pub fn new(listen: Address, remote: Address, server_ids: IdMatcher) -> Self {
        Self {
            listen,
            remote,
            server_ids,
            timeouts: Timeouts::default(),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            socket_mode: DEFAULT_SOCKET_MODE,
        }
    }
}
