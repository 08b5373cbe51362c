//! [`BundleSource`]: X.509 and JWT bundles from `FetchX509Bundles` and `FetchJWTBundles`.

use core::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use spiffe_id::TrustDomain;
use tokio::sync::watch;
use trust_bundle::{BundleSet, JwtBundle, JwtBundleSource, X509Bundle, X509BundleSource};

use crate::client::Client;
use crate::error::Error;
use crate::update_stream::UpdateStream;
use crate::watch::{Health, SourceOptions, Watched, Watcher};

/// The X.509 bundles of a `FetchX509Bundles` stream.
pub(crate) struct X509Bundles(pub(crate) BundleSet);

/// The JWT bundles of a `FetchJWTBundles` stream.
pub(crate) struct JwtBundles(pub(crate) BundleSet);

impl Watched for X509Bundles {
    type Config = ();

    async fn open(client: &Client, _: &Arc<()>) -> Result<UpdateStream<Self>, Error> {
        Ok(client.watch_x509_bundles().await?.map(Self))
    }

    fn same(&self, other: &Self) -> bool {
        self.0 == other.0
    }

    fn expiry(&self) -> Option<SystemTime> {
        None
    }

    fn prune(&self, _: SystemTime, (): &()) -> Option<Self> {
        Some(Self(self.0.clone()))
    }

    fn is_ready(&self) -> bool {
        true
    }
}

impl Watched for JwtBundles {
    type Config = ();

    async fn open(client: &Client, _: &Arc<()>) -> Result<UpdateStream<Self>, Error> {
        Ok(client.watch_jwt_bundles().await?.map(Self))
    }

    fn same(&self, other: &Self) -> bool {
        self.0 == other.0
    }

    fn expiry(&self) -> Option<SystemTime> {
        None
    }

    fn prune(&self, _: SystemTime, (): &()) -> Option<Self> {
        Some(Self(self.0.clone()))
    }

    fn is_ready(&self) -> bool {
        true
    }
}

/// Which bundle kinds a [`BundleSource`] watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BundleKinds {
    /// X.509 bundles only (`FetchX509Bundles`).
    X509,
    /// JWT bundles only (`FetchJWTBundles`).
    Jwt,
    /// Both, on two streams.
    Both,
}

/// The trust bundles of the workload's trust domain and of federated ones, always current.
///
/// X.509 and JWT bundles come from separate streams and are served through separate traits
/// ([`X509BundleSource`], [`JwtBundleSource`]), so X.509 authorities never validate JWTs and
/// the reverse (Workload API 5.2.2, 6.2.2; digest W-API-11). Each stream runs the same
/// supervisor as [`X509Source`](crate::X509Source). Cloning is cheap; the streams stop when the
/// last clone is dropped.
///
/// ```no_run
/// # async fn example() -> Result<(), workload_client::Error> {
/// use trust_bundle::JwtBundleSource;
/// use workload_client::{BundleKinds, BundleSource, Client, Endpoint, SourceOptions};
///
/// let client = Client::builder(Endpoint::from_env()?).connect_lazy()?;
/// let bundles = BundleSource::new(client, BundleKinds::Both, SourceOptions::default()).await?;
/// let td = "example.org".parse().expect("a trust domain");
/// assert!(bundles.jwt_bundle(&td).is_some());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct BundleSource {
    x509: Option<Arc<Watcher<X509Bundles>>>,
    jwt: Option<Arc<Watcher<JwtBundles>>>,
}

impl BundleSource {
    /// Starts the streams for `kinds` and waits for the first update of each.
    ///
    /// # Errors
    /// As [`X509Source::new`](crate::X509Source::new).
    pub async fn new(
        client: Client,
        kinds: BundleKinds,
        options: SourceOptions,
    ) -> Result<Self, Error> {
        let x509 = matches!(kinds, BundleKinds::X509 | BundleKinds::Both)
            .then(|| Arc::new(Watcher::spawn(client.clone(), Arc::new(()), options)));
        let jwt = matches!(kinds, BundleKinds::Jwt | BundleKinds::Both)
            .then(|| Arc::new(Watcher::spawn(client, Arc::new(()), options)));
        if let Some(x509) = &x509 {
            x509.wait_ready(options.startup_timeout).await?;
        }
        if let Some(jwt) = &jwt {
            jwt.wait_ready(options.startup_timeout).await?;
        }
        Ok(Self { x509, jwt })
    }

    /// The current X.509 bundles.
    pub fn x509_bundles(&self) -> Option<BundleSet> {
        let watcher = self.x509.as_ref()?;
        watcher.current().as_ref().map(|p| p.value.0.clone())
    }

    /// The current JWT bundles.
    pub fn jwt_bundles(&self) -> Option<BundleSet> {
        let watcher = self.jwt.as_ref()?;
        watcher.current().as_ref().map(|p| p.value.0.clone())
    }

    /// Notified on every X.509 bundle change.
    pub fn x509_updated(&self) -> Option<watch::Receiver<u64>> {
        self.x509.as_ref().map(|w| w.subscribe())
    }

    /// Notified on every JWT bundle change.
    pub fn jwt_updated(&self) -> Option<watch::Receiver<u64>> {
        self.jwt.as_ref().map(|w| w.subscribe())
    }

    /// Health of the X.509 and JWT streams (each `None` when not watched).
    pub fn health(&self) -> (Option<Health>, Option<Health>) {
        (
            self.x509.as_ref().map(|w| w.health()),
            self.jwt.as_ref().map(|w| w.health()),
        )
    }

    /// Stops the streams and waits for them.
    pub async fn close(&self) {
        if let Some(x509) = &self.x509 {
            x509.close().await;
        }
        if let Some(jwt) = &self.jwt {
            jwt.close().await;
        }
    }
}

impl X509BundleSource for BundleSource {
    fn x509_bundle(&self, trust_domain: &TrustDomain) -> Option<Arc<X509Bundle>> {
        let watcher = self.x509.as_ref()?;
        watcher
            .current()
            .as_ref()
            .and_then(|p| p.value.0.x509_bundle(trust_domain))
    }

    fn generation(&self) -> u64 {
        self.x509.as_ref().map_or(0, |w| {
            w.current()
                .as_ref()
                .map_or(0, |p| X509BundleSource::generation(&p.value.0))
        })
    }
}

impl JwtBundleSource for BundleSource {
    fn jwt_bundle(&self, trust_domain: &TrustDomain) -> Option<Arc<JwtBundle>> {
        let watcher = self.jwt.as_ref()?;
        watcher
            .current()
            .as_ref()
            .and_then(|p| p.value.0.jwt_bundle(trust_domain))
    }

    fn generation(&self) -> u64 {
        self.jwt.as_ref().map_or(0, |w| {
            w.current()
                .as_ref()
                .map_or(0, |p| JwtBundleSource::generation(&p.value.0))
        })
    }
}

impl fmt::Debug for BundleSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BundleSource")
            .field("x509", &self.x509)
            .field("jwt", &self.jwt)
            .finish()
    }
}
