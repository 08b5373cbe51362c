//! The CA's signing keys: [`X509Authority`] (a key and its CA certificate), [`JwtAuthority`]
//! (a key and its `kid`), and [`Hot`], the active pair with what verifies their output.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use rustls_pki_types::CertificateDer;
use svid::{JwtAlgorithm, JwtValidator, KeyType, X509Verifier};
use trust_bundle::BundleSet;

use crate::algorithm::SignatureAlgorithm;
use crate::error::Error;
use crate::signer::Signer;
use crate::x509::IssuerTemplate;

/// An X.509 signing authority: a key and its CA certificate.
pub(crate) struct X509Authority {
    /// Hex subject key identifier.
    pub(crate) id: String,
    /// The key's reference in the CA's key manager.
    pub(crate) key_ref: String,
    pub(crate) signer: Arc<dyn Signer>,
    /// Certificates appended to every leaf: empty for a root, else this CA's certificate and
    /// the upstream intermediates.
    pub(crate) chain: Vec<CertificateDer<'static>>,
    /// What the trust domain's bundle publishes for this authority.
    pub(crate) roots: Vec<CertificateDer<'static>>,
    pub(crate) not_before: u64,
    pub(crate) not_after: u64,
    pub(crate) path_len: Option<u8>,
    pub(crate) template: IssuerTemplate,
    /// The latest expiry of anything it signed, seconds since the epoch.
    pub(crate) issued_until: AtomicU64,
}

/// A JWT signing key.
pub(crate) struct JwtAuthority {
    pub(crate) kid: String,
    /// The key's reference in the CA's key manager.
    pub(crate) key_ref: String,
    pub(crate) signer: Arc<dyn Signer>,
    pub(crate) algorithm: JwtAlgorithm,
    /// base64url of the JOSE header, followed by '.'.
    pub(crate) header_prefix: String,
    pub(crate) not_before: u64,
    pub(crate) not_after: u64,
    pub(crate) issued_until: AtomicU64,
}

/// Everything the hot path needs, swapped as one.
pub(crate) struct Hot {
    pub(crate) x509: Arc<X509Authority>,
    pub(crate) jwt: Arc<JwtAuthority>,
    pub(crate) verifier: X509Verifier<BundleSet>,
    pub(crate) jwt_validator: JwtValidator<BundleSet>,
    /// Whether the first credential of the current X.509 authority / JWT key was fully
    /// checked ([`SelfCheck::FirstPerAuthority`]).
    ///
    /// [`SelfCheck::FirstPerAuthority`]: crate::SelfCheck::FirstPerAuthority
    pub(crate) x509_proven: std::sync::atomic::AtomicBool,
    pub(crate) jwt_proven: std::sync::atomic::AtomicBool,
}

/// The signature algorithm and key type of a JWT algorithm this crate can issue with.
pub(crate) fn jwt_key_parameters(
    algorithm: JwtAlgorithm,
) -> Result<(SignatureAlgorithm, KeyType), Error> {
    Ok(match algorithm {
        JwtAlgorithm::Es256 => (SignatureAlgorithm::EcdsaP256Sha256, KeyType::EcdsaP256),
        JwtAlgorithm::Es384 => (SignatureAlgorithm::EcdsaP384Sha384, KeyType::EcdsaP384),
        JwtAlgorithm::Rs256 => (SignatureAlgorithm::RsaPkcs1Sha256, KeyType::Rsa2048),
        JwtAlgorithm::Ps256 => (SignatureAlgorithm::RsaPssSha256, KeyType::Rsa2048),
        _ => {
            return Err(Error::Unsupported {
                what: "JWT signing algorithms are ES256, ES384, RS256 and PS256",
            });
        }
    })
}
