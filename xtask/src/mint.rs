//! Minting material with rcgen and ring: fixed dates, serials and key identifiers derived from
//! the vector's name, fresh keys (except RSA), and PEM output.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use ring::digest::{SHA256, digest};
use rustls_pki_types::CertificateDer;

use crate::Result;

/// A calendar date; every instant in the corpus is midnight UTC of one.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Date {
    year: i32,
    month: u8,
    day: u8,
}

impl Date {
    const fn new(year: i32, month: u8, day: u8) -> Self {
        Self { year, month, day }
    }

    /// Seconds since the Unix epoch.
    pub(crate) fn unix(self) -> u64 {
        let seconds = rcgen::date_time_ymd(self.year, self.month, self.day).unix_timestamp();
        // Every date here is after 1970.
        u64::try_from(seconds).unwrap_or(0)
    }

    /// RFC 3339, e.g. `2026-06-01T00:00:00Z`.
    pub(crate) fn rfc3339(self) -> String {
        format!(
            "{:04}-{:02}-{:02}T00:00:00Z",
            self.year, self.month, self.day
        )
    }
}

/// Start of the validity window of every certificate and of every JWT-SVID's `iat`.
pub(crate) const NOT_BEFORE: Date = Date::new(2026, 1, 1);
/// End of the validity window and every valid JWT-SVID's `exp`: ten years of headroom, so the
/// corpus does not need regenerating as the calendar moves (tests use [`VALIDATION_TIME`]).
pub(crate) const NOT_AFTER: Date = Date::new(2036, 1, 1);
/// The instant every vector is validated at.
pub(crate) const VALIDATION_TIME: Date = Date::new(2026, 6, 1);
/// A window that ended before [`VALIDATION_TIME`] (expired vectors).
pub(crate) const PAST: (Date, Date) = (Date::new(2025, 1, 1), Date::new(2026, 1, 1));
/// A window that starts after [`VALIDATION_TIME`] (not-yet-valid vectors).
pub(crate) const FUTURE: (Date, Date) = (Date::new(2027, 1, 1), NOT_AFTER);
/// `exp` of the expired JWT-SVID: years before [`VALIDATION_TIME`], so it is expired on any
/// clock from 2020 on (the `spiffe` crate validates at the system clock).
pub(crate) const JWT_EXPIRED: Date = Date::new(2020, 1, 1);
/// `nbf` of the not-yet-valid JWT-SVID: far after [`VALIDATION_TIME`], for the same reason.
pub(crate) const JWT_NOT_BEFORE_FUTURE: Date = Date::new(2035, 1, 1);

/// Key material that cannot be generated here.
#[derive(Debug)]
pub(crate) struct Keys {
    /// `svid/tests/data/rsa2048.pk8.pem`: rcgen's ring backend and ring cannot generate RSA.
    rsa_pem: String,
    rsa_pkcs8: Vec<u8>,
}

impl Keys {
    pub(crate) fn load(workspace_root: &Path) -> Result<Self> {
        let path = workspace_root.join("svid/tests/data/rsa2048.pk8.pem");
        let rsa_pem =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let rsa_pkcs8 = KeyPair::from_pem(&rsa_pem)?.serialize_der();
        Ok(Self { rsa_pem, rsa_pkcs8 })
    }

    /// The RSA-2048 key as PKCS#8 DER.
    pub(crate) fn rsa_pkcs8(&self) -> &[u8] {
        &self.rsa_pkcs8
    }
}

/// The key types a certificate of the corpus may have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeyType {
    P256,
    P384,
    Rsa2048,
    Ed25519,
}

impl KeyType {
    /// A fresh key pair, except RSA (the checked-in key).
    pub(crate) fn key_pair(self, keys: &Keys) -> Result<KeyPair> {
        Ok(match self {
            Self::P256 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?,
            Self::P384 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384)?,
            Self::Ed25519 => KeyPair::generate_for(&rcgen::PKCS_ED25519)?,
            Self::Rsa2048 => KeyPair::from_pem(&keys.rsa_pem)?,
        })
    }
}

/// `n` bytes of SHA-256 over `label`: stable identifiers that depend on names, never on keys.
fn derived_bytes(label: &str, n: usize) -> Vec<u8> {
    let hash = digest(&SHA256, label.as_bytes());
    hash.as_ref().iter().copied().take(n).collect()
}

/// One PEM block (RFC 7468) with 64-character lines.
pub(crate) fn pem_block(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    let mut rest = body.as_str();
    while !rest.is_empty() {
        let (line, tail) = rest.split_at(rest.len().min(64));
        out.push_str(line);
        out.push('\n');
        rest = tail;
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Certificates as concatenated PEM blocks, in the order given.
pub(crate) fn certificates_pem(certs: &[CertificateDer<'static>]) -> String {
    certs
        .iter()
        .map(|cert| pem_block("CERTIFICATE", cert))
        .collect()
}

/// The certificate with the last byte of its signature flipped: still well-formed DER (the last
/// byte is inside the signature BIT STRING), but the signature no longer verifies.
pub(crate) fn flip_signature(cert: &CertificateDer<'static>) -> CertificateDer<'static> {
    let mut der = cert.to_vec();
    if let Some(last) = der.last_mut() {
        *last ^= 0x01;
    }
    CertificateDer::from(der)
}

/// A URI SAN. rcgen takes any IA5String, so non-SPIFFE and malformed URIs are fine.
pub(crate) fn uri(value: &str) -> Result<SanType> {
    Ok(SanType::URI(value.try_into()?))
}

/// A DNS SAN.
pub(crate) fn dns(value: &str) -> Result<SanType> {
    Ok(SanType::DnsName(value.try_into()?))
}

/// Mints the certificates of one vector. Serial numbers and subject key identifiers are derived
/// from the vector name and the certificate's role, so they are the same on every run; the
/// authority key identifier is the issuer's subject key identifier (rcgen copies it).
#[derive(Debug)]
pub(crate) struct Minter<'k> {
    keys: &'k Keys,
    vector: &'static str,
}

impl<'k> Minter<'k> {
    pub(crate) fn new(keys: &'k Keys, vector: &'static str) -> Self {
        Self { keys, vector }
    }

    /// Serial, key identifier and validity window shared by every certificate.
    fn base(&self, role: &str) -> CertificateParams {
        let mut params = CertificateParams::default();
        set_fixed_ids(&mut params, &format!("{}/{role}", self.vector));
        params.use_authority_key_identifier_extension = true;
        set_validity(&mut params, (NOT_BEFORE, NOT_AFTER));
        params
    }

    /// A signing certificate of `trust_domain`: cA=true without a path length constraint,
    /// keyUsage keyCertSign + cRLSign, URI SAN `spiffe://<td>`, a CN (digest 2.7, CA).
    fn ca_params(&self, role: &str, trust_domain: &str) -> Result<CertificateParams> {
        let mut params = self.base(role);
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, format!("{trust_domain} {role}"));
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.subject_alt_names = vec![uri(&format!("spiffe://{trust_domain}"))?];
        Ok(params)
    }

    /// A leaf X.509-SVID as SPIRE issues it: the SPIFFE ID as the only URI SAN, an empty subject
    /// (so the SAN is critical), cA=false, keyUsage digitalSignature + keyEncipherment +
    /// keyAgreement (critical), EKU serverAuth + clientAuth (digest 2.7, leaf).
    fn leaf_params(&self, spiffe_id: &str) -> Result<CertificateParams> {
        let mut params = self.base("leaf");
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
        params.subject_alt_names = vec![uri(spiffe_id)?];
        Ok(params)
    }

    /// A self-signed root of `trust_domain`, with its parameters edited before signing.
    pub(crate) fn root(
        &self,
        trust_domain: &'static str,
        key_type: KeyType,
        edit: impl FnOnce(&mut CertificateParams),
    ) -> Result<Ca> {
        let role = "root";
        let mut params = self.ca_params(role, trust_domain)?;
        edit(&mut params);
        let key = key_type.key_pair(self.keys)?;
        let cert = params.self_signed(&key)?.der().clone();
        Ok(Ca {
            trust_domain,
            params,
            key,
            cert,
        })
    }

    /// A P-256 intermediate signed by `issuer`, named by `role`, with its parameters edited
    /// before signing.
    pub(crate) fn intermediate(
        &self,
        issuer: &Ca,
        role: &str,
        edit: impl FnOnce(&mut CertificateParams),
    ) -> Result<Ca> {
        let mut params = self.ca_params(role, issuer.trust_domain)?;
        edit(&mut params);
        let key = KeyType::P256.key_pair(self.keys)?;
        let cert = issuer.sign(&params, &key)?;
        Ok(Ca {
            trust_domain: issuer.trust_domain,
            params,
            key,
            cert,
        })
    }

    /// A leaf for `spiffe_id` signed by `issuer`, with its parameters edited before signing.
    pub(crate) fn leaf(
        &self,
        issuer: &Ca,
        spiffe_id: &str,
        key_type: KeyType,
        edit: impl FnOnce(&mut CertificateParams),
    ) -> Result<Leaf> {
        let mut params = self.leaf_params(spiffe_id)?;
        edit(&mut params);
        let key = key_type.key_pair(self.keys)?;
        let cert = issuer.sign(&params, &key)?;
        Ok(Leaf { cert, key })
    }
}

/// Sets a 16-byte serial number and a 20-byte subject key identifier derived from `label`
/// (`<vector>/<role>`), so neither depends on the key.
pub(crate) fn set_fixed_ids(params: &mut CertificateParams, label: &str) {
    let mut serial = derived_bytes(&format!("serial/{label}"), 16);
    // A positive INTEGER with no leading zero octet: clear the top bit, set the next one.
    if let Some(first) = serial.first_mut() {
        *first = (*first & 0x7f) | 0x40;
    }
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    params.key_identifier_method =
        KeyIdMethod::PreSpecified(derived_bytes(&format!("ski/{label}"), 20));
}

/// Sets a validity window on certificate parameters.
pub(crate) fn set_validity(params: &mut CertificateParams, (from, until): (Date, Date)) {
    params.not_before = rcgen::date_time_ymd(from.year, from.month, from.day);
    params.not_after = rcgen::date_time_ymd(until.year, until.month, until.day);
}

/// A signing certificate with its key.
#[derive(Debug)]
pub(crate) struct Ca {
    pub(crate) trust_domain: &'static str,
    params: CertificateParams,
    key: KeyPair,
    pub(crate) cert: CertificateDer<'static>,
}

impl Ca {
    fn sign(&self, params: &CertificateParams, key: &KeyPair) -> Result<CertificateDer<'static>> {
        let issuer = Issuer::from_params(&self.params, &self.key);
        Ok(params.signed_by(key, &issuer)?.der().clone())
    }
}

/// A leaf certificate with its key pair.
#[derive(Debug)]
pub(crate) struct Leaf {
    pub(crate) cert: CertificateDer<'static>,
    pub(crate) key: KeyPair,
}
