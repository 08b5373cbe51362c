//! Property checks shared by the fuzz targets (`fuzz/fuzz_targets/*.rs`) and the stable corpus
//! replay test (`benches/tests/fuzz_corpus_replay.rs`). Both include this folder with
//! `#[path = ".../fuzz/checks/mod.rs"] mod checks;`.
//!
//! Each `check(data: &[u8])` panics (through `assert!`) when a property is violated; that is
//! a crash for libFuzzer and a failure for the replay test.
//!
//! The files here are plain Rust that depend only on the library crates (`spiffe_id`,
//! `trust_bundle`, `svid`, `ca`, `workload_client`) plus `rustls_pki_types`, `serde_json` and
//! `prost`, so they compile in the standalone fuzz crate and in the workspace alike. Fixed inputs some checks need (a CA
//! certificate, a JWKS) are in `data/`, with the script that made them and the seeds. Adding a
//! target takes:
//! 1. `checks/<name>.rs` with `pub(crate) fn check(data: &[u8])`, and a `mod` line plus a
//!    [`TARGETS`] entry below;
//! 2. `fuzz_targets/<name>.rs` (copy an existing one, change the module name);
//! 3. a `[[bin]]` entry in `fuzz/Cargo.toml` (plus the path dependency if it is a new crate);
//! 4. seed files in `fuzz/corpus/<name>/`.
//!
//! The replay test fails if these four disagree.

pub(crate) mod bundle_document;
pub(crate) mod bundle_map;
pub(crate) mod csr;
pub(crate) mod id_pattern;
pub(crate) mod jwt_svid;
pub(crate) mod spiffe_id;
pub(crate) mod trust_domain;
pub(crate) mod workload_response;
pub(crate) mod x509_bundle_der;
pub(crate) mod x509_svid;

/// A property check: panics when `data` shows a violation.
pub(crate) type Check = fn(data: &[u8]);

/// Every fuzz target: its name (the `[[bin]]` name, `fuzz_targets/<name>.rs` and
/// `corpus/<name>/`) and its property check.
pub(crate) const TARGETS: &[(&str, Check)] = &[
    ("spiffe_id", spiffe_id::check),
    ("trust_domain", trust_domain::check),
    ("id_pattern", id_pattern::check),
    ("bundle_document", bundle_document::check),
    ("bundle_map", bundle_map::check),
    ("x509_bundle_der", x509_bundle_der::check),
    ("x509_svid", x509_svid::check),
    ("jwt_svid", jwt_svid::check),
    ("csr", csr::check),
    ("workload_response", workload_response::check),
];

/// `example.org`, the trust domain of the bundle and SVID targets.
#[allow(clippy::expect_used, reason = "a fixed, valid name")]
pub(crate) fn example_org() -> ::spiffe_id::TrustDomain {
    static TD: std::sync::OnceLock<::spiffe_id::TrustDomain> = std::sync::OnceLock::new();
    TD.get_or_init(|| ::spiffe_id::TrustDomain::parse("example.org").expect("a valid name"))
        .clone()
}

/// Properties every refusal has, whichever parser gave it: the message is not empty, and an
/// offset it reports points into `input`, at the byte it names.
pub(crate) fn check_error(input: &[u8], err: &::spiffe_id::Error) {
    use ::spiffe_id::Error;

    assert!(!err.to_string().is_empty(), "empty message for {err:?}");
    match *err {
        Error::BadTrustDomainChar { at, byte } | Error::BadPathChar { at, byte } => {
            assert_eq!(
                input.get(at),
                Some(&byte),
                "{err:?} does not point at its byte"
            );
        }
        Error::EmptySegment { at } | Error::DotSegment { at } | Error::BadWildcard { at } => {
            assert_eq!(
                input.get(at),
                Some(&b'/'),
                "{err:?} does not point at a `/`"
            );
        }
        Error::TrustDomainTooLong { len } => {
            assert!(len > ::spiffe_id::MAX_TRUST_DOMAIN_LEN && len <= input.len());
        }
        Error::Empty => assert!(input.is_empty()),
        Error::TrailingSlash => assert_eq!(input.last(), Some(&b'/')),
        _ => {}
    }
}
