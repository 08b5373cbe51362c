//! Shared helpers for the `ca` integration tests: a fixed clock, CAs built at it, and readers
//! for what the CA produced.

#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test binary uses a different subset of these helpers"
)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers: a panic here is a failed test"
)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ca::{CertificateAuthority, CertificateAuthorityBuilder};
use rustls_pki_types::{CertificateDer, UnixTime};
use spiffe_id::{SpiffeId, TrustDomain};
use svid::{Crypto, VerifiedX509Svid, X509Verifier};
use trust_bundle::{BundleSet, SpiffeBundle};
use x509_parser::prelude::{FromDer, X509Certificate};

/// 2026-06-01T00:00:00Z: the time every test starts at.
pub const T0_SECS: u64 = 1_780_272_000;

/// The fixed start time.
pub fn t0() -> SystemTime {
    at(T0_SECS)
}

/// An instant in seconds since the epoch.
pub fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// `t0() + secs`.
pub fn after(secs: u64) -> SystemTime {
    at(T0_SECS + secs)
}

/// Seconds since the epoch.
pub fn secs(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).unwrap().as_secs()
}

pub fn unix(time: SystemTime) -> UnixTime {
    UnixTime::since_unix_epoch(time.duration_since(UNIX_EPOCH).unwrap())
}

pub fn td(name: &str) -> TrustDomain {
    TrustDomain::parse(name).unwrap()
}

pub fn id(s: &str) -> SpiffeId {
    SpiffeId::parse(s).unwrap()
}

/// A builder for `example.org`.
pub fn builder() -> CertificateAuthorityBuilder {
    CertificateAuthority::builder(td("example.org"))
}

/// A root CA for `example.org` built at `t0()`.
pub fn root() -> CertificateAuthority {
    builder().build(t0()).unwrap()
}

/// Verifies `chain` against `ca`'s current bundle with svid's verifier.
pub fn verify(
    ca: &CertificateAuthority,
    chain: &[CertificateDer<'static>],
    now: SystemTime,
) -> Result<VerifiedX509Svid, svid::Error> {
    verify_with(&ca.bundle(), chain, now)
}

pub fn verify_with(
    bundle: &SpiffeBundle,
    chain: &[CertificateDer<'static>],
    now: SystemTime,
) -> Result<VerifiedX509Svid, svid::Error> {
    let set = BundleSet::from_bundles([bundle.clone()]).unwrap();
    X509Verifier::new(set, &Crypto::default()).verify(chain, unix(now))
}

/// Parses a certificate.
pub fn parse(der: &[u8]) -> X509Certificate<'_> {
    let (rest, cert) = X509Certificate::from_der(der).unwrap();
    assert!(rest.is_empty());
    cert
}

/// The JSON of a bundle.
pub fn bundle_json(bundle: &SpiffeBundle) -> serde_json::Value {
    serde_json::from_str(&bundle.to_json()).unwrap()
}

/// Decodes a compact JWT's header and claims.
pub fn jwt_parts(token: &str) -> (serde_json::Value, serde_json::Value) {
    use base64::Engine;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut parts = token.split('.');
    let header = engine.decode(parts.next().unwrap()).unwrap();
    let claims = engine.decode(parts.next().unwrap()).unwrap();
    (
        serde_json::from_slice(&header).unwrap(),
        serde_json::from_slice(&claims).unwrap(),
    )
}

/// The repository root.
pub fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A root CA for `td` built at `t0()`.
pub fn root_of(td_name: &str) -> CertificateAuthority {
    CertificateAuthority::builder(td(td_name))
        .build(t0())
        .unwrap()
}

/// Validates a JWT-SVID against `bundle` with svid's validator.
pub fn validate_jwt(
    bundle: &SpiffeBundle,
    token: &str,
    aud: &str,
    now: SystemTime,
) -> Result<svid::VerifiedJwtSvid, svid::JwtError> {
    let set = BundleSet::from_bundles([bundle.clone()]).unwrap();
    svid::JwtValidator::new(&set, &Crypto::default()).validate(
        token,
        &svid::Audience::new([aud]).unwrap(),
        unix(now),
    )
}

/// A CSR for a fresh P-256 key (rcgen), with no names.
pub fn some_csr() -> Vec<u8> {
    let key = rcgen::KeyPair::generate().unwrap();
    rcgen::CertificateParams::new(Vec::<String>::new())
        .unwrap()
        .serialize_request(&key)
        .unwrap()
        .der()
        .to_vec()
}
