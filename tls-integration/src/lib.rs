//! rustls verifiers and certificate resolvers for SPIFFE identities, with hyper, tonic and
//! tower helpers.
//!
//! What you get:
//!
//! - [`SpiffeServerVerifier`] / [`SpiffeClientVerifier`]: rustls verifiers that check the peer's
//!   X.509-SVID with `svid` against the bundle of the **peer's own trust domain** (never a
//!   pooled root store), then ask an [`Authorizer`]. No hostname or SNI check. Handshake
//!   signatures (TLS 1.2 and 1.3) are checked with the algorithms of the `svid::Crypto` you
//!   pass (its rustls provider).
//! - [`SvidResolver`]: the certificate to present, read from any [`svid::X509SvidSource`]. The
//!   rustls `CertifiedKey` is built once per SVID; a rotated SVID is used by the next handshake
//!   without rebuilding any configuration. Bundle changes apply to the next handshake too.
//! - [`SpiffeTls`]: client and server configurations for every mode (mTLS, TLS with SPIFFE
//!   server authentication, TLS server, and the two WebPKI hybrids), built with
//!   `builder_with_provider` on the rustls provider of the `svid::Crypto` you give (the one
//!   crypto value `svid`, `ca` and `workload-client` take too), as a [`SpiffeServerConfig`] /
//!   [`SpiffeClientConfig`] that derives one rustls config per connection. Session resumption
//!   is off.
//! - [`Authorizer`]: implemented by [`spiffe_id::IdMatcher`] and by closures
//!   ([`authorize::from_fn`]). There is no default; "any peer" is [`danger::AnyPeer`].
//! - [`PeerIdentity`]: the verified peer's SPIFFE ID on a finished connection, as **that
//!   connection's** verifier returned it (through the connection's [`PeerSlot`]): never read
//!   back from the certificate, never shared between connections.
//! - Features `hyper`, `tonic`, `tower`: an accept loop and a connector that carry the peer
//!   identity into request extensions, and authorization / JWT-SVID bearer layers.
//!
//! What it is not: it fetches nothing. SVIDs and bundles come from sources (the Workload API
//! client, files, the in-process CA of the `ca` crate) through the `svid` and `trust-bundle`
//! traits.
//!
//! # An mTLS server that only accepts the payments namespace
//!
//! ```
//! use std::sync::Arc;
//! use spiffe_id::IdMatcher;
//! use svid::X509SvidSource;
//! use trust_bundle::X509BundleSource;
//! use tls_integration::{PeerIdentity, PeerSlot, SpiffeServerConfig, SpiffeTls};
//!
//! fn server_config(
//!     svids: Arc<dyn X509SvidSource>,      // rotates by itself (Workload API, CA, files)
//!     bundles: Arc<dyn X509BundleSource>,  // idem
//! ) -> Result<SpiffeServerConfig, Box<dyn std::error::Error>> {
//!     let tls = SpiffeTls::new(svid::Crypto::default());
//!     let only_payments = IdMatcher::pattern("spiffe://prod.example/ns/payments/*")?;
//!     Ok(tls.mtls_server(svids, bundles, only_payments)?)
//! }
//!
//! // Each connection gets a rustls config of its own, whose verifier reports to `peer`.
//! fn connection(
//!     config: &SpiffeServerConfig,
//! ) -> Result<(rustls::ServerConnection, PeerSlot), rustls::Error> {
//!     let (config, peer) = config.for_connection();
//!     Ok((rustls::ServerConnection::new(config)?, peer))
//! }
//!
//! // After its handshake: the client this connection's verifier accepted.
//! fn caller(connection: &rustls::ServerConnection, peer: &PeerSlot) -> Option<String> {
//!     let identity = PeerIdentity::from_connection(connection, peer).ok()?;
//!     Some(identity.spiffe_id().to_string())
//! }
//! # let _ = (server_config, connection, caller);
//! ```
//!
//! The same checks without a handshake, on SVIDs of the `ca` crate's test CA:
//!
//! ```
//! use std::sync::Arc;
//! use ca::TestCa;
//! use rustls::pki_types::UnixTime;
//! use spiffe_id::IdMatcher;
//! use tls_integration::{Error, SpiffeTls};
//!
//! let ca = TestCa::new("prod.example");
//! let tls = SpiffeTls::new(svid::Crypto::default());
//! let verifier = tls.client_verifier(
//!     Arc::new(ca.bundle_set()),
//!     IdMatcher::pattern("spiffe://prod.example/ns/payments/*")?,
//! );
//!
//! let api = ca.x509_svid("/ns/payments/api");
//! let peer = verifier.verify(&api.chain()[0], &api.chain()[1..], UnixTime::now())?;
//! assert_eq!(peer.spiffe_id().as_str(), "spiffe://prod.example/ns/payments/api");
//!
//! let web = ca.x509_svid("/ns/web/frontend");
//! let refused = verifier.verify(&web.chain()[0], &web.chain()[1..], UnixTime::now());
//! assert!(matches!(refused, Err(Error::Unauthorized { .. })));
//!
//! let stranger = TestCa::new("prod.example").x509_svid("/ns/payments/api"); // unknown key
//! let forged = verifier.verify(&stranger.chain()[0], &[], UnixTime::now());
//! assert!(matches!(forged, Err(Error::Verify(_))));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! With tokio, give each connection's config to `tokio_rustls::TlsAcceptor`, or let
//! [`net::SpiffeAcceptor`], [`hyper::serve`] or [`tonic::incoming`] (features `hyper`, `tonic`)
//! do it and run the accept loop.
//!
//! # Where the peer identity comes from
//!
//! rustls gives a verifier's result to nobody, and a verifier does not know which connection it
//! serves. So each connection gets its own rustls configuration
//! ([`SpiffeServerConfig::for_connection`], [`SpiffeClientConfig::for_connection`]): the shared
//! one with a thin wrapper over the shared verifier, which puts the `VerifiedX509Svid` it
//! returned into that connection's [`PeerSlot`]; [`PeerIdentity::from_connection`] reads it
//! after the handshake. Deriving a configuration is a few `Arc` clones (see
//! `benches/benches/tls.rs`). With raw rustls configurations of your own, use the verifiers'
//! `for_connection` ([`SpiffeClientVerifier::for_connection`]). A connection whose
//! configuration was not derived this way, or which resumed a session (no verifier runs), has
//! no identity: it fails closed.
//!
//! # Errors in handshakes
//!
//! A refusal by a verifier reaches rustls as the `CertificateError` of the precise TLS alert
//! (`certificate_expired`, `unknown_ca`, `decrypt_error`, `unsupported_certificate`,
//! `access_denied`, `bad_certificate`), so the peer learns why. The typed [`Error`] stays on
//! the refusing side: [`Error::take_refusal`] gets it back on the thread that drove the
//! handshake, and the acceptor and connector of [`net`] attach it to [`Error::Handshake`] for
//! [`Error::verifier_error`], so logs say which SPIFFE rule failed or which authorizer refused.
//! [`hyper::serve`] and [`tonic::incoming`] log it that way (with `tracing`).
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `ring` | yes | `svid::Crypto::ring` (rustls' ring provider) and `Crypto::default` |
//! | `aws-lc-rs` | no | `svid::Crypto::aws_lc_rs` (rustls' aws-lc-rs provider); `Crypto::default` prefers it |
//! | `hyper` | no | [`hyper`]: accept loop (HTTP/1.1 and HTTP/2 by ALPN, graceful shutdown, logged refusals) with peer identity in extensions; [`net`]: acceptor and client connector |
//! | `tonic` | no | [`tonic`]: incoming stream for `serve_with_incoming`, peer ID helpers; [`net`] |
//! | `tower` | no | [`tower`]: SPIFFE ID authorization and JWT-SVID bearer layers |
//!
//! Features are additive; both backends may be on together.
//!
//! # Specifications
//!
//! X509-SVID (validation, section 5) and the SPIFFE trust domain and bundle specification
//! (bundle per trust domain), at <https://github.com/spiffe/spiffe/tree/main/standards>.

pub mod authorize;
mod config;
mod connection;
pub mod danger;
mod error;
#[cfg(feature = "hyper")]
pub mod hyper;
#[cfg(any(feature = "hyper", feature = "tonic"))]
pub mod net;
mod peer;
mod refusal;
mod resolve;
#[cfg(feature = "tonic")]
pub mod tonic;
#[cfg(feature = "tower")]
pub mod tower;
mod verify;

pub use authorize::Authorizer;
pub use config::SpiffeTls;
pub use connection::{SpiffeClientConfig, SpiffeServerConfig};
pub use error::{Denied, Error};
pub use peer::{PeerIdentity, PeerInfo, PeerSlot};
pub use resolve::SvidResolver;
pub use verify::{SpiffeClientVerifier, SpiffeServerVerifier};
