//! `spiffekit-proxy run`: the identity source (Workload API or files), the proxy, the admin
//! endpoint, signals.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use proxy::Proxy;
use proxy::config::{Common, ProxyConfig};
use svid::X509SvidSource;
use tokio::signal::unix::{SignalKind, signal};
use trust_bundle::X509BundleSource;
use workload_client::fs::FsSource;
use workload_client::{Client, Endpoint, SourceOptions, SvidPicker, X509Source};

/// Serves; logs go to stderr.
pub(crate) fn main(config: Option<PathBuf>, verbose: bool) -> ExitCode {
    let level = if verbose {
        tracing::Level::DEBUG
    } else {
        tracing::Level::INFO
    };
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("spiffekit-proxy: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error}");
            eprintln!("spiffekit-proxy: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(path: Option<PathBuf>) -> Result<(), Box<dyn std::error::Error>> {
    let path = path.ok_or("--config is required")?;
    let config = ProxyConfig::load(&path)?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let common = config.common().clone();
    // Installed before anything is counted; only when someone can read it.
    let metrics = match common.admin_address {
        Some(_) => {
            let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
                .install_recorder()
                .map_err(|e| format!("cannot install the metrics recorder: {e}"))?;
            proxy::metrics::describe();
            Some(handle)
        }
        None => None,
    };
    let crypto = svid::Crypto::default();
    let source = Identity::start(&common, &crypto).await?;
    let (svids, bundles) = source.sources();
    let proxy = match config {
        ProxyConfig::Server { options, .. } => {
            Proxy::server(options, svids, bundles, crypto).await?
        }
        ProxyConfig::Client { options, .. } => {
            Proxy::client(options, svids, bundles, crypto).await?
        }
        _ => return Err("unsupported mode".into()),
    };
    let (stop_admin, admin_stopped) = tokio::sync::oneshot::channel::<()>();
    let admin = match (common.admin_address, metrics) {
        (Some(addr), Some(metrics)) => {
            let (bound, task) = crate::admin::start(addr, proxy.readiness(), metrics, async {
                let _ = admin_stopped.await;
            })
            .await
            .map_err(|e| format!("admin_address {addr}: {e}"))?;
            tracing::info!(address = %bound, "serving /live, /ready, /metrics");
            Some(task)
        }
        _ => None,
    };
    let shutdown = async {
        let signal = tokio::select! {
            _ = interrupt.recv() => "SIGINT",
            _ = terminate.recv() => "SIGTERM",
        };
        tracing::info!(signal, "shutting down");
    };
    let served = proxy.run(shutdown).await;
    let _ = stop_admin.send(());
    if let Some(task) = admin {
        task.await??;
    }
    source.close().await;
    served?;
    tracing::info!("stopped");
    Ok(())
}

/// Where the SVID and bundles come from: `workload_api_socket` (or `SPIFFE_ENDPOINT_SOCKET`),
/// or `[identity] files_dir`.
enum Identity {
    WorkloadApi(Arc<X509Source>),
    Files(Arc<FsSource>),
}

impl Identity {
    /// Waits for the first SVID.
    async fn start(
        common: &Common,
        crypto: &svid::Crypto,
    ) -> Result<Self, Box<dyn std::error::Error>> {
        if let Some(files) = &common.files {
            tracing::info!(dir = %files.dir.display(), "waiting for the first X.509-SVID in files");
            let source = files
                .builder()
                .crypto(crypto.clone())
                .build()
                .await
                .map_err(|e| format!("[identity] files_dir {}: {e}", files.dir.display()))?;
            return Ok(Self::Files(Arc::new(source)));
        }
        let endpoint = match &common.workload_api {
            Some(address) => Endpoint::parse(address)
                .map_err(|e| format!("workload_api_socket {address:?}: {e}"))?,
            None => Endpoint::from_env()
                .map_err(|e| format!("no workload_api_socket in the config and {e}"))?,
        };
        tracing::info!(endpoint = %endpoint, "waiting for the first X.509-SVID");
        let client = Client::builder(endpoint).connect_lazy()?;
        let source = X509Source::new(client, SvidPicker::Default, SourceOptions::default()).await?;
        Ok(Self::WorkloadApi(Arc::new(source)))
    }

    fn sources(&self) -> (Arc<dyn X509SvidSource>, Arc<dyn X509BundleSource>) {
        match self {
            Self::WorkloadApi(source) => (source.clone(), source.clone()),
            Self::Files(source) => (source.clone(), source.clone()),
        }
    }

    /// Stops the Workload API stream; the file watch stops with the last `Arc`.
    async fn close(self) {
        if let Self::WorkloadApi(source) = self {
            source.close().await;
        }
    }
}
