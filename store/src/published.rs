//! Bundles published by the replicas of a fleet server: each replica signs with its own keys
//! (its own intermediate, its own JWT key), so each stores the bundle its CA publishes and
//! every replica serves the union. Stored as the SPIFFE bundle JSON the CA produced.

use crate::error::Error;

/// The largest bundle document stored (far above any real bundle; bounds what one replica
/// can make the others parse).
pub const MAX_BUNDLE_DOCUMENT_BYTES: usize = 1024 * 1024;

/// One replica's published bundle.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PublishedBundle {
    /// The replica's name (its CA journal's name).
    pub replica: String,
    /// The SPIFFE bundle JSON its CA publishes.
    pub document: String,
    /// When it was last written, seconds since the epoch.
    pub updated_at: u64,
}

impl PublishedBundle {
    /// A published bundle (as the store returns them; for tests and other stores).
    pub fn new(replica: impl Into<String>, document: impl Into<String>, updated_at: u64) -> Self {
        Self {
            replica: replica.into(),
            document: document.into(),
            updated_at,
        }
    }
}

/// Refuses a replica name that is not a journal name, or a document over the bound.
pub(crate) fn check(replica: &str, document: &str) -> Result<(), Error> {
    let ok = !replica.is_empty()
        && replica
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !ok {
        return Err(Error::invalid(
            "replica name",
            format!("{replica:?} is not ASCII letters, digits, '-' and '_'"),
        ));
    }
    if document.len() > MAX_BUNDLE_DOCUMENT_BYTES {
        return Err(Error::invalid(
            "bundle document",
            format!(
                "{} bytes, more than {MAX_BUNDLE_DOCUMENT_BYTES}",
                document.len()
            ),
        ));
    }
    Ok(())
}
