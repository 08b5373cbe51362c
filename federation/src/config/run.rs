//! Starting what `[federation]` names: the manager of the relationships and the bundle
//! endpoint, as the `agent` and `server` binaries run them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use svid::X509SvidSource;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::{EndpointProfileConfig, FederationConfig, StartError};
use crate::endpoint::{self, BundlePublisher, EndpointTls, WebCertificate};
use crate::manager::{FederationManager, LastGoodStore};

/// How often the `https_web` certificate files are checked for a change.
const CERTIFICATE_POLL: Duration = Duration::from_secs(5);

/// What the binary gives its bundle endpoint: the bundle to serve (kept current by the
/// binary, e.g. following its CA's rotations) and, for `https_spiffe`, the endpoint's own
/// rotating X509-SVID.
#[derive(Clone)]
#[must_use]
pub struct EndpointSources {
    publisher: BundlePublisher,
    svid: Option<Arc<dyn X509SvidSource>>,
}

impl core::fmt::Debug for EndpointSources {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("EndpointSources")
            .field("trust_domain", self.publisher.trust_domain())
            .field("svid", &self.svid.is_some())
            .finish()
    }
}

impl EndpointSources {
    /// Serves what `publisher` holds.
    pub fn new(publisher: BundlePublisher) -> Self {
        Self {
            publisher,
            svid: None,
        }
    }

    /// Presents the SVIDs of `svid` under the `https_spiffe` profile.
    pub fn with_svid(mut self, svid: Arc<dyn X509SvidSource>) -> Self {
        self.svid = Some(svid);
        self
    }
}

/// What [`start`] started: the manager (when relationships are configured) and the bundle
/// endpoint (when one is). [`stop`](Self::stop) ends them; dropping it stops the
/// relationships and leaves the endpoint to the runtime.
#[derive(Debug)]
pub struct Running {
    manager: Option<Arc<FederationManager>>,
    endpoint: Option<RunningEndpoint>,
    tasks: Vec<JoinHandle<()>>,
}

#[derive(Debug)]
struct RunningEndpoint {
    address: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

/// Starts the relationships of `config` (a [`FederationManager`] polling each peer, keeping
/// each last good bundle in `last_good` when given) and its bundle endpoint, serving what
/// `endpoint` gives (needed when the config names an endpoint).
///
/// Must be called within a tokio runtime.
///
/// # Errors
/// [`StartError::Section`] when a relationship's files are unusable;
/// [`StartError::NoBundle`] / [`StartError::NoSvid`] when the endpoint lacks a source;
/// [`StartError::Endpoint`] for the endpoint's TLS; [`StartError::Bind`].
pub async fn start(
    config: &FederationConfig,
    crypto: &svid::Crypto,
    endpoint: Option<EndpointSources>,
    last_good: Option<Arc<dyn LastGoodStore>>,
) -> Result<Running, StartError> {
    let mut tasks = Vec::new();
    let manager = if config.federates_with.is_empty() {
        None
    } else {
        let relationships = config
            .federates_with
            .iter()
            .map(|relationship| relationship.relationship(crypto))
            .collect::<Result<Vec<_>, _>>()?;
        let manager = match last_good {
            Some(store) => FederationManager::with_store(store),
            None => FederationManager::new(),
        };
        for (relationship, settings) in relationships.into_iter().zip(&config.federates_with) {
            tracing::info!(
                trust_domain = %settings.trust_domain,
                url = %settings.url,
                "federating with"
            );
            manager.add(relationship);
        }
        Some(Arc::new(manager))
    };
    let endpoint = match &config.bundle_endpoint {
        None => None,
        Some(settings) => {
            let sources = endpoint.ok_or(StartError::NoBundle)?;
            let tls = match &settings.profile {
                EndpointProfileConfig::HttpsWeb {
                    cert_path,
                    key_path,
                } => {
                    let certificate = Arc::new(
                        WebCertificate::from_pem_files(cert_path, key_path, crypto)
                            .map_err(StartError::Endpoint)?,
                    );
                    tasks.push(certificate.watch(CERTIFICATE_POLL));
                    EndpointTls::https_web(certificate, crypto).map_err(StartError::Endpoint)?
                }
                EndpointProfileConfig::HttpsSpiffe { .. } => {
                    let svid = sources.svid.ok_or(StartError::NoSvid)?;
                    EndpointTls::https_spiffe(svid, crypto).map_err(StartError::Endpoint)?
                }
            };
            let bind_error = |source| StartError::Bind {
                address: settings.address,
                source,
            };
            let listener = tokio::net::TcpListener::bind(settings.address)
                .await
                .map_err(bind_error)?;
            let address = listener.local_addr().map_err(bind_error)?;
            tracing::info!(%address, path = %settings.path, "serving the bundle endpoint");
            let (stop, stopped) = oneshot::channel::<()>();
            let task = tokio::spawn(endpoint::serve(
                listener,
                tls,
                sources.publisher.service(settings.path.clone()),
                async move {
                    let _ = stopped.await;
                },
            ));
            Some(RunningEndpoint {
                address,
                stop,
                task,
            })
        }
    };
    Ok(Running {
        manager,
        endpoint,
        tasks,
    })
}

impl Running {
    /// The manager of the configured relationships (none configured: `None`): subscribe to
    /// its bundles, read its statuses.
    pub fn manager(&self) -> Option<&Arc<FederationManager>> {
        self.manager.as_ref()
    }

    /// Where the bundle endpoint listens, when it runs.
    pub fn endpoint_addr(&self) -> Option<SocketAddr> {
        self.endpoint.as_ref().map(|endpoint| endpoint.address)
    }

    /// Ends `task` with the rest at [`stop`](Self::stop) (e.g. the binary's follower of the
    /// manager's bundles, or its bundle publisher's).
    pub fn attach(&mut self, task: JoinHandle<()>) {
        self.tasks.push(task);
    }

    /// Stops the endpoint (open requests finish), the relationships and the attached tasks.
    ///
    /// # Errors
    /// The endpoint's listener error, if it failed.
    pub async fn stop(self) -> std::io::Result<()> {
        for task in &self.tasks {
            task.abort();
        }
        if let Some(manager) = self.manager {
            // Others may hold it too (an agent's admin API): stop its tasks now regardless.
            manager.stop();
        }
        if let Some(endpoint) = self.endpoint {
            let _ = endpoint.stop.send(());
            endpoint.task.await.map_err(std::io::Error::other)??;
        }
        Ok(())
    }
}
