//! `spiffekit helper` (the cert-sync sidecar) through the binary against the workspace's agent:
//! configuration errors, one-shot writes, rotations with signals to a pid-file process and to
//! `cmd`, the health endpoints, the A87 bundle map, and shell completions.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a panic is a failed test"
)]

mod common;

use std::io::{Read as _, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{TestAgent, assert_exit, describe, run};
use svid::{Crypto, X509Svid};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Writes `text` as `name` in `dir` and returns its path.
fn config(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs `helper --config PATH` to completion (off the async runtime).
async fn helper_once(config: &Path) -> Output {
    let config = config.to_owned();
    tokio::task::spawn_blocking(move || {
        Command::new("sh")
            .args(["-c", "umask 000; exec \"$0\" \"$@\""])
            .arg(common::bin())
            .arg("helper")
            .arg("--config")
            .arg(config)
            .env_remove("SPIFFE_ENDPOINT_SOCKET")
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

/// A helper running in daemon mode; killed on drop (its stderr goes to a file for messages).
struct Running {
    child: Child,
    log: PathBuf,
}

impl Running {
    fn start(config: &Path, log_dir: &Path) -> Self {
        let log = log_dir.join("helper.log");
        let child = Command::new(common::bin())
            .arg("helper")
            .arg("--config")
            .arg(config)
            .env_remove("SPIFFE_ENDPOINT_SOCKET")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Self { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn terminate(mut self) -> std::process::ExitStatus {
        signal(self.child.id(), rustix::process::Signal::TERM);
        let log = self.log();
        wait_for(
            || self.child.try_wait().unwrap(),
            "the helper to exit",
            &log,
        )
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn signal(pid: u32, signal: rustix::process::Signal) {
    let pid = rustix::process::Pid::from_raw(i32::try_from(pid).unwrap()).unwrap();
    rustix::process::kill_process(pid, signal).unwrap();
}

/// Polls `check` until it returns `Some` (a bound on waiting, not a timing assertion).
fn wait_for<T>(mut check: impl FnMut() -> Option<T>, what: &str, context: &str) -> T {
    let started = Instant::now();
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}\n{context}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A GET on the health listener: the status code.
fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nhost: x\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response.split_whitespace().nth(1)?.parse().ok()
}

/// The leaf of the helper-written certificate file, checked against the key file.
fn leaf_of(cert: &Path, key: &Path) -> Vec<u8> {
    let svid =
        X509Svid::load(cert, key, &Crypto::default()).expect("the key matches the certificate");
    svid.chain()[0].to_vec()
}

/// A shell script that records the signals it gets in `out` (one line each) and exits 0 on
/// SIGTERM.
fn recorder(dir: &Path) -> PathBuf {
    let script = dir.join("recorder.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\nout=\"$1\"\ntrap 'echo hup >> \"$out\"' HUP\ntrap 'echo term >> \"$out\"; exit 0' TERM\n\
         echo started >> \"$out\"\nwhile :; do sleep 0.05; done\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

fn lines(path: &Path, word: &str) -> usize {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| *l == word)
        .count()
}

/// Start-up errors name the problem and exit non-zero before anything is written: an unknown
/// key (named), a missing socket, a missing directory, a signal name that does not exist, and
/// an incomplete X.509 file set.
#[test]
fn configuration_errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("agent.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let base = format!(
        "agent_address = \"{}\"\ncert_dir = \"{}\"\nsvid_file_name = \"svid.pem\"\n\
         svid_key_file_name = \"svid_key.pem\"\nsvid_bundle_file_name = \"svid_bundle.pem\"\n",
        socket.display(),
        dir.path().display()
    );
    let cases: [(&str, String, i32, &str); 6] = [
        (
            "unknown key (HCL)",
            format!("{base}svid_fil_name = \"x\"\n"),
            2,
            "svid_fil_name",
        ),
        (
            "bad signal",
            format!("{base}renew_signal = \"SIGNOPE\"\npid_file_name = \"/tmp/p\"\n"),
            2,
            "renew_signal",
        ),
        (
            "missing socket",
            base.replace(&socket.display().to_string(), "/nonexistent/agent.sock"),
            3,
            "/nonexistent/agent.sock does not exist",
        ),
        (
            "missing directory",
            base.replace(
                &format!("cert_dir = \"{}\"", dir.path().display()),
                "cert_dir = \"/nonexistent/certs\"",
            ),
            3,
            "cert_dir /nonexistent/certs is not a writable directory",
        ),
        (
            "half the x509 names",
            base.replace("svid_bundle_file_name = \"svid_bundle.pem\"\n", ""),
            2,
            "set all three or none",
        ),
        (
            "pid file without signal",
            format!("{base}pid_file_name = \"/tmp/p\"\n"),
            2,
            "pid_file_name needs renew_signal",
        ),
    ];
    for (what, text, code, message) in cases {
        let path = config(dir.path(), "helper.conf", &text);
        let output = run(&["helper", "--config", path.to_str().unwrap()], None);
        assert_exit(&output, code);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(message), "{what}: {}", describe(&output));
        assert!(
            !dir.path().join("svid.pem").exists(),
            "{what}: nothing written"
        );
    }
    // TOML too, by the extension.
    let path = config(
        dir.path(),
        "helper.toml",
        &format!("{base}colour = \"blue\"\n"),
    );
    let output = run(&["helper", "--config", path.to_str().unwrap()], None);
    assert_exit(&output, 2);
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("colour"),
        "{}",
        describe(&output)
    );
}

/// `daemon_mode = false` writes every configured file once and exits 0: the configured modes
/// exactly (under umask 000, and reset on a second run over files with other modes, which
/// spiffe-helper leaves alone), a key that matches the certificate, the bundle of the SVID's
/// trust domain, the JWT-SVID and JWT bundle files, and an X.509-only bundle map that loads
/// as a SPIFFE bundle map (SPIFFE bundle 5.1.1) and carries no JWT keys (gRPC A87 readers
/// such as grpc-java refuse those).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_shot_writes_every_file_once_with_its_mode() {
    let agent = TestAgent::start().await;
    let out = tempfile::tempdir().unwrap();
    let certs = out.path().join("certs");
    std::fs::create_dir(&certs).unwrap();
    // spiffe-helper's own HCL, as its README writes it (octal modes with a leading 0).
    let text = format!(
        "agent_address = \"{}\"\ncert_dir = \"{}\"\ndaemon_mode = false\n\
         svid_file_name = \"svid.pem\"\nsvid_key_file_name = \"svid_key.pem\"\n\
         svid_bundle_file_name = \"svid_bundle.pem\"\n\
         bundle_map_file_name = \"bundle-map.json\"\n\
         credential_bundle_file_name = \"credential-bundle.pem\"\n\
         jwt_svids = [{{jwt_audience=\"db\", jwt_extra_audiences=[\"cache\"], jwt_svid_file_name=\"jwt_svid.token\"}}]\n\
         jwt_bundle_file_name = \"jwt_bundle.json\"\n\
         cert_file_mode = 0640\nkey_file_mode = 0400\njwt_svid_file_mode = 0440\njwt_bundle_file_mode = 0644\n\
         health_checks {{\n  listener_enabled = false\n  bind_port = \"8081\"\n}}\n",
        agent.socket().display(),
        certs.display()
    );
    let path = config(out.path(), "helper.conf", &text);
    for round in 0..2 {
        let output = helper_once(&path).await;
        assert_exit(&output, 0);
        assert_eq!(mode(&certs.join("svid.pem")), 0o640, "round {round}");
        assert_eq!(mode(&certs.join("svid_bundle.pem")), 0o640);
        assert_eq!(mode(&certs.join("bundle-map.json")), 0o640);
        assert_eq!(mode(&certs.join("svid_key.pem")), 0o400);
        assert_eq!(mode(&certs.join("credential-bundle.pem")), 0o400);
        assert_eq!(mode(&certs.join("jwt_svid.token")), 0o440);
        assert_eq!(mode(&certs.join("jwt_bundle.json")), 0o644);
        // Widen every mode: the next run must set them again.
        for entry in std::fs::read_dir(&certs).unwrap() {
            let path = entry.unwrap().path();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        }
    }
    let svid = X509Svid::load(
        &certs.join("svid.pem"),
        &certs.join("svid_key.pem"),
        &Crypto::default(),
    )
    .expect("the key matches the certificate");
    assert_eq!(svid.spiffe_id().as_str(), "spiffe://example.org/web");
    let both = X509Svid::load(
        &certs.join("credential-bundle.pem"),
        &certs.join("credential-bundle.pem"),
        &Crypto::default(),
    )
    .unwrap();
    assert_eq!(both.chain(), svid.chain());
    let bundle = std::fs::read_to_string(certs.join("svid_bundle.pem")).unwrap();
    let expected = agent.ca.x509_bundle();
    assert_eq!(
        bundle.matches("BEGIN CERTIFICATE").count(),
        expected.authorities().len()
    );

    let map = std::fs::read(certs.join("bundle-map.json")).unwrap();
    let set = trust_bundle::BundleSet::parse_bundle_map(&map).expect("an A87 bundle map");
    let own = set.get("example.org").expect("the own trust domain");
    assert_eq!(own.x509_bundle().authorities(), expected.authorities());
    assert!(own.jwt_bundle().is_empty(), "no JWT keys in the map");
    let map: serde_json::Value = serde_json::from_slice(&map).unwrap();
    for (_, bundle) in map["trust_domains"].as_object().unwrap() {
        for key in bundle["keys"].as_array().unwrap() {
            assert_eq!(key["use"], "x509-svid", "{key}");
        }
    }

    let token = std::fs::read_to_string(certs.join("jwt_svid.token")).unwrap();
    assert_eq!(token.split('.').count(), 3);
    let claims = svid::UnverifiedJwtSvid::parse_insecure(&token).unwrap();
    assert!(
        claims.audience().iter().any(|a| a == "cache"),
        "extra audience"
    );
    let jwt_bundles: serde_json::Value =
        serde_json::from_slice(&std::fs::read(certs.join("jwt_bundle.json")).unwrap()).unwrap();
    assert!(jwt_bundles["example.org"].is_string(), "{jwt_bundles}");
    agent.agent.shutdown().await.unwrap();
}

/// Daemon mode: `/ready` answers 503 until the first complete write, `/live` 200; after an
/// SVID rotation the files hold the new certificate (with a matching key) and the process
/// named by `pid_file_name` got `renew_signal` once per write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_rewrites_files_and_signals_the_pid_file_process() {
    // No entry yet: the helper waits for an identity.
    let agent = TestAgent::start_with(Vec::new()).await;
    let out = tempfile::tempdir().unwrap();
    let signals = out.path().join("signals");
    let mut process = Running {
        child: Command::new(recorder(out.path()))
            .arg(&signals)
            .spawn()
            .unwrap(),
        log: out.path().join("recorder.log"),
    };
    wait_for(
        || (lines(&signals, "started") == 1).then_some(()),
        "the recorder",
        "",
    );
    let pid_file = out.path().join("app.pid");
    std::fs::write(&pid_file, format!("{}\n", process.child.id())).unwrap();
    let port = test_support::process::free_port().unwrap();
    let text = format!(
        "agent_address = \"unix://{}\"\ncert_dir = \"{}\"\n\
         svid_file_name = \"svid.pem\"\nsvid_key_file_name = \"svid_key.pem\"\n\
         svid_bundle_file_name = \"svid_bundle.pem\"\n\
         renew_signal = \"SIGHUP\"\npid_file_name = \"{}\"\n\
         [health_checks]\nlistener_enabled = true\nbind_address = \"127.0.0.1\"\nbind_port = {port}\n",
        agent.socket().display(),
        out.path().display(),
        pid_file.display()
    );
    let path = config(out.path(), "helper.toml", &text);
    let helper = Running::start(&path, out.path());
    wait_for(
        || http_status(port, "/live"),
        "the health listener",
        &helper.log(),
    );
    assert_eq!(
        http_status(port, "/ready"),
        Some(503),
        "not ready before the first write"
    );
    assert_eq!(http_status(port, "/live"), Some(200));
    assert_eq!(http_status(port, "/other"), Some(404));

    agent
        .agent
        .add_entry(TestAgent::entry_for_uid(None))
        .await
        .unwrap();
    wait_for(
        || (http_status(port, "/ready") == Some(200)).then_some(()),
        "ready",
        &helper.log(),
    );
    wait_for(
        || (lines(&signals, "hup") >= 1).then_some(()),
        "the first SIGHUP",
        &helper.log(),
    );
    let cert = out.path().join("svid.pem");
    let key = out.path().join("svid_key.pem");
    let first = leaf_of(&cert, &key);

    agent.agent.rotate_svids().await.unwrap();
    wait_for(
        || (lines(&signals, "hup") >= 2).then_some(()),
        "the SIGHUP after rotation",
        &helper.log(),
    );
    let svid = X509Svid::load(&cert, &out.path().join("svid_key.pem"), &Crypto::default())
        .expect("matching key after rotation");
    assert_ne!(
        svid.chain()[0].to_vec(),
        first,
        "a new certificate\n{}",
        helper.log()
    );
    assert_eq!(http_status(port, "/live"), Some(200));

    assert!(helper.terminate().success());
    signal(process.child.id(), rustix::process::Signal::TERM);
    process.child.wait().unwrap();
    agent.agent.shutdown().await.unwrap();
}

/// `cmd` starts after the first write, gets `renew_signal` after a rotation, and gets the
/// helper's SIGTERM; the helper then exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cmd_child_gets_the_renew_signal_and_sigterm() {
    let agent = TestAgent::start().await;
    let out = tempfile::tempdir().unwrap();
    let signals = out.path().join("signals");
    let text = format!(
        "agent_address = \"{}\"\ncert_dir = \"{}\"\ncredential_bundle_file_name = \"cred.pem\"\n\
         cmd = \"{}\"\ncmd_args = \"{}\"\nrenew_signal = \"USR1\"\n",
        agent.socket().display(),
        out.path().display(),
        recorder(out.path()).display(),
        signals.display()
    );
    // USR1 is not trapped by the recorder: use HUP, and check that a bare name is accepted.
    let text = text.replace("\"USR1\"", "\"hup\"");
    let path = config(out.path(), "helper.conf", &text);
    let helper = Running::start(&path, out.path());
    wait_for(
        || (lines(&signals, "started") == 1).then_some(()),
        "cmd to start",
        &helper.log(),
    );
    assert!(
        out.path().join("cred.pem").exists(),
        "files before cmd starts"
    );
    agent.agent.rotate_svids().await.unwrap();
    wait_for(
        || (lines(&signals, "hup") >= 1).then_some(()),
        "SIGHUP to cmd",
        &helper.log(),
    );
    let log = helper.log();
    let status = helper.terminate();
    assert!(status.success(), "{status}\n{log}");
    assert_eq!(lines(&signals, "term"), 1, "SIGTERM forwarded");
    assert_eq!(lines(&signals, "started"), 1, "cmd started once");
    agent.agent.shutdown().await.unwrap();
}

/// `completions SHELL` prints a script naming the commands, for each shell clap_complete
/// knows; every command's `--help` has examples.
#[test]
fn completions_and_help_examples() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let output = run(&["completions", shell], None);
        assert_exit(&output, 0);
        let script = String::from_utf8_lossy(&output.stdout);
        assert!(script.contains("spiffekit"), "{shell}");
        assert!(script.contains("helper"), "{shell}");
    }
    assert_exit(&run(&["completions", "tcsh"], None), 2);
    for command in [
        "fetch",
        "watch",
        "inspect",
        "verify",
        "validate",
        "helper",
        "completions",
    ] {
        let output = run(&[command, "--help"], None);
        assert_exit(&output, 0);
        assert!(
            String::from_utf8_lossy(&output.stdout).contains("Examples:"),
            "{command} --help has examples"
        );
    }
}
