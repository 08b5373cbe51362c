//! [`CertificateAuthority`]: one trust domain's X.509 and JWT issuing authorities.

use core::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwapOption;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rustls_pki_types::{CertificateDer, UnixTime};
use spiffe_id::{SpiffeId, TrustDomain};
use svid::{Audience, JwtAlgorithm, JwtValidator, PrivateKey, X509Svid, X509Verifier};
use tokio::sync::watch;
use trust_bundle::{BundleSet, SpiffeBundle};

use crate::audit::{AuditAction, AuditEvent, AuditSink, AuthorityKind};
use crate::csr;
use crate::error::Error;
use crate::keystore::KeyStore;
use crate::lifecycle::{self, AuthorityStatus, Entry, State};
use crate::policy::{AllowAll, CredentialKind, IssuanceContext, IssuancePolicy};
use crate::request::{IntermediateRequest, JwtSvidRequest, X509SvidRequest};
use crate::signer::{Backend, KeyType, SignatureAlgorithm, Signer, SoftwareSigner};
use crate::snapshot::CaSnapshot;
use crate::time::unix_seconds;
use crate::x509::{self, IssuerTemplate, LeafFields, ParsedCert};

/// Default lifetime of a CA key (X.509 authority and JWT key): one day, SPIRE's `ca_ttl`.
pub const DEFAULT_CA_TTL: Duration = Duration::from_secs(24 * 3600);
/// Default X.509-SVID lifetime: one hour, SPIRE's default.
pub const DEFAULT_X509_SVID_TTL: Duration = Duration::from_secs(3600);
/// Default JWT-SVID lifetime: five minutes, SPIRE's default.
pub const DEFAULT_JWT_SVID_TTL: Duration = Duration::from_secs(300);
/// Default `spiffe_refresh_hint`: five minutes (digest 4.6: a low value).
pub const DEFAULT_REFRESH_HINT: Duration = Duration::from_secs(300);

/// What a CA checks of each credential before returning it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SelfCheck {
    /// Every X.509-SVID is verified with `svid`'s [`X509Verifier`] against the CA's own bundle
    /// (path, signatures, SPIFFE profile) and every JWT-SVID with its [`JwtValidator`]. This
    /// costs one signature verification per credential, which is more than the signing itself.
    #[default]
    Full,
    /// The first credential after each change of the signing authority or key is verified as
    /// with [`Full`](Self::Full). For the others, whose inputs (authority, template, signer)
    /// that first check proved, an X.509-SVID minted with a generated key still passes
    /// `X509Svid::new` (one URI SAN, not a CA, key usage, the key matches the leaf), a JWT-SVID
    /// still passes `JwtSvid::parse_insecure` (header, claims), and chains minted for a CSR or
    /// supplied key are not re-checked. Saves one signature verification per credential.
    FirstPerAuthority,
}

/// Where an intermediate CA's certificate comes from.
///
/// A [`CertificateAuthority`] is one (in-process parent); an upstream PKI reached over the
/// network implements it around its own client. Called whenever the CA needs a certificate for
/// a new key: at build time and at each rotation.
pub trait UpstreamAuthority: Send + Sync {
    /// Signs a CA certificate for the key in `csr` (PKCS#10 DER, made by this crate) valid for
    /// at most `ttl` from `now`.
    ///
    /// # Errors
    /// Whatever the upstream reports.
    fn sign_intermediate(
        &self,
        csr: &[u8],
        ttl: Duration,
        now: SystemTime,
    ) -> Result<IssuedCa, Error>;
}

/// A CA certificate issued to a downstream CA, with what verifies it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct IssuedCa {
    /// The new CA certificate first, then the issuer's intermediates up to (not including) a
    /// root.
    pub chain: Vec<CertificateDer<'static>>,
    /// The roots the chain verifies against; the downstream CA publishes these as its trust
    /// domain's X.509 authorities.
    pub roots: Vec<CertificateDer<'static>>,
}

impl IssuedCa {
    /// Bundles a chain and its roots.
    pub fn new(chain: Vec<CertificateDer<'static>>, roots: Vec<CertificateDer<'static>>) -> Self {
        Self { chain, roots }
    }
}

/// An X.509 signing authority: a key and its CA certificate.
pub(crate) struct X509Authority {
    /// Hex subject key identifier.
    pub(crate) id: String,
    pub(crate) signer: Arc<dyn Signer>,
    /// Certificates appended to every leaf: empty for a root, else this CA's certificate and
    /// the upstream intermediates.
    pub(crate) chain: Vec<CertificateDer<'static>>,
    /// What the trust domain's bundle publishes for this authority.
    pub(crate) roots: Vec<CertificateDer<'static>>,
    pub(crate) not_before: u64,
    pub(crate) not_after: u64,
    pub(crate) path_len: Option<u8>,
    pub(crate) template: IssuerTemplate,
    /// The latest expiry of anything it signed, seconds since the epoch.
    pub(crate) issued_until: AtomicU64,
}

/// A JWT signing key.
pub(crate) struct JwtAuthority {
    pub(crate) kid: String,
    pub(crate) signer: Arc<dyn Signer>,
    pub(crate) algorithm: JwtAlgorithm,
    /// base64url of the JOSE header, followed by '.'.
    pub(crate) header_prefix: String,
    pub(crate) not_before: u64,
    pub(crate) not_after: u64,
    pub(crate) issued_until: AtomicU64,
}

/// Everything the hot path needs, swapped as one.
pub(crate) struct Hot {
    pub(crate) x509: Arc<X509Authority>,
    pub(crate) jwt: Arc<JwtAuthority>,
    pub(crate) bundles: BundleSet,
    pub(crate) verifier: X509Verifier<BundleSet>,
    pub(crate) jwt_validator: JwtValidator,
    /// Whether the first credential of the current X.509 authority / JWT key was fully
    /// checked ([`SelfCheck::FirstPerAuthority`]).
    pub(crate) x509_proven: std::sync::atomic::AtomicBool,
    pub(crate) jwt_proven: std::sync::atomic::AtomicBool,
}

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
    pub(crate) backend: Backend,
    pub(crate) upstream: Option<Arc<dyn UpstreamAuthority>>,
    pub(crate) store: Option<Arc<dyn KeyStore>>,
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

/// Builds a [`CertificateAuthority`]; see [`CertificateAuthority::builder`].
pub struct CertificateAuthorityBuilder {
    trust_domain: TrustDomain,
    config: Config,
    backend: Option<Backend>,
    upstream: Option<Arc<dyn UpstreamAuthority>>,
    store: Option<Arc<dyn KeyStore>>,
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

    /// The library that generates and uses the CA's keys; default [`Backend::default`].
    #[must_use]
    pub fn backend(mut self, backend: Backend) -> Self {
        self.backend = Some(backend);
        self
    }

    /// How much of each credential is verified before it is returned; default
    /// [`SelfCheck::Full`].
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

    /// Persists keys and lifecycle state; a CA built on a store with state resumes it.
    #[must_use]
    pub fn key_store(mut self, store: Arc<dyn KeyStore>) -> Self {
        self.store = Some(store);
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
    /// [`Error::Unsupported`] for an algorithm the backend or JWT-SVID cannot use.
    pub fn build(self, now: SystemTime) -> Result<CertificateAuthority, Error> {
        let config = self.config;
        let backend = self.backend.ok_or(Error::Unsupported {
            what: "no crypto backend: enable the `ring` or `aws-lc-rs` feature",
        })?;
        if config.ca_ttl.as_secs() < 60 || config.jwt_key_ttl.as_secs() < 60 {
            return Err(Error::InvalidRequest {
                reason: "CA and JWT key lifetimes must be at least one minute",
            });
        }
        jwt_key_parameters(config.jwt_algorithm)?;
        let empty = CaSnapshot::empty(self.trust_domain.clone());
        let inner = Inner {
            trust_domain: self.trust_domain,
            config,
            backend,
            upstream: self.upstream,
            store: self.store,
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
                    *state = lifecycle::resume(&ca, &bytes)?;
                    ca.publish(&mut state, now)?;
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

/// The signature algorithm and key type of a JWT algorithm this crate can issue with.
pub(crate) fn jwt_key_parameters(
    algorithm: JwtAlgorithm,
) -> Result<(SignatureAlgorithm, KeyType), Error> {
    Ok(match algorithm {
        JwtAlgorithm::Es256 => (SignatureAlgorithm::EcdsaP256Sha256, KeyType::EcdsaP256),
        JwtAlgorithm::Es384 => (SignatureAlgorithm::EcdsaP384Sha384, KeyType::EcdsaP384),
        JwtAlgorithm::Rs256 => (SignatureAlgorithm::RsaPkcs1Sha256, KeyType::Rsa2048),
        JwtAlgorithm::Ps256 => (SignatureAlgorithm::RsaPssSha256, KeyType::Rsa2048),
        _ => {
            return Err(Error::Unsupported {
                what: "JWT signing algorithms are ES256, ES384, RS256 and PS256",
            });
        }
    })
}

impl CertificateAuthority {
    /// Starts building a CA for `trust_domain`.
    pub fn builder(trust_domain: TrustDomain) -> CertificateAuthorityBuilder {
        #[cfg(any(feature = "ring", feature = "aws-lc-rs"))]
        let backend = Some(Backend::default());
        #[cfg(not(any(feature = "ring", feature = "aws-lc-rs")))]
        let backend = None;
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
                self_check: SelfCheck::Full,
            },
            backend,
            upstream: None,
            store: None,
            policy: Arc::new(AllowAll),
            audit: None,
        }
    }

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

    /// The crypto backend the CA signs with.
    pub fn backend(&self) -> Backend {
        self.inner.backend
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

    /// Checks that `spiffe_id` may carry a workload credential from this CA, then asks the
    /// policy.
    fn admit(
        &self,
        spiffe_id: &SpiffeId,
        requester: Option<&str>,
        kind: CredentialKind,
    ) -> Result<(), Error> {
        if !spiffe_id.is_member_of(&self.inner.trust_domain) {
            return Err(Error::TrustDomainMismatch {
                spiffe_id: spiffe_id.clone(),
                trust_domain: self.inner.trust_domain.clone(),
            });
        }
        if kind != CredentialKind::IntermediateCa && spiffe_id.is_root() {
            return Err(Error::RootIdForWorkload {
                spiffe_id: spiffe_id.clone(),
            });
        }
        let context = IssuanceContext {
            spiffe_id,
            requester,
            kind,
        };
        self.inner
            .policy
            .check(&context)
            .map_err(|reason| Error::PolicyDenied {
                spiffe_id: spiffe_id.clone(),
                requester: requester.map(str::to_owned),
                reason,
            })
    }

    /// Mints an X.509-SVID with a key the CA generates (the request's key type, default
    /// P-256).
    ///
    /// The chain is the leaf followed by this CA's intermediates up to, not including, the root.
    /// The leaf follows the issuance checklist (digest 2.7): one URI SAN, critical keyUsage
    /// `digitalSignature` (plus `keyEncipherment` for RSA), EKU serverAuth + clientAuth,
    /// `cA=false`, SKID/AKI, a random 128-bit serial, `notBefore` 10 s in the past, `notAfter`
    /// capped at the CA's own.
    ///
    /// # Errors
    /// [`Error::TrustDomainMismatch`], [`Error::RootIdForWorkload`], [`Error::PolicyDenied`],
    /// [`Error::AuthorityNotValid`], key generation, signing, self-check or audit failures.
    pub fn mint_x509_svid(
        &self,
        request: &X509SvidRequest,
        now: SystemTime,
    ) -> Result<X509Svid, Error> {
        self.admit(
            request.spiffe_id(),
            request.requester_label(),
            CredentialKind::X509Svid,
        )?;
        let backend = self.inner.backend;
        let key_type = request.key_type_or_default();
        let pkcs8 = backend.generate_pkcs8(key_type)?;
        // The key was generated just now by the same library: read its public half from the
        // PKCS#8 document instead of re-deriving it (see `generated_public_key`); fall back to
        // the library's validating loader for any layout that parser does not know.
        let generated = svid::CryptoBackend::new(
            "ca-generated-key",
            backend.crypto_backend().algorithms(),
            crate::signer::generated_public_key,
        );
        let key = PrivateKey::from_pkcs8_der(&pkcs8, &generated)
            .or_else(|_| PrivateKey::from_pkcs8_der(&pkcs8, &backend.crypto_backend()))
            .map_err(|_| Error::KeyRejected)?;
        let spki = crate::signer::spki_of_key(key.algorithm(), key.public_key()).ok_or(
            Error::Unsupported {
                what: "key algorithm",
            },
        )?;
        let hot = self.hot()?;
        let (chain, issued) = self.sign_leaf(&hot, request, &spki, key_type.is_rsa(), now)?;
        let svid = X509Svid::new(chain, key).map_err(Error::SelfCheck)?;
        self.check_x509(&hot, svid.chain(), now)?;
        self.finish_leaf(&hot, request, issued, now)?;
        Ok(svid)
    }

    /// Mints an X.509-SVID for the public key of a PKCS#10 CSR. The CSR's signature is
    /// verified (proof of possession); its subject and requested names are ignored: `request`
    /// decides the SPIFFE ID, DNS names and subject. Returns the chain, leaf first.
    ///
    /// # Errors
    /// [`Error::Csr`] for a malformed, unsupported or badly signed CSR, then as
    /// [`mint_x509_svid`](Self::mint_x509_svid).
    pub fn mint_x509_svid_for_csr(
        &self,
        csr_der: &[u8],
        request: &X509SvidRequest,
        now: SystemTime,
    ) -> Result<Vec<CertificateDer<'static>>, Error> {
        self.admit(
            request.spiffe_id(),
            request.requester_label(),
            CredentialKind::X509Svid,
        )?;
        let backend = self.inner.backend;
        let spki = csr::public_key_of(csr_der, &backend.crypto_backend())?;
        let rsa = lifecycle::spki_is_rsa(&spki);
        let hot = self.hot()?;
        let (chain, issued) = self.sign_leaf(&hot, request, &spki, rsa, now)?;
        self.check_x509(&hot, &chain, now)?;
        self.finish_leaf(&hot, request, issued, now)?;
        Ok(chain)
    }

    /// Mints an X.509-SVID for a public key the caller already holds as a DER
    /// SubjectPublicKeyInfo (P-256, P-384, RSA or Ed25519), e.g. one received over a channel
    /// that already proved possession. Unlike [`mint_x509_svid_for_csr`](Self::mint_x509_svid_for_csr)
    /// there is no proof of possession here: the caller vouches for it. Returns the chain, leaf
    /// first.
    ///
    /// # Errors
    /// [`Error::InvalidRequest`] for a malformed or unsupported key, then as
    /// [`mint_x509_svid`](Self::mint_x509_svid).
    pub fn mint_x509_svid_for_public_key(
        &self,
        spki_der: &[u8],
        request: &X509SvidRequest,
        now: SystemTime,
    ) -> Result<Vec<CertificateDer<'static>>, Error> {
        self.admit(
            request.spiffe_id(),
            request.requester_label(),
            CredentialKind::X509Svid,
        )?;
        if !crate::signer::is_supported_spki(spki_der) {
            return Err(Error::InvalidRequest {
                reason: "not a DER SubjectPublicKeyInfo of a P-256, P-384, RSA or Ed25519 key",
            });
        }
        let rsa = lifecycle::spki_is_rsa(spki_der);
        let hot = self.hot()?;
        let (chain, issued) = self.sign_leaf(&hot, request, spki_der, rsa, now)?;
        self.check_x509(&hot, &chain, now)?;
        self.finish_leaf(&hot, request, issued, now)?;
        Ok(chain)
    }

    /// Signs the leaf; returns the chain and (serial hex, notBefore, notAfter).
    fn sign_leaf(
        &self,
        hot: &Hot,
        request: &X509SvidRequest,
        spki: &[u8],
        rsa: bool,
        now: SystemTime,
    ) -> Result<(Vec<CertificateDer<'static>>, Issued), Error> {
        let backend = self.inner.backend;
        let authority = &hot.x509;
        let now_s = unix_seconds(now);
        let ttl = request.ttl_or(self.inner.config.x509_svid_ttl);
        let not_after = now_s.saturating_add(ttl.as_secs()).min(authority.not_after);
        if now_s < authority.not_before || not_after <= now_s {
            return Err(Error::AuthorityNotValid);
        }
        let not_before = now_s
            .saturating_sub(x509::BACKDATE_SECONDS)
            .max(authority.not_before);
        let dns_names = x509::dns_names(request.dns_name_list())?;
        let subject = match request.subject_name() {
            Some(dn) if !dn.is_empty() => Some(dn.to_der()?),
            _ => None,
        };
        let key_id = x509::key_identifier(backend, spki)?;
        let serial = x509::random_serial(backend)?;
        let uri = request.spiffe_id().as_str();
        let tbs = x509::leaf_tbs(
            &authority.template,
            &LeafFields {
                serial: &serial,
                not_before,
                not_after,
                subject: subject.as_deref(),
                spki,
                key_id: &key_id,
                uri,
                dns_names: &dns_names,
                rsa,
            },
        );
        let signature = authority.signer.sign(&tbs)?;
        let leaf = x509::certificate(&tbs, authority.signer.algorithm(), &signature);
        let mut chain = Vec::with_capacity(1 + authority.chain.len());
        chain.push(CertificateDer::from(leaf));
        chain.extend(authority.chain.iter().cloned());
        Ok((
            chain,
            Issued {
                serial,
                not_before,
                not_after,
            },
        ))
    }

    fn check_x509(
        &self,
        hot: &Hot,
        chain: &[CertificateDer<'static>],
        now: SystemTime,
    ) -> Result<(), Error> {
        if self.inner.config.self_check == SelfCheck::FirstPerAuthority
            && hot.x509_proven.load(Ordering::Acquire)
        {
            // X509Svid::new (or svid's parser) already checked the profile; see SelfCheck.
            return Ok(());
        }
        hot.verifier
            .verify(chain, UnixTime::since_unix_epoch(since_epoch(now)))
            .map_err(Error::SelfCheck)?;
        hot.x509_proven.store(true, Ordering::Release);
        Ok(())
    }

    fn finish_leaf(
        &self,
        hot: &Hot,
        request: &X509SvidRequest,
        issued: Issued,
        now: SystemTime,
    ) -> Result<(), Error> {
        hot.x509
            .issued_until
            .fetch_max(issued.not_after, Ordering::AcqRel);
        self.audit_with(|| AuditEvent {
            action: AuditAction::X509SvidIssued,
            trust_domain: self.inner.trust_domain.to_string(),
            authority_kind: AuthorityKind::X509,
            authority_id: hot.x509.id.clone(),
            spiffe_id: Some(request.spiffe_id().to_string()),
            serial: Some(lifecycle::serial_hex(&issued.serial)),
            not_before: Some(issued.not_before),
            not_after: Some(issued.not_after),
            requester: request.requester_label().map(str::to_owned),
            at: unix_seconds(now),
        })
    }

    /// Mints a JWT-SVID: header `alg`, `kid`, `typ: JWT` only (J-12); claims `sub`, `aud` (an
    /// array of the request's non-empty audiences), `iat`, `exp` (capped at the signing key's
    /// expiry) and the request's extra claims.
    ///
    /// # Errors
    /// [`Error::EmptyAudience`], [`Error::ReservedClaim`], the admission errors of
    /// [`mint_x509_svid`](Self::mint_x509_svid), [`Error::AuthorityNotValid`] when the key has
    /// expired, signing, self-check or audit failures.
    pub fn mint_jwt_svid(
        &self,
        request: &JwtSvidRequest,
        now: SystemTime,
    ) -> Result<String, Error> {
        self.admit(
            request.spiffe_id(),
            request.requester_label(),
            CredentialKind::JwtSvid,
        )?;
        let audience = request.audience_values();
        if audience.is_empty() {
            return Err(Error::EmptyAudience);
        }
        let hot = self.hot()?;
        let key = &hot.jwt;
        let now_s = unix_seconds(now);
        let ttl = request.ttl_or(self.inner.config.jwt_svid_ttl);
        let exp = now_s.saturating_add(ttl.as_secs()).min(key.not_after);
        if now_s < key.not_before || exp <= now_s {
            return Err(Error::AuthorityNotValid);
        }
        let claims = crate::jwt::claims(request.spiffe_id(), audience, now_s, exp, request)?;
        let token = crate::jwt::sign(key, &claims)?;
        self.check_jwt(&hot, &token, audience, now)?;
        key.issued_until.fetch_max(exp, Ordering::AcqRel);
        self.audit_with(|| AuditEvent {
            action: AuditAction::JwtSvidIssued,
            trust_domain: self.inner.trust_domain.to_string(),
            authority_kind: AuthorityKind::Jwt,
            authority_id: key.kid.clone(),
            spiffe_id: Some(request.spiffe_id().to_string()),
            serial: None,
            not_before: Some(now_s),
            not_after: Some(exp),
            requester: request.requester_label().map(str::to_owned),
            at: now_s,
        })?;
        Ok(token)
    }

    fn check_jwt(
        &self,
        hot: &Hot,
        token: &str,
        audience: &[String],
        now: SystemTime,
    ) -> Result<(), Error> {
        if self.inner.config.self_check == SelfCheck::FirstPerAuthority
            && hot.jwt_proven.load(Ordering::Acquire)
        {
            svid::JwtSvid::parse_insecure(token).map_err(Error::SelfCheckJwt)?;
            return Ok(());
        }
        let audience = Audience::new(audience.iter().take(1)).map_err(Error::SelfCheckJwt)?;
        hot.jwt_validator
            .validate(
                token,
                &hot.bundles,
                &audience,
                UnixTime::since_unix_epoch(since_epoch(now)),
            )
            .map_err(Error::SelfCheckJwt)?;
        hot.jwt_proven.store(true, Ordering::Release);
        Ok(())
    }

    /// Issues a CA certificate for the key in `csr_der` (a downstream CA of the same trust
    /// domain). Its `notAfter` is capped at this CA's, and its path length at this CA's minus
    /// one; the SAN is this trust domain's ID whatever the CSR asks.
    ///
    /// # Errors
    /// [`Error::Csr`], [`Error::PathLenExhausted`], [`Error::PolicyDenied`],
    /// [`Error::AuthorityNotValid`], signing or audit failures.
    pub fn mint_intermediate_for_csr(
        &self,
        csr_der: &[u8],
        request: &IntermediateRequest,
        now: SystemTime,
    ) -> Result<IssuedCa, Error> {
        let own_id = self.spiffe_id();
        self.admit(
            &own_id,
            request.requester_label(),
            CredentialKind::IntermediateCa,
        )?;
        let backend = self.inner.backend;
        let spki = csr::public_key_of(csr_der, &backend.crypto_backend())?;
        let hot = self.hot()?;
        let authority = &hot.x509;
        let path_len = match authority.path_len {
            Some(0) => return Err(Error::PathLenExhausted),
            Some(parent) => Some(
                request
                    .path_len_limit()
                    .map_or(parent - 1, |r| r.min(parent - 1)),
            ),
            None => request.path_len_limit(),
        };
        let now_s = unix_seconds(now);
        let ttl = request.ttl_or(self.inner.config.ca_ttl);
        let not_after = now_s.saturating_add(ttl.as_secs()).min(authority.not_after);
        if now_s < authority.not_before || not_after <= now_s {
            return Err(Error::AuthorityNotValid);
        }
        let not_before = now_s
            .saturating_sub(x509::BACKDATE_SECONDS)
            .max(authority.not_before);
        let key_id = x509::key_identifier(backend, &spki)?;
        let serial = x509::random_serial(backend)?;
        let subject = x509::ca_subject(&key_id);
        let tbs = x509::ca_tbs(
            &authority.template,
            false,
            &x509::CaFields {
                serial: &serial,
                not_before,
                not_after,
                subject: &subject,
                spki: &spki,
                key_id: &key_id,
                uri: own_id.as_str(),
                path_len,
            },
        );
        let signature = authority.signer.sign(&tbs)?;
        let cert = x509::certificate(&tbs, authority.signer.algorithm(), &signature);
        let mut chain = Vec::with_capacity(1 + authority.chain.len());
        chain.push(CertificateDer::from(cert));
        chain.extend(authority.chain.iter().cloned());
        authority
            .issued_until
            .fetch_max(not_after, Ordering::AcqRel);
        self.audit(&AuditEvent {
            action: AuditAction::IntermediateIssued,
            trust_domain: self.inner.trust_domain.to_string(),
            authority_kind: AuthorityKind::X509,
            authority_id: authority.id.clone(),
            spiffe_id: Some(own_id.to_string()),
            serial: Some(lifecycle::serial_hex(&serial)),
            not_before: Some(not_before),
            not_after: Some(not_after),
            requester: request.requester_label().map(str::to_owned),
            at: now_s,
        })?;
        Ok(IssuedCa {
            chain,
            roots: authority.roots.clone(),
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

    /// Makes a new X.509 authority: a new key with a self-signed certificate, or one signed by
    /// the upstream and checked.
    pub(crate) fn new_x509_authority(&self, now: SystemTime) -> Result<Arc<X509Authority>, Error> {
        let config = &self.inner.config;
        let signer: Arc<dyn Signer> = Arc::new(SoftwareSigner::generate(
            self.inner.backend,
            config.x509_key_type,
        )?);
        let authority = match &self.inner.upstream {
            None => self.self_signed_authority(signer, now)?,
            Some(upstream) => {
                let key_id = x509::key_identifier(self.inner.backend, signer.public_key_spki())?;
                let csr = csr::build(signer.as_ref(), &x509::ca_subject(&key_id))?;
                let issued = upstream.sign_intermediate(&csr, config.ca_ttl, now)?;
                self.accept_upstream(signer, issued, now)?
            }
        };
        self.store_key("x509", &authority.id, authority.signer.as_ref())?;
        Ok(Arc::new(authority))
    }

    fn self_signed_authority(
        &self,
        signer: Arc<dyn Signer>,
        now: SystemTime,
    ) -> Result<X509Authority, Error> {
        let config = &self.inner.config;
        let key_id = x509::key_identifier(self.inner.backend, signer.public_key_spki())?;
        let subject = x509::ca_subject(&key_id);
        let template = IssuerTemplate::new(signer.algorithm(), subject.clone(), &key_id);
        let now_s = unix_seconds(now);
        let not_before = now_s.saturating_sub(x509::BACKDATE_SECONDS);
        let not_after = now_s
            .saturating_add(config.ca_ttl.as_secs())
            .min(crate::time::MAX_X509_SECONDS);
        let serial = x509::random_serial(self.inner.backend)?;
        let uri = self.spiffe_id();
        let tbs = x509::ca_tbs(
            &template,
            true,
            &x509::CaFields {
                serial: &serial,
                not_before,
                not_after,
                subject: &subject,
                spki: signer.public_key_spki(),
                key_id: &key_id,
                uri: uri.as_str(),
                path_len: config.path_len,
            },
        );
        let signature = signer.sign(&tbs)?;
        let cert = CertificateDer::from(x509::certificate(&tbs, signer.algorithm(), &signature));
        Ok(X509Authority {
            id: x509::hex(&key_id),
            signer,
            chain: Vec::new(),
            roots: vec![cert],
            not_before,
            not_after,
            path_len: config.path_len,
            template,
            issued_until: AtomicU64::new(0),
        })
    }

    /// Accepts an upstream-signed certificate for `signer`'s key after checking it: it is a CA
    /// certificate for exactly this key, currently valid, and a probe leaf signed with it
    /// verifies against the returned roots.
    pub(crate) fn accept_upstream(
        &self,
        signer: Arc<dyn Signer>,
        issued: IssuedCa,
        now: SystemTime,
    ) -> Result<X509Authority, Error> {
        let config = &self.inner.config;
        let first = issued.chain.first().ok_or(Error::UpstreamCertificate {
            reason: "empty chain",
        })?;
        if issued.roots.is_empty() {
            return Err(Error::UpstreamCertificate {
                reason: "no roots to verify the chain against",
            });
        }
        let parsed = ParsedCert::parse(first).ok_or(Error::UpstreamCertificate {
            reason: "the certificate does not parse",
        })?;
        if parsed.spki != signer.public_key_spki() {
            return Err(Error::UpstreamCertificate {
                reason: "the certificate is not for this CA's key",
            });
        }
        if !parsed.is_ca {
            return Err(Error::UpstreamCertificate {
                reason: "the certificate is not a CA (cA=false)",
            });
        }
        let now_s = unix_seconds(now);
        if now_s < parsed.not_before || now_s >= parsed.not_after {
            return Err(Error::UpstreamCertificate {
                reason: "the certificate is not valid now",
            });
        }
        let key_id = x509::key_identifier(self.inner.backend, signer.public_key_spki())?;
        let path_len = match (parsed.path_len, config.path_len) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let template = IssuerTemplate::new(signer.algorithm(), parsed.subject.to_vec(), &key_id);
        let authority = X509Authority {
            id: x509::hex(&key_id),
            signer,
            not_before: parsed.not_before,
            not_after: parsed.not_after,
            chain: issued.chain,
            roots: issued.roots,
            path_len,
            template,
            issued_until: AtomicU64::new(0),
        };
        lifecycle::probe(self, &authority, now)?;
        Ok(authority)
    }

    /// Makes a new JWT signing key with a fresh random `kid`.
    pub(crate) fn new_jwt_authority(&self, now: SystemTime) -> Result<Arc<JwtAuthority>, Error> {
        let config = &self.inner.config;
        let (algorithm, key_type) = jwt_key_parameters(config.jwt_algorithm)?;
        let signer: Arc<dyn Signer> = Arc::new(SoftwareSigner::generate_for(
            self.inner.backend,
            key_type,
            algorithm,
        )?);
        let mut kid = [0u8; 16];
        self.inner.backend.fill_random(&mut kid)?;
        let kid = URL_SAFE_NO_PAD.encode(kid);
        let now_s = unix_seconds(now);
        let authority = crate::jwt::authority(
            kid,
            signer,
            config.jwt_algorithm,
            now_s,
            now_s.saturating_add(config.jwt_key_ttl.as_secs()),
        );
        self.store_key("jwt", &authority.kid, authority.signer.as_ref())?;
        Ok(Arc::new(authority))
    }

    fn store_key(&self, kind: &str, id: &str, signer: &dyn Signer) -> Result<(), Error> {
        if let (Some(store), Some(pkcs8)) = (&self.inner.store, signer.pkcs8_for_storage()) {
            store.put_key(&lifecycle::key_name(kind, id), pkcs8)?;
        }
        Ok(())
    }
}

impl UpstreamAuthority for CertificateAuthority {
    fn sign_intermediate(
        &self,
        csr: &[u8],
        ttl: Duration,
        now: SystemTime,
    ) -> Result<IssuedCa, Error> {
        self.mint_intermediate_for_csr(csr, &IntermediateRequest::new().ttl(ttl), now)
    }
}

pub(crate) struct Issued {
    /// DER INTEGER.
    serial: Vec<u8>,
    not_before: u64,
    not_after: u64,
}

pub(crate) fn since_epoch(now: SystemTime) -> Duration {
    now.duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
}
