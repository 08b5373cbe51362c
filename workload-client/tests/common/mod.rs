//! Test helpers: a small CA with JWT signing and the scriptable fake Workload API server, both
//! from `test-support`, in the shapes these tests use.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::as_conversions,
    dead_code,
    unreachable_pub,
    unused_imports,
    missing_docs,
    missing_debug_implementations,
    reason = "test helper"
)]

use std::path::Path;
use std::time::{Duration, SystemTime};

use test_support::jwt::Es256Key;
pub use test_support::workload_api::{Fake, FakeServer, Script, Step, jwt_response, x509_response};
use test_support::x509::{Ca, Validity};
use workload_client::proto::X509svid;

/// A trust domain's CA: X.509 and JWT authorities, valid around the wall clock.
pub struct TestCa {
    pub trust_domain: String,
    ca: Ca,
    jwt_key: Es256Key,
}

/// An issued X.509-SVID in Workload API form.
#[derive(Clone)]
pub struct IssuedSvid {
    pub spiffe_id: String,
    pub chain_der: Vec<u8>,
    pub key_der: Vec<u8>,
}

impl TestCa {
    pub fn new(trust_domain: &str) -> Self {
        let validity = Validity::around_now(
            Duration::from_secs(3600),
            Duration::from_secs(10 * 24 * 3600),
        );
        let ca = Ca::builder(trust_domain)
            .common_name(&format!("{trust_domain} CA"))
            .validity(validity)
            .build();
        Self {
            trust_domain: trust_domain.to_owned(),
            ca,
            jwt_key: Es256Key::generate(&format!("{trust_domain}-k1")),
        }
    }

    /// The X.509 bundle as concatenated DER.
    pub fn bundle_der(&self) -> Vec<u8> {
        self.ca.cert.to_vec()
    }

    pub fn spiffe_id(&self, path: &str) -> String {
        format!("spiffe://{}{path}", self.trust_domain)
    }

    /// An SVID valid from an hour ago for `lifetime`.
    pub fn x509_svid(&self, path: &str, lifetime: Duration) -> IssuedSvid {
        let now = SystemTime::now();
        self.x509_svid_between(path, now - Duration::from_secs(3600), now + lifetime)
    }

    pub fn x509_svid_between(
        &self,
        path: &str,
        not_before: SystemTime,
        not_after: SystemTime,
    ) -> IssuedSvid {
        let leaf = self
            .ca
            .issue_leaf(&self.spiffe_id(path))
            .validity(Validity::between(not_before, not_after))
            .build();
        IssuedSvid {
            chain_der: leaf.cert.to_vec(),
            key_der: leaf.pkcs8(),
            spiffe_id: leaf.spiffe_id,
        }
    }

    /// A JWT-SVID signed with ES256.
    pub fn jwt_svid(&self, path: &str, audience: &[&str], lifetime: Duration) -> String {
        self.jwt_key
            .jwt_svid(&self.spiffe_id(path), audience, lifetime.as_secs())
    }

    /// The JWT bundle as a Workload API JWKS (no `use`, as SPIRE sends it).
    pub fn jwks(&self) -> Vec<u8> {
        self.jwt_key.jwks()
    }
}

/// One X509SVIDResponse entry for `svid`.
pub fn entry(svid: &IssuedSvid, bundle: &[u8], hint: &str) -> X509svid {
    X509svid {
        spiffe_id: svid.spiffe_id.clone(),
        x509_svid: svid.chain_der.clone(),
        x509_svid_key: svid.key_der.clone(),
        bundle: bundle.to_vec(),
        hint: hint.to_owned(),
    }
}

pub fn path_exists(path: &Path) -> bool {
    path.exists()
}

/// A client with a short timeout for tests.
pub fn client(server: &FakeServer) -> workload_client::Client {
    workload_client::Client::builder(server.endpoint())
        .timeout(Duration::from_secs(5))
        .connect_lazy()
        .unwrap()
}

/// Options with tiny backoff so tests that run on the real clock stay fast.
pub fn fast_options() -> workload_client::SourceOptions {
    let mut options = workload_client::SourceOptions::default();
    options.backoff_initial = Duration::from_millis(20);
    options.backoff_max = Duration::from_millis(200);
    options.startup_timeout = Duration::from_secs(10);
    options
}
