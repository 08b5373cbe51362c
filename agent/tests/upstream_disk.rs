//! `[ca.upstream_disk]`: an organisation's CA, made with the real `openssl` CLI, signs the
//! agent CA. The config builds a CA whose bundle is the organisation's root, its errors name
//! the setting, and the `agent` binary serves SVIDs that `openssl verify` accepts against that
//! root, before and after a restart.
//!
//! openssl works on the system clock, so these tests run at the current time. Without openssl
//! a test is skipped with a printed reason, except under `CI=true`, where it fails.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers outside #[test] fns"
)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime};

use agent::{AgentConfig, ConfigError, Error};
use common::{current_uid, verify_x509};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

/// A directory holding an organisation root `root.pem` / `root.key` (P-256, mode 0600), made
/// by openssl; `None` (after printing why, or failing under `CI=true`) without openssl.
fn org_root() -> Option<tempfile::TempDir> {
    if Command::new("openssl").arg("version").output().is_err() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "the openssl binary is missing"
        );
        eprintln!("skipped: the openssl binary is missing");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    openssl(
        dir.path(),
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-noenc",
            "-keyout",
            "root.key",
            "-out",
            "root.pem",
            "-days",
            "30",
            "-subj",
            "/O=Example Org/CN=Example Org Root",
            "-addext",
            "basicConstraints=critical,CA:true",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    std::fs::set_permissions(
        dir.path().join("root.key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    Some(dir)
}

fn openssl(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
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

fn root_certs(dir: &Path) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_file_iter(dir.join("root.pem"))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// The configuration: the upstream section with paths relative to the file.
fn config_text(socket: &Path) -> String {
    format!(
        r#"
trust_domain = "example.org"
socket_path = "{}"
[ca]
ttl = "1h"
[ca.upstream_disk]
cert_path = "root.pem"
key_path = "root.key"
[svid]
x509_ttl = "10m"
[[entry]]
spiffe_id = "spiffe://example.org/cli"
selectors = ["unix:uid:{}"]
"#,
        socket.display(),
        current_uid()
    )
}

/// The config's upstream paths resolve against the file's directory, and the CA it builds is
/// an intermediate whose bundle holds exactly the organisation's root.
#[test]
fn config_builds_a_ca_under_the_disk_upstream() {
    let Some(dir) = org_root() else { return };
    let config_path = dir.path().join("agent.toml");
    std::fs::write(&config_path, config_text(&dir.path().join("agent.sock"))).unwrap();
    let config = AgentConfig::load(&config_path).unwrap();
    let disk = config.ca_upstream_disk.as_ref().unwrap();
    assert_eq!(disk.cert_path, dir.path().join("root.pem"));
    assert_eq!(disk.key_path, dir.path().join("root.key"));
    assert_eq!(disk.bundle_path, None);

    let ca = config.build_ca(SystemTime::now()).unwrap();
    assert!(ca.is_intermediate());
    assert_eq!(
        ca.bundle().x509_bundle().authorities(),
        root_certs(dir.path())
    );
}

/// What is wrong with the section or its files is reported under `ca.upstream_disk`.
#[test]
fn upstream_disk_errors_name_the_setting() {
    let Some(dir) = org_root() else { return };
    let base = dir.path();
    let parse = |section: &str| {
        AgentConfig::parse(
            &format!("trust_domain = \"example.org\"\n[ca.upstream_disk]\n{section}"),
            base,
        )
    };
    let error = parse("cert_path = \"root.pem\"").unwrap_err();
    assert!(
        matches!(&error, Error::Config(ConfigError::Syntax { .. }))
            && error.to_string().contains("key_path"),
        "{error}"
    );
    let error = parse("cert_path = \"root.pem\"\nkey_path = \"root.key\"\ncert_file_path = \"x\"")
        .unwrap_err();
    assert!(error.to_string().contains("cert_file_path"), "{error}");
    let error = parse("cert_path = \"\"\nkey_path = \"root.key\"").unwrap_err();
    assert!(
        error.to_string().contains("ca.upstream_disk.cert_path"),
        "{error}"
    );

    // The files are checked when the CA is built: a key others may read is refused.
    std::fs::set_permissions(
        base.join("root.key"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let config = parse("cert_path = \"root.pem\"\nkey_path = \"root.key\"").unwrap();
    let error = config.build_ca(SystemTime::now()).unwrap_err();
    match &error {
        Error::Config(ConfigError::UpstreamDisk {
            source: ca::Error::KeyFilePermissions { path, .. },
        }) => assert_eq!(path, &base.join("root.key")),
        other => panic!("{other:?}"),
    }
    assert!(
        error.to_string().starts_with("ca.upstream_disk: "),
        "{error}"
    );
}

fn spawn_agent(config: &Path, log: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_agent"))
        .arg("--config")
        .arg(config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap()
}

/// Stops the agent when the test ends, even on failure.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until the agent accepts on `socket`.
async fn wait_for_socket(socket: &Path, agent: &mut Running, log: &Path) {
    for _ in 0..200 {
        if tokio::net::UnixStream::connect(socket).await.is_ok() {
            return;
        }
        if let Some(status) = agent.0.try_wait().unwrap() {
            panic!(
                "agent exited early: {status}: {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("agent did not listen on {} within 10 s", socket.display());
}

/// Fetches the X509-SVID, checks it with our verifier and with `openssl verify` against the
/// organisation's root file, and returns the response's bundle (DER).
async fn fetch_and_verify(dir: &Path, socket: &Path) -> Vec<u8> {
    let mut client = common::client(socket).await;
    let (_, first) = common::x509_stream(&mut client).await;
    let svid = &first.svids[0];
    assert_eq!(svid.spiffe_id, "spiffe://example.org/cli");
    let parsed = verify_x509(svid);
    let chain = parsed.chain();
    assert_eq!(
        chain.len(),
        2,
        "leaf + the agent's CA; the root is in the bundle"
    );
    // `openssl verify` reads the first certificate of the file as the one to verify.
    std::fs::write(dir.join("chain.pem"), parsed.chain_pem()).unwrap();
    let out = openssl(
        dir,
        &[
            "verify",
            "-CAfile",
            "root.pem",
            "-untrusted",
            "chain.pem",
            "chain.pem",
        ],
    );
    assert!(out.contains("chain.pem: OK"), "{out}");
    svid.bundle.clone()
}

/// The `agent` binary with `[ca.upstream_disk]` serves SVIDs whose chain `openssl verify`
/// accepts against the organisation's root, and whose bundle is that root; after a restart
/// (a new CA key, no persistent store) the bundle is the same root.
#[tokio::test]
async fn binary_serves_svids_under_the_org_root_across_restarts() {
    let Some(dir) = org_root() else { return };
    let socket = dir.path().join("agent.sock");
    let config = dir.path().join("agent.toml");
    std::fs::write(&config, config_text(&socket)).unwrap();
    let root_der: Vec<u8> = root_certs(dir.path())[0].to_vec();

    let mut bundles = Vec::new();
    for run in ["1", "2"] {
        let log = dir.path().join(format!("{run}.log"));
        let mut agent = Running(spawn_agent(&config, &log));
        wait_for_socket(&socket, &mut agent, &log).await;
        bundles.push(fetch_and_verify(dir.path(), &socket).await);
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(agent.0.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
        for _ in 0..200 {
            if agent.0.try_wait().unwrap().is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    assert_eq!(
        bundles[0], root_der,
        "the bundle is the organisation's root"
    );
    assert_eq!(bundles[1], root_der, "the same root after a restart");
}
