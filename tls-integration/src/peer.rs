//! [`PeerIdentity`]: the SPIFFE ID of the peer of a finished handshake, taken from the
//! [`PeerSlot`] that connection's own verifier filled.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use rustls::{CommonState, HandshakeKind};
use rustls_pki_types::CertificateDer;
use spiffe_id::SpiffeId;
use svid::VerifiedX509Svid;

use crate::error::Error;

/// The authenticated peer of a connection: its SPIFFE ID and the certificates it presented.
///
/// It is the result of this crate's verifier on **that** connection: the verifier of a
/// per-connection configuration ([`SpiffeServerConfig::for_connection`],
/// [`SpiffeClientConfig::for_connection`], or a verifier's own `for_connection`) puts the
/// [`VerifiedX509Svid`] it returned into the connection's [`PeerSlot`], and
/// [`PeerIdentity::from_connection`] reads it from there once the handshake has finished. The
/// certificate is never parsed again afterwards, and nothing is shared between connections.
/// The hyper and tonic helpers of this crate do all of this for you and put the identity in
/// request extensions. Clone is cheap.
///
/// [`SpiffeServerConfig::for_connection`]: crate::SpiffeServerConfig::for_connection
/// [`SpiffeClientConfig::for_connection`]: crate::SpiffeClientConfig::for_connection
#[derive(Clone, Debug)]
pub struct PeerIdentity {
    verified: VerifiedX509Svid,
    certificates: Arc<[CertificateDer<'static>]>,
}

impl PeerIdentity {
    /// The peer that `connection`'s verifier accepted and recorded in `slot`, the slot
    /// returned with the configuration `connection` was built from. `connection` is a
    /// `ClientConnection` or `ServerConnection` (both dereference to [`CommonState`]).
    ///
    /// # Errors
    /// [`Error::NoPeerIdentity`] when the handshake has not finished; when it was a
    /// **resumed** session (a resumption runs no verifier, so there is no result of this
    /// connection to report: the configurations of this crate never resume, see
    /// [`SpiffeTls`](crate::SpiffeTls)); when no verifier of this crate accepted a peer
    /// through `slot` (the peer sent no certificate, or the configuration was not one of
    /// `slot`'s); when more than one handshake went through `slot` (a per-connection
    /// configuration used for several connections); or when `slot`'s peer is not the one
    /// `connection` authenticated (its leaf differs from `connection`'s peer certificate).
    pub fn from_connection(connection: &CommonState, slot: &PeerSlot) -> Result<Self, Error> {
        if connection.is_handshaking() {
            return Err(Error::NoPeerIdentity);
        }
        match connection.handshake_kind() {
            Some(HandshakeKind::Full | HandshakeKind::FullWithHelloRetryRequest) => {}
            Some(HandshakeKind::Resumed) | None => return Err(Error::NoPeerIdentity),
        }
        let verified = slot.accepted().ok_or(Error::NoPeerIdentity)?;
        let certificates = connection
            .peer_certificates()
            .ok_or(Error::NoPeerIdentity)?;
        // Binds the slot to this connection: the verified path starts with the very leaf the
        // connection authenticated (which proved its key in this handshake).
        if certificates.first() != verified.path().first() {
            return Err(Error::NoPeerIdentity);
        }
        Ok(Self {
            verified,
            certificates: certificates.into(),
        })
    }

    /// The peer's SPIFFE ID.
    pub fn spiffe_id(&self) -> &SpiffeId {
        self.verified.spiffe_id()
    }

    /// What the verifier returned for this peer: the SPIFFE ID and the verified path, up to
    /// the bundle authority.
    pub fn verified(&self) -> &VerifiedX509Svid {
        &self.verified
    }

    /// The certificates the peer presented, leaf first (the bundle authority is not included).
    pub fn certificates(&self) -> &[CertificateDer<'static>] {
        &self.certificates
    }
}

/// Two identities are equal when they name the same SPIFFE ID with the same certificates.
impl PartialEq for PeerIdentity {
    fn eq(&self, other: &Self) -> bool {
        self.spiffe_id() == other.spiffe_id() && self.certificates == other.certificates
    }
}

impl Eq for PeerIdentity {}

/// Where one connection's verifier puts the peer it accepted; read it with
/// [`PeerIdentity::from_connection`] after the handshake.
///
/// Made with a per-connection configuration ([`SpiffeServerConfig::for_connection`],
/// [`SpiffeClientConfig::for_connection`]) or verifier
/// ([`SpiffeClientVerifier::for_connection`], [`SpiffeServerVerifier::for_connection`]),
/// for exactly one connection. It is one-shot: a second peer accepted through the same slot
/// (the configuration reused for another connection) empties it for good, so neither
/// connection reports an identity that might be the other's. Clone is cheap and shares the
/// slot.
///
/// [`SpiffeServerConfig::for_connection`]: crate::SpiffeServerConfig::for_connection
/// [`SpiffeClientConfig::for_connection`]: crate::SpiffeClientConfig::for_connection
/// [`SpiffeClientVerifier::for_connection`]: crate::SpiffeClientVerifier::for_connection
/// [`SpiffeServerVerifier::for_connection`]: crate::SpiffeServerVerifier::for_connection
#[derive(Clone, Debug, Default)]
pub struct PeerSlot {
    state: Arc<Mutex<SlotState>>,
}

#[derive(Debug, Default)]
enum SlotState {
    #[default]
    Empty,
    Accepted(VerifiedX509Svid),
    /// More than one verification went through this slot: it belongs to no connection.
    Reused,
}

impl PeerSlot {
    /// An empty slot: what a connection reports when no verifier of this crate accepted a
    /// peer through it (a TLS server that asks no client certificate, a WebPKI client).
    pub fn empty() -> Self {
        Self::default()
    }

    /// Every transition below leaves a valid state, so a poisoned lock is still usable.
    fn lock(&self) -> MutexGuard<'_, SlotState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records the verifier's result; a second one marks the slot reused.
    pub(crate) fn fill(&self, verified: VerifiedX509Svid) {
        let mut state = self.lock();
        *state = match *state {
            SlotState::Empty => SlotState::Accepted(verified),
            SlotState::Accepted(_) | SlotState::Reused => SlotState::Reused,
        };
    }

    fn accepted(&self) -> Option<VerifiedX509Svid> {
        match &*self.lock() {
            SlotState::Accepted(verified) => Some(verified.clone()),
            SlotState::Empty | SlotState::Reused => None,
        }
    }
}

/// What the hyper and tonic helpers of this crate attach to each request: the TCP peer address
/// and, when the client authenticated with an SVID, its [`PeerIdentity`].
///
/// hyper requests carry it in their extensions; in tonic it is the connection's `ConnectInfo`,
/// so it is in `tonic::Request::extensions()` and visible to tower layers.
#[derive(Clone, Debug)]
pub struct PeerInfo {
    remote_addr: Option<SocketAddr>,
    identity: Option<PeerIdentity>,
}

impl PeerInfo {
    /// Information about one connection.
    pub fn new(remote_addr: Option<SocketAddr>, identity: Option<PeerIdentity>) -> Self {
        Self {
            remote_addr,
            identity,
        }
    }

    /// The peer's socket address, when the transport has one.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.remote_addr
    }

    /// The SVID-authenticated peer, or `None` when the client sent no certificate.
    pub fn identity(&self) -> Option<&PeerIdentity> {
        self.identity.as_ref()
    }

    /// The authenticated peer's SPIFFE ID.
    pub fn spiffe_id(&self) -> Option<&SpiffeId> {
        self.identity.as_ref().map(PeerIdentity::spiffe_id)
    }
}
