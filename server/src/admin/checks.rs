//! Checks on what an operator asks for (entries, tokens), shared by the library calls and the
//! admin API.

use spiffe_id::TrustDomain;
use store::EntryRecord;

use crate::error::Error;

/// Refuses entries the server must not serve: outside the trust domain, claiming a reserved
/// identity (the server's or an agent's), or without a parent (nothing could fetch them).
pub(crate) fn check_entry(entry: &EntryRecord, trust_domain: &TrustDomain) -> Result<(), Error> {
    let id = entry.spiffe_id();
    if !id.is_member_of(trust_domain) || id.is_root() {
        return Err(Error::InvalidEntry(format!(
            "{id} is not a workload ID of trust domain {trust_domain}"
        )));
    }
    if node_api::is_reserved(id) {
        return Err(Error::InvalidEntry(format!(
            "{id} is reserved for the fleet (the server, agents): a workload with it could pose as one"
        )));
    }
    let parent = entry.parent_id().ok_or_else(|| {
        Error::InvalidEntry(
            "an entry needs a parent ID (an agent ID, or another entry's SPIFFE ID)".into(),
        )
    })?;
    if !parent.is_member_of(trust_domain) {
        return Err(Error::InvalidEntry(format!(
            "the parent {parent} is not in trust domain {trust_domain}"
        )));
    }
    Ok(())
}
