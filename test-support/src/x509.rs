//! Certificate authorities and leaf X.509-SVIDs minted with rcgen.
//!
//! By default everything follows the profile SPIRE issues (digest 2.7): a CA has cA=true without a
//! path length constraint, keyUsage keyCertSign + cRLSign, the URI SAN `spiffe://<td>` and a CN;
//! a leaf has the SPIFFE ID as its only URI SAN, an empty subject (so the SAN is critical),
//! cA=false, keyUsage digitalSignature + keyEncipherment + keyAgreement, and EKU serverAuth +
//! clientAuth. Every certificate is valid over [`Validity::default`] (2026-01-01 to 2027-01-01)
//! unless told otherwise; a child inherits its issuer's window.
//!
//! What the copies this module replaced did differently is a builder option
//! ([`CaBuilder`], [`LeafBuilder`]): the key type, the window ([`Validity`], fixed dates or
//! around the wall clock), the CA's common name, and serials and key identifiers derived from a
//! label ([`CaBuilder::fixed_ids`], for the checked-in vectors). Anything else, above all the
//! defects a negative test needs, is an edit of the rcgen parameters before signing
//! (`build_with`, `root_with`, `leaf_with`).
//!
//! ```
//! use test_support::x509::{Ca, KeyType};
//!
//! let root = Ca::root("example.org");
//! let intermediate = root.intermediate("example.org intermediate");
//! let leaf = intermediate
//!     .issue_leaf("spiffe://example.org/web")
//!     .key_type(KeyType::P384)
//!     .build();
//! assert!(!leaf.cert.is_empty());
//! ```

use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose, SanType,
    SerialNumber,
};
use ring::digest::{SHA256, digest};
use rustls_pki_types::CertificateDer;

use crate::pem::tlv;
use crate::time::{NOT_AFTER, NOT_BEFORE, epoch, unix_now};

/// `2.5.29.17` subjectAltName.
pub const OID_SAN: &[u64] = &[2, 5, 29, 17];
/// `2.5.29.19` basicConstraints.
pub const OID_BASIC_CONSTRAINTS: &[u64] = &[2, 5, 29, 19];
/// `2.5.29.15` keyUsage.
pub const OID_KEY_USAGE: &[u64] = &[2, 5, 29, 15];
/// `2.5.29.30` nameConstraints.
pub const OID_NAME_CONSTRAINTS: &[u64] = &[2, 5, 29, 30];

/// The workspace's one RSA-2048 test key (`svid/tests/data/rsa2048.pk8.pem`, PKCS#8 PEM): rcgen's
/// ring backend cannot generate RSA keys.
pub const RSA2048_PEM: &str = include_str!("../../svid/tests/data/rsa2048.pk8.pem");

/// The key types an X.509-SVID may use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KeyType {
    /// ECDSA P-256 (the default).
    #[default]
    P256,
    /// ECDSA P-384.
    P384,
    /// RSA 2048: always the same key, [`RSA2048_PEM`].
    Rsa2048,
    /// Ed25519.
    Ed25519,
}

impl KeyType {
    /// Every key type.
    pub const ALL: [Self; 4] = [Self::P256, Self::P384, Self::Rsa2048, Self::Ed25519];

    /// A key pair of this type: fresh, except RSA (the checked-in key).
    #[track_caller]
    pub fn key_pair(self) -> KeyPair {
        match self {
            Self::P256 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap(),
            Self::P384 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap(),
            Self::Ed25519 => KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap(),
            Self::Rsa2048 => KeyPair::from_pem(RSA2048_PEM).unwrap(),
        }
    }
}

/// A validity window, in whole seconds since the Unix epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Validity {
    /// `notBefore`.
    pub not_before: u64,
    /// `notAfter`.
    pub not_after: u64,
}

impl Default for Validity {
    /// 2026-01-01 to 2027-01-01 ([`NOT_BEFORE`], [`NOT_AFTER`]), around the fixed verification
    /// time [`crate::time::NOW`].
    fn default() -> Self {
        Self {
            not_before: NOT_BEFORE,
            not_after: NOT_AFTER,
        }
    }
}

impl Validity {
    /// From midnight UTC on `from` to midnight UTC on `until`, each `(year, month, day)`.
    #[track_caller]
    pub fn dates(from: (i32, u8, u8), until: (i32, u8, u8)) -> Self {
        Self {
            not_before: epoch(from.0, from.1, from.2),
            not_after: epoch(until.0, until.1, until.2),
        }
    }

    /// From `before` ago to `after` from now on the wall clock, for live servers and peers that
    /// only validate at the system clock.
    pub fn around_now(before: Duration, after: Duration) -> Self {
        let now = unix_now();
        Self {
            not_before: now.saturating_sub(before.as_secs()),
            not_after: now + after.as_secs(),
        }
    }

    /// Between two instants (whole seconds; instants before 1970 become 1970).
    pub fn between(not_before: SystemTime, not_after: SystemTime) -> Self {
        let secs = |t: SystemTime| {
            t.duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        };
        Self {
            not_before: secs(not_before),
            not_after: secs(not_after),
        }
    }

    /// Sets this window on certificate parameters.
    pub fn apply(self, params: &mut CertificateParams) {
        let epoch = rcgen::date_time_ymd(1970, 1, 1);
        params.not_before = epoch + Duration::from_secs(self.not_before);
        params.not_after = epoch + Duration::from_secs(self.not_after);
    }
}

/// Sets a validity window on certificate parameters (midnight UTC on both dates), for edits.
#[track_caller]
pub fn validity(params: &mut CertificateParams, from: (i32, u8, u8), until: (i32, u8, u8)) {
    Validity::dates(from, until).apply(params);
}

/// A URI SAN. rcgen takes any IA5String, so non-SPIFFE and malformed URIs are fine.
#[track_caller]
pub fn uri(s: &str) -> SanType {
    SanType::URI(s.try_into().unwrap())
}

/// A DNS SAN.
#[track_caller]
pub fn dns(s: &str) -> SanType {
    SanType::DnsName(s.try_into().unwrap())
}

/// A subjectAltName extension holding raw `uniformResourceIdentifier` GeneralNames, bytes as
/// given (so they may be non-ASCII, non-UTF-8 or oversized, which rcgen's `SanType` refuses).
/// Marked critical, as RFC 5280 4.1.2.6 requires with the empty subject leaves have here.
pub fn raw_uri_sans(uris: &[&[u8]]) -> CustomExtension {
    let names: Vec<u8> = uris.iter().flat_map(|u| tlv(0x86, u)).collect();
    raw_extension(OID_SAN, tlv(0x30, &names), true)
}

/// A custom extension with the given OID and raw value bytes.
pub fn raw_extension(oid: &[u64], value: Vec<u8>, critical: bool) -> CustomExtension {
    let mut ext = CustomExtension::from_oid_content(oid, value);
    ext.set_criticality(critical);
    ext
}

/// Parameters for a signing certificate of `trust_domain` (SPIRE's profile, see the module
/// docs), valid over [`Validity::default`].
#[track_caller]
pub fn ca_params(trust_domain: &str, common_name: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.subject_alt_names = vec![uri(&format!("spiffe://{trust_domain}"))];
    Validity::default().apply(&mut params);
    params
}

/// Parameters for a leaf X.509-SVID for `spiffe_id` (SPIRE's profile, see the module docs),
/// valid over [`Validity::default`].
#[track_caller]
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
    Validity::default().apply(&mut params);
    params
}

/// Sets a 16-byte serial number and a 20-byte subject key identifier derived from `label`, so
/// that neither depends on the key (what `cargo xtask gen-vectors --check` relies on).
pub fn set_fixed_ids(params: &mut CertificateParams, label: &str) {
    let mut serial = derived_bytes(&format!("serial/{label}"), 16);
    // A positive INTEGER with no leading zero octet: clear the top bit, set the next one.
    if let Some(first) = serial.first_mut() {
        *first = (*first & 0x7f) | 0x40;
    }
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    params.key_identifier_method =
        KeyIdMethod::PreSpecified(derived_bytes(&format!("ski/{label}"), 20));
}

/// `n` bytes of SHA-256 over `label`: stable identifiers that depend on names, never on keys.
fn derived_bytes(label: &str, n: usize) -> Vec<u8> {
    digest(&SHA256, label.as_bytes())
        .as_ref()
        .iter()
        .copied()
        .take(n)
        .collect()
}

/// What a CA and a leaf builder share.
#[derive(Clone, Debug)]
struct Options {
    key_type: KeyType,
    validity: Validity,
    fixed_ids: Option<String>,
}

impl Options {
    /// Applies the window and identifiers, then the caller's edit, and signs.
    #[track_caller]
    fn mint(
        &self,
        mut params: CertificateParams,
        issuer: Option<&Ca>,
        edit: impl FnOnce(&mut CertificateParams),
    ) -> (CertificateParams, KeyPair, CertificateDer<'static>) {
        self.validity.apply(&mut params);
        if let Some(label) = &self.fixed_ids {
            set_fixed_ids(&mut params, label);
            // The issuer named by its derived key identifier too.
            params.use_authority_key_identifier_extension = true;
        }
        edit(&mut params);
        let key = self.key_type.key_pair();
        let cert = match issuer {
            Some(issuer) => issuer.sign(&params, &key),
            None => params.self_signed(&key).unwrap().der().clone(),
        };
        (params, key, cert)
    }
}

/// The setters of [`Options`] that both builders have.
macro_rules! options_setters {
    () => {
        /// The key type (default P-256).
        pub fn key_type(mut self, key_type: KeyType) -> Self {
            self.options.key_type = key_type;
            self
        }

        /// The validity window (default: the issuer's, or [`Validity::default`] for a root).
        pub fn validity(mut self, validity: Validity) -> Self {
            self.options.validity = validity;
            self
        }

        /// Serial number and subject key identifier derived from `label` ([`set_fixed_ids`]),
        /// and an authority key identifier.
        pub fn fixed_ids(mut self, label: &str) -> Self {
            self.options.fixed_ids = Some(label.to_owned());
            self
        }
    };
}

/// A signing certificate (root or intermediate) in the making; see the module docs.
#[derive(Debug)]
#[must_use]
pub struct CaBuilder<'a> {
    issuer: Option<&'a Ca>,
    trust_domain: String,
    common_name: String,
    options: Options,
}

impl CaBuilder<'_> {
    options_setters!();

    /// The subject common name (default `<td> root CA` for a root, the name given for an
    /// intermediate).
    pub fn common_name(mut self, common_name: &str) -> Self {
        common_name.clone_into(&mut self.common_name);
        self
    }

    /// Signs the certificate.
    #[track_caller]
    pub fn build(self) -> Ca {
        self.build_with(|_| {})
    }

    /// Signs the certificate, with its parameters edited just before signing.
    #[track_caller]
    pub fn build_with(self, edit: impl FnOnce(&mut CertificateParams)) -> Ca {
        let params = ca_params(&self.trust_domain, &self.common_name);
        let (params, key, cert) = self.options.mint(params, self.issuer, edit);
        Ca {
            trust_domain: self.trust_domain,
            params,
            key,
            cert,
            validity: self.options.validity,
        }
    }
}

/// A leaf X.509-SVID in the making; see the module docs.
#[derive(Debug)]
#[must_use]
pub struct LeafBuilder<'a> {
    issuer: &'a Ca,
    spiffe_id: String,
    options: Options,
}

impl LeafBuilder<'_> {
    options_setters!();

    /// Signs the leaf.
    #[track_caller]
    pub fn build(self) -> Leaf {
        self.build_with(|_| {})
    }

    /// Signs the leaf, with its parameters edited just before signing.
    #[track_caller]
    pub fn build_with(self, edit: impl FnOnce(&mut CertificateParams)) -> Leaf {
        let params = leaf_params(&self.spiffe_id);
        let (_, key, cert) = self.options.mint(params, Some(self.issuer), edit);
        Leaf {
            spiffe_id: self.spiffe_id,
            cert,
            key,
        }
    }
}

/// A signing certificate (root or intermediate) with its key.
#[derive(Debug)]
pub struct Ca {
    /// The trust domain it was made for.
    pub trust_domain: String,
    /// The parameters it was made from; they name the issuer of what it signs.
    pub params: CertificateParams,
    /// Its key pair.
    pub key: KeyPair,
    /// The certificate.
    pub cert: CertificateDer<'static>,
    /// The window its children get by default.
    validity: Validity,
}

impl Ca {
    /// A self-signed root CA of `trust_domain` in the making.
    pub fn builder(trust_domain: &str) -> CaBuilder<'static> {
        CaBuilder {
            issuer: None,
            trust_domain: trust_domain.to_owned(),
            common_name: format!("{trust_domain} root CA"),
            options: Options {
                key_type: KeyType::P256,
                validity: Validity::default(),
                fixed_ids: None,
            },
        }
    }

    /// A self-signed P-256 root CA for `trust_domain`.
    #[track_caller]
    pub fn root(trust_domain: &str) -> Self {
        Self::builder(trust_domain).build()
    }

    /// A self-signed root CA of a key type, with its parameters edited before signing.
    #[track_caller]
    pub fn root_with(
        trust_domain: &str,
        key_type: KeyType,
        edit: impl FnOnce(&mut CertificateParams),
    ) -> Self {
        Self::builder(trust_domain)
            .key_type(key_type)
            .build_with(edit)
    }

    /// An intermediate CA of the same trust domain, signed by this CA, in the making.
    pub fn issue_ca(&self, common_name: &str) -> CaBuilder<'_> {
        CaBuilder {
            issuer: Some(self),
            trust_domain: self.trust_domain.clone(),
            common_name: common_name.to_owned(),
            options: self.child_options(),
        }
    }

    /// A P-256 intermediate CA of the same trust domain signed by this CA.
    #[track_caller]
    pub fn intermediate(&self, common_name: &str) -> Self {
        self.issue_ca(common_name).build()
    }

    /// An intermediate CA signed by this CA, with its parameters edited before signing.
    #[track_caller]
    pub fn intermediate_with(
        &self,
        common_name: &str,
        key_type: KeyType,
        edit: impl FnOnce(&mut CertificateParams),
    ) -> Self {
        self.issue_ca(common_name)
            .key_type(key_type)
            .build_with(edit)
    }

    /// A leaf for `spiffe_id` signed by this CA, in the making.
    pub fn issue_leaf(&self, spiffe_id: &str) -> LeafBuilder<'_> {
        LeafBuilder {
            issuer: self,
            spiffe_id: spiffe_id.to_owned(),
            options: self.child_options(),
        }
    }

    /// A P-256 leaf for `spiffe_id`.
    #[track_caller]
    pub fn leaf(&self, spiffe_id: &str) -> Leaf {
        self.issue_leaf(spiffe_id).build()
    }

    /// A leaf signed by this CA, with its parameters edited before signing.
    #[track_caller]
    pub fn leaf_with(
        &self,
        spiffe_id: &str,
        key_type: KeyType,
        edit: impl FnOnce(&mut CertificateParams),
    ) -> Leaf {
        self.issue_leaf(spiffe_id)
            .key_type(key_type)
            .build_with(edit)
    }

    /// Signs `params` for the public key of `key`.
    #[track_caller]
    pub fn sign(&self, params: &CertificateParams, key: &KeyPair) -> CertificateDer<'static> {
        let issuer = Issuer::from_params(&self.params, &self.key);
        params.signed_by(key, &issuer).unwrap().der().clone()
    }

    /// The window this CA's children get by default.
    pub fn validity(&self) -> Validity {
        self.validity
    }

    fn child_options(&self) -> Options {
        Options {
            key_type: KeyType::P256,
            validity: self.validity,
            fixed_ids: None,
        }
    }
}

/// A leaf certificate with its key pair.
#[derive(Debug)]
pub struct Leaf {
    /// The SPIFFE ID it was made for (its URI SAN unless an edit changed it).
    pub spiffe_id: String,
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::NOW;

    #[test]
    fn validity_dates_match_the_fixed_instants() {
        assert_eq!(
            Validity::dates((2026, 1, 1), (2027, 1, 1)),
            Validity::default()
        );
        assert_eq!(epoch(2026, 6, 1), NOW);
    }

    #[test]
    fn children_inherit_the_issuer_window() {
        let window = Validity::dates((2025, 1, 1), (2026, 1, 1));
        let root = Ca::builder("example.org").validity(window).build();
        assert_eq!(root.intermediate("i").validity(), window);
        let other = Validity::dates((2026, 1, 1), (2036, 1, 1));
        assert_eq!(root.issue_ca("i").validity(other).build().validity(), other);
    }

    #[test]
    fn fixed_ids_do_not_depend_on_the_key() {
        let a = Ca::builder("example.org").fixed_ids("v/root").build();
        let b = Ca::builder("example.org").fixed_ids("v/root").build();
        assert_eq!(a.params.serial_number, b.params.serial_number);
        assert!(a.params.use_authority_key_identifier_extension);
        assert_ne!(a.cert, b.cert);
    }
}
