//! The public face of a running agent: [`AgentBuilder`] configures and starts it,
//! [`AgentHandle`] changes and stops it. What they share with the RPCs is in `agent_core`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use ca::CertificateAuthority;
use spiffe_id::TrustDomain;
use store::Store;
use svid::Crypto;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use trust_bundle::SpiffeBundle;
use workload_api::proto::spiffe_workload_api_server::SpiffeWorkloadApiServer;

use crate::admin::catalog::Catalog;
use crate::admin::records::{self, on_store};
use crate::admin::{self, AdminOptions, AdminServer};
use crate::admit::Admit;
use crate::agent_core::AgentCore;
use crate::attest::{Attestor, TcpAttestor, UnixAttestor};
use crate::config::{DEFAULT_JWT_SVID_TTL, DEFAULT_X509_SVID_TTL};
use crate::entry::RegistrationEntry;
use crate::entry_id::EntryId;
use crate::error::Error;
use crate::issue::JwtCache;
use crate::issuer::Issuer;
use crate::limits::{ConnectionCounter, Limits};
use crate::listen::{self, Listener};
use crate::rotation;
use crate::service::WorkloadApiService;
use crate::state::ServedStateLock;
use crate::upstream::{self, UpstreamConfig};

/// The default mode of the socket file: every local user may connect, and attestation
/// decides what each gets (a uid that matches no entry gets `PermissionDenied`), as SPIRE's
/// agent does (it makes its socket 0777; execute bits mean nothing on a socket). Narrow it
/// with [`AgentBuilder::socket_mode`], e.g. `0o600` (the agent's user only) or `0o660` (its
/// group too), to refuse other users at `connect()`.
pub const DEFAULT_SOCKET_MODE: u32 = 0o666;

/// How long [`AgentHandle::shutdown`] waits for connections to finish after every stream was
/// ended, before dropping them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// An embeddable SPIFFE Workload API server. Start one with [`Agent::builder`].
#[derive(Debug)]
#[non_exhaustive]
pub struct Agent;

impl Agent {
    /// A builder for an agent that mints through `ca`.
    pub fn builder(ca: CertificateAuthority) -> AgentBuilder {
        let crypto = ca.crypto().clone();
        AgentBuilder::with_source(Source::Ca(ca), crypto)
    }

    /// A builder for an agent in upstream mode: it attests its node to a fleet server and
    /// takes its entries and SVIDs from there (see [`UpstreamConfig`]).
    pub fn upstream_builder(config: UpstreamConfig) -> AgentBuilder {
        let crypto = config.client.config().crypto.clone();
        AgentBuilder::with_source(Source::Upstream(config), crypto)
    }
}

/// Where a new agent's identities come from.
enum Source {
    Ca(CertificateAuthority),
    Upstream(UpstreamConfig),
}

impl AgentBuilder {
    fn with_source(source: Source, crypto: Crypto) -> Self {
        Self {
            source,
            entries: Vec::new(),
            federated: Vec::new(),
            attestors: vec![Arc::new(UnixAttestor::new()), Arc::new(TcpAttestor)],
            x509_ttl: DEFAULT_X509_SVID_TTL,
            jwt_ttl: DEFAULT_JWT_SVID_TTL,
            socket_mode: DEFAULT_SOCKET_MODE,
            tcp: None,
            limits: Limits::default(),
            crypto,
            ca_rotation_interval: None,
            admin: AdminOptions::default(),
            store: None,
        }
    }
}

/// Configures and starts an [`Agent`].
#[must_use]
pub struct AgentBuilder {
    source: Source,
    entries: Vec<RegistrationEntry>,
    federated: Vec<SpiffeBundle>,
    attestors: Vec<Arc<dyn Attestor>>,
    x509_ttl: Duration,
    jwt_ttl: Duration,
    socket_mode: u32,
    tcp: Option<SocketAddr>,
    limits: Limits,
    crypto: Crypto,
    ca_rotation_interval: Option<Duration>,
    admin: AdminOptions,
    store: Option<Arc<dyn Store>>,
}

impl core::fmt::Debug for AgentBuilder {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AgentBuilder")
            .field("entries", &self.entries.len())
            .field("federated", &self.federated.len())
            .field("attestors", &self.attestors)
            .field("x509_ttl", &self.x509_ttl)
            .field("jwt_ttl", &self.jwt_ttl)
            .field("socket_mode", &format_args!("{:o}", self.socket_mode))
            .field("tcp", &self.tcp)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl AgentBuilder {
    /// Serves the [admin API](crate::admin) on a Unix socket of its own at `path` (mode
    /// 0600), for root and the agent's own uid unless
    /// [`admin_allowed_uids`](Self::admin_allowed_uids) says otherwise.
    pub fn admin_socket(mut self, path: impl Into<PathBuf>) -> Self {
        self.admin.socket = Some(path.into());
        self
    }

    /// Keeps the entries created through the [admin API](crate::admin) in `store`: they are
    /// served again at the next start, with the same ids. Give the CA a journal in the same
    /// store (`store.ca_journal(..)` as its key store) to keep its trust root too.
    pub fn store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// Which uids may call the admin API (default: root and the agent's own).
    pub fn admin_allowed_uids(mut self, uids: impl IntoIterator<Item = u32>) -> Self {
        self.admin.allowed_uids = Some(uids.into_iter().collect());
        self
    }

    /// Registers an entry at start-up.
    pub fn entry(mut self, entry: RegistrationEntry) -> Self {
        self.entries.push(entry);
        self
    }

    /// Registers several entries at start-up, in order.
    pub fn entries(mut self, entries: impl IntoIterator<Item = RegistrationEntry>) -> Self {
        self.entries.extend(entries);
        self
    }

    /// Sets the bundle of a foreign trust domain at start-up.
    pub fn federated_bundle(mut self, bundle: SpiffeBundle) -> Self {
        self.federated.push(bundle);
        self
    }

    /// Adds an attestor; its selectors are added to those of the others.
    pub fn attestor(mut self, attestor: impl Attestor) -> Self {
        self.attestors.push(Arc::new(attestor));
        self
    }

    /// Removes the built-in attestors ([`UnixAttestor`], [`TcpAttestor`]), e.g. to add a
    /// [`UnixAttestor::without_binary_selectors`] instead, or only custom ones.
    pub fn without_default_attestors(mut self) -> Self {
        self.attestors.clear();
        self
    }

    /// The X509-SVID lifetime for entries that do not set one (default one hour). SVIDs are
    /// replaced at about half their lifetime.
    pub fn x509_svid_ttl(mut self, ttl: Duration) -> Self {
        self.x509_ttl = ttl;
        self
    }

    /// The JWT-SVID lifetime for entries that do not set one (default five minutes).
    pub fn jwt_svid_ttl(mut self, ttl: Duration) -> Self {
        self.jwt_ttl = ttl;
        self
    }

    /// The socket file's permission bits (default [`DEFAULT_SOCKET_MODE`]).
    pub fn socket_mode(mut self, mode: u32) -> Self {
        self.socket_mode = mode & 0o777;
        self
    }

    /// Also serves on TCP at `addr` (port 0 picks one; see [`AgentHandle::tcp_addr`]). TCP
    /// callers are attested by [`TcpAttestor`] (source IP) only: use it on loopback or
    /// networks that authenticate by address (Workload Endpoint §3).
    pub fn tcp(mut self, addr: SocketAddr) -> Self {
        self.tcp = Some(addr);
        self
    }

    /// The most streaming RPCs (`FetchX509SVID`, `FetchX509Bundles`, `FetchJWTBundles`) one
    /// connection may have open (default [`DEFAULT_MAX_STREAMS_PER_CONNECTION`], at least 1).
    /// One more gets `ResourceExhausted`; the connection's other streams and every other
    /// connection are unaffected. HTTP/2 `SETTINGS_MAX_CONCURRENT_STREAMS` is set 32 above
    /// it, so unary calls still pass.
    ///
    /// [`DEFAULT_MAX_STREAMS_PER_CONNECTION`]: crate::DEFAULT_MAX_STREAMS_PER_CONNECTION
    pub fn max_streams_per_connection(mut self, max: u32) -> Self {
        self.limits.streams_per_connection = max.max(1);
        self
    }

    /// The most connections one uid may have open on the Unix socket (default
    /// [`DEFAULT_MAX_CONNECTIONS_PER_UID`], at least 1). A connection past it is accepted,
    /// every call on it is answered with `ResourceExhausted`, and it is closed two seconds
    /// later (at most 32 such connections are held at a time; more are closed at once).
    ///
    /// [`DEFAULT_MAX_CONNECTIONS_PER_UID`]: crate::DEFAULT_MAX_CONNECTIONS_PER_UID
    pub fn max_connections_per_uid(mut self, max: usize) -> Self {
        self.limits.connections_per_uid = max.max(1);
        self
    }

    /// The most connections open in total, Unix and TCP (default
    /// [`DEFAULT_MAX_CONNECTIONS`], at least 1); past it, as for
    /// [`max_connections_per_uid`](Self::max_connections_per_uid).
    ///
    /// [`DEFAULT_MAX_CONNECTIONS`]: crate::DEFAULT_MAX_CONNECTIONS
    pub fn max_connections(mut self, max: usize) -> Self {
        self.limits.connections = max.max(1);
        self
    }

    /// Runs the CA's key lifecycle ([`CertificateAuthority::rotate`]) every `interval`, for
    /// agents that own their CA (the `agent` binary does, every 10 s). Off by default: an
    /// embedder that shares the CA usually drives it itself. Either way the agent follows
    /// every change the CA publishes.
    pub fn drive_ca_rotation(mut self, interval: Duration) -> Self {
        self.ca_rotation_interval = Some(interval);
        self
    }

    /// The crypto `ValidateJWTSVID` verifies with; default the CA's
    /// ([`CertificateAuthority::crypto`]), so the agent's one crypto is the one its CA was built
    /// with.
    pub fn crypto(mut self, crypto: Crypto) -> Self {
        self.crypto = crypto;
        self
    }

    /// Binds the socket at `path` (and TCP when configured) and starts serving at once; the
    /// entries' first X509-SVIDs are minted in the background (those a caller is waiting for
    /// first: its FetchX509SVID stream sends its first message when they are ready; JWT calls
    /// do not wait). [`AgentHandle::minted`] waits for all of them. Must be called inside a
    /// tokio runtime.
    ///
    /// # Errors
    /// An [`Error::Entry`] for an entry that cannot be served,
    /// [`Error::FederatedBundleForOwnTrustDomain`], or a socket error ([`Error::Bind`],
    /// [`Error::SocketInUse`], [`Error::NotASocket`]).
    pub async fn serve_unix(self, path: impl AsRef<Path>) -> Result<AgentHandle, Error> {
        let path = path.as_ref().to_owned();
        if let Some(admin) = &self.admin.socket {
            admin::check_socket_path(admin, &path)?;
        }
        let (issuer, ca_changes, upstream_entries) = match self.source {
            Source::Ca(ca) => {
                let changes = ca.subscribe();
                let epoch = changes.borrow().x509_authority_epoch();
                (Issuer::Ca(ca), Some((changes, epoch)), None)
            }
            Source::Upstream(config) => {
                if !self.entries.is_empty() || self.store.is_some() {
                    return Err(Error::UpstreamLocalEntries);
                }
                let (upstream, entries) = upstream::sync::start(config).await?;
                (Issuer::Upstream(upstream), None, Some(entries))
            }
        };
        let own_bundle = issuer.bundle();
        let trust_domain = own_bundle.trust_domain().clone();
        for entry in &self.entries {
            entry.check(&trust_domain)?;
        }
        let agent = Arc::new(AgentCore {
            state: ServedStateLock::new(trust_domain.clone(), own_bundle),
            trust_domain,
            attestors: self.attestors,
            x509_ttl: self.x509_ttl,
            jwt_ttl: self.jwt_ttl,
            crypto: self.crypto,
            jwt_cache: JwtCache::default(),
            reschedule: Notify::new(),
            x509_authority_changes: AtomicU64::new(0),
            ca_rotation_interval: self.ca_rotation_interval,
            federation: std::sync::Mutex::new(None),
            issuer,
        });
        for bundle in self.federated {
            agent.set_federated_bundle(bundle)?;
        }
        let stored = match &self.store {
            Some(store) => on_store(store, "list_entries", |s| s.entries()).await?,
            None => Vec::new(),
        };
        let mut stored_entries = Vec::with_capacity(stored.len());
        for record in &stored {
            stored_entries.push(records::entry_of(record, &agent.trust_domain)?);
        }
        let config_count = self.entries.len();
        let all: Vec<RegistrationEntry> = self.entries.into_iter().chain(stored_entries).collect();
        let ids = agent.register_unminted(all.clone());
        let cataloged = ids
            .into_iter()
            .zip(all)
            .enumerate()
            .filter_map(
                |(index, (id, entry))| match index.checked_sub(config_count) {
                    None => Some(Catalog::from_config(index, id, entry)),
                    Some(n) => Some(Catalog::from_record(stored.get(n)?, id, entry)),
                },
            )
            .collect();
        let catalog = Arc::new(Catalog::new(Arc::clone(&agent), cataloged, self.store));

        let (unix, inode) = listen::bind_unix(&path, self.socket_mode).await?;
        let tcp = match self.tcp {
            Some(addr) => Some(listen::bind_tcp(addr).await?),
            None => None,
        };
        let tcp_addr = match &tcp {
            Some(listener) => Some(listener.local_addr().map_err(Error::Io)?),
            None => None,
        };

        let (stop, stopped) = watch::channel(false);
        let admin = match self.admin.socket {
            Some(socket) => {
                let uids = self
                    .admin
                    .allowed_uids
                    .unwrap_or_else(admin::default_allowed_uids);
                Some(
                    admin::serve(
                        Arc::clone(&agent),
                        Arc::clone(&catalog),
                        socket,
                        uids,
                        stopped.clone(),
                    )
                    .await?,
                )
            }
            None => None,
        };
        let mut servers = Vec::new();
        let connections = ConnectionCounter::new(self.limits);
        let listeners = core::iter::once(Listener::Unix(unix)).chain(tcp.map(Listener::Tcp));
        for listener in listeners {
            let service = Admit::new(SpiffeWorkloadApiServer::new(WorkloadApiService::new(
                Arc::clone(&agent),
            )));
            let mut stopped = stopped.clone();
            let incoming = listener.into_incoming(Arc::clone(&connections));
            let server = tonic::transport::Server::builder()
                .max_concurrent_streams(self.limits.h2_max_concurrent_streams())
                .add_service(service)
                .serve_with_incoming_shutdown(incoming, async move {
                    let _ = stopped.wait_for(|stop| *stop).await;
                });
            servers.push(tokio::spawn(server));
        }
        let upstream_sync = match (&agent.issuer, upstream_entries) {
            (Issuer::Upstream(upstream), Some((entries, federated))) => {
                let ids =
                    agent.register_unminted(entries.iter().map(|s| s.entry.clone()).collect());
                let known = entries
                    .into_iter()
                    .zip(ids)
                    .map(|(synced, id)| (synced.upstream_id, (id, synced.revision)))
                    .collect();
                let mut applied = std::collections::BTreeSet::new();
                agent.apply_federated_bundles(federated, &mut applied);
                Some(tokio::spawn(crate::upstream_sync::run(
                    Arc::clone(&agent),
                    Arc::clone(upstream),
                    (known, applied),
                    stopped.clone(),
                )))
            }
            _ => None,
        };
        let rotation = tokio::spawn(rotation::run(Arc::clone(&agent), ca_changes, stopped));
        tracing::info!(
            socket = %path.display(),
            tcp = ?tcp_addr,
            trust_domain = %agent.trust_domain,
            "serving the SPIFFE Workload API"
        );
        Ok(AgentHandle {
            agent,
            socket_path: path,
            socket_inode: inode,
            tcp_addr,
            connections,
            stop,
            servers,
            rotation: Some(rotation),
            upstream_sync,
            admin,
        })
    }
}

/// A running agent. Dropping it stops the agent as [`AgentHandle::shutdown`] does, without
/// waiting.
#[derive(Debug)]
pub struct AgentHandle {
    pub(crate) agent: Arc<AgentCore>,
    socket_path: PathBuf,
    socket_inode: u64,
    tcp_addr: Option<SocketAddr>,
    connections: Arc<ConnectionCounter>,
    stop: watch::Sender<bool>,
    servers: Vec<JoinHandle<Result<(), tonic::transport::Error>>>,
    rotation: Option<JoinHandle<()>>,
    upstream_sync: Option<JoinHandle<()>>,
    admin: Option<AdminServer>,
}

impl AgentHandle {
    /// The Unix socket the agent serves on.
    pub fn socket_path(&self) -> &Path {
        &self.socket_path
    }

    /// The endpoint address for clients, `unix://<path>` (Workload Endpoint §4), e.g. for
    /// `SPIFFE_ENDPOINT_SOCKET`.
    pub fn endpoint(&self) -> String {
        format!("unix://{}", self.socket_path.display())
    }

    /// The admin socket, when the admin API is served.
    pub fn admin_socket_path(&self) -> Option<&Path> {
        self.admin.as_ref().map(|admin| admin.socket.as_path())
    }

    /// The TCP address, when serving on TCP too.
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp_addr
    }

    /// The CA the agent mints through; `None` in upstream mode (the server holds it).
    pub fn ca(&self) -> Option<&CertificateAuthority> {
        self.agent.issuer.ca()
    }

    /// Registers an entry: its X509-SVID is minted before this returns, and every open stream
    /// of a caller it matches receives the new state.
    ///
    /// # Errors
    /// [`Error::Entry`] when the entry cannot be served, [`Error::Mint`] when minting fails.
    pub async fn add_entry(&self, entry: RegistrationEntry) -> Result<EntryId, Error> {
        self.agent.add_entry(entry).await
    }

    /// Removes an entry; callers that had it get a new state without it, and callers left with
    /// no entry get `PermissionDenied` on their streams.
    ///
    /// # Errors
    /// [`Error::UnknownEntry`].
    pub fn remove_entry(&self, id: EntryId) -> Result<RegistrationEntry, Error> {
        self.agent.remove_entry(id)
    }

    /// The registered entries, in registration order.
    pub fn entries(&self) -> Vec<(EntryId, RegistrationEntry)> {
        let state = self.agent.state.lock();
        state
            .registry
            .iter()
            .map(|(id, r)| (id, RegistrationEntry::clone(&r.entry)))
            .collect()
    }

    /// Sets (or replaces) the bundle of a foreign trust domain; streams of callers whose
    /// entries federate with it receive it.
    ///
    /// # Errors
    /// [`Error::FederatedBundleForOwnTrustDomain`].
    pub fn set_federated_bundle(&self, bundle: SpiffeBundle) -> Result<(), Error> {
        self.agent.set_federated_bundle(bundle)
    }

    /// Removes a foreign trust domain's bundle; returns whether there was one. Streams that
    /// had it receive a state without it ("empty means cleared", Workload API §4.4).
    pub fn remove_federated_bundle(&self, trust_domain: &TrustDomain) -> bool {
        self.agent.remove_federated_bundle(trust_domain)
    }

    /// Re-issues every X509-SVID now (as if each reached its refresh time) and pushes the new
    /// state to every stream. Returns once the new SVIDs are published.
    ///
    /// # Errors
    /// [`Error::Mint`] when minting fails (the old SVIDs stay in place).
    pub async fn rotate_svids(&self) -> Result<(), Error> {
        self.agent.reissue_all().await
    }

    /// Waits until every registered entry has its first X509-SVID ([`AgentBuilder::serve_unix`]
    /// returns before they are minted).
    pub async fn minted(&self) {
        let mut unminted = self.agent.state.lock().unminted();
        let _ = unminted.wait_for(|count| *count == 0).await;
    }

    /// What `/ready` asks: whether this agent can hand out identities now (see
    /// [`health`](crate::health)).
    pub fn readiness(&self) -> crate::health::Readiness {
        crate::health::Readiness::new(Arc::clone(&self.agent))
    }

    /// How many streams are open (all RPCs together).
    pub fn open_streams(&self) -> usize {
        self.agent.state.lock().stream_counts().1
    }

    /// How many connections within the caps are open (Unix and TCP; connections accepted
    /// over a cap, which are closed shortly, are not counted).
    pub fn open_connections(&self) -> usize {
        self.connections.admitted()
    }

    /// Ends every stream cleanly, stops accepting, waits (a few seconds at most) for
    /// connections to close and removes the socket file.
    ///
    /// # Errors
    /// [`Error::Transport`] when a server ended with an error.
    pub async fn shutdown(mut self) -> Result<(), Error> {
        self.begin_shutdown();
        let mut result = Ok(());
        for server in self.servers.drain(..) {
            let abort = server.abort_handle();
            match tokio::time::timeout(SHUTDOWN_GRACE, server).await {
                Ok(Ok(Ok(()))) | Ok(Err(_)) => {}
                Ok(Ok(Err(error))) => result = Err(Error::Transport(error)),
                Err(_) => {
                    tracing::warn!("connections still open after the grace period; dropping them");
                    abort.abort();
                }
            }
        }
        if let Some(rotation) = self.rotation.take() {
            let _ = rotation.await;
        }
        if let Some(sync) = self.upstream_sync.take() {
            let _ = sync.await;
        }
        if let Some(admin) = self.admin.take() {
            let abort = admin.task.abort_handle();
            match tokio::time::timeout(SHUTDOWN_GRACE, admin.task).await {
                Ok(Ok(Err(error))) if result.is_ok() => result = Err(Error::Transport(error)),
                Ok(_) => {}
                Err(_) => abort.abort(),
            }
            listen::remove_socket(&admin.socket, admin.inode);
        }
        listen::remove_socket(&self.socket_path, self.socket_inode);
        tracing::info!(socket = %self.socket_path.display(), "agent stopped");
        result
    }

    fn begin_shutdown(&self) {
        self.agent.state.lock().close();
        self.stop.send_replace(true);
    }
}

impl Drop for AgentHandle {
    fn drop(&mut self) {
        if !*self.stop.borrow() {
            self.begin_shutdown();
        }
        if !self.servers.is_empty() || self.rotation.is_some() {
            listen::remove_socket(&self.socket_path, self.socket_inode);
        }
        if let Some(admin) = &self.admin {
            listen::remove_socket(&admin.socket, admin.inode);
        }
    }
}
