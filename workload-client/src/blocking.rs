//! Blocking facades over [`X509Source`] and [`JwtSource`], for programs without an async
//! runtime (feature `blocking`).
//!
//! Each facade owns a tokio runtime with one worker thread, on which the source's background
//! task keeps running between calls, and forwards every call to the async source with
//! [`Runtime::block_on`]. Nothing else happens here: behaviour, errors and caching are the
//! async sources'. Reads that never wait ([`BlockingX509Source::x509_svid`], the bundle
//! lookups) do not enter the runtime at all.
//!
//! Do not call or drop these from async code: tokio panics when a runtime is blocked on or
//! dropped from inside another (use the async sources there).
//!
//! ```no_run
//! use workload_client::blocking::BlockingX509Source;
//! use workload_client::{Client, Endpoint, SourceOptions, SvidPicker};
//!
//! let client = Client::builder(Endpoint::from_env()?);
//! let source = BlockingX509Source::new(client, SvidPicker::Default, SourceOptions::default())?;
//! println!("serving as {}", source.x509_svid()?.spiffe_id());
//! source.close();
//! # Ok::<(), workload_client::Error>(())
//! ```

use core::fmt;
use std::sync::Arc;

use spiffe_id::{SpiffeId, TrustDomain};
use svid::X509Svid;
use tokio::runtime::Runtime;
use trust_bundle::{JwtBundle, JwtBundleSource, X509Bundle, X509BundleSource};

use crate::client::ClientBuilder;
use crate::error::Error;
use crate::jwt_source::JwtSource;
use crate::types::{AgentVerifiedJwtSvid, JwtSvid};
use crate::watch::SourceOptions;
use crate::x509_source::{SvidPicker, X509Snapshot, X509Source};

/// The facades' runtime: one worker thread runs the source's background task (a current-thread
/// runtime would only run it while a call blocks).
fn runtime() -> Result<Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("workload-client")
        .enable_all()
        .build()
        .map_err(Error::Runtime)
}

/// [`X509Source`] for synchronous code.
pub struct BlockingX509Source {
    // Declared before `runtime`, so the source (and its task) goes first on drop.
    source: X509Source,
    runtime: Runtime,
}

impl BlockingX509Source {
    /// Connects with `client` (lazily, as [`ClientBuilder::connect_lazy`]) and blocks until the
    /// first update, as [`X509Source::new`].
    ///
    /// # Errors
    /// [`Error::Runtime`] when the runtime cannot start; otherwise as [`X509Source::new`].
    ///
    /// # Panics
    /// When called from within an async runtime.
    pub fn new(
        client: ClientBuilder,
        picker: SvidPicker,
        options: SourceOptions,
    ) -> Result<Self, Error> {
        let runtime = runtime()?;
        let source = runtime
            .block_on(async { X509Source::new(client.connect_lazy()?, picker, options).await })?;
        Ok(Self { source, runtime })
    }

    /// The picked SVID, as [`X509Source::svid`].
    ///
    /// # Errors
    /// As [`X509Source::svid`].
    pub fn x509_svid(&self) -> Result<Arc<X509Svid>, Error> {
        self.source.svid()
    }

    /// The X.509 bundle of `trust_domain`, as [`X509BundleSource::x509_bundle`].
    pub fn bundle(&self, trust_domain: &TrustDomain) -> Option<Arc<X509Bundle>> {
        self.source.x509_bundle(trust_domain)
    }

    /// The current state, as [`X509Source::snapshot`].
    pub fn snapshot(&self) -> Option<X509Snapshot> {
        self.source.snapshot()
    }

    /// The async source, e.g. to hand to TLS code as an [`svid::X509SvidSource`].
    pub fn source(&self) -> &X509Source {
        &self.source
    }

    /// Stops the background task and blocks until it has, as [`X509Source::close`].
    ///
    /// # Panics
    /// When called from within an async runtime.
    pub fn close(&self) {
        self.runtime.block_on(self.source.close());
    }
}

impl fmt::Debug for BlockingX509Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingX509Source")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// [`JwtSource`] for synchronous code.
pub struct BlockingJwtSource {
    // Declared before `runtime`, so the source (and its task) goes first on drop.
    source: JwtSource,
    runtime: Runtime,
}

impl BlockingJwtSource {
    /// Connects with `client` (lazily) and blocks until the first JWT bundles, as
    /// [`JwtSource::new`].
    ///
    /// # Errors
    /// [`Error::Runtime`] when the runtime cannot start; otherwise as [`JwtSource::new`].
    ///
    /// # Panics
    /// When called from within an async runtime.
    pub fn new(client: ClientBuilder, options: SourceOptions) -> Result<Self, Error> {
        let runtime = runtime()?;
        let source =
            runtime.block_on(async { JwtSource::new(client.connect_lazy()?, options).await })?;
        Ok(Self { source, runtime })
    }

    /// A JWT-SVID for `audience`, cached or freshly minted, as [`JwtSource::fetch_jwt_svid`].
    ///
    /// # Errors
    /// As [`JwtSource::fetch_jwt_svid`].
    ///
    /// # Panics
    /// When called from within an async runtime.
    pub fn fetch<A: AsRef<str>>(
        &self,
        audience: &[A],
        spiffe_id: Option<&SpiffeId>,
    ) -> Result<Arc<JwtSvid>, Error> {
        self.runtime
            .block_on(self.source.fetch_jwt_svid(audience, spiffe_id))
    }

    /// Asks the agent to validate `token`, as [`JwtSource::validate_jwt_svid`].
    ///
    /// # Errors
    /// As [`JwtSource::validate_jwt_svid`].
    ///
    /// # Panics
    /// When called from within an async runtime.
    pub fn validate(&self, audience: &str, token: &str) -> Result<AgentVerifiedJwtSvid, Error> {
        self.runtime
            .block_on(self.source.validate_jwt_svid(audience, token))
    }

    /// The JWT bundle of `trust_domain`, as [`JwtBundleSource::jwt_bundle`].
    pub fn bundle(&self, trust_domain: &TrustDomain) -> Option<Arc<JwtBundle>> {
        self.source.jwt_bundle(trust_domain)
    }

    /// The async source, e.g. to hand to [`svid::JwtValidator`] as a [`JwtBundleSource`].
    pub fn source(&self) -> &JwtSource {
        &self.source
    }

    /// Stops the bundle stream and blocks until it has, as [`JwtSource::close`].
    ///
    /// # Panics
    /// When called from within an async runtime.
    pub fn close(&self) {
        self.runtime.block_on(self.source.close());
    }
}

impl fmt::Debug for BlockingJwtSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingJwtSource")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}
