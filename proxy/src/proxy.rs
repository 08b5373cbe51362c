//! [`Proxy`]: the accept loop, the connection limit, the drain, and each mode's connection.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use spiffe_id::SpiffeId;
use svid::X509SvidSource;
use tls_integration::SpiffeTls;
use tls_integration::net::{SpiffeAcceptor, SpiffeConnector};
use tokio::io::AsyncWriteExt;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use trust_bundle::X509BundleSource;

use crate::addr::Address;
use crate::error::{Error, RefusalReason};
use crate::forward::{Ended, forward};
use crate::http::HttpBackend;
use crate::metrics::{self, OpenGuard};
use crate::net::{self, Ends, Listener, Stream};
use crate::options::{Backend, ClientOptions, Mode, ServerOptions, Timeouts};

/// How long the accept loop pauses when out of file descriptors or memory.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// A bound proxy, in server or client mode; [`run`](Self::run) serves it.
///
/// Identity comes from any [`X509SvidSource`] and [`X509BundleSource`] (the Workload API's
/// `X509Source`, files, the `ca` crate's test CA): each handshake reads the current SVID and
/// bundles, so a rotation applies to the next connection while open ones go on.
pub struct Proxy {
    listener: Listener,
    mode: Mode,
    handler: Handler,
    timeouts: Timeouts,
    max_connections: usize,
    state: Arc<State>,
}

/// Whether the proxy can serve: it has an SVID and is not draining.
struct State {
    svids: Arc<dyn X509SvidSource>,
    draining: AtomicBool,
}

enum Handler {
    Server(Arc<ServerHandler>),
    Client(Arc<ClientHandler>),
}

struct ServerHandler {
    acceptor: SpiffeAcceptor,
    backend: Address,
    protocol: ServerProtocol,
    timeouts: Timeouts,
}

enum ServerProtocol {
    Tcp { proxy_protocol: bool },
    Http(Arc<HttpBackend>),
}

struct ClientHandler {
    connector: SpiffeConnector,
    remote: http::Uri,
    idle: Option<Duration>,
}

/// Tells whether a proxy is ready: [`Proxy::readiness`].
#[derive(Clone)]
pub struct Readiness(Arc<State>);

impl Readiness {
    /// `Ok` when the proxy has an SVID to present and is not draining; else why not.
    ///
    /// # Errors
    /// A sentence saying what is missing.
    pub fn check(&self) -> Result<(), &'static str> {
        if self.0.draining.load(Ordering::Relaxed) {
            return Err("draining");
        }
        if self.0.svids.x509_svid().is_none() {
            return Err("no X.509-SVID to present");
        }
        Ok(())
    }
}

impl std::fmt::Debug for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Readiness(..)")
    }
}

impl Proxy {
    /// Binds a server-mode proxy: mTLS on `options.listen`, clients authorized by
    /// `options.allowed`, plaintext to `options.backend`.
    ///
    /// # Errors
    /// [`Error::Tls`] when `crypto` offers no TLS version, [`Error::Listen`] when the address
    /// cannot be bound.
    pub async fn server(
        options: ServerOptions,
        svids: Arc<dyn X509SvidSource>,
        bundles: Arc<dyn X509BundleSource>,
        crypto: svid::Crypto,
    ) -> Result<Self, Error> {
        let mut tls = SpiffeTls::new(crypto);
        if matches!(options.protocol, Backend::Http(_)) {
            tls = tls.with_alpn_protocols(["h2", "http/1.1"]);
        }
        let config = tls.mtls_server(Arc::clone(&svids), bundles, options.allowed)?;
        let acceptor =
            SpiffeAcceptor::new(config).with_handshake_timeout(options.timeouts.handshake);
        let protocol = match options.protocol {
            Backend::Tcp { proxy_protocol } => ServerProtocol::Tcp { proxy_protocol },
            Backend::Http(http) => ServerProtocol::Http(Arc::new(HttpBackend::new(
                options.backend.clone(),
                options.timeouts.connect,
                options.timeouts.http_header_read,
                http,
            ))),
        };
        let listener = Listener::bind(&options.listen, options.socket_mode).await?;
        Ok(Self {
            listener,
            mode: Mode::Server,
            handler: Handler::Server(Arc::new(ServerHandler {
                acceptor,
                backend: options.backend,
                protocol,
                timeouts: options.timeouts,
            })),
            timeouts: options.timeouts,
            max_connections: options.max_connections.max(1),
            state: Arc::new(State {
                svids,
                draining: AtomicBool::new(false),
            }),
        })
    }

    /// Binds a client-mode proxy: plaintext on `options.listen` (a Unix socket gets
    /// `options.socket_mode`, owner-only by default), mTLS to `options.remote`, whose SVID must
    /// match `options.server_ids`.
    ///
    /// # Errors
    /// As [`server`](Self::server), and [`Error::Address`] when the remote is not `HOST:PORT`.
    pub async fn client(
        options: ClientOptions,
        svids: Arc<dyn X509SvidSource>,
        bundles: Arc<dyn X509BundleSource>,
        crypto: svid::Crypto,
    ) -> Result<Self, Error> {
        let Address::Tcp(remote) = &options.remote else {
            return Err(Error::Address {
                address: options.remote.to_string(),
                reason: "the remote of client mode is HOST:PORT",
            });
        };
        let remote: http::Uri =
            format!("https://{remote}")
                .parse()
                .map_err(|_| Error::Address {
                    address: remote.clone(),
                    reason: "not a valid HOST:PORT",
                })?;
        let config =
            SpiffeTls::new(crypto).mtls_client(Arc::clone(&svids), bundles, options.server_ids)?;
        let connector =
            SpiffeConnector::new(config).with_handshake_timeout(options.timeouts.handshake);
        let listener = Listener::bind(&options.listen, options.socket_mode).await?;
        Ok(Self {
            listener,
            mode: Mode::Client,
            handler: Handler::Client(Arc::new(ClientHandler {
                connector,
                remote,
                idle: options.timeouts.idle,
            })),
            timeouts: options.timeouts,
            max_connections: options.max_connections.max(1),
            state: Arc::new(State {
                svids,
                draining: AtomicBool::new(false),
            }),
        })
    }

    /// The address it listens on (with the port chosen when port 0 was asked).
    pub fn local_address(&self) -> Address {
        self.listener.local_address()
    }

    /// Its mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// A handle for `/ready`.
    pub fn readiness(&self) -> Readiness {
        Readiness(Arc::clone(&self.state))
    }

    /// Serves until `shutdown` completes, then drains: stops accepting (a Unix socket file is
    /// removed), lets open connections finish for up to the drain timeout (HTTP connections
    /// finish their request in flight and close), and closes what is still open.
    ///
    /// At most `max_connections` connections are served at once; while that many are open the
    /// loop does not accept, so new clients wait in the listen backlog (they are not refused).
    ///
    /// # Errors
    /// [`Error::Accept`] when accepting fails for a reason other than one connection's (reset
    /// before accept) or a lack of descriptors or memory (then it pauses and goes on).
    pub async fn run(self, shutdown: impl Future) -> Result<(), Error> {
        let limit = Arc::new(Semaphore::new(self.max_connections));
        let (drain_tx, drain_rx) = watch::channel(false);
        let mut tasks = JoinSet::new();
        tokio::pin!(shutdown);
        let mut failure = None;
        tracing::info!(mode = self.mode.as_str(), listen = %self.local_address(), "serving");
        loop {
            while tasks.try_join_next().is_some() {}
            let permit = tokio::select! {
                biased;
                _ = &mut shutdown => break,
                permit = Arc::clone(&limit).acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => break, // never closed
                },
            };
            let (stream, ends) = tokio::select! {
                biased;
                _ = &mut shutdown => break,
                accepted = self.listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(e) if net::is_connection_error(&e) => continue,
                    Err(e) if net::is_resource_exhaustion(&e) => {
                        tracing::warn!(error = %e, "accept failed for lack of resources; retrying");
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                        continue;
                    }
                    Err(e) => {
                        failure = Some(Error::Accept(e));
                        break;
                    }
                },
            };
            let drain = drain_rx.clone();
            match &self.handler {
                Handler::Server(handler) => {
                    let handler = Arc::clone(handler);
                    tasks.spawn(async move {
                        let _permit = permit;
                        handler.connection(stream, ends, drain).await;
                    });
                }
                Handler::Client(handler) => {
                    let handler = Arc::clone(handler);
                    tasks.spawn(async move {
                        let _permit = permit;
                        handler.connection(stream, ends).await;
                    });
                }
            }
        }
        self.state.draining.store(true, Ordering::Relaxed);
        drop(self.listener);
        let _ = drain_tx.send(true);
        tracing::info!(
            mode = self.mode.as_str(),
            open = tasks.len(),
            drain_timeout = ?self.timeouts.drain,
            "stopped accepting; draining open connections"
        );
        let drained = tokio::time::timeout(self.timeouts.drain, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                open = tasks.len(),
                "drain timeout passed; closing the connections still open"
            );
            tasks.shutdown().await;
        }
        failure.map_or(Ok(()), Err)
    }
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("mode", &self.mode)
            .field("listen", &self.local_address())
            .field("timeouts", &self.timeouts)
            .field("max_connections", &self.max_connections)
            .finish_non_exhaustive()
    }
}

impl ServerHandler {
    async fn connection(&self, stream: Stream, ends: Ends, drain: watch::Receiver<bool>) {
        let _open = OpenGuard::new(Mode::Server);
        let started = Instant::now();
        let mut tls = match self.acceptor.accept(stream, ends.peer).await {
            Ok(tls) => tls,
            Err(error) => return handshake_failed(Mode::Server, ends.peer, &error),
        };
        metrics::handshake(Mode::Server, started.elapsed());
        // The handshake requires a client SVID, so an identity is always there; fail closed.
        let Some(peer) = tls.peer_info().spiffe_id().cloned() else {
            return refused(
                Mode::Server,
                ends.peer,
                RefusalReason::NoCertificate,
                "no identity",
            );
        };
        match &self.protocol {
            ServerProtocol::Http(backend) => {
                let result = Arc::clone(backend).serve(tls, peer.clone(), drain).await;
                match result {
                    Ok(()) => metrics::connection(Mode::Server, "ok"),
                    Err(error) => {
                        tracing::debug!(peer.spiffe_id = %peer, %error, "HTTP connection error");
                        metrics::connection(Mode::Server, "error");
                    }
                }
            }
            ServerProtocol::Tcp { proxy_protocol } => {
                let connected = net::connect(&self.backend, self.timeouts.connect).await;
                let mut backend = match connected {
                    Ok((backend, _)) => backend,
                    Err(error) => {
                        tracing::warn!(
                            backend = %self.backend,
                            peer.spiffe_id = %peer,
                            %error,
                            "backend unavailable; closing the client connection"
                        );
                        metrics::connection(Mode::Server, "backend_error");
                        let _ = tls.shutdown().await;
                        return;
                    }
                };
                if *proxy_protocol {
                    if let Err(error) = send_proxy_header(&mut backend, ends, &peer).await {
                        tracing::warn!(backend = %self.backend, %error, "PROXY header not sent");
                        metrics::connection(Mode::Server, "backend_error");
                        return;
                    }
                }
                finished(
                    Mode::Server,
                    forward(Mode::Server, tls, backend, self.timeouts.idle).await,
                );
            }
        }
    }
}

async fn send_proxy_header(backend: &mut Stream, ends: Ends, peer: &SpiffeId) -> io::Result<()> {
    let header = crate::proxy_protocol::header(ends.peer, ends.local, peer)?;
    backend.write_all(&header).await
}

impl ClientHandler {
    async fn connection(&self, stream: Stream, ends: Ends) {
        let _open = OpenGuard::new(Mode::Client);
        let started = Instant::now();
        let tls = match self.connector.connect(&self.remote).await {
            Ok(tls) => tls,
            Err(error) => return handshake_failed(Mode::Client, ends.peer, &error),
        };
        metrics::handshake(Mode::Client, started.elapsed());
        let tls = hyper_util::rt::TokioIo::new(tls);
        finished(
            Mode::Client,
            forward(Mode::Client, stream, tls, self.idle).await,
        );
    }
}

fn finished(mode: Mode, ended: Ended) {
    match ended {
        Ended::Done => metrics::connection(mode, "ok"),
        Ended::Idle => metrics::connection(mode, "idle_timeout"),
        Ended::Failed(error) => {
            tracing::debug!(mode = mode.as_str(), %error, "connection ended with an error");
            metrics::connection(mode, "error");
        }
    }
}

/// Counts and logs a failed handshake: a refused peer at WARN with its typed reason, anything
/// else (timeouts, resets, scanners) at DEBUG.
fn handshake_failed(mode: Mode, peer: Option<SocketAddr>, error: &tls_integration::Error) {
    if let Some(reason) = RefusalReason::of_handshake(error) {
        let detail = error
            .verifier_error()
            .map_or_else(|| error.to_string(), ToString::to_string);
        return refused(mode, peer, reason, &detail);
    }
    let timed_out = matches!(error, tls_integration::Error::Handshake(io)
        if io.kind() == io::ErrorKind::TimedOut);
    let result = if timed_out {
        "handshake_timeout"
    } else {
        "handshake_failed"
    };
    match mode {
        // A remote we cannot reach or talk TLS to is an outage worth a warning.
        Mode::Client => tracing::warn!(mode = mode.as_str(), %error, "mTLS to the remote failed"),
        Mode::Server => {
            tracing::debug!(mode = mode.as_str(), peer.addr = ?peer, %error, "TLS handshake failed");
        }
    }
    metrics::connection(mode, result);
}

fn refused(mode: Mode, peer: Option<SocketAddr>, reason: RefusalReason, detail: &str) {
    tracing::warn!(
        mode = mode.as_str(),
        peer.addr = ?peer,
        reason = reason.as_str(),
        error = detail,
        "refused peer"
    );
    metrics::refusal(mode, reason);
    metrics::connection(mode, "refused");
}
