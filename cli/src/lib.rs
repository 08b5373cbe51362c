//! `spiffekit`: look at SPIFFE identities from the command line.
//!
//! This crate is the `spiffekit` binary. Its library half holds the implementation and
//! exposes one item, [`main`], which the binary calls; there is no other public API.
//!
//! - `spiffekit fetch x509|jwt|bundles`: what the Workload API (`--socket` or
//!   `SPIFFE_ENDPOINT_SOCKET`) gives this workload, as a summary, `--json`, or files
//!   (`--write DIR`: one generation directory per fetch behind the symlink `DIR/..data`, keys
//!   at mode 0600, so a key is never next to another fetch's certificate).
//! - `spiffekit watch`: one line per X.509 update until SIGINT or SIGTERM.
//! - `spiffekit inspect FILE...`: certificate chains, private keys (type only), bundle
//!   documents with what the parser ignored, bundle maps, and JWTs (decoded, not verified).
//! - `spiffekit verify` / `spiffekit validate`: an X.509-SVID chain or a JWT-SVID against
//!   bundle files, with `svid`'s verifiers; a refusal names the rule.
//! - `spiffekit helper --config FILE`: the cert-sync sidecar, configured with spiffe-helper's
//!   keys (its HCL files are read as they are, TOML too): atomic writes with modes set on
//!   every write, the key checked against the certificate before `renew_signal` goes to a pid
//!   file's process or to `cmd`, `/live` and `/ready`, an X.509-only bundle map for gRPC A87.
//! - `spiffekit completions SHELL`: a completion script for bash, zsh, fish, elvish or
//!   PowerShell.
//!
//! Exit codes: 0 success; 1 a check refused (verify, validate); 2 bad usage or input (a flag, a
//! file that does not parse); 3 the Workload API or the file system failed (fetch, watch,
//! `--write`). `spiffekit --help` and `spiffekit <command> --help` have examples.
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `ring` | yes | chain verification, JWT validation and key loading with ring |
//! | `aws-lc-rs` | no | the same with aws-lc-rs (preferred when both are on) |

mod check;
mod cli;
mod describe;
mod error;
mod fetch;
mod helper;
mod inspect;
mod pem;
mod spinner;
mod write;

use std::process::ExitCode;

use clap::Parser as _;

use crate::cli::{Cli, Command};
use crate::error::Error;

/// Runs the `spiffekit` command on the process's arguments and returns its exit code (0
/// success, 1 refused, 2 bad usage or input, 3 the Workload API or the file system failed).
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Fetch(args) => with_runtime(|| fetch::fetch(args)),
        Command::Watch(args) => with_runtime(|| fetch::watch(args)),
        Command::Inspect(args) => inspect::run(&args),
        Command::Verify(args) => check::verify(&args),
        Command::Validate(args) => check::validate(&args),
        Command::Helper(args) => with_runtime(|| helper::helper(args)),
        Command::Completions(args) => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(
                args.shell,
                &mut command,
                "spiffekit",
                &mut std::io::stdout(),
            );
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("spiffekit: {}", error::chain(&error));
            ExitCode::from(error.exit_code())
        }
    }
}

/// Runs an async command on a one-thread runtime (one agent connection is all the CLI needs).
fn with_runtime<F, Fut>(command: F) -> Result<(), Error>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<(), Error>>,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| Error::Io {
            what: "cannot start the async runtime".to_owned(),
            source,
        })?;
    runtime.block_on(command())
}
