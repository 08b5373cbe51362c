//! The rustls verifiers: [`SpiffeServerVerifier`] (used by clients) and
//! [`SpiffeClientVerifier`] (used by servers).

use std::fmt;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use svid::{Crypto, Usage, VerifiedX509Svid, X509Verifier};
use trust_bundle::X509BundleSource;

use crate::authorize::Authorizer;
use crate::error::Error;

/// The part both verifiers share: X.509-SVID verification against the bundle of the peer's
/// own trust domain, then the authorizer, then (per handshake) the signature check with the
/// provider's algorithms.
struct PeerVerifier {
    svids: X509Verifier<Arc<dyn X509BundleSource>>,
    authorizer: Arc<dyn Authorizer>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl PeerVerifier {
    fn new(
        bundles: Arc<dyn X509BundleSource>,
        authorizer: Arc<dyn Authorizer>,
        crypto: &Crypto,
        usage: Usage,
    ) -> Self {
        Self {
            svids: X509Verifier::new(bundles, crypto).with_usage(usage),
            algorithms: crypto.provider().signature_verification_algorithms,
            authorizer,
        }
    }

    fn verify(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<VerifiedX509Svid, Error> {
        let mut chain = Vec::with_capacity(1 + intermediates.len());
        chain.push(CertificateDer::from(end_entity.as_ref()));
        chain.extend(
            intermediates
                .iter()
                .map(|c| CertificateDer::from(c.as_ref())),
        );
        let verified = self.svids.verify(&chain, now).map_err(Error::Verify)?;
        self.authorizer
            .authorize(&verified)
            .map_err(|reason| Error::Unauthorized {
                spiffe_id: verified.spiffe_id().clone(),
                reason,
            })?;
        Ok(verified)
    }

    /// [`verify`](Self::verify) for rustls: a refusal becomes the `CertificateError` of its
    /// precise alert, its typed reason recorded for [`Error::take_refusal`].
    fn verify_for_rustls(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<VerifiedX509Svid, rustls::Error> {
        crate::refusal::clear();
        self.verify(end_entity, intermediates, now)
            .map_err(|reason| crate::refusal::refuse(reason, now, &self.algorithms))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        // A bad handshake signature is rustls' own `BadSignature`, with no recorded reason.
        crate::refusal::clear();
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        crate::refusal::clear();
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Verifies a **server's** X.509-SVID for a rustls client, then runs an [`Authorizer`].
///
/// The chain is verified by `svid` against the bundle of the server's own trust domain, taken
/// from the bundle source at each handshake, so bundle updates apply to the next handshake.
/// There is no hostname check: the `ServerName` a client connects with is ignored (SVIDs name
/// workloads by SPIFFE ID, not by DNS name). Handshake signatures are verified with the
/// algorithms of the `svid::Crypto` given here (its rustls provider's).
///
/// ```
/// use std::sync::Arc;
/// use spiffe_id::IdMatcher;
/// use trust_bundle::BundleSet;
/// use tls_integration::SpiffeServerVerifier;
///
/// let verifier = SpiffeServerVerifier::new(
///     Arc::new(BundleSet::new()),
///     IdMatcher::exact("spiffe://prod.example/ns/payments/sa/db".parse()?),
///     &svid::Crypto::default(),
/// )
/// .with_result_cache(1024);
/// # let _ = verifier;
/// # Ok::<(), spiffe_id::Error>(())
/// ```
pub struct SpiffeServerVerifier {
    inner: PeerVerifier,
}

impl SpiffeServerVerifier {
    /// A verifier of server SVIDs against `bundles`, accepting the servers `authorizer` accepts.
    pub fn new(
        bundles: Arc<dyn X509BundleSource>,
        authorizer: impl Authorizer + 'static,
        crypto: &Crypto,
    ) -> Self {
        Self {
            inner: PeerVerifier::new(bundles, Arc::new(authorizer), crypto, Usage::ServerAuth),
        }
    }

    /// Remembers up to `capacity` chain verification results (`svid`'s
    /// [`X509Verifier::with_result_cache`]): a server seen before costs no chain
    /// validation while its chain, the bundles and its validity are unchanged. The authorizer
    /// and the handshake signature check still run on every handshake.
    #[must_use]
    pub fn with_result_cache(mut self, capacity: usize) -> Self {
        self.inner.svids = self.inner.svids.with_result_cache(capacity);
        self
    }

    /// Verifies `end_entity` and `intermediates` as a server SVID at `now`, as a handshake
    /// would, and returns the verified SVID.
    ///
    /// # Errors
    /// [`Error::Verify`] when the chain is not a valid SVID of a known trust domain,
    /// [`Error::Unauthorized`] when the authorizer refuses it.
    pub fn verify(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<VerifiedX509Svid, Error> {
        self.inner.verify(end_entity, intermediates, now)
    }

    /// What the handshake's verification returned, for the per-connection wrapper.
    pub(crate) fn verify_for_rustls(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<VerifiedX509Svid, rustls::Error> {
        self.inner.verify_for_rustls(end_entity, intermediates, now)
    }
}

impl fmt::Debug for SpiffeServerVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpiffeServerVerifier")
            .field("verifier", &self.inner.svids)
            .finish_non_exhaustive()
    }
}

impl ServerCertVerifier for SpiffeServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // A shared verifier has no connection to report to: see `for_connection`.
        self.inner
            .verify_for_rustls(end_entity, intermediates, now)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Verifies a **client's** X.509-SVID for a rustls server, then runs an [`Authorizer`].
///
/// A client certificate is mandatory. The chain is verified by `svid` against the bundle of the
/// client's own trust domain, taken from the bundle source at each handshake. The server sends
/// no certificate authority names in its request (`root_hint_subjects` is empty): bundles
/// change at run time and SPIFFE clients choose their SVID without them.
///
/// ```
/// use std::sync::Arc;
/// use spiffe_id::IdMatcher;
/// use trust_bundle::BundleSet;
/// use tls_integration::SpiffeClientVerifier;
///
/// let verifier = SpiffeClientVerifier::new(
///     Arc::new(BundleSet::new()),
///     IdMatcher::pattern("spiffe://prod.example/ns/payments/*")?,
///     &svid::Crypto::default(),
/// );
/// # let _ = verifier;
/// # Ok::<(), spiffe_id::Error>(())
/// ```
pub struct SpiffeClientVerifier {
    inner: PeerVerifier,
    /// Whether a client without a certificate completes the handshake (with no identity).
    optional: bool,
}

impl SpiffeClientVerifier {
    /// A verifier of client SVIDs against `bundles`, accepting the clients `authorizer` accepts.
    pub fn new(
        bundles: Arc<dyn X509BundleSource>,
        authorizer: impl Authorizer + 'static,
        crypto: &Crypto,
    ) -> Self {
        Self {
            inner: PeerVerifier::new(bundles, Arc::new(authorizer), crypto, Usage::ClientAuth),
            optional: false,
        }
    }

    /// Lets clients without a certificate complete the handshake; they have no
    /// [`PeerIdentity`](crate::PeerIdentity), so the application must refuse whatever needs
    /// one. A client that sends a certificate is still verified and refused if it fails. For
    /// services where one call bootstraps the identity the others need (node attestation).
    #[must_use]
    pub fn allow_unauthenticated(mut self) -> Self {
        self.optional = true;
        self
    }

    /// Remembers up to `capacity` chain verification results; see
    /// [`SpiffeServerVerifier::with_result_cache`].
    #[must_use]
    pub fn with_result_cache(mut self, capacity: usize) -> Self {
        self.inner.svids = self.inner.svids.with_result_cache(capacity);
        self
    }

    /// Verifies `end_entity` and `intermediates` as a client SVID at `now`, as a handshake
    /// would, and returns the verified SVID.
    ///
    /// # Errors
    /// As [`SpiffeServerVerifier::verify`].
    pub fn verify(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<VerifiedX509Svid, Error> {
        self.inner.verify(end_entity, intermediates, now)
    }

    /// What the handshake's verification returned, for the per-connection wrapper.
    pub(crate) fn verify_for_rustls(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<VerifiedX509Svid, rustls::Error> {
        self.inner.verify_for_rustls(end_entity, intermediates, now)
    }
}

impl fmt::Debug for SpiffeClientVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpiffeClientVerifier")
            .field("verifier", &self.inner.svids)
            .finish_non_exhaustive()
    }
}

impl ClientCertVerifier for SpiffeClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        !self.optional
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        // A shared verifier has no connection to report to: see `for_connection`.
        self.inner
            .verify_for_rustls(end_entity, intermediates, now)?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
