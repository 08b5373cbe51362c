//! Signing a CA certificate for a downstream CA's key with an [`X509Authority`]: what a parent
//! [`CertificateAuthority`](crate::CertificateAuthority) and the
//! [`DiskUpstream`](crate::DiskUpstream) share (below both, so neither imports the other).

use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use rustls_pki_types::CertificateDer;

use crate::error::Error;
use crate::keys::X509Authority;
use crate::time::unix_seconds;
use crate::x509;

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

impl X509Authority {
    /// Signs a CA certificate for `subject` (digest 2.7: cA, keyCertSign, the URI SAN, SKID and
    /// AKI), valid for at most `ttl`: `notAfter` capped at this authority's, path length at its
    /// minus one. Shared by a parent CA and the disk upstream.
    pub(crate) fn sign_ca_certificate(
        &self,
        crypto: &svid::Crypto,
        subject: &CaSubject<'_>,
        ttl: Duration,
        now: SystemTime,
    ) -> Result<SignedCa, Error> {
        let path_len = match self.path_len {
            Some(0) => return Err(Error::PathLenExhausted),
            Some(parent) => Some(
                subject
                    .path_len_limit
                    .map_or(parent - 1, |r| r.min(parent - 1)),
            ),
            None => subject.path_len_limit,
        };
        let now_s = unix_seconds(now);
        let not_after = now_s.saturating_add(ttl.as_secs()).min(self.not_after);
        if now_s < self.not_before || not_after <= now_s {
            return Err(Error::AuthorityNotValid);
        }
        let not_before = now_s
            .saturating_sub(x509::BACKDATE_SECONDS)
            .max(self.not_before);
        let key_id = x509::key_identifier(crypto, subject.spki)?;
        let serial = x509::random_serial(crypto)?;
        let subject_name = x509::ca_subject(&key_id);
        let tbs = x509::ca_tbs(
            &self.template,
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
        let signature = self.signer.sign(&tbs)?;
        let cert = x509::certificate(&tbs, self.signer.algorithm(), &signature);
        let mut chain = Vec::with_capacity(1 + self.chain.len());
        chain.push(CertificateDer::from(cert));
        chain.extend(self.chain.iter().cloned());
        self.issued_until.fetch_max(not_after, Ordering::AcqRel);
        Ok(SignedCa {
            chain,
            serial,
            not_before,
            not_after,
        })
    }
}
