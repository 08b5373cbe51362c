//! Caps on what one caller can make the agent hold: streams per connection, connections per
//! uid and in total.
//!
//! - **Streams per connection.** Each open streaming RPC (`FetchX509SVID`,
//!   `FetchX509Bundles`, `FetchJWTBundles`) takes a permit from its connection; past
//!   [`Limits::streams_per_connection`] the call gets `ResourceExhausted` before anything is
//!   attested or subscribed. HTTP/2 `SETTINGS_MAX_CONCURRENT_STREAMS` is set
//!   [`UNARY_HEADROOM`] above it, so unary calls still pass on a connection whose streams are
//!   at the cap, and a client that ignores the setting gets `RST_STREAM(REFUSED_STREAM)` from
//!   h2 as a backstop.
//! - **Connections.** Each accepted connection is counted against its peer uid (Unix sockets;
//!   TCP callers have none) and the total. A connection over a cap is still accepted, and
//!   every call on it is answered with `ResourceExhausted` naming the cap; it is closed
//!   [`REJECTED_GRACE`] later. At most [`MAX_REJECTING`] such connections are held at once;
//!   past that they are closed at once, without an answer. Connections within the caps are
//!   never affected.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tonic::Status;

/// Default for [`AgentBuilder::max_streams_per_connection`](crate::AgentBuilder::max_streams_per_connection).
/// A Workload API client needs one to three streams; 100 leaves room for many sources
/// sharing one connection, and is the order of common HTTP/2 servers' limits (nginx 128,
/// hyper 200), at about 13 KB of agent memory per stream.
pub const DEFAULT_MAX_STREAMS_PER_CONNECTION: u32 = 100;
/// Default for [`AgentBuilder::max_connections_per_uid`](crate::AgentBuilder::max_connections_per_uid):
/// 128 processes of one user each holding a connection.
pub const DEFAULT_MAX_CONNECTIONS_PER_UID: usize = 128;
/// Default for [`AgentBuilder::max_connections`](crate::AgentBuilder::max_connections): a
/// bound on the agent's memory and file descriptors (one per connection) when several users
/// each stay under their own cap; raise it together with the process's open-file limit.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

/// How far HTTP/2 `SETTINGS_MAX_CONCURRENT_STREAMS` is above the streaming cap: room for
/// unary calls (`FetchJWTSVID`, `ValidateJWTSVID`) on a connection whose streams are at the
/// cap.
pub(crate) const UNARY_HEADROOM: u32 = 32;
/// How long a connection accepted over a cap is served (every call `ResourceExhausted`)
/// before it is closed: time for a local client to send its call and read the answer.
pub(crate) const REJECTED_GRACE: Duration = Duration::from_secs(2);
/// The most connections over a cap held at a time (each for at most [`REJECTED_GRACE`]);
/// further ones are closed at once.
pub(crate) const MAX_REJECTING: usize = 32;

/// The configured caps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Limits {
    pub(crate) streams_per_connection: u32,
    pub(crate) connections_per_uid: usize,
    pub(crate) connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            streams_per_connection: DEFAULT_MAX_STREAMS_PER_CONNECTION,
            connections_per_uid: DEFAULT_MAX_CONNECTIONS_PER_UID,
            connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

impl Limits {
    /// The HTTP/2 `SETTINGS_MAX_CONCURRENT_STREAMS` backstop.
    pub(crate) fn h2_max_concurrent_streams(&self) -> u32 {
        self.streams_per_connection.saturating_add(UNARY_HEADROOM)
    }
}

/// Which cap a connection is over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OverLimit {
    /// Its uid has `max` connections open.
    PerUid { uid: u32, max: usize },
    /// The agent has `max` connections open.
    Total { max: usize },
}

impl OverLimit {
    /// The status every call on such a connection gets.
    pub(crate) fn status(self) -> Status {
        Status::resource_exhausted(match self {
            Self::PerUid { uid, max } => format!(
                "uid {uid} already has {max} connections open to the agent, the most it allows \
                 (max_connections_per_uid); this connection will be closed"
            ),
            Self::Total { max } => format!(
                "the agent already has {max} connections open, the most it allows \
                 (max_connections); this connection will be closed"
            ),
        })
    }
}

/// Counts open connections per uid and in total, shared by every listener of one agent.
#[derive(Debug)]
pub(crate) struct ConnectionCounter {
    limits: Limits,
    counts: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    admitted: usize,
    per_uid: HashMap<u32, usize>,
    rejecting: usize,
}

/// What happens to a new connection.
#[derive(Debug)]
pub(crate) enum Admission {
    /// Within the caps; the slot is released when dropped.
    Admitted(Slot),
    /// Over a cap: answer its calls with `ResourceExhausted`, then close it.
    Rejecting(Slot, OverLimit),
    /// Over a cap with [`MAX_REJECTING`] rejected connections already held: close it now.
    Refused(OverLimit),
}

/// A counted connection; dropping it (when the connection closes) releases the count.
#[derive(Debug)]
pub(crate) struct Slot {
    counter: Arc<ConnectionCounter>,
    /// `Some(uid)` for an admitted Unix connection, `None` for an admitted TCP one.
    uid: Option<u32>,
    rejecting: bool,
}

impl ConnectionCounter {
    pub(crate) fn new(limits: Limits) -> Arc<Self> {
        Arc::new(Self {
            limits,
            counts: Mutex::default(),
        })
    }

    pub(crate) fn limits(&self) -> Limits {
        self.limits
    }

    /// Admits a connection from `uid` (`None` for TCP) if it is within the caps.
    pub(crate) fn admit(self: &Arc<Self>, uid: Option<u32>) -> Admission {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let over = if counts.admitted >= self.limits.connections {
            Some(OverLimit::Total {
                max: self.limits.connections,
            })
        } else {
            uid.and_then(|uid| {
                let open = counts.per_uid.get(&uid).copied().unwrap_or(0);
                (open >= self.limits.connections_per_uid).then_some(OverLimit::PerUid {
                    uid,
                    max: self.limits.connections_per_uid,
                })
            })
        };
        let slot = |rejecting| Slot {
            counter: Arc::clone(self),
            uid,
            rejecting,
        };
        match over {
            None => {
                counts.admitted += 1;
                if let Some(uid) = uid {
                    *counts.per_uid.entry(uid).or_insert(0) += 1;
                }
                Admission::Admitted(slot(false))
            }
            Some(over) if counts.rejecting < MAX_REJECTING => {
                counts.rejecting += 1;
                Admission::Rejecting(slot(true), over)
            }
            Some(over) => Admission::Refused(over),
        }
    }

    /// Connections within the caps that are open now.
    pub(crate) fn admitted(&self) -> usize {
        self.counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .admitted
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self
            .counter
            .counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if self.rejecting {
            counts.rejecting = counts.rejecting.saturating_sub(1);
            return;
        }
        counts.admitted = counts.admitted.saturating_sub(1);
        if let Some(uid) = self.uid {
            if let Some(open) = counts.per_uid.get_mut(&uid) {
                *open = open.saturating_sub(1);
                if *open == 0 {
                    counts.per_uid.remove(&uid);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_uid: usize, total: usize) -> Limits {
        Limits {
            streams_per_connection: 1,
            connections_per_uid: per_uid,
            connections: total,
        }
    }

    #[test]
    fn counts_per_uid_and_in_total_and_releases_on_drop() {
        let counter = ConnectionCounter::new(limits(2, 3));
        let a1 = counter.admit(Some(1));
        let a2 = counter.admit(Some(1));
        assert!(matches!(a1, Admission::Admitted(_)));
        assert!(matches!(a2, Admission::Admitted(_)));
        // uid 1 is at its cap; uid 2 and TCP are not.
        assert!(matches!(
            counter.admit(Some(1)),
            Admission::Rejecting(_, OverLimit::PerUid { uid: 1, max: 2 })
        ));
        let b = counter.admit(Some(2));
        assert!(matches!(b, Admission::Admitted(_)));
        assert_eq!(counter.admitted(), 3);
        // The total is reached: TCP too is over.
        assert!(matches!(
            counter.admit(None),
            Admission::Rejecting(_, OverLimit::Total { max: 3 })
        ));
        drop(a1);
        assert_eq!(counter.admitted(), 2);
        assert!(matches!(counter.admit(Some(1)), Admission::Admitted(_)));
        drop(b);
        let counts = counter.counts.lock().unwrap();
        assert_eq!(counts.per_uid.get(&2), None);
        assert_eq!(counts.rejecting, 0);
    }

    /// However many connections a client opens past a cap, the agent holds at most the cap
    /// plus [`MAX_REJECTING`] of them.
    #[test]
    fn rejected_connections_are_bounded() {
        let counter = ConnectionCounter::new(limits(1, 10));
        let _admitted = counter.admit(Some(7));
        let mut held = Vec::new();
        let mut refused = 0;
        for _ in 0..10 * MAX_REJECTING {
            match counter.admit(Some(7)) {
                Admission::Rejecting(slot, _) => held.push(slot),
                Admission::Refused(OverLimit::PerUid { uid: 7, .. }) => refused += 1,
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(held.len(), MAX_REJECTING);
        assert_eq!(refused, 9 * MAX_REJECTING);
        assert_eq!(counter.admitted(), 1);
        held.clear();
        assert!(matches!(counter.admit(Some(7)), Admission::Rejecting(_, _)));
    }
}
