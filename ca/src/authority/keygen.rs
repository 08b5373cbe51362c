//! New signing keys: an X.509 authority (a fresh key with a self-signed certificate, or one an
//! upstream signs and [`upstream::accept`] checks) or a JWT key with a random `kid`, each
//! created by the CA's [`KeyManager`](crate::KeyManager).
//!
//! [`upstream::accept`]: crate::upstream::accept

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::SystemTime;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rustls_pki_types::CertificateDer;

use crate::algorithm::SignatureAlgorithm;
use crate::authority::CertificateAuthority;
use crate::csr;
use crate::error::Error;
use crate::jwt;
use crate::key_manager::{self, KeyPurpose, KeyRequest, ManagedKey};
use crate::keys::{JwtAuthority, X509Authority, jwt_key_parameters};
use crate::signer::Signer;
use crate::time::unix_seconds;
use crate::upstream;
use crate::x509::{self, IssuerTemplate};
use svid::KeyType;

impl CertificateAuthority {
    /// Makes a new X.509 authority: a new key with a self-signed certificate, or one signed by
    /// the upstream and checked.
    pub(crate) fn new_x509_authority(&self, now: SystemTime) -> Result<Arc<X509Authority>, Error> {
        let config = &self.inner.config;
        let key = self.new_key(
            KeyPurpose::X509Authority,
            config.x509_key_type,
            SignatureAlgorithm::for_x509(config.x509_key_type),
        )?;
        let signer = key.signer;
        let mut authority = match &self.inner.upstream {
            None => self.self_signed_authority(signer, now)?,
            Some(upstream) => {
                let key_id = x509::key_identifier(&self.inner.crypto, signer.public_key_spki())?;
                let csr = csr::build(signer.as_ref(), &x509::ca_subject(&key_id))?;
                let issued = upstream.sign_intermediate(&csr, config.ca_ttl, now)?;
                upstream::accept(
                    &self.inner.trust_domain,
                    &self.inner.crypto,
                    config.path_len,
                    signer,
                    issued,
                    now,
                )?
            }
        };
        authority.key_ref = key.key_ref;
        Ok(Arc::new(authority))
    }

    fn self_signed_authority(
        &self,
        signer: Arc<dyn Signer>,
        now: SystemTime,
    ) -> Result<X509Authority, Error> {
        let config = &self.inner.config;
        let key_id = x509::key_identifier(&self.inner.crypto, signer.public_key_spki())?;
        let subject = x509::ca_subject(&key_id);
        let template = IssuerTemplate::new(signer.algorithm(), subject.clone(), &key_id);
        let now_s = unix_seconds(now);
        let not_before = now_s.saturating_sub(x509::BACKDATE_SECONDS);
        let not_after = now_s
            .saturating_add(config.ca_ttl.as_secs())
            .min(crate::der::time::MAX_SECONDS);
        let serial = x509::random_serial(&self.inner.crypto)?;
        let uri = self.spiffe_id();
        let tbs = x509::ca_tbs(
            &template,
            true,
            &x509::CaFields {
                serial: &serial,
                not_before,
                not_after,
                subject: &subject,
                spki: signer.public_key_spki(),
                key_id: &key_id,
                uri: uri.as_str(),
                path_len: config.path_len,
            },
        );
        let signature = signer.sign(&tbs)?;
        let cert = CertificateDer::from(x509::certificate(&tbs, signer.algorithm(), &signature));
        let authority = X509Authority {
            id: x509::hex(&key_id),
            key_ref: String::new(),
            signer,
            chain: Vec::new(),
            roots: vec![cert],
            not_before,
            not_after,
            path_len: config.path_len,
            template,
            issued_until: AtomicU64::new(0),
        };
        // A key that does not sign what verifies (a faulty token, a wrong key behind a
        // reference) is refused now, while the previous authority still signs, rather than at
        // the first mint after it takes over.
        upstream::verify_probe(
            &self.inner.trust_domain,
            &self.inner.crypto,
            &authority,
            now,
        )?
        .map_err(Error::SelfCheck)?;
        Ok(authority)
    }

    /// Makes a new JWT signing key with a fresh random `kid`.
    pub(crate) fn new_jwt_authority(&self, now: SystemTime) -> Result<Arc<JwtAuthority>, Error> {
        let config = &self.inner.config;
        let (algorithm, key_type) = jwt_key_parameters(config.jwt_algorithm)?;
        let key = self.new_key(KeyPurpose::JwtAuthority, key_type, algorithm)?;
        let mut kid = [0u8; 16];
        self.inner
            .crypto
            .fill_random(&mut kid)
            .map_err(|_| Error::KeyGeneration)?;
        let kid = URL_SAFE_NO_PAD.encode(kid);
        let now_s = unix_seconds(now);
        let authority = jwt::authority(
            kid,
            key.key_ref,
            key.signer,
            config.jwt_algorithm,
            now_s,
            now_s.saturating_add(config.jwt_key_ttl.as_secs()),
        );
        Ok(Arc::new(authority))
    }

    /// A new key from the key manager, checked to be what was asked for.
    fn new_key(
        &self,
        purpose: KeyPurpose,
        key_type: KeyType,
        algorithm: SignatureAlgorithm,
    ) -> Result<ManagedKey, Error> {
        let request = KeyRequest::new(
            purpose,
            key_type,
            algorithm,
            self.inner.trust_domain.clone(),
        );
        key_manager::generate_checked(self.inner.key_manager.as_ref(), &request)
    }
}
