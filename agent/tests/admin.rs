//! The admin API end to end through the `agent` binary: entries created with `agent entry
//! create` are served on the Workload API, listed, updated and deleted; the bundle and the
//! CA's authorities are shown and rotated; requests that break a rule are refused with a
//! message that says what to fix; callers whose uid is not allowed are refused.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers outside #[test] fns"
)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use agent::admin::{AdminClient, proto};
use common::current_uid;
use serde_json::Value;
use workload_api::proto::{JwtsvidRequest, ValidateJwtsvidRequest, X509svidRequest};

struct Agent {
    child: Option<Child>,
    dir: tempfile::TempDir,
    starts: usize,
}

impl Agent {
    fn config(&self) -> PathBuf {
        self.dir.path().join("agent.toml")
    }
    fn socket(&self) -> PathBuf {
        self.dir.path().join("agent.sock")
    }
    fn admin_socket(&self) -> PathBuf {
        self.dir.path().join("admin.sock")
    }

    /// Runs `agent <args> --config <config>`.
    fn command(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_agent"))
            .args(args)
            .arg("--config")
            .arg(self.config())
            .env_remove("SPIFFE_AGENT_CONFIG")
            .env_remove("SPIFFE_AGENT_ADMIN_SOCKET")
            .output()
            .unwrap()
    }

    /// Runs a command that must succeed with `--json`; its parsed output.
    fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        let output = self.command(&all);
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).unwrap()
    }

    /// Runs a command that must fail; its stderr.
    fn refused(&self, args: &[&str]) -> String {
        let output = self.command(args);
        assert_eq!(output.status.code(), Some(1), "{args:?} should fail");
        String::from_utf8_lossy(&output.stderr).into_owned()
    }

    /// Starts the agent on its config and waits for its admin socket.
    async fn spawn(&mut self) {
        self.starts += 1;
        let log = self.dir.path().join(format!("agent-{}.log", self.starts));
        let mut child = Command::new(env!("CARGO_BIN_EXE_agent"))
            .arg("--config")
            .arg(self.config())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        for _ in 0..200 {
            if tokio::net::UnixStream::connect(self.admin_socket())
                .await
                .is_ok()
            {
                self.child = Some(child);
                return;
            }
            if let Some(status) = child.try_wait().unwrap() {
                let log = std::fs::read_to_string(&log).unwrap();
                panic!("agent exited early: {status}\n{log}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the admin socket did not appear within 10 s");
    }

    /// Stops the agent with `signal` (`TERM`, or `KILL` for no cleanup at all), waiting
    /// without blocking the runtime (the test's connections must answer the agent's goodbye).
    async fn stop(&mut self, signal: &str) {
        let mut child = self.child.take().expect("running");
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
        for _ in 0..200 {
            if let Some(exit) = child.try_wait().unwrap() {
                if signal == "TERM" {
                    assert!(exit.success(), "{exit}");
                }
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the agent did not stop within 10 s");
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

async fn start(extra: &str) -> Agent {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("agent.toml");
    std::fs::write(
        &config,
        format!(
            r#"
trust_domain = "example.org"
socket_path = "{socket}"
admin_socket_path = "{admin}"
{extra}
[[entry]]
spiffe_id = "spiffe://example.org/from-config"
selectors = ["unix:uid:{uid}"]
"#,
            socket = dir.path().join("agent.sock").display(),
            admin = dir.path().join("admin.sock").display(),
            uid = current_uid(),
        ),
    )
    .unwrap();
    let mut agent = Agent {
        child: None,
        dir,
        starts: 0,
    };
    agent.spawn().await;
    agent
}

/// The SPIFFE IDs this process gets from the agent's Workload API now.
async fn served_ids(socket: &Path) -> Vec<String> {
    let mut client = common::client(socket).await;
    let mut stream = client
        .fetch_x509svid(common::req(X509svidRequest::default()))
        .await
        .unwrap()
        .into_inner();
    let message = common::next(&mut stream).await;
    message.svids.iter().map(|s| s.spiffe_id.clone()).collect()
}

#[cfg(unix)]
#[tokio::test]
async fn entries_bundle_and_authorities_through_the_commands() {
    use std::os::unix::fs::PermissionsExt;

    let agent = start("").await;
    let mode = std::fs::metadata(agent.admin_socket())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the admin socket is owner-only");

    let uid = current_uid().to_string();
    let selector = format!("unix:uid:{uid}");
    let created = agent.json(&[
        "entry",
        "create",
        "--spiffe-id",
        "spiffe://example.org/api-made",
        "--selector",
        &selector,
        "--x509-ttl",
        "10m",
        "--hint",
        "made",
    ]);
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 32, "{created}");
    assert_eq!(created["source"], "api");
    assert_eq!(created["x509_ttl_seconds"], 600);
    assert_eq!(created["revision"], 1);
    let served = served_ids(&agent.socket()).await;
    assert_eq!(
        served,
        [
            "spiffe://example.org/from-config",
            "spiffe://example.org/api-made"
        ]
    );

    let listed = agent.json(&["entry", "list"]);
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0]["source"], "config");
    let human = agent.command(&["entry", "list"]);
    let human = String::from_utf8_lossy(&human.stdout);
    assert!(human.contains("spiffe://example.org/api-made"), "{human}");
    assert!(human.contains(&id), "{human}");

    // Update: the new SPIFFE ID replaces the old one for this caller.
    let updated = agent.json(&[
        "entry",
        "update",
        &id,
        "--spiffe-id",
        "spiffe://example.org/renamed",
    ]);
    assert_eq!(updated["revision"], 2);
    assert_eq!(updated["hint"], "made", "fields not given stay");
    assert!(
        served_ids(&agent.socket())
            .await
            .contains(&"spiffe://example.org/renamed".to_owned())
    );
    let shown = agent.json(&["entry", "show", &id]);
    assert_eq!(shown["spiffe_id"], "spiffe://example.org/renamed");

    // The same registration twice is refused.
    let err = agent.refused(&[
        "entry",
        "create",
        "--spiffe-id",
        "spiffe://example.org/renamed",
        "--selector",
        &selector,
    ]);
    assert!(err.contains("AlreadyExists") && err.contains(&id), "{err}");

    // Config-file entries change in the file only.
    let err = agent.refused(&["entry", "delete", "config-1"]);
    assert!(err.contains("config file"), "{err}");

    let deleted = agent.json(&["entry", "delete", &id]);
    assert_eq!(deleted["id"], id.as_str());
    assert_eq!(
        served_ids(&agent.socket()).await,
        ["spiffe://example.org/from-config"]
    );
    let err = agent.refused(&["entry", "show", &id]);
    assert!(err.contains("NotFound"), "{err}");

    // The bundle as served, and the authorities.
    let bundle = agent.command(&["bundle", "show"]);
    assert!(bundle.status.success());
    let bundle: Value = serde_json::from_slice(&bundle.stdout).unwrap();
    assert_eq!(bundle["keys"].as_array().unwrap().len(), 2, "{bundle}");
    let before = agent.json(&["ca", "list"]);
    assert_eq!(before["authorities"].as_array().unwrap().len(), 2);
    let after = agent.json(&["ca", "rotate", "--x509"]);
    let x509: Vec<&Value> = after["authorities"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "x509")
        .collect();
    assert_eq!(x509.len(), 2, "{after}");
    assert!(
        after["bundle_sequence"].as_u64() > before["bundle_sequence"].as_u64(),
        "{after}"
    );
    let health = agent.json(&["healthcheck"]);
    assert_eq!(health["ready"], true, "{health}");
}

/// Requests that break a rule are refused, naming the field and what to fix (negative
/// tests): a selector type no attestor gives, an ID of another trust domain, a lifetime out of
/// bounds, a duration that does not parse, a missing selector.
#[tokio::test]
async fn invalid_entries_are_refused_with_the_reason() {
    let agent = start("").await;
    let uid_selector = format!("unix:uid:{}", current_uid());
    let cases: [(&[&str], &str); 5] = [
        (
            &[
                "--spiffe-id",
                "spiffe://example.org/a",
                "--selector",
                "k8s:ns:default",
            ],
            "no attestor gives selectors of type \"k8s\"",
        ),
        (
            &[
                "--spiffe-id",
                "spiffe://other.org/a",
                "--selector",
                &uid_selector,
            ],
            "not in this agent's trust domain",
        ),
        (
            &[
                "--spiffe-id",
                "spiffe://example.org/a",
                "--selector",
                &uid_selector,
                "--x509-ttl",
                "30d",
            ],
            "x509_ttl_seconds",
        ),
        (
            &[
                "--spiffe-id",
                "spiffe://example.org/a",
                "--selector",
                &uid_selector,
                "--jwt-ttl",
                "soon",
            ],
            "--jwt-ttl \"soon\"",
        ),
        (
            &["--spiffe-id", "spiffe://example.org/a"],
            "at least one --selector",
        ),
    ];
    for (fields, expected) in cases {
        let mut args = vec!["entry", "create"];
        args.extend_from_slice(fields);
        let err = agent.refused(&args);
        assert!(err.contains(expected), "{fields:?}: {err}");
    }
    let listed = agent.json(&["entry", "list"]);
    assert_eq!(listed.as_array().unwrap().len(), 1, "nothing was created");
}

/// A uid not in `admin_allowed_uids` gets PermissionDenied even when it can open the socket.
#[tokio::test]
async fn callers_outside_the_allowed_uids_are_refused() {
    let other = current_uid().wrapping_add(1);
    let agent = start(&format!("admin_allowed_uids = [{other}]")).await;
    let err = agent.refused(&["entry", "list"]);
    assert!(
        err.contains("PermissionDenied") && err.contains("may not administer"),
        "{err}"
    );
    let err = agent.refused(&["healthcheck"]);
    assert!(err.contains("PermissionDenied"), "{err}");
}

/// Without an admin socket in the config, the commands say how to point them at one.
#[test]
fn commands_explain_a_missing_admin_socket() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("agent.toml");
    std::fs::write(&config, "trust_domain = \"example.org\"\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_agent"))
        .args(["entry", "list", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("admin_socket_path"), "{err}");
}

/// What the Workload API serves this process: (SPIFFE ID, bundle DER) per SVID.
async fn served(socket: &Path) -> Vec<(String, Vec<u8>)> {
    let mut client = common::client(socket).await;
    let mut stream = client
        .fetch_x509svid(common::req(X509svidRequest::default()))
        .await
        .unwrap()
        .into_inner();
    let message = common::next(&mut stream).await;
    for svid in &message.svids {
        common::verify_x509(svid);
    }
    message
        .svids
        .iter()
        .map(|s| (s.spiffe_id.clone(), s.bundle.clone()))
        .collect()
}

/// A JWT-SVID for `audience`, from the agent.
async fn jwt(socket: &Path, audience: &str) -> String {
    let mut client = common::client(socket).await;
    let response = client
        .fetch_jwtsvid(common::req(JwtsvidRequest {
            audience: vec![audience.to_owned()],
            spiffe_id: String::new(),
        }))
        .await
        .unwrap()
        .into_inner();
    response.svids.first().unwrap().svid.clone()
}

/// The issue's end-to-end check: entries created with the command, fetched, the agent
/// restarted (SIGTERM), fetched again: the same trust root, the same entries with the same
/// ids, and a JWT-SVID minted before the restart still validates after it.
#[tokio::test]
async fn entries_trust_root_and_jwt_keys_survive_a_restart() {
    let mut agent = start("").await;
    let selector = format!("unix:uid:{}", current_uid());
    let created = agent.json(&[
        "entry",
        "create",
        "--spiffe-id",
        "spiffe://example.org/kept",
        "--selector",
        &selector,
    ]);
    let before = served(&agent.socket()).await;
    assert_eq!(before.len(), 2);
    let token = jwt(&agent.socket(), "db").await;
    let entries_before = agent.json(&["entry", "list"]);
    let sequence_before = agent.json(&["ca", "list"])["bundle_sequence"]
        .as_u64()
        .unwrap();

    agent.stop("TERM").await;
    let db = agent.dir.path().join("agent.db");
    let mode = std::fs::metadata(&db).unwrap().permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o600
    );
    agent.spawn().await;

    let after = served(&agent.socket()).await;
    assert_eq!(after, before, "same SPIFFE IDs, same bundle");
    assert_eq!(agent.json(&["entry", "list"]), entries_before);
    let shown = agent.json(&["entry", "show", created["id"].as_str().unwrap()]);
    assert_eq!(shown["spiffe_id"], "spiffe://example.org/kept");
    let mut client = common::client(&agent.socket()).await;
    let validated = client
        .validate_jwtsvid(common::req(ValidateJwtsvidRequest {
            audience: "db".to_owned(),
            svid: token,
        }))
        .await;
    assert!(validated.is_ok(), "{validated:?}");
    let sequence_after = agent.json(&["ca", "list"])["bundle_sequence"]
        .as_u64()
        .unwrap();
    assert!(sequence_after >= sequence_before);

    // A rotation moves the sequence on, and that survives a restart too.
    let rotated = agent.json(&["ca", "rotate"]);
    let sequence = rotated["bundle_sequence"].as_u64().unwrap();
    assert!(sequence > sequence_after);
    agent.stop("TERM").await;
    agent.spawn().await;
    assert_eq!(
        agent.json(&["ca", "list"])["bundle_sequence"].as_u64(),
        Some(sequence)
    );
}

/// `kill -9` while rotations are being written leaves the store consistent: the agent starts
/// again, has exactly one active X.509 authority and one active JWT key, and what it serves
/// verifies against the bundle it serves (never a bundle without its active key).
#[tokio::test]
async fn kill_9_during_rotations_leaves_a_consistent_state() {
    let mut agent = start("").await;
    for round in 0..3 {
        let admin = agent.admin_socket();
        let rotations = tokio::spawn(async move {
            let mut client = AdminClient::connect(&admin).await.unwrap();
            loop {
                let rotated = client
                    .grpc()
                    .rotate_authorities(proto::RotateAuthoritiesRequest {
                        x509: true,
                        jwt: true,
                        prepare_only: false,
                    })
                    .await;
                if rotated.is_err() {
                    break;
                }
            }
        });
        // Let a few rotations commit, then kill in the middle of the next ones.
        tokio::time::sleep(Duration::from_millis(150 + 70 * round)).await;
        agent.stop("KILL").await;
        let _ = rotations.await;
        agent.spawn().await;
        let authorities = agent.json(&["ca", "list"]);
        for kind in ["x509", "jwt"] {
            let active = authorities["authorities"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|a| a["kind"] == kind && a["status"] == "active")
                .count();
            assert_eq!(active, 1, "round {round}, {kind}: {authorities}");
        }
        let served = served(&agent.socket()).await;
        assert_eq!(served.len(), 1, "round {round}");
    }
}

/// A store file the agent cannot trust stops it with an error naming the file, and the file
/// is left as it was (negative test: garbage, and a newer schema).
#[tokio::test]
async fn unusable_store_stops_the_agent_untouched() {
    let mut agent = start("").await;
    agent.stop("TERM").await;
    let db = agent.dir.path().join("agent.db");
    let _ = std::fs::remove_file(agent.dir.path().join("agent.db-wal"));
    let _ = std::fs::remove_file(agent.dir.path().join("agent.db-shm"));
    std::fs::write(&db, b"this is not a database, it is a note to self").unwrap();
    let before = std::fs::read(&db).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_agent"))
        .arg("--config")
        .arg(agent.config())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("agent.db"), "{stderr}");
    assert_eq!(std::fs::read(&db).unwrap(), before, "the file is untouched");
    assert!(!agent.socket().exists(), "nothing was served");
}
