//! SoftHSM2 for the PKCS#11 tests and benches: a token directory in a temporary folder, its
//! `softhsm2.conf`, and tokens initialised with `softhsm2-util`.
//!
//! SoftHSM reads `SOFTHSM2_CONF` when the module is initialised, and an environment variable
//! is process-wide (and `set_var` is `unsafe` in edition 2024, which the workspace forbids). So
//! a test runs its body in a child process of the test binary itself
//! ([`SoftHsm::run_child`]): each test gets its own configuration and tokens, tests stay
//! parallel under `cargo test` and nextest alike, and a "restart" is a real new process.
//!
//! Under `CI=true` a missing SoftHSM panics (the test fails); elsewhere
//! [`SoftHsm::start_or_skip`] prints why and returns `None`. `interop/softhsm/setup.sh`
//! installs the Debian package.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};

use tempfile::TempDir;

/// The environment variable SoftHSM reads its configuration path from.
pub const CONF_ENV: &str = "SOFTHSM2_CONF";
/// Set in a child started by [`SoftHsm::run_child`]: the phase it runs.
pub const PHASE_ENV: &str = "SPIFFEKIT_SOFTHSM_PHASE";
/// Set in a child: the module path.
pub const MODULE_ENV: &str = "SPIFFEKIT_SOFTHSM_MODULE";
/// Set in a child: a scratch directory shared by the phases of one test.
pub const WORK_ENV: &str = "SPIFFEKIT_SOFTHSM_WORK";
/// Set in a child: the token directory.
pub const TOKENS_ENV: &str = "SPIFFEKIT_SOFTHSM_TOKENS";

/// Where distributions put the module (Debian's `libsofthsm2` ships the first two).
const MODULE_PATHS: &[&str] = &[
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib64/pkcs11/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
];

/// The SoftHSM2 module of this machine: a known path, or what `dpkg -L libsofthsm2` lists.
pub fn module_path() -> Option<PathBuf> {
    if let Some(found) = MODULE_PATHS.iter().map(Path::new).find(|p| p.is_file()) {
        return Some(found.to_owned());
    }
    ["libsofthsm2", "softhsm2"].iter().find_map(|package| {
        let out = Command::new("dpkg").args(["-L", package]).output().ok()?;
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(Path::new)
            .find(|p| p.ends_with("libsofthsm2.so") && p.is_file())
            .map(Path::to_owned)
    })
}

/// The phase this process runs when it is a child of [`SoftHsm::run_child`].
pub fn child_phase() -> Option<String> {
    std::env::var(PHASE_ENV).ok()
}

/// What a child gets from its parent.
#[derive(Debug)]
pub struct ChildEnv {
    /// The phase to run.
    pub phase: String,
    /// The SoftHSM module.
    pub module: PathBuf,
    /// The scratch directory of this test (kept across phases).
    pub work: PathBuf,
    /// The token directory (tokens are its subdirectories).
    pub tokens: PathBuf,
}

impl ChildEnv {
    /// The child's environment, if this process is a child.
    pub fn current() -> Option<Self> {
        let var = |name| std::env::var_os(name).map(PathBuf::from);
        Some(Self {
            phase: child_phase()?,
            module: var(MODULE_ENV)?,
            work: var(WORK_ENV)?,
            tokens: var(TOKENS_ENV)?,
        })
    }
}

/// A private SoftHSM2 installation: a temporary token directory and its configuration. The
/// directory is removed on drop.
#[derive(Debug)]
pub struct SoftHsm {
    dir: TempDir,
    module: PathBuf,
}

impl SoftHsm {
    /// A fresh token directory, or `None` with a printed reason when SoftHSM2 is not
    /// installed (run `interop/softhsm/setup.sh`).
    ///
    /// # Panics
    /// Under `CI=true` when SoftHSM2 is missing; when the directory cannot be written.
    pub fn start_or_skip(test: &str) -> Option<Self> {
        match Self::start() {
            Ok(hsm) => Some(hsm),
            Err(reason) => {
                assert!(
                    std::env::var("CI").as_deref() != Ok("true"),
                    "{test}: SoftHSM2 is required under CI ({reason}); run interop/softhsm/setup.sh"
                );
                println!("skipping {test}: {reason} (install with interop/softhsm/setup.sh)");
                None
            }
        }
    }

    /// A fresh token directory, or why SoftHSM2 cannot be used here (benches skip on it).
    ///
    /// # Errors
    /// The reason, when `softhsm2-util` or the module is missing.
    ///
    /// # Panics
    /// When the temporary directory cannot be written.
    pub fn start() -> Result<Self, String> {
        let util = Command::new("softhsm2-util").arg("--version").output();
        let module = match (&util, module_path()) {
            (Ok(out), Some(module)) if out.status.success() => module,
            (Err(e), _) => return Err(format!("softhsm2-util not runnable: {e}")),
            (Ok(_), Some(_)) => return Err("softhsm2-util --version failed".to_owned()),
            (Ok(_), None) => return Err("libsofthsm2.so not found".to_owned()),
        };
        let dir = tempfile::tempdir().expect("temporary directory");
        std::fs::create_dir(dir.path().join("tokens")).unwrap();
        std::fs::create_dir(dir.path().join("work")).unwrap();
        let conf = format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
            dir.path().join("tokens").display()
        );
        std::fs::write(dir.path().join("softhsm2.conf"), conf).unwrap();
        Ok(Self { dir, module })
    }

    /// The module path.
    pub fn module(&self) -> &Path {
        &self.module
    }

    /// The configuration file.
    pub fn conf(&self) -> PathBuf {
        self.dir.path().join("softhsm2.conf")
    }

    /// The token directory.
    pub fn tokens(&self) -> PathBuf {
        self.dir.path().join("tokens")
    }

    /// The scratch directory shared by the phases of a test.
    pub fn work(&self) -> PathBuf {
        self.dir.path().join("work")
    }

    /// `program` with `SOFTHSM2_CONF` pointing at this installation.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut command = Command::new(program);
        command.env(CONF_ENV, self.conf());
        command
    }

    /// Initialises a token labelled `label` in the first free slot.
    ///
    /// # Panics
    /// When `softhsm2-util` fails.
    pub fn init_token(&self, label: &str, so_pin: &str, user_pin: &str) {
        let out = self
            .command("softhsm2-util")
            .args([
                "--init-token",
                "--free",
                "--label",
                label,
                "--so-pin",
                so_pin,
                "--pin",
                user_pin,
            ])
            .output()
            .expect("softhsm2-util runs");
        assert!(
            out.status.success(),
            "softhsm2-util --init-token failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Runs the test `test` of the current test binary in a child process, as `phase`, with
    /// `SOFTHSM2_CONF` and the [`ChildEnv`] variables set, and returns how it ended.
    ///
    /// # Panics
    /// When the test binary cannot be started.
    pub fn run_child(&self, test: &str, phase: &str) -> ExitStatus {
        let exe = std::env::current_exe().expect("the test binary's path");
        self.command(exe)
            .args([test, "--exact", "--nocapture", "--test-threads=1"])
            .env(PHASE_ENV, phase)
            .env(MODULE_ENV, &self.module)
            .env(WORK_ENV, self.work())
            .env(TOKENS_ENV, self.tokens())
            .status()
            .expect("the test binary starts")
    }
}
