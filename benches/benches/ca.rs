//! `ca` benchmarks: minting X.509-SVIDs and JWT-SVIDs, each against the raw cryptography it
//! cannot avoid, measured in the same run:
//!
//! - `ca_x509_mint_p256_ring` / `_aws_lc`: `CertificateAuthority::mint_x509_svid` of a P-256
//!   leaf with key generation (`ours/mint_keygen`), and `mint_x509_svid_for_public_key` for a
//!   supplied key (`ours/mint_public_key`), each with `SelfCheck::Full` (every SVID
//!   verified with `svid`'s `X509Verifier`: one more ECDSA verification; the default for keys
//!   outside the process) and with `SelfCheck::FirstPerAuthority` (`..._first_per_authority`:
//!   what the default `SelfCheck::Auto` does for in-process software keys). Baselines: one P-256 key
//!   generation plus one ECDSA P-256/SHA-256 signature of a leaf's TBS bytes
//!   (`baseline/keygen_sign`), and the signature alone (`baseline/sign`), with the same
//!   library. `rcgen/leaf_keygen_sign` (ring only) builds the same kind of leaf with rcgen:
//!   key generation, DER and signature, no self-check.
//! - `ca_jwt_mint_es256_ring` / `_aws_lc`: `mint_jwt_svid` (ES256) with both self-check modes
//!   against one ES256 signature (fixed `r || s`) of an input of the same length.
//!
//! The CAs are built at a fixed instant (2026-06-01) and mint at it; no audit sink, the default
//! policy.
//!
//! Run: `python3 benches/ratios.py run -- --bench ca -- --warm-up-time 1 --measurement-time 4`
//! (runs the bench, then prints the ratios of that run only).
//! SVIDs per second per core = 1e9 / ns.
//!
//! Measured by instruction count (callgrind, `--profile-time` runs of one bench id; the clock
//! on the shared VM moves by +-40%), ours over the baseline of the same backend:
//!
//! | | ring | aws-lc-rs |
//! |---|---|---|
//! | `mint_keygen_first_per_authority` / `keygen_sign` | 1.06x | 1.13x |
//! | `mint_public_key_first_per_authority` / `sign` | 1.08x | 1.08x (230.1k / 212.4k) |
//! | JWT `mint_first_per_authority` / `es256_sign` | 1.08x | 1.03x |
//! | `mint_keygen` (`SelfCheck::Full`) / `keygen_sign` | about 3.1x | about 3.1x |
//!
//! What remains over the signature with a supplied key (aws-lc-rs, per mint): the TBS
//! template 9.2k instructions, the subject key identifier 4.6k, the serial 2.7k.

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "bench setup: fixed inputs known to be valid, a panic there is a broken bench"
)]

use std::hint::black_box;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ca::{CertificateAuthority, JwtSvidRequest, SelfCheck, X509SvidRequest};
use criterion::{Criterion, criterion_group, criterion_main};
use spiffe_id::{SpiffeId, TrustDomain};
use svid::Crypto;

/// 2026-06-01T00:00:00Z.
const NOW: u64 = 1_780_272_000;
const LEAF_ID: &str = "spiffe://example.org/ns/default/sa/web1";

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(NOW)
}

fn ca(crypto: &Crypto, self_check: SelfCheck) -> CertificateAuthority {
    CertificateAuthority::builder(TrustDomain::parse("example.org").unwrap())
        .crypto(crypto.clone())
        .self_check(self_check)
        .build(now())
        .unwrap()
}

fn x509_request() -> X509SvidRequest {
    X509SvidRequest::new(SpiffeId::parse(LEAF_ID).unwrap())
}

fn jwt_request() -> JwtSvidRequest {
    JwtSvidRequest::new(
        SpiffeId::parse(LEAF_ID).unwrap(),
        ["spiffe://example.org/db"],
    )
}

/// The TBS bytes of a real leaf: what the CA signs per SVID.
fn leaf_tbs(ca: &CertificateAuthority) -> Vec<u8> {
    let svid = ca.mint_x509_svid(&x509_request(), now()).unwrap();
    let leaf = svid.leaf().as_ref();
    // Certificate ::= SEQUENCE { tbs, alg, sig }: the first element after the outer header.
    let header = if leaf[1] & 0x80 == 0 {
        2
    } else {
        2 + usize::from(leaf[1] & 0x7f)
    };
    let inner = &leaf[header..];
    let tbs_len = if inner[1] & 0x80 == 0 {
        2 + usize::from(inner[1])
    } else {
        let n = usize::from(inner[1] & 0x7f);
        2 + n
            + inner[2..2 + n]
                .iter()
                .fold(0usize, |a, b| (a << 8) | usize::from(*b))
    };
    inner[..tbs_len].to_vec()
}

/// One SubjectPublicKeyInfo of a fresh P-256 key (for the supplied-key path).
fn some_spki() -> Vec<u8> {
    use rcgen::PublicKeyData;
    rcgen::KeyPair::generate()
        .unwrap()
        .subject_public_key_info()
}

macro_rules! raw_x509_baselines {
    ($lib:ident, $group:expr, $tbs:expr) => {{
        use $lib::rand::SystemRandom;
        use $lib::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};
        let rng = SystemRandom::new();
        let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let ca_key = raw_key!($lib, &ECDSA_P256_SHA256_ASN1_SIGNING, doc.as_ref(), &rng);
        let tbs: &[u8] = $tbs;
        $group.bench_function("baseline/keygen_sign", |b| {
            b.iter(|| {
                let key =
                    EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
                black_box(key);
                black_box(ca_key.sign(&rng, black_box(tbs)).unwrap())
            })
        });
        $group.bench_function("baseline/sign", |b| {
            b.iter(|| black_box(ca_key.sign(&rng, black_box(tbs)).unwrap()))
        });
    }};
}

macro_rules! raw_jwt_baseline {
    ($lib:ident, $group:expr, $input:expr) => {{
        use $lib::rand::SystemRandom;
        use $lib::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
        let rng = SystemRandom::new();
        let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let jwt_key = raw_key!($lib, &ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref(), &rng);
        let input: &[u8] = $input;
        $group.bench_function("baseline/es256_sign", |b| {
            b.iter(|| black_box(jwt_key.sign(&rng, black_box(input)).unwrap()))
        });
    }};
}

macro_rules! raw_key {
    (ring, $alg:expr, $pkcs8:expr, $rng:expr) => {
        ring::signature::EcdsaKeyPair::from_pkcs8($alg, $pkcs8, $rng).unwrap()
    };
    (aws_lc_rs, $alg:expr, $pkcs8:expr, $rng:expr) => {
        aws_lc_rs::signature::EcdsaKeyPair::from_pkcs8($alg, $pkcs8).unwrap()
    };
}

fn ours(c: &mut Criterion, crypto: &Crypto, suffix: &str) -> (Vec<u8>, Vec<u8>) {
    let full = ca(crypto, SelfCheck::Full);
    let first = ca(crypto, SelfCheck::FirstPerAuthority);
    let spki = some_spki();
    let request = x509_request();
    let tbs = leaf_tbs(&full);

    let mut group = c.benchmark_group(format!("ca_x509_mint_p256_{suffix}"));
    group.bench_function("ours/mint_keygen", |b| {
        b.iter(|| black_box(full.mint_x509_svid(black_box(&request), now()).unwrap()))
    });
    group.bench_function("ours/mint_keygen_first_per_authority", |b| {
        b.iter(|| black_box(first.mint_x509_svid(black_box(&request), now()).unwrap()))
    });
    group.bench_function("ours/mint_public_key", |b| {
        b.iter(|| {
            black_box(
                full.mint_x509_svid_for_public_key(black_box(&spki), &request, now())
                    .unwrap(),
            )
        })
    });
    group.bench_function("ours/mint_public_key_first_per_authority", |b| {
        b.iter(|| {
            black_box(
                first
                    .mint_x509_svid_for_public_key(black_box(&spki), &request, now())
                    .unwrap(),
            )
        })
    });
    group.finish();

    let jwt = jwt_request();
    let token = full.mint_jwt_svid(&jwt, now()).unwrap();
    let signing_input = token.rsplit_once('.').unwrap().0.as_bytes().to_vec();
    let mut group = c.benchmark_group(format!("ca_jwt_mint_es256_{suffix}"));
    group.bench_function("ours/mint", |b| {
        b.iter(|| black_box(full.mint_jwt_svid(black_box(&jwt), now()).unwrap()))
    });
    group.bench_function("ours/mint_first_per_authority", |b| {
        b.iter(|| black_box(first.mint_jwt_svid(black_box(&jwt), now()).unwrap()))
    });
    group.finish();
    (tbs, signing_input)
}

fn ring_benches(c: &mut Criterion) {
    let (tbs, input) = ours(c, &Crypto::ring(), "ring");
    let mut x509 = c.benchmark_group("ca_x509_mint_p256_ring");
    raw_x509_baselines!(ring, x509, &tbs);
    // rcgen: the same leaf profile, built and signed by rcgen with ring.
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "SPIFFE");
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let mut leaf = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    leaf.subject_alt_names = vec![rcgen::SanType::URI(LEAF_ID.try_into().unwrap())];
    leaf.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
    ];
    leaf.use_authority_key_identifier_extension = true;
    x509.bench_function("rcgen/leaf_keygen_sign", |b| {
        b.iter(|| {
            let key = rcgen::KeyPair::generate().unwrap();
            black_box(leaf.signed_by(&key, &issuer).unwrap())
        })
    });
    x509.finish();
    let mut jwt = c.benchmark_group("ca_jwt_mint_es256_ring");
    raw_jwt_baseline!(ring, jwt, &input);
    jwt.finish();
}

fn aws_lc_benches(c: &mut Criterion) {
    let (tbs, input) = ours(c, &Crypto::aws_lc_rs(), "aws_lc");
    let mut x509 = c.benchmark_group("ca_x509_mint_p256_aws_lc");
    raw_x509_baselines!(aws_lc_rs, x509, &tbs);
    x509.finish();
    let mut jwt = c.benchmark_group("ca_jwt_mint_es256_aws_lc");
    raw_jwt_baseline!(aws_lc_rs, jwt, &input);
    jwt.finish();
}

criterion_group!(benches, ring_benches, aws_lc_benches);
criterion_main!(benches);
