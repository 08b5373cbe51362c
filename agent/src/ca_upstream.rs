//! `[ca.upstream_disk]` of the configuration file: the files of an existing CA that signs the
//! agent CA's certificates, read into a [`ca::DiskUpstream`] when the CA is built.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use ca::DiskUpstream;
use serde::Deserialize;
use spiffe_id::TrustDomain;

use crate::error::ConfigError;

/// `[ca.upstream_disk]`: an existing CA (an organisation's own PKI) whose certificate and key
/// files sign the agent CA's intermediate certificates, as SPIRE's `disk` UpstreamAuthority
/// does; the published bundle then holds that CA's root. Relative paths in the file are
/// resolved against the file's directory. See [`ca::DiskUpstream`] for what is checked.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DiskUpstreamConfig {
    /// `cert_path`: the upstream CA certificate, then any intermediates (PEM).
    pub cert_path: PathBuf,
    /// `key_path`: its private key (PEM: PKCS#8, EC or RSA), readable by the owner only.
    pub key_path: PathBuf,
    /// `bundle_path`: the root certificates it chains to (PEM); required unless the
    /// certificate is self-signed.
    pub bundle_path: Option<PathBuf>,
}

impl DiskUpstreamConfig {
    /// Reads and checks the files for a CA of `trust_domain` at `now`.
    ///
    /// # Errors
    /// [`ConfigError::UpstreamDisk`] with the CA's reason, which names the file.
    pub fn load(
        &self,
        trust_domain: &TrustDomain,
        now: SystemTime,
    ) -> Result<DiskUpstream, ConfigError> {
        let mut upstream = DiskUpstream::builder(&self.cert_path, &self.key_path);
        if let Some(bundle_path) = &self.bundle_path {
            upstream = upstream.bundle_path(bundle_path);
        }
        upstream
            .load(trust_domain.clone(), now)
            .map_err(|source| ConfigError::UpstreamDisk { source })
    }
}

/// The section as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawUpstreamDisk {
    cert_path: PathBuf,
    key_path: PathBuf,
    bundle_path: Option<PathBuf>,
}

impl RawUpstreamDisk {
    /// The paths, relative ones resolved against `base`; empty ones refused.
    pub(crate) fn resolve(self, base: &Path) -> Result<DiskUpstreamConfig, ConfigError> {
        let resolve = |field: &str, path: PathBuf| {
            if path.as_os_str().is_empty() {
                Err(ConfigError::Invalid {
                    field: format!("ca.upstream_disk.{field}"),
                    message: "must name a file".to_owned(),
                })
            } else {
                Ok(base.join(path))
            }
        };
        Ok(DiskUpstreamConfig {
            cert_path: resolve("cert_path", self.cert_path)?,
            key_path: resolve("key_path", self.key_path)?,
            bundle_path: self
                .bundle_path
                .map(|path| resolve("bundle_path", path))
                .transpose()?,
        })
    }
}
