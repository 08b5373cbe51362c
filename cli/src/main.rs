//! `spiffekit`: look at SPIFFE identities from the command line.
//!
//! ```text
//! spiffekit fetch x509|jwt|bundles [--socket ADDR] [--json] [--write DIR]
//! spiffekit watch [--socket ADDR] [--json]
//! spiffekit inspect FILE... [--json]
//! spiffekit verify --bundle [TD=]FILE... [--at RFC3339] [--usage any|client|server] CHAIN
//! spiffekit validate --bundle [TD=]FILE... --audience AUD... [--at RFC3339] TOKEN|-
//! ```
//!
//! Exit codes: 0 success; 1 a check refused (verify, validate); 2 bad usage or input (a flag, a
//! file that does not parse); 3 the Workload API or the file system failed (fetch, watch,
//! `--write`). `spiffekit --help` and `spiffekit <command> --help` have examples.

mod check;
mod cli;
mod describe;
mod error;
mod fetch;
mod inspect;
mod write;

use std::process::ExitCode;

use clap::Parser as _;

use crate::cli::{Cli, Command};
use crate::error::Error;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Fetch(args) => with_runtime(|| fetch::fetch(args)),
        Command::Watch(args) => with_runtime(|| fetch::watch(args)),
        Command::Inspect(args) => inspect::run(&args),
        Command::Verify(args) => check::verify(&args),
        Command::Validate(args) => check::validate(&args),
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
