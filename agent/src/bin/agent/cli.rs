//! The command line: `agent [run]` serves; the other subcommands call a running agent's admin
//! API.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const EXAMPLES: &str = "\
Examples:
  agent --config agent.toml                     serve (the same as `agent run`)
  agent entry create -c agent.toml --spiffe-id spiffe://example.org/web \\
        --selector unix:uid:1000 --x509-ttl 10m
  agent entry list -c agent.toml --json
  agent entry update -c agent.toml 3f9c... --selector unix:uid:1001
  agent bundle show --admin-socket /run/spiffe-agent/admin.sock
  agent ca rotate -c agent.toml --x509 --prepare   publish the next authority now...
  agent ca rotate -c agent.toml --x509             ...and activate it later
  agent federation list -c agent.toml
  agent federation reset-sequence -c agent.toml partner.example
  agent healthcheck -c agent.toml && echo ready";

/// A SPIFFE Workload API agent with an in-process CA, and the commands that administer it.
#[derive(Debug, Parser)]
#[command(name = "agent", version, after_help = EXAMPLES, args_conflicts_with_subcommands = true)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Option<Command>,
    /// `agent --config <file>` without a subcommand serves, as `agent run` does.
    #[command(flatten)]
    pub(crate) run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Serves the Workload API (and the admin API, health and metrics when configured) until
    /// SIGINT or SIGTERM.
    Run(RunArgs),
    /// Registration entries: create, list, show, update, delete.
    #[command(subcommand)]
    Entry(EntryCommand),
    /// The trust domain's bundle.
    #[command(subcommand)]
    Bundle(BundleCommand),
    /// The CA's authorities: list, rotate, taint, revoke.
    #[command(subcommand)]
    Ca(CaCommand),
    /// Federation relationships: list them with their state, reset a held sequence.
    #[command(subcommand)]
    Federation(FederationCommand),
    /// Exits 0 when the agent is ready to hand out identities, 1 otherwise.
    Healthcheck(Target),
}

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// The configuration file (see agent.example.toml).
    #[arg(short, long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// The Workload API socket (overrides `socket_path`).
    #[arg(short, long, value_name = "PATH")]
    pub(crate) socket: Option<PathBuf>,
    /// Debug logging.
    #[arg(short, long)]
    pub(crate) verbose: bool,
}

/// Which agent to talk to, and how to print.
#[derive(Debug, Args)]
pub(crate) struct Target {
    /// The agent's config file, to find its `admin_socket_path`.
    #[arg(short, long, value_name = "FILE", env = "SPIFFE_AGENT_CONFIG")]
    pub(crate) config: Option<PathBuf>,
    /// The admin socket (instead of reading the config).
    #[arg(short, long, value_name = "PATH", env = "SPIFFE_AGENT_ADMIN_SOCKET")]
    pub(crate) admin_socket: Option<PathBuf>,
    /// JSON output for scripts.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum EntryCommand {
    /// Registers an entry; prints it with the id the agent gave it.
    Create {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        fields: EntryFields,
    },
    /// Lists every entry (config-file ones included).
    List {
        #[command(flatten)]
        target: Target,
        /// Only entries with this SPIFFE ID.
        #[arg(long, value_name = "ID")]
        spiffe_id: Option<String>,
    },
    /// Shows one entry.
    Show {
        #[command(flatten)]
        target: Target,
        /// The entry id (`entry list` shows them).
        id: String,
    },
    /// Changes the given fields of an entry created through the API (repeated options replace
    /// the whole list).
    Update {
        #[command(flatten)]
        target: Target,
        /// The entry id.
        id: String,
        #[command(flatten)]
        fields: EntryFields,
    },
    /// Removes an entry created through the API.
    Delete {
        #[command(flatten)]
        target: Target,
        /// The entry id.
        id: String,
    },
}

/// The fields of an entry; all optional for `update`.
#[derive(Debug, Args)]
pub(crate) struct EntryFields {
    /// The SPIFFE ID workloads get, in the agent's trust domain.
    #[arg(long, value_name = "ID")]
    pub(crate) spiffe_id: Option<String>,
    /// A selector the caller must have, `type:value` (e.g. unix:uid:1000); repeat for more
    /// (all must match).
    #[arg(long = "selector", value_name = "SELECTOR")]
    pub(crate) selectors: Vec<String>,
    /// The parent ID (in the agent's trust domain).
    #[arg(long, value_name = "ID")]
    pub(crate) parent_id: Option<String>,
    /// X509-SVID lifetime, e.g. 10m, 1h.
    #[arg(long, value_name = "DURATION")]
    pub(crate) x509_ttl: Option<String>,
    /// JWT-SVID lifetime, e.g. 5m.
    #[arg(long, value_name = "DURATION")]
    pub(crate) jwt_ttl: Option<String>,
    /// A DNS SAN for the X509-SVID; repeat for more.
    #[arg(long = "dns-name", value_name = "NAME")]
    pub(crate) dns_names: Vec<String>,
    /// The hint workloads see (Workload API), e.g. "internal".
    #[arg(long, value_name = "TEXT")]
    pub(crate) hint: Option<String>,
    /// A trust domain whose bundle the workloads receive; repeat for more.
    #[arg(long = "federates-with", value_name = "TRUST_DOMAIN")]
    pub(crate) federates_with: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum BundleCommand {
    /// Prints the SPIFFE bundle document (JSON) the agent serves.
    Show(Target),
}

#[derive(Debug, Subcommand)]
pub(crate) enum CaCommand {
    /// Lists the X.509 authorities and JWT keys with their status.
    List(Target),
    /// Puts new keys into service now (both kinds unless one is named); without a kind flag
    /// and with --scheduled, only what the schedule says is due.
    Rotate {
        #[command(flatten)]
        target: Target,
        /// The X.509 authority.
        #[arg(long)]
        x509: bool,
        /// The JWT signing key.
        #[arg(long)]
        jwt: bool,
        /// Only the scheduled rotation (prepare / activate / retire as due).
        #[arg(long, conflicts_with_all = ["x509", "jwt", "prepare"])]
        scheduled: bool,
        /// Only prepare the next key(s) and publish them in the bundle; run the command again
        /// without --prepare to activate them (federated trust domains and workloads get the
        /// new authority before anything is signed by it).
        #[arg(long)]
        prepare: bool,
    },
    /// Stops the active authority of a kind from signing now; a new one takes over.
    Taint {
        #[command(flatten)]
        target: Target,
        /// Which kind.
        #[arg(long, value_enum)]
        kind: Kind,
    },
    /// Removes a retired or tainted authority from the bundle: what it signed stops verifying.
    Revoke {
        #[command(flatten)]
        target: Target,
        /// The authority id (`ca list` shows them).
        id: String,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum Kind {
    X509,
    Jwt,
}

#[derive(Debug, Subcommand)]
pub(crate) enum FederationCommand {
    /// Lists the relationships: endpoint, held sequence, last refresh, last error, refused
    /// sequence, next refresh.
    List(Target),
    /// Lets the next bundle of a relationship carry a lower spiffe_sequence than the one held
    /// (the peer was rebuilt on a new database), and fetches it now.
    ResetSequence {
        #[command(flatten)]
        target: Target,
        /// The federated trust domain, e.g. partner.example.
        trust_domain: String,
    },
}
