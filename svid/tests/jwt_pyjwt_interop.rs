//! Interop with PyJWT, an independent JOSE implementation: tokens PyJWT signs (ES256, ES384,
//! RS256/384/512, PS256/384/512) validate here, and the attacks it can be made to produce
//! (`alg: none`, HS256 keyed with the public key, key-family confusion, another trust
//! domain...) are refused with the expected error.
//!
//! `interop/python/mint_jwt.py` generates fresh keys, writes a SPIFFE bundle document for
//! `example.org` and a list of tokens with their expected outcome; this test validates them at
//! the current time (the tokens live five minutes). It needs the virtual environment made by
//! `interop/python/setup.sh` (`.ci/test` runs it). Without it the test is skipped with a
//! printed reason, except under CI (`CI=true`), where it fails.

#![cfg(any(feature = "ring", feature = "aws-lc-rs"))]

use std::path::{Path, PathBuf};
use std::process::Command;

use rustls_pki_types::UnixTime;
use serde_json::Value;
use spiffe_id::TrustDomain;
use svid::{Audience, Crypto, JwtError, JwtValidator};
use trust_bundle::{BundleSet, SpiffeBundle};

/// The audience and trust domain `mint_jwt.py` uses.
const AUDIENCE: &str = "spiffe://example.org/service";
const TRUST_DOMAIN: &str = "example.org";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The venv's Python, or `None` (after printing why) when the test should be skipped.
fn python() -> Option<PathBuf> {
    let python = repo_root().join("interop/.venv/bin/python");
    if python.exists() {
        return Some(python);
    }
    let message = format!(
        "PyJWT interop: {} is missing; run `bash interop/python/setup.sh` to create it",
        python.display()
    );
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{message}");
    eprintln!("skipped: {message}");
    None
}

/// The variant name of an error, e.g. `NoBundle` for `NoBundle { trust_domain: .. }`.
fn variant(error: &JwtError) -> String {
    format!("{error:?}")
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect()
}

#[test]
fn pyjwt_tokens_validate_as_expected() {
    let Some(python) = python() else { return };
    let out = tempfile::tempdir().unwrap();
    let status = Command::new(&python)
        .arg(repo_root().join("interop/python/mint_jwt.py"))
        .arg(out.path())
        .status()
        .unwrap();
    assert!(status.success(), "mint_jwt.py failed: {status}");

    let bundle_json = std::fs::read(out.path().join("bundle.json")).unwrap();
    let trust_domain = TrustDomain::parse(TRUST_DOMAIN).unwrap();
    let bundle = SpiffeBundle::parse(trust_domain, &bundle_json).unwrap();
    let ignored = bundle.ignored().to_vec();
    assert!(
        ignored.is_empty(),
        "PyJWT bundle entries ignored: {ignored:?}"
    );
    assert_eq!(bundle.jwt_bundle().len(), 3);
    let bundles = BundleSet::from_bundles([bundle]).unwrap();

    let tokens: Vec<Value> =
        serde_json::from_slice(&std::fs::read(out.path().join("tokens.json")).unwrap()).unwrap();
    assert!(tokens.len() >= 20, "only {} tokens", tokens.len());
    let audience = Audience::new([AUDIENCE]).unwrap();
    let now = UnixTime::now();

    let backends = [
        #[cfg(feature = "ring")]
        Crypto::ring(),
        #[cfg(feature = "aws-lc-rs")]
        Crypto::aws_lc_rs(),
    ];

    let mut failures = Vec::new();
    let mut accepted = 0;
    for backend in backends {
        let validator = JwtValidator::new(&bundles, &backend);
        for case in &tokens {
            let name = case["name"].as_str().unwrap();
            let token = case["token"].as_str().unwrap();
            let expect = case["expect"].as_str().unwrap();
            let outcome = match validator.validate(token, &audience, now) {
                Ok(verified) => {
                    assert_eq!(verified.spiffe_id().trust_domain().as_str(), TRUST_DOMAIN);
                    assert!(verified.audience().iter().any(|aud| aud == AUDIENCE));
                    assert!(verified.kid().is_some());
                    accepted += 1;
                    "ok".to_owned()
                }
                Err(error) => variant(&error),
            };
            if outcome != expect {
                failures.push(format!(
                    "{name} on {backend:?}: expected {expect}, got {outcome}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(accepted > 0);
}
