//! Unit tests of the fan-out: which groups a change recomputes, how entries are indexed.

use std::collections::BTreeSet;
use std::sync::Arc;

use spiffe_id::TrustDomain;
use tokio::time::Instant;
use trust_bundle::SpiffeBundle;
use zeroize::Zeroizing;

use super::*;
use crate::selector::Selector;

fn state() -> ServedStateLock {
    let trust_domain: TrustDomain = "example.org".parse().unwrap();
    let bundle = Arc::new(SpiffeBundle::new(trust_domain.clone()));
    ServedStateLock::new(trust_domain, bundle)
}

fn entry(i: u32) -> Arc<RegistrationEntry> {
    Arc::new(
        RegistrationEntry::new(format!("spiffe://example.org/w/{i}").parse().unwrap())
            .with_selector(Selector::unix_uid(4_000_000 + i)),
    )
}

fn caller(i: u32) -> SelectorSet {
    [Selector::unix_uid(4_000_000 + i), Selector::unix_gid(7)].into()
}

fn svid(byte: u8) -> Arc<IssuedSvid> {
    Arc::new(IssuedSvid {
        chain: vec![byte; 16],
        key: Zeroizing::new(vec![byte; 8]),
        refresh_at: Instant::now(),
    })
}

fn snapshot(view: &View) -> Arc<Snapshot> {
    match view {
        View::Entitled(snapshot) => Arc::clone(snapshot),
        View::Denied | View::Closed => panic!("not entitled"),
    }
}

/// A re-issued SVID recomputes only the groups of its entry, not every group (the old
/// publish recomputed all of them from all entries: O(groups x entries) per rotation).
#[test]
fn reissued_svid_recomputes_only_its_groups() {
    let shared = state();
    let mut state = shared.lock();
    let entries: Vec<_> = (0..3).map(entry).collect();
    let ids: Vec<_> = entries
        .iter()
        .map(|e| state.registry.add(Arc::clone(e), Some(svid(1))))
        .collect();
    state.publish();
    let mut receivers: Vec<_> = (0..3).map(|i| state.subscribe(caller(i))).collect();
    for receiver in &mut receivers {
        receiver.borrow_and_update();
    }
    state.views_computed = 0;

    assert!(state.registry.replace_svid(ids[1], &entries[1], svid(2)));
    state.publish();

    assert_eq!(state.views_computed, 1);
    assert!(!receivers[0].has_changed().unwrap());
    assert!(receivers[1].has_changed().unwrap());
    assert!(!receivers[2].has_changed().unwrap());
    let x509 = snapshot(&receivers[1].borrow()).x509.clone().unwrap();
    assert_eq!(x509.svids[0].x509_svid, vec![2; 16]);
}

/// A caller with no group (a unary call, no stream open) is matched through the index: only
/// entries sharing a selector with it are looked at, however many are registered.
#[test]
fn unary_lookup_examines_only_entries_sharing_a_selector() {
    let shared = state();
    let mut state = shared.lock();
    for i in 0..1000 {
        state.registry.add(entry(i), Some(svid(1)));
    }
    state.publish();
    state.registry.examined.set(0);

    let view = state.view(&caller(500));

    let entries = &snapshot(&view).entries;
    assert_eq!(entries.len(), 1);
    assert_eq!(
        entries[0].1.spiffe_id().as_str(),
        "spiffe://example.org/w/500"
    );
    assert_eq!(state.registry.examined.get(), 1);
}

/// Entries sharing a common selector are spread over their rarer ones, so that selector's
/// list stays short.
#[test]
fn entries_are_indexed_under_their_rarest_selector() {
    let shared = state();
    let mut state = shared.lock();
    let common = Selector::unix_gid(7);
    for i in 0..100 {
        let entry = RegistrationEntry::clone(&entry(i)).with_selector(common.clone());
        state.registry.add(Arc::new(entry), Some(svid(1)));
    }
    assert!(state.registry.index.get(&common).map_or(0, BTreeSet::len) <= 1);
    state.registry.examined.set(0);
    let view = state.view(&caller(42));
    assert_eq!(snapshot(&view).entries.len(), 1);
    assert!(state.registry.examined.get() <= 2);
}

/// Groups with the same federation share one bundle message instead of a copy each.
#[test]
fn groups_share_bundle_messages() {
    let shared = state();
    let mut state = shared.lock();
    state.registry.add(entry(0), Some(svid(1)));
    state.registry.add(entry(1), Some(svid(1)));
    state.publish();
    let a = snapshot(&state.subscribe(caller(0)).borrow());
    let b = snapshot(&state.subscribe(caller(1)).borrow());
    assert!(Arc::ptr_eq(&a.x509_bundles, &b.x509_bundles));
    assert!(Arc::ptr_eq(&a.jwt_bundles, &b.jwt_bundles));
    assert!(Arc::ptr_eq(&a.jwt_authorities, &b.jwt_authorities));
}

/// An entry without its first SVID gives its callers no X.509 message (streams wait),
/// but its entries for JWT-SVIDs; the first SVID then reaches the group, and a stream waiting
/// for it asks for it to be minted first.
#[test]
fn x509_message_waits_for_the_first_svid() {
    let shared = state();
    let mut state = shared.lock();
    let early = entry(0);
    let waiting = entry(1);
    state.registry.add(Arc::clone(&early), None);
    let id = state.registry.add(Arc::clone(&waiting), None);
    state.publish();
    let mut receiver = state.subscribe(caller(1));
    let pending = snapshot(&receiver.borrow_and_update());
    assert!(pending.x509.is_none());
    assert_eq!(pending.entries.len(), 1);

    let batch = state.next_unminted(1);
    assert_eq!(batch.len(), 1);
    assert_eq!(batch[0].0, id, "the entry a stream waits for comes first");

    assert!(state.registry.set_first_svid(id, &waiting, svid(3)));
    assert!(!state.registry.set_first_svid(id, &waiting, svid(4)));
    state.publish();
    assert!(receiver.has_changed().unwrap());
    let x509 = snapshot(&receiver.borrow()).x509.clone().unwrap();
    assert_eq!(x509.svids[0].x509_svid_key, vec![3; 8]);
    assert_eq!(*state.unminted().borrow(), 1);
}
