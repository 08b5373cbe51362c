//! `x509pop`: the node proves possession of the key of a certificate issued by a configured
//! CA (an organisation's existing machine PKI); its agent ID comes from the certificate
//! through a template.

use ring::rand::SecureRandom as _;
use rustls::SignatureScheme;
use rustls_pki_types::{CertificateDer, UnixTime};
use spiffe_id::{SpiffeId, TrustDomain};
use webpki::{EndEntityCert, KeyUsage};

use super::{AttestedNode, NodeAttestor, Step, hex};
use crate::error::{AttestError, Error};
use node_api::proto;
use node_api::x509pop::{NONCE_LEN, SCHEMES, signed_message};

/// The default agent ID template: the SHA-256 fingerprint of the node certificate.
pub const DEFAULT_TEMPLATE: &str = "/agent/x509pop/{fingerprint}";

/// Certificates a node may send (its own plus intermediates).
const MAX_CHAIN_LEN: usize = 8;
/// The largest certificate accepted.
const MAX_CERT_BYTES: usize = 16 * 1024;

/// What an [`X509popAttestor`] trusts and how it names nodes.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct X509popConfig {
    /// The CA certificates node certificates must chain to.
    pub roots: Vec<CertificateDer<'static>>,
    /// The agent ID path: `/agent/...` with `{fingerprint}` (SHA-256 of the node certificate,
    /// hex) and `{subject_cn}` (its subject common name) replaced.
    pub template: String,
}

impl X509popConfig {
    /// Trusts `roots`, names nodes by [`DEFAULT_TEMPLATE`].
    pub fn new(roots: Vec<CertificateDer<'static>>) -> Self {
        Self {
            roots,
            template: DEFAULT_TEMPLATE.to_owned(),
        }
    }

    /// Names nodes by `template` (see [`X509popConfig::template`]).
    #[must_use]
    pub fn with_template(mut self, template: impl Into<String>) -> Self {
        self.template = template.into();
        self
    }
}

/// Attests nodes by x509pop.
#[derive(Debug)]
pub struct X509popAttestor {
    trust_domain: TrustDomain,
    config: X509popConfig,
    crypto: svid::Crypto,
}

impl X509popAttestor {
    /// An attestor for nodes of `trust_domain`.
    ///
    /// # Errors
    /// [`Error::X509popConfig`] without roots, with a root webpki cannot use, or with a
    /// template outside `/agent/`.
    pub fn new(
        trust_domain: TrustDomain,
        config: X509popConfig,
        crypto: svid::Crypto,
    ) -> Result<Self, Error> {
        if config.roots.is_empty() {
            return Err(Error::X509popConfig("no root CA certificate".into()));
        }
        for root in &config.roots {
            webpki::anchor_from_trusted_cert(root)
                .map_err(|e| Error::X509popConfig(format!("a root cannot be used: {e}")))?;
        }
        if !config.template.starts_with(node_api::AGENT_PATH_PREFIX) {
            return Err(Error::X509popConfig(format!(
                "the template {:?} must start with {}",
                config.template,
                node_api::AGENT_PATH_PREFIX
            )));
        }
        Ok(Self {
            trust_domain,
            config,
            crypto,
        })
    }

    fn agent_id(&self, leaf: &CertificateDer<'_>) -> Result<(SpiffeId, Vec<String>), AttestError> {
        let fingerprint = hex(ring::digest::digest(&ring::digest::SHA256, leaf).as_ref());
        let common_name = subject_common_name(leaf);
        let mut path = self.config.template.replace("{fingerprint}", &fingerprint);
        if path.contains("{subject_cn}") {
            let cn = common_name.as_deref().ok_or_else(|| {
                AttestError::BadAgentId(
                    "the template needs a subject CN and the certificate has none".into(),
                )
            })?;
            path = path.replace("{subject_cn}", cn);
        }
        let id = SpiffeId::from_path(&self.trust_domain, &path)
            .map_err(|e| AttestError::BadAgentId(format!("{path:?}: {e}")))?;
        let mut selectors = vec![format!("x509pop:fingerprint:{fingerprint}")];
        if let Some(cn) = common_name {
            selectors.push(format!("x509pop:subject:cn:{cn}"));
        }
        Ok((id, selectors))
    }
}

/// The subject CN of a certificate, if it has exactly one UTF-8 one.
fn subject_common_name(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let mut names = cert.subject().iter_common_name();
    let first = names.next()?.as_str().ok()?.to_owned();
    names.next().is_none().then_some(first)
}

impl NodeAttestor for X509popAttestor {
    fn method(&self) -> &'static str {
        "x509pop"
    }

    fn begin(&self, start: &proto::AttestStart) -> Result<Step, AttestError> {
        let Some(proto::attest_start::Method::X509pop(x509pop)) = &start.method else {
            return Err(AttestError::Malformed("not an x509pop attestation".into()));
        };
        if x509pop.chain.is_empty() || x509pop.chain.len() > MAX_CHAIN_LEN {
            return Err(AttestError::Malformed(format!(
                "the chain has {} certificates (1 to {MAX_CHAIN_LEN} allowed)",
                x509pop.chain.len()
            )));
        }
        if x509pop.chain.iter().any(|c| c.len() > MAX_CERT_BYTES) {
            return Err(AttestError::Malformed(format!(
                "a certificate is over {MAX_CERT_BYTES} bytes"
            )));
        }
        let chain: Vec<CertificateDer<'static>> = x509pop
            .chain
            .iter()
            .map(|c| CertificateDer::from(c.clone()))
            .collect();
        let (leaf, intermediates) = chain
            .split_first()
            .ok_or_else(|| AttestError::Malformed("empty chain".into()))?;
        let anchors: Vec<_> = self
            .config
            .roots
            .iter()
            .filter_map(|root| webpki::anchor_from_trusted_cert(root).ok())
            .collect();
        let end_entity = EndEntityCert::try_from(leaf)
            .map_err(|e| AttestError::UntrustedCertificate(e.to_string()))?;
        end_entity
            .verify_for_usage(
                self.crypto.algorithms(),
                &anchors,
                intermediates,
                UnixTime::now(),
                KeyUsage::client_auth(),
                None,
                None,
            )
            .map_err(|e| AttestError::UntrustedCertificate(e.to_string()))?;
        let (agent_id, selectors) = self.agent_id(leaf)?;

        let mut nonce = vec![0_u8; NONCE_LEN];
        ring::rand::SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| AttestError::Malformed("the server's random source failed".into()))?;
        let message = signed_message(&nonce, &start.csr);
        let leaf = leaf.clone();
        let provider = std::sync::Arc::clone(self.crypto.provider());
        let finish = Box::new(move |answer: &proto::AttestRequest| {
            let Some(proto::attest_request::Step::Proof(proof)) = &answer.step else {
                return Err(AttestError::Malformed("expected the x509pop proof".into()));
            };
            let scheme = u16::try_from(proof.scheme)
                .map(SignatureScheme::from)
                .map_err(|_| AttestError::BadProof)?;
            if !SCHEMES.contains(&scheme) {
                return Err(AttestError::BadProof);
            }
            let algorithms = provider
                .signature_verification_algorithms
                .mapping
                .iter()
                .find(|(s, _)| *s == scheme)
                .map(|(_, algs)| *algs)
                .ok_or(AttestError::BadProof)?;
            let end_entity = EndEntityCert::try_from(&leaf).map_err(|_| AttestError::BadProof)?;
            let verified = algorithms.iter().any(|alg| {
                end_entity
                    .verify_signature(*alg, &message, &proof.signature)
                    .is_ok()
            });
            if !verified {
                return Err(AttestError::BadProof);
            }
            Ok(AttestedNode {
                spiffe_id: agent_id,
                selectors,
            })
        });
        Ok(Step::Challenge {
            challenge: proto::AttestResponse {
                step: Some(proto::attest_response::Step::Challenge(
                    proto::X509popChallenge { nonce },
                )),
            },
            finish,
        })
    }
}
