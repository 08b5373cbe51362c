//! [`TestCa`]: a certificate authority in one line, for tests (feature `test-util`).
//!
//! Unlike the rest of the crate, `TestCa` reads the system clock (`SystemTime::now()`) so that
//! what it mints verifies "now" in the caller's test, and it panics on invalid literal input
//! (a trust domain or SPIFFE ID typed into a test).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use spiffe_id::{SpiffeId, TrustDomain};
use svid::X509Svid;
use trust_bundle::{BundleSet, JwtBundle, SpiffeBundle, X509Bundle};

use crate::authority::CertificateAuthority;
use crate::error::Error;
use crate::request::{JwtSvidRequest, X509SvidRequest};

/// How far in the past a `TestCa`'s authorities start, so expired credentials can be minted.
const START_OFFSET: Duration = Duration::from_secs(3600);
/// Lifetime of a `TestCa`'s keys.
const TEST_CA_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

/// A root CA for tests, on the system clock.
///
/// ```
/// use ca::test_util::TestCa;
///
/// let ca = TestCa::new("example.org");
/// let svid = ca.x509_svid("/web");
/// assert_eq!(svid.spiffe_id().as_str(), "spiffe://example.org/web");
/// let token = ca.jwt_svid("/web", &["db"]);
/// assert_eq!(token.split('.').count(), 3);
///
/// // Federation: two trust domains in one bundle set.
/// let other = TestCa::new("other.org");
/// let set = TestCa::bundle_set_of(&[&ca, &other]);
/// assert_eq!(set.len(), 2);
/// ```
#[derive(Clone, Debug)]
pub struct TestCa {
    ca: CertificateAuthority,
}

fn now() -> SystemTime {
    SystemTime::now()
}

impl TestCa {
    /// A root CA for `trust_domain` whose keys started an hour ago and last 30 days.
    ///
    /// # Panics
    /// If `trust_domain` is not a valid trust domain name, or neither the `ring` nor the
    /// `aws-lc-rs` feature is on (use [`with_crypto`](Self::with_crypto) then).
    #[allow(
        clippy::expect_used,
        reason = "test helper on literal input; documented panic"
    )]
    pub fn new(trust_domain: &str) -> Self {
        Self::try_new(trust_domain).expect("TestCa::new")
    }

    /// As [`new`](Self::new), without panicking.
    ///
    /// # Errors
    /// An invalid trust domain name ([`Error::InvalidRequest`]) or a build failure.
    pub fn try_new(trust_domain: &str) -> Result<Self, Error> {
        let trust_domain = TrustDomain::parse(trust_domain).map_err(|_| Error::InvalidRequest {
            reason: "invalid trust domain name",
        })?;
        Self::build(CertificateAuthority::builder(trust_domain))
    }

    /// As [`try_new`](Self::try_new), with keys generated and signed by `crypto` (its
    /// intermediates use it too).
    ///
    /// # Errors
    /// As [`try_new`](Self::try_new).
    pub fn with_crypto(trust_domain: &str, crypto: svid::Crypto) -> Result<Self, Error> {
        let trust_domain = TrustDomain::parse(trust_domain).map_err(|_| Error::InvalidRequest {
            reason: "invalid trust domain name",
        })?;
        Self::build(CertificateAuthority::builder(trust_domain).crypto(crypto))
    }

    fn build(builder: crate::CertificateAuthorityBuilder) -> Result<Self, Error> {
        let ca = builder
            .ca_ttl(TEST_CA_TTL)
            .jwt_key_ttl(TEST_CA_TTL)
            .build(now() - START_OFFSET)?;
        Ok(Self { ca })
    }

    /// Wraps a CA built elsewhere (its authorities must be valid at the current time).
    pub fn from_ca(ca: CertificateAuthority) -> Self {
        Self { ca }
    }

    /// An intermediate CA of the same trust domain, signed by this one. Its authorities start
    /// up to 30 minutes in the past (not before the parent's active one).
    ///
    /// # Panics
    /// If signing fails.
    #[allow(clippy::expect_used, reason = "test helper; documented panic")]
    pub fn intermediate(&self) -> Self {
        // As early as the parent's active authority allows (after a rotation, that is now).
        let parent_start = self
            .ca
            .snapshot()
            .active(crate::AuthorityKind::X509)
            .map_or_else(now, |a| a.not_before + Duration::from_secs(10));
        let start = (now() - START_OFFSET / 2).max(parent_start).min(now());
        let ca = CertificateAuthority::builder(self.trust_domain().clone())
            .parent(&self.ca)
            .crypto(self.ca.crypto().clone())
            .ca_ttl(TEST_CA_TTL)
            .jwt_key_ttl(TEST_CA_TTL)
            .build(start)
            .expect("TestCa::intermediate");
        Self { ca }
    }

    /// The CA.
    pub fn ca(&self) -> &CertificateAuthority {
        &self.ca
    }

    /// The trust domain.
    pub fn trust_domain(&self) -> &TrustDomain {
        self.ca.trust_domain()
    }

    /// A SPIFFE ID of this trust domain from a path (`/web`) or a full ID.
    ///
    /// # Panics
    /// If `id` is neither a valid path nor a valid SPIFFE ID.
    #[allow(
        clippy::expect_used,
        reason = "test helper on literal input; documented panic"
    )]
    pub fn id(&self, id: &str) -> SpiffeId {
        if id.starts_with("spiffe://") {
            SpiffeId::parse(id).expect("TestCa: invalid SPIFFE ID")
        } else {
            SpiffeId::from_path(self.trust_domain(), id).expect("TestCa: invalid SPIFFE ID path")
        }
    }

    /// An X.509-SVID for `id` (a path or a full ID), valid for an hour.
    ///
    /// # Panics
    /// On an invalid ID or an ID of another trust domain.
    #[allow(clippy::expect_used, reason = "test helper; documented panic")]
    pub fn x509_svid(&self, id: &str) -> X509Svid {
        self.ca
            .mint_x509_svid(&X509SvidRequest::new(self.id(id)), now())
            .expect("TestCa::x509_svid")
    }

    /// An X.509-SVID from a full request.
    ///
    /// # Panics
    /// If the CA refuses the request.
    #[allow(clippy::expect_used, reason = "test helper; documented panic")]
    pub fn x509_svid_with(&self, request: &X509SvidRequest) -> X509Svid {
        self.ca
            .mint_x509_svid(request, now())
            .expect("TestCa::x509_svid_with")
    }

    /// An X.509-SVID for `id` that expired ten minutes ago (valid from 40 to 10 minutes ago).
    ///
    /// # Panics
    /// As [`x509_svid`](Self::x509_svid).
    #[allow(clippy::expect_used, reason = "test helper; documented panic")]
    pub fn expired_x509_svid(&self, id: &str) -> X509Svid {
        self.ca
            .mint_x509_svid(
                &X509SvidRequest::new(self.id(id)).ttl(Duration::from_secs(30 * 60)),
                now() - Duration::from_secs(40 * 60),
            )
            .expect("TestCa::expired_x509_svid")
    }

    /// A JWT-SVID for `id` and `audience`, valid for five minutes.
    ///
    /// # Panics
    /// As [`x509_svid`](Self::x509_svid), or with an empty audience.
    #[allow(clippy::expect_used, reason = "test helper; documented panic")]
    pub fn jwt_svid(&self, id: &str, audience: &[&str]) -> String {
        self.ca
            .mint_jwt_svid(
                &JwtSvidRequest::new(self.id(id), audience.iter().copied()),
                now(),
            )
            .expect("TestCa::jwt_svid")
    }

    /// A JWT-SVID that expired ten minutes ago.
    ///
    /// # Panics
    /// As [`jwt_svid`](Self::jwt_svid).
    #[allow(clippy::expect_used, reason = "test helper; documented panic")]
    pub fn expired_jwt_svid(&self, id: &str, audience: &[&str]) -> String {
        self.ca
            .mint_jwt_svid(
                &JwtSvidRequest::new(self.id(id), audience.iter().copied())
                    .ttl(Duration::from_secs(5 * 60)),
                now() - Duration::from_secs(15 * 60),
            )
            .expect("TestCa::expired_jwt_svid")
    }

    /// The published bundle.
    pub fn bundle(&self) -> Arc<SpiffeBundle> {
        self.ca.bundle()
    }

    /// The X.509 authorities.
    pub fn x509_bundle(&self) -> Arc<X509Bundle> {
        Arc::clone(self.bundle().x509_bundle())
    }

    /// The JWT keys.
    pub fn jwt_bundle(&self) -> Arc<JwtBundle> {
        Arc::clone(self.bundle().jwt_bundle())
    }

    /// A bundle set holding this trust domain only.
    pub fn bundle_set(&self) -> BundleSet {
        Self::bundle_set_of(&[self])
    }

    /// A bundle set holding several trust domains (federation).
    ///
    /// # Panics
    /// If two of them have the same trust domain.
    #[allow(clippy::expect_used, reason = "test helper; documented panic")]
    pub fn bundle_set_of(cas: &[&Self]) -> BundleSet {
        BundleSet::from_bundles(cas.iter().map(|ca| SpiffeBundle::clone(&ca.bundle())))
            .expect("TestCa::bundle_set_of: duplicate trust domain")
    }

    /// Rotates both the X.509 authority and the JWT key now (forced), keeping the old ones
    /// published as retired.
    ///
    /// # Panics
    /// If key generation fails.
    #[allow(clippy::expect_used, reason = "test helper; documented panic")]
    pub fn rotate(&self) {
        let now = now();
        self.ca.force_rotate_x509(now).expect("TestCa::rotate");
        self.ca.force_rotate_jwt(now).expect("TestCa::rotate");
    }

    /// [`rotate`](Self::rotate), by value.
    #[must_use]
    pub fn rotated(self) -> Self {
        self.rotate();
        self
    }
}
