//! The operations an operator runs (entries, tokens, nodes), shared by [`Server`]'s methods
//! and the admin API. Store calls run on blocking threads.
//!
//! [`Server`]: crate::Server

use std::sync::Arc;
use std::time::Duration;

use spiffe_id::SpiffeId;
use store::{EntryRecord, NodeRecord};

use crate::admin::checks::check_entry;
use crate::attest::{self, NewJoinToken};
use crate::error::Error;
use crate::node_service::Shared;

/// Runs `work` with the shared state on a blocking thread.
async fn on_store<T: Send + 'static>(
    shared: &Arc<Shared>,
    work: impl FnOnce(&Shared) -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    let shared = Arc::clone(shared);
    tokio::task::spawn_blocking(move || work(&shared))
        .await
        .map_err(|_| Error::ShutDown)?
}

impl Shared {
    pub(crate) async fn create_join_token(
        self: &Arc<Self>,
        ttl: Duration,
        agent_id: Option<SpiffeId>,
    ) -> Result<NewJoinToken, Error> {
        let created = on_store(self, move |shared| {
            attest::create_join_token(&*shared.store, shared.ca.trust_domain(), ttl, agent_id)
        })
        .await?;
        tracing::info!(target: "spiffekit_server::audit", agent = %created.agent_id, "join token created");
        Ok(created)
    }

    pub(crate) async fn create_entry(
        self: &Arc<Self>,
        entry: EntryRecord,
    ) -> Result<EntryRecord, Error> {
        check_entry(&entry, self.ca.trust_domain())?;
        on_store(self, move |shared| {
            let created = shared.store.create_entry(&entry)?;
            shared.refresh_entries()?;
            Ok(created)
        })
        .await
    }

    pub(crate) async fn entry(
        self: &Arc<Self>,
        id: store::EntryId,
    ) -> Result<Option<EntryRecord>, Error> {
        on_store(self, move |shared| Ok(shared.store.entry(&id)?)).await
    }

    /// Replaces an entry if its stored revision is still the one `entry` carries.
    pub(crate) async fn update_entry(
        self: &Arc<Self>,
        entry: EntryRecord,
    ) -> Result<EntryRecord, Error> {
        check_entry(&entry, self.ca.trust_domain())?;
        on_store(self, move |shared| {
            let updated = shared.store.update_entry(&entry)?;
            shared.refresh_entries()?;
            Ok(updated)
        })
        .await
    }

    /// Runs a CA operation (rotation, taint, revoke) on a blocking thread.
    pub(crate) async fn ca_operation(
        self: &Arc<Self>,
        operation: impl FnOnce(
            &ca::CertificateAuthority,
            std::time::SystemTime,
        ) -> Result<(), ca::Error>
        + Send
        + 'static,
    ) -> Result<(), Error> {
        on_store(self, move |shared| {
            operation(&shared.ca, std::time::SystemTime::now())?;
            // Publish the new bundle to the other replicas now rather than at the next tick.
            shared.refresh_entries()?;
            Ok(())
        })
        .await
    }

    pub(crate) async fn delete_entry(self: &Arc<Self>, id: store::EntryId) -> Result<(), Error> {
        on_store(self, move |shared| {
            shared.store.delete_entry(&id)?;
            shared.refresh_entries()?;
            Ok(())
        })
        .await
    }

    pub(crate) async fn list_entries(self: &Arc<Self>) -> Result<Vec<EntryRecord>, Error> {
        on_store(self, |shared| Ok(shared.store.entries()?)).await
    }

    pub(crate) async fn nodes(self: &Arc<Self>) -> Result<Vec<NodeRecord>, Error> {
        on_store(self, |shared| Ok(shared.store.nodes()?)).await
    }

    pub(crate) async fn evict(self: &Arc<Self>, node: SpiffeId) -> Result<NodeRecord, Error> {
        let evicted = on_store(self, move |shared| {
            // Before and after the delete: no call between the two is answered from memory.
            shared.nodes.forget(&node);
            let evicted = shared.store.delete_node(&node);
            shared.nodes.forget(&node);
            Ok(evicted?)
        })
        .await?;
        tracing::warn!(target: "spiffekit_server::audit", node = %evicted.spiffe_id(), "node evicted");
        Ok(evicted)
    }
}
