//! Reading one consistent state from the files: synchronous, run on a blocking thread.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read as _};
use std::path::{Path, PathBuf};

use spiffe_id::TrustDomain;
use svid::{Crypto, X509Svid};
use trust_bundle::X509Bundle;
use trust_bundle::{BundleSet, MAX_BUNDLE_BYTES, MAX_BUNDLE_MAP_BYTES, MAX_TRUST_DOMAINS_PER_MAP};
use zeroize::Zeroizing;

use crate::error::FsError;

/// The largest certificate or key file read: a chain of `svid::MAX_CHAIN_LEN` (8) certificates
/// of `trust_bundle::MAX_CERTIFICATE_BYTES` (64 KiB) each, PEM-expanded, plus a key.
pub const MAX_CREDENTIAL_FILE_BYTES: usize = 1024 * 1024;

/// How often one load starts again when the writer swapped generations under it.
const ATTEMPTS: usize = 3;

/// Where the SVID comes from.
#[derive(Clone, Debug)]
pub(crate) enum Identity {
    /// No SVID: a source of bundles only.
    None,
    /// Key and chain in one file (SPIFFE Filesystem Delivery).
    CredentialBundle(PathBuf),
    /// Chain and key in two files (spiffe-helper, gRPC `file_watcher`).
    CertificateAndKey {
        /// Leaf first, then intermediates.
        certificate: PathBuf,
        /// One PKCS#8 `PRIVATE KEY`.
        key: PathBuf,
    },
}

/// Where the bundles come from.
#[derive(Clone, Debug)]
pub(crate) enum Trust {
    /// One `<trust-domain><suffix>` file of authorities per trust domain (SPIFFE Filesystem
    /// Delivery).
    PerTrustDomainFiles(String),
    /// A SPIFFE bundle map (gRPC A87 `spiffe_trust_bundle_map_file`); X.509 authorities only.
    BundleMap(PathBuf),
    /// The authorities of the SVID's own trust domain (spiffe-helper `svid_bundle_file_name`).
    SvidTrustDomain(PathBuf),
}

/// What to read, and where.
#[derive(Clone, Debug)]
pub(crate) struct Layout {
    pub(crate) dir: PathBuf,
    /// The symlink naming the current generation (kubelet's `..data`), if any.
    pub(crate) data_link: Option<OsString>,
    pub(crate) identity: Identity,
    pub(crate) trust: Trust,
}

/// One consistent state as read.
pub(crate) struct Loaded {
    pub(crate) svid: Option<X509Svid>,
    /// X.509 authorities only.
    pub(crate) bundles: BundleSet,
}

impl Layout {
    /// Reads every file from one generation. When the writer swapped `..data` meanwhile and
    /// the read failed (the old generation may be gone), it starts over from the new one.
    pub(crate) fn load(&self, crypto: &Crypto) -> Result<Loaded, FsError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let base = self.generation()?;
            match self.load_from(&base, crypto) {
                Ok(loaded) => return Ok(loaded),
                Err(error) if attempt < ATTEMPTS && self.generation().ok() != Some(base) => {
                    tracing::debug!(%error, "files changed during the read; reading again");
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// The directory relative names are read from: the target of `..data` when it exists, so
    /// every file comes from one generation, else the folder itself.
    fn generation(&self) -> Result<PathBuf, FsError> {
        let Some(link) = &self.data_link else {
            return Ok(self.dir.clone());
        };
        let path = self.dir.join(link);
        match std::fs::canonicalize(&path) {
            Ok(resolved) => Ok(resolved),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(self.dir.clone()),
            Err(source) => Err(FsError::Io { path, source }),
        }
    }

    fn load_from(&self, base: &Path, crypto: &Crypto) -> Result<Loaded, FsError> {
        let svid = match &self.identity {
            Identity::None => None,
            Identity::CredentialBundle(name) => {
                let path = base.join(name);
                let pem = read(&path, MAX_CREDENTIAL_FILE_BYTES)?;
                Some(svid_from(&pem, &pem, &path, &path, crypto)?)
            }
            Identity::CertificateAndKey { certificate, key } => {
                let (certificate, key) = (base.join(certificate), base.join(key));
                let chain = read(&certificate, MAX_CREDENTIAL_FILE_BYTES)?;
                let pem = read(&key, MAX_CREDENTIAL_FILE_BYTES)?;
                Some(svid_from(&chain, &pem, &certificate, &key, crypto)?)
            }
        };
        let bundles = match &self.trust {
            Trust::PerTrustDomainFiles(suffix) => trust_domain_files(base, suffix)?,
            Trust::BundleMap(name) => bundle_map(&base.join(name))?,
            Trust::SvidTrustDomain(name) => {
                let path = base.join(name);
                let pem = read(&path, MAX_BUNDLE_BYTES)?;
                // The builder refuses this trust without an identity.
                match &svid {
                    Some(svid) => {
                        let td = svid.spiffe_id().trust_domain();
                        let bundle =
                            X509Bundle::from_pem(td, &pem).map_err(|source| FsError::Bundle {
                                path: path.clone(),
                                source,
                            })?;
                        set_of(&path, vec![bundle])?
                    }
                    None => BundleSet::new(),
                }
            }
        };
        Ok(Loaded { svid, bundles })
    }
}

fn svid_from(
    chain: &[u8],
    key: &[u8],
    chain_path: &Path,
    key_path: &Path,
    crypto: &Crypto,
) -> Result<X509Svid, FsError> {
    X509Svid::from_pem(chain, key, crypto).map_err(|source| match source {
        svid::Error::KeyMismatch => FsError::KeyMismatch {
            certificate: chain_path.to_owned(),
            key: key_path.to_owned(),
        },
        svid::Error::Key(_) => FsError::Svid {
            path: key_path.to_owned(),
            source,
        },
        source => FsError::Svid {
            path: chain_path.to_owned(),
            source,
        },
    })
}

/// Every `<trust-domain><suffix>` file of the folder. Names that are not a trust domain
/// (writer state such as `..data`, other files) are ignored, as the draft says.
fn trust_domain_files(base: &Path, suffix: &str) -> Result<BundleSet, FsError> {
    let io_error = |source| FsError::Io {
        path: base.to_owned(),
        source,
    };
    let mut bundles = Vec::new();
    for entry in std::fs::read_dir(base).map_err(io_error)? {
        let name = entry.map_err(io_error)?.file_name();
        let Some(td) = name
            .to_str()
            .and_then(|name| name.strip_suffix(suffix))
            .filter(|td| !td.starts_with('.'))
            .and_then(|td| TrustDomain::parse(td).ok())
        else {
            continue;
        };
        if bundles.len() == MAX_TRUST_DOMAINS_PER_MAP {
            return Err(FsError::TooManyTrustDomains {
                dir: base.to_owned(),
                max: MAX_TRUST_DOMAINS_PER_MAP,
            });
        }
        let path = base.join(&name);
        let pem = read(&path, MAX_BUNDLE_BYTES)?;
        let bundle =
            X509Bundle::from_pem(td, &pem).map_err(|source| FsError::Bundle { path, source })?;
        bundles.push(bundle);
    }
    set_of(base, bundles)
}

/// A SPIFFE bundle map, reduced to its X.509 authorities.
fn bundle_map(path: &Path) -> Result<BundleSet, FsError> {
    let json = read(path, MAX_BUNDLE_MAP_BYTES)?;
    let map = BundleSet::parse_bundle_map(&*json).map_err(|source| FsError::Bundle {
        path: path.to_owned(),
        source,
    })?;
    let x509 = map
        .iter()
        .map(|(_, bundle)| X509Bundle::clone(bundle.x509_bundle()))
        .collect();
    set_of(path, x509)
}

/// Bundles of distinct trust domains (file names and map keys are unique) as one set.
fn set_of(path: &Path, bundles: Vec<X509Bundle>) -> Result<BundleSet, FsError> {
    BundleSet::from_bundles(bundles).map_err(|source| FsError::Bundle {
        path: path.to_owned(),
        source,
    })
}

/// Reads a whole file in one open/read/close, refusing more than `max` bytes. The buffer is
/// wiped when dropped: it may hold a private key.
fn read(path: &Path, max: usize) -> Result<Zeroizing<Vec<u8>>, FsError> {
    let io_error = |source| FsError::Io {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(io_error)?;
    // Sized up front so that growing the buffer leaves no unwiped copy of a key behind.
    let size = file
        .metadata()
        .ok()
        .and_then(|m| usize::try_from(m.len()).ok())
        .unwrap_or_default();
    let mut bytes = Zeroizing::new(Vec::with_capacity(size.min(max).saturating_add(1)));
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    file.take(limit).read_to_end(&mut bytes).map_err(io_error)?;
    if bytes.len() > max {
        return Err(FsError::TooLarge {
            path: path.to_owned(),
            max,
        });
    }
    Ok(bytes)
}
