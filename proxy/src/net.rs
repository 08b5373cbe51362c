//! Sockets: TCP or Unix listeners and connections behind one boxed stream type.

use std::io;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};

use crate::addr::Address;
use crate::error::Error;

/// A byte stream of either kind. `poll_shutdown` half-closes (TCP and Unix: `shutdown(Write)`).
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Io for T {}

/// A boxed stream.
pub(crate) type Stream = Box<dyn Io>;

/// The two ends of an accepted or opened connection: `None` for Unix sockets.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Ends {
    pub(crate) peer: Option<SocketAddr>,
    pub(crate) local: Option<SocketAddr>,
}

/// A bound listener. A Unix socket file is removed when it is dropped.
#[derive(Debug)]
pub(crate) enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener, PathBuf),
}

impl Listener {
    /// Binds `address`; a Unix socket gets `mode` (replacing a stale socket file first).
    pub(crate) async fn bind(address: &Address, mode: u32) -> Result<Self, Error> {
        let fail = |source| Error::Listen {
            address: address.to_string(),
            source,
        };
        match address {
            Address::Tcp(text) => Ok(Self::Tcp(TcpListener::bind(text).await.map_err(fail)?)),
            Address::Unix(path) => {
                if std::fs::symlink_metadata(path)
                    .is_ok_and(|meta| std::os::unix::fs::FileTypeExt::is_socket(&meta.file_type()))
                {
                    std::fs::remove_file(path).map_err(fail)?;
                }
                let listener = UnixListener::bind(path).map_err(fail)?;
                // Owner-only unless configured: the socket is the proxy's identity, lent to
                // whoever can connect.
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
                    .map_err(fail)?;
                Ok(Self::Unix(listener, path.clone()))
            }
        }
    }

    /// The bound address (TCP: with the port chosen for port 0).
    pub(crate) fn local_address(&self) -> Address {
        match self {
            Self::Tcp(listener) => listener.local_addr().map_or_else(
                |_| Address::Tcp(String::new()),
                |addr| Address::Tcp(addr.to_string()),
            ),
            Self::Unix(_, path) => Address::Unix(path.clone()),
        }
    }

    pub(crate) async fn accept(&self) -> io::Result<(Stream, Ends)> {
        match self {
            Self::Tcp(listener) => {
                let (tcp, peer) = listener.accept().await?;
                let _ = tcp.set_nodelay(true);
                let local = tcp.local_addr().ok();
                Ok((
                    Box::new(tcp),
                    Ends {
                        peer: Some(peer),
                        local,
                    },
                ))
            }
            Self::Unix(listener, _) => {
                let (unix, _) = listener.accept().await?;
                Ok((Box::new(unix), Ends::default()))
            }
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Self::Unix(_, path) = self {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Connects to `address` within `timeout`.
pub(crate) async fn connect(address: &Address, timeout: Duration) -> io::Result<(Stream, Ends)> {
    let connect = async {
        match address {
            Address::Tcp(text) => {
                let tcp = TcpStream::connect(text.as_str()).await?;
                let _ = tcp.set_nodelay(true);
                let ends = Ends {
                    peer: tcp.peer_addr().ok(),
                    local: tcp.local_addr().ok(),
                };
                Ok::<(Stream, Ends), io::Error>((Box::new(tcp), ends))
            }
            Address::Unix(path) => {
                let unix: Stream = Box::new(UnixStream::connect(path).await?);
                Ok((unix, Ends::default()))
            }
        }
    };
    tokio::time::timeout(timeout, connect)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))?
}

/// Accept errors that concern one connection only (reset before accept).
pub(crate) fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Out of file descriptors or memory: pause and accept again.
pub(crate) fn is_resource_exhaustion(error: &io::Error) -> bool {
    // EMFILE 24, ENFILE 23, ENOBUFS 105, ENOMEM 12 on Linux.
    matches!(error.raw_os_error(), Some(12 | 23 | 24 | 105))
        || error.kind() == io::ErrorKind::OutOfMemory
}
