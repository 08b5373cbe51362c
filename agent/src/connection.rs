//! What the agent keeps per accepted connection: the process that opened it (so that every
//! call is attested against that process and no other), its streaming-RPC budget, and
//! whether it was accepted over a connection cap.
//!
//! # Binding a connection to its process
//!
//! The pid in `SO_PEERCRED` is recorded at `connect()`; by the time a call arrives that
//! process may have exited and its pid been given to an unrelated process, whose `/proc`
//! entries would then lend it their binary and groups. So at accept the agent takes:
//!
//! - a pidfd of the peer (`SO_PEERPIDFD`, Linux 6.5+): it refers to that process for ever,
//!   and polls readable once the process has exited; or, on older kernels,
//! - the process start time (`/proc/<pid>/stat` field 22), which a later process with the
//!   same pid does not share.
//!
//! Each call checks the binding before and after the attestors run: a caller whose process
//! has exited (zombies included) or whose pid now names another process gets
//! `PermissionDenied`. The check after attestation is the one that matters: a process that
//! is still alive then still held its pid during every `/proc/<pid>` read in between. This
//! is what SPIRE's peertracker does (a `/proc/<pid>` handle plus the start time).
//!
//! What this cannot see: `exec` keeps the pid, the pidfd and the start time, so a process
//! that connects and then executes another binary is the same process to the kernel, and the
//! binary selectors (read at call time) describe the new binary. The window between
//! `connect()` and `accept()` is covered by `SO_PEERPIDFD` (the kernel took the reference at
//! `connect()`), not by the start-time fallback, which reads the start time at accept.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::Status;

use crate::limits::OverLimit;

/// Per-connection facts the server attaches to every call's [`Caller`](crate::Caller).
#[derive(Debug)]
pub(crate) struct ConnectionInfo {
    /// The process that connected (Unix sockets only).
    process: Option<ProcessBinding>,
    /// Permits for the streaming RPCs open on this connection.
    streams: Arc<Semaphore>,
    max_streams: u32,
    /// Set when the connection was accepted over a connection cap: every call on it is
    /// answered with `ResourceExhausted`.
    over_limit: Option<OverLimit>,
}

impl ConnectionInfo {
    pub(crate) fn new(
        process: Option<ProcessBinding>,
        max_streams: u32,
        over_limit: Option<OverLimit>,
    ) -> Self {
        Self {
            process,
            streams: Arc::new(Semaphore::new(usize::try_from(max_streams).unwrap_or(0))),
            max_streams,
            over_limit,
        }
    }

    pub(crate) fn over_limit(&self) -> Option<OverLimit> {
        self.over_limit
    }

    /// A permit for one more streaming RPC, or `ResourceExhausted` when the connection has
    /// its maximum open.
    pub(crate) fn stream_permit(&self) -> Result<OwnedSemaphorePermit, Status> {
        Arc::clone(&self.streams).try_acquire_owned().map_err(|_| {
            Status::resource_exhausted(format!(
                "this connection already has {} streams open, the most the agent allows \
                 (max_streams_per_connection); close one or open another connection",
                self.max_streams
            ))
        })
    }

    /// `PermissionDenied` when the process that connected has exited or its pid now names
    /// another process.
    pub(crate) fn check_process(&self) -> Result<(), Status> {
        match &self.process {
            None => Ok(()),
            Some(binding) => binding.check().map_err(|gone| {
                tracing::info!(?binding, %gone, "caller's process is gone; call refused");
                Status::permission_denied(format!(
                    "{gone}; reconnect from the process that makes the calls"
                ))
            }),
        }
    }
}

/// The process at the other end of a Unix connection, recorded at accept.
#[derive(Debug)]
pub(crate) enum ProcessBinding {
    /// A pidfd of the peer (`SO_PEERPIDFD`).
    Pidfd(OwnedFd),
    /// The peer's pid and its start time (clock ticks after boot) when it was accepted.
    StartTime {
        /// The pid from `SO_PEERCRED`.
        pid: i32,
        /// Field 22 of `/proc/<pid>/stat`.
        start_time: u64,
    },
    /// The process was already gone at accept.
    Gone,
}

/// Why a binding no longer holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ProcessGone {
    /// The process has exited (or is a zombie).
    #[error("the process that opened this connection has exited")]
    Exited,
    /// The pid now belongs to a process that started at another time.
    #[error("the pid of the process that opened this connection now names another process")]
    Replaced,
}

impl ProcessBinding {
    /// The binding for the peer of `socket`, whose `SO_PEERCRED` pid is `pid`: a pidfd where
    /// the kernel gives one, else the start time of `pid`; `None` without a pid.
    pub(crate) fn of_peer(socket: &impl AsFd, pid: Option<i32>) -> Option<Self> {
        #[cfg(target_os = "linux")]
        match nix::sys::socket::getsockopt(socket, nix::sys::socket::sockopt::PeerPidfd) {
            Ok(pidfd) => return Some(Self::Pidfd(pidfd)),
            // The kernel knows the option but the peer has already exited.
            Err(nix::errno::Errno::ESRCH) => return Some(Self::Gone),
            // Before Linux 6.5 (ENOPROTOOPT) or refused otherwise: the start time instead.
            Err(error) => tracing::debug!(%error, "no SO_PEERPIDFD; binding by start time"),
        }
        #[cfg(not(target_os = "linux"))]
        let _ = socket;
        pid.map(Self::start_time)
    }

    /// The start-time binding of `pid` as it is now (the fallback of [`of_peer`](Self::of_peer)).
    pub(crate) fn start_time(pid: i32) -> Self {
        match read_stat(pid) {
            Some(Stat {
                start_time,
                exited: false,
            }) => Self::StartTime { pid, start_time },
            _ => Self::Gone,
        }
    }

    /// Whether the bound process still runs.
    pub(crate) fn check(&self) -> Result<(), ProcessGone> {
        match self {
            Self::Pidfd(pidfd) => pidfd_alive(pidfd),
            Self::StartTime { pid, start_time } => match read_stat(*pid) {
                Some(stat) if stat.exited => Err(ProcessGone::Exited),
                Some(stat) if stat.start_time != *start_time => Err(ProcessGone::Replaced),
                Some(_) => Ok(()),
                None => Err(ProcessGone::Exited),
            },
            Self::Gone => Err(ProcessGone::Exited),
        }
    }
}

/// A pidfd polls readable once its process has exited (Linux 5.3+; zombies count as exited).
/// Anything but a clear "not readable" is treated as exited: the check fails closed.
fn pidfd_alive(pidfd: &OwnedFd) -> Result<(), ProcessGone> {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
    for _ in 0..3 {
        match poll(&mut fds, PollTimeout::ZERO) {
            Ok(0) => return Ok(()),
            Ok(_) => return Err(ProcessGone::Exited),
            Err(nix::errno::Errno::EINTR) => {}
            Err(_) => return Err(ProcessGone::Exited),
        }
    }
    Err(ProcessGone::Exited)
}

/// What the start-time binding reads from `/proc/<pid>/stat`.
struct Stat {
    start_time: u64,
    /// State `Z` (zombie) or `X` (dead).
    exited: bool,
}

/// Reads `/proc/<pid>/stat` (a procfs read of a few hundred bytes: no need to leave the
/// async thread); `None` when the process does not exist or the line does not parse.
fn read_stat(pid: i32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

/// Field 3 (state) and field 22 (start time) of a `stat` line. The command name (field 2) is
/// in parentheses and may itself hold spaces and parentheses, so fields are counted from the
/// last `)`.
fn parse_stat(text: &str) -> Option<Stat> {
    let (_, after_name) = text.rsplit_once(')')?;
    let mut fields = after_name.split_whitespace();
    let state = fields.next()?;
    // Fields 4..=21 come before the start time.
    let start_time = fields.nth(18)?.parse().ok()?;
    Some(Stat {
        start_time,
        exited: matches!(state, "Z" | "X"),
    })
}

#[cfg(test)]
mod tests {
    use std::process::{Child, Command};

    use super::*;

    fn sleeper() -> (Child, i32) {
        let child = Command::new("sleep").arg("30").spawn().unwrap();
        let pid = i32::try_from(child.id()).unwrap();
        (child, pid)
    }

    #[test]
    fn parses_state_and_start_time_after_the_last_parenthesis() {
        let line = "42 (a) b (c)) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 \
                    1000 100 18446744073709551615\n";
        let stat = parse_stat(line).unwrap();
        assert_eq!(stat.start_time, 987_654);
        assert!(!stat.exited);
        let zombie = line.replacen(") S ", ") Z ", 1);
        assert!(parse_stat(&zombie).unwrap().exited);
        assert!(parse_stat("42 (short) S 1 2").is_none());
        let own = read_stat(i32::try_from(std::process::id()).unwrap()).unwrap();
        assert!(own.start_time > 0 && !own.exited);
    }

    /// The start-time fallback (forced: no pidfd): alive, then a zombie, then reaped.
    #[test]
    fn start_time_binding_sees_the_process_exit() {
        let (mut child, pid) = sleeper();
        let binding = ProcessBinding::start_time(pid);
        assert!(matches!(binding, ProcessBinding::StartTime { .. }));
        assert_eq!(binding.check(), Ok(()));
        child.kill().unwrap();
        // Killed but not yet reaped: a zombie, whose pid cannot be reused yet, is still gone.
        let mut zombie = false;
        for _ in 0..500 {
            if read_stat(pid).is_some_and(|s| s.exited) {
                zombie = true;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(zombie);
        assert_eq!(binding.check(), Err(ProcessGone::Exited));
        child.wait().unwrap();
        assert_eq!(binding.check(), Err(ProcessGone::Exited));
        assert!(matches!(
            ProcessBinding::start_time(pid),
            ProcessBinding::Gone
        ));
    }

    /// A pid reused by another process is told apart by its start time (simulated: the
    /// binding holds another start time for the same live pid).
    #[test]
    fn start_time_binding_refuses_a_reused_pid() {
        let (mut child, pid) = sleeper();
        let ProcessBinding::StartTime { start_time, .. } = ProcessBinding::start_time(pid) else {
            panic!("no start time for a live child");
        };
        let earlier = ProcessBinding::StartTime {
            pid,
            start_time: start_time - 1,
        };
        assert_eq!(earlier.check(), Err(ProcessGone::Replaced));
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// The pidfd binding: alive, then exited (zombie), then reaped.
    #[test]
    fn pidfd_binding_sees_the_process_exit() {
        let (mut child, pid) = sleeper();
        let pidfd = rustix::process::pidfd_open(
            rustix::process::Pid::from_raw(pid).unwrap(),
            rustix::process::PidfdFlags::empty(),
        )
        .unwrap();
        let binding = ProcessBinding::Pidfd(pidfd);
        assert_eq!(binding.check(), Ok(()));
        child.kill().unwrap();
        let mut exited = false;
        for _ in 0..500 {
            if binding.check().is_err() {
                exited = true;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(exited);
        child.wait().unwrap();
        assert_eq!(binding.check(), Err(ProcessGone::Exited));
    }

    #[test]
    fn a_socket_peer_is_bound_by_pidfd_on_this_kernel_and_refused_once_gone() {
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        let binding =
            ProcessBinding::of_peer(&a, Some(i32::try_from(std::process::id()).unwrap())).unwrap();
        // SO_PEERPIDFD exists since Linux 6.5; older kernels use the start time.
        assert!(
            matches!(
                binding,
                ProcessBinding::Pidfd(_) | ProcessBinding::StartTime { .. }
            ),
            "{binding:?}"
        );
        assert_eq!(binding.check(), Ok(()));
        assert_eq!(ProcessBinding::Gone.check(), Err(ProcessGone::Exited));
    }
}
