//! Workspace tasks, run as `cargo xtask <task>` (the alias lives in `.cargo/config.toml`).
//!
//! - `gen-vectors` writes the svid test-vector corpus to `svid/tests/data/vectors/`: X.509-SVID
//!   chains with their bundles and JWT-SVIDs with their JWT bundles, one vector per defect of the
//!   SPIFFE digest's X-1..X-10 and J-1..J-11, plus valid ones, and a `manifest.json` stating the
//!   validation time, the usage or audience and the expected outcome of each.
//! - `gen-vectors --check` regenerates into a temporary directory and compares everything that
//!   does not depend on key material (see [`check::COMPARED`]).
//!
//! - `gen-proto [--check]` generates the Workload API code checked in as
//!   `workload-api/src/proto/workload.rs` (see [`proto`]).
//!
//! Not a library and not published: errors are reported as text and a failed task exits with
//! status 1.

mod check;
mod jwt;
mod manifest;
mod mint;
mod proto;
mod x509;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// What the tasks return: any error, reported once by `main`.
type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn help() -> String {
    format!(
        "\
cargo xtask <task>

Tasks:
  gen-vectors [--out DIR]
      Write the svid test-vector corpus to DIR (default: svid/tests/data/vectors). DIR is
      replaced as a whole, so a vector removed from the generator leaves no orphan file.
  gen-vectors --check [--out DIR]
      Regenerate into a temporary directory and compare with DIR; exit 1 on any difference.
  gen-proto [--check]
      Generate the Workload API messages, client and server (protox + tonic-prost-build, no
      system protoc) into workload-api/src/proto/workload.rs; with --check, exit 1 when the
      checked-in file is stale.
  help
      Print this text.

What --check compares:
{}",
        check::COMPARED
    )
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("xtask: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<ExitCode> {
    let Some((task, rest)) = args.split_first() else {
        print!("{}", help());
        return Ok(ExitCode::FAILURE);
    };
    match task.as_str() {
        "gen-vectors" => gen_vectors(rest),
        "gen-proto" => proto::run(&workspace_root(), rest),
        "help" | "--help" | "-h" => {
            print!("{}", help());
            Ok(ExitCode::SUCCESS)
        }
        other => Err(format!("unknown task `{other}`; try `cargo xtask help`").into()),
    }
}

fn gen_vectors(args: &[String]) -> Result<ExitCode> {
    let mut check = false;
    let mut out = None;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--check" => check = true,
            "--out" => {
                let dir = args.next().ok_or("--out needs a directory")?;
                out = Some(PathBuf::from(dir));
            }
            "--help" | "-h" => {
                print!("{}", help());
                return Ok(ExitCode::SUCCESS);
            }
            other => return Err(format!("unknown argument `{other}`").into()),
        }
    }
    let out = out.unwrap_or_else(|| workspace_root().join("svid/tests/data/vectors"));
    if check {
        check_vectors(&out)
    } else {
        write_vectors(&out)?;
        Ok(ExitCode::SUCCESS)
    }
}

/// The workspace root: the parent of this crate's folder.
fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
}

/// Generates into a staging folder next to `out`, then swaps it in, so `out` never holds a mix
/// of old and new files.
fn write_vectors(out: &Path) -> Result<()> {
    let parent = out
        .parent()
        .ok_or_else(|| format!("{} has no parent folder", out.display()))?;
    std::fs::create_dir_all(parent)?;
    if out.exists() && !out.join("manifest.json").exists() && !is_empty_dir(out)? {
        return Err(format!(
            "{} exists and holds no manifest.json: refusing to replace it",
            out.display()
        )
        .into());
    }
    let staging = tempfile::Builder::new()
        .prefix(".vectors-staging-")
        .tempdir_in(parent)?;
    let manifest = generate(staging.path())?;
    if out.exists() {
        std::fs::remove_dir_all(out)?;
    }
    std::fs::rename(staging.keep(), out)?;
    println!(
        "wrote {} vectors ({} x509, {} jwt) to {}",
        manifest.count,
        manifest.count_of(manifest::Kind::X509),
        manifest.count_of(manifest::Kind::Jwt),
        out.display()
    );
    Ok(())
}

fn check_vectors(out: &Path) -> Result<ExitCode> {
    let fresh = tempfile::tempdir()?;
    let manifest = generate(fresh.path())?;
    let differences = check::compare(out, fresh.path())?;
    if differences.is_empty() {
        println!(
            "{}: {} vectors, every deterministic field matches a fresh generation",
            out.display(),
            manifest.count
        );
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!(
        "{}: {} difference(s) from a fresh generation (run `cargo xtask gen-vectors`):",
        out.display(),
        differences.len()
    );
    for difference in &differences {
        eprintln!("  {difference}");
    }
    Ok(ExitCode::FAILURE)
}

/// Writes every vector, the manifest and the README into the empty folder `dir`.
fn generate(dir: &Path) -> Result<manifest::Manifest> {
    let keys = mint::Keys::load(&workspace_root())?;
    let mut entries = Vec::new();
    for vector in x509::vectors()? {
        entries.push(vector.write(dir)?);
    }
    for vector in jwt::vectors(&keys)? {
        entries.push(vector.write(dir)?);
    }
    let manifest = manifest::Manifest::new(entries)?;
    std::fs::write(dir.join("manifest.json"), manifest.to_json()?)?;
    std::fs::write(dir.join("README.md"), manifest.readme())?;
    Ok(manifest)
}

fn is_empty_dir(path: &Path) -> Result<bool> {
    Ok(std::fs::read_dir(path)?.next().is_none())
}
