//! A measurement, not a check (ignored by default): the time from an SVID push by the agent
//! to the helper's files on disk and its `renew_signal` sent, against a bare Workload API
//! stream receiving the same push in the same run.
//!
//! ```text
//! cargo test -p spiffekit-cli --test helper_latency -- --ignored --nocapture
//! ```

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::as_conversions,
    reason = "test code: a panic is a failed test"
)]

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::TestAgent;
use tokio::signal::unix::{SignalKind, signal};
use workload_client::{Client, Endpoint};

const ROTATIONS: usize = 50;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// Push (rotate_svids) to the bare stream's receive, and to the helper's SIGUSR1 (sent after
/// the files are renamed into place, synced and read back): p50 and p99 of each, and the ratio.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement; run with --ignored --nocapture"]
async fn push_to_files_and_signal_latency() {
    let agent = TestAgent::start().await;
    let out = tempfile::tempdir().unwrap();
    let mut usr1 = signal(SignalKind::user_defined1()).unwrap();
    let pid_file = out.path().join("test.pid");
    std::fs::write(&pid_file, std::process::id().to_string()).unwrap();
    let config = out.path().join("helper.toml");
    std::fs::write(
        &config,
        format!(
            "agent_address = \"{}\"\ncert_dir = \"{}\"\nsvid_file_name = \"svid.pem\"\n\
             svid_key_file_name = \"svid_key.pem\"\nsvid_bundle_file_name = \"svid_bundle.pem\"\n\
             renew_signal = \"SIGUSR1\"\npid_file_name = \"{}\"\n",
            agent.socket().display(),
            out.path().display(),
            pid_file.display()
        ),
    )
    .unwrap();
    let mut helper = Command::new(common::bin())
        .args(["helper", "--config"])
        .arg(&config)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    tokio::time::timeout(Duration::from_secs(60), usr1.recv())
        .await
        .expect("the first write");

    let client = Client::builder(Endpoint::unix(agent.socket()).unwrap())
        .connect_lazy()
        .unwrap();
    let mut stream = client.watch_x509_context().await.unwrap();
    stream.next().await.unwrap().unwrap();

    let (mut bare, mut helper_times) = (Vec::new(), Vec::new());
    for _ in 0..ROTATIONS {
        let pushed = Instant::now();
        agent.agent.rotate_svids().await.unwrap();
        let (mut got_stream, mut got_signal) = (None, None);
        while got_stream.is_none() || got_signal.is_none() {
            tokio::select! {
                update = stream.next(), if got_stream.is_none() => {
                    update.unwrap().unwrap();
                    got_stream = Some(pushed.elapsed());
                }
                _ = usr1.recv(), if got_signal.is_none() => got_signal = Some(pushed.elapsed()),
                () = tokio::time::sleep(Duration::from_secs(60)) => panic!("no update within 60 s"),
            }
        }
        bare.push(got_stream.unwrap());
        helper_times.push(got_signal.unwrap());
        // Let the helper's log line and the agent settle before the next push.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    bare.sort();
    helper_times.sort();
    let (b50, b99) = (percentile(&bare, 0.5), percentile(&bare, 0.99));
    let (h50, h99) = (
        percentile(&helper_times, 0.5),
        percentile(&helper_times, 0.99),
    );
    println!("{ROTATIONS} SVID pushes (rotate_svids) on this machine:");
    println!("  bare Workload API stream receive: p50 {b50:?}  p99 {b99:?}");
    println!("  helper files written + checked + signal received: p50 {h50:?}  p99 {h99:?}");
    println!(
        "  ratio helper/bare: p50 {:.2}  p99 {:.2}",
        h50.as_secs_f64() / b50.as_secs_f64(),
        h99.as_secs_f64() / b99.as_secs_f64()
    );
    let _ = helper.kill();
    let _ = helper.wait();
    agent.agent.shutdown().await.unwrap();
}
