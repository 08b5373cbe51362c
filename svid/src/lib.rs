//! X.509-SVID and JWT-SVID parsing and verification against per-trust-domain bundles.
//!
//! - [`X509Svid`]: a workload's own certificate chain and [`PrivateKey`], parsed from the
//!   Workload API's DER or from PEM files, checked against the X.509-SVID profile and against
//!   its key.
//! - [`X509Verifier`] / [`verify`]: a peer's chain, verified against the bundle of the **leaf's
//!   own trust domain** (never a pooled root store), returning a [`VerifiedX509Svid`] that only
//!   the verifier can build. Path building and signatures are rustls-webpki's; the SPIFFE rules
//!   (exactly one URI SAN, non-root path, leaf not a CA, key usage, CA constraints on every
//!   certificate of the path including the bundle authority) are this crate's.
//! - [`JwtValidator`]: JWT-SVIDs with the algorithm bound to the key type and curve, `kid`
//!   required by default, a mandatory non-empty [`Audience`], explicit small leeway, and no
//!   header beyond `alg`, `kid`, `typ`.
//!
//! Usable outside any TLS handshake; the `tls-integration` crate wraps it for rustls. Every
//! check takes an explicit `now`: there is no hidden clock.
//!
//! ```
//! use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, KeyUsagePurpose, SanType};
//! use rustls_pki_types::{CertificateDer, UnixTime};
//! use svid::{Crypto, Usage, X509Verifier};
//! use trust_bundle::{BundleSet, SpiffeBundle, X509Bundle};
//!
//! // A trust domain's CA and one workload SVID (in tests, the `ca` crate does this).
//! let ca_key = KeyPair::generate()?;
//! let mut ca = CertificateParams::new(Vec::<String>::new())?;
//! ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
//! ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
//! ca.distinguished_name.push(rcgen::DnType::CommonName, "example.org CA");
//! let ca_cert = ca.self_signed(&ca_key)?;
//! let issuer = rcgen::Issuer::new(ca, ca_key);
//!
//! let mut leaf = CertificateParams::new(Vec::<String>::new())?;
//! leaf.subject_alt_names = vec![SanType::URI("spiffe://example.org/web".try_into()?)];
//! leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
//! let leaf_cert = leaf.signed_by(&KeyPair::generate()?, &issuer)?;
//!
//! // The bundle set a workload would get from the Workload API.
//! let bundle = X509Bundle::from_certificates("example.org".parse()?, [ca_cert.der().clone()])?;
//! let bundles = BundleSet::from_bundles([SpiffeBundle::from(bundle)])?;
//!
//! let verifier = X509Verifier::new(bundles, &Crypto::default(), Usage::ClientAuth);
//! let peer = verifier.verify(&[leaf_cert.der().clone()], UnixTime::now())?;
//! assert_eq!(peer.spiffe_id().as_str(), "spiffe://example.org/web");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Caching
//!
//! A signature check costs tens of microseconds; most services see the same client chain or
//! bearer token many times. [`X509Verifier::with_result_cache`] and
//! [`JwtValidator::with_result_cache`] opt in to a bounded cache of results. A result is reused
//! only where a fresh check by the same settings would give the same verdict: for identical
//! input bytes (and audience), by a verifier with the same settings (usage and algorithms for
//! X.509, which are fixed per verifier; leeway, `kid` policy and the crypto provider's algorithms for JWT, whose clones
//! share a cache), while the bundle that decided it is unchanged (the verifier's own source's
//! generation for X.509; for JWT the very bundle the source hands out for the token's trust
//! domain, looked up again on every hit), and within its validity window (latest `notBefore`
//! to earliest `notAfter`, or `nbf` to `exp` with the validator's leeway). A removed authority
//! or key therefore takes effect on the next call.
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `ring` | yes | [`Crypto::ring`]: rustls' ring provider (ECDSA P-256/P-384, RSA, Ed25519) plus ECDSA P-521 (ES512) from RustCrypto `p521`, which ring lacks: all nine JWT-SVID algorithms; generates P-256, P-384 and Ed25519 keys |
//! | `aws-lc-rs` | no | [`Crypto::aws_lc_rs`]: rustls' aws-lc-rs provider, the same algorithms (P-521 included); generates every [`KeyType`] |
//!
//! Both may be on together; [`Crypto::default`] then prefers aws-lc-rs. Without either,
//! [`Crypto::from_provider`] takes any rustls `CryptoProvider`. Nothing installs a process-wide
//! provider.
//!
//! # One crypto choice
//!
//! A [`Crypto`] is a rustls `CryptoProvider` (signature verification, key loading, random) plus
//! key generation. It is the one value the other crates of this workspace take: `ca` mints
//! with it, `workload-client` loads SVID keys with it, `tls-integration` builds its rustls
//! configurations on [`Crypto::provider`]. A key is loaded once ([`PrivateKey::signing_key`])
//! and that rustls `SigningKey` serves every later use.
//!
//! # Specifications
//!
//! X509-SVID, JWT-SVID and the trust domain and bundle specifications at
//! <https://github.com/spiffe/spiffe/tree/main/standards>.

mod cache;
mod crypto;
mod error;
mod files;
mod jwt;
mod jwt_algorithm;
mod jwt_limits;
mod key;
mod key_type;
mod pem;
mod source;
mod x509;

/// The DER plumbing shared with `trust-bundle` and `ca`.
use trust_bundle::der;

pub use crypto::{Crypto, KeyGenerator, KeyType};
pub use error::{
    CertificateError, ChainPosition, Error, JwtError, KeyError, Oid, ProfileError, VerifyError,
};
pub use jwt::{
    Audience, JwtAlgorithm, JwtKeyType, JwtSvid, JwtValidator, MAX_AUDIENCES, MAX_KEYS_WITHOUT_KID,
    MAX_LEEWAY, MAX_TOKEN_LEN, VerifiedJwtSvid,
};
pub use key::{KeyAlgorithm, PrivateKey};
pub use source::X509SvidSource;
pub use x509::svid::X509Svid;
pub use x509::verify::{Usage, VerifiedX509Svid, X509Verifier, verify};

/// The longest URI SAN accepted. SPIFFE IDs of 2048 bytes must be accepted and longer ones
/// should not be generated (SPIFFE-ID 2.3), so nothing longer comes from a conforming issuer.
pub const MAX_URI_LEN: usize = 2048;

/// The most certificates accepted in one chain. rustls-webpki builds paths through at most six
/// intermediates, so a leaf, six intermediates and a root the peer chose to send is the longest
/// chain that can verify; anything longer is refused before any parsing.
pub const MAX_CHAIN_LEN: usize = 8;
