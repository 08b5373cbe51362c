//! Independent peers accept what the CA mints: the `openssl` CLI verifies the X.509 chains and
//! shows the expected extensions, and PyJWT (+ cryptography) verifies the JWT-SVIDs.
//!
//! Both peers work on the system clock (openssl's `verify` and PyJWT's `exp` check), so these
//! tests mint at the current time. Without openssl or the interop virtual environment
//! (`bash interop/python/setup.sh`) a test is skipped with a printed reason, except under
//! `CI=true`, where it fails.

#![cfg(any(feature = "ring", feature = "aws-lc-rs"))]
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "helpers outside #[test] functions; a panic there is a failed test"
)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use ca::{CertificateAuthority, JwtSvidRequest, X509SvidRequest};
use common::{id, repo_root, td};
use rustls_pki_types::CertificateDer;
use serde_json::json;
use svid::JwtAlgorithm;

fn skip_or_fail(message: &str) {
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{message}");
    eprintln!("skipped: {message}");
}

/// Runs openssl in `dir`, returning stdout; `None` when there is no openssl binary.
fn openssl(dir: &Path, args: &[&str]) -> Option<String> {
    let output = match Command::new("openssl").args(args).current_dir(dir).output() {
        Ok(output) => output,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => panic!("openssl {args:?}: {e}"),
    };
    assert!(
        output.status.success(),
        "openssl {args:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Some(String::from_utf8(output.stdout).unwrap())
}

fn pem(certs: &[CertificateDer<'_>]) -> String {
    use base64::Engine;
    let mut out = String::new();
    for cert in certs {
        out.push_str("-----BEGIN CERTIFICATE-----\n");
        let b64 = base64::engine::general_purpose::STANDARD.encode(cert);
        for line in b64.as_bytes().chunks(64) {
            out.push_str(std::str::from_utf8(line).unwrap());
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
    }
    out
}

/// `openssl verify -x509_strict` accepts the root -> intermediate -> leaf chain for TLS client
/// and server purposes, and with `-partial_chain` the intermediate alone as trust anchor;
/// `openssl x509 -text` shows the profile of digest 2.7.
#[test]
fn openssl_verifies_minted_chains() {
    let dir = tempfile::tempdir().unwrap();
    if openssl(dir.path(), &["version"]).is_none() {
        skip_or_fail("the openssl binary is missing");
        return;
    }
    let now = SystemTime::now();
    let root = CertificateAuthority::builder(td("example.org"))
        .build(now)
        .unwrap();
    let node = CertificateAuthority::builder(td("example.org"))
        .parent(&root)
        .build(now)
        .unwrap();
    let svid = node
        .mint_x509_svid(
            &X509SvidRequest::new(id("spiffe://example.org/web"))
                .dns_names(["web.example.org"])
                .ttl(Duration::from_secs(600)),
            now,
        )
        .unwrap();
    let write = |name: &str, certs: &[CertificateDer<'_>]| {
        std::fs::write(dir.path().join(name), pem(certs)).unwrap();
    };
    write("root.pem", root.bundle().x509_bundle().authorities());
    write("leaf.pem", &svid.chain()[..1]);
    write("inter.pem", &svid.chain()[1..]);
    let direct = root.mint_x509_svid(&X509SvidRequest::new(id("spiffe://example.org/db")), now);
    write("direct.pem", direct.unwrap().chain());

    for purpose in ["sslclient", "sslserver"] {
        let out = openssl(
            dir.path(),
            &[
                "verify",
                "-x509_strict",
                "-purpose",
                purpose,
                "-CAfile",
                "root.pem",
                "-untrusted",
                "inter.pem",
                "leaf.pem",
            ],
        )
        .unwrap();
        assert!(out.contains("leaf.pem: OK"), "{out}");
    }
    let out = openssl(
        dir.path(),
        &[
            "verify",
            "-partial_chain",
            "-CAfile",
            "inter.pem",
            "leaf.pem",
        ],
    )
    .unwrap();
    assert!(out.contains("OK"), "{out}");
    let out = openssl(
        dir.path(),
        &[
            "verify",
            "-x509_strict",
            "-CAfile",
            "root.pem",
            "direct.pem",
        ],
    )
    .unwrap();
    assert!(out.contains("OK"), "{out}");

    let text = openssl(dir.path(), &["x509", "-in", "leaf.pem", "-noout", "-text"]).unwrap();
    for expected in [
        "X509v3 Key Usage: critical",
        "Digital Signature",
        "TLS Web Server Authentication, TLS Web Client Authentication",
        "CA:FALSE",
        "X509v3 Subject Alternative Name: critical",
        "URI:spiffe://example.org/web",
        "DNS:web.example.org",
        "X509v3 Subject Key Identifier",
        "X509v3 Authority Key Identifier",
    ] {
        assert!(text.contains(expected), "leaf lacks {expected:?}:\n{text}");
    }
    assert!(!text.contains("Certificate Sign"), "{text}");

    let text = openssl(dir.path(), &["x509", "-in", "inter.pem", "-noout", "-text"]).unwrap();
    for expected in [
        "X509v3 Basic Constraints: critical",
        "CA:TRUE",
        "X509v3 Key Usage: critical",
        "Certificate Sign, CRL Sign",
        "URI:spiffe://example.org",
        "O = SPIFFE",
    ] {
        assert!(text.contains(expected), "CA lacks {expected:?}:\n{text}");
    }
    assert!(!text.contains("Name Constraints"), "{text}");
}

fn python() -> Option<PathBuf> {
    let python = repo_root().join("interop/.venv/bin/python");
    if python.exists() {
        return Some(python);
    }
    skip_or_fail(&format!(
        "PyJWT interop: {} is missing; run `bash interop/python/setup.sh`",
        python.display()
    ));
    None
}

/// PyJWT verifies JWT-SVIDs of every algorithm the CA signs with, and rejects the wrong
/// audience, an expired token and a tampered one.
#[test]
fn pyjwt_verifies_minted_jwt_svids() {
    let Some(python) = python() else { return };
    let now = SystemTime::now();
    let mut algorithms = vec![JwtAlgorithm::Es256, JwtAlgorithm::Es384];
    if cfg!(feature = "aws-lc-rs") {
        algorithms.extend([JwtAlgorithm::Rs256, JwtAlgorithm::Ps256]);
    }
    for algorithm in algorithms {
        let ca = CertificateAuthority::builder(td("example.org"))
            .jwt_algorithm(algorithm)
            .build(now - Duration::from_secs(3600))
            .unwrap();
        let request = JwtSvidRequest::new(id("spiffe://example.org/web"), ["reports"])
            .claim("tenant", json!("blue"));
        let good = ca.mint_jwt_svid(&request, now).unwrap();
        let expired = ca
            .mint_jwt_svid(
                &request.clone().ttl(Duration::from_secs(60)),
                now - Duration::from_secs(1800),
            )
            .unwrap();
        let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
        parts[1] = {
            use base64::Engine;
            let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
            let mut claims: serde_json::Value =
                serde_json::from_slice(&engine.decode(&parts[1]).unwrap()).unwrap();
            claims["sub"] = json!("spiffe://example.org/admin");
            engine.encode(claims.to_string())
        };
        let tampered = parts.join(".");
        let bundle: serde_json::Value = serde_json::from_str(&ca.bundle().to_json()).unwrap();
        let input = json!({
            "bundle": bundle,
            "tokens": [
                {"name": "good", "token": good, "audience": "reports", "expect": "ok"},
                {"name": "other-audience", "token": good, "audience": "billing", "expect": "fail"},
                {"name": "expired", "token": expired, "audience": "reports", "expect": "fail"},
                {"name": "tampered", "token": tampered, "audience": "reports", "expect": "fail"},
            ],
        });
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("input.json");
        std::fs::write(&path, input.to_string()).unwrap();
        let output = Command::new(&python)
            .arg(repo_root().join("interop/python/verify_jwt.py"))
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "verify_jwt.py: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let results: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        let results = results["results"].as_array().unwrap();
        let outcome = |name: &str| results.iter().find(|r| r["name"] == name).unwrap().clone();
        let good = outcome("good");
        assert_eq!(good["outcome"], "ok", "{algorithm:?}: {good}");
        assert_eq!(good["claims"]["sub"], "spiffe://example.org/web");
        assert_eq!(good["claims"]["tenant"], "blue");
        assert_eq!(outcome("other-audience")["outcome"], "InvalidAudienceError");
        assert_eq!(outcome("expired")["outcome"], "ExpiredSignatureError");
        assert_eq!(outcome("tampered")["outcome"], "InvalidSignatureError");
    }
}
