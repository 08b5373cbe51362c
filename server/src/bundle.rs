//! The bundle a server serves: its own CA's, merged with the bundles the other replicas
//! published in the shared store. Each replica signs with keys of its own (its intermediate,
//! its JWT key), so agents and workloads need all of them to verify what any replica issued.

use std::sync::{Arc, RwLock};

use spiffe_id::TrustDomain;
use store::PublishedBundle;
use tokio::sync::watch;
use trust_bundle::{JwtBundle, SpiffeBundle, X509Bundle, X509BundleSource};

/// The merged bundle and its JSON, replaced whole on each change: every sync and attestation
/// sends the JSON, which is built once per bundle change rather than once per call.
pub(crate) struct MergedBundle {
    trust_domain: TrustDomain,
    current: RwLock<(Arc<SpiffeBundle>, Arc<str>)>,
    /// Each new merged bundle, for the bundle endpoint.
    changes: watch::Sender<Arc<SpiffeBundle>>,
}

impl MergedBundle {
    pub(crate) fn new(own: Arc<SpiffeBundle>) -> Self {
        let json = Arc::from(own.to_json());
        Self {
            trust_domain: own.trust_domain().clone(),
            changes: watch::Sender::new(Arc::clone(&own)),
            current: RwLock::new((own, json)),
        }
    }

    /// The merged bundle now and at each change (the bundle endpoint publishes it).
    pub(crate) fn subscribe(&self) -> watch::Receiver<Arc<SpiffeBundle>> {
        self.changes.subscribe()
    }

    pub(crate) fn get(&self) -> Arc<SpiffeBundle> {
        Arc::clone(
            &self
                .current
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0,
        )
    }

    /// The bundle and its SPIFFE bundle JSON, from the same update.
    pub(crate) fn with_json(&self) -> (Arc<SpiffeBundle>, Arc<str>) {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Replaces the bundle with `own` merged with the other replicas' documents.
    pub(crate) fn update(&self, own: &SpiffeBundle, replica: &str, published: &[PublishedBundle]) {
        let merged = merge(own, replica, published);
        let mut current = self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if *current.0 != merged {
            let json = Arc::from(merged.to_json());
            let merged = Arc::new(merged);
            *current = (Arc::clone(&merged), json);
            self.changes.send_replace(merged);
        }
    }
}

impl X509BundleSource for MergedBundle {
    fn x509_bundle(&self, trust_domain: &TrustDomain) -> Option<Arc<X509Bundle>> {
        (trust_domain == &self.trust_domain).then(|| Arc::clone(self.get().x509_bundle()))
    }

    fn generation(&self) -> u64 {
        self.get().x509_bundle().generation()
    }
}

/// `own` plus the X.509 authorities and JWT keys of every other replica's document (own keys
/// first; a document that does not parse is skipped and logged). The sequence is the sum of
/// the replicas' sequences, so it grows whenever any of them does.
pub(crate) fn merge(
    own: &SpiffeBundle,
    replica: &str,
    published: &[PublishedBundle],
) -> SpiffeBundle {
    let trust_domain = own.trust_domain().clone();
    let mut authorities: Vec<_> = own.x509_bundle().authorities().to_vec();
    let mut keys: Vec<(String, trust_bundle::JwtKey)> = own
        .jwt_bundle()
        .keys()
        .map(|(kid, key)| (kid.to_owned(), key.clone()))
        .collect();
    let mut sequence = own.sequence().unwrap_or(0);
    for other in published.iter().filter(|p| p.replica != replica) {
        let document = match SpiffeBundle::parse(trust_domain.clone(), other.document.as_bytes()) {
            Ok(document) => document,
            Err(error) => {
                tracing::warn!(replica = %other.replica, %error, "skipping a replica's unreadable bundle");
                continue;
            }
        };
        sequence = sequence.saturating_add(document.sequence().unwrap_or(0));
        for authority in document.x509_bundle().authorities() {
            if !authorities.contains(authority) {
                authorities.push(authority.clone());
            }
        }
        for (kid, key) in document.jwt_bundle().keys() {
            if !keys.iter().any(|(known, _)| known == kid) {
                keys.push((kid.to_owned(), key.clone()));
            }
        }
    }
    let x509 = X509Bundle::from_certificates(trust_domain.clone(), authorities)
        .unwrap_or_else(|_| own.x509_bundle().as_ref().clone());
    let jwt = JwtBundle::from_keys(trust_domain, keys)
        .unwrap_or_else(|_| own.jwt_bundle().as_ref().clone());
    let mut merged = SpiffeBundle::from_parts(x509, jwt)
        .unwrap_or_else(|_| own.clone())
        .with_sequence(sequence);
    if let Some(hint) = own.refresh_hint() {
        merged = merged.with_refresh_hint(hint);
    }
    merged
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;

    fn ca_bundle() -> Arc<SpiffeBundle> {
        ca::CertificateAuthority::builder("example.org".parse().unwrap())
            .build(SystemTime::now())
            .unwrap()
            .bundle()
    }

    fn published(replica: &str, document: String) -> PublishedBundle {
        PublishedBundle::new(replica, document, 1)
    }

    /// Another replica's roots and JWT keys are added; its unreadable document and this
    /// replica's own stored copy are not used.
    #[test]
    fn merges_the_other_replicas_authorities_and_keys() {
        let own = ca_bundle();
        let other = ca_bundle();
        let stale_own = ca_bundle();
        let merged = merge(
            &own,
            "a",
            &[
                published("a", stale_own.to_json()),
                published("b", other.to_json()),
                published("c", "not json".to_owned()),
            ],
        );
        assert_eq!(merged.x509_bundle().len(), 2);
        assert_eq!(merged.jwt_bundle().len(), 2);
        for (kid, _) in other.jwt_bundle().keys() {
            assert!(merged.jwt_bundle().key(kid).is_some());
        }
        for (kid, _) in stale_own.jwt_bundle().keys() {
            assert!(merged.jwt_bundle().key(kid).is_none());
        }
        assert_eq!(
            merged.sequence(),
            Some(own.sequence().unwrap_or(0) + other.sequence().unwrap_or(0))
        );
    }
}
