//! Property checks shared by the fuzz targets (`fuzz/fuzz_targets/*.rs`) and the stable corpus
//! replay test (`benches/tests/fuzz_corpus_replay.rs`). Both include this folder with
//! `#[path = ".../fuzz/checks/mod.rs"] mod checks;`.
//!
//! Each `check(data: &[u8])` panics (through `assert!`) when a property is violated; that is
//! a crash for libFuzzer and a failure for the replay test.
//!
//! The files here are plain Rust that depend only on the library crates (today `spiffe_id`),
//! so they compile in the standalone fuzz crate and in the workspace alike. Adding a target
//! (`bundle_document`, `bundle_map`, ...) takes:
//! 1. `checks/<name>.rs` with `pub(crate) fn check(data: &[u8])`, and a `mod` line plus a
//!    [`TARGETS`] entry below;
//! 2. `fuzz_targets/<name>.rs` (copy an existing one, change the module name);
//! 3. a `[[bin]]` entry in `fuzz/Cargo.toml` (plus the path dependency if it is a new crate);
//! 4. seed files in `fuzz/corpus/<name>/`.
//!
//! The replay test fails if these four disagree.

pub(crate) mod id_pattern;
pub(crate) mod spiffe_id;
pub(crate) mod trust_domain;

/// A property check: panics when `data` shows a violation.
pub(crate) type Check = fn(data: &[u8]);

/// Every fuzz target: its name (the `[[bin]]` name, `fuzz_targets/<name>.rs` and
/// `corpus/<name>/`) and its property check.
pub(crate) const TARGETS: &[(&str, Check)] = &[
    ("spiffe_id", spiffe_id::check),
    ("trust_domain", trust_domain::check),
    ("id_pattern", id_pattern::check),
];

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
