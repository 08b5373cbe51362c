//! Minting credentials: one module per kind ([`x509_svid`], [`jwt_svid`], [`intermediate`]),
//! each admitted first by [`CertificateAuthority::admit`].

mod intermediate;
mod jwt_svid;
mod x509_svid;

use spiffe_id::SpiffeId;

use crate::authority::CertificateAuthority;
use crate::error::Error;
use crate::policy::{CredentialKind, IssuanceContext};

impl CertificateAuthority {
    /// Checks that `spiffe_id` may carry a workload credential from this CA, then asks the
    /// policy.
    fn admit(
        &self,
        spiffe_id: &SpiffeId,
        requester: Option<&str>,
        kind: CredentialKind,
    ) -> Result<(), Error> {
        if !spiffe_id.is_member_of(&self.inner.trust_domain) {
            return Err(Error::TrustDomainMismatch {
                spiffe_id: spiffe_id.clone(),
                trust_domain: self.inner.trust_domain.clone(),
            });
        }
        if kind != CredentialKind::IntermediateCa && spiffe_id.is_root() {
            return Err(Error::RootIdForWorkload {
                spiffe_id: spiffe_id.clone(),
            });
        }
        let context = IssuanceContext {
            spiffe_id,
            requester,
            kind,
        };
        self.inner
            .policy
            .check(&context)
            .map_err(|reason| Error::PolicyDenied {
                spiffe_id: spiffe_id.clone(),
                requester: requester.map(str::to_owned),
                reason,
            })
    }
}
