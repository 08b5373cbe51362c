//! Test material for this workspace's own tests, benches and `xtask`: **not published**
//! (`publish = false`), not an API, free to change with the tests that use it.
//!
//! It exists so that one helper is written once instead of once per test crate:
//!
//! - [`x509`]: certificate authorities and leaf X.509-SVIDs minted with rcgen, SPIRE's profile
//!   by default (digest 2.7), with the validity window, key type, names, stable serials and
//!   free-form parameter edits (for defect vectors) as builder options;
//! - [`time`]: the fixed instants the tests verify at;
//! - [`pem`]: PEM, concatenated-DER and DER TLV encoders, and a signature flipper;
//! - [`differential`]: the expected-disagreement list and case judgement of the differential
//!   tests against peer implementations;
//! - [`jwt`]: an ES256 JWT-SVID signing key with its Workload API JWKS;
//! - `workload_api` (feature `workload-api-server`): a scriptable fake Workload API server on a
//!   Unix socket, for fault injection in client tests;
//! - `softhsm` (feature `softhsm`): a private SoftHSM2 token directory, tokens, and tests run in
//!   child processes with their own `SOFTHSM2_CONF`;
//! - `postgres` (feature `postgres`) and `nginx` (feature `nginx`): private servers in
//!   temporary directories, on a Unix socket or a loopback port, stopped on drop;
//! - [`process`]: what those share: peers run unprivileged (`nobody` under root), free ports,
//!   signals, and the `CI=true` rule that a missing peer fails the test.
//!
//! # Dependency direction
//!
//! `svid` (and every crate above it) dev-depends on this crate, so it depends on nothing of the
//! workspace but `workload-api` (behind the feature), which is itself below `svid`. Were it to
//! depend on `svid`, `svid`'s tests would see two copies of `svid`'s types. Helpers that need
//! `svid` or `trust-bundle` types (bundles, verifiers, backends) stay in the `tests/common`
//! module of the crate that uses them, as thin wrappers over what is here.
//!
//! # Panics
//!
//! Helpers panic on failure (a failed mint is a failed test) and are `#[track_caller]` where
//! that helps to find the test.
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `workload-api-server` | no | `workload_api`: the fake Workload API server (tonic, tokio) |
//! | `softhsm` | no | `softhsm`: SoftHSM2 token directories for the PKCS#11 tests and benches |
//! | `postgres` | no | `postgres`: a private PostgreSQL server (plain, or TLS on loopback) |
//! | `nginx` | no | `nginx`: a private nginx on a loopback port |

#![forbid(unsafe_code)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test material: a panic here is a failed test"
)]
#![allow(
    clippy::exhaustive_structs,
    clippy::exhaustive_enums,
    reason = "test material, not an API: tests build, match and destructure these freely"
)]

pub mod differential;
pub mod jwt;
#[cfg(feature = "nginx")]
pub mod nginx;
pub mod pem;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod process;
#[cfg(feature = "softhsm")]
pub mod softhsm;
pub mod time;
#[cfg(feature = "workload-api-server")]
pub mod workload_api;
pub mod x509;
