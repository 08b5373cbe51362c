//! The signing seam: [`Signer`] (what a CA key must do) and [`SoftwareSigner`] (a key in
//! memory, signed through the rustls provider of an `svid::Crypto`).
//!
//! `software` holds the in-memory keys; the signature algorithms are in `crate::algorithm`, below
//! both this module and `crate::spki`.
//!
//! [`SoftwareSigner`]: crate::SoftwareSigner

pub(crate) mod software;

use core::fmt;

use crate::algorithm::SignatureAlgorithm;
use crate::error::SignerError;

/// A private key that signs: the seam between a CA and wherever its key lives.
///
/// [`SoftwareSigner`] holds the key in memory; a [`KeyManager`](crate::KeyManager) hands out
/// signers for the keys it creates (a hardware module's signer keeps the key on the module). Signatures use the encoding of
/// [`SignatureAlgorithm`] (ECDSA: ASN.1 DER).
///
/// [`SoftwareSigner`]: crate::SoftwareSigner
pub trait Signer: Send + Sync + fmt::Debug {
    /// The algorithm [`sign`](Self::sign) uses.
    fn algorithm(&self) -> SignatureAlgorithm;

    /// The public key as a DER `SubjectPublicKeyInfo`.
    fn public_key_spki(&self) -> &[u8];

    /// Signs `message` (the whole message; the signer hashes it).
    ///
    /// # Errors
    /// Whatever the key's home reports; it becomes [`Error::Signer`].
    ///
    /// [`Error::Signer`]: crate::Error::Signer
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignerError>;
}
