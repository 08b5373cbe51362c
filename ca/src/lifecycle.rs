//! Key lifecycle (prepared -> active -> retired), bundle publication and persistence.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::SystemTime;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rustls_pki_types::{CertificateDer, UnixTime};
use serde::{Deserialize, Serialize};
use svid::{JwtAlgorithm, JwtValidator, Usage, X509Verifier};
use trust_bundle::{BundleSet, JwtBundle, SpiffeBundle, X509Bundle};

use crate::audit::{AuditAction, AuditEvent, AuthorityKind};
use crate::authority::{CertificateAuthority, Hot, JwtAuthority, X509Authority, since_epoch};
use crate::der::{self, Reader, tag};
use crate::error::Error;
use crate::signer::{SignatureAlgorithm, Signer, SoftwareSigner};
use crate::snapshot::{AuthorityInfo, CaSnapshot};
use crate::time::{from_unix_seconds, unix_seconds};
use crate::x509::{self, IssuerTemplate, LeafFields, ParsedCert};

/// The longest a key is activated before its expiry: SPIRE activates the next key at
/// `lifetime - min(lifetime / 6, 7 days)`.
const MAX_ACTIVATION_LEAD: u64 = 7 * 24 * 3600;

/// Where a key is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AuthorityStatus {
    /// Generated and published in the bundle, not signing yet.
    Prepared,
    /// Signing.
    Active,
    /// No longer signing; published until the last credential it signed expires.
    Retired,
    /// Stopped signing early by [`taint`](CertificateAuthority::taint_x509_authority);
    /// published until what it signed expires, so holders can re-issue meanwhile.
    Tainted,
}

pub(crate) struct Entry<A> {
    pub(crate) status: AuthorityStatus,
    pub(crate) authority: Arc<A>,
}

impl<A> Entry<A> {
    pub(crate) fn new(status: AuthorityStatus, authority: Arc<A>) -> Self {
        Self { status, authority }
    }
}

#[derive(Default)]
pub(crate) struct State {
    pub(crate) x509: Vec<Entry<X509Authority>>,
    pub(crate) jwt: Vec<Entry<JwtAuthority>>,
    pub(crate) sequence: u64,
    pub(crate) x509_epoch: u64,
    pub(crate) jwt_epoch: u64,
    published: Option<(X509Bundle, JwtBundle)>,
}

/// What lifecycle code needs to know of an authority of either kind.
pub(crate) trait Lifetime {
    fn id(&self) -> &str;
    fn not_before(&self) -> u64;
    fn not_after(&self) -> u64;
    fn issued_until(&self) -> u64;
}

impl Lifetime for X509Authority {
    fn id(&self) -> &str {
        &self.id
    }
    fn not_before(&self) -> u64 {
        self.not_before
    }
    fn not_after(&self) -> u64 {
        self.not_after
    }
    fn issued_until(&self) -> u64 {
        self.issued_until.load(Ordering::Acquire)
    }
}

impl Lifetime for JwtAuthority {
    fn id(&self) -> &str {
        &self.kid
    }
    fn not_before(&self) -> u64 {
        self.not_before
    }
    fn not_after(&self) -> u64 {
        self.not_after
    }
    fn issued_until(&self) -> u64 {
        self.issued_until.load(Ordering::Acquire)
    }
}

/// Why a lifecycle step runs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Scheduled,
    Force,
    Taint,
}

/// A lifecycle event waiting to be audited.
struct Pending {
    action: AuditAction,
    kind: AuthorityKind,
    id: String,
    not_before: u64,
    not_after: u64,
}

fn pending<A: Lifetime>(action: AuditAction, kind: AuthorityKind, a: &A) -> Pending {
    Pending {
        action,
        kind,
        id: a.id().to_owned(),
        not_before: a.not_before(),
        not_after: a.not_after(),
    }
}

/// One lifecycle step over the entries of one kind. Returns whether anything changed and
/// whether the active authority changed.
fn step<A: Lifetime>(
    entries: &mut Vec<Entry<A>>,
    kind: AuthorityKind,
    now: u64,
    mode: Mode,
    prepare: &mut dyn FnMut() -> Result<Arc<A>, Error>,
    events: &mut Vec<Pending>,
) -> Result<(bool, bool), Error> {
    let Some(active) = entries
        .iter()
        .position(|e| e.status == AuthorityStatus::Active)
    else {
        return Err(Error::StoredState {
            reason: "no active authority".into(),
        });
    };
    let (not_before, not_after) = entries
        .get(active)
        .map(|e| (e.authority.not_before(), e.authority.not_after()))
        .unwrap_or_default();
    let lifetime = not_after.saturating_sub(not_before);
    let prepare_at = not_before.saturating_add(lifetime / 2);
    let activate_at = not_after.saturating_sub((lifetime / 6).min(MAX_ACTIVATION_LEAD));
    let activate = match mode {
        Mode::Scheduled => now >= activate_at,
        Mode::Force | Mode::Taint => true,
    };
    let mut changed = false;
    let has_prepared = entries
        .iter()
        .any(|e| e.status == AuthorityStatus::Prepared);
    if !has_prepared && (activate || now >= prepare_at) {
        let next = prepare()?;
        events.push(pending(AuditAction::AuthorityPrepared, kind, next.as_ref()));
        entries.push(Entry::new(AuthorityStatus::Prepared, next));
        changed = true;
    }
    if !activate {
        return Ok((changed, false));
    }
    let (old_status, old_action) = if mode == Mode::Taint {
        (AuthorityStatus::Tainted, AuditAction::AuthorityTainted)
    } else {
        (AuthorityStatus::Retired, AuditAction::AuthorityRetired)
    };
    for entry in entries.iter_mut() {
        match entry.status {
            AuthorityStatus::Active => {
                entry.status = old_status;
                events.push(pending(old_action, kind, entry.authority.as_ref()));
            }
            AuthorityStatus::Prepared => {
                entry.status = AuthorityStatus::Active;
                events.push(pending(
                    AuditAction::AuthorityActivated,
                    kind,
                    entry.authority.as_ref(),
                ));
            }
            AuthorityStatus::Retired | AuthorityStatus::Tainted => {}
        }
    }
    Ok((true, true))
}

/// Drops retired and tainted authorities once everything they signed has expired (and their
/// own validity, for a prepared key that never signed, is irrelevant: it is not retired).
///
/// Authorities retired by this same call (`just_retired`) are kept until the next one: a mint
/// that loaded the previous hot state before the swap may still be signing with them.
fn prune<A: Lifetime>(
    entries: &mut Vec<Entry<A>>,
    kind: AuthorityKind,
    now: u64,
    just_retired: &[String],
    events: &mut Vec<Pending>,
) -> Vec<String> {
    let mut removed = Vec::new();
    entries.retain(|e| {
        let done = matches!(
            e.status,
            AuthorityStatus::Retired | AuthorityStatus::Tainted
        ) && now >= e.authority.issued_until()
            && !just_retired.iter().any(|id| id == e.authority.id());
        if done {
            events.push(pending(
                AuditAction::AuthorityRemoved,
                kind,
                e.authority.as_ref(),
            ));
            removed.push(e.authority.id().to_owned());
        }
        !done
    });
    removed
}

impl CertificateAuthority {
    /// Runs the scheduled key lifecycle for both the X.509 authority and the JWT key, as
    /// SPIRE does: at half of the active key's lifetime the next key is prepared and published
    /// in the bundle; at `lifetime - min(lifetime / 6, 7 days)` it becomes active and the old
    /// one is retired; retired keys leave the bundle once the last credential they signed has
    /// expired. Call it periodically (e.g. every few seconds to a minute).
    ///
    /// # Errors
    /// Key generation, upstream, store or audit failures. Changes made before a failure stay
    /// in effect.
    pub fn rotate(&self, now: SystemTime) -> Result<(), Error> {
        self.lifecycle(now, Some(Mode::Scheduled), Some(Mode::Scheduled))
    }

    /// Prepares (if needed) and activates a new X.509 authority now; the old one is retired.
    ///
    /// # Errors
    /// As [`rotate`](Self::rotate).
    pub fn force_rotate_x509(&self, now: SystemTime) -> Result<(), Error> {
        self.lifecycle(now, Some(Mode::Force), None)
    }

    /// Prepares (if needed) and activates a new JWT key now; the old one is retired.
    ///
    /// # Errors
    /// As [`rotate`](Self::rotate).
    pub fn force_rotate_jwt(&self, now: SystemTime) -> Result<(), Error> {
        self.lifecycle(now, None, Some(Mode::Force))
    }

    /// Stops using the active X.509 authority at once (e.g. its key may be compromised): a new
    /// one becomes active, the old one is marked tainted. It stays in the bundle until what it
    /// signed expires so workloads keep working while they re-issue (subscribers see
    /// [`CaSnapshot::x509_authority_epoch`] change); call
    /// [`revoke_authority`](Self::revoke_authority) to drop it from the bundle sooner.
    ///
    /// # Errors
    /// As [`rotate`](Self::rotate).
    pub fn taint_x509_authority(&self, now: SystemTime) -> Result<(), Error> {
        self.lifecycle(now, Some(Mode::Taint), None)
    }

    /// Stops using the active JWT key at once; see
    /// [`taint_x509_authority`](Self::taint_x509_authority).
    ///
    /// # Errors
    /// As [`rotate`](Self::rotate).
    pub fn taint_jwt_key(&self, now: SystemTime) -> Result<(), Error> {
        self.lifecycle(now, None, Some(Mode::Taint))
    }

    /// Removes a tainted or retired authority (X.509 key id in hex, or JWT `kid`) from the
    /// bundle now. Credentials it signed stop verifying.
    ///
    /// # Errors
    /// [`Error::InvalidRequest`] if no tainted or retired authority has that id; store or
    /// audit failures.
    pub fn revoke_authority(&self, id: &str, now: SystemTime) -> Result<(), Error> {
        let mut events = Vec::new();
        {
            let mut state = self.lock_state()?;
            let revocable = |s: AuthorityStatus| {
                matches!(s, AuthorityStatus::Retired | AuthorityStatus::Tainted)
            };
            let mut found = false;
            state.x509.retain(|e| {
                let hit = e.authority.id == id && revocable(e.status);
                if hit {
                    events.push(pending(
                        AuditAction::AuthorityRemoved,
                        AuthorityKind::X509,
                        e.authority.as_ref(),
                    ));
                }
                found |= hit;
                !hit
            });
            state.jwt.retain(|e| {
                let hit = e.authority.kid == id && revocable(e.status);
                if hit {
                    events.push(pending(
                        AuditAction::AuthorityRemoved,
                        AuthorityKind::Jwt,
                        e.authority.as_ref(),
                    ));
                }
                found |= hit;
                !hit
            });
            if !found {
                return Err(Error::InvalidRequest {
                    reason: "no retired or tainted authority has this id",
                });
            }
            self.remove_keys(&events)?;
            self.commit(&mut state, now)?;
        }
        self.audit_all(events, now)
    }

    fn lifecycle(
        &self,
        now: SystemTime,
        x509_mode: Option<Mode>,
        jwt_mode: Option<Mode>,
    ) -> Result<(), Error> {
        let now_s = unix_seconds(now);
        let mut events = Vec::new();
        let result = (|| {
            let mut state = self.lock_state()?;
            let mut changed = false;
            if let Some(mode) = x509_mode {
                let mut prepare = || self.new_x509_authority(now);
                let (c, activated) = step(
                    &mut state.x509,
                    AuthorityKind::X509,
                    now_s,
                    mode,
                    &mut prepare,
                    &mut events,
                )?;
                changed |= c;
                if activated {
                    state.x509_epoch += 1;
                }
            }
            if let Some(mode) = jwt_mode {
                let mut prepare = || self.new_jwt_authority(now);
                let (c, activated) = step(
                    &mut state.jwt,
                    AuthorityKind::Jwt,
                    now_s,
                    mode,
                    &mut prepare,
                    &mut events,
                )?;
                changed |= c;
                if activated {
                    state.jwt_epoch += 1;
                }
            }
            let just_retired: Vec<String> = events
                .iter()
                .filter(|e| {
                    matches!(
                        e.action,
                        AuditAction::AuthorityRetired | AuditAction::AuthorityTainted
                    )
                })
                .map(|e| e.id.clone())
                .collect();
            let before = events.len();
            prune(
                &mut state.x509,
                AuthorityKind::X509,
                now_s,
                &just_retired,
                &mut events,
            );
            prune(
                &mut state.jwt,
                AuthorityKind::Jwt,
                now_s,
                &just_retired,
                &mut events,
            );
            if events.len() > before {
                changed = true;
                self.remove_keys(events.get(before..).unwrap_or_default())?;
            }
            if changed {
                self.commit(&mut state, now)?;
            }
            Ok::<(), Error>(())
        })();
        let audited = self.audit_all(events, now);
        result.and(audited)
    }

    fn remove_keys(&self, events: &[Pending]) -> Result<(), Error> {
        if let Some(store) = &self.inner.store {
            for event in events {
                if event.action == AuditAction::AuthorityRemoved {
                    let kind = match event.kind {
                        AuthorityKind::X509 => "x509",
                        AuthorityKind::Jwt => "jwt",
                    };
                    store.remove_key(&key_name(kind, &event.id))?;
                }
            }
        }
        Ok(())
    }

    fn audit_all(&self, events: Vec<Pending>, now: SystemTime) -> Result<(), Error> {
        let mut result = Ok(());
        for event in events {
            let recorded = self.audit(&AuditEvent {
                action: event.action,
                trust_domain: self.trust_domain().to_string(),
                authority_kind: event.kind,
                authority_id: event.id,
                spiffe_id: None,
                serial: None,
                not_before: Some(event.not_before),
                not_after: Some(event.not_after),
                requester: None,
                at: unix_seconds(now),
            });
            if result.is_ok() {
                result = recorded;
            }
        }
        result
    }

    /// Persists the state (if there is a store) and publishes it.
    pub(crate) fn commit(&self, state: &mut State, now: SystemTime) -> Result<(), Error> {
        if state.x509_epoch == 0 {
            state.x509_epoch = 1;
        }
        if state.jwt_epoch == 0 {
            state.jwt_epoch = 1;
        }
        self.publish(state, now)?;
        if let Some(store) = &self.inner.store {
            store.put_state(&save(self, state)?)?;
        }
        Ok(())
    }

    /// Rebuilds the bundle and the hot path from `state` and notifies subscribers.
    pub(crate) fn publish(&self, state: &mut State, _now: SystemTime) -> Result<(), Error> {
        let td = self.trust_domain().clone();
        let mut roots: Vec<CertificateDer<'static>> = Vec::new();
        for entry in &state.x509 {
            for root in &entry.authority.roots {
                if !roots.contains(root) {
                    roots.push(root.clone());
                }
            }
        }
        let x509 = X509Bundle::from_certificates(td.clone(), roots).map_err(Error::Bundle)?;
        let mut keys = Vec::with_capacity(state.jwt.len());
        for entry in &state.jwt {
            keys.push((
                entry.authority.kid.clone(),
                crate::jwt::public_key(entry.authority.signer.as_ref())?,
            ));
        }
        let jwt = JwtBundle::from_keys(td, keys).map_err(Error::Bundle)?;
        let same = state
            .published
            .as_ref()
            .is_some_and(|(x, j)| *x == x509 && *j == jwt);
        if !same || state.sequence == 0 {
            state.sequence += 1;
        }
        state.published = Some((x509.clone(), jwt.clone()));
        let bundle = SpiffeBundle::from_parts(x509, jwt)
            .map_err(Error::Bundle)?
            .with_sequence(state.sequence)
            .with_refresh_hint(self.inner.config.refresh_hint);
        let bundle = Arc::new(bundle);
        let bundles =
            BundleSet::from_bundles([SpiffeBundle::clone(&bundle)]).map_err(Error::Bundle)?;

        let active_x509 = active(&state.x509)?;
        let active_jwt = active(&state.jwt)?;
        let mut authorities = Vec::new();
        for e in &state.x509 {
            authorities.push(info(AuthorityKind::X509, e));
        }
        for e in &state.jwt {
            authorities.push(info(AuthorityKind::Jwt, e));
        }
        let snapshot = Arc::new(CaSnapshot {
            bundle,
            x509_authority_epoch: state.x509_epoch,
            jwt_key_epoch: state.jwt_epoch,
            authorities,
        });
        let crypto = self.inner.backend.crypto_backend();
        let hot = Hot {
            x509: active_x509,
            jwt: active_jwt,
            verifier: X509Verifier::new(bundles.clone(), &crypto, Usage::Any),
            jwt_validator: JwtValidator::new(crypto),
            bundles,
            x509_proven: AtomicBool::new(false),
            jwt_proven: AtomicBool::new(false),
        };
        self.inner.hot.store(Some(Arc::new(hot)));
        self.inner.watch.send_replace(snapshot);
        Ok(())
    }
}

fn active<A>(entries: &[Entry<A>]) -> Result<Arc<A>, Error> {
    entries
        .iter()
        .find(|e| e.status == AuthorityStatus::Active)
        .map(|e| Arc::clone(&e.authority))
        .ok_or(Error::StoredState {
            reason: "no active authority".into(),
        })
}

fn info<A: Lifetime>(kind: AuthorityKind, entry: &Entry<A>) -> AuthorityInfo {
    AuthorityInfo {
        kind,
        id: entry.authority.id().to_owned(),
        status: entry.status,
        not_before: from_unix_seconds(entry.authority.not_before()),
        not_after: from_unix_seconds(entry.authority.not_after()),
    }
}

/// Signs a probe leaf (the authority's own public key as subject key) and verifies it against
/// the authority's roots: proves that the certificate chain, the key and the roots fit.
pub(crate) fn probe(
    ca: &CertificateAuthority,
    authority: &X509Authority,
    now: SystemTime,
) -> Result<(), Error> {
    let backend = ca.inner.backend;
    let spki = authority.signer.public_key_spki();
    let key_id = x509::key_identifier(backend, spki)?;
    let serial = x509::random_serial(backend)?;
    let now_s = unix_seconds(now);
    let id = ca
        .spiffe_id()
        .append_path("/spiffe-ca-self-check")
        .map_err(|_| Error::InvalidRequest {
            reason: "trust domain too long for a probe ID",
        })?;
    let tbs = x509::leaf_tbs(
        &authority.template,
        &LeafFields {
            serial: &serial,
            not_before: now_s
                .saturating_sub(x509::BACKDATE_SECONDS)
                .max(authority.not_before),
            not_after: now_s.saturating_add(60).min(authority.not_after),
            subject: None,
            spki,
            key_id: &key_id,
            uri: id.as_str(),
            dns_names: &[],
            rsa: false,
        },
    );
    let signature = authority.signer.sign(&tbs)?;
    let mut chain = vec![CertificateDer::from(x509::certificate(
        &tbs,
        authority.signer.algorithm(),
        &signature,
    ))];
    chain.extend(authority.chain.iter().cloned());
    let bundle = X509Bundle::from_certificates(ca.trust_domain().clone(), authority.roots.clone())
        .map_err(|_| Error::UpstreamCertificate {
            reason: "the roots are not usable certificates",
        })?;
    let verifier = X509Verifier::new(bundle, &backend.crypto_backend(), Usage::Any);
    verifier
        .verify(&chain, UnixTime::since_unix_epoch(since_epoch(now)))
        .map(|_| ())
        .map_err(|_| Error::UpstreamCertificate {
            reason: "a certificate signed with the new key does not verify against the roots",
        })
}

pub(crate) fn key_name(kind: &str, id: &str) -> String {
    format!("{kind}-{id}")
}

/// Hex of a DER INTEGER's content octets.
pub(crate) fn serial_hex(serial_der: &[u8]) -> String {
    der::read_single(serial_der, tag::INTEGER)
        .map(x509::hex)
        .unwrap_or_default()
}

/// `1.2.840.113549.1.1.1` rsaEncryption.
const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

/// Whether a SubjectPublicKeyInfo holds an RSA key.
pub(crate) fn spki_is_rsa(spki: &[u8]) -> bool {
    let inner = || -> Option<bool> {
        let mut info = Reader::new(der::read_single(spki, tag::SEQUENCE).ok()?);
        let mut alg = Reader::new(info.read(tag::SEQUENCE).ok()?);
        Some(alg.read(tag::OID).ok()? == OID_RSA)
    };
    inner().unwrap_or(false)
}

// ---- persistence ----

const STATE_VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Stored {
    version: u32,
    trust_domain: String,
    sequence: u64,
    x509_epoch: u64,
    jwt_epoch: u64,
    x509: Vec<StoredX509>,
    jwt: Vec<StoredJwt>,
}

#[derive(Serialize, Deserialize)]
struct StoredX509 {
    id: String,
    status: AuthorityStatus,
    algorithm: String,
    /// base64 DER, as `X509Authority::chain`.
    chain: Vec<String>,
    /// base64 DER, as `X509Authority::roots`.
    roots: Vec<String>,
    path_len: Option<u8>,
}

#[derive(Serialize, Deserialize)]
struct StoredJwt {
    kid: String,
    status: AuthorityStatus,
    algorithm: String,
    not_before: u64,
    not_after: u64,
}

fn algorithm_name(algorithm: SignatureAlgorithm) -> &'static str {
    match algorithm {
        SignatureAlgorithm::EcdsaP256Sha256 => "ecdsa-p256-sha256",
        SignatureAlgorithm::EcdsaP384Sha384 => "ecdsa-p384-sha384",
        SignatureAlgorithm::Ed25519 => "ed25519",
        SignatureAlgorithm::RsaPkcs1Sha256 => "rsa-pkcs1-sha256",
        SignatureAlgorithm::RsaPssSha256 => "rsa-pss-sha256",
    }
}

fn algorithm_from_name(name: &str) -> Result<SignatureAlgorithm, Error> {
    Ok(match name {
        "ecdsa-p256-sha256" => SignatureAlgorithm::EcdsaP256Sha256,
        "ecdsa-p384-sha384" => SignatureAlgorithm::EcdsaP384Sha384,
        "ed25519" => SignatureAlgorithm::Ed25519,
        "rsa-pkcs1-sha256" => SignatureAlgorithm::RsaPkcs1Sha256,
        "rsa-pss-sha256" => SignatureAlgorithm::RsaPssSha256,
        other => {
            return Err(Error::StoredState {
                reason: format!("unknown signature algorithm {other:?}"),
            });
        }
    })
}

fn save(ca: &CertificateAuthority, state: &State) -> Result<Vec<u8>, Error> {
    let b64 =
        |certs: &[CertificateDer<'static>]| certs.iter().map(|c| STANDARD.encode(c)).collect();
    let stored = Stored {
        version: STATE_VERSION,
        trust_domain: ca.trust_domain().to_string(),
        sequence: state.sequence,
        x509_epoch: state.x509_epoch,
        jwt_epoch: state.jwt_epoch,
        x509: state
            .x509
            .iter()
            .map(|e| StoredX509 {
                id: e.authority.id.clone(),
                status: e.status,
                algorithm: algorithm_name(e.authority.signer.algorithm()).into(),
                chain: b64(&e.authority.chain),
                roots: b64(&e.authority.roots),
                path_len: e.authority.path_len,
            })
            .collect(),
        jwt: state
            .jwt
            .iter()
            .map(|e| StoredJwt {
                kid: e.authority.kid.clone(),
                status: e.status,
                algorithm: e.authority.algorithm.name().into(),
                not_before: e.authority.not_before,
                not_after: e.authority.not_after,
            })
            .collect(),
    };
    serde_json::to_vec_pretty(&stored).map_err(|e| Error::StoredState {
        reason: format!("cannot encode state: {e}"),
    })
}

/// Rebuilds the state from a store. Issued-until marks are not persisted (they change on
/// every issuance): retired authorities are kept until their own expiry, which bounds
/// everything they signed.
pub(crate) fn resume(ca: &CertificateAuthority, bytes: &[u8]) -> Result<State, Error> {
    let bad = |reason: String| Error::StoredState { reason };
    let stored: Stored =
        serde_json::from_slice(bytes).map_err(|e| bad(format!("state.json: {e}")))?;
    if stored.version != STATE_VERSION {
        return Err(bad(format!("unknown state version {}", stored.version)));
    }
    if stored.trust_domain != ca.trust_domain().as_str() {
        return Err(bad(format!(
            "the store belongs to trust domain {}",
            stored.trust_domain
        )));
    }
    let store = ca
        .inner
        .store
        .as_ref()
        .ok_or_else(|| bad("no store".into()))?;
    let backend = ca.inner.backend;
    let load =
        |kind: &str, id: &str, algorithm: SignatureAlgorithm| -> Result<Arc<dyn Signer>, Error> {
            let pkcs8 = store
                .get_key(&key_name(kind, id))?
                .ok_or_else(|| bad(format!("key {kind}-{id} is missing from the store")))?;
            Ok(Arc::new(SoftwareSigner::from_pkcs8(
                backend, &pkcs8, algorithm,
            )?))
        };
    let certs = |list: &[String]| -> Result<Vec<CertificateDer<'static>>, Error> {
        list.iter()
            .map(|s| {
                STANDARD
                    .decode(s)
                    .map(CertificateDer::from)
                    .map_err(|_| bad("certificate is not base64".into()))
            })
            .collect()
    };
    let mut state = State {
        sequence: stored.sequence,
        x509_epoch: stored.x509_epoch,
        jwt_epoch: stored.jwt_epoch,
        ..State::default()
    };
    for x in &stored.x509 {
        let algorithm = algorithm_from_name(&x.algorithm)?;
        let signer = load("x509", &x.id, algorithm)?;
        let chain = certs(&x.chain)?;
        let roots = certs(&x.roots)?;
        let (subject, not_before, not_after) = {
            let own = chain
                .first()
                .or_else(|| roots.first())
                .ok_or_else(|| bad("authority without certificate".into()))?;
            let parsed = ParsedCert::parse(own)
                .ok_or_else(|| bad("stored certificate does not parse".into()))?;
            if parsed.spki != signer.public_key_spki() {
                return Err(bad(format!(
                    "key x509-{} does not match its certificate",
                    x.id
                )));
            }
            (parsed.subject.to_vec(), parsed.not_before, parsed.not_after)
        };
        let key_id = x509::key_identifier(backend, signer.public_key_spki())?;
        let authority = X509Authority {
            id: x.id.clone(),
            template: IssuerTemplate::new(signer.algorithm(), subject, &key_id),
            signer,
            not_before,
            not_after,
            chain,
            roots,
            path_len: x.path_len,
            issued_until: AtomicU64::new(not_after),
        };
        state.x509.push(Entry::new(x.status, Arc::new(authority)));
    }
    for j in &stored.jwt {
        let algorithm = JwtAlgorithm::from_name(&j.algorithm)
            .ok_or_else(|| bad(format!("unknown JWT algorithm {:?}", j.algorithm)))?;
        let (signature_algorithm, _) = crate::authority::jwt_key_parameters(algorithm)?;
        let signer = load("jwt", &j.kid, signature_algorithm)?;
        let authority =
            crate::jwt::authority(j.kid.clone(), signer, algorithm, j.not_before, j.not_after);
        authority.issued_until.store(j.not_after, Ordering::Release);
        state.jwt.push(Entry::new(j.status, Arc::new(authority)));
    }
    Ok(state)
}
