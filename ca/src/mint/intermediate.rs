//! CA certificates for downstream CAs of the same trust domain, and the in-process
//! [`UpstreamAuthority`] a parent CA is.

use std::time::{Duration, SystemTime};

use crate::audit::{AuditAction, AuditEvent, AuthorityKind};
use crate::authority::CertificateAuthority;
use crate::ca_cert::CaSubject;
use crate::csr;
use crate::error::Error;
use crate::policy::CredentialKind;
use crate::request::IntermediateRequest;
use crate::time::unix_seconds;
use crate::upstream::{IssuedCa, UpstreamAuthority};
use crate::x509;

impl CertificateAuthority {
    /// Issues a CA certificate for the key in `csr_der` (a downstream CA of the same trust
    /// domain). Its `notAfter` is capped at this CA's, and its path length at this CA's minus
    /// one; the SAN is this trust domain's ID whatever the CSR asks.
    ///
    /// # Errors
    /// [`Error::Csr`], [`Error::PathLenExhausted`], [`Error::PolicyDenied`],
    /// [`Error::AuthorityNotValid`], signing or audit failures.
    pub fn mint_intermediate_for_csr(
        &self,
        csr_der: &[u8],
        request: &IntermediateRequest,
        now: SystemTime,
    ) -> Result<IssuedCa, Error> {
        let own_id = self.spiffe_id();
        self.admit(
            &own_id,
            request.requester_label(),
            CredentialKind::IntermediateCa,
        )?;
        let crypto = &self.inner.crypto;
        let spki = csr::public_key_of(csr_der, crypto)?;
        let hot = self.hot()?;
        let authority = &hot.x509;
        let signed = authority.sign_ca_certificate(
            crypto,
            &CaSubject {
                spki: &spki,
                uri: own_id.as_str(),
                path_len_limit: request.path_len_limit(),
            },
            request.ttl_or(self.inner.config.ca_ttl),
            now,
        )?;
        self.audit(&AuditEvent {
            action: AuditAction::IntermediateIssued,
            trust_domain: self.inner.trust_domain.to_string(),
            authority_kind: AuthorityKind::X509,
            authority_id: authority.id.clone(),
            spiffe_id: Some(own_id.to_string()),
            serial: Some(x509::serial_hex(&signed.serial)),
            not_before: Some(signed.not_before),
            not_after: Some(signed.not_after),
            requester: request.requester_label().map(str::to_owned),
            at: unix_seconds(now),
        })?;
        Ok(IssuedCa {
            chain: signed.chain,
            roots: authority.roots.clone(),
        })
    }
}

impl UpstreamAuthority for CertificateAuthority {
    fn sign_intermediate(
        &self,
        csr: &[u8],
        ttl: Duration,
        now: SystemTime,
    ) -> Result<IssuedCa, Error> {
        self.mint_intermediate_for_csr(csr, &IntermediateRequest::new().ttl(ttl), now)
    }
}
