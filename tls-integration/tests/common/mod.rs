//! Shared helpers for the tls-integration tests: a small PKI per trust domain minted once per
//! test binary with test-support's rcgen builder, swappable SVID and bundle sources, an in-memory handshake driver and
//! a real-socket echo server.

#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test binary uses a different subset of these helpers"
)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs,
    clippy::result_large_err,
    clippy::vec_init_then_push,
    reason = "test helpers: a panic here is a failed test"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use arc_swap::ArcSwap;
use rcgen::CertificateParams;
use rustls::{ClientConfig, ClientConnection, ServerConfig, ServerConnection};
use rustls_pki_types::{CertificateDer, ServerName};
use spiffe_id::TrustDomain;
use svid::{Crypto, PrivateKey, X509Svid, X509SvidSource};
use test_support::jwt::Es256Key;
use test_support::x509::{self, Ca, Validity};
use tls_integration::{PeerIdentity, PeerSlot, SpiffeClientConfig, SpiffeServerConfig};
use trust_bundle::{BundleSet, SpiffeBundle, X509Bundle, X509BundleSource};

/// The providers every backend-dependent test runs with.
pub fn providers() -> Vec<(&'static str, Crypto)> {
    let mut all = Vec::new();
    #[cfg(feature = "ring")]
    all.push(("ring", Crypto::ring()));
    #[cfg(feature = "aws-lc-rs")]
    all.push(("aws-lc-rs", Crypto::aws_lc_rs()));
    assert!(!all.is_empty(), "tests need the ring or aws-lc-rs feature");
    all
}

pub fn provider() -> Crypto {
    providers().remove(0).1
}

/// A trust domain's certificate authority (root, optionally with an intermediate), minted with
/// test-support's builder (SPIRE's profile).
pub struct Authority {
    pub trust_domain: TrustDomain,
    pub root: CertificateDer<'static>,
    /// The CA that signs leaves.
    issuer: Ca,
    /// The issuing CA's own chain above the leaf (empty when the root signs leaves).
    pub intermediates: Vec<CertificateDer<'static>>,
}

/// Validity used for "good" certificates: wide, so tests that use the real clock (sockets,
/// openssl, Go) never see them expire.
pub fn good() -> Validity {
    Validity::dates((2020, 1, 1), (2099, 1, 1))
}

/// Sets [`good`] on certificate parameters.
pub fn good_validity(params: &mut CertificateParams) {
    good().apply(params);
}

impl Authority {
    /// A root CA for `trust_domain` that signs leaves directly.
    pub fn new(trust_domain: &str) -> Self {
        let issuer = Ca::builder(trust_domain)
            .common_name(&format!("{trust_domain} root"))
            .validity(good())
            .build();
        Self {
            trust_domain: trust_domain.parse().unwrap(),
            root: issuer.cert.clone(),
            issuer,
            intermediates: Vec::new(),
        }
    }

    /// An intermediate CA under this authority named `spiffe_uri` (which may belong to another
    /// trust domain: that is the cross-domain attack).
    pub fn intermediate(&self, spiffe_uri: &str) -> Self {
        let issuer = self
            .issuer
            .issue_ca("intermediate")
            .build_with(|p| p.subject_alt_names = vec![x509::uri(spiffe_uri)]);
        let mut intermediates = vec![issuer.cert.clone()];
        intermediates.extend(self.intermediates.iter().cloned());
        Self {
            trust_domain: self.trust_domain.clone(),
            root: self.root.clone(),
            issuer,
            intermediates,
        }
    }

    pub fn bundle(&self) -> X509Bundle {
        X509Bundle::from_certificates(self.trust_domain.clone(), [self.root.clone()]).unwrap()
    }

    /// A leaf SVID for the URI `id` (which may be in another trust domain), with `edit`
    /// applied to the leaf parameters.
    pub fn svid_with(&self, id: &str, edit: impl FnOnce(&mut CertificateParams)) -> Arc<X509Svid> {
        let (chain, key) = self.leaf_with(id, edit);
        let key = PrivateKey::from_pkcs8_der(&key, &Crypto::default()).unwrap();
        Arc::new(X509Svid::new(chain, key).unwrap())
    }

    /// A leaf chain and PKCS#8 key without X.509-SVID checks (for invalid leaves).
    pub fn leaf_with(
        &self,
        id: &str,
        edit: impl FnOnce(&mut CertificateParams),
    ) -> (Vec<CertificateDer<'static>>, Vec<u8>) {
        let leaf = self.issuer.issue_leaf(id).build_with(edit);
        let key = leaf.pkcs8();
        let mut chain = vec![leaf.cert];
        chain.extend(self.intermediates.iter().cloned());
        (chain, key)
    }

    /// A valid SVID for `spiffe://<td><path>`.
    pub fn svid(&self, path: &str) -> Arc<X509Svid> {
        self.svid_with(&format!("spiffe://{}{path}", self.trust_domain), |_| {})
    }
}

pub fn bundle_set(authorities: &[&Authority]) -> BundleSet {
    BundleSet::from_bundles(authorities.iter().map(|a| SpiffeBundle::from(a.bundle()))).unwrap()
}

/// An SVID source whose SVID can be replaced; counts reads.
pub struct SwapSvid {
    current: ArcSwap<X509Svid>,
    pub reads: AtomicUsize,
}

impl SwapSvid {
    pub fn new(svid: Arc<X509Svid>) -> Arc<Self> {
        Arc::new(Self {
            current: ArcSwap::new(svid),
            reads: AtomicUsize::new(0),
        })
    }

    pub fn set(&self, svid: Arc<X509Svid>) {
        self.current.store(svid);
    }
}

impl X509SvidSource for SwapSvid {
    fn x509_svid(&self) -> Option<Arc<X509Svid>> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        Some(self.current.load_full())
    }
}

/// A bundle source whose set can be replaced.
pub struct SwapBundles {
    current: ArcSwap<BundleSet>,
}

impl SwapBundles {
    pub fn new(set: BundleSet) -> Arc<Self> {
        Arc::new(Self {
            current: ArcSwap::from_pointee(set),
        })
    }

    pub fn set(&self, set: BundleSet) {
        self.current.store(Arc::new(set));
    }
}

impl X509BundleSource for SwapBundles {
    fn x509_bundle(&self, trust_domain: &TrustDomain) -> Option<Arc<X509Bundle>> {
        self.current.load().x509_bundle(trust_domain)
    }

    fn generation(&self) -> u64 {
        X509BundleSource::generation(&**self.current.load())
    }
}

/// What a test handshake takes: a configuration of this crate (one per connection, with the
/// slot its verifier fills) or a plain rustls one (no peer identity).
pub trait Side<C> {
    fn per_connection(&self) -> (Arc<C>, PeerSlot);
}

impl<C> Side<C> for Arc<C> {
    fn per_connection(&self) -> (Self, PeerSlot) {
        (Self::clone(self), PeerSlot::empty())
    }
}

impl Side<ServerConfig> for SpiffeServerConfig {
    fn per_connection(&self) -> (Arc<ServerConfig>, PeerSlot) {
        self.for_connection()
    }
}

impl Side<ServerConfig> for Arc<SpiffeServerConfig> {
    fn per_connection(&self) -> (Arc<ServerConfig>, PeerSlot) {
        self.for_connection()
    }
}

impl Side<ClientConfig> for SpiffeClientConfig {
    fn per_connection(&self) -> (Arc<ClientConfig>, PeerSlot) {
        self.for_connection()
    }
}

impl Side<ClientConfig> for Arc<SpiffeClientConfig> {
    fn per_connection(&self) -> (Arc<ClientConfig>, PeerSlot) {
        self.for_connection()
    }
}

/// A connection of a finished handshake and the slot its verifier filled.
#[derive(Debug)]
pub struct Connected<C> {
    pub connection: C,
    pub slot: PeerSlot,
}

impl<C> std::ops::Deref for Connected<C> {
    type Target = C;
    fn deref(&self) -> &C {
        &self.connection
    }
}

impl<C> std::ops::DerefMut for Connected<C> {
    fn deref_mut(&mut self) -> &mut C {
        &mut self.connection
    }
}

impl Connected<ClientConnection> {
    /// The server's identity, as this connection's verifier accepted it.
    pub fn peer(&self) -> Result<PeerIdentity, tls_integration::Error> {
        PeerIdentity::from_connection(&self.connection, &self.slot)
    }
}

impl Connected<ServerConnection> {
    /// The client's identity, as this connection's verifier accepted it.
    pub fn peer(&self) -> Result<PeerIdentity, tls_integration::Error> {
        PeerIdentity::from_connection(&self.connection, &self.slot)
    }
}

/// Runs a handshake between the two configurations in memory, each side with a configuration
/// of its own. On success both connections are returned after exchanging one application
/// message each way; on failure, the first error either side reported (client errors first).
pub fn handshake(
    client: &impl Side<ClientConfig>,
    server: &impl Side<ServerConfig>,
) -> Result<(Connected<ClientConnection>, Connected<ServerConnection>), Failure> {
    let (client, client_slot) = client.per_connection();
    let (server, server_slot) = server.per_connection();
    handshake_with(
        Connected {
            connection: ClientConnection::new(
                client,
                ServerName::try_from("workload.invalid").unwrap(),
            )
            .unwrap(),
            slot: client_slot,
        },
        Connected {
            connection: ServerConnection::new(server).unwrap(),
            slot: server_slot,
        },
    )
}

/// [`handshake`] on connections already made.
pub fn handshake_with(
    mut c: Connected<ClientConnection>,
    mut s: Connected<ServerConnection>,
) -> Result<(Connected<ClientConnection>, Connected<ServerConnection>), Failure> {
    for _ in 0..20 {
        if let Err(e) = transfer(&mut c.connection, &mut s.connection) {
            // The refusal's typed reason is taken on this thread right as the handshake fails.
            let refusal = tls_integration::Error::take_refusal(&e);
            // Deliver the server's alert to the client, then report.
            let client_err = transfer(&mut s.connection, &mut c.connection).err();
            return Err(Failure {
                server: Some(e),
                client: client_err,
                refusal,
            });
        }
        if let Err(e) = transfer(&mut s.connection, &mut c.connection) {
            let refusal = tls_integration::Error::take_refusal(&e);
            let server_err = transfer(&mut c.connection, &mut s.connection).err();
            return Err(Failure {
                server: server_err,
                client: Some(e),
                refusal,
            });
        }
        if !c.is_handshaking() && !s.is_handshaking() && !c.wants_write() && !s.wants_write() {
            return Ok((c, s));
        }
    }
    panic!("handshake did not finish");
}

/// Moves everything `from` has to send into `to`, processing it as it arrives.
fn transfer<A: rustls::SideData, B: rustls::SideData>(
    from: &mut rustls::ConnectionCommon<A>,
    to: &mut rustls::ConnectionCommon<B>,
) -> Result<(), rustls::Error> {
    let mut buf = Vec::new();
    while from.wants_write() {
        from.write_tls(&mut buf).unwrap();
    }
    let mut rest = &buf[..];
    while !rest.is_empty() {
        to.read_tls(&mut rest).unwrap();
        to.process_new_packets()?;
    }
    Ok(())
}

/// Why an in-memory handshake failed, per side.
#[derive(Debug)]
pub struct Failure {
    pub server: Option<rustls::Error>,
    pub client: Option<rustls::Error>,
    /// The typed reason of the side whose verifier refused the peer
    /// ([`tls_integration::Error::take_refusal`]).
    pub refusal: Option<Arc<tls_integration::Error>>,
}

impl Failure {
    /// The crate error a verifier reported on either side.
    pub fn cause(&self) -> &tls_integration::Error {
        self.refusal
            .as_deref()
            .or_else(|| {
                self.server
                    .as_ref()
                    .and_then(tls_integration::Error::from_rustls)
            })
            .or_else(|| {
                self.client
                    .as_ref()
                    .and_then(tls_integration::Error::from_rustls)
            })
            .unwrap_or_else(|| panic!("no tls-integration error in {self:?}"))
    }

    /// The alert the client received from the server (the server refused the client).
    pub fn client_received(&self) -> Option<rustls::AlertDescription> {
        match &self.client {
            Some(rustls::Error::AlertReceived(alert)) => Some(*alert),
            _ => None,
        }
    }

    /// The alert the server received from the client (the client refused the server).
    pub fn server_received(&self) -> Option<rustls::AlertDescription> {
        match &self.server {
            Some(rustls::Error::AlertReceived(alert)) => Some(*alert),
            _ => None,
        }
    }
}

/// A JWT-SVID issuer for one trust domain: an ECDSA P-256 key (ES256) and its bundle.
pub struct JwtIssuer {
    pub trust_domain: TrustDomain,
    key: Es256Key,
}

impl JwtIssuer {
    pub fn new(trust_domain: &str, kid: &str) -> Self {
        Self {
            trust_domain: trust_domain.parse().unwrap(),
            key: Es256Key::generate(kid),
        }
    }

    pub fn bundle(&self) -> trust_bundle::JwtBundle {
        let key = trust_bundle::JwtKey::Ec(
            trust_bundle::EcPublicKey::from_sec1(
                trust_bundle::EcCurve::P256,
                self.key.public_point(),
            )
            .unwrap(),
        );
        trust_bundle::JwtBundle::from_keys(self.trust_domain.clone(), [(self.key.kid.clone(), key)])
            .unwrap()
    }

    /// A token for `sub` and `aud`, valid for an hour from now.
    pub fn token(&self, sub: &str, aud: &str) -> String {
        self.token_with(sub, aud, test_support::time::unix_now() + 3600)
    }

    pub fn token_with(&self, sub: &str, aud: &str, exp: u64) -> String {
        self.key
            .sign_raw(&format!(r#"{{"sub":"{sub}","aud":["{aud}"],"exp":{exp}}}"#))
    }
}

/// PEM text of DER certificates.
pub fn pem_certs(certs: &[CertificateDer<'_>]) -> String {
    use base64::Engine;
    let mut out = String::new();
    for cert in certs {
        let b64 = base64::engine::general_purpose::STANDARD.encode(cert.as_ref());
        out.push_str("-----BEGIN CERTIFICATE-----\n");
        for line in b64.as_bytes().chunks(64) {
            out.push_str(std::str::from_utf8(line).unwrap());
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
    }
    out
}

/// PEM text of a PKCS#8 key.
pub fn pem_key(pkcs8: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(pkcs8);
    let mut out = String::from("-----BEGIN PRIVATE KEY-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap());
        out.push('\n');
    }
    out.push_str("-----END PRIVATE KEY-----\n");
    out
}

/// An external program the interop tests drive, or `None` (after printing why) when it is
/// missing locally. Under CI (`CI=true`) a missing peer fails the test instead.
pub fn peer_program(path: &std::path::Path, how: &str) -> Option<std::path::PathBuf> {
    if path.exists() {
        return Some(path.to_path_buf());
    }
    let message = format!("{} not found; {how}", path.display());
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{message}");
    eprintln!("skipped: {message}");
    None
}

/// A system program found on PATH (see [`peer_program`]).
pub fn system_program(name: &str) -> Option<std::path::PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.exists())
    });
    match found {
        Some(path) => Some(path),
        None => peer_program(
            std::path::Path::new(name),
            "run `bash interop/tls/setup.sh` (installs openssl and curl)",
        ),
    }
}
