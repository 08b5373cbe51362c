//! [`Pkcs11Signer`]: a private key on a token, found by its `CKA_ID`, and the public half as a
//! SubjectPublicKeyInfo.

use core::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::MechanismType;
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsPssParams};
use cryptoki::object::{Attribute, AttributeType, KeyType as CkKeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use rustls::crypto::hash::Hash;

use super::Pkcs11KeyManager;
use super::token::Token;
use crate::algorithm::SignatureAlgorithm;
use crate::der::{self, tag};
use crate::error::{Error, KeyManagerError, SignerError};
use crate::signer::Signer;

/// `CKA_EC_PARAMS` of P-256: the named curve prime256v1.
pub(super) const EC_PARAMS_P256: &[u8] =
    &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// `CKA_EC_PARAMS` of P-384: the named curve secp384r1.
pub(super) const EC_PARAMS_P384: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];
/// `CKA_EC_PARAMS` of Ed25519: the OID id-Ed25519 (RFC 8410; PKCS#11 3.0 also allows it).
pub(super) const EC_PARAMS_ED25519: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];

/// A key on the token. Signing hashes in software (ECDSA) and asks the token for the
/// signature; the private key never leaves the token.
pub(super) struct Pkcs11Signer {
    token: Arc<Token>,
    id: Vec<u8>,
    /// The private key's handle, found again when the token says it is stale.
    handle: Mutex<ObjectHandle>,
    algorithm: SignatureAlgorithm,
    spki: Vec<u8>,
    /// The digest for ECDSA (`CKM_ECDSA` signs a digest); `None` for RSA and Ed25519.
    digest: Option<&'static dyn Hash>,
}

impl fmt::Debug for Pkcs11Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11Signer")
            .field("token", &self.token)
            .field("key_ref", &super::key_ref_of(&self.id))
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl Pkcs11Signer {
    /// The key whose `CKA_ID` is `id`, signing with `algorithm`.
    pub(super) fn load(
        manager: &Pkcs11KeyManager,
        id: &[u8],
        algorithm: SignatureAlgorithm,
    ) -> Result<Self, Error> {
        let digest = match algorithm {
            SignatureAlgorithm::EcdsaP256Sha256 => Some(manager.sha256),
            SignatureAlgorithm::EcdsaP384Sha384 => Some(manager.sha384),
            SignatureAlgorithm::RsaPkcs1Sha256
            | SignatureAlgorithm::RsaPssSha256
            | SignatureAlgorithm::Ed25519 => None,
        };
        let digest = match digest {
            Some(None) => {
                return Err(Error::Unsupported {
                    what: "ECDSA on a PKCS#11 token without this digest in the CA's crypto provider",
                });
            }
            Some(Some(hash)) => Some(hash),
            None => None,
        };
        let token = &manager.token;
        let found = token
            .with_session(|session| {
                let Some(private) = find(session, ObjectClass::PRIVATE_KEY, id)? else {
                    return Ok(None);
                };
                let Some(public) = find(session, ObjectClass::PUBLIC_KEY, id)? else {
                    return Ok(None);
                };
                let wanted = if algorithm.is_rsa() {
                    [
                        AttributeType::KeyType,
                        AttributeType::Modulus,
                        AttributeType::PublicExponent,
                    ]
                } else {
                    [
                        AttributeType::KeyType,
                        AttributeType::EcParams,
                        AttributeType::EcPoint,
                    ]
                };
                let attributes = session.get_attributes(public, &wanted)?;
                Ok(Some((private, attributes)))
            })
            .map_err(|e| manager.error("reading a key from", e))?;
        let Some((handle, attributes)) = found else {
            return Err(Error::KeyNotFound {
                key_ref: super::key_ref_of(id),
            });
        };
        let spki = spki_of(algorithm, &attributes).ok_or(Error::KeyRejected)?;
        Ok(Self {
            token: Arc::clone(token),
            id: id.to_vec(),
            handle: Mutex::new(handle),
            algorithm,
            spki,
            digest,
        })
    }

    fn sign_on_token(&self, session: &Session, data: &[u8]) -> Result<Vec<u8>, CkError> {
        let mechanism = match self.algorithm {
            SignatureAlgorithm::RsaPkcs1Sha256 => Mechanism::Sha256RsaPkcs,
            SignatureAlgorithm::RsaPssSha256 => Mechanism::Sha256RsaPkcsPss(PkcsPssParams {
                hash_alg: MechanismType::SHA256,
                mgf: PkcsMgfType::MGF1_SHA256,
                s_len: 32.into(),
            }),
            // Pure Ed25519 signs the whole message; its 64 bytes are the X.509 encoding.
            SignatureAlgorithm::Ed25519 => {
                Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure))
            }
            _ => Mechanism::Ecdsa,
        };
        let handle = *self.handle.lock().unwrap_or_else(PoisonError::into_inner);
        match session.sign(&mechanism, handle, data) {
            Err(CkError::Pkcs11(RvError::KeyHandleInvalid | RvError::ObjectHandleInvalid, _)) => {
                // Handles may change when the module restarts: find the key again.
                let handle = find(session, ObjectClass::PRIVATE_KEY, &self.id)?.ok_or(
                    CkError::Pkcs11(RvError::KeyHandleInvalid, cryptoki::context::Function::Sign),
                )?;
                *self.handle.lock().unwrap_or_else(PoisonError::into_inner) = handle;
                session.sign(&mechanism, handle, data)
            }
            result => result,
        }
    }
}

impl Signer for Pkcs11Signer {
    fn algorithm(&self) -> SignatureAlgorithm {
        self.algorithm
    }

    fn public_key_spki(&self) -> &[u8] {
        &self.spki
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignerError> {
        let digest = self.digest.map(|hash| hash.hash(message));
        let data = digest.as_ref().map_or(message, |d| d.as_ref());
        let raw = self
            .token
            .with_session(|session| self.sign_on_token(session, data))
            .map_err(|e| {
                let what = format!(
                    "signing on PKCS#11 token '{}' failed: {}",
                    self.token.label(),
                    super::wording(&e)
                );
                SignerError::new(KeyManagerError::with_source(what, e))
            })?;
        if self.digest.is_none() {
            return Ok(raw);
        }
        // CKM_ECDSA returns r || s, each as wide as the curve order; X.509 wants DER.
        let (r, s) = raw
            .split_at_checked(raw.len() / 2)
            .filter(|_| raw.len() % 2 == 0 && !raw.is_empty())
            .ok_or_else(|| SignerError::new("the token returned a malformed ECDSA signature"))?;
        Ok(der::tlv_parts(
            tag::SEQUENCE,
            &[&der::unsigned_integer(r), &der::unsigned_integer(s)],
        ))
    }
}

/// The one object of `class` with `CKA_ID` `id`.
pub(super) fn find(
    session: &Session,
    class: ObjectClass,
    id: &[u8],
) -> Result<Option<ObjectHandle>, CkError> {
    let found = session.find_objects(&[Attribute::Class(class), Attribute::Id(id.to_vec())])?;
    Ok(found.first().copied())
}

/// The SubjectPublicKeyInfo of a token public key, if it is a key for `algorithm`.
fn spki_of(algorithm: SignatureAlgorithm, attributes: &[Attribute]) -> Option<Vec<u8>> {
    let mut key_type = None;
    let (mut params, mut point, mut modulus, mut exponent) = (None, None, None, None);
    for attribute in attributes {
        match attribute {
            Attribute::KeyType(t) => key_type = Some(*t),
            Attribute::EcParams(p) => params = Some(p.as_slice()),
            Attribute::EcPoint(p) => point = Some(p.as_slice()),
            Attribute::Modulus(m) => modulus = Some(m.as_slice()),
            Attribute::PublicExponent(e) => exponent = Some(e.as_slice()),
            _ => {}
        }
    }
    let public = match algorithm {
        SignatureAlgorithm::EcdsaP256Sha256 | SignatureAlgorithm::EcdsaP384Sha384 => {
            let (want, len) = if algorithm == SignatureAlgorithm::EcdsaP256Sha256 {
                (EC_PARAMS_P256, 65)
            } else {
                (EC_PARAMS_P384, 97)
            };
            if key_type? != CkKeyType::EC || params? != want {
                return None;
            }
            // CKA_EC_POINT is a DER OCTET STRING holding the point (PKCS#11 2.40); some
            // modules return the bare point.
            let point = point?;
            let inner = der::read_single(point, tag::OCTET_STRING).ok();
            let point = inner.filter(|p| p.len() == len).unwrap_or(point);
            (point.len() == len && point.first() == Some(&4)).then(|| point.to_vec())?
        }
        SignatureAlgorithm::RsaPkcs1Sha256 | SignatureAlgorithm::RsaPssSha256 => {
            if key_type? != CkKeyType::RSA {
                return None;
            }
            der::tlv_parts(
                tag::SEQUENCE,
                &[
                    &der::unsigned_integer(modulus?),
                    &der::unsigned_integer(exponent?),
                ],
            )
        }
        SignatureAlgorithm::Ed25519 => {
            if key_type? != CkKeyType::EC_EDWARDS || params? != EC_PARAMS_ED25519 {
                return None;
            }
            let point = point?;
            let inner = der::read_single(point, tag::OCTET_STRING).ok();
            let point = inner.filter(|p| p.len() == 32).unwrap_or(point);
            (point.len() == 32).then(|| point.to_vec())?
        }
    };
    let spki = crate::spki::spki_of(algorithm, &public);
    crate::spki::is_supported_spki(&spki).then_some(spki)
}
