//! [`X509Source`]: the workload's current X.509-SVID and X.509 bundles, kept up to date.

use core::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use spiffe_id::{SpiffeId, TrustDomain};
use svid::{X509Svid, X509SvidSource};
use tokio::sync::watch;
use trust_bundle::{X509Bundle, X509BundleSource};

use crate::client::Client;
use crate::error::Error;
use crate::types::X509Context;
use crate::update_stream::UpdateStream;
use crate::watch::{Health, SourceOptions, Watched, Watcher};

/// Which of the workload's SVIDs a source serves as "the" SVID.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SvidPicker {
    /// The first SVID of each update: the default identity (Workload API 8).
    #[default]
    Default,
    /// The SVID with this hint (Workload API 5.2.1). No fallback: if no SVID has the hint, the
    /// source serves none and reports it.
    Hint(String),
    /// The SVID with this SPIFFE ID. No fallback.
    SpiffeId(SpiffeId),
}

impl SvidPicker {
    fn pick(&self, context: &X509Context) -> Option<Arc<X509Svid>> {
        let mut svids = context.svids().iter();
        match self {
            Self::Default => svids.next(),
            Self::Hint(hint) => svids.find(|svid| svid.hint() == Some(hint.as_str())),
            Self::SpiffeId(id) => svids.find(|svid| svid.spiffe_id() == id),
        }
        .cloned()
    }
}

impl fmt::Display for SvidPicker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Default => f.write_str("the default svid"),
            Self::Hint(hint) => write!(f, "hint {hint:?}"),
            Self::SpiffeId(id) => write!(f, "spiffe id {id}"),
        }
    }
}

/// One consistent state of an [`X509Source`]: the SVIDs, the bundles and the picked SVID all
/// come from the same update, so a reader never mixes an SVID of one update with bundles of
/// another.
#[derive(Clone, Debug)]
pub struct X509Snapshot {
    context: X509Context,
    picked: Option<Arc<X509Svid>>,
    generation: u64,
}

impl X509Snapshot {
    /// The SVID the source's [`SvidPicker`] selects, if any matches.
    pub fn svid(&self) -> Option<&Arc<X509Svid>> {
        self.picked.as_ref()
    }

    /// Everything the update held.
    pub fn context(&self) -> &X509Context {
        &self.context
    }

    /// A number that changes whenever the snapshot does.
    pub fn generation(&self) -> u64 {
        self.generation
    }
}

pub(crate) struct X509State {
    context: X509Context,
    picked: Option<Arc<X509Svid>>,
}

impl X509State {
    fn new(context: X509Context, picker: &SvidPicker) -> Self {
        let picked = picker.pick(&context);
        if picked.is_none() {
            tracing::warn!(
                %picker,
                available = ?context.svids().iter().map(|s| (s.spiffe_id().as_str().to_owned(), s.hint().map(str::to_owned))).collect::<Vec<_>>(),
                "no svid of the update matches the picker"
            );
        }
        Self { context, picked }
    }
}

pub(crate) fn same_svid(a: &X509Svid, b: &X509Svid) -> bool {
    a.chain() == b.chain()
        && a.hint() == b.hint()
        && a.private_key().secret_pkcs8_der() == b.private_key().secret_pkcs8_der()
}

impl Watched for X509State {
    type Config = SvidPicker;

    async fn open(client: &Client, config: &Arc<SvidPicker>) -> Result<UpdateStream<Self>, Error> {
        let picker = Arc::clone(config);
        Ok(client
            .watch_x509_context()
            .await?
            .map(move |context| Self::new(context, &picker)))
    }

    fn same(&self, other: &Self) -> bool {
        let (a, b) = (&self.context, &other.context);
        a.svids().len() == b.svids().len()
            && a.svids()
                .iter()
                .zip(b.svids())
                .all(|(a, b)| same_svid(a, b))
            && a.bundles() == b.bundles()
    }

    fn expiry(&self) -> Option<SystemTime> {
        self.context.earliest_expiry()
    }

    fn prune(&self, now: SystemTime, config: &SvidPicker) -> Option<Self> {
        let context = self.context.without_expired(now);
        if context.svids().is_empty() {
            return None;
        }
        Some(Self::new(context, config))
    }

    fn is_ready(&self) -> bool {
        self.picked.is_some()
    }
}

/// The workload's X.509-SVIDs and X.509 bundles from a `FetchX509SVID` stream, always current.
///
/// A background task keeps the stream open, reconnects with backoff, discards invalid or
/// duplicate updates and stops serving SVIDs past their expiry (see [`SourceOptions`] and
/// [`PermissionDeniedPolicy`](crate::PermissionDeniedPolicy)). Reads are a pointer load of an
/// immutable [`X509Snapshot`]; they never call the agent.
///
/// Implements [`svid::X509SvidSource`] and [`trust_bundle::X509BundleSource`], so TLS code takes
/// it without depending on this crate. Cloning is cheap and shares the stream; the task stops
/// when the last clone is dropped or on [`close`](Self::close).
///
/// ```no_run
/// # async fn example() -> Result<(), workload_client::Error> {
/// use svid::X509SvidSource;
/// use workload_client::X509Source;
///
/// // Waits (30 s by default) for the first usable update.
/// let source = X509Source::from_env().await?;
/// let svid = source.x509_svid().expect("a current svid");
/// println!("serving as {}", svid.spiffe_id());
///
/// let mut updates = source.updated();
/// updates.changed().await.ok(); // the next rotation
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct X509Source {
    watcher: Arc<Watcher<X509State>>,
}

impl X509Source {
    /// Connects to `SPIFFE_ENDPOINT_SOCKET` with the defaults and waits for the first update.
    ///
    /// # Errors
    /// As [`new`](Self::new), plus endpoint errors.
    pub async fn from_env() -> Result<Self, Error> {
        let client = Client::builder(crate::Endpoint::from_env()?).connect_lazy()?;
        Self::new(client, SvidPicker::Default, SourceOptions::default()).await
    }

    /// Starts watching through `client` and waits for the first update that holds an SVID the
    /// picker selects, at most `options.startup_timeout`.
    ///
    /// # Errors
    /// [`Error::StartupTimeout`] with the last error seen (nothing listening, no identity for
    /// this process, invalid responses, no SVID matching the picker);
    /// [`Error::SourceStopped`] when the agent answered with an error that retrying cannot fix.
    pub async fn new(
        client: Client,
        picker: SvidPicker,
        options: SourceOptions,
    ) -> Result<Self, Error> {
        let watcher = Watcher::spawn(client, Arc::new(picker), options);
        watcher.wait_ready(options.startup_timeout).await?;
        Ok(Self {
            watcher: Arc::new(watcher),
        })
    }

    /// The current state, or `None` when there is none (withdrawn or expired).
    pub fn snapshot(&self) -> Option<X509Snapshot> {
        self.watcher
            .current()
            .as_ref()
            .map(|published| X509Snapshot {
                context: published.value.context.clone(),
                picked: published.value.picked.clone(),
                generation: published.generation,
            })
    }

    /// The picked SVID.
    ///
    /// # Errors
    /// [`Error::NoCurrentIdentity`] when there is no state, [`Error::NoMatchingSvid`] when no
    /// SVID matches the picker.
    pub fn svid(&self) -> Result<Arc<X509Svid>, Error> {
        let current = self.watcher.current();
        let published = current.as_ref().ok_or(Error::NoCurrentIdentity)?;
        published
            .value
            .picked
            .clone()
            .ok_or_else(|| Error::NoMatchingSvid {
                wanted: "the source's picker".to_owned(),
            })
    }

    /// A receiver that is notified on every change (the value is the new generation, 0 when
    /// the state was withdrawn). It reports an error once the source is dropped or closed.
    pub fn updated(&self) -> watch::Receiver<u64> {
        self.watcher.subscribe()
    }

    /// Whether the source is current, and what went wrong last.
    pub fn health(&self) -> Health {
        self.watcher.health()
    }

    /// Stops the background task and waits for it. Reads afterwards return the last state
    /// until it expires; [`health`](Self::health) reports `stopped`.
    pub async fn close(&self) {
        self.watcher.close().await;
    }
}

impl X509SvidSource for X509Source {
    fn x509_svid(&self) -> Option<Arc<X509Svid>> {
        self.watcher
            .current()
            .as_ref()
            .and_then(|published| published.value.picked.clone())
    }
}

impl X509BundleSource for X509Source {
    fn x509_bundle(&self, trust_domain: &TrustDomain) -> Option<Arc<X509Bundle>> {
        self.watcher
            .current()
            .as_ref()
            .and_then(|published| published.value.context.bundles().x509_bundle(trust_domain))
    }

    fn generation(&self) -> u64 {
        self.watcher.current().as_ref().map_or(0, |published| {
            published.value.context.bundles().generation()
        })
    }
}

impl fmt::Debug for X509Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("X509Source")
            .field("watcher", &self.watcher)
            .finish()
    }
}

/// Lets a snapshot be used as a source too (one consistent state).
impl X509SvidSource for X509Snapshot {
    fn x509_svid(&self) -> Option<Arc<X509Svid>> {
        self.picked.clone()
    }
}

impl X509BundleSource for X509Snapshot {
    fn x509_bundle(&self, trust_domain: &TrustDomain) -> Option<Arc<X509Bundle>> {
        self.context.bundles().x509_bundle(trust_domain)
    }

    fn generation(&self) -> u64 {
        self.context.bundles().generation()
    }
}
