//! A small in-test PKI for the X.509-SVID integration tests.
//!
//! Certificates are minted with rcgen at test time by `test_support::x509` (re-exported here),
//! with fixed validity windows (by default 2026-01-01 to 2027-01-01) and verified at a fixed
//! instant ([`now`], 2026-06-01), so the only source of non-determinism is key generation. RSA
//! keys cannot be generated with rcgen's ring backend, so the one RSA key comes from
//! `tests/data/rsa2048.pk8.pem` (see `tests/data/README.md`). What needs `svid` or
//! `trust-bundle` types lives here, as extension traits on the shared types.

#![allow(
    dead_code,
    unreachable_pub,
    unused_imports,
    reason = "each test binary uses a different subset of these helpers"
)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers: a panic here is a failed test"
)]

use rustls_pki_types::CertificateDer;
use spiffe_id::TrustDomain;
use svid::Crypto;
pub use test_support::pem::{chain, concat, flip_signature, pem, pem_block, tlv};
pub use test_support::time::{NOT_AFTER, NOT_BEFORE, NOW, at, epoch, now};
pub use test_support::x509::{
    Ca, KeyType, Leaf, OID_BASIC_CONSTRAINTS, OID_KEY_USAGE, OID_NAME_CONSTRAINTS, OID_SAN,
    ca_params, dns, leaf_params, raw_extension, raw_uri_sans, uri, validity,
};
use trust_bundle::{BundleSet, SpiffeBundle, X509Bundle};

/// The crypto backend the tests verify with: the default one.
pub fn backend() -> Crypto {
    Crypto::default()
}

/// Every enabled crypto backend, for the tests that depend on the backend's algorithms.
pub fn backends() -> Vec<Crypto> {
    [
        #[cfg(feature = "ring")]
        Crypto::ring(),
        #[cfg(feature = "aws-lc-rs")]
        Crypto::aws_lc_rs(),
    ]
    .into()
}

/// A trust domain from a name known to be valid.
pub fn td(name: &str) -> TrustDomain {
    TrustDomain::parse(name).unwrap()
}

/// What `svid` says of a key type.
pub trait KeyTypeExt {
    /// The algorithm `svid` reports for keys of this type.
    fn algorithm(self) -> svid::KeyAlgorithm;
}

impl KeyTypeExt for KeyType {
    fn algorithm(self) -> svid::KeyAlgorithm {
        match self {
            Self::P256 => svid::KeyAlgorithm::EcdsaP256,
            Self::P384 => svid::KeyAlgorithm::EcdsaP384,
            Self::Rsa2048 => svid::KeyAlgorithm::Rsa,
            Self::Ed25519 => svid::KeyAlgorithm::Ed25519,
        }
    }
}

/// A file under `tests/data/`.
pub fn data(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A text file under `tests/data/`.
pub fn data_str(name: &str) -> String {
    String::from_utf8(data(name)).unwrap()
}

/// A CA's certificate as a bundle.
pub trait CaExt {
    /// A bundle of this CA's trust domain holding this certificate only.
    fn bundle(&self) -> X509Bundle;
}

impl CaExt for Ca {
    fn bundle(&self) -> X509Bundle {
        bundle(&self.trust_domain, &[&self.cert])
    }
}

/// A leaf's key as `svid` loads it.
pub trait LeafExt {
    /// The private key loaded by `svid`.
    fn private_key(&self) -> svid::PrivateKey;
}

impl LeafExt for Leaf {
    fn private_key(&self) -> svid::PrivateKey {
        svid::PrivateKey::from_pkcs8_der(&self.pkcs8(), &backend()).unwrap()
    }
}

/// An X.509 bundle for `trust_domain` holding `authorities`.
pub fn bundle(trust_domain: &str, authorities: &[&CertificateDer<'static>]) -> X509Bundle {
    X509Bundle::from_certificates(td(trust_domain), chain(authorities)).unwrap()
}

/// A bundle set of the given X.509 bundles.
pub fn set(bundles: impl IntoIterator<Item = X509Bundle>) -> BundleSet {
    BundleSet::from_bundles(bundles.into_iter().map(SpiffeBundle::from)).unwrap()
}

/// The [`svid::VerifyError`] of a verification that must fail with one.
pub fn verify_err<T: std::fmt::Debug>(result: Result<T, svid::Error>) -> svid::VerifyError {
    match result {
        Err(svid::Error::Verify(error)) => error,
        other => panic!("expected Error::Verify, got {other:?}"),
    }
}

/// The [`svid::ProfileError`] of a call that must fail with one.
pub fn profile_err<T: std::fmt::Debug>(result: Result<T, svid::Error>) -> svid::ProfileError {
    match result {
        Err(svid::Error::Profile(error)) => error,
        other => panic!("expected Error::Profile, got {other:?}"),
    }
}

/// The position and [`svid::CertificateError`] of a call that must fail with one.
pub fn certificate_err<T: std::fmt::Debug>(
    result: Result<T, svid::Error>,
) -> (usize, svid::CertificateError) {
    match result {
        Err(svid::Error::Certificate { index, source }) => (index, source),
        other => panic!("expected Error::Certificate, got {other:?}"),
    }
}
