//! CA certificates for downstream CAs of the same trust domain, and the in-process
//! [`UpstreamAuthority`] a parent CA is.

use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use rustls_pki_types::CertificateDer;

use crate::audit::{AuditAction, AuditEvent, AuthorityKind};
use crate::authority::CertificateAuthority;
use crate::csr;
use crate::error::Error;
use crate::keys::X509Authority;
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
        let signed = sign_ca_certificate(
            crypto,
            authority,
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

/// The downstream CA a certificate is for.
pub(crate) struct CaSubject<'a> {
    /// Its key, a SubjectPublicKeyInfo (from a verified CSR).
    pub(crate) spki: &'a [u8],
    /// Its SPIFFE ID, `spiffe://<trust domain>`.
    pub(crate) uri: &'a str,
    /// A path length limit of its own, below the issuer's.
    pub(crate) path_len_limit: Option<u8>,
}

/// A CA certificate signed by an authority, with what its audit event names.
pub(crate) struct SignedCa {
    /// The new certificate, then the issuer's chain.
    pub(crate) chain: Vec<CertificateDer<'static>>,
    pub(crate) serial: Vec<u8>,
    pub(crate) not_before: u64,
    pub(crate) not_after: u64,
}

/// Signs a CA certificate for `subject` with `authority` (digest 2.7: cA, keyCertSign, the URI
/// SAN, SKID and AKI), valid for at most `ttl`: `notAfter` capped at the authority's, path
/// length at the authority's minus one. Shared by a parent CA and the disk upstream.
pub(crate) fn sign_ca_certificate(
    crypto: &svid::Crypto,
    authority: &X509Authority,
    subject: &CaSubject<'_>,
    ttl: Duration,
    now: SystemTime,
) -> Result<SignedCa, Error> {
    let path_len = match authority.path_len {
        Some(0) => return Err(Error::PathLenExhausted),
        Some(parent) => Some(
            subject
                .path_len_limit
                .map_or(parent - 1, |r| r.min(parent - 1)),
        ),
        None => subject.path_len_limit,
    };
    let now_s = unix_seconds(now);
    let not_after = now_s.saturating_add(ttl.as_secs()).min(authority.not_after);
    if now_s < authority.not_before || not_after <= now_s {
        return Err(Error::AuthorityNotValid);
    }
    let not_before = now_s
        .saturating_sub(x509::BACKDATE_SECONDS)
        .max(authority.not_before);
    let key_id = x509::key_identifier(crypto, subject.spki)?;
    let serial = x509::random_serial(crypto)?;
    let subject_name = x509::ca_subject(&key_id);
    let tbs = x509::ca_tbs(
        &authority.template,
        false,
        &x509::CaFields {
            serial: &serial,
            not_before,
            not_after,
            subject: &subject_name,
            spki: subject.spki,
            key_id: &key_id,
            uri: subject.uri,
            path_len,
        },
    );
    let signature = authority.signer.sign(&tbs)?;
    let cert = x509::certificate(&tbs, authority.signer.algorithm(), &signature);
    let mut chain = Vec::with_capacity(1 + authority.chain.len());
    chain.push(CertificateDer::from(cert));
    chain.extend(authority.chain.iter().cloned());
    authority
        .issued_until
        .fetch_max(not_after, Ordering::AcqRel);
    Ok(SignedCa {
        chain,
        serial,
        not_before,
        not_after,
    })
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
