//! x509pop node attestation: the node proves it holds the private key of a certificate issued
//! by an organisation's existing machine PKI.
//!
//! The server sends a fresh random nonce; the node signs [`signed_message`] (a fixed context,
//! the nonce, and the SHA-256 of the CSR it sent for its agent key) with its certificate's key.
//! Binding the CSR means that a relay which sees the exchange cannot swap in a key of its
//! own; the fresh nonce means that a recorded proof is worth nothing later.

use std::sync::Arc;

use rustls::SignatureScheme;
use rustls::sign::SigningKey;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::Error;

/// What every proof starts with: the protocol and its version, so a signature made for
/// anything else never verifies here.
pub const CONTEXT: &[u8] = b"spiffekit x509pop v1\0";

/// Length of the server's nonce.
pub const NONCE_LEN: usize = 32;

/// The signature schemes a node may sign with (TLS 1.3 ones: no PKCS#1 v1.5, no SHA-1).
pub const SCHEMES: &[SignatureScheme] = &[
    SignatureScheme::ECDSA_NISTP256_SHA256,
    SignatureScheme::ECDSA_NISTP384_SHA384,
    SignatureScheme::ED25519,
    SignatureScheme::RSA_PSS_SHA256,
    SignatureScheme::RSA_PSS_SHA384,
    SignatureScheme::RSA_PSS_SHA512,
];

/// The bytes a node signs: [`CONTEXT`], the nonce, and the SHA-256 of its CSR.
pub fn signed_message(nonce: &[u8], csr: &[u8]) -> Vec<u8> {
    let digest = ring::digest::digest(&ring::digest::SHA256, csr);
    let mut message = Vec::with_capacity(CONTEXT.len() + nonce.len() + digest.as_ref().len());
    message.extend_from_slice(CONTEXT);
    message.extend_from_slice(nonce);
    message.extend_from_slice(digest.as_ref());
    message
}

/// A node's certificate chain and private key, read from PEM files.
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let node = node_api::x509pop::NodeCredential::from_pem(
///     &std::fs::read("/etc/pki/node.pem")?,
///     &std::fs::read("/etc/pki/node-key.pem")?,
///     &svid::Crypto::default(),
/// )?;
/// assert!(!node.chain().is_empty());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct NodeCredential {
    chain: Vec<CertificateDer<'static>>,
    key: Arc<dyn SigningKey>,
}

impl core::fmt::Debug for NodeCredential {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("NodeCredential")
            .field("certificates", &self.chain.len())
            .finish_non_exhaustive()
    }
}

impl NodeCredential {
    /// Reads the chain (the node's certificate first) and its key (PKCS#8, SEC1 or PKCS#1).
    ///
    /// # Errors
    /// [`Error::NodeCredential`] when either does not parse or the provider cannot use the key.
    pub fn from_pem(
        chain_pem: &[u8],
        key_pem: &[u8],
        crypto: &svid::Crypto,
    ) -> Result<Self, Error> {
        let chain = CertificateDer::pem_slice_iter(chain_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Error::NodeCredential(format!("the certificate file: {e}")))?;
        if chain.is_empty() {
            return Err(Error::NodeCredential(
                "the certificate file holds no CERTIFICATE block".into(),
            ));
        }
        let key = PrivateKeyDer::from_pem_slice(key_pem)
            .map_err(|e| Error::NodeCredential(format!("the key file: {e}")))?;
        let key = crypto
            .provider()
            .key_provider
            .load_private_key(key)
            .map_err(|e| Error::NodeCredential(format!("the key: {e}")))?;
        Ok(Self { chain, key })
    }

    /// The certificate chain, the node's certificate first.
    pub fn chain(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }

    /// Signs `message` with one of [`SCHEMES`].
    pub(crate) fn sign(&self, message: &[u8]) -> Result<(SignatureScheme, Vec<u8>), Error> {
        let signer = self.key.choose_scheme(SCHEMES).ok_or_else(|| {
            Error::NodeCredential(
                "the key cannot sign with any x509pop scheme (ECDSA P-256/P-384, Ed25519, RSA-PSS)"
                    .into(),
            )
        })?;
        let scheme = signer.scheme();
        let signature = signer
            .sign(message)
            .map_err(|e| Error::NodeCredential(format!("signing the challenge: {e}")))?;
        Ok((scheme, signature))
    }
}
