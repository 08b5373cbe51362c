//! Encodings of test material: PEM blocks, concatenated DER (the Workload API's encoding), DER
//! TLVs for hand-made extensions, and a certificate with a broken signature.

use rustls_pki_types::CertificateDer;

/// One PEM block (RFC 7468) with 64-character lines.
pub fn pem_block(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        // Base64 is ASCII.
        out.push_str(std::str::from_utf8(line).unwrap());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Certificates (DER, e.g. `&[&CertificateDer]` or `&[CertificateDer]`) as PEM, in the order
/// given.
pub fn pem<I>(certs: I) -> String
where
    I: IntoIterator,
    I::Item: AsRef<[u8]>,
{
    certs
        .into_iter()
        .map(|c| pem_block("CERTIFICATE", c.as_ref()))
        .collect()
}

/// Owned copies of certificates, in the order given (leaf first).
pub fn chain(certs: &[&CertificateDer<'static>]) -> Vec<CertificateDer<'static>> {
    certs.iter().map(|&c| c.clone()).collect()
}

/// Certificates as concatenated DER, the Workload API's encoding.
pub fn concat<I>(certs: I) -> Vec<u8>
where
    I: IntoIterator,
    I::Item: AsRef<[u8]>,
{
    certs
        .into_iter()
        .flat_map(|c| c.as_ref().to_vec())
        .collect()
}

/// The certificate with the last byte of its signature flipped: still well-formed DER (the last
/// byte is inside the signature BIT STRING), but the signature no longer verifies.
pub fn flip_signature(cert: &CertificateDer<'_>) -> CertificateDer<'static> {
    let mut der = cert.to_vec();
    if let Some(last) = der.last_mut() {
        *last ^= 0x01;
    }
    CertificateDer::from(der)
}

/// A DER TLV with a short or long definite length.
#[track_caller]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tlv_uses_the_long_form_from_128_bytes() {
        assert_eq!(tlv(0x04, &[7; 3]), [0x04, 3, 7, 7, 7]);
        let long = tlv(0x04, &[0; 300]);
        assert_eq!(long[..4], [0x04, 0x82, 0x01, 0x2c]);
        assert_eq!(long.len(), 304);
    }

    #[test]
    fn pem_block_wraps_at_64_characters() {
        let block = pem_block("X", &[0; 60]);
        let lines: Vec<&str> = block.lines().collect();
        assert_eq!(lines[0], "-----BEGIN X-----");
        assert_eq!(lines[1].len(), 64);
        assert_eq!(lines[2].len(), 16);
        assert_eq!(lines[3], "-----END X-----");
    }
}
