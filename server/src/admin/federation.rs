//! The admin API's federation calls: this replica's `federates_with` relationships, and
//! resetting one's held sequence.

use std::sync::Arc;
use std::time::SystemTime;

use federation::manager::{FederationManager, RelationshipStatus};
use spiffe_id::TrustDomain;
use tonic::Status;

use super::proto;
use crate::node_service::Shared;

/// The replica's federation manager; FAILED_PRECONDITION when it has none.
fn manager(shared: &Shared) -> Result<&Arc<FederationManager>, Status> {
    shared.federation.as_ref().ok_or_else(|| {
        Status::failed_precondition(
            "this server federates with no trust domain: add [[federation.federates_with]] to \
             its config",
        )
    })
}

/// Every relationship, by trust domain.
pub(crate) fn list(shared: &Shared) -> Result<proto::FederationRelationships, Status> {
    Ok(relationships(manager(shared)?))
}

/// Admits one lower sequence for `trust_domain` and fetches now; the relationships after.
pub(crate) fn reset_sequence(
    shared: &Shared,
    trust_domain: &str,
) -> Result<proto::FederationRelationships, Status> {
    let manager = manager(shared)?;
    let trust_domain = TrustDomain::parse(trust_domain)
        .map_err(|e| Status::invalid_argument(format!("trust_domain {trust_domain:?}: {e}")))?;
    if !manager.reset_sequence(&trust_domain) {
        return Err(Status::not_found(format!(
            "no federation relationship with {trust_domain}"
        )));
    }
    tracing::warn!(
        target: "spiffekit_server::audit",
        %trust_domain,
        "federation: held sequence reset by an operator; the next bundle may carry a lower sequence"
    );
    Ok(relationships(manager))
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

/// Seconds since the epoch (0 for a time before it).
fn unix(time: SystemTime) -> i64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_secs()).ok())
        .unwrap_or(0)
}
