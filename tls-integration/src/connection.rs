//! Per-connection configurations: each connection gets a verifier that reports the peer it
//! accepted to that connection alone ([`PeerSlot`]), so a [`PeerIdentity`] is the result of
//! that connection's own verification.
//!
//! rustls hands a verifier's result to nobody: `verify_client_cert` returns a bare assertion,
//! and the verifier does not know which connection it serves. So the configuration of each
//! connection carries a thin wrapper over the shared verifier ([`Reporting`]) that owns the
//! connection's slot. Everything costly stays shared (the verifier with its result cache, the
//! certificate resolver, the provider, the session and compression caches): deriving a
//! configuration is a handful of `Arc` clones, measured in `benches/benches/tls.rs`.
//!
//! [`PeerIdentity`]: crate::PeerIdentity

use std::fmt;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    ClientConfig, ConfigBuilder, DigitallySignedStruct, DistinguishedName, ServerConfig,
    SignatureScheme, WantsVerifier,
};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use crate::peer::PeerSlot;
use crate::verify::{SpiffeClientVerifier, SpiffeServerVerifier};

/// A shared verifier that puts what it accepts into one connection's slot.
pub(crate) struct Reporting<V> {
    shared: Arc<V>,
    slot: PeerSlot,
}

impl<V> Reporting<V> {
    pub(crate) fn new(shared: Arc<V>, slot: PeerSlot) -> Self {
        Self { shared, slot }
    }
}

/// The shared verifier's, so a per-connection configuration prints as the shared one.
impl<V: fmt::Debug> fmt::Debug for Reporting<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.shared.fmt(f)
    }
}

impl ServerCertVerifier for Reporting<SpiffeServerVerifier> {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verified = self
            .shared
            .verify_for_rustls(end_entity, intermediates, now)?;
        self.slot.fill(verified);
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        ServerCertVerifier::verify_tls12_signature(&*self.shared, message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        ServerCertVerifier::verify_tls13_signature(&*self.shared, message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        ServerCertVerifier::supported_verify_schemes(&*self.shared)
    }

    fn requires_raw_public_keys(&self) -> bool {
        ServerCertVerifier::requires_raw_public_keys(&*self.shared)
    }

    fn root_hint_subjects(&self) -> Option<&[DistinguishedName]> {
        ServerCertVerifier::root_hint_subjects(&*self.shared)
    }
}

impl ClientCertVerifier for Reporting<SpiffeClientVerifier> {
    fn offer_client_auth(&self) -> bool {
        self.shared.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.shared.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        ClientCertVerifier::root_hint_subjects(&*self.shared)
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self
            .shared
            .verify_for_rustls(end_entity, intermediates, now)?;
        self.slot.fill(verified);
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        ClientCertVerifier::verify_tls12_signature(&*self.shared, message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        ClientCertVerifier::verify_tls13_signature(&*self.shared, message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        ClientCertVerifier::supported_verify_schemes(&*self.shared)
    }

    fn requires_raw_public_keys(&self) -> bool {
        ClientCertVerifier::requires_raw_public_keys(&*self.shared)
    }
}

/// A rustls server configuration of this crate, and the recipe for one per connection whose
/// client verifier reports to that connection: what [`SpiffeTls`](crate::SpiffeTls)'s server
/// methods return and [`SpiffeAcceptor`](crate::net::SpiffeAcceptor) takes.
///
/// [`for_connection`](Self::for_connection) gives a connection its `ServerConfig` and the
/// [`PeerSlot`] to read its client's [`PeerIdentity`](crate::PeerIdentity) from.
/// [`config`](Self::config) is the shared configuration, for settings and for connections
/// that need no peer identity. Settings changed through [`config_mut`](Self::config_mut)
/// (ALPN, key log, fragment size, resumption, ...) apply to every configuration derived
/// afterwards. A plain `ServerConfig` converts too (`From`): its connections then report no
/// peer identity. Clone is cheap.
///
/// ```
/// use std::sync::Arc;
/// use ca::TestCa;
/// use spiffe_id::IdMatcher;
/// use tls_integration::{PeerIdentity, SpiffeTls};
///
/// let ca = TestCa::new("prod.example");
/// let tls = SpiffeTls::new(svid::Crypto::default());
/// let server = tls.mtls_server(
///     Arc::new(Arc::new(ca.x509_svid("/ns/payments/db"))),
///     Arc::new(ca.bundle_set()),
///     IdMatcher::pattern("spiffe://prod.example/ns/payments/*")?,
/// )?;
///
/// // Per accepted connection:
/// let (config, peer) = server.for_connection();
/// let connection = rustls::ServerConnection::new(config)?;
/// // ... drive the handshake, then:
/// let identity = PeerIdentity::from_connection(&connection, &peer);
/// assert!(identity.is_err(), "the handshake has not run");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct SpiffeServerConfig {
    shared: Arc<ServerConfig>,
    per_connection: Option<Arc<ServerRecipe>>,
}

/// What a fresh `ServerConfig` needs that a built one does not give back: rustls keeps the
/// protocol versions and the client verifier private, and offers no setter for the verifier.
#[derive(Debug)]
struct ServerRecipe {
    builder: ConfigBuilder<ServerConfig, WantsVerifier>,
    verifier: Arc<SpiffeClientVerifier>,
}

impl SpiffeServerConfig {
    /// `shared`, whose client verifier is `verifier`, built from `builder` (with the same
    /// provider and protocol versions).
    pub(crate) fn new(
        shared: ServerConfig,
        builder: ConfigBuilder<ServerConfig, WantsVerifier>,
        verifier: Option<Arc<SpiffeClientVerifier>>,
    ) -> Self {
        Self {
            shared: Arc::new(shared),
            per_connection: verifier.map(|verifier| Arc::new(ServerRecipe { builder, verifier })),
        }
    }

    /// The configuration for one connection, and the slot its client verifier fills: the
    /// shared configuration with a client verifier of its own.
    /// [`PeerIdentity::from_connection`](crate::PeerIdentity::from_connection) reads the slot
    /// once the handshake is done. Use each configuration for one connection only (a second
    /// connection empties the slot). Without a SPIFFE client verifier (a TLS-only server, a
    /// converted `ServerConfig`) it is the shared configuration and an empty slot.
    pub fn for_connection(&self) -> (Arc<ServerConfig>, PeerSlot) {
        let Some(recipe) = &self.per_connection else {
            return (Arc::clone(&self.shared), PeerSlot::empty());
        };
        let (verifier, slot) = recipe.verifier.for_connection();
        let shared = &*self.shared;
        let mut config = recipe
            .builder
            .clone()
            .with_client_cert_verifier(verifier)
            .with_cert_resolver(Arc::clone(&shared.cert_resolver));
        // Every public field of rustls 0.23's ServerConfig; the private ones (provider,
        // versions) come from the builder. A field added by rustls would keep its default:
        // the test `per_connection_configs_equal_the_shared_one` compares the Debug output of
        // both configurations, field by field, and fails then.
        config.ignore_client_order = shared.ignore_client_order;
        config.max_fragment_size = shared.max_fragment_size;
        config.session_storage = Arc::clone(&shared.session_storage);
        config.ticketer = Arc::clone(&shared.ticketer);
        config.alpn_protocols.clone_from(&shared.alpn_protocols);
        config.key_log = Arc::clone(&shared.key_log);
        config.enable_secret_extraction = shared.enable_secret_extraction;
        config.max_early_data_size = shared.max_early_data_size;
        config.send_half_rtt_data = shared.send_half_rtt_data;
        config.send_tls13_tickets = shared.send_tls13_tickets;
        config.max_tls13_tickets = shared.max_tls13_tickets;
        config.require_ems = shared.require_ems;
        config.time_provider = Arc::clone(&shared.time_provider);
        config.cert_compressors.clone_from(&shared.cert_compressors);
        config.cert_compression_cache = Arc::clone(&shared.cert_compression_cache);
        config
            .cert_decompressors
            .clone_from(&shared.cert_decompressors);
        (Arc::new(config), slot)
    }

    /// The shared configuration. Its connections report no peer identity: use
    /// [`for_connection`](Self::for_connection) for that.
    pub fn config(&self) -> &Arc<ServerConfig> {
        &self.shared
    }

    /// The shared configuration, to change settings for the connections derived afterwards.
    pub fn config_mut(&mut self) -> &mut ServerConfig {
        Arc::make_mut(&mut self.shared)
    }
}

/// A configuration whose connections report no peer identity (no SPIFFE client verifier).
impl From<ServerConfig> for SpiffeServerConfig {
    fn from(config: ServerConfig) -> Self {
        Arc::new(config).into()
    }
}

/// As `From<ServerConfig>`.
impl From<Arc<ServerConfig>> for SpiffeServerConfig {
    fn from(shared: Arc<ServerConfig>) -> Self {
        Self {
            shared,
            per_connection: None,
        }
    }
}

/// The same configuration (a cheap clone), so `Arc::new(config)` works where one is taken.
impl From<Arc<Self>> for SpiffeServerConfig {
    fn from(config: Arc<Self>) -> Self {
        (*config).clone()
    }
}

/// A rustls client configuration of this crate, and one per connection whose server verifier
/// reports to that connection: what [`SpiffeTls`](crate::SpiffeTls)'s client methods return
/// and [`SpiffeConnector`](crate::net::SpiffeConnector) takes. The client side of
/// [`SpiffeServerConfig`], with the same methods. Clone is cheap.
#[derive(Clone, Debug)]
pub struct SpiffeClientConfig {
    shared: Arc<ClientConfig>,
    verifier: Option<Arc<SpiffeServerVerifier>>,
}

impl SpiffeClientConfig {
    /// `shared`, whose server verifier is `verifier`.
    pub(crate) fn new(shared: ClientConfig, verifier: Option<Arc<SpiffeServerVerifier>>) -> Self {
        Self {
            shared: Arc::new(shared),
            verifier,
        }
    }

    /// The configuration for one connection (a clone of the shared one with a server
    /// verifier of its own), and the slot that verifier fills; see
    /// [`SpiffeServerConfig::for_connection`].
    pub fn for_connection(&self) -> (Arc<ClientConfig>, PeerSlot) {
        let Some(shared_verifier) = &self.verifier else {
            return (Arc::clone(&self.shared), PeerSlot::empty());
        };
        let (verifier, slot) = shared_verifier.for_connection();
        let mut config = (*self.shared).clone();
        config.dangerous().set_certificate_verifier(verifier);
        (Arc::new(config), slot)
    }

    /// The shared configuration. Its connections report no peer identity: use
    /// [`for_connection`](Self::for_connection) for that.
    pub fn config(&self) -> &Arc<ClientConfig> {
        &self.shared
    }

    /// The shared configuration, to change settings for the connections derived afterwards.
    pub fn config_mut(&mut self) -> &mut ClientConfig {
        Arc::make_mut(&mut self.shared)
    }
}

/// A configuration whose connections report no peer identity (no SPIFFE server verifier).
impl From<ClientConfig> for SpiffeClientConfig {
    fn from(config: ClientConfig) -> Self {
        Arc::new(config).into()
    }
}

/// As `From<ClientConfig>`.
impl From<Arc<ClientConfig>> for SpiffeClientConfig {
    fn from(shared: Arc<ClientConfig>) -> Self {
        Self {
            shared,
            verifier: None,
        }
    }
}

/// The same configuration (a cheap clone), so `Arc::new(config)` works where one is taken.
impl From<Arc<Self>> for SpiffeClientConfig {
    fn from(config: Arc<Self>) -> Self {
        (*config).clone()
    }
}

/// Here rather than in `verify.rs`, so that module never imports this one.
impl SpiffeServerVerifier {
    /// A verifier for **one** connection, and the [`PeerSlot`] where it puts the server it
    /// accepted: build that connection's `ClientConfig` with it
    /// (`.dangerous().with_custom_certificate_verifier(..)`, or `set_certificate_verifier` on
    /// a clone of a shared config), then read the server's identity with
    /// [`PeerIdentity::from_connection`](crate::PeerIdentity::from_connection). It verifies
    /// exactly as `self` does. [`SpiffeClientConfig::for_connection`] does this for the
    /// configurations of [`SpiffeTls`](crate::SpiffeTls).
    ///
    /// [`SpiffeClientConfig::for_connection`]: crate::SpiffeClientConfig::for_connection
    pub fn for_connection(self: &Arc<Self>) -> (Arc<dyn ServerCertVerifier>, PeerSlot) {
        let slot = PeerSlot::empty();
        let verifier = Reporting::new(Arc::clone(self), slot.clone());
        (Arc::new(verifier), slot)
    }
}

/// Here rather than in `verify.rs`, so that module never imports this one.
impl SpiffeClientVerifier {
    /// A verifier for **one** connection, and the [`PeerSlot`] where it puts the client it
    /// accepted: build that connection's `ServerConfig` with it
    /// (`.with_client_cert_verifier(..)`), then read the client's identity with
    /// [`PeerIdentity::from_connection`](crate::PeerIdentity::from_connection). It verifies
    /// exactly as `self` does. [`SpiffeServerConfig::for_connection`] does this for the
    /// configurations of [`SpiffeTls`](crate::SpiffeTls).
    ///
    /// [`SpiffeServerConfig::for_connection`]: crate::SpiffeServerConfig::for_connection
    pub fn for_connection(self: &Arc<Self>) -> (Arc<dyn ClientCertVerifier>, PeerSlot) {
        let slot = PeerSlot::empty();
        let verifier = Reporting::new(Arc::clone(self), slot.clone());
        (Arc::new(verifier), slot)
    }
}
