//! Certificate bodies: the TBSCertificate of leaves and CAs per the issuance checklist
//! (digest 2.7), written with the DER helpers, plus [`DistinguishedName`].
//!
//! The fixed parts of every leaf an authority signs (signature algorithm, issuer name, AKI,
//! key usage, EKU, basic constraints) are encoded once per authority in an [`IssuerTemplate`];
//! a leaf then costs a few small copies around the variable fields.

use rustls_pki_types::DnsName;

use crate::der::{self, Reader, tag};
use crate::error::Error;
use crate::signer::algorithm::SignatureAlgorithm;
use crate::time;

/// `2.5.29.19` basicConstraints.
const OID_BASIC_CONSTRAINTS: &[u8] = &[0x55, 0x1d, 0x13];
/// `2.5.29.15` keyUsage.
const OID_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x0f];
/// `2.5.29.37` extKeyUsage.
const OID_EXT_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x25];
/// `2.5.29.17` subjectAltName.
const OID_SAN: &[u8] = &[0x55, 0x1d, 0x11];
/// `2.5.29.14` subjectKeyIdentifier.
const OID_SKID: &[u8] = &[0x55, 0x1d, 0x0e];
/// `2.5.29.35` authorityKeyIdentifier.
const OID_AKI: &[u8] = &[0x55, 0x1d, 0x23];
/// `1.3.6.1.5.5.7.3.1` serverAuth and `1.3.6.1.5.5.7.3.2` clientAuth.
const EKU_SERVER_CLIENT: &[u8] = &[
    0x30, 0x14, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01, 0x06, 0x08, 0x2b, 0x06,
    0x01, 0x05, 0x05, 0x07, 0x03, 0x02,
];
/// `2.5.4.3` commonName.
const OID_CN: &[u8] = &[0x55, 0x04, 0x03];
/// `2.5.4.10` organizationName.
const OID_O: &[u8] = &[0x55, 0x04, 0x0a];
/// `2.5.4.11` organizationalUnitName.
const OID_OU: &[u8] = &[0x55, 0x04, 0x0b];
/// `2.5.4.5` serialNumber.
const OID_SERIAL_NUMBER: &[u8] = &[0x55, 0x04, 0x05];
/// `[0] EXPLICIT INTEGER 2`: X.509 v3.
const VERSION_3: &[u8] = &[0xa0, 0x03, 0x02, 0x01, 0x02];

/// keyUsage BIT STRING values. Bit 0 is the most significant bit of the first byte; DER
/// requires the count of unused trailing bits to be exact.
const KU_DIGITAL_SIGNATURE: &[u8] = &[0x03, 0x02, 0x07, 0x80];
const KU_DIGITAL_SIGNATURE_KEY_ENCIPHERMENT: &[u8] = &[0x03, 0x02, 0x05, 0xa0];
const KU_KEY_CERT_SIGN_CRL_SIGN: &[u8] = &[0x03, 0x02, 0x01, 0x06];

/// How long before `now` a certificate's `notBefore` is set, so that peers whose clocks lag a
/// little accept it at once (SPIRE backdates too; digest 2.7).
pub(crate) const BACKDATE_SECONDS: u64 = 10;

/// An X.500 name for a certificate subject, built from a few common attributes. Values are
/// encoded as UTF8String, in the order they were added.
///
/// ```
/// let dn = ca::DistinguishedName::new().organization("Example").common_name("web");
/// assert!(!dn.is_empty());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DistinguishedName {
    attributes: Vec<(&'static [u8], String)>,
}

impl DistinguishedName {
    /// An empty name.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a commonName (CN).
    #[must_use]
    pub fn common_name(mut self, value: impl Into<String>) -> Self {
        self.attributes.push((OID_CN, value.into()));
        self
    }

    /// Adds an organizationName (O).
    #[must_use]
    pub fn organization(mut self, value: impl Into<String>) -> Self {
        self.attributes.push((OID_O, value.into()));
        self
    }

    /// Adds an organizationalUnitName (OU).
    #[must_use]
    pub fn organizational_unit(mut self, value: impl Into<String>) -> Self {
        self.attributes.push((OID_OU, value.into()));
        self
    }

    /// Whether no attribute was added.
    pub fn is_empty(&self) -> bool {
        self.attributes.is_empty()
    }

    /// The DER `Name`.
    pub(crate) fn to_der(&self) -> Result<Vec<u8>, Error> {
        let mut rdns = Vec::new();
        for (oid, value) in &self.attributes {
            // RFC 5280 upper bounds: 64 characters for CN, O and OU.
            if value.is_empty() || value.chars().count() > 64 {
                return Err(Error::InvalidRequest {
                    reason: "subject attributes must be 1 to 64 characters (RFC 5280 ub-*)",
                });
            }
            rdns.extend(rdn(oid, tag::UTF8_STRING, value.as_bytes()));
        }
        Ok(der::tlv(tag::SEQUENCE, &rdns))
    }
}

fn rdn(oid: &[u8], string_tag: u8, value: &[u8]) -> Vec<u8> {
    let attribute = der::tlv_parts(
        tag::SEQUENCE,
        &[&der::tlv(tag::OID, oid), &der::tlv(string_tag, value)],
    );
    der::tlv(tag::SET, &attribute)
}

/// The subject of a CA certificate: `O=SPIFFE, serialNumber=<hex of its key id>`. Non-empty as
/// RFC 5280 4.1.2.6 requires of a CA, and distinct per CA key.
pub(crate) fn ca_subject(key_id: &[u8]) -> Vec<u8> {
    let mut rdns = rdn(OID_O, tag::UTF8_STRING, b"SPIFFE");
    let hex = hex(key_id.get(..8).unwrap_or(key_id));
    rdns.extend(rdn(
        OID_SERIAL_NUMBER,
        tag::PRINTABLE_STRING,
        hex.as_bytes(),
    ));
    der::tlv(tag::SEQUENCE, &rdns)
}

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use core::fmt::Write;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// Hex of a DER INTEGER's content octets.
pub(crate) fn serial_hex(serial_der: &[u8]) -> String {
    der::read_single(serial_der, tag::INTEGER)
        .map(hex)
        .unwrap_or_default()
}

/// The key identifier of a SubjectPublicKeyInfo: the leftmost 160 bits of the SHA-256 of its
/// subjectPublicKey bits (RFC 7093 section 2, method 1).
pub(crate) fn key_identifier(crypto: &svid::Crypto, spki: &[u8]) -> Result<[u8; 20], Error> {
    let malformed = |_| Error::InvalidRequest {
        reason: "malformed SubjectPublicKeyInfo",
    };
    let mut info = Reader::new(der::read_single(spki, tag::SEQUENCE).map_err(malformed)?);
    info.read(tag::SEQUENCE).map_err(malformed)?;
    let bits = info.read(tag::BIT_STRING).map_err(malformed)?;
    let digest = crypto.sha256(bits).ok_or(Error::Unsupported {
        what: "SHA-256: the crypto provider has no TLS 1.3 SHA-256 cipher suite",
    })?;
    let mut id = [0; 20];
    id.copy_from_slice(digest.get(..20).unwrap_or(&[0; 20]));
    Ok(id)
}

/// A random positive serial number of 128 bits (at most 17 content octets; RFC 5280 allows 20).
pub(crate) fn random_serial(crypto: &svid::Crypto) -> Result<Vec<u8>, Error> {
    let mut bytes = [0u8; 16];
    crypto
        .fill_random(&mut bytes)
        .map_err(|_| Error::KeyGeneration)?;
    if bytes.iter().all(|b| *b == 0) {
        // Serial numbers must be positive; zero has probability 2^-128.
        bytes[15] = 1;
    }
    Ok(der::unsigned_integer(&bytes))
}

fn extension(oid: &[u8], critical: bool, value: &[u8]) -> Vec<u8> {
    let oid = der::tlv(tag::OID, oid);
    let value = der::tlv(tag::OCTET_STRING, value);
    if critical {
        der::tlv_parts(tag::SEQUENCE, &[&oid, &[tag::BOOLEAN, 1, 0xff], &value])
    } else {
        der::tlv_parts(tag::SEQUENCE, &[&oid, &value])
    }
}

fn skid_extension(key_id: &[u8]) -> Vec<u8> {
    extension(OID_SKID, false, &der::tlv(tag::OCTET_STRING, key_id))
}

fn aki_extension(key_id: &[u8]) -> Vec<u8> {
    extension(
        OID_AKI,
        false,
        &der::tlv(tag::SEQUENCE, &der::tlv(tag::IMPLICIT_0, key_id)),
    )
}

/// What is the same in every certificate one authority signs.
#[derive(Clone, Debug)]
pub(crate) struct IssuerTemplate {
    /// The issuer's signature AlgorithmIdentifier.
    pub(crate) signature_algorithm: SignatureAlgorithm,
    /// The issuer's subject, which becomes the issuer name.
    pub(crate) issuer_name: Vec<u8>,
    /// The AKI extension naming the issuer's key.
    aki: Vec<u8>,
    /// The leaf extensions that never change, for non-RSA and RSA subject keys.
    leaf_fixed: Vec<u8>,
    leaf_fixed_rsa: Vec<u8>,
}

impl IssuerTemplate {
    pub(crate) fn new(
        signature_algorithm: SignatureAlgorithm,
        issuer_name: Vec<u8>,
        issuer_key_id: &[u8],
    ) -> Self {
        let basic = extension(OID_BASIC_CONSTRAINTS, true, &[tag::SEQUENCE, 0]);
        let eku = extension(OID_EXT_KEY_USAGE, false, EKU_SERVER_CLIENT);
        let fixed = |ku: &[u8]| {
            let mut out = basic.clone();
            out.extend(extension(OID_KEY_USAGE, true, ku));
            out.extend_from_slice(&eku);
            out
        };
        Self {
            signature_algorithm,
            issuer_name,
            aki: aki_extension(issuer_key_id),
            leaf_fixed: fixed(KU_DIGITAL_SIGNATURE),
            leaf_fixed_rsa: fixed(KU_DIGITAL_SIGNATURE_KEY_ENCIPHERMENT),
        }
    }
}

/// The variable parts of a leaf.
pub(crate) struct LeafFields<'a> {
    pub(crate) serial: &'a [u8],
    pub(crate) not_before: u64,
    pub(crate) not_after: u64,
    /// DER Name; `None` for an empty subject (then the SAN is critical).
    pub(crate) subject: Option<&'a [u8]>,
    pub(crate) spki: &'a [u8],
    pub(crate) key_id: &'a [u8],
    pub(crate) uri: &'a str,
    pub(crate) dns_names: &'a [String],
    pub(crate) rsa: bool,
}

/// The TBSCertificate of an X.509-SVID leaf (digest 2.7; X-11).
pub(crate) fn leaf_tbs(template: &IssuerTemplate, leaf: &LeafFields<'_>) -> Vec<u8> {
    let mut names = Vec::with_capacity(leaf.uri.len() + 8);
    der::push_tlv(&mut names, tag::URI, leaf.uri.as_bytes());
    for dns in leaf.dns_names {
        der::push_tlv(&mut names, tag::DNS_NAME, dns.as_bytes());
    }
    let san = extension(
        OID_SAN,
        leaf.subject.is_none(),
        &der::tlv(tag::SEQUENCE, &names),
    );
    let fixed = if leaf.rsa {
        &template.leaf_fixed_rsa
    } else {
        &template.leaf_fixed
    };
    let extensions = der::tlv_parts(
        tag::SEQUENCE,
        &[fixed, &san, &skid_extension(leaf.key_id), &template.aki],
    );
    tbs(
        template,
        leaf.serial,
        leaf.not_before,
        leaf.not_after,
        leaf.subject.unwrap_or(&[tag::SEQUENCE, 0]),
        leaf.spki,
        &extensions,
    )
}

/// The variable parts of a CA certificate.
pub(crate) struct CaFields<'a> {
    pub(crate) serial: &'a [u8],
    pub(crate) not_before: u64,
    pub(crate) not_after: u64,
    pub(crate) subject: &'a [u8],
    pub(crate) spki: &'a [u8],
    pub(crate) key_id: &'a [u8],
    /// `spiffe://<td>`.
    pub(crate) uri: &'a str,
    pub(crate) path_len: Option<u8>,
}

/// The TBSCertificate of a signing certificate: cA=true (critical), keyUsage
/// keyCertSign|cRLSign (critical), URI SAN with the trust domain ID, SKID and, unless
/// self-signed, AKI (digest 2.7; X-11). Never a name constraint.
pub(crate) fn ca_tbs(issuer: &IssuerTemplate, self_signed: bool, ca: &CaFields<'_>) -> Vec<u8> {
    let mut basic = vec![tag::BOOLEAN, 1, 0xff];
    if let Some(len) = ca.path_len {
        basic.extend(der::unsigned_integer(&[len]));
    }
    let mut extensions = extension(
        OID_BASIC_CONSTRAINTS,
        true,
        &der::tlv(tag::SEQUENCE, &basic),
    );
    extensions.extend(extension(OID_KEY_USAGE, true, KU_KEY_CERT_SIGN_CRL_SIGN));
    extensions.extend(extension(
        OID_SAN,
        false,
        &der::tlv(tag::SEQUENCE, &der::tlv(tag::URI, ca.uri.as_bytes())),
    ));
    extensions.extend(skid_extension(ca.key_id));
    if !self_signed {
        extensions.extend_from_slice(&issuer.aki);
    }
    tbs(
        issuer,
        ca.serial,
        ca.not_before,
        ca.not_after,
        ca.subject,
        ca.spki,
        &der::tlv(tag::SEQUENCE, &extensions),
    )
}

fn tbs(
    template: &IssuerTemplate,
    serial: &[u8],
    not_before: u64,
    not_after: u64,
    subject: &[u8],
    spki: &[u8],
    extensions: &[u8],
) -> Vec<u8> {
    let validity = der::tlv_parts(
        tag::SEQUENCE,
        &[&time::x509_time(not_before), &time::x509_time(not_after)],
    );
    der::tlv_parts(
        tag::SEQUENCE,
        &[
            VERSION_3,
            serial,
            template.signature_algorithm.x509_algorithm_identifier(),
            &template.issuer_name,
            &validity,
            subject,
            spki,
            &der::tlv(tag::CONTEXT_3, extensions),
        ],
    )
}

/// A complete certificate from its TBS and signature.
pub(crate) fn certificate(tbs: &[u8], algorithm: SignatureAlgorithm, signature: &[u8]) -> Vec<u8> {
    let mut bits = Vec::with_capacity(signature.len() + 1);
    bits.push(0);
    bits.extend_from_slice(signature);
    der::tlv_parts(
        tag::SEQUENCE,
        &[
            tbs,
            algorithm.x509_algorithm_identifier(),
            &der::tlv(tag::BIT_STRING, &bits),
        ],
    )
}

/// Validates DNS names for a SAN: a DNS name (RFC 1035 as rustls-pki-types checks it),
/// optionally with one leading `*.` wildcard label.
pub(crate) fn dns_names(names: &[String]) -> Result<Vec<String>, Error> {
    names
        .iter()
        .map(|name| {
            let rest = name.strip_prefix("*.").unwrap_or(name);
            let ok = DnsName::try_from(rest).is_ok() && rest.parse::<std::net::IpAddr>().is_err();
            if ok {
                Ok(name.to_ascii_lowercase())
            } else {
                Err(Error::InvalidDnsName { name: name.clone() })
            }
        })
        .collect()
}

/// The fields of a certificate this crate reads back: its validity, subject, SPKI, SKID and
/// basicConstraints path length.
#[derive(Clone, Debug)]
pub(crate) struct ParsedCert<'a> {
    pub(crate) subject: &'a [u8],
    pub(crate) spki: &'a [u8],
    pub(crate) not_before: u64,
    pub(crate) not_after: u64,
    pub(crate) is_ca: bool,
    pub(crate) path_len: Option<u8>,
}

impl<'a> ParsedCert<'a> {
    /// Reads the fields this crate needs from a certificate (its own or an upstream's; the
    /// certificate's authenticity is checked elsewhere, by the `svid` verifier).
    pub(crate) fn parse(cert: &'a [u8]) -> Option<Self> {
        let mut outer = Reader::new(der::read_single(cert, tag::SEQUENCE).ok()?);
        let mut tbs = Reader::new(outer.read(tag::SEQUENCE).ok()?);
        tbs.read_optional(tag::CONTEXT_0).ok()?;
        tbs.read(tag::INTEGER).ok()?;
        tbs.read(tag::SEQUENCE).ok()?;
        tbs.read(tag::SEQUENCE).ok()?;
        let mut validity = Reader::new(tbs.read(tag::SEQUENCE).ok()?);
        let not_before = parse_time(&mut validity)?;
        let not_after = parse_time(&mut validity)?;
        let (_, subject) = tbs.read_whole(tag::SEQUENCE).ok()?;
        let (_, spki) = tbs.read_whole(tag::SEQUENCE).ok()?;
        let mut is_ca = false;
        let mut path_len = None;
        while !tbs.is_empty() {
            let (t, value, _) = tbs.read_any().ok()?;
            if t != tag::CONTEXT_3 {
                continue;
            }
            let mut exts = Reader::new(der::read_single(value, tag::SEQUENCE).ok()?);
            while !exts.is_empty() {
                let mut ext = Reader::new(exts.read(tag::SEQUENCE).ok()?);
                let oid = ext.read(tag::OID).ok()?;
                ext.read_optional(tag::BOOLEAN).ok()?;
                let value = ext.read(tag::OCTET_STRING).ok()?;
                if oid == OID_BASIC_CONSTRAINTS {
                    let mut bc = Reader::new(der::read_single(value, tag::SEQUENCE).ok()?);
                    is_ca = bc.read_optional(tag::BOOLEAN).ok()? == Some(&[0xff]);
                    if let Some(len) = bc.read_optional(tag::INTEGER).ok()? {
                        path_len = match len {
                            [n] => Some(*n),
                            [0, n] => Some(*n),
                            _ => Some(u8::MAX),
                        };
                    }
                }
            }
        }
        Some(Self {
            subject,
            spki,
            not_before,
            not_after,
            is_ca,
            path_len,
        })
    }
}

fn parse_time(reader: &mut Reader<'_>) -> Option<u64> {
    let (t, value, _) = reader.read_any().ok()?;
    let text = core::str::from_utf8(value).ok()?;
    let digits = text.strip_suffix('Z')?;
    let (year, rest) = match t {
        tag::UTC_TIME => {
            let yy: u64 = digits.get(..2)?.parse().ok()?;
            (
                if yy < 50 { 2000 + yy } else { 1900 + yy },
                digits.get(2..)?,
            )
        }
        tag::GENERALIZED_TIME => (digits.get(..4)?.parse().ok()?, digits.get(4..)?),
        _ => return None,
    };
    if rest.len() != 10 || !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let field = |range: core::ops::Range<usize>| rest.get(range)?.parse::<u64>().ok();
    let (month, day) = (field(0..2)?, field(2..4)?);
    let (hour, minute, second) = (field(4..6)?, field(6..8)?, field(8..10)?);
    let days = days_from_civil(year, month, day)?;
    Some(days * 86_400 + hour * 3600 + minute * 60 + second)
}

/// Days since 1970-01-01 of a date (H. Hinnant's `days_from_civil`), `None` before 1970.
fn days_from_civil(year: u64, month: u64, day: u64) -> Option<u64> {
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let y = if month <= 2 {
        year.checked_sub(1)?
    } else {
        year
    };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe).checked_sub(719_468)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_round_trip() {
        for seconds in [0u64, 1_709_210_096, 2_524_608_000, 4_102_444_799] {
            let encoded = time::x509_time(seconds);
            assert_eq!(parse_time(&mut Reader::new(&encoded)), Some(seconds));
        }
    }
}
