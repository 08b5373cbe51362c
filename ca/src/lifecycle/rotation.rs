//! The CA's lifecycle operations: scheduled rotation, forced rotation, taint and revocation.

use std::time::SystemTime;

use crate::audit::{AuditAction, AuditEvent, AuthorityKind};
use crate::authority::CertificateAuthority;
use crate::error::Error;
use crate::lifecycle::schedule::{Mode, Pending, pending, prune, step};
use crate::state::AuthorityStatus;
use crate::time::unix_seconds;

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

    /// Prepares the next X.509 authority now, ahead of its schedule, and publishes it in the
    /// bundle without signing anything with it (nothing happens when one is prepared already).
    /// With [`force_rotate_x509`](Self::force_rotate_x509) later, an operator rotates in two
    /// steps, as SPIRE's `localauthority x509 prepare` / `activate`: federated trust domains
    /// and workloads receive the new authority before anything they verify is signed by it.
    ///
    /// # Errors
    /// As [`rotate`](Self::rotate).
    pub fn prepare_x509(&self, now: SystemTime) -> Result<(), Error> {
        self.lifecycle(now, Some(Mode::Prepare), None)
    }

    /// Prepares the next JWT key now and publishes it; see
    /// [`prepare_x509`](Self::prepare_x509).
    ///
    /// # Errors
    /// As [`rotate`](Self::rotate).
    pub fn prepare_jwt(&self, now: SystemTime) -> Result<(), Error> {
        self.lifecycle(now, None, Some(Mode::Prepare))
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
    ///
    /// [`CaSnapshot::x509_authority_epoch`]: crate::CaSnapshot::x509_authority_epoch
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
            self.commit(&mut state, now)?;
            drop(state);
            self.destroy_keys(&events);
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
            changed |= events.len() > before;
            if changed {
                self.commit(&mut state, now)?;
            }
            drop(state);
            self.destroy_keys(events.get(before..).unwrap_or_default());
            Ok::<(), Error>(())
        })();
        let audited = self.audit_all(events, now);
        result.and(audited)
    }

    /// Destroys the keys of removed authorities once the journal no longer lists them: a
    /// crash before this point leaves an unused key behind, never a journal that names a
    /// destroyed key. The removal stands when the key manager fails here (the key is
    /// unreachable either way); the key is tried again at the next lifecycle step and listed
    /// by [`CertificateAuthority::undestroyed_keys`] meanwhile.
    fn destroy_keys(&self, events: &[Pending]) {
        let removed = events
            .iter()
            .filter(|event| event.action == AuditAction::AuthorityRemoved)
            .map(|event| event.key_ref.clone());
        let Ok(mut undestroyed) = self.inner.undestroyed_keys.lock() else {
            return;
        };
        let mut pending: Vec<String> = undestroyed.drain(..).chain(removed).collect();
        pending.retain(|key_ref| self.inner.key_manager.destroy(key_ref).is_err());
        *undestroyed = pending;
    }

    /// References of keys whose authorities were removed but whose key manager failed to
    /// destroy them (retried at each lifecycle step). Empty in normal operation.
    pub fn undestroyed_keys(&self) -> Vec<String> {
        self.inner
            .undestroyed_keys
            .lock()
            .map(|keys| keys.clone())
            .unwrap_or_default()
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
}
