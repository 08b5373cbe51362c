//! `store` benchmarks: the SQLite store with 10,000 registration entries, each group paired
//! with raw `rusqlite` doing the same SQL on the same schema in the same run (the baseline is
//! SQLite's own cost; the ratio is what the store adds: validation, JSON columns, random IDs,
//! parsing every SPIFFE ID back, and at start the file checks).
//!
//! - `store_create_10k`: `Store::create_entries` of 10,000 entries into a fresh file (one
//!   transaction, `synchronous=FULL`) against the same 10,000 INSERTs through one cached
//!   statement in one transaction, with the column values prepared beforehand
//!   (`baseline/insert`).
//! - `store_start_10k`: what an agent does at start: `SqliteStore::open` of the file holding
//!   10,000 entries (header, `PRAGMA quick_check`, schema comparison, migrations) and
//!   `Store::entries` (`ours/open_list`), against opening the file with the same pragmas and
//!   reading every column of every row into owned values (`baseline/open_select`).
//! - `store_list_10k`: `Store::entries` on an open store against the same SELECT on an open
//!   connection: the cost of turning rows into `EntryRecord`s.
//!
//! One run on the shared 2-core VM (medians; clock times move by +-30% between runs, the
//! ratios less):
//!
//! | group | ours | baseline | ratio |
//! |---|---|---|---|
//! | `store_create_10k` | 158 ms | 115 ms | 1.38x |
//! | `store_start_10k` | 39.5 ms | 18.5 ms | 2.14x |
//! | `store_list_10k` | 24.4 ms | 14.3 ms | 1.70x |
//!
//! At start the open itself is about 15 ms of the 39.5 (the baseline opens in about 4): most of
//! it is `PRAGMA quick_check` reading every page once, which is what lets a corrupt file be
//! refused before anything is written to it. The rest of the list cost is parsing each SPIFFE
//! ID and JSON column back into an `EntryRecord`.
//!
//! Creating 10,000 entries one transaction each is not benched: each commit waits for an
//! fsync, so it measures the disk.
//!
//! Run: `python3 benches/ratios.py run -- --bench store -- --warm-up-time 1 --measurement-time 3`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "bench setup: fixed inputs known to be valid, a panic there is a broken bench"
)]

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use rusqlite::{Connection, params};
use store::{EntryRecord, SqliteStore, Store};

const ENTRIES: usize = 10_000;

fn entries() -> Vec<EntryRecord> {
    (0..ENTRIES)
        .map(|i| {
            EntryRecord::new(
                format!("spiffe://example.org/ns/app/sa/w{i}")
                    .parse()
                    .unwrap(),
            )
            .with_parent_id(Some("spiffe://example.org/node/n1".parse().unwrap()))
            .with_selectors([format!("unix:uid:{i}"), "unix:gid:100".to_owned()])
            .with_x509_ttl(Some(Duration::from_secs(3600)))
            .with_dns_names([format!("w{i}.internal")])
        })
        .collect()
}

/// The column values `SqliteStore` writes for `entries()`, computed outside the timing.
struct Row {
    id: String,
    spiffe_id: String,
    parent_id: String,
    selectors: String,
    dns_names: String,
}

fn raw_rows() -> Vec<Row> {
    (0..ENTRIES)
        .map(|i| Row {
            id: format!("{i:032x}"),
            spiffe_id: format!("spiffe://example.org/ns/app/sa/w{i}"),
            parent_id: "spiffe://example.org/node/n1".to_owned(),
            selectors: format!("[\"unix:gid:100\",\"unix:uid:{i}\"]"),
            dns_names: format!("[\"w{i}.internal\"]"),
        })
        .collect()
}

/// A raw connection configured as `SqliteStore` configures its own.
fn raw_open(path: &Path) -> Connection {
    let conn = Connection::open(path).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    let _: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .unwrap();
    conn.pragma_update(None, "synchronous", "FULL").unwrap();
    conn.pragma_update(None, "foreign_keys", "ON").unwrap();
    conn
}

fn raw_insert(conn: &mut Connection, rows: &[Row]) {
    let tx = conn.transaction().unwrap();
    {
        let mut insert = tx
            .prepare_cached(
                "INSERT INTO entries (id, spiffe_id, parent_id, selectors, x509_ttl, jwt_ttl, \
                 dns_names, hint, federates_with, revision, created_at) \
                 VALUES (?1, ?2, ?3, ?4, 3600, NULL, ?5, NULL, '[]', 1, 1800000000)",
            )
            .unwrap();
        for row in rows {
            insert
                .execute(params![
                    row.id,
                    row.spiffe_id,
                    row.parent_id,
                    row.selectors,
                    row.dns_names
                ])
                .unwrap();
        }
    }
    tx.commit().unwrap();
}

type RawEntry = (
    String,
    String,
    Option<String>,
    String,
    Option<i64>,
    Option<i64>,
    String,
    Option<String>,
    String,
    i64,
    i64,
);

fn raw_select(conn: &Connection) -> Vec<RawEntry> {
    let mut select = conn
        .prepare_cached(
            "SELECT id, spiffe_id, parent_id, selectors, x509_ttl, jwt_ttl, dns_names, hint, \
             federates_with, revision, created_at FROM entries ORDER BY seq",
        )
        .unwrap();
    select
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
                r.get(8)?,
                r.get(9)?,
                r.get(10)?,
            ))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// A fresh, migrated, empty store file (closed) in `dir`.
fn empty_file(dir: &Path, name: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    drop(SqliteStore::open(&path).unwrap());
    path
}

fn create(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let records = entries();
    let rows = raw_rows();
    let mut group = c.benchmark_group("store_create_10k");
    group.sample_size(10);
    let mut n = 0_u32;
    group.bench_function("baseline/insert", |b| {
        b.iter_batched(
            || {
                n += 1;
                raw_open(&empty_file(dir.path(), &format!("raw{n}.db")))
            },
            |mut conn| raw_insert(&mut conn, black_box(&rows)),
            BatchSize::PerIteration,
        );
    });
    group.bench_function("ours/create_entries", |b| {
        b.iter_batched(
            || {
                n += 1;
                SqliteStore::open(empty_file(dir.path(), &format!("ours{n}.db"))).unwrap()
            },
            |store| store.create_entries(black_box(&records)).unwrap(),
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

fn start_and_list(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.db");
    SqliteStore::open(&path)
        .unwrap()
        .create_entries(&entries())
        .unwrap();

    let mut group = c.benchmark_group("store_start_10k");
    group.sample_size(10);
    group.bench_function("baseline/open_select", |b| {
        b.iter(|| {
            let conn = raw_open(&path);
            let rows = raw_select(&conn);
            assert_eq!(rows.len(), ENTRIES);
            rows
        });
    });
    group.bench_function("ours/open_list", |b| {
        b.iter(|| {
            let store = SqliteStore::open(&path).unwrap();
            let listed = store.entries().unwrap();
            assert_eq!(listed.len(), ENTRIES);
            listed
        });
    });
    group.finish();

    let mut group = c.benchmark_group("store_list_10k");
    group.sample_size(10);
    let conn = raw_open(&path);
    group.bench_function("baseline/select", |b| b.iter(|| raw_select(&conn)));
    let store = SqliteStore::open(&path).unwrap();
    group.bench_function("ours/entries", |b| b.iter(|| store.entries().unwrap()));
    group.finish();
}

criterion_group!(benches, create, start_and_list);
criterion_main!(benches);
