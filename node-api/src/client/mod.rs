//! [`NodeClient`]: the agent's side of the node API, with failover over several servers.

mod attest;
mod sources;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use spiffe_id::{IdMatcher, SpiffeId, TrustDomain};
use svid::X509Svid;
use tls_integration::SpiffeTls;
use tls_integration::net::SpiffeConnector;
use tonic::transport::{Channel, Endpoint};
use trust_bundle::{SpiffeBundle, X509Bundle};

pub use attest::{Attestation, AttestedAgent};
use sources::{AgentSvidSlot, ServerBundle};

use crate::error::Error;
use crate::keys;
use crate::proto;
use crate::proto::node_client::NodeClient as RawClient;

/// How long one call may take before the next server is tried.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the servers are and how to recognise them.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct NodeClientConfig {
    /// The trust domain of the servers (and of the agent).
    pub trust_domain: TrustDomain,
    /// Server addresses (`host:port`), tried in order; the last one that answered is tried
    /// first next time.
    pub servers: Vec<String>,
    /// The roots that authenticate a server before the agent has received the trust domain's
    /// bundle from one (the bundle file an operator copies to each node).
    pub bootstrap_bundle: X509Bundle,
    /// The crypto provider for TLS and signatures.
    pub crypto: svid::Crypto,
    /// Per-call timeout.
    pub timeout: Duration,
}

impl NodeClientConfig {
    /// A configuration with the default timeout.
    pub fn new(servers: Vec<String>, bootstrap_bundle: X509Bundle, crypto: svid::Crypto) -> Self {
        Self {
            trust_domain: bootstrap_bundle.trust_domain().clone(),
            servers,
            bootstrap_bundle,
            crypto,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// An agent's connection to the fleet's servers.
///
/// The server is authenticated by its SVID (`spiffe://<trust domain>/server`, see
/// [`server_id`](crate::server_id)) against the bootstrap bundle, then against the bundle the
/// server sends. After [`attest`](Self::attest), every call presents the agent SVID. A call
/// that finds a server unreachable tries the next one; the one that answered is tried first
/// from then on.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use node_api::{Attestation, NodeClient, NodeClientConfig};
///
/// let roots = trust_bundle::X509Bundle::from_pem(
///     "example.org".parse()?,
///     &std::fs::read("/etc/spiffe/bootstrap.pem")?,
/// )?;
/// let config = NodeClientConfig::new(
///     vec!["server-1:8081".into(), "server-2:8081".into()],
///     roots,
///     svid::Crypto::default(),
/// );
/// let client = NodeClient::new(config)?;
/// let agent = client.attest(Attestation::join_token("token-from-the-operator")).await?;
/// println!("attested as {}", agent.svid.spiffe_id());
/// let sync = client.sync().await?;
/// println!("{} entries for this node", sync.entries.len());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct NodeClient {
    inner: Arc<Inner>,
}

struct Inner {
    config: NodeClientConfig,
    endpoints: Vec<(String, Endpoint)>,
    svid: Arc<AgentSvidSlot>,
    bundle: Arc<ServerBundle>,
    /// The mTLS channels, one per server, made after attestation.
    channels: std::sync::Mutex<Option<Vec<Channel>>>,
    preferred: AtomicUsize,
    /// When the agent SVID expires, seconds since the epoch (0 before attestation).
    svid_expires_at: std::sync::atomic::AtomicI64,
}

impl core::fmt::Debug for NodeClient {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("NodeClient")
            .field("servers", &self.inner.config.servers)
            .finish_non_exhaustive()
    }
}

impl NodeClient {
    /// A client for `config` (nothing is connected yet).
    ///
    /// # Errors
    /// [`Error::NoServers`], [`Error::BadAddress`], [`Error::Bundle`] for an unusable
    /// bootstrap bundle.
    pub fn new(config: NodeClientConfig) -> Result<Self, Error> {
        if config.servers.is_empty() {
            return Err(Error::NoServers);
        }
        let endpoints = config
            .servers
            .iter()
            .map(|address| {
                let endpoint = Endpoint::from_shared(format!("https://{address}"))
                    .map_err(|e| Error::BadAddress {
                        address: address.clone(),
                        reason: e.to_string(),
                    })?
                    .timeout(config.timeout)
                    .connect_timeout(config.timeout);
                Ok((address.clone(), endpoint))
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let bundle = Arc::new(ServerBundle::bootstrap(config.bootstrap_bundle.clone())?);
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                endpoints,
                svid: Arc::new(AgentSvidSlot::default()),
                bundle,
                channels: std::sync::Mutex::new(None),
                preferred: AtomicUsize::new(0),
                svid_expires_at: std::sync::atomic::AtomicI64::new(0),
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &NodeClientConfig {
        &self.inner.config
    }

    /// The agent SVID, once attested.
    pub fn agent_svid(&self) -> Option<Arc<X509Svid>> {
        self.inner.svid.get()
    }

    /// Uses an agent SVID obtained earlier (kept across a restart) instead of attesting:
    /// `svid` and its expiry, and the trust domain's bundle received with it.
    ///
    /// # Errors
    /// [`Error::Bundle`] for a bundle of another trust domain; [`Error::Protocol`] for an
    /// SVID outside the trust domain.
    pub fn resume(
        &self,
        svid: X509Svid,
        expires_at: SystemTime,
        bundle: SpiffeBundle,
    ) -> Result<(), Error> {
        if !svid
            .spiffe_id()
            .is_member_of(&self.inner.config.trust_domain)
        {
            return Err(Error::Protocol(format!(
                "the saved agent SVID {} is not in trust domain {}",
                svid.spiffe_id(),
                self.inner.config.trust_domain
            )));
        }
        self.inner.bundle.set(bundle)?;
        self.inner.svid.set(Arc::new(svid));
        let seconds = expires_at
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        self.inner.svid_expires_at.store(seconds, Ordering::Relaxed);
        Ok(())
    }

    /// When the agent SVID expires, once attested.
    pub fn agent_svid_expires_at(&self) -> Option<SystemTime> {
        let seconds = self.inner.svid_expires_at.load(Ordering::Relaxed);
        let seconds = u64::try_from(seconds).ok().filter(|s| *s > 0)?;
        UNIX_EPOCH.checked_add(Duration::from_secs(seconds))
    }

    fn server_matcher(&self) -> IdMatcher {
        IdMatcher::exact(crate::server_id(&self.inner.config.trust_domain))
    }

    fn tls(&self) -> SpiffeTls {
        SpiffeTls::new(self.inner.config.crypto.clone()).with_alpn_protocols([b"h2".to_vec()])
    }

    /// The mTLS channels (made on first use after attestation).
    fn channels(&self) -> Result<Vec<Channel>, Error> {
        if self.inner.svid.get().is_none() {
            return Err(Error::NotAttested);
        }
        let mut channels = self
            .inner
            .channels
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(existing) = channels.as_ref() {
            return Ok(existing.clone());
        }
        let svids: Arc<dyn svid::X509SvidSource> = self.inner.svid.clone();
        let bundles: Arc<dyn trust_bundle::X509BundleSource> = self.inner.bundle.clone();
        let config = self
            .tls()
            .mtls_client(svids, bundles, self.server_matcher())?;
        let made: Vec<Channel> = self
            .inner
            .endpoints
            .iter()
            .map(|(_, endpoint)| {
                endpoint
                    .clone()
                    .connect_with_connector_lazy(SpiffeConnector::new(config.clone()))
            })
            .collect();
        *channels = Some(made.clone());
        Ok(made)
    }

    /// The servers with their index, the one that answered last first.
    fn failover_order(&self) -> impl Iterator<Item = (usize, &(String, Endpoint))> {
        let count = self.inner.endpoints.len();
        let first = self.inner.preferred.load(Ordering::Relaxed) % count.max(1);
        self.inner
            .endpoints
            .iter()
            .enumerate()
            .cycle()
            .skip(first)
            .take(count)
    }

    /// Runs `call` on the preferred server, then on the others while they are unreachable.
    async fn with_failover<T, F, Fut>(&self, call: F) -> Result<T, Error>
    where
        F: Fn(RawClient<Channel>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let channels = self.channels()?;
        let count = channels.len();
        let mut last = None;
        for (index, (address, _)) in self.failover_order() {
            let Some(channel) = channels.get(index) else {
                continue;
            };
            let client =
                RawClient::new(channel.clone()).max_decoding_message_size(crate::MAX_MESSAGE_BYTES);
            match call(client).await {
                Ok(response) => {
                    self.inner.preferred.store(index, Ordering::Relaxed);
                    return Ok(response.into_inner());
                }
                Err(status) if is_unreachable(&status) => {
                    tracing::debug!(server = %address, %status, "server unreachable; trying the next");
                    last = Some((address.clone(), status));
                }
                Err(status) => {
                    self.inner.preferred.store(index, Ordering::Relaxed);
                    return Err(Error::Refused {
                        address: address.clone(),
                        status,
                    });
                }
            }
        }
        let (address, status) = last.ok_or(Error::NoServers)?;
        Err(Error::Unreachable {
            tried: count,
            address,
            status,
        })
    }

    /// Replaces the agent SVID with a new one for a fresh key, before the current one expires.
    ///
    /// # Errors
    /// [`Error::NotAttested`], server and transport errors, an invalid SVID.
    pub async fn renew(&self) -> Result<Arc<X509Svid>, Error> {
        let current = self.agent_svid().ok_or(Error::NotAttested)?;
        let key = tokio::task::spawn_blocking(keys::new_key_and_csr)
            .await
            .map_err(|e| Error::Key(e.to_string()))??;
        let csr = key.csr.clone();
        let response = self
            .with_failover(|mut client| {
                let request = proto::RenewAgentRequest { csr: csr.clone() };
                async move { client.renew_agent(request).await }
            })
            .await?;
        let svid = self.accept_agent_svid(&response, &key.pkcs8, Some(current.spiffe_id()))?;
        Ok(svid)
    }

    /// Checks an agent SVID from the server and installs it with the bundle sent along.
    fn accept_agent_svid(
        &self,
        response: &proto::AgentSvid,
        pkcs8: &[u8],
        expected: Option<&SpiffeId>,
    ) -> Result<Arc<X509Svid>, Error> {
        let chain = response
            .chain
            .iter()
            .map(|der| rustls_pki_types::CertificateDer::from(der.clone()))
            .collect();
        let key = svid::PrivateKey::from_pkcs8_der(pkcs8, &self.inner.config.crypto)
            .map_err(|e| Error::Key(e.to_string()))?;
        let svid = X509Svid::new(chain, key)?;
        if let Some(expected) = expected {
            if svid.spiffe_id() != expected {
                return Err(Error::WrongIdentity {
                    expected: expected.clone(),
                    got: svid.spiffe_id().clone(),
                });
            }
        }
        if !svid
            .spiffe_id()
            .is_member_of(&self.inner.config.trust_domain)
        {
            return Err(Error::Protocol(format!(
                "the agent SVID {} is not in trust domain {}",
                svid.spiffe_id(),
                self.inner.config.trust_domain
            )));
        }
        if !response.bundle_json.is_empty() {
            let bundle = SpiffeBundle::parse(
                self.inner.config.trust_domain.clone(),
                response.bundle_json.as_bytes(),
            )?;
            self.inner.bundle.set(bundle)?;
        }
        let svid = Arc::new(svid);
        self.inner.svid.set(Arc::clone(&svid));
        self.inner
            .svid_expires_at
            .store(response.expires_at, Ordering::Relaxed);
        Ok(svid)
    }

    /// The entries this node may serve and the current bundle (installed for the next
    /// handshakes as well).
    ///
    /// # Errors
    /// [`Error::NotAttested`], server and transport errors, an invalid bundle.
    pub async fn sync(&self) -> Result<Sync, Error> {
        let response = self
            .with_failover(|mut client| async move {
                client.sync_entries(proto::SyncEntriesRequest {}).await
            })
            .await?;
        let bundle = SpiffeBundle::parse(
            self.inner.config.trust_domain.clone(),
            response.bundle_json.as_bytes(),
        )?;
        self.inner.bundle.set(bundle.clone())?;
        let own = &self.inner.config.trust_domain;
        let federated_bundles = response
            .federated_bundles
            .iter()
            .filter_map(|federated| match parse_federated(federated, own) {
                Ok(bundle) => Some(bundle),
                Err(error) => {
                    tracing::warn!(
                        trust_domain = %federated.trust_domain,
                        %error,
                        "a federated bundle from the server is not used"
                    );
                    None
                }
            })
            .collect();
        Ok(Sync {
            entries: response.entries,
            bundle,
            federated_bundles,
            server_time: response.server_time,
        })
    }

    /// X509-SVIDs for entries of this node, one per `(entry ID, CSR)`; results in order.
    ///
    /// # Errors
    /// [`Error::NotAttested`], server and transport errors. A refusal of one entry is in its
    /// result's `error`.
    pub async fn mint_x509(
        &self,
        requests: Vec<proto::X509SvidRequest>,
    ) -> Result<Vec<proto::X509SvidResult>, Error> {
        let response = self
            .with_failover(|mut client| {
                let request = proto::MintX509SvidsRequest {
                    requests: requests.clone(),
                };
                async move { client.mint_x509_svids(request).await }
            })
            .await?;
        if response.results.len() != requests.len() {
            return Err(Error::Protocol(format!(
                "{} results for {} requests",
                response.results.len(),
                requests.len()
            )));
        }
        Ok(response.results)
    }

    /// A JWT-SVID for an entry of this node.
    ///
    /// # Errors
    /// [`Error::NotAttested`], server and transport errors, a refusal.
    pub async fn mint_jwt(
        &self,
        entry_id: &str,
        audience: &[String],
    ) -> Result<proto::MintJwtSvidResponse, Error> {
        self.with_failover(|mut client| {
            let request = proto::MintJwtSvidRequest {
                entry_id: entry_id.to_owned(),
                audience: audience.to_vec(),
            };
            async move { client.mint_jwt_svid(request).await }
        })
        .await
    }
}

/// What [`NodeClient::sync`] returns.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Sync {
    /// The entries this node may serve (as the server stores them).
    pub entries: Vec<proto::Entry>,
    /// The trust domain's bundle.
    pub bundle: SpiffeBundle,
    /// The bundles of the foreign trust domains the node's entries federate with, as the
    /// server holds them (SPIFFE Federation); one per trust domain. A trust domain missing
    /// here is no longer federated with through this server. An unreadable one, or one for the
    /// own trust domain, is left out and logged.
    pub federated_bundles: Vec<SpiffeBundle>,
    /// The server's clock, seconds since the epoch.
    pub server_time: i64,
}

/// A federated bundle as sent by the server, checked: a foreign trust domain, its document.
fn parse_federated(
    federated: &proto::FederatedBundle,
    own: &TrustDomain,
) -> Result<SpiffeBundle, Error> {
    let trust_domain = TrustDomain::parse(&federated.trust_domain)
        .map_err(|e| Error::Protocol(format!("federated bundle trust domain: {e}")))?;
    if trust_domain == *own {
        return Err(Error::Protocol(
            "a federated bundle for the own trust domain".to_owned(),
        ));
    }
    Ok(SpiffeBundle::parse(
        trust_domain,
        federated.bundle_json.as_bytes(),
    )?)
}

/// Whether a call failed because the server could not be reached (as opposed to a refusal).
fn is_unreachable(status: &tonic::Status) -> bool {
    match status.code() {
        tonic::Code::Unavailable | tonic::Code::DeadlineExceeded | tonic::Code::Cancelled => true,
        // tonic reports connection failures as `Unknown` with a transport source.
        tonic::Code::Unknown => std::error::Error::source(status).is_some(),
        _ => false,
    }
}
