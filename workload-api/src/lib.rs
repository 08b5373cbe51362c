//! What both sides of the SPIFFE Workload API share: the generated protocol, the security
//! header, the endpoint address rules and the JWT claims conversion.
//!
//! - [`proto`]: the wire types, the tonic client and (feature `server`) the server trait and
//!   service, generated from the specification's `workload.proto`, with the private key of an
//!   [`proto::X509svid`] redacted in `Debug` and wiped on drop.
//! - [`Endpoint`]: where the Workload API listens, from configuration or
//!   [`ENDPOINT_SOCKET_ENV`] (`SPIFFE_ENDPOINT_SOCKET`), parsed strictly by the Workload Endpoint
//!   rules (`unix:///abs/path`, `unix:/abs/path`, `tcp://<ip>:<port>`).
//! - [`SECURITY_HEADER`]: the `workload.spiffe.io: true` metadata a client sends on every call,
//!   and [`check_security_header`], the check a server makes.
//! - [`claims_to_struct`] / [`claims_from_struct`]: JWT claims between JSON and the
//!   `google.protobuf.Struct` of `ValidateJWTSVIDResponse`.
//!
//! It is not a client or a server: it opens no connection, validates no SVID and holds no
//! keys. Applications use `workload-client` (a typed client and self-rotating sources); an agent
//! implements [`proto::spiffe_workload_api_server::SpiffeWorkloadApi`], as the `agent` crate
//! does. Both depend on this crate, not on each other.
//!
//! ```
//! use workload_api::{Endpoint, EndpointError, Error};
//!
//! let endpoint: Endpoint = "unix:///run/spire/agent.sock".parse()?;
//! assert_eq!(endpoint.to_string(), "unix:///run/spire/agent.sock");
//!
//! // A DNS name is not an address the Workload Endpoint allows (E-5).
//! assert!(matches!(
//!     Endpoint::parse("tcp://localhost:8081"),
//!     Err(Error::InvalidEndpoint { reason: EndpointError::TcpHostNotIp, .. })
//! ));
//! # Ok::<(), Error>(())
//! ```
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `server` | no | the generated server half, `proto::spiffe_workload_api_server` |
//!
//! # Specification
//!
//! - <https://github.com/spiffe/spiffe/blob/main/standards/SPIFFE_Workload_API.md>
//! - <https://github.com/spiffe/spiffe/blob/main/standards/SPIFFE_Workload_Endpoint.md>

#![cfg_attr(docsrs, feature(doc_cfg))]

mod claims;
mod endpoint;
mod error;
mod header;
pub mod proto;

pub use claims::{claims_from_struct, claims_to_struct};
pub use endpoint::{ENDPOINT_SOCKET_ENV, Endpoint};
pub use error::{EndpointError, Error};
pub use header::{SECURITY_HEADER, SECURITY_HEADER_VALUE, check_security_header};
