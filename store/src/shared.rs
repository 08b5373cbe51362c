//! [`Inner`]: the one connection a store and its journals share, with the file it opened.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rusqlite::Connection;

use crate::error::Error;

/// The store's connection behind a mutex (SQLite serializes writers anyway), and its path.
pub(crate) struct Inner {
    conn: Mutex<Connection>,
    path: PathBuf,
}

impl Inner {
    pub(crate) fn new(conn: Connection, path: PathBuf) -> Self {
        Self {
            conn: Mutex::new(conn),
            path,
        }
    }

    pub(crate) fn lock(&self) -> Result<MutexGuard<'_, Connection>, Error> {
        self.conn.lock().map_err(|_| Error::Poisoned)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}
