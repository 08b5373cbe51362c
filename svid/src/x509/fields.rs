//! The handful of certificate fields the X.509-SVID profile constrains, read straight from DER.
//!
//! rustls-webpki parses certificates for path building but does not expose basicConstraints,
//! keyUsage, or the raw count of URI SANs (its `valid_uri_names` iterator skips entries it cannot
//! decode, so "exactly one URI SAN" cannot be built on it). This module reads those fields in one
//! bounded pass; it makes no trust decision.

use crate::der::{self, Reader, oid, tag};
use crate::error::CertificateError;

/// The extensions rustls-webpki processes (its `remember_cert_extension`: keyUsage,
/// subjectAltName, basicConstraints, nameConstraints, cRLDistributionPoints, extKeyUsage); a
/// critical extension outside this list makes it refuse the certificate.
const WEBPKI_PROCESSED: [&[u8]; 6] = [
    oid::KEY_USAGE,
    oid::SUBJECT_ALT_NAME,
    oid::BASIC_CONSTRAINTS,
    oid::NAME_CONSTRAINTS,
    oid::CRL_DISTRIBUTION_POINTS,
    oid::EXT_KEY_USAGE,
];

/// keyUsage bits (RFC 5280 4.2.1.3), numbered from the most significant bit of the first octet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct KeyUsage(u16);

impl KeyUsage {
    pub(crate) const DIGITAL_SIGNATURE: Self = Self(1 << 15);
    pub(crate) const KEY_CERT_SIGN: Self = Self(1 << 10);
    pub(crate) const CRL_SIGN: Self = Self(1 << 9);

    pub(crate) fn contains(self, bit: Self) -> bool {
        self.0 & bit.0 != 0
    }
}

/// basicConstraints (RFC 5280 4.2.1.9).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BasicConstraints {
    pub(crate) ca: bool,
    pub(crate) path_len: Option<u8>,
}

/// extKeyUsage purposes the SVID profile cares about (X509-SVID 4.4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ExtKeyUsage {
    pub(crate) server_auth: bool,
    pub(crate) client_auth: bool,
    pub(crate) any: bool,
}

/// The profile-relevant fields of one certificate, borrowing from its DER.
#[derive(Clone, Debug)]
pub(crate) struct CertFields<'a> {
    /// Seconds since the Unix epoch.
    pub(crate) not_before: u64,
    /// Seconds since the Unix epoch.
    pub(crate) not_after: u64,
    /// The whole SubjectPublicKeyInfo TLV.
    pub(crate) spki: &'a [u8],
    /// The issuer Name's content (inside its SEQUENCE), compared byte for byte as webpki does.
    pub(crate) issuer: &'a [u8],
    /// The subject Name's content (inside its SEQUENCE).
    pub(crate) subject: &'a [u8],
    /// The authorityKeyIdentifier's `keyIdentifier` (RFC 5280 4.2.1.1), when present and
    /// well-formed. Only a hint for picking issuers, so a malformed one is ignored, not an error.
    pub(crate) authority_key_id: Option<&'a [u8]>,
    /// The subjectKeyIdentifier (RFC 5280 4.2.1.2), when present and well-formed; a hint too.
    pub(crate) subject_key_id: Option<&'a [u8]>,
    /// Number of `uniformResourceIdentifier` GeneralNames, counted raw.
    pub(crate) uri_san_count: usize,
    /// The first URI SAN's bytes, undecoded.
    pub(crate) first_uri_san: Option<&'a [u8]>,
    pub(crate) basic_constraints: Option<BasicConstraints>,
    pub(crate) key_usage: Option<KeyUsage>,
    pub(crate) ext_key_usage: Option<ExtKeyUsage>,
    pub(crate) has_name_constraints: bool,
    /// The OID (DER content) of the first critical extension rustls-webpki does not process
    /// and so refuses (`UnsupportedCriticalExtension`), to name it in the error.
    pub(crate) unsupported_critical: Option<&'a [u8]>,
}

impl<'a> CertFields<'a> {
    /// Reads the fields of a DER `Certificate`. Trailing bytes after it are an error.
    pub(crate) fn parse(cert_der: &'a [u8]) -> Result<Self, CertificateError> {
        let certificate = der::read_single(cert_der, tag::SEQUENCE)?;
        let mut outer = Reader::new(certificate);
        let tbs = outer.read(tag::SEQUENCE)?;
        outer.read(tag::SEQUENCE)?; // signatureAlgorithm
        outer.read(tag::BIT_STRING)?; // signatureValue
        outer.finish()?;

        let mut tbs = Reader::new(tbs);
        let version = tbs.read_optional(tag::CONTEXT_0)?;
        tbs.read(tag::INTEGER)?; // serialNumber
        tbs.read(tag::SEQUENCE)?; // signature
        let issuer = tbs.read(tag::SEQUENCE)?;
        let (not_before, not_after) = read_validity(tbs.read(tag::SEQUENCE)?)?;
        let subject = tbs.read(tag::SEQUENCE)?;
        let spki = tbs.read_tlv(tag::SEQUENCE)?.encoded();
        tbs.read_optional(tag::CONTEXT_1_PRIMITIVE)?;
        tbs.read_optional(tag::CONTEXT_2_PRIMITIVE)?;
        let extensions = tbs.read_optional(tag::CONTEXT_3)?;
        tbs.finish()?;

        // Extensions only exist in v3 (RFC 5280 4.1.2.9); SVIDs are always v3.
        if version.map(|v| der::read_single(v, tag::INTEGER)) != Some(Ok(&[0x02][..])) {
            return Err(CertificateError::NotVersion3);
        }

        let mut fields = Self {
            not_before,
            not_after,
            spki,
            issuer,
            subject,
            authority_key_id: None,
            subject_key_id: None,
            uri_san_count: 0,
            first_uri_san: None,
            basic_constraints: None,
            key_usage: None,
            ext_key_usage: None,
            has_name_constraints: false,
            unsupported_critical: None,
        };
        if let Some(extensions) = extensions {
            fields.read_extensions(der::read_single(extensions, tag::SEQUENCE)?)?;
        }
        Ok(fields)
    }

    fn read_extensions(&mut self, extensions: &'a [u8]) -> Result<(), CertificateError> {
        let mut seen_san = false;
        let mut extensions = Reader::new(extensions);
        while !extensions.is_empty() {
            let mut extension = Reader::new(extensions.read(tag::SEQUENCE)?);
            let extension_oid = extension.read(tag::OID)?;
            // webpki refuses critical extensions it does not process; which one is only noted
            // here, to name it in the error. An explicit FALSE is not strict DER but common, so
            // it is tolerated.
            let critical = match extension.read_optional(tag::BOOLEAN)? {
                Some(critical) => der::boolean(critical)?,
                None => false,
            };
            if critical
                && !WEBPKI_PROCESSED.contains(&extension_oid)
                && self.unsupported_critical.is_none()
            {
                self.unsupported_critical = Some(extension_oid);
            }
            let value = extension.read(tag::OCTET_STRING)?;
            extension.finish()?;

            // RFC 5280 4.2: a certificate must not include more than one instance of an
            // extension; a second one could disagree with the first.
            let duplicate = match extension_oid {
                oid::SUBJECT_ALT_NAME => {
                    let dup = seen_san;
                    seen_san = true;
                    self.read_subject_alt_name(value)?;
                    dup
                }
                oid::BASIC_CONSTRAINTS => self
                    .basic_constraints
                    .replace(read_basic_constraints(value)?)
                    .is_some(),
                oid::KEY_USAGE => self.key_usage.replace(read_key_usage(value)?).is_some(),
                oid::EXT_KEY_USAGE => self
                    .ext_key_usage
                    .replace(read_ext_key_usage(value)?)
                    .is_some(),
                oid::NAME_CONSTRAINTS => std::mem::replace(&mut self.has_name_constraints, true),
                // Hints only: the first well-formed one is kept, nothing is refused for them.
                oid::AUTHORITY_KEY_ID => {
                    if self.authority_key_id.is_none() {
                        self.authority_key_id = read_authority_key_id(value);
                    }
                    false
                }
                oid::SUBJECT_KEY_ID => {
                    if self.subject_key_id.is_none() {
                        self.subject_key_id = der::read_single(value, tag::OCTET_STRING).ok();
                    }
                    false
                }
                _ => false,
            };
            if duplicate {
                return Err(CertificateError::DuplicateExtension);
            }
        }
        Ok(())
    }

    /// Counts every URI GeneralName, decodable or not (X509-SVID 2: exactly one).
    fn read_subject_alt_name(&mut self, value: &'a [u8]) -> Result<(), CertificateError> {
        let mut names = Reader::new(der::read_single(value, tag::SEQUENCE)?);
        while !names.is_empty() {
            let name = names.read_any()?;
            if name.tag() == tag::URI_NAME {
                self.uri_san_count += 1;
                self.first_uri_san.get_or_insert_with(|| name.value());
            }
        }
        Ok(())
    }
}

/// `AuthorityKeyIdentifier ::= SEQUENCE { keyIdentifier [0] IMPLICIT OCTET STRING OPTIONAL,
/// ... }` (RFC 5280 4.2.1.1): the keyIdentifier, if the structure has one.
fn read_authority_key_id(value: &[u8]) -> Option<&[u8]> {
    let mut aki = Reader::new(der::read_single(value, tag::SEQUENCE).ok()?);
    aki.read_optional(tag::CONTEXT_0_PRIMITIVE).ok().flatten()
}

fn read_validity(value: &[u8]) -> Result<(u64, u64), CertificateError> {
    let mut validity = Reader::new(value);
    let not_before = der::time::read(&mut validity)?;
    let not_after = der::time::read(&mut validity)?;
    validity.finish()?;
    Ok((not_before, not_after))
}

fn read_basic_constraints(value: &[u8]) -> Result<BasicConstraints, CertificateError> {
    let mut fields = Reader::new(der::read_single(value, tag::SEQUENCE)?);
    // cA BOOLEAN DEFAULT FALSE: DER omits it when false, but several encoders (rcgen among
    // them) write an explicit FALSE; both read as "not a CA".
    let ca = fields
        .read_optional(tag::BOOLEAN)?
        .map(der::boolean)
        .transpose()?
        .unwrap_or(false);
    let path_len = fields
        .read_optional(tag::INTEGER)?
        .map(der::small_unsigned)
        .transpose()?;
    fields.finish()?;
    Ok(BasicConstraints { ca, path_len })
}

fn read_key_usage(value: &[u8]) -> Result<KeyUsage, CertificateError> {
    let bits = der::read_single(value, tag::BIT_STRING)?;
    let (&unused, bytes) = bits.split_first().ok_or(CertificateError::BadDer)?;
    if unused > 7 || bytes.is_empty() || bytes.len() > 2 {
        return Err(CertificateError::BadDer);
    }
    let first = bytes.first().copied().unwrap_or_default();
    let second = bytes.get(1).copied().unwrap_or_default();
    Ok(KeyUsage(u16::from_be_bytes([first, second])))
}

fn read_ext_key_usage(value: &[u8]) -> Result<ExtKeyUsage, CertificateError> {
    let mut purposes = Reader::new(der::read_single(value, tag::SEQUENCE)?);
    let mut eku = ExtKeyUsage::default();
    while !purposes.is_empty() {
        match purposes.read(tag::OID)? {
            oid::KP_SERVER_AUTH => eku.server_auth = true,
            oid::KP_CLIENT_AUTH => eku.client_auth = true,
            oid::ANY_EXT_KEY_USAGE => eku.any = true,
            _ => {}
        }
    }
    Ok(eku)
}

#[cfg(test)]
mod tests {
    use rcgen::{
        BasicConstraints as RcBasic, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
        KeyPair, KeyUsagePurpose, SanType,
    };

    use super::*;

    fn cert(edit: impl FnOnce(&mut CertificateParams)) -> Vec<u8> {
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        edit(&mut params);
        let key = KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    fn uri(s: &str) -> SanType {
        SanType::URI(s.try_into().unwrap())
    }

    #[test]
    fn reads_leaf_fields() {
        let der = cert(|p| {
            p.subject_alt_names = vec![
                SanType::DnsName("a.example".try_into().unwrap()),
                uri("spiffe://example.org/w"),
            ];
            p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
            p.extended_key_usages = vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ];
            p.is_ca = IsCa::ExplicitNoCa;
        });
        let f = CertFields::parse(&der).unwrap();
        assert_eq!(f.uri_san_count, 1);
        assert_eq!(f.first_uri_san, Some(&b"spiffe://example.org/w"[..]));
        assert_eq!(
            f.basic_constraints,
            Some(BasicConstraints {
                ca: false,
                path_len: None
            })
        );
        let ku = f.key_usage.unwrap();
        assert!(ku.contains(KeyUsage::DIGITAL_SIGNATURE));
        assert!(!ku.contains(KeyUsage::KEY_CERT_SIGN));
        let eku = f.ext_key_usage.unwrap();
        assert!(eku.server_auth && eku.client_auth && !eku.any);
        assert!(f.not_before < f.not_after);
        assert_eq!(f.spki.first(), Some(&tag::SEQUENCE));
        assert!(!f.has_name_constraints);
    }

    #[test]
    fn counts_every_uri_san() {
        let der = cert(|p| {
            p.subject_alt_names = vec![
                uri("spiffe://example.org/a"),
                uri("spiffe://example.org/b"),
                uri("https://example.org/c"),
            ];
        });
        let f = CertFields::parse(&der).unwrap();
        assert_eq!(f.uri_san_count, 3);
        assert_eq!(f.first_uri_san, Some(&b"spiffe://example.org/a"[..]));
    }

    #[test]
    fn reads_ca_fields() {
        let der = cert(|p| {
            p.distinguished_name.push(DnType::CommonName, "ca");
            p.is_ca = IsCa::Ca(RcBasic::Constrained(3));
            p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        });
        let f = CertFields::parse(&der).unwrap();
        assert_eq!(
            f.basic_constraints,
            Some(BasicConstraints {
                ca: true,
                path_len: Some(3)
            })
        );
        let ku = f.key_usage.unwrap();
        assert!(ku.contains(KeyUsage::KEY_CERT_SIGN) && ku.contains(KeyUsage::CRL_SIGN));
        assert!(!ku.contains(KeyUsage::DIGITAL_SIGNATURE));
        assert_eq!(f.uri_san_count, 0);
    }

    #[test]
    fn rejects_truncated_and_trailing_input_without_panicking() {
        let der = cert(|p| p.subject_alt_names = vec![uri("spiffe://example.org/w")]);
        for cut in 0..der.len() {
            assert!(
                CertFields::parse(&der[..cut]).is_err(),
                "prefix of {cut} bytes"
            );
        }
        let mut trailing = der;
        trailing.push(0);
        assert_eq!(
            CertFields::parse(&trailing).unwrap_err(),
            CertificateError::BadDer
        );
    }
}
