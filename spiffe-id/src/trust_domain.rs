//! [`TrustDomain`]: a validated trust domain name.

use alloc::string::String;
use alloc::sync::Arc;
use core::borrow::Borrow;
use core::fmt;
use core::str::FromStr;

use crate::Error;
use crate::scan::{self, SCHEME};

/// A trust domain name such as `example.org`: lowercase letters, digits, `.`, `-` and `_`, at most
/// 255 bytes (SPIFFE-ID 2.1, 2.3).
///
/// The name is opaque: `127.0.0.1` and `example.org.` are kept exactly as written and compared
/// byte by byte; nothing is normalised (SPIFFE-ID 2.1, digest ID-14). Cloning is a reference
/// count increment.
///
/// ```
/// use spiffe_id::TrustDomain;
///
/// let td: TrustDomain = "example.org".parse()?;
/// assert_eq!(td.as_str(), "example.org");
/// assert_eq!(td.id().as_str(), "spiffe://example.org");
///
/// // Both the bare name and the ID form are accepted where a user types a trust domain.
/// let from_id = TrustDomain::from_id_or_name("spiffe://example.org/ns/prod")?;
/// assert_eq!(from_id, td);
///
/// assert!("Example.org".parse::<TrustDomain>().is_err());
/// # Ok::<(), spiffe_id::Error>(())
/// ```
#[derive(Clone)]
pub struct TrustDomain {
    name: Arc<str>,
}

impl TrustDomain {
    /// Parses a bare trust domain name (`example.org`), refusing the `spiffe://` form.
    ///
    /// # Errors
    /// [`Error::MissingTrustDomain`], [`Error::BadTrustDomainChar`] or
    /// [`Error::TrustDomainTooLong`].
    pub fn parse(name: &str) -> Result<Self, Error> {
        scan::check_trust_domain(name.as_bytes(), 0)?;
        Ok(Self { name: name.into() })
    }

    /// Accepts a bare name (`example.org`) or any SPIFFE ID (`spiffe://example.org/path`), and
    /// returns the trust domain. Input containing `:/` is parsed as a full SPIFFE ID, as
    /// go-spiffe's `TrustDomainFromString` does (digest 1.6).
    ///
    /// # Errors
    /// Any error [`SpiffeId::parse`](crate::SpiffeId::parse) or [`TrustDomain::parse`] gives.
    pub fn from_id_or_name(input: &str) -> Result<Self, Error> {
        if input.contains(":/") {
            // Validate the whole ID, but allocate only the name.
            let td_end = scan::check_id(input.as_bytes())?;
            Ok(Self::from_checked(
                input.get(SCHEME.len()..td_end).unwrap_or_default(),
            ))
        } else {
            Self::parse(input)
        }
    }

    /// The trust domain name, without scheme.
    pub fn as_str(&self) -> &str {
        &self.name
    }

    /// The length of `spiffe://<name>`.
    pub(crate) fn id_len(&self) -> usize {
        SCHEME.len() + self.name.len()
    }

    /// Builds a SPIFFE ID string of this trust domain with room for `extra` more bytes.
    pub(crate) fn id_buffer(&self, extra: usize) -> String {
        let mut out = String::with_capacity(self.id_len() + extra);
        out.push_str(SCHEME);
        out.push_str(&self.name);
        out
    }

    /// Wraps a name that a caller has already checked.
    pub(crate) fn from_checked(name: &str) -> Self {
        Self { name: name.into() }
    }
}

impl FromStr for TrustDomain {
    type Err = Error;

    /// Same as [`TrustDomain::parse`]: the bare name only.
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

impl TryFrom<&str> for TrustDomain {
    type Error = Error;

    fn try_from(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

impl AsRef<str> for TrustDomain {
    fn as_ref(&self) -> &str {
        &self.name
    }
}

/// Lets maps keyed by `TrustDomain` be queried with a `&str` name without allocating.
impl Borrow<str> for TrustDomain {
    fn borrow(&self) -> &str {
        &self.name
    }
}

impl PartialEq for TrustDomain {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.name, &other.name) || self.name == other.name
    }
}

impl Eq for TrustDomain {}

impl PartialOrd for TrustDomain {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for TrustDomain {
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        self.name.cmp(&other.name)
    }
}

impl core::hash::Hash for TrustDomain {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl fmt::Display for TrustDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl fmt::Debug for TrustDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TrustDomain").field(&self.as_str()).finish()
    }
}
