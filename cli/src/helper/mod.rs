//! `spiffekit helper`: the cert-sync sidecar. Keeps spiffe-helper's configuration keys and
//! behaviour where they are sound, and does better where they are not: atomic writes with the
//! mode set on every write, the key checked against the certificate after each write and
//! before anyone is signalled, start-up errors instead of silent retries for a missing socket
//! or an unwritable directory, and an X.509-only bundle map for gRPC A87 readers.

mod config;
mod files;
mod health;
mod run;
mod signal;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use svid::Crypto;
use workload_client::{Client, SourceOptions, SvidPicker, X509Source};

use crate::cli::HelperArgs;
use crate::error::Error;
use config::Config;

/// How long one wait for the first X.509-SVID lasts before the helper logs that it is still
/// waiting (daemon mode) or gives up (one-shot mode).
const STARTUP_WAIT: Duration = Duration::from_secs(30);

fn log(message: impl std::fmt::Display) {
    eprintln!("spiffekit helper: {message}");
}

/// `spiffekit helper --config FILE`.
pub(crate) async fn helper(args: HelperArgs) -> Result<(), Error> {
    let config = Config::load(&args.config, args.daemon_mode)?;
    preflight(&config)?;
    let client = Client::builder(crate::fetch::endpoint(&config.agent_address)?)
        .connect_lazy()
        .map_err(|source| Error::WorkloadApi {
            what: "connect",
            source,
        })?;
    let picker = config
        .hint
        .clone()
        .map_or(SvidPicker::Default, SvidPicker::Hint);
    let mut options = SourceOptions::default();
    options.startup_timeout = STARTUP_WAIT;
    let status = Arc::new(health::Status::default());
    if config.daemon_mode {
        if let Some(health) = &config.health {
            health::serve(health, Arc::clone(&status))
                .await
                .map_err(|source| Error::Io {
                    what: format!("health_checks: cannot listen on {}", health.bind),
                    source,
                })?;
        }
    } else if config.cmd.is_some() || config.pid_file_name.is_some() {
        log(
            "daemon_mode = false: cmd and pid_file_name are ignored (nothing runs after one write)",
        );
    }
    let helper = run::Helper {
        config,
        client,
        crypto: Crypto::default(),
        status,
    };
    helper.run(picker, options).await
}

/// The start-up checks that spiffe-helper leaves to an endless retry loop.
fn preflight(config: &Config) -> Result<(), Error> {
    if let Some(path) = config.agent_address.strip_prefix("unix://") {
        if !Path::new(path).exists() {
            return Err(Error::Io {
                what: format!(
                    "the Workload API socket {path} does not exist (agent_address, or SPIFFE_ENDPOINT_SOCKET)"
                ),
                source: std::io::ErrorKind::NotFound.into(),
            });
        }
    }
    let dir = &config.cert_dir;
    tempfile::tempfile_in(dir).map_err(|source| Error::Io {
        what: format!("cert_dir {} is not a writable directory", dir.display()),
        source,
    })?;
    Ok(())
}

/// Starts an [`X509Source`], waiting for the first SVID; in daemon mode it keeps waiting
/// (logging every [`STARTUP_WAIT`]).
async fn first_source(
    client: &Client,
    picker: &SvidPicker,
    options: SourceOptions,
    daemon: bool,
) -> Result<X509Source, Error> {
    let spinner = crate::spinner::Spinner::start("waiting for the first X.509-SVID");
    loop {
        match X509Source::new(client.clone(), picker.clone(), options).await {
            Ok(source) => {
                drop(spinner);
                return Ok(source);
            }
            Err(error) if daemon => log(format!("still waiting for an X.509-SVID: {error}")),
            Err(source) => {
                return Err(Error::WorkloadApi {
                    what: "FetchX509SVID",
                    source,
                });
            }
        }
    }
}
