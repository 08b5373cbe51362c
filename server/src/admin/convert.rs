//! Admin API messages to and from store records, with the checks a request must pass; each
//! refusal names the field.

use std::time::Duration;

use spiffe_id::{SpiffeId, TrustDomain};
use store::{EntryRecord, NodeRecord};
use tonic::Status;

use super::proto;

fn invalid(field: &str, message: impl core::fmt::Display) -> Status {
    Status::invalid_argument(format!("{field}: {message}"))
}

fn seconds(value: u64) -> Option<Duration> {
    (value > 0).then(|| Duration::from_secs(value))
}

fn signed(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// The entry an admin request describes.
pub(crate) fn entry_from_proto(message: &proto::Entry) -> Result<EntryRecord, Status> {
    let spiffe_id: SpiffeId = message
        .spiffe_id
        .parse()
        .map_err(|e| invalid("spiffe_id", format!("{:?}: {e}", message.spiffe_id)))?;
    let parent: SpiffeId = message
        .parent_id
        .parse()
        .map_err(|e| invalid("parent_id", format!("{:?}: {e}", message.parent_id)))?;
    let federates_with = message
        .federates_with
        .iter()
        .map(|name| {
            TrustDomain::parse(name)
                .map_err(|e| invalid("federates_with", format!("{name:?}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(EntryRecord::new(spiffe_id)
        .with_parent_id(Some(parent))
        .with_selectors(message.selectors.iter().cloned())
        .with_x509_ttl(seconds(message.x509_ttl_seconds))
        .with_jwt_ttl(seconds(message.jwt_ttl_seconds))
        .with_dns_names(message.dns_names.iter().cloned())
        .with_hint((!message.hint.is_empty()).then(|| message.hint.clone()))
        .with_federates_with(federates_with))
}

pub(crate) fn entry_to_proto(entry: &EntryRecord) -> proto::Entry {
    proto::Entry {
        id: entry.id().to_string(),
        spiffe_id: entry.spiffe_id().to_string(),
        parent_id: entry
            .parent_id()
            .map(ToString::to_string)
            .unwrap_or_default(),
        selectors: entry.selectors().to_vec(),
        x509_ttl_seconds: entry.x509_ttl().map_or(0, |d| d.as_secs()),
        jwt_ttl_seconds: entry.jwt_ttl().map_or(0, |d| d.as_secs()),
        dns_names: entry.dns_names().to_vec(),
        hint: entry.hint().unwrap_or_default().to_owned(),
        federates_with: entry
            .federates_with()
            .iter()
            .map(ToString::to_string)
            .collect(),
        revision: entry.revision(),
        created_at: signed(entry.created_at()),
    }
}

pub(crate) fn node_to_proto(node: &NodeRecord) -> proto::Node {
    proto::Node {
        spiffe_id: node.spiffe_id().to_string(),
        attestation: node.attestation().to_owned(),
        selectors: node.selectors().to_vec(),
        svid_serial: node.svid_serial().to_owned(),
        svid_expires_at: signed(node.svid_expires_at()),
        created_at: signed(node.created_at()),
        updated_at: signed(node.updated_at()),
    }
}

/// The status for a server error.
pub(crate) fn status_of(error: crate::Error) -> Status {
    match &error {
        crate::Error::InvalidEntry(_) | crate::Error::NotAnAgentId(_) => {
            Status::invalid_argument(error.to_string())
        }
        crate::Error::Store(store_error) => match store_error {
            store::Error::DuplicateEntry { .. } => Status::already_exists(error.to_string()),
            store::Error::EntryNotFound { .. } | store::Error::NodeNotFound { .. } => {
                Status::not_found(error.to_string())
            }
            store::Error::Invalid { .. } => Status::invalid_argument(error.to_string()),
            _ => Status::unavailable(error.to_string()),
        },
        _ => Status::internal(error.to_string()),
    }
}
