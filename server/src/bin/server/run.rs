//! `server run`: opens the CA's token (`[ca.pkcs11]`) and the store, builds the CA and
//! attestors from the config, serves until SIGINT or SIGTERM.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::SystemTime;

use server::{Server, ServerConfig, StoreConfig, X509popAttestor, X509popConfig};
use tokio::runtime::Runtime;

use crate::cli::RunArgs;

pub(crate) fn main(runtime: &Runtime, args: &RunArgs) -> ExitCode {
    let level = if args.verbose {
        tracing::Level::DEBUG
    } else {
        tracing::Level::INFO
    };
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .init();
    let Some(path) = &args.config else {
        eprintln!("server: --config <FILE> is required");
        return ExitCode::FAILURE;
    };
    match runtime.block_on(serve(path)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("server: {error}");
            ExitCode::FAILURE
        }
    }
}

type Failure = Box<dyn std::error::Error + Send + Sync>;

fn open_store(
    config: &ServerConfig,
    #[cfg_attr(
        not(feature = "postgres"),
        expect(unused_variables, reason = "TLS to PostgreSQL only")
    )]
    crypto: &svid::Crypto,
) -> Result<Arc<dyn store::Store>, Failure> {
    match &config.store {
        StoreConfig::Sqlite(path) => Ok(Arc::new(store::SqliteStore::open(path)?)),
        #[cfg(feature = "postgres")]
        StoreConfig::Postgres(settings) => Ok(Arc::new(store::PostgresStore::connect_with(
            settings.options(crypto)?,
        )?)),
        #[cfg(not(feature = "postgres"))]
        StoreConfig::Postgres(_) => {
            Err("[store] postgres needs the server built with the `postgres` feature".into())
        }
        _ => Err("unsupported store".into()),
    }
}

async fn serve(path: &std::path::Path) -> Result<(), Failure> {
    let config = ServerConfig::load(path)?;
    let crypto = svid::Crypto::default();
    // The token first: a wrong PIN or a missing token stops the server before the store is
    // created or migrated.
    let key_manager = {
        let config = config.clone();
        let crypto = crypto.clone();
        tokio::task::spawn_blocking(move || config.ca_key_manager(&crypto)).await??
    };
    let store = {
        let (config, crypto) = (config.clone(), crypto.clone());
        tokio::task::spawn_blocking(move || open_store(&config, &crypto)).await??
    };
    let now = SystemTime::now();
    let mut builder = ca::CertificateAuthority::builder(config.trust_domain.clone())
        .key_store(store.ca_journal(&config.journal)?)
        .crypto(crypto.clone());
    if let Some(disk) = &config.upstream_disk {
        let mut upstream = ca::DiskUpstream::builder(&disk.cert_path, &disk.key_path);
        if let Some(bundle) = &disk.bundle_path {
            upstream = upstream.bundle_path(bundle);
        }
        builder = builder.upstream(Arc::new(upstream.load(config.trust_domain.clone(), now)?));
    }
    if let Some(keys) = key_manager {
        builder = builder.key_manager(keys);
    }
    let ca = builder.build(now)?;
    let mut server = Server::builder(ca, Arc::clone(&store))
        .agent_svid_ttl(config.agent_svid_ttl)
        .x509_svid_ttl(config.x509_svid_ttl)
        .jwt_svid_ttl(config.jwt_svid_ttl)
        .max_clock_skew(config.max_clock_skew)
        .rate_limit(config.rate_limit)
        .entry_refresh_interval(config.entry_refresh_interval)
        .max_node_staleness(config.max_node_staleness)
        .replica_name(config.journal.clone())
        .federation(config.federation.clone())
        .crypto(crypto.clone());
    if let Some(x509pop) = &config.x509pop {
        let pem = std::fs::read(&x509pop.roots_path)
            .map_err(|e| format!("x509pop roots {}: {e}", x509pop.roots_path.display()))?;
        let roots = trust_bundle::X509Bundle::from_pem(config.trust_domain.clone(), &pem)
            .map_err(|e| format!("x509pop roots {}: {e}", x509pop.roots_path.display()))?
            .authorities()
            .to_vec();
        let mut settings = X509popConfig::new(roots);
        if let Some(template) = &x509pop.template {
            settings = settings.with_template(template.clone());
        }
        let attestor = X509popAttestor::new(config.trust_domain.clone(), settings, crypto)?;
        server = server.attestor(Arc::new(attestor));
    }
    if let Some(socket) = &config.admin_socket_path {
        server = server.admin_socket(socket.clone());
    }
    if let Some(uids) = &config.admin_allowed_uids {
        server = server.admin_allowed_uids(uids.iter().copied());
    }
    if let Some(address) = config.health_address {
        let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
            .install_recorder()
            .map_err(|e| format!("cannot install the metrics recorder: {e}"))?;
        server::metrics::describe();
        server = server.health(address, Some(handle));
    }
    let server = server.serve(config.listen_address).await?;
    if let Some(address) = server.health_addr() {
        eprintln!("server: /live /ready /metrics on http://{address}");
    }
    if let Some(address) = server.bundle_endpoint_addr() {
        eprintln!("server: federation bundle endpoint on https://{address}");
    }
    // Last: scripts and tests wait for this line.
    eprintln!(
        "server: serving trust domain {} on {}",
        config.trust_domain,
        server.local_addr()
    );
    wait_for_signal().await?;
    tracing::info!("shutting down");
    server.shutdown().await?;
    Ok(())
}

async fn wait_for_signal() -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = terminate.recv() => {}
        _ = interrupt.recv() => {}
    }
    Ok(())
}
