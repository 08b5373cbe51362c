//! The entries of a JWK Set (`keys`), read by the SPIFFE bundle rules (SPIFFE bundle 4.2,
//! X509-SVID 6, JWT-SVID 6), and [`IgnoredKey`], the report of entries that were skipped.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{
    GeneralPurpose, GeneralPurposeConfig, STANDARD, URL_SAFE_NO_PAD,
};
use rustls_pki_types::CertificateDer;
use spiffe_id::TrustDomain;

use crate::certificate::{check_certificate, first_occurrences};
use crate::json::{Object, ObjectWriter, Value};
use crate::key::{AuthorityKey, JwkParams, strip_leading_zeros};
use crate::{
    CertificateError, EcCurve, EcPublicKey, JwtKey, KeyError, MAX_CERTIFICATE_BYTES,
    MAX_RSA_MODULUS_BITS, RsaPublicKey,
};

/// The `use` of X.509 authorities (X509-SVID 6.1).
pub(crate) const USE_X509: &str = "x509-svid";
/// The `use` of JWT authorities (JWT-SVID 6.1).
pub(crate) const USE_JWT: &str = "jwt-svid";
/// The `use` of WIT authorities (WIT-SVID 6.1; Incubating, not implemented here).
const USE_WIT: &str = "wit-svid";

/// Key types registered for JWK (RFC 7518 6.1, RFC 8037 2). Any other `kty` is unknown.
const KNOWN_KEY_TYPES: [&str; 4] = ["EC", "RSA", "OKP", "oct"];

/// Private-key members (RFC 7518 6.2.2, 6.3.2, 6.4.1; RFC 8037 2). A bundle carries public keys
/// only; a key whose private half is published cannot authenticate anyone.
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// Reported strings taken from the input are cut to this many bytes, so a hostile document
/// cannot turn the report into a second copy of itself.
const MAX_REPORTED_LEN: usize = 64;

const DECODE_CONFIG: GeneralPurposeConfig =
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
/// Key members are base64url without padding (RFC 7518 6, RFC 7515 2); padding is tolerated
/// when reading, and non-canonical trailing bits are not.
const BASE64URL: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, DECODE_CONFIG);
/// `x5c` values are standard base64, not base64url (RFC 7517 4.7).
const BASE64: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, DECODE_CONFIG);

/// Which document the entries come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Profile {
    /// A SPIFFE bundle: `use` is required and selects the kind of authority.
    SpiffeBundle,
    /// A Workload API JWT bundle: SPIRE omits `use`, so a missing `use` means `jwt-svid`
    /// (digest 5.4), and any other `use` is dropped (W-API-7).
    WorkloadApiJwt,
}

/// Why one entry of `keys` was skipped. None of these fail the document: the SPIFFE bundle
/// rules say to ignore entries a consumer cannot use (SPIFFE bundle 4.2.1, 4.2.2).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum IgnoredReason {
    /// `x5c[0]` is not standard base64 (RFC 7517 4.7; digest 4.4 step 4).
    CertificateBase64,
    /// The key members of an `x509-svid` entry do not match the key of its certificate. The
    /// certificate is the authority, and RFC 7517 4.7 requires them to match (digest 2.5).
    CertificateKeyMismatch,
    /// The same certificate is already an authority of this bundle.
    DuplicateCertificate,
    /// Two or more `jwt-svid` entries share this `kid`. The spec does not say which one wins,
    /// so all of them are dropped (digest 4.4 step 4).
    DuplicateKeyId,
    /// `x5c[0]` is not a certificate this crate accepts (digest 4.4 step 4).
    InvalidCertificate(CertificateError),
    /// The key members of a `jwt-svid` entry do not form a usable key (RFC 7518 6;
    /// JWT-SVID 2.1).
    InvalidKey(KeyError),
    /// `x5c` is missing or empty (X509-SVID 6.2; digest X-13).
    MissingCertificate,
    /// A `jwt-svid` entry has no `kid`, or an empty one (JWT-SVID 6.1; digest 4.4 step 4,
    /// J-13).
    MissingKeyId,
    /// `kty` is missing (RFC 7517 4.1; SPIFFE bundle 4.2.1; digest B-2).
    MissingKeyType,
    /// `use` is missing in a SPIFFE bundle (SPIFFE bundle 4.2.2; digest B-3).
    MissingUse,
    /// The entry is not a JSON object (digest 4.4 step 4).
    NotAnObject,
    /// The entry carries private-key members (`d`, `p`, `q`, `dp`, `dq`, `qi`, `oth`, `k`). A
    /// published private key cannot authenticate anything (SPIFFE bundle 3, 4.2).
    PrivateKeyMaterial,
    /// `kty` is not a registered JWK key type (SPIFFE bundle 4.2.1; digest B-2).
    UnknownKeyType {
        /// The `kty` value (at most 64 bytes of it).
        kty: String,
    },
    /// `use` is not a known value; values are case-sensitive (SPIFFE bundle 4.2.2;
    /// digest B-3, B-4).
    UnknownUse {
        /// The `use` value (at most 64 bytes of it).
        value: String,
    },
    /// An EC `jwt-svid` key on a curve other than P-256, P-384 and P-521 (JWT-SVID 2.1;
    /// digest 4.4 step 4).
    UnsupportedCurve {
        /// The `crv` value (at most 64 bytes of it).
        crv: String,
    },
    /// A `jwt-svid` key of a type no JWT-SVID `alg` uses: `OKP` (Ed25519) or `oct`
    /// (JWT-SVID 2.1; digest 4.4 step 4).
    UnsupportedKeyType {
        /// The `kty` value.
        kty: String,
    },
    /// A known `use` this document does not accept: `wit-svid` (the Incubating WIT-SVID
    /// profile is not implemented), or `x509-svid` in a Workload API JWT bundle (digest W-API-7,
    /// W-API-11).
    UseNotAccepted {
        /// The `use` value.
        value: String,
    },
    /// A member this crate reads has the wrong JSON type, e.g. `"kid": 5`.
    WrongMemberType {
        /// The member name.
        member: &'static str,
    },
}

impl fmt::Display for IgnoredReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::CertificateBase64 => f.write_str("x5c[0] is not base64 (RFC 7517 4.7)"),
            Self::CertificateKeyMismatch => f.write_str(
                "key members do not match the key of the x5c certificate (RFC 7517 4.7)",
            ),
            Self::DuplicateCertificate => {
                f.write_str("the certificate is already an authority of this bundle")
            }
            Self::DuplicateKeyId => f.write_str(
                "another jwt-svid entry has the same kid, so all of them are dropped (JWT-SVID 6.1)",
            ),
            Self::InvalidCertificate(error) => write!(f, "x5c[0] is not acceptable: {error}"),
            Self::InvalidKey(error) => write!(f, "key is not usable: {error}"),
            Self::MissingCertificate => {
                f.write_str("x5c is missing or empty (X509-SVID 6.2)")
            }
            Self::MissingKeyId => f.write_str("jwt-svid entry has no kid (JWT-SVID 6.1)"),
            Self::MissingKeyType => f.write_str("kty is missing (SPIFFE bundle 4.2.1)"),
            Self::MissingUse => f.write_str("use is missing (SPIFFE bundle 4.2.2)"),
            Self::NotAnObject => f.write_str("entry is not a json object"),
            Self::PrivateKeyMaterial => {
                f.write_str("entry carries private key members (SPIFFE bundle 4.2)")
            }
            Self::UnknownKeyType { kty } => {
                write!(f, "kty {kty:?} is unknown (SPIFFE bundle 4.2.1)")
            }
            Self::UnknownUse { value } => {
                write!(f, "use {value:?} is unknown (SPIFFE bundle 4.2.2)")
            }
            Self::UnsupportedCurve { crv } => {
                write!(f, "curve {crv:?} is not usable for jwt-svid (JWT-SVID 2.1)")
            }
            Self::UnsupportedKeyType { kty } => {
                write!(f, "kty {kty:?} is not usable for jwt-svid (JWT-SVID 2.1)")
            }
            Self::UseNotAccepted { value } => {
                write!(f, "use {value:?} is not accepted in this bundle (Workload API 6.2.2)")
            }
            Self::WrongMemberType { member } => {
                write!(f, "member `{member}` has the wrong json type")
            }
        }
    }
}

/// One entry of a bundle's `keys` that was skipped, and why. Parsers return these next to the
/// bundle so that callers can log them; they never fail the document.
///
/// ```
/// use trust_bundle::{IgnoredReason, SpiffeBundle};
///
/// let td = "example.org".parse()?;
/// let json = br#"{"keys": [{"kty": "EC", "use": "X509-SVID", "kid": "k1"}]}"#;
/// let bundle = SpiffeBundle::parse(td, json)?;
/// let ignored = bundle.ignored();
/// assert!(bundle.is_empty());
/// assert_eq!(ignored[0].index(), 0);
/// assert_eq!(ignored[0].kid(), Some("k1"));
/// assert_eq!(
///     ignored[0].reason(),
///     &IgnoredReason::UnknownUse { value: "X509-SVID".into() }
/// );
/// println!("{}", ignored[0]); // for the log
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IgnoredKey {
    trust_domain: TrustDomain,
    index: usize,
    kid: Option<String>,
    reason: IgnoredReason,
}

impl IgnoredKey {
    /// The trust domain of the bundle the entry was in.
    pub fn trust_domain(&self) -> &TrustDomain {
        &self.trust_domain
    }

    /// Zero-based position of the entry in `keys`.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The entry's `kid`, if it had a string one (at most 64 bytes of it).
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// Why the entry was skipped.
    pub fn reason(&self) -> &IgnoredReason {
        &self.reason
    }
}

impl fmt::Display for IgnoredKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bundle of {}: keys[{}]", self.trust_domain, self.index)?;
        if let Some(kid) = &self.kid {
            write!(f, " (kid {kid:?})")?;
        }
        write!(f, " ignored: {}", self.reason)
    }
}

/// The authorities found in `keys`.
#[derive(Debug, Default)]
pub(crate) struct DecodedKeys {
    pub(crate) authorities: Vec<(CertificateDer<'static>, AuthorityKey)>,
    pub(crate) jwt_keys: BTreeMap<String, JwtKey>,
    pub(crate) ignored: Vec<IgnoredKey>,
    /// The skipped entries that have a string `kid`, by their full `kid` (first one wins).
    pub(crate) ignored_by_kid: BTreeMap<String, IgnoredKey>,
}

/// An entry after its `kty` and `use` were read.
enum Classified<'a> {
    X509 {
        object: &'a Object,
        kty: &'a str,
    },
    Jwt {
        object: &'a Object,
        kty: &'a str,
        kid: &'a str,
    },
}

/// Reads every entry of `keys`. The caller has checked the count limit.
pub(crate) fn decode_keys(
    trust_domain: &TrustDomain,
    keys: &[Value],
    profile: Profile,
) -> DecodedKeys {
    let mut decoded = DecodedKeys::default();
    let classified: Vec<Result<Classified<'_>, IgnoredReason>> =
        keys.iter().map(|entry| classify(entry, profile)).collect();

    let mut kid_counts: BTreeMap<&str, usize> = BTreeMap::new();
    for entry in classified.iter().flatten() {
        if let Classified::Jwt { kid, .. } = entry {
            *kid_counts.entry(kid).or_default() += 1;
        }
    }

    let mut authorities = Vec::new();
    let mut ignored = Vec::new();
    for (index, entry) in classified.into_iter().enumerate() {
        let outcome = entry.and_then(|entry| match entry {
            Classified::X509 { object, kty } => {
                authorities.push((index, decode_authority(object, kty)?));
                Ok(())
            }
            Classified::Jwt { object, kty, kid } => {
                if kid_counts.get(kid).is_some_and(|count| *count > 1) {
                    return Err(IgnoredReason::DuplicateKeyId);
                }
                let key = decode_jwt_key(object, kty)?;
                decoded.jwt_keys.insert(kid.to_owned(), key);
                Ok(())
            }
        });
        if let Err(reason) = outcome {
            ignored.push((index, reason));
        }
    }

    let first = first_occurrences(authorities.iter().map(|(_, (der, _))| der.as_ref()));
    for ((index, authority), first) in authorities.into_iter().zip(first) {
        if first {
            decoded.authorities.push(authority);
        } else {
            ignored.push((index, IgnoredReason::DuplicateCertificate));
        }
    }

    ignored.sort_by_key(|(index, _)| *index);
    for (index, reason) in ignored {
        let kid = keys
            .get(index)
            .and_then(Value::as_object)
            .and_then(|object| match object.get("kid") {
                Some(Value::String(kid)) => Some(kid.as_str()),
                _ => None,
            });
        let entry = IgnoredKey {
            trust_domain: trust_domain.clone(),
            index,
            kid: kid.map(excerpt),
            reason,
        };
        if let Some(kid) = kid {
            if !decoded.jwt_keys.contains_key(kid) {
                decoded
                    .ignored_by_kid
                    .entry(kid.to_owned())
                    .or_insert_with(|| entry.clone());
            }
        }
        decoded.ignored.push(entry);
    }
    decoded
}

/// Reads `kty`, `use` and (for JWT keys) `kid`, in the order of the SPIFFE bundle rules
/// (digest 4.4 step 4).
fn classify(entry: &Value, profile: Profile) -> Result<Classified<'_>, IgnoredReason> {
    let object = entry.as_object().ok_or(IgnoredReason::NotAnObject)?;
    let kty = string_member(object, "kty")?.ok_or(IgnoredReason::MissingKeyType)?;
    if !KNOWN_KEY_TYPES.contains(&kty) {
        return Err(IgnoredReason::UnknownKeyType { kty: excerpt(kty) });
    }
    let is_jwt = match (string_member(object, "use")?, profile) {
        (Some(USE_JWT), _) | (None, Profile::WorkloadApiJwt) => true,
        (Some(USE_X509), Profile::SpiffeBundle) => false,
        (None, Profile::SpiffeBundle) => return Err(IgnoredReason::MissingUse),
        (Some(value @ (USE_X509 | USE_WIT)), _) => {
            return Err(IgnoredReason::UseNotAccepted {
                value: value.to_owned(),
            });
        }
        (Some(value), _) => {
            return Err(IgnoredReason::UnknownUse {
                value: excerpt(value),
            });
        }
    };
    if PRIVATE_MEMBERS.iter().any(|member| object.has(member)) {
        return Err(IgnoredReason::PrivateKeyMaterial);
    }
    if !is_jwt {
        // An x509-svid entry must not carry a kid (X509-SVID 6.1); a consumer has no use for
        // one, so it is disregarded rather than held against the entry.
        return Ok(Classified::X509 { object, kty });
    }
    match string_member(object, "kid")? {
        Some(kid) if !kid.is_empty() => Ok(Classified::Jwt { object, kty, kid }),
        _ => Err(IgnoredReason::MissingKeyId),
    }
}

/// Reads an `x509-svid` entry: the first `x5c` certificate is the authority, and the rest of
/// `x5c` is disregarded (X509-SVID 6.2).
fn decode_authority(
    object: &Object,
    kty: &str,
) -> Result<(CertificateDer<'static>, AuthorityKey), IgnoredReason> {
    let chain = match object.get("x5c") {
        None => return Err(IgnoredReason::MissingCertificate),
        Some(Value::Array(chain)) => chain,
        Some(_) => return Err(IgnoredReason::WrongMemberType { member: "x5c" }),
    };
    let encoded = match chain.first() {
        None => return Err(IgnoredReason::MissingCertificate),
        Some(Value::String(encoded)) => encoded,
        Some(_) => return Err(IgnoredReason::WrongMemberType { member: "x5c" }),
    };
    if encoded.len() > max_encoded_len(MAX_CERTIFICATE_BYTES) {
        return Err(IgnoredReason::InvalidCertificate(
            CertificateError::TooLarge {
                len: encoded.len() / 4 * 3,
                max: MAX_CERTIFICATE_BYTES,
            },
        ));
    }
    let der = BASE64
        .decode(encoded)
        .map_err(|_| IgnoredReason::CertificateBase64)?;
    let key = check_certificate(&der).map_err(IgnoredReason::InvalidCertificate)?;
    if !members_match(object, kty, key.params()) {
        return Err(IgnoredReason::CertificateKeyMismatch);
    }
    Ok((CertificateDer::from(der), key))
}

/// Whether the entry's `kty` and whichever key members it has agree with the certificate's
/// key. Absent members are not held against the entry: the certificate is the authority.
fn members_match(object: &Object, kty: &str, params: JwkParams<'_>) -> bool {
    if params.kty() != kty {
        return false;
    }
    if let Some(crv) = params.crv() {
        match object.get("crv") {
            None => {}
            Some(Value::String(found)) if found == crv => {}
            Some(_) => return false,
        }
    }
    params.binary_members().into_iter().all(|(name, expected)| {
        match object.get(name) {
            None => true,
            Some(Value::String(encoded))
                if encoded.len() <= max_encoded_len(MAX_CERTIFICATE_BYTES) =>
            {
                match BASE64URL.decode(encoded) {
                    // RSA integers may be written with leading zeros; EC and OKP values may not.
                    Ok(found) if kty == "RSA" => strip_leading_zeros(&found) == expected,
                    Ok(found) => found == expected,
                    Err(_) => false,
                }
            }
            Some(_) => false,
        }
    })
}

/// Decodes the public key of a `jwt-svid` entry.
fn decode_jwt_key(object: &Object, kty: &str) -> Result<JwtKey, IgnoredReason> {
    match kty {
        "EC" => {
            let crv = string_member(object, "crv")?.ok_or(IgnoredReason::InvalidKey(
                KeyError::MissingMember { member: "crv" },
            ))?;
            let curve = EcCurve::from_jwk_name(crv)
                .ok_or_else(|| IgnoredReason::UnsupportedCurve { crv: excerpt(crv) })?;
            let expected = curve.coordinate_len();
            let coordinate = |member| {
                binary_member(object, member, expected, |found| {
                    KeyError::BadCoordinateLength {
                        member,
                        curve,
                        expected,
                        found,
                    }
                })
            };
            let x = coordinate("x")?;
            let y = coordinate("y")?;
            EcPublicKey::from_coordinates(curve, &x, &y)
                .map(JwtKey::Ec)
                .map_err(IgnoredReason::InvalidKey)
        }
        "RSA" => {
            // One leading zero byte is tolerated on the modulus before the size limit applies.
            let n = binary_member(object, "n", MAX_RSA_MODULUS_BITS / 8 + 1, |_| {
                KeyError::RsaModulusTooLarge
            })?;
            let e = binary_member(object, "e", 8, |_| KeyError::BadRsaExponent)?;
            RsaPublicKey::from_components(&n, &e)
                .map(JwtKey::Rsa)
                .map_err(IgnoredReason::InvalidKey)
        }
        other => Err(IgnoredReason::UnsupportedKeyType {
            kty: other.to_owned(),
        }),
    }
}

/// A string member: `Ok(None)` when absent or `null`.
fn string_member<'a>(
    object: &'a Object,
    member: &'static str,
) -> Result<Option<&'a str>, IgnoredReason> {
    match object.get(member) {
        None => Ok(None),
        Some(Value::String(value)) => Ok(Some(value)),
        Some(_) => Err(IgnoredReason::WrongMemberType { member }),
    }
}

/// A required base64url member of at most `max_len` decoded bytes. The encoded length is
/// checked before decoding; `too_long` builds the error from the estimated decoded length.
fn binary_member(
    object: &Object,
    member: &'static str,
    max_len: usize,
    too_long: impl FnOnce(usize) -> KeyError,
) -> Result<Vec<u8>, IgnoredReason> {
    let encoded = string_member(object, member)?.ok_or(IgnoredReason::InvalidKey(
        KeyError::MissingMember { member },
    ))?;
    if encoded.len() > max_encoded_len(max_len) {
        return Err(IgnoredReason::InvalidKey(too_long(encoded.len() / 4 * 3)));
    }
    BASE64URL
        .decode(encoded)
        .map_err(|_| IgnoredReason::InvalidKey(KeyError::Base64 { member }))
}

/// The longest base64 text (padded) that decodes to at most `len` bytes.
fn max_encoded_len(len: usize) -> usize {
    len.div_ceil(3).saturating_mul(4)
}

/// At most [`MAX_REPORTED_LEN`] bytes of `value`, cut on a character boundary.
fn excerpt(value: &str) -> String {
    if value.len() <= MAX_REPORTED_LEN {
        return value.to_owned();
    }
    let mut end = MAX_REPORTED_LEN;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = value.get(..end).unwrap_or_default().to_owned();
    out.push('…');
    out
}

/// Writes an `x509-svid` entry: `kty`, `use`, the key members and `x5c` with exactly one
/// certificate, and never a `kid` (X509-SVID 6.1; digest X-12).
pub(crate) fn write_authority(out: &mut String, der: &[u8], key: &AuthorityKey) {
    let params = key.params();
    let mut entry = ObjectWriter::new(out);
    entry.string("kty", params.kty());
    entry.string("use", USE_X509);
    write_params(&mut entry, params);
    let x5c = entry.member("x5c");
    x5c.push_str("[\"");
    x5c.push_str(&STANDARD.encode(der));
    x5c.push_str("\"]");
    entry.finish();
}

/// Writes a `jwt-svid` entry, which always carries its `kid` (JWT-SVID 6.1; digest J-13).
pub(crate) fn write_jwt_key(out: &mut String, kid: &str, key: &JwtKey) {
    let params = key.params();
    let mut entry = ObjectWriter::new(out);
    entry.string("kty", params.kty());
    entry.string("use", USE_JWT);
    entry.string("kid", kid);
    write_params(&mut entry, params);
    entry.finish();
}

fn write_params(entry: &mut ObjectWriter<'_>, params: JwkParams<'_>) {
    if let Some(crv) = params.crv() {
        entry.string("crv", crv);
    }
    for (name, value) in params.binary_members() {
        entry.string(name, &URL_SAFE_NO_PAD.encode(value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpt_cuts_on_char_boundaries() {
        assert_eq!(excerpt("short"), "short");
        let long = "é".repeat(40); // 80 bytes
        let cut = excerpt(&long);
        assert_eq!(cut, "é".repeat(32) + "…");
    }

    #[test]
    fn encoded_len_bounds_decoded_len() {
        assert_eq!(max_encoded_len(32), 44);
        assert_eq!(max_encoded_len(66), 88);
        assert_eq!(max_encoded_len(0), 0);
    }
}
