//! `agent_start` benchmark: how long an agent takes from opening its store to "every entry
//! has its first X509-SVID" (what `/ready` waits for), with 10,000 stored registration entries
//! against the same start on an empty store, in the same run.
//!
//! Each iteration starts from a copy of a prepared SQLite file (CA journal, and the entries
//! for the 10k case) and measures: `SqliteStore::open` (file checks, migrations), the CA
//! built on its journal (keys loaded, state resumed), `Agent::builder(..).store(..)
//! .serve_unix(..)` (entries read back and checked) and `AgentHandle::minted` (one X509-SVID
//! per entry, minted on every core). Shutdown is not measured.
//!
//! One run on the shared 2-core VM (medians):
//!
//! | group | `baseline/empty_store` | `ours/store_10k_entries` | ratio |
//! |---|---|---|---|
//! | `agent_start` | 1.8 ms | 391 ms | 234x: 39 us per entry |
//!
//! Nearly all of the 10k start is minting 10,000 X509-SVIDs (P-256 key generation and a
//! signature each, `SelfCheck::Auto`); reading and checking the entries back is about 40 ms
//! (the `store` bench's `store_start_10k`).
//!
//! Run: `python3 benches/ratios.py run -- --bench agent_start -- --warm-up-time 1
//! --measurement-time 20`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "bench setup: fixed inputs known to be valid, a panic there is a broken bench"
)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use agent::Agent;
use ca::CertificateAuthority;
use criterion::{Criterion, criterion_group, criterion_main};
use store::{EntryRecord, SqliteStore, Store};

const ENTRIES: usize = 10_000;

fn trust_domain() -> spiffe_id::TrustDomain {
    "example.org".parse().unwrap()
}

/// A store file with a CA journal and `entries` registration entries.
fn prepare(dir: &Path, entries: usize) {
    let store = SqliteStore::open(dir.join("agent.db")).unwrap();
    let journal = store.ca_journal("ca").unwrap();
    CertificateAuthority::builder(trust_domain())
        .key_store(journal)
        .build(SystemTime::now())
        .unwrap();
    let records: Vec<EntryRecord> = (0..entries)
        .map(|n| {
            EntryRecord::new(
                format!("spiffe://example.org/workload/{n}")
                    .parse()
                    .unwrap(),
            )
            .with_selector(format!("unix:uid:{}", 10_000 + n))
        })
        .collect();
    store.create_entries(&records).unwrap();
}

/// One cold start from a copy of `template`; the time until every entry has its SVID.
async fn start(template: &Path) -> Duration {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("agent.db");
    std::fs::copy(template, &db).unwrap();
    let socket = dir.path().join("agent.sock");
    let started = Instant::now();
    let (ca, store) = tokio::task::spawn_blocking(move || {
        let store = SqliteStore::open(&db).unwrap();
        let ca = CertificateAuthority::builder(trust_domain())
            .key_store(store.ca_journal("ca").unwrap())
            .build(SystemTime::now())
            .unwrap();
        (ca, store)
    })
    .await
    .unwrap();
    let handle = Agent::builder(ca)
        .store(Arc::new(store))
        .serve_unix(&socket)
        .await
        .unwrap();
    handle.minted().await;
    let took = started.elapsed();
    handle.shutdown().await.unwrap();
    took
}

fn agent_start(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let empty = tempfile::tempdir().unwrap();
    prepare(empty.path(), 0);
    let full = tempfile::tempdir().unwrap();
    prepare(full.path(), ENTRIES);

    let mut group = c.benchmark_group("agent_start");
    group.sample_size(10);
    for (id, dir) in [
        ("baseline/empty_store", &empty),
        ("ours/store_10k_entries", &full),
    ] {
        let template = dir.path().join("agent.db");
        group.bench_function(id, |b| {
            b.iter_custom(|iterations| {
                runtime.block_on(async {
                    let mut total = Duration::ZERO;
                    for _ in 0..iterations {
                        total += start(&template).await;
                    }
                    total
                })
            });
        });
    }
    group.finish();
}

criterion_group!(benches, agent_start);
criterion_main!(benches);
