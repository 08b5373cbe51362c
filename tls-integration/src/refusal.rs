//! How a verifier refusal becomes a precise TLS alert while its typed reason stays available.
//!
//! rustls picks the alert it sends from the `CertificateError` a verifier returns (rustls
//! `error.rs`, `impl From<CertificateError> for AlertDescription`), and only
//! `CertificateError::Other` can carry our typed [`Error`], which rustls sends as
//! `certificate_unknown`. So [`certificate_error`] maps each refusal to the rustls variant of
//! the precise alert (as rustls' own `pki_error` does for webpki errors), and the typed reason
//! travels beside the rustls error, in a one-slot record per thread:
//!
//! - the verifier, when it refuses, records the reason with the `CertificateError` it returns;
//! - whoever sees the handshake fail on that thread takes it back with
//!   [`Error::take_refusal`]. This crate's acceptor and connector ([`net`](crate::net), and so
//!   `hyper::serve` and `tonic::incoming`) do it where they build [`Error::Handshake`], so
//!   [`Error::verifier_error`] keeps giving the typed reason.
//!
//! Why a thread-local slot: rustls calls the verifier synchronously inside
//! `process_new_packets`, and its error comes back up the same call stack (with tokio-rustls,
//! within the same poll of the accept or connect future, on the same thread, with no other
//! task running there in between). rustls offers nothing better: the error holds no data of
//! the connection, tokio-rustls drops the failed connection, and the verifier does not know
//! which connection it serves, so a process-wide record would have no key to find the refusal
//! by. (Accepted peers do travel per connection, in the [`PeerSlot`](crate::PeerSlot) of a
//! per-connection configuration; refusals stay here so that [`Error::take_refusal`] works
//! for every configuration holding one of our verifiers, shared ones included.)
//!
//! Soundness: the slot is cleared whenever a verifier of this crate starts a check, and a
//! record is handed out only for a rustls error carrying the very `CertificateError` recorded,
//! and only once. A refusal nobody takes is overwritten by the next check on that thread. The
//! record is bounded: one reason per thread.
//!
//! The verifier does not log refusals itself: it does not know the peer's address, and the
//! accept loops of this crate log each refused handshake once, at WARN, with the address and
//! the typed reason ([`Error::verifier_error`]).

use std::cell::RefCell;
#[cfg(feature = "_net")]
use std::fmt;
use std::sync::Arc;

use rustls::CertificateError;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls_pki_types::UnixTime;
use svid::{ProfileError, VerifyError};

use crate::error::Error;

thread_local! {
    static LAST: RefCell<Option<Record>> = const { RefCell::new(None) };
}

/// A refusal as the verifier returned it, with its reason.
struct Record {
    sent: CertificateError,
    reason: Arc<Error>,
}

/// Forgets any refusal recorded on this thread: a verifier of this crate is about to decide
/// again, so an older record cannot be mistaken for the outcome of this check.
pub(crate) fn clear() {
    LAST.with(|slot| slot.borrow_mut().take());
}

/// The rustls error a verifier returns for `reason`: the precise `CertificateError` when
/// there is one (the typed reason is recorded for [`take`]), else `Other` carrying `reason`.
pub(crate) fn refuse(
    reason: Error,
    now: UnixTime,
    supported: &WebPkiSupportedAlgorithms,
) -> rustls::Error {
    let sent = match certificate_error(&reason, now, supported) {
        Some(sent) => {
            let record = Record {
                sent: sent.clone(),
                reason: Arc::new(reason),
            };
            LAST.with(|slot| *slot.borrow_mut() = Some(record));
            sent
        }
        None => CertificateError::Other(rustls::OtherError(Arc::new(reason))),
    };
    rustls::Error::InvalidCertificate(sent)
}

/// Takes the reason recorded on this thread for `error`, if `error` is the refusal recorded.
pub(crate) fn take(error: &rustls::Error) -> Option<Arc<Error>> {
    let rustls::Error::InvalidCertificate(received) = error else {
        return None;
    };
    LAST.with(|slot| {
        let mut slot = slot.borrow_mut();
        if slot.as_ref().is_some_and(|record| record.sent == *received) {
            slot.take().map(|record| record.reason)
        } else {
            None
        }
    })
}

/// The `CertificateError` whose alert says why the peer was refused, or `None` when no alert
/// says more than `certificate_unknown` (the caller then sends `Other` with the typed reason).
/// rustls turns them into alerts as follows: `ExpiredContext` / `NotValidYetContext` ->
/// `certificate_expired`, `UnknownIssuer` -> `unknown_ca`, `BadSignature` and
/// `UnsupportedSignatureAlgorithmContext` -> `decrypt_error`, `InvalidPurpose` ->
/// `unsupported_certificate`, `ApplicationVerificationFailure` -> `access_denied`,
/// `BadEncoding` and `UnhandledCriticalExtension` -> `bad_certificate`.
///
/// Every variant of this crate's [`Error`] and of `svid`'s error enums is listed. `svid`'s
/// enums are `#[non_exhaustive]` and this is another crate, so the compiler requires a
/// wildcard arm in each of their matches; those arms only catch variants added to `svid` after
/// this function was written, and answer `None` (`certificate_unknown` with the typed reason):
/// still a refusal, never an acceptance.
fn certificate_error(
    error: &Error,
    now: UnixTime,
    supported: &WebPkiSupportedAlgorithms,
) -> Option<CertificateError> {
    match error {
        Error::Verify(error) => svid_error(error, now, supported),
        Error::Unauthorized { .. } => Some(CertificateError::ApplicationVerificationFailure),
        // Not refusals of a peer certificate: no precise alert.
        Error::NoSvid
        | Error::UnusableKey(_)
        | Error::Config(_)
        | Error::NoPeerIdentity
        | Error::Handshake(_)
        | Error::MissingBearer
        | Error::Jwt(_) => None,
    }
}

fn svid_error(
    error: &svid::Error,
    now: UnixTime,
    supported: &WebPkiSupportedAlgorithms,
) -> Option<CertificateError> {
    use svid::Error as E;
    match error {
        E::Verify(error) => verify_error(error, now, supported),
        E::Profile(error) => Some(profile_error(error)),
        // Not DER, not X.509 v3, no certificate, too many: not a certificate we can read.
        E::Certificate { .. } | E::EmptyChain | E::ChainTooLong { .. } => {
            Some(CertificateError::BadEncoding)
        }
        // Errors of loading our own SVID or of JWT-SVIDs: never a peer chain's refusal.
        E::NoCertificateInPem | E::Key(_) | E::KeyMismatch | E::Jwt(_) | E::Io(_) => None,
        _ => None,
    }
}

/// A leaf or CA certificate that breaks the X.509-SVID profile: `bad_certificate`, except key
/// usage a leaf may not have or lacks, which is `unsupported_certificate` (the certificate is
/// well-formed, but not for this purpose).
fn profile_error(error: &ProfileError) -> CertificateError {
    use ProfileError as P;
    match error {
        P::LeafMissingKeyUsage
        | P::LeafMissingDigitalSignature
        | P::LeafKeyCertSign
        | P::LeafCrlSign => CertificateError::InvalidPurpose,
        P::NoUriSan
        | P::MultipleUriSans { .. }
        | P::UriTooLong { .. }
        | P::BadSpiffeId(_)
        | P::LeafRootPath
        | P::LeafIsCa
        | P::CaNotCa
        | P::CaMissingKeyCertSign
        | P::CaIdHasPath => CertificateError::BadEncoding,
        _ => CertificateError::BadEncoding,
    }
}

fn verify_error(
    error: &VerifyError,
    now: UnixTime,
    supported: &WebPkiSupportedAlgorithms,
) -> Option<CertificateError> {
    use VerifyError as V;
    let certificate_error = match error {
        V::NoBundle { .. } | V::NoAuthorities { .. } | V::UnknownIssuer => {
            CertificateError::UnknownIssuer
        }
        V::Expired { not_after, .. } | V::AuthorityExpired { not_after, .. } => {
            CertificateError::ExpiredContext {
                time: now,
                not_after: *not_after,
            }
        }
        V::NotYetValid { not_before, .. } | V::AuthorityNotYetValid { not_before, .. } => {
            CertificateError::NotValidYetContext {
                time: now,
                not_before: *not_before,
            }
        }
        V::BadSignature => CertificateError::BadSignature,
        V::UnsupportedSignatureAlgorithm => {
            // `svid` does not keep the algorithm identifier it could not verify; the supported
            // list is the provider's.
            CertificateError::UnsupportedSignatureAlgorithmContext {
                signature_algorithm_id: Vec::new(),
                supported_algorithms: supported
                    .all
                    .iter()
                    .map(|algorithm| algorithm.signature_alg_id())
                    .collect(),
            }
        }
        V::WrongUsage => CertificateError::InvalidPurpose,
        V::UnsupportedCriticalExtension { .. } => CertificateError::UnhandledCriticalExtension,
        V::IntermediateNotCa(_) | V::PathLenExceeded | V::UnsupportedNameConstraints => {
            CertificateError::BadEncoding
        }
        // Path building gave up: nothing more precise than certificate_unknown is true.
        V::BudgetExceeded => return None,
        V::Path(error) => return webpki_error(error),
        _ => return None,
    };
    Some(certificate_error)
}

/// The webpki verdicts `svid` passes on unmapped, as rustls' `pki_error` maps them.
fn webpki_error(error: &webpki::Error) -> Option<CertificateError> {
    use webpki::Error as W;
    match error {
        W::BadDer | W::BadDerTime | W::TrailingData(_) | W::UnsupportedCertVersion => {
            Some(CertificateError::BadEncoding)
        }
        W::UnsupportedCriticalExtension => Some(CertificateError::UnhandledCriticalExtension),
        W::InvalidCertValidity => Some(CertificateError::Expired),
        // webpki::Error is `#[non_exhaustive]` and most of it (CRLs, names) never reaches
        // `svid`'s path check: rustls' `pki_error` sends `Other` for these too.
        _ => None,
    }
}

/// A failed handshake's I/O error with the verifier's typed reason attached, when this thread
/// recorded one for the rustls error inside: what [`Error::Handshake`] holds, so that
/// [`Error::verifier_error`] can find the reason.
#[cfg(feature = "_net")]
pub(crate) fn handshake_error(io: std::io::Error) -> Error {
    let reason = io
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .and_then(|tls| Some((tls.clone(), take(tls)?)));
    match reason {
        Some((tls, reason)) => {
            Error::Handshake(std::io::Error::new(io.kind(), Refused { tls, reason }))
        }
        None => Error::Handshake(io),
    }
}

/// The rustls error of a refused handshake and the typed reason of the refusal.
#[cfg(feature = "_net")]
#[derive(Debug)]
pub(crate) struct Refused {
    tls: rustls::Error,
    pub(crate) reason: Arc<Error>,
}

#[cfg(feature = "_net")]
impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.tls, self.reason)
    }
}

#[cfg(feature = "_net")]
impl std::error::Error for Refused {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.reason)
    }
}

/// Here rather than in `error.rs`, so that module never imports this one.
impl Error {
    /// For a failed [`Handshake`](Self::Handshake) run by this crate's acceptor or connector
    /// ([`net`](crate::net), `hyper::serve`, `tonic::incoming`), the error of this crate's
    /// verifier that refused the peer, when that is why it failed. Lets an accept loop log
    /// which SPIFFE rule or authorizer refused a client, while the client got the precise
    /// alert. The acceptor attaches the reason with [`take_refusal`](Self::take_refusal) as
    /// the handshake fails; an [`Error::Handshake`] built elsewhere gives only what
    /// [`from_rustls`](Self::from_rustls) finds.
    pub fn verifier_error(&self) -> Option<&Self> {
        match self {
            Self::Handshake(io) => {
                let inner = io.get_ref()?;
                #[cfg(feature = "_net")]
                if let Some(refused) = inner.downcast_ref::<Refused>() {
                    return Some(&refused.reason);
                }
                inner
                    .downcast_ref::<rustls::Error>()
                    .and_then(Self::from_rustls)
            }
            _ => None,
        }
    }

    /// The typed reason behind `error`, a handshake failure on this thread caused by a
    /// refusal of one of this crate's verifiers, taken (so asked once). Call it on the thread
    /// that drove the handshake, right after it failed: when you drive a rustls connection
    /// yourself (`process_new_packets` returned `error`), or when a tokio-rustls
    /// accept/connect future returned it (the verifier runs in that same poll). This crate's
    /// acceptor and connector do it for you; see [`verifier_error`](Self::verifier_error).
    ///
    /// Why this shape: rustls sends the alert chosen from the `CertificateError` the verifier
    /// returns, and only `CertificateError::Other` (sent as `certificate_unknown`) could carry
    /// the typed reason. So the verifier returns the precise variant and keeps the reason in a
    /// one-slot record of the current thread, which is cleared whenever one of our verifiers
    /// starts a check and handed out only for the very `CertificateError` recorded.
    pub fn take_refusal(error: &rustls::Error) -> Option<Arc<Self>> {
        take(error)
    }
}
