//! JWT-SVID vectors: valid tokens per algorithm and one vector per defect of digest 3.4 and
//! J-1..J-11.
//!
//! Headers and claims are written as raw JSON text, so a vector can carry what no JWT library
//! would produce (a `crit` header, a string `exp`). Tokens are signed with ring directly.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rcgen::KeyPair;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RsaKeyPair};
use serde_json::{Value, json};

use crate::Result;
use crate::manifest::{Entry, Expected, Kind};
use crate::mint::{self, JWT_EXPIRED, JWT_NOT_BEFORE_FUTURE, NOT_AFTER, NOT_BEFORE};

/// The trust domain of most vectors.
const TD: &str = "example.org";
/// A second trust domain, for the cross-domain vectors.
const OTHER_TD: &str = "other.example";
/// The default `sub`.
const SUB: &str = "spiffe://example.org/workload";
/// The audience every validator identifies as, and the default `aud`.
const AUD: &str = "spiffe://example.org/service";

/// A private key with its `kid`.
struct SigningKey {
    kid: &'static str,
    private: Private,
}

enum Private {
    Ec {
        crv: &'static str,
        pkcs8: Vec<u8>,
        pair: EcdsaKeyPair,
    },
    Rsa(RsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

impl SigningKey {
    fn p256(kid: &'static str) -> Result<Self> {
        Self::ec(kid, "P-256", &signature::ECDSA_P256_SHA256_FIXED_SIGNING)
    }

    fn p384(kid: &'static str) -> Result<Self> {
        Self::ec(kid, "P-384", &signature::ECDSA_P384_SHA384_FIXED_SIGNING)
    }

    fn ec(
        kid: &'static str,
        crv: &'static str,
        alg: &'static signature::EcdsaSigningAlgorithm,
    ) -> Result<Self> {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng)
            .map_err(crypto)?
            .as_ref()
            .to_vec();
        let pair = EcdsaKeyPair::from_pkcs8(alg, &pkcs8, &rng).map_err(crypto)?;
        Ok(Self {
            kid,
            private: Private::Ec { crv, pkcs8, pair },
        })
    }

    fn rsa(kid: &'static str, keys: &mint::Keys) -> Result<Self> {
        Ok(Self {
            kid,
            private: Private::Rsa(RsaKeyPair::from_pkcs8(keys.rsa_pkcs8()).map_err(crypto)?),
        })
    }

    fn ed25519(kid: &'static str) -> Result<Self> {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).map_err(crypto)?;
        Ok(Self {
            kid,
            private: Private::Ed25519(Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(crypto)?),
        })
    }

    /// The public key as a JWK with this key's `kid` and, when given, `use`.
    fn jwk(&self, key_use: Option<&str>) -> Result<Value> {
        let mut jwk = match &self.private {
            Private::Ec { crv, pair, .. } => {
                let point = pair.public_key().as_ref();
                let coordinates = point.get(1..).ok_or("empty EC point")?;
                let (x, y) = coordinates.split_at(coordinates.len() / 2);
                json!({"kty": "EC", "crv": crv, "x": b64(x), "y": b64(y)})
            }
            Private::Rsa(pair) => {
                let public = signature::RsaPublicKeyComponents::<Vec<u8>>::from(pair.public());
                json!({"kty": "RSA", "n": b64(&public.n), "e": b64(&public.e)})
            }
            Private::Ed25519(pair) => {
                json!({"kty": "OKP", "crv": "Ed25519", "x": b64(pair.public_key().as_ref())})
            }
        };
        let members = jwk.as_object_mut().ok_or("JWK is an object")?;
        members.insert("kid".to_owned(), Value::from(self.kid));
        if let Some(key_use) = key_use {
            members.insert("use".to_owned(), Value::from(key_use));
        }
        Ok(jwk)
    }

    /// The `jwt-svid` JWK of this key.
    fn jwt_svid_jwk(&self) -> Result<Value> {
        self.jwk(Some("jwt-svid"))
    }

    /// Signs with the algorithm named by `alg`, which must fit the key. ECDSA signatures come
    /// out as the JWS `r || s`.
    fn sign(&self, alg: &str, input: &[u8]) -> Result<Vec<u8>> {
        let rng = SystemRandom::new();
        match (&self.private, alg) {
            (
                Private::Ec {
                    crv: "P-256", pair, ..
                },
                "ES256",
            )
            | (
                Private::Ec {
                    crv: "P-384", pair, ..
                },
                "ES384",
            ) => Ok(pair.sign(&rng, input).map_err(crypto)?.as_ref().to_vec()),
            (Private::Rsa(pair), _) => {
                let padding: &'static dyn signature::RsaEncoding = match alg {
                    "RS256" => &signature::RSA_PKCS1_SHA256,
                    "PS256" => &signature::RSA_PSS_SHA256,
                    other => return Err(format!("no RSA signing for {other}").into()),
                };
                let mut out = vec![0; pair.public().modulus_len()];
                pair.sign(padding, &rng, input, &mut out).map_err(crypto)?;
                Ok(out)
            }
            (Private::Ed25519(pair), "EdDSA") => Ok(pair.sign(input).as_ref().to_vec()),
            _ => Err(format!("{alg} does not fit key {}", self.kid).into()),
        }
    }

    /// A compact token with these raw header and claims, signed with `alg`.
    fn mint(&self, alg: &str, header: &str, claims: &str) -> Result<String> {
        let input = format!("{}.{}", b64(header), b64(claims));
        let signature = self.sign(alg, input.as_bytes())?;
        Ok(format!("{input}.{}", b64(signature)))
    }

    /// A token with the standard header `{"alg","kid","typ":"JWT"}`.
    fn mint_standard(&self, alg: &str, claims: &str) -> Result<String> {
        self.mint(alg, &header(alg, self.kid), claims)
    }
}

/// ring's errors implement `std::error::Error` only with its `std` feature, which this crate
/// does not turn on for the whole workspace; keep their message.
fn crypto(error: impl std::fmt::Display) -> Box<dyn std::error::Error> {
    format!("ring: {error}").into()
}

/// Unpadded base64url (RFC 7515 2).
fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The JWT-SVID header as SPIRE writes it.
fn header(alg: &str, kid: &str) -> String {
    format!(r#"{{"alg":"{alg}","kid":"{kid}","typ":"JWT"}}"#)
}

/// Claims valid at the validation time: `sub`, `aud` (an array, as SPIRE issues it), `exp`,
/// `iat`.
fn claims() -> String {
    claims_with(&format!(r#""sub":"{SUB}","aud":["{AUD}"]"#))
}

/// Claims with the given `sub`/`aud` members plus the standard `exp` and `iat`.
fn claims_with(sub_and_aud: &str) -> String {
    format!(
        r#"{{{sub_and_aud},"exp":{},"iat":{}}}"#,
        NOT_AFTER.unix(),
        NOT_BEFORE.unix()
    )
}

/// Claims for another subject.
fn claims_for(sub: &str) -> String {
    claims_with(&format!(r#""sub":"{sub}","aud":["{AUD}"]"#))
}

/// A SPIFFE bundle document holding these JWKs.
fn bundle(keys: Vec<Value>) -> Value {
    json!({ "keys": keys })
}

/// One JWT vector before it is written.
pub(crate) struct JwtVector {
    name: &'static str,
    rule: &'static str,
    token: String,
    bundles: Vec<(&'static str, Value)>,
    audience: Vec<&'static str>,
    expected: Expected,
}

impl std::fmt::Debug for JwtVector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVector")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl JwtVector {
    fn new(
        name: &'static str,
        rule: &'static str,
        token: String,
        bundles: Vec<(&'static str, Value)>,
        expected: Expected,
    ) -> Self {
        Self {
            name,
            rule,
            token,
            bundles,
            audience: vec![AUD],
            expected,
        }
    }

    /// Writes `jwt/<name>.token.json` and one `jwt/<name>.bundle.<td>.json` per bundle, and
    /// returns the manifest entry.
    pub(crate) fn write(&self, dir: &Path) -> Result<Entry> {
        let folder = dir.join("jwt");
        std::fs::create_dir_all(&folder)?;
        let mut entry = Entry::new(self.name, Kind::Jwt, self.rule, self.expected.clone());
        entry.audience = Some(self.audience.clone());

        let token = format!("jwt/{}.token.json", self.name);
        std::fs::write(dir.join(&token), pretty(&json!({ "token": self.token }))?)?;
        entry.files.insert("token", token);

        for (trust_domain, document) in &self.bundles {
            let path = format!("jwt/{}.bundle.{trust_domain}.json", self.name);
            std::fs::write(dir.join(&path), pretty(document)?)?;
            entry.bundles.insert(trust_domain, path);
        }
        Ok(entry)
    }
}

fn pretty(value: &Value) -> Result<String> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    Ok(text)
}

fn ok() -> Expected {
    Expected::Ok(SUB.to_owned())
}

fn err(variant: &'static str) -> Expected {
    Expected::Err(variant)
}

/// Every JWT vector, valid ones first.
#[allow(
    clippy::too_many_lines,
    reason = "one flat list of vectors reads better than a dozen helpers"
)]
pub(crate) fn vectors(keys: &mint::Keys) -> Result<Vec<JwtVector>> {
    let mut out = Vec::new();

    // ---- valid, one per key type and padding ---------------------------------------------
    for (name, alg, key) in [
        ("valid-es256", "ES256", SigningKey::p256("es256-1")?),
        ("valid-es384", "ES384", SigningKey::p384("es384-1")?),
        ("valid-rs256", "RS256", SigningKey::rsa("rsa-1", keys)?),
        ("valid-ps256", "PS256", SigningKey::rsa("rsa-1", keys)?),
    ] {
        out.push(JwtVector::new(
            name,
            "digest 3.4 (positive, kid present)",
            key.mint_standard(alg, &claims())?,
            vec![(TD, bundle(vec![key.jwt_svid_jwk()?]))],
            ok(),
        ));
    }
    {
        let key = SigningKey::p256("es256-1")?;
        out.push(JwtVector::new(
            "valid-aud-string",
            "digest 3.3 (positive: aud may be a single string)",
            key.mint_standard(
                "ES256",
                &claims_with(&format!(r#""sub":"{SUB}","aud":"{AUD}""#)),
            )?,
            vec![(TD, bundle(vec![key.jwt_svid_jwk()?]))],
            ok(),
        ));
    }

    // ---- J-1: serialization ---------------------------------------------------------------
    {
        let key = SigningKey::p256("es256-1")?;
        let protected = b64(header("ES256", key.kid));
        let payload = b64(claims());
        let signature = key.sign("ES256", format!("{protected}.{payload}").as_bytes())?;
        let token = serde_json::to_string(&json!({
            "payload": payload,
            "protected": protected,
            "signature": b64(signature),
        }))?;
        out.push(JwtVector::new(
            "json-serialization",
            "digest 8.5 J-1; 3.1 (JWS JSON serialization MUST NOT be used)",
            token,
            vec![(TD, bundle(vec![key.jwt_svid_jwk()?]))],
            err("Jwt(NotCompact)"),
        ));
    }
    {
        let key = SigningKey::p256("es256-1")?;
        let jwe_header = format!(
            r#"{{"alg":"RSA-OAEP","enc":"A256GCM","kid":"{}"}}"#,
            key.kid
        );
        // A JWE's five parts; the content is fixed filler, since nothing may decrypt it.
        let token = [
            b64(jwe_header),
            b64([0x11; 256]),
            b64([0x22; 12]),
            b64(claims()),
            b64([0x33; 16]),
        ]
        .join(".");
        out.push(JwtVector::new(
            "jwe-five-parts",
            "digest 8.5 J-1; 3.1 (JWS only, JWE is not supported)",
            token,
            vec![(TD, bundle(vec![key.jwt_svid_jwk()?]))],
            err("Jwt(NotCompact)"),
        ));
    }

    // ---- J-2: alg ---------------------------------------------------------------------------
    {
        let key = SigningKey::p256("es256-1")?;
        let token = format!("{}.{}.", b64(header("none", key.kid)), b64(claims()));
        out.push(JwtVector::new(
            "alg-none",
            "digest 8.5 J-2; 3.2",
            token,
            vec![(TD, bundle(vec![key.jwt_svid_jwk()?]))],
            err("Jwt(UnsupportedAlgorithm)"),
        ));
    }
    {
        // Algorithm confusion: HMAC keyed with the public key the validator trusts.
        let key = SigningKey::p256("es256-1")?;
        let jwk = key.jwt_svid_jwk()?;
        let input = format!("{}.{}", b64(header("HS256", key.kid)), b64(claims()));
        let secret = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, jwk.to_string().as_bytes());
        let tag = ring::hmac::sign(&secret, input.as_bytes());
        out.push(JwtVector::new(
            "alg-hs256",
            "digest 8.5 J-2; 3.2 (symmetric algorithms are refused)",
            format!("{input}.{}", b64(tag.as_ref())),
            vec![(TD, bundle(vec![jwk]))],
            err("Jwt(UnsupportedAlgorithm)"),
        ));
    }
    {
        let key = SigningKey::ed25519("ed25519-1")?;
        out.push(JwtVector::new(
            "alg-eddsa",
            "digest 8.5 J-2; 3.2 (EdDSA is not a JWT-SVID algorithm)",
            key.mint_standard("EdDSA", &claims())?,
            vec![(TD, bundle(vec![key.jwt_svid_jwk()?]))],
            err("Jwt(UnsupportedAlgorithm)"),
        ));
    }
    {
        let key = SigningKey::p256("es256-1")?;
        let token = key.mint("ES256", &header("ES256K", key.kid), &claims())?;
        out.push(JwtVector::new(
            "alg-es256k",
            "digest 8.5 J-2; 3.2",
            token,
            vec![(TD, bundle(vec![key.jwt_svid_jwk()?]))],
            err("Jwt(UnsupportedAlgorithm)"),
        ));
    }

    // ---- J-3: typ ----------------------------------------------------------------------------
    {
        let key = SigningKey::p256("es256-1")?;
        let header = format!(r#"{{"alg":"ES256","kid":"{}","typ":"wit+jwt"}}"#, key.kid);
        out.push(JwtVector::new(
            "typ-wrong",
            "digest 8.5 J-3; 3.2",
            key.mint("ES256", &header, &claims())?,
            vec![(TD, bundle(vec![key.jwt_svid_jwk()?]))],
            err("Jwt(BadType)"),
        ));
    }

    // ---- J-4 .. J-8: claims --------------------------------------------------------------------
    let exp = NOT_AFTER.unix();
    let iat = NOT_BEFORE.unix();
    for (name, rule, claims, expected) in [
        (
            "missing-aud",
            "digest 8.5 J-4; 3.3",
            format!(r#"{{"sub":"{SUB}","exp":{exp},"iat":{iat}}}"#),
            "Jwt(MissingClaim(aud))",
        ),
        (
            "empty-aud",
            "digest 8.5 J-4; 3.3 (an empty array means no audience)",
            claims_with(&format!(r#""sub":"{SUB}","aud":[]"#)),
            "Jwt(EmptyAudienceClaim)",
        ),
        (
            "aud-mismatch",
            "digest 8.5 J-5; 3.4 step 8",
            claims_with(&format!(
                r#""sub":"{SUB}","aud":["spiffe://example.org/other"]"#
            )),
            "Jwt(AudienceMismatch)",
        ),
        (
            "missing-exp",
            "digest 8.5 J-6; 3.3",
            format!(r#"{{"sub":"{SUB}","aud":["{AUD}"],"iat":{iat}}}"#),
            "Jwt(MissingClaim(exp))",
        ),
        (
            "exp-string",
            "digest 8.5 J-6; 3.3 (exp is a NumericDate: accept numbers, reject non-numbers)",
            format!(r#"{{"sub":"{SUB}","aud":["{AUD}"],"exp":"{exp}","iat":{iat}}}"#),
            "Jwt(BadClaimType(exp))",
        ),
        (
            "expired",
            "digest 8.5 J-7; 3.4 step 7",
            format!(
                r#"{{"sub":"{SUB}","aud":["{AUD}"],"exp":{},"iat":{}}}"#,
                JWT_EXPIRED.unix(),
                JWT_EXPIRED.unix() - 300
            ),
            "Jwt(Expired)",
        ),
        (
            "not-yet-valid",
            "digest 3.4 step 7 (RFC 7519 4.1.5: nbf in the future)",
            format!(
                r#"{{"sub":"{SUB}","aud":["{AUD}"],"exp":{exp},"iat":{iat},"nbf":{}}}"#,
                JWT_NOT_BEFORE_FUTURE.unix()
            ),
            "Jwt(NotYetValid)",
        ),
        (
            "missing-sub",
            "digest 8.5 J-8; 3.3",
            format!(r#"{{"aud":["{AUD}"],"exp":{exp},"iat":{iat}}}"#),
            "Jwt(MissingClaim(sub))",
        ),
        (
            "bad-sub",
            "digest 8.5 J-8; 3.3 (sub is not a SPIFFE ID)",
            claims_for("https://example.org/workload"),
            "Jwt(BadSubject)",
        ),
        (
            "root-sub",
            "digest 8.5 J-8; 3.3 (sub names a trust domain, not a workload; svid refuses it)",
            claims_for("spiffe://example.org"),
            "Jwt(RootSubject)",
        ),
    ] {
        let key = SigningKey::p256("es256-1")?;
        out.push(JwtVector::new(
            name,
            rule,
            key.mint_standard("ES256", &claims)?,
            vec![(TD, bundle(vec![key.jwt_svid_jwk()?]))],
            err(expected),
        ));
    }

    // ---- J-9, J-10, J-11: which keys ----------------------------------------------------------
    {
        // The signing key is trusted, but for another trust domain than the token's `sub`.
        let key = SigningKey::p256("es256-1")?;
        out.push(JwtVector::new(
            "no-bundle",
            "digest 8.5 J-9; 3.4 step 4",
            key.mint_standard("ES256", &claims_for("spiffe://other.example/workload"))?,
            vec![(TD, bundle(vec![key.jwt_svid_jwk()?]))],
            err("Jwt(NoBundle)"),
        ));
    }
    {
        let key = SigningKey::p256("es256-1")?;
        let own = SigningKey::p256("es256-2")?;
        out.push(JwtVector::new(
            "key-other-trust-domain",
            "digest 8.5 J-10; 3.4 step 4",
            key.mint_standard("ES256", &claims())?,
            vec![
                (TD, bundle(vec![own.jwt_svid_jwk()?])),
                (OTHER_TD, bundle(vec![key.jwt_svid_jwk()?])),
            ],
            err("Jwt(UnknownKid)"),
        ));
    }
    {
        // The signing key is the trust domain's X.509 authority (with a stray `kid`, which an
        // x509-svid entry must not carry and consumers disregard); its JWT key is another one.
        let key = SigningKey::p256("es256-1")?;
        let jwt_key = SigningKey::p256("es256-2")?;
        let Private::Ec { pkcs8, .. } = &key.private else {
            return Err("x509-svid-key-used-for-jwt needs an EC key".into());
        };
        let ca = x509_authority(pkcs8)?;
        let mut x509_entry = key.jwk(Some("x509-svid"))?;
        if let Some(members) = x509_entry.as_object_mut() {
            members.insert("x5c".to_owned(), json!([STANDARD.encode(&ca)]));
        }
        out.push(JwtVector::new(
            "x509-svid-key-used-for-jwt",
            "digest 8.5 J-11; 3.4 step 4, 3.6 (only jwt-svid keys verify JWT-SVIDs)",
            key.mint_standard("ES256", &claims())?,
            vec![(TD, bundle(vec![x509_entry, jwt_key.jwt_svid_jwk()?]))],
            err("Jwt(UnknownKid)"),
        ));
    }
    {
        let key = SigningKey::p256("es256-1")?;
        out.push(JwtVector::new(
            "key-use-sig",
            "digest 8.5 J-11; 4.3 B-3 (use other than jwt-svid: the entry is ignored)",
            key.mint_standard("ES256", &claims())?,
            vec![(TD, bundle(vec![key.jwk(Some("sig"))?]))],
            err("Jwt(UnknownKid)"),
        ));
    }

    // ---- algorithm bound to the key (3.4 step 5) ----------------------------------------------
    {
        let ec = SigningKey::p256("es256-1")?;
        let rsa = SigningKey::rsa("rsa-1", keys)?;
        out.push(JwtVector::new(
            "rsa-token-ec-kid",
            "digest 3.4 step 5 (RS* needs an RSA key)",
            rsa.mint("RS256", &header("RS256", ec.kid), &claims())?,
            vec![(TD, bundle(vec![ec.jwt_svid_jwk()?, rsa.jwt_svid_jwk()?]))],
            err("Jwt(KeyDoesNotFitAlgorithm)"),
        ));
    }
    {
        let p256 = SigningKey::p256("es256-1")?;
        let p384 = SigningKey::p384("es384-1")?;
        out.push(JwtVector::new(
            "es384-token-p256-key",
            "digest 3.4 step 5 (ES384 needs a P-384 key)",
            p384.mint("ES384", &header("ES384", p256.kid), &claims())?,
            vec![(TD, bundle(vec![p256.jwt_svid_jwk()?, p384.jwt_svid_jwk()?]))],
            err("Jwt(KeyDoesNotFitAlgorithm)"),
        ));
    }

    // ---- header and signature ------------------------------------------------------------------
    {
        let key = SigningKey::p256("es256-1")?;
        let header = format!(
            r#"{{"alg":"ES256","crit":["exp"],"kid":"{}","typ":"JWT"}}"#,
            key.kid
        );
        out.push(JwtVector::new(
            "crit-header",
            "digest 3.2, 8.4 item 7 [rec] (only alg, kid and typ may appear)",
            key.mint("ES256", &header, &claims())?,
            vec![(TD, bundle(vec![key.jwt_svid_jwk()?]))],
            err("Jwt(BadHeader)"),
        ));
    }
    {
        let key = SigningKey::p256("es256-1")?;
        out.push(JwtVector::new(
            "missing-kid",
            "digest 3.2, 8.4 item 5 [de facto] (svid requires kid by default, as SPIRE does)",
            key.mint("ES256", r#"{"alg":"ES256","typ":"JWT"}"#, &claims())?,
            vec![(TD, bundle(vec![key.jwt_svid_jwk()?]))],
            err("Jwt(MissingKid)"),
        ));
    }
    {
        let key = SigningKey::p256("es256-1")?;
        let token = key.mint_standard("ES256", &claims())?;
        let forged = b64(claims_for("spiffe://example.org/admin"));
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        if let Some(payload) = parts.get_mut(1) {
            *payload = forged;
        }
        out.push(JwtVector::new(
            "tampered-payload",
            "digest 3.4 step 6 (the signature covers header and payload)",
            parts.join("."),
            vec![(TD, bundle(vec![key.jwt_svid_jwk()?]))],
            err("Jwt(BadSignature)"),
        ));
    }
    Ok(out)
}

/// A self-signed CA certificate for the EC key in `pkcs8`, as the `x5c` of an `x509-svid`
/// bundle entry.
fn x509_authority(pkcs8: &[u8]) -> Result<Vec<u8>> {
    let key = KeyPair::try_from(pkcs8)?;
    let mut params = test_support::x509::ca_params("example.org", "example.org root");
    mint::set_fixed_ids(&mut params, "x509-svid-key-used-for-jwt/root");
    mint::set_validity(&mut params, (NOT_BEFORE, NOT_AFTER));
    Ok(params.self_signed(&key)?.der().to_vec())
}
