//! X.509-SVIDs: for a key the CA generates, for a CSR's key, or for a supplied public key.

use std::sync::atomic::Ordering;
use std::time::SystemTime;

use rustls_pki_types::CertificateDer;
use svid::{PrivateKey, X509Svid};

use crate::audit::{AuditAction, AuditEvent, AuthorityKind};
use crate::authority::CertificateAuthority;
use crate::csr;
use crate::error::Error;
use crate::keys::Hot;
use crate::policy::CredentialKind;
use crate::request::X509SvidRequest;
use crate::self_check;
use crate::signer::software::generation_error;
use crate::spki::{is_supported_spki, spki_is_rsa, spki_of_key};
use crate::time::unix_seconds;
use crate::x509::{self, LeafFields};

impl CertificateAuthority {
    /// Mints an X.509-SVID with a key the CA generates (the request's key type, default
    /// P-256).
    ///
    /// The chain is the leaf followed by this CA's intermediates up to, not including, the root.
    /// The leaf follows the issuance checklist (digest 2.7): one URI SAN, critical keyUsage
    /// `digitalSignature` (plus `keyEncipherment` for RSA), EKU serverAuth + clientAuth,
    /// `cA=false`, SKID/AKI, a random 128-bit serial, `notBefore` 10 s in the past, `notAfter`
    /// capped at the CA's own.
    ///
    /// # Errors
    /// [`Error::TrustDomainMismatch`], [`Error::RootIdForWorkload`], [`Error::PolicyDenied`],
    /// [`Error::AuthorityNotValid`], key generation, signing, self-check or audit failures.
    pub fn mint_x509_svid(
        &self,
        request: &X509SvidRequest,
        now: SystemTime,
    ) -> Result<X509Svid, Error> {
        self.admit(
            request.spiffe_id(),
            request.requester_label(),
            CredentialKind::X509Svid,
        )?;
        let key_type = request.key_type_or_default();
        // The public half comes from the generation; the provider loads the key only when
        // its holder first signs with it (see `PrivateKey::generate`).
        let key =
            PrivateKey::generate(key_type, &self.inner.crypto).map_err(|error| match error {
                svid::KeyError::GenerationUnsupported(_) | svid::KeyError::GenerationFailed => {
                    generation_error(error)
                }
                _ => Error::KeyRejected,
            })?;
        let spki = spki_of_key(key.algorithm(), key.public_key()).ok_or(Error::Unsupported {
            what: "key algorithm",
        })?;
        let hot = self.hot()?;
        let (chain, issued) = self.sign_leaf(&hot, request, &spki, key_type.is_rsa(), now)?;
        let svid = X509Svid::new(chain, key).map_err(Error::SelfCheck)?;
        self_check::verify_x509(self.inner.config.self_check, &hot, svid.chain(), now)?;
        self.finish_leaf(&hot, request, issued, now)?;
        Ok(svid)
    }

    /// Mints an X.509-SVID for the public key of a PKCS#10 CSR. The CSR's signature is
    /// verified (proof of possession); its subject and requested names are ignored: `request`
    /// decides the SPIFFE ID, DNS names and subject. Returns the chain, leaf first.
    ///
    /// # Errors
    /// [`Error::Csr`] for a malformed, unsupported or badly signed CSR, then as
    /// [`mint_x509_svid`](Self::mint_x509_svid).
    pub fn mint_x509_svid_for_csr(
        &self,
        csr_der: &[u8],
        request: &X509SvidRequest,
        now: SystemTime,
    ) -> Result<Vec<CertificateDer<'static>>, Error> {
        self.admit(
            request.spiffe_id(),
            request.requester_label(),
            CredentialKind::X509Svid,
        )?;
        let spki = csr::public_key_of(csr_der, &self.inner.crypto)?;
        let rsa = spki_is_rsa(&spki);
        let hot = self.hot()?;
        let (chain, issued) = self.sign_leaf(&hot, request, &spki, rsa, now)?;
        self_check::verify_x509(self.inner.config.self_check, &hot, &chain, now)?;
        self.finish_leaf(&hot, request, issued, now)?;
        Ok(chain)
    }

    /// Mints an X.509-SVID for a public key the caller already holds as a DER
    /// SubjectPublicKeyInfo (P-256, P-384, RSA or Ed25519), e.g. one received over a channel
    /// that already proved possession. Unlike [`mint_x509_svid_for_csr`](Self::mint_x509_svid_for_csr)
    /// there is no proof of possession here: the caller vouches for it. Returns the chain, leaf
    /// first.
    ///
    /// # Errors
    /// [`Error::InvalidRequest`] for a malformed or unsupported key, then as
    /// [`mint_x509_svid`](Self::mint_x509_svid).
    pub fn mint_x509_svid_for_public_key(
        &self,
        spki_der: &[u8],
        request: &X509SvidRequest,
        now: SystemTime,
    ) -> Result<Vec<CertificateDer<'static>>, Error> {
        self.admit(
            request.spiffe_id(),
            request.requester_label(),
            CredentialKind::X509Svid,
        )?;
        if !is_supported_spki(spki_der) {
            return Err(Error::InvalidRequest {
                reason: "not a DER SubjectPublicKeyInfo of a P-256, P-384, RSA or Ed25519 key",
            });
        }
        let rsa = spki_is_rsa(spki_der);
        let hot = self.hot()?;
        let (chain, issued) = self.sign_leaf(&hot, request, spki_der, rsa, now)?;
        self_check::verify_x509(self.inner.config.self_check, &hot, &chain, now)?;
        self.finish_leaf(&hot, request, issued, now)?;
        Ok(chain)
    }

    /// Signs the leaf; returns the chain and (serial hex, notBefore, notAfter).
    fn sign_leaf(
        &self,
        hot: &Hot,
        request: &X509SvidRequest,
        spki: &[u8],
        rsa: bool,
        now: SystemTime,
    ) -> Result<(Vec<CertificateDer<'static>>, Issued), Error> {
        let crypto = &self.inner.crypto;
        let authority = &hot.x509;
        let now_s = unix_seconds(now);
        let ttl = request.ttl_or(self.inner.config.x509_svid_ttl);
        let not_after = now_s.saturating_add(ttl.as_secs()).min(authority.not_after);
        if now_s < authority.not_before || not_after <= now_s {
            return Err(Error::AuthorityNotValid);
        }
        let not_before = now_s
            .saturating_sub(x509::BACKDATE_SECONDS)
            .max(authority.not_before);
        let dns_names = x509::dns_names(request.dns_name_list())?;
        let subject = match request.subject_name() {
            Some(dn) if !dn.is_empty() => Some(dn.to_der()?),
            _ => None,
        };
        let key_id = x509::key_identifier(crypto, spki)?;
        let serial = x509::random_serial(crypto)?;
        let uri = request.spiffe_id().as_str();
        let tbs = x509::leaf_tbs(
            &authority.template,
            &LeafFields {
                serial: &serial,
                not_before,
                not_after,
                subject: subject.as_deref(),
                spki,
                key_id: &key_id,
                uri,
                dns_names: &dns_names,
                rsa,
            },
        );
        let signature = authority.signer.sign(&tbs)?;
        let leaf = x509::certificate(&tbs, authority.signer.algorithm(), &signature);
        let mut chain = Vec::with_capacity(1 + authority.chain.len());
        chain.push(CertificateDer::from(leaf));
        chain.extend(authority.chain.iter().cloned());
        Ok((
            chain,
            Issued {
                serial,
                not_before,
                not_after,
            },
        ))
    }

    fn finish_leaf(
        &self,
        hot: &Hot,
        request: &X509SvidRequest,
        issued: Issued,
        now: SystemTime,
    ) -> Result<(), Error> {
        hot.x509
            .issued_until
            .fetch_max(issued.not_after, Ordering::AcqRel);
        self.audit_with(|| AuditEvent {
            action: AuditAction::X509SvidIssued,
            trust_domain: self.inner.trust_domain.to_string(),
            authority_kind: AuthorityKind::X509,
            authority_id: hot.x509.id.clone(),
            spiffe_id: Some(request.spiffe_id().to_string()),
            serial: Some(x509::serial_hex(&issued.serial)),
            not_before: Some(issued.not_before),
            not_after: Some(issued.not_after),
            requester: request.requester_label().map(str::to_owned),
            at: unix_seconds(now),
        })
    }
}

struct Issued {
    /// DER INTEGER.
    serial: Vec<u8>,
    not_before: u64,
    not_after: u64,
}
