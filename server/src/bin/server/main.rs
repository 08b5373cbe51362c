//! `server`: the SPIFFE fleet server, configured by a TOML file, and the subcommands that
//! administer a running one through its admin socket.
//!
//! ```text
//! server [run] --config server.toml [-v]
//! server token create | server node list|evict | server entry create|list|delete
//! server bundle show | server healthcheck
//! ```
//!
//! `server --help` lists everything, with examples. See `server/server.example.toml`.

mod cli;
mod commands;
mod run;

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
            eprintln!("server: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command {
        None => run::main(&runtime, &cli.run),
        Some(Command::Run(args)) => run::main(&runtime, &args),
        Some(command) => runtime.block_on(commands::run(command)),
    }
}
