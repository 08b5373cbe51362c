//! `spiffekit-proxy`: the SPIFFE-aware TLS proxy, configured by a TOML file.
//!
//! ```text
//! spiffekit-proxy [run] --config proxy.toml [-v]
//! spiffekit-proxy check-config --config proxy.toml [--json]
//! ```
//!
//! `spiffekit-proxy --help` lists everything, with examples; the crate README documents the file.

mod admin;
mod run;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory, Parser, Subcommand};
use proxy::config::{BundleFiles, ProxyConfig, SvidFiles};
use proxy::{Backend, Mode};

const EXAMPLES: &str = "\
Examples:
  spiffekit-proxy --config proxy.toml              serve (the same as `spiffekit-proxy run`)
  spiffekit-proxy check-config -c proxy.toml --json
  SPIFFE_ENDPOINT_SOCKET=unix:///run/spire/agent.sock spiffekit-proxy -c proxy.toml -v

A server-mode file (mTLS in, plaintext HTTP to a local service):
  mode = \"server\"
  listen = \"0.0.0.0:8443\"
  backend = \"127.0.0.1:8080\"
  backend_protocol = \"http\"
  allowed_ids = [\"spiffe://example.org/ns/*/sa/web\"]
  admin_address = \"127.0.0.1:9090\"

Exit codes: 0 ok, 1 failed (or an invalid config for check-config), 2 usage error.";

/// A SPIFFE-aware TLS proxy: mutual TLS by SPIFFE ID in front of any TCP or HTTP service
/// (server mode), or out of a plaintext client (client mode). Identity comes from the
/// Workload API or from files (`[identity] files_dir`); rotations apply to new connections without restart. SIGTERM or SIGINT
/// stops accepting and drains open connections.
#[derive(Debug, Parser)]
#[command(name = "spiffekit-proxy", version, after_help = EXAMPLES, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// `spiffekit-proxy --config <file>` without a subcommand serves, as `run` does.
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serves until SIGTERM or SIGINT, then drains.
    Run(RunArgs),
    /// Reads and checks the configuration, prints what it would do, exits 0 (valid) or 1.
    CheckConfig {
        /// The configuration file.
        #[arg(short, long, value_name = "FILE")]
        config: PathBuf,
        /// JSON output for scripts.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
struct RunArgs {
    /// The configuration file (see the README of spiffekit-proxy).
    #[arg(short, long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Debug logging.
    #[arg(short, long)]
    verbose: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::CheckConfig { config, json }) => check_config(&config, json),
        Some(Command::Run(args)) => run::main(args.config, args.verbose),
        None if cli.run.config.is_none() => Cli::command()
            .error(
                clap::error::ErrorKind::MissingRequiredArgument,
                "--config <FILE> is required to serve",
            )
            .exit(),
        None => run::main(cli.run.config, cli.run.verbose),
    }
}

/// `[identity]` as check-config prints it: the folder and the files read there.
fn identity_files(common: &proxy::config::Common) -> serde_json::Value {
    let Some(files) = &common.files else {
        return serde_json::Value::Null;
    };
    let path = |path: &std::path::Path| serde_json::Value::from(path.display().to_string());
    let mut json = serde_json::Map::new();
    json.insert("dir".into(), path(&files.dir));
    match &files.svid {
        SvidFiles::CredentialBundle(name) => {
            json.insert("credential_bundle".into(), path(name));
        }
        SvidFiles::CertificateAndKey { certificate, key } => {
            json.insert("certificate".into(), path(certificate));
            json.insert("key".into(), path(key));
        }
        _ => {}
    }
    let (key, value) = match &files.bundles {
        BundleFiles::PerTrustDomain(suffix) => ("trust_bundle_suffix", suffix.as_str().into()),
        BundleFiles::BundleMap(name) => ("bundle_map", path(name)),
        BundleFiles::SvidBundle(name) => ("svid_bundle", path(name)),
        _ => ("bundles", serde_json::Value::Null),
    };
    json.insert(key.into(), value);
    serde_json::Value::Object(json)
}

fn check_config(path: &std::path::Path, json: bool) -> ExitCode {
    let config = match ProxyConfig::load(path) {
        Ok(config) => config,
        Err(error) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({"valid": false, "error": error.to_string()})
                );
            } else {
                eprintln!("spiffekit-proxy: {error}");
            }
            return ExitCode::FAILURE;
        }
    };
    let common = config.common();
    let summary = match &config {
        ProxyConfig::Server { options, .. } => {
            let (protocol, proxy_protocol, header) = match &options.protocol {
                Backend::Tcp { proxy_protocol } => ("tcp", *proxy_protocol, None),
                Backend::Http(http) => (
                    "http",
                    false,
                    http.peer_header.as_ref().map(|h| h.as_str().to_owned()),
                ),
                _ => ("other", false, None),
            };
            serde_json::json!({
                "valid": true,
                "mode": Mode::Server.as_str(),
                "listen": options.listen.to_string(),
                "backend": options.backend.to_string(),
                "backend_protocol": protocol,
                "proxy_protocol": proxy_protocol,
                "peer_header": header,
                "allowed_ids": options.allowed.to_string(),
                "max_connections": options.max_connections,
                "workload_api": common.workload_api,
                "identity_files": identity_files(common),
                "admin_address": common.admin_address.map(|a| a.to_string()),
            })
        }
        ProxyConfig::Client { options, .. } => serde_json::json!({
            "valid": true,
            "mode": Mode::Client.as_str(),
            "listen": options.listen.to_string(),
            "remote": options.remote.to_string(),
            "server_ids": options.server_ids.to_string(),
            "max_connections": options.max_connections,
            "workload_api": common.workload_api,
            "identity_files": identity_files(common),
            "admin_address": common.admin_address.map(|a| a.to_string()),
        }),
        _ => serde_json::json!({"valid": true}),
    };
    if json {
        println!("{summary}");
    } else if let Some(fields) = summary.as_object() {
        println!("configuration is valid");
        for (key, value) in fields.iter().filter(|(key, _)| *key != "valid") {
            match value {
                serde_json::Value::Null => {}
                serde_json::Value::String(text) => println!("  {key}: {text}"),
                other => println!("  {key}: {other}"),
            }
        }
    }
    ExitCode::SUCCESS
}
