//! SPIFFE federation: a bundle endpoint server and a bundle endpoint client, with both
//! profiles (`https_web`, `https_spiffe`).
//!
//! What you get:
//!
//! - [`endpoint`]: a hyper service that answers `GET <path>` with a trust domain's current
//!   bundle document (`spiffe_sequence`, `spiffe_refresh_hint`), built once per bundle change
//!   from a [`BundlePublisher`](endpoint::BundlePublisher) (fed directly or by a
//!   `tokio::sync::watch` channel); mount it in your own hyper server or run
//!   [`endpoint::serve`]. TLS for `https_web` from PEM files reloaded when they change, and
//!   for `https_spiffe` from a rotating X509-SVID source.
//! - [`client`]: [`Client::fetch`](client::Client::fetch) of one bundle from an explicitly
//!   configured [`Endpoint`](client::Endpoint) (URL, profile, trust domain: digest 7.2), with
//!   bounded size, time and redirects, and typed errors.
//!
//! - [`manager`]: a [`FederationManager`](manager::FederationManager) with one task per
//!   relationship: it polls by `spiffe_refresh_hint` (clamped, jittered, stretched after
//!   failures), refuses a lower `spiffe_sequence` unless the relationship or an operator's reset
//!   allows it, keeps the last good bundle through every failure (optionally across restarts
//!   through a [`LastGoodStore`](manager::LastGoodStore)), authenticates a self-serving
//!   `https_spiffe` endpoint with the latest bundle taken, and publishes one `BundleSet` whose
//!   generation moves on each change. Each relationship reports its status.
//!
//! - `config` (feature `config`): the `[federation]` section of the agent's and
//!   server's configuration files (`bundle_endpoint`, `federates_with`) and the code both
//!   binaries run to start what it names.
//!
//! # An endpoint and a fetch, over loopback
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use federation::client::{Client, Endpoint, Profile};
//! use federation::endpoint::{self, BundlePublisher, EndpointTls};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let crypto = svid::Crypto::default();
//!
//! // Trust domain a.example serves its bundle, authenticated by its own X509-SVID.
//! let a = ca::TestCa::new("a.example"); // in production: the CA's published bundle
//! let bundle = (*a.bundle()).clone().with_sequence(1).with_refresh_hint(Duration::from_secs(300));
//! let publisher = BundlePublisher::new(bundle);
//! let svid = Arc::new(a.x509_svid("/bundle-endpoint")); // in production: a rotating source
//! let tls = EndpointTls::https_spiffe(Arc::new(svid), &crypto)?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let url = format!("https://{}/bundle", listener.local_addr()?).parse()?;
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! let server = tokio::spawn(endpoint::serve(listener, tls, publisher.service("/bundle"), stopped));
//!
//! // Another trust domain fetches it: URL, profile and trust domain are all configured.
//! let endpoint = Endpoint::new(
//!     url,
//!     Profile::HttpsSpiffe {
//!         endpoint_id: a.id("/bundle-endpoint"),
//!         bundle: a.x509_bundle(), // the bootstrap bundle of a.example
//!     },
//!     a.trust_domain().clone(),
//! );
//! let fetched = Client::new(crypto).fetch(&endpoint).await?;
//! assert_eq!(fetched.sequence(), Some(1));
//! assert_eq!(fetched.refresh_hint(), Some(Duration::from_secs(300)));
//! assert_eq!(fetched.bundle().x509_bundle(), a.bundle().x509_bundle());
//!
//! let _ = stop.send(());
//! server.await??;
//! # Ok(())
//! # }
//! ```
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `ring` | yes | `svid::Crypto::ring` and `Crypto::default` (rustls' ring provider) |
//! | `aws-lc-rs` | no | `svid::Crypto::aws_lc_rs`; `Crypto::default` prefers it |
//! | `store` | no | `manager::StoreLastGood`: last good bundles in a `store::Store` (SQLite, PostgreSQL) |
//! | `config` | no | `config`: the `[federation]` configuration section (serde) and `config::start` |
//!
//! Features are additive; every function takes the [`svid::Crypto`] to use.
//!
//! # Specifications
//!
//! SPIFFE Federation (bundle endpoint, profiles `https_web` and `https_spiffe`) and the SPIFFE
//! trust domain and bundle specification (the bundle document), at
//! <https://github.com/spiffe/spiffe/tree/main/standards>.

#![forbid(unsafe_code)]

pub mod client;
#[cfg(feature = "config")]
pub mod config;
pub mod endpoint;
mod error;
pub mod manager;

pub use error::{Error, UrlError};
