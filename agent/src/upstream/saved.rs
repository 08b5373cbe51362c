//! The agent SVID kept across restarts (upstream mode): a join token is single-use, so an
//! agent that restarts must resume with the identity it already has. One file, written
//! atomically with mode 0600: the chain, the private key, its expiry and the last bundle.

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use spiffe_id::TrustDomain;
use svid::X509Svid;
use trust_bundle::SpiffeBundle;
use zeroize::Zeroizing;

/// The file's name in the state directory.
pub(crate) const FILE: &str = "agent-svid.json";

#[derive(Serialize, Deserialize)]
struct Saved {
    chain_der: String,
    key_pkcs8: String,
    expires_at: u64,
    bundle: String,
}

impl Drop for Saved {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.key_pkcs8);
    }
}

/// What a restarted agent resumes with.
pub(crate) struct Resumed {
    pub(crate) svid: X509Svid,
    pub(crate) expires_at: SystemTime,
    pub(crate) bundle: SpiffeBundle,
}

fn path(dir: &Path) -> PathBuf {
    dir.join(FILE)
}

/// Writes the identity (blocking): a temporary file of mode 0600 in `dir`, renamed over the
/// previous one, so a crash leaves the old file or the new one.
pub(crate) fn save(
    dir: &Path,
    svid: &X509Svid,
    expires_at: SystemTime,
    bundle: &SpiffeBundle,
) -> std::io::Result<()> {
    let saved = Saved {
        chain_der: STANDARD.encode(svid.chain_der()),
        key_pkcs8: STANDARD.encode(svid.private_key().secret_pkcs8_der()),
        expires_at: expires_at
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        bundle: bundle.to_json(),
    };
    let text = Zeroizing::new(serde_json::to_vec(&saved).map_err(std::io::Error::other)?);
    std::fs::create_dir_all(dir)?;
    let mut file = tempfile::Builder::new()
        .prefix(".agent-svid-")
        .permissions(std::fs::Permissions::from_mode(0o600))
        .tempfile_in(dir)?;
    file.write_all(&text)?;
    file.as_file().sync_all()?;
    file.persist(path(dir)).map_err(|e| e.error)?;
    Ok(())
}

/// Reads a saved identity that is still valid for a while; `None` when there is none (or it
/// cannot be used: the agent then attests).
pub(crate) fn load(
    dir: &Path,
    trust_domain: &TrustDomain,
    crypto: &svid::Crypto,
) -> Option<Resumed> {
    let text = Zeroizing::new(std::fs::read(path(dir)).ok()?);
    let saved: Saved = match serde_json::from_slice(&text) {
        Ok(saved) => saved,
        Err(error) => {
            tracing::warn!(%error, "ignoring an unreadable saved agent SVID");
            return None;
        }
    };
    let expires_at = UNIX_EPOCH + Duration::from_secs(saved.expires_at);
    if expires_at <= SystemTime::now() + Duration::from_secs(30) {
        tracing::info!("the saved agent SVID has expired; attesting again");
        return None;
    }
    let chain = STANDARD.decode(&saved.chain_der).ok()?;
    let key = Zeroizing::new(STANDARD.decode(&saved.key_pkcs8).ok()?);
    let svid = X509Svid::from_der(&chain, &key, crypto)
        .inspect_err(|error| tracing::warn!(%error, "ignoring an invalid saved agent SVID"))
        .ok()?;
    let bundle = SpiffeBundle::parse(trust_domain.clone(), saved.bundle.as_bytes()).ok()?;
    Some(Resumed {
        svid,
        expires_at,
        bundle,
    })
}
