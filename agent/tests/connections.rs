//! Per-connection facts end to end: the stream and connection caps (a caller past one gets
//! `ResourceExhausted`, nobody else is affected, and the agent holds no more than the cap
//! however long a client keeps trying), connections of other users (the socket admits every
//! uid; attestation decides), and calls from a connection whose process has exited.
//!
//! Connections "of another process" are made by a child process (this test binary run again
//! as [`child_connects_and_passes_the_socket`]) that connects to the agent and hands the
//! connected socket back over `SCM_RIGHTS`, so the agent's peer is the child, not the test.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers outside #[test] fns"
)]

mod common;

use std::io::{Read, Write};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent::{Agent, RegistrationEntry, Selector};
use common::{Client, mine, req, start, test_ca};
use tonic::Code;
use tonic::transport::Endpoint;
use workload_api::proto::spiffe_workload_api_client::SpiffeWorkloadApiClient;
use workload_api::proto::{JwtsvidRequest, X509BundlesRequest, X509svidRequest};

/// Set in the child: the socket to connect to.
const CHILD_SOCKET: &str = "AGENT_TEST_CHILD_SOCKET";
/// Set in the child: the uid (and gid) to switch to before connecting.
const CHILD_UID: &str = "AGENT_TEST_CHILD_UID";
/// Set in the child: on release, exec `sleep 30` instead of exiting.
const CHILD_EXEC_SLEEP: &str = "AGENT_TEST_CHILD_EXEC_SLEEP";
/// `nobody` on Debian and most distributions.
const OTHER_UID: u32 = 65534;

/// Waits (up to 10 s) for `condition`: the agent notices closed connections asynchronously.
async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("not within 10 s: {what}");
}

/// The status code of one `FetchX509SVID` (its first message, or the error).
async fn x509_code(client: &mut Client) -> Code {
    let call = async {
        let mut stream = client
            .fetch_x509svid(req(X509svidRequest {}))
            .await?
            .into_inner();
        stream.message().await.map(|_| ())
    };
    match tokio::time::timeout(Duration::from_secs(10), call)
        .await
        .expect("no answer within 10 s")
    {
        Ok(()) => Code::Ok,
        Err(status) => status.code(),
    }
}

/// A new connection to the agent's TCP listener.
async fn tcp_client(addr: std::net::SocketAddr) -> Client {
    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    SpiffeWorkloadApiClient::new(channel)
}

fn by_ip() -> RegistrationEntry {
    RegistrationEntry::new("spiffe://example.org/tcp".parse().unwrap())
        .with_selector("tcp:ip:127.0.0.1".parse().unwrap())
}

/// A stream past `max_streams_per_connection` gets `ResourceExhausted` at once (not queued
/// behind HTTP/2 `SETTINGS_MAX_CONCURRENT_STREAMS`, which sits above the cap); unary calls on
/// that connection and streams on other connections still pass; and however many streams a
/// client keeps trying, the agent holds the cap's worth (it held every one before).
#[tokio::test]
async fn streams_past_the_per_connection_cap_get_resource_exhausted() {
    const CAP: usize = 4;
    let ca = test_ca();
    let running = start(
        Agent::builder(ca.ca().clone())
            .entry(mine("/w"))
            .max_streams_per_connection(u32::try_from(CAP).unwrap()),
    )
    .await;
    let mut greedy = running.client().await;
    let mut held = Vec::new();
    for _ in 0..CAP {
        let mut stream = greedy
            .fetch_x509_bundles(req(X509BundlesRequest {}))
            .await
            .unwrap()
            .into_inner();
        common::next(&mut stream).await;
        held.push(stream);
    }
    assert_eq!(running.agent.open_streams(), CAP);

    // A client that keeps trying: every attempt is refused and nothing accumulates.
    for attempt in 0..300 {
        let refused = tokio::time::timeout(
            Duration::from_secs(10),
            greedy.fetch_x509_bundles(req(X509BundlesRequest {})),
        )
        .await
        .expect("a stream past the cap was queued, not refused");
        let status = refused
            .err()
            .unwrap_or_else(|| panic!("attempt {attempt} got a stream"));
        assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
        assert!(status.message().contains("max_streams_per_connection"));
        assert_eq!(running.agent.open_streams(), CAP);
    }

    // Unary calls on the same connection still pass.
    let jwt = greedy
        .fetch_jwtsvid(req(JwtsvidRequest {
            audience: vec!["aud".to_owned()],
            spiffe_id: String::new(),
        }))
        .await
        .unwrap();
    assert_eq!(jwt.get_ref().svids.len(), 1);
    // Another connection of the same process is not affected.
    let mut other = running.client().await;
    assert_eq!(x509_code(&mut other).await, Code::Ok);
    // Closing one stream frees its place.
    held.pop();
    eventually("the closed streams are released", || {
        running.agent.open_streams() == CAP - 1
    })
    .await;
    let reopened = greedy.fetch_x509_bundles(req(X509BundlesRequest {})).await;
    assert!(reopened.is_ok(), "{:?}", reopened.err());
}

/// A connection past `max_connections_per_uid` is accepted and answered with
/// `ResourceExhausted`; the uid's admitted connections and callers without that uid (TCP) go
/// on; a client that keeps reconnecting never raises the agent's count past the cap.
#[tokio::test]
async fn connections_past_the_per_uid_cap_get_resource_exhausted() {
    const CAP: usize = 2;
    let ca = test_ca();
    let running = start(
        Agent::builder(ca.ca().clone())
            .entry(mine("/w"))
            .entry(by_ip())
            .tcp("127.0.0.1:0".parse().unwrap())
            .max_connections_per_uid(CAP),
    )
    .await;
    let mut admitted = Vec::new();
    for _ in 0..CAP {
        let mut client = running.client().await;
        assert_eq!(x509_code(&mut client).await, Code::Ok);
        admitted.push(client);
    }
    assert_eq!(running.agent.open_connections(), CAP);

    for _ in 0..50 {
        let mut over = running.client().await;
        let status = over
            .fetch_jwtsvid(req(JwtsvidRequest {
                audience: vec!["aud".to_owned()],
                spiffe_id: String::new(),
            }))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
        assert!(status.message().contains("max_connections_per_uid"));
        assert_eq!(running.agent.open_connections(), CAP);
    }

    for client in &mut admitted {
        assert_eq!(x509_code(client).await, Code::Ok);
    }
    let mut tcp = tcp_client(running.agent.tcp_addr().unwrap()).await;
    assert_eq!(x509_code(&mut tcp).await, Code::Ok);
    assert_eq!(running.agent.open_connections(), CAP + 1);

    // A closed connection frees its place for the next one.
    admitted.pop();
    eventually("the closed connection is released", || {
        running.agent.open_connections() == CAP
    })
    .await;
    let mut next = running.client().await;
    assert_eq!(x509_code(&mut next).await, Code::Ok);
}

/// Past `max_connections` every new connection, Unix or TCP, gets `ResourceExhausted`, and
/// the admitted ones go on.
#[tokio::test]
async fn connections_past_the_total_cap_get_resource_exhausted() {
    let ca = test_ca();
    let running = start(
        Agent::builder(ca.ca().clone())
            .entry(mine("/w"))
            .entry(by_ip())
            .tcp("127.0.0.1:0".parse().unwrap())
            .max_connections(2),
    )
    .await;
    let addr = running.agent.tcp_addr().unwrap();
    let mut unix = running.client().await;
    let mut tcp = tcp_client(addr).await;
    assert_eq!(x509_code(&mut unix).await, Code::Ok);
    assert_eq!(x509_code(&mut tcp).await, Code::Ok);
    for _ in 0..10 {
        let mut over_unix = running.client().await;
        let mut over_tcp = tcp_client(addr).await;
        assert_eq!(x509_code(&mut over_unix).await, Code::ResourceExhausted);
        assert_eq!(x509_code(&mut over_tcp).await, Code::ResourceExhausted);
        assert_eq!(running.agent.open_connections(), 2);
    }
    assert_eq!(x509_code(&mut unix).await, Code::Ok);
    assert_eq!(x509_code(&mut tcp).await, Code::Ok);
}

/// A client on one connection to `socket` that is never re-established: once the agent
/// closes it, calls fail with `Unavailable`.
async fn one_connection_client(socket: &Path) -> Client {
    let stream = tokio::net::UnixStream::connect(socket).await.unwrap();
    let stream = Arc::new(Mutex::new(Some(stream)));
    let channel = Endpoint::from_static("http://localhost").connect_with_connector_lazy(
        tower::service_fn(move |_| {
            let stream = stream.lock().unwrap().take();
            async move {
                let stream = stream.ok_or_else(|| std::io::Error::other("used once"))?;
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(stream))
            }
        }),
    );
    SpiffeWorkloadApiClient::new(channel)
}

/// A connection over a cap that its client keeps open is closed by the agent shortly after
/// (2 s), so rejected connections do not pile up either.
#[tokio::test]
async fn the_agent_closes_a_connection_over_the_cap() {
    let ca = test_ca();
    let running = start(
        Agent::builder(ca.ca().clone())
            .entry(mine("/w"))
            .max_connections(1),
    )
    .await;
    let mut admitted = running.client().await;
    assert_eq!(x509_code(&mut admitted).await, Code::Ok);
    let mut over = one_connection_client(&running.socket()).await;
    assert_eq!(x509_code(&mut over).await, Code::ResourceExhausted);
    let mut closed = false;
    for _ in 0..100 {
        if x509_code(&mut over).await == Code::Unavailable {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        closed,
        "the connection over the cap was still open after 10 s"
    );
    assert_eq!(x509_code(&mut admitted).await, Code::Ok);
}

/// A connection made by a child process, the child waiting for [`ChildConnection::release`]
/// before it exits.
struct ChildConnection {
    client: Client,
    child: std::process::Child,
    control: std::os::unix::net::UnixStream,
}

impl ChildConnection {
    /// Lets the child exit and reaps it.
    fn release(&mut self) {
        self.control.write_all(b"x").unwrap();
        assert!(self.child.wait().unwrap().success());
    }
}

/// Runs this test binary again as [`child_connects_and_passes_the_socket`] (as `uid` when
/// given), which connects to `socket` and sends the connected socket back; the client uses
/// that socket. `Err` with the child's message when it could not connect.
fn connect_from_child(socket: &Path, uid: Option<u32>) -> Result<ChildConnection, String> {
    connect_from_child_with(socket, uid, false)
}

fn connect_from_child_with(
    socket: &Path,
    uid: Option<u32>,
    exec_sleep: bool,
) -> Result<ChildConnection, String> {
    let (control, child_end) = std::os::unix::net::UnixStream::pair().unwrap();
    let mut command = std::process::Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "--exact",
            "child_connects_and_passes_the_socket",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_SOCKET, socket)
        .stdin(OwnedFd::from(child_end))
        .stdout(std::process::Stdio::null());
    if let Some(uid) = uid {
        command.env(CHILD_UID, uid.to_string());
    }
    if exec_sleep {
        command.env(CHILD_EXEC_SLEEP, "1");
    }
    let mut child = command.spawn().unwrap();

    let mut text = [0_u8; 512];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut ancillary = rustix::net::RecvAncillaryBuffer::new(&mut space);
    let received = rustix::net::recvmsg(
        &control,
        &mut [std::io::IoSliceMut::new(&mut text)],
        &mut ancillary,
        rustix::net::RecvFlags::empty(),
    )
    .unwrap();
    let mut socket_fd = None;
    for message in ancillary.drain() {
        if let rustix::net::RecvAncillaryMessage::ScmRights(fds) = message {
            socket_fd = fds.into_iter().next();
        }
    }
    let text = String::from_utf8_lossy(text.get(..received.bytes).unwrap_or_default());
    let Some(fd) = socket_fd else {
        // The child has sent its error and waits for the release byte.
        drop(control);
        child.wait().unwrap();
        return Err(text.into_owned());
    };
    let stream = std::os::unix::net::UnixStream::from(fd);
    stream.set_nonblocking(true).unwrap();
    let stream = Arc::new(Mutex::new(Some(
        tokio::net::UnixStream::from_std(stream).unwrap(),
    )));
    let channel = Endpoint::from_static("http://localhost").connect_with_connector_lazy(
        tower::service_fn(move |_| {
            let stream = stream.lock().unwrap().take();
            async move {
                let stream = stream.ok_or_else(|| std::io::Error::other("used once"))?;
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(stream))
            }
        }),
    );
    Ok(ChildConnection {
        client: SpiffeWorkloadApiClient::new(channel),
        child,
        control,
    })
}

/// Not a test of its own: the child side of [`connect_from_child`] (a no-op when the test
/// harness runs it). Switches to `AGENT_TEST_CHILD_UID` if set, connects to the agent, sends
/// the socket (or the error text) over stdin, and exits once a byte arrives there.
#[test]
fn child_connects_and_passes_the_socket() {
    let Some(path) = std::env::var_os(CHILD_SOCKET) else {
        return;
    };
    let control = std::io::stdin().as_fd().try_clone_to_owned().unwrap();
    let mut control = std::os::unix::net::UnixStream::from(control);
    if let Ok(uid) = std::env::var(CHILD_UID) {
        let id: u32 = uid.parse().unwrap();
        nix::unistd::setgroups(&[]).unwrap();
        nix::unistd::setgid(nix::unistd::Gid::from_raw(id)).unwrap();
        nix::unistd::setuid(nix::unistd::Uid::from_raw(id)).unwrap();
    }
    match std::os::unix::net::UnixStream::connect(&path) {
        Ok(connection) => {
            let fds = [connection.as_fd()];
            let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
            let mut ancillary = rustix::net::SendAncillaryBuffer::new(&mut space);
            assert!(ancillary.push(rustix::net::SendAncillaryMessage::ScmRights(&fds)));
            rustix::net::sendmsg(
                &control,
                &[std::io::IoSlice::new(b"connected")],
                &mut ancillary,
                rustix::net::SendFlags::empty(),
            )
            .unwrap();
        }
        Err(error) => {
            control
                .write_all(format!("connect failed: {error}").as_bytes())
                .unwrap();
        }
    }
    let _ = control.read(&mut [0_u8; 1]);
    if std::env::var_os(CHILD_EXEC_SLEEP).is_some() {
        use std::os::unix::process::CommandExt;
        // The connected socket is close-on-exec; the test holds its own copy.
        let error = std::process::Command::new("sleep").arg("30").exec();
        panic!("exec sleep: {error}");
    }
}

/// True when this process can switch a child to another uid; otherwise prints why the test
/// is skipped, and fails under CI (which runs as root).
fn can_switch_uid(test: &str) -> bool {
    if common::current_uid() == 0 {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{test}: CI runs as root and must run this test"
    );
    eprintln!("skipped {test}: needs root to connect as uid {OTHER_UID}");
    false
}

/// Makes the agent's temporary directory reachable by other users (tempdir is 0700).
fn open_dir(dir: &Path) {
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Every local uid can connect to the socket by default (SPIRE's agent makes its socket
/// world-writable too); attestation decides what it gets: a uid with no entry gets
/// `PermissionDenied` on the call, not a dial error. The stricter socket mode still refuses
/// it at `connect()`.
#[tokio::test]
async fn another_uid_connects_and_is_denied_by_attestation() {
    if !can_switch_uid("another_uid_connects_and_is_denied_by_attestation") {
        return;
    }
    let ca = test_ca();
    let running = start(Agent::builder(ca.ca().clone()).entry(mine("/root-only"))).await;
    open_dir(running.dir.path());
    let mut other = connect_from_child(&running.socket(), Some(OTHER_UID))
        .expect("another uid could not connect to the default socket");
    let status = other
        .client
        .fetch_x509svid(req(X509svidRequest {}))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    other.release();

    let strict = start(
        Agent::builder(ca.ca().clone())
            .entry(mine("/root-only"))
            .socket_mode(0o600),
    )
    .await;
    open_dir(strict.dir.path());
    let refused = connect_from_child(&strict.socket(), Some(OTHER_UID)).err();
    assert!(
        refused
            .as_deref()
            .is_some_and(|e| e.contains("connect failed")),
        "{refused:?}"
    );
}

/// The per-uid cap counts each uid apart: another uid connects while this one is at its cap.
#[tokio::test]
async fn the_per_uid_cap_leaves_other_uids_alone() {
    if !can_switch_uid("the_per_uid_cap_leaves_other_uids_alone") {
        return;
    }
    let ca = test_ca();
    let theirs = RegistrationEntry::new("spiffe://example.org/nobody".parse().unwrap())
        .with_selector(Selector::unix_uid(OTHER_UID));
    let running = start(
        Agent::builder(ca.ca().clone())
            .entry(mine("/w"))
            .entry(theirs)
            .max_connections_per_uid(1),
    )
    .await;
    open_dir(running.dir.path());
    let mut mine = running.client().await;
    assert_eq!(x509_code(&mut mine).await, Code::Ok);
    let mut over = running.client().await;
    assert_eq!(x509_code(&mut over).await, Code::ResourceExhausted);

    let mut other = connect_from_child(&running.socket(), Some(OTHER_UID)).unwrap();
    assert_eq!(x509_code(&mut other.client).await, Code::Ok);
    assert_eq!(x509_code(&mut mine).await, Code::Ok);
    other.release();
}

/// The agent binds a connection to the process that opened it: once that process has
/// exited, calls on the connection (still open, here held by the test) get
/// `PermissionDenied`, never the selectors of whatever process has that pid next.
#[tokio::test]
async fn calls_from_a_connection_whose_process_exited_are_denied() {
    let ca = test_ca();
    let running = start(Agent::builder(ca.ca().clone()).entry(mine("/w"))).await;
    let mut child = connect_from_child(&running.socket(), None).unwrap();
    // While the child lives, the connection is the child's (same uid as this test).
    assert_eq!(x509_code(&mut child.client).await, Code::Ok);
    child.release();
    let status = child
        .client
        .fetch_jwtsvid(req(JwtsvidRequest {
            audience: vec!["aud".to_owned()],
            spiffe_id: String::new(),
        }))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert!(status.message().contains("has exited"), "{status:?}");
    assert_eq!(x509_code(&mut child.client).await, Code::PermissionDenied);
}

/// The documented limit of the binding: `exec` keeps the pid (and the pidfd and start time),
/// so a process that connects and then executes another program is still "the process that
/// connected", and calls are attested as the new program. This is why `unix:path` /
/// `unix:sha256` do not separate programs of one uid from each other (agent docs,
/// "Peer credentials and their limits").
#[tokio::test]
async fn exec_after_connect_keeps_the_connection_and_changes_the_binary_selectors() {
    let exe = std::env::current_exe().unwrap();
    let ca = test_ca();
    let running = start(
        Agent::builder(ca.ca().clone()).entry(
            mine("/test-binary")
                .with_selector(Selector::new("unix", &format!("path:{}", exe.display())).unwrap()),
        ),
    )
    .await;
    let mut child = connect_from_child_with(&running.socket(), None, true).unwrap();
    let ids = |message: workload_api::proto::X509svidResponse| -> Vec<String> {
        message
            .svids
            .into_iter()
            .map(|s| s.spiffe_id.clone())
            .collect()
    };
    let first = common::x509_stream(&mut child.client).await.1;
    assert_eq!(ids(first), ["spiffe://example.org/test-binary"]);

    child.control.write_all(b"x").unwrap();
    let proc_exe = format!("/proc/{}/exe", child.child.id());
    let mut sleep_path = None;
    for _ in 0..1000 {
        match std::fs::read_link(&proc_exe) {
            Ok(path) if path != exe => {
                sleep_path = Some(path);
                break;
            }
            _ => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
    let sleep_path = sleep_path.expect("the child did not exec sleep");
    running
        .agent
        .add_entry(mine("/sleep").with_selector(
            Selector::new("unix", &format!("path:{}", sleep_path.display())).unwrap(),
        ))
        .await
        .unwrap();
    // Same connection, same live process: the call passes and is attested as `sleep`.
    let after = common::x509_stream(&mut child.client).await.1;
    assert_eq!(ids(after), ["spiffe://example.org/sleep"]);
    child.child.kill().unwrap();
    child.child.wait().unwrap();
}
