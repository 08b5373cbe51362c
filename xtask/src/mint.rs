//! Minting material with test-support's rcgen builder: fixed dates, serials and key identifiers
//! derived from the vector's name, fresh keys (except RSA), and PEM output.

use std::path::Path;

use rcgen::{CertificateParams, KeyPair, SanType};
use rustls_pki_types::CertificateDer;
pub(crate) use test_support::pem::{flip_signature, pem_block};
use test_support::x509::{self, CaBuilder, Validity};
pub(crate) use test_support::x509::{KeyType, Leaf, set_fixed_ids};

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

/// A window from one date to another.
fn window((from, until): (Date, Date)) -> Validity {
    Validity {
        not_before: from.unix(),
        not_after: until.unix(),
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
    /// `svid/tests/data/rsa2048.pk8.pem` (also test-support's `KeyType::Rsa2048`): rcgen's ring
    /// backend and ring cannot generate RSA.
    rsa_pkcs8: Vec<u8>,
}

impl Keys {
    pub(crate) fn load(workspace_root: &Path) -> Result<Self> {
        let path = workspace_root.join("svid/tests/data/rsa2048.pk8.pem");
        let rsa_pem =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let rsa_pkcs8 = KeyPair::from_pem(&rsa_pem)?.serialize_der();
        Ok(Self { rsa_pkcs8 })
    }

    /// The RSA-2048 key as PKCS#8 DER.
    pub(crate) fn rsa_pkcs8(&self) -> &[u8] {
        &self.rsa_pkcs8
    }
}

/// Certificates as concatenated PEM blocks, in the order given.
pub(crate) fn certificates_pem(certs: &[CertificateDer<'static>]) -> String {
    test_support::pem::pem(certs)
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
pub(crate) struct Minter {
    vector: &'static str,
}

impl Minter {
    pub(crate) fn new(vector: &'static str) -> Self {
        Self { vector }
    }

    /// What every signing certificate of a vector shares: a CN `<td> <role>`, the corpus window,
    /// and a serial and key identifiers derived from `<vector>/<role>` (digest 2.7, CA).
    fn ca<'a>(&self, builder: CaBuilder<'a>, trust_domain: &str, role: &str) -> CaBuilder<'a> {
        builder
            .common_name(&format!("{trust_domain} {role}"))
            .validity(window((NOT_BEFORE, NOT_AFTER)))
            .fixed_ids(&format!("{}/{role}", self.vector))
    }

    /// A self-signed root of `trust_domain`, with its parameters edited before signing.
    pub(crate) fn root(
        &self,
        trust_domain: &'static str,
        key_type: KeyType,
        edit: impl FnOnce(&mut CertificateParams),
    ) -> Result<Ca> {
        let builder = self.ca(x509::Ca::builder(trust_domain), trust_domain, "root");
        Ok(Ca::new(
            trust_domain,
            builder.key_type(key_type).build_with(edit),
        ))
    }

    /// A P-256 intermediate signed by `issuer`, named by `role`, with its parameters edited
    /// before signing.
    pub(crate) fn intermediate(
        &self,
        issuer: &Ca,
        role: &str,
        edit: impl FnOnce(&mut CertificateParams),
    ) -> Result<Ca> {
        let builder = self.ca(issuer.ca.issue_ca(role), issuer.trust_domain, role);
        Ok(Ca::new(issuer.trust_domain, builder.build_with(edit)))
    }

    /// A leaf for `spiffe_id` signed by `issuer` (SPIRE's leaf profile, digest 2.7), with its
    /// parameters edited before signing.
    pub(crate) fn leaf(
        &self,
        issuer: &Ca,
        spiffe_id: &str,
        key_type: KeyType,
        edit: impl FnOnce(&mut CertificateParams),
    ) -> Result<Leaf> {
        Ok(issuer
            .ca
            .issue_leaf(spiffe_id)
            .key_type(key_type)
            .validity(window((NOT_BEFORE, NOT_AFTER)))
            .fixed_ids(&format!("{}/leaf", self.vector))
            .build_with(edit))
    }
}

/// Sets a validity window on certificate parameters.
pub(crate) fn set_validity(params: &mut CertificateParams, dates: (Date, Date)) {
    window(dates).apply(params);
}

/// A signing certificate with its key, and its trust domain as the corpus names bundles.
#[derive(Debug)]
pub(crate) struct Ca {
    pub(crate) trust_domain: &'static str,
    /// A copy of `ca.cert`, for the corpus to take.
    pub(crate) cert: CertificateDer<'static>,
    ca: x509::Ca,
}

impl Ca {
    fn new(trust_domain: &'static str, ca: x509::Ca) -> Self {
        Self {
            trust_domain,
            cert: ca.cert.clone(),
            ca,
        }
    }
}
