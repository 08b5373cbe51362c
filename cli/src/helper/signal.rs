//! Signals by name (`renew_signal`), sent to a pid without unsafe code.

use std::time::Duration;

/// A signal the helper can send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Signal {
    name: &'static str,
    signal: rustix::process::Signal,
}

/// The names accepted, as `kill -l` spells them (without `SIG`).
const SIGNALS: &[(&str, rustix::process::Signal)] = {
    use rustix::process::Signal as S;
    &[
        ("HUP", S::HUP),
        ("INT", S::INT),
        ("QUIT", S::QUIT),
        ("USR1", S::USR1),
        ("USR2", S::USR2),
        ("TERM", S::TERM),
        ("ALRM", S::ALARM),
        ("WINCH", S::WINCH),
        ("CONT", S::CONT),
        ("KILL", S::KILL),
    ]
};

impl Signal {
    /// `SIGHUP`, `HUP` or `hup`.
    pub(crate) fn parse(name: &str) -> Option<Self> {
        let upper = name.trim().to_ascii_uppercase();
        let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
        SIGNALS
            .iter()
            .find(|(n, _)| *n == bare)
            .map(|(name, signal)| Self {
                name,
                signal: *signal,
            })
    }

    /// SIGTERM, for shutdown forwarding.
    pub(crate) fn term() -> Self {
        Self {
            name: "TERM",
            signal: rustix::process::Signal::TERM,
        }
    }

    /// Sends the signal to `pid`.
    pub(crate) fn send(self, pid: u32) -> std::io::Result<()> {
        let pid = i32::try_from(pid)
            .ok()
            .and_then(rustix::process::Pid::from_raw)
            .ok_or_else(|| std::io::Error::other(format!("{pid} is not a process id")))?;
        rustix::process::kill_process(pid, self.signal).map_err(std::io::Error::from)
    }
}

impl std::fmt::Display for Signal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SIG{}", self.name)
    }
}

/// Reads the pid in `pid_file` (re-read every time: the process may have restarted) and sends
/// `signal`, retrying a few times (100 ms doubling, about 3 s in all) because a process that
/// is restarting may not have written its new pid yet.
pub(crate) async fn signal_pid_file(
    pid_file: &std::path::Path,
    signal: Signal,
) -> Result<u32, String> {
    let mut delay = Duration::from_millis(100);
    let mut last = String::new();
    for _ in 0..5 {
        match read_pid(pid_file).and_then(|pid| signal.send(pid).map(|()| pid)) {
            Ok(pid) => return Ok(pid),
            Err(error) => last = error.to_string(),
        }
        tokio::time::sleep(delay).await;
        delay = delay.saturating_mul(2);
    }
    Err(format!(
        "cannot send {signal} to the pid in {}: {last}",
        pid_file.display()
    ))
}

fn read_pid(pid_file: &std::path::Path) -> std::io::Result<u32> {
    let text = std::fs::read_to_string(pid_file)?;
    text.trim()
        .parse()
        .map_err(|_| std::io::Error::other(format!("{:?} is not a pid", text.trim())))
}
