//! `agent run`: serves until SIGINT or SIGTERM, then ends every stream, removes the sockets and
//! exits 0. Starts a CA for the configured trust domain and mints the configured entries'
//! SVIDs; with `health_address` set it also serves `/live`, `/ready` and `/metrics`
//! (Prometheus) there, and with `admin_socket_path` the admin API.

use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use std::sync::Arc;

use agent::node_api::x509pop::NodeCredential;
use agent::node_api::{Attestation, NodeClient, NodeClientConfig};
use agent::{
    Agent, AgentBuilder, AgentConfig, NodeAttestationConfig, UpstreamConfig, UpstreamFileConfig,
};
use ca::CertificateAuthority;
use store::{SqliteStore, Store};
use tokio::runtime::Runtime;
use tokio::signal::unix::{SignalKind, signal};

use crate::cli::RunArgs;

/// The name of the CA's journal in the store.
const CA_JOURNAL: &str = "ca";

/// Serves; logs go to stderr.
pub(crate) fn main(runtime: &Runtime, args: RunArgs) -> ExitCode {
    let level = if args.verbose {
        tracing::Level::DEBUG
    } else {
        tracing::Level::INFO
    };
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error}");
            eprintln!("agent: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: RunArgs) -> Result<(), Box<dyn std::error::Error>> {
    let path = args
        .config
        .ok_or("--config is required: the agent's configuration file (see agent.example.toml)")?;
    let config = AgentConfig::load(&path)?;
    let socket = args
        .socket
        .or_else(|| config.socket_path.clone())
        .ok_or("no socket path: set socket_path in the config or pass --socket")?;
    let mut kept_store = None;
    let mut builder = match &config.upstream {
        Some(upstream) => upstream_builder(&config, upstream, &path)?,
        None => {
            // The store is opened (and checked: schema, integrity) before anything else, and
            // the CA is built on its journal; both block, so they run off the async threads.
            let (ca, store) = {
                let config = config.clone();
                tokio::task::spawn_blocking(move || open_store_and_ca(&config))
                    .await?
                    .map_err(|e| -> Box<dyn std::error::Error> { e })?
            };
            let builder = Agent::builder(ca).drive_ca_rotation(Duration::from_secs(10));
            kept_store.clone_from(&store);
            match store {
                Some(store) => builder.store(store),
                None => builder,
            }
        }
    };
    builder = builder
        .x509_svid_ttl(config.x509_svid_ttl)
        .jwt_svid_ttl(config.jwt_svid_ttl)
        .max_streams_per_connection(config.max_streams_per_connection)
        .max_connections_per_uid(config.max_connections_per_uid)
        .max_connections(config.max_connections)
        .entries(config.entries.iter().cloned());
    for bundle in &config.federated_bundles {
        builder = builder.federated_bundle(bundle.clone());
    }
    if let Some(mode) = config.socket_mode {
        builder = builder.socket_mode(mode);
    }
    if let Some(addr) = config.tcp_address {
        builder = builder.tcp(addr);
    }
    if let Some(admin) = &config.admin_socket_path {
        builder = builder.admin_socket(admin);
    }
    if let Some(uids) = &config.admin_allowed_uids {
        builder = builder.admin_allowed_uids(uids.iter().copied());
    }
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    // Installed before anything is counted; only when someone can read it.
    let metrics = match config.health_address {
        Some(_) => {
            let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
                .install_recorder()
                .map_err(|e| format!("cannot install the metrics recorder: {e}"))?;
            agent::metrics::describe();
            Some(handle)
        }
        None => None,
    };
    let handle = builder.serve_unix(&socket).await?;
    let (stop_health, health_stopped) = tokio::sync::oneshot::channel::<()>();
    let health = match config.health_address {
        Some(addr) => {
            let server = agent::health::HealthServer::new(handle.readiness(), metrics);
            let (bound_tx, bound_rx) = tokio::sync::oneshot::channel();
            let task = tokio::spawn(server.serve(
                addr,
                move |bound| {
                    let _ = bound_tx.send(bound);
                },
                async move {
                    let _ = health_stopped.await;
                },
            ));
            match bound_rx.await {
                Ok(bound) => tracing::info!(address = %bound, "serving /live, /ready, /metrics"),
                // The server ended before binding: its error says why.
                Err(_) => {
                    task.await??;
                    return Err("the health server stopped before serving".into());
                }
            }
            Some(task)
        }
        None => None,
    };
    let federation = crate::federation::start(&config, &handle, kept_store).await?;
    for (id, entry) in handle.entries() {
        let selectors: Vec<&str> = entry.selectors().map(agent::Selector::as_str).collect();
        tracing::info!(
            entry = %id,
            spiffe_id = %entry.spiffe_id(),
            selectors = ?selectors,
            "serving entry"
        );
    }
    for bundle in &config.federated_bundles {
        tracing::info!(trust_domain = %bundle.trust_domain(), "serving federated bundle");
    }
    tracing::info!(
        endpoint = %handle.endpoint(),
        tcp = ?handle.tcp_addr(),
        "ready"
    );
    let signal = tokio::select! {
        _ = interrupt.recv() => "SIGINT",
        _ = terminate.recv() => "SIGTERM",
    };
    tracing::info!(signal, "shutting down");
    let _ = stop_health.send(());
    if let Some(task) = health {
        task.await??;
    }
    federation.stop().await?;
    handle.shutdown().await?;
    Ok(())
}

/// An agent in upstream mode: the node API client, with the node's attestation.
fn upstream_builder(
    config: &AgentConfig,
    upstream: &UpstreamFileConfig,
    config_path: &std::path::Path,
) -> Result<AgentBuilder, Box<dyn std::error::Error>> {
    let path = &upstream.bootstrap_bundle_path;
    let pem = std::fs::read(path)
        .map_err(|e| format!("upstream.bootstrap_bundle_path {}: {e}", path.display()))?;
    let bundle = trust_bundle::X509Bundle::from_pem(config.trust_domain.clone(), &pem)
        .map_err(|e| format!("upstream.bootstrap_bundle_path {}: {e}", path.display()))?;
    let crypto = svid::Crypto::default();
    let client = NodeClient::new(NodeClientConfig::new(
        upstream.servers.clone(),
        bundle,
        crypto.clone(),
    ))?;
    let attestation = match &upstream.attestation {
        NodeAttestationConfig::JoinTokenEnv(variable) => {
            let token = std::env::var(variable)
                .map_err(|_| format!("the join token: set {variable} (upstream.join_token_env)"))?;
            Attestation::join_token(token.trim())
        }
        NodeAttestationConfig::JoinTokenFile(file) => {
            let token = std::fs::read_to_string(file)
                .map_err(|e| format!("upstream.join_token_file {}: {e}", file.display()))?;
            Attestation::join_token(token.trim())
        }
        NodeAttestationConfig::X509pop {
            cert_path,
            key_path,
        } => {
            let read = |path: &std::path::Path| {
                std::fs::read(path).map_err(|e| format!("x509pop {}: {e}", path.display()))
            };
            Attestation::X509pop(NodeCredential::from_pem(
                &read(cert_path)?,
                &read(key_path)?,
                &crypto,
            )?)
        }
        _ => return Err("unsupported node attestation".into()),
    };
    tracing::info!(servers = ?upstream.servers, method = attestation.kind(), "upstream mode");
    Ok(Agent::upstream_builder(
        UpstreamConfig::new(client, attestation)
            .with_sync_interval(upstream.sync_interval)
            .with_state_dir(
                upstream
                    .state_dir
                    .clone()
                    .unwrap_or_else(|| config_path.with_extension("state")),
            ),
    ))
}

/// The CA and, when persistence is on, the store it resumed from.
type Opened = (CertificateAuthority, Option<Arc<dyn Store>>);

/// The store named by the config (when persistence is on) and the CA built on its journal.
fn open_store_and_ca(
    config: &AgentConfig,
) -> Result<Opened, Box<dyn std::error::Error + Send + Sync>> {
    let Some(path) = &config.store_path else {
        tracing::warn!("[store] in_memory = true: a new trust root at every start");
        return Ok((config.build_ca(SystemTime::now())?, None));
    };
    let store = SqliteStore::open(path)?;
    let journal = store.ca_journal(CA_JOURNAL)?;
    let ca = config.build_ca_with_journal(Some(journal), SystemTime::now())?;
    tracing::info!(
        store = %path.display(),
        sequence = ca.snapshot().sequence(),
        "CA resumed or created on the store"
    );
    Ok((ca, Some(Arc::new(store))))
}
