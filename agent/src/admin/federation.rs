//! The admin API's federation calls: the relationships of the manager given to
//! [`AgentHandle::federate`](crate::AgentHandle::federate), and resetting one's sequence.

use std::sync::{Arc, PoisonError};

use federation::manager::{FederationManager, RelationshipStatus};
use spiffe_id::TrustDomain;
use tonic::Status;

use crate::admin::convert::unix;
use crate::admin::proto;
use crate::agent_core::AgentCore;

/// The agent's federation manager; FAILED_PRECONDITION when it has none.
fn manager(agent: &AgentCore) -> Result<Arc<FederationManager>, Status> {
    agent
        .federation
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
        .ok_or_else(|| {
            Status::failed_precondition(
                "this agent federates with no trust domain: add [[federation.federates_with]] \
                 to its config",
            )
        })
}

/// Every relationship, by trust domain.
pub(crate) fn list(agent: &AgentCore) -> Result<proto::FederationRelationships, Status> {
    Ok(relationships(manager(agent)?.as_ref()))
}

/// Admits one lower sequence for `trust_domain` and fetches now; the relationships after.
pub(crate) fn reset_sequence(
    agent: &AgentCore,
    trust_domain: &str,
) -> Result<proto::FederationRelationships, Status> {
    let manager = manager(agent)?;
    let trust_domain = TrustDomain::parse(trust_domain)
        .map_err(|e| Status::invalid_argument(format!("trust_domain {trust_domain:?}: {e}")))?;
    if !manager.reset_sequence(&trust_domain) {
        return Err(Status::not_found(format!(
            "no federation relationship with {trust_domain}"
        )));
    }
    tracing::warn!(%trust_domain, "federation: held sequence reset by an operator; the next bundle may carry a lower sequence");
    Ok(relationships(&manager))
}

fn relationships(manager: &FederationManager) -> proto::FederationRelationships {
    proto::FederationRelationships {
        relationships: manager.statuses().iter().map(to_proto).collect(),
    }
}

fn to_proto(status: &RelationshipStatus) -> proto::FederationRelationship {
    proto::FederationRelationship {
        trust_domain: status.trust_domain.to_string(),
        endpoint: status.endpoint.clone(),
        has_bundle: status.has_bundle,
        sequence: status.sequence,
        last_attempt: status.last_attempt.map(unix),
        last_success: status.last_success.map(unix),
        last_error: status.last_error.clone().unwrap_or_default(),
        refused_sequence: status.refused_sequence,
        consecutive_failures: status.consecutive_failures,
        next_attempt: status.next_attempt.map(unix),
    }
}
