//! Shared helpers for the agent's integration tests: a test CA, a raw tonic client over the
//! agent's Unix socket, requests with or without the security header, and checks on what the
//! agent sends.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    dead_code,
    unreachable_pub,
    reason = "test helper"
)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use agent::{Agent, AgentBuilder, AgentHandle, RegistrationEntry, Selector};
use rustls_pki_types::{CertificateDer, UnixTime};
use svid::{Crypto, X509Svid, X509Verifier};
use tonic::transport::{Channel, Endpoint};
use trust_bundle::{BundleSet, SpiffeBundle, X509Bundle};
use workload_api::proto::spiffe_workload_api_client::SpiffeWorkloadApiClient;
use workload_api::proto::{X509svid, X509svidRequest, X509svidResponse};

pub type Client = SpiffeWorkloadApiClient<Channel>;

/// A test CA for `example.org`.
pub fn test_ca() -> ca::TestCa {
    ca::TestCa::new("example.org")
}

/// `unix:uid:<this process's uid>`: every test connection is attested with it.
pub fn me() -> Selector {
    Selector::current_uid().unwrap()
}

/// A selector no test connection has.
pub fn nobody() -> Selector {
    Selector::unix_uid(current_uid().wrapping_add(4242))
}

pub fn current_uid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").unwrap().uid()
}

/// An entry for `path` in example.org that this process gets.
pub fn mine(path: &str) -> RegistrationEntry {
    RegistrationEntry::new(format!("spiffe://example.org{path}").parse().unwrap())
        .with_selector(me())
}

/// A running agent and the temporary directory holding its socket.
pub struct Running {
    pub agent: AgentHandle,
    pub dir: tempfile::TempDir,
}

impl Running {
    pub fn socket(&self) -> PathBuf {
        self.agent.socket_path().to_owned()
    }

    pub async fn client(&self) -> Client {
        client(self.agent.socket_path()).await
    }
}

/// Starts `builder` on a socket in a fresh temporary directory.
pub async fn start(builder: AgentBuilder) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let agent = builder
        .serve_unix(dir.path().join("agent.sock"))
        .await
        .unwrap();
    Running { agent, dir }
}

/// Starts an agent on `ca` with `entries`.
pub async fn start_with(ca: &ca::TestCa, entries: Vec<RegistrationEntry>) -> Running {
    start(Agent::builder(ca.ca().clone()).entries(entries)).await
}

/// A channel over the Unix socket at `path` (reconnects on the next call after a failure).
pub async fn channel(path: &Path) -> Channel {
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

/// A lazily connecting channel (for agents that are not up yet or restart).
pub fn lazy_channel(path: &Path) -> Channel {
    let path = path.to_owned();
    Endpoint::from_static("http://localhost").connect_with_connector_lazy(tower::service_fn(
        move |_| {
            let path = path.clone();
            async move {
                let stream = tokio::net::UnixStream::connect(path).await?;
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(stream))
            }
        },
    ))
}

/// A client whose connection uses the HTTP/2 default flow-control windows (64 KiB per stream
/// and connection), so unread messages back up to the server quickly.
pub async fn client_with_small_windows(path: &Path) -> Client {
    let path = path.to_owned();
    let channel = Endpoint::from_static("http://localhost")
        .initial_stream_window_size(65_535)
        .initial_connection_window_size(65_535)
        .connect_with_connector(tower::service_fn(move |_| {
            let path = path.clone();
            async move {
                let stream = tokio::net::UnixStream::connect(path).await?;
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(stream))
            }
        }))
        .await
        .unwrap();
    SpiffeWorkloadApiClient::new(channel)
}

pub async fn client(path: &Path) -> Client {
    SpiffeWorkloadApiClient::new(channel(path).await)
}

/// A request carrying `workload.spiffe.io: true`.
pub fn req<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("workload.spiffe.io", "true".parse().unwrap());
    request
}

/// Opens FetchX509SVID and returns the stream and its first message.
pub async fn x509_stream(
    client: &mut Client,
) -> (tonic::Streaming<X509svidResponse>, X509svidResponse) {
    let mut stream = client
        .fetch_x509svid(req(X509svidRequest {}))
        .await
        .unwrap()
        .into_inner();
    let first = next(&mut stream).await;
    (stream, first)
}

/// The next message of a stream, failing the test after 10 s (a hang is a failure, not a
/// timing assertion).
pub async fn next<T>(stream: &mut tonic::Streaming<T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .expect("no stream message within 10 s")
        .unwrap()
        .expect("stream ended")
}

/// Checks one X509SVID of a response as a relying party would: the chain and key form a valid
/// X509-SVID, and the chain verifies against the `bundle` field (its own trust domain's).
pub fn verify_x509(svid: &X509svid) -> X509Svid {
    let backend = Crypto::default();
    let parsed = X509Svid::from_der(&svid.x509_svid, &svid.x509_svid_key, &backend).unwrap();
    assert_eq!(parsed.spiffe_id().as_str(), svid.spiffe_id);
    let trust_domain = parsed.spiffe_id().trust_domain();
    let bundle = X509Bundle::from_der(trust_domain, &svid.bundle).unwrap();
    let bundles = BundleSet::from_bundles([SpiffeBundle::from(bundle)]).unwrap();
    let verifier = X509Verifier::new(bundles, &backend);
    let chain: Vec<CertificateDer<'static>> = parsed.chain().to_vec();
    let verified = verifier.verify(&chain, UnixTime::now()).unwrap();
    assert_eq!(verified.spiffe_id().as_str(), svid.spiffe_id);
    parsed
}

/// A child process (the `agent` binary), killed and reaped when the test ends, even by a
/// failed assertion.
pub struct AgentProcess(pub std::process::Child);

impl std::ops::Deref for AgentProcess {
    type Target = std::process::Child;
    fn deref(&self) -> &std::process::Child {
        &self.0
    }
}

impl std::ops::DerefMut for AgentProcess {
    fn deref_mut(&mut self) -> &mut std::process::Child {
        &mut self.0
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
