//! Instruction counts (callgrind) of the core SVID operations, each against the raw ring
//! cryptography it is built on, counted in the same run: the load-independent form of the
//! `ca`, `svid` and `trust_bundle` criterion ratios (P-256, ring only).
//!
//! | op | ours | baseline |
//! |---|---|---|
//! | `mint_public_key` | `mint_x509_svid_for_public_key`, `SelfCheck::FirstPerAuthority` | ring P-256 sign of the leaf's TBS |
//! | `mint_keygen` | `mint_x509_svid`, `FirstPerAuthority` | ring P-256 keygen + sign of the TBS |
//! | `mint_keygen_full` | `mint_x509_svid`, `SelfCheck::Full` | the same |
//! | `jwt_mint` | `mint_jwt_svid` ES256, `FirstPerAuthority` | ring ES256 sign of `header.payload` |
//! | `x509_verify_leaf` | `X509Verifier::verify`, no cache, leaf signed by the bundle root | ring P-256 verify of the leaf's TBS |
//! | `jwt_validate_es256` | `JwtValidator::validate`, no cache | ring ES256 verify |
//! | `bundle_parse` | `SpiffeBundle::parse` of `trust_bundle.rs`'s realistic bundle | `serde_json::from_slice::<Value>` |
//! | `x509svid_new` | chain copy + `PrivateKey::from_pkcs8_der` + `X509Svid::new` (`svid.rs`'s `parse_only.x509svid_new`) | chain copy + `from_pkcs8_der` |
//! | `key_load` | chain copy + `PrivateKey::from_pkcs8_der` (P-256) | chain copy + ring `EcdsaKeyPair::from_pkcs8` |
//!
//! Run: `cargo bench -p benches --bench icount_core` (needs valgrind; without it, says so and
//! exits 0). Each op runs under `valgrind --tool=callgrind` with N and 2N iterations and the
//! binary prints (count(2N) - count(N)) / N, so set-up cancels out.
//! `cargo bench -p benches --bench icount_core -- --bench mint` runs the groups whose name
//! contains `mint` only. Verification counts depend on the key and signature bytes (about 1%
//! from one random key to the next), so one run generates those inputs once for all its
//! children; `ICOUNT_CORE_INPUTS=<dir>` keeps them in `<dir>` (written on first use) so that two
//! builds are compared on the same bytes.
//!
//! Before/after of another commit: the same file compiles against the API before issue 13
//! (commit 71569bc: `svid::CryptoBackend`, `ca::Backend`) with `RUSTFLAGS="--cfg icount_before"`.
//! Add a worktree of that commit (own `CARGO_TARGET_DIR`), copy this file into its
//! `benches/benches/` with a `[[bench]] name = "icount_core" harness = false` entry (or into a
//! throwaway crate depending on its `svid`, `ca`, `trust-bundle`, `spiffe-id` with `ring`, plus
//! ring, rcgen, serde_json, base64 and rustls-pki-types: builds in a fraction of the time),
//! build both with `--release`, and run both with the same `ICOUNT_CORE_INPUTS`.
//!
//! Issue 13 (71569bc -> the crypto/der merge), instructions per op, ours / baseline:
//!
//! | group | before | after | after/before (ours) |
//! |---|---|---|---|
//! | `mint_public_key` | 240.6k / 223.4k = 1.077 | 239.3k / 223.5k = 1.071 | 0.995 |
//! | `mint_keygen` | 393.4k / 370.1k = 1.063 | 393.0k / 370.1k = 1.062 | 0.999 |
//! | `mint_keygen_full` | 1163.1k / 370.1k = 3.143 | 1164.3k / 370.1k = 3.146 | 1.001 |
//! | `jwt_mint` | 236.1k / 217.0k = 1.088 | 236.2k / 217.0k = 1.088 | 1.001 |
//! | `x509_verify_leaf` | 765.6k / 753.5k = 1.016 | 766.7k / 753.5k = 1.017 | 1.001 |
//! | `jwt_validate_es256` | 763.4k / 749.3k = 1.019 | 763.4k / 749.3k = 1.019 | 1.000 |
//! | `bundle_parse` | 106.5k / 57.3k = 1.860 | 109.3k / 57.3k = 1.907 | 1.026 |
//! | `x509svid_new` | 157.7k / 154.4k = 1.022 | 162.0k / 157.5k = 1.029 | 1.027 |
//! | `key_load` | 154.4k / 153.4k = 1.006 | 157.5k / 153.4k = 1.027 | 1.020 |

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "bench harness: fixed inputs known to be valid, a panic there is a broken bench"
)]
#![allow(
    unexpected_cfgs,
    reason = "`icount_before` switches to the API before issue 13, see the module docs"
)]

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ca::{CertificateAuthority, JwtSvidRequest, SelfCheck, X509SvidRequest};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P256_SHA256_FIXED,
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _, UnparsedPublicKey,
};
use rustls_pki_types::{CertificateDer, UnixTime};
use serde_json::Value;
use spiffe_id::{SpiffeId, TrustDomain};
use svid::{Audience, JwtValidator, Usage, X509Verifier};
use trust_bundle::{BundleSet, EcCurve, EcPublicKey, JwtBundle, JwtKey, SpiffeBundle, X509Bundle};

#[cfg(icount_before)]
type Crypto = svid::CryptoBackend;
#[cfg(not(icount_before))]
use svid::Crypto;

/// 2026-06-01T00:00:00Z: every mint and check happens at this instant.
const NOW: u64 = 1_780_272_000;
/// 2100-01-01T00:00:00Z.
const JWT_EXP: u64 = 4_102_444_800;
const TD: &str = "example.org";
const LEAF_ID: &str = "spiffe://example.org/ns/default/sa/web1";
const AUD: &str = "spiffe://example.org/service";
const KID: &str = "kid-1";
const GOLDEN_BUNDLE: &str = include_str!("../../trust-bundle/tests/data/bundle/golden.json");
const GOLDEN_MAP: &str = include_str!("../../trust-bundle/tests/data/bundle-map/golden.json");

/// Iterations of the shorter run (crypto ops cost 10^5..10^6 instructions each).
const N: u32 = 200;

/// (group, ours, baseline).
const GROUPS: &[(&str, &str, &str)] = &[
    ("mint_public_key", "ours/mint_public_key", "baseline/sign"),
    ("mint_keygen", "ours/mint_keygen", "baseline/keygen_sign"),
    (
        "mint_keygen_full",
        "ours/mint_keygen_full",
        "baseline/keygen_sign",
    ),
    ("jwt_mint", "ours/jwt_mint", "baseline/es256_sign"),
    (
        "x509_verify_leaf",
        "ours/x509_verify",
        "baseline/p256_verify",
    ),
    (
        "jwt_validate_es256",
        "ours/jwt_validate",
        "baseline/es256_verify",
    ),
    ("bundle_parse", "ours/bundle_parse", "baseline/serde_json"),
    ("x509svid_new", "ours/load_and_new", "ours/key_load"),
    ("key_load", "ours/key_load", "baseline/ring_key_load"),
];

fn crypto() -> Crypto {
    Crypto::ring()
}

fn unix_now() -> UnixTime {
    UnixTime::since_unix_epoch(Duration::from_secs(NOW))
}

fn system_now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(NOW)
}

fn authority(self_check: SelfCheck) -> CertificateAuthority {
    let builder = CertificateAuthority::builder(TrustDomain::parse(TD).unwrap());
    #[cfg(icount_before)]
    let builder = builder.backend(ca::Backend::Ring);
    #[cfg(not(icount_before))]
    let builder = builder.crypto(crypto());
    builder.self_check(self_check).build(system_now()).unwrap()
}

fn x509_request() -> X509SvidRequest {
    X509SvidRequest::new(SpiffeId::parse(LEAF_ID).unwrap())
}

/// One DER TLV at the start of `input`: (the whole TLV, its contents, what follows).
fn tlv(input: &[u8]) -> (&[u8], &[u8], &[u8]) {
    let first = input[1];
    let (header, len) = if first < 0x80 {
        (2, usize::from(first))
    } else {
        let n = usize::from(first & 0x7f);
        let len = input[2..2 + n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (2 + n, len)
    };
    (
        &input[..header + len],
        &input[header..header + len],
        &input[header + len..],
    )
}

/// The TBS bytes and signature (BIT STRING contents minus the unused-bits octet) of `cert`.
fn tbs_and_signature(cert: &[u8]) -> (&[u8], &[u8]) {
    let (_, body, _) = tlv(cert);
    let (tbs, _, rest) = tlv(body);
    let (_, _, rest) = tlv(rest);
    let (_, bits, _) = tlv(rest);
    (tbs, &bits[1..])
}

fn ring_p256(alg: &'static ring::signature::EcdsaSigningAlgorithm) -> EcdsaKeyPair {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
    EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).unwrap()
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

// X.509 material as `svid.rs` builds it (rcgen, SPIRE's profiles).

fn validity(params: &mut CertificateParams) {
    params.not_before = rcgen::date_time_ymd(2026, 1, 1);
    params.not_after = rcgen::date_time_ymd(2027, 1, 1);
}

fn uri(s: &str) -> SanType {
    SanType::URI(s.try_into().unwrap())
}

fn p256() -> KeyPair {
    KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap()
}

/// The verification inputs: random keys and ECDSA nonces make verification counts move by
/// about 1% from one key to the next, so they are generated once per `--bench` run (or read from
/// `$ICOUNT_CORE_INPUTS`, to compare two builds on the same bytes) and every child reads them.
const INPUT_FILES: [&str; 5] = ["root.der", "root.pub", "leaf.der", "leaf.pk8", "jwt"];

/// Where the children find the inputs.
const INPUTS_ENV: &str = "ICOUNT_CORE_INPUTS";

/// A root CA (as SPIRE issues it) and a leaf it signed, with the leaf's PKCS#8 key; an ES256
/// JWT-SVID as SPIRE issues it and its public key. Contents of [`INPUT_FILES`], in order.
fn generate_inputs() -> [Vec<u8>; 5] {
    let mut ca = CertificateParams::default();
    ca.distinguished_name = DistinguishedName::new();
    ca.distinguished_name
        .push(DnType::CommonName, "example.org root CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.subject_alt_names = vec![uri(&format!("spiffe://{TD}"))];
    validity(&mut ca);
    let root_key = p256();
    let root = ca.self_signed(&root_key).unwrap().der().to_vec();

    let mut leaf = CertificateParams::default();
    leaf.distinguished_name = DistinguishedName::new();
    leaf.is_ca = IsCa::ExplicitNoCa;
    leaf.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
        KeyUsagePurpose::KeyAgreement,
    ];
    leaf.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    leaf.subject_alt_names = vec![uri(LEAF_ID)];
    validity(&mut leaf);
    let leaf_key = p256();
    let issuer = Issuer::from_params(&ca, &root_key);
    let cert = leaf.signed_by(&leaf_key, &issuer).unwrap().der().to_vec();

    let pair = ring_p256(&ECDSA_P256_SHA256_FIXED_SIGNING);
    let header = format!(r#"{{"alg":"ES256","kid":"{KID}","typ":"JWT"}}"#);
    let claims = format!(r#"{{"sub":"{LEAF_ID}","aud":["{AUD}"],"exp":{JWT_EXP},"iat":{NOW}}}"#);
    let signing_input = format!("{}.{}", b64(header), b64(claims));
    let signature = pair
        .sign(&SystemRandom::new(), signing_input.as_bytes())
        .unwrap();
    // `jwt`: the SEC1 public key (65 bytes), then the token.
    let mut jwt = pair.public_key().as_ref().to_vec();
    jwt.extend_from_slice(format!("{signing_input}.{}", b64(signature.as_ref())).as_bytes());
    [
        root,
        root_key.public_key_raw().to_vec(),
        cert,
        leaf_key.serialize_der(),
        jwt,
    ]
}

/// The inputs from `$ICOUNT_CORE_INPUTS` when set, fresh ones otherwise.
fn inputs() -> [Vec<u8>; 5] {
    match std::env::var_os(INPUTS_ENV) {
        Some(dir) => INPUT_FILES.map(|name| std::fs::read(Path::new(&dir).join(name)).unwrap()),
        None => generate_inputs(),
    }
}

/// The root in a bundle, the leaf it signed, the leaf's PKCS#8 key, the root's public key.
struct Pki {
    bundles: BundleSet,
    leaf: Vec<CertificateDer<'static>>,
    leaf_key: Vec<u8>,
    root_key: Vec<u8>,
}

impl Pki {
    fn load() -> Self {
        let [root, root_key, leaf, leaf_key, _] = inputs();
        let td = TrustDomain::parse(TD).unwrap();
        let bundle = X509Bundle::from_certificates(td, [CertificateDer::from(root)]).unwrap();
        Self {
            bundles: BundleSet::from_bundles([SpiffeBundle::from(bundle)]).unwrap(),
            leaf: vec![CertificateDer::from(leaf)],
            leaf_key,
            root_key,
        }
    }
}

/// An ES256 JWT-SVID, its signing input, signature and key, and a bundle with the key.
struct Jwt {
    token: String,
    signing_input: Vec<u8>,
    signature: Vec<u8>,
    public_key: Vec<u8>,
    bundles: BundleSet,
}

impl Jwt {
    fn load() -> Self {
        let [.., jwt] = inputs();
        let (public_key, token) = jwt.split_at(65);
        let token = String::from_utf8(token.to_vec()).unwrap();
        let (signing_input, signature) = token.rsplit_once('.').unwrap();
        let ec = EcPublicKey::from_sec1(EcCurve::P256, public_key).unwrap();
        let td = TrustDomain::parse(TD).unwrap();
        let bundle = JwtBundle::from_keys(td, [(KID, JwtKey::Ec(ec))]).unwrap();
        Self {
            signing_input: signing_input.as_bytes().to_vec(),
            signature: URL_SAFE_NO_PAD.decode(signature).unwrap(),
            public_key: public_key.to_vec(),
            bundles: BundleSet::from_bundles([SpiffeBundle::from(bundle)]).unwrap(),
            token,
        }
    }
}

/// `trust_bundle.rs`'s realistic bundle: 2 authorities, 3 JWT keys, pretty-printed.
fn realistic_bundle() -> Vec<u8> {
    let mut bundle: Value = serde_json::from_str(GOLDEN_BUNDLE).unwrap();
    let map: Value = serde_json::from_str(GOLDEN_MAP).unwrap();
    let extra = map["trust_domains"]["partner.example"]["keys"]
        .as_array()
        .unwrap()
        .clone();
    bundle["keys"].as_array_mut().unwrap().extend(extra);
    serde_json::to_vec_pretty(&bundle).unwrap()
}

/// Runs `op` `iterations` times after its set-up. Returns false for an unknown name.
fn run(op: &str, iterations: u32) -> bool {
    let repeat = |f: &mut dyn FnMut()| (0..iterations).for_each(|_| f());
    let rng = SystemRandom::new();
    match op {
        "ours/mint_public_key" => {
            let ca = authority(SelfCheck::FirstPerAuthority);
            let spki = {
                use rcgen::PublicKeyData;
                p256().subject_public_key_info()
            };
            let request = x509_request();
            repeat(&mut || {
                black_box(
                    ca.mint_x509_svid_for_public_key(black_box(&spki), &request, system_now())
                        .unwrap(),
                );
            });
        }
        "ours/mint_keygen" | "ours/mint_keygen_full" => {
            let check = if op.ends_with("_full") {
                SelfCheck::Full
            } else {
                SelfCheck::FirstPerAuthority
            };
            let ca = authority(check);
            let request = x509_request();
            repeat(&mut || {
                black_box(
                    ca.mint_x509_svid(black_box(&request), system_now())
                        .unwrap(),
                );
            });
        }
        "baseline/sign" | "baseline/keygen_sign" => {
            let ca = authority(SelfCheck::FirstPerAuthority);
            let svid = ca.mint_x509_svid(&x509_request(), system_now()).unwrap();
            let tbs = tbs_and_signature(svid.leaf().as_ref()).0.to_vec();
            let key = ring_p256(&ECDSA_P256_SHA256_ASN1_SIGNING);
            let keygen = op == "baseline/keygen_sign";
            repeat(&mut || {
                if keygen {
                    black_box(
                        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
                            .unwrap(),
                    );
                }
                black_box(key.sign(&rng, black_box(&tbs)).unwrap());
            });
        }
        "ours/jwt_mint" => {
            let ca = authority(SelfCheck::FirstPerAuthority);
            let request = JwtSvidRequest::new(
                SpiffeId::parse(LEAF_ID).unwrap(),
                ["spiffe://example.org/db"],
            );
            repeat(&mut || {
                black_box(ca.mint_jwt_svid(black_box(&request), system_now()).unwrap());
            });
        }
        "baseline/es256_sign" => {
            let ca = authority(SelfCheck::FirstPerAuthority);
            let request = JwtSvidRequest::new(
                SpiffeId::parse(LEAF_ID).unwrap(),
                ["spiffe://example.org/db"],
            );
            let token = ca.mint_jwt_svid(&request, system_now()).unwrap();
            let input = token.rsplit_once('.').unwrap().0.as_bytes().to_vec();
            let key = ring_p256(&ECDSA_P256_SHA256_FIXED_SIGNING);
            repeat(&mut || {
                black_box(key.sign(&rng, black_box(&input)).unwrap());
            });
        }
        "ours/x509_verify" => {
            let pki = Pki::load();
            #[cfg(icount_before)]
            let verifier = X509Verifier::new(pki.bundles.clone(), &crypto(), Usage::ClientAuth);
            #[cfg(not(icount_before))]
            let verifier =
                X509Verifier::new(pki.bundles.clone(), &crypto()).with_usage(Usage::ClientAuth);
            assert!(verifier.verify(&pki.leaf, unix_now()).is_ok());
            repeat(&mut || {
                black_box(black_box(&verifier).verify(black_box(&pki.leaf), unix_now())).unwrap();
            });
        }
        "baseline/p256_verify" => {
            let pki = Pki::load();
            let (tbs, signature) = tbs_and_signature(pki.leaf[0].as_ref());
            repeat(&mut || {
                UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, black_box(&pki.root_key))
                    .verify(black_box(tbs), black_box(signature))
                    .unwrap();
            });
        }
        "ours/jwt_validate" => {
            let jwt = Jwt::load();
            let audience = Audience::new([AUD]).unwrap();
            #[cfg(icount_before)]
            {
                let validator = JwtValidator::new(crypto());
                repeat(&mut || {
                    black_box(black_box(&validator).validate(
                        black_box(&jwt.token),
                        &jwt.bundles,
                        &audience,
                        unix_now(),
                    ))
                    .unwrap();
                });
            }
            #[cfg(not(icount_before))]
            {
                let validator = JwtValidator::new(jwt.bundles.clone(), &crypto());
                repeat(&mut || {
                    black_box(black_box(&validator).validate(
                        black_box(&jwt.token),
                        &audience,
                        unix_now(),
                    ))
                    .unwrap();
                });
            }
        }
        "baseline/es256_verify" => {
            let jwt = Jwt::load();
            repeat(&mut || {
                UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, black_box(&jwt.public_key))
                    .verify(black_box(&jwt.signing_input), black_box(&jwt.signature))
                    .unwrap();
            });
        }
        "ours/bundle_parse" => {
            let input = realistic_bundle();
            let td = TrustDomain::parse(TD).unwrap();
            repeat(&mut || {
                black_box(SpiffeBundle::parse(td.clone(), black_box(&input)).unwrap());
            });
        }
        "baseline/serde_json" => {
            let input = realistic_bundle();
            repeat(&mut || {
                black_box(serde_json::from_slice::<Value>(black_box(&input)).unwrap());
            });
        }
        "ours/load_and_new" | "ours/key_load" | "baseline/ring_key_load" => {
            // `svid.rs` times `X509Svid::new` with the chain copy and key load as set-up;
            // callgrind cannot exclude per-iteration set-up, so `x509svid_new` is
            // (copy + load + new) against (copy + load), and `key_load` is our load against
            // ring's, each with the copy.
            let pki = Pki::load();
            let crypto = crypto();
            repeat(&mut || {
                let chain = black_box(pki.leaf.clone());
                if op == "baseline/ring_key_load" {
                    let alg = &ECDSA_P256_SHA256_ASN1_SIGNING;
                    black_box(EcdsaKeyPair::from_pkcs8(alg, &pki.leaf_key, &rng).unwrap());
                    black_box(chain);
                    return;
                }
                let key = svid::PrivateKey::from_pkcs8_der(&pki.leaf_key, &crypto).unwrap();
                if op == "ours/load_and_new" {
                    black_box(svid::X509Svid::new(chain, key).unwrap());
                } else {
                    black_box((chain, key));
                }
            });
        }
        _ => return false,
    }
    true
}

/// Instructions callgrind counted for `op` run `iterations` times in a child process.
fn collected(op: &str, iterations: u32, inputs: &Path) -> Option<u64> {
    let exe = std::env::current_exe().ok()?;
    let output = Command::new("valgrind")
        .env(INPUTS_ENV, inputs)
        .args(["--tool=callgrind", "--callgrind-out-file=/dev/null"])
        .arg(exe)
        .args(["--run", op, &iterations.to_string()])
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let line = stderr.lines().find(|l| l.contains("Collected :"))?;
    line.rsplit(' ').next()?.trim().parse().ok()
}

fn per_iteration(op: &str, inputs: &Path) -> Option<u64> {
    let once = collected(op, N, inputs)?;
    let twice = collected(op, 2 * N, inputs)?;
    Some(twice.saturating_sub(once) / u64::from(N))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, op, iterations] = args.as_slice() {
        if flag == "--run" {
            assert!(run(op, iterations.parse().unwrap()), "unknown op {op}");
            return;
        }
    }
    // `cargo bench` passes `--bench`. Anything else (`cargo test --benches`): run every
    // operation once in-process, so a broken op still fails fast, and skip the counting.
    if !args.iter().any(|a| a == "--bench") {
        for (_, ours, baseline) in GROUPS {
            assert!(run(ours, 1) && run(baseline, 1), "unknown op");
        }
        return;
    }
    let filter = args.iter().find(|a| !a.starts_with("--"));
    if Command::new("valgrind").arg("--version").output().is_err() {
        println!("icount_core: valgrind not found; skipping instruction counts");
        return;
    }
    // `$ICOUNT_CORE_INPUTS` names a directory: inputs written there on first use and kept;
    // without it, a fresh directory for this run, removed at the end.
    let kept = std::env::var_os(INPUTS_ENV).map(PathBuf::from);
    let dir = kept.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("icount_core-{}", std::process::id()))
    });
    if !dir.join(INPUT_FILES[0]).exists() {
        std::fs::create_dir_all(&dir).unwrap();
        for (name, bytes) in INPUT_FILES.iter().zip(generate_inputs()) {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
    println!("instructions per iteration (callgrind; lower is better)");
    println!(
        "{:<20} {:>10} {:>10} {:>7} {:>9}",
        "group", "ours", "baseline", "ratio", "ours-base"
    );
    for (group, ours, baseline) in GROUPS {
        if filter.is_some_and(|f| !group.contains(f.as_str())) {
            continue;
        }
        match (per_iteration(ours, &dir), per_iteration(baseline, &dir)) {
            (Some(o), Some(b)) => {
                let extra = i128::from(o) - i128::from(b);
                println!(
                    "{group:<20} {o:>10} {b:>10} {:>7.3} {extra:>9}",
                    ratio(o, b)
                );
            }
            _ => println!("{group:<20} failed under valgrind"),
        }
    }
    if kept.is_none() {
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// `a / b` for display.
fn ratio(a: u64, b: u64) -> f64 {
    // Per-iteration counts stay far below u32::MAX, so the conversion is exact.
    let to_f64 = |x: u64| f64::from(u32::try_from(x).unwrap_or(u32::MAX));
    to_f64(a) / to_f64(b.max(1))
}
