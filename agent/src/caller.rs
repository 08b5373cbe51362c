//! Who is on the other end of a connection: the [`Caller`] every attestor reads, with the
//! per-connection facts the server attaches to it.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::connection::ConnectionInfo;
use crate::limits::OverLimit;

/// What the server knows about the other end of a connection. Attestors turn it into
/// selectors.
///
/// Two callers are equal when their credentials are, and, for callers of accepted
/// connections, when they come from the same connection.
#[derive(Clone, Debug, Default)]
pub struct Caller {
    uid: Option<u32>,
    gid: Option<u32>,
    pid: Option<i32>,
    remote_addr: Option<SocketAddr>,
    /// Set by the server for accepted connections: the process binding and the limits.
    connection: Option<Arc<ConnectionInfo>>,
}

impl PartialEq for Caller {
    fn eq(&self, other: &Self) -> bool {
        let same_connection = match (&self.connection, &other.connection) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        };
        (self.uid, self.gid, self.pid, self.remote_addr)
            == (other.uid, other.gid, other.pid, other.remote_addr)
            && same_connection
    }
}

impl Eq for Caller {}

impl Caller {
    /// A caller on a Unix socket, from its peer credentials.
    pub fn unix(uid: u32, gid: u32, pid: Option<i32>) -> Self {
        Self {
            uid: Some(uid),
            gid: Some(gid),
            pid,
            remote_addr: None,
            connection: None,
        }
    }

    /// A caller on a TCP connection from `remote_addr`.
    pub fn tcp(remote_addr: SocketAddr) -> Self {
        Self {
            remote_addr: Some(remote_addr),
            ..Self::default()
        }
    }

    /// The caller's user id (Unix sockets only).
    pub fn uid(&self) -> Option<u32> {
        self.uid
    }

    /// The caller's group id (Unix sockets only).
    pub fn gid(&self) -> Option<u32> {
        self.gid
    }

    /// The pid recorded when the caller connected (Unix sockets only; see the
    /// [`UnixAttestor`](crate::UnixAttestor) docs for why it is weaker than uid and gid). For connections the
    /// agent accepted, every call checks that this pid still names the process that
    /// connected before and after the attestors run.
    pub fn pid(&self) -> Option<i32> {
        self.pid
    }

    /// The caller's address (TCP only).
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.remote_addr
    }

    /// This caller with the server's per-connection facts.
    pub(crate) fn with_connection(mut self, connection: ConnectionInfo) -> Self {
        self.connection = Some(Arc::new(connection));
        self
    }

    pub(crate) fn connection(&self) -> Option<&ConnectionInfo> {
        self.connection.as_deref()
    }

    /// The cap this caller's connection was accepted over, if any.
    pub(crate) fn over_limit(&self) -> Option<OverLimit> {
        self.connection.as_ref().and_then(|c| c.over_limit())
    }
}
