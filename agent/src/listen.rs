//! Listening sockets: a Unix socket created with a chosen mode and no window with another, a
//! stale socket left by a killed agent replaced, live ones refused; optional TCP. Accepted
//! connections are counted against the connection caps ([`crate::limits`]), bound to the
//! process that connected ([`crate::connection`]) and carry their [`Caller`] into tonic's
//! request extensions.

use core::pin::Pin;
use core::task::{Context, Poll};
use std::io;
use std::net::SocketAddr;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use tokio::time::Sleep;
use tokio_stream::Stream;
use tonic::transport::server::Connected;

use crate::caller::Caller;
use crate::connection::{ConnectionInfo, ProcessBinding};
use crate::error::Error;
use crate::h2_authority::H2AuthorityRewrite;
use crate::limits::{Admission, ConnectionCounter, OverLimit, REJECTED_GRACE, Slot};

/// An accepted connection and who is on the other end.
pub(crate) struct AcceptedConnection {
    io: Io,
    caller: Caller,
    /// Its place in the connection counts, released when the connection is dropped.
    _slot: Slot,
    /// For a connection over a cap: when it reads as closed.
    close_at: Option<Pin<Box<Sleep>>>,
}

enum Io {
    /// Unix sockets get the `:authority` fix for grpc C-core / grpc-java clients.
    Unix(H2AuthorityRewrite<UnixStream>),
    Tcp(TcpStream),
}

impl AcceptedConnection {
    /// A Unix connection, or `None` when it is over a cap and must be closed at once.
    fn unix(stream: UnixStream, counter: &Arc<ConnectionCounter>) -> Option<Self> {
        let (caller, process) = match stream.peer_cred() {
            Ok(cred) => (
                Caller::unix(cred.uid(), cred.gid(), cred.pid()),
                ProcessBinding::of_peer(&stream, cred.pid()),
            ),
            Err(error) => {
                // Without credentials the caller gets no unix selectors, hence no identity.
                tracing::warn!(%error, "no peer credentials for a Unix connection");
                (Caller::default(), None)
            }
        };
        let uid = caller.uid();
        Self::admit(
            Io::Unix(H2AuthorityRewrite::new(stream)),
            caller,
            process,
            counter.admit(uid),
            counter,
        )
    }

    /// A TCP connection (counted in the total only), or `None` as for [`AcceptedConnection::unix`].
    fn tcp(
        stream: TcpStream,
        remote: SocketAddr,
        counter: &Arc<ConnectionCounter>,
    ) -> Option<Self> {
        // Small gRPC frames: do not wait to coalesce them.
        let _ = stream.set_nodelay(true);
        Self::admit(
            Io::Tcp(stream),
            Caller::tcp(remote),
            None,
            counter.admit(None),
            counter,
        )
    }

    fn admit(
        io: Io,
        caller: Caller,
        process: Option<ProcessBinding>,
        admission: Admission,
        counter: &ConnectionCounter,
    ) -> Option<Self> {
        let max_streams = counter.limits().streams_per_connection;
        let (slot, over, close_at) = match admission {
            Admission::Admitted(slot) => (slot, None, None),
            Admission::Rejecting(slot, over) => {
                log_over_limit(
                    &caller,
                    over,
                    "answering with ResourceExhausted, then closing",
                );
                let close_at = Box::pin(tokio::time::sleep(REJECTED_GRACE));
                (slot, Some(over), Some(close_at))
            }
            Admission::Refused(over) => {
                // Already 32 connections being refused: a flood; keep the log quiet.
                tracing::debug!(?over, uid = ?caller.uid(), "connection over a cap; closing at once");
                return None;
            }
        };
        Some(Self {
            io,
            caller: caller.with_connection(ConnectionInfo::new(process, max_streams, over)),
            _slot: slot,
            close_at,
        })
    }
}

fn log_over_limit(caller: &Caller, over: OverLimit, action: &str) {
    tracing::warn!(
        ?over,
        uid = ?caller.uid(),
        addr = ?caller.remote_addr(),
        "connection over a cap; {action}"
    );
}

impl Connected for AcceptedConnection {
    type ConnectInfo = Caller;

    fn connect_info(&self) -> Caller {
        self.caller.clone()
    }
}

impl AsyncRead for AcceptedConnection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(close_at) = &mut this.close_at {
            if close_at.as_mut().poll(cx).is_ready() {
                // End of stream: the server closes the connection.
                return Poll::Ready(Ok(()));
            }
        }
        match &mut this.io {
            Io::Unix(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tcp(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for AcceptedConnection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().io {
            Io::Unix(s) => Pin::new(s.get_mut()).poll_write(cx, buf),
            Io::Tcp(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().io {
            Io::Unix(s) => Pin::new(s.get_mut()).poll_write_vectored(cx, bufs),
            Io::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match &self.io {
            Io::Unix(s) => s.get_ref().is_write_vectored(),
            Io::Tcp(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Unix(s) => Pin::new(s.get_mut()).poll_flush(cx),
            Io::Tcp(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Unix(s) => Pin::new(s.get_mut()).poll_shutdown(cx),
            Io::Tcp(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// A bound listener.
pub(crate) enum Listener {
    Unix(UnixListener),
    Tcp(TcpListener),
}

/// How long accepting pauses after an error (out of file descriptors, ...), so a persistent
/// error does not spin a core.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);

impl Listener {
    /// The accepted connections as a stream for `serve_with_incoming_shutdown`, counted in
    /// `counter`.
    pub(crate) fn into_incoming(
        self,
        counter: Arc<ConnectionCounter>,
    ) -> impl Stream<Item = io::Result<AcceptedConnection>> + Send {
        tokio_stream::wrappers::ReceiverStream::new(accept_loop(self, counter))
    }
}

/// Accepts on a task of its own, handing connections over a small channel (the server takes
/// them as fast as it can; the bound only matters when it cannot).
fn accept_loop(
    listener: Listener,
    counter: Arc<ConnectionCounter>,
) -> tokio::sync::mpsc::Receiver<io::Result<AcceptedConnection>> {
    let (sender, receiver) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move {
        loop {
            let accepted = match &listener {
                Listener::Unix(l) => l
                    .accept()
                    .await
                    .map(|(s, _)| AcceptedConnection::unix(s, &counter)),
                Listener::Tcp(l) => l
                    .accept()
                    .await
                    .map(|(s, a)| AcceptedConnection::tcp(s, a, &counter)),
            };
            // A connection refused outright was dropped (closed) already.
            let accepted = match accepted {
                Ok(None) => continue,
                Ok(Some(connection)) => Ok(connection),
                Err(error) => Err(error),
            };
            let failed = accepted.is_err();
            if let Err(error) = &accepted {
                tracing::warn!(%error, "accepting a Workload API connection failed");
            }
            tokio::select! {
                sent = sender.send(accepted) => if sent.is_err() { break },
                () = sender.closed() => break,
            }
            if failed {
                tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
            }
        }
    });
    receiver
}

/// A Unix socket at `path` with permission bits `mode`, and the inode it was created with (so
/// that shutdown removes our socket, never a successor's).
///
/// The socket is bound in a fresh private directory next to `path`, given its mode there and
/// then renamed into place, so it is never reachable with the process umask's permissions. A
/// socket already at `path` is replaced only when nothing accepts on it (a crashed agent's);
/// anything that is not a socket is left alone.
pub(crate) async fn bind_unix(path: &Path, mode: u32) -> Result<(UnixListener, u64), Error> {
    let bind_error = |source| Error::Bind {
        path: path.to_owned(),
        source,
    };
    match tokio::fs::symlink_metadata(path).await {
        Ok(metadata) if metadata.file_type().is_socket() => {
            if UnixStream::connect(path).await.is_ok() {
                return Err(Error::SocketInUse(path.to_owned()));
            }
            tracing::info!(path = %path.display(), "replacing a stale Workload API socket");
        }
        Ok(_) => return Err(Error::NotASocket(path.to_owned())),
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(error) => return Err(bind_error(error)),
    }
    let path_owned = path.to_owned();
    let (listener, inode) = tokio::task::spawn_blocking(move || bind_staged(&path_owned, mode))
        .await
        .map_err(|_| bind_error(io::Error::other("binding task did not complete")))?
        .map_err(bind_error)?;
    let listener = UnixListener::from_std(listener).map_err(bind_error)?;
    Ok((listener, inode))
}

/// The blocking part of [`bind_unix`]: bind in a private directory, set the mode, rename.
fn bind_staged(path: &Path, mode: u32) -> io::Result<(std::os::unix::net::UnixListener, u64)> {
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    };
    let staging = tempfile::Builder::new()
        .prefix(".agent-bind-")
        .tempdir_in(&parent)?;
    let staged = staging.path().join("s");
    let listener = std::os::unix::net::UnixListener::bind(&staged)?;
    listener.set_nonblocking(true)?;
    std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(mode))?;
    let inode = std::fs::symlink_metadata(&staged)?.ino();
    std::fs::rename(&staged, path)?;
    drop(staging);
    Ok((listener, inode))
}

/// Removes the socket at `path` if it is still the one created with `inode`.
pub(crate) fn remove_socket(path: &Path, inode: u64) {
    match std::fs::symlink_metadata(path) {
        Ok(metadata) if metadata.file_type().is_socket() && metadata.ino() == inode => {
            if let Err(error) = std::fs::remove_file(path) {
                tracing::warn!(path = %path.display(), %error, "could not remove the socket");
            }
        }
        _ => {}
    }
}

/// A TCP listener on `addr`.
pub(crate) async fn bind_tcp(addr: SocketAddr) -> Result<TcpListener, Error> {
    TcpListener::bind(addr).await.map_err(|source| Error::Bind {
        path: PathBuf::from(addr.to_string()),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn creates_the_socket_with_the_mode_asked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.sock");
        let (_listener, inode) = bind_unix(&path, 0o600).await.unwrap();
        let metadata = std::fs::symlink_metadata(&path).unwrap();
        assert!(metadata.file_type().is_socket());
        assert_eq!(metadata.permissions().mode() & 0o777, 0o600);
        // Only the socket is left in the directory (the staging directory is gone).
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        remove_socket(&path, inode);
        assert!(!path.exists());
    }

    #[tokio::test]
    async fn replaces_a_stale_socket_and_refuses_a_live_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.sock");
        let (live, _) = bind_unix(&path, 0o600).await.unwrap();
        assert!(matches!(
            bind_unix(&path, 0o600).await,
            Err(Error::SocketInUse(_))
        ));
        drop(live); // the file stays, nobody accepts: stale
        assert!(path.exists());
        bind_unix(&path, 0o600).await.unwrap();
    }

    #[tokio::test]
    async fn leaves_other_files_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.sock");
        std::fs::write(&path, b"not a socket").unwrap();
        assert!(matches!(
            bind_unix(&path, 0o600).await,
            Err(Error::NotASocket(_))
        ));
        assert_eq!(std::fs::read(&path).unwrap(), b"not a socket");
    }
}
