//! The command line (clap derive).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  refused: the chain or token failed a check (the failed rule is printed)
  2  bad usage or input: a flag, a file or a token that cannot be read or parsed
  3  the Workload API or the file system failed";

/// Look at SPIFFE identities: fetch and watch them from the Workload API, inspect files,
/// verify X.509-SVID chains and validate JWT-SVIDs against bundle files.
#[derive(Debug, Parser)]
#[command(name = "spiffekit", version, after_help = EXIT_CODES)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Fetch an X.509-SVID, JWT-SVIDs or the bundles from the Workload API.
    #[command(after_help = "\
Examples:
  SPIFFE_ENDPOINT_SOCKET=unix:///run/spire/agent.sock spiffekit fetch x509
  spiffekit fetch x509 --socket /run/spire/agent.sock --write /etc/certs
  spiffekit fetch jwt --audience spiffe://example.org/db --json
  spiffekit fetch bundles --write ./bundles

--write DIR writes every file of one fetch into a new directory DIR/..<time>-<random> and then
switches the symlink DIR/..data to it with one rename; DIR/<file> are symlinks through ..data.
Every state of DIR is one whole fetch: a key is never next to another fetch's certificate.")]
    Fetch(FetchArgs),
    /// Stream X.509 updates from the Workload API, one line per update, until SIGINT or SIGTERM.
    #[command(after_help = "\
Examples:
  spiffekit watch
  spiffekit watch --socket unix:///run/spire/agent.sock --json")]
    Watch(WatchArgs),
    /// Describe certificate chains, private keys (type only), bundle documents, bundle maps and
    /// JWTs (decoded, NOT verified).
    #[command(after_help = "\
Examples:
  spiffekit inspect svid.pem svid_key.pem bundle.json
  spiffekit inspect --json token.jwt

A key file is described by its type; key material is never printed. A JWT is decoded without
checking its signature: use `spiffekit validate` to check one.")]
    Inspect(InspectArgs),
    /// Verify an X.509-SVID chain against bundle files (the bundle of the leaf's own trust
    /// domain).
    #[command(after_help = "\
Examples:
  spiffekit verify --bundle bundle.pem svid.pem
  spiffekit verify --bundle example.org=bundle.pem --bundle other.org=other.json \\
      --at 2026-06-01T00:00:00Z --usage client peer.pem

A bundle is a PEM file of the trust domain's X.509 authorities or a SPIFFE bundle document
(JSON). Without TD=, a bundle belongs to the trust domain of the chain's leaf.")]
    Verify(VerifyArgs),
    /// Validate a JWT-SVID against JWT bundle files and an audience.
    #[command(after_help = "\
Examples:
  spiffekit validate --bundle example.org=bundle.json --audience spiffe://example.org/db TOKEN
  spiffekit fetch jwt --audience db --write . && spiffekit validate --bundle example.org.bundle.json \\
      --audience db - < jwt_svid.token

A bundle is a SPIFFE bundle document (JSON). Without TD=, a bundle belongs to the trust domain
of the token's subject.")]
    Validate(ValidateArgs),
    /// Keep certificate, key and bundle files in a directory current and tell a process when
    /// they change (the cert-sync sidecar; reads spiffe-helper's configuration files).
    #[command(after_help = "\
Examples:
  spiffekit helper --config helper.conf
  spiffekit helper --config helper.toml --daemon-mode false   # write once, exit 0

helper.conf (spiffe-helper's HCL, read as is; a .toml file takes the same keys):
  agent_address         = \"/run/spire/agent.sock\"
  cert_dir              = \"/etc/nginx/certs\"
  svid_file_name        = \"svid.pem\"
  svid_key_file_name    = \"svid_key.pem\"
  svid_bundle_file_name = \"svid_bundle.pem\"
  renew_signal          = \"SIGHUP\"
  pid_file_name         = \"/run/nginx.pid\"
  health_checks { listener_enabled = true  bind_port = 8081 }

Every file is written to a temporary file, fsynced and renamed into place, with its mode set
on every write; the key is read back and checked against the certificate before the signal.
Unknown keys are an error. SIGTERM stops the helper and is forwarded to cmd; when cmd exits
the helper exits with its status. See the README section \"Files and sidecars\".")]
    Helper(HelperArgs),
    /// Print a shell completion script.
    #[command(after_help = "\
Examples:
  spiffekit completions bash > /etc/bash_completion.d/spiffekit
  spiffekit completions zsh > \"${fpath[1]}/_spiffekit\"
  spiffekit completions fish > ~/.config/fish/completions/spiffekit.fish")]
    Completions(CompletionsArgs),
}

/// `helper`.
#[derive(Debug, Args)]
pub(crate) struct HelperArgs {
    /// The configuration file: HCL (spiffe-helper's format) or TOML (a `.toml` name).
    #[arg(long, short = 'c', value_name = "FILE", default_value = "helper.conf")]
    pub(crate) config: PathBuf,
    /// Overrides `daemon_mode`: `false` writes the files once and exits.
    #[arg(long, value_name = "BOOL")]
    pub(crate) daemon_mode: Option<bool>,
}

/// `completions`.
#[derive(Debug, Args)]
pub(crate) struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub(crate) shell: clap_complete::Shell,
}

/// Where the Workload API is.
#[derive(Debug, Args)]
pub(crate) struct SocketArgs {
    /// The Workload API endpoint: `unix:///path`, `tcp://ip:port` or a plain socket path.
    #[arg(long, env = "SPIFFE_ENDPOINT_SOCKET", value_name = "ADDR")]
    pub(crate) socket: String,
    /// Seconds to wait for each Workload API call.
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    pub(crate) timeout: u64,
}

/// `fetch`.
#[derive(Debug, Args)]
pub(crate) struct FetchArgs {
    /// What to fetch.
    #[arg(value_enum)]
    pub(crate) what: FetchKind,
    #[command(flatten)]
    pub(crate) socket: SocketArgs,
    /// The JWT-SVID audience (repeat for several); required for `jwt`.
    #[arg(long = "audience", value_name = "AUD")]
    pub(crate) audiences: Vec<String>,
    /// Print JSON instead of the summary.
    #[arg(long)]
    pub(crate) json: bool,
    /// Also write the files into this directory (created if missing).
    #[arg(long, value_name = "DIR")]
    pub(crate) write: Option<PathBuf>,
}

/// What `fetch` fetches.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum FetchKind {
    /// The X.509-SVIDs and the X.509 bundles.
    X509,
    /// JWT-SVIDs for `--audience`.
    Jwt,
    /// The X.509 and JWT bundles of every trust domain.
    Bundles,
}

/// `watch`.
#[derive(Debug, Args)]
pub(crate) struct WatchArgs {
    #[command(flatten)]
    pub(crate) socket: SocketArgs,
    /// One JSON object per line instead of the summary line.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `inspect`.
#[derive(Debug, Args)]
pub(crate) struct InspectArgs {
    /// Files to describe (`-` for standard input).
    #[arg(required = true, value_name = "FILE")]
    pub(crate) files: Vec<PathBuf>,
    /// The trust domain a bundle document belongs to (a document does not name it).
    #[arg(long, value_name = "TD")]
    pub(crate) trust_domain: Option<String>,
    /// Print JSON (one array of descriptions).
    #[arg(long)]
    pub(crate) json: bool,
    /// The time "time left" counts from (RFC 3339; default now).
    #[arg(long, value_name = "RFC3339")]
    pub(crate) at: Option<String>,
}

/// `verify`.
#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// A bundle file, `[TD=]FILE` (repeat for several trust domains).
    #[arg(long = "bundle", required = true, value_name = "[TD=]FILE")]
    pub(crate) bundles: Vec<String>,
    /// The time to verify at (RFC 3339; default now).
    #[arg(long, value_name = "RFC3339")]
    pub(crate) at: Option<String>,
    /// The TLS role the leaf must allow (extended key usage).
    #[arg(long, value_enum, default_value_t = UsageArg::Any)]
    pub(crate) usage: UsageArg,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
    /// The chain, PEM or DER, leaf first (`-` for standard input).
    #[arg(value_name = "CHAIN")]
    pub(crate) chain: PathBuf,
}

/// `--usage`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum UsageArg {
    /// No extended key usage requirement.
    Any,
    /// A TLS client certificate (`id-kp-clientAuth`).
    Client,
    /// A TLS server certificate (`id-kp-serverAuth`).
    Server,
}

/// `validate`.
#[derive(Debug, Args)]
pub(crate) struct ValidateArgs {
    /// A JWT bundle file (SPIFFE bundle document), `[TD=]FILE` (repeat for several).
    #[arg(long = "bundle", required = true, value_name = "[TD=]FILE")]
    pub(crate) bundles: Vec<String>,
    /// An audience this service accepts (repeat for several; one match is enough).
    #[arg(long = "audience", required = true, value_name = "AUD")]
    pub(crate) audiences: Vec<String>,
    /// The time to validate at (RFC 3339; default now).
    #[arg(long, value_name = "RFC3339")]
    pub(crate) at: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
    /// The token, or `-` to read it from standard input.
    #[arg(value_name = "TOKEN")]
    pub(crate) token: String,
}
