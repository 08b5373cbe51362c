//! An ES256 JWT-SVID signing key, signed with ring directly (never with the code under test).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use serde_json::{Value, json};

use crate::time::unix_now;

/// An ECDSA P-256 key with its `kid`, for JWT-SVIDs and their JWKS.
#[derive(Debug)]
pub struct Es256Key {
    /// The key ID, in token headers and in the JWKS.
    pub kid: String,
    pair: EcdsaKeyPair,
}

impl Es256Key {
    /// A fresh key named `kid`.
    #[track_caller]
    pub fn generate(kid: &str) -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        Self {
            kid: kid.to_owned(),
            pair,
        }
    }

    /// The uncompressed SEC1 public point (`04 || x || y`).
    pub fn public_point(&self) -> &[u8] {
        self.pair.public_key().as_ref()
    }

    /// A compact JWS of `claims` with the header `{"alg":"ES256","kid":<kid>,"typ":"JWT"}`.
    #[track_caller]
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_raw(&claims.to_string())
    }

    /// [`Self::sign`] over claims given as JSON text, byte for byte (so a test can craft claims
    /// no JSON library would write).
    #[track_caller]
    pub fn sign_raw(&self, claims: &str) -> String {
        let header = json!({"alg": "ES256", "kid": self.kid, "typ": "JWT"});
        let signed = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims)
        );
        let signature = self
            .pair
            .sign(&SystemRandom::new(), signed.as_bytes())
            .unwrap();
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
    }

    /// A JWT-SVID for `sub` and `audience`, issued now on the wall clock and expiring
    /// `lifetime_secs` later.
    #[track_caller]
    pub fn jwt_svid(&self, sub: &str, audience: &[&str], lifetime_secs: u64) -> String {
        let now = unix_now();
        self.sign(&json!({
            "sub": sub,
            "aud": audience,
            "iat": now,
            "exp": now + lifetime_secs,
        }))
    }

    /// This key as a JWK (`kty` EC, `crv` P-256, no `use`, as SPIRE sends it to workloads).
    pub fn jwk(&self) -> Value {
        let point = self.public_point();
        let (x, y) = point[1..].split_at(32);
        json!({
            "kty": "EC", "crv": "P-256", "kid": self.kid,
            "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y),
        })
    }

    /// A Workload API JWKS (`{"keys": [jwk]}`) holding this key, as bytes.
    pub fn jwks(&self) -> Vec<u8> {
        json!({"keys": [self.jwk()]}).to_string().into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_es256_with_the_kid() {
        let key = Es256Key::generate("k1");
        let token = key.sign_raw(r#"{"sub":"spiffe://example.org/w"}"#);
        let header = token.split('.').next().unwrap();
        assert_eq!(
            URL_SAFE_NO_PAD.decode(header).unwrap(),
            br#"{"alg":"ES256","kid":"k1","typ":"JWT"}"#
        );
        assert_eq!(key.public_point().len(), 65);
    }
}
