//! Helpers for the JWT-SVID integration tests: keys, token minting and bundles.
//!
//! Tokens are minted in-test by signing with ring directly, never with the code under test.
//! Headers and claims are raw JSON strings, so a test can craft malformed ones (duplicate
//! members, extra headers, a string `exp`...) that no JWT library would produce.
//!
//! EC keys are generated per test. The RSA key is `tests/data/jwt/rsa2048.pk8.der` (ring cannot
//! generate RSA keys; see `tests/data/jwt/README.md`). Every test validates at the fixed
//! instant [`NOW`].

#![allow(
    dead_code,
    unreachable_pub,
    unused_imports,
    reason = "each test binary uses a different subset of these helpers"
)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers: a panic here is a failed test"
)]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair as _, RsaKeyPair, RsaPublicKeyComponents};
use spiffe_id::TrustDomain;
use svid::{Audience, Crypto, JwtAlgorithm, JwtBundleSource, JwtValidator};
/// 2026-06-01T00:00:00Z ([`NOW`]), the validation time of every test, and helpers around it.
pub use test_support::time::{NOW, at, now};
use trust_bundle::{
    BundleSet, EcCurve, EcPublicKey, JwtBundle, JwtKey, RsaPublicKey, SpiffeBundle,
};

/// The default `exp`: five minutes after [`NOW`], as SPIRE's default JWT-SVID TTL.
pub const EXP: u64 = NOW + 300;
/// The default `sub`.
pub const SUB: &str = "spiffe://example.org/workload";
/// The default audience, both in tokens and in the validator.
pub const AUD: &str = "spiffe://example.org/service";
/// The default trust domain.
pub const TD: &str = "example.org";

/// The RSA-2048 key, PKCS#8 DER.
const RSA2048_PKCS8: &[u8] = include_bytes!("../data/jwt/rsa2048.pk8.der");

/// A trust domain by name.
pub fn td(name: &str) -> TrustDomain {
    TrustDomain::parse(name).unwrap()
}

/// The validator's audience, [`AUD`].
pub fn audience() -> Audience {
    Audience::new([AUD]).unwrap()
}

/// The default validator (30 s leeway, `kid` required) over `source` on the default backend.
pub fn validator<S: JwtBundleSource>(source: S) -> JwtValidator<S> {
    JwtValidator::new(source, &Crypto::default())
}

/// Every backend compiled in, for tests that must hold on each of them.
pub fn backends() -> Vec<Crypto> {
    Vec::from([
        #[cfg(feature = "ring")]
        Crypto::ring(),
        #[cfg(feature = "aws-lc-rs")]
        Crypto::aws_lc_rs(),
    ])
}

/// Unpadded base64url (RFC 7515 2).
pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A JWT-SVID header: `{"alg":..,"kid":..,"typ":"JWT"}`.
pub fn header(alg: &str, kid: &str) -> String {
    format!(r#"{{"alg":"{alg}","kid":"{kid}","typ":"JWT"}}"#)
}

/// Claims with `sub`, `aud` (raw JSON, e.g. `"\"a\""` or `["a","b"]`), `exp` and `iat`.
pub fn claims(sub: &str, aud_json: &str, exp: u64) -> String {
    format!(r#"{{"sub":"{sub}","aud":{aud_json},"exp":{exp},"iat":{NOW}}}"#)
}

/// The claims of a token valid at [`NOW`] for [`AUD`], as SPIRE issues them (`aud` an array).
pub fn default_claims() -> String {
    claims(SUB, &format!(r#"["{AUD}"]"#), EXP)
}

/// Claims for [`AUD`] valid at [`NOW`] with another subject.
pub fn claims_for(sub: &str) -> String {
    claims(sub, &format!(r#"["{AUD}"]"#), EXP)
}

/// Assembles `b64(header).b64(claims).b64(signature)` without signing.
pub fn compact(header_json: &str, claims_json: &str, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        b64(header_json),
        b64(claims_json),
        b64(signature)
    )
}

/// The private half of a [`TestKey`].
enum Private {
    Ec {
        curve: EcCurve,
        pair: Box<EcdsaKeyPair>,
    },
    Rsa(Box<RsaKeyPair>),
}

/// A signing key with its `kid`: mints tokens and gives the matching [`JwtKey`].
pub struct TestKey {
    kid: String,
    private: Private,
}

impl TestKey {
    /// A fresh ECDSA P-256 key (ES256).
    pub fn p256(kid: &str) -> Self {
        Self::generate_ec(kid, EcCurve::P256)
    }

    /// A fresh ECDSA P-384 key (ES384).
    pub fn p384(kid: &str) -> Self {
        Self::generate_ec(kid, EcCurve::P384)
    }

    /// The RSA-2048 key of `tests/data/jwt/rsa2048.pk8.der` (RS*, PS*).
    pub fn rsa(kid: &str) -> Self {
        let pair = RsaKeyPair::from_pkcs8(RSA2048_PKCS8).unwrap();
        Self {
            kid: kid.to_owned(),
            private: Private::Rsa(Box::new(pair)),
        }
    }

    /// An EC key from PKCS#8 DER (e.g. rcgen's), for P-256 or P-384.
    pub fn ec_from_pkcs8(kid: &str, curve: EcCurve, pkcs8: &[u8]) -> Self {
        let pair =
            EcdsaKeyPair::from_pkcs8(signing_alg(curve), pkcs8, &SystemRandom::new()).unwrap();
        Self {
            kid: kid.to_owned(),
            private: Private::Ec {
                curve,
                pair: Box::new(pair),
            },
        }
    }

    fn generate_ec(kid: &str, curve: EcCurve) -> Self {
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(signing_alg(curve), &SystemRandom::new()).unwrap();
        Self::ec_from_pkcs8(kid, curve, pkcs8.as_ref())
    }

    /// The same private key under another `kid`.
    pub fn with_kid(self, kid: &str) -> Self {
        Self {
            kid: kid.to_owned(),
            ..self
        }
    }

    /// The key ID.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The algorithm this key signs with by default: ES256, ES384 or RS256.
    pub fn alg(&self) -> JwtAlgorithm {
        match &self.private {
            Private::Ec {
                curve: EcCurve::P256,
                ..
            } => JwtAlgorithm::Es256,
            Private::Ec {
                curve: EcCurve::P384,
                ..
            } => JwtAlgorithm::Es384,
            Private::Ec { curve, .. } => panic!("no ring signing for {curve}"),
            Private::Rsa(_) => JwtAlgorithm::Rs256,
        }
    }

    /// The public key, as a bundle holds it.
    pub fn jwt_key(&self) -> JwtKey {
        match &self.private {
            Private::Ec { curve, pair } => {
                JwtKey::Ec(EcPublicKey::from_sec1(*curve, pair.public_key().as_ref()).unwrap())
            }
            Private::Rsa(pair) => {
                let parts = RsaPublicKeyComponents::<Vec<u8>>::from(pair.public());
                JwtKey::Rsa(RsaPublicKey::from_components(&parts.n, &parts.e).unwrap())
            }
        }
    }

    /// The public key as a JWK object with this key's `kid` and, when given, `use`.
    pub fn jwk(&self, key_use: Option<&str>) -> String {
        let members = match self.jwt_key() {
            JwtKey::Ec(ec) => format!(
                r#""kty":"EC","crv":"{}","x":"{}","y":"{}""#,
                ec.curve().jwk_name(),
                b64(ec.x()),
                b64(ec.y())
            ),
            JwtKey::Rsa(rsa) => format!(
                r#""kty":"RSA","n":"{}","e":"{}""#,
                b64(rsa.modulus()),
                b64(rsa.exponent())
            ),
            other => panic!("unexpected key {other:?}"),
        };
        let key_use = key_use.map_or_else(String::new, |u| format!(r#","use":"{u}""#));
        format!(r#"{{{members},"kid":"{}"{key_use}}}"#, self.kid)
    }

    /// Signs `input` with `alg`, which must fit the key (ES256 for P-256, ES384 for P-384,
    /// RS*/PS* for RSA). ECDSA signatures come out as the JWS `r || s`.
    pub fn sign(&self, alg: JwtAlgorithm, input: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match &self.private {
            Private::Ec { curve, pair } => {
                assert_eq!(
                    curve.jws_algorithm(),
                    alg.name(),
                    "{alg} with a {curve} key"
                );
                pair.sign(&rng, input).unwrap().as_ref().to_vec()
            }
            Private::Rsa(pair) => {
                let padding: &'static dyn signature::RsaEncoding = match alg {
                    JwtAlgorithm::Rs256 => &signature::RSA_PKCS1_SHA256,
                    JwtAlgorithm::Rs384 => &signature::RSA_PKCS1_SHA384,
                    JwtAlgorithm::Rs512 => &signature::RSA_PKCS1_SHA512,
                    JwtAlgorithm::Ps256 => &signature::RSA_PSS_SHA256,
                    JwtAlgorithm::Ps384 => &signature::RSA_PSS_SHA384,
                    JwtAlgorithm::Ps512 => &signature::RSA_PSS_SHA512,
                    other => panic!("{other} with an RSA key"),
                };
                let mut out = vec![0; pair.public().modulus_len()];
                pair.sign(padding, &rng, input, &mut out).unwrap();
                out
            }
        }
    }

    /// A token with these raw header and claims JSON, signed with `alg` (whatever the header
    /// says).
    pub fn mint_as(&self, alg: JwtAlgorithm, header_json: &str, claims_json: &str) -> String {
        let signing_input = format!("{}.{}", b64(header_json), b64(claims_json));
        let signature = self.sign(alg, signing_input.as_bytes());
        format!("{signing_input}.{}", b64(signature))
    }

    /// A token with this raw header, signed with the key's default algorithm.
    pub fn mint_with_header(&self, header_json: &str, claims_json: &str) -> String {
        self.mint_as(self.alg(), header_json, claims_json)
    }

    /// A well-formed token: header `{"alg":<default>,"kid":<kid>,"typ":"JWT"}`.
    pub fn mint(&self, claims_json: &str) -> String {
        self.mint_with_header(&header(self.alg().name(), &self.kid), claims_json)
    }

    /// A token valid at [`NOW`] for [`AUD`] with subject [`SUB`].
    pub fn mint_default(&self) -> String {
        self.mint(&default_claims())
    }
}

fn signing_alg(curve: EcCurve) -> &'static signature::EcdsaSigningAlgorithm {
    match curve {
        EcCurve::P256 => &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        EcCurve::P384 => &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
        other => panic!("ring cannot sign with {other}"),
    }
}

/// The JWT bundle of `trust_domain` holding `keys` under their kids.
pub fn bundle(trust_domain: &str, keys: &[&TestKey]) -> JwtBundle {
    JwtBundle::from_keys(
        td(trust_domain),
        keys.iter().map(|key| (key.kid().to_owned(), key.jwt_key())),
    )
    .unwrap()
}

/// A bundle set of JWT bundles of distinct trust domains.
pub fn set(bundles: impl IntoIterator<Item = JwtBundle>) -> BundleSet {
    BundleSet::from_bundles(bundles.into_iter().map(SpiffeBundle::from)).unwrap()
}
