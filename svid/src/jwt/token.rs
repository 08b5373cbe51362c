//! Compact JWS parsing for JWT-SVIDs: structure and claims, no signature check.

use core::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};
use spiffe_id::SpiffeId;

use crate::error::JwtError;
use crate::jwt::JwtAlgorithm;

/// The longest token accepted. A JWT-SVID is a few hundred bytes; 16 KiB is twice the 8 KiB
/// header line limit common HTTP servers apply, so no legitimate token comes near it, and
/// decoding stays cheap for hostile input.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// The most `aud` values accepted. The spec recommends a single audience (JWT-SVID 3.2); 32 is
/// the bound other SPIFFE libraries settled on after unbounded arrays were reported.
pub const MAX_AUDIENCES: usize = 32;

/// The JOSE header: exactly `alg`, optionally `kid` and `typ`, all strings (JWT-SVID 2).
/// Read only from a JSON object (see [`parse_header`]); a present member must be a string,
/// `null` is not "absent".
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHeader {
    alg: String,
    #[serde(default, deserialize_with = "present_string")]
    kid: Option<String>,
    #[serde(default, deserialize_with = "present_string")]
    typ: Option<String>,
}

/// An optional member that, when present, must be a string (absent members take the default).
fn present_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    String::deserialize(deserializer).map(Some)
}

/// A JWT-SVID whose structure and claims were checked but whose signature was not.
#[derive(Clone, Debug)]
pub struct JwtSvid {
    pub(crate) algorithm: JwtAlgorithm,
    pub(crate) kid: Option<String>,
    pub(crate) spiffe_id: SpiffeId,
    pub(crate) audience: Vec<String>,
    /// `exp`, seconds since the epoch (fractions allowed by RFC 7519 2).
    pub(crate) expiry: f64,
    pub(crate) not_before: Option<f64>,
    pub(crate) claims: Map<String, Value>,
    /// Byte length of `header.payload`, the signed part of the token.
    pub(crate) signed_len: usize,
    pub(crate) signature: Vec<u8>,
}

impl JwtSvid {
    /// Parses a token without verifying its signature: for inspection and logging only. Never
    /// base an authorisation decision on the result; use [`JwtValidator`](crate::JwtValidator).
    ///
    /// # Errors
    /// Any structural [`JwtError`] (J-1, J-2, J-3, J-4, J-6, J-8 and the header rules).
    pub fn parse_insecure(token: &str) -> Result<Self, JwtError> {
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
        let header = parse_header(&decode(header)?)?;
        let algorithm = JwtAlgorithm::from_name(&header.alg)
            .ok_or(JwtError::UnsupportedAlgorithm(header.alg))?;
        if let Some(typ) = header.typ {
            if typ != "JWT" && typ != "JOSE" {
                return Err(JwtError::BadType(typ));
            }
        }

        let claims = parse_claims(&decode(payload)?)?;
        let spiffe_id = match claims.get("sub") {
            None => return Err(JwtError::MissingClaim("sub")),
            Some(Value::String(sub)) => SpiffeId::parse(sub).map_err(JwtError::BadSubject)?,
            Some(_) => return Err(JwtError::BadClaimType("sub")),
        };
        if spiffe_id.is_root() {
            return Err(JwtError::RootSubject);
        }
        let audience = read_audience(&claims)?;
        let expiry = read_numeric_date(&claims, "exp")?.ok_or(JwtError::MissingClaim("exp"))?;
        let not_before = read_numeric_date(&claims, "nbf")?;
        // `iat` is optional, but a present one must be a date too: malformed dates are errors,
        // never "absent".
        read_numeric_date(&claims, "iat")?;

        let signature = decode(signature)?;
        if let Some(scalar) = algorithm.ecdsa_scalar_len() {
            if signature.len() != 2 * scalar {
                return Err(JwtError::BadSignatureEncoding);
            }
        }
        Ok(Self {
            algorithm,
            kid: header.kid,
            spiffe_id,
            audience,
            expiry,
            not_before,
            claims,
            signed_len: token.len() - signature_b64_len(token),
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
        &self.claims
    }
}

/// Length of the last part plus its dot.
fn signature_b64_len(token: &str) -> usize {
    token.rfind('.').map_or(0, |dot| token.len() - dot)
}

/// base64url without padding (RFC 7515 2); padding or other alphabets are errors.
fn decode(part: &str) -> Result<Vec<u8>, JwtError> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| JwtError::BadBase64)
}

fn read_audience(claims: &Map<String, Value>) -> Result<Vec<String>, JwtError> {
    let audience = match claims.get("aud") {
        None => return Err(JwtError::MissingClaim("aud")),
        Some(Value::String(one)) => vec![one.clone()],
        Some(Value::Array(many)) => {
            if many.len() > MAX_AUDIENCES {
                return Err(JwtError::TooManyAudiences { count: many.len() });
            }
            many.iter()
                .map(|v| v.as_str().map(str::to_owned))
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
fn read_numeric_date(
    claims: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<f64>, JwtError> {
    match claims.get(name) {
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
fn parse_header(json: &[u8]) -> Result<RawHeader, JwtError> {
    let bad = |e: serde_json::Error| JwtError::BadHeader(e.to_string());
    let StrictObject(members) = serde_json::from_slice(json).map_err(bad)?;
    RawHeader::deserialize(Value::Object(members)).map_err(bad)
}

/// The claims object, refusing duplicate member names: with duplicates, two parsers could see
/// two different `sub` or `aud` values in one token (RFC 7519 4 asks for rejection or the last
/// value; rejection is the safe half).
fn parse_claims(json: &[u8]) -> Result<Map<String, Value>, JwtError> {
    let StrictObject(claims) =
        serde_json::from_slice(json).map_err(|e| JwtError::BadClaims(e.to_string()))?;
    Ok(claims)
}

struct StrictObject(Map<String, Value>);

impl<'de> Deserialize<'de> for StrictObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(StrictObjectVisitor)
    }
}

struct StrictObjectVisitor;

impl<'de> Visitor<'de> for StrictObjectVisitor {
    type Value = StrictObject;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object without duplicate member names")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<StrictObject, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            if map.contains_key(&key) {
                return Err(de::Error::custom(format_args!("duplicate member `{key}`")));
            }
            let value: Value = access.next_value()?;
            map.insert(key, value);
        }
        Ok(StrictObject(map))
    }
}
