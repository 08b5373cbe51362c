//! [`CaSnapshot`]: what a CA publishes on every change.

use std::sync::Arc;
use std::time::SystemTime;

use trust_bundle::SpiffeBundle;

use crate::audit::AuthorityKind;
use crate::state::AuthorityStatus;

/// One X.509 authority or JWT key and where it is in its lifecycle.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuthorityInfo {
    /// X.509 or JWT.
    pub kind: AuthorityKind,
    /// The hex subject key identifier (X.509) or the `kid` (JWT).
    pub id: String,
    /// Prepared, active, retired or tainted.
    pub status: AuthorityStatus,
    /// Start of validity.
    pub not_before: SystemTime,
    /// End of validity (certificate `notAfter`, or the JWT key's expiry).
    pub not_after: SystemTime,
}

/// The CA's published state at one moment: the bundle and which authorities sign.
///
/// [`CertificateAuthority::subscribe`](crate::CertificateAuthority::subscribe) delivers a new
/// one on every change. The epochs tell the kind of change apart:
/// - [`x509_authority_epoch`](Self::x509_authority_epoch) increases when the active X.509
///   signing authority changes (rotation, forced rotation, taint): SVIDs signed by the old one
///   should be re-issued, promptly after a taint;
/// - [`jwt_key_epoch`](Self::jwt_key_epoch) likewise for the JWT signing key;
/// - otherwise only the bundle (and its `spiffe_sequence`) changed, e.g. a prepared key was
///   published or a retired one dropped: push the bundle, keep the SVIDs.
#[derive(Clone, Debug)]
pub struct CaSnapshot {
    pub(crate) bundle: Arc<SpiffeBundle>,
    pub(crate) x509_authority_epoch: u64,
    pub(crate) jwt_key_epoch: u64,
    pub(crate) authorities: Vec<AuthorityInfo>,
}

impl CaSnapshot {
    pub(crate) fn empty(trust_domain: spiffe_id::TrustDomain) -> Self {
        Self {
            bundle: Arc::new(SpiffeBundle::new(trust_domain)),
            x509_authority_epoch: 0,
            jwt_key_epoch: 0,
            authorities: Vec::new(),
        }
    }

    /// The published bundle.
    pub fn bundle(&self) -> &Arc<SpiffeBundle> {
        &self.bundle
    }

    /// Counts changes of the active X.509 signing authority (starts at 1).
    pub fn x509_authority_epoch(&self) -> u64 {
        self.x509_authority_epoch
    }

    /// Counts changes of the active JWT signing key (starts at 1).
    pub fn jwt_key_epoch(&self) -> u64 {
        self.jwt_key_epoch
    }

    /// The bundle's `spiffe_sequence`.
    pub fn sequence(&self) -> u64 {
        self.bundle.sequence().unwrap_or(0)
    }

    /// Every authority the CA keeps, oldest first.
    pub fn authorities(&self) -> &[AuthorityInfo] {
        &self.authorities
    }

    /// The active authority of `kind`.
    pub fn active(&self, kind: AuthorityKind) -> Option<&AuthorityInfo> {
        self.authorities
            .iter()
            .find(|a| a.kind == kind && a.status == AuthorityStatus::Active)
    }
}
