//! Peer X.509-SVID verification (X509-SVID 5; digest 2.6).

use std::borrow::Cow;
use std::cell::Cell;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use rustls_pki_types::{
    CertificateDer, Der, SignatureVerificationAlgorithm, TrustAnchor, UnixTime,
};
use spiffe_id::{SpiffeId, TrustDomain};
use trust_bundle::{X509Bundle, X509BundleSource};
use webpki::{EndEntityCert, KeyPurposeIdIter, VerifiedPath};

use crate::Crypto;
use crate::cache::{self, ResultCache, Validity};
use crate::error::{ChainPosition, Error, Oid, ProfileError, VerifyError};
use crate::x509::fields::CertFields;
use crate::x509::profile::{self, LeafOf};

/// The TLS role a certificate is verified for, which decides the extended key usage it needs.
///
/// Outside TLS there is no role, so [`X509Verifier::new`] starts with [`Usage::Any`]; a TLS
/// verifier sets its role with [`X509Verifier::with_usage`] (`tls-integration` does).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Usage {
    /// No role: extended key usage is not checked (as go-spiffe's `x509svid.Verify`).
    #[default]
    Any,
    /// A TLS server: if the certificates carry extKeyUsage, it must include serverAuth.
    ServerAuth,
    /// A TLS client: if the certificates carry extKeyUsage, it must include clientAuth.
    ClientAuth,
}

/// A peer X.509-SVID that passed verification. Only the verifier builds it.
///
/// Cloning is cheap (two reference counts), so a cached result costs nothing to hand out.
#[derive(Clone, Debug)]
pub struct VerifiedX509Svid {
    spiffe_id: SpiffeId,
    path: Arc<[CertificateDer<'static>]>,
    /// Latest `notBefore` on the path, seconds since the epoch.
    valid_from: u64,
    expires_at: UnixTime,
}

impl VerifiedX509Svid {
    /// The peer's SPIFFE ID, taken from the leaf's only URI SAN.
    pub fn spiffe_id(&self) -> &SpiffeId {
        &self.spiffe_id
    }

    /// The verified path: the leaf, the intermediates used, and the bundle authority it chains
    /// to, in that order.
    pub fn path(&self) -> &[CertificateDer<'static>] {
        &self.path
    }

    /// The earliest `notAfter` on the path: the result is worthless after this instant.
    pub fn expires_at(&self) -> UnixTime {
        self.expires_at
    }
}

/// One bundle authority that may anchor a path, with the constraints webpki does not apply to
/// anchors (it treats them as a bare name and key).
struct Anchor {
    /// Position of the authority in the bundle, to name it in errors.
    bundle_index: usize,
    not_before: u64,
    not_after: u64,
    path_len: Option<u8>,
    der: CertificateDer<'static>,
    /// The subject Name's content, to compare with a child's issuer.
    subject: Vec<u8>,
    /// The subjectKeyIdentifier, to compare with a child's authorityKeyIdentifier.
    key_id: Option<Vec<u8>>,
}

impl Anchor {
    /// Whether this authority may have issued `child`, judged without a signature check: its
    /// subject is the child's issuer (byte for byte, as webpki compares them), and when both
    /// carry key identifiers, the child's authorityKeyIdentifier is this authority's
    /// subjectKeyIdentifier. A mismatch means another key, as OpenSSL's `X509_check_issued`
    /// decides (`X509_V_ERR_AKID_SKID_MISMATCH`); a missing identifier on either side falls
    /// back to the name alone.
    fn may_issue(&self, child: &CertFields<'_>) -> bool {
        self.subject == child.issuer
            && match (child.authority_key_id, self.key_id.as_deref()) {
                (Some(authority_key_id), Some(key_id)) => authority_key_id == key_id,
                _ => true,
            }
    }
}

/// Trust anchors built from one bundle, once per bundle generation.
struct AnchorSet {
    generation: u64,
    anchors: Vec<TrustAnchor<'static>>,
    constraints: Vec<Anchor>,
}

impl AnchorSet {
    /// Keeps only authorities that are CA certificates (cA=true, keyCertSign): a bundle entry
    /// that could not sign certificates can never anchor a path (X509-SVID 4.1, 4.3).
    fn build(bundle: &X509Bundle) -> Self {
        let mut anchors = Vec::new();
        let mut constraints = Vec::new();
        for (bundle_index, der) in bundle.authorities().iter().enumerate() {
            let Ok(fields) = CertFields::parse(der) else {
                continue;
            };
            if profile::check_ca(&fields).is_err() {
                continue;
            }
            let Ok(anchor) = webpki::anchor_from_trusted_cert(der) else {
                continue;
            };
            anchors.push(anchor.to_owned());
            constraints.push(Anchor {
                bundle_index,
                not_before: fields.not_before,
                not_after: fields.not_after,
                path_len: fields.basic_constraints.and_then(|bc| bc.path_len),
                der: der.clone(),
                subject: fields.subject.to_vec(),
                key_id: fields.subject_key_id.map(<[u8]>::to_vec),
            });
        }
        Self {
            generation: bundle.generation(),
            anchors,
            constraints,
        }
    }

    /// The authorities that may have issued the leaf or one of the presented intermediates
    /// ([`Anchor::may_issue`]), chosen before any signature check, so that the cost of a
    /// verification does not depend on what else the bundle holds (many authorities sharing
    /// the signer's name cost nothing). Intermediates that do not parse are skipped: the path
    /// checks refuse them anyway. With every authority a candidate, the set is borrowed as is.
    fn candidates<'s>(&'s self, children: &[CertFields<'_>]) -> Candidates<'s> {
        let chosen: Vec<usize> = self
            .constraints
            .iter()
            .enumerate()
            .filter(|(_, anchor)| children.iter().any(|child| anchor.may_issue(child)))
            .map(|(index, _)| index)
            .collect();
        if chosen.len() == self.anchors.len() {
            return Candidates {
                anchors: Cow::Borrowed(&self.anchors),
                index: None,
            };
        }
        let anchors = chosen
            .iter()
            .filter_map(|&index| self.anchors.get(index))
            .map(|anchor| TrustAnchor {
                subject: Der::from(anchor.subject.as_ref()),
                subject_public_key_info: Der::from(anchor.subject_public_key_info.as_ref()),
                name_constraints: anchor
                    .name_constraints
                    .as_ref()
                    .map(|nc| Der::from(nc.as_ref())),
            })
            .collect();
        Candidates {
            anchors: Cow::Owned(anchors),
            index: Some(chosen),
        }
    }
}

/// The trust anchors handed to webpki for one verification, borrowing from an [`AnchorSet`].
struct Candidates<'s> {
    anchors: Cow<'s, [TrustAnchor<'s>]>,
    /// For each candidate, its index in the [`AnchorSet`]; `None` when all are candidates.
    index: Option<Vec<usize>>,
}

impl Candidates<'_> {
    /// The [`AnchorSet`] index of the candidate webpki anchored a path at.
    fn set_index(&self, anchor: &TrustAnchor<'_>) -> Option<usize> {
        let position = self.anchors.iter().position(|a| core::ptr::eq(a, anchor))?;
        match &self.index {
            None => Some(position),
            Some(index) => index.get(position).copied(),
        }
    }
}

/// Verifies peer X.509-SVIDs against a bundle source, caching trust anchors per bundle update.
///
/// The bundle is chosen by the leaf's own trust domain and never pooled with others (X509-SVID
/// 5; digest 2.6 step 5). Chains are built and signatures checked by rustls-webpki with the
/// crypto provider's algorithms; the SPIFFE profile rules (exactly one URI SAN, non-root path, leaf not a
/// CA, key usage) and the CA constraints of every certificate on the path, the bundle authority
/// included, are checked here. There is no hostname check and no hidden clock.
pub struct X509Verifier<S> {
    source: S,
    algorithms: &'static [&'static dyn SignatureVerificationAlgorithm],
    usage: Usage,
    anchors: RwLock<HashMap<TrustDomain, Arc<AnchorSet>>>,
    results: Option<ResultCache<Vec<CertificateDer<'static>>, VerifiedX509Svid>>,
}

impl<S: X509BundleSource> X509Verifier<S> {
    /// A verifier over `source` using `crypto`'s signature algorithms, for [`Usage::Any`]
    /// (extended key usage unchecked, as outside TLS); see [`with_usage`](Self::with_usage).
    pub fn new(source: S, crypto: &Crypto) -> Self {
        Self {
            source,
            algorithms: crypto.algorithms(),
            usage: Usage::Any,
            anchors: RwLock::new(HashMap::new()),
            results: None,
        }
    }

    /// Remembers up to `capacity` verification results, so verifying the same chain again costs
    /// a hash and a comparison instead of a signature check. A result is reused only for the
    /// identical chain, while the source's generation is unchanged and `now` is inside the
    /// path's validity window; see [the crate docs](crate#caching).
    #[must_use]
    pub fn with_result_cache(mut self, capacity: usize) -> Self {
        self.results = Some(ResultCache::new(capacity));
        self
    }

    /// Verifies for the TLS role `usage`: a leaf that carries extKeyUsage must then include
    /// that role's purpose (X509-SVID 4.4). Set it before the first verification: results
    /// cached earlier were checked for the previous usage and are dropped.
    #[must_use]
    pub fn with_usage(mut self, usage: Usage) -> Self {
        self.usage = usage;
        if let Some(cache) = &mut self.results {
            *cache = ResultCache::new(cache.capacity());
        }
        self
    }

    /// The TLS role chains are verified for.
    pub fn usage(&self) -> Usage {
        self.usage
    }

    /// The bundle source.
    pub fn source(&self) -> &S {
        &self.source
    }

    /// Verifies `chain` (leaf first) at `now`.
    ///
    /// # Errors
    /// [`Error::Profile`] for a leaf that is not an X.509-SVID, [`Error::Verify`] when the chain
    /// does not verify against the leaf trust domain's bundle.
    pub fn verify(
        &self,
        chain: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<VerifiedX509Svid, Error> {
        let Some(cache) = &self.results else {
            return self.verify_uncached(chain, now);
        };
        // Read the generation before verifying: if the bundles change meanwhile, the entry is
        // stored under the old generation and never served. The verifier owns its source and
        // its settings (usage, algorithms) are fixed at construction and its cache is not shared,
        // so the chain and the generation are the whole key.
        let generation = self.source.generation();
        let fingerprint = cache::fingerprint(chain.iter().map(|c| c.as_ref()), 0u8);
        let same_chain = |stored: &Vec<CertificateDer<'static>>| {
            stored.len() == chain.len()
                && stored
                    .iter()
                    .zip(chain)
                    .all(|(a, b)| a.as_ref() == b.as_ref())
        };
        if let Some((stored, hit)) = cache.get(fingerprint, same_chain, now) {
            if stored == generation {
                return Ok(hit);
            }
        }
        let verified = self.verify_uncached(chain, now)?;
        let validity = Validity {
            generation,
            from: verified.valid_from,
            until: verified.expires_at.as_secs(),
        };
        let owned = chain.iter().map(|c| c.clone().into_owned()).collect();
        cache.insert(fingerprint, owned, validity, verified.clone(), now);
        Ok(verified)
    }

    fn verify_uncached(
        &self,
        chain: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<VerifiedX509Svid, Error> {
        let LeafOf {
            leaf,
            intermediates,
            fields,
            spiffe_id,
        } = profile::leaf_of(chain)?;
        check_leaf_usage(&fields, self.usage)?;
        let trust_domain = spiffe_id.trust_domain();
        let bundle =
            self.source
                .x509_bundle(&trust_domain)
                .ok_or_else(|| VerifyError::NoBundle {
                    trust_domain: trust_domain.clone(),
                })?;
        let anchors = self.anchors_for(&trust_domain, &bundle);
        if anchors.anchors.is_empty() {
            return Err(VerifyError::NoAuthorities { trust_domain }.into());
        }
        let children: Vec<CertFields<'_>> = core::iter::once(fields.clone())
            .chain(
                intermediates
                    .iter()
                    .filter_map(|cert| CertFields::parse(cert).ok()),
            )
            .collect();
        let candidates = anchors.candidates(&children);
        verify_path(
            leaf,
            intermediates,
            &fields,
            spiffe_id,
            (&anchors, &candidates),
            self.algorithms,
            now,
        )
    }

    /// The anchors of `bundle`, rebuilt only when its generation changed.
    fn anchors_for(&self, trust_domain: &TrustDomain, bundle: &X509Bundle) -> Arc<AnchorSet> {
        let generation = bundle.generation();
        if let Ok(cache) = self.anchors.read() {
            if let Some(set) = cache
                .get(trust_domain)
                .filter(|s| s.generation == generation)
            {
                return Arc::clone(set);
            }
        }
        let set = Arc::new(AnchorSet::build(bundle));
        if let Ok(mut cache) = self.anchors.write() {
            cache.insert(trust_domain.clone(), Arc::clone(&set));
        }
        set
    }
}

impl<S> core::fmt::Debug for X509Verifier<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("X509Verifier")
            .field("usage", &self.usage)
            .finish_non_exhaustive()
    }
}

/// Verifies `chain` once, without caching anything: builds trust anchors from the bundle on
/// every call. Prefer an [`X509Verifier`] for repeated verifications.
///
/// # Errors
/// As [`X509Verifier::verify`].
pub fn verify(
    chain: &[CertificateDer<'_>],
    bundles: &dyn X509BundleSource,
    crypto: &Crypto,
    usage: Usage,
    now: UnixTime,
) -> Result<VerifiedX509Svid, Error> {
    X509Verifier::new(bundles, crypto)
        .with_usage(usage)
        .verify(chain, now)
}

fn verify_path(
    leaf: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    leaf_fields: &CertFields<'_>,
    spiffe_id: SpiffeId,
    (anchors, candidates): (&AnchorSet, &Candidates<'_>),
    algorithms: &[&dyn SignatureVerificationAlgorithm],
    now: UnixTime,
) -> Result<VerifiedX509Svid, Error> {
    let end_entity = EndEntityCert::try_from(leaf)
        .map_err(|e| Error::Verify(locate(e, leaf_fields, intermediates)))?;
    // The reason our own path checks refused the last candidate path, so the error names the
    // SPIFFE rule rather than webpki's generic "no path".
    let refused = Cell::new(None);
    let accepted = Cell::new(None);
    let check = |path: &VerifiedPath<'_>| -> Result<(), webpki::Error> {
        match check_path(path, anchors, candidates, now) {
            Ok(index) => {
                accepted.set(Some(index));
                Ok(())
            }
            Err(reason) => {
                refused.set(Some(reason));
                Err(webpki::Error::UnknownIssuer)
            }
        }
    };
    let verified = end_entity
        .verify_for_usage(
            algorithms,
            &candidates.anchors,
            intermediates,
            now,
            LeafOnlyEku,
            None,
            Some(&check),
        )
        .map_err(|e| match refused.take() {
            Some(reason) if matches!(e, webpki::Error::UnknownIssuer) => Error::Verify(reason),
            _ => Error::Verify(locate(e, leaf_fields, intermediates)),
        })?;

    let anchor = accepted
        .take()
        .and_then(|i| anchors.constraints.get(i))
        .ok_or(VerifyError::UnknownIssuer)?;
    let mut path = Vec::with_capacity(2 + intermediates.len());
    let mut valid_from = leaf_fields.not_before.max(anchor.not_before);
    let mut expires_at = leaf_fields.not_after.min(anchor.not_after);
    path.push(leaf.clone().into_owned());
    for cert in verified.intermediate_certificates() {
        let der = cert.der();
        if let Ok(fields) = CertFields::parse(&der) {
            valid_from = valid_from.max(fields.not_before);
            expires_at = expires_at.min(fields.not_after);
        }
        path.push(der.into_owned());
    }
    path.push(anchor.der.clone());
    Ok(VerifiedX509Svid {
        spiffe_id,
        path: path.into(),
        valid_from,
        expires_at: UnixTime::since_unix_epoch(core::time::Duration::from_secs(expires_at)),
    })
}

/// Maps a webpki verdict, naming the certificate it is about when webpki does not: the one whose
/// `notAfter` / `notBefore` webpki reports, or the first with a critical extension webpki does
/// not process. Intermediates that do not parse are skipped (webpki refuses them anyway).
fn locate(
    error: webpki::Error,
    leaf: &CertFields<'_>,
    intermediates: &[CertificateDer<'_>],
) -> VerifyError {
    let parsed: Vec<(ChainPosition, CertFields<'_>)> =
        core::iter::once((ChainPosition::Leaf, leaf.clone()))
            .chain(intermediates.iter().enumerate().filter_map(|(i, der)| {
                let fields = CertFields::parse(der).ok()?;
                Some((ChainPosition::Intermediate { index: i + 1 }, fields))
            }))
            .collect();
    let find = |pred: &dyn Fn(&CertFields<'_>) -> bool| {
        parsed
            .iter()
            .find(|(_, fields)| pred(fields))
            .map_or(ChainPosition::Leaf, |(position, _)| *position)
    };
    match error {
        webpki::Error::CertExpired { not_after, .. } => VerifyError::Expired {
            certificate: find(&|f| f.not_after == not_after.as_secs()),
            not_after,
        },
        webpki::Error::CertNotValidYet { not_before, .. } => VerifyError::NotYetValid {
            certificate: find(&|f| f.not_before == not_before.as_secs()),
            not_before,
        },
        webpki::Error::UnsupportedCriticalExtension => parsed
            .iter()
            .find_map(|(position, fields)| Some((*position, fields.unsupported_critical?)))
            .map_or_else(
                || VerifyError::from_webpki(error),
                |(certificate, oid)| VerifyError::UnsupportedCriticalExtension {
                    certificate,
                    oid: Oid::from_der_content(oid),
                },
            ),
        other => VerifyError::from_webpki(other),
    }
}

/// The checks webpki leaves to us on a candidate path: every intermediate is a CA with
/// keyCertSign, and the anchor is within its validity period and path length. Returns the index
/// of the anchor used.
fn check_path(
    path: &VerifiedPath<'_>,
    anchors: &AnchorSet,
    candidates: &Candidates<'_>,
    now: UnixTime,
) -> Result<usize, VerifyError> {
    let mut intermediate_count = 0usize;
    for cert in path.intermediate_certificates() {
        intermediate_count += 1;
        let der = cert.der();
        let fields = CertFields::parse(&der).map_err(|_| VerifyError::UnknownIssuer)?;
        profile::check_ca(&fields).map_err(VerifyError::IntermediateNotCa)?;
    }
    let index = candidates
        .set_index(path.anchor())
        .ok_or(VerifyError::UnknownIssuer)?;
    let anchor = anchors
        .constraints
        .get(index)
        .ok_or(VerifyError::UnknownIssuer)?;
    let at = |secs| UnixTime::since_unix_epoch(core::time::Duration::from_secs(secs));
    let now = now.as_secs();
    if now < anchor.not_before {
        return Err(VerifyError::AuthorityNotYetValid {
            index: anchor.bundle_index,
            not_before: at(anchor.not_before),
        });
    }
    if now > anchor.not_after {
        return Err(VerifyError::AuthorityExpired {
            index: anchor.bundle_index,
            not_after: at(anchor.not_after),
        });
    }
    if anchor
        .path_len
        .is_some_and(|max| intermediate_count > usize::from(max))
    {
        return Err(VerifyError::PathLenExceeded);
    }
    Ok(index)
}

/// Checks the leaf's extended key usage for the role (X509-SVID 4.4). Absent EKU is fine (it is
/// only a SHOULD); a present one must include the role's purpose or anyExtendedKeyUsage. Only the
/// leaf is checked: a CA's EKU does not restrict its subtree (digest 2.6), matching go-spiffe,
/// which ignores EKU altogether.
fn check_leaf_usage(fields: &CertFields<'_>, usage: Usage) -> Result<(), VerifyError> {
    let Some(eku) = fields.ext_key_usage else {
        return Ok(());
    };
    let allowed = match usage {
        Usage::Any => true,
        Usage::ServerAuth => eku.server_auth || eku.any,
        Usage::ClientAuth => eku.client_auth || eku.any,
    };
    if allowed {
        Ok(())
    } else {
        Err(VerifyError::WrongUsage)
    }
}

/// Lets webpki's per-certificate EKU check pass: [`check_leaf_usage`] decides instead.
struct LeafOnlyEku;

impl webpki::ExtendedKeyUsageValidator for LeafOnlyEku {
    fn validate(&self, _: KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        Ok(())
    }
}

impl From<VerifyError> for Error {
    fn from(error: VerifyError) -> Self {
        Self::Verify(error)
    }
}

impl From<ProfileError> for VerifyError {
    fn from(error: ProfileError) -> Self {
        Self::IntermediateNotCa(error)
    }
}
