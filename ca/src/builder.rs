//! [`CertificateAuthorityBuilder`]: a CA's settings with their defaults, and building the CA
//! (fresh, or resumed from its key store).

use core::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwapOption;
use spiffe_id::TrustDomain;
use svid::{Crypto, JwtAlgorithm, KeyType};
use tokio::sync::watch;

use crate::audit::AuditSink;
use crate::authority::{CertificateAuthority, Config, Inner};
use crate::error::Error;
use crate::key_manager::KeyManager;
use crate::key_manager::software::SoftwareKeyManager;
use crate::keys::jwt_key_parameters;
use crate::keystore::KeyStore;
use crate::lifecycle::persist;
use crate::policy::{AllowAll, IssuancePolicy};
use crate::self_check::SelfCheck;
use crate::snapshot::CaSnapshot;
use crate::state::{AuthorityStatus, Entry, State};
use crate::upstream::UpstreamAuthority;

/// Default lifetime of a CA key (X.509 authority and JWT key): one day, SPIRE's `ca_ttl`.
pub const DEFAULT_CA_TTL: Duration = Duration::from_secs(24 * 3600);
/// Default X.509-SVID lifetime: one hour, SPIRE's default.
pub const DEFAULT_X509_SVID_TTL: Duration = Duration::from_secs(3600);
/// Default JWT-SVID lifetime: five minutes, SPIRE's default.
pub const DEFAULT_JWT_SVID_TTL: Duration = Duration::from_secs(300);
/// Default `spiffe_refresh_hint`: five minutes (digest 4.6: a low value).
pub const DEFAULT_REFRESH_HINT: Duration = Duration::from_secs(300);

/// Builds a [`CertificateAuthority`]; see [`CertificateAuthority::builder`].
pub struct CertificateAuthorityBuilder {
    trust_domain: TrustDomain,
    config: Config,
    crypto: Option<Crypto>,
    upstream: Option<Arc<dyn UpstreamAuthority>>,
    store: Option<Arc<dyn KeyStore>>,
    key_manager: Option<Arc<dyn KeyManager>>,
    policy: Arc<dyn IssuancePolicy>,
    audit: Option<Arc<dyn AuditSink>>,
}

impl fmt::Debug for CertificateAuthorityBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateAuthorityBuilder")
            .field("trust_domain", &self.trust_domain)
            .field("intermediate", &self.upstream.is_some())
            .finish_non_exhaustive()
    }
}

impl CertificateAuthorityBuilder {
    /// Lifetime of each CA key (X.509 authority); default [`DEFAULT_CA_TTL`]. An intermediate's
    /// certificate may be shorter: its parent caps it.
    #[must_use]
    pub fn ca_ttl(mut self, ttl: Duration) -> Self {
        self.config.ca_ttl = ttl;
        self
    }

    /// Key type of the CA's X.509 keys; default P-256.
    #[must_use]
    pub fn x509_key_type(mut self, key_type: KeyType) -> Self {
        self.config.x509_key_type = key_type;
        self
    }

    /// JWT signing algorithm: ES256 (default), ES384, RS256 or PS256.
    #[must_use]
    pub fn jwt_algorithm(mut self, algorithm: JwtAlgorithm) -> Self {
        self.config.jwt_algorithm = algorithm;
        self
    }

    /// Lifetime of each JWT signing key; default [`DEFAULT_CA_TTL`] (24 h), independent of
    /// [`ca_ttl`](Self::ca_ttl): set both to change both.
    #[must_use]
    pub fn jwt_key_ttl(mut self, ttl: Duration) -> Self {
        self.config.jwt_key_ttl = ttl;
        self
    }

    /// Default lifetime of X.509-SVIDs whose request sets none; default 1 hour.
    #[must_use]
    pub fn x509_svid_ttl(mut self, ttl: Duration) -> Self {
        self.config.x509_svid_ttl = ttl;
        self
    }

    /// Default lifetime of JWT-SVIDs whose request sets none; default 5 minutes.
    #[must_use]
    pub fn jwt_svid_ttl(mut self, ttl: Duration) -> Self {
        self.config.jwt_svid_ttl = ttl;
        self
    }

    /// The `spiffe_refresh_hint` of the published bundle; default 5 minutes.
    #[must_use]
    pub fn refresh_hint(mut self, hint: Duration) -> Self {
        self.config.refresh_hint = hint;
        self
    }

    /// `pathLenConstraint` of this CA's certificates: how many CAs may sit below it. Default
    /// none (unlimited) for a root; an intermediate gets at most its parent's minus one.
    #[must_use]
    pub fn path_len(mut self, path_len: Option<u8>) -> Self {
        self.config.path_len = path_len;
        self
    }

    /// The crypto that generates, loads and signs with the CA's keys, hashes key identifiers
    /// and draws serial numbers; default `Crypto::default()` (aws-lc-rs when its feature is on,
    /// otherwise ring). Required when neither feature is on.
    #[must_use]
    pub fn crypto(mut self, crypto: Crypto) -> Self {
        self.crypto = Some(crypto);
        self
    }

    /// How much of each credential is verified before it is returned; default
    /// [`SelfCheck::Auto`] (by where the keys are).
    #[must_use]
    pub fn self_check(mut self, self_check: SelfCheck) -> Self {
        self.config.self_check = self_check;
        self
    }

    /// Makes this an intermediate CA signed by `parent` in-process (same trust domain).
    #[must_use]
    pub fn parent(mut self, parent: &CertificateAuthority) -> Self {
        self.upstream = Some(Arc::new(parent.clone()));
        self
    }

    /// Makes this an intermediate CA whose certificates an upstream authority signs from CSRs.
    #[must_use]
    pub fn upstream(mut self, upstream: Arc<dyn UpstreamAuthority>) -> Self {
        self.upstream = Some(upstream);
        self
    }

    /// Persists the lifecycle journal (which authorities exist, their certificates, status
    /// and the bundle sequence); a CA built on a store with a journal resumes it. Without a
    /// [`key_manager`](Self::key_manager), the keys go to this store too.
    #[must_use]
    pub fn key_store(mut self, store: Arc<dyn KeyStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// Where the CA's keys are created, found again and destroyed; default a
    /// [`SoftwareKeyManager`] on the [`key_store`](Self::key_store) (in memory without one).
    /// Every key the CA makes, at build and at each rotation, comes from it.
    #[must_use]
    pub fn key_manager(mut self, key_manager: Arc<dyn KeyManager>) -> Self {
        self.key_manager = Some(key_manager);
        self
    }

    /// The issuance policy; default [`AllowAll`].
    #[must_use]
    pub fn policy(mut self, policy: Arc<dyn IssuancePolicy>) -> Self {
        self.policy = policy;
        self
    }

    /// Where audit events go; default nowhere.
    #[must_use]
    pub fn audit(mut self, sink: Arc<dyn AuditSink>) -> Self {
        self.audit = Some(sink);
        self
    }

    /// Builds a root CA (refusing a configured parent or upstream).
    ///
    /// # Errors
    /// As [`build`](Self::build), and [`Error::InvalidRequest`] if a parent was set.
    pub fn build_root(self, now: SystemTime) -> Result<CertificateAuthority, Error> {
        if self.upstream.is_some() {
            return Err(Error::InvalidRequest {
                reason: "build_root on a builder with a parent or upstream",
            });
        }
        self.build(now)
    }

    /// Builds the CA: resumes the key store's state if it has one (then rotates as due at
    /// `now`), otherwise creates the first X.509 authority (self-signed, or signed by the
    /// parent/upstream) and JWT key.
    ///
    /// # Errors
    /// Key generation, signing, upstream, store or self-check failures, and
    /// [`Error::Unsupported`] without a [`crypto`](Self::crypto), or for an algorithm it or
    /// JWT-SVID cannot use.
    pub fn build(self, now: SystemTime) -> Result<CertificateAuthority, Error> {
        let config = self.config;
        let crypto = self.crypto.ok_or(Error::Unsupported {
            what: "no crypto: enable the `ring` or `aws-lc-rs` feature, or pass one to `crypto`",
        })?;
        if config.ca_ttl.as_secs() < 60 || config.jwt_key_ttl.as_secs() < 60 {
            return Err(Error::InvalidRequest {
                reason: "CA and JWT key lifetimes must be at least one minute",
            });
        }
        jwt_key_parameters(config.jwt_algorithm)?;
        let key_manager = match (self.key_manager, &self.store) {
            (Some(key_manager), _) => key_manager,
            (None, Some(store)) => Arc::new(SoftwareKeyManager::with_store(
                crypto.clone(),
                Arc::clone(store),
            )),
            (None, None) => Arc::new(SoftwareKeyManager::new(crypto.clone())),
        };
        let mut config = config;
        config.self_check = config.self_check.resolve(key_manager.residence());
        let empty = CaSnapshot::empty(self.trust_domain.clone());
        let inner = Inner {
            trust_domain: self.trust_domain,
            config,
            crypto,
            upstream: self.upstream,
            store: self.store,
            key_manager,
            undestroyed_keys: Mutex::new(Vec::new()),
            policy: self.policy,
            audit: self.audit,
            state: Mutex::new(State::default()),
            // Set by the first publication, before the CA is returned.
            hot: ArcSwapOption::empty(),
            watch: watch::Sender::new(Arc::new(empty)),
        };
        let ca = CertificateAuthority {
            inner: Arc::new(inner),
        };
        let resumed = match &ca.inner.store {
            Some(store) => match store.get_state()? {
                Some(bytes) => {
                    let mut state = ca.lock_state()?;
                    *state = persist::resume(&ca, &bytes)?;
                    ca.publish_resumed(&mut state, now)?;
                    true
                }
                None => false,
            },
            None => false,
        };
        if resumed {
            ca.rotate(now)?;
        } else {
            let x509 = ca.new_x509_authority(now)?;
            let jwt = ca.new_jwt_authority(now)?;
            let mut state = ca.lock_state()?;
            state.x509.push(Entry::new(AuthorityStatus::Active, x509));
            state.jwt.push(Entry::new(AuthorityStatus::Active, jwt));
            ca.commit(&mut state, now)?;
        }
        Ok(ca)
    }
}

impl CertificateAuthority {
    /// Starts building a CA for `trust_domain`.
    pub fn builder(trust_domain: TrustDomain) -> CertificateAuthorityBuilder {
        #[cfg(any(feature = "ring", feature = "aws-lc-rs"))]
        let crypto = Some(Crypto::default());
        #[cfg(not(any(feature = "ring", feature = "aws-lc-rs")))]
        let crypto = None;
        CertificateAuthorityBuilder {
            trust_domain,
            config: Config {
                ca_ttl: DEFAULT_CA_TTL,
                x509_key_type: KeyType::EcdsaP256,
                jwt_algorithm: JwtAlgorithm::Es256,
                jwt_key_ttl: DEFAULT_CA_TTL,
                x509_svid_ttl: DEFAULT_X509_SVID_TTL,
                jwt_svid_ttl: DEFAULT_JWT_SVID_TTL,
                refresh_hint: DEFAULT_REFRESH_HINT,
                path_len: None,
                self_check: SelfCheck::Auto,
            },
            crypto,
            upstream: None,
            store: None,
            key_manager: None,
            policy: Arc::new(AllowAll),
            audit: None,
        }
    }
}
