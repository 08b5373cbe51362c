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
//!   crypto value `svid`, `ca` and `workload-client` take too). Session resumption is off.
//! - [`Authorizer`]: implemented by [`spiffe_id::IdMatcher`] and by closures
//!   ([`authorize::from_fn`]). There is no default; "any peer" is [`danger::AnyPeer`].
//! - [`PeerIdentity`]: the verified peer's SPIFFE ID from a finished connection.
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
//! use tls_integration::{PeerIdentity, SpiffeTls};
//!
//! fn server_config(
//!     svids: Arc<dyn X509SvidSource>,      // rotates by itself (Workload API, CA, files)
//!     bundles: Arc<dyn X509BundleSource>,  // idem
//! ) -> Result<Arc<rustls::ServerConfig>, Box<dyn std::error::Error>> {
//!     let tls = SpiffeTls::new(svid::Crypto::default());
//!     let only_payments = IdMatcher::pattern("spiffe://prod.example/ns/payments/*")?;
//!     Ok(Arc::new(tls.mtls_server(svids, bundles, only_payments)?))
//! }
//!
//! // After a handshake on a `rustls::ServerConnection` built from that config:
//! fn caller(connection: &rustls::ServerConnection) -> Option<String> {
//!     let peer = PeerIdentity::from_connection(connection).ok()?;
//!     Some(peer.spiffe_id().to_string())
//! }
//! # let _ = (server_config, caller);
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
//! With tokio, hand the config to `tokio_rustls::TlsAcceptor`, or let
//! [`hyper::serve`] / [`tonic::incoming`] (features `hyper`, `tonic`) run the accept loop.
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

mod accepted;
pub mod authorize;
mod config;
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
pub use error::{Denied, Error};
pub use peer::{PeerIdentity, PeerInfo, peer_spiffe_id};
pub use resolve::SvidResolver;
pub use verify::{SpiffeClientVerifier, SpiffeServerVerifier};
