//! [`CertificateAuthority`]: one trust domain's X.509 and JWT issuing authorities.
//!
//! This module holds the type and what its operations share (configuration, state, audit).
//! The operations live by concern: `keygen` (new keys), `crate::builder` (settings and
//! building), `crate::keys` (the signing keys), `crate::mint` (issuing credentials),
//! `crate::self_check`, `crate::upstream` and `crate::lifecycle` (rotation, publication,
//! persistence). Those that build on the type (builder, mint, lifecycle) import it, never the
//! reverse, so the modules form a DAG.

mod keygen;

use core::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use rustls_pki_types::CertificateDer;
use spiffe_id::{SpiffeId, TrustDomain};
use svid::{JwtAlgorithm, KeyType};
use tokio::sync::watch;
use trust_bundle::SpiffeBundle;

use crate::audit::{AuditEvent, AuditSink};
use crate::error::Error;
use crate::key_manager::KeyManager;
use crate::keys::Hot;
use crate::keystore::KeyStore;
use crate::policy::IssuancePolicy;
use crate::self_check::SelfCheck;
use crate::snapshot::CaSnapshot;
use crate::state::State;
use crate::upstream::UpstreamAuthority;

/// Configuration fixed at build time.
pub(crate) struct Config {
    pub(crate) ca_ttl: Duration,
    pub(crate) x509_key_type: KeyType,
    pub(crate) jwt_algorithm: JwtAlgorithm,
    pub(crate) jwt_key_ttl: Duration,
    pub(crate) x509_svid_ttl: Duration,
    pub(crate) jwt_svid_ttl: Duration,
    pub(crate) refresh_hint: Duration,
    pub(crate) path_len: Option<u8>,
    pub(crate) self_check: SelfCheck,
}

pub(crate) struct Inner {
    pub(crate) trust_domain: TrustDomain,
    pub(crate) config: Config,
    pub(crate) crypto: svid::Crypto,
    pub(crate) upstream: Option<Arc<dyn UpstreamAuthority>>,
    /// Holds the lifecycle journal (and, through the default key manager, the keys).
    pub(crate) store: Option<Arc<dyn KeyStore>>,
    pub(crate) key_manager: Arc<dyn KeyManager>,
    /// Keys of removed authorities the key manager failed to destroy; retried.
    pub(crate) undestroyed_keys: Mutex<Vec<String>>,
    pub(crate) policy: Arc<dyn IssuancePolicy>,
    pub(crate) audit: Option<Arc<dyn AuditSink>>,
    pub(crate) state: Mutex<State>,
    pub(crate) hot: ArcSwapOption<Hot>,
    pub(crate) watch: watch::Sender<Arc<CaSnapshot>>,
}

/// A certificate authority for one trust domain: mints X.509-SVIDs, JWT-SVIDs and
/// intermediate CA certificates, rotates its keys and publishes its bundle.
///
/// Cheap to clone (one `Arc`), `Send + Sync`; minting takes no lock (the active authorities
/// are swapped atomically on rotation). Every method takes the current time as `now`; nothing
/// reads the clock.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use ca::{CertificateAuthority, JwtSvidRequest, X509SvidRequest};
///
/// let now = SystemTime::now();
/// let ca = CertificateAuthority::builder("example.org".parse()?).build(now)?;
///
/// let svid = ca.mint_x509_svid(
///     &X509SvidRequest::new("spiffe://example.org/web".parse()?).ttl(Duration::from_secs(600)),
///     now,
/// )?;
/// assert_eq!(svid.spiffe_id().as_str(), "spiffe://example.org/web");
///
/// let token = ca.mint_jwt_svid(
///     &JwtSvidRequest::new("spiffe://example.org/web".parse()?, ["reports"]),
///     now,
/// )?;
/// assert_eq!(token.split('.').count(), 3);
///
/// // The bundle holds the root and the JWT key, ready for the Workload API or federation.
/// let bundle = ca.bundle();
/// assert_eq!(bundle.x509_bundle().len(), 1);
/// assert_eq!(bundle.jwt_bundle().len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct CertificateAuthority {
    pub(crate) inner: Arc<Inner>,
}

impl fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hot = self.inner.hot.load_full();
        f.debug_struct("CertificateAuthority")
            .field("trust_domain", &self.inner.trust_domain)
            .field("x509_authority", &hot.as_ref().map(|h| h.x509.id.clone()))
            .field("jwt_kid", &hot.as_ref().map(|h| h.jwt.kid.clone()))
            .field("intermediate", &self.inner.upstream.is_some())
            .finish_non_exhaustive()
    }
}

impl CertificateAuthority {
    /// The CA's trust domain.
    pub fn trust_domain(&self) -> &TrustDomain {
        &self.inner.trust_domain
    }

    /// The CA's own SPIFFE ID, `spiffe://<trust domain>` (no path).
    pub fn spiffe_id(&self) -> SpiffeId {
        self.inner.trust_domain.id()
    }

    /// Whether this CA's certificates are signed by a parent or upstream.
    pub fn is_intermediate(&self) -> bool {
        self.inner.upstream.is_some()
    }

    /// The crypto the CA generates keys and signs with.
    pub fn crypto(&self) -> &svid::Crypto {
        &self.inner.crypto
    }

    /// The current published bundle: every published X.509 authority and JWT key, with
    /// `spiffe_sequence` and `spiffe_refresh_hint`.
    pub fn bundle(&self) -> Arc<SpiffeBundle> {
        Arc::clone(self.snapshot().bundle())
    }

    /// The current state: bundle, epochs, authorities.
    pub fn snapshot(&self) -> Arc<CaSnapshot> {
        Arc::clone(&self.inner.watch.borrow())
    }

    /// The active authorities. Always set once `build` returned.
    pub(crate) fn hot(&self) -> Result<Arc<Hot>, Error> {
        self.inner.hot.load_full().ok_or(Error::StoredState {
            reason: "the CA has no active authority".into(),
        })
    }

    /// A receiver whose value is replaced on every change of the bundle or of the active
    /// authorities. Compare [`CaSnapshot::x509_authority_epoch`] with the previous value to
    /// tell "re-issue every X.509-SVID" from "only push the new bundle".
    pub fn subscribe(&self) -> watch::Receiver<Arc<CaSnapshot>> {
        self.inner.watch.subscribe()
    }

    /// The active X.509 authority's CA certificate.
    ///
    /// # Errors
    /// Only if the CA has no active authority, which `build` never returns.
    pub fn x509_authority_certificate(&self) -> Result<CertificateDer<'static>, Error> {
        let hot = self.hot()?;
        Ok(hot
            .x509
            .chain
            .first()
            .or_else(|| hot.x509.roots.first())
            .cloned()
            .unwrap_or_else(|| CertificateDer::from(Vec::new())))
    }

    pub(crate) fn lock_state(&self) -> Result<MutexGuard<'_, State>, Error> {
        self.inner.state.lock().map_err(|_| Error::StoredState {
            reason: "CA state lock poisoned by a panic".into(),
        })
    }

    pub(crate) fn audit(&self, event: &AuditEvent) -> Result<(), Error> {
        self.audit_with(|| event.clone())
    }

    /// Records the event `make` builds, building it only when there is a sink.
    pub(crate) fn audit_with(&self, make: impl FnOnce() -> AuditEvent) -> Result<(), Error> {
        match &self.inner.audit {
            Some(sink) => sink.record(&make()).map_err(Error::Audit),
            None => Ok(()),
        }
    }
}
