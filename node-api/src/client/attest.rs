//! Node attestation from the agent's side: join token or x509pop, over TLS that authenticates
//! the server (the agent has no certificate yet).

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use svid::X509Svid;
use tls_integration::net::SpiffeConnector;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use zeroize::Zeroizing;

use super::NodeClient;
use crate::error::Error;
use crate::keys;
use crate::proto::{self, attest_request, attest_response, attest_start};
use crate::x509pop::{self, NodeCredential};

/// How a node proves which node it is.
#[derive(Clone)]
#[non_exhaustive]
pub enum Attestation {
    /// A single-use token an operator created on the server.
    JoinToken(Arc<Zeroizing<String>>),
    /// Possession of the key of a certificate from the organisation's PKI.
    X509pop(NodeCredential),
}

impl core::fmt::Debug for Attestation {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::JoinToken(_) => f.write_str("JoinToken(<redacted>)"),
            Self::X509pop(node) => f.debug_tuple("X509pop").field(node).finish(),
        }
    }
}

impl Attestation {
    /// Attestation with a join token.
    pub fn join_token(token: impl Into<String>) -> Self {
        Self::JoinToken(Arc::new(Zeroizing::new(token.into())))
    }

    /// The attestation method's name, as the server records it.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::JoinToken(_) => "join_token",
            Self::X509pop(_) => "x509pop",
        }
    }
}

/// The outcome of a successful attestation.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct AttestedAgent {
    /// The agent SVID (also installed in the client for later calls).
    pub svid: Arc<X509Svid>,
}

impl NodeClient {
    /// Attests this node to a server (the first that answers) and installs the agent SVID.
    ///
    /// # Errors
    /// [`Error::Refused`] when the server refuses the attestation (a used or expired token,
    /// a certificate it does not trust, clocks too far apart), transport and protocol errors.
    pub async fn attest(&self, attestation: Attestation) -> Result<AttestedAgent, Error> {
        let key = tokio::task::spawn_blocking(keys::new_key_and_csr)
            .await
            .map_err(|e| Error::Key(e.to_string()))??;
        let bundles: Arc<dyn trust_bundle::X509BundleSource> = self.inner.bundle.clone();
        let config = self.tls().tls_client(bundles, self.server_matcher())?;
        let count = self.inner.endpoints.len();
        let mut last = None;
        for (index, (address, endpoint)) in self.failover_order() {
            let channel = match endpoint
                .clone()
                .connect_with_connector(SpiffeConnector::new(config.clone()))
                .await
            {
                Ok(channel) => channel,
                Err(error) => {
                    tracing::debug!(server = %address, %error, "server unreachable; trying the next");
                    last = Some((
                        address.clone(),
                        tonic::Status::unavailable(error.to_string()),
                    ));
                    continue;
                }
            };
            match exchange(channel, &attestation, &key.csr).await {
                Ok(response) => {
                    self.inner
                        .preferred
                        .store(index, std::sync::atomic::Ordering::Relaxed);
                    let svid = self.accept_agent_svid(&response, &key.pkcs8, None)?;
                    return Ok(AttestedAgent { svid });
                }
                Err(Exchange::Status(status)) if super::is_unreachable(&status) => {
                    last = Some((address.clone(), status));
                }
                Err(Exchange::Status(status)) => {
                    return Err(Error::Refused {
                        address: address.clone(),
                        status,
                    });
                }
                Err(Exchange::Local(error)) => return Err(error),
            }
        }
        let (address, status) = last.ok_or(Error::NoServers)?;
        Err(Error::Unreachable {
            tried: count,
            address,
            status,
        })
    }
}

enum Exchange {
    Status(tonic::Status),
    Local(Error),
}

impl From<tonic::Status> for Exchange {
    fn from(status: tonic::Status) -> Self {
        Self::Status(status)
    }
}

/// One attestation conversation on `channel`.
async fn exchange(
    channel: tonic::transport::Channel,
    attestation: &Attestation,
    csr: &[u8],
) -> Result<proto::AgentSvid, Exchange> {
    let mut client = proto::node_client::NodeClient::new(channel)
        .max_decoding_message_size(crate::MAX_MESSAGE_BYTES);
    let (sender, receiver) = mpsc::channel(2);
    let agent_time = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let method = match attestation {
        Attestation::JoinToken(token) => attest_start::Method::JoinToken(proto::JoinToken {
            token: token.as_str().to_owned(),
        }),
        Attestation::X509pop(node) => attest_start::Method::X509pop(proto::X509pop {
            chain: node.chain().iter().map(|c| c.as_ref().to_vec()).collect(),
        }),
    };
    let start = proto::AttestRequest {
        step: Some(attest_request::Step::Start(proto::AttestStart {
            csr: csr.to_vec(),
            agent_time,
            method: Some(method),
        })),
    };
    // The channel has room for two messages: these sends cannot block.
    let _ = sender.send(start).await;
    let mut responses = client
        .attest(ReceiverStream::new(receiver))
        .await?
        .into_inner();
    loop {
        let message = responses.message().await?.ok_or_else(|| {
            Exchange::Local(Error::Protocol("attestation ended without an SVID".into()))
        })?;
        match message.step {
            Some(attest_response::Step::Svid(svid)) => return Ok(svid),
            Some(attest_response::Step::Challenge(challenge)) => {
                let Attestation::X509pop(node) = attestation else {
                    return Err(Exchange::Local(Error::Protocol(
                        "an x509pop challenge for a join token attestation".into(),
                    )));
                };
                if challenge.nonce.len() != x509pop::NONCE_LEN {
                    return Err(Exchange::Local(Error::Protocol(format!(
                        "an x509pop nonce of {} bytes, not {}",
                        challenge.nonce.len(),
                        x509pop::NONCE_LEN
                    ))));
                }
                let message = x509pop::signed_message(&challenge.nonce, csr);
                let (scheme, signature) = node.sign(&message).map_err(Exchange::Local)?;
                let proof = proto::AttestRequest {
                    step: Some(attest_request::Step::Proof(proto::X509popProof {
                        scheme: u32::from(u16::from(scheme)),
                        signature,
                    })),
                };
                let _ = sender.send(proof).await;
            }
            None => {
                return Err(Exchange::Local(Error::Protocol(
                    "an empty attestation message".into(),
                )));
            }
        }
    }
}
