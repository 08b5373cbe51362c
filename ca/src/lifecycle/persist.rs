//! Persistence: the lifecycle state as `state.json` in the key store, saved on every commit
//! and resumed when a CA is built on a store that has one.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rustls_pki_types::CertificateDer;
use serde::{Deserialize, Serialize};
use svid::JwtAlgorithm;

use crate::algorithm::SignatureAlgorithm;
use crate::authority::CertificateAuthority;
use crate::error::Error;
use crate::jwt;
use crate::key_manager::check_key_ref;
use crate::keys::{X509Authority, jwt_key_parameters};
use crate::signer::Signer;
use crate::state::{AuthorityStatus, Entry, State};
use crate::x509::{self, IssuerTemplate, ParsedCert};

/// Version 2 names each authority's key by its key manager reference (`key`); version 1
/// journals (keys named `x509-<id>` / `jwt-<kid>` in the key store) are still read.
const STATE_VERSION: u32 = 2;

#[derive(Serialize, Deserialize)]
struct Stored {
    version: u32,
    trust_domain: String,
    sequence: u64,
    x509_epoch: u64,
    jwt_epoch: u64,
    x509: Vec<StoredX509>,
    jwt: Vec<StoredJwt>,
}

#[derive(Serialize, Deserialize)]
struct StoredX509 {
    id: String,
    /// The key manager's reference (absent in version 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key: Option<String>,
    status: AuthorityStatus,
    algorithm: String,
    /// base64 DER, as `X509Authority::chain`.
    chain: Vec<String>,
    /// base64 DER, as `X509Authority::roots`.
    roots: Vec<String>,
    path_len: Option<u8>,
}

#[derive(Serialize, Deserialize)]
struct StoredJwt {
    kid: String,
    /// The key manager's reference (absent in version 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key: Option<String>,
    status: AuthorityStatus,
    algorithm: String,
    not_before: u64,
    not_after: u64,
}

fn algorithm_name(algorithm: SignatureAlgorithm) -> &'static str {
    match algorithm {
        SignatureAlgorithm::EcdsaP256Sha256 => "ecdsa-p256-sha256",
        SignatureAlgorithm::EcdsaP384Sha384 => "ecdsa-p384-sha384",
        SignatureAlgorithm::Ed25519 => "ed25519",
        SignatureAlgorithm::RsaPkcs1Sha256 => "rsa-pkcs1-sha256",
        SignatureAlgorithm::RsaPssSha256 => "rsa-pss-sha256",
    }
}

fn algorithm_from_name(name: &str) -> Result<SignatureAlgorithm, Error> {
    Ok(match name {
        "ecdsa-p256-sha256" => SignatureAlgorithm::EcdsaP256Sha256,
        "ecdsa-p384-sha384" => SignatureAlgorithm::EcdsaP384Sha384,
        "ed25519" => SignatureAlgorithm::Ed25519,
        "rsa-pkcs1-sha256" => SignatureAlgorithm::RsaPkcs1Sha256,
        "rsa-pss-sha256" => SignatureAlgorithm::RsaPssSha256,
        other => {
            return Err(Error::StoredState {
                reason: format!("unknown signature algorithm {other:?}"),
            });
        }
    })
}

pub(super) fn save(ca: &CertificateAuthority, state: &State) -> Result<Vec<u8>, Error> {
    let b64 =
        |certs: &[CertificateDer<'static>]| certs.iter().map(|c| STANDARD.encode(c)).collect();
    let stored = Stored {
        version: STATE_VERSION,
        trust_domain: ca.trust_domain().to_string(),
        sequence: state.sequence,
        x509_epoch: state.x509_epoch,
        jwt_epoch: state.jwt_epoch,
        x509: state
            .x509
            .iter()
            .map(|e| StoredX509 {
                id: e.authority.id.clone(),
                key: Some(e.authority.key_ref.clone()),
                status: e.status,
                algorithm: algorithm_name(e.authority.signer.algorithm()).into(),
                chain: b64(&e.authority.chain),
                roots: b64(&e.authority.roots),
                path_len: e.authority.path_len,
            })
            .collect(),
        jwt: state
            .jwt
            .iter()
            .map(|e| StoredJwt {
                kid: e.authority.kid.clone(),
                key: Some(e.authority.key_ref.clone()),
                status: e.status,
                algorithm: e.authority.algorithm.name().into(),
                not_before: e.authority.not_before,
                not_after: e.authority.not_after,
            })
            .collect(),
    };
    serde_json::to_vec_pretty(&stored).map_err(|e| Error::StoredState {
        reason: format!("cannot encode state: {e}"),
    })
}

/// Rebuilds the state from a store. Issued-until marks are not persisted (they change on
/// every issuance): retired authorities are kept until their own expiry, which bounds
/// everything they signed.
pub(crate) fn resume(ca: &CertificateAuthority, bytes: &[u8]) -> Result<State, Error> {
    let bad = |reason: String| Error::StoredState { reason };
    let stored: Stored =
        serde_json::from_slice(bytes).map_err(|e| bad(format!("state.json: {e}")))?;
    if !(1..=STATE_VERSION).contains(&stored.version) {
        return Err(bad(format!("unknown state version {}", stored.version)));
    }
    if stored.trust_domain != ca.trust_domain().as_str() {
        return Err(bad(format!(
            "the store belongs to trust domain {}",
            stored.trust_domain
        )));
    }
    let crypto = &ca.inner.crypto;
    // Version 1 named keys after their authority in the key store.
    let key_ref = |key: &Option<String>, kind: &str, id: &str| -> Result<String, Error> {
        let key_ref = key.clone().unwrap_or_else(|| format!("{kind}-{id}"));
        check_key_ref(&key_ref)?;
        Ok(key_ref)
    };
    let load = |key_ref: &str, algorithm: SignatureAlgorithm| -> Result<Arc<dyn Signer>, Error> {
        match ca.inner.key_manager.load(key_ref, algorithm) {
            Err(Error::KeyNotFound { .. }) => Err(bad(format!(
                "the journal lists key {key_ref:?}, which the key manager does not have (another key store or token?)"
            ))),
            other => other,
        }
    };
    let certs = |list: &[String]| -> Result<Vec<CertificateDer<'static>>, Error> {
        list.iter()
            .map(|s| {
                STANDARD
                    .decode(s)
                    .map(CertificateDer::from)
                    .map_err(|_| bad("certificate is not base64".into()))
            })
            .collect()
    };
    let mut state = State {
        sequence: stored.sequence,
        x509_epoch: stored.x509_epoch,
        jwt_epoch: stored.jwt_epoch,
        ..State::default()
    };
    for x in &stored.x509 {
        let algorithm = algorithm_from_name(&x.algorithm)?;
        let key_ref = key_ref(&x.key, "x509", &x.id)?;
        let signer = load(&key_ref, algorithm)?;
        let chain = certs(&x.chain)?;
        let roots = certs(&x.roots)?;
        let (subject, not_before, not_after) = {
            let own = chain
                .first()
                .or_else(|| roots.first())
                .ok_or_else(|| bad("authority without certificate".into()))?;
            let parsed = ParsedCert::parse(own)
                .ok_or_else(|| bad("stored certificate does not parse".into()))?;
            if parsed.spki != signer.public_key_spki() {
                return Err(bad(format!(
                    "key x509-{} does not match its certificate",
                    x.id
                )));
            }
            (parsed.subject.to_vec(), parsed.not_before, parsed.not_after)
        };
        let key_id = x509::key_identifier(crypto, signer.public_key_spki())?;
        let authority = X509Authority {
            id: x.id.clone(),
            key_ref,
            template: IssuerTemplate::new(signer.algorithm(), subject, &key_id),
            signer,
            not_before,
            not_after,
            chain,
            roots,
            path_len: x.path_len,
            issued_until: AtomicU64::new(not_after),
        };
        state.x509.push(Entry::new(x.status, Arc::new(authority)));
    }
    for j in &stored.jwt {
        let algorithm = JwtAlgorithm::from_name(&j.algorithm)
            .ok_or_else(|| bad(format!("unknown JWT algorithm {:?}", j.algorithm)))?;
        let (signature_algorithm, _) = jwt_key_parameters(algorithm)?;
        let key_ref = key_ref(&j.key, "jwt", &j.kid)?;
        let signer = load(&key_ref, signature_algorithm)?;
        let authority = jwt::authority(
            j.kid.clone(),
            key_ref,
            signer,
            algorithm,
            j.not_before,
            j.not_after,
        );
        authority.issued_until.store(j.not_after, Ordering::Release);
        state.jwt.push(Entry::new(j.status, Arc::new(authority)));
    }
    Ok(state)
}
