//! Reading a [`DiskUpstream`](super::DiskUpstream)'s files: PEM certificates, and the private
//! key (refused when others may read it) loaded by the crypto provider into a [`DiskKey`] that
//! signs as the certificate's key type calls for.

use core::fmt;
use std::io::Read;
use std::path::Path;

use rustls::SignatureScheme;
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use svid::Crypto;
use zeroize::Zeroizing;

use crate::algorithm::SignatureAlgorithm;
use crate::der::{self, Reader, tag};
use crate::error::{DiskUpstreamError, Error, SignerError};
use crate::signer::Signer;
use crate::x509::ParsedCert;

/// The largest certificate, key or bundle file read: PEM files of a few certificates are a
/// few kilobytes; a file this size is a mistake (a log, a binary), not a PKI.
const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// The upstream private key, loaded by the crypto provider, signing with the one algorithm
/// its certificate's key type calls for.
pub(super) struct DiskKey {
    signer: Box<dyn rustls::sign::Signer>,
    algorithm: SignatureAlgorithm,
    /// The certificate's SubjectPublicKeyInfo (the key's, as checked at load).
    spki: Vec<u8>,
}

impl Signer for DiskKey {
    fn algorithm(&self) -> SignatureAlgorithm {
        self.algorithm
    }

    fn public_key_spki(&self) -> &[u8] {
        &self.spki
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignerError> {
        self.signer.sign(message).map_err(SignerError::new)
    }
}

impl fmt::Debug for DiskKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DiskKey")
            .field("algorithm", &self.algorithm)
            .field("key", &"<redacted>")
            .finish()
    }
}

/// The algorithms an upstream key signs certificates with, by key type, with the TLS scheme
/// that produces the same signature (ring and aws-lc-rs keys offer only their own curve's
/// ECDSA scheme, so the first match is the key's type).
const SCHEMES: [(SignatureScheme, SignatureAlgorithm); 4] = [
    (
        SignatureScheme::ECDSA_NISTP256_SHA256,
        SignatureAlgorithm::EcdsaP256Sha256,
    ),
    (
        SignatureScheme::ECDSA_NISTP384_SHA384,
        SignatureAlgorithm::EcdsaP384Sha384,
    ),
    (SignatureScheme::ED25519, SignatureAlgorithm::Ed25519),
    (
        SignatureScheme::RSA_PKCS1_SHA256,
        SignatureAlgorithm::RsaPkcs1Sha256,
    ),
];

/// Reads the key file (refusing one that group or others may read), loads it with the
/// provider and checks that it is the key of `cert`.
pub(super) fn load_key(
    key_path: &Path,
    cert_path: &Path,
    cert: &ParsedCert<'_>,
    crypto: &Crypto,
) -> Result<DiskKey, Error> {
    check_key_file_mode(key_path)?;
    let pem_bytes = read_file(key_path)?;
    let key = Zeroizing::new(PrivateKeyDer::from_pem_slice(&pem_bytes).map_err(|source| {
        DiskUpstreamError::Pem {
            path: key_path.to_path_buf(),
            expected: "PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY",
            source,
        }
    })?);
    let rejected = |reason| DiskUpstreamError::KeyRejected {
        path: key_path.to_path_buf(),
        reason,
    };
    // The provider takes an owned copy, which rustls does not zeroize (as with any key handed
    // to rustls); ours are zeroized on return.
    let signing_key = crypto
        .provider()
        .key_provider
        .load_private_key(key.clone_key())
        .map_err(|_| {
            rejected(
                "the crypto provider refused it (malformed, or an unsupported key type or curve)",
            )
        })?;
    let public = signing_key
        .public_key()
        .ok_or_else(|| rejected("the crypto provider cannot tell its public key"))?;
    let key_bits = subject_public_key(public.as_ref());
    if key_bits.is_none() || key_bits != subject_public_key(cert.spki) {
        return Err(DiskUpstreamError::KeyMismatch {
            key_path: key_path.to_path_buf(),
            cert_path: cert_path.to_path_buf(),
        }
        .into());
    }
    let (signer, algorithm) = SCHEMES
        .iter()
        .find_map(|(scheme, algorithm)| {
            signing_key
                .choose_scheme(&[*scheme])
                .map(|signer| (signer, *algorithm))
        })
        .ok_or_else(|| rejected("no certificate signature algorithm fits its key type"))?;
    Ok(DiskKey {
        signer,
        algorithm,
        spki: cert.spki.to_vec(),
    })
}

/// The `subjectPublicKey` bits of a SubjectPublicKeyInfo.
fn subject_public_key(spki: &[u8]) -> Option<&[u8]> {
    let mut info = Reader::new(der::read_single(spki, tag::SEQUENCE).ok()?);
    info.read(tag::SEQUENCE).ok()?;
    info.read(tag::BIT_STRING).ok()
}

/// Refuses a key file that group or others may read (as [`FileKeyStore`] does): a key that
/// may have leaked is not used.
///
/// [`FileKeyStore`]: crate::FileKeyStore
fn check_key_file_mode(path: &Path) -> Result<(), Error> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path).map_err(|source| DiskUpstreamError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(Error::KeyFilePermissions {
                path: path.to_path_buf(),
                mode,
            });
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Every `CERTIFICATE` block of a PEM file, in order; at least one.
pub(super) fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    let bytes = read_file(path)?;
    let pem_error = |source| DiskUpstreamError::Pem {
        path: path.to_path_buf(),
        expected: "CERTIFICATE",
        source,
    };
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem_error)?;
    if certs.is_empty() {
        return Err(pem_error(pem::Error::NoItemsFound).into());
    }
    Ok(certs)
}

/// A whole file of at most [`MAX_FILE_BYTES`], in memory zeroized on drop (it may be a key).
fn read_file(path: &Path) -> Result<Zeroizing<Vec<u8>>, DiskUpstreamError> {
    let read_error = |source| DiskUpstreamError::Read {
        path: path.to_path_buf(),
        source,
    };
    let too_large = |len| DiskUpstreamError::TooLarge {
        path: path.to_path_buf(),
        len,
        max: MAX_FILE_BYTES,
    };
    let file = std::fs::File::open(path).map_err(read_error)?;
    let len = file.metadata().map_err(read_error)?.len();
    if len > MAX_FILE_BYTES {
        return Err(too_large(len));
    }
    // Sized up front so that reading never moves the bytes and leaves a copy behind.
    let capacity = usize::try_from(len).unwrap_or(0).saturating_add(1);
    let mut bytes = Zeroizing::new(Vec::with_capacity(capacity));
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    let read = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    if read > MAX_FILE_BYTES {
        return Err(too_large(read));
    }
    Ok(bytes)
}
