//! The last good bundle of each federated trust domain, so a restarted agent or server keeps
//! trusting its federation peers while their bundle endpoints are unreachable (the federation
//! manager's `LastGoodStore`). Stored as the SPIFFE bundle JSON that was taken.

use spiffe_id::TrustDomain;

use crate::error::Error;
use crate::published::MAX_BUNDLE_DOCUMENT_BYTES;

/// One federated trust domain's last good bundle.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FederatedBundle {
    /// Whose bundle.
    pub trust_domain: TrustDomain,
    /// The SPIFFE bundle JSON last taken from its bundle endpoint.
    pub document: String,
    /// When it was saved, seconds since the epoch.
    pub updated_at: u64,
}

impl FederatedBundle {
    /// A saved bundle (as the store returns them; for tests and other stores).
    pub fn new(trust_domain: TrustDomain, document: impl Into<String>, updated_at: u64) -> Self {
        Self {
            trust_domain,
            document: document.into(),
            updated_at,
        }
    }

    /// Builds the record from stored columns; a trust domain that no longer parses is a
    /// stored value this build refuses.
    pub(crate) fn from_row(
        trust_domain: &str,
        document: String,
        updated_at: i64,
    ) -> Result<Self, Error> {
        let parsed = TrustDomain::parse(trust_domain).map_err(|e| Error::BadStoredValue {
            record: "federated bundle",
            id: trust_domain.to_owned(),
            column: "trust_domain",
            reason: e.to_string(),
        })?;
        Ok(Self::new(
            parsed,
            document,
            u64::try_from(updated_at).unwrap_or(0),
        ))
    }
}

/// Refuses a document over [`MAX_BUNDLE_DOCUMENT_BYTES`].
pub(crate) fn check(document: &str) -> Result<(), Error> {
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
