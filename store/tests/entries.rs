//! Registration entries through the `Store` trait on SQLite: round trips, optimistic
//! concurrency, uniqueness, batches, and values that do not parse back.

#![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]

mod common;

use std::collections::HashSet;

use store::{EntryId, EntryRecord, Error, SqliteStore, Store};

use common::full_entry;

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

#[test]
fn crud_round_trip_keeps_every_field() {
    for (kind, store, _dir) in stores() {
        let wanted = full_entry("web", 1000);
        let created = store.create_entry(&wanted).unwrap();
        assert!(created.id().is_assigned(), "{kind}");
        assert_eq!(created.revision(), 1);
        assert!(created.created_at() > 0);
        assert_eq!(created.spiffe_id(), wanted.spiffe_id());
        assert_eq!(created.parent_id(), wanted.parent_id());
        assert_eq!(created.selectors(), ["unix:gid:0", "unix:uid:1000"]);
        assert_eq!(created.x509_ttl(), wanted.x509_ttl());
        assert_eq!(created.jwt_ttl(), wanted.jwt_ttl());
        assert_eq!(created.dns_names(), ["web.internal", "alt.internal"]);
        assert_eq!(created.hint(), Some("hint-web"));
        assert_eq!(created.federates_with().len(), 2);

        let read = store.entry(created.id()).unwrap().unwrap();
        assert_eq!(read, created, "{kind}");

        let minimal = store
            .create_entry(
                &EntryRecord::new("spiffe://example.org/min".parse().unwrap())
                    .with_selector("k8s:ns:a"),
            )
            .unwrap();
        assert_eq!(store.entry(minimal.id()).unwrap().unwrap(), minimal);
        assert_eq!(minimal.parent_id(), None);
        assert_eq!(minimal.hint(), None);

        let changed = read
            .with_selectors(["unix:uid:2000"])
            .with_hint(None)
            .with_x509_ttl(None);
        let updated = store.update_entry(&changed).unwrap();
        assert_eq!(updated.revision(), 2);
        assert_eq!(store.entry(created.id()).unwrap().unwrap(), updated);
        assert_eq!(updated.created_at(), created.created_at());

        assert_eq!(
            store.entries().unwrap(),
            vec![updated.clone(), minimal.clone()]
        );
        store.delete_entry(updated.id()).unwrap();
        assert_eq!(store.entry(updated.id()).unwrap(), None);
        assert!(matches!(
            store.delete_entry(updated.id()),
            Err(Error::EntryNotFound { .. })
        ));
        assert_eq!(store.entries().unwrap(), vec![minimal]);
    }
}

#[test]
fn list_is_in_creation_order_and_ids_are_random() {
    let store = SqliteStore::in_memory().unwrap();
    let created: Vec<EntryRecord> = (0..50)
        .map(|i| {
            store
                .create_entry(&full_entry(&format!("w{i}"), i))
                .unwrap()
        })
        .collect();
    assert_eq!(store.entries().unwrap(), created);
    let ids: HashSet<&EntryId> = created.iter().map(EntryRecord::id).collect();
    assert_eq!(ids.len(), 50);
    // Not a sequence: consecutive IDs share no long prefix.
    let mut sorted: Vec<&str> = created.iter().map(|e| e.id().as_str()).collect();
    sorted.sort_unstable();
    assert_ne!(
        sorted,
        created.iter().map(|e| e.id().as_str()).collect::<Vec<_>>()
    );
}

#[test]
fn refuses_update_with_stale_revision() {
    let store = SqliteStore::in_memory().unwrap();
    let read_by_a = store.create_entry(&full_entry("web", 1)).unwrap();
    let read_by_b = read_by_a.clone();
    store
        .update_entry(&read_by_a.with_hint(Some("a".into())))
        .unwrap();
    let err = store
        .update_entry(&read_by_b.clone().with_hint(Some("b".into())))
        .unwrap_err();
    assert!(
        matches!(err, Error::StaleRevision { expected: 1, found: 2, ref id } if id == read_by_b.id()),
        "{err}"
    );
    assert_eq!(
        store.entry(read_by_b.id()).unwrap().unwrap().hint(),
        Some("a")
    );

    store.delete_entry(read_by_b.id()).unwrap();
    let err = store.update_entry(&read_by_b).unwrap_err();
    assert!(matches!(err, Error::EntryNotFound { .. }), "{err}");
    // A record never stored has no ID to update.
    let err = store.update_entry(&full_entry("new", 1)).unwrap_err();
    assert!(matches!(err, Error::EntryNotFound { .. }), "{err}");
}

#[test]
fn refuses_duplicate_identity_parent_and_selectors() {
    let store = SqliteStore::in_memory().unwrap();
    let first = store.create_entry(&full_entry("web", 1)).unwrap();
    // Same selectors in another order and with a repeat: the same set.
    let again = full_entry("web", 1)
        .with_selectors(["unix:uid:1", "unix:gid:0", "unix:uid:1"])
        .with_hint(Some("other fields do not matter".into()));
    let err = store.create_entry(&again).unwrap_err();
    assert!(
        matches!(err, Error::DuplicateEntry { ref existing, .. } if existing == first.id()),
        "{err}"
    );
    // A different parent, selector set or SPIFFE ID is another entry.
    store
        .create_entry(&full_entry("web", 1).with_parent_id(None))
        .unwrap();
    store.create_entry(&full_entry("web", 2)).unwrap();
    store.create_entry(&full_entry("api", 1)).unwrap();
    // No parent twice is a duplicate too (NULL is not "distinct" here).
    let err = store
        .create_entry(&full_entry("web", 1).with_parent_id(None))
        .unwrap_err();
    assert!(matches!(err, Error::DuplicateEntry { .. }), "{err}");
    // An update that would collide is refused and changes nothing.
    let api = store.entries().unwrap().pop().unwrap();
    let err = store
        .update_entry(
            &api.clone()
                .with_spiffe_id("spiffe://example.org/web".parse().unwrap()),
        )
        .unwrap_err();
    assert!(matches!(err, Error::DuplicateEntry { .. }), "{err}");
    assert_eq!(store.entry(api.id()).unwrap().unwrap(), api);
}

#[test]
fn batch_create_is_all_or_nothing() {
    let store = SqliteStore::in_memory().unwrap();
    let batch: Vec<EntryRecord> = (0..10).map(|i| full_entry(&format!("w{i}"), i)).collect();
    let created = store.create_entries(&batch).unwrap();
    assert_eq!(created.len(), 10);
    assert_eq!(store.entries().unwrap(), created);

    // The last one duplicates the first: nothing of this batch is stored.
    let mut bad: Vec<EntryRecord> = (10..20).map(|i| full_entry(&format!("w{i}"), i)).collect();
    bad.push(full_entry("w10", 10));
    let err = store.create_entries(&bad).unwrap_err();
    assert!(matches!(err, Error::DuplicateEntry { .. }), "{err}");
    // An invalid entry in the middle: nothing either.
    bad.truncate(10);
    bad.insert(
        5,
        EntryRecord::new("spiffe://example.org/x".parse().unwrap()),
    );
    let err = store.create_entries(&bad).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Invalid {
                what: "selector",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(store.entries().unwrap(), created);
}

#[test]
fn refuses_invalid_entries() {
    let store = SqliteStore::in_memory().unwrap();
    let err = store
        .create_entry(&EntryRecord::new("spiffe://example.org/x".parse().unwrap()))
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Invalid {
                what: "selector",
                ..
            }
        ),
        "{err}"
    );
    let err = store
        .create_entry(&full_entry("x", 1).with_selector("nocolon"))
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Invalid {
                what: "selector",
                ..
            }
        ),
        "{err}"
    );
    let err = store
        .create_entry(&full_entry("x", 1).with_jwt_ttl(Some(std::time::Duration::from_millis(10))))
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Invalid {
                what: "jwt_ttl",
                ..
            }
        ),
        "{err}"
    );
    assert!(store.entries().unwrap().is_empty());
}

/// A value edited in the database that does not parse back is a typed error naming the
/// entry and the column, never a panic; other entries stay readable by ID.
#[test]
fn unparsable_stored_values_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let store = SqliteStore::open(&path).unwrap();
    let good = store.create_entry(&full_entry("good", 1)).unwrap();
    let cases = [
        ("spiffe_id", "'spiffe://Bad.Example/x'"),
        ("parent_id", "'not an id'"),
        ("selectors", "'[\"b:1\",\"a:1\"]'"),
        ("dns_names", "'{}'"),
        ("federates_with", "'[\"UPPER.org\"]'"),
        ("x509_ttl", "-5"),
        ("revision", "-1"),
    ];
    for (i, (column, value)) in cases.into_iter().enumerate() {
        let bad = store
            .create_entry(&full_entry(&format!("bad{i}"), 100))
            .unwrap();
        let raw = rusqlite::Connection::open(&path).unwrap();
        raw.execute(
            &format!("UPDATE entries SET {column} = {value} WHERE id = ?1"),
            [bad.id().as_str()],
        )
        .unwrap();
        drop(raw);
        let err = store.entry(bad.id()).unwrap_err();
        assert!(
            matches!(err, Error::BadStoredValue { ref id, column: c, .. } if id == bad.id().as_str() && c == column),
            "{column}: {err}"
        );
        assert!(err.to_string().contains(bad.id().as_str()), "{err}");
        assert!(matches!(store.entries(), Err(Error::BadStoredValue { .. })));
        store.delete_entry(bad.id()).unwrap();
    }
    assert_eq!(store.entries().unwrap(), vec![good]);
}
