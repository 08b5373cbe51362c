//! A small in-test PKI for the X.509-SVID integration tests.
//!
//! Certificates are minted with rcgen at test time, with fixed validity windows (by default
//! 2026-01-01 to 2027-01-01) and verified at a fixed instant ([`now`], 2026-06-01), so the only
//! source of non-determinism is key generation. RSA keys cannot be generated with rcgen's ring
//! backend, so the one RSA key comes from `tests/data/rsa2048.pk8.pem` (see `tests/data/README.md`).

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

use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls_pki_types::{CertificateDer, UnixTime};
use spiffe_id::TrustDomain;
use svid::Crypto;
use trust_bundle::{BundleSet, SpiffeBundle, X509Bundle};

/// 2026-01-01T00:00:00Z, the default `notBefore`.
pub const NOT_BEFORE: u64 = 1_767_225_600;
/// 2027-01-01T00:00:00Z, the default `notAfter`.
pub const NOT_AFTER: u64 = 1_798_761_600;
/// 2026-06-01T00:00:00Z, the verification time of every test.
pub const NOW: u64 = 1_780_272_000;

/// The fixed verification time.
pub fn now() -> UnixTime {
    at(NOW)
}

/// A verification time in seconds since the Unix epoch.
pub fn at(secs: u64) -> UnixTime {
    UnixTime::since_unix_epoch(Duration::from_secs(secs))
}

/// Seconds since the Unix epoch of midnight UTC on a date, as rcgen will encode it.
pub fn epoch(year: i32, month: u8, day: u8) -> u64 {
    u64::try_from(rcgen::date_time_ymd(year, month, day).unix_timestamp()).unwrap()
}

/// Sets a validity window on certificate parameters (midnight UTC on both dates).
pub fn validity(params: &mut CertificateParams, from: (i32, u8, u8), until: (i32, u8, u8)) {
    params.not_before = rcgen::date_time_ymd(from.0, from.1, from.2);
    params.not_after = rcgen::date_time_ymd(until.0, until.1, until.2);
}

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

/// The key types an X.509-SVID may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyType {
    /// ECDSA P-256 (the default).
    P256,
    /// ECDSA P-384.
    P384,
    /// RSA 2048, loaded from `tests/data/rsa2048.pk8.pem`.
    Rsa2048,
    /// Ed25519.
    Ed25519,
}

impl KeyType {
    /// Every key type.
    pub const ALL: [Self; 4] = [Self::P256, Self::P384, Self::Rsa2048, Self::Ed25519];

    /// A key pair of this type: fresh, except RSA (the checked-in key).
    pub fn key_pair(self) -> KeyPair {
        match self {
            Self::P256 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap(),
            Self::P384 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap(),
            Self::Ed25519 => KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap(),
            Self::Rsa2048 => KeyPair::from_pem(&data_str("rsa2048.pk8.pem")).unwrap(),
        }
    }

    /// The algorithm `svid` reports for keys of this type.
    pub fn algorithm(self) -> svid::KeyAlgorithm {
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

/// A URI SAN that rcgen accepts (IA5String).
pub fn uri(s: &str) -> SanType {
    SanType::URI(s.try_into().unwrap())
}

/// A DNS SAN.
pub fn dns(s: &str) -> SanType {
    SanType::DnsName(s.try_into().unwrap())
}

/// A DER TLV with a short or long definite length.
pub fn tlv(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = value.len();
    if len < 0x80 {
        out.push(u8::try_from(len).unwrap());
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | u8::try_from(bytes.len() - skip).unwrap());
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(value);
    out
}

/// `2.5.29.17` subjectAltName.
pub const OID_SAN: &[u64] = &[2, 5, 29, 17];
/// `2.5.29.19` basicConstraints.
pub const OID_BASIC_CONSTRAINTS: &[u64] = &[2, 5, 29, 19];
/// `2.5.29.15` keyUsage.
pub const OID_KEY_USAGE: &[u64] = &[2, 5, 29, 15];

/// A subjectAltName extension holding raw `uniformResourceIdentifier` GeneralNames, bytes as
/// given (so they may be non-ASCII, non-UTF-8 or oversized, which rcgen's `SanType` refuses).
/// Marked critical, as RFC 5280 4.1.2.6 requires with the empty subject leaves have here.
pub fn raw_uri_sans(uris: &[&[u8]]) -> CustomExtension {
    let names: Vec<u8> = uris.iter().flat_map(|u| tlv(0x86, u)).collect();
    let mut ext = CustomExtension::from_oid_content(OID_SAN, tlv(0x30, &names));
    ext.set_criticality(true);
    ext
}

/// A custom extension with the given OID and raw value bytes.
pub fn raw_extension(oid: &[u64], value: Vec<u8>, critical: bool) -> CustomExtension {
    let mut ext = CustomExtension::from_oid_content(oid, value);
    ext.set_criticality(critical);
    ext
}

/// Parameters for a signing certificate of `trust_domain`: cA=true without a path length
/// constraint, keyUsage keyCertSign + cRLSign, URI SAN `spiffe://<td>`, a CN, the default
/// validity window.
pub fn ca_params(trust_domain: &str, common_name: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.subject_alt_names = vec![uri(&format!("spiffe://{trust_domain}"))];
    validity(&mut params, (2026, 1, 1), (2027, 1, 1));
    params
}

/// Parameters for a leaf X.509-SVID as SPIRE issues it: the SPIFFE ID as the only URI SAN,
/// an empty subject (so the SAN is critical), cA=false, keyUsage digitalSignature +
/// keyEncipherment + keyAgreement (critical), EKU serverAuth + clientAuth, the default
/// validity window.
pub fn leaf_params(spiffe_id: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
        KeyUsagePurpose::KeyAgreement,
    ];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.subject_alt_names = vec![uri(spiffe_id)];
    validity(&mut params, (2026, 1, 1), (2027, 1, 1));
    params
}

/// A signing certificate (root or intermediate) with its key.
pub struct Ca {
    /// The trust domain it was made for.
    pub trust_domain: String,
    /// The parameters it was made from; they name the issuer of what it signs.
    pub params: CertificateParams,
    /// Its key pair.
    pub key: KeyPair,
    /// The certificate.
    pub cert: CertificateDer<'static>,
}

impl Ca {
    /// A self-signed P-256 root CA for `trust_domain` (see [`ca_params`]).
    pub fn root(trust_domain: &str) -> Self {
        Self::root_with(trust_domain, KeyType::P256, |_| {})
    }

    /// A self-signed root CA of a key type, with its parameters edited before signing.
    pub fn root_with(
        trust_domain: &str,
        key_type: KeyType,
        edit: impl FnOnce(&mut CertificateParams),
    ) -> Self {
        let mut params = ca_params(trust_domain, &format!("{trust_domain} root CA"));
        edit(&mut params);
        let key = key_type.key_pair();
        let cert = params.self_signed(&key).unwrap().der().clone();
        Self {
            trust_domain: trust_domain.to_owned(),
            params,
            key,
            cert,
        }
    }

    /// A P-256 intermediate CA of the same trust domain signed by this CA.
    pub fn intermediate(&self, common_name: &str) -> Self {
        self.intermediate_with(common_name, KeyType::P256, |_| {})
    }

    /// An intermediate CA signed by this CA, with its parameters edited before signing.
    pub fn intermediate_with(
        &self,
        common_name: &str,
        key_type: KeyType,
        edit: impl FnOnce(&mut CertificateParams),
    ) -> Self {
        let mut params = ca_params(&self.trust_domain, common_name);
        edit(&mut params);
        let key = key_type.key_pair();
        let cert = self.sign(&params, &key);
        Self {
            trust_domain: self.trust_domain.clone(),
            params,
            key,
            cert,
        }
    }

    /// A P-256 leaf for `spiffe_id` (see [`leaf_params`]).
    pub fn leaf(&self, spiffe_id: &str) -> Leaf {
        self.leaf_with(spiffe_id, KeyType::P256, |_| {})
    }

    /// A leaf signed by this CA, with its parameters edited before signing.
    pub fn leaf_with(
        &self,
        spiffe_id: &str,
        key_type: KeyType,
        edit: impl FnOnce(&mut CertificateParams),
    ) -> Leaf {
        let mut params = leaf_params(spiffe_id);
        edit(&mut params);
        let key = key_type.key_pair();
        let cert = self.sign(&params, &key);
        Leaf { cert, key }
    }

    /// Signs `params` for the public key of `key`.
    pub fn sign(&self, params: &CertificateParams, key: &KeyPair) -> CertificateDer<'static> {
        let issuer = Issuer::from_params(&self.params, &self.key);
        params.signed_by(key, &issuer).unwrap().der().clone()
    }

    /// A bundle of this CA's trust domain holding this certificate only.
    pub fn bundle(&self) -> X509Bundle {
        bundle(&self.trust_domain, &[&self.cert])
    }
}

/// A leaf certificate with its key pair.
pub struct Leaf {
    /// The certificate.
    pub cert: CertificateDer<'static>,
    /// Its key pair.
    pub key: KeyPair,
}

impl Leaf {
    /// The private key as PKCS#8 DER.
    pub fn pkcs8(&self) -> Vec<u8> {
        self.key.serialize_der()
    }

    /// The private key as a `PRIVATE KEY` PEM block.
    pub fn key_pem(&self) -> String {
        self.key.serialize_pem()
    }

    /// The private key loaded by `svid`.
    pub fn private_key(&self) -> svid::PrivateKey {
        svid::PrivateKey::from_pkcs8_der(&self.pkcs8(), &backend()).unwrap()
    }
}

/// Owned copies of certificates, in the order given (leaf first).
pub fn chain(certs: &[&CertificateDer<'static>]) -> Vec<CertificateDer<'static>> {
    certs.iter().map(|&c| c.clone()).collect()
}

/// Certificates as concatenated DER, the Workload API's encoding.
pub fn concat(certs: &[&CertificateDer<'static>]) -> Vec<u8> {
    certs.iter().flat_map(|c| c.iter().copied()).collect()
}

/// Certificates as PEM, in the order given.
pub fn pem(certs: &[&CertificateDer<'static>]) -> String {
    certs.iter().map(|c| pem_block("CERTIFICATE", c)).collect()
}

/// One PEM block (RFC 7468) with 64-character lines.
pub fn pem_block(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The certificate with the last byte of its signature flipped: still well-formed DER (the
/// last byte is inside the signature value), but the signature no longer verifies.
pub fn flip_signature(cert: &CertificateDer<'static>) -> CertificateDer<'static> {
    let mut der = cert.to_vec();
    *der.last_mut().unwrap() ^= 0x01;
    CertificateDer::from(der)
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
