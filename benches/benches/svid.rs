//! `svid` benchmarks: peer X.509-SVID verification and JWT-SVID validation. Every group pairs
//! our operation with the raw signature check it cannot avoid, measured in the same run, so the
//! ratio (not the absolute time) is what to compare across machines:
//!
//! - `x509_verify_leaf`: `X509Verifier::verify` of a P-256 leaf signed directly by the P-256
//!   bundle root, uncached (`ours/verify`) and with the result cache (`ours/verify_cached`,
//!   the same chain again), against one ring ECDSA P-256/SHA-256 verification of the leaf's
//!   TBS bytes (`baseline/ring_p256_verify`). The `spiffe` crate 0.19 has no X.509-SVID
//!   verification, only `X509Svid::parse_from_der` (X.509 parsing and profile checks, no
//!   signature, no bundle, no time); it is benched as `spiffe/parse_only.parse_from_der`, next
//!   to our equivalent, `ours/parse_only.x509svid_new` (`X509Svid::new` with an already-loaded
//!   key; the key load, which our crate validates with the backend, is outside the timing).
//!   `ours/verify_part_no_crypto` times the non-cryptographic share of `ours/verify` alone: the
//!   same verifier on a fake backend whose signature checks always pass.
//! - `x509_verify_chain`: leaf -> intermediate -> bundle root, against two ring verifications.
//! - `jwt_validate_es256`, `jwt_validate_rs256`: `JwtValidator::validate` uncached and cached
//!   against one ring ES256 (`r || s`) / RS256 verification of `header.payload`, and the
//!   `spiffe` crate's `JwtSvid::parse_and_validate` (its `jwt-verify-aws-lc-rs` backend) on the
//!   same token and keys. `ours/validate_part_parse_insecure` times the non-cryptographic
//!   share of `ours/validate` alone (`UnverifiedJwtSvid::parse_insecure`: base64, JSON, claim checks).
//! - `x509_verify_decoys`: `ours/verify_150_decoys` verifies a leaf (with an
//!   authorityKeyIdentifier, as SPIRE issues them) against a bundle where 150 authorities with
//!   the signer's subject name but other keys come before the real one; its baseline,
//!   `baseline/verify_clean_bundle`, is the same verification against the real authority alone,
//!   so the printed ratio is the price of the decoys (1.0 when candidates are picked by key
//!   identifier before any signature check; the old code failed with `BudgetExceeded`).
//! - `jwt_kidless_forged`: a forged ES256 token without `kid` (signed by a key outside the
//!   bundle) against a validator with `allow_missing_kid`, on bundles of 256
//!   (`ours/forged_256_p256_keys`: more fitting keys than `MAX_KEYS_WITHOUT_KID`, refused before
//!   any signature check; the old code tried all 256) and 8 P-256 keys
//!   (`ours/forged_8_p256_keys`: the bound, the worst case), against the same token on a
//!   one-key bundle (`baseline/forged_1_p256_key`, one signature check).
//! - `x509_verify_leaf_aws_lc`, `jwt_validate_es256_aws_lc`, `jwt_validate_rs256_aws_lc`: the
//!   same with `Crypto::aws_lc_rs()` and an aws-lc-rs raw baseline; the last one puts
//!   ours and the `spiffe` crate on the same RSA implementation.
//!
//! Certificates and tokens are minted once in setup (rcgen and ring) and checked at a fixed
//! `now`, 2026-06-01. The `spiffe` crate validates JWTs against the wall clock, so the tokens
//! expire in 2100 to stay valid for both.
//!
//! Run: `python3 benches/ratios.py run -- --bench svid -- --warm-up-time 1 --measurement-time 4`
//! (runs the bench, then prints the ratios of that run only).

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "bench setup: fixed inputs known to be valid, a panic there is a broken bench"
)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{BatchSize, BenchmarkGroup, Criterion, criterion_group, criterion_main};
use rcgen::KeyPair;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair as _, RsaKeyPair, RsaPublicKeyComponents};
use rustls_pki_types::{
    AlgorithmIdentifier, CertificateDer, InvalidSignature, SignatureVerificationAlgorithm,
    UnixTime, alg_id,
};
use spiffe_id::TrustDomain;
use svid::{Audience, Crypto, JwtValidator, Usage, X509Verifier};
use test_support::x509::{Ca, KeyType, leaf_params};
use trust_bundle::{
    BundleSet, EcCurve, EcPublicKey, JwtBundle, JwtKey, RsaPublicKey, SpiffeBundle, X509Bundle,
};

/// 2026-06-01T00:00:00Z: every check happens at this instant.
const NOW: u64 = 1_780_272_000;
/// 2100-01-01T00:00:00Z: the tokens' `exp`, past any wall clock the `spiffe` crate reads.
const JWT_EXP: u64 = 4_102_444_800;
const TD: &str = "example.org";
const LEAF_ID: &str = "spiffe://example.org/ns/default/sa/web1";
const AUD: &str = "spiffe://example.org/service";
const KID: &str = "kid-1";
/// The RSA-2048 key the `svid` tests use (ring cannot generate RSA keys).
const RSA2048_PKCS8: &[u8] = include_bytes!("../../svid/tests/data/jwt/rsa2048.pk8.der");

fn now() -> UnixTime {
    UnixTime::since_unix_epoch(Duration::from_secs(NOW))
}

// ---------------------------------------------------------------------------------------------
// X.509 material

/// A leaf for [`LEAF_ID`] as SPIRE issues it (test-support's default profile) and its PKCS#8
/// key.
fn leaf(ca: &Ca) -> (CertificateDer<'static>, Vec<u8>) {
    let leaf = ca.leaf(LEAF_ID);
    let key = leaf.pkcs8();
    (leaf.cert, key)
}

fn p256() -> KeyPair {
    KeyType::P256.key_pair()
}

/// `Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING }`:
/// the signed TBS bytes and the signature (the BIT STRING minus its unused-bits octet).
fn tbs_and_signature(cert: &[u8]) -> (&[u8], &[u8]) {
    use trust_bundle::der::{self, Reader, tag};
    let mut fields = Reader::new(der::read_single(cert, tag::SEQUENCE).unwrap());
    let (_, tbs) = fields.read_whole(tag::SEQUENCE).unwrap();
    fields.read(tag::SEQUENCE).unwrap();
    let bits = fields.read(tag::BIT_STRING).unwrap();
    // A signature BIT STRING has no unused bits.
    let signature = der::bit_string_bytes(bits).unwrap();
    (tbs, signature)
}

/// One certificate signature, ready for a raw verification.
struct RawCheck {
    /// The issuer's public key, an uncompressed P-256 point.
    issuer_key: Vec<u8>,
    tbs: Vec<u8>,
    /// DER `ECDSA-Sig-Value`.
    signature: Vec<u8>,
}

impl RawCheck {
    fn new(cert: &CertificateDer<'_>, issuer: &Ca) -> Self {
        let (tbs, signature) = tbs_and_signature(cert);
        let check = Self {
            issuer_key: issuer.key.public_key_raw().to_vec(),
            tbs: tbs.to_vec(),
            signature: signature.to_vec(),
        };
        assert!(check.ring() && check.aws_lc());
        check
    }

    fn ring(&self) -> bool {
        ring::signature::UnparsedPublicKey::new(
            &ring::signature::ECDSA_P256_SHA256_ASN1,
            black_box(&self.issuer_key),
        )
        .verify(black_box(&self.tbs), black_box(&self.signature))
        .is_ok()
    }

    fn aws_lc(&self) -> bool {
        aws_lc_rs::signature::UnparsedPublicKey::new(
            &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1,
            black_box(&self.issuer_key),
        )
        .verify(black_box(&self.tbs), black_box(&self.signature))
        .is_ok()
    }
}

/// A root in the bundle, an intermediate, a leaf signed by each.
struct Pki {
    bundles: BundleSet,
    /// `[leaf]`, signed by the root.
    direct: Vec<CertificateDer<'static>>,
    direct_key: Vec<u8>,
    direct_check: RawCheck,
    /// `[leaf, intermediate]`.
    chained: Vec<CertificateDer<'static>>,
    chained_key: Vec<u8>,
    chained_checks: [RawCheck; 2],
}

impl Pki {
    fn mint() -> Self {
        let root = Ca::root(TD);
        let intermediate = root.intermediate("example.org intermediate CA");
        let (direct_leaf, direct_key) = leaf(&root);
        let (chained_leaf, chained_key) = leaf(&intermediate);
        let td = TrustDomain::parse(TD).unwrap();
        let bundle = X509Bundle::from_certificates(td, [root.cert.clone()]).unwrap();
        Self {
            bundles: BundleSet::from_bundles([SpiffeBundle::from(bundle)]).unwrap(),
            direct_check: RawCheck::new(&direct_leaf, &root),
            direct: vec![direct_leaf],
            direct_key,
            chained_checks: [
                RawCheck::new(&chained_leaf, &intermediate),
                RawCheck::new(&intermediate.cert, &root),
            ],
            chained: vec![chained_leaf, intermediate.cert.clone()],
            chained_key,
        }
    }

    fn verifier(&self, backend: &Crypto) -> X509Verifier<BundleSet> {
        X509Verifier::new(self.bundles.clone(), backend).with_usage(Usage::ClientAuth)
    }
}

/// ECDSA P-256/SHA-256 that accepts every signature: a backend that costs nothing, so a
/// verification with it times everything `ours/verify` does except the signature checks.
#[derive(Debug)]
struct AcceptAnyP256;

impl SignatureVerificationAlgorithm for AcceptAnyP256 {
    fn verify_signature(&self, _: &[u8], _: &[u8], _: &[u8]) -> Result<(), InvalidSignature> {
        Ok(())
    }

    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::ECDSA_P256
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::ECDSA_SHA256
    }
}

static ACCEPT_ANY: &[&dyn SignatureVerificationAlgorithm] = &[&AcceptAnyP256];

/// Not a real provider: for `ours/verify_part_no_crypto` only.
fn no_crypto() -> Crypto {
    let provider = rustls::crypto::CryptoProvider {
        signature_verification_algorithms: rustls::crypto::WebPkiSupportedAlgorithms {
            all: ACCEPT_ANY,
            mapping: &[],
        },
        ..rustls::crypto::ring::default_provider()
    };
    Crypto::from_provider(Arc::new(provider))
}

fn concat(chain: &[CertificateDer<'_>]) -> Vec<u8> {
    chain.iter().flat_map(|c| c.iter().copied()).collect()
}

/// `ours/verify` and `ours/verify_cached` of `chain` with `backend`.
fn bench_ours_x509(
    group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
    pki: &Pki,
    chain: &[CertificateDer<'static>],
    backend: &Crypto,
) {
    let uncached = pki.verifier(backend);
    let cached = pki.verifier(backend).with_result_cache(64);
    for verifier in [&uncached, &cached] {
        let verified = verifier.verify(chain, now()).unwrap();
        assert_eq!(verified.spiffe_id().as_str(), LEAF_ID);
    }
    group.bench_function("ours/verify", |b| {
        b.iter(|| black_box(&uncached).verify(black_box(chain), now()));
    });
    group.bench_function("ours/verify_cached", |b| {
        b.iter(|| black_box(&cached).verify(black_box(chain), now()));
    });
    // The non-cryptographic share of `ours/verify`: the same verifier on a backend whose
    // signature checks are free (see `AcceptAnyP256`).
    let no_crypto = pki.verifier(&no_crypto());
    assert!(no_crypto.verify(chain, now()).is_ok());
    group.bench_function("ours/verify_part_no_crypto", |b| {
        b.iter(|| black_box(&no_crypto).verify(black_box(chain), now()));
    });
}

/// The `spiffe` crate's parse-only `X509Svid::parse_from_der`, and ours, `X509Svid::new`.
fn bench_parse_only(
    group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
    chain: &[CertificateDer<'static>],
    key_pkcs8: &[u8],
) {
    let der = concat(chain);
    let backend = Crypto::ring();
    assert!(spiffe::X509Svid::parse_from_der(&der, key_pkcs8).is_ok());
    assert!(svid::X509Svid::from_der(&der, key_pkcs8, &backend).is_ok());
    group.bench_function("spiffe/parse_only.parse_from_der", |b| {
        b.iter(|| spiffe::X509Svid::parse_from_der(black_box(&der), black_box(key_pkcs8)));
    });
    group.bench_function("ours/parse_only.x509svid_new", |b| {
        b.iter_batched(
            || {
                let key = svid::PrivateKey::from_pkcs8_der(key_pkcs8, &backend).unwrap();
                (chain.to_vec(), key)
            },
            |(chain, key)| svid::X509Svid::new(chain, key),
            BatchSize::SmallInput,
        );
    });
}

fn x509(c: &mut Criterion) {
    let pki = Pki::mint();

    let mut group = c.benchmark_group("x509_verify_leaf");
    bench_ours_x509(&mut group, &pki, &pki.direct, &Crypto::ring());
    bench_parse_only(&mut group, &pki.direct, &pki.direct_key);
    group.bench_function("baseline/ring_p256_verify", |b| {
        b.iter(|| pki.direct_check.ring());
    });
    group.finish();

    let mut group = c.benchmark_group("x509_verify_chain");
    bench_ours_x509(&mut group, &pki, &pki.chained, &Crypto::ring());
    bench_parse_only(&mut group, &pki.chained, &pki.chained_key);
    group.bench_function("baseline/ring_p256_verify_x2", |b| {
        b.iter(|| pki.chained_checks.iter().all(RawCheck::ring));
    });
    group.finish();

    decoys(c);

    let mut group = c.benchmark_group("x509_verify_leaf_aws_lc");
    bench_ours_x509(&mut group, &pki, &pki.direct, &Crypto::aws_lc_rs());
    bench_parse_only(&mut group, &pki.direct, &pki.direct_key);
    group.bench_function("baseline/aws_lc_p256_verify", |b| {
        b.iter(|| pki.direct_check.aws_lc());
    });
    group.finish();
}

/// `x509_verify_decoys`: 150 same-subject authorities before the real one, against the real one
/// alone.
fn decoys(c: &mut Criterion) {
    let root = Ca::root(TD);
    let decoys: Vec<Ca> = (0..150).map(|_| Ca::root(TD)).collect();
    let mut params = leaf_params(LEAF_ID);
    params.use_authority_key_identifier_extension = true;
    let leaf = vec![root.sign(&params, &p256())];
    let td = TrustDomain::parse(TD).unwrap();
    let bundle = |authorities: Vec<CertificateDer<'static>>| {
        let bundle = X509Bundle::from_certificates(td.clone(), authorities).unwrap();
        BundleSet::from_bundles([SpiffeBundle::from(bundle)]).unwrap()
    };
    let mut authorities: Vec<_> = decoys.iter().map(|d| d.cert.clone()).collect();
    authorities.push(root.cert.clone());
    let backend = Crypto::ring();
    let decoyed = X509Verifier::new(bundle(authorities), &backend).with_usage(Usage::ClientAuth);
    let clean =
        X509Verifier::new(bundle(vec![root.cert.clone()]), &backend).with_usage(Usage::ClientAuth);
    for verifier in [&decoyed, &clean] {
        assert!(verifier.verify(&leaf, now()).is_ok());
    }

    let mut group = c.benchmark_group("x509_verify_decoys");
    group.bench_function("ours/verify_150_decoys", |b| {
        b.iter(|| black_box(&decoyed).verify(black_box(&leaf), now()));
    });
    group.bench_function("baseline/verify_clean_bundle", |b| {
        b.iter(|| black_box(&clean).verify(black_box(&leaf), now()));
    });
    group.finish();
}

// ---------------------------------------------------------------------------------------------
// JWT material

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A token signed once, with its key in our bundle form and in the `spiffe` crate's.
struct Jwt {
    token: String,
    /// `header.payload`, the signed bytes.
    signing_input: Vec<u8>,
    /// The JWS signature: `r || s` for ES256, PKCS#1 v1.5 for RS256.
    signature: Vec<u8>,
    /// Uncompressed point (EC) or PKCS#1 `RSAPublicKey` DER (RSA).
    public_key: Vec<u8>,
    bundles: BundleSet,
    spiffe_bundles: spiffe::JwtBundleSet,
}

impl Jwt {
    /// A JWT-SVID as SPIRE issues it: `kid`, `typ`, `aud` an array, `exp` and `iat`.
    fn mint(alg: &str, sign: impl FnOnce(&[u8]) -> Vec<u8>, key: JwtKey, jwk: &str) -> Self {
        let header = format!(r#"{{"alg":"{alg}","kid":"{KID}","typ":"JWT"}}"#);
        let claims =
            format!(r#"{{"sub":"{LEAF_ID}","aud":["{AUD}"],"exp":{JWT_EXP},"iat":{NOW}}}"#);
        let signing_input = format!("{}.{}", b64(header), b64(claims));
        let signature = sign(signing_input.as_bytes());
        let token = format!("{signing_input}.{}", b64(&signature));
        let public_key = match &key {
            JwtKey::Ec(ec) => ec.sec1_uncompressed().to_vec(),
            JwtKey::Rsa(rsa) => rsa.pkcs1_der().to_vec(),
            other => panic!("unexpected key {other:?}"),
        };
        let td = TrustDomain::parse(TD).unwrap();
        let bundle = JwtBundle::from_keys(td, [(KID, key)]).unwrap();
        let jwks = format!(r#"{{"keys":[{{{jwk},"kid":"{KID}"}}]}}"#);
        let spiffe_bundle = spiffe::JwtBundle::from_jwt_authorities(
            spiffe::TrustDomain::new(TD).unwrap(),
            jwks.as_bytes(),
        )
        .unwrap();
        Self {
            token,
            signing_input: signing_input.into_bytes(),
            signature,
            public_key,
            bundles: BundleSet::from_bundles([SpiffeBundle::from(bundle)]).unwrap(),
            spiffe_bundles: [spiffe_bundle].into_iter().collect(),
        }
    }

    fn es256() -> Self {
        let alg = &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).unwrap();
        let ec = EcPublicKey::from_sec1(EcCurve::P256, pair.public_key().as_ref()).unwrap();
        let jwk = format!(
            r#""kty":"EC","crv":"P-256","x":"{}","y":"{}""#,
            b64(ec.x()),
            b64(ec.y())
        );
        let sign = |input: &[u8]| pair.sign(&rng, input).unwrap().as_ref().to_vec();
        Self::mint("ES256", sign, JwtKey::Ec(ec), &jwk)
    }

    fn rs256() -> Self {
        let pair = RsaKeyPair::from_pkcs8(RSA2048_PKCS8).unwrap();
        let parts = RsaPublicKeyComponents::<Vec<u8>>::from(pair.public());
        let rsa = RsaPublicKey::from_components(&parts.n, &parts.e).unwrap();
        let jwk = format!(
            r#""kty":"RSA","n":"{}","e":"{}""#,
            b64(rsa.modulus()),
            b64(rsa.exponent())
        );
        let sign = |input: &[u8]| {
            let mut out = vec![0; pair.public().modulus_len()];
            let padding = &ring::signature::RSA_PKCS1_SHA256;
            pair.sign(padding, &SystemRandom::new(), input, &mut out)
                .unwrap();
            out
        };
        Self::mint("RS256", sign, JwtKey::Rsa(rsa), &jwk)
    }

    fn ring_verify(&self, alg: &'static dyn ring::signature::VerificationAlgorithm) -> bool {
        ring::signature::UnparsedPublicKey::new(alg, black_box(&self.public_key))
            .verify(black_box(&self.signing_input), black_box(&self.signature))
            .is_ok()
    }

    fn aws_lc_verify(&self, alg: &'static dyn aws_lc_rs::signature::VerificationAlgorithm) -> bool {
        aws_lc_rs::signature::UnparsedPublicKey::new(alg, black_box(&self.public_key))
            .verify(black_box(&self.signing_input), black_box(&self.signature))
            .is_ok()
    }

    /// `ours/validate`, `ours/validate_cached` and `spiffe/validate.parse_and_validate`.
    fn bench_validators(
        &self,
        group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
        backend: Crypto,
    ) {
        let audience = Audience::new([AUD]).unwrap();
        let uncached = JwtValidator::new(&self.bundles, &backend);
        let cached = JwtValidator::new(&self.bundles, &backend).with_result_cache(64);
        for validator in [&uncached, &cached] {
            let verified = validator.validate(&self.token, &audience, now()).unwrap();
            assert_eq!(verified.spiffe_id().as_str(), LEAF_ID);
        }
        let spiffe_aud = [AUD];
        let verified =
            spiffe::JwtSvid::parse_and_validate(&self.token, &self.spiffe_bundles, &spiffe_aud)
                .unwrap();
        assert_eq!(verified.spiffe_id().to_string(), LEAF_ID);

        group.bench_function("ours/validate", |b| {
            b.iter(|| black_box(&uncached).validate(black_box(&self.token), &audience, now()));
        });
        group.bench_function("ours/validate_cached", |b| {
            b.iter(|| black_box(&cached).validate(black_box(&self.token), &audience, now()));
        });
        // The non-cryptographic share of `ours/validate`: decoding and claim checks only.
        group.bench_function("ours/validate_part_parse_insecure", |b| {
            b.iter(|| svid::UnverifiedJwtSvid::parse_insecure(black_box(&self.token)));
        });
        group.bench_function("spiffe/validate.parse_and_validate", |b| {
            b.iter(|| {
                spiffe::JwtSvid::parse_and_validate(
                    black_box(&self.token),
                    &self.spiffe_bundles,
                    &spiffe_aud,
                )
            });
        });
    }
}

fn jwt(c: &mut Criterion) {
    let es256 = Jwt::es256();
    let es256_ring = &ring::signature::ECDSA_P256_SHA256_FIXED;
    let es256_aws = &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED;
    assert!(es256.ring_verify(es256_ring) && es256.aws_lc_verify(es256_aws));

    let mut group = c.benchmark_group("jwt_validate_es256");
    es256.bench_validators(&mut group, Crypto::ring());
    group.bench_function("baseline/ring_es256_verify", |b| {
        b.iter(|| es256.ring_verify(es256_ring));
    });
    group.finish();

    let rs256 = Jwt::rs256();
    let rs256_ring = &ring::signature::RSA_PKCS1_2048_8192_SHA256;
    assert!(rs256.ring_verify(rs256_ring));
    let mut group = c.benchmark_group("jwt_validate_rs256");
    rs256.bench_validators(&mut group, Crypto::ring());
    group.bench_function("baseline/ring_rs256_verify", |b| {
        b.iter(|| rs256.ring_verify(rs256_ring));
    });
    group.finish();

    // The `spiffe` crate only verifies with aws-lc-rs (or RustCrypto): the same backend on
    // both sides separates our code from the choice of RSA implementation.
    let rs256_aws = &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256;
    assert!(rs256.aws_lc_verify(rs256_aws));
    let mut group = c.benchmark_group("jwt_validate_rs256_aws_lc");
    rs256.bench_validators(&mut group, Crypto::aws_lc_rs());
    group.bench_function("baseline/aws_lc_rs256_verify", |b| {
        b.iter(|| rs256.aws_lc_verify(rs256_aws));
    });
    group.finish();

    let mut group = c.benchmark_group("jwt_validate_es256_aws_lc");
    es256.bench_validators(&mut group, Crypto::aws_lc_rs());
    group.bench_function("baseline/aws_lc_es256_verify", |b| {
        b.iter(|| es256.aws_lc_verify(es256_aws));
    });
    group.finish();
}

/// `jwt_kidless_forged`: see the module docs.
fn kidless(c: &mut Criterion) {
    let rng = SystemRandom::new();
    let alg = &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING;
    let p256 = || {
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
        EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).unwrap()
    };
    let forger = p256();
    let header = r#"{"alg":"ES256","typ":"JWT"}"#;
    let claims = format!(r#"{{"sub":"{LEAF_ID}","aud":["{AUD}"],"exp":{JWT_EXP},"iat":{NOW}}}"#);
    let signing_input = format!("{}.{}", b64(header), b64(claims));
    let signature = forger.sign(&rng, signing_input.as_bytes()).unwrap();
    let token = format!("{signing_input}.{}", b64(signature.as_ref()));
    let keys: Vec<JwtKey> = (0..256)
        .map(|_| {
            let pair = p256();
            JwtKey::Ec(EcPublicKey::from_sec1(EcCurve::P256, pair.public_key().as_ref()).unwrap())
        })
        .collect();
    let bundles = |count: usize| {
        let td = TrustDomain::parse(TD).unwrap();
        let keys = keys.iter().take(count).cloned().enumerate();
        let bundle = JwtBundle::from_keys(td, keys.map(|(i, key)| (format!("k{i}"), key))).unwrap();
        BundleSet::from_bundles([SpiffeBundle::from(bundle)]).unwrap()
    };
    let crypto = Crypto::ring();
    let audience = Audience::new([AUD]).unwrap();

    let mut group = c.benchmark_group("jwt_kidless_forged");
    for (name, count) in [
        ("ours/forged_256_p256_keys", 256),
        ("ours/forged_8_p256_keys", 8),
        ("baseline/forged_1_p256_key", 1),
    ] {
        let validator = JwtValidator::new(bundles(count), &crypto).allow_missing_kid();
        assert!(validator.validate(&token, &audience, now()).is_err());
        group.bench_function(name, |b| {
            b.iter(|| validator.validate(black_box(&token), &audience, now()));
        });
    }
    group.finish();
}

criterion_group!(benches, x509, jwt, kidless);
criterion_main!(benches);
