//! JWT-SVID encoding and signing (JWT-SVID 2, 3; digest 3.8).

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use spiffe_id::SpiffeId;
use svid::JwtAlgorithm;
use trust_bundle::{EcCurve, EcPublicKey, JwtKey, RsaPublicKey};

use crate::algorithm::SignatureAlgorithm;
use crate::der::{self, Reader, tag};
use crate::error::{Error, SignerError};
use crate::keys::JwtAuthority;
use crate::request::JwtSvidRequest;
use crate::signer::Signer;

/// RFC 7519 4.1 registered claim names: set by the CA or not at all.
const REGISTERED: &[&str] = &["iss", "sub", "aud", "exp", "nbf", "iat", "jti"];

pub(crate) fn authority(
    kid: String,
    key_ref: String,
    signer: Arc<dyn Signer>,
    algorithm: JwtAlgorithm,
    not_before: u64,
    not_after: u64,
) -> JwtAuthority {
    // Only `alg`, `kid` and `typ` (JWT-SVID 2; J-12). serde_json escapes the kid.
    let header = serde_json::json!({ "alg": algorithm.name(), "kid": kid, "typ": "JWT" });
    let mut header_prefix = URL_SAFE_NO_PAD.encode(header.to_string());
    header_prefix.push('.');
    JwtAuthority {
        kid,
        key_ref,
        signer,
        algorithm,
        header_prefix,
        not_before,
        not_after,
        issued_until: AtomicU64::new(0),
    }
}

/// The claims JSON: `aud`, `exp`, `iat`, `sub`, then the extra claims.
pub(crate) fn claims(
    spiffe_id: &SpiffeId,
    audience: &[String],
    iat: u64,
    exp: u64,
    request: &JwtSvidRequest,
) -> Result<String, Error> {
    let mut out = String::with_capacity(128);
    out.push_str("{\"aud\":");
    out.push_str(
        &serde_json::to_string(audience).map_err(|_| Error::InvalidRequest {
            reason: "audience cannot be encoded",
        })?,
    );
    out.push_str(&format!(",\"exp\":{exp},\"iat\":{iat},\"sub\":"));
    out.push_str(&serde_json::to_string(spiffe_id.as_str()).map_err(|_| {
        Error::InvalidRequest {
            reason: "subject cannot be encoded",
        }
    })?);
    for (name, value) in request.extra_claims() {
        if REGISTERED.contains(&name.as_str()) {
            return Err(Error::ReservedClaim { name: name.clone() });
        }
        let unencodable = |_| Error::InvalidRequest {
            reason: "claim cannot be encoded",
        };
        out.push(',');
        out.push_str(&serde_json::to_string(name).map_err(unencodable)?);
        out.push(':');
        out.push_str(&serde_json::to_string(value).map_err(unencodable)?);
    }
    out.push('}');
    Ok(out)
}

/// Signs `claims` with `key`: the compact JWS.
pub(crate) fn sign(key: &JwtAuthority, claims: &str) -> Result<String, Error> {
    let mut token = String::with_capacity(key.header_prefix.len() + claims.len() * 2 + 140);
    token.push_str(&key.header_prefix);
    URL_SAFE_NO_PAD.encode_string(claims, &mut token);
    let signature = key.signer.sign(token.as_bytes())?;
    let signature = key
        .algorithm
        .jws_signature(signature)
        .map_err(|_| Error::Signer(SignerError::new("malformed ECDSA signature from signer")))?;
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(signature, &mut token);
    Ok(token)
}

/// The bundle form of a JWT key's public half.
pub(crate) fn public_key(signer: &dyn Signer) -> Result<JwtKey, Error> {
    let bad = || Error::InvalidRequest {
        reason: "the signer's public key cannot be published as a JWK",
    };
    let mut spki =
        Reader::new(der::read_single(signer.public_key_spki(), tag::SEQUENCE).map_err(|_| bad())?);
    spki.read(tag::SEQUENCE).map_err(|_| bad())?;
    let bits =
        der::bit_string_bytes(spki.read(tag::BIT_STRING).map_err(|_| bad())?).map_err(|_| bad())?;
    Ok(match signer.algorithm() {
        SignatureAlgorithm::EcdsaP256Sha256 => {
            JwtKey::Ec(EcPublicKey::from_sec1(EcCurve::P256, bits).map_err(|_| bad())?)
        }
        SignatureAlgorithm::EcdsaP384Sha384 => {
            JwtKey::Ec(EcPublicKey::from_sec1(EcCurve::P384, bits).map_err(|_| bad())?)
        }
        SignatureAlgorithm::RsaPkcs1Sha256 | SignatureAlgorithm::RsaPssSha256 => {
            let mut rsa = Reader::new(der::read_single(bits, tag::SEQUENCE).map_err(|_| bad())?);
            let n = rsa.read(tag::INTEGER).map_err(|_| bad())?;
            let e = rsa.read(tag::INTEGER).map_err(|_| bad())?;
            JwtKey::Rsa(RsaPublicKey::from_components(n, e).map_err(|_| bad())?)
        }
        SignatureAlgorithm::Ed25519 => {
            return Err(Error::Unsupported {
                what: "Ed25519 is not a JWT-SVID algorithm",
            });
        }
    })
}
