//! [`JwtBundle`]: the JWT authorities of one trust domain.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use spiffe_id::TrustDomain;

use crate::generation::next_generation;
use crate::json::{ArrayWriter, ObjectWriter};
use crate::jwk::{self, IgnoredKey, Profile};
use crate::keys::{KeysMember, parse_document};
use crate::{Error, JwtKey, MAX_KEYS_PER_BUNDLE};

/// The JWT authorities of one trust domain: public keys by key ID (`kid`), for that domain's
/// JWT-SVIDs and nothing else (SPIFFE bundle 3; digest W-API-11).
///
/// Keys are decoded once, when the bundle is built, into [`JwtKey`]s ready for a crypto
/// backend. An empty bundle is valid and authenticates nothing (SPIFFE bundle 4.1.3; digest
/// B-7).
///
/// The value is immutable and cheap to clone (the keys are shared). Equality compares the trust
/// domain and the keys, not the [generation](Self::generation).
///
/// ```
/// use trust_bundle::{EcCurve, JwtBundle, JwtKey};
///
/// // A Workload API JWT bundle: SPIRE leaves `use` out (digest 5.4).
/// let json = br#"{"keys": [{
///     "kty": "EC", "kid": "k1", "crv": "P-256",
///     "x": "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE",
///     "y": "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI"
/// }]}"#;
/// let bundle = JwtBundle::parse_workload_api("example.org".parse()?, json)?;
/// assert!(bundle.ignored().is_empty());
/// let Some(JwtKey::Ec(key)) = bundle.key("k1") else { panic!("EC key expected") };
/// assert_eq!(key.curve(), EcCurve::P256);
/// assert_eq!(key.x(), &[1; 32]);
/// assert!(bundle.key("k2").is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct JwtBundle {
    trust_domain: TrustDomain,
    keys: Arc<BTreeMap<String, JwtKey>>,
    /// Entries of the parsed document that carried a `kid` but were skipped, by their full
    /// `kid`, so a validator can say why a token's key is missing instead of "unknown kid".
    ignored: Arc<BTreeMap<String, IgnoredKey>>,
    /// Every entry of the parsed document that was skipped, in document order.
    report: Arc<[IgnoredKey]>,
    generation: u64,
}

impl JwtBundle {
    /// An empty bundle: the trust domain has no JWT authorities.
    pub fn new(trust_domain: TrustDomain) -> Self {
        Self::from_checked(trust_domain, BTreeMap::new())
    }

    /// Builds a bundle from keys and their IDs.
    ///
    /// # Errors
    /// [`Error::EmptyKeyId`], [`Error::DuplicateKeyId`] or [`Error::TooManyKeys`].
    pub fn from_keys<I, K>(trust_domain: TrustDomain, keys: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = (K, JwtKey)>,
        K: Into<String>,
    {
        let mut map = BTreeMap::new();
        for (kid, key) in keys {
            let kid = kid.into();
            if kid.is_empty() {
                return Err(Error::EmptyKeyId);
            }
            if map.len() >= MAX_KEYS_PER_BUNDLE {
                return Err(Error::TooManyKeys {
                    max: MAX_KEYS_PER_BUNDLE,
                });
            }
            if map.contains_key(&kid) {
                return Err(Error::DuplicateKeyId { kid });
            }
            map.insert(kid, key);
        }
        Ok(Self::from_checked(trust_domain, map))
    }

    /// Parses a JWT bundle as the Workload API delivers it (`JWTBundlesResponse`, a JWK Set
    /// per trust domain).
    ///
    /// SPIRE sends a standard JWKS without `use` and without the `spiffe_*` members, so an
    /// entry without `use` is taken as a JWT authority (digest 5.4, 8.4 item 11). An entry
    /// whose `use` is present and not `jwt-svid` is ignored: these bundles hold JWT keys only
    /// (Workload API 6.2.2; digest W-API-7). Everything else follows
    /// [`SpiffeBundle::parse`](crate::SpiffeBundle::parse): `keys` is required, entries that
    /// cannot be used are skipped and reported by [`JwtBundle::ignored`], not fatal.
    ///
    /// # Errors
    /// As [`SpiffeBundle::parse`](crate::SpiffeBundle::parse), except that `spiffe_sequence`
    /// and `spiffe_refresh_hint` are not read.
    pub fn parse_workload_api(
        trust_domain: TrustDomain,
        json: impl AsRef<[u8]>,
    ) -> Result<Self, Error> {
        let document = parse_document(json.as_ref())?;
        let keys = KeysMember::read(&document)?;
        let decoded = jwk::decode_keys(&trust_domain, keys.entries, Profile::WorkloadApiJwt);
        let report = Arc::from(decoded.ignored);
        Ok(Self::from_checked(trust_domain, decoded.jwt_keys)
            .with_ignored(report, decoded.ignored_by_kid))
    }

    /// Writes the bundle as a Workload API JWT bundle: a JWK Set whose entries all carry
    /// `use` `jwt-svid` and their `kid`. [`JwtBundle::parse_workload_api`] reads it back.
    pub fn to_workload_api_json(&self) -> String {
        let mut out = String::new();
        let mut document = ObjectWriter::new(&mut out);
        let mut keys = ArrayWriter::new(document.member("keys"));
        self.write_entries(&mut keys);
        keys.finish();
        document.finish();
        out
    }

    pub(crate) fn from_checked(trust_domain: TrustDomain, keys: BTreeMap<String, JwtKey>) -> Self {
        Self {
            trust_domain,
            keys: Arc::new(keys),
            ignored: Arc::default(),
            report: Arc::from([]),
            generation: next_generation(),
        }
    }

    /// Keeps the skipped entries of the document this bundle was parsed from: all of them,
    /// and those with a `kid` by that `kid`.
    pub(crate) fn with_ignored(
        mut self,
        report: Arc<[IgnoredKey]>,
        by_kid: BTreeMap<String, IgnoredKey>,
    ) -> Self {
        self.report = report;
        self.ignored = Arc::new(by_kid);
        self
    }

    /// The trust domain these authorities are for.
    pub fn trust_domain(&self) -> &TrustDomain {
        &self.trust_domain
    }

    /// The key with ID `kid`.
    pub fn key(&self, kid: &str) -> Option<&JwtKey> {
        self.keys.get(kid)
    }

    /// The entry with ID `kid` that the parser of this bundle's document skipped, and why (for
    /// example `use` `wit-svid`, or an unknown `kty`), when no usable key has that ID. Lets a
    /// validator tell "this key was ignored because ..." from "no such key". Only bundles
    /// parsed from a document have these; when several skipped entries share a `kid`, the
    /// first is kept.
    ///
    /// ```
    /// use trust_bundle::{IgnoredReason, SpiffeBundle};
    ///
    /// let json = br#"{"keys": [{"kty": "EC", "use": "wit-svid", "kid": "w1"}]}"#;
    /// let bundle = SpiffeBundle::parse("example.org".parse()?, json)?;
    /// let ignored = bundle.jwt_bundle().ignored_key("w1").expect("kept by kid");
    /// assert_eq!(ignored.reason(), &IgnoredReason::UseNotAccepted { value: "wit-svid".into() });
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn ignored_key(&self, kid: &str) -> Option<&IgnoredKey> {
        self.ignored.get(kid)
    }

    /// Every entry of the document this bundle was parsed from that the parser skipped, and
    /// why, in document order (empty for bundles built from keys). Skipped entries are not
    /// errors (SPIFFE bundle 4.1; digest B-2..B-4), but a bundle that lost keys deserves a log
    /// line.
    pub fn ignored(&self) -> &[IgnoredKey] {
        &self.report
    }

    /// Every key with its ID, ordered by ID.
    pub fn keys(&self) -> impl ExactSizeIterator<Item = (&str, &JwtKey)> {
        self.keys.iter().map(|(kid, key)| (kid.as_str(), key))
    }

    /// The number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there are no keys, so that no JWT-SVID of this trust domain can be valid
    /// (SPIFFE bundle 4.1.3; digest B-7).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// A number taken from a process-wide counter when this bundle was built; clones share it.
    /// See [`JwtBundleSource::generation`](crate::JwtBundleSource::generation).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Appends a `jwt-svid` entry per key to a `keys` array.
    pub(crate) fn write_entries(&self, keys: &mut ArrayWriter<'_>) {
        for (kid, key) in self.keys() {
            jwk::write_jwt_key(keys.item(), kid, key);
        }
    }
}

impl PartialEq for JwtBundle {
    fn eq(&self, other: &Self) -> bool {
        self.trust_domain == other.trust_domain && self.keys == other.keys
    }
}

impl Eq for JwtBundle {}

impl fmt::Debug for JwtBundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtBundle")
            .field("trust_domain", &self.trust_domain)
            .field("kids", &self.keys.keys().collect::<Vec<_>>())
            .field("generation", &self.generation)
            .finish()
    }
}
