//! `PostgresStore` against a real PostgreSQL (Debian's, started by the test on a Unix socket
//! in a temporary directory): the `Store` contract as `SqliteStore` keeps it (entries, join
//! tokens, nodes), two replicas on one database (racing for one join token too), a CA journal
//! a second replica resumes, a schema 1 database migrated, and a database of a newer schema
//! refused untouched.

#![cfg(feature = "postgres")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers outside #[test] fns"
)]

mod common;

use std::sync::{Arc, Barrier};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use spiffe_id::SpiffeId;
use store::{
    EntryRecord, Error, JoinTokenRecord, NodeRecord, PostgresOptions, PostgresStore, Store,
};
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
                supported: PostgresStore::SCHEMA_VERSION,
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

/// Far enough ahead that no test clock reaches it.
const LATER: u64 = 4_000_000_000;

fn agent(name: &str) -> SpiffeId {
    format!("spiffe://example.org/agent/{name}")
        .parse()
        .unwrap()
}

/// A lowercase hex SHA-256-shaped token hash: the byte `n` 32 times.
fn token_hash(n: u8) -> String {
    format!("{n:02x}").repeat(32)
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Join tokens as on SQLite (issue 15, `join_token` attestation: single use, with a TTL):
/// consumed once, an expired one refused and removed, duplicate and malformed hashes
/// refused, creation order, purge counts; an unparsable stored value is a typed error.
#[test]
fn join_tokens_follow_the_store_contract() {
    let Some((server, params)) = server("join_tokens_follow_the_store_contract") else {
        return;
    };
    let store = PostgresStore::connect(&params).unwrap();
    let before = unix_now();
    let created = store
        .create_join_token(&JoinTokenRecord::new(token_hash(1), agent("a"), LATER))
        .unwrap();
    assert!(created.created_at() >= before);
    assert_eq!(store.join_tokens().unwrap(), vec![created.clone()]);
    assert_eq!(
        store
            .consume_join_token(&token_hash(1), unix_now())
            .unwrap(),
        created
    );
    let err = store.consume_join_token(&token_hash(1), 0).unwrap_err();
    assert!(matches!(err, Error::JoinTokenNotFound), "{err:?}");

    store
        .create_join_token(&JoinTokenRecord::new(token_hash(2), agent("a"), 100))
        .unwrap();
    let err = store.consume_join_token(&token_hash(2), 100).unwrap_err();
    assert!(
        matches!(err, Error::JoinTokenExpired { expired_at: 100 }),
        "{err:?}"
    );
    let err = store.consume_join_token(&token_hash(2), 0).unwrap_err();
    assert!(matches!(err, Error::JoinTokenNotFound), "{err:?}");

    let token = JoinTokenRecord::new(token_hash(0xab), agent("a"), 30);
    store.create_join_token(&token).unwrap();
    let err = store.create_join_token(&token).unwrap_err();
    assert!(matches!(err, Error::DuplicateJoinToken), "{err:?}");
    assert!(!format!("{err} {err:?}").contains("abab"), "{err}");
    let err = store
        .create_join_token(&JoinTokenRecord::new("AB".repeat(32), agent("a"), 30))
        .unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err:?}");

    for (n, expires_at) in [(0xf0, 10), (0x80, 20)] {
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
    assert_eq!(order, [30, 10, 20]);
    assert_eq!(store.purge_expired_join_tokens(20).unwrap(), 2);
    assert_eq!(store.purge_expired_join_tokens(20).unwrap(), 0);
    assert_eq!(store.join_tokens().unwrap().len(), 1);

    server.psql("spiffe", "UPDATE join_tokens SET agent_id = 'not an id'");
    let err = store.join_tokens().unwrap_err();
    assert!(
        matches!(
            err,
            Error::BadStoredValue {
                record: "join token",
                column: "agent_id",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!format!("{err} {err:?}").contains("abab"), "{err}");
}

/// Nodes as on SQLite: an upsert keeps `created_at` and the listing place and replaces the
/// rest; get, list, evict; an unknown node is `NodeNotFound`.
#[test]
fn nodes_follow_the_store_contract() {
    let Some((server, params)) = server("nodes_follow_the_store_contract") else {
        return;
    };
    let store = PostgresStore::connect(&params).unwrap();
    let before = unix_now();
    let a = store
        .upsert_node(
            &NodeRecord::new(agent("a"), "join_token")
                .with_selectors(["b:1", "a:1"])
                .with_svid_serial("0a")
                .with_svid_expires_at(LATER),
        )
        .unwrap();
    assert!(a.created_at() >= before);
    assert_eq!(a.updated_at(), a.created_at());
    assert_eq!(a.selectors(), ["a:1", "b:1"]);
    let b = store
        .upsert_node(&NodeRecord::new(agent("b"), "x509pop"))
        .unwrap();

    server.psql(
        "spiffe",
        "UPDATE nodes SET created_at = 1000, updated_at = 1000 \
         WHERE spiffe_id = 'spiffe://example.org/agent/a'",
    );
    let renewed = store
        .upsert_node(
            &NodeRecord::new(agent("a"), "x509pop")
                .with_selectors(["x509pop:cn:a"])
                .with_svid_serial("ff")
                .with_svid_expires_at(LATER + 1),
        )
        .unwrap();
    assert_eq!(renewed.created_at(), 1000);
    assert!(renewed.updated_at() >= before);
    assert_eq!(renewed.attestation(), "x509pop");
    assert_eq!(renewed.selectors(), ["x509pop:cn:a"]);
    assert_eq!(renewed.svid_serial(), "ff");
    assert_eq!(renewed.svid_expires_at(), LATER + 1);
    assert_eq!(store.node(&agent("a")).unwrap().as_ref(), Some(&renewed));
    assert_eq!(store.node(&agent("c")).unwrap(), None);
    assert_eq!(store.nodes().unwrap(), vec![renewed.clone(), b.clone()]);

    assert_eq!(store.delete_node(&agent("a")).unwrap(), renewed);
    let err = store.delete_node(&agent("a")).unwrap_err();
    assert!(
        matches!(&err, Error::NodeNotFound { spiffe_id } if *spiffe_id == agent("a")),
        "{err:?}"
    );
    assert_eq!(store.nodes().unwrap(), vec![b]);

    server.psql("spiffe", "UPDATE nodes SET selectors = '{}'");
    let err = store.nodes().unwrap_err();
    assert!(
        matches!(
            err,
            Error::BadStoredValue {
                record: "node",
                column: "selectors",
                ..
            }
        ),
        "{err:?}"
    );
}

/// Two replicas (two connections) race for each of 20 tokens: every token goes to exactly
/// one of them (issue 15: several server replicas share one PostgreSQL).
#[test]
fn two_replicas_consume_a_join_token_exactly_once() {
    let Some((_server, params)) = server("two_replicas_consume_a_join_token_exactly_once") else {
        return;
    };
    const TOKENS: u8 = 20;
    let setup = PostgresStore::connect(&params).unwrap();
    for n in 0..TOKENS {
        setup
            .create_join_token(&JoinTokenRecord::new(token_hash(n), agent("a"), LATER))
            .unwrap();
    }
    let barrier = Arc::new(Barrier::new(2));
    let racers: Vec<_> = (0..2)
        .map(|_| {
            let store = PostgresStore::connect(&params).unwrap();
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

/// Migration 1 of the PostgreSQL schema exactly as released.
const POSTGRES_SCHEMA_V1: &str = "CREATE TABLE entries (
        seq BIGSERIAL PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        spiffe_id TEXT NOT NULL,
        parent_id TEXT,
        selectors TEXT NOT NULL,
        x509_ttl BIGINT,
        jwt_ttl BIGINT,
        dns_names TEXT NOT NULL,
        hint TEXT,
        federates_with TEXT NOT NULL,
        revision BIGINT NOT NULL,
        created_at BIGINT NOT NULL
    );
    CREATE UNIQUE INDEX entries_identity
        ON entries (spiffe_id, coalesce(parent_id, ''), selectors);
    CREATE TABLE ca_keys (
        journal TEXT NOT NULL,
        name TEXT NOT NULL,
        pkcs8 BYTEA NOT NULL,
        PRIMARY KEY (journal, name)
    );
    CREATE TABLE ca_state (
        journal TEXT PRIMARY KEY,
        document BYTEA NOT NULL
    );";

/// A database at schema 1 (what the previous version wrote) keeps its entries and gains the
/// node tables when a replica of this version connects.
#[test]
fn a_schema_1_database_migrates_to_schema_2() {
    let Some((server, params)) = server("a_schema_1_database_migrates_to_schema_2") else {
        return;
    };
    server.psql(
        "spiffe",
        &format!(
            "CREATE TABLE spiffekit_schema (version INTEGER NOT NULL); {POSTGRES_SCHEMA_V1}; \
             INSERT INTO spiffekit_schema (version) VALUES (1); \
             INSERT INTO entries (id, spiffe_id, parent_id, selectors, x509_ttl, jwt_ttl, \
             dns_names, hint, federates_with, revision, created_at) VALUES \
             ('00112233445566778899aabbccddeeff', 'spiffe://example.org/web', NULL, \
             '[\"unix:uid:1000\"]', 3600, NULL, '[]', NULL, '[]', 3, 1700000000)"
        ),
    );
    let store = PostgresStore::connect(&params).unwrap();
    let entries = store.entries().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].spiffe_id().as_str(), "spiffe://example.org/web");
    assert_eq!(entries[0].revision(), 3);
    store
        .create_join_token(&JoinTokenRecord::new(token_hash(1), agent("a"), LATER))
        .unwrap();
    store
        .upsert_node(&NodeRecord::new(agent("a"), "join_token"))
        .unwrap();
    let version = server.psql("spiffe", "SELECT max(version) FROM spiffekit_schema");
    assert_eq!(version.trim(), "4");
    assert_eq!(PostgresStore::SCHEMA_VERSION, 4);
    // A second replica finds it migrated.
    let again = PostgresStore::connect(&params).unwrap();
    assert_eq!(again.nodes().unwrap().len(), 1);
    let versions = server.psql("spiffe", "SELECT count(*) FROM spiffekit_schema");
    assert_eq!(versions.trim(), "4");
}

/// A federated trust domain's last good bundle on PostgreSQL, as on SQLite.
#[test]
fn federated_bundles_keep_the_last_good_per_trust_domain() {
    let Some((_server, params)) = server("federated_bundles_keep_the_last_good_per_trust_domain")
    else {
        return;
    };
    let store = PostgresStore::connect(&params).unwrap();
    common::check_federated_bundles("postgres", &store);
}

/// Two replicas on one database see each other's published bundles.
#[test]
fn replicas_see_each_others_published_bundles() {
    let Some((_server, params)) = server("replicas_see_each_others_published_bundles") else {
        return;
    };
    let a = PostgresStore::connect(&params).unwrap();
    let b = PostgresStore::connect(&params).unwrap();
    a.publish_bundle("replica_a", "{\"keys\":[1]}").unwrap();
    b.publish_bundle("replica_b", "{\"keys\":[2]}").unwrap();
    a.publish_bundle("replica_a", "{\"keys\":[3]}").unwrap();
    let seen: Vec<(String, String)> = b
        .published_bundles()
        .unwrap()
        .into_iter()
        .map(|p| (p.replica, p.document))
        .collect();
    assert_eq!(
        seen,
        [
            ("replica_a".to_owned(), "{\"keys\":[3]}".to_owned()),
            ("replica_b".to_owned(), "{\"keys\":[2]}".to_owned())
        ]
    );
    assert!(matches!(
        a.publish_bundle("bad name", "{}"),
        Err(Error::Invalid { .. })
    ));
}

/// A CA valid now, and a `localhost` server certificate (chain PEM, key PEM) it signed.
fn tls_material(ca_name: &str) -> (test_support::x509::Ca, String, String) {
    use test_support::x509::{Ca, Validity};
    let ca = Ca::builder("example.org")
        .common_name(ca_name)
        .validity(Validity::around_now(
            Duration::from_secs(3600),
            Duration::from_secs(3600),
        ))
        .build();
    let leaf = ca.leaf_with(
        "spiffe://example.org/db",
        test_support::x509::KeyType::P256,
        |params| params.subject_alt_names = vec![test_support::x509::dns("localhost")],
    );
    let chain = test_support::pem::pem([&leaf.cert, &ca.cert]);
    (ca, chain, leaf.key_pem())
}

/// A rustls client trusting only `ca`.
fn client_trusting(ca: &test_support::x509::Ca) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.cert.clone()).unwrap();
    rustls::ClientConfig::builder_with_provider(svid::Crypto::ring().provider().clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth()
}

/// Over TCP the store talks TLS, verifies the server against the roots it was given, never
/// falls back to clear text, and keeps the password out of `Debug`.
#[test]
fn tls_connections_verify_the_server_and_never_fall_back() {
    let test = "tls_connections_verify_the_server_and_never_fall_back";
    let (ca, chain, key) = tls_material("db CA");
    let Some(server) = PostgresServer::start_with_tls_or_skip(test, &chain, &key) else {
        return;
    };
    server.create_database("spiffe");
    let tcp = server.tcp_connection_string("spiffe");

    let options = PostgresOptions::new(&tcp)
        .tls(client_trusting(&ca))
        .password("unused: the test server trusts loopback");
    assert!(!format!("{options:?}").contains("unused"), "{options:?}");
    let store = PostgresStore::connect_with(options).unwrap();
    let web = store.create_entry(&entry("web", 1000)).unwrap();
    assert_eq!(store.entry(web.id()).unwrap(), Some(web));
    let ssl = server.psql(
        "spiffe",
        "SELECT count(*) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) \
         WHERE ssl AND datname = 'spiffe' AND client_addr IS NOT NULL",
    );
    assert_eq!(ssl.trim(), "1", "the store's session is encrypted");

    // A server certificate from another CA: refused by the client (a machine in the middle).
    let (other, _, _) = tls_material("another CA");
    let err = PostgresStore::connect_with(PostgresOptions::new(&tcp).tls(client_trusting(&other)))
        .unwrap_err();
    assert!(matches!(err, Error::Postgres { .. }), "{err}");
    assert!(err.to_string().contains("certificate"), "{err}");

    // A server that answers "no TLS" (or a machine in the middle saying so): refused, never
    // talked to in clear, whatever sslmode the string asked for.
    let clear = PostgresServer::start_on_loopback().unwrap();
    for sslmode in ["", " sslmode=prefer"] {
        let params = format!("{}{sslmode}", clear.tcp_connection_string("postgres"));
        let err =
            PostgresStore::connect_with(PostgresOptions::new(&params).tls(client_trusting(&ca)))
                .unwrap_err();
        assert!(matches!(err, Error::Postgres { .. }), "{sslmode}: {err}");
        assert!(err.to_string().contains("TLS"), "{err}");
    }
    PostgresStore::connect(&clear.tcp_connection_string("postgres")).unwrap();

    // TLS settings with sslmode=disable contradict each other: refused before connecting.
    let err = PostgresStore::connect_with(
        PostgresOptions::new(&format!("{tcp} sslmode=disable")).tls(client_trusting(&ca)),
    )
    .unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err}");
    assert!(err.to_string().contains("sslmode"), "{err}");

    // Without TLS, this server's TCP listener lets no one in (hostssl only).
    assert!(PostgresStore::connect(&tcp).is_err());
}
