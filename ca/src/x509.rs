//! Certificate bodies: the TBSCertificate of leaves and CAs per the issuance checklist
//! (digest 2.7), written with the DER helpers, plus [`DistinguishedName`].
//!
//! The fixed parts of every leaf an authority signs (signature algorithm, issuer name, AKI,
//! key usage, EKU, basic constraints) are encoded once per authority in an [`IssuerTemplate`];
//! a leaf then costs a few small copies around the variable fields.

use rustls_pki_types::DnsName;

use crate::algorithm::SignatureAlgorithm;
use crate::der::{self, Reader, oid, tag};
use crate::error::Error;

/// `[0] EXPLICIT INTEGER 2`: X.509 v3.
const VERSION_3: &[u8] = &[0xa0, 0x03, 0x02, 0x01, 0x02];

/// keyUsage BIT STRING values. Bit 0 is the most significant bit of the first byte; DER
/// requires the count of unused trailing bits to be exact.
const KU_DIGITAL_SIGNATURE: &[u8] = &[0x03, 0x02, 0x07, 0x80];
const KU_DIGITAL_SIGNATURE_KEY_ENCIPHERMENT: &[u8] = &[0x03, 0x02, 0x05, 0xa0];
const KU_KEY_CERT_SIGN_CRL_SIGN: &[u8] = &[0x03, 0x02, 0x01, 0x06];

/// The extKeyUsage value of every leaf: serverAuth and clientAuth (X509-SVID 4.4).
fn eku_server_client() -> Vec<u8> {
    der::tlv_parts(
        tag::SEQUENCE,
        &[
            &der::tlv(tag::OID, oid::KP_SERVER_AUTH),
            &der::tlv(tag::OID, oid::KP_CLIENT_AUTH),
        ],
    )
}

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
        self.attributes.push((oid::COMMON_NAME, value.into()));
        self
    }

    /// Adds an organizationName (O).
    #[must_use]
    pub fn organization(mut self, value: impl Into<String>) -> Self {
        self.attributes.push((oid::ORGANIZATION, value.into()));
        self
    }

    /// Adds an organizationalUnitName (OU).
    #[must_use]
    pub fn organizational_unit(mut self, value: impl Into<String>) -> Self {
        self.attributes
            .push((oid::ORGANIZATIONAL_UNIT, value.into()));
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
    let mut rdns = rdn(oid::ORGANIZATION, tag::UTF8_STRING, b"SPIFFE");
    let hex = hex(key_id.get(..8).unwrap_or(key_id));
    rdns.extend(rdn(
        oid::SERIAL_NUMBER,
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
    extension(
        oid::SUBJECT_KEY_ID,
        false,
        &der::tlv(tag::OCTET_STRING, key_id),
    )
}

fn aki_extension(key_id: &[u8]) -> Vec<u8> {
    extension(
        oid::AUTHORITY_KEY_ID,
        false,
        &der::tlv(tag::SEQUENCE, &der::tlv(tag::CONTEXT_0_PRIMITIVE, key_id)),
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
        let basic = extension(oid::BASIC_CONSTRAINTS, true, &[tag::SEQUENCE, 0]);
        let eku = extension(oid::EXT_KEY_USAGE, false, &eku_server_client());
        let fixed = |ku: &[u8]| {
            let mut out = basic.clone();
            out.extend(extension(oid::KEY_USAGE, true, ku));
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
    der::push_tlv(&mut names, tag::URI_NAME, leaf.uri.as_bytes());
    for dns in leaf.dns_names {
        der::push_tlv(&mut names, tag::DNS_NAME, dns.as_bytes());
    }
    let san = extension(
        oid::SUBJECT_ALT_NAME,
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
        oid::BASIC_CONSTRAINTS,
        true,
        &der::tlv(tag::SEQUENCE, &basic),
    );
    extensions.extend(extension(oid::KEY_USAGE, true, KU_KEY_CERT_SIGN_CRL_SIGN));
    extensions.extend(extension(
        oid::SUBJECT_ALT_NAME,
        false,
        &der::tlv(tag::SEQUENCE, &der::tlv(tag::URI_NAME, ca.uri.as_bytes())),
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
        &[
            &der::time::encode(not_before),
            &der::time::encode(not_after),
        ],
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

/// The fields of a certificate this crate reads back: its issuer and subject, validity, SPKI,
/// basicConstraints, keyUsage `keyCertSign` and subject key identifier.
#[derive(Clone, Debug)]
pub(crate) struct ParsedCert<'a> {
    pub(crate) issuer: &'a [u8],
    pub(crate) subject: &'a [u8],
    pub(crate) spki: &'a [u8],
    pub(crate) not_before: u64,
    pub(crate) not_after: u64,
    pub(crate) is_ca: bool,
    pub(crate) path_len: Option<u8>,
    /// Whether keyUsage has `keyCertSign`; `None` without a keyUsage extension.
    pub(crate) key_cert_sign: Option<bool>,
    /// The subjectKeyIdentifier's key id, if the extension is present.
    pub(crate) subject_key_id: Option<&'a [u8]>,
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
        let (_, issuer) = tbs.read_whole(tag::SEQUENCE).ok()?;
        let mut validity = Reader::new(tbs.read(tag::SEQUENCE).ok()?);
        let not_before = der::time::read(&mut validity).ok()?;
        let not_after = der::time::read(&mut validity).ok()?;
        let (_, subject) = tbs.read_whole(tag::SEQUENCE).ok()?;
        let (_, spki) = tbs.read_whole(tag::SEQUENCE).ok()?;
        let mut is_ca = false;
        let mut path_len = None;
        let mut key_cert_sign = None;
        let mut subject_key_id = None;
        while !tbs.is_empty() {
            let element = tbs.read_any().ok()?;
            if element.tag() != tag::CONTEXT_3 {
                continue;
            }
            let mut exts = Reader::new(der::read_single(element.value(), tag::SEQUENCE).ok()?);
            while !exts.is_empty() {
                let mut ext = Reader::new(exts.read(tag::SEQUENCE).ok()?);
                let extension_oid = ext.read(tag::OID).ok()?;
                ext.read_optional(tag::BOOLEAN).ok()?;
                let value = ext.read(tag::OCTET_STRING).ok()?;
                if extension_oid == oid::BASIC_CONSTRAINTS {
                    let mut bc = Reader::new(der::read_single(value, tag::SEQUENCE).ok()?);
                    is_ca = bc.read_optional(tag::BOOLEAN).ok()? == Some(&[0xff]);
                    if let Some(len) = bc.read_optional(tag::INTEGER).ok()? {
                        path_len = match len {
                            [n] => Some(*n),
                            [0, n] => Some(*n),
                            _ => Some(u8::MAX),
                        };
                    }
                } else if extension_oid == oid::KEY_USAGE {
                    // BIT STRING: unused-bits octet, then bit 0 (MSB) onwards; keyCertSign is
                    // bit 5 (RFC 5280 4.2.1.3).
                    let bits = der::read_single(value, tag::BIT_STRING).ok()?;
                    key_cert_sign = Some(bits.get(1).is_some_and(|b| b & 0x04 != 0));
                } else if extension_oid == oid::SUBJECT_KEY_ID {
                    subject_key_id = Some(der::read_single(value, tag::OCTET_STRING).ok()?);
                }
            }
        }
        Some(Self {
            issuer,
            subject,
            spki,
            not_before,
            not_after,
            is_ca,
            path_len,
            key_cert_sign,
            subject_key_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fixed extKeyUsage value is the one this crate spelled by hand before.
    #[test]
    fn eku_is_server_and_client_auth() {
        assert_eq!(
            eku_server_client(),
            [
                0x30, 0x14, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01, 0x06, 0x08,
                0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x02,
            ]
        );
    }
}
