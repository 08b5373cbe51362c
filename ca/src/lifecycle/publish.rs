//! Publication: the bundle, the hot path and the [`CaSnapshot`] rebuilt from the state, and
//! the state persisted.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::SystemTime;

use rustls_pki_types::CertificateDer;
use svid::{JwtValidator, X509Verifier};
use trust_bundle::{BundleSet, JwtBundle, SpiffeBundle, X509Bundle};

use crate::audit::AuthorityKind;
use crate::authority::CertificateAuthority;
use crate::error::Error;
use crate::jwt;
use crate::keys::Hot;
use crate::lifecycle::persist;
use crate::snapshot::{AuthorityInfo, CaSnapshot};
use crate::state::{AuthorityStatus, Entry, Lifetime, State};
use crate::time::from_unix_seconds;

impl CertificateAuthority {
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
            store.put_state(&persist::save(self, state)?)?;
        }
        Ok(())
    }

    /// Rebuilds the bundle and the hot path from `state` and notifies subscribers; a bundle
    /// that differs from the last one published gets the next `spiffe_sequence`.
    pub(crate) fn publish(&self, state: &mut State, now: SystemTime) -> Result<(), Error> {
        self.publish_as(state, now, false)
    }

    /// Publishes a state just read back from the journal: its bundle is the one published
    /// before the restart, so it keeps its sequence (peers see no change where there is none).
    pub(crate) fn publish_resumed(&self, state: &mut State, now: SystemTime) -> Result<(), Error> {
        self.publish_as(state, now, true)
    }

    fn publish_as(&self, state: &mut State, _now: SystemTime, resumed: bool) -> Result<(), Error> {
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
                jwt::public_key(entry.authority.signer.as_ref())?,
            ));
        }
        let jwt = JwtBundle::from_keys(td, keys).map_err(Error::Bundle)?;
        let same = state
            .published
            .as_ref()
            .is_some_and(|(x, j)| *x == x509 && *j == jwt);
        if (!same && !resumed) || state.sequence == 0 {
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
        let crypto = self.inner.crypto.clone();
        let hot = Hot {
            x509: active_x509,
            jwt: active_jwt,
            verifier: X509Verifier::new(bundles.clone(), &crypto),
            jwt_validator: JwtValidator::new(bundles, &crypto),
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
