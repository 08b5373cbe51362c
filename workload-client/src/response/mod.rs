//! Validating Workload API responses: proto messages in, validated types out.
//!
//! These are the checks [`Client`](crate::Client) and the sources run on every message. They
//! are public so that a program with its own transport (a proxy, a test harness, another gRPC
//! stack) can validate a message exactly as this crate does:
//!
//! | message | function | result |
//! |---|---|---|
//! | `X509SVIDResponse` | [`x509_context`] | [`X509Context`](crate::X509Context) |
//! | `X509BundlesResponse` | [`x509_bundles`] | [`BundleSet`](trust_bundle::BundleSet) of X.509 authorities |
//! | `JWTSVIDResponse` | [`jwt_svids`] | [`JwtSvid`](crate::JwtSvid)s |
//! | `JWTBundlesResponse` | [`jwt_bundles`] | [`BundleSet`](trust_bundle::BundleSet) of JWT keys |
//! | `ValidateJWTSVIDResponse` | [`validated_jwt_svid`] | [`AgentVerifiedJwtSvid`](crate::AgentVerifiedJwtSvid) |
//!
//! A message that breaks a rule is refused as a whole with a [`ResponseError`](crate::ResponseError), never
//! partly applied and never a panic (Workload API 4.5; SPIFFE digest 5.10). Section numbers
//! refer to `SPIFFE_Workload_API.md` ("Workload API"); rule IDs (W-API-5, X-8, ...) and
//! "digest" sections to the project's SPIFFE digest. Each function takes the current time
//! as an argument, so a fixed time gives reproducible results.

mod bundles;
mod common;
mod jwt;
mod x509;

pub use bundles::{jwt_bundles, x509_bundles};
pub use jwt::{jwt_svids, validated_jwt_svid};
pub use x509::x509_context;
