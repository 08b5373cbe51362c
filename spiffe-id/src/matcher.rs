//! [`IdMatcher`]: the authorisation vocabulary shared by every crate of the workspace.

use alloc::boxed::Box;
use alloc::collections::BTreeSet;
use alloc::vec::Vec;
use core::fmt;

use crate::{Error, IdPattern, SpiffeId, TrustDomain};

/// A predicate over SPIFFE IDs: which peers an authoriser accepts.
///
/// Built from a few primitives and composed with [`and`](Self::and), [`or`](Self::or),
/// [`all_of`](Self::all_of), [`any_of`](Self::any_of) and [`negate`](Self::negate). Matching
/// never allocates.
///
/// ```
/// use spiffe_id::{IdMatcher, SpiffeId, TrustDomain};
///
/// let prod: TrustDomain = "prod.example".parse()?;
/// let policy = IdMatcher::pattern("spiffe://prod.example/ns/payments/**")?
///     .or(IdMatcher::exact("spiffe://prod.example/admin".parse()?))
///     .and(IdMatcher::path_prefix("spiffe://prod.example/ns/payments/legacy".parse()?).negate());
///
/// assert!(policy.matches(&"spiffe://prod.example/ns/payments/api".parse()?));
/// assert!(policy.matches(&"spiffe://prod.example/admin".parse()?));
/// assert!(!policy.matches(&"spiffe://prod.example/ns/payments/legacy/db".parse()?));
/// assert!(!policy.matches(&"spiffe://dev.example/ns/payments/api".parse()?));
/// assert!(IdMatcher::member_of(prod).matches(&"spiffe://prod.example/x".parse()?));
/// # Ok::<(), spiffe_id::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct IdMatcher {
    rule: Rule,
}

#[derive(Clone, PartialEq, Eq)]
enum Rule {
    Any,
    Exact(SpiffeId),
    OneOf(BTreeSet<SpiffeId>),
    MemberOf(TrustDomain),
    PathPrefix(SpiffeId),
    Pattern(IdPattern),
    AllOf(Vec<IdMatcher>),
    AnyOf(Vec<IdMatcher>),
    Not(Box<IdMatcher>),
}

impl IdMatcher {
    /// Matches every ID. Authorisers that wrap this should make it an explicit, visible choice.
    pub fn any() -> Self {
        Self { rule: Rule::Any }
    }

    /// Matches exactly `id`.
    pub fn exact(id: SpiffeId) -> Self {
        Self {
            rule: Rule::Exact(id),
        }
    }

    /// Matches any of `ids`. An empty set matches nothing.
    pub fn one_of<I: IntoIterator<Item = SpiffeId>>(ids: I) -> Self {
        Self {
            rule: Rule::OneOf(ids.into_iter().collect()),
        }
    }

    /// Matches every ID of `trust_domain`, including the trust domain's own ID.
    pub fn member_of(trust_domain: TrustDomain) -> Self {
        Self {
            rule: Rule::MemberOf(trust_domain),
        }
    }

    /// Matches `prefix` itself and every ID below it, segment-aligned: the prefix
    /// `spiffe://example.org/ns/prod` matches `.../ns/prod` and `.../ns/prod/x`, never
    /// `.../ns/production`.
    pub fn path_prefix(prefix: SpiffeId) -> Self {
        Self {
            rule: Rule::PathPrefix(prefix),
        }
    }

    /// Matches IDs against a wildcard pattern; see [`IdPattern`] for the syntax.
    ///
    /// # Errors
    /// As [`IdPattern::parse`].
    pub fn pattern(pattern: &str) -> Result<Self, Error> {
        Ok(Self::from(IdPattern::parse(pattern)?))
    }

    /// Matches when every matcher matches. An empty list matches everything.
    pub fn all_of<I: IntoIterator<Item = Self>>(matchers: I) -> Self {
        Self {
            rule: Rule::AllOf(matchers.into_iter().collect()),
        }
    }

    /// Matches when at least one matcher matches. An empty list matches nothing.
    pub fn any_of<I: IntoIterator<Item = Self>>(matchers: I) -> Self {
        Self {
            rule: Rule::AnyOf(matchers.into_iter().collect()),
        }
    }

    /// Matches when both `self` and `other` match.
    #[must_use]
    pub fn and(self, other: Self) -> Self {
        Self::all_of([self, other])
    }

    /// Matches when `self` or `other` matches.
    #[must_use]
    pub fn or(self, other: Self) -> Self {
        Self::any_of([self, other])
    }

    /// Matches exactly when `self` does not.
    #[must_use]
    pub fn negate(self) -> Self {
        Self {
            rule: Rule::Not(Box::new(self)),
        }
    }

    /// Whether `id` matches.
    pub fn matches(&self, id: &SpiffeId) -> bool {
        match &self.rule {
            Rule::Any => true,
            Rule::Exact(expected) => expected == id,
            Rule::OneOf(set) => set.contains(id),
            Rule::MemberOf(trust_domain) => id.is_member_of(trust_domain),
            Rule::PathPrefix(prefix) => is_under(id, prefix),
            Rule::Pattern(pattern) => pattern.matches(id),
            Rule::AllOf(all) => all.iter().all(|m| m.matches(id)),
            Rule::AnyOf(any) => any.iter().any(|m| m.matches(id)),
            Rule::Not(inner) => !inner.matches(id),
        }
    }
}

/// `id` equals `prefix`, or continues it with `/`.
fn is_under(id: &SpiffeId, prefix: &SpiffeId) -> bool {
    id.as_str()
        .strip_prefix(prefix.as_str())
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

impl From<IdPattern> for IdMatcher {
    fn from(pattern: IdPattern) -> Self {
        Self {
            rule: Rule::Pattern(pattern),
        }
    }
}

impl From<SpiffeId> for IdMatcher {
    fn from(id: SpiffeId) -> Self {
        Self::exact(id)
    }
}

impl From<TrustDomain> for IdMatcher {
    fn from(trust_domain: TrustDomain) -> Self {
        Self::member_of(trust_domain)
    }
}

/// Renders the matcher as an expression such as
/// `any-of(pattern(spiffe://a/*), exact(spiffe://a/b))`, for logs and error messages.
impl fmt::Display for IdMatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn list<T: fmt::Display>(
            f: &mut fmt::Formatter<'_>,
            name: &str,
            items: impl IntoIterator<Item = T>,
        ) -> fmt::Result {
            f.write_str(name)?;
            f.write_str("(")?;
            for (i, item) in items.into_iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{item}")?;
            }
            f.write_str(")")
        }
        match &self.rule {
            Rule::Any => f.write_str("any"),
            Rule::Exact(id) => write!(f, "exact({id})"),
            Rule::OneOf(set) => list(f, "one-of", set),
            Rule::MemberOf(td) => write!(f, "member-of({td})"),
            Rule::PathPrefix(prefix) => write!(f, "path-prefix({prefix})"),
            Rule::Pattern(pattern) => write!(f, "pattern({pattern})"),
            Rule::AllOf(all) => list(f, "all-of", all),
            Rule::AnyOf(any) => list(f, "any-of", any),
            Rule::Not(inner) => write!(f, "not({inner})"),
        }
    }
}

impl fmt::Debug for IdMatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdMatcher({self})")
    }
}
