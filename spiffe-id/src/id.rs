//! [`SpiffeId`]: a validated SPIFFE ID.

use alloc::string::String;
use alloc::sync::Arc;
use core::borrow::Borrow;
use core::fmt;
use core::str::FromStr;

use crate::scan::{self, SCHEME};
use crate::{Error, TrustDomain};

/// Here rather than in `trust_domain.rs`, so that module never imports this one.
impl TrustDomain {
    /// The trust domain's own SPIFFE ID, `spiffe://<name>`: the ID of its signing authority, and
    /// the key format of Workload API bundle maps (digest 5.5). It has no path, so it is never a
    /// valid workload identity.
    pub fn id(&self) -> SpiffeId {
        SpiffeId::root_of(self)
    }
}

/// A SPIFFE ID: `spiffe://<trust domain>[/<segment>...]`, checked byte by byte against
/// SPIFFE-ID section 2 (never through a URL library, never normalised).
///
/// The whole string lives in one shared allocation, so cloning is a reference count increment
/// and comparison is a byte comparison: a valid ID is already canonical (digest 1.5).
///
/// ```
/// use spiffe_id::{SpiffeId, TrustDomain};
///
/// let id: SpiffeId = "spiffe://example.org/ns/prod/sa/web".parse()?;
/// assert_eq!(id.trust_domain_name(), "example.org");
/// assert_eq!(id.path(), "/ns/prod/sa/web");
/// assert_eq!(id.segments().collect::<Vec<_>>(), ["ns", "prod", "sa", "web"]);
///
/// // Builders validate every piece.
/// let td: TrustDomain = "example.org".parse()?;
/// let built = SpiffeId::from_segments(&td, ["ns", "prod", "sa", "web"])?;
/// assert_eq!(built, id);
///
/// // Nothing is normalised: these are errors, not other spellings of a valid ID.
/// assert!("spiffe://Example.org/a".parse::<SpiffeId>().is_err());
/// assert!("spiffe://example.org/a/../b".parse::<SpiffeId>().is_err());
/// assert!("spiffe://example.org/".parse::<SpiffeId>().is_err());
/// # Ok::<(), spiffe_id::Error>(())
/// ```
#[derive(Clone)]
pub struct SpiffeId {
    repr: Arc<str>,
    /// Offset where the trust domain ends and the path begins. Always `<= repr.len()` and on a
    /// character boundary (the whole string is ASCII).
    td_end: usize,
}

impl SpiffeId {
    /// Parses and validates a SPIFFE ID.
    ///
    /// IDs of any length are accepted when otherwise valid (SPIFFE-ID 2.3 requires at least
    /// 2048 bytes and forbids nothing longer); the trust domain is capped at 255 bytes.
    ///
    /// # Errors
    /// The [`Error`] variant naming the first rule the input breaks, scanning left to right.
    pub fn parse(input: &str) -> Result<Self, Error> {
        let td_end = scan::check_id(input.as_bytes())?;
        Ok(Self {
            repr: input.into(),
            td_end,
        })
    }

    /// Parses a SPIFFE ID from bytes, e.g. an X.509 URI SAN. Non-UTF-8 input fails the
    /// character checks like any other bad byte.
    ///
    /// # Errors
    /// As [`SpiffeId::parse`].
    pub fn parse_bytes(input: &[u8]) -> Result<Self, Error> {
        let td_end = scan::check_id(input)?;
        // Every byte passed an ASCII-only class check, so this cannot fail; map the impossible
        // case to an error rather than panicking.
        let text = core::str::from_utf8(input).map_err(|_| Error::BadScheme)?;
        Ok(Self {
            repr: text.into(),
            td_end,
        })
    }

    /// Builds an ID from a trust domain and a path that is empty or starts with `/`.
    ///
    /// ```
    /// # use spiffe_id::{SpiffeId, TrustDomain};
    /// let td: TrustDomain = "example.org".parse()?;
    /// assert_eq!(SpiffeId::from_path(&td, "/db")?.as_str(), "spiffe://example.org/db");
    /// assert!(SpiffeId::from_path(&td, "db").is_err());
    /// # Ok::<(), spiffe_id::Error>(())
    /// ```
    ///
    /// # Errors
    /// Path errors (offsets count within `path`), or [`Error::IdTooLong`] past 2048 bytes.
    pub fn from_path(trust_domain: &TrustDomain, path: &str) -> Result<Self, Error> {
        scan::check_path(path.as_bytes(), 0)?;
        Self::assemble(trust_domain, &[path])
    }

    /// Builds an ID from a trust domain and path segments, each checked on its own (a segment
    /// may not contain `/`).
    ///
    /// # Errors
    /// Segment errors (offsets count within the joined path), or [`Error::IdTooLong`].
    pub fn from_segments<I, S>(trust_domain: &TrustDomain, segments: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let path = join_segments(trust_domain.id_len(), segments)?;
        Self::assemble(trust_domain, &[&path])
    }

    /// A new ID with `path` (empty or starting with `/`) appended to this one's path.
    ///
    /// # Errors
    /// As [`SpiffeId::from_path`].
    pub fn append_path(&self, path: &str) -> Result<Self, Error> {
        scan::check_path(path.as_bytes(), 0)?;
        Self::assemble(&self.trust_domain(), &[self.path(), path])
    }

    /// A new ID with `segments` appended to this one's path.
    ///
    /// # Errors
    /// As [`SpiffeId::from_segments`].
    pub fn append_segments<I, S>(&self, segments: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let path = join_segments(self.repr.len(), segments)?;
        Self::assemble(&self.trust_domain(), &[self.path(), &path])
    }

    /// A new ID in the same trust domain with its path replaced.
    ///
    /// # Errors
    /// As [`SpiffeId::from_path`].
    pub fn replace_path(&self, path: &str) -> Result<Self, Error> {
        Self::from_path(&self.trust_domain(), path)
    }

    /// The ID `spiffe://<trust domain>`, with no path.
    pub(crate) fn root_of(trust_domain: &TrustDomain) -> Self {
        let repr = trust_domain.id_buffer(0);
        Self {
            td_end: repr.len(),
            repr: repr.into(),
        }
    }

    /// Joins already-checked parts; enforces only the generated-length cap.
    fn assemble(trust_domain: &TrustDomain, paths: &[&str]) -> Result<Self, Error> {
        let path_len: usize = paths.iter().map(|p| p.len()).sum();
        let td_end = trust_domain.id_len();
        scan::check_generated_len(td_end + path_len)?;
        let mut repr = trust_domain.id_buffer(path_len);
        for path in paths {
            repr.push_str(path);
        }
        Ok(Self {
            repr: repr.into(),
            td_end,
        })
    }

    /// The whole ID.
    pub fn as_str(&self) -> &str {
        &self.repr
    }

    /// The trust domain name, borrowed (no allocation).
    pub fn trust_domain_name(&self) -> &str {
        self.repr.get(SCHEME.len()..self.td_end).unwrap_or_default()
    }

    /// The trust domain, as an owned value (one allocation).
    pub fn trust_domain(&self) -> TrustDomain {
        TrustDomain::from_checked(self.trust_domain_name())
    }

    /// Whether this ID belongs to `trust_domain` (exact byte equality of the names).
    pub fn is_member_of(&self, trust_domain: &TrustDomain) -> bool {
        self.trust_domain_name() == trust_domain.as_str()
    }

    /// The path: empty, or `/` followed by segments.
    pub fn path(&self) -> &str {
        self.repr.get(self.td_end..).unwrap_or_default()
    }

    /// Whether the path is empty, i.e. this is a trust domain's own ID (`spiffe://example.org`).
    /// Such an ID names the trust domain's signing authority and is never a valid leaf or
    /// workload identity (X509-SVID 3.1, 5.2).
    pub fn is_root(&self) -> bool {
        self.td_end >= self.repr.len()
    }

    /// The path segments, in order. Empty for a root ID.
    pub fn segments(&self) -> impl Iterator<Item = &str> + '_ {
        self.path().split('/').skip(1)
    }
}

/// Checks each segment and joins them as `/a/b/c`. `prefix_len` is the length of the ID the
/// path will be appended to, so the length cap applies to the whole ID.
fn join_segments<I, S>(prefix_len: usize, segments: I) -> Result<String, Error>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut path = String::new();
    for segment in segments {
        let segment = segment.as_ref();
        let at = path.len() + 1;
        scan::check_segment(segment.as_bytes(), at, false)?;
        // Fail early on absurd (even endless) input instead of building a huge string first;
        // the length reported counts the whole ID up to this segment.
        scan::check_generated_len(prefix_len + path.len() + 1 + segment.len())?;
        path.push('/');
        path.push_str(segment);
    }
    Ok(path)
}

impl FromStr for SpiffeId {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

impl TryFrom<&str> for SpiffeId {
    type Error = Error;

    fn try_from(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

impl TryFrom<&[u8]> for SpiffeId {
    type Error = Error;

    fn try_from(bytes: &[u8]) -> Result<Self, Error> {
        Self::parse_bytes(bytes)
    }
}

impl AsRef<str> for SpiffeId {
    fn as_ref(&self) -> &str {
        &self.repr
    }
}

/// Lets sets and maps keyed by `SpiffeId` be queried with a `&str` without allocating.
impl Borrow<str> for SpiffeId {
    fn borrow(&self) -> &str {
        &self.repr
    }
}

impl PartialEq for SpiffeId {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.repr, &other.repr) || self.repr == other.repr
    }
}

impl Eq for SpiffeId {}

impl PartialEq<str> for SpiffeId {
    fn eq(&self, other: &str) -> bool {
        &*self.repr == other
    }
}

impl PartialEq<&str> for SpiffeId {
    fn eq(&self, other: &&str) -> bool {
        &*self.repr == *other
    }
}

impl PartialOrd for SpiffeId {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for SpiffeId {
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        self.repr.cmp(&other.repr)
    }
}

impl core::hash::Hash for SpiffeId {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl fmt::Display for SpiffeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.repr)
    }
}

impl fmt::Debug for SpiffeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SpiffeId").field(&self.as_str()).finish()
    }
}
