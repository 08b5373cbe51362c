//! The TLS proxy (`proxy` crate, server mode, TCP backend) against HAProxy doing the same mTLS
//! termination to the same backend, and against a plain tokio-rustls forwarder without SPIFFE
//! checks (the floor of our own stack), in the same run.
//!
//! - Backend: nginx on loopback serving `/1k` and `/1m` (static files).
//! - HAProxy (Debian 2.6, OpenSSL): `mode tcp`, `bind ... ssl crt .. ca-file .. verify
//!   required no-tls-tickets`, `tune.ssl.cachesize 0`, `nbthread 1`, TLS 1.3 only.
//! - Ours: `Proxy::server` on its own tokio runtime with one worker thread, TLS 1.3 and 1.2
//!   offered.
//! - Plain: tokio-rustls with rustls' `WebPkiClientVerifier` over the same root, and
//!   `copy_bidirectional`, on its own one-worker runtime.
//! - Pinning (when the process may use two or more CPUs): the three servers under test on one
//!   CPU (HAProxy's process by inheritance, our runtimes' threads by `sched_setaffinity`), the
//!   load client and nginx on another. Without two CPUs nothing is pinned (printed).
//! - Load: our own client on a 1-thread runtime, 2 concurrent connections, ECDSA P-256 SVIDs,
//!   client certificate presented, resumption off (`SpiffeTls` never resumes).
//!
//! Measured for each: full handshakes per second (new TCP + TLS + one `/1k` request with
//! `Connection: close`), kept-alive requests per second for 1 KiB and 1 MiB bodies, the p99
//! added latency of a kept-alive 1 KiB request over plain HTTP straight to nginx, and the
//! server's CPU time per operation (on-CPU nanoseconds from `/proc/<pid>/task/<tid>/schedstat`:
//! every thread of HAProxy's process, the threads of our runtime), which a busy machine
//! disturbs much less than wall throughput. Ratios are ours / HAProxy and ours / plain, per run
//! and as the median of `PROXY_BENCH_RUNS` runs (default 3; servers measured in turn in each
//! run). Read the ratios, not the absolutes.
//!
//! `cargo bench -p benches --bench proxy` (`PROXY_BENCH_SECONDS`, default 3 per measurement).
//! Skips HAProxy or the whole bench with a printed reason when HAProxy or nginx is missing.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::zombie_processes,
    reason = "a bench: a panic ends the run"
)]

use std::future::Future;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ca::TestCa;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use proxy::{Address, Proxy, ServerOptions};
use spiffe_id::IdMatcher;
use test_support::nginx::NginxServer;
use tls_integration::{SpiffeClientConfig, SpiffeTls};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const CONCURRENCY: usize = 2;

fn runs() -> usize {
    std::env::var("PROXY_BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3)
        .max(1)
}

fn seconds() -> Duration {
    Duration::from_secs(
        std::env::var("PROXY_BENCH_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(3),
    )
}

#[derive(Clone, Copy, Debug, Default)]
struct Numbers {
    handshakes: f64,
    rps_1k: f64,
    rps_1m: f64,
    p99_1k: Duration,
    /// Server CPU time per handshake, per 1 KiB request, per 1 MiB request.
    cpu_handshake: Duration,
    cpu_1k: Duration,
    cpu_1m: Duration,
}

/// A server under test: where it listens and how much CPU its threads have used so far.
struct Target {
    address: String,
    cpu: Box<dyn Fn() -> Duration>,
}

/// The CPUs the servers and the load run on, when there are two to choose from.
#[derive(Clone, Copy, Debug)]
struct Cpus {
    server: usize,
    load: usize,
}

fn cpus() -> Option<Cpus> {
    let set = rustix::thread::sched_getaffinity(None).ok()?;
    let mut usable = (0..rustix::thread::CpuSet::MAX_CPU).filter(|&cpu| set.is_set(cpu));
    Some(Cpus {
        server: usable.next()?,
        load: usable.next()?,
    })
}

/// Pins the calling thread (and what it spawns from now on) to `cpu`.
fn pin(cpu: Option<usize>) {
    if let Some(cpu) = cpu {
        let mut set = rustix::thread::CpuSet::new();
        set.set(cpu);
        rustix::thread::sched_setaffinity(None, &set).unwrap();
    }
}

/// A runtime with one worker thread, its threads pinned to `cpu`; their thread ids are pushed
/// to the returned list (for their CPU time).
fn server_runtime(cpu: Option<usize>) -> (tokio::runtime::Runtime, Arc<Mutex<Vec<i32>>>) {
    let threads = Arc::new(Mutex::new(Vec::new()));
    let seen = threads.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .on_thread_start(move || {
            pin(cpu);
            let tid = rustix::thread::gettid().as_raw_pid();
            seen.lock().unwrap().push(tid);
        })
        .build()
        .unwrap();
    (runtime, threads)
}

/// On-CPU time of these threads of this process.
fn threads_cpu(threads: &Mutex<Vec<i32>>) -> Duration {
    let threads = threads.lock().unwrap().clone();
    threads
        .iter()
        .map(|tid| schedstat(&format!("/proc/self/task/{tid}/schedstat")))
        .sum()
}

/// On-CPU time of every thread of process `pid`.
fn process_cpu(pid: u32) -> Duration {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|tasks| {
            tasks
                .filter_map(Result::ok)
                .map(|task| schedstat(&task.path().join("schedstat").display().to_string()))
                .sum()
        })
        .unwrap_or_default()
}

/// The first field of a `schedstat` file: nanoseconds on a CPU (zero when unreadable, e.g. a
/// thread that has exited).
fn schedstat(path: &str) -> Duration {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse().ok())
        .map(Duration::from_nanos)
        .unwrap_or_default()
}

fn main() {
    let ca = TestCa::new("example.org");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("1k"), vec![b'a'; 1024]).unwrap();
    std::fs::write(dir.path().join("1m"), vec![b'b'; 1024 * 1024]).unwrap();
    let proxy_svid = ca.x509_svid("/proxy");
    let pem = proxy_svid.chain_pem();
    let (_, key) = (dir.path().join("p.pem"), dir.path().join("p.key"));
    proxy_svid.save(&dir.path().join("p.pem"), &key).unwrap();
    let combined = format!("{pem}{}", std::fs::read_to_string(&key).unwrap());
    std::fs::write(dir.path().join("crt.pem"), combined).unwrap();
    let bundle_pem = test_support::pem::pem(ca.x509_bundle().authorities());
    std::fs::write(dir.path().join("ca.pem"), &bundle_pem).unwrap();
    test_support::process::hand_over(dir.path()).unwrap();

    // nginx and the load client on one CPU, the servers under test on the other.
    let cpus = cpus();
    match cpus {
        Some(c) => println!(
            "pinned: servers on CPU {}, load and nginx on CPU {}",
            c.server, c.load
        ),
        None => println!("not pinned: fewer than two CPUs available"),
    }
    pin(cpus.map(|c| c.load));
    let http = format!(
        "server {{ listen 127.0.0.1:{{port}}; access_log off; keepalive_requests 1000000; \
         location / {{ root {}; }} }}",
        dir.path().display()
    );
    let nginx = match NginxServer::start(&http) {
        Ok(nginx) => nginx,
        Err(reason) => {
            println!("proxy bench skipped: nginx: {reason} (interop/nginx/setup.sh)");
            return;
        }
    };
    let backend = format!("127.0.0.1:{}", nginx.port());

    // The proxies under test, each on its own one-worker runtime.
    let server_cpu = cpus.map(|c| c.server);
    let (ours_runtime, ours_threads) = server_runtime(server_cpu);
    let ours = ours_runtime.block_on(async {
        let proxy = Proxy::server(
            ServerOptions::new(
                "127.0.0.1:0".parse().unwrap(),
                Address::Tcp(backend.clone()),
                IdMatcher::pattern("spiffe://example.org/client").unwrap(),
            ),
            Arc::new(Arc::new(proxy_svid)),
            Arc::new(ca.bundle_set()),
            svid::Crypto::ring(),
        )
        .await
        .unwrap();
        let Address::Tcp(address) = proxy.local_address() else {
            unreachable!()
        };
        tokio::spawn(proxy.run(std::future::pending::<()>()));
        address
    });
    let ours = Target {
        address: ours,
        cpu: Box::new(move || threads_cpu(&ours_threads)),
    };
    let (plain_runtime, plain_threads) = server_runtime(server_cpu);
    let plain = Target {
        address: plain_runtime.block_on(plain_forwarder(dir.path(), backend.clone())),
        cpu: Box::new(move || threads_cpu(&plain_threads)),
    };
    // HAProxy inherits the CPU of the thread that starts it.
    pin(server_cpu);
    let haproxy = haproxy(dir.path(), &backend);
    pin(cpus.map(|c| c.load));
    let haproxy_target = haproxy.as_ref().map(|(child, address)| {
        let pid = child.id();
        Target {
            address: address.clone(),
            cpu: Box::new(move || process_cpu(pid)),
        }
    });

    let load = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = SpiffeTls::new(svid::Crypto::ring())
        .mtls_client(
            Arc::new(Arc::new(ca.x509_svid("/client"))),
            Arc::new(ca.bundle_set()),
            IdMatcher::exact(ca.id("/proxy")),
        )
        .unwrap();
    load.block_on(async {
        println!(
            "proxy bench: {} run(s), {} s per measurement, {CONCURRENCY} connections",
            runs(),
            seconds().as_secs()
        );
        let mut versus_plain = Vec::new();
        let mut versus_haproxy = Vec::new();
        for run in 1..=runs() {
            println!("run {run}");
            let direct = measure_direct(&backend).await;
            println!("direct nginx (plain HTTP): p99 1 KiB {direct:?}");
            let ours_n = measure(&client, &ours).await;
            report("ours (spiffekit-proxy)", ours_n, direct);
            let plain_n = measure(&client, &plain).await;
            report("plain tokio-rustls forwarder", plain_n, direct);
            versus_plain.push(ratios("ours/plain", ours_n, plain_n, direct));
            match &haproxy_target {
                Some(target) => {
                    let ha = measure(&client, target).await;
                    report("HAProxy 2.6", ha, direct);
                    versus_haproxy.push(ratios("ours/HAProxy", ours_n, ha, direct));
                }
                None => println!("HAProxy skipped: not installed (interop/haproxy/setup.sh)"),
            }
        }
        median("ours/plain", &versus_plain);
        median("ours/HAProxy", &versus_haproxy);
    });
    if let Some((mut child, _)) = haproxy {
        test_support::process::stop_child(&mut child, "TERM", Duration::from_secs(5));
    }
}

fn report(name: &str, n: Numbers, direct: Duration) {
    println!(
        "{name:32} handshakes/s {:8.0}  1KiB req/s {:8.0}  1MiB req/s {:6.1}  p99 added {:?}\n\
         {:32} CPU per handshake {:?}  per 1KiB req {:?}  per 1MiB req {:?}",
        n.handshakes,
        n.rps_1k,
        n.rps_1m,
        n.p99_1k.saturating_sub(direct),
        "",
        n.cpu_handshake,
        n.cpu_1k,
        n.cpu_1m,
    );
}

/// Ours / theirs: throughput (higher is better for us), then p99 added latency and CPU per
/// operation (lower is better for us).
const RATIOS: [&str; 7] = [
    "handshakes/s",
    "1KiB req/s",
    "1MiB req/s",
    "p99 added",
    "CPU/handshake",
    "CPU/1KiB",
    "CPU/1MiB",
];

fn ratios(name: &str, a: Numbers, b: Numbers, direct: Duration) -> [f64; 7] {
    let added = |n: Numbers| n.p99_1k.saturating_sub(direct).as_secs_f64().max(1e-9);
    let cpu = |x: Duration, y: Duration| x.as_secs_f64() / y.as_secs_f64().max(1e-12);
    let values = [
        a.handshakes / b.handshakes,
        a.rps_1k / b.rps_1k,
        a.rps_1m / b.rps_1m,
        added(a) / added(b),
        cpu(a.cpu_handshake, b.cpu_handshake),
        cpu(a.cpu_1k, b.cpu_1k),
        cpu(a.cpu_1m, b.cpu_1m),
    ];
    print_ratios(&format!("ratio {name}"), &values);
    values
}

fn print_ratios(name: &str, values: &[f64; 7]) {
    let parts: Vec<String> = RATIOS
        .iter()
        .zip(values)
        .map(|(label, value)| format!("{label} {value:.2}x"))
        .collect();
    println!("{name:24} {}", parts.join("  "));
}

/// The median of each ratio over the runs.
fn median(name: &str, runs: &[[f64; 7]]) {
    if runs.is_empty() {
        return;
    }
    let mut values = [0.0; 7];
    for (index, value) in values.iter_mut().enumerate() {
        let mut column: Vec<f64> = runs
            .iter()
            .filter_map(|run| run.get(index).copied())
            .collect();
        column.sort_by(f64::total_cmp);
        *value = column.get(column.len() / 2).copied().unwrap_or_default();
    }
    print_ratios(&format!("median {name}"), &values);
}

async fn tls(
    client: &SpiffeClientConfig,
    address: &str,
) -> tokio_rustls::client::TlsStream<TcpStream> {
    let (config, _) = client.for_connection();
    let tcp = TcpStream::connect(address).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    let name = rustls_pki_types::ServerName::try_from("proxy").unwrap();
    tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .unwrap()
}

async fn measure(client: &SpiffeClientConfig, target: &Target) -> Numbers {
    let address = target.address.as_str();
    let per_op =
        |before: Duration, ops: f64| (target.cpu)().saturating_sub(before).div_f64(ops.max(1.0));
    let before = (target.cpu)();
    let handshakes = run_for(|| async {
        let mut tls = tls(client, address).await;
        tls.write_all(b"GET /1k HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut sink = Vec::new();
        let _ = tls.read_to_end(&mut sink).await;
        assert!(sink.len() > 1024, "short response through {address}");
        Duration::ZERO
    })
    .await;
    let cpu_handshake = per_op(before, count(&handshakes.1));
    let before = (target.cpu)();
    let (rps_1k, latencies) = keep_alive(client, address, "/1k").await;
    let cpu_1k = per_op(before, count(&latencies));
    let before = (target.cpu)();
    let (rps_1m, latencies_1m) = keep_alive(client, address, "/1m").await;
    let cpu_1m = per_op(before, count(&latencies_1m));
    Numbers {
        handshakes: handshakes.0,
        rps_1k,
        rps_1m,
        p99_1k: p99(latencies),
        cpu_handshake,
        cpu_1k,
        cpu_1m,
    }
}

/// Runs `op` on `CONCURRENCY` tasks for the bench duration: (operations per second, each
/// operation's reported latency).
async fn run_for<F, Fut>(op: F) -> (f64, Vec<Duration>)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Duration>,
{
    let deadline = Instant::now() + seconds();
    let started = Instant::now();
    let worker = || async {
        let mut latencies = Vec::new();
        while Instant::now() < deadline {
            latencies.push(op().await);
        }
        latencies
    };
    let (mut all, more) = tokio::join!(worker(), worker());
    all.extend(more);
    (count(&all) / started.elapsed().as_secs_f64(), all)
}

async fn keep_alive(
    client: &SpiffeClientConfig,
    address: &str,
    path: &str,
) -> (f64, Vec<Duration>) {
    let deadline = Instant::now() + seconds();
    let started = Instant::now();
    let worker = || async {
        let stream = tls(client, address).await;
        requests(TokioIo::new(stream), path, deadline).await
    };
    let (a, b) = tokio::join!(worker(), worker());
    let mut all = a;
    all.extend(b);
    (count(&all) / started.elapsed().as_secs_f64(), all)
}

async fn requests<IO>(io: IO, path: &str, deadline: Instant) -> Vec<Duration>
where
    IO: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io).await.unwrap();
    tokio::spawn(connection);
    let mut latencies = Vec::new();
    while Instant::now() < deadline {
        let request = http::Request::get(path)
            .header("host", "backend")
            .body(Empty::<Bytes>::new())
            .unwrap();
        let started = Instant::now();
        let response = sender.send_request(request).await.unwrap();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert!(body.len() >= 1024);
        latencies.push(started.elapsed());
    }
    latencies
}

async fn measure_direct(backend: &str) -> Duration {
    let deadline = Instant::now() + seconds();
    let tcp = TcpStream::connect(backend).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    p99(requests(TokioIo::new(tcp), "/1k", deadline).await)
}

fn count(items: &[Duration]) -> f64 {
    f64::from(u32::try_from(items.len()).unwrap_or(u32::MAX))
}

fn p99(mut latencies: Vec<Duration>) -> Duration {
    latencies.sort();
    let index = latencies.len().saturating_mul(99) / 100;
    latencies
        .get(index.min(latencies.len().saturating_sub(1)))
        .copied()
        .unwrap_or_default()
}

/// tokio-rustls with rustls' WebPKI client verifier over the same root; no SPIFFE checks.
async fn plain_forwarder(dir: &Path, backend: String) -> String {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs = svid::certificates_from_pem(std::fs::read(dir.join("p.pem")).unwrap()).unwrap();
    let key = rustls_pki_types::PrivateKeyDer::try_from(pem_block(
        &std::fs::read_to_string(dir.join("p.key")).unwrap(),
    ))
    .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for root in svid::certificates_from_pem(std::fs::read(dir.join("ca.pem")).unwrap()).unwrap() {
        roots.add(root).unwrap();
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .unwrap();
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let _ = tcp.set_nodelay(true);
            let acceptor = acceptor.clone();
            let backend = backend.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut out) = TcpStream::connect(&backend).await else {
                    return;
                };
                let _ = out.set_nodelay(true);
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut out).await;
            });
        }
    });
    address
}

/// The DER of the first PEM block.
fn pem_block(pem: &str) -> Vec<u8> {
    use base64::Engine as _;
    let body: String = pem
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap()
}

/// HAProxy terminating the same mTLS, in the foreground; `None` when it is not installed.
fn haproxy(dir: &Path, backend: &str) -> Option<(std::process::Child, String)> {
    let binary = ["/usr/sbin/haproxy", "/usr/bin/haproxy"]
        .iter()
        .map(Path::new)
        .find(|path| path.is_file())?;
    let port = test_support::process::free_port().unwrap();
    let d = dir.display();
    let config = format!(
        "global\n  nbthread 1\n  tune.ssl.cachesize 0\n  ssl-default-bind-options ssl-min-ver TLSv1.3\n\
         defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n\
         frontend fe\n  bind 127.0.0.1:{port} ssl crt {d}/crt.pem ca-file {d}/ca.pem verify required no-tls-tickets\n  default_backend be\n\
         backend be\n  server s1 {backend}\n"
    );
    std::fs::write(dir.join("haproxy.cfg"), config).unwrap();
    test_support::process::hand_over(&dir.join("haproxy.cfg")).unwrap();
    let child = test_support::process::unprivileged(binary)
        .args(["-db", "-f"])
        .arg(dir.join("haproxy.cfg"))
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some((child, format!("127.0.0.1:{port}")));
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("HAProxy did not start");
}
