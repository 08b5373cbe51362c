//! PKCS#10 certificate signing requests (RFC 2986): reading one (its public key, after
//! checking its signature) and writing one for an upstream CA.

use crate::der::{self, Reader, tag};
use crate::error::{CsrError, Error};
use crate::signer::Signer;

/// Reads a CSR, verifies its signature with its own public key (proof of possession) using
/// the crypto provider's algorithms, and returns the SubjectPublicKeyInfo DER. The requested subject
/// and extensions are ignored: the caller decides what the certificate says.
pub(crate) fn public_key_of(csr: &[u8], crypto: &svid::Crypto) -> Result<Vec<u8>, CsrError> {
    let malformed = |_| CsrError::Malformed;
    let mut request = Reader::new(der::read_single(csr, tag::SEQUENCE).map_err(malformed)?);
    let (info, info_whole) = request.read_whole(tag::SEQUENCE).map_err(malformed)?;
    let signature_alg = request.read(tag::SEQUENCE).map_err(malformed)?;
    let signature = request.read(tag::BIT_STRING).map_err(malformed)?;
    let signature = der::bit_string_bytes(signature).map_err(malformed)?;
    if !request.is_empty() {
        return Err(CsrError::Malformed);
    }

    let mut info = Reader::new(info);
    if info.read(tag::INTEGER).map_err(malformed)? != [0] {
        return Err(CsrError::Malformed);
    }
    info.read(tag::SEQUENCE).map_err(malformed)?; // subject, ignored
    let (spki, spki_whole) = info.read_whole(tag::SEQUENCE).map_err(malformed)?;
    info.read(tag::CONTEXT_0).map_err(malformed)?; // attributes, ignored
    if !info.is_empty() {
        return Err(CsrError::Malformed);
    }
    let mut spki = Reader::new(spki);
    let key_alg = spki.read(tag::SEQUENCE).map_err(malformed)?;
    let key_bits = spki.read(tag::BIT_STRING).map_err(malformed)?;
    let key_bits = der::bit_string_bytes(key_bits).map_err(malformed)?;

    let mut found = false;
    for algorithm in crypto.algorithms() {
        if algorithm.public_key_alg_id().as_ref() != key_alg
            || algorithm.signature_alg_id().as_ref() != signature_alg
        {
            continue;
        }
        found = true;
        if algorithm
            .verify_signature(key_bits, info_whole, signature)
            .is_ok()
        {
            return Ok(spki_whole.to_vec());
        }
    }
    Err(if found {
        CsrError::BadSignature
    } else {
        CsrError::UnsupportedAlgorithm
    })
}

/// A CSR for `signer`'s key with `subject` (DER Name) and no attributes.
pub(crate) fn build(signer: &dyn Signer, subject: &[u8]) -> Result<Vec<u8>, Error> {
    let info = der::tlv_parts(
        tag::SEQUENCE,
        &[
            &[tag::INTEGER, 1, 0],
            subject,
            signer.public_key_spki(),
            &[tag::CONTEXT_0, 0],
        ],
    );
    let signature = signer.sign(&info)?;
    let mut bits = Vec::with_capacity(signature.len() + 1);
    bits.push(0);
    bits.extend_from_slice(&signature);
    Ok(der::tlv_parts(
        tag::SEQUENCE,
        &[
            &info,
            signer.algorithm().x509_algorithm_identifier(),
            &der::tlv(tag::BIT_STRING, &bits),
        ],
    ))
}
