//! `agent` benchmarks: the Workload API server over its Unix socket, each group paired with
//! the raw signature it wraps, measured in the same run.
//!
//! Criterion groups (medians; `python3 benches/ratios.py` prints the ratios):
//! - `agent_x509_first_response`: open FetchX509SVID on a connected client and receive the
//!   first message (`ours/first_response`: attestation, group lookup, encode, one UDS round
//!   trip) against one ECDSA P-256 signature with ring (`baseline/ecdsa_p256_sign`).
//! - `agent_jwt_fetch`: FetchJWTSVID served from the agent's token cache
//!   (`ours/cached`) and minted for a fresh audience (`ours/minted`), against the same
//!   signature (`baseline/ecdsa_p256_sign`; ES256 is what a JWT-SVID mint costs at least).
//!
//! After criterion, a report printed to stdout (not criterion data):
//! - p50 / p99 of the two latencies above over many calls, with the ratio to the signature;
//! - rotation fan-out: time from a CA rotation (`force_rotate_x509`, measured from before the
//!   call and from its return) until 1,000 and 10,000 open FetchX509SVID streams have each
//!   received the re-issued SVID (streams spread over connections of 100 streams each);
//! - memory per open stream on the server: the agent runs in this process, the 10,000 streams
//!   are opened by a child process (this binary re-executed), and the growth of this
//!   process's resident set is divided by the streams.
//!
//! Run: `cargo bench -p benches --bench agent -- --warm-up-time 1 --measurement-time 3`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::as_conversions,
    reason = "bench setup: fixed inputs known to be valid, a panic there is a broken bench"
)]

use std::hint::black_box;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use agent::{Agent, AgentHandle, RegistrationEntry, Selector};
use criterion::Criterion;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use tokio::runtime::Runtime;
use tokio::task::JoinSet;
use tonic::transport::{Channel, Endpoint};
use workload_client::proto::spiffe_workload_api_client::SpiffeWorkloadApiClient;
use workload_client::proto::{JwtsvidRequest, X509svidRequest};

type Client = SpiffeWorkloadApiClient<Channel>;

/// Streams per client connection (hyper's default limit is 200).
const STREAMS_PER_CONNECTION: usize = 100;
/// The child-process mode of this binary: open streams on the socket named by the value.
const CLIENT_MODE_ENV: &str = "AGENT_BENCH_CLIENT_SOCKET";
const CLIENT_STREAMS_ENV: &str = "AGENT_BENCH_CLIENT_STREAMS";

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

async fn channel(path: &Path) -> Channel {
    let path = path.to_owned();
    Endpoint::from_static("http://localhost")
        .connect_with_connector(tower::service_fn(move |_| {
            let path = path.clone();
            async move {
                let stream = tokio::net::UnixStream::connect(path).await?;
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(stream))
            }
        }))
        .await
        .unwrap()
}

fn req<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("workload.spiffe.io", "true".parse().unwrap());
    request
}

struct Setup {
    agent: AgentHandle,
    _dir: tempfile::TempDir,
}

fn new_ca() -> ca::CertificateAuthority {
    ca::CertificateAuthority::builder("example.org".parse().unwrap())
        .build(std::time::SystemTime::now())
        .unwrap()
}

async fn start_agent(ca: ca::CertificateAuthority) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let entry = RegistrationEntry::new("spiffe://example.org/bench".parse().unwrap())
        .with_selector(Selector::current_uid().unwrap());
    let agent = Agent::builder(ca)
        .entry(entry)
        .serve_unix(dir.path().join("agent.sock"))
        .await
        .unwrap();
    Setup { agent, _dir: dir }
}

async fn first_response(client: &mut Client) -> usize {
    let mut stream = client
        .fetch_x509svid(req(X509svidRequest {}))
        .await
        .unwrap()
        .into_inner();
    let message = stream.message().await.unwrap().unwrap();
    message.svids.len()
}

async fn fetch_jwt(client: &mut Client, audience: String) -> usize {
    let response = client
        .fetch_jwtsvid(req(JwtsvidRequest {
            audience: vec![audience],
            spiffe_id: String::new(),
        }))
        .await
        .unwrap()
        .into_inner();
    response.svids[0].svid.len()
}

struct Signer {
    key: EcdsaKeyPair,
    rng: SystemRandom,
}

impl Signer {
    fn new() -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        Self { key, rng }
    }

    fn sign(&self) -> usize {
        self.key
            .sign(&self.rng, black_box(b"header.claims-of-a-typical-jwt-svid"))
            .unwrap()
            .as_ref()
            .len()
    }
}

fn criterion_groups(c: &mut Criterion) {
    let rt = runtime();
    let setup = rt.block_on(start_agent(new_ca()));
    let socket = setup.agent.socket_path().to_owned();
    let client = rt.block_on(async { SpiffeWorkloadApiClient::new(channel(&socket).await) });
    let signer = Signer::new();

    let mut group = c.benchmark_group("agent_x509_first_response");
    group.bench_function("ours/first_response", |b| {
        b.iter(|| {
            let mut client = client.clone();
            rt.block_on(first_response(&mut client))
        });
    });
    group.bench_function("baseline/ecdsa_p256_sign", |b| b.iter(|| signer.sign()));
    group.finish();

    let mut group = c.benchmark_group("agent_jwt_fetch");
    group.bench_function("ours/cached", |b| {
        b.iter(|| {
            let mut client = client.clone();
            rt.block_on(fetch_jwt(&mut client, "cached".to_owned()))
        });
    });
    let mut n = 0_u64;
    group.bench_function("ours/minted", |b| {
        b.iter(|| {
            n += 1;
            let mut client = client.clone();
            rt.block_on(fetch_jwt(&mut client, format!("fresh-{n}")))
        });
    });
    group.bench_function("baseline/ecdsa_p256_sign", |b| b.iter(|| signer.sign()));
    group.finish();
    drop(client);
    rt.block_on(setup.agent.shutdown()).unwrap();
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// p50 / p99 of `calls` runs of `f`.
fn latencies(calls: usize, mut f: impl FnMut()) -> (Duration, Duration) {
    let mut samples = Vec::with_capacity(calls);
    for _ in 0..calls {
        let start = Instant::now();
        f();
        samples.push(start.elapsed());
    }
    samples.sort_unstable();
    (percentile(&samples, 0.50), percentile(&samples, 0.99))
}

fn latency_report() {
    const CALLS: usize = 3000;
    let rt = runtime();
    let setup = rt.block_on(start_agent(new_ca()));
    let socket = setup.agent.socket_path().to_owned();
    let client = rt.block_on(async { SpiffeWorkloadApiClient::new(channel(&socket).await) });
    let signer = Signer::new();
    // Warm up the connection and caches.
    for _ in 0..200 {
        rt.block_on(first_response(&mut client.clone()));
    }
    let (sign50, sign99) = latencies(CALLS, || {
        black_box(signer.sign());
    });
    let (x50, x99) = latencies(CALLS, || {
        black_box(rt.block_on(first_response(&mut client.clone())));
    });
    let (c50, c99) = latencies(CALLS, || {
        black_box(rt.block_on(fetch_jwt(&mut client.clone(), "cached".to_owned())));
    });
    let mut n = 0_u64;
    let (m50, m99) = latencies(CALLS, || {
        n += 1;
        black_box(rt.block_on(fetch_jwt(&mut client.clone(), format!("fresh-{n}"))));
    });
    println!("\n== agent latencies over the Unix socket ({CALLS} calls each)");
    println!(
        "  baseline ecdsa_p256_sign        p50 {:8.1} us  p99 {:8.1} us",
        micros(sign50),
        micros(sign99)
    );
    for (name, p50, p99) in [
        ("FetchX509SVID first response", x50, x99),
        ("FetchJWTSVID cached", c50, c99),
        ("FetchJWTSVID minted", m50, m99),
    ] {
        println!(
            "  {name:<31} p50 {:8.1} us  p99 {:8.1} us  ({:.1}x / {:.1}x the signature)",
            micros(p50),
            micros(p99),
            p50.as_secs_f64() / sign50.as_secs_f64(),
            p99.as_secs_f64() / sign99.as_secs_f64(),
        );
    }
    drop(client);
    rt.block_on(setup.agent.shutdown()).unwrap();
}

/// Opens `count` FetchX509SVID streams (100 per connection) and returns them with their first
/// leaf certificate.
async fn open_streams(
    socket: &Path,
    count: usize,
) -> Vec<tonic::Streaming<workload_client::proto::X509svidResponse>> {
    let mut streams = Vec::with_capacity(count);
    let mut client = None;
    for i in 0..count {
        if i % STREAMS_PER_CONNECTION == 0 {
            client = Some(SpiffeWorkloadApiClient::new(channel(socket).await));
        }
        let mut c = client.clone().unwrap();
        let mut stream = c
            .fetch_x509svid(req(X509svidRequest {}))
            .await
            .unwrap()
            .into_inner();
        stream.message().await.unwrap().unwrap();
        streams.push(stream);
    }
    streams
}

fn fan_out_report() {
    println!("\n== rotation fan-out (CA rotation until every watcher has the new SVID)");
    let rt = runtime();
    for watchers in [1_000, 10_000] {
        let ca_handle = new_ca();
        let setup = rt.block_on(start_agent(ca_handle.clone()));
        let socket = setup.agent.socket_path().to_owned();
        let (before_call, after_call, p50, all) = rt.block_on(async {
            let streams = open_streams(&socket, watchers).await;
            assert_eq!(setup.agent.open_streams(), watchers);
            let mut waiting = JoinSet::new();
            for mut stream in streams {
                waiting.spawn(async move {
                    stream.message().await.unwrap().unwrap();
                    Instant::now()
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            let before = Instant::now();
            let now = std::time::SystemTime::now();
            ca_handle.force_rotate_x509(now).unwrap();
            let after = Instant::now();
            let mut arrivals = Vec::with_capacity(watchers);
            while let Some(at) = waiting.join_next().await {
                arrivals.push(at.unwrap());
            }
            arrivals.sort_unstable();
            let last = *arrivals.last().unwrap();
            let median = arrivals[arrivals.len() / 2];
            (before, after, median - before, last - before)
        });
        println!(
            "  {watchers:>6} watchers: all have it {:8.1} ms after rotate() was called \
             ({:7.1} ms after it returned; median watcher {:7.1} ms); {:.2} us per watcher",
            all.as_secs_f64() * 1e3,
            (all - (after_call - before_call)).as_secs_f64() * 1e3,
            p50.as_secs_f64() * 1e3,
            all.as_secs_f64() * 1e6 / watchers as f64,
        );
        rt.block_on(setup.agent.shutdown()).unwrap();
    }
}

/// This process's resident set size in bytes.
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

fn memory_report() {
    const STREAMS: usize = 10_000;
    let rt = runtime();
    let setup = rt.block_on(start_agent(new_ca()));
    let socket = setup.agent.socket_path().to_owned();
    // Warm the server (first connection, first group) before measuring.
    rt.block_on(async {
        let mut warm = SpiffeWorkloadApiClient::new(channel(&socket).await);
        first_response(&mut warm).await;
    });
    let before = rss_bytes();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .env(CLIENT_MODE_ENV, &socket)
        .env(CLIENT_STREAMS_ENV, STREAMS.to_string())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready", "client child failed");
    // Let the server settle (connection tasks idle, buffers released).
    std::thread::sleep(Duration::from_millis(500));
    let open = setup.agent.open_streams();
    let after = rss_bytes();
    drop(child.stdin.take());
    child.wait().unwrap();
    println!("\n== memory per open FetchX509SVID stream (server side, {open} streams)");
    println!(
        "  resident set grew {:.1} MiB: {:.0} bytes per stream (connections of {} streams, \
         one SVID message each)",
        (after.saturating_sub(before)) as f64 / (1024.0 * 1024.0),
        after.saturating_sub(before) as f64 / open.max(1) as f64,
        STREAMS_PER_CONNECTION,
    );
    rt.block_on(setup.agent.shutdown()).unwrap();
}

/// Child mode: open the streams, say "ready", hold them until stdin closes.
fn client_mode(socket: PathBuf, streams: usize) {
    let rt = runtime();
    let held = rt.block_on(open_streams(&socket, streams));
    println!("ready");
    std::io::stdout().flush().unwrap();
    let mut sink = String::new();
    let _ = std::io::stdin().read_line(&mut sink);
    drop(held);
}

fn main() {
    if let Ok(socket) = std::env::var(CLIENT_MODE_ENV) {
        let streams = std::env::var(CLIENT_STREAMS_ENV).unwrap().parse().unwrap();
        client_mode(PathBuf::from(socket), streams);
        return;
    }
    let mut criterion = Criterion::default().configure_from_args();
    criterion_groups(&mut criterion);
    criterion.final_summary();
    // `cargo test --benches` runs benches in test mode: skip the long reports there.
    if std::env::args().any(|a| a == "--bench") {
        latency_report();
        fan_out_report();
        memory_report();
    }
}
