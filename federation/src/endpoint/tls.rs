//! The endpoint's TLS: `https_web` from reloaded PEM files, `https_spiffe` from an SVID source.

use std::fmt;
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use svid::{Crypto, X509SvidSource};
use tls_integration::SpiffeTls;
use tls_integration::net::SpiffeAcceptor;
use tokio::net::TcpListener;

use super::BundleService;
use crate::error::Error;

/// ALPN of both profiles: HTTP/2 when the client offers it (curl does), else HTTP/1.1.
const ALPN: [&str; 2] = ["h2", "http/1.1"];

/// What a file looked like when last read (modification time, size, and inode on Unix, which
/// a replacement by rename changes even within the file system's time granularity): a change
/// of any field means "read it again".
type Stamp = Option<(SystemTime, u64, u64)>;

/// The `https_web` server certificate: a WebPKI chain and its key from PEM files, reloaded
/// when the files change (digest 7.3).
///
/// A rustls [`ResolvesServerCert`] whose `Arc<CertifiedKey>` is swapped whole: a handshake
/// uses the pair loaded last, never a chain of one file generation with a key of another.
///
/// # How changes are found: an mtime poll
///
/// [`watch`](Self::watch) checks the files' modification time, size and inode every
/// `interval` (a `stat` each; nothing is read while they are unchanged), and [`reload`](Self::reload) does
/// the same once, on demand. A poll rather than inotify (the `notify` crate) because the
/// usual ways certificates are replaced defeat file watches: Kubernetes swaps a symlinked
/// directory, ACME clients rename over the file, editors write a new inode; a watch on the
/// old inode then sees nothing, while `stat` follows the path. The cost is a delay of up to
/// one interval and two syscalls per interval, and no dependency.
///
/// A new pair that does not load (no certificate, no key, a key that does not match the
/// certificate, a half-written file) keeps the previous pair in service; the reason is logged
/// at `WARN` once per change of the files. A renewal that writes the chain and the key one
/// after the other is picked up when both agree.
pub struct WebCertificate {
    chain_path: PathBuf,
    key_path: PathBuf,
    provider: Arc<CryptoProvider>,
    current: ArcSwap<CertifiedKey>,
    seen: Mutex<(Stamp, Stamp)>,
}

impl WebCertificate {
    /// Loads the certificate chain (leaf first) and the private key from PEM files.
    ///
    /// # Errors
    /// [`Error::ReadFile`], [`Error::CertificateFiles`] (no certificate or no key found), or
    /// [`Error::Rustls`] (the provider cannot use the key, or it does not match the leaf).
    pub fn from_pem_files(
        chain: impl Into<PathBuf>,
        key: impl Into<PathBuf>,
        crypto: &Crypto,
    ) -> Result<Self, Error> {
        let chain_path = chain.into();
        let key_path = key.into();
        let provider = Arc::clone(crypto.provider());
        let stamps = (stamp(&chain_path), stamp(&key_path));
        let loaded = load(&chain_path, &key_path, &provider)?;
        Ok(Self {
            chain_path,
            key_path,
            provider,
            current: ArcSwap::from_pointee(loaded),
            seen: Mutex::new(stamps),
        })
    }

    /// Reloads the files if their modification time, size or inode changed since they were last
    /// looked at. Returns whether a new pair is now in service.
    ///
    /// # Errors
    /// As [`from_pem_files`](Self::from_pem_files); the previous pair stays in service.
    pub fn reload(&self) -> Result<bool, Error> {
        let now = (stamp(&self.chain_path), stamp(&self.key_path));
        {
            let mut seen = self
                .seen
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if *seen == now {
                return Ok(false);
            }
            // Remembered before loading: a bad pair is reported once, not at every poll.
            *seen = now;
        }
        let loaded = load(&self.chain_path, &self.key_path, &self.provider)?;
        self.current.store(Arc::new(loaded));
        tracing::info!(
            chain = %self.chain_path.display(),
            "bundle endpoint: https_web certificate reloaded"
        );
        Ok(true)
    }

    /// The chain in service now (leaf first).
    pub fn chain(&self) -> Vec<CertificateDer<'static>> {
        self.current.load().cert.clone()
    }

    /// Polls the files every `interval` ([`reload`](Self::reload)) on a task of the current
    /// tokio runtime, which ends when the last other reference to `self` is dropped. A pair
    /// that fails to load is logged at `WARN` and the previous one kept.
    ///
    /// Must be called within a tokio runtime.
    pub fn watch(self: &Arc<Self>, interval: Duration) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let Some(this) = weak.upgrade() else { break };
                // Small files; a blocking read here costs less than a thread hop.
                if let Err(error) = this.reload() {
                    tracing::warn!(
                        %error,
                        chain = %this.chain_path.display(),
                        "bundle endpoint: new https_web certificate refused; the previous one stays in service"
                    );
                }
            }
        })
    }
}

impl fmt::Debug for WebCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebCertificate")
            .field("chain_path", &self.chain_path)
            .field("key_path", &self.key_path)
            .finish_non_exhaustive()
    }
}

impl ResolvesServerCert for WebCertificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

fn stamp(path: &Path) -> Stamp {
    let metadata = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&metadata);
    #[cfg(not(unix))]
    let inode = 0;
    Some((metadata.modified().ok()?, metadata.len(), inode))
}

fn read(path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|source| Error::ReadFile {
        path: path.to_owned(),
        source,
    })
}

fn load(chain: &Path, key: &Path, provider: &CryptoProvider) -> Result<CertifiedKey, Error> {
    let bad = |path: &Path, reason| Error::CertificateFiles {
        path: path.to_owned(),
        reason,
    };
    let certificates = CertificateDer::pem_slice_iter(&read(chain)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| bad(chain, "malformed PEM"))?;
    if certificates.is_empty() {
        return Err(bad(chain, "no CERTIFICATE block"));
    }
    let key_der = PrivateKeyDer::from_pem_slice(&read(key)?)
        .map_err(|_| bad(key, "no usable PRIVATE KEY block"))?;
    CertifiedKey::from_der(certificates, key_der, provider).map_err(Error::Rustls)
}

/// The server side of a bundle endpoint profile: a TLS acceptor for [`serve`], or for your
/// own accept loop ([`acceptor`](Self::acceptor)).
///
/// Both profiles use rustls' defaults of the given crypto provider: TLS 1.3 and 1.2 with
/// ECDHE and AEAD suites only, which fits Mozilla's "intermediate" profile (digest 7.2). No
/// client certificate is asked for (digest 7.3, 7.4). ALPN offers `h2` and `http/1.1`.
#[derive(Clone, Debug)]
pub struct EndpointTls {
    acceptor: SpiffeAcceptor,
}

impl EndpointTls {
    /// `https_web`: presents the certificate in service in `certificate` at each handshake.
    ///
    /// # Errors
    /// [`Error::Rustls`] when the provider supports no TLS version.
    pub fn https_web(certificate: Arc<WebCertificate>, crypto: &Crypto) -> Result<Self, Error> {
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::clone(crypto.provider()))
            .with_safe_default_protocol_versions()
            .map_err(Error::Rustls)?
            .with_no_client_auth()
            .with_cert_resolver(certificate);
        config.alpn_protocols = ALPN.iter().map(|p| p.as_bytes().to_vec()).collect();
        Ok(Self {
            acceptor: SpiffeAcceptor::new(config),
        })
    }

    /// `https_spiffe`: presents the source's current X509-SVID at each handshake, so a rotated
    /// SVID is used from the next handshake on (tls-integration's `SvidResolver`).
    ///
    /// # Errors
    /// [`Error::SpiffeTls`] when the provider supports no TLS version.
    pub fn https_spiffe(svids: Arc<dyn X509SvidSource>, crypto: &Crypto) -> Result<Self, Error> {
        let config = SpiffeTls::new(crypto.clone())
            .with_alpn_protocols(ALPN)
            .tls_server(svids)
            .map_err(Error::SpiffeTls)?;
        Ok(Self {
            acceptor: SpiffeAcceptor::new(config),
        })
    }

    /// The acceptor (handshake timeout: tls-integration's default, 10 s), for an accept loop
    /// of your own.
    pub fn acceptor(&self) -> &SpiffeAcceptor {
        &self.acceptor
    }
}

/// Serves `service` over `tls` on `listener` until `shutdown` completes, then lets open
/// connections finish their requests (tls-integration's `hyper::serve`: HTTP/2 or HTTP/1.1
/// by ALPN, bounded handshakes, a drain timeout of 30 s).
///
/// # Errors
/// An I/O error from the listener's `accept` that is not a per-connection failure.
pub async fn serve(
    listener: TcpListener,
    tls: EndpointTls,
    service: BundleService,
    shutdown: impl Future,
) -> io::Result<()> {
    tls_integration::hyper::serve(listener, tls.acceptor, service, shutdown).await
}
