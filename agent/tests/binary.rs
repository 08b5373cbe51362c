//! The `agent` binary: serves what its config file says, stops cleanly on SIGINT/SIGTERM,
//! and clients pick up an agent that was killed and restarted.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers outside #[test] fns"
)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{AgentProcess, current_uid, next, req, verify_x509};
use workload_api::proto::X509svidRequest;
use workload_api::proto::spiffe_workload_api_client::SpiffeWorkloadApiClient;

/// A config serving `spiffe://example.org/cli` to this process's uid on `socket`.
fn write_config(dir: &Path, socket: &Path) -> PathBuf {
    let config = dir.join("agent.toml");
    std::fs::write(
        &config,
        format!(
            r#"
trust_domain = "example.org"
socket_path = "{}"
[svid]
x509_ttl = "10m"
[[entry]]
spiffe_id = "spiffe://example.org/cli"
selectors = ["unix:uid:{}"]
hint = "cli"
"#,
            socket.display(),
            current_uid()
        ),
    )
    .unwrap();
    config
}

fn spawn_agent(config: &Path, log: &Path) -> AgentProcess {
    AgentProcess(
        Command::new(env!("CARGO_BIN_EXE_agent"))
            .arg("--config")
            .arg(config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap(),
    )
}

/// Waits until something accepts on `socket` (the agent binds, then logs "ready").
async fn wait_for_socket(socket: &Path, child: &mut Child) {
    for _ in 0..200 {
        if tokio::net::UnixStream::connect(socket).await.is_ok() {
            return;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("agent exited early: {status}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("agent did not listen on {} within 10 s", socket.display());
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

async fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    for _ in 0..200 {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child.kill().unwrap();
    panic!("agent did not exit within 10 s");
}

/// The binary serves the configured entry, logs what it serves, and on SIGTERM or SIGINT ends
/// open streams cleanly, removes its socket and exits 0.
#[tokio::test]
async fn binary_serves_its_config_and_stops_cleanly_on_signals() {
    for signal_name in ["TERM", "INT"] {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("agent.sock");
        let log = dir.path().join("agent.log");
        let config = write_config(dir.path(), &socket);
        let mut child = spawn_agent(&config, &log);
        wait_for_socket(&socket, &mut child).await;

        let mut client = common::client(&socket).await;
        let (mut stream, first) = common::x509_stream(&mut client).await;
        assert_eq!(first.svids[0].spiffe_id, "spiffe://example.org/cli");
        assert_eq!(first.svids[0].hint, "cli");
        verify_x509(&first.svids[0]);

        signal(&child, signal_name);
        let end = tokio::time::timeout(Duration::from_secs(10), stream.message())
            .await
            .unwrap();
        assert!(matches!(end, Ok(None)), "SIG{signal_name}: {end:?}");
        let status = wait_exit(&mut child).await;
        assert!(status.success(), "SIG{signal_name}: {status}");
        assert!(
            !socket.exists(),
            "socket left behind after SIG{signal_name}"
        );
        let log = std::fs::read_to_string(&log).unwrap();
        assert!(log.contains("spiffe://example.org/cli"), "{log}");
        assert!(log.contains("ready"), "{log}");
    }
}

/// A client keeps working across an agent that is killed (SIGKILL: no cleanup, the socket
/// file stays) and started again on the same path: the restarted agent replaces the stale
/// socket, and the client's next call reaches it and gets an SVID under the same trust root
/// (the CA resumed from its store, `agent.db` next to the config). With `[store] in_memory =
/// true` the restarted agent has a new CA.
#[tokio::test]
async fn clients_pick_up_a_killed_and_restarted_agent() {
    for in_memory in [false, true] {
        killed_and_restarted(in_memory).await;
    }
}

async fn killed_and_restarted(in_memory: bool) {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("agent.sock");
    let config = write_config(dir.path(), &socket);
    if in_memory {
        let text = std::fs::read_to_string(&config).unwrap();
        std::fs::write(
            &config,
            text.replacen("[svid]", "[store]\nin_memory = true\n[svid]", 1),
        )
        .unwrap();
    }
    let mut child = spawn_agent(&config, &dir.path().join("1.log"));
    wait_for_socket(&socket, &mut child).await;

    let mut client = SpiffeWorkloadApiClient::new(common::lazy_channel(&socket));
    let (mut stream, before) = common::x509_stream(&mut client).await;

    child.kill().unwrap();
    child.wait().unwrap();
    assert!(socket.exists(), "a killed agent leaves its socket");
    let ended = tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .unwrap();
    assert!(!matches!(ended, Ok(Some(_))), "{ended:?}");

    let mut child = spawn_agent(&config, &dir.path().join("2.log"));
    wait_for_socket(&socket, &mut child).await;
    let mut after = None;
    for _ in 0..100 {
        match client.fetch_x509svid(req(X509svidRequest {})).await {
            Ok(response) => {
                let mut stream = response.into_inner();
                after = Some(next(&mut stream).await);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let after = after.expect("the client never reached the restarted agent");
    assert_eq!(after.svids[0].spiffe_id, before.svids[0].spiffe_id);
    if in_memory {
        assert_ne!(after.svids[0].bundle, before.svids[0].bundle, "a new CA");
    } else {
        assert_eq!(after.svids[0].bundle, before.svids[0].bundle, "the same CA");
        assert!(dir.path().join("agent.db").exists());
    }
    verify_x509(&after.svids[0]);
    signal(&child, "TERM");
    assert!(wait_exit(&mut child).await.success());
}

/// A bad config file is reported with the setting at fault, and the agent exits non-zero.
#[test]
fn bad_config_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("agent.toml");
    std::fs::write(
        &config,
        "trust_domain = \"example.org\"\nsocket_path = \"/tmp/x.sock\"\n[svid]\nx509_ttl = \"ten minutes\"\n",
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_agent"))
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("svid.x509_ttl"), "{stderr}");

    let output = Command::new(env!("CARGO_BIN_EXE_agent")).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
}

/// One HTTP/1.1 GET on `addr`; the status code and body.
async fn http_get(addr: &str, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"));
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// The value of the first sample of `name` in Prometheus text.
fn sample(metrics: &str, name: &str) -> Option<f64> {
    metrics
        .lines()
        .find(|line| line.starts_with(name) && !line.starts_with('#'))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

/// With `health_address`, the binary serves /live, /ready (once the entry has its SVID) and
/// Prometheus /metrics that count what it issued and the streams open; SIGTERM still ends it
/// cleanly.
#[tokio::test]
async fn binary_serves_live_ready_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("agent.sock");
    let log = dir.path().join("agent.log");
    let config = write_config(dir.path(), &socket);
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replacen(
            "socket_path",
            "health_address = \"127.0.0.1:0\"\nsocket_path",
            1,
        ),
    )
    .unwrap();
    let mut child = spawn_agent(&config, &log);
    wait_for_socket(&socket, &mut child).await;
    let mut addr = None;
    for _ in 0..100 {
        let log = std::fs::read_to_string(&log).unwrap();
        addr = log
            .lines()
            .find(|line| line.contains("serving /live"))
            .and_then(|line| line.split("address=").nth(1))
            .map(|rest| {
                rest.split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_owned()
            });
        if addr.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let addr = addr.expect("the agent logs its health address");

    assert_eq!(http_get(&addr, "/live").await.0, 200);
    let mut client = common::client(&socket).await;
    let (_stream, first) = common::x509_stream(&mut client).await;
    verify_x509(&first.svids[0]);
    let (status, body) = http_get(&addr, "/ready").await;
    assert_eq!((status, body.as_str()), (200, "ready\n"));

    let (status, metrics) = http_get(&addr, "/metrics").await;
    assert_eq!(status, 200);
    assert!(
        sample(&metrics, "spiffe_agent_x509_svids_issued_total").is_some_and(|n| n >= 1.0),
        "{metrics}"
    );
    assert_eq!(
        sample(&metrics, "spiffe_agent_open_streams"),
        Some(1.0),
        "{metrics}"
    );
    assert!(
        metrics.contains("# HELP spiffe_agent_open_streams"),
        "{metrics}"
    );
    assert_eq!(http_get(&addr, "/nothing").await.0, 404);

    signal(&child, "TERM");
    let status = wait_exit(&mut child).await;
    assert!(status.success(), "{status}");
    assert!(tokio::net::TcpStream::connect(&addr).await.is_err());
}
