//! SPIFFE IDs, trust domain names and ID matchers.
//!
//! This crate is the bottom layer of the workspace: it parses and builds [`SpiffeId`] and
//! [`TrustDomain`] values exactly as the SPIFFE-ID specification (section 2) says, and offers
//! [`IdMatcher`] / [`IdPattern`], the authorisation vocabulary that the TLS and JWT crates above
//! it take.
//!
//! - Parsing is a hand-written byte scanner. Nothing is normalised: uppercase trust domains,
//!   uppercase schemes, percent-encoding, dot segments, empty segments and trailing slashes
//!   are errors, so two spellings of one identity cannot exist and byte equality is identity.
//! - Trust domain names over 255 bytes are refused. IDs of 2048 bytes and more parse; builders
//!   refuse to produce IDs over 2048 bytes (SPIFFE-ID 2.3).
//! - Values are one shared allocation; clone, compare and hash are cheap.
//! - `no_std` + `alloc`, zero dependencies (`serde` optional).
//!
//! This crate does no cryptography and reads no certificates: it is the vocabulary, not the
//! verifier.
//!
//! ```
//! use spiffe_id::{IdMatcher, SpiffeId};
//!
//! let peer: SpiffeId = "spiffe://prod.example/ns/payments/sa/api".parse()?;
//! let allowed = IdMatcher::pattern("spiffe://prod.example/ns/payments/**")?;
//! assert!(allowed.matches(&peer));
//!
//! let err = "spiffe://prod.example/ns/%70ayments".parse::<SpiffeId>().unwrap_err();
//! assert_eq!(err, spiffe_id::Error::BadPathChar { at: 25, byte: b'%' });
//! # Ok::<(), spiffe_id::Error>(())
//! ```
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `std` | yes | nothing yet beyond `alloc`; kept for forward compatibility |
//! | `serde` | no | `Serialize`/`Deserialize` as strings, validated on the way in |
//!
//! # Specification
//!
//! <https://github.com/spiffe/spiffe/blob/main/standards/SPIFFE-ID.md>

#![no_std]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod error;
mod id;
mod matcher;
mod pattern;
mod scan;
#[cfg(feature = "serde")]
mod serde_impls;
mod trust_domain;

pub use error::Error;
pub use id::SpiffeId;
pub use matcher::IdMatcher;
pub use pattern::IdPattern;
pub use trust_domain::TrustDomain;

/// The longest trust domain name accepted: a URI host is at most 255 bytes (SPIFFE-ID 2.3).
pub const MAX_TRUST_DOMAIN_LEN: usize = 255;

/// The longest SPIFFE ID a builder produces. Parsers must accept IDs of at least this length
/// and do accept longer ones; implementations should not generate longer ones (SPIFFE-ID 2.3).
pub const MAX_ID_LEN: usize = 2048;
