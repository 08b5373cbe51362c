//! [`SpiffeTls`]: rustls client and server configurations for every SPIFFE TLS mode.

use std::sync::Arc;

use rustls::client::Resumption;
use rustls::server::{NoServerSessionStorage, ResolvesServerCert};
use rustls::{ClientConfig, RootCertStore, ServerConfig, SupportedProtocolVersion};
use svid::{Crypto, X509SvidSource};
use trust_bundle::X509BundleSource;

use crate::authorize::Authorizer;
use crate::connection::{SpiffeClientConfig, SpiffeServerConfig};
use crate::error::Error;
use crate::resolve::SvidResolver;
use crate::verify::{SpiffeClientVerifier, SpiffeServerVerifier};

/// Builds rustls configurations that authenticate with SVIDs, for the six modes of go-spiffe's
/// `tlsconfig`.
///
/// | method | we present | we verify the peer with |
/// |---|---|---|
/// | [`mtls_client`](Self::mtls_client) | our SVID | its SVID + an [`Authorizer`] |
/// | [`tls_client`](Self::tls_client) | nothing | its SVID + an [`Authorizer`] |
/// | [`mtls_web_client`](Self::mtls_web_client) | our SVID | WebPKI roots and its DNS name |
/// | [`mtls_server`](Self::mtls_server) | our SVID | its SVID + an [`Authorizer`] (mandatory) |
/// | [`tls_server`](Self::tls_server) | our SVID | nothing (no client certificate asked) |
/// | [`mtls_web_server`](Self::mtls_web_server) | a WebPKI certificate | its SVID + an [`Authorizer`] |
///
/// Every configuration is built with `builder_with_provider` on the rustls provider of the
/// `svid::Crypto` given to [`SpiffeTls::new`] (TLS 1.3 and 1.2 unless [`SpiffeTls::with_protocol_versions`] says
/// otherwise); nothing reads or installs a process-wide provider.
/// SVIDs come from an [`X509SvidSource`] through a [`SvidResolver`] and bundles from an
/// [`X509BundleSource`] at each handshake, so rotations of either take effect on the next
/// handshake without building a new configuration.
///
/// Each method returns a [`SpiffeServerConfig`] or [`SpiffeClientConfig`]: the shared rustls
/// configuration, from which every connection derives its own
/// ([`for_connection`](SpiffeServerConfig::for_connection)) so that its
/// [`PeerIdentity`](crate::PeerIdentity) is what its own verifier accepted.
///
/// # Session resumption is off
///
/// A resumed TLS session skips certificate verification, so it could outlive the peer's SVID,
/// a bundle change or a change of authorizer. These configurations never resume: servers keep
/// no session cache and issue no tickets, clients store no sessions. Every connection runs a
/// full handshake with verification and authorization. Turning resumption back on (through
/// `config_mut`) is the caller's decision: a resumed connection then reports **no** peer
/// identity ([`Error::NoPeerIdentity`]), since no verifier ran for it, so identity-based
/// authorization refuses it (fail closed). (A client with per-connection configurations does
/// not resume anyway: rustls resumes only with the verifier that verified the session.)
///
/// ```
/// use std::sync::Arc;
/// use ca::TestCa;
/// use spiffe_id::IdMatcher;
/// use tls_integration::SpiffeTls;
///
/// let ca = TestCa::new("prod.example"); // in production: a Workload API source
/// let bundles = Arc::new(ca.bundle_set());
/// let tls = SpiffeTls::new(svid::Crypto::default());
///
/// let server = tls.mtls_server(
///     Arc::new(Arc::new(ca.x509_svid("/ns/payments/db"))),
///     bundles.clone(),
///     IdMatcher::pattern("spiffe://prod.example/ns/payments/*")?,
/// )?;
/// let client = tls.mtls_client(
///     Arc::new(Arc::new(ca.x509_svid("/ns/payments/api"))),
///     bundles,
///     IdMatcher::exact(ca.id("/ns/payments/db")),
/// )?;
/// # let _ = (server, client);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct SpiffeTls {
    crypto: Crypto,
    result_cache: Option<usize>,
    versions: &'static [&'static SupportedProtocolVersion],
    alpn: Vec<Vec<u8>>,
}

impl SpiffeTls {
    /// Configurations that use `crypto`'s rustls provider for key exchange, signatures and
    /// certificate verification: the application's one [`Crypto`], as `svid`, `ca` and
    /// `workload-client` take it.
    pub fn new(crypto: Crypto) -> Self {
        Self {
            crypto,
            result_cache: None,
            versions: rustls::DEFAULT_VERSIONS,
            alpn: Vec::new(),
        }
    }

    /// Advertises `protocols` with ALPN (RFC 7301) in the configurations built afterwards, most
    /// preferred first; the default is none, and then configurations carry no ALPN extension
    /// (as before this option existed).
    ///
    /// An HTTPS server that should speak HTTP/2 and HTTP/1.1 uses `["h2", "http/1.1"]`
    /// (`hyper::serve`, feature `hyper`, picks the protocol from ALPN); a client that wants
    /// HTTP/2 through `net::SpiffeConnector` uses `["h2"]` or `["h2", "http/1.1"]`. A rustls
    /// server that advertises protocols refuses a client that offers ALPN but none of them
    /// (`no_application_protocol`); clients that offer no ALPN are still served (with
    /// HTTP/1.1 by `hyper::serve`).
    ///
    /// ```
    /// use tls_integration::SpiffeTls;
    ///
    /// let http = SpiffeTls::new(svid::Crypto::default())
    ///     .with_alpn_protocols(["h2", "http/1.1"]);
    /// # let _ = http;
    /// ```
    #[must_use]
    pub fn with_alpn_protocols<I, P>(mut self, protocols: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<Vec<u8>>,
    {
        self.alpn = protocols.into_iter().map(Into::into).collect();
        self
    }

    /// Restricts the TLS versions of the configurations built afterwards (default: TLS 1.3
    /// and TLS 1.2, rustls' safe defaults).
    #[must_use]
    pub fn with_protocol_versions(
        mut self,
        versions: &'static [&'static SupportedProtocolVersion],
    ) -> Self {
        self.versions = versions;
        self
    }

    /// Verifiers of the configurations built afterwards remember up to `capacity` chain
    /// verification results ([`SpiffeServerVerifier::with_result_cache`]): a repeat peer
    /// costs no chain validation while its chain, the bundles and the validity window are
    /// unchanged. Authorization and handshake signatures still run on every handshake.
    #[must_use]
    pub fn with_result_cache(mut self, capacity: usize) -> Self {
        self.result_cache = Some(capacity);
        self
    }

    /// The crypto (its rustls provider: [`Crypto::provider`]).
    pub fn crypto(&self) -> &Crypto {
        &self.crypto
    }

    /// The verifier a client uses to authenticate SPIFFE servers.
    pub fn server_verifier(
        &self,
        bundles: Arc<dyn X509BundleSource>,
        authorizer: impl Authorizer + 'static,
    ) -> SpiffeServerVerifier {
        let verifier = SpiffeServerVerifier::new(bundles, authorizer, &self.crypto);
        match self.result_cache {
            Some(capacity) => verifier.with_result_cache(capacity),
            None => verifier,
        }
    }

    /// The verifier a server uses to authenticate SPIFFE clients.
    pub fn client_verifier(
        &self,
        bundles: Arc<dyn X509BundleSource>,
        authorizer: impl Authorizer + 'static,
    ) -> SpiffeClientVerifier {
        let verifier = SpiffeClientVerifier::new(bundles, authorizer, &self.crypto);
        match self.result_cache {
            Some(capacity) => verifier.with_result_cache(capacity),
            None => verifier,
        }
    }

    /// A client that presents its SVID and accepts servers whose SVID verifies and whom
    /// `authorizer` accepts.
    ///
    /// # Errors
    /// [`Error::Config`] when the provider supports neither TLS 1.2 nor TLS 1.3.
    pub fn mtls_client(
        &self,
        svids: Arc<dyn X509SvidSource>,
        bundles: Arc<dyn X509BundleSource>,
        authorizer: impl Authorizer + 'static,
    ) -> Result<SpiffeClientConfig, Error> {
        let verifier = Arc::new(self.server_verifier(bundles, authorizer));
        let mut config = self
            .client_builder()?
            .dangerous()
            .with_custom_certificate_verifier(verifier.clone())
            .with_client_cert_resolver(Arc::new(SvidResolver::new(svids)));
        self.finish_client(&mut config);
        Ok(SpiffeClientConfig::new(config, Some(verifier)))
    }

    /// A client that presents no certificate and accepts servers whose SVID verifies and whom
    /// `authorizer` accepts.
    ///
    /// # Errors
    /// As [`mtls_client`](Self::mtls_client).
    pub fn tls_client(
        &self,
        bundles: Arc<dyn X509BundleSource>,
        authorizer: impl Authorizer + 'static,
    ) -> Result<SpiffeClientConfig, Error> {
        let verifier = Arc::new(self.server_verifier(bundles, authorizer));
        let mut config = self
            .client_builder()?
            .dangerous()
            .with_custom_certificate_verifier(verifier.clone())
            .with_no_client_auth();
        self.finish_client(&mut config);
        Ok(SpiffeClientConfig::new(config, Some(verifier)))
    }

    /// A client that presents its SVID to a server with an ordinary WebPKI certificate,
    /// verified against `roots` and the server name the client connects to.
    ///
    /// # Errors
    /// As [`mtls_client`](Self::mtls_client).
    pub fn mtls_web_client(
        &self,
        svids: Arc<dyn X509SvidSource>,
        roots: Arc<RootCertStore>,
    ) -> Result<SpiffeClientConfig, Error> {
        let mut config = self
            .client_builder()?
            .with_root_certificates(roots)
            .with_client_cert_resolver(Arc::new(SvidResolver::new(svids)));
        self.finish_client(&mut config);
        Ok(SpiffeClientConfig::new(config, None))
    }

    /// A server that presents its SVID, requires a client SVID, and accepts the clients
    /// `authorizer` accepts.
    ///
    /// # Errors
    /// As [`mtls_client`](Self::mtls_client).
    pub fn mtls_server(
        &self,
        svids: Arc<dyn X509SvidSource>,
        bundles: Arc<dyn X509BundleSource>,
        authorizer: impl Authorizer + 'static,
    ) -> Result<SpiffeServerConfig, Error> {
        let verifier = Arc::new(self.client_verifier(bundles, authorizer));
        let resolver = SvidResolver::new(svids);
        let builder = self.server_builder()?;
        let mut config = builder
            .clone()
            .with_client_cert_verifier(verifier.clone())
            .with_cert_resolver(Arc::new(resolver));
        self.finish_server(&mut config);
        Ok(SpiffeServerConfig::new(config, builder, Some(verifier)))
    }

    /// As [`mtls_server`](Self::mtls_server), but a client without a certificate completes the
    /// handshake too, with no peer identity (see
    /// [`SpiffeClientVerifier::allow_unauthenticated`]): for a service with one call that
    /// gives clients their identity and others that require it.
    ///
    /// # Errors
    /// As [`mtls_client`](Self::mtls_client).
    pub fn mtls_server_allowing_anonymous(
        &self,
        svids: Arc<dyn X509SvidSource>,
        bundles: Arc<dyn X509BundleSource>,
        authorizer: impl Authorizer + 'static,
    ) -> Result<SpiffeServerConfig, Error> {
        let verifier = Arc::new(
            self.client_verifier(bundles, authorizer)
                .allow_unauthenticated(),
        );
        let resolver = SvidResolver::new(svids);
        let builder = self.server_builder()?;
        let mut config = builder
            .clone()
            .with_client_cert_verifier(verifier.clone())
            .with_cert_resolver(Arc::new(resolver));
        self.finish_server(&mut config);
        Ok(SpiffeServerConfig::new(config, builder, Some(verifier)))
    }

    /// A server that presents its SVID and does not ask clients for a certificate.
    ///
    /// # Errors
    /// As [`mtls_client`](Self::mtls_client).
    pub fn tls_server(&self, svids: Arc<dyn X509SvidSource>) -> Result<SpiffeServerConfig, Error> {
        let resolver = SvidResolver::new(svids);
        let mut config = self
            .server_builder()?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(resolver));
        self.finish_server(&mut config);
        Ok(config.into())
    }

    /// A server that presents an ordinary WebPKI certificate (from `certificate`), requires a
    /// client SVID, and accepts the clients `authorizer` accepts.
    ///
    /// # Errors
    /// As [`mtls_client`](Self::mtls_client).
    pub fn mtls_web_server(
        &self,
        certificate: Arc<dyn ResolvesServerCert>,
        bundles: Arc<dyn X509BundleSource>,
        authorizer: impl Authorizer + 'static,
    ) -> Result<SpiffeServerConfig, Error> {
        let verifier = Arc::new(self.client_verifier(bundles, authorizer));
        let builder = self.server_builder()?;
        let mut config = builder
            .clone()
            .with_client_cert_verifier(verifier.clone())
            .with_cert_resolver(certificate);
        self.finish_server(&mut config);
        Ok(SpiffeServerConfig::new(config, builder, Some(verifier)))
    }

    /// What every client configuration gets: no resumption, our ALPN list.
    fn finish_client(&self, config: &mut ClientConfig) {
        no_client_resumption(config);
        config.alpn_protocols.clone_from(&self.alpn);
    }

    /// What every server configuration gets: no resumption, our ALPN list.
    fn finish_server(&self, config: &mut ServerConfig) {
        no_server_resumption(config);
        config.alpn_protocols.clone_from(&self.alpn);
    }

    fn client_builder(
        &self,
    ) -> Result<rustls::ConfigBuilder<ClientConfig, rustls::WantsVerifier>, Error> {
        ClientConfig::builder_with_provider(Arc::clone(self.crypto.provider()))
            .with_protocol_versions(self.versions)
            .map_err(Error::Config)
    }

    fn server_builder(
        &self,
    ) -> Result<rustls::ConfigBuilder<ServerConfig, rustls::WantsVerifier>, Error> {
        ServerConfig::builder_with_provider(Arc::clone(self.crypto.provider()))
            .with_protocol_versions(self.versions)
            .map_err(Error::Config)
    }
}

/// No session cache, no tickets: resumption would skip verification (see [`SpiffeTls`]).
fn no_client_resumption(config: &mut ClientConfig) {
    config.resumption = Resumption::disabled();
    config.enable_early_data = false;
}

/// No stateful session cache and no TLS 1.3 tickets (the default ticketer already issues no
/// TLS 1.2 tickets).
fn no_server_resumption(config: &mut ServerConfig) {
    config.session_storage = Arc::new(NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    config.max_early_data_size = 0;
}
