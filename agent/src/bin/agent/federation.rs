//! `[federation]` of the running agent: the relationships' manager feeding the Workload API,
//! and this trust domain's bundle endpoint.

use std::sync::Arc;
use std::time::Duration;

use agent::federation::{EndpointSvid, publish_ca_bundle};
use agent::{AgentConfig, AgentHandle, EndpointProfileConfig};
use federation::endpoint::{self, EndpointTls, WebCertificate};
use federation::manager::{FederationManager, Relationship};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

type Failure = Box<dyn std::error::Error>;

/// How long the endpoint's X509-SVID lives (renewed at half).
const ENDPOINT_SVID_TTL: Duration = Duration::from_secs(3600);

/// How often the `https_web` certificate files are checked for a change.
const CERTIFICATE_POLL: Duration = Duration::from_secs(5);

/// What `[federation]` started; [`Running::stop`] ends it.
pub(crate) struct Running {
    /// Kept alive: dropping it stops the relationships.
    _manager: Option<FederationManager>,
    endpoint: Option<(oneshot::Sender<()>, JoinHandle<std::io::Result<()>>)>,
    helpers: Vec<JoinHandle<()>>,
}

/// Starts the relationships and the bundle endpoint the configuration names.
pub(crate) async fn start(config: &AgentConfig, handle: &AgentHandle) -> Result<Running, Failure> {
    let crypto = svid::Crypto::default();
    let mut helpers = Vec::new();
    let manager = if config.federation.federates_with.is_empty() {
        None
    } else {
        let manager = FederationManager::new();
        for relationship in &config.federation.federates_with {
            let fetcher = Arc::new(relationship.fetcher(&crypto)?);
            tracing::info!(
                trust_domain = %relationship.trust_domain,
                url = %relationship.url,
                "federating with"
            );
            manager.add(
                Relationship::new(relationship.trust_domain.clone(), fetcher)
                    .refresh(relationship.refresh)
                    .sequence_policy(relationship.sequence),
            );
        }
        helpers.push(handle.follow_federated_bundles(manager.subscribe()));
        Some(manager)
    };
    let endpoint = match &config.federation.bundle_endpoint {
        None => None,
        Some(settings) => {
            let ca = handle
                .ca()
                .ok_or("federation.bundle_endpoint needs the agent's own CA")?
                .clone();
            let (publisher, follow) = publish_ca_bundle(&ca);
            helpers.push(follow);
            let tls = match &settings.profile {
                EndpointProfileConfig::HttpsWeb {
                    cert_path,
                    key_path,
                } => {
                    let certificate = Arc::new(WebCertificate::from_pem_files(
                        cert_path, key_path, &crypto,
                    )?);
                    helpers.push(certificate.watch(CERTIFICATE_POLL));
                    EndpointTls::https_web(certificate, &crypto)?
                }
                EndpointProfileConfig::HttpsSpiffe { spiffe_id } => {
                    let (svid, renew) =
                        EndpointSvid::start(ca, spiffe_id.clone(), ENDPOINT_SVID_TTL)?;
                    helpers.push(renew);
                    EndpointTls::https_spiffe(svid, &crypto)?
                }
                _ => return Err("unsupported bundle endpoint profile".into()),
            };
            let listener = tokio::net::TcpListener::bind(settings.address)
                .await
                .map_err(|e| format!("federation.bundle_endpoint {}: {e}", settings.address))?;
            tracing::info!(
                address = %listener.local_addr()?,
                path = %settings.path,
                "serving the bundle endpoint"
            );
            let (stop, stopped) = oneshot::channel::<()>();
            let task = tokio::spawn(endpoint::serve(
                listener,
                tls,
                publisher.service(settings.path.clone()),
                async move {
                    let _ = stopped.await;
                },
            ));
            Some((stop, task))
        }
    };
    Ok(Running {
        _manager: manager,
        endpoint,
        helpers,
    })
}

impl Running {
    /// Stops the endpoint (open requests finish) and the background tasks.
    pub(crate) async fn stop(self) -> Result<(), Failure> {
        for helper in &self.helpers {
            helper.abort();
        }
        if let Some((stop, task)) = self.endpoint {
            let _ = stop.send(());
            task.await??;
        }
        Ok(())
    }
}
