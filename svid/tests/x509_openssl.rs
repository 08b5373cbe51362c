//! Certificates and keys made by the `openssl` command line parse as X.509-SVIDs and verify,
//! so the crate is not only compatible with rcgen's encoder (STYLE.md 2.6: CA output is
//! checked by webpki plus the `openssl` CLI; here the direction is reversed).
//!
//! openssl sets the validity window from the current time, so this is the one test file that
//! verifies at the system clock. Without an `openssl` binary the test is skipped with a
//! message, except under `CI=true`, where it fails.

// Every test needs a crypto backend; without one (`--no-default-features`) there is nothing
// to test.
#![cfg(any(feature = "ring", feature = "aws-lc-rs"))]
#![allow(
    clippy::panic,
    reason = "helpers outside #[test] functions; a panic there is a failed test"
)]

mod common;

use std::path::Path;
use std::process::Command;

use common::backend;
use rustls_pki_types::{CertificateDer, UnixTime};
use svid::{KeyAlgorithm, Usage, X509Svid};
use trust_bundle::X509Bundle;

/// Runs openssl in `dir`; `None` if there is no openssl binary.
fn openssl(dir: &Path, args: &[&str]) -> Option<()> {
    let output = match Command::new("openssl").args(args).current_dir(dir).output() {
        Ok(output) => output,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => panic!("openssl {args:?}: {e}"),
    };
    assert!(
        output.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(())
}

/// Whether openssl is usable; fails under CI when it is not.
fn have_openssl(dir: &Path) -> bool {
    if openssl(dir, &["version"]).is_some() {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "the openssl binary is required under CI=true"
    );
    eprintln!("skipping: no `openssl` binary on PATH");
    false
}

/// `openssl genpkey` arguments for each key type, and what `svid` should call it.
const KEY_TYPES: [(&[&str], KeyAlgorithm); 4] = [
    (
        &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
        KeyAlgorithm::EcdsaP256,
    ),
    (
        &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
        KeyAlgorithm::EcdsaP384,
    ),
    (
        &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
        KeyAlgorithm::Rsa,
    ),
    (&["-algorithm", "ED25519"], KeyAlgorithm::Ed25519),
];

/// A root CA and a leaf made with `openssl req -x509` and `openssl x509 -req`, with the
/// X.509-SVID extensions, parse with `X509Svid::from_pem` and verify with `svid::verify`, for
/// every key type (root and leaf of the same type).
///
/// shared/spec/SPIFFE-DIGEST.md 2.2, 2.3, 2.6.
#[test]
fn openssl_minted_svid_parses_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    if !have_openssl(dir) {
        return;
    }
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName = URI:spiffe://example.org/openssl\n\
         keyUsage = critical, digitalSignature\n\
         basicConstraints = critical, CA:FALSE\n\
         extendedKeyUsage = serverAuth, clientAuth\n",
    )
    .unwrap();

    for (genpkey, algorithm) in KEY_TYPES {
        let run = |args: &[&str]| openssl(dir, args).unwrap();
        run(&[&["genpkey"][..], genpkey, &["-out", "ca.key"]].concat());
        run(&[
            "req",
            "-x509",
            "-new",
            "-key",
            "ca.key",
            "-subj",
            "/O=SPIFFE/CN=example.org openssl root",
            "-days",
            "2",
            "-set_serial",
            "1",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-addext",
            "subjectAltName=URI:spiffe://example.org",
            "-out",
            "ca.pem",
        ]);
        run(&[&["genpkey"][..], genpkey, &["-out", "leaf.key"]].concat());
        run(&[
            "req",
            "-new",
            "-key",
            "leaf.key",
            "-subj",
            "/O=SPIFFE",
            "-out",
            "leaf.csr",
        ]);
        run(&[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-set_serial",
            "2",
            "-days",
            "1",
            "-extfile",
            "leaf.ext",
            "-out",
            "leaf.pem",
        ]);
        let read = |name: &str| std::fs::read(dir.join(name)).unwrap();

        let svid = X509Svid::from_pem(&read("leaf.pem"), &read("leaf.key"), &backend())
            .unwrap_or_else(|e| panic!("{algorithm:?}: {e:?}"));
        assert_eq!(svid.spiffe_id().as_str(), "spiffe://example.org/openssl");
        assert_eq!(svid.private_key().algorithm(), algorithm);

        let bundle = X509Bundle::from_pem("example.org".parse().unwrap(), &read("ca.pem")).unwrap();
        for usage in [Usage::Any, Usage::ServerAuth, Usage::ClientAuth] {
            let verified = svid::verify(svid.chain(), &bundle, &backend(), usage, UnixTime::now())
                .unwrap_or_else(|e| panic!("{algorithm:?} {usage:?}: {e:?}"));
            assert_eq!(verified.spiffe_id(), svid.spiffe_id());
            let root: &CertificateDer<'_> = &bundle.authorities()[0];
            assert_eq!(verified.path(), [svid.leaf().clone(), root.clone()]);
        }
    }
}

/// An ECDSA P-521 / SHA-512 authority made by openssl signs a P-256 leaf that verifies on every
/// backend compiled in: ring has no P-521, so its backend checks it with RustCrypto `p521`.
///
/// shared/spec/SPIFFE-DIGEST.md 2.6 step 6.
#[test]
fn openssl_p521_authority_verifies_on_every_backend() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    if !have_openssl(dir) {
        return;
    }
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName = URI:spiffe://example.org/p521\n\
         keyUsage = critical, digitalSignature\n\
         basicConstraints = critical, CA:FALSE\n",
    )
    .unwrap();
    let run = |args: &[&str]| openssl(dir, args).unwrap();
    let p521: &[&str] = &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-521"];
    let p256: &[&str] = &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"];
    run(&[&["genpkey"][..], p521, &["-out", "ca.key"]].concat());
    run(&[
        "req",
        "-x509",
        "-new",
        "-sha512",
        "-key",
        "ca.key",
        "-subj",
        "/O=SPIFFE/CN=example.org P-521 root",
        "-days",
        "2",
        "-set_serial",
        "1",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-addext",
        "subjectAltName=URI:spiffe://example.org",
        "-out",
        "ca.pem",
    ]);
    run(&[&["genpkey"][..], p256, &["-out", "leaf.key"]].concat());
    run(&[
        "req",
        "-new",
        "-key",
        "leaf.key",
        "-subj",
        "/O=SPIFFE",
        "-out",
        "leaf.csr",
    ]);
    run(&[
        "x509",
        "-req",
        "-sha512",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-set_serial",
        "2",
        "-days",
        "1",
        "-extfile",
        "leaf.ext",
        "-out",
        "leaf.pem",
    ]);
    let read = |name: &str| std::fs::read(dir.join(name)).unwrap();
    let svid = X509Svid::from_pem(&read("leaf.pem"), &read("leaf.key"), &backend()).unwrap();
    let bundle = X509Bundle::from_pem("example.org".parse().unwrap(), &read("ca.pem")).unwrap();
    for backend in common::backends() {
        let verified = svid::verify(svid.chain(), &bundle, &backend, Usage::Any, UnixTime::now())
            .unwrap_or_else(|e| panic!("{backend:?}: {e:?}"));
        assert_eq!(verified.spiffe_id().as_str(), "spiffe://example.org/p521");
    }
}
