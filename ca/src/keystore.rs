//! [`KeyStore`]: where a CA keeps its private keys and lifecycle state across restarts.

use core::fmt;
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use zeroize::Zeroizing;

use crate::error::Error;

/// Persistent storage for a CA's keys (PKCS#8) and its lifecycle state (a small JSON document
/// listing authorities, their certificates and status).
///
/// Names are chosen by the CA and consist of ASCII letters, digits, `-` and `_`. A CA built
/// with a store that already holds state resumes the same authorities.
pub trait KeyStore: Send + Sync + fmt::Debug {
    /// Stores (or replaces) the PKCS#8 key `name`.
    ///
    /// # Errors
    /// Storage failures.
    fn put_key(&self, name: &str, pkcs8: &[u8]) -> Result<(), Error>;

    /// The PKCS#8 key `name`, or `None`.
    ///
    /// # Errors
    /// Storage failures, or a key the store refuses to hand out.
    fn get_key(&self, name: &str) -> Result<Option<Zeroizing<Vec<u8>>>, Error>;

    /// Deletes the key `name` (no error if absent).
    ///
    /// # Errors
    /// Storage failures.
    fn remove_key(&self, name: &str) -> Result<(), Error>;

    /// Replaces the state document.
    ///
    /// # Errors
    /// Storage failures.
    fn put_state(&self, state: &[u8]) -> Result<(), Error>;

    /// The state document, or `None` for a new store.
    ///
    /// # Errors
    /// Storage failures.
    fn get_state(&self) -> Result<Option<Vec<u8>>, Error>;
}

/// A store in process memory: survives rebuilding a CA in the same process (tests, hot
/// reconfiguration), not a restart.
#[derive(Default)]
pub struct MemoryKeyStore {
    keys: Mutex<HashMap<String, Zeroizing<Vec<u8>>>>,
    state: Mutex<Option<Vec<u8>>>,
}

impl MemoryKeyStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The names of the stored keys, sorted.
    pub fn key_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .keys
            .lock()
            .map(|keys| keys.keys().cloned().collect())
            .unwrap_or_default();
        names.sort();
        names
    }
}

impl fmt::Debug for MemoryKeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryKeyStore")
            .field("keys", &self.key_names())
            .finish_non_exhaustive()
    }
}

fn poisoned() -> Error {
    Error::StoredState {
        reason: "memory key store lock poisoned".into(),
    }
}

impl KeyStore for MemoryKeyStore {
    fn put_key(&self, name: &str, pkcs8: &[u8]) -> Result<(), Error> {
        self.keys
            .lock()
            .map_err(|_| poisoned())?
            .insert(name.to_owned(), Zeroizing::new(pkcs8.to_vec()));
        Ok(())
    }

    fn get_key(&self, name: &str) -> Result<Option<Zeroizing<Vec<u8>>>, Error> {
        Ok(self.keys.lock().map_err(|_| poisoned())?.get(name).cloned())
    }

    fn remove_key(&self, name: &str) -> Result<(), Error> {
        self.keys.lock().map_err(|_| poisoned())?.remove(name);
        Ok(())
    }

    fn put_state(&self, state: &[u8]) -> Result<(), Error> {
        *self.state.lock().map_err(|_| poisoned())? = Some(state.to_vec());
        Ok(())
    }

    fn get_state(&self) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.state.lock().map_err(|_| poisoned())?.clone())
    }
}

/// A directory of files: `<name>.key` (PKCS#8 DER, mode 0600) and `state.json`.
///
/// Every write goes to a temporary file in the same directory that is then renamed into place,
/// so a crash never leaves half a key. A key file that group or others may read is refused on
/// load ([`Error::KeyFilePermissions`]): a key that may have leaked is not used. The directory
/// is created with mode 0700 if missing.
#[derive(Debug)]
pub struct FileKeyStore {
    dir: PathBuf,
}

impl FileKeyStore {
    /// A store in `dir`, created if missing.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, Error> {
        let dir = dir.as_ref().to_path_buf();
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder.create(&dir).map_err(|source| Error::Io {
            path: dir.clone(),
            source,
        })?;
        Ok(Self { dir })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn key_path(&self, name: &str) -> Result<PathBuf, Error> {
        let safe = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !safe {
            return Err(Error::InvalidRequest {
                reason: "key names are ASCII letters, digits, '-' and '_'",
            });
        }
        Ok(self.dir.join(format!("{name}.key")))
    }

    fn write_atomic(&self, path: &Path, bytes: &[u8]) -> Result<(), Error> {
        let io = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        // tempfile creates the file with mode 0600.
        let mut file = tempfile::NamedTempFile::new_in(&self.dir).map_err(io)?;
        file.write_all(bytes).map_err(io)?;
        file.as_file().sync_all().map_err(io)?;
        file.persist(path).map_err(|e| io(e.error))?;
        Ok(())
    }

    fn read(path: &Path) -> Result<Option<Vec<u8>>, Error> {
        match std::fs::read(path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(Error::Io {
                path: path.to_path_buf(),
                source,
            }),
        }
    }
}

impl KeyStore for FileKeyStore {
    fn put_key(&self, name: &str, pkcs8: &[u8]) -> Result<(), Error> {
        let path = self.key_path(name)?;
        self.write_atomic(&path, pkcs8)
    }

    fn get_key(&self, name: &str) -> Result<Option<Zeroizing<Vec<u8>>>, Error> {
        let path = self.key_path(name)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            match std::fs::metadata(&path) {
                Ok(meta) => {
                    let mode = meta.permissions().mode() & 0o777;
                    if mode & 0o077 != 0 {
                        return Err(Error::KeyFilePermissions { path, mode });
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(source) => return Err(Error::Io { path, source }),
            }
        }
        Ok(Self::read(&path)?.map(Zeroizing::new))
    }

    fn remove_key(&self, name: &str) -> Result<(), Error> {
        let path = self.key_path(name)?;
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(Error::Io { path, source }),
        }
    }

    fn put_state(&self, state: &[u8]) -> Result<(), Error> {
        self.write_atomic(&self.dir.join("state.json"), state)
    }

    fn get_state(&self) -> Result<Option<Vec<u8>>, Error> {
        Self::read(&self.dir.join("state.json"))
    }
}
