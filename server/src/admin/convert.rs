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
    fill(EntryRecord::new(spiffe_id), message)
}

/// `current` (as stored: id, revision, creation time) with every field from `message`.
pub(crate) fn entry_over(
    current: EntryRecord,
    message: &proto::Entry,
) -> Result<EntryRecord, Status> {
    if message.revision != current.revision() {
        return Err(Status::failed_precondition(format!(
            "entry {} changed since it was read (now at revision {}); read it again and retry",
            current.id(),
            current.revision()
        )));
    }
    fill(current, message)
}

fn fill(record: EntryRecord, message: &proto::Entry) -> Result<EntryRecord, Status> {
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
    Ok(record
        .with_spiffe_id(spiffe_id)
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

/// An authority as the API reports it.
pub(crate) fn authority_to_proto(info: &ca::AuthorityInfo) -> proto::Authority {
    let unix = |time: std::time::SystemTime| {
        time.duration_since(std::time::UNIX_EPOCH)
            .ok()
            .and_then(|d| i64::try_from(d.as_secs()).ok())
            .unwrap_or(0)
    };
    proto::Authority {
        kind: match info.kind {
            ca::AuthorityKind::X509 => proto::AuthorityKind::X509,
            ca::AuthorityKind::Jwt => proto::AuthorityKind::Jwt,
            _ => proto::AuthorityKind::Unspecified,
        }
        .into(),
        id: info.id.clone(),
        status: match info.status {
            ca::AuthorityStatus::Prepared => "prepared",
            ca::AuthorityStatus::Active => "active",
            ca::AuthorityStatus::Retired => "retired",
            ca::AuthorityStatus::Tainted => "tainted",
            _ => "unknown",
        }
        .to_owned(),
        not_before: unix(info.not_before),
        not_after: unix(info.not_after),
    }
}

/// The status for a server error.
pub(crate) fn status_of(error: crate::Error) -> Status {
    match &error {
        crate::Error::InvalidEntry(_) | crate::Error::NotAnAgentId(_) => {
            Status::invalid_argument(error.to_string())
        }
        crate::Error::Ca(ca::Error::InvalidRequest { reason }) => {
            Status::failed_precondition(reason.to_string())
        }
        crate::Error::Store(store_error) => match store_error {
            store::Error::StaleRevision { .. } => Status::failed_precondition(error.to_string()),
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
