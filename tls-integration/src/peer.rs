//! [`PeerIdentity`]: the SPIFFE ID of the peer of a finished handshake.

use std::net::SocketAddr;
use std::sync::Arc;

use rustls::CommonState;
use rustls_pki_types::CertificateDer;
use spiffe_id::SpiffeId;

use crate::accepted;
use crate::error::Error;

/// The authenticated peer of a connection: its SPIFFE ID and the certificates it presented.
///
/// Read it from a rustls connection after the handshake with [`PeerIdentity::from_connection`]
/// (the hyper and tonic helpers of this crate do it for you and put it in request
/// extensions). The SPIFFE ID is the one this crate's verifiers
/// ([`SpiffeServerVerifier`](crate::SpiffeServerVerifier),
/// [`SpiffeClientVerifier`](crate::SpiffeClientVerifier)) derived when they accepted the
/// peer's leaf certificate: a connection whose config used another rustls verifier (WebPKI,
/// or one that accepts everything) has no identity, whatever URI SAN its certificate carries,
/// unless one of our verifiers accepted that very leaf. Clone is cheap.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerIdentity {
    spiffe_id: SpiffeId,
    certificates: Arc<[CertificateDer<'static>]>,
}

impl PeerIdentity {
    /// The peer of `connection`, a `ClientConnection` or `ServerConnection` (both dereference
    /// to [`CommonState`]) whose handshake has finished.
    ///
    /// # Errors
    /// [`Error::NoPeerIdentity`] when the peer presented no certificate (a TLS-only server, or
    /// a handshake still running), or when none of this crate's verifiers accepted its leaf
    /// (or the leaf has expired since).
    pub fn from_connection(connection: &CommonState) -> Result<Self, Error> {
        let certificates = connection
            .peer_certificates()
            .ok_or(Error::NoPeerIdentity)?;
        let leaf = certificates.first().ok_or(Error::NoPeerIdentity)?;
        let spiffe_id = accepted::spiffe_id_of(leaf).ok_or(Error::NoPeerIdentity)?;
        Ok(Self {
            spiffe_id,
            certificates: certificates.into(),
        })
    }

    /// The peer's SPIFFE ID.
    pub fn spiffe_id(&self) -> &SpiffeId {
        &self.spiffe_id
    }

    /// The certificates the peer presented, leaf first (the bundle authority is not included).
    pub fn certificates(&self) -> &[CertificateDer<'static>] {
        &self.certificates
    }
}

/// The peer SPIFFE ID of a finished handshake; see [`PeerIdentity::from_connection`].
///
/// # Errors
/// As [`PeerIdentity::from_connection`].
pub fn peer_spiffe_id(connection: &CommonState) -> Result<SpiffeId, Error> {
    let leaf = connection
        .peer_certificates()
        .and_then(|certs| certs.first())
        .ok_or(Error::NoPeerIdentity)?;
    accepted::spiffe_id_of(leaf).ok_or(Error::NoPeerIdentity)
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
