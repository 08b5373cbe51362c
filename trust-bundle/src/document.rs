//! [`SpiffeBundle`]: the SPIFFE bundle document of one trust domain (SPIFFE bundle 4).

use std::sync::Arc;
use std::time::Duration;

use spiffe_id::TrustDomain;

use crate::json::{ArrayWriter, Number, ObjectWriter, Value};
use crate::jwk::{self, IgnoredKey, Profile};
use crate::keys::{KeysMember, parse_document};
use crate::{Error, JwtBundle, X509Bundle};

/// The SPIFFE bundle of one trust domain: its X.509 and JWT authorities, kept apart, plus the
/// `spiffe_sequence` and `spiffe_refresh_hint` of the document (SPIFFE bundle 4).
///
/// A bundle document does not name its trust domain, so the caller supplies it and the pairing
/// is kept from then on (SPIFFE bundle 3). The two kinds of authority are separate
/// [`X509Bundle`] and [`JwtBundle`] values behind `Arc`s, so a verifier of one kind never sees
/// keys of the other (digest 8.1, W-API-11).
///
/// ```
/// use std::time::Duration;
/// use trust_bundle::SpiffeBundle;
///
/// let json = br#"{
///   "spiffe_sequence": 9223372036854775813,
///   "spiffe_refresh_hint": 300,
///   "keys": [
///     {"kty": "EC", "use": "jwt-svid", "kid": "k1", "crv": "P-256",
///      "x": "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE",
///      "y": "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI"},
///     {"kty": "OKP", "use": "jwt-svid", "kid": "k2", "crv": "Ed25519", "x": "AAAA"}
///   ]
/// }"#;
/// let bundle = SpiffeBundle::parse("example.org".parse()?, json)?;
/// assert_eq!(bundle.sequence(), Some(9_223_372_036_854_775_813));
/// assert_eq!(bundle.refresh_hint(), Some(Duration::from_secs(300)));
/// assert!(bundle.x509_bundle().is_empty());
/// assert!(bundle.jwt_bundle().key("k1").is_some());
/// // Ed25519 is not a JWT-SVID algorithm: that entry is reported, not fatal.
/// assert_eq!(bundle.ignored().len(), 1);
/// assert_eq!(bundle.ignored()[0].kid(), Some("k2"));
///
/// // Emitting and parsing again gives the same bundle.
/// let again = SpiffeBundle::parse("example.org".parse()?, bundle.to_json())?;
/// assert_eq!(again, bundle);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Equality compares the trust domain, the authorities, the sequence and the refresh hint; not
/// what a parse skipped ([`SpiffeBundle::ignored`]).
#[derive(Clone, Debug)]
pub struct SpiffeBundle {
    x509: Arc<X509Bundle>,
    jwt: Arc<JwtBundle>,
    sequence: Option<u64>,
    refresh_hint: Option<Duration>,
    /// The entries of the parsed document that were skipped, in document order.
    ignored: Arc<[IgnoredKey]>,
}

impl PartialEq for SpiffeBundle {
    fn eq(&self, other: &Self) -> bool {
        self.x509 == other.x509
            && self.jwt == other.jwt
            && self.sequence == other.sequence
            && self.refresh_hint == other.refresh_hint
    }
}

impl Eq for SpiffeBundle {}

impl SpiffeBundle {
    /// A bundle with no authorities, no sequence number and no refresh hint.
    pub fn new(trust_domain: TrustDomain) -> Self {
        Self {
            x509: Arc::new(X509Bundle::new(trust_domain.clone())),
            jwt: Arc::new(JwtBundle::new(trust_domain)),
            sequence: None,
            refresh_hint: None,
            ignored: Arc::from([]),
        }
    }

    /// Combines the X.509 and JWT authorities of one trust domain.
    ///
    /// # Errors
    /// [`Error::TrustDomainMismatch`] if the two parts belong to different trust domains:
    /// bundles of different trust domains are never merged (SPIFFE Federation 4.2).
    pub fn from_parts(
        x509: impl Into<Arc<X509Bundle>>,
        jwt: impl Into<Arc<JwtBundle>>,
    ) -> Result<Self, Error> {
        let (x509, jwt) = (x509.into(), jwt.into());
        if x509.trust_domain() != jwt.trust_domain() {
            return Err(Error::TrustDomainMismatch {
                expected: x509.trust_domain().clone(),
                found: jwt.trust_domain().clone(),
            });
        }
        Ok(Self {
            x509,
            jwt,
            sequence: None,
            refresh_hint: None,
            ignored: Arc::from([]),
        })
    }

    /// Sets `spiffe_sequence`, which publishers must change whenever the contents change
    /// (SPIFFE bundle 4.1.1).
    #[must_use]
    pub fn with_sequence(mut self, sequence: u64) -> Self {
        self.sequence = Some(sequence);
        self
    }

    /// Sets `spiffe_refresh_hint`. It is written in whole seconds, rounded up as go-spiffe
    /// does (digest 4.4 step 6).
    #[must_use]
    pub fn with_refresh_hint(mut self, refresh_hint: Duration) -> Self {
        self.refresh_hint = Some(refresh_hint);
        self
    }

    /// Parses a SPIFFE bundle document for `trust_domain`, returning the bundle and the
    /// entries of `keys` that were skipped.
    ///
    /// The rules (SPIFFE bundle 4; digest 4.4):
    /// - The document must be a JSON object without repeated member names at any depth.
    /// - `keys` must be present and an array; `null` is refused too (B-1). It may be empty.
    /// - `spiffe_sequence`, if present, must be an integer in `0..=u64::MAX` (B-5).
    /// - `spiffe_refresh_hint`, if present, must be a non-negative integer number of seconds;
    ///   fractions, exponents and negative values reject the document (B-6). Zero is kept as
    ///   [`Duration::ZERO`]: it carries no usable interval, and a poller must apply its own
    ///   floor.
    /// - Entries that are not objects, have a missing or unknown `kty`, a missing or unknown
    ///   `use` (compared case-sensitively), or keys no JWT-SVID algorithm uses, are skipped and
    ///   reported (B-2, B-3, B-4).
    /// - `x509-svid` entries: the first `x5c` certificate is the authority, the rest is
    ///   disregarded; a missing or empty `x5c` skips the entry (X-13). Key members present next
    ///   to `x5c` must match the certificate's key. A `kid` is disregarded.
    /// - `jwt-svid` entries need a non-empty `kid`; when several share one, all of them are
    ///   skipped.
    /// - Other members are allowed and disregarded (SPIFFE bundle 4.1).
    ///
    /// A bundle whose authorities are all gone is returned, not refused: it means every SVID
    /// of the trust domain is invalid (B-7; see [`SpiffeBundle::is_empty`]).
    ///
    /// # Errors
    /// [`Error::TooLarge`] over [`MAX_BUNDLE_BYTES`](crate::MAX_BUNDLE_BYTES) (checked before
    /// parsing), [`Error::Json`], [`Error::DuplicateJsonKey`], [`Error::TooManyJsonValues`],
    /// [`Error::NotAnObject`], [`Error::MissingKeys`], [`Error::NullKeys`], [`Error::KeysNotArray`],
    /// [`Error::TooManyKeys`], [`Error::InvalidSequence`] or [`Error::InvalidRefreshHint`].
    pub fn parse(trust_domain: TrustDomain, json: impl AsRef<[u8]>) -> Result<Self, Error> {
        let document = parse_document(json.as_ref())?;
        Self::from_value(trust_domain, &document)
    }

    /// Reads one bundle document that has already been parsed as JSON.
    pub(crate) fn from_value(trust_domain: TrustDomain, document: &Value) -> Result<Self, Error> {
        let keys = KeysMember::read(document)?;
        let sequence = match keys.document.get("spiffe_sequence") {
            None => None,
            Some(Value::Number(Number::PosInt(sequence))) => Some(*sequence),
            Some(_) => return Err(Error::InvalidSequence),
        };
        let refresh_hint = match keys.document.get("spiffe_refresh_hint") {
            None => None,
            Some(Value::Number(Number::PosInt(seconds))) => Some(Duration::from_secs(*seconds)),
            Some(_) => return Err(Error::InvalidRefreshHint),
        };
        let decoded = jwk::decode_keys(&trust_domain, keys.entries, Profile::SpiffeBundle);
        let ignored: Arc<[IgnoredKey]> = Arc::from(decoded.ignored);
        Ok(Self {
            x509: Arc::new(X509Bundle::from_checked(
                trust_domain.clone(),
                decoded.authorities,
            )),
            jwt: Arc::new(
                JwtBundle::from_checked(trust_domain, decoded.jwt_keys)
                    .with_ignored(Arc::clone(&ignored), decoded.ignored_by_kid),
            ),
            sequence,
            refresh_hint,
            ignored,
        })
    }

    /// Writes the bundle document: `spiffe_sequence` and `spiffe_refresh_hint` when set, then
    /// `keys` with one `x509-svid` entry per X.509 authority (`kty`, `use`, the key members and
    /// an `x5c` of exactly one certificate, no `kid`) followed by one `jwt-svid` entry per JWT
    /// key (`kty`, `use`, `kid`, key members) (SPIFFE bundle 4; X509-SVID 6.1; JWT-SVID 6.1).
    ///
    /// [`SpiffeBundle::parse`] gives back an equal bundle.
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, true);
        out
    }

    /// Writes the document; bundles inside a bundle map leave the refresh hint out
    /// (SPIFFE bundle 5.1.1).
    pub(crate) fn write(&self, out: &mut String, with_refresh_hint: bool) {
        let mut document = ObjectWriter::new(out);
        if let Some(sequence) = self.sequence {
            document.number("spiffe_sequence", sequence);
        }
        if let Some(hint) = self.refresh_hint.filter(|_| with_refresh_hint) {
            let seconds = hint
                .as_secs()
                .saturating_add(u64::from(hint.subsec_nanos() > 0));
            document.number("spiffe_refresh_hint", seconds);
        }
        let mut keys = ArrayWriter::new(document.member("keys"));
        self.x509.write_entries(&mut keys);
        self.jwt.write_entries(&mut keys);
        keys.finish();
        document.finish();
    }

    /// The trust domain of this bundle.
    pub fn trust_domain(&self) -> &TrustDomain {
        self.x509.trust_domain()
    }

    /// The X.509 authorities (the `x509-svid` entries).
    pub fn x509_bundle(&self) -> &Arc<X509Bundle> {
        &self.x509
    }

    /// The JWT authorities (the `jwt-svid` entries).
    pub fn jwt_bundle(&self) -> &Arc<JwtBundle> {
        &self.jwt
    }

    /// `spiffe_sequence`, if the document had one.
    pub fn sequence(&self) -> Option<u64> {
        self.sequence
    }

    /// `spiffe_refresh_hint`, if the document had one. A hint only; it may be zero, and a
    /// poller should clamp it to its own bounds. Inside a bundle map it does not govern the
    /// map's refresh (SPIFFE bundle 5.1.1; digest B-10).
    pub fn refresh_hint(&self) -> Option<Duration> {
        self.refresh_hint
    }

    /// The entries of `keys` that [`SpiffeBundle::parse`] skipped, and why, in document order:
    /// unknown `kty` or `use`, an empty `x5c`, keys no JWT-SVID algorithm uses, ... (SPIFFE
    /// bundle 4.1; digest B-2..B-4, X-13). Not errors, but worth a log line: a bundle that lost
    /// keys may refuse SVIDs its issuer meant to be valid. Empty for bundles not parsed.
    pub fn ignored(&self) -> &[IgnoredKey] {
        &self.ignored
    }

    /// Whether the bundle has no authorities of either kind, so that no SVID of the trust
    /// domain can be valid (SPIFFE bundle 4.1.3; digest B-7).
    pub fn is_empty(&self) -> bool {
        self.x509.is_empty() && self.jwt.is_empty()
    }
}

/// A bundle with these X.509 authorities and no JWT authorities.
impl From<X509Bundle> for SpiffeBundle {
    fn from(x509: X509Bundle) -> Self {
        let jwt = JwtBundle::new(x509.trust_domain().clone());
        Self {
            x509: Arc::new(x509),
            jwt: Arc::new(jwt),
            sequence: None,
            refresh_hint: None,
            ignored: Arc::from([]),
        }
    }
}

/// A bundle with these JWT authorities and no X.509 authorities.
impl From<JwtBundle> for SpiffeBundle {
    fn from(jwt: JwtBundle) -> Self {
        let x509 = X509Bundle::new(jwt.trust_domain().clone());
        Self {
            x509: Arc::new(x509),
            jwt: Arc::new(jwt),
            sequence: None,
            refresh_hint: None,
            ignored: Arc::from([]),
        }
    }
}

/// Lets [`BundleSet::from_bundles`](crate::BundleSet::from_bundles) take an [`X509Bundle`]
/// as it is.
impl From<X509Bundle> for Arc<SpiffeBundle> {
    fn from(x509: X509Bundle) -> Self {
        Self::new(SpiffeBundle::from(x509))
    }
}

/// Lets [`BundleSet::from_bundles`](crate::BundleSet::from_bundles) take a [`JwtBundle`] as it
/// is.
impl From<JwtBundle> for Arc<SpiffeBundle> {
    fn from(jwt: JwtBundle) -> Self {
        Self::new(SpiffeBundle::from(jwt))
    }
}
