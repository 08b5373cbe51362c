//! Where each key is in its life ([`AuthorityStatus`]), and the CA's lifecycle [`State`].

use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde::{Deserialize, Serialize};
use trust_bundle::{JwtBundle, X509Bundle};

use crate::keys::{JwtAuthority, X509Authority};

/// Where a key is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AuthorityStatus {
    /// Generated and published in the bundle, not signing yet.
    Prepared,
    /// Signing.
    Active,
    /// No longer signing; published until the last credential it signed expires.
    Retired,
    /// Stopped signing early by [`taint`];
    /// published until what it signed expires, so holders can re-issue meanwhile.
    ///
    /// [`taint`]: crate::CertificateAuthority::taint_x509_authority
    Tainted,
}

pub(crate) struct Entry<A> {
    pub(crate) status: AuthorityStatus,
    pub(crate) authority: Arc<A>,
}

impl<A> Entry<A> {
    pub(crate) fn new(status: AuthorityStatus, authority: Arc<A>) -> Self {
        Self { status, authority }
    }
}

#[derive(Default)]
pub(crate) struct State {
    pub(crate) x509: Vec<Entry<X509Authority>>,
    pub(crate) jwt: Vec<Entry<JwtAuthority>>,
    pub(crate) sequence: u64,
    pub(crate) x509_epoch: u64,
    pub(crate) jwt_epoch: u64,
    pub(super) published: Option<(X509Bundle, JwtBundle)>,
}

/// What lifecycle code needs to know of an authority of either kind.
pub(crate) trait Lifetime {
    fn id(&self) -> &str;
    fn key_ref(&self) -> &str;
    fn not_before(&self) -> u64;
    fn not_after(&self) -> u64;
    fn issued_until(&self) -> u64;
}

impl Lifetime for X509Authority {
    fn id(&self) -> &str {
        &self.id
    }
    fn key_ref(&self) -> &str {
        &self.key_ref
    }
    fn not_before(&self) -> u64 {
        self.not_before
    }
    fn not_after(&self) -> u64 {
        self.not_after
    }
    fn issued_until(&self) -> u64 {
        self.issued_until.load(Ordering::Acquire)
    }
}

impl Lifetime for JwtAuthority {
    fn id(&self) -> &str {
        &self.kid
    }
    fn key_ref(&self) -> &str {
        &self.key_ref
    }
    fn not_before(&self) -> u64 {
        self.not_before
    }
    fn not_after(&self) -> u64 {
        self.not_after
    }
    fn issued_until(&self) -> u64 {
        self.issued_until.load(Ordering::Acquire)
    }
}
