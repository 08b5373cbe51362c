//! The admin socket: bound with mode 0600 without ever being reachable with wider permissions
//! (bound in a private directory, then renamed into place), a stale one replaced, a live one
//! refused.

use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use tokio::net::{UnixListener, UnixStream};

/// The admin socket's mode: the server's user only.
pub const ADMIN_SOCKET_MODE: u32 = 0o600;

/// Binds `path`; returns the listener and the socket's inode (to remove only our own).
pub(crate) async fn bind(path: &Path) -> std::io::Result<(UnixListener, u64)> {
    match tokio::fs::symlink_metadata(path).await {
        Ok(metadata) if metadata.file_type().is_socket() => {
            if UnixStream::connect(path).await.is_ok() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::AddrInUse,
                    format!("{} is in use by a running server", path.display()),
                ));
            }
        }
        Ok(_) => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("{} exists and is not a socket", path.display()),
            ));
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(error),
    }
    let owned = path.to_owned();
    let (listener, inode) = tokio::task::spawn_blocking(move || {
        let parent = match owned.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
            _ => PathBuf::from("."),
        };
        let staging = tempfile::Builder::new()
            .prefix(".server-bind-")
            .tempdir_in(&parent)?;
        let staged = staging.path().join("s");
        let listener = std::os::unix::net::UnixListener::bind(&staged)?;
        listener.set_nonblocking(true)?;
        std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(ADMIN_SOCKET_MODE))?;
        let inode = std::fs::symlink_metadata(&staged)?.ino();
        std::fs::rename(&staged, &owned)?;
        Ok::<_, std::io::Error>((listener, inode))
    })
    .await
    .map_err(|_| std::io::Error::other("binding did not complete"))??;
    Ok((UnixListener::from_std(listener)?, inode))
}

/// Removes the socket at `path` if it is still the one with `inode`.
pub(crate) fn remove(path: &Path, inode: u64) {
    if let Ok(metadata) = std::fs::symlink_metadata(path) {
        if metadata.file_type().is_socket() && metadata.ino() == inode {
            let _ = std::fs::remove_file(path);
        }
    }
}
