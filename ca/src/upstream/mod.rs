//! [`UpstreamAuthority`]: where an intermediate CA's certificate comes from, and the checks a
//! certificate returned by an upstream passes before the CA signs with its key. `disk` holds
//! [`DiskUpstream`], an organisation's CA certificate and key read from files.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, SystemTime};

use rustls_pki_types::{CertificateDer, UnixTime};
use spiffe_id::TrustDomain;
use svid::X509Verifier;
use trust_bundle::X509Bundle;

use crate::error::Error;
use crate::keys::X509Authority;
use crate::signer::Signer;
use crate::time::{since_epoch, unix_seconds};
use crate::x509::{self, IssuerTemplate, LeafFields, ParsedCert};

mod disk;

pub use disk::{DiskUpstream, DiskUpstreamBuilder};

/// Where an intermediate CA's certificate comes from.
///
/// A [`CertificateAuthority`] is one (in-process parent), [`DiskUpstream`] another (a CA
/// certificate and key from files); an upstream PKI reached over the network implements it
/// around its own client. Called whenever the CA needs a certificate for a new key: at build
/// time and at each rotation.
///
/// [`CertificateAuthority`]: crate::CertificateAuthority
pub trait UpstreamAuthority: Send + Sync {
    /// Signs a CA certificate for the key in `csr` (PKCS#10 DER, made by this crate) valid for
    /// at most `ttl` from `now`.
    ///
    /// # Errors
    /// Whatever the upstream reports.
    fn sign_intermediate(
        &self,
        csr: &[u8],
        ttl: Duration,
        now: SystemTime,
    ) -> Result<IssuedCa, Error>;
}

/// A CA certificate issued to a downstream CA, with what verifies it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct IssuedCa {
    /// The new CA certificate first, then the issuer's intermediates up to (not including) a
    /// root.
    pub chain: Vec<CertificateDer<'static>>,
    /// The roots the chain verifies against; the downstream CA publishes these as its trust
    /// domain's X.509 authorities.
    pub roots: Vec<CertificateDer<'static>>,
}

impl IssuedCa {
    /// Bundles a chain and its roots.
    pub fn new(chain: Vec<CertificateDer<'static>>, roots: Vec<CertificateDer<'static>>) -> Self {
        Self { chain, roots }
    }
}

/// Accepts an upstream-signed certificate for `signer`'s key after checking it: it is a CA
/// certificate for exactly this key, currently valid, and a probe leaf signed with it
/// verifies against the returned roots. `path_len` is the CA's configured limit.
pub(crate) fn accept(
    trust_domain: &TrustDomain,
    crypto: &svid::Crypto,
    path_len: Option<u8>,
    signer: Arc<dyn Signer>,
    issued: IssuedCa,
    now: SystemTime,
) -> Result<X509Authority, Error> {
    let first = issued.chain.first().ok_or(Error::UpstreamCertificate {
        reason: "empty chain",
    })?;
    if issued.roots.is_empty() {
        return Err(Error::UpstreamCertificate {
            reason: "no roots to verify the chain against",
        });
    }
    let parsed = ParsedCert::parse(first).ok_or(Error::UpstreamCertificate {
        reason: "the certificate does not parse",
    })?;
    if parsed.spki != signer.public_key_spki() {
        return Err(Error::UpstreamCertificate {
            reason: "the certificate is not for this CA's key",
        });
    }
    if !parsed.is_ca {
        return Err(Error::UpstreamCertificate {
            reason: "the certificate is not a CA (cA=false)",
        });
    }
    let now_s = unix_seconds(now);
    if now_s < parsed.not_before || now_s >= parsed.not_after {
        return Err(Error::UpstreamCertificate {
            reason: "the certificate is not valid now",
        });
    }
    let key_id = x509::key_identifier(crypto, signer.public_key_spki())?;
    let path_len = match (parsed.path_len, path_len) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let template = IssuerTemplate::new(signer.algorithm(), parsed.subject.to_vec(), &key_id);
    let authority = X509Authority {
        id: x509::hex(&key_id),
        key_ref: String::new(),
        signer,
        not_before: parsed.not_before,
        not_after: parsed.not_after,
        chain: issued.chain,
        roots: issued.roots,
        path_len,
        template,
        issued_until: AtomicU64::new(0),
    };
    probe(trust_domain, crypto, &authority, now)?;
    Ok(authority)
}

/// Signs a probe leaf (the authority's own public key as subject key) and verifies it against
/// the authority's roots: proves that the certificate chain, the key and the roots fit.
fn probe(
    trust_domain: &TrustDomain,
    crypto: &svid::Crypto,
    authority: &X509Authority,
    now: SystemTime,
) -> Result<(), Error> {
    verify_probe(trust_domain, crypto, authority, now)?.map_err(|_| Error::UpstreamCertificate {
        reason: "a certificate signed with the new key does not verify against the roots",
    })
}

/// As [`probe`], with the verifier's verdict as the inner result (`Err` when the probe leaf
/// does not verify) and failures to make the probe as the outer one.
pub(crate) fn verify_probe(
    trust_domain: &TrustDomain,
    crypto: &svid::Crypto,
    authority: &X509Authority,
    now: SystemTime,
) -> Result<Result<(), svid::Error>, Error> {
    let spki = authority.signer.public_key_spki();
    let key_id = x509::key_identifier(crypto, spki)?;
    let serial = x509::random_serial(crypto)?;
    let now_s = unix_seconds(now);
    let id = trust_domain
        .id()
        .append_path("/spiffe-ca-self-check")
        .map_err(|_| Error::InvalidRequest {
            reason: "trust domain too long for a probe ID",
        })?;
    let tbs = x509::leaf_tbs(
        &authority.template,
        &LeafFields {
            serial: &serial,
            not_before: now_s
                .saturating_sub(x509::BACKDATE_SECONDS)
                .max(authority.not_before),
            not_after: now_s.saturating_add(60).min(authority.not_after),
            subject: None,
            spki,
            key_id: &key_id,
            uri: id.as_str(),
            dns_names: &[],
            rsa: false,
        },
    );
    let signature = authority.signer.sign(&tbs)?;
    let mut chain = vec![CertificateDer::from(x509::certificate(
        &tbs,
        authority.signer.algorithm(),
        &signature,
    ))];
    chain.extend(authority.chain.iter().cloned());
    let bundle = X509Bundle::from_certificates(trust_domain.clone(), authority.roots.clone())
        .map_err(|_| Error::UpstreamCertificate {
            reason: "the roots are not usable certificates",
        })?;
    let verifier = X509Verifier::new(bundle, crypto);
    Ok(verifier
        .verify(&chain, UnixTime::since_unix_epoch(since_epoch(now)))
        .map(|_| ()))
}
