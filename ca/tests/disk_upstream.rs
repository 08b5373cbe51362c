//! `DiskUpstream`: an organisation's CA, made with the real `openssl` CLI, signs this CA's
//! intermediates; the chains it mints pass `openssl verify` and our own verifier against the
//! organisation's root, and each broken file gives its own typed error.
//!
//! openssl works on the system clock, so these tests load and mint at the current time.
//! Without openssl a test is skipped with a printed reason, except under `CI=true`, where it
//! fails.

#![cfg(any(feature = "ring", feature = "aws-lc-rs"))]
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "helpers outside #[test] functions; a panic there is a failed test"
)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ca::{
    CertificateAuthority, DiskUpstream, DiskUpstreamError, Error, UpstreamAuthority,
    X509SvidRequest,
};
use common::{id, parse, td, verify};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use x509_parser::extensions::ParsedExtension;

/// Extension sections for the organisation's certificates (`-extensions <name>`).
const OPENSSL_CNF: &str = "\
[req]
distinguished_name = dn
prompt = no
[dn]
O = Example Org
[ca]
basicConstraints = critical,CA:true
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ca_pathlen1]
basicConstraints = critical,CA:true,pathlen:1
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[ca_pathlen2]
basicConstraints = critical,CA:true,pathlen:2
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[not_ca]
basicConstraints = critical,CA:false
keyUsage = critical,digitalSignature
[ca_no_cert_sign]
basicConstraints = critical,CA:true
keyUsage = critical,cRLSign
";

/// A temporary directory where the `openssl` CLI makes an organisation's PKI.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    /// `None` (after printing why, or failing under `CI=true`) when openssl is missing.
    fn new() -> Option<Self> {
        if Command::new("openssl").arg("version").output().is_err() {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "the openssl binary is missing"
            );
            eprintln!("skipped: the openssl binary is missing");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pki.cnf"), OPENSSL_CNF).unwrap();
        Some(Self { dir })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs openssl in the directory; returns stdout, panics with its output on failure.
    fn openssl(&self, args: &[&str]) -> String {
        let output = Command::new("openssl")
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "openssl {args:?} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    /// A self-signed CA `<name>.pem` with key `<name>.key` (mode 0600): `key` is openssl's
    /// `-newkey` argument, `extensions` a section of [`OPENSSL_CNF`].
    fn root(&self, name: &str, key: &[&str], extensions: &str) {
        let (cert, key_file, subject) = (
            format!("{name}.pem"),
            format!("{name}.key"),
            format!("/O=Example Org/CN={name}"),
        );
        let mut args = vec![
            "req",
            "-x509",
            "-config",
            "pki.cnf",
            "-extensions",
            extensions,
        ];
        args.extend(["-newkey"]);
        args.extend(key);
        args.extend(["-noenc", "-keyout", &key_file, "-out", &cert]);
        args.extend(["-days", "30", "-subj", &subject]);
        self.openssl(&args);
        self.chmod(&key_file, 0o600);
    }

    /// A CA `<name>.pem` (key `<name>.key`, P-256) signed by `issuer`.
    fn intermediate(&self, name: &str, issuer: &str, extensions: &str) {
        let subject = format!("/O=Example Org/CN={name}");
        let (csr, key, cert) = (
            format!("{name}.csr"),
            format!("{name}.key"),
            format!("{name}.pem"),
        );
        self.openssl(&[
            "req",
            "-new",
            "-config",
            "pki.cnf",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-noenc",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            &subject,
        ]);
        self.openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &format!("{issuer}.pem"),
            "-CAkey",
            &format!("{issuer}.key"),
            "-CAcreateserial",
            "-days",
            "30",
            "-extfile",
            "pki.cnf",
            "-extensions",
            extensions,
            "-out",
            &cert,
        ]);
        self.chmod(&key, 0o600);
    }

    fn chmod(&self, name: &str, mode: u32) {
        std::fs::set_permissions(self.path(name), std::fs::Permissions::from_mode(mode)).unwrap();
    }

    /// The certificates of a PEM file.
    fn certs(&self, name: &str) -> Vec<CertificateDer<'static>> {
        CertificateDer::pem_file_iter(self.path(name))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    fn write_pem(&self, name: &str, certs: &[CertificateDer<'_>]) {
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
        std::fs::write(self.path(name), out).unwrap();
    }

    /// Loads `<cert>.pem` and `<key>.key` (and the bundle file, if any) at `now`.
    fn load(
        &self,
        cert: &str,
        key: &str,
        bundle: Option<&str>,
        now: SystemTime,
    ) -> Result<DiskUpstream, Error> {
        let mut builder = DiskUpstream::builder(
            self.path(&format!("{cert}.pem")),
            self.path(&format!("{key}.key")),
        );
        if let Some(bundle) = bundle {
            builder = builder.bundle_path(self.path(bundle));
        }
        builder.load(td("example.org"), now)
    }

    /// Builds a CA under `upstream`, mints an X509-SVID, and checks the chain with
    /// `openssl verify` against `root_file` and with our verifier against the CA's bundle,
    /// whose only X.509 authority must be the organisation's root. Returns the CA and the
    /// SVID's chain.
    fn ca_verifies(
        &self,
        upstream: DiskUpstream,
        root_file: &str,
        now: SystemTime,
    ) -> (CertificateAuthority, Vec<CertificateDer<'static>>) {
        let ca = CertificateAuthority::builder(td("example.org"))
            .upstream(Arc::new(upstream))
            .ca_ttl(Duration::from_secs(6 * 3600))
            .build(now)
            .unwrap();
        let chain = self.mint_and_verify(&ca, root_file, now);
        (ca, chain)
    }

    fn mint_and_verify(
        &self,
        ca: &CertificateAuthority,
        root_file: &str,
        now: SystemTime,
    ) -> Vec<CertificateDer<'static>> {
        let svid = ca
            .mint_x509_svid(
                &X509SvidRequest::new(id("spiffe://example.org/web")).ttl(Duration::from_secs(600)),
                now,
            )
            .unwrap();
        let chain = svid.chain().to_vec();
        assert_eq!(
            ca.bundle().x509_bundle().authorities(),
            self.certs(root_file)
        );
        verify(ca, &chain, now).unwrap();

        self.write_pem("leaf.pem", &chain[..1]);
        self.write_pem("chain.pem", &chain[1..]);
        let out = self.openssl(&[
            "verify",
            "-x509_strict",
            "-CAfile",
            root_file,
            "-untrusted",
            "chain.pem",
            "leaf.pem",
        ]);
        assert!(out.contains("leaf.pem: OK"), "{out}");
        chain
    }
}

fn disk_error(result: Result<DiskUpstream, Error>) -> DiskUpstreamError {
    match result {
        Err(Error::DiskUpstream(error)) => *error,
        other => panic!("expected a disk upstream error, got {other:?}"),
    }
}

/// An organisation's self-signed P-256 root signs our intermediate: the bundle holds that
/// root and `openssl verify` accepts leaf -> our CA -> org root. Our CA certificate names
/// the trust domain (X509-SVID 4.1: a signing certificate's ID has no path), its AKI is the
/// root's SKI, and its notAfter is within the root's.
#[test]
fn p256_root_signs_an_intermediate_that_openssl_verifies() {
    let Some(pki) = Pki::new() else { return };
    pki.root("root", &["ec", "-pkeyopt", "ec_paramgen_curve:P-256"], "ca");
    let now = SystemTime::now();
    let upstream = pki.load("root", "root", None, now).unwrap();
    assert_eq!(upstream.roots(), pki.certs("root.pem"));
    let (_, chain) = pki.ca_verifies(upstream, "root.pem", now);
    assert_eq!(chain.len(), 2, "leaf + our CA; the root is in the bundle");

    let root_der = &pki.certs("root.pem")[0];
    let root = parse(root_der);
    let ours = parse(&chain[1]);
    assert_eq!(ours.issuer(), root.subject());
    assert!(ours.validity().not_after <= root.validity().not_after);
    let san = ours.subject_alternative_name().unwrap().unwrap().value;
    assert_eq!(
        format!("{:?}", san.general_names),
        "[URI(\"spiffe://example.org\")]"
    );
    let ski = root
        .extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(id) => Some(id.0.to_vec()),
            _ => None,
        })
        .unwrap();
    let aki = ours
        .extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(aki) => aki.key_identifier.clone(),
            _ => None,
        })
        .unwrap();
    assert_eq!(aki.0, ski.as_slice());
    assert!(ours.basic_constraints().unwrap().unwrap().value.ca);
}

/// An RSA-2048 organisation root in PKCS#1 (`RSA PRIVATE KEY`) form signs with
/// sha256WithRSAEncryption; a SEC1 (`EC PRIVATE KEY`) P-384 root works the same way.
#[test]
fn rsa_pkcs1_and_sec1_p384_roots_sign_intermediates() {
    let Some(pki) = Pki::new() else { return };
    pki.root("rsa", &["rsa:2048"], "ca");
    pki.openssl(&["rsa", "-in", "rsa.key", "-traditional", "-out", "rsa1.key"]);
    assert!(
        std::fs::read_to_string(pki.path("rsa1.key"))
            .unwrap()
            .starts_with("-----BEGIN RSA PRIVATE KEY")
    );
    pki.chmod("rsa1.key", 0o600);
    pki.openssl(&[
        "ecparam",
        "-name",
        "secp384r1",
        "-genkey",
        "-noout",
        "-out",
        "p384.key",
    ]);
    pki.chmod("p384.key", 0o600);
    pki.openssl(&[
        "req",
        "-x509",
        "-config",
        "pki.cnf",
        "-extensions",
        "ca",
        "-key",
        "p384.key",
        "-out",
        "p384.pem",
        "-days",
        "30",
        "-subj",
        "/O=Example Org/CN=p384",
    ]);
    assert!(
        std::fs::read_to_string(pki.path("p384.key"))
            .unwrap()
            .starts_with("-----BEGIN EC PRIVATE KEY")
    );
    // openssl dates its certificates at the current second: load after making them.
    let now = SystemTime::now();
    let upstream = pki.load("rsa", "rsa1", None, now).unwrap();
    let (_, chain) = pki.ca_verifies(upstream, "rsa.pem", now);
    assert_eq!(
        parse(&chain[1])
            .signature_algorithm
            .algorithm
            .to_id_string(),
        "1.2.840.113549.1.1.11"
    );
    let upstream = pki.load("p384", "p384", None, now).unwrap();
    pki.ca_verifies(upstream, "p384.pem", now);
}

/// A two-level organisation PKI: root -> issuing CA (the disk upstream, its file without the
/// root) with `bundle_path` = the root. The SVID chain is leaf -> our CA -> issuing CA, and
/// the bundle holds only the root. The root's pathlen:2 leaves room for exactly our CA, so
/// ours carries pathlen 0 (RFC 5280 4.2.1.9).
#[test]
fn two_level_org_pki_with_a_bundle_verifies() {
    let Some(pki) = Pki::new() else { return };
    pki.root(
        "root",
        &["ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "ca_pathlen2",
    );
    pki.intermediate("issuing", "root", "ca");
    let now = SystemTime::now();
    let upstream = pki
        .load("issuing", "issuing", Some("root.pem"), now)
        .unwrap();
    assert_eq!(upstream.certificate(), &pki.certs("issuing.pem")[0]);
    let (_, chain) = pki.ca_verifies(upstream, "root.pem", now);
    assert_eq!(chain.len(), 3, "leaf, our CA, the issuing CA");
    assert_eq!(chain[2], pki.certs("issuing.pem")[0]);
    let constraints = parse(&chain[1])
        .basic_constraints()
        .unwrap()
        .unwrap()
        .value
        .clone();
    assert_eq!(constraints.path_len_constraint, Some(0));

    // The same with the root appended to the certificate file: it stays out of the chain.
    let mut both = pki.certs("issuing.pem");
    both.extend(pki.certs("root.pem"));
    pki.write_pem("both.pem", &both);
    let upstream = pki.load("both", "issuing", Some("root.pem"), now).unwrap();
    let (_, chain) = pki.ca_verifies(upstream, "root.pem", now);
    assert_eq!(chain.len(), 3);
}

/// Rotation under the disk upstream issues a new intermediate (new key, new certificate)
/// under the same organisation root; the bundle still holds only that root.
#[test]
fn rotation_issues_a_new_intermediate_under_the_same_root() {
    let Some(pki) = Pki::new() else { return };
    pki.root("root", &["ec", "-pkeyopt", "ec_paramgen_curve:P-256"], "ca");
    let now = SystemTime::now();
    let upstream = pki.load("root", "root", None, now).unwrap();
    let (ca, before) = pki.ca_verifies(upstream, "root.pem", now);
    ca.force_rotate_x509(now).unwrap();
    let after = pki.mint_and_verify(&ca, "root.pem", now);
    assert_ne!(before[1], after[1], "a new intermediate");
    assert_ne!(
        parse(&before[1]).public_key().raw,
        parse(&after[1]).public_key().raw,
        "for a new key"
    );
    assert_eq!(parse(&before[1]).issuer(), parse(&after[1]).issuer());
}

/// Each broken file gives its own typed error naming the file.
#[test]
fn broken_files_give_typed_errors() {
    let Some(pki) = Pki::new() else { return };
    let p256 = ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"];
    pki.root("root", &p256, "ca");
    pki.root("other", &p256, "ca");
    pki.root("leafy", &p256, "not_ca");
    pki.root("nosign", &p256, "ca_no_cert_sign");
    let now = SystemTime::now();

    // The key of another certificate.
    match disk_error(pki.load("root", "other", None, now)) {
        DiskUpstreamError::KeyMismatch {
            key_path,
            cert_path,
        } => {
            assert_eq!(key_path, pki.path("other.key"));
            assert_eq!(cert_path, pki.path("root.pem"));
        }
        other => panic!("{other:?}"),
    }

    // Not a CA (X509-SVID 4.1: cA must be true), and a CA without keyCertSign (4.3).
    for name in ["leafy", "nosign"] {
        match disk_error(pki.load(name, name, None, now)) {
            DiskUpstreamError::NotCa { path, .. } => {
                assert_eq!(path, pki.path(&format!("{name}.pem")))
            }
            other => panic!("{name}: {other:?}"),
        }
    }

    // Expired at `now` (the certificate is valid for 30 days), and not yet valid.
    for when in [
        now + Duration::from_secs(31 * 86_400),
        now - Duration::from_secs(86_400),
    ] {
        assert!(matches!(
            disk_error(pki.load("root", "root", None, when)),
            DiskUpstreamError::NotValid { .. }
        ));
    }

    // A key file that group or others may read.
    pki.chmod("root.key", 0o644);
    assert!(matches!(
        pki.load("root", "root", None, now),
        Err(Error::KeyFilePermissions { mode: 0o644, .. })
    ));
    pki.chmod("root.key", 0o600);

    // Garbage instead of PEM, in the certificate file and in the key file; a PEM block that
    // is not a certificate.
    std::fs::write(pki.path("garbage.pem"), "not a certificate\n").unwrap();
    std::fs::write(pki.path("garbage.key"), "not a key\n").unwrap();
    pki.chmod("garbage.key", 0o600);
    std::fs::write(
        pki.path("junk.pem"),
        "-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    match disk_error(pki.load("garbage", "root", None, now)) {
        DiskUpstreamError::Pem { path, .. } => assert_eq!(path, pki.path("garbage.pem")),
        other => panic!("{other:?}"),
    }
    match disk_error(pki.load("root", "garbage", None, now)) {
        DiskUpstreamError::Pem { path, .. } => assert_eq!(path, pki.path("garbage.key")),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        disk_error(pki.load("junk", "root", None, now)),
        DiskUpstreamError::MalformedCertificate { .. }
    ));

    // A missing file.
    assert!(matches!(
        disk_error(pki.load("missing", "root", None, now)),
        DiskUpstreamError::Read { .. }
    ));
}

/// The chain must verify to the bundle: an issuing CA with another organisation's root as
/// bundle is refused, and without a bundle at all (it is not self-signed) too. A root whose
/// pathlen:1 leaves no room below the issuing CA is refused before anything is signed
/// (RFC 5280 4.2.1.9).
#[test]
fn a_chain_that_does_not_verify_to_the_bundle_is_refused() {
    let Some(pki) = Pki::new() else { return };
    let p256 = ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"];
    pki.root("root", &p256, "ca");
    pki.root("other", &p256, "ca");
    pki.intermediate("issuing", "root", "ca");
    pki.root("tight", &p256, "ca_pathlen1");
    pki.intermediate("below_tight", "tight", "ca");
    let now = SystemTime::now();

    match disk_error(pki.load("issuing", "issuing", Some("other.pem"), now)) {
        DiskUpstreamError::ChainNotVerified {
            path, roots_path, ..
        } => {
            assert_eq!(path, pki.path("issuing.pem"));
            assert_eq!(roots_path, pki.path("other.pem"));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        disk_error(pki.load("issuing", "issuing", None, now)),
        DiskUpstreamError::BundleRequired { .. }
    ));

    assert!(matches!(
        disk_error(pki.load("below_tight", "below_tight", Some("tight.pem"), now)),
        DiskUpstreamError::NotCa { .. }
    ));
}

/// `sign_intermediate` checks the CSR's proof of possession and caps the lifetime at the
/// upstream certificate's notAfter; Debug shows the paths, never the key.
#[test]
fn signs_only_verified_csrs_within_the_upstream_lifetime() {
    let Some(pki) = Pki::new() else { return };
    pki.root("root", &["ec", "-pkeyopt", "ec_paramgen_curve:P-256"], "ca");
    let now = SystemTime::now();
    let upstream = pki.load("root", "root", None, now).unwrap();

    let mut csr = common::some_csr();
    let issued = upstream
        .sign_intermediate(&csr, Duration::from_secs(365 * 86_400), now)
        .unwrap();
    let root = parse(&upstream.roots()[0]);
    let ours = parse(&issued.chain[0]);
    assert_eq!(ours.validity().not_after, root.validity().not_after);
    assert_eq!(issued.chain.len(), 1);
    assert_eq!(issued.roots, upstream.roots());

    let last = csr.len() - 1;
    csr[last] ^= 1;
    assert!(matches!(
        upstream.sign_intermediate(&csr, Duration::from_secs(3600), now),
        Err(Error::Csr(_))
    ));

    let debug = format!("{upstream:?}");
    assert!(debug.contains("root.key"), "{debug}");
    let key_pem = std::fs::read_to_string(pki.path("root.key")).unwrap();
    let key_line = key_pem.lines().nth(1).unwrap();
    assert!(
        !debug.contains(key_line) && !debug.contains("PRIVATE"),
        "{debug}"
    );
}
