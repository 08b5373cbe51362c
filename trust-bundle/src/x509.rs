//! [`X509Bundle`]: the X.509 authorities of one trust domain.

use std::fmt;
use std::sync::Arc;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::{PemObject, SectionKind};
use spiffe_id::TrustDomain;

use crate::certificate::{check_certificate, first_occurrences, split_certificates};
use crate::generation::next_generation;
use crate::json::ArrayWriter;
use crate::jwk;
use crate::key::AuthorityKey;
use crate::{Error, MAX_BUNDLE_BYTES, MAX_KEYS_PER_BUNDLE};

/// The X.509 authorities (CA certificates) of one trust domain: the trust anchors for that
/// domain's X509-SVIDs, and for nothing else (SPIFFE bundle 3; digest W-API-11).
///
/// Each certificate has been checked for DER framing, the outline of a certificate and a
/// subject public key that is RSA, EC P-256/P-384/P-521 or Ed25519; signatures, validity and
/// extensions are checked by the verifier that uses the bundle. An empty bundle is valid and
/// authenticates nothing (SPIFFE bundle 4.1.3; digest B-7).
///
/// The value is immutable and cheap to clone (the certificates are shared). Equality compares
/// the trust domain and the certificates in order, not the [generation](Self::generation).
///
/// ```
/// use trust_bundle::X509Bundle;
///
/// let td = "example.org".parse()?;
/// // A Workload API bundle is DER certificates back to back (digest 5.4).
/// let der = include_bytes!("../tests/data/certs/ca-ec-p256.der");
/// let mut two = der.to_vec();
/// two.extend_from_slice(include_bytes!("../tests/data/certs/ca-rsa-2048.der"));
///
/// let bundle = X509Bundle::from_der(td, &two)?;
/// assert_eq!(bundle.authorities().len(), 2);
/// assert_eq!(bundle.authorities()[0].as_ref(), &der[..]);
/// assert_eq!(bundle.to_der(), two);
///
/// // Trailing garbage is an error, not something to skip.
/// two.push(0);
/// assert!(X509Bundle::from_der("example.org".parse()?, &two).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct X509Bundle {
    trust_domain: TrustDomain,
    authorities: Arc<Authorities>,
    generation: u64,
}

/// The certificates and, in parallel, their keys (for the JWK form).
#[derive(Debug, Default, PartialEq, Eq)]
struct Authorities {
    certificates: Vec<CertificateDer<'static>>,
    keys: Vec<AuthorityKey>,
}

impl X509Bundle {
    /// An empty bundle: the trust domain has no X.509 authorities.
    pub fn new(trust_domain: TrustDomain) -> Self {
        Self::from_checked(trust_domain, Vec::new())
    }

    /// Parses concatenated DER certificates, the form the Workload API uses for bundles
    /// (digest 5.4). Empty input gives an empty bundle; a certificate that appears twice is
    /// kept once.
    ///
    /// A Workload API client should treat an empty `bundle` field as a protocol error rather
    /// than call this (Workload API 4.5; digest 5.10).
    ///
    /// # Errors
    /// [`Error::TooLarge`] over [`MAX_BUNDLE_BYTES`](crate::MAX_BUNDLE_BYTES) (checked first),
    /// [`Error::TooManyKeys`], or [`Error::Certificate`] with the position and the
    /// [`CertificateError`](crate::CertificateError), including trailing garbage, truncation,
    /// indefinite or non-minimal lengths.
    pub fn from_der(trust_domain: TrustDomain, der: &[u8]) -> Result<Self, Error> {
        check_len(der)?;
        let mut builder = Builder::default();
        split_certificates(der, |index, certificate| {
            builder.push(index, CertificateDer::from(certificate.to_vec()))
        })?;
        Ok(Self::from_checked(trust_domain, builder.finish()))
    }

    /// Parses PEM `CERTIFICATE` sections (RFC 7468). Text outside sections and sections with
    /// labels rustls-pki-types does not know are skipped; known non-certificate sections (a
    /// private key, a CRL, ...) are refused, since a trust bundle file holds certificates
    /// only. A certificate that appears twice is kept once.
    ///
    /// # Errors
    /// [`Error::TooLarge`] (checked first), [`Error::Pem`], [`Error::PemNotCertificate`],
    /// [`Error::NoCertificates`], [`Error::TooManyKeys`] or [`Error::Certificate`].
    pub fn from_pem(trust_domain: TrustDomain, pem: &[u8]) -> Result<Self, Error> {
        check_len(pem)?;
        let mut builder = Builder::default();
        for (index, section) in <(SectionKind, Vec<u8>)>::pem_slice_iter(pem).enumerate() {
            let (kind, der) = section.map_err(Error::Pem)?;
            if kind != SectionKind::Certificate {
                return Err(Error::PemNotCertificate { index, kind });
            }
            builder.push(index, CertificateDer::from(der))?;
        }
        if builder.authorities.is_empty() {
            return Err(Error::NoCertificates);
        }
        Ok(Self::from_checked(trust_domain, builder.finish()))
    }

    /// Takes certificates that are already DER, checking each one as [`X509Bundle::from_der`]
    /// does. A certificate that appears twice is kept once.
    ///
    /// # Errors
    /// [`Error::TooManyKeys`] or [`Error::Certificate`].
    pub fn from_certificates<I>(trust_domain: TrustDomain, certificates: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = CertificateDer<'static>>,
    {
        let mut builder = Builder::default();
        for (index, certificate) in certificates.into_iter().enumerate() {
            builder.push(index, certificate)?;
        }
        Ok(Self::from_checked(trust_domain, builder.finish()))
    }

    /// Builds a bundle from certificates that were checked and deduplicated by the caller.
    pub(crate) fn from_checked(
        trust_domain: TrustDomain,
        authorities: Vec<(CertificateDer<'static>, AuthorityKey)>,
    ) -> Self {
        let (certificates, keys) = authorities.into_iter().unzip();
        Self {
            trust_domain,
            authorities: Arc::new(Authorities { certificates, keys }),
            generation: next_generation(),
        }
    }

    /// The trust domain these authorities are for.
    pub fn trust_domain(&self) -> &TrustDomain {
        &self.trust_domain
    }

    /// The CA certificates, DER, in the order they were given.
    pub fn authorities(&self) -> &[CertificateDer<'static>] {
        &self.authorities.certificates
    }

    /// The number of authorities.
    pub fn len(&self) -> usize {
        self.authorities.certificates.len()
    }

    /// Whether there are no authorities, so that no X509-SVID of this trust domain can be
    /// valid (SPIFFE bundle 4.1.3; digest B-7).
    pub fn is_empty(&self) -> bool {
        self.authorities.certificates.is_empty()
    }

    /// The certificates concatenated, the form of Workload API bundle fields (digest 5.4).
    pub fn to_der(&self) -> Vec<u8> {
        self.authorities()
            .iter()
            .flat_map(|der| der.iter().copied())
            .collect()
    }

    /// A number taken from a process-wide counter when this bundle was built; clones share it.
    /// See [`X509BundleSource::generation`](crate::X509BundleSource::generation).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Appends an `x509-svid` entry per authority to a `keys` array.
    pub(crate) fn write_entries(&self, keys: &mut ArrayWriter<'_>) {
        let authorities = &self.authorities;
        for (der, key) in authorities.certificates.iter().zip(&authorities.keys) {
            jwk::write_authority(keys.item(), der, key);
        }
    }
}

impl PartialEq for X509Bundle {
    fn eq(&self, other: &Self) -> bool {
        self.trust_domain == other.trust_domain && self.authorities == other.authorities
    }
}

impl Eq for X509Bundle {}

impl fmt::Debug for X509Bundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("X509Bundle")
            .field("trust_domain", &self.trust_domain)
            .field("authorities", &self.len())
            .field("generation", &self.generation)
            .finish()
    }
}

/// Refuses input over [`MAX_BUNDLE_BYTES`] before any parsing.
fn check_len(input: &[u8]) -> Result<(), Error> {
    if input.len() > MAX_BUNDLE_BYTES {
        return Err(Error::TooLarge {
            len: input.len(),
            max: MAX_BUNDLE_BYTES,
        });
    }
    Ok(())
}

/// Collects checked authorities under the count limit.
#[derive(Default)]
struct Builder {
    authorities: Vec<(CertificateDer<'static>, AuthorityKey)>,
}

impl Builder {
    fn push(&mut self, index: usize, certificate: CertificateDer<'static>) -> Result<(), Error> {
        if self.authorities.len() >= MAX_KEYS_PER_BUNDLE {
            return Err(Error::TooManyKeys {
                max: MAX_KEYS_PER_BUNDLE,
            });
        }
        let key = check_certificate(&certificate)
            .map_err(|source| Error::Certificate { index, source })?;
        self.authorities.push((certificate, key));
        Ok(())
    }

    /// The authorities, each certificate kept at its first occurrence only.
    fn finish(self) -> Vec<(CertificateDer<'static>, AuthorityKey)> {
        let first = first_occurrences(self.authorities.iter().map(|(der, _)| der.as_ref()));
        self.authorities
            .into_iter()
            .zip(first)
            .filter_map(|(authority, first)| first.then_some(authority))
            .collect()
    }
}
