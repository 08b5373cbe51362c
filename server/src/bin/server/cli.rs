//! The command line: `server [run]` serves; the other subcommands call a running server's
//! admin API.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

const EXAMPLES: &str = "\
Examples:
  server --config server.toml                   serve (the same as `server run`)
  server token create -c server.toml --ttl 10m  a join token for one node
  server entry create -c server.toml --spiffe-id spiffe://example.org/web \\
        --parent-id spiffe://example.org/agent/join_token/1f2e... --selector unix:uid:1000
  server entry list -c server.toml --json
  server node list -c server.toml
  server node evict -c server.toml spiffe://example.org/agent/x509pop/node-1
  server entry update -c server.toml 65bd27e8... --selector unix:uid:1001
  server ca rotate -c server.toml --x509 --prepare   publish the next authority now...
  server ca rotate -c server.toml --x509             ...and activate it later
  server federation list -c server.toml
  server federation reset-sequence -c server.toml partner.example
  server bundle show -c server.toml --pem > bootstrap.pem
  server healthcheck -c server.toml && echo ready";

/// The SPIFFE fleet server (CA, entries, node attestation, node API), and the commands that
/// administer it.
#[derive(Debug, Parser)]
#[command(name = "server", version, after_help = EXAMPLES, args_conflicts_with_subcommands = true)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Option<Command>,
    /// `server --config <file>` without a subcommand serves, as `server run` does.
    #[command(flatten)]
    pub(crate) run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Serves the node API and the admin API until SIGINT or SIGTERM.
    Run(RunArgs),
    /// Join tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Attested nodes: list, evict.
    #[command(subcommand)]
    Node(NodeCommand),
    /// Registration entries: create, list, delete.
    #[command(subcommand)]
    Entry(EntryCommand),
    /// The trust domain's bundle.
    #[command(subcommand)]
    Bundle(BundleCommand),
    /// This replica's CA authorities: list, rotate, taint, revoke.
    #[command(subcommand)]
    Ca(CaCommand),
    /// This replica's federation relationships: list them with their state, reset a held
    /// sequence.
    #[command(subcommand)]
    Federation(FederationCommand),
    /// Exits 0 when the server is ready, 1 otherwise.
    Healthcheck(Target),
}

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// The configuration file (see server.example.toml).
    #[arg(short, long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Debug logging.
    #[arg(short, long)]
    pub(crate) verbose: bool,
}

/// Which server to talk to, and how to print.
#[derive(Debug, Args)]
pub(crate) struct Target {
    /// The server's config file, to find its `admin_socket_path`.
    #[arg(short, long, value_name = "FILE", env = "SPIFFE_SERVER_CONFIG")]
    pub(crate) config: Option<PathBuf>,
    /// The admin socket (instead of reading the config).
    #[arg(short, long, value_name = "PATH", env = "SPIFFE_SERVER_ADMIN_SOCKET")]
    pub(crate) admin_socket: Option<PathBuf>,
    /// JSON output for scripts.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum TokenCommand {
    /// Creates a single-use join token; prints it and the agent ID it gives.
    Create {
        #[command(flatten)]
        target: Target,
        /// How long it may be used (<n>s, <n>m, <n>h, <n>d).
        #[arg(long, default_value = "10m", value_parser = duration)]
        ttl: std::time::Duration,
        /// The agent ID it gives (default: spiffe://<td>/agent/join_token/<random>).
        #[arg(long, value_name = "SPIFFE_ID")]
        agent_id: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum NodeCommand {
    /// Lists the attested nodes.
    List {
        #[command(flatten)]
        target: Target,
    },
    /// Evicts a node: its agent is refused from its next call.
    Evict {
        #[command(flatten)]
        target: Target,
        /// The node's agent ID.
        spiffe_id: String,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum EntryCommand {
    /// Creates an entry; prints it with its ID.
    Create {
        #[command(flatten)]
        target: Target,
        /// The workload's SPIFFE ID.
        #[arg(long)]
        spiffe_id: String,
        /// The node's agent ID (or another entry's SPIFFE ID).
        #[arg(long)]
        parent_id: String,
        /// A selector the workload must have (`type:value`), repeatable.
        #[arg(long = "selector", required = true)]
        selectors: Vec<String>,
        /// X509-SVID lifetime.
        #[arg(long, value_parser = duration)]
        x509_ttl: Option<std::time::Duration>,
        /// JWT-SVID lifetime.
        #[arg(long, value_parser = duration)]
        jwt_ttl: Option<std::time::Duration>,
        /// A DNS SAN, repeatable.
        #[arg(long = "dns-name")]
        dns_names: Vec<String>,
        /// A foreign trust domain whose bundle the workload gets (`[[federation.federates_with]]`
        /// fetches it), repeatable.
        #[arg(long = "federates-with")]
        federates_with: Vec<String>,
    },
    /// Lists entries.
    List {
        #[command(flatten)]
        target: Target,
        /// Only entries of this parent.
        #[arg(long)]
        parent_id: Option<String>,
    },
    /// Shows one entry.
    Show {
        #[command(flatten)]
        target: Target,
        /// The entry's ID.
        id: String,
    },
    /// Changes an entry: the options given replace those fields, the others stay.
    Update {
        #[command(flatten)]
        target: Target,
        /// The entry's ID.
        id: String,
        /// A new SPIFFE ID.
        #[arg(long)]
        spiffe_id: Option<String>,
        /// A new parent ID.
        #[arg(long)]
        parent_id: Option<String>,
        /// New selectors (replacing all of them), repeatable.
        #[arg(long = "selector")]
        selectors: Vec<String>,
        /// A new X509-SVID lifetime.
        #[arg(long, value_parser = duration)]
        x509_ttl: Option<std::time::Duration>,
    },
    /// Deletes an entry.
    Delete {
        #[command(flatten)]
        target: Target,
        /// The entry's ID.
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum CaCommand {
    /// Lists this replica's authorities and their status.
    List {
        #[command(flatten)]
        target: Target,
    },
    /// Puts the next key into service now (both kinds unless one is chosen).
    Rotate {
        #[command(flatten)]
        target: Target,
        /// Only the X.509 authority.
        #[arg(long)]
        x509: bool,
        /// Only the JWT key.
        #[arg(long)]
        jwt: bool,
        /// Only prepare the next key(s) and publish them in the bundle; run the command again
        /// without --prepare to activate them (federated trust domains and agents get the new
        /// authority before anything is signed by it).
        #[arg(long)]
        prepare: bool,
    },
    /// Stops the active authority of a kind from signing (`x509` or `jwt`).
    Taint {
        #[command(flatten)]
        target: Target,
        /// `x509` or `jwt`.
        kind: String,
    },
    /// Removes a retired or tainted authority from the bundle.
    Revoke {
        #[command(flatten)]
        target: Target,
        /// The authority's ID, as `ca list` shows it.
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum BundleCommand {
    /// Prints the bundle (SPIFFE bundle JSON; `--json` wraps it with its sequence).
    Show {
        #[command(flatten)]
        target: Target,
        /// The X.509 authorities as PEM instead (an agent's `bootstrap_bundle_path`, openssl,
        /// curl).
        #[arg(long, conflicts_with = "json")]
        pem: bool,
    },
}

fn duration(text: &str) -> Result<std::time::Duration, String> {
    server::parse_duration(text)
        .ok_or_else(|| format!("{text:?} is not a duration like 30s, 10m, 1h or 1d"))
}

#[derive(Debug, Subcommand)]
pub(crate) enum FederationCommand {
    /// Lists the relationships: endpoint, held sequence, last refresh, last error, refused
    /// sequence, next refresh.
    List {
        #[command(flatten)]
        target: Target,
    },
    /// Lets the next bundle of a relationship carry a lower spiffe_sequence than the one held
    /// (the peer was rebuilt on a new database), and fetches it now.
    ResetSequence {
        #[command(flatten)]
        target: Target,
        /// The federated trust domain, e.g. partner.example.
        trust_domain: String,
    },
}
