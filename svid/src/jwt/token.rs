//! Compact JWS parsing for JWT-SVIDs: structure and claims, no signature check.

use core::fmt;
use std::borrow::Cow;
use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use spiffe_id::SpiffeId;

use crate::error::JwtError;
use crate::jwt::JwtAlgorithm;

pub use crate::jwt_limits::{MAX_AUDIENCES, MAX_TOKEN_LEN};

/// The JOSE header: exactly `alg`, optionally `kid` and `typ`, all strings (JWT-SVID 2).
/// Read only from a JSON object (see [`parse_header`]); a present member must be a string,
/// `null` is not "absent".
struct RawHeader<'a> {
    alg: Cow<'a, str>,
    kid: Option<String>,
    typ: Option<Cow<'a, str>>,
}

/// A JWT-SVID whose structure and claims were checked but whose signature was not.
#[derive(Clone, Debug)]
pub struct UnverifiedJwtSvid {
    pub(crate) algorithm: JwtAlgorithm,
    pub(crate) kid: Option<String>,
    pub(crate) spiffe_id: SpiffeId,
    pub(crate) audience: Vec<String>,
    /// `exp`, seconds since the epoch (fractions allowed by RFC 7519 2).
    pub(crate) expiry: f64,
    pub(crate) not_before: Option<f64>,
    claims: Claims,
    /// Byte length of `header.payload`, the signed part of the token.
    pub(crate) signed_len: usize,
    pub(crate) signature: Vec<u8>,
}

impl UnverifiedJwtSvid {
    /// Parses a token without verifying its signature: for inspection and logging only. Never
    /// base an authorisation decision on the result; use [`JwtValidator`](crate::JwtValidator).
    ///
    /// # Errors
    /// Any structural [`JwtError`] (J-1, J-2, J-3, J-4, J-6, J-8 and the header rules).
    pub fn parse_insecure(token: &str) -> Result<Self, JwtError> {
        let parsed = Self::parse_structure(token)?;
        parsed.check_signature_len()?;
        Ok(parsed)
    }

    /// An `ES*` signature must be `r || s` of the curve's size (RFC 7518 3.4).
    pub(crate) fn check_signature_len(&self) -> Result<(), JwtError> {
        match self.algorithm.ecdsa_scalar_len() {
            Some(scalar) if self.signature.len() != 2 * scalar => {
                Err(JwtError::BadSignatureEncoding)
            }
            _ => Ok(()),
        }
    }

    /// [`parse_insecure`](Self::parse_insecure) without the signature length check, which the
    /// validator makes only once the `kid` key is known to fit `alg`: a token signed by a
    /// P-256 key but labelled ES384 is a key mismatch to report as such, not a malformed
    /// signature.
    pub(crate) fn parse_structure(token: &str) -> Result<Self, JwtError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(JwtError::TokenTooLong { len: token.len() });
        }
        // JWS JSON serialization is a JSON object; its unprotected header may hold dots, so
        // refuse it by shape before counting parts. JWE compact has five parts (digest J-1).
        if token.trim_start().starts_with('{') {
            return Err(JwtError::NotCompact);
        }
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwtError::NotCompact);
        };
        let signed_len = header.len() + 1 + payload.len();
        let header_json = decode(header)?;
        let header = parse_header(&header_json)?;
        let Some(algorithm) = JwtAlgorithm::from_name(&header.alg) else {
            return Err(JwtError::UnsupportedAlgorithm(header.alg.into_owned()));
        };
        if let Some(typ) = header.typ {
            if typ != "JWT" && typ != "JOSE" {
                return Err(JwtError::BadType(typ.into_owned()));
            }
        }

        let payload = decode(payload)?;
        let registered = parse_claims(&payload)?;
        let spiffe_id = match &registered.sub {
            None => return Err(JwtError::MissingClaim("sub")),
            Some(Value::String(sub)) => SpiffeId::parse(sub).map_err(JwtError::BadSubject)?,
            Some(_) => return Err(JwtError::BadClaimType("sub")),
        };
        if spiffe_id.is_root() {
            return Err(JwtError::RootSubject);
        }
        let audience = read_audience(registered.aud)?;
        let expiry =
            read_numeric_date(registered.exp, "exp")?.ok_or(JwtError::MissingClaim("exp"))?;
        let not_before = read_numeric_date(registered.nbf, "nbf")?;
        // `iat` is optional, but a present one must be a date too: malformed dates are errors,
        // never "absent".
        read_numeric_date(registered.iat, "iat")?;

        let signature = decode(signature)?;
        Ok(Self {
            algorithm,
            kid: header.kid,
            spiffe_id,
            audience,
            expiry,
            not_before,
            claims: Claims {
                json: payload,
                map: OnceLock::new(),
            },
            signed_len,
            signature,
        })
    }

    /// The signature algorithm from the header.
    pub fn algorithm(&self) -> JwtAlgorithm {
        self.algorithm
    }

    /// The key ID from the header.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The `sub` claim.
    pub fn spiffe_id(&self) -> &SpiffeId {
        &self.spiffe_id
    }

    /// The `aud` claim, always as a list.
    pub fn audience(&self) -> &[String] {
        &self.audience
    }

    /// The `exp` claim, seconds since the Unix epoch.
    pub fn expiry(&self) -> f64 {
        self.expiry
    }

    /// All claims, registered ones included.
    pub fn claims(&self) -> &Map<String, Value> {
        self.claims.map()
    }
}

/// The claims object, kept as its JSON and turned into a map on first use only: validation
/// needs the registered claims alone, which [`parse_claims`] reads without building a map.
#[derive(Clone)]
struct Claims {
    json: Vec<u8>,
    map: OnceLock<Map<String, Value>>,
}

impl Claims {
    fn map(&self) -> &Map<String, Value> {
        // `parse_claims` accepted this JSON with the same grammar (`Skip` parses every value as
        // `Value` does, numbers included), so this cannot fail; empty is the safe fallback.
        self.map
            .get_or_init(|| serde_json::from_slice(&self.json).unwrap_or_default())
    }
}

impl fmt::Debug for Claims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.map(), f)
    }
}

/// base64url without padding (RFC 7515 2); padding or other alphabets are errors.
fn decode(part: &str) -> Result<Vec<u8>, JwtError> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| JwtError::BadBase64)
}

fn read_audience(aud: Option<Value>) -> Result<Vec<String>, JwtError> {
    let audience = match aud {
        None => return Err(JwtError::MissingClaim("aud")),
        Some(Value::String(one)) => vec![one],
        Some(Value::Array(many)) => {
            if many.len() > MAX_AUDIENCES {
                return Err(JwtError::TooManyAudiences { count: many.len() });
            }
            many.into_iter()
                .map(|v| match v {
                    Value::String(s) => Some(s),
                    _ => None,
                })
                .collect::<Option<Vec<_>>>()
                .ok_or(JwtError::BadClaimType("aud"))?
        }
        Some(_) => return Err(JwtError::BadClaimType("aud")),
    };
    if audience.is_empty() || audience.iter().any(String::is_empty) {
        return Err(JwtError::EmptyAudienceClaim);
    }
    Ok(audience)
}

/// A NumericDate claim (RFC 7519 2): a finite, non-negative JSON number. `None` when absent.
fn read_numeric_date(claim: Option<Value>, name: &'static str) -> Result<Option<f64>, JwtError> {
    match claim {
        None => Ok(None),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(t) if t.is_finite() && t >= 0.0 => Ok(Some(t)),
            _ => Err(JwtError::BadClaimType(name)),
        },
        Some(_) => Err(JwtError::BadClaimType(name)),
    }
}

/// The JOSE header. It must be a JSON object without duplicate member names (RFC 7515 4): a
/// derived `Deserialize` alone would also take a JSON array (`["ES256","k1"]`) and let the last
/// of two `alg` members win in some parsers and the first in others.
fn parse_header(json: &[u8]) -> Result<RawHeader<'_>, JwtError> {
    let StrictHeader(header) =
        serde_json::from_slice(json).map_err(|e| JwtError::BadHeader(e.to_string()))?;
    Ok(header)
}

const HEADER_MEMBERS: &[&str] = &["alg", "kid", "typ"];

/// A header member name, matched without allocating.
enum HeaderMember {
    Alg,
    Kid,
    Typ,
}

impl<'de> Deserialize<'de> for HeaderMember {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_identifier(HeaderMemberVisitor)
    }
}

struct HeaderMemberVisitor;

impl Visitor<'_> for HeaderMemberVisitor {
    type Value = HeaderMember;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("`alg`, `kid` or `typ`")
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<HeaderMember, E> {
        match name {
            "alg" => Ok(HeaderMember::Alg),
            "kid" => Ok(HeaderMember::Kid),
            "typ" => Ok(HeaderMember::Typ),
            other => Err(E::unknown_field(other, HEADER_MEMBERS)),
        }
    }
}

struct StrictHeader<'de>(RawHeader<'de>);

impl<'de> Deserialize<'de> for StrictHeader<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(StrictHeaderVisitor)
    }
}

struct StrictHeaderVisitor;

impl<'de> Visitor<'de> for StrictHeaderVisitor {
    type Value = StrictHeader<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JOSE header object without duplicate member names")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<StrictHeader<'de>, A::Error> {
        let (mut alg, mut kid, mut typ) = (None, None, None);
        while let Some(member) = access.next_key::<HeaderMember>()? {
            let (slot, name) = match member {
                HeaderMember::Alg => (&mut alg, "alg"),
                HeaderMember::Kid => (&mut kid, "kid"),
                HeaderMember::Typ => (&mut typ, "typ"),
            };
            if slot.is_some() {
                return Err(de::Error::duplicate_field(name));
            }
            // A present member must be a string: `null` is an error, not "absent".
            let MemberName(value) = access.next_value()?;
            *slot = Some(value);
        }
        let alg = alg.ok_or_else(|| de::Error::missing_field("alg"))?;
        Ok(StrictHeader(RawHeader {
            alg,
            kid: kid.map(Cow::into_owned),
            typ,
        }))
    }
}

/// The registered claims validation reads, as JSON values (their types are checked by the
/// caller, so a wrong type is `BadClaimType`, not a parse error).
#[derive(Default)]
struct Registered {
    sub: Option<Value>,
    aud: Option<Value>,
    exp: Option<Value>,
    nbf: Option<Value>,
    iat: Option<Value>,
}

/// The claims object, refusing duplicate member names: with duplicates, two parsers could see
/// two different `sub` or `aud` values in one token (RFC 7519 4 asks for rejection or the last
/// value; rejection is the safe half). Only the registered claims are kept; every other value
/// is parsed (so the grammar is `Value`'s) and dropped.
fn parse_claims(json: &[u8]) -> Result<Registered, JwtError> {
    let StrictClaims(registered) =
        serde_json::from_slice(json).map_err(|e| JwtError::BadClaims(e.to_string()))?;
    Ok(registered)
}

struct StrictClaims(Registered);

impl<'de> Deserialize<'de> for StrictClaims {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(StrictClaimsVisitor)
    }
}

struct StrictClaimsVisitor;

impl<'de> Visitor<'de> for StrictClaimsVisitor {
    type Value = StrictClaims;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object without duplicate member names")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<StrictClaims, A::Error> {
        let mut registered = Registered::default();
        // Borrowed from the input unless the name has escapes.
        let mut names: Vec<Cow<'de, str>> = Vec::new();
        while let Some(MemberName(name)) = access.next_key()? {
            let slot = match &*name {
                "sub" => Some(&mut registered.sub),
                "aud" => Some(&mut registered.aud),
                "exp" => Some(&mut registered.exp),
                "nbf" => Some(&mut registered.nbf),
                "iat" => Some(&mut registered.iat),
                _ => None,
            };
            match slot {
                Some(slot) => *slot = Some(access.next_value::<Value>()?),
                None => access.next_value::<Skip>().map(|Skip| ())?,
            }
            names.push(name);
        }
        if let Some(name) = trust_bundle::json::duplicate_member(&mut names) {
            return Err(de::Error::custom(format_args!("duplicate member `{name}`")));
        }
        Ok(StrictClaims(registered))
    }
}

/// A JSON string (a member name, or a header value), borrowed from the input when it has no
/// escapes.
struct MemberName<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for MemberName<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(MemberNameVisitor)
    }
}

struct MemberNameVisitor;

impl<'de> Visitor<'de> for MemberNameVisitor {
    type Value = MemberName<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: de::Error>(self, name: &'de str) -> Result<Self::Value, E> {
        Ok(MemberName(Cow::Borrowed(name)))
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<Self::Value, E> {
        Ok(MemberName(Cow::Owned(name.to_owned())))
    }
}

/// Any JSON value, parsed as `Value` would parse it (numbers included, so the same inputs are
/// refused) and dropped.
struct Skip;

impl<'de> Deserialize<'de> for Skip {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SkipVisitor)
    }
}

struct SkipVisitor;

impl<'de> Visitor<'de> for SkipVisitor {
    type Value = Skip;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Skip, A::Error> {
        while seq.next_element::<Skip>()?.is_some() {}
        Ok(Skip)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Skip, A::Error> {
        while map.next_entry::<Skip, Skip>()?.is_some() {}
        Ok(Skip)
    }
}
