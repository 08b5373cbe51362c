//! The one error type of this crate, and the two domain sub-enums its variants carry.
//!
//! Section numbers in messages refer to `SPIFFE_Trust_Domain_and_Bundle.md` ("SPIFFE bundle"),
//! `X509-SVID.md`, `JWT-SVID.md`, and RFC 7517/7518 (JWK/JWA).

use rustls_pki_types::pem;
use spiffe_id::TrustDomain;

use crate::EcCurve;

/// Why a bundle, a bundle map, a certificate list or a key was refused as a whole.
///
/// Problems with one entry of a bundle document are not errors: the SPIFFE bundle rules say to
/// ignore that entry (SPIFFE bundle 4.2.1, 4.2.2), so parsers report them as
/// [`IgnoredKey`](crate::IgnoredKey)s next to the result instead.
///
/// Display text is for people and is not part of the API; match on variants.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A bundle map key is not a bare trust domain name (SPIFFE bundle 5.1.1).
    #[error("bundle map key {key:?} is not a valid trust domain name (SPIFFE bundle 5.1.1)")]
    BadTrustDomainKey {
        /// The key as written.
        key: String,
        /// Why the name was refused.
        #[source]
        source: spiffe_id::Error,
    },
    /// One bundle of a bundle map is invalid, so the whole map is refused: a map is loaded
    /// atomically as the complete state (SPIFFE bundle 5.1.1, Appendix B.1).
    #[error(
        "the bundle of trust domain {trust_domain} in the bundle map is invalid (SPIFFE bundle 5.1.1)"
    )]
    BundleMapEntry {
        /// The trust domain whose bundle failed.
        trust_domain: TrustDomain,
        /// What was wrong with that bundle.
        #[source]
        source: Box<Self>,
    },
    /// A certificate of a DER or PEM X.509 bundle is not acceptable.
    #[error("certificate #{index} of the x.509 bundle is not acceptable")]
    Certificate {
        /// Zero-based position of the certificate in the input.
        index: usize,
        /// What was wrong with it.
        #[source]
        source: CertificateError,
    },
    /// A JSON object repeats a member name. Duplicate keys are a security risk because
    /// parsers disagree on which one wins (SPIFFE bundle 6.3; digest 4.4 step 1).
    #[error("json object at {pointer:?} has a duplicate member (SPIFFE bundle 6.3)")]
    DuplicateJsonKey {
        /// RFC 6901 JSON pointer of the repeated member.
        pointer: String,
    },
    /// Two keys given to [`JwtBundle::from_keys`](crate::JwtBundle::from_keys) share a key ID.
    #[error("jwt key id {kid:?} is used more than once (JWT-SVID 6.1)")]
    DuplicateKeyId {
        /// The repeated key ID.
        kid: String,
    },
    /// A trust domain appears twice in a bundle map or in the bundles given to
    /// [`BundleSet::from_bundles`](crate::BundleSet::from_bundles) (SPIFFE bundle 5.1.1, 6.3).
    #[error("trust domain {name:?} appears more than once (SPIFFE bundle 5.1.1)")]
    DuplicateTrustDomain {
        /// The repeated name, as written.
        name: String,
    },
    /// A key given to [`JwtBundle::from_keys`](crate::JwtBundle::from_keys) has an empty key ID;
    /// published JWT keys carry a `kid` (JWT-SVID 6.1).
    #[error("jwt key id is empty (JWT-SVID 6.1)")]
    EmptyKeyId,
    /// A JWT public key is not usable (see [`KeyError`]).
    #[error("jwt-svid public key is not usable")]
    InvalidKey(#[from] KeyError),
    /// `spiffe_refresh_hint` is present and not a non-negative integer number of seconds
    /// (SPIFFE bundle 4.1.2; digest B-6).
    #[error(
        "spiffe_refresh_hint is not a non-negative integer number of seconds (SPIFFE bundle 4.1.2)"
    )]
    InvalidRefreshHint,
    /// `spiffe_sequence` is present and not an integer in `0..=u64::MAX`
    /// (SPIFFE bundle 4.1.1; digest B-5).
    #[error("spiffe_sequence is not an unsigned 64-bit integer (SPIFFE bundle 4.1.1)")]
    InvalidSequence,
    /// The input is not JSON, has trailing data, or nests deeper than 128 levels.
    #[error("input is not valid json")]
    Json(#[source] serde_json::Error),
    /// `keys` is present but is not an array (SPIFFE bundle 4.1.3).
    #[error("`keys` is not an array (SPIFFE bundle 4.1.3)")]
    KeysNotArray,
    /// `keys` is missing; it MUST be present (SPIFFE bundle 4.1.3; digest B-1).
    #[error("`keys` is missing (SPIFFE bundle 4.1.3)")]
    MissingKeys,
    /// `trust_domains` is missing or `null`; it MUST be present (SPIFFE bundle 5.1.1;
    /// digest B-9).
    #[error("`trust_domains` is missing (SPIFFE bundle 5.1.1)")]
    MissingTrustDomains,
    /// `keys` is `null`; it MUST be an array, possibly empty (SPIFFE bundle 4.1.3; digest B-1).
    #[error("`keys` is null, it must be an array (SPIFFE bundle 4.1.3)")]
    NullKeys,
    /// PEM input holds no certificate.
    #[error("pem input holds no certificate")]
    NoCertificates,
    /// A JSON value that must be an object is not one.
    #[error("{what} is not a json object")]
    NotAnObject {
        /// Which value: `"bundle document"`, `"bundle map"` or `"trust_domains"`.
        what: &'static str,
    },
    /// PEM input is malformed.
    #[error("pem input is malformed")]
    Pem(#[source] pem::Error),
    /// A PEM section is a known kind other than `CERTIFICATE` (a private key, a CRL, ...):
    /// a trust bundle file holds certificates only.
    #[error("pem section #{index} is a {kind:?}, not a certificate")]
    PemNotCertificate {
        /// Zero-based position of the section among the recognised sections.
        index: usize,
        /// The section kind that was found.
        kind: pem::SectionKind,
    },
    /// The input is longer than the limit for its kind, checked before any parsing.
    #[error("input is {len} bytes, more than the {max} allowed")]
    TooLarge {
        /// The input length.
        len: usize,
        /// The limit that applies.
        max: usize,
    },
    /// The JSON document holds more values than the limit for its kind.
    #[error("json document holds more than {max} values")]
    TooManyJsonValues {
        /// The limit that applies.
        max: usize,
    },
    /// More than [`MAX_KEYS_PER_BUNDLE`](crate::MAX_KEYS_PER_BUNDLE) entries in `keys`, or
    /// certificates in a DER/PEM bundle, or keys given to a constructor.
    #[error("bundle holds more than {max} keys")]
    TooManyKeys {
        /// The limit that applies.
        max: usize,
    },
    /// More than [`MAX_TRUST_DOMAINS_PER_MAP`](crate::MAX_TRUST_DOMAINS_PER_MAP) trust domains
    /// in a bundle map.
    #[error("bundle map holds more than {max} trust domains")]
    TooManyTrustDomains {
        /// The limit that applies.
        max: usize,
    },
    /// Parts of different trust domains were combined; keys are authoritative only for their
    /// own trust domain (SPIFFE bundle 3).
    #[error("a bundle of {found} cannot be part of a bundle of {expected} (SPIFFE bundle 3)")]
    TrustDomainMismatch {
        /// The trust domain of the first part.
        expected: TrustDomain,
        /// The trust domain of the part that does not match.
        found: TrustDomain,
    },
}

/// Why bytes were not accepted as a DER certificate.
///
/// This crate checks structure only: DER framing (X.690 10.1), the outline
/// `Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }`
/// (RFC 5280 4.1), and a subject public key it can name as a JWK. Signatures, validity and
/// extensions are the `svid` crate's job. Offsets count from the start of the certificate.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertificateError {
    /// A tag uses the high-tag-number form, which no certificate field needs.
    #[error("der tag at offset {offset} uses the high-tag-number form")]
    HighTagNumber {
        /// Offset of the tag byte.
        offset: usize,
    },
    /// A length uses the indefinite form, which DER forbids (X.690 10.1).
    #[error("der length at offset {offset} uses the indefinite form (X.690 10.1)")]
    IndefiniteLength {
        /// Offset of the tag byte of the element.
        offset: usize,
    },
    /// A length has more than four octets: larger than any input this crate accepts.
    #[error("der length at offset {offset} has more than four octets")]
    LengthTooLong {
        /// Offset of the tag byte of the element.
        offset: usize,
    },
    /// The subject public key does not parse as its algorithm says (RFC 3279, RFC 5480,
    /// RFC 8410).
    #[error("certificate subject public key is malformed")]
    MalformedKey,
    /// A length is not in its shortest form (X.690 10.1).
    #[error("der length at offset {offset} is not minimally encoded (X.690 10.1)")]
    NonMinimalLength {
        /// Offset of the tag byte of the element.
        offset: usize,
    },
    /// The certificate is longer than [`MAX_CERTIFICATE_BYTES`](crate::MAX_CERTIFICATE_BYTES).
    #[error("certificate is {len} bytes, more than the {max} allowed")]
    TooLarge {
        /// The declared length, header included.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Bytes follow the last field of a structure.
    #[error("unexpected data at offset {offset} after the end of a der structure")]
    TrailingData {
        /// Offset of the first unexpected byte.
        offset: usize,
    },
    /// An element runs past the end of its input.
    #[error("der element at offset {offset} is cut short")]
    Truncated {
        /// Offset of the element's tag byte.
        offset: usize,
    },
    /// A field has the wrong tag, or is missing.
    #[error("expected {expected} at offset {offset}, found {}", describe_tag(.found))]
    UnexpectedTag {
        /// Offset where the field was expected.
        offset: usize,
        /// The field that was expected (an RFC 5280 name).
        expected: &'static str,
        /// The tag byte found, or `None` at the end of the input.
        found: Option<u8>,
    },
    /// The subject public key is not RSA, EC on P-256/P-384/P-521, or Ed25519: the keys that
    /// have a JWK form and that rustls-webpki can verify with.
    #[error("certificate subject public key is not rsa, ec p-256/p-384/p-521 or ed25519")]
    UnsupportedKey,
}

/// Why a JWT public key is not usable for JWT-SVID validation (JWT-SVID 2.1, RFC 7518 6).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The RSA public exponent is not an odd integer in `3..=2^33-1`, the range ring and
    /// aws-lc-rs verify with.
    #[error("rsa public exponent is not an odd integer from 3 to 2^33-1")]
    BadRsaExponent,
    /// An EC coordinate does not have the exact length of its curve (RFC 7518 6.2.1.2,
    /// 6.2.1.3).
    #[error(
        "ec member `{member}` is {found} bytes; {curve} needs exactly {expected} (RFC 7518 6.2.1.2)"
    )]
    BadCoordinateLength {
        /// `x` or `y`.
        member: &'static str,
        /// The curve named by `crv`.
        curve: EcCurve,
        /// The coordinate length of the curve.
        expected: usize,
        /// The decoded length (an estimate when the member was too long to decode).
        found: usize,
    },
    /// An EC point is not `04 || X || Y` with coordinates of the curve's length (SEC 1 2.3.3).
    #[error("ec point is not an uncompressed sec1 point on {curve}")]
    BadPoint {
        /// The curve the point was meant for.
        curve: EcCurve,
    },
    /// A key member is not unpadded base64url (RFC 7518 6, RFC 7515 2).
    #[error("key member `{member}` is not base64url (RFC 7518 6)")]
    Base64 {
        /// The member name.
        member: &'static str,
    },
    /// A member the key type requires is missing (RFC 7518 6.2.1, 6.3.1).
    #[error("key member `{member}` is missing (RFC 7518 6)")]
    MissingMember {
        /// The member name.
        member: &'static str,
    },
    /// The RSA modulus is shorter than [`MIN_RSA_MODULUS_BITS`](crate::MIN_RSA_MODULUS_BITS).
    #[error("rsa modulus is {bits} bits, fewer than the {min} required (RFC 7518 3.3)", min = crate::MIN_RSA_MODULUS_BITS)]
    RsaModulusTooSmall {
        /// The modulus size.
        bits: usize,
    },
    /// The RSA modulus is longer than [`MAX_RSA_MODULUS_BITS`](crate::MAX_RSA_MODULUS_BITS).
    #[error("rsa modulus is longer than {max} bits", max = crate::MAX_RSA_MODULUS_BITS)]
    RsaModulusTooLarge,
}

/// `tag 0x30`, or `the end of the input`.
fn describe_tag(found: &Option<u8>) -> String {
    match found {
        Some(tag) => format!("tag 0x{tag:02x}"),
        None => "the end of the input".to_owned(),
    }
}
