//! SubjectPublicKeyInfo plumbing: writing one for a key and checking one a caller supplies.

use crate::algorithm::{ALG_ED25519, SignatureAlgorithm};
use crate::der::{self, tag};

/// SubjectPublicKeyInfo algorithm: id-ecPublicKey with prime256v1.
const SPKI_ALG_P256: &[u8] = &[
    0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48,
    0xce, 0x3d, 0x03, 0x01, 0x07,
];
/// SubjectPublicKeyInfo algorithm: id-ecPublicKey with secp384r1.
const SPKI_ALG_P384: &[u8] = &[
    0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x05, 0x2b, 0x81, 0x04,
    0x00, 0x22,
];
/// SubjectPublicKeyInfo algorithm: rsaEncryption with NULL parameters.
const SPKI_ALG_RSA: &[u8] = &[
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
];

/// The SubjectPublicKeyInfo for `public` (a ring/aws-lc-rs public key: an uncompressed EC
/// point, a DER `RSAPublicKey`, or 32 Ed25519 bytes).
pub(crate) fn spki_of(algorithm: SignatureAlgorithm, public: &[u8]) -> Vec<u8> {
    let alg = match algorithm {
        SignatureAlgorithm::EcdsaP256Sha256 => SPKI_ALG_P256,
        SignatureAlgorithm::EcdsaP384Sha384 => SPKI_ALG_P384,
        SignatureAlgorithm::Ed25519 => ALG_ED25519,
        SignatureAlgorithm::RsaPkcs1Sha256 | SignatureAlgorithm::RsaPssSha256 => SPKI_ALG_RSA,
    };
    spki_from_parts(alg, public)
}

/// The SubjectPublicKeyInfo for an svid key algorithm and its public key bits.
pub(crate) fn spki_of_key(algorithm: svid::KeyAlgorithm, public: &[u8]) -> Option<Vec<u8>> {
    let alg = match algorithm {
        svid::KeyAlgorithm::EcdsaP256 => SPKI_ALG_P256,
        svid::KeyAlgorithm::EcdsaP384 => SPKI_ALG_P384,
        svid::KeyAlgorithm::Ed25519 => ALG_ED25519,
        svid::KeyAlgorithm::Rsa => SPKI_ALG_RSA,
        _ => return None,
    };
    Some(spki_from_parts(alg, public))
}

/// Whether `spki` is a well-formed SubjectPublicKeyInfo of a key type this crate certifies,
/// with a public key of the right size for its type.
pub(crate) fn is_supported_spki(spki: &[u8]) -> bool {
    let inner = || -> Option<bool> {
        let mut info = der::Reader::new(der::read_single(spki, tag::SEQUENCE).ok()?);
        let (_, alg) = info.read_whole(tag::SEQUENCE).ok()?;
        let bits = der::bit_string_bytes(info.read(tag::BIT_STRING).ok()?).ok()?;
        if !info.is_empty() {
            return Some(false);
        }
        let ok = match alg {
            a if a == SPKI_ALG_P256 => bits.len() == 65 && bits.first() == Some(&4),
            a if a == SPKI_ALG_P384 => bits.len() == 97 && bits.first() == Some(&4),
            a if a == ALG_ED25519 => bits.len() == 32,
            a if a == SPKI_ALG_RSA => {
                let mut rsa = der::Reader::new(der::read_single(bits, tag::SEQUENCE).ok()?);
                let n = rsa.read(tag::INTEGER).ok()?;
                rsa.read(tag::INTEGER).ok()?;
                // 2048 bits or more (the verifiers refuse smaller moduli).
                rsa.is_empty() && n.len() >= 256
            }
            _ => false,
        };
        Some(ok)
    };
    inner().unwrap_or(false)
}

fn spki_from_parts(alg: &[u8], public: &[u8]) -> Vec<u8> {
    let mut bits = Vec::with_capacity(public.len() + 1);
    bits.push(0);
    bits.extend_from_slice(public);
    der::tlv_parts(tag::SEQUENCE, &[alg, &der::tlv(tag::BIT_STRING, &bits)])
}

/// Whether a SubjectPublicKeyInfo holds an RSA key.
pub(crate) fn spki_is_rsa(spki: &[u8]) -> bool {
    let inner = || -> Option<bool> {
        let mut info = der::Reader::new(der::read_single(spki, tag::SEQUENCE).ok()?);
        let mut alg = der::Reader::new(info.read(tag::SEQUENCE).ok()?);
        Some(alg.read(tag::OID).ok()? == der::oid::RSA_ENCRYPTION)
    };
    inner().unwrap_or(false)
}
