//! `spiffe-id` benchmarks. Every group pairs our operation with a baseline measured in the
//! same run, so the ratio (not the absolute time) is what to compare across machines:
//!
//! - `parse_id_39`, `parse_id_2k`: our `SpiffeId::parse` against the `spiffe` crate's
//!   `SpiffeId::new` / `FromStr`, and against the raw op, copying the string into an
//!   `Arc<str>` (the one allocation our parser makes).
//! - `trust_domain_parse`, `trust_domain_from_id`: `TrustDomain::parse` (a bare name) and
//!   `TrustDomain::from_id_or_name` (a 39-byte ID) against the `spiffe` crate's
//!   `TrustDomain::new`, and against copying the name into an `Arc<str>`.
//! - `match`, `match_one_of_100`: `IdMatcher::matches` against a plain `==` string comparison
//!   (and, for `one_of`, a linear `==` scan of the same 100 strings).
//!
//! Run: `python3 benches/ratios.py run -- --bench spiffe_id -- --warm-up-time 1 --measurement-time 3`
//! (runs the bench, then prints the ratios of that run only).

#![allow(
    clippy::unwrap_used,
    reason = "bench setup: fixed inputs known to be valid, a panic there is a broken bench"
)]

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use spiffe_id::{IdMatcher, SpiffeId, TrustDomain};

/// The typical workload ID: exactly 39 bytes.
const ID_39: &str = "spiffe://example.org/ns/default/sa/web1";
const _: () = assert!(ID_39.len() == 39);

/// A valid ID of exactly 2048 bytes (the length parsers must support), made of 16-byte
/// segments.
fn id_2k() -> String {
    let mut id = String::from("spiffe://example.org");
    let mut n = 0u32;
    while id.len() + 16 <= 2048 {
        id.push_str(&format!("/segment-{n:06}"));
        n += 1;
    }
    let pad = 2048 - id.len() - 1;
    id.push('/');
    id.push_str(&"p".repeat(pad));
    assert_eq!(id.len(), 2048);
    id
}

fn parse_group(c: &mut Criterion, name: &str, input: &str) {
    assert!(SpiffeId::parse(input).is_ok() && spiffe::SpiffeId::new(input).is_ok());
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Bytes(u64::try_from(input.len()).unwrap()));
    group.bench_function("ours/parse", |b| {
        b.iter(|| SpiffeId::parse(black_box(input)));
    });
    group.bench_function("ours/parse_bytes", |b| {
        b.iter(|| SpiffeId::parse_bytes(black_box(input.as_bytes())));
    });
    group.bench_function("spiffe/parse.new", |b| {
        b.iter(|| spiffe::SpiffeId::new(black_box(input)));
    });
    group.bench_function("spiffe/parse.from_str", |b| {
        b.iter(|| black_box(input).parse::<spiffe::SpiffeId>());
    });
    group.bench_function("baseline/arc_str", |b| {
        b.iter(|| Arc::<str>::from(black_box(input)));
    });
    group.finish();
}

fn parse_ids(c: &mut Criterion) {
    parse_group(c, "parse_id_39", ID_39);
    parse_group(c, "parse_id_2k", &id_2k());
}

fn trust_domain_parse(c: &mut Criterion) {
    let name = "example.org";
    let mut group = c.benchmark_group("trust_domain_parse");
    group.bench_function("ours/parse", |b| {
        b.iter(|| TrustDomain::parse(black_box(name)));
    });
    group.bench_function("spiffe/parse.new", |b| {
        b.iter(|| spiffe::TrustDomain::new(black_box(name)));
    });
    group.bench_function("baseline/arc_str", |b| {
        b.iter(|| Arc::<str>::from(black_box(name)));
    });
    group.finish();

    // The ID form that config files also accept.
    let mut group = c.benchmark_group("trust_domain_from_id");
    group.bench_function("ours/from_id_or_name", |b| {
        b.iter(|| TrustDomain::from_id_or_name(black_box(ID_39)));
    });
    group.bench_function("spiffe/from_id_or_name.new", |b| {
        b.iter(|| spiffe::TrustDomain::new(black_box(ID_39)));
    });
    group.bench_function("baseline/arc_str", |b| {
        b.iter(|| Arc::<str>::from(black_box(name)));
    });
    group.finish();
}

fn matchers(c: &mut Criterion) {
    let id = SpiffeId::parse(ID_39).unwrap();
    // A different allocation with the same bytes: no pointer-equality shortcut.
    let same = String::from(ID_39);
    let td = TrustDomain::parse("example.org").unwrap();
    let cases = [
        ("exact", IdMatcher::exact(SpiffeId::parse(&same).unwrap())),
        ("member_of", IdMatcher::member_of(td)),
        (
            "path_prefix",
            IdMatcher::path_prefix(SpiffeId::parse("spiffe://example.org/ns/default").unwrap()),
        ),
        (
            "pattern_star",
            IdMatcher::pattern("spiffe://example.org/ns/*/sa/web1").unwrap(),
        ),
        (
            "composed_and_or_not",
            IdMatcher::pattern("spiffe://example.org/ns/*/sa/web1")
                .unwrap()
                .or(IdMatcher::exact(
                    SpiffeId::parse("spiffe://example.org/admin").unwrap(),
                ))
                .and(
                    IdMatcher::path_prefix(
                        SpiffeId::parse("spiffe://example.org/ns/default/sa/legacy").unwrap(),
                    )
                    .negate(),
                ),
        ),
    ];

    let mut group = c.benchmark_group("match");
    group.bench_function("baseline/str_eq", |b| {
        b.iter(|| black_box(id.as_str()) == black_box(same.as_str()));
    });
    for (name, matcher) in &cases {
        assert!(matcher.matches(&id), "{name} must match {id}");
        group.bench_function(format!("ours/{name}"), |b| {
            b.iter(|| black_box(matcher).matches(black_box(&id)));
        });
    }
    group.finish();

    // 100 IDs of the same shape; the one looked up sits in the middle.
    let names: Vec<String> = (0..100)
        .map(|i| format!("spiffe://example.org/ns/default/sa/w{i:03}"))
        .collect();
    let one_of = IdMatcher::one_of(names.iter().map(|n| SpiffeId::parse(n).unwrap()));
    let middle = names.get(50).unwrap().clone();
    let wanted = SpiffeId::parse(&middle).unwrap();
    assert!(one_of.matches(&wanted));
    let mut group = c.benchmark_group("match_one_of_100");
    group.bench_function("baseline/str_eq", |b| {
        b.iter(|| black_box(wanted.as_str()) == black_box(middle.as_str()));
    });
    group.bench_function("baseline/linear_str_eq_100", |b| {
        b.iter(|| {
            let wanted = black_box(wanted.as_str());
            black_box(&names).iter().any(|n| n == wanted)
        });
    });
    group.bench_function("ours/one_of", |b| {
        b.iter(|| black_box(&one_of).matches(black_box(&wanted)));
    });
    group.finish();
}

criterion_group!(benches, parse_ids, trust_domain_parse, matchers);
criterion_main!(benches);
