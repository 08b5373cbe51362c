//! [`BundleSet`]: the bundles of several trust domains, and the SPIFFE bundle map format
//! (SPIFFE bundle 5).

use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::fmt;
use std::sync::Arc;

use spiffe_id::TrustDomain;

use crate::generation::next_generation;
use crate::json::{self, ObjectWriter, ParseError, Segment, Value};
use crate::jwk::IgnoredKey;
use crate::keys::json_error;
use crate::{
    Error, JwtBundle, JwtBundleSource, MAX_BUNDLE_MAP_BYTES, MAX_JSON_VALUES_PER_MAP,
    MAX_TRUST_DOMAINS_PER_MAP, SpiffeBundle, X509Bundle, X509BundleSource,
};

/// The member of a bundle map that holds the bundles.
const TRUST_DOMAINS: &str = "trust_domains";

/// The bundles of several trust domains, each reachable only through its own trust domain
/// (SPIFFE bundle 3; Federation 4.2, 7.3): bundles are never pooled or merged.
///
/// A set is immutable once built and cheap to clone (one `Arc`). Every set that is built gets
/// a new [generation](Self::generation), which verifiers can key caches on. Equality compares
/// the bundles, not the generation.
///
/// ```
/// use trust_bundle::{BundleSet, JwtBundleSource, X509BundleSource};
///
/// let json = br#"{"trust_domains": {
///   "example.org": {"keys": [{"kty": "EC", "use": "jwt-svid", "kid": "k1", "crv": "P-256",
///       "x": "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE",
///       "y": "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI"}]},
///   "partner.example": {"keys": []}
/// }}"#;
/// let set = BundleSet::parse_bundle_map(json)?;
/// assert_eq!(set.ignored().count(), 0);
/// assert_eq!(set.len(), 2);
///
/// // Look up by trust domain, or by name.
/// let td = "example.org".parse()?;
/// assert!(set.jwt_bundle(&td).is_some_and(|b| b.key("k1").is_some()));
/// assert!(set.get("partner.example").is_some_and(|b| b.is_empty()));
/// assert!(set.x509_bundle(&"unknown.example".parse()?).is_none());
///
/// // A trust domain named twice rejects the whole map (SPIFFE bundle 5.1.1).
/// let dup = br#"{"trust_domains": {"a.example": {"keys": []}, "a.example": {"keys": []}}}"#;
/// assert!(matches!(
///     BundleSet::parse_bundle_map(dup),
///     Err(trust_bundle::Error::DuplicateTrustDomain { .. })
/// ));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct BundleSet {
    bundles: Arc<BTreeMap<TrustDomain, Arc<SpiffeBundle>>>,
    generation: u64,
}

impl BundleSet {
    /// A set without bundles: every trust domain is unknown.
    pub fn new() -> Self {
        Self::from_map(BTreeMap::new())
    }

    /// Builds a set from bundles of distinct trust domains: [`SpiffeBundle`]s, or the
    /// [`X509Bundle`]s or [`JwtBundle`]s of the Workload API as they are.
    ///
    /// # Errors
    /// [`Error::DuplicateTrustDomain`] if two bundles have the same trust domain.
    pub fn from_bundles<I>(bundles: I) -> Result<Self, Error>
    where
        I: IntoIterator,
        I::Item: Into<Arc<SpiffeBundle>>,
    {
        let mut map = BTreeMap::new();
        for bundle in bundles {
            let bundle = bundle.into();
            match map.entry(bundle.trust_domain().clone()) {
                Entry::Vacant(slot) => {
                    slot.insert(bundle);
                }
                Entry::Occupied(slot) => {
                    return Err(Error::DuplicateTrustDomain {
                        name: slot.key().as_str().to_owned(),
                    });
                }
            }
        }
        Ok(Self::from_map(map))
    }

    /// Parses a SPIFFE bundle map, `{"trust_domains": {"<name>": <bundle>, ...}}`. The entries
    /// each bundle skipped are reported by [`BundleSet::ignored`].
    ///
    /// The rules (SPIFFE bundle 5.1.1; digest 4.5):
    /// - `trust_domains` must be present and an object; `null` counts as missing (B-9). It
    ///   may be empty.
    /// - Keys are bare trust domain names (`example.org`, not `spiffe://example.org`), each
    ///   validated.
    /// - A trust domain named twice rejects the whole map (B-8), as does a repeated member
    ///   name anywhere else in the document.
    /// - Each bundle is read as by [`SpiffeBundle::parse`]; one invalid bundle rejects the
    ///   whole map, which is loaded as one complete state (Appendix B.1).
    /// - A bundle's own `spiffe_refresh_hint` is kept and visible through
    ///   [`SpiffeBundle::refresh_hint`], but it does not govern how often the map is
    ///   refreshed, and the set does not expose it as a refresh interval (B-10).
    ///
    /// # Errors
    /// [`Error::TooLarge`] over [`MAX_BUNDLE_MAP_BYTES`](crate::MAX_BUNDLE_MAP_BYTES) (checked
    /// before parsing), [`Error::Json`], [`Error::DuplicateTrustDomain`],
    /// [`Error::DuplicateJsonKey`], [`Error::TooManyJsonValues`], [`Error::NotAnObject`],
    /// [`Error::MissingTrustDomains`], [`Error::TooManyTrustDomains`],
    /// [`Error::BadTrustDomainKey`], or [`Error::BundleMapEntry`] wrapping the error of one
    /// bundle.
    pub fn parse_bundle_map(json: impl AsRef<[u8]>) -> Result<Self, Error> {
        let json = json.as_ref();
        if json.len() > MAX_BUNDLE_MAP_BYTES {
            return Err(Error::TooLarge {
                len: json.len(),
                max: MAX_BUNDLE_MAP_BYTES,
            });
        }
        let document = json::parse(json, MAX_JSON_VALUES_PER_MAP).map_err(|error| match error {
            ParseError::DuplicateKey(path) => match path.as_slice() {
                [Segment::Key(member), Segment::Key(name)] if member == TRUST_DOMAINS => {
                    Error::DuplicateTrustDomain { name: name.clone() }
                }
                _ => Error::DuplicateJsonKey {
                    pointer: json::pointer(&path),
                },
            },
            other => json_error(other, MAX_JSON_VALUES_PER_MAP),
        })?;
        let document = document
            .as_object()
            .ok_or(Error::NotAnObject { what: "bundle map" })?;
        let trust_domains = match document.get(TRUST_DOMAINS) {
            None => return Err(Error::MissingTrustDomains),
            Some(Value::Object(trust_domains)) => trust_domains,
            Some(_) => {
                return Err(Error::NotAnObject {
                    what: TRUST_DOMAINS,
                });
            }
        };
        if trust_domains.iter().len() > MAX_TRUST_DOMAINS_PER_MAP {
            return Err(Error::TooManyTrustDomains {
                max: MAX_TRUST_DOMAINS_PER_MAP,
            });
        }

        let mut bundles = BTreeMap::new();
        for (name, bundle) in trust_domains.iter() {
            let trust_domain =
                TrustDomain::parse(name).map_err(|source| Error::BadTrustDomainKey {
                    key: name.to_owned(),
                    source,
                })?;
            let bundle =
                SpiffeBundle::from_value(trust_domain.clone(), bundle).map_err(|source| {
                    Error::BundleMapEntry {
                        trust_domain: trust_domain.clone(),
                        source: Box::new(source),
                    }
                })?;
            // Names are unique: the JSON parser refused repeated member names.
            bundles.insert(trust_domain, Arc::new(bundle));
        }
        Ok(Self::from_map(bundles))
    }

    /// The entries each bundle's parse skipped ([`SpiffeBundle::ignored`]), with their trust
    /// domain, in trust domain order.
    pub fn ignored(&self) -> impl Iterator<Item = (&TrustDomain, &IgnoredKey)> {
        self.bundles.iter().flat_map(|(trust_domain, bundle)| {
            bundle
                .ignored()
                .iter()
                .map(move |ignored| (trust_domain, ignored))
        })
    }

    /// Writes the set as a SPIFFE bundle map, trust domains in name order. Each bundle is
    /// written as by [`SpiffeBundle::to_json`] but without `spiffe_refresh_hint`, which
    /// producers should leave out of maps (SPIFFE bundle 5.1.1).
    pub fn to_bundle_map_json(&self) -> String {
        let mut out = String::new();
        let mut document = ObjectWriter::new(&mut out);
        let mut trust_domains = ObjectWriter::new(document.member(TRUST_DOMAINS));
        for (trust_domain, bundle) in self.bundles.iter() {
            bundle.write(trust_domains.member(trust_domain.as_str()), false);
        }
        trust_domains.finish();
        document.finish();
        out
    }

    fn from_map(bundles: BTreeMap<TrustDomain, Arc<SpiffeBundle>>) -> Self {
        Self {
            bundles: Arc::new(bundles),
            generation: next_generation(),
        }
    }

    /// The bundle of a trust domain, looked up by [`TrustDomain`] or by its name as `&str`.
    pub fn get<Q>(&self, trust_domain: &Q) -> Option<&Arc<SpiffeBundle>>
    where
        TrustDomain: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.bundles.get(trust_domain)
    }

    /// Whether the set has a bundle for the trust domain.
    pub fn contains<Q>(&self, trust_domain: &Q) -> bool
    where
        TrustDomain: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.bundles.contains_key(trust_domain)
    }

    /// The bundles, in trust domain name order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&TrustDomain, &Arc<SpiffeBundle>)> {
        self.bundles.iter()
    }

    /// The trust domains, in name order.
    pub fn trust_domains(&self) -> impl ExactSizeIterator<Item = &TrustDomain> {
        self.bundles.keys()
    }

    /// The number of trust domains.
    pub fn len(&self) -> usize {
        self.bundles.len()
    }

    /// Whether the set has no bundles.
    pub fn is_empty(&self) -> bool {
        self.bundles.is_empty()
    }

    /// A number taken from a process-wide counter when this set was built; clones share it,
    /// and no other set or bundle in the process has it. See
    /// [`X509BundleSource::generation`].
    pub fn generation(&self) -> u64 {
        self.generation
    }
}

impl Default for BundleSet {
    fn default() -> Self {
        Self::new()
    }
}

impl PartialEq for BundleSet {
    fn eq(&self, other: &Self) -> bool {
        self.bundles == other.bundles
    }
}

impl Eq for BundleSet {}

impl fmt::Debug for BundleSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BundleSet")
            .field("bundles", &self.bundles.values().collect::<Vec<_>>())
            .field("generation", &self.generation)
            .finish()
    }
}

impl X509BundleSource for BundleSet {
    fn x509_bundle(&self, trust_domain: &TrustDomain) -> Option<Arc<X509Bundle>> {
        self.bundles
            .get(trust_domain)
            .map(|bundle| Arc::clone(bundle.x509_bundle()))
    }

    fn generation(&self) -> u64 {
        self.generation
    }
}

impl JwtBundleSource for BundleSet {
    fn jwt_bundle(&self, trust_domain: &TrustDomain) -> Option<Arc<JwtBundle>> {
        self.bundles
            .get(trust_domain)
            .map(|bundle| Arc::clone(bundle.jwt_bundle()))
    }

    fn generation(&self) -> u64 {
        self.generation
    }
}
