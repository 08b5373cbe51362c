//! [`EntryRecord`]: a registration entry as the store keeps it.

use std::time::Duration;

use spiffe_id::{SpiffeId, TrustDomain};

use crate::entry_id::EntryId;
use crate::error::Error;

/// A registration entry as stored: what a workload matching `selectors` (below `parent_id`,
/// when set) is issued, plus the store's bookkeeping (`id`, `revision`, `created_at`).
///
/// Build one with [`EntryRecord::new`] and the `with_*` methods, give it to
/// [`Store::create_entry`](crate::Store::create_entry), and change a record read back from the
/// store the same way before [`Store::update_entry`](crate::Store::update_entry). Selectors are
/// kept sorted and without duplicates, so two spellings of one set compare equal.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EntryRecord {
    pub(crate) id: EntryId,
    pub(crate) spiffe_id: SpiffeId,
    pub(crate) parent_id: Option<SpiffeId>,
    pub(crate) selectors: Vec<String>,
    pub(crate) x509_ttl: Option<Duration>,
    pub(crate) jwt_ttl: Option<Duration>,
    pub(crate) dns_names: Vec<String>,
    pub(crate) hint: Option<String>,
    pub(crate) federates_with: Vec<TrustDomain>,
    pub(crate) revision: u64,
    pub(crate) created_at: u64,
}

impl EntryRecord {
    /// An entry for `spiffe_id` with no selectors, no parent and default TTLs. Its ID,
    /// revision and creation time are assigned when it is created in a store.
    pub fn new(spiffe_id: SpiffeId) -> Self {
        Self {
            id: EntryId::unassigned(),
            spiffe_id,
            parent_id: None,
            selectors: Vec::new(),
            x509_ttl: None,
            jwt_ttl: None,
            dns_names: Vec::new(),
            hint: None,
            federates_with: Vec::new(),
            revision: 0,
            created_at: 0,
        }
    }

    /// Replaces the SPIFFE ID.
    #[must_use]
    pub fn with_spiffe_id(mut self, spiffe_id: SpiffeId) -> Self {
        self.spiffe_id = spiffe_id;
        self
    }

    /// Sets (or clears) the parent: the node the entry is scoped to.
    #[must_use]
    pub fn with_parent_id(mut self, parent_id: Option<SpiffeId>) -> Self {
        self.parent_id = parent_id;
        self
    }

    /// Adds a `type:value` selector (checked when the record is written).
    #[must_use]
    pub fn with_selector(mut self, selector: impl Into<String>) -> Self {
        let selector = selector.into();
        if let Err(at) = self.selectors.binary_search(&selector) {
            self.selectors.insert(at, selector);
        }
        self
    }

    /// Replaces the selectors (sorted and deduplicated).
    #[must_use]
    pub fn with_selectors<S: Into<String>>(
        mut self,
        selectors: impl IntoIterator<Item = S>,
    ) -> Self {
        self.selectors = selectors.into_iter().map(Into::into).collect();
        self.selectors.sort();
        self.selectors.dedup();
        self
    }

    /// Sets (or clears) the X.509-SVID lifetime; whole seconds.
    #[must_use]
    pub fn with_x509_ttl(mut self, ttl: Option<Duration>) -> Self {
        self.x509_ttl = ttl;
        self
    }

    /// Sets (or clears) the JWT-SVID lifetime; whole seconds.
    #[must_use]
    pub fn with_jwt_ttl(mut self, ttl: Option<Duration>) -> Self {
        self.jwt_ttl = ttl;
        self
    }

    /// Replaces the DNS names put in the X.509-SVID (order kept).
    #[must_use]
    pub fn with_dns_names<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.dns_names = names.into_iter().map(Into::into).collect();
        self
    }

    /// Sets (or clears) the hint given to the workload with the SVID.
    #[must_use]
    pub fn with_hint(mut self, hint: Option<String>) -> Self {
        self.hint = hint;
        self
    }

    /// Replaces the trust domains whose bundles the workload also receives (sorted,
    /// deduplicated).
    #[must_use]
    pub fn with_federates_with(mut self, domains: impl IntoIterator<Item = TrustDomain>) -> Self {
        self.federates_with = domains.into_iter().collect();
        self.federates_with.sort();
        self.federates_with.dedup();
        self
    }

    /// The store-assigned ID ([`EntryId::is_assigned`] is false before creation).
    pub fn id(&self) -> &EntryId {
        &self.id
    }

    /// The SPIFFE ID issued to matching workloads.
    pub fn spiffe_id(&self) -> &SpiffeId {
        &self.spiffe_id
    }

    /// The parent (node) the entry is scoped to, if any.
    pub fn parent_id(&self) -> Option<&SpiffeId> {
        self.parent_id.as_ref()
    }

    /// The `type:value` selectors, sorted, without duplicates.
    pub fn selectors(&self) -> &[String] {
        &self.selectors
    }

    /// The X.509-SVID lifetime, or `None` for the issuer's default.
    pub fn x509_ttl(&self) -> Option<Duration> {
        self.x509_ttl
    }

    /// The JWT-SVID lifetime, or `None` for the issuer's default.
    pub fn jwt_ttl(&self) -> Option<Duration> {
        self.jwt_ttl
    }

    /// The DNS names for the X.509-SVID.
    pub fn dns_names(&self) -> &[String] {
        &self.dns_names
    }

    /// The hint, if any.
    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }

    /// The federated trust domains, sorted.
    pub fn federates_with(&self) -> &[TrustDomain] {
        &self.federates_with
    }

    /// The revision: 1 when created, one more on each update; 0 before creation.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// When the entry was created, in seconds since the Unix epoch (0 before creation).
    pub fn created_at(&self) -> u64 {
        self.created_at
    }

    /// Refuses what the store must not write: a selector that is not `type:value`, a TTL
    /// that is zero, not whole seconds, or too large for the database.
    pub(crate) fn check(&self) -> Result<(), Error> {
        if self.selectors.is_empty() {
            return Err(Error::invalid(
                "selector",
                format!("the entry for {} has no selector", self.spiffe_id),
            ));
        }
        for selector in &self.selectors {
            let ok = selector
                .split_once(':')
                .is_some_and(|(kind, value)| !kind.is_empty() && !value.is_empty());
            if !ok {
                return Err(Error::invalid(
                    "selector",
                    format!("{selector:?} is not `type:value`"),
                ));
            }
        }
        check_ttl("x509_ttl", self.x509_ttl)?;
        check_ttl("jwt_ttl", self.jwt_ttl)
    }
}

fn check_ttl(what: &'static str, ttl: Option<Duration>) -> Result<(), Error> {
    let Some(ttl) = ttl else { return Ok(()) };
    if ttl.is_zero() || ttl.subsec_nanos() != 0 || i64::try_from(ttl.as_secs()).is_err() {
        return Err(Error::invalid(
            what,
            format!("{ttl:?} is not a positive whole number of seconds"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]

    use super::*;

    fn id(text: &str) -> SpiffeId {
        text.parse().unwrap()
    }

    #[test]
    fn selectors_are_sorted_and_deduplicated() {
        let a = EntryRecord::new(id("spiffe://example.org/a"))
            .with_selector("unix:uid:2")
            .with_selector("unix:uid:1")
            .with_selector("unix:uid:2");
        let b = EntryRecord::new(id("spiffe://example.org/a")).with_selectors([
            "unix:uid:1",
            "unix:uid:2",
            "unix:uid:1",
        ]);
        assert_eq!(a.selectors(), ["unix:uid:1", "unix:uid:2"]);
        assert_eq!(a, b);
    }

    #[test]
    fn rejects_bad_selectors_and_ttls() {
        let base = EntryRecord::new(id("spiffe://example.org/a"));
        assert!(base.check().is_err(), "no selector");
        for bad in ["unix", ":uid", "unix:", ""] {
            let err = base.clone().with_selector(bad).check().unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::Invalid {
                        what: "selector",
                        ..
                    }
                ),
                "{bad}"
            );
        }
        let ok = base.with_selector("unix:uid:1");
        assert!(ok.check().is_ok());
        for bad in [Duration::ZERO, Duration::from_millis(1500), Duration::MAX] {
            let err = ok.clone().with_x509_ttl(Some(bad)).check().unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::Invalid {
                        what: "x509_ttl",
                        ..
                    }
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn entry_ids_are_random_hex_and_parse_back() {
        let ids = EntryId::random(2).unwrap();
        let (a, b) = (ids[0].clone(), ids[1].clone());
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 32);
        assert_eq!(a.to_string().parse::<EntryId>().unwrap(), a);
        assert!(
            "ABCDEF0123456789abcdef0123456789"
                .parse::<EntryId>()
                .is_err()
        );
        assert!("abc".parse::<EntryId>().is_err());
    }
}
