//! [`SelfCheck`]: each credential is verified against the CA's own bundle before it is
//! returned.

use std::sync::atomic::Ordering;
use std::time::SystemTime;

use rustls_pki_types::{CertificateDer, UnixTime};
use svid::Audience;

use crate::error::Error;
use crate::key_manager::KeyResidence;
use crate::keys::Hot;
use crate::time::since_epoch;

/// What a CA checks of each credential before returning it.
///
/// The default, [`Auto`](Self::Auto), spends a signature verification per credential only
/// where it can catch something: keys outside the process (a PKCS#11 token, a KMS, a remote
/// signer) are checked in [`Full`](Self::Full), because their faults — a wrong key behind a
/// label, a module returning garbage — are not ours to rule out; keys in process memory, used
/// through the CA's own `svid::Crypto`, are checked [`FirstPerAuthority`](Self::FirstPerAuthority):
/// once per new key in full, then structurally.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SelfCheck {
    /// [`Full`](Self::Full) when the CA's [`KeyManager`](crate::KeyManager) keeps its keys
    /// outside the process ([`KeyResidence::External`](crate::KeyResidence::External)),
    /// [`FirstPerAuthority`](Self::FirstPerAuthority) when they are in process memory.
    #[default]
    Auto,
    /// Every X.509-SVID is verified with `svid`'s [`X509Verifier`] against the CA's own bundle
    /// (path, signatures, SPIFFE profile) and every JWT-SVID with its [`JwtValidator`]. This
    /// costs one signature verification per credential, which is more than the signing itself.
    ///
    /// [`X509Verifier`]: svid::X509Verifier
    /// [`JwtValidator`]: svid::JwtValidator
    Full,
    /// The first credential after each change of the signing authority or key is verified as
    /// with [`Full`](Self::Full). For the others, whose inputs (authority, template, signer)
    /// that first check proved, an X.509-SVID minted with a generated key still passes
    /// `X509Svid::new` (one URI SAN, not a CA, key usage, the key matches the leaf), a JWT-SVID
    /// still passes `UnverifiedJwtSvid::parse_insecure` (header, claims), and chains minted for a CSR or
    /// supplied key are not re-checked. Saves one signature verification per credential.
    FirstPerAuthority,
}

impl SelfCheck {
    /// The mode [`Auto`](Self::Auto) stands for with keys that live in `residence`; other
    /// modes stay as they are.
    pub(crate) fn resolve(self, residence: KeyResidence) -> Self {
        match (self, residence) {
            (Self::Auto, KeyResidence::InProcess) => Self::FirstPerAuthority,
            (Self::Auto, _) => Self::Full,
            (mode, _) => mode,
        }
    }
}

/// Verifies a minted X.509-SVID chain against the CA's bundle, as `mode` asks.
pub(crate) fn verify_x509(
    mode: SelfCheck,
    hot: &Hot,
    chain: &[CertificateDer<'static>],
    now: SystemTime,
) -> Result<(), Error> {
    if mode == SelfCheck::FirstPerAuthority && hot.x509_proven.load(Ordering::Acquire) {
        // X509Svid::new (or svid's parser) already checked the profile; see SelfCheck.
        return Ok(());
    }
    hot.verifier
        .verify(chain, UnixTime::since_unix_epoch(since_epoch(now)))
        .map_err(Error::SelfCheck)?;
    hot.x509_proven.store(true, Ordering::Release);
    Ok(())
}

/// Validates a minted JWT-SVID against the CA's bundle for its first audience, as `mode`
/// asks.
pub(crate) fn verify_jwt(
    mode: SelfCheck,
    hot: &Hot,
    token: &str,
    audience: &[String],
    now: SystemTime,
) -> Result<(), Error> {
    if mode == SelfCheck::FirstPerAuthority && hot.jwt_proven.load(Ordering::Acquire) {
        svid::UnverifiedJwtSvid::parse_insecure(token).map_err(Error::SelfCheckJwt)?;
        return Ok(());
    }
    let audience = Audience::new(audience.iter().take(1)).map_err(Error::SelfCheckJwt)?;
    hot.jwt_validator
        .validate(
            token,
            &audience,
            UnixTime::since_unix_epoch(since_epoch(now)),
        )
        .map_err(Error::SelfCheckJwt)?;
    hot.jwt_proven.store(true, Ordering::Release);
    Ok(())
}
