//! Helpers shared by the integration tests.

#![allow(
    dead_code,
    reason = "each test binary uses a different subset of these helpers"
)]
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers; a panic is a failed test"
)]

use serde_json::{Value, json};
use spiffe_id::TrustDomain;
use trust_bundle::{Error, IgnoredKey, IgnoredReason, SpiffeBundle};

/// A trust domain from a name known to be valid.
pub(crate) fn td(name: &str) -> TrustDomain {
    TrustDomain::parse(name).unwrap()
}

/// A file under `tests/data/`.
pub(crate) fn data(path: &str) -> Vec<u8> {
    let full = format!("{}/tests/data/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

/// A JSON file under `tests/data/`.
pub(crate) fn data_json(path: &str) -> Value {
    serde_json::from_slice(&data(path)).unwrap()
}

/// The golden bundle: one EC P-256 X.509 authority, an EC P-256 and an RSA-2048 JWT key.
pub(crate) fn golden() -> Value {
    data_json("bundle/golden.json")
}

/// Parses a bundle document given as a JSON value, for `example.org`, with what it skipped.
pub(crate) fn parse(document: &Value) -> Result<(SpiffeBundle, Vec<IgnoredKey>), Error> {
    SpiffeBundle::parse(td("example.org"), document.to_string()).map(|bundle| {
        let ignored = bundle.ignored().to_vec();
        (bundle, ignored)
    })
}

/// Parses a document that must be accepted.
pub(crate) fn parse_ok(document: &Value) -> (SpiffeBundle, Vec<IgnoredKey>) {
    parse(document).unwrap_or_else(|e| panic!("refused: {e:?}\n{document:#}"))
}

/// Parses a document that must be refused.
pub(crate) fn parse_err(document: &Value) -> Error {
    match parse(document) {
        Ok(parsed) => panic!("accepted: {parsed:?}\n{document:#}"),
        Err(error) => error,
    }
}

/// `(index, reason)` of each ignored entry.
pub(crate) fn reasons(ignored: &[IgnoredKey]) -> Vec<(usize, IgnoredReason)> {
    ignored
        .iter()
        .map(|key| (key.index(), key.reason().clone()))
        .collect()
}

/// A bundle document with these entries and nothing else.
pub(crate) fn with_keys(keys: Vec<Value>) -> Value {
    json!({ "keys": keys })
}

/// The `n`-th entry of the golden bundle's `keys`.
pub(crate) fn golden_entry(n: usize) -> Value {
    golden()["keys"][n].clone()
}

/// A JWT entry on P-256 with synthetic (not on-curve) coordinates; this crate does no
/// crypto, so any 32-byte values are a well-formed key.
pub(crate) fn ec_jwt_entry(kid: &str) -> Value {
    json!({
        "kty": "EC", "use": "jwt-svid", "kid": kid, "crv": "P-256",
        "x": "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE",
        "y": "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI"
    })
}
