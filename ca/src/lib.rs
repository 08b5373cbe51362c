//! SPIFFE issuance core: X.509-SVID and JWT-SVID authorities with rotation, policy and audit,
//! and an in-process test CA.
//!
//! Use it to embed a "node CA" in a custom control plane (issuance close to the workload), to
//! run a small trust domain's root, or in tests (`TestCa`, feature
//! `test-util`). It is not a registration/attestation server: the caller decides which SPIFFE
//! ID a requester gets ([`IssuancePolicy`] can enforce "a node may only get identities
//! assigned to it"), and it does not serve the Workload API (the `agent` crate does, on top of
//! this one).
//!
//! - [`CertificateAuthority`]: one trust domain. Root (self-signed) or intermediate (signed by
//!   a parent [`CertificateAuthority`] in-process, or by any [`UpstreamAuthority`] from a CSR
//!   this crate writes; the returned certificate is checked before use). Its own ID is
//!   `spiffe://<td>`.
//! - [`DiskUpstream`]: an organisation's existing CA certificate and private key, read from PEM
//!   files, as the [`UpstreamAuthority`] (SPIRE's `disk` UpstreamAuthority); the CA's bundle
//!   then holds the organisation's root. The files are checked when loaded, each failure a
//!   [`DiskUpstreamError`] naming the file.
//! - X.509-SVIDs with a key the CA generates ([`KeyType`]: P-256 default, P-384, RSA
//!   2048/3072/4096, Ed25519) or for the key of a PKCS#10 CSR (signature verified, requested
//!   names ignored); the profile follows the issuance checklist (digest 2.7): exactly one URI
//!   SAN, critical keyUsage `digitalSignature` (+ `keyEncipherment` for RSA), EKU
//!   serverAuth + clientAuth, `cA=false`, SKID/AKI, random positive 128-bit serial,
//!   `notBefore` 10 s in the past, `notAfter` capped at the CA's. Never URI name constraints.
//! - Downstream CA certificates with path length and lifetime capped by the parent.
//! - JWT-SVIDs (ES256 default, ES384, RS256, PS256) with a random `kid` per key, only `alg`,
//!   `kid`, `typ` in the header, `exp` capped at the key's expiry, extra claims that can never
//!   override registered ones.
//! - Credentials are verified with the `svid` crate against the CA's own bundle before they
//!   are returned ([`SelfCheck`]; by default every one when the keys live outside the process,
//!   the first per key plus a structural check of every one for in-process keys); a CA that
//!   cannot produce a verifying SVID returns an error.
//! - Key lifecycle prepared -> active -> retired for both kinds ([`CertificateAuthority::rotate`],
//!   forced rotation, taint, revoke), the published [`SpiffeBundle`](trust_bundle::SpiffeBundle)
//!   with `spiffe_sequence` and refresh hint, and change notification
//!   ([`CertificateAuthority::subscribe`] -> [`CaSnapshot`]).
//! - A lifecycle journal in a [`KeyStore`] ([`MemoryKeyStore`], [`FileKeyStore`]): a CA
//!   rebuilt on it keeps its authorities, JWT keys and `spiffe_sequence`. Audit through an
//!   [`AuditSink`] ([`JsonLinesAuditSink`]).
//! - Every key the CA creates (at build and at each rotation) comes from its [`KeyManager`]:
//!   [`SoftwareKeyManager`] (keys in memory, persisted through the key store) by default; a
//!   `Pkcs11KeyManager` (feature `pkcs11`) keeps them on a PKCS#11 token; a KMS implements
//!   the same seam. Keys sign through the [`Signer`] trait ([`SoftwareSigner`]: through the
//!   rustls provider of the CA's [`svid::Crypto`]).
//! - [`pkcs11_section`]: the `[ca.pkcs11]` section of the `agent` and `server` configuration
//!   files (parsed without any feature; opening the token needs `pkcs11`).
//!
//! Every operation takes `now: SystemTime`; nothing reads the clock except
//! `TestCa`, which says so.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use ca::{CertificateAuthority, IntermediateRequest, JwtSvidRequest, X509SvidRequest};
//! use rustls_pki_types::UnixTime;
//! use svid::{Crypto, Usage, X509Verifier};
//! use trust_bundle::BundleSet;
//!
//! let now = SystemTime::now();
//! let root = CertificateAuthority::builder("example.org".parse()?).build(now)?;
//! // A node CA below the root, e.g. inside an agent.
//! let node_ca = CertificateAuthority::builder("example.org".parse()?)
//!     .parent(&root)
//!     .ca_ttl(Duration::from_secs(6 * 3600))
//!     .build(now)?;
//!
//! let svid = node_ca.mint_x509_svid(
//!     &X509SvidRequest::new("spiffe://example.org/web".parse()?).dns_names(["web.internal"]),
//!     now,
//! )?;
//! assert_eq!(svid.chain().len(), 2); // leaf + node CA; the root is in the bundle
//!
//! // A peer verifies it with the trust domain's bundle.
//! let bundles = BundleSet::from_bundles([(*node_ca.bundle()).clone()])?;
//! let verifier = X509Verifier::new(bundles, &Crypto::default()).with_usage(Usage::ClientAuth);
//! let peer = verifier.verify(svid.chain(), UnixTime::now())?;
//! assert_eq!(peer.spiffe_id(), svid.spiffe_id());
//!
//! let token = node_ca.mint_jwt_svid(
//!     &JwtSvidRequest::new("spiffe://example.org/web".parse()?, ["spiffe://example.org/db"]),
//!     now,
//! )?;
//! assert!(token.starts_with("ey"));
//! # let _ = IntermediateRequest::new();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `ring` | yes | `svid::Crypto::ring`: P-256, P-384, Ed25519 key generation; RSA keys can be used, not generated |
//! | `aws-lc-rs` | no | `svid::Crypto::aws_lc_rs`: every [`KeyType`], including RSA generation |
//! | `pkcs11` | no | `Pkcs11KeyManager`: CA keys generated and used on a PKCS#11 token (HSM, SoftHSM2); the module is loaded at run time, nothing is needed to build. `pkcs11_section::Pkcs11KeysConfig::open` opens it from a config section |
//! | `test-util` | no | `test_util::TestCa` (also `ca::TestCa`): one-line CAs for tests, on the system clock |
//!
//! The crypto is one [`svid::Crypto`], given to
//! [`CertificateAuthorityBuilder::crypto`] (default `Crypto::default()`: aws-lc-rs when its
//! feature is on, otherwise ring): it generates, loads and signs keys, hashes key identifiers
//! and draws serial numbers. With neither feature, pass a `Crypto` built on your own rustls
//! provider (and a `KeyGenerator` for the keys the CA generates); without one, building a CA
//! returns [`Error::Unsupported`].
//!
//! # Specifications
//!
//! X509-SVID, JWT-SVID, and the trust domain and bundle specifications at
//! <https://github.com/spiffe/spiffe/tree/main/standards>; the issuance checklist is section 2.7
//! of the project's SPIFFE digest.

mod algorithm;
mod audit;
mod authority;
mod builder;
mod ca_cert;
mod csr;
mod error;
mod jwt;
mod key_manager;
mod keys;
mod keystore;
mod lifecycle;
mod mint;
pub mod pkcs11_section;
mod policy;
mod request;
mod self_check;
mod signer;
mod snapshot;
mod spki;
mod state;
#[cfg(feature = "test-util")]
pub mod test_util;
mod time;
mod upstream;
mod x509;

/// The DER plumbing shared with `trust-bundle` and `svid`.
use trust_bundle::der;

pub use algorithm::SignatureAlgorithm;
pub use audit::{AuditAction, AuditEvent, AuditSink, AuthorityKind, JsonLinesAuditSink};
pub use authority::CertificateAuthority;
pub use builder::{
    CertificateAuthorityBuilder, DEFAULT_CA_TTL, DEFAULT_JWT_SVID_TTL, DEFAULT_REFRESH_HINT,
    DEFAULT_X509_SVID_TTL,
};
pub use error::{AuditError, CsrError, DiskUpstreamError, Error, KeyManagerError, SignerError};
#[cfg(feature = "pkcs11")]
pub use key_manager::pkcs11::{Pkcs11Config, Pkcs11Error, Pkcs11KeyManager, Pkcs11Token};
pub use key_manager::software::SoftwareKeyManager;
pub use key_manager::{
    KeyManager, KeyPurpose, KeyRequest, KeyResidence, MAX_KEY_REF_LEN, ManagedKey,
};
pub use keystore::{FileKeyStore, KeyStore, MemoryKeyStore};
pub use policy::{AllowAll, CredentialKind, IssuanceContext, IssuancePolicy};
pub use request::{IntermediateRequest, JwtSvidRequest, X509SvidRequest};
pub use self_check::SelfCheck;
pub use signer::Signer;
pub use signer::software::SoftwareSigner;
pub use snapshot::{AuthorityInfo, CaSnapshot};
pub use state::AuthorityStatus;
/// The key types a CA generates (defined by `svid`, next to the [`svid::Crypto`] that
/// generates them).
pub use svid::KeyType;
#[cfg(feature = "test-util")]
pub use test_util::TestCa;
pub use upstream::{DiskUpstream, DiskUpstreamBuilder, IssuedCa, UpstreamAuthority};
pub use x509::DistinguishedName;
