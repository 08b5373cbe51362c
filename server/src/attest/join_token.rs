//! `join_token`: single-use tokens an operator creates and hands to one node.
//!
//! Only the SHA-256 of a token is stored; consuming it is one atomic delete in the store, so
//! two servers sharing a database cannot both accept it.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ring::rand::SecureRandom as _;
use spiffe_id::{SpiffeId, TrustDomain};
use store::{JoinTokenRecord, Store};
use zeroize::Zeroizing;

use super::{AttestedNode, NodeAttestor, Step, hex};
use crate::error::{AttestError, Error};
use node_api::proto;

/// Attests nodes that present a join token from the store.
#[derive(Debug)]
pub struct JoinTokenAttestor {
    store: Arc<dyn Store>,
}

impl JoinTokenAttestor {
    /// Consumes tokens from `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }
}

/// The SHA-256 of a token, lowercase hex: what the store keeps.
pub fn token_hash(token: &str) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, token.as_bytes()).as_ref())
}

fn now_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl NodeAttestor for JoinTokenAttestor {
    fn method(&self) -> &'static str {
        "join_token"
    }

    fn begin(&self, start: &proto::AttestStart) -> Result<Step, AttestError> {
        let Some(proto::attest_start::Method::JoinToken(token)) = &start.method else {
            return Err(AttestError::Malformed(
                "not a join token attestation".into(),
            ));
        };
        if token.token.is_empty() || token.token.len() > 256 {
            return Err(AttestError::UnknownToken);
        }
        let record = self
            .store
            .consume_join_token(&token_hash(&token.token), now_seconds())
            .map_err(|error| match error {
                store::Error::JoinTokenNotFound => AttestError::UnknownToken,
                store::Error::JoinTokenExpired { expired_at } => {
                    AttestError::ExpiredToken { expired_at }
                }
                other => AttestError::Store(other),
            })?;
        Ok(Step::Attested(AttestedNode::new(record.agent_id().clone())))
    }
}

/// A join token just created: the secret to hand to the node, and the agent ID it will give.
#[non_exhaustive]
pub struct NewJoinToken {
    /// The token (shown once; only its hash is stored).
    pub token: Zeroizing<String>,
    /// The SPIFFE ID of the agent that uses it; entries for that node are parented to it.
    pub agent_id: SpiffeId,
    /// Unix seconds after which it is refused.
    pub expires_at: u64,
}

impl core::fmt::Debug for NewJoinToken {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("NewJoinToken")
            .field("agent_id", &self.agent_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Creates a join token valid for `ttl`, for the agent ID `agent_id` (by default
/// `spiffe://<td>/agent/join_token/<random id>`), and stores its hash.
///
/// # Errors
/// [`Error::NotAnAgentId`] for an `agent_id` outside `/agent/`, store failures.
pub fn create_join_token(
    store: &dyn Store,
    trust_domain: &TrustDomain,
    ttl: Duration,
    agent_id: Option<SpiffeId>,
) -> Result<NewJoinToken, Error> {
    let random = ring::rand::SystemRandom::new();
    let mut secret = Zeroizing::new([0_u8; 32]);
    let mut name = [0_u8; 8];
    random
        .fill(secret.as_mut())
        .and_then(|()| random.fill(&mut name))
        .map_err(|_| Error::Io(std::io::Error::other("the system random source failed")))?;
    let token = Zeroizing::new(hex(secret.as_ref()));
    let agent_id = match agent_id {
        Some(id) => {
            if !id.is_member_of(trust_domain)
                || !node_api::is_reserved(&id)
                || id.path() == node_api::SERVER_PATH
            {
                return Err(Error::NotAnAgentId(id));
            }
            id
        }
        None => SpiffeId::from_path(trust_domain, &format!("/agent/join_token/{}", hex(&name)))
            .map_err(|_| Error::NotAnAgentId(trust_domain.id()))?,
    };
    let expires_at = now_seconds().saturating_add(ttl.as_secs());
    store.create_join_token(&JoinTokenRecord::new(
        token_hash(&token),
        agent_id.clone(),
        expires_at,
    ))?;
    Ok(NewJoinToken {
        token,
        agent_id,
        expires_at,
    })
}
