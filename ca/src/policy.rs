//! [`IssuancePolicy`]: who may obtain which identity.

use spiffe_id::SpiffeId;

/// The kind of credential being requested.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CredentialKind {
    /// An X.509-SVID.
    X509Svid,
    /// A JWT-SVID.
    JwtSvid,
    /// A CA certificate for a downstream (intermediate) CA.
    IntermediateCa,
}

/// One request, as the policy sees it.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct IssuanceContext<'a> {
    /// The identity the credential would carry.
    pub spiffe_id: &'a SpiffeId,
    /// Who asked (e.g. an attested node's ID), as the caller labelled the request.
    pub requester: Option<&'a str>,
    /// What is being issued.
    pub kind: CredentialKind,
}

/// Decides whether a requester may obtain an identity, before anything is signed.
///
/// The CA itself already refuses IDs outside its trust domain and workload IDs without a path;
/// a policy adds the deployment's rules, typically "a node may only obtain the identities
/// assigned to it". Implemented for closures.
///
/// ```
/// use ca::{IssuanceContext, IssuancePolicy};
///
/// // Only requests labelled with a requester, and never for `/admin` IDs.
/// let policy = |request: &IssuanceContext<'_>| -> Result<(), String> {
///     if request.requester.is_none() {
///         return Err("anonymous requests are refused".into());
///     }
///     if request.spiffe_id.path().starts_with("/admin") {
///         return Err("admin identities are not issued here".into());
///     }
///     Ok(())
/// };
/// let _: &dyn IssuancePolicy = &policy;
/// ```
pub trait IssuancePolicy: Send + Sync {
    /// `Ok` to allow; `Err(reason)` to deny, which the CA reports as
    /// [`Error::PolicyDenied`](crate::Error::PolicyDenied).
    ///
    /// # Errors
    /// The denial reason.
    fn check(&self, request: &IssuanceContext<'_>) -> Result<(), String>;
}

impl<F> IssuancePolicy for F
where
    F: Fn(&IssuanceContext<'_>) -> Result<(), String> + Send + Sync,
{
    fn check(&self, request: &IssuanceContext<'_>) -> Result<(), String> {
        self(request)
    }
}

/// The default policy: every ID of the CA's trust domain may be issued to anyone.
#[derive(Clone, Copy, Debug, Default)]
#[non_exhaustive]
pub struct AllowAll;

impl IssuancePolicy for AllowAll {
    fn check(&self, _: &IssuanceContext<'_>) -> Result<(), String> {
        Ok(())
    }
}
