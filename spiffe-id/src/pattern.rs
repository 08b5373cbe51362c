//! [`IdPattern`]: SPIFFE IDs with whole-segment wildcards.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;
use core::ops::Range;
use core::str::FromStr;

use crate::scan::{self, SCHEME};
use crate::{Error, SpiffeId};

/// A SPIFFE ID pattern such as `spiffe://example.org/ns/*/sa/web`.
///
/// - The trust domain is always literal: a pattern never matches across trust domains.
/// - `*` as a whole segment matches exactly one segment.
/// - `**` as the last segment matches one or more further segments, so
///   `spiffe://example.org/ns/prod/**` matches `spiffe://example.org/ns/prod/web` but not
///   `spiffe://example.org/ns/prod` itself (use [`IdMatcher::path_prefix`] for "this ID or
///   below").
/// - Literal segments follow the SPIFFE path rules; partial wildcards (`web-*`) are parse
///   errors, so a typo cannot silently widen a policy.
///
/// ```
/// use spiffe_id::{IdPattern, SpiffeId};
///
/// let pattern: IdPattern = "spiffe://example.org/ns/*/sa/web".parse()?;
/// assert!(pattern.matches(&"spiffe://example.org/ns/prod/sa/web".parse()?));
/// assert!(!pattern.matches(&"spiffe://example.org/ns/prod/sa/db".parse()?));
/// assert!(!pattern.matches(&"spiffe://other.org/ns/prod/sa/web".parse()?));
///
/// assert!("spiffe://example.org/ns/prod-*".parse::<IdPattern>().is_err());
/// # Ok::<(), spiffe_id::Error>(())
/// ```
///
/// [`IdMatcher::path_prefix`]: crate::IdMatcher::path_prefix
#[derive(Clone)]
pub struct IdPattern {
    source: Arc<str>,
    td_end: usize,
    /// Each segment's byte range in `source`, `None` for `*`.
    segments: Vec<Option<Range<usize>>>,
    /// The pattern ended in `/**`.
    any_suffix: bool,
}

impl IdPattern {
    /// Parses a pattern.
    ///
    /// # Errors
    /// Any [`SpiffeId`] parse error for the literal parts, or [`Error::BadWildcard`].
    pub fn parse(input: &str) -> Result<Self, Error> {
        let bytes = input.as_bytes();
        if bytes.is_empty() {
            return Err(Error::Empty);
        }
        let rest = bytes
            .strip_prefix(SCHEME.as_bytes())
            .ok_or(Error::BadScheme)?;
        let td_len = rest.iter().position(|&b| b == b'/').unwrap_or(rest.len());
        scan::check_trust_domain(rest.get(..td_len).unwrap_or_default(), SCHEME.len())?;
        let td_end = SCHEME.len() + td_len;

        let path = bytes.get(td_end..).unwrap_or_default();
        let mut segments = Vec::new();
        let mut any_suffix = false;
        if let Some(after_slash) = path.strip_prefix(b"/") {
            let mut start = td_end + 1;
            let mut parts = after_slash.split(|&b| b == b'/').peekable();
            while let Some(part) = parts.next() {
                let is_last = parts.peek().is_none();
                match part {
                    b"*" => segments.push(None),
                    b"**" if is_last => any_suffix = true,
                    _ if part.contains(&b'*') => {
                        return Err(Error::BadWildcard {
                            at: start.saturating_sub(1),
                        });
                    }
                    _ => {
                        scan::check_segment(part, start, is_last)?;
                        segments.push(Some(start..start + part.len()));
                    }
                }
                start += part.len() + 1;
            }
        }
        Ok(Self {
            source: input.into(),
            td_end,
            segments,
            any_suffix,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The trust domain name every match belongs to.
    pub fn trust_domain_name(&self) -> &str {
        self.source
            .get(SCHEME.len()..self.td_end)
            .unwrap_or_default()
    }

    /// Whether `id` matches. Costs one pass over `id`'s segments; never allocates.
    pub fn matches(&self, id: &SpiffeId) -> bool {
        if id.trust_domain_name() != self.trust_domain_name() {
            return false;
        }
        let mut actual = id.segments();
        for expected in &self.segments {
            let Some(segment) = actual.next() else {
                return false;
            };
            if let Some(range) = expected {
                if self.source.get(range.clone()) != Some(segment) {
                    return false;
                }
            }
        }
        let has_more = actual.next().is_some();
        has_more == self.any_suffix
    }
}

impl FromStr for IdPattern {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

impl TryFrom<&str> for IdPattern {
    type Error = Error;

    fn try_from(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

impl PartialEq for IdPattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for IdPattern {}

impl fmt::Display for IdPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl fmt::Debug for IdPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("IdPattern").field(&self.as_str()).finish()
    }
}
