//! SPIFFE trust bundles: the X.509 and JWT authorities of each trust domain, the SPIFFE bundle
//! document, the SPIFFE bundle map, and the source traits that verifiers take.
//!
//! - [`X509Bundle`]: the CA certificates of one trust domain, from PEM, from the concatenated
//!   DER of the Workload API, or from a bundle document.
//! - [`JwtBundle`]: the JWT keys of one trust domain by `kid`, decoded once into [`JwtKey`]s
//!   ready for ring or aws-lc-rs; also from a Workload API JWKS, where SPIRE omits `use`.
//! - [`SpiffeBundle`]: the bundle document (a JWK Set with `spiffe_sequence` and
//!   `spiffe_refresh_hint`), parsed by the SPIFFE rules and emitted back.
//! - [`BundleSet`]: bundles of many trust domains, immutable and cheap to clone; parses and
//!   emits the bundle map (`{"trust_domains": {...}}`).
//! - [`X509BundleSource`] and [`JwtBundleSource`]: what the `svid` verifiers ask for. They
//!   are separate so that X.509 authorities never validate JWTs and the reverse.
//! - [`der`] and [`json`]: the plumbing the spiffekit crates share, so that it lives once:
//!   the bounded DER reader and writer, the named OIDs and certificate times, and the
//!   duplicate-member check of strict JSON. Not a general-purpose ASN.1 or JSON API.
//!
//! Entries a consumer cannot use (unknown `kty` or `use`, empty `x5c`, Ed25519 JWT keys,
//! duplicate `kid`s...) are skipped as the specification says, and reported as
//! [`IgnoredKey`]s next to the result so they can be logged. Documents that break a rule the
//! specification makes fatal (no `keys`, duplicate JSON members, a non-integer refresh hint...)
//! are [`Error`]s. Every input has a size limit, checked before parsing (the `MAX_*`
//! constants below); hostile input is refused, never a panic or an unbounded allocation.
//!
//! This crate does no cryptography and does not verify certificates: it checks that a
//! certificate is well-framed DER with the outline of a certificate and a public key it can
//! name, and leaves signatures, validity and extensions to the `svid` crate. It does no I/O,
//! no TLS and no async.
//!
//! ```
//! use trust_bundle::{BundleSet, IgnoredReason, JwtBundleSource, SpiffeBundle};
//!
//! let td = "example.org".parse()?;
//! let json = br#"{
//!   "spiffe_sequence": 12,
//!   "keys": [
//!     {"kty": "EC", "use": "jwt-svid", "kid": "k1", "crv": "P-256",
//!      "x": "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE",
//!      "y": "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI"},
//!     {"kty": "EC", "use": "wat", "kid": "k2"}
//!   ]
//! }"#;
//! let bundle = SpiffeBundle::parse(td, json)?;
//! // Entries the document had but no verifier may use are reported, not fatal.
//! let skipped = bundle.ignored();
//! assert_eq!(skipped[0].reason(), &IgnoredReason::UnknownUse { value: "wat".into() });
//!
//! let set = BundleSet::from_bundles([bundle])?;
//! let jwt = set.jwt_bundle(&"example.org".parse()?).expect("bundle of example.org");
//! assert_eq!(jwt.keys().map(|(kid, _)| kid).collect::<Vec<_>>(), ["k1"]);
//!
//! // Verifiers cache by generation; a new set always has a new one.
//! let other = BundleSet::from_bundles(set.iter().map(|(_, b)| b.clone()))?;
//! assert_eq!(other, set);
//! assert_ne!(other.generation(), set.generation());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Features
//!
//! This crate has no features. `serde_json` is used internally to read JSON; no `serde`
//! implementations are part of the API.
//!
//! # Specification
//!
//! - <https://github.com/spiffe/spiffe/blob/main/standards/SPIFFE_Trust_Domain_and_Bundle.md>
//! - <https://github.com/spiffe/spiffe/blob/main/standards/X509-SVID.md> (section 6)
//! - <https://github.com/spiffe/spiffe/blob/main/standards/JWT-SVID.md> (section 6)
//! - <https://github.com/spiffe/spiffe/blob/main/standards/SPIFFE_Workload_API.md>

mod certificate;
mod curve;
pub mod der;
mod document;
mod error;
mod generation;
pub mod json;
mod jwk;
mod jwt;
mod key;
mod keys;
mod set;
mod source;
mod x509;

pub use curve::EcCurve;
pub use document::SpiffeBundle;
pub use error::{CertificateError, Error, KeyError};
pub use jwk::{IgnoredKey, IgnoredReason};
pub use jwt::JwtBundle;
pub use key::{EcPublicKey, JwtKey, RsaPublicKey};
pub use set::BundleSet;
pub use source::{JwtBundleSource, X509BundleSource};
pub use x509::X509Bundle;

/// The longest single bundle input accepted, in bytes: a bundle document, a Workload API JWT
/// bundle, concatenated DER or PEM. Checked before any parsing.
///
/// [`MAX_KEYS_PER_BUNDLE`] entries of the largest realistic size (an RSA-4096 CA as base64 in
/// `x5c`, ~2.5 KiB, plus its `n`/`e` members, ~0.7 KiB) come to under 1 MiB; SPIRE's bundles
/// are a few KiB. 4 MiB leaves room for large CA certificates while keeping one hostile
/// document's parse cost small.
pub const MAX_BUNDLE_BYTES: usize = 4 * 1024 * 1024;

/// The longest bundle map accepted, in bytes. Checked before any parsing.
///
/// A typical bundle (two CA certificates, two JWT keys) is under 8 KiB, so 16 MiB holds
/// [`MAX_TRUST_DOMAINS_PER_MAP`] of them twice over.
pub const MAX_BUNDLE_MAP_BYTES: usize = 16 * 1024 * 1024;

/// The most entries in one bundle's `keys`, certificates in one DER or PEM X.509 bundle, or
/// keys in one [`JwtBundle`].
///
/// A trust domain publishes its current keys plus those being introduced or retired (SPIFFE
/// Federation 4.1): SPIRE keeps a handful per kind, and even a trust domain with several
/// upstream CAs and hourly JWT key rotation stays under a few dozen. 256 is an order of
/// magnitude above that and bounds per-document work.
pub const MAX_KEYS_PER_BUNDLE: usize = 256;

/// The most trust domains in one bundle map.
///
/// Federation relationships are configured one by one by operators; deployments have tens.
/// 1024 is far above that and bounds the work of one map.
pub const MAX_TRUST_DOMAINS_PER_MAP: usize = 1024;

/// The largest DER certificate accepted, in bytes.
///
/// A CA certificate with an RSA-16384 key and signature is about 4.5 KiB. rustls refuses
/// handshake messages over 64 KiB, so no certificate larger than this could be used in a TLS
/// handshake anyway.
pub const MAX_CERTIFICATE_BYTES: usize = 64 * 1024;

/// The smallest RSA modulus accepted for a JWT key, in bits. NIST SP 800-131A disallows
/// smaller RSA keys for signatures, and ring's and aws-lc-rs's RSA verification algorithms
/// refuse them; a smaller key is reported as unusable rather than kept.
pub const MIN_RSA_MODULUS_BITS: usize = 2048;

/// The largest RSA modulus accepted for a JWT key, in bits. Sizes above 4096 bits are rare in
/// practice and ring verifies up to 8192; 16384 bounds the work of decoding and comparing
/// moduli while leaving every plausible key in, and lets the crypto backend, not the parser,
/// decide about sizes it does not support.
pub const MAX_RSA_MODULUS_BITS: usize = 16384;

/// The most JSON values (objects, arrays, strings, numbers, literals) in one bundle document.
///
/// A JWK entry has about 10 members, plus one value per extra `x5c` certificate: 64 values
/// per entry for [`MAX_KEYS_PER_BUNDLE`] entries. The cap stops a small document of `[[],...]`
/// from becoming a large in-memory tree (a value can take two bytes of input and a few tens of
/// bytes of memory).
pub const MAX_JSON_VALUES_PER_BUNDLE: usize = 64 * MAX_KEYS_PER_BUNDLE;

/// The most JSON values in one bundle map: 256 per trust domain on average for
/// [`MAX_TRUST_DOMAINS_PER_MAP`] domains (a typical bundle has under 50), which keeps the parsed
/// tree to about 15 MiB beyond the strings of the input.
pub const MAX_JSON_VALUES_PER_MAP: usize = 256 * MAX_TRUST_DOMAINS_PER_MAP;
