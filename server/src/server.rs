//! [`ServerBuilder`] and the running [`Server`]: the node API listener, background tasks
//! (entry refresh, server SVID renewal, CA lifecycle, expired token purge), and the
//! operations an admin API calls.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ca::CertificateAuthority;
use federation::config::FederationConfig;
use federation::manager::FederationManager;
use node_api::proto::node_server::NodeServer;
use spiffe_id::{IdMatcher, SpiffeId};
use store::{EntryRecord, NodeRecord, Store};
use tls_integration::SpiffeTls;
use tls_integration::net::SpiffeAcceptor;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use trust_bundle::BundleSet;

use crate::admin;
use crate::attest::{self, NodeAttestor};
use crate::bundle::MergedBundle;
use crate::entries::EntryIndex;
use crate::error::Error;
use crate::federated::{FederatedBundles, start_federation};
use crate::identity::{SERVER_SVID_TTL, ServerSvid};
use crate::node_cache::NodeCache;
use crate::node_service::{NodeService, Shared};
use crate::rate_limit::{Limiter, RateLimit};
use crate::settings::Settings;

/// A replica's name unless [`ServerBuilder::replica_name`] sets one.
pub const DEFAULT_REPLICA: &str = "server";

/// How often the CA's key lifecycle runs.
const CA_LIFECYCLE_INTERVAL: Duration = Duration::from_secs(30);

/// Configures a [`Server`].
#[must_use]
pub struct ServerBuilder {
    ca: CertificateAuthority,
    store: Arc<dyn Store>,
    attestors: Vec<Arc<dyn NodeAttestor>>,
    settings: Settings,
    crypto: svid::Crypto,
    admin_socket: Option<PathBuf>,
    admin_allowed_uids: Option<Vec<u32>>,
    replica: String,
    health: Option<(
        SocketAddr,
        Option<metrics_exporter_prometheus::PrometheusHandle>,
    )>,
    federation: FederationConfig,
    federated: Option<watch::Receiver<BundleSet>>,
}

impl core::fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("trust_domain", self.ca.trust_domain())
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl ServerBuilder {
    /// A server signing with `ca` and keeping entries, nodes and tokens in `store`, with the
    /// join token attestor on.
    pub fn new(ca: CertificateAuthority, store: Arc<dyn Store>) -> Self {
        let join_token: Arc<dyn NodeAttestor> =
            Arc::new(attest::JoinTokenAttestor::new(Arc::clone(&store)));
        Self {
            ca,
            store,
            attestors: vec![join_token],
            settings: Settings::default(),
            crypto: svid::Crypto::default(),
            admin_socket: None,
            admin_allowed_uids: None,
            replica: DEFAULT_REPLICA.to_owned(),
            health: None,
            federation: FederationConfig::default(),
            federated: None,
        }
    }

    /// Runs `[federation]` (see `federation::config`): the bundle endpoint serves the bundle
    /// this server sends its agents (every replica's authorities, following rotations; each
    /// replica can serve it), with an X509-SVID of this server's CA for `https_spiffe`; the
    /// relationships' bundles go to the nodes whose entries federate with them (see
    /// [`Server::federation_manager`]).
    pub fn federation(mut self, config: FederationConfig) -> Self {
        self.federation = config;
        self
    }

    /// Sends the nodes the bundles of `bundles` that their entries federate with, for a
    /// federation manager run by the caller (a `federates_with` in
    /// [`federation`](Self::federation) takes precedence).
    pub fn federated_bundles(mut self, bundles: watch::Receiver<BundleSet>) -> Self {
        self.federated = Some(bundles);
        self
    }

    /// Serves `/live`, `/ready` and `/metrics` (the text of `metrics`, when given) over HTTP
    /// on `address` (see [`Server::health_addr`]).
    pub fn health(
        mut self,
        address: SocketAddr,
        metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    ) -> Self {
        self.health = Some((address, metrics));
        self
    }

    /// This replica's name (default `server`): the name its bundle is published under in the
    /// store, which every replica merges into the bundle it serves. Replicas sharing a store
    /// need different names (use the CA journal's name).
    pub fn replica_name(mut self, name: impl Into<String>) -> Self {
        self.replica = name.into();
        self
    }

    /// Serves the [admin API](crate::admin) on a Unix socket at `path` (mode 0600), for root
    /// and the server's own uid unless [`admin_allowed_uids`](Self::admin_allowed_uids) says
    /// otherwise.
    pub fn admin_socket(mut self, path: impl Into<PathBuf>) -> Self {
        self.admin_socket = Some(path.into());
        self
    }

    /// Which uids may call the admin API (default: root and the server's own).
    pub fn admin_allowed_uids(mut self, uids: impl IntoIterator<Item = u32>) -> Self {
        self.admin_allowed_uids = Some(uids.into_iter().collect());
        self
    }

    /// Adds a node attestor (replacing one of the same method).
    pub fn attestor(mut self, attestor: Arc<dyn NodeAttestor>) -> Self {
        self.attestors.retain(|a| a.method() != attestor.method());
        self.attestors.push(attestor);
        self
    }

    /// Lifetime of agent SVIDs (default 1 h; agents renew at half).
    pub fn agent_svid_ttl(mut self, ttl: Duration) -> Self {
        self.settings.agent_svid_ttl = ttl;
        self
    }

    /// Default lifetime of workload X509-SVIDs (default 1 h; an entry may set its own).
    pub fn x509_svid_ttl(mut self, ttl: Duration) -> Self {
        self.settings.x509_svid_ttl = ttl;
        self
    }

    /// Default lifetime of JWT-SVIDs (default 5 min).
    pub fn jwt_svid_ttl(mut self, ttl: Duration) -> Self {
        self.settings.jwt_svid_ttl = ttl;
        self
    }

    /// How far an agent's clock may be from the server's at attestation (default 5 min).
    pub fn max_clock_skew(mut self, skew: Duration) -> Self {
        self.settings.max_clock_skew = skew;
        self
    }

    /// SVID requests per node (default 200/s, bursts of 2,000).
    pub fn rate_limit(mut self, limit: RateLimit) -> Self {
        self.settings.rate_limit = limit;
        self
    }

    /// How often entries are reloaded from the store, to see other replicas' changes
    /// (default 5 s; this server's own changes apply at once).
    pub fn entry_refresh_interval(mut self, interval: Duration) -> Self {
        self.settings.entry_refresh = interval;
        self
    }

    /// How long a node found attested in the store is trusted without reading the store
    /// again (default zero: every call reads it). An eviction through this server applies at
    /// once; one through another replica of the same store applies here within this bound.
    /// A few seconds save a store round trip on most calls (one per node per interval).
    pub fn max_node_staleness(mut self, staleness: Duration) -> Self {
        self.settings.max_node_staleness = staleness;
        self
    }

    /// The crypto provider for TLS and x509pop (default: `svid::Crypto::default()`).
    pub fn crypto(mut self, crypto: svid::Crypto) -> Self {
        self.crypto = crypto;
        self
    }

    /// Binds `address` and serves the node API.
    ///
    /// # Errors
    /// [`Error::Io`] when binding fails, [`Error::Ca`] when the server SVID cannot be
    /// minted, [`Error::Store`] when entries cannot be read.
    pub async fn serve(self, address: SocketAddr) -> Result<Server, Error> {
        let listener = tokio::net::TcpListener::bind(address).await?;
        let local_addr = listener.local_addr()?;
        let trust_domain = self.ca.trust_domain().clone();
        let svid = Arc::new(ServerSvid::new(self.ca.clone())?);
        let agents = IdMatcher::path_prefix(
            SpiffeId::from_path(&trust_domain, "/agent")
                .map_err(|_| Error::NotAnAgentId(trust_domain.id()))?,
        );
        let tls = SpiffeTls::new(self.crypto.clone()).with_alpn_protocols([b"h2".to_vec()]);
        let svids: Arc<dyn svid::X509SvidSource> = svid.clone();
        let bundle = Arc::new(MergedBundle::new(self.ca.bundle()));
        let bundles: Arc<dyn trust_bundle::X509BundleSource> = bundle.clone();
        let config = tls.mtls_server_allowing_anonymous(svids, bundles, agents)?;
        let mut renewed = vec![svid];
        let federation = start_federation(
            &self.federation,
            &self.ca,
            &bundle,
            &self.crypto,
            &mut renewed,
            &self.store,
        )
        .await?;
        let federated = match federation.manager() {
            Some(manager) => FederatedBundles::new(manager.subscribe()),
            None => self
                .federated
                .map_or_else(FederatedBundles::none, FederatedBundles::new),
        };
        let shared = Arc::new(Shared {
            ca: self.ca,
            store: Arc::clone(&self.store),
            entries: EntryIndex::default(),
            attestors: self.attestors,
            limiter: Limiter::new(self.settings.rate_limit),
            nodes: NodeCache::new(self.settings.max_node_staleness),
            settings: self.settings,
            store_ok: std::sync::atomic::AtomicBool::new(false),
            replica: self.replica,
            bundle,
            federated,
            last_published: std::sync::Mutex::new(None),
            federation: federation.manager().cloned(),
        });
        let index = Arc::clone(&shared);
        tokio::task::spawn_blocking(move || index.refresh_entries())
            .await
            .map_err(|_| Error::ShutDown)??;

        let (stop, stopped) = watch::channel(false);
        let service = NodeServer::new(NodeService(Arc::clone(&shared)))
            .max_decoding_message_size(node_api::MAX_MESSAGE_BYTES);
        let incoming = tls_integration::tonic::incoming(listener, SpiffeAcceptor::new(config));
        let mut serve_stopped = stopped.clone();
        let serve = tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming_shutdown(incoming, async move {
                    let _ = serve_stopped.wait_for(|stop| *stop).await;
                }),
        );
        let admin = match self.admin_socket {
            Some(path) => {
                let uids = self
                    .admin_allowed_uids
                    .unwrap_or_else(admin::default_allowed_uids);
                Some(admin::serve(Arc::clone(&shared), path, uids, stopped.clone()).await?)
            }
            None => None,
        };
        let health = match self.health {
            Some((address, metrics)) => {
                let mut stop = stopped.clone();
                let (bound, task) =
                    crate::health::serve(Arc::clone(&shared), metrics, address, async move {
                        stop_requested(&mut stop).await;
                    })
                    .await?;
                tracing::info!(address = %bound, "serving /live, /ready, /metrics");
                Some((bound, task))
            }
            None => None,
        };
        let background = tokio::spawn(background(Arc::clone(&shared), renewed, stopped));
        tracing::info!(address = %local_addr, trust_domain = %trust_domain, "serving the node API");
        Ok(Server {
            shared,
            local_addr,
            stop,
            serve,
            background,
            admin,
            health,
            federation,
        })
    }
}

/// The periodic work of a running server.
async fn background(
    shared: Arc<Shared>,
    svids: Vec<Arc<ServerSvid>>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut entries = tokio::time::interval(shared.settings.entry_refresh);
    let mut renew = tokio::time::interval(SERVER_SVID_TTL / 2);
    let mut lifecycle = tokio::time::interval(CA_LIFECYCLE_INTERVAL);
    for timer in [&mut entries, &mut renew, &mut lifecycle] {
        timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        timer.reset();
    }
    loop {
        tokio::select! {
            () = stop_requested(&mut stopped) => return,
            _ = entries.tick() => {
                let shared = Arc::clone(&shared);
                let result = tokio::task::spawn_blocking(move || shared.refresh_entries()).await;
                if let Ok(Err(error)) = result {
                    tracing::warn!(%error, "reloading entries failed; serving the last ones read");
                }
            }
            _ = renew.tick() => {
                for svid in &svids {
                    let svid = Arc::clone(svid);
                    if let Ok(Err(error)) = tokio::task::spawn_blocking(move || svid.renew()).await {
                        tracing::error!(%error, "renewing a server SVID failed; retrying later");
                    }
                }
            }
            _ = lifecycle.tick() => {
                let shared = Arc::clone(&shared);
                let _ = tokio::task::spawn_blocking(move || {
                    if let Err(error) = shared.ca.rotate(SystemTime::now()) {
                        tracing::error!(%error, "the CA's key rotation failed; retrying later");
                    }
                    let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs());
                    if let Err(error) = shared.store.purge_expired_join_tokens(now) {
                        tracing::warn!(%error, "purging expired join tokens failed");
                    }
                }).await;
            }
        }
    }
}

/// Resolves once a stop is requested (or the sender is gone).
async fn stop_requested(stopped: &mut watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}

/// A running server.
#[derive(Debug)]
pub struct Server {
    shared: Arc<Shared>,
    local_addr: SocketAddr,
    stop: watch::Sender<bool>,
    serve: JoinHandle<Result<(), tonic::transport::Error>>,
    background: JoinHandle<()>,
    admin: Option<admin::AdminServer>,
    health: Option<(SocketAddr, JoinHandle<std::io::Result<()>>)>,
    federation: federation::config::Running,
}

impl core::fmt::Debug for Shared {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Shared")
            .field("trust_domain", self.ca.trust_domain())
            .finish_non_exhaustive()
    }
}

impl Server {
    /// A builder; see [`ServerBuilder::new`].
    pub fn builder(ca: CertificateAuthority, store: Arc<dyn Store>) -> ServerBuilder {
        ServerBuilder::new(ca, store)
    }

    /// The address the node API listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Where `/live`, `/ready` and `/metrics` are served, when they are.
    pub fn health_addr(&self) -> Option<SocketAddr> {
        self.health.as_ref().map(|(address, _)| *address)
    }

    /// The admin socket, when the admin API is served.
    pub fn admin_socket_path(&self) -> Option<&std::path::Path> {
        self.admin.as_ref().map(admin::AdminServer::socket)
    }

    /// `Ok` when ready to serve (the CA has an X.509 authority valid now and the store
    /// answered the last entry refresh), otherwise why not.
    ///
    /// # Errors
    /// A sentence saying what is missing.
    pub fn readiness(&self) -> Result<(), &'static str> {
        self.shared.readiness()
    }

    /// The manager of the `federates_with` relationships (none configured: `None`): their
    /// bundles, statuses, sequence resets.
    pub fn federation_manager(&self) -> Option<&Arc<FederationManager>> {
        self.federation.manager()
    }

    /// Where the federation bundle endpoint listens, when it runs.
    pub fn bundle_endpoint_addr(&self) -> Option<SocketAddr> {
        self.federation.endpoint_addr()
    }

    /// The CA.
    pub fn ca(&self) -> &CertificateAuthority {
        &self.shared.ca
    }

    /// Creates a join token valid for `ttl` (see [`attest::create_join_token`]).
    ///
    /// # Errors
    /// As [`attest::create_join_token`].
    pub async fn create_join_token(
        &self,
        ttl: Duration,
        agent_id: Option<SpiffeId>,
    ) -> Result<attest::NewJoinToken, Error> {
        self.shared.create_join_token(ttl, agent_id).await
    }

    /// Stores a registration entry and serves it at once (after checking that it names no
    /// reserved ID, stays in the trust domain and has a parent).
    ///
    /// # Errors
    /// [`Error::InvalidEntry`], [`Error::Store`] (invalid or duplicate entry).
    pub async fn create_entry(&self, entry: EntryRecord) -> Result<EntryRecord, Error> {
        self.shared.create_entry(entry).await
    }

    /// Deletes an entry; nodes stop getting it at their next sync.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn delete_entry(&self, id: store::EntryId) -> Result<(), Error> {
        self.shared.delete_entry(id).await
    }

    /// The attested nodes.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn nodes(&self) -> Result<Vec<NodeRecord>, Error> {
        self.shared.nodes().await
    }

    /// Evicts a node: its agent is refused from its next call (it may attest again, with a
    /// new join token or its x509pop certificate).
    ///
    /// # Errors
    /// [`Error::Store`] (`NodeNotFound` for an unknown node).
    pub async fn evict(&self, node: SpiffeId) -> Result<NodeRecord, Error> {
        self.shared.evict(node).await
    }

    /// Stops serving and waits for the tasks to end.
    ///
    /// # Errors
    /// [`Error::Io`] if the listener failed.
    pub async fn shutdown(mut self) -> Result<(), Error> {
        let _ = self.stop.send(true);
        let _ = self.background.await;
        if let Some(admin) = self.admin.take() {
            admin.finish().await;
        }
        if let Some((_, task)) = self.health.take() {
            let _ = task.await;
        }
        if let Err(error) = self.federation.stop().await {
            tracing::warn!(%error, "the bundle endpoint failed");
        }
        match self.serve.await {
            Ok(Ok(())) | Err(_) => Ok(()),
            Ok(Err(error)) => Err(Error::Io(std::io::Error::other(error))),
        }
    }
}
