//! Selectors: typed facts about a caller (`unix:uid:1000`) that registration entries match.

use core::fmt;
use core::str::FromStr;
use std::collections::BTreeSet;

use crate::error::{Error, SelectorError};

/// The longest selector accepted, type and value together. SPIRE stores selector values as
/// free text; a SHA-256 digest or an absolute path fit comfortably in this, and the limit keeps
/// a misbehaving attestor from growing every group key without bound.
pub const MAX_SELECTOR_LEN: usize = 4096;

/// One fact about a caller: a type naming the attestor (`unix`, `k8s`, `docker`, ...) and a
/// value (`uid:1000`, `sha256:9f86...`). Written `type:value`; the type ends at the first `:`,
/// so `unix:path:/usr/bin/app` has type `unix` and value `path:/usr/bin/app`.
///
/// Comparison is exact (case-sensitive, byte for byte).
///
/// ```
/// use agent::Selector;
///
/// let selector: Selector = "unix:uid:1000".parse()?;
/// assert_eq!(selector.kind(), "unix");
/// assert_eq!(selector.value(), "uid:1000");
/// assert_eq!(selector, Selector::unix_uid(1000));
/// # Ok::<(), agent::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Selector {
    /// `type:value`.
    text: Box<str>,
    /// Byte offset of the `:` between type and value.
    colon: usize,
}

impl Selector {
    /// Builds a selector from its type and value.
    ///
    /// # Errors
    /// [`Error::Selector`] when the type is empty, contains `:` or a character outside
    /// `[a-z0-9_-]`, when the value is empty or contains a control character, or when the
    /// whole is longer than [`MAX_SELECTOR_LEN`].
    pub fn new(kind: &str, value: &str) -> Result<Self, Error> {
        check_kind(kind)?;
        check_value(value)?;
        let len = kind.len() + 1 + value.len();
        if len > MAX_SELECTOR_LEN {
            return Err(SelectorError::TooLong {
                len,
                max: MAX_SELECTOR_LEN,
            }
            .into());
        }
        let mut text = String::with_capacity(len);
        text.push_str(kind);
        text.push(':');
        text.push_str(value);
        Ok(Self {
            text: text.into_boxed_str(),
            colon: kind.len(),
        })
    }

    /// Parses `type:value`.
    ///
    /// # Errors
    /// [`Error::Selector`] when there is no `:`, or as [`Selector::new`].
    pub fn parse(text: &str) -> Result<Self, Error> {
        let (kind, value) = text.split_once(':').ok_or(SelectorError::MissingType)?;
        Self::new(kind, value)
    }

    /// `unix:uid:<uid>`, the selector the built-in [`UnixAttestor`](crate::UnixAttestor) gives a
    /// caller running as `uid`.
    pub fn unix_uid(uid: u32) -> Self {
        Self::trusted("unix", &format!("uid:{uid}"))
    }

    /// `unix:gid:<gid>`.
    pub fn unix_gid(gid: u32) -> Self {
        Self::trusted("unix", &format!("gid:{gid}"))
    }

    /// `unix:uid:<uid of this process>`: what a connection from this process is attested as,
    /// handy for tests and single-user setups. Read from the owner of `/proc/self`.
    ///
    /// # Errors
    /// [`Error::Io`] when `/proc/self` cannot be read (not Linux, or no procfs).
    pub fn current_uid() -> Result<Self, Error> {
        use std::os::unix::fs::MetadataExt;
        let metadata = std::fs::metadata("/proc/self").map_err(Error::Io)?;
        Ok(Self::unix_uid(metadata.uid()))
    }

    /// Builds a selector from parts this crate produced and knows to be valid; falls back to
    /// checking (and an `invalid` marker nobody can register) if that ever stops being true.
    pub(crate) fn trusted(kind: &str, value: &str) -> Self {
        Self::new(kind, value).unwrap_or_else(|_| Self {
            text: format!("{kind}:invalid").into_boxed_str(),
            colon: kind.len(),
        })
    }

    /// The selector type (the part before the first `:`), e.g. `unix`.
    pub fn kind(&self) -> &str {
        self.text.get(..self.colon).unwrap_or_default()
    }

    /// The value (everything after the first `:`), e.g. `uid:1000`.
    pub fn value(&self) -> &str {
        self.text.get(self.colon + 1..).unwrap_or_default()
    }

    /// The `type:value` text.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

fn check_kind(kind: &str) -> Result<(), SelectorError> {
    if kind.is_empty() {
        return Err(SelectorError::MissingType);
    }
    if let Some(bad) = kind
        .chars()
        .find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '_' | '-'))
    {
        return Err(SelectorError::BadTypeCharacter(bad));
    }
    Ok(())
}

fn check_value(value: &str) -> Result<(), SelectorError> {
    if value.is_empty() {
        return Err(SelectorError::MissingValue);
    }
    if let Some(bad) = value.chars().find(|c| c.is_control()) {
        return Err(SelectorError::ControlCharacter(bad));
    }
    Ok(())
}

impl FromStr for Selector {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        Self::parse(text)
    }
}

impl TryFrom<&str> for Selector {
    type Error = Error;

    fn try_from(text: &str) -> Result<Self, Error> {
        Self::parse(text)
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Selector({:?})", &*self.text)
    }
}

/// The selectors of one caller, sorted and without duplicates: the key under which callers
/// that look alike share one stream of updates.
pub(crate) type SelectorSet = BTreeSet<Selector>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_at_the_first_colon() {
        let selector = Selector::parse("unix:path:/usr/bin/a:b").unwrap();
        assert_eq!(selector.kind(), "unix");
        assert_eq!(selector.value(), "path:/usr/bin/a:b");
        assert_eq!(selector.to_string(), "unix:path:/usr/bin/a:b");
    }

    #[test]
    fn rejects_malformed_selectors() {
        for bad in [
            "",
            "unix",
            ":uid:1",
            "unix:",
            "Unix:uid:1",
            "un ix:uid:1",
            "unix:uid:\n1",
        ] {
            assert!(
                matches!(Selector::parse(bad), Err(Error::Selector(_))),
                "{bad:?}"
            );
        }
        let long = format!("unix:{}", "a".repeat(MAX_SELECTOR_LEN));
        assert!(matches!(
            Selector::parse(&long),
            Err(Error::Selector(SelectorError::TooLong { .. }))
        ));
    }

    #[test]
    fn helpers_build_the_attestor_forms() {
        assert_eq!(Selector::unix_uid(7).as_str(), "unix:uid:7");
        assert_eq!(Selector::unix_gid(0).as_str(), "unix:gid:0");
        let mine = Selector::current_uid().unwrap();
        assert!(mine.value().starts_with("uid:"));
    }
}
