//! [`X509Svid`]: a workload's own X.509-SVID (chain + private key).

use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use spiffe_id::SpiffeId;
use zeroize::Zeroizing;

use crate::der::{Reader, tag};
use crate::error::{Error, KeyError};
use crate::key::{PrivateKey, subject_public_key};
use crate::x509::fields::CertFields;
use crate::x509::profile::{self, LeafOf};
use crate::{Crypto, MAX_CHAIN_LEN, files};

/// An X.509-SVID with its private key: what a workload presents as its identity.
///
/// Every constructor runs the same profile checks as peer verification (exactly one SPIFFE URI
/// SAN with a non-root path, not a CA, `digitalSignature` without `keyCertSign`/`cRLSign`;
/// intermediates are CAs with `keyCertSign`) and checks that the private key belongs to the
/// leaf. It does not check the chain against a bundle: that is [`verify`](crate::verify)'s job.
/// Cloning shares the key.
#[derive(Clone, Debug)]
pub struct X509Svid {
    spiffe_id: SpiffeId,
    chain: Vec<CertificateDer<'static>>,
    key: Arc<PrivateKey>,
    hint: Option<String>,
}

impl X509Svid {
    /// Builds an SVID from a leaf-first chain and its private key.
    ///
    /// # Errors
    /// [`Error::EmptyChain`], [`Error::ChainTooLong`], a malformed certificate, a profile
    /// violation, or [`Error::KeyMismatch`].
    pub fn new(chain: Vec<CertificateDer<'static>>, key: PrivateKey) -> Result<Self, Error> {
        let spiffe_id = {
            let LeafOf {
                intermediates,
                fields,
                spiffe_id,
                ..
            } = profile::leaf_of(&chain)?;
            for (offset, cert) in intermediates.iter().enumerate() {
                let index = offset + 1;
                let ca = CertFields::parse(cert)
                    .map_err(|source| Error::Certificate { index, source })?;
                profile::check_ca(&ca)?;
            }
            if subject_public_key(fields.spki) != Some(key.public_key()) {
                return Err(Error::KeyMismatch);
            }
            spiffe_id
        };
        Ok(Self {
            spiffe_id,
            chain,
            key: Arc::new(key),
            hint: None,
        })
    }

    /// Parses the Workload API form: the chain as concatenated DER certificates (leaf first) and
    /// a PKCS#8 DER key.
    ///
    /// # Errors
    /// As [`new`](Self::new), plus key and DER errors.
    pub fn from_der(chain_der: &[u8], key_pkcs8: &[u8], crypto: &Crypto) -> Result<Self, Error> {
        let chain = split_der_chain(chain_der)?;
        let key = PrivateKey::from_pkcs8_der(key_pkcs8, crypto)?;
        Self::new(chain, key)
    }

    /// Parses PEM: `certs` holds the chain leaf first, `key` a `PRIVATE KEY` block. Both may be
    /// the same document.
    ///
    /// # Errors
    /// [`Error::NoCertificateInPem`], plus everything [`new`](Self::new) reports.
    pub fn from_pem(certs: &[u8], key: &[u8], crypto: &Crypto) -> Result<Self, Error> {
        let chain = certificates_from_pem(certs)?;
        let key = PrivateKey::from_pem(key, crypto)?;
        Self::new(chain, key)
    }

    /// Reads PEM files (the two paths may be the same file).
    ///
    /// # Errors
    /// [`Error::Io`] plus everything [`from_pem`](Self::from_pem) reports.
    pub fn load(cert_path: &Path, key_path: &Path, crypto: &Crypto) -> Result<Self, Error> {
        let certs = std::fs::read(cert_path).map_err(Error::Io)?;
        let key = Zeroizing::new(std::fs::read(key_path).map_err(Error::Io)?);
        Self::from_pem(&certs, &key, crypto)
    }

    /// Writes the chain and the key as PEM files, each through a temporary file renamed into
    /// place, so a reader never sees half a file. The key file is created with mode 0600.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn save(&self, cert_path: &Path, key_path: &Path) -> Result<(), Error> {
        files::write_atomic(
            key_path,
            self.key.to_pem().as_bytes(),
            files::Secrecy::Secret,
        )?;
        files::write_atomic(
            cert_path,
            self.chain_pem().as_bytes(),
            files::Secrecy::Public,
        )?;
        Ok(())
    }

    /// Attaches the operator's hint from the Workload API (5.11).
    #[must_use]
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// The SPIFFE ID of the leaf.
    pub fn spiffe_id(&self) -> &SpiffeId {
        &self.spiffe_id
    }

    /// The chain, leaf first.
    pub fn chain(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }

    /// The leaf certificate.
    pub fn leaf(&self) -> &CertificateDer<'static> {
        // INVARIANT: `new` refuses an empty chain and nothing removes certificates afterwards.
        #[allow(
            clippy::indexing_slicing,
            reason = "the chain is never empty, see INVARIANT"
        )]
        &self.chain[0]
    }

    /// The private key, shared.
    pub fn private_key(&self) -> &Arc<PrivateKey> {
        &self.key
    }

    /// The Workload API hint, if any.
    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }

    /// The chain as PEM, leaf first.
    pub fn chain_pem(&self) -> String {
        self.chain
            .iter()
            .map(|cert| crate::pem::encode("CERTIFICATE", cert))
            .collect()
    }

    /// The chain as concatenated DER, the Workload API's encoding.
    pub fn chain_der(&self) -> Vec<u8> {
        self.chain
            .iter()
            .flat_map(|cert| cert.iter().copied())
            .collect()
    }
}

/// The certificates of a PEM document, in order (leaf first for a chain): the one way to read a
/// peer's chain for [`X509Verifier::verify`](crate::X509Verifier::verify), which needs no key.
/// Blocks with other labels (a private key, say) are skipped. Each certificate's contents are
/// checked by the verifier, not here.
///
/// # Errors
/// [`Error::NoCertificateInPem`] without a `CERTIFICATE` block or with a malformed one,
/// [`Error::ChainTooLong`] past [`MAX_CHAIN_LEN`].
pub fn certificates_from_pem(pem: impl AsRef<[u8]>) -> Result<Vec<CertificateDer<'static>>, Error> {
    let chain = CertificateDer::pem_slice_iter(pem.as_ref())
        .take(MAX_CHAIN_LEN + 1)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| Error::NoCertificateInPem)?;
    if chain.is_empty() {
        return Err(Error::NoCertificateInPem);
    }
    if chain.len() > MAX_CHAIN_LEN {
        return Err(Error::ChainTooLong {
            len: chain.len(),
            max: MAX_CHAIN_LEN,
        });
    }
    Ok(chain)
}

/// The certificates of concatenated DER, as the Workload API sends a chain or a bundle's
/// authorities (leaf first for a chain). Only the outer `SEQUENCE` framing is checked here.
///
/// # Errors
/// [`Error::EmptyChain`] for empty input, [`Error::Certificate`] naming the first position
/// that is not a complete DER `SEQUENCE`, [`Error::ChainTooLong`] past [`MAX_CHAIN_LEN`].
pub fn certificates_from_der(der: impl AsRef<[u8]>) -> Result<Vec<CertificateDer<'static>>, Error> {
    split_der_chain(der.as_ref())
}

/// Splits concatenated DER certificates, refusing anything that is not a sequence of complete
/// `SEQUENCE`s.
pub(crate) fn split_der_chain(input: &[u8]) -> Result<Vec<CertificateDer<'static>>, Error> {
    let mut reader = Reader::new(input);
    let mut chain = Vec::new();
    while !reader.is_empty() {
        let index = chain.len();
        if index >= MAX_CHAIN_LEN {
            return Err(Error::ChainTooLong {
                len: index + 1,
                max: MAX_CHAIN_LEN,
            });
        }
        let cert = reader
            .read_tlv(tag::SEQUENCE)
            .map_err(|source| Error::Certificate {
                index,
                source: source.into(),
            })?;
        chain.push(CertificateDer::from(cert.encoded().to_vec()));
    }
    if chain.is_empty() {
        return Err(Error::EmptyChain);
    }
    Ok(chain)
}

impl From<KeyError> for Error {
    fn from(error: KeyError) -> Self {
        Self::Key(error)
    }
}
