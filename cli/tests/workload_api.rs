//! `fetch` and `watch` through the binary against a real Workload API: the workspace's agent
//! with an in-process CA on a temporary socket.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a panic is a failed test"
)]

mod common;

use std::io::{BufRead as _, BufReader};
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use common::{TestAgent, assert_exit, describe, json, run, run_async};
use svid::{Crypto, X509Svid};

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| (*s).to_owned()).collect()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// `fetch x509` prints the SVID's ID, serial, validity with time left and the bundle's trust
/// domain with its authority count; `--json` says the same for scripts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_x509_summary_and_json() {
    let agent = TestAgent::start().await;
    let address = agent.address();
    let human = run_async(strings(&["fetch", "x509", "--socket", &address]), None).await;
    assert_exit(&human, 0);
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(
        text.contains("SPIFFE ID:   spiffe://example.org/web"),
        "{text}"
    );
    assert!(text.contains("Serial:"), "{text}");
    assert!(text.contains("(in "), "time left: {text}");
    assert!(
        text.contains("Trust domain example.org: 1 X.509 authorities"),
        "{text}"
    );
    assert!(
        !text.contains("PRIVATE KEY"),
        "no key material in the summary: {text}"
    );

    // SPIFFE_ENDPOINT_SOCKET works like --socket.
    let output = tokio::task::spawn_blocking(move || {
        Command::new(common::bin())
            .args(["fetch", "x509", "--json"])
            .env("SPIFFE_ENDPOINT_SOCKET", address)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_exit(&output, 0);
    let value = json(&output);
    assert_eq!(value["svids"][0]["spiffe_id"], "spiffe://example.org/web");
    assert_eq!(
        value["svids"][0]["chain"][0]["spiffe_id"],
        "spiffe://example.org/web"
    );
    assert_eq!(value["bundles"][0]["trust_domain"], "example.org");
    assert_eq!(
        value["bundles"][0]["x509_authorities"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    agent.agent.shutdown().await.unwrap();
}

/// `fetch x509 --write DIR`: the key is 0600 and the certificates 0644 exactly, even under
/// umask 000; the files parse back, the key matches the chain (`X509Svid::load` checks it), and
/// they are the SVID `fetch x509 --json` reports.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_x509_write_modes_and_contents() {
    let agent = TestAgent::start().await;
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("certs");
    let (address, target) = (agent.address(), dir.clone());
    let output = tokio::task::spawn_blocking(move || {
        // umask 000: the modes must come from the writer, not from the umask.
        Command::new("sh")
            .args(["-c", "umask 000; exec \"$0\" \"$@\""])
            .arg(common::bin())
            .args(["fetch", "x509", "--socket", &address, "--write"])
            .arg(&target)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_exit(&output, 0);
    assert_eq!(mode(&dir.join("svid_key.pem")), 0o600);
    assert_eq!(mode(&dir.join("credential-bundle.pem")), 0o600);
    assert_eq!(mode(&dir.join("svid.pem")), 0o644);
    assert_eq!(mode(&dir.join("svid_bundle.pem")), 0o644);
    let svid = X509Svid::load(
        &dir.join("svid.pem"),
        &dir.join("svid_key.pem"),
        &Crypto::default(),
    )
    .unwrap();
    assert_eq!(svid.spiffe_id().as_str(), "spiffe://example.org/web");
    let credential = std::fs::read(dir.join("credential-bundle.pem")).unwrap();
    assert!(
        credential.starts_with(b"-----BEGIN PRIVATE KEY-----"),
        "the draft's layout: key first"
    );
    let from_one_file = X509Svid::from_pem(&credential, &credential, &Crypto::default()).unwrap();
    assert_eq!(from_one_file.leaf(), svid.leaf());
    let bundle = trust_bundle::X509Bundle::from_pem(
        "example.org".parse().unwrap(),
        &std::fs::read(dir.join("svid_bundle.pem")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        bundle.authorities(),
        agent.ca.bundle().x509_bundle().authorities()
    );
    assert!(dir.join("example.org.spiffe-trust-bundle.pem").exists());

    // The written chain verifies against the written bundle through `verify`.
    let verify = run_async(
        vec![
            "verify".into(),
            "--bundle".into(),
            dir.join("svid_bundle.pem").display().to_string(),
            dir.join("svid.pem").display().to_string(),
        ],
        None,
    )
    .await;
    assert_exit(&verify, 0);
    agent.agent.shutdown().await.unwrap();
}

/// Rewrites during rotations never show a reader a key that does not match its certificate:
/// a reader that takes one generation (`..data`) or the one-file `credential-bundle.pem`
/// always gets a matching pair, while `fetch --write` runs after each rotation. Old
/// generations are removed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rewrites_never_pair_a_key_with_another_certificate() {
    let agent = TestAgent::start().await;
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().to_owned();
    let stop = Arc::new(AtomicBool::new(false));
    let checked = Arc::new(AtomicUsize::new(0));
    let reader = {
        let (dir, stop, checked) = (dir.clone(), Arc::clone(&stop), Arc::clone(&checked));
        std::thread::spawn(move || {
            let crypto = Crypto::default();
            while !stop.load(Ordering::Relaxed) {
                // One generation: resolve ..data once, read both files from it. A generation
                // removed under the reader is a retry, never a mismatch.
                if let Ok(generation) = std::fs::read_link(dir.join("..data")) {
                    let generation = dir.join(generation);
                    if let (Ok(cert), Ok(key)) = (
                        std::fs::read(generation.join("svid.pem")),
                        std::fs::read(generation.join("svid_key.pem")),
                    ) {
                        X509Svid::from_pem(&cert, &key, &crypto)
                            .expect("a generation holds a matching key and chain");
                        checked.fetch_add(1, Ordering::Relaxed);
                    }
                }
                if let Ok(both) = std::fs::read(dir.join("credential-bundle.pem")) {
                    X509Svid::from_pem(&both, &both, &crypto)
                        .expect("credential-bundle.pem holds a matching key and chain");
                    checked.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    let mut leaves = Vec::new();
    for _ in 0..8 {
        let output = run_async(
            vec![
                "fetch".into(),
                "x509".into(),
                "--socket".into(),
                agent.address(),
                "--write".into(),
                dir.display().to_string(),
            ],
            None,
        )
        .await;
        assert_exit(&output, 0);
        leaves.push(std::fs::read(dir.join("svid.pem")).unwrap());
        agent.agent.rotate_svids().await.unwrap();
    }
    // Let the reader see the last generation at least once.
    while checked.load(Ordering::Relaxed) == 0 {
        std::thread::sleep(Duration::from_millis(5));
    }
    stop.store(true, Ordering::Relaxed);
    reader.join().expect("the reader saw only matching pairs");
    leaves.dedup();
    assert!(leaves.len() > 1, "rotations produced new certificates");
    let generations = std::fs::read_dir(&dir)
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            let name = name.to_string_lossy();
            name.starts_with("..") && name != "..data"
        })
        .count();
    assert_eq!(generations, 1, "old generations are removed");
    agent.agent.shutdown().await.unwrap();
}

/// `fetch jwt --audience A --write DIR` writes the token (0600) and the JWT bundle document;
/// `validate` accepts that token with that bundle for audience A, and refuses it for another
/// audience with the rule (JWT-SVID 3, `aud`; shared/spec/SPIFFE-DIGEST.md 3.4 step 8) and
/// exit code 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_jwt_write_then_validate() {
    let agent = TestAgent::start().await;
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().display().to_string();
    let output = run_async(
        strings(&[
            "fetch",
            "jwt",
            "--socket",
            &agent.address(),
            "--audience",
            "spiffe://example.org/db",
            "--audience",
            "extra",
            "--json",
            "--write",
            &dir,
        ]),
        None,
    )
    .await;
    assert_exit(&output, 0);
    let value = json(&output);
    assert_eq!(value["svids"][0]["spiffe_id"], "spiffe://example.org/web");
    assert_eq!(value["svids"][0]["audience"][0], "spiffe://example.org/db");
    let token_path = out.path().join("jwt_svid.token");
    assert!(
        value["written"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p.as_str() == Some(token_path.to_str().unwrap())),
        "{value}"
    );
    assert_eq!(mode(&token_path), 0o600);
    let token = std::fs::read(&token_path).unwrap();
    assert_eq!(
        value["svids"][0]["token"].as_str().unwrap().as_bytes(),
        token
    );
    let bundle = out
        .path()
        .join("example.org.bundle.json")
        .display()
        .to_string();

    let ok = run_async(
        strings(&[
            "validate",
            "--bundle",
            &bundle,
            "--audience",
            "spiffe://example.org/db",
            "--json",
            "-",
        ]),
        Some(token.clone()),
    )
    .await;
    assert_exit(&ok, 0);
    assert_eq!(json(&ok)["spiffe_id"], "spiffe://example.org/web");

    let refused = run_async(
        strings(&[
            "validate",
            "--bundle",
            &bundle,
            "--audience",
            "spiffe://example.org/other",
            "-",
        ]),
        Some(token),
    )
    .await;
    assert_exit(&refused, 1);
    let text = String::from_utf8_lossy(&refused.stdout);
    assert!(text.starts_with("REFUSED: "), "{}", describe(&refused));
    assert!(text.contains("aud"), "the failed rule is named: {text}");
    agent.agent.shutdown().await.unwrap();
}

/// `fetch bundles` lists every trust domain with its X.509 authorities and JWT keys, and
/// `--write` gives a bundle document `inspect` reads back with the same counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_bundles_and_inspect_the_written_document() {
    let agent = TestAgent::start().await;
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().display().to_string();
    let output = run_async(
        strings(&[
            "fetch",
            "bundles",
            "--socket",
            &agent.address(),
            "--json",
            "--write",
            &dir,
        ]),
        None,
    )
    .await;
    assert_exit(&output, 0);
    let fetched = json(&output)["bundles"][0].clone();
    assert_eq!(fetched["trust_domain"], "example.org");
    assert_eq!(fetched["x509_authorities"].as_array().unwrap().len(), 1);
    assert!(!fetched["jwt_keys"].as_array().unwrap().is_empty());
    let document = out
        .path()
        .join("example.org.bundle.json")
        .display()
        .to_string();
    let inspected = run_async(strings(&["inspect", "--json", &document]), None).await;
    assert_exit(&inspected, 0);
    let inspected = json(&inspected)[0].clone();
    assert_eq!(inspected["kind"], "bundle");
    assert_eq!(inspected["trust_domain"], "example.org");
    // `time_left` is computed when each command runs: compare the rest.
    let without_time_left = |authorities: &serde_json::Value| {
        let mut authorities = authorities.clone();
        for authority in authorities.as_array_mut().unwrap() {
            authority.as_object_mut().unwrap().remove("time_left");
        }
        authorities
    };
    assert_eq!(
        without_time_left(&inspected["x509_authorities"]),
        without_time_left(&fetched["x509_authorities"])
    );
    assert_eq!(inspected["jwt_keys"], fetched["jwt_keys"]);
    agent.agent.shutdown().await.unwrap();
}

/// `watch` prints one line per update (the agent's rotation gives a second line with a new
/// serial) and stops cleanly, exit 0, on SIGTERM and on SIGINT.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_streams_rotations_and_stops_on_signals() {
    let agent = TestAgent::start().await;
    for signal in [rustix::process::Signal::TERM, rustix::process::Signal::INT] {
        let mut child = Command::new(common::bin())
            .args(["watch", "--socket", &agent.address()])
            .env_remove("SPIFFE_ENDPOINT_SOCKET")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (lines_tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                if lines_tx.send(line.unwrap()).is_err() {
                    break;
                }
            }
        });
        let wait = Duration::from_secs(60);
        let first = lines.recv_timeout(wait).expect("a first update line");
        assert!(
            first.contains("spiffe://example.org/web serial "),
            "{first}"
        );
        assert!(first.contains("notAfter "), "{first}");
        assert!(first.contains("bundles example.org(1 CAs)"), "{first}");
        agent.agent.rotate_svids().await.unwrap();
        let second = lines.recv_timeout(wait).expect("a line for the rotation");
        let serial = |line: &str| {
            line.split(" serial ")
                .nth(1)
                .unwrap()
                .split(' ')
                .next()
                .unwrap()
                .to_owned()
        };
        assert_ne!(serial(&first), serial(&second), "{first}\n{second}");

        let pid = rustix::process::Pid::from_raw(i32::try_from(child.id()).unwrap()).unwrap();
        rustix::process::kill_process(pid, signal).unwrap();
        let status = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
            .await
            .unwrap();
        assert_exit(&status, 0);
    }
    agent.agent.shutdown().await.unwrap();
}

/// Where the Workload API is not: a relative socket path is bad usage (exit 2, the endpoint
/// rule named: SPIFFE Workload Endpoint, unix paths are absolute); a missing socket is a failed
/// call (exit 3); no address at all is a usage error; `fetch jwt` without `--audience` too.
#[test]
fn workload_api_errors_are_clear() {
    let relative = run(&["fetch", "x509", "--socket", "unix:relative.sock"], None);
    assert_exit(&relative, 2);
    assert!(String::from_utf8_lossy(&relative.stderr).contains("--socket"));

    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("none.sock").display().to_string();
    let absent = run(
        &["fetch", "x509", "--socket", &missing, "--timeout", "2"],
        None,
    );
    assert_exit(&absent, 3);
    assert!(
        String::from_utf8_lossy(&absent.stderr).contains("workload api"),
        "{}",
        describe(&absent)
    );

    let none = run(&["fetch", "x509"], None);
    assert_exit(&none, 2);
    assert!(String::from_utf8_lossy(&none.stderr).contains("--socket"));

    let no_audience = run(&["fetch", "jwt", "--socket", &missing], None);
    assert_exit(&no_audience, 2);
    assert!(String::from_utf8_lossy(&no_audience.stderr).contains("--audience"));
}

/// `watch` started before the agent exists keeps retrying (the error on stderr, with the
/// delay) instead of exiting, and still stops cleanly on SIGTERM.
#[test]
fn watch_without_an_agent_retries_until_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("later.sock");
    let mut child = Command::new(common::bin())
        .args(["watch", "--timeout", "2", "--socket"])
        .arg(&socket)
        .env_remove("SPIFFE_ENDPOINT_SOCKET")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    let first = lines
        .recv_timeout(Duration::from_secs(60))
        .expect("an error line");
    assert!(first.contains("retrying in 1s"), "{first}");
    let pid = rustix::process::Pid::from_raw(i32::try_from(child.id()).unwrap()).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let output = child.wait_with_output().unwrap();
    assert_exit(&output, 0);
}
