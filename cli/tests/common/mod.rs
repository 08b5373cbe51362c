//! Helpers of the binary tests: running `spiffekit`, and an in-process agent (with an
//! in-process CA) on a temporary socket.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    dead_code,
    unreachable_pub,
    reason = "test helpers: a panic is a failed test; each test binary uses a subset"
)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use agent::{Agent, AgentHandle, RegistrationEntry, Selector};

/// The binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_spiffekit"))
}

/// Runs the binary with `args` (and `stdin`), without `SPIFFE_ENDPOINT_SOCKET` from the
/// environment the tests run in.
pub fn run(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(bin())
        .args(args)
        .env_remove("SPIFFE_ENDPOINT_SOCKET")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(bytes) = stdin {
        input.write_all(bytes).unwrap();
    }
    drop(input);
    let output = child.wait_with_output().unwrap();
    assert_no_panic(&output);
    output
}

/// The exit code, stdout and stderr, for assertion messages.
pub fn describe(output: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A panic exits with 101 and prints "panicked": never acceptable, whatever the input.
pub fn assert_no_panic(output: &Output) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.code() != Some(101) && !stderr.contains("panicked"),
        "the binary panicked: {}",
        describe(output)
    );
}

/// Asserts the exit code.
pub fn assert_exit(output: &Output, code: i32) {
    assert_eq!(output.status.code(), Some(code), "{}", describe(output));
}

/// stdout as JSON.
pub fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", describe(output)))
}

/// An agent serving `spiffe://example.org/web` (and JWT-SVIDs for it) to this user.
pub struct TestAgent {
    pub ca: ca::TestCa,
    pub agent: AgentHandle,
    pub dir: tempfile::TempDir,
}

impl TestAgent {
    pub async fn start() -> Self {
        Self::start_with(vec![Self::entry_for_uid(None)]).await
    }

    /// `spiffe://example.org/web` for `uid` (default: this process's).
    pub fn entry_for_uid(uid: Option<u32>) -> RegistrationEntry {
        let selector = uid.map_or_else(|| Selector::current_uid().unwrap(), Selector::unix_uid);
        RegistrationEntry::new("spiffe://example.org/web".parse().unwrap()).with_selector(selector)
    }

    /// An agent with these entries (none: callers get no identity until one is added).
    pub async fn start_with(entries: Vec<RegistrationEntry>) -> Self {
        let ca = ca::TestCa::new("example.org");
        let dir = tempfile::tempdir().unwrap();
        let agent = Agent::builder(ca.ca().clone())
            .entries(entries)
            .x509_svid_ttl(Duration::from_secs(3600))
            .serve_unix(dir.path().join("agent.sock"))
            .await
            .unwrap();
        agent.minted().await;
        Self { ca, agent, dir }
    }

    /// The socket as a Workload Endpoint address.
    pub fn address(&self) -> String {
        format!("unix://{}", self.socket().display())
    }

    pub fn socket(&self) -> &Path {
        self.agent.socket_path()
    }
}

/// Runs the binary off the async runtime (the agent keeps serving meanwhile).
pub async fn run_async(args: Vec<String>, stdin: Option<Vec<u8>>) -> Output {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&args, stdin.as_deref())
    })
    .await
    .unwrap()
}
