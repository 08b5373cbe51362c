//! [`DiskUpstream`]: an organisation's existing CA certificate and private key, read from
//! files, signing this CA's intermediate certificates (SPIRE's `disk` UpstreamAuthority).
//!
//! Everything that can be wrong with the files is found when they are loaded, each as a
//! [`DiskUpstreamError`] naming the file: the key is the certificate's, the certificate may
//! sign CAs and is valid now, and a certificate signed with the key verifies through the
//! file's chain to the roots. `files` reads the files and holds the loaded key.

use core::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, SystemTime};

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem;
use spiffe_id::TrustDomain;
use svid::Crypto;

use crate::ca_cert::CaSubject;
use crate::csr;
use crate::error::{DiskUpstreamError, Error};
use crate::keys::X509Authority;
use crate::signer::Signer;
use crate::time::unix_seconds;
use crate::upstream::{IssuedCa, UpstreamAuthority, verify_probe};
use crate::x509::{self, IssuerTemplate, ParsedCert};

mod files;

use files::{load_key, read_certificates};

/// An existing CA (an organisation's own PKI) whose certificate and private key are files:
/// it signs this CA's intermediate certificates, as SPIRE's `disk` UpstreamAuthority does.
///
/// The certificate file holds the upstream CA certificate, optionally followed by the
/// intermediates up to its root. A self-signed certificate is its own root; otherwise the
/// [bundle](DiskUpstreamBuilder::bundle_path) file holds the root certificates it chains to.
/// The CA's published bundle then holds those roots, so every peer that trusts the
/// organisation's root trusts this CA's SVIDs.
///
/// The key file is PEM: PKCS#8 (`PRIVATE KEY`), SEC1 (`EC PRIVATE KEY`) or PKCS#1 (`RSA PRIVATE
/// KEY`), loaded by the rustls provider of the [`Crypto`]. A key file readable by group or
/// others is refused ([`Error::KeyFilePermissions`]); the key bytes read are zeroized once the
/// provider has loaded them, and `Debug` never shows the key. The files are read once, at
/// [`load`](DiskUpstreamBuilder::load): replacing them needs a new `DiskUpstream` (and a new
/// CA built on it).
///
/// Each certificate it signs is a CA certificate for the CSR's key with the trust domain's
/// SPIFFE ID as URI SAN (digest 2.7), its `notAfter` capped at the upstream chain's, its path
/// length one below what the upstream chain allows, and its AKI the upstream certificate's
/// SKI.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use ca::{CertificateAuthority, DiskUpstream, X509SvidRequest};
/// # use std::os::unix::fs::PermissionsExt;
/// # let dir = tempfile::tempdir()?;
/// # let (cert_path, key_path) = (dir.path().join("org-ca.pem"), dir.path().join("org-ca.key"));
/// # let key = rcgen::KeyPair::generate()?;
/// # let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
/// # params.distinguished_name.push(rcgen::DnType::CommonName, "Example Org Root CA");
/// # params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
/// # params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign];
/// # params.not_after = rcgen::date_time_ymd(2100, 1, 1);
/// # let org_root = params.self_signed(&key)?;
/// # std::fs::write(&cert_path, org_root.pem())?;
/// # std::fs::write(&key_path, key.serialize_pem())?;
/// # std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600))?;
/// let now = SystemTime::now();
/// // The organisation's root CA: a self-signed certificate and its key (mode 0600).
/// let upstream = DiskUpstream::builder(&cert_path, &key_path).load("example.org".parse()?, now)?;
///
/// let ca = CertificateAuthority::builder("example.org".parse()?)
///     .upstream(std::sync::Arc::new(upstream))
///     .ca_ttl(Duration::from_secs(6 * 3600))
///     .build(now)?;
/// // The bundle holds the organisation's root, not a key of this CA.
/// assert_eq!(ca.bundle().x509_bundle().authorities()[0].as_ref(), org_root.der().as_ref());
///
/// let svid = ca.mint_x509_svid(&X509SvidRequest::new("spiffe://example.org/web".parse()?), now)?;
/// assert_eq!(svid.chain().len(), 2); // leaf + this CA; the root is in the bundle
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct DiskUpstream {
    trust_domain: TrustDomain,
    crypto: Crypto,
    /// The upstream key and certificate as an issuing authority: `chain` is the certificate
    /// file's certificates that are not roots, `path_len` what the chain still allows below
    /// the upstream certificate.
    authority: X509Authority,
    /// The upstream CA certificate (the certificate file's first).
    certificate: CertificateDer<'static>,
    cert_path: PathBuf,
    key_path: PathBuf,
    bundle_path: Option<PathBuf>,
}

/// Where a [`DiskUpstream`]'s files are; see [`DiskUpstream::builder`].
#[derive(Debug)]
pub struct DiskUpstreamBuilder {
    cert_path: PathBuf,
    key_path: PathBuf,
    bundle_path: Option<PathBuf>,
    crypto: Option<Crypto>,
}

impl DiskUpstream {
    /// Starts loading the CA certificate file `cert_path` (PEM: the upstream CA certificate,
    /// then any intermediates) and its private key file `key_path` (PEM, mode 0600 or
    /// stricter).
    pub fn builder(
        cert_path: impl Into<PathBuf>,
        key_path: impl Into<PathBuf>,
    ) -> DiskUpstreamBuilder {
        #[cfg(any(feature = "ring", feature = "aws-lc-rs"))]
        let crypto = Some(Crypto::default());
        #[cfg(not(any(feature = "ring", feature = "aws-lc-rs")))]
        let crypto = None;
        DiskUpstreamBuilder {
            cert_path: cert_path.into(),
            key_path: key_path.into(),
            bundle_path: None,
            crypto,
        }
    }

    /// The upstream CA certificate (the first of the certificate file).
    pub fn certificate(&self) -> &CertificateDer<'static> {
        &self.certificate
    }

    /// The roots the upstream chain verifies against: what a CA under it publishes.
    pub fn roots(&self) -> &[CertificateDer<'static>] {
        &self.authority.roots
    }
}

impl DiskUpstreamBuilder {
    /// The PEM file of root certificates the upstream certificate chains to. Required unless
    /// the certificate is self-signed (then it is the root).
    #[must_use]
    pub fn bundle_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.bundle_path = Some(path.into());
        self
    }

    /// The crypto that loads the key and verifies signatures; default `Crypto::default()`.
    /// Required when neither the `ring` nor the `aws-lc-rs` feature is on.
    #[must_use]
    pub fn crypto(mut self, crypto: Crypto) -> Self {
        self.crypto = Some(crypto);
        self
    }

    /// Reads and checks the files for a CA of `trust_domain` at `now`.
    ///
    /// # Errors
    /// [`Error::KeyFilePermissions`] when group or others may read the key file;
    /// [`Error::DiskUpstream`] for a file that cannot be read, holds no usable PEM, a key
    /// that is not the certificate's, a certificate that may not sign CAs or is not valid at
    /// `now`, or a chain that does not verify to the roots; [`Error::Unsupported`] without a
    /// crypto.
    pub fn load(self, trust_domain: TrustDomain, now: SystemTime) -> Result<DiskUpstream, Error> {
        let crypto = self.crypto.ok_or(Error::Unsupported {
            what: "no crypto: enable the `ring` or `aws-lc-rs` feature, or pass one to `crypto`",
        })?;
        let cert_path = self.cert_path;
        let file_certs = read_certificates(&cert_path)?;
        let certificate = file_certs
            .first()
            .cloned()
            .ok_or_else(|| DiskUpstreamError::Pem {
                path: cert_path.clone(),
                expected: "CERTIFICATE",
                source: pem::Error::NoItemsFound,
            })?;
        let malformed = || DiskUpstreamError::MalformedCertificate {
            path: cert_path.clone(),
        };
        let parsed = ParsedCert::parse(&certificate).ok_or_else(malformed)?;
        let signer = load_key(&self.key_path, &cert_path, &parsed, &crypto)?;
        check_ca(&cert_path, &parsed, now)?;

        let roots = match &self.bundle_path {
            Some(bundle_path) => {
                let roots = read_certificates(bundle_path)?;
                if !roots.iter().all(|root| ParsedCert::parse(root).is_some()) {
                    return Err(DiskUpstreamError::MalformedCertificate {
                        path: bundle_path.clone(),
                    }
                    .into());
                }
                roots
            }
            None if parsed.issuer == parsed.subject => vec![certificate.clone()],
            None => return Err(DiskUpstreamError::BundleRequired { path: cert_path }.into()),
        };
        let chain: Vec<CertificateDer<'static>> = file_certs
            .into_iter()
            .filter(|cert| !roots.contains(cert))
            .collect();
        let path = issuing_path(&chain, &roots, &certificate).ok_or_else(malformed)?;
        let path_len = allowed_below(&path).ok_or_else(|| DiskUpstreamError::NotCa {
            path: cert_path.clone(),
            reason: "the path length constraints of its chain allow no CA below it",
        })?;

        let key_id = match parsed.subject_key_id {
            Some(id) => id.to_vec(),
            None => x509::key_identifier(&crypto, parsed.spki)?.to_vec(),
        };
        let template = IssuerTemplate::new(signer.algorithm(), parsed.subject.to_vec(), &key_id);
        let authority = X509Authority {
            id: x509::hex(&key_id),
            // The upstream's key lives in its files, not in the CA's key manager.
            key_ref: String::new(),
            signer: Arc::new(signer),
            // The chain's certificates all have to be valid for what is signed to verify.
            not_before: path.iter().map(|c| c.not_before).max().unwrap_or(0),
            not_after: path.iter().map(|c| c.not_after).min().unwrap_or(0),
            chain,
            roots,
            path_len,
            template,
            issued_until: AtomicU64::new(0),
        };
        if let Err(source) = verify_probe(&trust_domain, &crypto, &authority, now)? {
            return Err(DiskUpstreamError::ChainNotVerified {
                roots_path: self
                    .bundle_path
                    .clone()
                    .unwrap_or_else(|| cert_path.clone()),
                path: cert_path,
                source,
            }
            .into());
        }
        Ok(DiskUpstream {
            trust_domain,
            crypto,
            authority,
            certificate,
            cert_path,
            key_path: self.key_path,
            bundle_path: self.bundle_path,
        })
    }
}

impl UpstreamAuthority for DiskUpstream {
    /// Signs a CA certificate for the CSR's key (its signature verified; the requested names
    /// ignored) with the trust domain's ID as URI SAN.
    fn sign_intermediate(
        &self,
        csr: &[u8],
        ttl: Duration,
        now: SystemTime,
    ) -> Result<IssuedCa, Error> {
        let spki = csr::public_key_of(csr, &self.crypto)?;
        let uri = self.trust_domain.id();
        let signed = self.authority.sign_ca_certificate(
            &self.crypto,
            &CaSubject {
                spki: &spki,
                uri: uri.as_str(),
                path_len_limit: None,
            },
            ttl,
            now,
        )?;
        Ok(IssuedCa::new(signed.chain, self.authority.roots.clone()))
    }
}

impl fmt::Debug for DiskUpstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DiskUpstream")
            .field("trust_domain", &self.trust_domain)
            .field("cert_path", &self.cert_path)
            .field("key_path", &self.key_path)
            .field("bundle_path", &self.bundle_path)
            .field("authority_id", &self.authority.id)
            .field("not_after", &self.authority.not_after)
            .finish_non_exhaustive()
    }
}

/// The upstream certificate must be a CA that may sign certificates (cA=true and keyUsage
/// keyCertSign, as X509-SVID 4.1 and 4.3 ask of every signing certificate) and valid at `now`.
fn check_ca(path: &Path, cert: &ParsedCert<'_>, now: SystemTime) -> Result<(), Error> {
    let not_ca = |reason| DiskUpstreamError::NotCa {
        path: path.to_path_buf(),
        reason,
    };
    if !cert.is_ca {
        return Err(not_ca("basicConstraints cA is not true").into());
    }
    if cert.key_cert_sign != Some(true) {
        return Err(not_ca("keyUsage does not have keyCertSign").into());
    }
    let now_s = unix_seconds(now);
    if now_s < cert.not_before || now_s >= cert.not_after {
        return Err(DiskUpstreamError::NotValid {
            path: path.to_path_buf(),
            not_before: cert.not_before,
            not_after: cert.not_after,
        }
        .into());
    }
    Ok(())
}

/// The certificates from the upstream certificate up to its root: `chain` (the certificate
/// file's non-roots, upstream first), then the root that issued the last of them; the upstream
/// certificate alone when it is a root. `None` when one does not parse.
fn issuing_path<'a>(
    chain: &'a [CertificateDer<'static>],
    roots: &'a [CertificateDer<'static>],
    certificate: &'a CertificateDer<'static>,
) -> Option<Vec<ParsedCert<'a>>> {
    if chain.is_empty() {
        return Some(vec![ParsedCert::parse(certificate)?]);
    }
    let mut path = chain
        .iter()
        .map(|cert| ParsedCert::parse(cert))
        .collect::<Option<Vec<_>>>()?;
    let issuer = path.last().map(|last| last.issuer)?;
    if let Some(root) = roots
        .iter()
        .filter_map(|root| ParsedCert::parse(root))
        .find(|root| root.subject == issuer)
    {
        path.push(root);
    }
    Some(path)
}

/// How many CAs the path's pathLenConstraints allow below the upstream certificate (`path`
/// starts with it; the certificate at index `i` already has `i` CAs below it): `Some(None)`
/// unlimited, `None` none (RFC 5280 4.2.1.9).
fn allowed_below(path: &[ParsedCert<'_>]) -> Option<Option<u8>> {
    let mut allowed: Option<u8> = None;
    for (below, cert) in path.iter().enumerate() {
        if let Some(max) = cert.path_len {
            let left = usize::from(max).checked_sub(below)?;
            let left = u8::try_from(left).unwrap_or(u8::MAX);
            allowed = Some(allowed.map_or(left, |a| a.min(left)));
        }
    }
    match allowed {
        Some(0) => None,
        other => Some(other),
    }
}
