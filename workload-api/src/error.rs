//! The one error type of this crate and the endpoint reasons it carries.
//!
//! Section numbers refer to `SPIFFE_Workload_Endpoint.md` ("Workload Endpoint"); rule IDs (E-1,
//! W-API-1...) to the project's SPIFFE digest.

/// What the shared Workload API rules refuse: an endpoint address, or a request without the
/// security header.
///
/// Display text is for people and is not part of the API; match on variants.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No address was given and `SPIFFE_ENDPOINT_SOCKET` is not set (Workload Endpoint 4;
    /// digest E-8).
    #[error(
        "no workload api address configured: pass one explicitly or set SPIFFE_ENDPOINT_SOCKET \
         (e.g. unix:///run/spire/agent.sock)"
    )]
    EndpointNotConfigured,
    /// The address breaks the Workload Endpoint address rules (Workload Endpoint 4).
    #[error("invalid workload api address {address:?}: {reason}")]
    InvalidEndpoint {
        /// The address as given.
        address: String,
        /// The rule it breaks.
        reason: EndpointError,
    },
    /// A request does not carry exactly one `workload.spiffe.io` value equal to `true`
    /// (Workload Endpoint 6; digest W-API-1).
    #[error(
        "security header missing from request: exactly one `workload.spiffe.io: true` is \
         required (Workload Endpoint 6, W-API-1)"
    )]
    MissingSecurityHeader,
}

/// Why an address is not a valid Workload API endpoint (Workload Endpoint 4; digest 6.3).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EndpointError {
    /// The address is empty.
    #[error("the address is empty (Workload Endpoint 4)")]
    Empty,
    /// The address has characters no URI may hold (spaces, control characters, non-ASCII) or
    /// a malformed percent-escape.
    #[error("the address is not a valid URI (Workload Endpoint 4)")]
    NotAUri,
    /// There is no URI scheme (e.g. a bare path).
    #[error(
        "the address has no scheme; use unix:///path or tcp://ip:port (Workload Endpoint 4, E-1)"
    )]
    NoScheme,
    /// The scheme is not `unix` or `tcp`.
    #[error("scheme {scheme:?} is not unix or tcp (Workload Endpoint 4, E-1)")]
    UnsupportedScheme {
        /// The scheme as written.
        scheme: String,
    },
    /// A `unix` address has an authority (`unix://host/path`).
    #[error(
        "a unix address must not have an authority; use unix:///absolute/path (Workload Endpoint 4, E-2)"
    )]
    UnixAuthority,
    /// A `unix` address has userinfo.
    #[error("a unix address must not have userinfo (Workload Endpoint 4, E-4)")]
    UnixUserInfo,
    /// A `unix` address has no path.
    #[error("a unix address must have the socket's absolute path (Workload Endpoint 4, E-3)")]
    UnixNoPath,
    /// A `unix` path is relative (`unix:relative/path`).
    #[error("a unix address path must be absolute (Workload Endpoint 4, E-3)")]
    UnixRelativePath,
    /// A `unix` path is `/`, which cannot be a socket.
    #[error("a unix address path must name a socket, not / (Workload Endpoint 4, E-3)")]
    UnixRootPath,
    /// The address has a query.
    #[error("the address must not have a query (Workload Endpoint 4, E-4/E-7)")]
    Query,
    /// The address has a fragment.
    #[error("the address must not have a fragment (Workload Endpoint 4, E-4/E-7)")]
    Fragment,
    /// A `tcp` address has no `//` authority (`tcp:1.2.3.4:5`).
    #[error("a tcp address must be tcp://ip:port (Workload Endpoint 4, E-7)")]
    TcpOpaque,
    /// A `tcp` address has userinfo.
    #[error("a tcp address must not have userinfo (Workload Endpoint 4, E-7)")]
    TcpUserInfo,
    /// A `tcp` address has no host.
    #[error("a tcp address must have an ip address (Workload Endpoint 4, E-5)")]
    TcpNoHost,
    /// A `tcp` host is not an IP address (DNS names are not allowed).
    #[error("a tcp address host must be an ip address, not a name (Workload Endpoint 4, E-5)")]
    TcpHostNotIp,
    /// A `tcp` address has no port, or an empty one.
    #[error("a tcp address must have a port (Workload Endpoint 4, E-6)")]
    TcpNoPort,
    /// A `tcp` port is not a number in 1..=65535.
    #[error("a tcp address port must be a number from 1 to 65535 (Workload Endpoint 4, E-6)")]
    TcpBadPort,
    /// A `tcp` port is 0, which cannot be dialled.
    #[error("a tcp address port must not be 0 (Workload Endpoint 4, E-6)")]
    TcpPortZero,
    /// A `tcp` address has a path (even `/`).
    #[error("a tcp address must not have a path (Workload Endpoint 4, E-7)")]
    TcpPath,
}
