//! `[federation]` of the running agent: the relationships' manager feeding the Workload API,
//! and this trust domain's bundle endpoint (started by `federation::config::start`, which the
//! `server` binary shares).

use std::sync::Arc;
use std::time::Duration;

use agent::federation::{EndpointSvid, publish_ca_bundle};
use agent::{AgentConfig, AgentHandle, EndpointProfileConfig};
use federation::config::{EndpointSources, Running};
use federation::manager::{LastGoodStore, StoreLastGood};

type Failure = Box<dyn std::error::Error>;

/// How long the endpoint's X509-SVID lives (renewed at half).
const ENDPOINT_SVID_TTL: Duration = Duration::from_secs(3600);

/// Starts the relationships and the bundle endpoint the configuration names; the manager's
/// bundles reach the agent's workload streams. [`Running::manager`] gives the manager,
/// [`Running::stop`] ends it all.
pub(crate) async fn start(
    config: &AgentConfig,
    handle: &AgentHandle,
    store: Option<Arc<dyn store::Store>>,
) -> Result<Running, Failure> {
    let crypto = svid::Crypto::default();
    let mut tasks = Vec::new();
    let sources = match &config.federation.bundle_endpoint {
        None => None,
        Some(settings) => {
            let ca = handle
                .ca()
                .ok_or("federation.bundle_endpoint needs the agent's own CA")?
                .clone();
            let (publisher, follow) = publish_ca_bundle(&ca);
            tasks.push(follow);
            let mut sources = EndpointSources::new(publisher);
            if let EndpointProfileConfig::HttpsSpiffe { spiffe_id } = &settings.profile {
                let (svid, renew) = EndpointSvid::start(ca, spiffe_id.clone(), ENDPOINT_SVID_TTL)?;
                tasks.push(renew);
                sources = sources.with_svid(svid);
            }
            Some(sources)
        }
    };
    // Last good bundles survive restarts in the agent's store, when it has one.
    let last_good =
        store.map(|store| -> Arc<dyn LastGoodStore> { Arc::new(StoreLastGood::new(store)) });
    let started = federation::config::start(&config.federation, &crypto, sources, last_good).await;
    let mut running = match started {
        Ok(running) => running,
        Err(error) => {
            for task in &tasks {
                task.abort();
            }
            return Err(error.into());
        }
    };
    for task in tasks {
        running.attach(task);
    }
    if let Some(manager) = running.manager() {
        // Workload streams follow its bundles; the admin API lists and resets its relationships.
        let follow = handle.federate(Arc::clone(manager));
        running.attach(follow);
    }
    Ok(running)
}
