//! [`EndpointFetcher`]: a relationship's fetches through this crate's [`Client`], and
//! [`LatestBundle`], what authenticates a self-serving `https_spiffe` endpoint.

use std::sync::Arc;

use arc_swap::ArcSwap;
use spiffe_id::{SpiffeId, TrustDomain};
use trust_bundle::{SpiffeBundle, X509Bundle, X509BundleSource};

use super::{BundleFetcher, FetchError, FetchFuture};
use crate::client::{Client, Endpoint, EndpointUrl, Profile};

/// The X.509 bundle that authenticates a self-serving `https_spiffe` endpoint: the bootstrap
/// bundle for the first connection, then the latest bundle the manager took from that
/// endpoint, so that the peer can rotate its keys without breaking the relationship (SPIFFE
/// Federation 5.2.2; digest 7.4).
#[derive(Debug)]
pub struct LatestBundle {
    current: ArcSwap<X509Bundle>,
}

impl LatestBundle {
    /// Starts from `bootstrap` (the configured bundle of the endpoint's trust domain).
    pub fn new(bootstrap: X509Bundle) -> Self {
        Self {
            current: ArcSwap::from_pointee(bootstrap),
        }
    }

    /// Replaces the bundle with the X.509 authorities of `bundle`, if it is of the same trust
    /// domain.
    pub fn update(&self, bundle: &SpiffeBundle) {
        if bundle.trust_domain() == self.current.load().trust_domain() {
            self.current.store(Arc::clone(bundle.x509_bundle()));
        }
    }

    /// The bundle in use now.
    pub fn current(&self) -> Arc<X509Bundle> {
        self.current.load_full()
    }
}

impl X509BundleSource for LatestBundle {
    fn x509_bundle(&self, trust_domain: &TrustDomain) -> Option<Arc<X509Bundle>> {
        let current = self.current.load_full();
        (current.trust_domain() == trust_domain).then_some(current)
    }

    fn generation(&self) -> u64 {
        self.current.load().generation()
    }
}

/// Fetches one endpoint's bundle with a [`Client`] (its bounds on size, time and redirects).
#[derive(Debug)]
pub struct EndpointFetcher {
    client: Client,
    endpoint: Endpoint,
    /// Updated with each bundle taken, for a self-serving `https_spiffe` endpoint.
    latest: Option<Arc<LatestBundle>>,
}

impl EndpointFetcher {
    /// Fetches from `endpoint` as configured (its profile's roots or bundle source stay as
    /// given: for `https_spiffe` on another trust domain, a live source of that domain).
    pub fn new(client: Client, endpoint: Endpoint) -> Self {
        Self {
            client,
            endpoint,
            latest: None,
        }
    }

    /// A self-serving `https_spiffe` endpoint of `trust_domain` (the endpoint ID is in it):
    /// `bootstrap` authenticates the first connection, every later one uses the latest bundle
    /// taken (digest 7.4).
    pub fn self_serving_spiffe(
        client: Client,
        url: EndpointUrl,
        endpoint_id: SpiffeId,
        bootstrap: X509Bundle,
    ) -> Self {
        let trust_domain = endpoint_id.trust_domain();
        let latest = Arc::new(LatestBundle::new(bootstrap));
        let source: Arc<dyn X509BundleSource> = latest.clone();
        let profile = Profile::HttpsSpiffe {
            endpoint_id,
            bundle: source,
        };
        Self {
            client,
            endpoint: Endpoint::new(url, profile, trust_domain),
            latest: Some(latest),
        }
    }

    /// The endpoint.
    pub fn endpoint_config(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The bundle authenticating a self-serving `https_spiffe` endpoint, if this is one.
    pub fn latest_bundle(&self) -> Option<&Arc<LatestBundle>> {
        self.latest.as_ref()
    }
}

impl BundleFetcher for EndpointFetcher {
    fn fetch(&self) -> FetchFuture<'_> {
        Box::pin(async move {
            self.client
                .fetch(&self.endpoint)
                .await
                .map(crate::client::Fetched::into_bundle)
                .map_err(FetchError::from)
        })
    }

    fn endpoint(&self) -> String {
        let profile = match self.endpoint.profile() {
            Profile::HttpsWeb { .. } => "https_web".to_owned(),
            Profile::HttpsSpiffe { endpoint_id, .. } => format!("https_spiffe {endpoint_id}"),
        };
        format!("{} ({profile})", self.endpoint.url())
    }

    fn taken(&self, bundle: &SpiffeBundle) {
        if let Some(latest) = &self.latest {
            latest.update(bundle);
        }
    }
}
