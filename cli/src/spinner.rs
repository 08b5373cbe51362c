//! A spinner on stderr while the CLI waits for the agent, only when stderr is a terminal (so
//! scripts, logs and `--json` never see it). Hand-written: a line redrawn every 100 ms and
//! cleared when dropped.

use std::io::{IsTerminal as _, Write as _};
use std::time::Duration;

/// Drawing until dropped.
pub(crate) struct Spinner {
    task: tokio::task::JoinHandle<()>,
}

const FRAMES: [char; 4] = ['|', '/', '-', '\\'];

impl Spinner {
    /// Starts drawing `message` when stderr is a terminal; `None` otherwise.
    pub(crate) fn start(message: &str) -> Option<Self> {
        if !std::io::stderr().is_terminal() {
            return None;
        }
        let message = message.to_owned();
        let task = tokio::spawn(async move {
            for frame in FRAMES.iter().cycle() {
                let _ = write!(std::io::stderr(), "\r{frame} {message}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        Some(Self { task })
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        self.task.abort();
        // Erase the line: the next output starts clean.
        let _ = write!(std::io::stderr(), "\r\x1b[2K");
    }
}
