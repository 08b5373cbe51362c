//! `--write DIR`: every file of one fetch appears at once, or none does.
//!
//! Renaming files one by one leaves moments where the directory holds a new certificate next to
//! the old key. Instead (as the kubelet does for projected volumes) each fetch goes into a fresh
//! generation directory `DIR/..<unix time>-<random>`, fully written and synced first; then one
//! `rename(2)` points the symlink `DIR/..data` at it; `DIR/<name>` are symlinks to
//! `..data/<name>`. Every state of `DIR` is therefore one whole fetch. A reader that opens two
//! files one after the other can still straddle a swap; `credential-bundle.pem` (key and chain
//! in one file, the SPIFFE Filesystem Delivery draft's layout) is for readers that need one
//! read to be enough. Keys are created with mode 0600 (never wider, whatever the umask);
//! everything else gets 0644.

use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::error::Error;

/// The symlink that names the current generation.
const DATA: &str = "..data";

/// One file to write.
pub(crate) struct File {
    /// Its name in the directory (no `/`).
    pub(crate) name: String,
    /// Its bytes (wiped after the write: keys pass through here).
    pub(crate) contents: Zeroizing<Vec<u8>>,
    /// Whether it holds a private key or a bearer token: mode 0600 instead of 0644.
    pub(crate) secret: bool,
}

impl File {
    /// A file readable by others (certificates, bundles).
    pub(crate) fn public(name: impl Into<String>, contents: impl Into<Vec<u8>>) -> Self {
        Self {
            name: name.into(),
            contents: Zeroizing::new(contents.into()),
            secret: false,
        }
    }

    /// A file only the owner may read (keys, tokens).
    pub(crate) fn secret(name: impl Into<String>, contents: Zeroizing<Vec<u8>>) -> Self {
        Self {
            name: name.into(),
            contents,
            secret: true,
        }
    }
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |source| Error::Io { what, source }
}

/// Writes `files` into `dir` as one generation and switches `dir/..data` to it. Returns the
/// paths written (`dir/<name>`).
pub(crate) fn write_generation(dir: &Path, files: &[File]) -> Result<Vec<PathBuf>, Error> {
    fs::create_dir_all(dir).map_err(io(format!("cannot create {}", dir.display())))?;
    let previous = fs::read_link(dir.join(DATA)).ok();
    let generation = tempfile::Builder::new()
        .prefix(&format!("..{}-", crate::describe::now()))
        .tempdir_in(dir)
        .map_err(io(format!(
            "cannot create a directory in {}",
            dir.display()
        )))?;
    // Readable by others like the certificates; the key files inside stay 0600.
    fs::set_permissions(generation.path(), fs::Permissions::from_mode(0o755)).map_err(io(
        format!("cannot set the mode of {}", generation.path().display()),
    ))?;
    for file in files {
        let path = generation.path().join(&file.name);
        let mode = if file.secret { 0o600 } else { 0o644 };
        let mut out = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&path)
            .map_err(io(format!("cannot create {}", path.display())))?;
        // The umask may have narrowed the mode: set it exactly.
        out.set_permissions(fs::Permissions::from_mode(mode))
            .map_err(io(format!("cannot set the mode of {}", path.display())))?;
        out.write_all(&file.contents)
            .and_then(|()| out.sync_all())
            .map_err(io(format!("cannot write {}", path.display())))?;
    }
    sync_dir(generation.path())?;
    let generation = generation.keep();
    let generation_name = generation
        .file_name()
        .map(PathBuf::from)
        .ok_or_else(|| Error::Usage(format!("{} has no file name", generation.display())))?;
    swap_symlink(dir, DATA, &generation_name)?;
    let mut written = Vec::with_capacity(files.len());
    for file in files {
        let target = Path::new(DATA).join(&file.name);
        if fs::read_link(dir.join(&file.name)).ok().as_deref() != Some(target.as_path()) {
            swap_symlink(dir, &file.name, &target)?;
        }
        written.push(dir.join(&file.name));
    }
    sync_dir(dir)?;
    if let Some(previous) = previous.filter(|p| *p != generation_name) {
        // Readers that opened a file of the old generation keep their open file.
        let _ = fs::remove_dir_all(dir.join(previous));
    }
    Ok(written)
}

/// Points `dir/name` at `target` with one rename of a fresh symlink over it.
fn swap_symlink(dir: &Path, name: &str, target: &Path) -> Result<(), Error> {
    let temp = dir.join(format!("..{name}.{}.tmp", std::process::id()));
    let _ = fs::remove_file(&temp);
    std::os::unix::fs::symlink(target, &temp)
        .map_err(io(format!("cannot create the symlink {}", temp.display())))?;
    fs::rename(&temp, dir.join(name)).map_err(|source| {
        let _ = fs::remove_file(&temp);
        Error::Io {
            what: format!("cannot replace {}", dir.join(name).display()),
            source,
        }
    })
}

fn sync_dir(dir: &Path) -> Result<(), Error> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(format!("cannot sync {}", dir.display())))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    /// A second generation replaces the first: the names resolve to the new contents, the
    /// old generation directory is gone, and the key keeps mode 0600.
    #[test]
    fn second_generation_replaces_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let one = [
            File::public("cert.pem", b"one".to_vec()),
            File::secret("key.pem", Zeroizing::new(b"k1".to_vec())),
        ];
        write_generation(dir.path(), &one).unwrap();
        let first = fs::read_link(dir.path().join(DATA)).unwrap();
        let two = [
            File::public("cert.pem", b"two".to_vec()),
            File::secret("key.pem", Zeroizing::new(b"k2".to_vec())),
        ];
        write_generation(dir.path(), &two).unwrap();
        assert_eq!(fs::read(dir.path().join("cert.pem")).unwrap(), b"two");
        assert_eq!(fs::read(dir.path().join("key.pem")).unwrap(), b"k2");
        assert!(!dir.path().join(first).exists());
        let mode = fs::metadata(dir.path().join("key.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
