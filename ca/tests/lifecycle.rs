//! Key lifecycle (prepared -> active -> retired), bundle sequence and notifications, taint and
//! revocation, persistence, issuance policy and audit.

#![cfg(any(feature = "ring", feature = "aws-lc-rs"))]
#![allow(
    clippy::unwrap_used,
    reason = "helpers outside #[test] functions; a panic there is a failed test"
)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ca::{
    AuditAction, AuditError, AuditEvent, AuditSink, AuthorityKind, AuthorityStatus,
    CertificateAuthority, Error, FileKeyStore, IssuanceContext, JsonLinesAuditSink, JwtSvidRequest,
    KeyStore, MemoryKeyStore, X509SvidRequest,
};
use common::{after, builder, id, parse, t0, validate_jwt, verify, verify_with};

const HOUR: u64 = 3600;

fn six_hour_ca() -> CertificateAuthority {
    builder()
        .ca_ttl(Duration::from_secs(6 * HOUR))
        .jwt_key_ttl(Duration::from_secs(6 * HOUR))
        .build(t0())
        .unwrap()
}

fn web() -> X509SvidRequest {
    X509SvidRequest::new(id("spiffe://example.org/web"))
}

fn statuses(ca: &CertificateAuthority, kind: AuthorityKind) -> Vec<AuthorityStatus> {
    ca.snapshot()
        .authorities()
        .iter()
        .filter(|a| a.kind == kind)
        .map(|a| a.status)
        .collect()
}

/// SPIRE's schedule: prepare at half the lifetime, activate at lifetime - min(lifetime/6, 7d),
/// drop the retired key once what it signed has expired. The prepared key is published before
/// it signs, and every bundle change increments `spiffe_sequence`.
#[test]
fn scheduled_rotation_prepares_activates_and_retires() {
    let ca = six_hour_ca();
    let mut updates = ca.subscribe();
    let first = ca.snapshot();
    assert_eq!(first.x509_authority_epoch(), 1);
    assert_eq!(first.jwt_key_epoch(), 1);
    let seq0 = first.sequence();
    let old_root = ca.x509_authority_certificate().unwrap();

    // Before half-life: nothing to do.
    ca.rotate(after(2 * HOUR)).unwrap();
    assert_eq!(ca.snapshot().sequence(), seq0);
    assert!(!updates.has_changed().unwrap());

    // Half-life: the next keys are prepared and published, not used.
    ca.rotate(after(3 * HOUR)).unwrap();
    let snap = ca.snapshot();
    assert_eq!(
        statuses(&ca, AuthorityKind::X509),
        [AuthorityStatus::Active, AuthorityStatus::Prepared]
    );
    assert_eq!(
        statuses(&ca, AuthorityKind::Jwt),
        [AuthorityStatus::Active, AuthorityStatus::Prepared]
    );
    assert_eq!(snap.bundle().x509_bundle().len(), 2);
    assert_eq!(snap.bundle().jwt_bundle().len(), 2);
    assert!(snap.sequence() > seq0);
    assert_eq!(
        snap.x509_authority_epoch(),
        1,
        "prepared keys do not sign yet"
    );
    assert!(updates.has_changed().unwrap());
    updates.borrow_and_update();
    assert_eq!(ca.x509_authority_certificate().unwrap(), old_root);

    // Credentials signed by the old keys, valid past the activation.
    let old_svid = ca
        .mint_x509_svid(&web().ttl(Duration::from_secs(3 * HOUR)), after(3 * HOUR))
        .unwrap();
    let old_token = ca
        .mint_jwt_svid(
            &JwtSvidRequest::new(id("spiffe://example.org/web"), ["db"])
                .ttl(Duration::from_secs(3 * HOUR)),
            after(3 * HOUR),
        )
        .unwrap();

    // lifetime - lifetime/6 = 5h: activation.
    ca.rotate(after(5 * HOUR)).unwrap();
    let snap = ca.snapshot();
    assert_eq!(snap.x509_authority_epoch(), 2);
    assert_eq!(snap.jwt_key_epoch(), 2);
    assert_eq!(
        statuses(&ca, AuthorityKind::X509),
        [AuthorityStatus::Retired, AuthorityStatus::Active]
    );
    assert!(updates.has_changed().unwrap());
    assert_eq!(updates.borrow_and_update().x509_authority_epoch(), 2);
    let new_svid = ca.mint_x509_svid(&web(), after(5 * HOUR)).unwrap();
    assert_ne!(ca.x509_authority_certificate().unwrap(), old_root);
    assert_ne!(
        parse(new_svid.leaf()).issuer(),
        parse(old_svid.leaf()).issuer()
    );
    // Both generations verify against the published bundle.
    assert!(verify(&ca, old_svid.chain(), after(5 * HOUR)).is_ok());
    assert!(verify(&ca, new_svid.chain(), after(5 * HOUR)).is_ok());
    assert!(validate_jwt(&ca.bundle(), &old_token, "db", after(5 * HOUR)).is_ok());

    // The old SVID expires at the old CA's notAfter (6h): then the retired keys drop out.
    let seq = ca.snapshot().sequence();
    // (The key active since 5h was prepared at 3h, so at 6h its successor is prepared.)
    ca.rotate(after(6 * HOUR)).unwrap();
    assert_eq!(
        statuses(&ca, AuthorityKind::X509),
        [AuthorityStatus::Active, AuthorityStatus::Prepared]
    );
    assert_eq!(
        statuses(&ca, AuthorityKind::Jwt),
        [AuthorityStatus::Active, AuthorityStatus::Prepared]
    );
    assert!(!ca.bundle().x509_bundle().authorities().contains(&old_root));
    assert!(validate_jwt(&ca.bundle(), &old_token, "db", after(5 * HOUR)).is_err());
    assert!(ca.snapshot().sequence() > seq);
}

/// The activation lead is capped at 7 days for long-lived keys.
#[test]
fn activation_lead_is_capped_at_seven_days() {
    let day = 24 * HOUR;
    let ca = builder()
        .ca_ttl(Duration::from_secs(60 * day))
        .jwt_key_ttl(Duration::from_secs(60 * day))
        .build(t0())
        .unwrap();
    ca.rotate(after(30 * day)).unwrap();
    assert_eq!(ca.snapshot().x509_authority_epoch(), 1);
    // 60d / 6 = 10d > 7d: activation at 53 days, not 50.
    ca.rotate(after(52 * day)).unwrap();
    assert_eq!(ca.snapshot().x509_authority_epoch(), 1);
    ca.rotate(after(53 * day)).unwrap();
    assert_eq!(ca.snapshot().x509_authority_epoch(), 2);
}

/// A retired key that signed nothing leaves the bundle at the next lifecycle call (not the one
/// that retired it: a mint in flight may still be using it); forced rotation changes only the
/// kind asked for.
#[test]
fn forced_rotation() {
    let ca = six_hour_ca();
    let jwt_kid = ca.snapshot().active(AuthorityKind::Jwt).unwrap().id.clone();
    ca.force_rotate_x509(after(60)).unwrap();
    let snap = ca.snapshot();
    assert_eq!(snap.x509_authority_epoch(), 2);
    assert_eq!(snap.jwt_key_epoch(), 1);
    assert_eq!(snap.active(AuthorityKind::Jwt).unwrap().id, jwt_kid);
    assert_eq!(
        statuses(&ca, AuthorityKind::X509),
        [AuthorityStatus::Retired, AuthorityStatus::Active]
    );
    ca.rotate(after(61)).unwrap();
    assert_eq!(
        statuses(&ca, AuthorityKind::X509),
        [AuthorityStatus::Active]
    );
    assert_eq!(
        ca.bundle().x509_bundle().len(),
        1,
        "unused retired root dropped"
    );
    ca.force_rotate_jwt(after(60)).unwrap();
    assert_eq!(ca.snapshot().jwt_key_epoch(), 2);
    assert_ne!(
        ca.snapshot().active(AuthorityKind::Jwt).unwrap().id,
        jwt_kid
    );
}

/// Two-step rotation (SPIRE's `localauthority prepare` / `activate`): `prepare_x509` publishes
/// the next authority at once, long before its schedule, and signs nothing with it; a second
/// call prepares no third key; `force_rotate_x509` then activates that same prepared key. So
/// federated peers can receive it before anything is signed by it (digest 7.5).
#[test]
fn prepare_then_activate() {
    let ca = six_hour_ca();
    let seq0 = ca.snapshot().sequence();
    let before = ca.bundle();
    let active = ca
        .snapshot()
        .active(AuthorityKind::X509)
        .unwrap()
        .id
        .clone();
    ca.prepare_x509(after(60)).unwrap();
    ca.prepare_x509(after(61)).unwrap();
    let snap = ca.snapshot();
    assert_eq!(
        statuses(&ca, AuthorityKind::X509),
        [AuthorityStatus::Active, AuthorityStatus::Prepared]
    );
    assert_eq!(snap.x509_authority_epoch(), 1, "nothing activated");
    assert_eq!(snap.active(AuthorityKind::X509).unwrap().id, active);
    assert_eq!(
        ca.bundle().x509_bundle().len(),
        2,
        "the prepared root is published"
    );
    assert!(snap.sequence() > seq0);
    let prepared = snap
        .authorities()
        .iter()
        .find(|a| a.status == AuthorityStatus::Prepared)
        .unwrap()
        .id
        .clone();
    // Still signed by the active authority: it verifies with the old root alone.
    let svid = ca.mint_x509_svid(&web(), after(62)).unwrap();
    verify_with(&before, svid.chain(), after(62)).unwrap();

    ca.force_rotate_x509(after(120)).unwrap();
    let snap = ca.snapshot();
    assert_eq!(snap.x509_authority_epoch(), 2);
    assert_eq!(snap.active(AuthorityKind::X509).unwrap().id, prepared);
    ca.prepare_jwt(after(60)).unwrap();
    assert_eq!(
        statuses(&ca, AuthorityKind::Jwt),
        [AuthorityStatus::Active, AuthorityStatus::Prepared]
    );
    assert_eq!(ca.snapshot().jwt_key_epoch(), 1);
}

/// Taint: the key stops signing now, stays published while its SVIDs live (holders re-issue
/// on the epoch change); revoke drops it and its SVIDs stop verifying.
#[test]
fn taint_then_revoke() {
    let ca = six_hour_ca();
    let svid = ca.mint_x509_svid(&web(), t0()).unwrap();
    let tainted_id = ca
        .snapshot()
        .active(AuthorityKind::X509)
        .unwrap()
        .id
        .clone();
    let mut updates = ca.subscribe();
    ca.taint_x509_authority(after(60)).unwrap();
    let snap = updates.borrow_and_update().clone();
    assert_eq!(snap.x509_authority_epoch(), 2);
    assert_eq!(
        statuses(&ca, AuthorityKind::X509),
        [AuthorityStatus::Tainted, AuthorityStatus::Active]
    );
    assert!(verify(&ca, svid.chain(), after(60)).is_ok());
    let fresh = ca.mint_x509_svid(&web(), after(60)).unwrap();
    assert_ne!(parse(fresh.leaf()).issuer(), parse(svid.leaf()).issuer());

    // Only retired/tainted authorities can be revoked.
    let active_id = ca
        .snapshot()
        .active(AuthorityKind::X509)
        .unwrap()
        .id
        .clone();
    assert!(matches!(
        ca.revoke_authority(&active_id, after(60)),
        Err(Error::InvalidRequest { .. })
    ));
    ca.revoke_authority(&tainted_id, after(61)).unwrap();
    assert_eq!(ca.bundle().x509_bundle().len(), 1);
    assert!(verify(&ca, svid.chain(), after(61)).is_err());
    assert!(verify(&ca, fresh.chain(), after(61)).is_ok());
}

#[test]
fn taint_jwt_key() {
    let ca = six_hour_ca();
    let token = ca
        .mint_jwt_svid(
            &JwtSvidRequest::new(id("spiffe://example.org/web"), ["db"]),
            t0(),
        )
        .unwrap();
    ca.taint_jwt_key(after(1)).unwrap();
    assert_eq!(
        statuses(&ca, AuthorityKind::Jwt),
        [AuthorityStatus::Tainted, AuthorityStatus::Active]
    );
    assert!(validate_jwt(&ca.bundle(), &token, "db", after(2)).is_ok());
    // The tainted key drops out once its token has expired (5 minutes).
    ca.rotate(after(301)).unwrap();
    assert_eq!(statuses(&ca, AuthorityKind::Jwt), [AuthorityStatus::Active]);
    assert!(validate_jwt(&ca.bundle(), &token, "db", after(2)).is_err());
}

/// A CA rebuilt on the same store resumes the same authorities and sequence.
#[test]
fn resumes_from_a_memory_store() {
    let store = Arc::new(MemoryKeyStore::new());
    let first = builder().key_store(store.clone()).build(t0()).unwrap();
    let svid = first.mint_x509_svid(&web(), t0()).unwrap();
    let seq = first.snapshot().sequence();
    assert_eq!(store.key_names().len(), 2);

    let second = builder().key_store(store.clone()).build(after(10)).unwrap();
    assert_eq!(second.bundle().x509_bundle(), first.bundle().x509_bundle());
    assert_eq!(second.bundle().jwt_bundle(), first.bundle().jwt_bundle());
    // Nothing changed: the resumed bundle keeps its sequence (peers see no new version).
    assert_eq!(second.snapshot().sequence(), seq);
    assert!(verify(&second, svid.chain(), after(10)).is_ok());
    let again = second.mint_x509_svid(&web(), after(10)).unwrap();
    assert_eq!(parse(again.leaf()).issuer(), parse(svid.leaf()).issuer());

    // Another trust domain cannot resume this store.
    let err = CertificateAuthority::builder(common::td("other.org"))
        .key_store(store)
        .build(after(10))
        .unwrap_err();
    assert!(matches!(err, Error::StoredState { .. }), "{err:?}");
}

/// The file store: PKCS#8 files with mode 0600, resumable; a key file others may read is
/// refused (negative test).
#[cfg(unix)]
#[test]
fn file_store_resumes_and_refuses_readable_keys() {
    use std::os::unix::fs::PermissionsExt;

    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(FileKeyStore::open(dir.path().join("ca")).unwrap());
    let first = builder().key_store(store).build(t0()).unwrap();
    let token = first
        .mint_jwt_svid(
            &JwtSvidRequest::new(id("spiffe://example.org/web"), ["db"]),
            t0(),
        )
        .unwrap();
    let mut key_files = Vec::new();
    for entry in std::fs::read_dir(dir.path().join("ca")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "key") {
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", path.display());
            key_files.push(path);
        }
    }
    assert_eq!(key_files.len(), 2);

    // A restarted process: a new store object over the same directory.
    let store = Arc::new(FileKeyStore::open(dir.path().join("ca")).unwrap());
    let second = builder().key_store(store.clone()).build(after(5)).unwrap();
    assert!(validate_jwt(&second.bundle(), &token, "db", after(5)).is_ok());
    assert_eq!(second.bundle().x509_bundle(), first.bundle().x509_bundle());

    std::fs::set_permissions(&key_files[0], std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = builder()
        .key_store(store.clone())
        .build(after(6))
        .unwrap_err();
    assert!(
        matches!(err, Error::KeyFilePermissions { mode: 0o644, .. }),
        "{err:?}"
    );
    let name = key_files[0]
        .file_stem()
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(matches!(
        store.get_key(&name),
        Err(Error::KeyFilePermissions { .. })
    ));
    assert!(store.get_key("../escape").is_err());
}

/// The issuance policy decides per requester; denials are typed (negative test).
#[test]
fn policy_denies_ids_not_assigned_to_the_node() {
    let policy = |request: &IssuanceContext<'_>| -> Result<(), String> {
        match request.requester {
            Some("node-1") if request.spiffe_id.path().starts_with("/node-1/") => Ok(()),
            _ => Err("not assigned to this node".into()),
        }
    };
    let ca = builder().policy(Arc::new(policy)).build(t0()).unwrap();
    let allowed = X509SvidRequest::new(id("spiffe://example.org/node-1/web")).requester("node-1");
    assert!(ca.mint_x509_svid(&allowed, t0()).is_ok());
    let other = X509SvidRequest::new(id("spiffe://example.org/node-2/web")).requester("node-1");
    match ca.mint_x509_svid(&other, t0()) {
        Err(Error::PolicyDenied {
            spiffe_id,
            requester,
            ..
        }) => {
            assert_eq!(spiffe_id.path(), "/node-2/web");
            assert_eq!(requester.as_deref(), Some("node-1"));
        }
        other => panic!("{other:?}"),
    }
    let anonymous = JwtSvidRequest::new(id("spiffe://example.org/node-1/web"), ["db"]);
    assert!(matches!(
        ca.mint_jwt_svid(&anonymous, t0()),
        Err(Error::PolicyDenied { .. })
    ));
    let csr = common::some_csr();
    assert!(matches!(
        ca.mint_x509_svid_for_csr(&csr, &other, t0()),
        Err(Error::PolicyDenied { .. })
    ));
}

/// Audit: every issuance and lifecycle change produces an event, written as JSON lines.
#[test]
fn audit_events_are_written_as_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let sink = Arc::new(JsonLinesAuditSink::open(&path).unwrap());
    let ca = six_hour_ca_with(sink);
    let svid = ca
        .mint_x509_svid(&web().requester("node-1"), after(1))
        .unwrap();
    ca.mint_jwt_svid(
        &JwtSvidRequest::new(id("spiffe://example.org/web"), ["db"]),
        after(2),
    )
    .unwrap();
    ca.force_rotate_x509(after(3)).unwrap();

    let text = std::fs::read_to_string(&path).unwrap();
    let events: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "x509_svid_issued",
            "jwt_svid_issued",
            "authority_prepared",
            "authority_retired",
            "authority_activated"
        ]
    );
    let issued = &events[0];
    assert_eq!(issued["spiffe_id"], "spiffe://example.org/web");
    assert_eq!(issued["requester"], "node-1");
    assert_eq!(issued["authority_kind"], "x509");
    let serial = parse(svid.leaf()).raw_serial().to_vec();
    let hex: String = serial.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(issued["serial"], hex);
    assert!(issued["not_after"].as_u64().unwrap() > issued["not_before"].as_u64().unwrap());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}

fn six_hour_ca_with(sink: Arc<dyn AuditSink>) -> CertificateAuthority {
    builder()
        .ca_ttl(Duration::from_secs(6 * HOUR))
        .audit(sink)
        .build(t0())
        .unwrap()
}

/// A sink that records in memory, or fails.
struct Recorder {
    events: Mutex<Vec<AuditEvent>>,
    fail: bool,
}

impl AuditSink for Recorder {
    fn record(&self, event: &AuditEvent) -> Result<(), AuditError> {
        if self.fail {
            return Err(AuditError::new("disk full"));
        }
        self.events.lock().unwrap().push(event.clone());
        Ok(())
    }
}

/// A CA that cannot audit does not issue (negative test); lifecycle events carry the key id.
#[test]
fn failing_audit_sink_blocks_issuance() {
    let failing = Arc::new(Recorder {
        events: Mutex::new(Vec::new()),
        fail: true,
    });
    let ca = builder().audit(failing).build(t0()).unwrap();
    assert!(matches!(
        ca.mint_x509_svid(&web(), t0()),
        Err(Error::Audit(_))
    ));

    let recorder = Arc::new(Recorder {
        events: Mutex::new(Vec::new()),
        fail: false,
    });
    let ca = six_hour_ca_with(recorder.clone());
    ca.mint_x509_svid(&web(), t0()).unwrap();
    ca.rotate(after(3 * HOUR)).unwrap();
    let events = recorder.events.lock().unwrap();
    let prepared: Vec<_> = events
        .iter()
        .filter(|e| e.action == AuditAction::AuthorityPrepared)
        .collect();
    assert_eq!(prepared.len(), 1, "{events:?}");
    assert_eq!(prepared[0].authority_kind, AuthorityKind::X509);
    let snapshot = ca.snapshot();
    assert!(
        snapshot
            .authorities()
            .iter()
            .any(|a| a.id == prepared[0].authority_id && a.status == AuthorityStatus::Prepared)
    );
}

/// `spiffe_sequence` changes exactly when the bundle's contents change (bundle 4.1.1).
#[test]
fn bundle_sequence_increments_on_every_change() {
    let ca = six_hour_ca();
    let contents = |ca: &CertificateAuthority| {
        let bundle = ca.bundle();
        (
            bundle.x509_bundle().authorities().to_vec(),
            bundle
                .jwt_bundle()
                .keys()
                .map(|(k, _)| k.to_owned())
                .collect::<Vec<_>>(),
        )
    };
    let mut last = (ca.snapshot().sequence(), contents(&ca));
    let mut changes = 0;
    ca.mint_x509_svid(&web(), after(3 * HOUR)).unwrap();
    for hours in [1, 3, 4, 5, 6, 7, 9, 10, 11, 12] {
        ca.rotate(after(hours * HOUR)).unwrap();
        let now = (ca.snapshot().sequence(), contents(&ca));
        if now.1 == last.1 {
            assert_eq!(now.0, last.0, "{hours}h: same contents, same sequence");
        } else {
            assert!(now.0 > last.0, "{hours}h: new contents, higher sequence");
            changes += 1;
        }
        last = now;
    }
    assert!(changes >= 3, "{changes}");
    let svid = ca.mint_x509_svid(&web(), after(12 * HOUR)).unwrap();
    assert!(verify_with(&ca.bundle(), svid.chain(), after(12 * HOUR)).is_ok());
}
