//! `trust-bundle` benchmarks. Every group pairs our operation with a baseline measured in the
//! same run, so the ratio (not the absolute time) is what to compare across machines:
//!
//! - `bundle_document`: `SpiffeBundle::parse` of a realistic bundle (2 X.509 authorities, 3 JWT
//!   keys: the golden bundle of `trust-bundle/tests/data` plus the `partner.example` CA and
//!   P-384 key of the golden bundle map), and `to_json` of the result, against
//!   `serde_json::from_slice::<serde_json::Value>` of the same bytes (JSON parsing alone: no
//!   duplicate-member check, no base64, no certificate or key decoding).
//! - `bundle_map_10`: `BundleSet::parse_bundle_map` of a map of 10 trust domains (the two
//!   bundles of the golden map, five times each), against the same `serde_json::Value` parse.
//! - `x509_bundle_der`: `X509Bundle::from_der` of two concatenated certificates (EC P-256 and
//!   RSA-2048 CAs) against copying each certificate into its own `Vec` (the one allocation per
//!   certificate `from_der` makes).
//! - `jwt_bundle_workload_api`: `JwtBundle::parse_workload_api` of a 3-key JWKS without `use`
//!   members (as SPIRE sends it) against the `serde_json::Value` parse.
//!
//! Run: `python3 benches/ratios.py run -- --bench trust_bundle -- --warm-up-time 1 --measurement-time 3`
//! (runs the bench, then prints the ratios of that run only).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "bench setup: fixed inputs known to be valid, a panic there is a broken bench"
)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Value, json};
use spiffe_id::TrustDomain;
use trust_bundle::{BundleSet, JwtBundle, SpiffeBundle, X509Bundle};

const GOLDEN_BUNDLE: &str = include_str!("../../trust-bundle/tests/data/bundle/golden.json");
const GOLDEN_MAP: &str = include_str!("../../trust-bundle/tests/data/bundle-map/golden.json");
const CA_EC_P256: &[u8] = include_bytes!("../../trust-bundle/tests/data/certs/ca-ec-p256.der");
const CA_RSA_2048: &[u8] = include_bytes!("../../trust-bundle/tests/data/certs/ca-rsa-2048.der");

/// The entries of `keys` of one bundle of the golden map.
fn map_keys(map: &Value, trust_domain: &str) -> Vec<Value> {
    map["trust_domains"][trust_domain]["keys"]
        .as_array()
        .unwrap()
        .clone()
}

/// The trust domain every bundle is parsed for; the benches clone it (one reference count), as
/// a caller holding it would.
fn td() -> TrustDomain {
    TrustDomain::parse("example.org").unwrap()
}

/// The golden bundle (1 authority, 2 JWT keys) plus the `partner.example` authority and P-384
/// JWT key of the golden map: 2 authorities and 3 JWT keys, pretty-printed as a file would be.
/// (trust-bundle does no certificate path checks, so whose CA it is does not matter here.)
fn realistic_bundle() -> Vec<u8> {
    let mut bundle: Value = serde_json::from_str(GOLDEN_BUNDLE).unwrap();
    let map: Value = serde_json::from_str(GOLDEN_MAP).unwrap();
    let keys = bundle["keys"].as_array_mut().unwrap();
    keys.extend(map_keys(&map, "partner.example"));
    serde_json::to_vec_pretty(&bundle).unwrap()
}

/// A bundle map of 10 trust domains, alternating the two bundles of the golden map.
fn map_of_10() -> Vec<u8> {
    let map: Value = serde_json::from_str(GOLDEN_MAP).unwrap();
    let bundles = [
        &map["trust_domains"]["example.org"],
        &map["trust_domains"]["partner.example"],
    ];
    let trust_domains: serde_json::Map<String, Value> = (0..10)
        .map(|i| (format!("td{i}.example"), bundles[i % 2].clone()))
        .collect();
    serde_json::to_vec_pretty(&json!({ "trust_domains": trust_domains })).unwrap()
}

/// The three JWT keys of the realistic bundle without `use`, as the Workload API sends them.
fn workload_api_jwks() -> Vec<u8> {
    let bundle: Value = serde_json::from_slice(&realistic_bundle()).unwrap();
    let keys: Vec<Value> = bundle["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|key| key["use"] == "jwt-svid")
        .map(|key| {
            let mut key = key.clone();
            key.as_object_mut().unwrap().remove("use");
            key
        })
        .collect();
    serde_json::to_vec_pretty(&json!({ "keys": keys })).unwrap()
}

fn value_baseline(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    input: &[u8],
) {
    group.bench_function("baseline/serde_json_value", |b| {
        b.iter(|| serde_json::from_slice::<Value>(black_box(input)).unwrap());
    });
}

fn bundle_document(c: &mut Criterion) {
    let input = realistic_bundle();
    let bundle = SpiffeBundle::parse(td(), &input).unwrap();
    let ignored = bundle.ignored().to_vec();
    assert!(ignored.is_empty());
    assert_eq!(bundle.x509_bundle().len(), 2);
    assert_eq!(bundle.jwt_bundle().len(), 3);

    let td = td();
    let mut group = c.benchmark_group("bundle_document");
    group.throughput(Throughput::Bytes(u64::try_from(input.len()).unwrap()));
    group.bench_function("ours/parse", |b| {
        b.iter(|| SpiffeBundle::parse(td.clone(), black_box(&input)).unwrap());
    });
    group.bench_function("ours/to_json", |b| b.iter(|| black_box(&bundle).to_json()));
    value_baseline(&mut group, &input);
    group.finish();
}

fn bundle_map(c: &mut Criterion) {
    let input = map_of_10();
    let set = BundleSet::parse_bundle_map(&input).unwrap();
    let ignored: Vec<_> = set.ignored().map(|(_, ignored)| ignored.clone()).collect();
    assert!(ignored.is_empty());
    assert_eq!(set.len(), 10);

    let mut group = c.benchmark_group("bundle_map_10");
    group.throughput(Throughput::Bytes(u64::try_from(input.len()).unwrap()));
    group.bench_function("ours/parse", |b| {
        b.iter(|| BundleSet::parse_bundle_map(black_box(&input)).unwrap());
    });
    group.bench_function("ours/to_bundle_map_json", |b| {
        b.iter(|| black_box(&set).to_bundle_map_json());
    });
    value_baseline(&mut group, &input);
    group.finish();
}

fn x509_bundle_der(c: &mut Criterion) {
    let input = [CA_EC_P256, CA_RSA_2048].concat();
    assert_eq!(X509Bundle::from_der(td(), &input).unwrap().len(), 2);

    let td = td();
    let mut group = c.benchmark_group("x509_bundle_der");
    group.throughput(Throughput::Bytes(u64::try_from(input.len()).unwrap()));
    group.bench_function("ours/from_der", |b| {
        b.iter(|| X509Bundle::from_der(td.clone(), black_box(&input)).unwrap());
    });
    group.bench_function("baseline/copy_certs", |b| {
        b.iter(|| {
            let input = black_box(&input);
            let (first, second) = input.split_at(CA_EC_P256.len());
            [first.to_vec(), second.to_vec()]
        });
    });
    group.finish();
}

fn jwt_bundle(c: &mut Criterion) {
    let input = workload_api_jwks();
    let bundle = JwtBundle::parse_workload_api(td(), &input).unwrap();
    let ignored = bundle.ignored().to_vec();
    assert!(ignored.is_empty());
    assert_eq!(bundle.len(), 3);

    let td = td();
    let mut group = c.benchmark_group("jwt_bundle_workload_api");
    group.throughput(Throughput::Bytes(u64::try_from(input.len()).unwrap()));
    group.bench_function("ours/parse", |b| {
        b.iter(|| JwtBundle::parse_workload_api(td.clone(), black_box(&input)).unwrap());
    });
    value_baseline(&mut group, &input);
    group.finish();
}

criterion_group!(
    benches,
    bundle_document,
    bundle_map,
    x509_bundle_der,
    jwt_bundle
);
criterion_main!(benches);
