//! Counts heap allocations: a parsed or cloned ID must cost what the docs promise (one
//! allocation to parse, none to clone, compare, hash or match).
//!
//! One test per file on purpose: the counting allocator is process-wide, and a second test
//! running on another thread would add its own allocations to the count.

use std::alloc::System;
use std::hash::{DefaultHasher, Hash, Hasher};

use spiffe_id::{IdMatcher, IdPattern, SpiffeId, TrustDomain};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Allocations made while running `f`.
fn allocations<T>(f: impl FnOnce() -> T) -> (usize, T) {
    let region = Region::new(GLOBAL);
    let value = f();
    (region.change().allocations, value)
}

#[test]
fn parse_allocates_once_and_everything_after_is_free() {
    let input = "spiffe://example.org/ns/default/sa/web"; // 39 bytes, the benchmark input
    let long = format!("spiffe://example.org/{}", "a".repeat(2027));
    let pattern = IdPattern::parse("spiffe://example.org/ns/*/sa/web").unwrap();
    let matcher =
        IdMatcher::from(pattern.clone()).or(IdMatcher::member_of("other.org".parse().unwrap()));

    let (count, id) = allocations(|| SpiffeId::parse(input).unwrap());
    assert_eq!(count, 1, "parsing a 39-byte ID");
    let (count, _) = allocations(|| SpiffeId::parse(&long).unwrap());
    assert_eq!(count, 1, "parsing a 2048-byte ID");
    let (count, _) = allocations(|| TrustDomain::parse("example.org").unwrap());
    assert_eq!(count, 1, "parsing a trust domain");
    let (count, _) = allocations(|| TrustDomain::from_id_or_name(input).unwrap());
    assert_eq!(
        count, 1,
        "a trust domain from an ID allocates only the name"
    );

    let (count, copy) = allocations(|| id.clone());
    assert_eq!(count, 0, "clone shares the allocation");
    let (count, _) = allocations(|| {
        let mut hasher = DefaultHasher::new();
        id.hash(&mut hasher);
        (
            id == copy,
            id.trust_domain_name().len(),
            id.path().len(),
            hasher.finish(),
        )
    });
    assert_eq!(count, 0, "compare, hash and accessors");
    let (count, matched) = allocations(|| (pattern.matches(&id), matcher.matches(&id)));
    assert_eq!(count, 0, "matching");
    assert_eq!(matched, (true, true));
}
