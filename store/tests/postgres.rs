//! `PostgresStore` against a real PostgreSQL (Debian's, started by the test on a Unix socket
//! in a temporary directory): the `Store` contract as `SqliteStore` keeps it, two replicas on
//! one database, a CA journal a second replica resumes, and a database of a newer schema
//! refused untouched.

#![cfg(feature = "postgres")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers outside #[test] fns"
)]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use store::{EntryRecord, Error, PostgresStore, Store};
use test_support::postgres::PostgresServer;

fn entry(path: &str, uid: u32) -> EntryRecord {
    EntryRecord::new(format!("spiffe://example.org/{path}").parse().unwrap())
        .with_selector(format!("unix:uid:{uid}"))
}

fn server(test: &str) -> Option<(PostgresServer, String)> {
    let server = PostgresServer::start_or_skip(test)?;
    server.create_database("spiffe");
    let params = server.connection_string("spiffe");
    Some((server, params))
}

/// Create, read, list in creation order, update with the revision read, delete; duplicates
/// and stale revisions refused as `SqliteStore` refuses them; a batch is all or nothing.
#[test]
fn entries_follow_the_store_contract() {
    let Some((_server, params)) = server("entries_follow_the_store_contract") else {
        return;
    };
    let store = PostgresStore::connect(&params).unwrap();
    let web = store
        .create_entry(
            &entry("web", 1000)
                .with_parent_id(Some("spiffe://example.org/node".parse().unwrap()))
                .with_x509_ttl(Some(Duration::from_secs(600)))
                .with_dns_names(["web.internal"])
                .with_hint(Some("internal".into()))
                .with_federates_with(["partner.org".parse().unwrap()]),
        )
        .unwrap();
    assert_eq!(web.revision(), 1);
    assert_eq!(store.entry(web.id()).unwrap().as_ref(), Some(&web));
    let db = store.create_entry(&entry("db", 1001)).unwrap();
    assert_eq!(store.entries().unwrap(), vec![web.clone(), db.clone()]);

    let err = store.create_entry(&entry("db", 1001)).unwrap_err();
    assert!(
        matches!(&err, Error::DuplicateEntry { existing, .. } if existing == db.id()),
        "{err:?}"
    );
    let moved = store
        .update_entry(&db.clone().with_selector("unix:gid:5"))
        .unwrap();
    assert_eq!(moved.revision(), 2);
    let err = store.update_entry(&db).unwrap_err();
    assert!(
        matches!(
            err,
            Error::StaleRevision {
                expected: 1,
                found: 2,
                ..
            }
        ),
        "{err:?}"
    );

    let before = store.entries().unwrap();
    let err = store
        .create_entries(&[
            entry("new", 1),
            entry("web", 1000).with_parent_id(Some("spiffe://example.org/node".parse().unwrap())),
        ])
        .unwrap_err();
    assert!(matches!(err, Error::DuplicateEntry { .. }), "{err:?}");
    let err = store
        .create_entries(&[entry("x", 1), entry("x", 1)])
        .unwrap_err();
    assert!(matches!(err, Error::DuplicateEntry { .. }), "{err:?}");
    assert_eq!(
        store.entries().unwrap(),
        before,
        "nothing of a failed batch stays"
    );

    store.delete_entry(web.id()).unwrap();
    assert!(matches!(
        store.delete_entry(web.id()),
        Err(Error::EntryNotFound { .. })
    ));
    assert_eq!(store.entries().unwrap(), vec![moved]);
}

/// Two replicas on one database: an entry one creates, the other lists; when both update
/// the same entry from the same read, one wins and the other gets `StaleRevision`.
#[test]
fn replicas_share_one_database() {
    let Some((_server, params)) = server("replicas_share_one_database") else {
        return;
    };
    let a = PostgresStore::connect(&params).unwrap();
    let b = PostgresStore::connect(&params).unwrap();
    let created = a.create_entry(&entry("web", 1000)).unwrap();
    let seen = b.entry(created.id()).unwrap().unwrap();
    assert_eq!(seen, created);
    a.update_entry(&created.with_hint(Some("a".into())))
        .unwrap();
    let err = b
        .update_entry(&seen.with_hint(Some("b".into())))
        .unwrap_err();
    assert!(matches!(err, Error::StaleRevision { .. }), "{err:?}");
    assert_eq!(b.entries().unwrap()[0].hint(), Some("a"));
}

/// A CA on a PostgreSQL journal, rebuilt by another replica's connection: the same bundle,
/// and a rotation there moves the sequence on.
#[test]
fn a_ca_journal_is_resumed_by_another_replica() {
    let Some((_server, params)) = server("a_ca_journal_is_resumed_by_another_replica") else {
        return;
    };
    let now = SystemTime::now();
    let first = PostgresStore::connect(&params).unwrap();
    let ca = ca::CertificateAuthority::builder("example.org".parse().unwrap())
        .key_store(first.ca_journal("root").unwrap())
        .build(now)
        .unwrap();
    let bundle = ca.bundle();
    drop((ca, first));

    let second = PostgresStore::connect(&params).unwrap();
    let journal: Arc<dyn ca::KeyStore> = second.ca_journal("root").unwrap();
    let resumed = ca::CertificateAuthority::builder("example.org".parse().unwrap())
        .key_store(journal)
        .build(now)
        .unwrap();
    assert_eq!(resumed.bundle().x509_bundle(), bundle.x509_bundle());
    assert_eq!(resumed.bundle().jwt_bundle(), bundle.jwt_bundle());
    assert_eq!(resumed.snapshot().sequence(), bundle.sequence().unwrap());
    resumed.force_rotate_x509(now).unwrap();
    assert!(resumed.snapshot().sequence() > bundle.sequence().unwrap());
    assert!(second.journal("../x").is_err());
}

/// A database migrated by a newer version is refused, and its tables are left as they were;
/// a wrong database name or an unreachable server is a typed error (negative tests).
#[test]
fn newer_schema_and_unreachable_servers_are_refused() {
    let Some((server, params)) = server("newer_schema_and_unreachable_servers_are_refused") else {
        return;
    };
    PostgresStore::connect(&params).unwrap();
    server.psql(
        "spiffe",
        "INSERT INTO spiffekit_schema (version) VALUES (7)",
    );
    let tables_before = server.psql(
        "spiffe",
        "SELECT string_agg(table_name, ',' ORDER BY table_name) FROM information_schema.tables WHERE table_schema = 'public'",
    );
    let err = PostgresStore::connect(&params).unwrap_err();
    assert!(
        matches!(
            err,
            Error::NewerSchema {
                found: 7,
                supported: 1,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("newer"), "{err}");
    let tables_after = server.psql(
        "spiffe",
        "SELECT string_agg(table_name, ',' ORDER BY table_name) FROM information_schema.tables WHERE table_schema = 'public'",
    );
    assert_eq!(tables_before, tables_after);

    let err = PostgresStore::connect(&server.connection_string("missing")).unwrap_err();
    assert!(matches!(err, Error::Postgres { .. }), "{err:?}");
    assert!(!err.to_string().contains("password"), "{err}");
    let err = PostgresStore::connect("host=/nonexistent user=x dbname=y").unwrap_err();
    assert!(matches!(err, Error::Postgres { .. }), "{err:?}");
    let err = PostgresStore::connect("host='unterminated").unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err:?}");
}
