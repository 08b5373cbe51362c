//! [`AuditSink`]: a record of every issuance and key lifecycle change, and a JSON-lines file
//! sink.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Serialize;

use crate::error::{AuditError, Error};

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AuditAction {
    /// An X.509-SVID was issued.
    X509SvidIssued,
    /// A JWT-SVID was issued.
    JwtSvidIssued,
    /// A CA certificate was issued to a downstream CA.
    IntermediateIssued,
    /// A new key was prepared and published in the bundle.
    AuthorityPrepared,
    /// A prepared key became the one that signs.
    AuthorityActivated,
    /// A key stopped signing; it stays published while credentials it signed are valid.
    AuthorityRetired,
    /// A key was tainted: it stopped signing at once.
    AuthorityTainted,
    /// A key left the bundle.
    AuthorityRemoved,
}

/// The kind of key an event concerns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AuthorityKind {
    /// An X.509 signing authority (CA certificate and key).
    X509,
    /// A JWT signing key.
    Jwt,
}

/// One audit record. Fields that do not apply to an action are `None`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct AuditEvent {
    /// What happened.
    pub action: AuditAction,
    /// The trust domain of the CA.
    pub trust_domain: String,
    /// Which kind of authority signed or changed.
    pub authority_kind: AuthorityKind,
    /// The authority: the hex subject key ID of an X.509 authority, or a JWT `kid`.
    pub authority_id: String,
    /// The credential's SPIFFE ID.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spiffe_id: Option<String>,
    /// The certificate serial number (hex).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// Start of validity, seconds since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_before: Option<u64>,
    /// End of validity, seconds since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_after: Option<u64>,
    /// Who asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requester: Option<String>,
    /// When the event happened (the `now` the CA was given), seconds since the epoch.
    pub at: u64,
}

/// Receives an [`AuditEvent`] for every issuance and key lifecycle change.
///
/// Called synchronously before the credential is returned; a failing sink fails the issuance
/// ([`Error::Audit`]). Lifecycle events are recorded after the change is in effect.
pub trait AuditSink: Send + Sync {
    /// Records one event.
    ///
    /// # Errors
    /// The sink's failure.
    fn record(&self, event: &AuditEvent) -> Result<(), AuditError>;
}

/// Appends one JSON object per line to a file (created with mode 0600 on Unix).
#[derive(Debug)]
pub struct JsonLinesAuditSink {
    path: PathBuf,
    file: Mutex<File>,
}

impl JsonLinesAuditSink {
    /// Opens (or creates) `path` for appending.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref().to_path_buf();
        let mut options = OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let file = options.open(&path).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        Ok(Self {
            path,
            file: Mutex::new(file),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl AuditSink for JsonLinesAuditSink {
    fn record(&self, event: &AuditEvent) -> Result<(), AuditError> {
        let mut line = serde_json::to_vec(event).map_err(AuditError::new)?;
        line.push(b'\n');
        let mut file = self
            .file
            .lock()
            .map_err(|_| AuditError::new("audit file lock poisoned"))?;
        file.write_all(&line).map_err(AuditError::new)
    }
}
