//! Join tokens and attested nodes through the `Store` trait on SQLite (issue 15, "Node
//! attestation": single-use tokens with a TTL; evicted nodes refused): single use, expiry,
//! order, upserts, eviction, reopening, the migration from schema 1, and two connections
//! racing for one token.

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests"
)]

mod common;

use std::sync::{Arc, Barrier};
use std::time::{SystemTime, UNIX_EPOCH};

use spiffe_id::SpiffeId;
use store::{EntryRecord, Error, JoinTokenRecord, NodeRecord, SqliteStore, Store};

use common::{SQLITE_SCHEMA_V1, files_in, fingerprint, token_hash};

/// Far enough ahead that no test clock reaches it.
const LATER: u64 = 4_000_000_000;

fn agent(name: &str) -> SpiffeId {
    format!("spiffe://example.org/agent/{name}")
        .parse()
        .unwrap()
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn stores() -> Vec<(&'static str, Box<dyn Store>, tempfile::TempDir)> {
    let dir = tempfile::tempdir().unwrap();
    let file = SqliteStore::open(dir.path().join("s.db")).unwrap();
    vec![
        (
            "memory",
            Box::new(SqliteStore::in_memory().unwrap()),
            tempfile::tempdir().unwrap(),
        ),
        ("file", Box::new(file), dir),
    ]
}

/// A token is consumed once: the first `consume_join_token` returns it as created, the
/// second finds nothing.
#[test]
fn a_join_token_is_consumed_once() {
    for (kind, store, _dir) in stores() {
        let before = unix_now();
        let created = store
            .create_join_token(&JoinTokenRecord::new(token_hash(1), agent("a"), LATER))
            .unwrap();
        assert!(created.created_at() >= before, "{kind}");
        assert_eq!(created.token_hash(), token_hash(1));
        assert_eq!(created.agent_id(), &agent("a"));
        assert_eq!(created.expires_at(), LATER);
        assert_eq!(store.join_tokens().unwrap(), vec![created.clone()]);

        let used = store
            .consume_join_token(&token_hash(1), unix_now())
            .unwrap();
        assert_eq!(used, created, "{kind}");
        let err = store
            .consume_join_token(&token_hash(1), unix_now())
            .unwrap_err();
        assert!(matches!(err, Error::JoinTokenNotFound), "{kind}: {err:?}");
        assert!(store.join_tokens().unwrap().is_empty());
        let err = store.consume_join_token("not a hash", 0).unwrap_err();
        assert!(matches!(err, Error::JoinTokenNotFound), "{kind}: {err:?}");
    }
}

/// A token presented at or after its `expires_at` is refused, and removed all the same.
#[test]
fn an_expired_join_token_is_refused_and_removed() {
    for (kind, store, _dir) in stores() {
        store
            .create_join_token(&JoinTokenRecord::new(token_hash(2), agent("a"), 100))
            .unwrap();
        let err = store.consume_join_token(&token_hash(2), 100).unwrap_err();
        assert!(
            matches!(err, Error::JoinTokenExpired { expired_at: 100 }),
            "{kind}: {err:?}"
        );
        assert!(err.to_string().contains("new token"), "{err}");
        assert!(store.join_tokens().unwrap().is_empty(), "{kind}");
        let err = store.consume_join_token(&token_hash(2), 50).unwrap_err();
        assert!(matches!(err, Error::JoinTokenNotFound), "{kind}: {err:?}");

        // One second before expiry it is still good.
        store
            .create_join_token(&JoinTokenRecord::new(token_hash(3), agent("a"), 100))
            .unwrap();
        store.consume_join_token(&token_hash(3), 99).unwrap();
    }
}

/// The same hash twice is refused, as is a hash that is not 64 lowercase hex digits; no
/// error message or Debug output repeats a hash.
#[test]
fn duplicate_and_malformed_token_hashes_are_refused() {
    for (kind, store, _dir) in stores() {
        let token = JoinTokenRecord::new(token_hash(0xab), agent("a"), LATER);
        store.create_join_token(&token).unwrap();
        let err = store.create_join_token(&token).unwrap_err();
        assert!(matches!(err, Error::DuplicateJoinToken), "{kind}: {err:?}");
        assert!(!format!("{err} {err:?}").contains("abab"), "{err}");
        assert_eq!(store.join_tokens().unwrap().len(), 1);

        let short = "ab".repeat(31);
        let upper = "AB".repeat(32);
        let not_hex = "zz".repeat(32);
        for bad in [
            String::new(),
            short,
            upper,
            not_hex,
            format!("{}0", token_hash(1)),
        ] {
            let err = store
                .create_join_token(&JoinTokenRecord::new(bad.clone(), agent("a"), LATER))
                .unwrap_err();
            assert!(matches!(err, Error::Invalid { .. }), "{kind}: {err:?}");
            let shown = format!("{err} {err:?}");
            assert!(bad.is_empty() || !shown.contains(&bad[..8]), "{shown}");
        }
        assert_eq!(store.join_tokens().unwrap().len(), 1, "{kind}");
        let debug = format!("{:?}", store.join_tokens().unwrap());
        assert!(debug.contains("abababab…") && !debug.contains(&token_hash(0xab)));
    }
}

/// Pending tokens list in creation order (not hash order); purging removes exactly the
/// expired ones and counts them.
#[test]
fn tokens_list_in_creation_order_and_purge_counts_expired_ones() {
    for (kind, store, _dir) in stores() {
        for (n, expires_at) in [(0xf0, 10), (0x01, 30), (0x80, 20)] {
            store
                .create_join_token(&JoinTokenRecord::new(token_hash(n), agent("a"), expires_at))
                .unwrap();
        }
        let order: Vec<u64> = store
            .join_tokens()
            .unwrap()
            .iter()
            .map(JoinTokenRecord::expires_at)
            .collect();
        assert_eq!(order, [10, 30, 20], "{kind}");
        assert_eq!(store.purge_expired_join_tokens(9).unwrap(), 0);
        assert_eq!(store.purge_expired_join_tokens(20).unwrap(), 2, "{kind}");
        assert_eq!(store.purge_expired_join_tokens(20).unwrap(), 0);
        let left = store.join_tokens().unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].token_hash(), token_hash(1));
    }
}

/// An upsert of a known node replaces its fields and `updated_at` but keeps `created_at`
/// and its place in the listing; `node`, `nodes`, `delete_node` see the stored form.
#[test]
fn upsert_keeps_created_at_and_replaces_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let store = SqliteStore::open(&path).unwrap();
    let before = unix_now();
    let a = store
        .upsert_node(
            &NodeRecord::new(agent("a"), "join_token")
                .with_selectors(["join_token:x", "agent:a", "join_token:x"])
                .with_svid_serial("0a1b")
                .with_svid_expires_at(LATER),
        )
        .unwrap();
    assert!(a.created_at() >= before);
    assert_eq!(a.updated_at(), a.created_at());
    assert_eq!(a.selectors(), ["agent:a", "join_token:x"]);
    assert_eq!(a.attestation(), "join_token");
    assert_eq!(a.svid_serial(), "0a1b");
    assert_eq!(a.svid_expires_at(), LATER);
    let b = store
        .upsert_node(&NodeRecord::new(agent("b"), "x509pop"))
        .unwrap();
    assert_eq!(b.svid_serial(), "");
    assert_eq!(b.svid_expires_at(), 0);
    assert!(b.selectors().is_empty());

    // Age the first attestation so that the upsert's times are told apart without waiting.
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.execute(
        "UPDATE nodes SET created_at = 1000, updated_at = 1000 WHERE spiffe_id = ?1",
        [agent("a").as_str()],
    )
    .unwrap();
    drop(raw);
    let renewed = store
        .upsert_node(
            &NodeRecord::new(agent("a"), "x509pop")
                .with_selectors(["x509pop:subject:cn:a"])
                .with_svid_serial("ff")
                .with_svid_expires_at(LATER + 1),
        )
        .unwrap();
    assert_eq!(renewed.created_at(), 1000);
    assert!(renewed.updated_at() >= before, "{renewed:?}");
    assert_eq!(renewed.attestation(), "x509pop");
    assert_eq!(renewed.selectors(), ["x509pop:subject:cn:a"]);
    assert_eq!(renewed.svid_serial(), "ff");
    assert_eq!(renewed.svid_expires_at(), LATER + 1);

    assert_eq!(store.node(&agent("a")).unwrap().as_ref(), Some(&renewed));
    assert_eq!(store.node(&agent("c")).unwrap(), None);
    assert_eq!(store.nodes().unwrap(), vec![renewed, b]);

    let err = store
        .upsert_node(&NodeRecord::new(agent("c"), "join token"))
        .unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err:?}");
    let err = store
        .upsert_node(&NodeRecord::new(agent("c"), "x509pop").with_selectors(["bare"]))
        .unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err:?}");
    assert_eq!(store.nodes().unwrap().len(), 2);
}

/// Evicting a node deletes it and returns what it was; an unknown node is `NodeNotFound`.
#[test]
fn delete_node_returns_the_record_and_refuses_unknown_nodes() {
    for (kind, store, _dir) in stores() {
        let a = store
            .upsert_node(&NodeRecord::new(agent("a"), "join_token"))
            .unwrap();
        let b = store
            .upsert_node(&NodeRecord::new(agent("b"), "join_token"))
            .unwrap();
        assert_eq!(store.delete_node(&agent("a")).unwrap(), a, "{kind}");
        assert_eq!(store.node(&agent("a")).unwrap(), None);
        let err = store.delete_node(&agent("a")).unwrap_err();
        assert!(
            matches!(&err, Error::NodeNotFound { spiffe_id } if *spiffe_id == agent("a")),
            "{kind}: {err:?}"
        );
        assert!(err.to_string().contains("/agent/a"), "{err}");
        assert_eq!(store.nodes().unwrap(), vec![b]);
    }
}

/// Tokens and nodes are in the file: a reopened store has them.
#[test]
fn tokens_and_nodes_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let store = SqliteStore::open(&path).unwrap();
    let token = store
        .create_join_token(&JoinTokenRecord::new(token_hash(7), agent("a"), LATER))
        .unwrap();
    let node = store
        .upsert_node(&NodeRecord::new(agent("n"), "x509pop").with_selectors(["a:b"]))
        .unwrap();
    drop(store);
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.join_tokens().unwrap(), vec![token.clone()]);
    assert_eq!(store.nodes().unwrap(), vec![node]);
    assert_eq!(store.consume_join_token(&token_hash(7), 0).unwrap(), token);
}

/// A file written at schema 1 (built here with the released migration 1) keeps its entries
/// and CA keys and gains the node tables; a file claiming schema 2 without them is refused
/// untouched.
#[test]
fn a_schema_1_file_migrates_and_a_false_schema_2_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.db");
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.execute_batch(SQLITE_SCHEMA_V1).unwrap();
    raw.execute(
        "INSERT INTO entries (id, spiffe_id, parent_id, selectors, x509_ttl, jwt_ttl, \
         dns_names, hint, federates_with, revision, created_at) VALUES \
         ('00112233445566778899aabbccddeeff', 'spiffe://example.org/web', NULL, \
         '[\"unix:uid:1000\"]', 3600, NULL, '[]', NULL, '[]', 3, 1700000000)",
        [],
    )
    .unwrap();
    raw.execute(
        "INSERT INTO ca_keys (journal, name, pkcs8) VALUES ('root', 'x509-1', x'0102')",
        [],
    )
    .unwrap();
    raw.pragma_update(None, "user_version", 1).unwrap();
    drop(raw);
    let claims_2 = dir.path().join("claims-2.db");
    std::fs::copy(&path, &claims_2).unwrap();

    let store = SqliteStore::open(&path).unwrap();
    let entries = store.entries().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].spiffe_id().as_str(), "spiffe://example.org/web");
    assert_eq!(entries[0].revision(), 3);
    let key = store.ca_journal("root").unwrap().get_key("x509-1").unwrap();
    assert_eq!(key.unwrap().as_slice(), [1, 2]);
    store
        .create_join_token(&JoinTokenRecord::new(token_hash(1), agent("a"), LATER))
        .unwrap();
    store
        .upsert_node(&NodeRecord::new(agent("a"), "join_token"))
        .unwrap();
    let version: u32 = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .unwrap();
    assert_eq!(version, SqliteStore::SCHEMA_VERSION);
    assert_eq!(SqliteStore::SCHEMA_VERSION, 4);

    let raw = rusqlite::Connection::open(&claims_2).unwrap();
    raw.pragma_update(None, "user_version", 2).unwrap();
    drop(raw);
    let before = (fingerprint(&claims_2), files_in(dir.path()));
    let err = SqliteStore::open(&claims_2).unwrap_err();
    assert!(
        matches!(&err, Error::SchemaMismatch { version: 2, detail, .. } if detail.contains("join_tokens")),
        "{err:?}"
    );
    assert_eq!((fingerprint(&claims_2), files_in(dir.path())), before);
}

/// Two connections of their own on one file (as two processes have) race for each of 20
/// tokens: every token goes to exactly one of them.
#[test]
fn two_connections_consume_a_token_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let setup = SqliteStore::open(&path).unwrap();
    const TOKENS: u8 = 20;
    for n in 0..TOKENS {
        setup
            .create_join_token(&JoinTokenRecord::new(token_hash(n), agent("a"), LATER))
            .unwrap();
    }
    let barrier = Arc::new(Barrier::new(2));
    let racers: Vec<_> = (0..2)
        .map(|_| {
            let store = SqliteStore::open(&path).unwrap();
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                (0..TOKENS)
                    .map(|n| {
                        barrier.wait();
                        match store.consume_join_token(&token_hash(n), 0) {
                            Ok(_) => true,
                            Err(Error::JoinTokenNotFound) => false,
                            Err(other) => panic!("token {n}: {other:?}"),
                        }
                    })
                    .collect::<Vec<bool>>()
            })
        })
        .collect();
    let wins: Vec<Vec<bool>> = racers.into_iter().map(|t| t.join().unwrap()).collect();
    for (n, (a, b)) in wins[0].iter().zip(&wins[1]).enumerate() {
        assert!(a ^ b, "token {n}: {:?}", (a, b));
    }
    assert!(setup.join_tokens().unwrap().is_empty());
}

/// Values edited in the database that do not parse back are typed errors naming the record
/// and the column (a join token by its position, never its hash), never a panic.
#[test]
fn unparsable_stored_nodes_and_tokens_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let store = SqliteStore::open(&path).unwrap();
    let cases = [
        ("spiffe_id", "'spiffe://Bad/x'"),
        ("attestation", "'two words'"),
        ("selectors", "'[\"b:1\",\"a:1\"]'"),
        ("selectors", "'{}'"),
        ("svid_serial", "'xyz'"),
        ("svid_expires_at", "-1"),
        ("updated_at", "-1"),
    ];
    for (column, value) in cases {
        store
            .upsert_node(&NodeRecord::new(agent("bad"), "join_token"))
            .unwrap();
        let raw = rusqlite::Connection::open(&path).unwrap();
        raw.execute(&format!("UPDATE nodes SET {column} = {value}"), [])
            .unwrap();
        drop(raw);
        let err = store.nodes().unwrap_err();
        assert!(
            matches!(err, Error::BadStoredValue { record: "node", column: c, .. } if c == column),
            "{column}: {err:?}"
        );
        assert!(err.to_string().starts_with("node "), "{err}");
        let raw = rusqlite::Connection::open(&path).unwrap();
        raw.execute("DELETE FROM nodes", []).unwrap();
    }

    for (column, value) in [
        ("hash", "upper('ab') || substr(hash, 3)"),
        ("agent_id", "'not an id'"),
        ("expires_at", "-5"),
    ] {
        store
            .create_join_token(&JoinTokenRecord::new(token_hash(0xcd), agent("a"), LATER))
            .unwrap();
        let raw = rusqlite::Connection::open(&path).unwrap();
        raw.execute(&format!("UPDATE join_tokens SET {column} = {value}"), [])
            .unwrap();
        drop(raw);
        let err = store.join_tokens().unwrap_err();
        assert!(
            matches!(err, Error::BadStoredValue { record: "join token", column: c, .. } if c == column),
            "{column}: {err:?}"
        );
        assert!(!format!("{err} {err:?}").contains("cdcd"), "{err}");
        let raw = rusqlite::Connection::open(&path).unwrap();
        raw.execute("DELETE FROM join_tokens", []).unwrap();
    }
    // Entries are untouched by all this.
    assert!(store.entries().unwrap().is_empty());
    store
        .create_entry(
            &EntryRecord::new("spiffe://example.org/w".parse().unwrap()).with_selector("a:b"),
        )
        .unwrap();
}

/// Each replica's published bundle is kept (the latest one per replica) and listed by name;
/// bad replica names and oversized documents are refused.
#[test]
fn replicas_publish_one_bundle_each() {
    for (name, store, _dir) in stores() {
        assert!(store.published_bundles().unwrap().is_empty(), "{name}");
        store.publish_bundle("replica_b", "{\"keys\":[]}").unwrap();
        store.publish_bundle("replica_a", "{\"keys\":[1]}").unwrap();
        store.publish_bundle("replica_b", "{\"keys\":[2]}").unwrap();
        let published = store.published_bundles().unwrap();
        let listed: Vec<(&str, &str)> = published
            .iter()
            .map(|p| (p.replica.as_str(), p.document.as_str()))
            .collect();
        assert_eq!(
            listed,
            [
                ("replica_a", "{\"keys\":[1]}"),
                ("replica_b", "{\"keys\":[2]}")
            ],
            "{name}"
        );
        assert!(published.iter().all(|p| p.updated_at > 0), "{name}");
        for bad in ["", "a b", "../x"] {
            assert!(
                matches!(store.publish_bundle(bad, "{}"), Err(Error::Invalid { .. })),
                "{name}: {bad:?}"
            );
        }
        let huge = "x".repeat(store::MAX_BUNDLE_DOCUMENT_BYTES + 1);
        assert!(matches!(
            store.publish_bundle("replica_a", &huge),
            Err(Error::Invalid { .. })
        ));
    }
}

/// A federated trust domain's last good bundle (SQLite; PostgreSQL in tests/postgres.rs).
#[test]
fn federated_bundles_keep_the_last_good_per_trust_domain() {
    for (name, store, _dir) in stores() {
        common::check_federated_bundles(name, store.as_ref());
    }
}
