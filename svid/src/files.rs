//! Atomic file writes with the right permissions.

use std::io::Write as _;
use std::path::Path;

use crate::error::Error;

/// Whether a file may be read by others.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Secrecy {
    /// Certificates: mode 0644.
    Public,
    /// Private keys: mode 0600, set when the file is created, never widened.
    Secret,
}

/// Writes `contents` to a temporary file next to `path` and renames it into place, so readers see
/// either the old or the new file, never a mix. On Unix the temporary file is created with the
/// final mode, so a key is never readable by others, not even for an instant.
pub(crate) fn write_atomic(path: &Path, contents: &[u8], secrecy: Secrecy) -> Result<(), Error> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."));
    let mut builder = tempfile::Builder::new();
    builder.prefix(".svid-");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = match secrecy {
            Secrecy::Public => 0o644,
            Secrecy::Secret => 0o600,
        };
        builder.permissions(std::fs::Permissions::from_mode(mode));
    }
    #[cfg(not(unix))]
    let _ = secrecy; // tempfile creates owner-only files elsewhere.
    let mut temp = builder.tempfile_in(dir).map_err(Error::Io)?;
    temp.write_all(contents).map_err(Error::Io)?;
    temp.as_file().sync_all().map_err(Error::Io)?;
    temp.persist(path).map_err(|e| Error::Io(e.error))?;
    Ok(())
}
