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
//!   call and from its return) until every open FetchX509SVID stream has received the
//!   re-issued SVID (streams spread over connections of 100 streams each), in two shapes: 1,000
//!   and 10,000 streams of one identity (one entry, one group), and 1,000, 3,000 and 10,000
//!   streams of as many distinct workloads (one entry and one group each: the adversarial
//!   shape), with the cost per stream as a multiple of one ES256 signature. A CA rotation
//!   re-mints every SVID, so the distinct shape runs twice: on a CA with the default
//!   `SelfCheck::Full` (`full`: every minted SVID verified, about 3x a mint without it) and
//!   with `SelfCheck::FirstPerAuthority` (`first`), which shows what the agent itself adds;
//! - FetchJWTSVID (cached token) with 1 and with 10,000 registered entries, no stream open
//!   (the caller matches one entry either way);
//! - start-up with 10,000 entries: until `serve_unix` returns (the socket accepts), until the
//!   last-registered entry's caller has its first X509-SVID and its first JWT-SVID, and until
//!   every entry's first SVID is minted;
//! - memory per open stream on the server, in a fresh process per shape (this binary
//!   re-executed as the server, which re-executes itself again as the client opening 10,000
//!   streams): the growth of the server's resident set divided by the streams, for one
//!   identity and for distinct ones.
//!
//! Distinct workloads come from one client process through [`DistinctAttestor`], which gives
//! every attestation (one per RPC) the next `unix:uid:<n>`.
//!
//! One run each on the shared 2-core VM (clock times move by +-30% between runs), the agent
//! before issue 12's scale work and after it, the same bench binary source:
//!
//! | report | before | after |
//! |---|---|---|
//! | fan-out, 10,000 distinct, CA `full` | 3469 ms (16.2x a signature per stream) | 1688 ms (7.9x) |
//! | fan-out, 10,000 distinct, CA `first` | 2654 ms (12.4x) | 934 ms (4.4x) |
//! | fan-out, 1k / 3k / 10k distinct, `first`, per stream | 4.3x / 6.7x / 12.4x | 4.5x / 3.6x / 4.4x |
//! | fan-out, 10,000 of one identity | 228 ms (1.1x) | 328 ms (1.5x) |
//! | FetchJWTSVID p50, 10,000 entries / 1 entry | 3.50x | 0.99x |
//! | start-up with 10,000 entries until the socket serves | 1252 ms | 15 ms |
//! | memory per stream (fresh process), one identity / distinct | 7490 / 13890 B | 7422 / 11103 B |
//!
//! Then the Workload API codec's initial encode buffer went from tonic's 8 KiB to 1 KiB
//! (`workload_api::proto::WorkloadCodec`), one run each, back to back: memory per stream,
//! one identity 7218 -> 4026 B (0.56x), distinct 11010 -> 6707 B (0.61x).
//!
//! The fan-out report again at the end of that work, on a quieter machine (one other build
//! running): 10,000 distinct workloads 883 ms with the CA's default `full` (4.1x a signature per
//! stream) and 526 ms with `first` (2.5x); 10,000 streams of one identity 193 ms (0.9x).
//!
//! Run: `cargo bench -p benches --bench agent -- --warm-up-time 1 --measurement-time 3`.
//! `AGENT_BENCH_REPORTS=fanout,jwt,start,memory` (any subset) picks the reports; append
//! `-- agent_none` to skip the criterion groups.

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

use std::sync::atomic::{AtomicU32, Ordering};

use agent::{Agent, AgentHandle, AttestFuture, Attestor, Caller, RegistrationEntry, Selector};
use criterion::Criterion;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use tokio::runtime::Runtime;
use tokio::task::JoinSet;
use tonic::transport::{Channel, Endpoint};
use workload_api::proto::spiffe_workload_api_client::SpiffeWorkloadApiClient;
use workload_api::proto::{JwtsvidRequest, X509svidRequest};

type Client = SpiffeWorkloadApiClient<Channel>;

/// Streams per client connection (hyper's default limit is 200).
const STREAMS_PER_CONNECTION: usize = 100;
/// The child-process mode of this binary: open streams on the socket named by the value.
const CLIENT_MODE_ENV: &str = "AGENT_BENCH_CLIENT_SOCKET";
const CLIENT_STREAMS_ENV: &str = "AGENT_BENCH_CLIENT_STREAMS";
/// The server mode of this binary for the memory report: `one` or `distinct`.
const SERVER_MODE_ENV: &str = "AGENT_BENCH_MEMORY_SERVER";
/// The reports to print after criterion (comma-separated; all when unset).
const REPORTS_ENV: &str = "AGENT_BENCH_REPORTS";
/// The first uid [`DistinctAttestor`] hands out (far from real accounts).
const DISTINCT_UID_BASE: u32 = 3_000_000;

/// Gives each attestation (one per RPC) its own `unix:uid:<DISTINCT_UID_BASE + n>`, so one
/// client process can act as many distinct workloads.
#[derive(Debug, Default)]
struct DistinctAttestor(AtomicU32);

impl Attestor for DistinctAttestor {
    fn attest<'a>(&'a self, _caller: &'a Caller) -> AttestFuture<'a> {
        let n = self.0.fetch_add(1, Ordering::Relaxed);
        Box::pin(async move { Ok(vec![Selector::unix_uid(DISTINCT_UID_BASE + n)]) })
    }
}

/// `count` entries, the i-th for `unix:uid:<DISTINCT_UID_BASE + i>`.
fn distinct_entries(count: usize) -> impl Iterator<Item = RegistrationEntry> {
    (0..count).map(|i| {
        let i = u32::try_from(i).unwrap();
        RegistrationEntry::new(format!("spiffe://example.org/w/{i}").parse().unwrap())
            .with_selector(Selector::unix_uid(DISTINCT_UID_BASE + i))
    })
}

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
    new_ca_with(ca::SelfCheck::Full)
}

/// A CA with the given self-check: `Full` (the default) verifies every minted SVID, about 3x
/// the cost of a mint without it (see `benches/ca.rs`); `FirstPerAuthority` only the first
/// per authority.
fn new_ca_with(self_check: ca::SelfCheck) -> ca::CertificateAuthority {
    ca::CertificateAuthority::builder("example.org".parse().unwrap())
        .self_check(self_check)
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

/// An agent with `count` distinct entries, attesting each RPC as the next of them.
async fn start_distinct_agent(ca: ca::CertificateAuthority, count: usize) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::builder(ca)
        .without_default_attestors()
        .attestor(DistinctAttestor::default())
        .entries(distinct_entries(count))
        .serve_unix(dir.path().join("agent.sock"))
        .await
        .unwrap();
    Setup { agent, _dir: dir }
}

/// An agent with `count` entries: `count - 1` for other uids, then one for this process's uid.
async fn start_agent_with_entries(ca: ca::CertificateAuthority, count: usize) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let own = RegistrationEntry::new("spiffe://example.org/bench".parse().unwrap())
        .with_selector(Selector::current_uid().unwrap());
    let agent = Agent::builder(ca)
        .entries(distinct_entries(count - 1))
        .entry(own)
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

/// p50 of one ES256 signature, the unit of the reports' ratios.
fn sign_p50() -> Duration {
    let signer = Signer::new();
    latencies(3000, || {
        black_box(signer.sign());
    })
    .0
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
) -> Vec<tonic::Streaming<workload_api::proto::X509svidResponse>> {
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

/// Time from a CA rotation until each of `streams` has the re-issued SVID: (all, after the
/// rotate call returned, median).
async fn fan_out(
    agent: &AgentHandle,
    ca_handle: &ca::CertificateAuthority,
    streams: Vec<tonic::Streaming<workload_api::proto::X509svidResponse>>,
) -> (Duration, Duration, Duration) {
    let watchers = streams.len();
    assert_eq!(agent.open_streams(), watchers);
    let mut waiting = JoinSet::new();
    for mut stream in streams {
        waiting.spawn(async move {
            stream.message().await.unwrap().unwrap();
            Instant::now()
        });
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = Instant::now();
    ca_handle
        .force_rotate_x509(std::time::SystemTime::now())
        .unwrap();
    let after = Instant::now();
    let mut arrivals = Vec::with_capacity(watchers);
    while let Some(at) = waiting.join_next().await {
        arrivals.push(at.unwrap());
    }
    arrivals.sort_unstable();
    let last = *arrivals.last().unwrap();
    let median = arrivals[arrivals.len() / 2];
    (
        last - before,
        (last - before) - (after - before),
        median - before,
    )
}

fn fan_out_report(sign: Duration) {
    println!("\n== rotation fan-out (CA rotation until every watcher has the new SVID)");
    println!(
        "  baseline ecdsa_p256_sign p50 {:.1} us (ratios below: per-watcher cost / signature)",
        micros(sign)
    );
    let rt = runtime();
    let full = ca::SelfCheck::Full;
    let first = ca::SelfCheck::FirstPerAuthority;
    for (shape, watchers, self_check) in [
        ("one identity", 1_000, full),
        ("one identity", 10_000, full),
        ("distinct", 1_000, full),
        ("distinct", 3_000, full),
        ("distinct", 10_000, full),
        ("distinct", 1_000, first),
        ("distinct", 3_000, first),
        ("distinct", 10_000, first),
    ] {
        let ca_handle = new_ca_with(self_check);
        let setup = if shape == "distinct" {
            rt.block_on(start_distinct_agent(ca_handle.clone(), watchers))
        } else {
            rt.block_on(start_agent(ca_handle.clone()))
        };
        let socket = setup.agent.socket_path().to_owned();
        let (all, after_return, median) = rt.block_on(async {
            let streams = open_streams(&socket, watchers).await;
            fan_out(&setup.agent, &ca_handle, streams).await
        });
        let per = all / u32::try_from(watchers).unwrap();
        let check = match self_check {
            ca::SelfCheck::Full => "full",
            _ => "first",
        };
        println!(
            "  {shape:<12} {check:<5} {watchers:>6} watchers: all have it {:8.1} ms after rotate() was \
             called ({:7.1} ms after it returned; median {:7.1} ms); {:.2} us per watcher \
             = {:.2}x a signature",
            all.as_secs_f64() * 1e3,
            after_return.as_secs_f64() * 1e3,
            median.as_secs_f64() * 1e3,
            micros(per),
            per.as_secs_f64() / sign.as_secs_f64(),
        );
        rt.block_on(setup.agent.shutdown()).unwrap();
    }
}

/// FetchJWTSVID (cached) p50/p99 with 1 and 10,000 registered entries, no stream open. Both
/// agents run at once and are measured in alternating rounds (the best round of each is
/// shown), so drift on a shared machine hits both alike.
fn jwt_entries_report(sign: Duration) {
    const CALLS: usize = 1000;
    const ROUNDS: usize = 3;
    println!("\n== FetchJWTSVID (cached token) by registered entries, no stream open");
    let rt = runtime();
    let sizes = [1, 10_000];
    let mut agents = Vec::new();
    for entries in sizes {
        let setup = rt.block_on(start_agent_with_entries(new_ca(), entries));
        // The background minting of first SVIDs is not what this measures.
        rt.block_on(setup.agent.minted());
        let socket = setup.agent.socket_path().to_owned();
        let client = rt.block_on(async { SpiffeWorkloadApiClient::new(channel(&socket).await) });
        for _ in 0..200 {
            rt.block_on(fetch_jwt(&mut client.clone(), "cached".to_owned()));
        }
        agents.push((setup, client));
    }
    let mut best = vec![(Duration::MAX, Duration::MAX); sizes.len()];
    for _ in 0..ROUNDS {
        for ((_, client), best) in agents.iter().zip(&mut best) {
            let (p50, p99) = latencies(CALLS, || {
                black_box(rt.block_on(fetch_jwt(&mut client.clone(), "cached".to_owned())));
            });
            if p50 < best.0 {
                *best = (p50, p99);
            }
        }
    }
    let base = best[0].0;
    for (entries, (p50, p99)) in sizes.iter().zip(best) {
        println!(
            "  {entries:>6} entries: p50 {:8.1} us  p99 {:8.1} us  ({:.2}x the 1-entry p50; \
             {:.1}x a signature)",
            micros(p50),
            micros(p99),
            p50.as_secs_f64() / base.as_secs_f64(),
            p50.as_secs_f64() / sign.as_secs_f64(),
        );
    }
    for (setup, client) in agents {
        drop(client);
        rt.block_on(setup.agent.shutdown()).unwrap();
    }
}

/// Start-up with 10,000 entries: until the socket is served, and until the caller of the
/// last-registered entry has its first X509-SVID and JWT-SVID.
fn start_report() {
    const ENTRIES: usize = 10_000;
    println!("\n== start-up with {ENTRIES} entries");
    let rt = runtime();
    let start = Instant::now();
    let setup = rt.block_on(start_agent_with_entries(new_ca(), ENTRIES));
    let served = start.elapsed();
    let socket = setup.agent.socket_path().to_owned();
    let (x509, jwt) = rt.block_on(async {
        let mut client = SpiffeWorkloadApiClient::new(channel(&socket).await);
        let mut jwt_client = client.clone();
        let x509 = async {
            first_response(&mut client).await;
            start.elapsed()
        };
        let jwt = async {
            fetch_jwt(&mut jwt_client, "start".to_owned()).await;
            start.elapsed()
        };
        tokio::join!(x509, jwt)
    });
    rt.block_on(setup.agent.minted());
    let minted = start.elapsed();
    println!(
        "  serve_unix returned after {:7.1} ms; last entry's first X509-SVID at {:7.1} ms, \
         first JWT-SVID at {:7.1} ms; all {ENTRIES} SVIDs minted at {:7.1} ms",
        served.as_secs_f64() * 1e3,
        x509.as_secs_f64() * 1e3,
        jwt.as_secs_f64() * 1e3,
        minted.as_secs_f64() * 1e3,
    );
    rt.block_on(setup.agent.shutdown()).unwrap();
}

/// This process's resident set size in bytes.
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

/// Memory per stream, each shape measured in a fresh server process.
fn memory_report() {
    println!("\n== memory per open FetchX509SVID stream (server side, fresh process per shape)");
    for shape in ["one", "distinct"] {
        let output = std::process::Command::new(std::env::current_exe().unwrap())
            .env(SERVER_MODE_ENV, shape)
            .stderr(std::process::Stdio::inherit())
            .output()
            .unwrap();
        assert!(output.status.success(), "memory server child failed");
        print!("{}", String::from_utf8_lossy(&output.stdout));
    }
}

/// Server mode: start an agent for `shape`, let a client child open the streams, and print
/// the growth of this (fresh) process's resident set per stream.
fn memory_server_mode(shape: &str) {
    const STREAMS: usize = 10_000;
    let rt = runtime();
    let setup = if shape == "distinct" {
        // One more entry than streams: the warm-up call takes the first.
        rt.block_on(start_distinct_agent(new_ca(), STREAMS + 1))
    } else {
        rt.block_on(start_agent(new_ca()))
    };
    // Every entry's SVID is in memory before measuring.
    rt.block_on(setup.agent.minted());
    let socket = setup.agent.socket_path().to_owned();
    // Warm the server (first connection, first group) before measuring.
    rt.block_on(async {
        let mut warm = SpiffeWorkloadApiClient::new(channel(&socket).await);
        first_response(&mut warm).await;
    });
    std::thread::sleep(Duration::from_millis(200));
    let before = rss_bytes();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .env_remove(SERVER_MODE_ENV)
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
    let shape = if shape == "distinct" {
        "distinct identities"
    } else {
        "one identity"
    };
    println!(
        "  {shape:<20} {open} streams: resident set grew {:.1} MiB, {:.0} bytes per stream \
         (connections of {STREAMS_PER_CONNECTION} streams, one SVID message each)",
        (after.saturating_sub(before)) as f64 / (1024.0 * 1024.0),
        after.saturating_sub(before) as f64 / open.max(1) as f64,
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

/// Whether `name` is among the reports asked for.
fn wanted(name: &str) -> bool {
    std::env::var(REPORTS_ENV).map_or(true, |list| list.split(',').any(|r| r.trim() == name))
}

fn main() {
    if let Ok(shape) = std::env::var(SERVER_MODE_ENV) {
        memory_server_mode(&shape);
        return;
    }
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
        let sign = sign_p50();
        if wanted("latency") {
            latency_report();
        }
        if wanted("fanout") {
            fan_out_report(sign);
        }
        if wanted("jwt") {
            jwt_entries_report(sign);
        }
        if wanted("start") {
            start_report();
        }
        if wanted("memory") {
            memory_report();
        }
    }
}
