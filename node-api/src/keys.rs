//! Keys made on the node: the agent's and the workloads'. Only CSRs leave the node.

use rcgen::{CertificateParams, KeyPair, PKCS_ECDSA_P256_SHA256};
use zeroize::Zeroizing;

use crate::error::Error;

/// A fresh key and a CSR for it.
#[non_exhaustive]
pub struct KeyAndCsr {
    /// The private key, PKCS#8 DER (wiped on drop).
    pub pkcs8: Zeroizing<Vec<u8>>,
    /// The PKCS#10 CSR (DER) proving possession of the key; its subject is empty, since the
    /// server decides every name.
    pub csr: Vec<u8>,
}

impl core::fmt::Debug for KeyAndCsr {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("KeyAndCsr")
            .field("csr_len", &self.csr.len())
            .finish_non_exhaustive()
    }
}

/// An ECDSA P-256 key and its CSR (blocking: key generation and a signature).
///
/// # Errors
/// [`Error::Key`] if the system random source or the encoder fails.
pub fn new_key_and_csr() -> Result<KeyAndCsr, Error> {
    let pair =
        KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(|e| Error::Key(e.to_string()))?;
    let csr = CertificateParams::default()
        .serialize_request(&pair)
        .map_err(|e| Error::Key(e.to_string()))?;
    Ok(KeyAndCsr {
        pkcs8: Zeroizing::new(pair.serialize_der()),
        csr: csr.der().to_vec(),
    })
}
