//! [`StoreLastGood`]: the last good bundles kept in the agent's or server's store (SQLite or
//! PostgreSQL), so a restart keeps trusting federation peers whose endpoints are down, and
//! keeps the sequence a rollback would have to beat.

use std::sync::Arc;

use spiffe_id::TrustDomain;
use trust_bundle::SpiffeBundle;

use super::LastGoodStore;

/// A [`LastGoodStore`] on a [`store::Store`]: each bundle taken is saved as its SPIFFE bundle
/// JSON (sequence and refresh hint included), and loaded back when the relationship starts.
/// A failure to save or a stored document that no longer parses is logged, never fatal: the
/// manager goes on with what it fetched.
#[derive(Clone, Debug)]
pub struct StoreLastGood {
    store: Arc<dyn store::Store>,
}

impl StoreLastGood {
    /// Keeps last good bundles in `store`.
    pub fn new(store: Arc<dyn store::Store>) -> Self {
        Self { store }
    }
}

impl LastGoodStore for StoreLastGood {
    fn load(&self, trust_domain: &TrustDomain) -> Option<SpiffeBundle> {
        let saved = match self.store.federated_bundle(trust_domain) {
            Ok(saved) => saved?,
            Err(error) => {
                tracing::warn!(
                    target: "spiffekit_federation",
                    trust_domain = %trust_domain,
                    %error,
                    "last good bundle not read from the store"
                );
                return None;
            }
        };
        match SpiffeBundle::parse(trust_domain.clone(), &saved.document) {
            Ok(bundle) => Some(bundle),
            Err(error) => {
                tracing::warn!(
                    target: "spiffekit_federation",
                    trust_domain = %trust_domain,
                    %error,
                    "the stored last good bundle does not parse; ignored"
                );
                None
            }
        }
    }

    fn save(&self, bundle: &SpiffeBundle) {
        let trust_domain = bundle.trust_domain();
        if let Err(error) = self
            .store
            .save_federated_bundle(trust_domain, &bundle.to_json())
        {
            tracing::warn!(
                target: "spiffekit_federation",
                trust_domain = %trust_domain,
                %error,
                "last good bundle not saved; it is used anyway"
            );
        }
    }
}
