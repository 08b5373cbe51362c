//! The `spiffekit` binary; everything is in the library half (see the `spiffekit-cli` docs).

fn main() -> std::process::ExitCode {
    cli::main()
}
