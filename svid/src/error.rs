//! The one error type of this crate, with a sub-enum per concern.

use core::fmt;

use rustls_pki_types::UnixTime;

use trust_bundle::der::{self, time::rfc3339};

/// Why an SVID was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A certificate is not well-formed DER of the shape X.509 requires.
    #[error("malformed certificate at chain position {index}: {source}")]
    Certificate {
        /// Position in the chain, leaf = 0.
        index: usize,
        /// What was malformed.
        #[source]
        source: CertificateError,
    },
    /// A certificate breaks the X.509-SVID profile.
    #[error(transparent)]
    Profile(#[from] ProfileError),
    /// The chain has no certificate.
    #[error("certificate chain is empty")]
    EmptyChain,
    /// The chain has more certificates than [`MAX_CHAIN_LEN`](crate::MAX_CHAIN_LEN).
    #[error("certificate chain has {len} certificates, more than the {max} accepted")]
    ChainTooLong {
        /// How many were presented (or read so far).
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The PEM input holds no `CERTIFICATE` block, or a malformed one.
    #[error("no well-formed CERTIFICATE block in the PEM input")]
    NoCertificateInPem,
    /// The private key is unusable.
    #[error(transparent)]
    Key(KeyError),
    /// The private key does not belong to the leaf certificate.
    #[error("private key does not match the leaf certificate's public key")]
    KeyMismatch,
    /// The chain does not verify against the bundle of the leaf's trust domain.
    #[error(transparent)]
    Verify(VerifyError),
    /// A JWT-SVID was refused.
    #[error(transparent)]
    Jwt(#[from] JwtError),
    /// Reading or writing a file failed.
    #[error("file access failed: {0}")]
    Io(#[source] std::io::Error),
}

/// An unusable private key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Not a DER PKCS#8 `PrivateKeyInfo` (RFC 5958).
    #[error("private key is not DER PKCS#8 (RFC 5958)")]
    Malformed,
    /// A key type or curve X.509-SVIDs do not use here (ECDSA P-256/P-384, RSA, Ed25519 are).
    #[error("private key type or curve is not supported (ECDSA P-256/P-384, RSA, Ed25519 are)")]
    Unsupported,
    /// The crypto provider refused the key material (inconsistent, or RSA under 2048 bits).
    #[error("crypto provider rejected the private key (inconsistent, or RSA under 2048 bits)")]
    Rejected,
    /// The PEM input holds no `PRIVATE KEY` block.
    #[error("no PRIVATE KEY (PKCS#8) block in the PEM input")]
    NoKeyInPem,
    /// The crypto provider loaded the key but cannot tell its public key (a rustls
    /// `SigningKey` whose `public_key()` is `None`), so it cannot be matched to a certificate.
    #[error("the crypto provider does not expose the private key's public key")]
    NoPublicKey,
    /// The [`Crypto`](crate::Crypto) cannot generate keys of this type: it has no
    /// [`KeyGenerator`](crate::KeyGenerator) (a bare provider), or its generator lacks the type
    /// (ring has no RSA key generation).
    #[error(
        "no key generation for {0:?} (ring cannot generate RSA; a bare provider needs Crypto::with_key_generator)"
    )]
    GenerationUnsupported(crate::key_type::KeyType),
    /// The key generator failed.
    #[error("key generation failed")]
    GenerationFailed,
}

/// A certificate that is not well-formed DER of the shape X.509 requires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertificateError {
    /// Not DER, truncated, or not the `Certificate` structure (RFC 5280 4.1).
    #[error("not a DER-encoded X.509 certificate (RFC 5280 4.1)")]
    BadDer,
    /// A validity time is not a DER UTCTime / GeneralizedTime in UTC (RFC 5280 4.1.2.5).
    #[error("validity time is not a DER UTCTime or GeneralizedTime (RFC 5280 4.1.2.5)")]
    BadTime,
    /// Not a version 3 certificate, so it cannot carry a URI SAN (RFC 5280 4.1.2.1).
    #[error("certificate is not X.509 version 3 (RFC 5280 4.1.2.1)")]
    NotVersion3,
    /// The same extension appears twice (RFC 5280 4.2).
    #[error("certificate has a duplicate extension (RFC 5280 4.2)")]
    DuplicateExtension,
}

impl From<der::Error> for CertificateError {
    fn from(error: der::Error) -> Self {
        match error {
            der::Error::BadTime => Self::BadTime,
            _ => Self::BadDer,
        }
    }
}

/// A certificate that breaks the X.509-SVID profile. Rule IDs refer to the testable
/// requirements of the SPIFFE digest (8.5).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProfileError {
    /// The leaf has no URI SAN, so it carries no SPIFFE ID (X509-SVID 2; X-2).
    #[error("leaf has no URI SAN (X509-SVID 2)")]
    NoUriSan,
    /// The leaf has more than one URI SAN (X509-SVID 2; X-1).
    #[error("leaf has {count} URI SANs, exactly one is allowed (X509-SVID 2)")]
    MultipleUriSans {
        /// How many were found.
        count: usize,
    },
    /// The URI SAN is longer than [`MAX_URI_LEN`](crate::MAX_URI_LEN).
    #[error("URI SAN is {len} bytes long, more than the {max} accepted", max = crate::MAX_URI_LEN)]
    UriTooLong {
        /// Its length.
        len: usize,
    },
    /// The URI SAN is not a valid SPIFFE ID (X509-SVID 2; X-3).
    #[error("URI SAN is not a valid SPIFFE ID (X509-SVID 2): {0}")]
    BadSpiffeId(#[source] spiffe_id::Error),
    /// The leaf's SPIFFE ID has no path: it names a trust domain, not a workload
    /// (X509-SVID 3.1, 5.2; X-4).
    #[error("leaf SPIFFE ID has a root path (X509-SVID 5.2)")]
    LeafRootPath,
    /// The leaf has `cA=true` (X509-SVID 4.1, 5.2; X-5). Checked before every other leaf rule:
    /// a CA certificate presented as a leaf usually also has a root-path ID or no URI SAN, and
    /// "leaf is a CA" is the mistake to fix.
    #[error("leaf is a CA certificate (cA=true), not a workload SVID (X509-SVID 4.1)")]
    LeafIsCa,
    /// The leaf has no keyUsage extension (X509-SVID 4.3).
    #[error("leaf certificate has no key usage extension (X509-SVID 4.3)")]
    LeafMissingKeyUsage,
    /// The leaf's keyUsage lacks `digitalSignature` (X509-SVID 4.3).
    #[error("leaf certificate key usage lacks digitalSignature (X509-SVID 4.3)")]
    LeafMissingDigitalSignature,
    /// The leaf's keyUsage has `keyCertSign` (X509-SVID 4.3, 5.2; X-6).
    #[error("leaf certificate key usage has keyCertSign (X509-SVID 4.3)")]
    LeafKeyCertSign,
    /// The leaf's keyUsage has `cRLSign` (X509-SVID 4.3, 5.2; X-7).
    #[error("leaf certificate key usage has cRLSign (X509-SVID 4.3)")]
    LeafCrlSign,
    /// A signing certificate lacks `cA=true` (X509-SVID 4.1; X-10).
    #[error("signing certificate does not have cA=true (X509-SVID 4.1)")]
    CaNotCa,
    /// A signing certificate's keyUsage is missing or lacks `keyCertSign` (X509-SVID 4.3; X-10).
    #[error("signing certificate key usage lacks keyCertSign (X509-SVID 4.3)")]
    CaMissingKeyCertSign,
    /// A signing certificate's SPIFFE ID has a path (X509-SVID 3.2).
    #[error("signing certificate SPIFFE ID has a path (X509-SVID 3.2)")]
    CaIdHasPath,
}

/// A chain that does not verify against the bundle of its leaf's trust domain.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The bundle source has no bundle for the leaf's trust domain (X509-SVID 5.1; X-9).
    #[error("no bundle for trust domain {trust_domain} (X509-SVID 5.1)")]
    NoBundle {
        /// The leaf's trust domain.
        trust_domain: spiffe_id::TrustDomain,
    },
    /// The trust domain's bundle has no usable X.509 authority, so every SVID of it is invalid
    /// (SPIFFE bundle 4.1.3).
    #[error(
        "bundle for trust domain {trust_domain} has no usable X.509 authority (SPIFFE bundle 4.1.3)"
    )]
    NoAuthorities {
        /// The leaf's trust domain.
        trust_domain: spiffe_id::TrustDomain,
    },
    /// No path from the leaf reaches an authority of its own trust domain's bundle
    /// (X509-SVID 5.1; X-8).
    #[error("chain does not reach an authority of the leaf's trust domain (X509-SVID 5.1)")]
    UnknownIssuer,
    /// A presented certificate on the path is expired (RFC 5280 6.1.3; X-10).
    #[error(
        "{certificate} expired at {} (RFC 5280 6.1.3)",
        rfc3339(.not_after.as_secs())
    )]
    Expired {
        /// Which certificate.
        certificate: ChainPosition,
        /// Its `notAfter`.
        not_after: UnixTime,
    },
    /// A presented certificate on the path is not valid yet (RFC 5280 6.1.3; X-10).
    #[error(
        "{certificate} is not valid before {} (RFC 5280 6.1.3)",
        rfc3339(.not_before.as_secs())
    )]
    NotYetValid {
        /// Which certificate.
        certificate: ChainPosition,
        /// Its `notBefore`.
        not_before: UnixTime,
    },
    /// The bundle authority that anchors the path is expired.
    #[error(
        "bundle authority #{index} anchoring the path expired at {} (RFC 5280 6.1.3)",
        rfc3339(.not_after.as_secs())
    )]
    AuthorityExpired {
        /// Zero-based position of the authority in the bundle.
        index: usize,
        /// Its `notAfter`.
        not_after: UnixTime,
    },
    /// The bundle authority that anchors the path is not valid yet.
    #[error(
        "bundle authority #{index} anchoring the path is not valid before {} (RFC 5280 6.1.3)",
        rfc3339(.not_before.as_secs())
    )]
    AuthorityNotYetValid {
        /// Zero-based position of the authority in the bundle.
        index: usize,
        /// Its `notBefore`.
        not_before: UnixTime,
    },
    /// A signature on the path does not verify (RFC 5280 6.1.3; X-10).
    #[error("a signature on the path does not verify (RFC 5280 6.1.3)")]
    BadSignature,
    /// A signature algorithm on the path is not offered by the crypto provider.
    #[error("a signature algorithm on the path is not supported by the crypto provider")]
    UnsupportedSignatureAlgorithm,
    /// An intermediate is not a signing certificate (X509-SVID 4.1, 4.3; X-10).
    #[error("an intermediate is not a signing certificate: {0}")]
    IntermediateNotCa(#[source] ProfileError),
    /// A CA's pathLenConstraint is exceeded (RFC 5280 4.2.1.9; X-10).
    #[error("a CA path length constraint is exceeded (RFC 5280 4.2.1.9)")]
    PathLenExceeded,
    /// The leaf's extended key usage does not allow the role it is verified for
    /// (X509-SVID 4.4).
    #[error("extended key usage does not allow this TLS role (X509-SVID 4.4)")]
    WrongUsage,
    /// The certificate uses a name constraint form that cannot be checked (X509-SVID 4.2).
    #[error("unsupported name constraints (X509-SVID 4.2)")]
    UnsupportedNameConstraints,
    /// A presented certificate has a critical extension that is not processed here, so it
    /// must not be accepted (RFC 5280 4.2).
    #[error("{certificate} has unsupported critical extension {oid} (RFC 5280 4.2)")]
    UnsupportedCriticalExtension {
        /// Which certificate.
        certificate: ChainPosition,
        /// The extension's OID.
        oid: Oid,
    },
    /// Path building gave up: too many candidate paths or signatures (RFC 5280 6; webpki
    /// budget).
    #[error("path building exceeded its budget")]
    BudgetExceeded,
    /// Any other path validation failure.
    #[error("path validation failed: {0}")]
    Path(#[source] webpki::Error),
}

/// Which certificate of a presented chain an error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ChainPosition {
    /// The leaf (chain position 0).
    Leaf,
    /// An intermediate, by its position in the presented chain (the leaf is 0, so the first
    /// intermediate is 1).
    Intermediate {
        /// Position in the chain.
        index: usize,
    },
}

impl fmt::Display for ChainPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Leaf => f.write_str("leaf certificate"),
            Self::Intermediate { index } => {
                write!(f, "intermediate certificate at chain position {index}")
            }
        }
    }
}

/// An ASN.1 object identifier, kept as its DER content octets and shown in dotted form
/// (`1.2.3.4`).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Oid(Vec<u8>);

impl Oid {
    pub(crate) fn from_der_content(content: &[u8]) -> Self {
        Self(content.to_vec())
    }

    /// The DER content octets (without tag and length).
    pub fn as_der_content(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Display for Oid {
    /// Dotted form; an arc too large for `u64`, or a truncated last arc, prints as `?`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        der::oid::dotted(&self.0).fmt(f)
    }
}

impl fmt::Debug for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Oid({self})")
    }
}

impl VerifyError {
    /// Maps rustls-webpki's verdicts onto the SPIFFE vocabulary. Verdicts about one
    /// certificate name the leaf here; [`X509Verifier`](crate::X509Verifier) corrects the
    /// position from the chain it verified.
    #[allow(
        deprecated,
        reason = "webpki still returns the deprecated unit variants"
    )]
    pub(crate) fn from_webpki(error: webpki::Error) -> Self {
        use webpki::Error as W;
        match error {
            W::UnknownIssuer => Self::UnknownIssuer,
            W::CertExpired { not_after, .. } => Self::Expired {
                certificate: ChainPosition::Leaf,
                not_after,
            },
            W::CertNotValidYet { not_before, .. } => Self::NotYetValid {
                certificate: ChainPosition::Leaf,
                not_before,
            },
            W::InvalidSignatureForPublicKey => Self::BadSignature,
            W::UnsupportedSignatureAlgorithm
            | W::UnsupportedSignatureAlgorithmForPublicKey
            | W::UnsupportedSignatureAlgorithmContext(_)
            | W::UnsupportedSignatureAlgorithmForPublicKeyContext(_) => {
                Self::UnsupportedSignatureAlgorithm
            }
            W::EndEntityUsedAsCa | W::CaUsedAsEndEntity => {
                Self::IntermediateNotCa(ProfileError::CaNotCa)
            }
            W::PathLenConstraintViolated => Self::PathLenExceeded,
            W::RequiredEkuNotFound | W::RequiredEkuNotFoundContext(_) => Self::WrongUsage,
            W::NameConstraintViolation => Self::UnsupportedNameConstraints,
            W::MaximumSignatureChecksExceeded
            | W::MaximumPathBuildCallsExceeded
            | W::MaximumPathDepthExceeded => Self::BudgetExceeded,
            other => Self::Path(other),
        }
    }
}

/// Why a JWT-SVID was refused. Rule IDs refer to the digest's requirement index (8.5).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwtError {
    /// Longer than [`MAX_TOKEN_LEN`](crate::jwt_limits::MAX_TOKEN_LEN).
    #[error("token is {len} bytes long, more than the {max} accepted", max = crate::jwt_limits::MAX_TOKEN_LEN)]
    TokenTooLong {
        /// Its length.
        len: usize,
    },
    /// Not a three-part JWS compact serialization (JWT-SVID 1, 5.1; J-1).
    #[error("token is not a JWS compact serialization (JWT-SVID 1)")]
    NotCompact,
    /// A part is not unpadded base64url (RFC 7515 2).
    #[error("token part is not unpadded base64url (RFC 7515 2)")]
    BadBase64,
    /// The JOSE header is not a JSON object holding only `alg`, `kid` and `typ` as strings
    /// (JWT-SVID 2). This rejects `crit`, `jku`, `jwk`, `x5c` and any private header.
    #[error("bad JOSE header, only alg, kid and typ are allowed (JWT-SVID 2): {0}")]
    BadHeader(String),
    /// `alg` is not one of the nine JWT-SVID algorithms (JWT-SVID 2.1; J-2).
    #[error("algorithm {0:?} is not allowed for JWT-SVIDs (JWT-SVID 2.1)")]
    UnsupportedAlgorithm(String),
    /// `typ` is present and neither `JWT` nor `JOSE` (JWT-SVID 2.3; J-3).
    #[error("header typ {0:?} is not JWT or JOSE (JWT-SVID 2.3)")]
    BadType(String),
    /// The claims are not a JSON object without duplicate names (RFC 7519 4).
    #[error("claims are not a JSON object without duplicate names (RFC 7519 4): {0}")]
    BadClaims(String),
    /// A required claim is missing (JWT-SVID 3; J-4, J-6, J-8).
    #[error("required claim `{0}` is missing (JWT-SVID 3)")]
    MissingClaim(&'static str),
    /// A claim has the wrong JSON type, e.g. a string `exp` (RFC 7519 2, 4.1).
    #[error("claim `{0}` has the wrong type (RFC 7519 4.1)")]
    BadClaimType(&'static str),
    /// `sub` is not a valid SPIFFE ID (JWT-SVID 3.1; J-8).
    #[error("sub is not a valid SPIFFE ID (JWT-SVID 3.1): {0}")]
    BadSubject(#[source] spiffe_id::Error),
    /// `sub` names a trust domain, not a workload.
    #[error("sub is a trust domain ID with no path, not a workload")]
    RootSubject,
    /// `aud` is empty or holds an empty string (JWT-SVID 3.2; J-4).
    #[error("aud claim is empty (JWT-SVID 3.2)")]
    EmptyAudienceClaim,
    /// More `aud` values than [`MAX_AUDIENCES`](crate::jwt_limits::MAX_AUDIENCES).
    #[error("aud claim has {count} values, more than the {max} accepted", max = crate::jwt_limits::MAX_AUDIENCES)]
    TooManyAudiences {
        /// How many were found.
        count: usize,
    },
    /// An ES* signature is not `r || s` of the curve's size (RFC 7518 3.4).
    #[error("ECDSA signature is not r||s of the curve size (RFC 7518 3.4)")]
    BadSignatureEncoding,
    /// The token has no `kid` and the validator requires one.
    #[error("token has no kid and this validator requires one (JWT-SVID 2.2)")]
    MissingKid,
    /// The token has no `kid`, and the bundle holds more keys fitting its `alg` than a kid-less
    /// token may be tried against ([`MAX_KEYS_WITHOUT_KID`](crate::MAX_KEYS_WITHOUT_KID)).
    #[error(
        "token has no kid and {count} bundle keys fit its algorithm, more than the {max} tried"
    )]
    TooManyCandidateKeys {
        /// How many keys fit the algorithm.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// `exp` is in the past, beyond the leeway (JWT-SVID 3.3; J-7).
    #[error("token is expired (JWT-SVID 3.3)")]
    Expired,
    /// `nbf` is in the future, beyond the leeway (RFC 7519 4.1.5).
    #[error("token is not valid yet (RFC 7519 4.1.5)")]
    NotYetValid,
    /// `aud` holds none of the validator's audiences (JWT-SVID 3.2; J-5).
    #[error("token audience does not include an expected audience (JWT-SVID 3.2)")]
    AudienceMismatch,
    /// No JWT bundle for the `sub` trust domain (JWT-SVID 4; J-9).
    #[error("no JWT bundle for trust domain {trust_domain} (JWT-SVID 4)")]
    NoBundle {
        /// The `sub` trust domain.
        trust_domain: spiffe_id::TrustDomain,
    },
    /// The `sub` trust domain's bundle has no key with this `kid` (J-10).
    #[error("no key with kid {0:?} in the bundle of the token's trust domain")]
    UnknownKid(String),
    /// The bundle document had an entry with this `kid`, but it was skipped when the bundle
    /// was parsed (for example `use` `wit-svid`, or an unknown `kty`), so it verifies nothing
    /// (SPIFFE bundle 4.2; digest J-11, B-2, B-3).
    #[error("kid {kid:?} names a bundle entry that was ignored: {}", .entry.reason())]
    IgnoredKid {
        /// The token's `kid`.
        kid: String,
        /// The skipped entry and why it was skipped (boxed: it is large, and rare).
        entry: Box<trust_bundle::IgnoredKey>,
    },
    /// The `kid` key's type or curve does not fit `alg`: an RSA key never verifies ES*, a
    /// P-256 key never verifies ES384 (JWT-SVID 2.1; digest 3.4 step 5).
    #[error(
        "kid {kid:?} names an {key} key, but alg {algorithm} needs {} (JWT-SVID 2.1)",
        .algorithm.key_type()
    )]
    KeyDoesNotFitAlgorithm {
        /// The token's `kid`.
        kid: String,
        /// The type (and curve) of the key it names.
        key: crate::jwt_algorithm::JwtKeyType,
        /// The token's `alg`.
        algorithm: crate::jwt_algorithm::JwtAlgorithm,
    },
    /// The token has no `kid`, and no key of the bundle has the type and curve its `alg`
    /// needs (JWT-SVID 2.1; digest 3.4 step 5).
    #[error(
        "token has no kid and no bundle key is {} as alg {algorithm} needs (JWT-SVID 2.1)",
        .algorithm.key_type()
    )]
    NoKeyFitsAlgorithm {
        /// The token's `alg`.
        algorithm: crate::jwt_algorithm::JwtAlgorithm,
    },
    /// The crypto provider cannot verify this algorithm. Only a provider of the caller's own
    /// ([`Crypto::from_provider`](crate::Crypto::from_provider)) can lack one:
    /// [`Crypto::ring`](crate::Crypto::ring) and `Crypto::aws_lc_rs` verify all nine.
    #[error(
        "crypto provider cannot verify {0}; the providers of the `ring` and `aws-lc-rs` features (Crypto::ring, Crypto::aws_lc_rs) verify all nine JWT-SVID algorithms"
    )]
    AlgorithmNotInProvider(crate::jwt_algorithm::JwtAlgorithm),
    /// The signature does not verify.
    #[error("token signature does not verify")]
    BadSignature,
    /// An expected audience list was empty or held an empty string.
    #[error("expected audience must be non-empty (JWT-SVID 3.2)")]
    EmptyExpectedAudience,
    /// A leeway above [`MAX_LEEWAY`](crate::jwt_limits::MAX_LEEWAY) was requested.
    #[error("leeway above {max:?} requested", max = crate::jwt_limits::MAX_LEEWAY)]
    LeewayTooLarge,
}
