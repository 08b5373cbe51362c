//! Registration entries: which identity a caller with which selectors gets.

use core::fmt;
use std::collections::BTreeSet;
use std::time::Duration;

use spiffe_id::{SpiffeId, TrustDomain};

use crate::error::{EntryError, Error};
use crate::selector::{Selector, SelectorSet};

/// Hints longer than this are refused: the Workload API says implementations should not
/// support hints over 1024 bytes (SPIFFE Workload API §8; digest 5.11).
pub const MAX_HINT_LEN: usize = 1024;

/// The most selectors one entry may require. SPIRE puts no number on it; 64 is far above any
/// real attestor's output and bounds the subset check done per caller and entry.
pub const MAX_SELECTORS_PER_ENTRY: usize = 64;

/// A registration entry: a SPIFFE ID and the selectors a caller must *all* have to get it,
/// plus how its SVIDs are made.
///
/// A caller gets every entry whose selectors it satisfies, in registration order; the first
/// is its default identity (SPIFFE Workload API §8).
///
/// ```
/// use std::time::Duration;
/// use agent::{RegistrationEntry, Selector};
///
/// let entry = RegistrationEntry::new("spiffe://example.org/web".parse()?)
///     .with_selector(Selector::unix_uid(1000))
///     .with_selector("unix:path:/usr/bin/web".parse()?)
///     .with_x509_ttl(Duration::from_secs(600))
///     .with_dns_name("web.example.org")
///     .with_hint("internal")
///     .with_federates_with("partner.org".parse()?);
/// assert_eq!(entry.selectors().count(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct RegistrationEntry {
    spiffe_id: SpiffeId,
    selectors: SelectorSet,
    x509_ttl: Option<Duration>,
    jwt_ttl: Option<Duration>,
    dns_names: Vec<String>,
    hint: Option<String>,
    federates_with: BTreeSet<TrustDomain>,
    /// The server's ID of this entry (upstream mode), which minting names.
    upstream_id: Option<std::sync::Arc<str>>,
}

impl RegistrationEntry {
    /// An entry for `spiffe_id` with no selectors yet (at least one is required before it can
    /// be added) and the agent's default TTLs.
    pub fn new(spiffe_id: SpiffeId) -> Self {
        Self {
            spiffe_id,
            selectors: SelectorSet::new(),
            x509_ttl: None,
            jwt_ttl: None,
            dns_names: Vec::new(),
            hint: None,
            federates_with: BTreeSet::new(),
            upstream_id: None,
        }
    }

    /// Marks the entry as the server's entry `id` (upstream mode).
    #[must_use]
    pub(crate) fn with_upstream_id(mut self, id: &str) -> Self {
        self.upstream_id = Some(id.into());
        self
    }

    /// The server's ID of this entry, in upstream mode.
    pub(crate) fn upstream_id(&self) -> Option<&str> {
        self.upstream_id.as_deref()
    }

    /// Adds a selector the caller must have.
    #[must_use]
    pub fn with_selector(mut self, selector: Selector) -> Self {
        self.selectors.insert(selector);
        self
    }

    /// Adds several selectors the caller must have.
    #[must_use]
    pub fn with_selectors(mut self, selectors: impl IntoIterator<Item = Selector>) -> Self {
        self.selectors.extend(selectors);
        self
    }

    /// The lifetime of this entry's X509-SVIDs (default: the agent's).
    #[must_use]
    pub fn with_x509_ttl(mut self, ttl: Duration) -> Self {
        self.x509_ttl = Some(ttl);
        self
    }

    /// The lifetime of this entry's JWT-SVIDs (default: the agent's).
    #[must_use]
    pub fn with_jwt_ttl(mut self, ttl: Duration) -> Self {
        self.jwt_ttl = Some(ttl);
        self
    }

    /// Adds a DNS SAN to this entry's X509-SVIDs.
    #[must_use]
    pub fn with_dns_name(mut self, name: impl Into<String>) -> Self {
        self.dns_names.push(name.into());
        self
    }

    /// Sets the hint sent with this entry's SVIDs (e.g. `internal`). Within one response hints
    /// are unique: when two entries a caller gets share a hint, only the first is sent.
    #[must_use]
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        let hint = hint.into();
        self.hint = (!hint.is_empty()).then_some(hint);
        self
    }

    /// Lets callers of this entry receive the bundle of `trust_domain` (when the agent has it)
    /// in `federated_bundles` and the bundle RPCs.
    #[must_use]
    pub fn with_federates_with(mut self, trust_domain: TrustDomain) -> Self {
        self.federates_with.insert(trust_domain);
        self
    }

    /// The identity this entry gives.
    pub fn spiffe_id(&self) -> &SpiffeId {
        &self.spiffe_id
    }

    /// The selectors a caller must all have, sorted.
    pub fn selectors(&self) -> impl ExactSizeIterator<Item = &Selector> {
        self.selectors.iter()
    }

    /// The X509-SVID lifetime, if set on the entry.
    pub fn x509_ttl(&self) -> Option<Duration> {
        self.x509_ttl
    }

    /// The JWT-SVID lifetime, if set on the entry.
    pub fn jwt_ttl(&self) -> Option<Duration> {
        self.jwt_ttl
    }

    /// The DNS SANs.
    pub fn dns_names(&self) -> &[String] {
        &self.dns_names
    }

    /// The hint, if any.
    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }

    /// The trust domains whose bundles callers of this entry receive.
    pub fn federates_with(&self) -> impl ExactSizeIterator<Item = &TrustDomain> {
        self.federates_with.iter()
    }

    /// Whether a caller with `selectors` gets this entry: every selector of the entry is among
    /// the caller's.
    pub fn matches(&self, selectors: &BTreeSet<Selector>) -> bool {
        self.selectors.is_subset(selectors)
    }

    /// Checks what can be checked without the CA: selectors present and bounded, hint length,
    /// no federation with the agent's own trust domain, the ID in the agent's trust domain and
    /// not the trust domain itself.
    pub(crate) fn check(&self, own: &TrustDomain) -> Result<(), Error> {
        if self.selectors.is_empty() {
            return Err(EntryError::NoSelectors.into());
        }
        if self.selectors.len() > MAX_SELECTORS_PER_ENTRY {
            return Err(EntryError::TooManySelectors {
                len: self.selectors.len(),
                max: MAX_SELECTORS_PER_ENTRY,
            }
            .into());
        }
        if !self.spiffe_id.is_member_of(own) {
            return Err(EntryError::ForeignTrustDomain {
                spiffe_id: self.spiffe_id.clone(),
                trust_domain: own.clone(),
            }
            .into());
        }
        if self.spiffe_id.is_root() {
            return Err(EntryError::RootId(self.spiffe_id.clone()).into());
        }
        if let Some(hint) = &self.hint {
            if hint.len() > MAX_HINT_LEN {
                return Err(EntryError::HintTooLong {
                    len: hint.len(),
                    max: MAX_HINT_LEN,
                }
                .into());
            }
        }
        if self.federates_with.contains(own) {
            return Err(EntryError::FederatesWithSelf(own.clone()).into());
        }
        for ttl in [self.x509_ttl, self.jwt_ttl].into_iter().flatten() {
            if ttl.is_zero() {
                return Err(EntryError::ZeroTtl.into());
            }
        }
        Ok(())
    }
}

impl fmt::Debug for RegistrationEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistrationEntry")
            .field("spiffe_id", &self.spiffe_id)
            .field("selectors", &self.selectors)
            .field("x509_ttl", &self.x509_ttl)
            .field("jwt_ttl", &self.jwt_ttl)
            .field("dns_names", &self.dns_names)
            .field("hint", &self.hint)
            .field("federates_with", &self.federates_with)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own() -> TrustDomain {
        "example.org".parse().unwrap()
    }

    fn entry(id: &str) -> RegistrationEntry {
        RegistrationEntry::new(id.parse().unwrap()).with_selector(Selector::unix_uid(1))
    }

    #[test]
    fn matches_only_when_every_selector_is_present() {
        let entry = entry("spiffe://example.org/a").with_selector(Selector::unix_gid(2));
        let both: BTreeSet<_> = [Selector::unix_uid(1), Selector::unix_gid(2)].into();
        let one: BTreeSet<_> = [Selector::unix_uid(1)].into();
        assert!(entry.matches(&both));
        assert!(!entry.matches(&one));
    }

    #[test]
    fn rejects_entries_that_cannot_be_served() {
        let no_selectors = RegistrationEntry::new("spiffe://example.org/a".parse().unwrap());
        assert!(matches!(
            no_selectors.check(&own()),
            Err(Error::Entry(EntryError::NoSelectors))
        ));
        assert!(matches!(
            entry("spiffe://other.org/a").check(&own()),
            Err(Error::Entry(EntryError::ForeignTrustDomain { .. }))
        ));
        assert!(matches!(
            entry("spiffe://example.org").check(&own()),
            Err(Error::Entry(EntryError::RootId(_)))
        ));
        let long_hint = entry("spiffe://example.org/a").with_hint("h".repeat(MAX_HINT_LEN + 1));
        assert!(matches!(
            long_hint.check(&own()),
            Err(Error::Entry(EntryError::HintTooLong { .. }))
        ));
        let own_federation = entry("spiffe://example.org/a").with_federates_with(own());
        assert!(matches!(
            own_federation.check(&own()),
            Err(Error::Entry(EntryError::FederatesWithSelf(_)))
        ));
        let zero = entry("spiffe://example.org/a").with_x509_ttl(Duration::ZERO);
        assert!(matches!(
            zero.check(&own()),
            Err(Error::Entry(EntryError::ZeroTtl))
        ));
        assert!(entry("spiffe://example.org/a").check(&own()).is_ok());
    }

    #[test]
    fn empty_hint_means_no_hint() {
        assert_eq!(entry("spiffe://example.org/a").with_hint("").hint(), None);
    }
}
