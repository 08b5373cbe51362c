//! Registration entries to and from the store's records, and the store calls the agent makes,
//! on blocking threads and timed for `spiffe_agent_store_operation_seconds`.

use std::sync::Arc;
use std::time::Instant;

use spiffe_id::{SpiffeId, TrustDomain};
use store::{EntryRecord, Store};

use crate::config::unknown_selector;
use crate::entry::RegistrationEntry;
use crate::error::Error;
use crate::selector::Selector;

/// The record that stores `entry` (under `parent_id`).
pub(crate) fn record_of(entry: &RegistrationEntry, parent_id: Option<&SpiffeId>) -> EntryRecord {
    EntryRecord::new(entry.spiffe_id().clone())
        .with_parent_id(parent_id.cloned())
        .with_selectors(entry.selectors().map(|s| s.as_str().to_owned()))
        .with_x509_ttl(entry.x509_ttl())
        .with_jwt_ttl(entry.jwt_ttl())
        .with_dns_names(entry.dns_names().iter().cloned())
        .with_hint(entry.hint().map(str::to_owned))
        .with_federates_with(entry.federates_with().cloned())
}

/// The entry a stored record describes, checked as an API request would be: a record the
/// agent could not serve (a selector type no attestor gives, another trust domain) stops the
/// start with an error that names it.
pub(crate) fn entry_of(
    record: &EntryRecord,
    own: &TrustDomain,
) -> Result<RegistrationEntry, Error> {
    let bad = |reason: String| Error::StoredEntry {
        id: record.id().to_string(),
        reason,
    };
    let mut entry = RegistrationEntry::new(record.spiffe_id().clone());
    for text in record.selectors() {
        let selector = Selector::parse(text).map_err(|e| bad(format!("{text:?}: {e}")))?;
        if let Some(problem) = unknown_selector(&selector) {
            return Err(bad(format!("{text:?}: {problem}")));
        }
        entry = entry.with_selector(selector);
    }
    if let Some(ttl) = record.x509_ttl() {
        entry = entry.with_x509_ttl(ttl);
    }
    if let Some(ttl) = record.jwt_ttl() {
        entry = entry.with_jwt_ttl(ttl);
    }
    for name in record.dns_names() {
        entry = entry.with_dns_name(name.clone());
    }
    if let Some(hint) = record.hint() {
        entry = entry.with_hint(hint);
    }
    for td in record.federates_with() {
        entry = entry.with_federates_with(td.clone());
    }
    entry.check(own).map_err(|e| bad(e.to_string()))?;
    Ok(entry)
}

/// Runs `call` on the store on a blocking thread and records how long it took.
pub(crate) async fn on_store<T: Send + 'static>(
    store: &Arc<dyn Store>,
    operation: &'static str,
    call: impl FnOnce(&dyn Store) -> Result<T, store::Error> + Send + 'static,
) -> Result<T, Error> {
    let store = Arc::clone(store);
    let started = Instant::now();
    let result = tokio::task::spawn_blocking(move || call(store.as_ref()))
        .await
        .map_err(|_| Error::ShutDown)?;
    crate::metrics::store_operation(operation, started.elapsed());
    result.map_err(Error::Store)
}
