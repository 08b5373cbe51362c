//! `agent`: a SPIFFE Workload API server with an in-process CA, configured by a TOML file, and
//! the subcommands that administer a running one through its admin socket.
//!
//! ```text
//! agent [run] --config agent.toml [--socket /path/to/agent.sock] [-v]
//! agent entry create|list|show|update|delete ...
//! agent bundle show | agent ca list|rotate|taint|revoke | agent healthcheck
//! ```
//!
//! `agent --help` lists everything, with examples. See `agent/agent.example.toml` and the
//! crate docs.

mod cli;
mod commands;
mod federation;
mod output;
mod serve;

use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use crate::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.command.is_none() && cli.run.config.is_none() {
        Cli::command()
            .error(
                clap::error::ErrorKind::MissingRequiredArgument,
                "--config <FILE> is required to serve; see --help for the admin subcommands",
            )
            .exit();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("agent: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command {
        None => serve::main(&runtime, cli.run),
        Some(Command::Run(args)) => serve::main(&runtime, args),
        Some(command) => runtime.block_on(commands::run(command)),
    }
}
