//! [`Error`]: everything issuance can refuse or fail at.

use std::path::PathBuf;

use spiffe_id::{SpiffeId, TrustDomain};

/// Why the CA refused or failed to issue, rotate or load.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The audit sink could not record an event; nothing was issued (a CA that cannot audit
    /// does not issue).
    #[error("the audit sink failed; the credential was not issued")]
    Audit(#[source] AuditError),
    /// The CA's own certificate has expired, or the requested validity ends before it starts.
    #[error(
        "the CA cannot issue at this time: its authority is not valid (expired or not yet valid)"
    )]
    AuthorityNotValid,
    /// A CSR could not be used.
    #[error("certificate signing request rejected: {0}")]
    Csr(#[from] CsrError),
    /// A DNS name is not a valid name for a certificate.
    #[error("invalid DNS name {name:?} for a DNS SAN")]
    InvalidDnsName {
        /// The name.
        name: String,
    },
    /// A requested option is out of range.
    #[error("invalid request: {reason}")]
    InvalidRequest {
        /// What was wrong.
        reason: &'static str,
    },
    /// A JWT-SVID request has no audience (JWT-SVID 3.2: `aud` must hold one or more values).
    #[error("a JWT-SVID needs at least one non-empty audience (JWT-SVID 3.2)")]
    EmptyAudience,
    /// Reading or writing the key store failed.
    #[error("key store I/O failed at {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Key generation failed in the crypto library.
    #[error("key generation failed")]
    KeyGeneration,
    /// The key manager has no key with this reference (destroyed, or another token/store).
    #[error("the key manager has no key {key_ref:?}")]
    KeyNotFound {
        /// The reference the CA asked for.
        key_ref: String,
    },
    /// The key manager failed (token absent, login refused, I/O); nothing was changed.
    #[error("the key manager failed: {0}")]
    KeyManager(#[source] KeyManagerError),
    /// A key file may be read by other users; it is not loaded.
    #[error(
        "key file {path} has mode {mode:o}; private keys must not be readable by group or others (use 0600)"
    )]
    KeyFilePermissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The crypto library refused a private key (malformed, or not of the expected type).
    #[error("private key rejected by the crypto library")]
    KeyRejected,
    /// The issuance policy denied the request.
    #[error("issuance policy denied {spiffe_id} to requester {requester:?}: {reason}")]
    PolicyDenied {
        /// The identity that was asked for.
        spiffe_id: SpiffeId,
        /// Who asked, if known.
        requester: Option<String>,
        /// The policy's reason.
        reason: String,
    },
    /// A JWT-SVID request tried to set a registered claim through the extra claims.
    #[error("claim {name:?} is registered (RFC 7519 4.1) and set by the CA, not by extra claims")]
    ReservedClaim {
        /// The claim name.
        name: String,
    },
    /// An SVID for the trust domain's own ID was requested; workloads need a path (X509-SVID
    /// 3.1; digest 2.7).
    #[error("{spiffe_id} has no path: only the CA itself has the trust domain ID (X509-SVID 3.1)")]
    RootIdForWorkload {
        /// The ID.
        spiffe_id: SpiffeId,
    },
    /// The credential the CA produced did not pass its own verification; it was not returned.
    #[error("self-check failed: the minted X.509-SVID does not verify against the CA's bundle")]
    SelfCheck(#[source] svid::Error),
    /// The JWT-SVID the CA produced did not pass its own validation; it was not returned.
    #[error("self-check failed: the minted JWT-SVID does not validate against the CA's bundle")]
    SelfCheckJwt(#[source] svid::JwtError),
    /// The signer failed.
    #[error("the signer failed")]
    Signer(#[from] SignerError),
    /// Persisted CA state could not be read back.
    #[error("stored CA state is unusable: {reason}")]
    StoredState {
        /// What was wrong.
        reason: String,
    },
    /// The ID belongs to another trust domain (SPIRE checks membership before issuing; digest
    /// 2.7).
    #[error("{spiffe_id} is not in this CA's trust domain {trust_domain}")]
    TrustDomainMismatch {
        /// The requested ID.
        spiffe_id: SpiffeId,
        /// The CA's trust domain.
        trust_domain: TrustDomain,
    },
    /// Building the bundle failed.
    #[error("the bundle could not be built")]
    Bundle(#[source] trust_bundle::Error),
    /// The feature or combination asked for is not available (e.g. RSA key generation with
    /// ring, Ed25519 for JWT, or no `svid::Crypto` given without the `ring` and `aws-lc-rs` features).
    #[error("unsupported: {what}")]
    Unsupported {
        /// What is not supported.
        what: &'static str,
    },
    /// The upstream authority's certificate for this CA is not acceptable.
    #[error("upstream certificate rejected: {reason}")]
    UpstreamCertificate {
        /// What was wrong.
        reason: &'static str,
    },
    /// The parent cannot sign another CA: its path length constraint is exhausted.
    #[error("the parent CA's path length constraint does not allow another CA below it")]
    PathLenExhausted,
    /// The files of a [`DiskUpstream`](crate::DiskUpstream) are not a usable CA (boxed: its
    /// paths would double the size of every `Result` of this crate).
    #[error("disk upstream authority: {0}")]
    DiskUpstream(#[source] Box<DiskUpstreamError>),
}

impl From<DiskUpstreamError> for Error {
    fn from(error: DiskUpstreamError) -> Self {
        Self::DiskUpstream(Box::new(error))
    }
}

/// Why a PKCS#10 certificate signing request was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CsrError {
    /// The DER is not a CertificationRequest (RFC 2986 4).
    #[error("malformed PKCS#10 DER")]
    Malformed,
    /// The signature or key algorithm is not one the crypto provider verifies.
    #[error("unsupported signature or key algorithm")]
    UnsupportedAlgorithm,
    /// The signature does not verify with the CSR's own public key (proof of possession).
    #[error("the signature does not verify with the request's public key")]
    BadSignature,
}

/// An error from a [`Signer`](crate::Signer) implementation.
#[derive(Debug, thiserror::Error)]
#[error("{source}")]
pub struct SignerError {
    source: Box<dyn std::error::Error + Send + Sync>,
}

impl SignerError {
    /// Wraps the signer's own error.
    pub fn new(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self {
            source: source.into(),
        }
    }
}

/// An error from a [`KeyManager`](crate::KeyManager) implementation: what failed, in the
/// manager's words, with its cause.
#[derive(Debug, thiserror::Error)]
#[error("{what}")]
pub struct KeyManagerError {
    what: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl KeyManagerError {
    /// A failure described by `what` (say what to fix: "token 'spire' not found; check
    /// the slot label").
    pub fn new(what: impl Into<String>) -> Self {
        Self {
            what: what.into(),
            source: None,
        }
    }

    /// A failure described by `what`, caused by `source`.
    pub fn with_source(
        what: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self {
            what: what.into(),
            source: Some(source.into()),
        }
    }
}

/// An error from an [`AuditSink`](crate::AuditSink).
#[derive(Debug, thiserror::Error)]
#[error("{source}")]
pub struct AuditError {
    source: Box<dyn std::error::Error + Send + Sync>,
}

impl AuditError {
    /// Wraps the sink's own error.
    pub fn new(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self {
            source: source.into(),
        }
    }
}

/// Why the files of a [`DiskUpstream`](crate::DiskUpstream) cannot sign this CA's
/// certificates. Each names the file that is wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiskUpstreamError {
    /// The certificate is not self-signed and no bundle says which root it chains to.
    #[error(
        "certificate {path} is not self-signed: give the bundle (root certificates) it chains to"
    )]
    BundleRequired {
        /// The certificate file.
        path: PathBuf,
    },
    /// A certificate signed with the key does not verify through the certificate file's chain
    /// to the roots.
    #[error("certificate {path} does not verify to a root in {roots_path}")]
    ChainNotVerified {
        /// The certificate file.
        path: PathBuf,
        /// The file the roots come from: the bundle, or the certificate file when it is the
        /// root.
        roots_path: PathBuf,
        /// The verifier's reason.
        #[source]
        source: svid::Error,
    },
    /// The private key is not the key of the certificate.
    #[error("private key {key_path} does not belong to certificate {cert_path}")]
    KeyMismatch {
        /// The key file.
        key_path: PathBuf,
        /// The certificate file.
        cert_path: PathBuf,
    },
    /// The crypto provider refused the private key, or cannot sign certificates with it.
    #[error("private key {path} is not usable: {reason}")]
    KeyRejected {
        /// The key file.
        path: PathBuf,
        /// What was wrong.
        reason: &'static str,
    },
    /// A certificate does not parse.
    #[error("certificate file {path} holds a certificate that does not parse")]
    MalformedCertificate {
        /// The file.
        path: PathBuf,
    },
    /// The certificate may not sign CA certificates (RFC 5280 4.2.1.3, 4.2.1.9).
    #[error("certificate {path} cannot sign CA certificates: {reason}")]
    NotCa {
        /// The certificate file.
        path: PathBuf,
        /// What is missing.
        reason: &'static str,
    },
    /// The certificate is expired or not yet valid.
    #[error(
        "certificate {path} is not valid now: valid from {not_before} to {not_after} (seconds since the epoch)"
    )]
    NotValid {
        /// The certificate file.
        path: PathBuf,
        /// Its notBefore, seconds since the epoch.
        not_before: u64,
        /// Its notAfter, seconds since the epoch.
        not_after: u64,
    },
    /// The file holds no PEM block of the expected kind, or malformed PEM.
    #[error("{path} holds no usable PEM {expected}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What was looked for.
        expected: &'static str,
        /// The PEM reader's error.
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    /// The file could not be read.
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is larger than any certificate or key file.
    #[error("{path} is {len} bytes, more than the {max} read")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        len: u64,
        /// The limit.
        max: u64,
    },
}
