//! Running a real peer (PostgreSQL, nginx, ...) as an unprivileged process: `nobody` through
//! `setpriv` when the tests run as root, the test's own user otherwise; loopback ports; a stop
//! that signals first and kills only after a grace period.

use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// The uid and gid of `nobody` on Debian, which runs peers when the tests run as root.
pub const NOBODY: u32 = 65_534;

/// Whether this process runs as root (then peers run as [`NOBODY`]).
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.starts_with(b"0\n"))
}

/// The uid peers run as when it differs from ours: `Some(NOBODY)` under root, else `None`.
pub fn peer_uid() -> Option<u32> {
    is_root().then_some(NOBODY)
}

/// `program`, run as `nobody` through `setpriv` when `as_nobody`.
pub fn run_as(as_nobody: bool, program: &Path) -> Command {
    if as_nobody {
        let mut command = Command::new("setpriv");
        command
            .args([
                "--reuid",
                &NOBODY.to_string(),
                "--regid",
                &NOBODY.to_string(),
                "--clear-groups",
                "--",
            ])
            .arg(program);
        command
    } else {
        Command::new(program)
    }
}

/// `program`, run as the peers' user: [`run_as`] with [`is_root`].
pub fn unprivileged(program: &Path) -> Command {
    run_as(is_root(), program)
}

/// Gives `path` (and, for a directory, everything under it) to the peers' user, so a peer
/// started through [`unprivileged`] can read and write it; nothing to do when not root.
///
/// # Errors
/// When a `chown` fails.
pub fn hand_over(path: &Path) -> Result<(), String> {
    if !is_root() {
        return Ok(());
    }
    std::os::unix::fs::chown(path, Some(NOBODY), Some(NOBODY))
        .map_err(|e| format!("chown {}: {e}", path.display()))?;
    if path.is_dir() && !path.is_symlink() {
        let entries =
            std::fs::read_dir(path).map_err(|e| format!("read {}: {e}", path.display()))?;
        for entry in entries {
            let entry = entry.map_err(|e| format!("read {}: {e}", path.display()))?;
            let child = entry.path();
            if child.is_symlink() {
                std::os::unix::fs::lchown(&child, Some(NOBODY), Some(NOBODY))
                    .map_err(|e| format!("lchown {}: {e}", child.display()))?;
            } else {
                hand_over(&child)?;
            }
        }
    }
    Ok(())
}

/// A loopback port nothing listens on now.
///
/// # Errors
/// When no port can be bound.
pub fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|e| format!("no free port: {e}"))
}

/// Sends `signal` (a `kill` name such as `HUP`) to process `pid`.
///
/// # Errors
/// When `kill` cannot run or fails.
pub fn signal(pid: u32, signal: &str) -> Result<(), String> {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .map_err(|e| format!("kill: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("kill -{signal} {pid}: {status}"))
    }
}

/// Sends `stop_signal`, waits up to `grace` for the child to exit, then kills it.
pub fn stop_child(child: &mut Child, stop_signal: &str, grace: Duration) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    let _ = signal(child.id(), stop_signal);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Panics under `CI=true` (a missing peer fails the test there), else prints why `test` skips.
///
/// # Panics
/// Under `CI=true`.
pub fn skip_or_fail(test: &str, peer: &str, reason: &str, setup: &str) {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{test}: {peer} is required under CI ({reason}); run {setup}"
    );
    println!("skipping {test}: {reason} (install with {setup})");
}
