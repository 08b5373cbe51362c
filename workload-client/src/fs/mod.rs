//! [`FsSource`]: X.509-SVIDs and bundles delivered as files (feature `fs`).
//!
//! Software that cannot reach the Workload API gets its identity as files: Kubernetes pod
//! certificates (the SPIFFE Filesystem Delivery draft), spiffe-helper or `spiffekit fetch x509
//! --write`, gRPC's `file_watcher` with an A87 bundle map. An [`FsSource`] reads them and
//! implements [`svid::X509SvidSource`] and [`trust_bundle::X509BundleSource`], like
//! [`X509Source`](crate::X509Source), so one `tls-integration` configuration serves either.
//!
//! | layout | builder | files (names relative to the folder; all configurable) |
//! |---|---|---|
//! | SPIFFE Filesystem Delivery (draft) | [`FsSource::builder`] as is | `credential-bundle.pem` (key, then chain), one `<trust-domain>.spiffe-trust-bundle.pem` per trust domain |
//! | `spiffekit fetch x509 --write` | as is (it writes the draft's files too) | the same, in `..data` generations |
//! | spiffe-helper | [`certificate_and_key`](FsSourceBuilder::certificate_and_key), [`svid_bundle`](FsSourceBuilder::svid_bundle) | e.g. `svid.pem`, `svid_key.pem`, `svid_bundle.pem` (the SVID's own trust domain) |
//! | gRPC A87 | [`certificate_and_key`](FsSourceBuilder::certificate_and_key), [`bundle_map`](FsSourceBuilder::bundle_map) | certificate, key, SPIFFE bundle map (X.509 authorities used, JWT keys ignored) |
//!
//! How it stays consistent:
//! - **One generation.** When the folder has a `..data` symlink (kubelet's atomic writer, our
//!   CLI), it is resolved once and every file is read inside that generation directory, so a
//!   swap in the middle cannot pair files of two rotations. A read that fails because the
//!   writer swapped generations under it starts over on the new one.
//! - **Key matches certificate.** Each credential file is read in one open/read/close, and the
//!   key is checked against the leaf before anything is published: a mismatch
//!   ([`FsError::KeyMismatch`], e.g. a writer that rewrites two files in place) is "not yet
//!   consistent", never served.
//! - **Last good state.** A missing, half-written or broken file keeps the current state;
//!   the reason is logged (`tracing`, warn) and kept in [`FsStatus::last_error`]; the source
//!   retries with a short backoff until the files are consistent again.
//! - **Real changes only.** The state's generation, the SVID's `Arc` and the bundle set's
//!   generation change only when the contents do.
//! - **Watching.** inotify on the folder (Linux: it sees the `..data` rename, which a watch on
//!   the files would miss) plus a poll every [`DEFAULT_POLL_INTERVAL`] as a backstop; only the
//!   poll where inotify is unavailable or off ([`FsSourceBuilder::watch`]). Files are read on
//!   tokio's blocking pool, never on a runtime thread.
//!
//! Trust bundle files are per trust domain and never pooled: a peer is checked against the
//! file of its own trust domain, and a removed file (de-federation) removes that trust domain
//! at the next load.
//!
//! ```
//! use std::sync::Arc;
//! use spiffe_id::IdMatcher;
//! use svid::X509SvidSource;
//! use trust_bundle::X509BundleSource;
//! use workload_client::fs::FsSource;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let folder = tempfile::tempdir()?;
//! # let ca = ca::TestCa::new("example.org");
//! # let svid = ca.x509_svid("/web");
//! # let mut credential = svid.private_key().to_pem().to_string();
//! # credential.push_str(&svid.chain_pem());
//! # std::fs::write(folder.path().join("credential-bundle.pem"), credential)?;
//! # let roots = test_support::pem::pem(ca.x509_bundle().authorities());
//! # std::fs::write(folder.path().join("example.org.spiffe-trust-bundle.pem"), roots)?;
//! // A Filesystem Delivery folder: a pod certificate volume, or `spiffekit fetch x509 --write`.
//! let source = FsSource::builder(folder.path()).build().await?;
//! let svid = source.x509_svid().expect("an svid");
//! assert_eq!(svid.spiffe_id().as_str(), "spiffe://example.org/web");
//! assert!(source.x509_bundle(&"example.org".parse()?).is_some());
//! assert!(source.status().last_error.is_none());
//!
//! // The same rustls configuration as with the Workload API's `X509Source`.
//! let source = Arc::new(source);
//! let tls = tls_integration::SpiffeTls::new(svid::Crypto::default());
//! let server = tls.mtls_server(
//!     source.clone(),
//!     source,
//!     IdMatcher::pattern("spiffe://example.org/*")?,
//! )?;
//! # let _ = server;
//! # Ok(())
//! # }
//! ```

mod changes;
mod load;
mod task;

use core::fmt;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwapOption;
use spiffe_id::TrustDomain;
use svid::{Crypto, X509Svid, X509SvidSource};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use trust_bundle::{BundleSet, X509Bundle, X509BundleSource};

use crate::error::{Error, FsError};
use changes::DirWatch;
use load::{Identity, Layout, Trust};
use task::{RETRY_MIN, Shared, run};

pub use load::MAX_CREDENTIAL_FILE_BYTES;

/// The credential bundle's name in the Filesystem Delivery draft: the PKCS#8 key, then the
/// chain leaf first. (A later revision of the draft says `credential-bundle.private-key.pem`;
/// set it with [`FsSourceBuilder::credential_bundle`].)
pub const DEFAULT_CREDENTIAL_BUNDLE: &str = "credential-bundle.pem";

/// What follows the trust domain name in the draft's trust bundle files
/// (`example.org.spiffe-trust-bundle.pem`).
pub const DEFAULT_TRUST_BUNDLE_SUFFIX: &str = ".spiffe-trust-bundle.pem";

/// The symlink kubelet's atomic writer (and `spiffekit fetch --write`) points at the current
/// generation directory.
pub const DEFAULT_DATA_LINK: &str = "..data";

/// How often the files are read even without a notification: a backstop for missed events,
/// well inside the draft's "reload within 5 minutes".
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(30);

/// How long [`FsSourceBuilder::build`] waits for a first consistent state.
pub const DEFAULT_STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// Configures an [`FsSource`]; see the [module documentation](self) for the layouts.
#[derive(Clone, Debug)]
#[must_use]
pub struct FsSourceBuilder {
    layout: Layout,
    poll_interval: Duration,
    watch: bool,
    startup_timeout: Duration,
    crypto: Option<Crypto>,
}

impl FsSourceBuilder {
    /// The Filesystem Delivery layout in `dir`: [`DEFAULT_CREDENTIAL_BUNDLE`] and
    /// `<trust-domain>`[`DEFAULT_TRUST_BUNDLE_SUFFIX`] files, read through
    /// [`DEFAULT_DATA_LINK`] when it exists; inotify plus a poll every
    /// [`DEFAULT_POLL_INTERVAL`].
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            layout: Layout {
                dir: dir.into(),
                data_link: Some(DEFAULT_DATA_LINK.into()),
                identity: Identity::CredentialBundle(DEFAULT_CREDENTIAL_BUNDLE.into()),
                trust: Trust::PerTrustDomainFiles(DEFAULT_TRUST_BUNDLE_SUFFIX.to_owned()),
            },
            poll_interval: DEFAULT_POLL_INTERVAL,
            watch: true,
            startup_timeout: DEFAULT_STARTUP_TIMEOUT,
            crypto: None,
        }
    }

    /// The SVID from one file holding the PKCS#8 `PRIVATE KEY` and the chain, leaf first
    /// (the draft's credential bundle; the default, as [`DEFAULT_CREDENTIAL_BUNDLE`]). Names
    /// are relative to the folder; an absolute path is read as is.
    pub fn credential_bundle(mut self, name: impl Into<PathBuf>) -> Self {
        self.layout.identity = Identity::CredentialBundle(name.into());
        self
    }

    /// The SVID from a chain file (leaf first) and a key file (PKCS#8 `PRIVATE KEY`), as
    /// spiffe-helper and gRPC's `file_watcher` write them.
    pub fn certificate_and_key(
        mut self,
        certificate: impl Into<PathBuf>,
        key: impl Into<PathBuf>,
    ) -> Self {
        self.layout.identity = Identity::CertificateAndKey {
            certificate: certificate.into(),
            key: key.into(),
        };
        self
    }

    /// No SVID: bundles only (a client that presents no certificate).
    pub fn without_svid(mut self) -> Self {
        self.layout.identity = Identity::None;
        self
    }

    /// Bundles from one `<trust-domain><suffix>` file per trust domain (the default, with
    /// [`DEFAULT_TRUST_BUNDLE_SUFFIX`]). Other names in the folder are ignored.
    pub fn trust_bundle_files(mut self, suffix: impl Into<String>) -> Self {
        self.layout.trust = Trust::PerTrustDomainFiles(suffix.into());
        self
    }

    /// Bundles from a SPIFFE bundle map (`{"trust_domains": {...}}`, gRPC A87's
    /// `spiffe_trust_bundle_map_file`). Only the X.509 authorities are used.
    pub fn bundle_map(mut self, name: impl Into<PathBuf>) -> Self {
        self.layout.trust = Trust::BundleMap(name.into());
        self
    }

    /// The authorities of the SVID's own trust domain from one PEM file (spiffe-helper's
    /// `svid_bundle_file_name`). Needs an SVID.
    pub fn svid_bundle(mut self, name: impl Into<PathBuf>) -> Self {
        self.layout.trust = Trust::SvidTrustDomain(name.into());
        self
    }

    /// The name of the symlink to the current generation directory (default
    /// [`DEFAULT_DATA_LINK`]). Without it in the folder, files are read from the folder.
    pub fn data_link(mut self, name: impl Into<OsString>) -> Self {
        self.layout.data_link = Some(name.into());
        self
    }

    /// Reads files straight from the folder even if it has a `..data` link.
    pub fn without_data_link(mut self) -> Self {
        self.layout.data_link = None;
        self
    }

    /// How often the files are read without a notification (default
    /// [`DEFAULT_POLL_INTERVAL`]); with [`watch(false)`](Self::watch) the only trigger.
    /// Unchanged files change nothing.
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval.max(RETRY_MIN);
        self
    }

    /// Whether to watch the folder with inotify (default `true`; ignored where inotify does
    /// not exist). If the watch cannot be set up or breaks, the source polls.
    pub fn watch(mut self, watch: bool) -> Self {
        self.watch = watch;
        self
    }

    /// How long [`build`](Self::build) waits for a consistent state (default
    /// [`DEFAULT_STARTUP_TIMEOUT`]); zero fails at once.
    pub fn startup_timeout(mut self, timeout: Duration) -> Self {
        self.startup_timeout = timeout;
        self
    }

    /// The crypto that loads keys (the application's one `svid::Crypto`); default
    /// [`Crypto::default`] with the `ring` or `aws-lc-rs` feature.
    pub fn crypto(mut self, crypto: Crypto) -> Self {
        self.crypto = Some(crypto);
        self
    }

    /// Starts watching and waits for the first consistent state. Must run inside a tokio
    /// runtime; the watch stops when the last clone of the source is dropped.
    ///
    /// # Errors
    /// [`Error::Files`] with [`FsError::StartupTimeout`] (and the last load error) when no
    /// consistent state appeared in time; [`Error::InvalidRequest`] for
    /// [`svid_bundle`](Self::svid_bundle) without an SVID; [`Error::NoCrypto`].
    pub async fn build(self) -> Result<FsSource, Error> {
        if matches!(self.layout.identity, Identity::None)
            && matches!(self.layout.trust, Trust::SvidTrustDomain(_))
        {
            return Err(Error::InvalidRequest(
                "svid_bundle names the bundle of the svid's trust domain: it needs an svid",
            ));
        }
        let dirs = self.watched_dirs();
        let crypto = crate::client::crypto_or_default(self.crypto)?;
        let watch = if self.watch {
            // inotify_add_watch looks paths up: off the runtime threads too. (The blocking
            // pool runs inside the runtime, where the event stream registers.)
            let watched = tokio::task::spawn_blocking(move || DirWatch::new(&dirs)).await;
            match watched.unwrap_or_else(|join| {
                Err(FsError::Watch {
                    path: self.layout.dir.clone(),
                    source: std::io::Error::other(join),
                })
            }) {
                Ok(watch) => Some(watch),
                Err(error) => {
                    tracing::warn!(%error, cause = ?std::error::Error::source(&error), "file source polls only");
                    None
                }
            }
        } else {
            None
        };
        let (updates, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            status: Mutex::new(FsStatus {
                watching: watch.is_some(),
                ..FsStatus::default()
            }),
            layout: self.layout,
            crypto,
            state: ArcSwapOption::empty(),
            updates,
            load_lock: tokio::sync::Mutex::new(()),
        });
        let first = shared.reload().await;
        let mut ready = shared.updates.subscribe();
        let task = tokio::spawn(run(
            Arc::clone(&shared),
            watch,
            self.poll_interval,
            first.is_err(),
        ));
        let source = FsSource {
            inner: Arc::new(Inner {
                shared: Arc::clone(&shared),
                task,
            }),
        };
        if first.is_err() {
            let waited = tokio::time::timeout(self.startup_timeout, ready.wait_for(|g| *g > 0));
            if !matches!(waited.await, Ok(Ok(_))) {
                return Err(Error::Files(Arc::new(FsError::StartupTimeout {
                    dir: shared.layout.dir.clone(),
                    waited: self.startup_timeout,
                    last_error: shared.status().last_error,
                })));
            }
        }
        Ok(source)
    }

    /// The folder, plus the folder of every file named by an absolute path elsewhere.
    fn watched_dirs(&self) -> Vec<PathBuf> {
        let layout = &self.layout;
        let mut files: Vec<&Path> = Vec::new();
        match &layout.identity {
            Identity::None => {}
            Identity::CredentialBundle(name) => files.push(name),
            Identity::CertificateAndKey { certificate, key } => files.extend([&**certificate, key]),
        }
        match &layout.trust {
            Trust::PerTrustDomainFiles(_) => {}
            Trust::BundleMap(name) | Trust::SvidTrustDomain(name) => files.push(name),
        }
        let mut dirs = vec![layout.dir.clone()];
        for parent in files
            .into_iter()
            .filter(|f| f.is_absolute())
            .filter_map(Path::parent)
        {
            if !dirs.iter().any(|d| d == parent) {
                dirs.push(parent.to_owned());
            }
        }
        dirs
    }
}

/// Whether an [`FsSource`] is serving what its files say, and what went wrong last.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct FsStatus {
    /// The current state's generation: 1 for the first state, +1 on each change, 0 before
    /// the first.
    pub generation: u64,
    /// When the state last changed.
    pub last_update: Option<SystemTime>,
    /// When the files were last read consistently (changed or not).
    pub last_check: Option<SystemTime>,
    /// Why the latest load failed, until a load succeeds again. The last good state is
    /// served meanwhile.
    pub last_error: Option<Arc<FsError>>,
    /// Whether inotify watches the folder; `false` means the poll alone notices changes.
    pub watching: bool,
}

impl FsStatus {
    /// A state is served and the files agree with it.
    pub fn is_healthy(&self) -> bool {
        self.generation > 0 && self.last_error.is_none()
    }
}

/// An X.509-SVID and X.509 bundles read from files and kept current; see the [module
/// documentation](self). Reads are a pointer load. Cloning is cheap and shares the watch,
/// which stops when the last clone is dropped.
#[derive(Clone)]
pub struct FsSource {
    inner: Arc<Inner>,
}

impl FsSource {
    /// A builder for the folder `dir`, set up for the Filesystem Delivery layout.
    pub fn builder(dir: impl Into<PathBuf>) -> FsSourceBuilder {
        FsSourceBuilder::new(dir)
    }

    /// The current bundles (X.509 authorities only), one consistent set.
    pub fn bundle_set(&self) -> BundleSet {
        self.inner
            .shared
            .state
            .load()
            .as_ref()
            .map(|state| state.bundles.clone())
            .unwrap_or_default()
    }

    /// The generation, times and last error.
    pub fn status(&self) -> FsStatus {
        self.inner.shared.status()
    }

    /// A receiver notified on every change, with the new state's generation.
    pub fn updated(&self) -> watch::Receiver<u64> {
        self.inner.shared.updates.subscribe()
    }

    /// Reads the files now (after a `SIGHUP`, say) instead of waiting for a notification.
    /// Returns whether the state changed.
    ///
    /// # Errors
    /// [`Error::Files`] with the reason the files were not consistent; the last good state
    /// stays.
    pub async fn reload(&self) -> Result<bool, Error> {
        self.inner.shared.reload().await.map_err(Error::Files)
    }
}

impl X509SvidSource for FsSource {
    fn x509_svid(&self) -> Option<Arc<X509Svid>> {
        self.inner
            .shared
            .state
            .load()
            .as_ref()
            .and_then(|state| state.svid.clone())
    }
}

impl X509BundleSource for FsSource {
    fn x509_bundle(&self, trust_domain: &TrustDomain) -> Option<Arc<X509Bundle>> {
        self.inner
            .shared
            .state
            .load()
            .as_ref()
            .and_then(|state| state.bundles.x509_bundle(trust_domain))
    }

    fn generation(&self) -> u64 {
        self.inner
            .shared
            .state
            .load()
            .as_ref()
            .map_or(0, |state| state.bundles.generation())
    }
}

impl fmt::Debug for FsSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FsSource")
            .field("dir", &self.inner.shared.layout.dir)
            .field("status", &self.status())
            .finish_non_exhaustive()
    }
}

struct Inner {
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.task.abort();
    }
}
