//! SPIFFE Workload API client and self-rotating X.509 / JWT / bundle sources.
//!
//! - [`Endpoint`]: the agent's address, from configuration or `SPIFFE_ENDPOINT_SOCKET`, parsed
//!   strictly by the Workload Endpoint rules (`unix:///abs/path`, `unix:/abs/path`,
//!   `tcp://<ip>:<port>`); re-exported from `workload_api`, where it lives.
//! - [`Client`]: one-shot calls and streams for every Workload API RPC over a Unix socket or
//!   TCP, with the mandatory `workload.spiffe.io: true` header on every call, timeouts,
//!   response limits ([`Limits`]) and typed errors that say whether retrying helps
//!   ([`Error::is_retryable`]). Responses are validated and converted into `svid` and
//!   `trust-bundle` types; a malformed SVID is an error, never a panic or an accepted
//!   credential.
//! - Sources, what applications use: [`X509Source`] (implements [`svid::X509SvidSource`] and
//!   [`trust_bundle::X509BundleSource`]), [`JwtSource`] (cached JWT-SVIDs refreshed at
//!   half-life, one agent call per key however many tasks ask at once;
//!   [`trust_bundle::JwtBundleSource`]) and [`BundleSource`]. All run one supervisor:
//!   backoff with jitter, reconnect, stop on InvalidArgument / Unimplemented, PermissionDenied
//!   per [`PermissionDeniedPolicy`], last good state served until it expires, invalid and
//!   duplicate updates ignored. State is an immutable snapshot swapped atomically; reads are a
//!   pointer load.
//! - [`fs::FsSource`] (feature `fs`): the same two source traits from files: SPIFFE
//!   Filesystem Delivery folders (Kubernetes pod certificates), gRPC A87 bundle maps,
//!   spiffe-helper and `spiffekit fetch x509 --write` output. Certificate and key always
//!   match, kubelet's `..data` swaps are read whole, the last good state is kept while a file
//!   is broken; inotify plus a poll.
//! - [`proto`]: the generated wire types, client and (feature `server`) server, re-exported
//!   from `workload_api`, the crate that both sides of the API share (the agent depends on it,
//!   not on this crate).
//! - [`response`]: the checks every Workload API message goes through, as public functions,
//!   for programs that bring their own transport.
//!
//! TLS code should depend on the `svid` / `trust-bundle` traits, never on this crate.
//!
//! # Quick start
//!
//! A workload's current X.509-SVID from the agent named by `SPIFFE_ENDPOINT_SOCKET`, kept
//! current in the background (not run here: it needs an agent's socket).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use svid::X509SvidSource;
//! use workload_client::X509Source;
//!
//! // Waits (30 s by default) for the first usable update.
//! let source = X509Source::from_env().await?;
//! let svid = source.x509_svid().expect("a current svid");
//! println!("serving as {}", svid.spiffe_id());
//!
//! let mut updates = source.updated();
//! updates.changed().await.ok(); // the next rotation
//! # Ok(())
//! # }
//! ```
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `ring` | yes | key loading and SVID checks with ring (forwarded to `svid`) |
//! | `aws-lc-rs` | no | the same with aws-lc-rs |
//! | `server` | no | the generated server half, `proto::spiffe_workload_api_server` |
//! | `blocking` | no | [`blocking`]: the X.509 and JWT sources for synchronous code, each on its own one-thread runtime |
//! | `fs` | yes | [`fs`]: `FsSource`, X.509-SVIDs and bundles from files, watched with inotify (the `inotify` crate, Linux) and polled |
//!
//! # Specification
//!
//! - <https://github.com/spiffe/spiffe/blob/main/standards/SPIFFE_Workload_API.md>
//! - <https://github.com/spiffe/spiffe/blob/main/standards/SPIFFE_Workload_Endpoint.md>

#[cfg(feature = "blocking")]
pub mod blocking;
mod bundle_source;
mod client;
mod error;
#[cfg(feature = "fs")]
pub mod fs;
mod jwt_source;
pub mod response;
mod types;
mod update_stream;
mod watch;
mod x509_source;

pub use bundle_source::{BundleKinds, BundleSource};
pub use client::{Client, ClientBuilder, DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT};
pub use error::{Error, FsError, ResponseError, Rpc};
pub use jwt_source::{DEFAULT_JWT_CACHE_CAPACITY, JwtSource};
pub use types::{AgentVerifiedJwtSvid, JwtSvid, Limits, X509Context};
pub use update_stream::UpdateStream;
pub use watch::{Health, PermissionDeniedPolicy, SourceOptions};
pub use x509_source::{SvidPicker, X509Snapshot, X509Source};
// The shared half of the Workload API lives in `workload_api`; these keep the paths of earlier
// releases (`workload_client::proto`, `workload_client::Endpoint`) working.
pub use workload_api::{ENDPOINT_SOCKET_ENV, Endpoint, EndpointError, SECURITY_HEADER, proto};
