//! A scriptable fake Workload API server on a Unix socket, built on the generated server half
//! of `workload-api` (feature `workload-api-server`), for fault injection in client tests (as
//! go-spiffe's `internal/test/fakeworkloadapi`).
//!
//! A [`Script`] says what each RPC answers next ([`Step`]); every open stream follows it. The
//! server runs on its own runtime so [`FakeServer::stop`] can kill it outright, as when an agent
//! process dies.

use std::collections::HashMap;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};
use workload_api::Endpoint;
use workload_api::proto::spiffe_workload_api_server::{SpiffeWorkloadApi, SpiffeWorkloadApiServer};
use workload_api::proto::{
    JwtBundlesRequest, JwtBundlesResponse, Jwtsvid, JwtsvidRequest, JwtsvidResponse,
    ValidateJwtsvidRequest, ValidateJwtsvidResponse, X509BundlesRequest, X509BundlesResponse,
    X509svid, X509svidRequest, X509svidResponse,
};

/// An `X509SVIDResponse` with these SVIDs and nothing else.
pub fn x509_response(svids: Vec<X509svid>) -> X509svidResponse {
    X509svidResponse {
        svids,
        crl: vec![],
        federated_bundles: HashMap::new(),
    }
}

/// One `JWTSVID` entry.
pub fn jwt_response(spiffe_id: &str, token: &str, hint: &str) -> Jwtsvid {
    Jwtsvid {
        spiffe_id: spiffe_id.to_owned(),
        svid: token.to_owned(),
        hint: hint.to_owned(),
    }
}

/// What a fake stream does next.
#[derive(Clone, Debug)]
pub enum Step<T> {
    /// Send this message (again, to every open stream).
    Send(T),
    /// Fail every stream, and every new one, with this status.
    Fail(Status),
    /// End every open stream cleanly; new streams get nothing until the next step.
    End,
    /// Hold: open streams wait.
    Idle,
}

/// Shared, scriptable behaviour of the fake server.
#[derive(Debug)]
#[non_exhaustive]
pub struct Script {
    /// What `FetchX509SVID` streams send next.
    pub x509: watch::Sender<(u64, Step<X509svidResponse>)>,
    /// What `FetchX509Bundles` streams send next.
    pub x509_bundles: watch::Sender<(u64, Step<X509BundlesResponse>)>,
    /// What `FetchJWTBundles` streams send next.
    pub jwt_bundles: watch::Sender<(u64, Step<JwtBundlesResponse>)>,
    /// The answer to `FetchJWTSVID` (when the request names an audience).
    pub jwt_svid: Mutex<Result<JwtsvidResponse, Status>>,
    /// The answer to `ValidateJWTSVID`.
    pub validate: Mutex<Result<ValidateJwtsvidResponse, Status>>,
    /// Requests seen without the security header.
    pub missing_header: AtomicUsize,
    /// Requests seen with it.
    pub with_header: AtomicUsize,
    /// Streams opened, per RPC.
    pub x509_streams: AtomicUsize,
    /// `FetchJWTSVID` calls seen.
    pub jwt_svid_calls: AtomicUsize,
    /// While `true`, `FetchJWTSVID` calls are counted and then wait before answering.
    pub jwt_svid_hold: watch::Sender<bool>,
    /// Extra metadata seen on the last request (for interceptor tests).
    pub last_metadata: Mutex<Vec<(String, String)>>,
    seq: AtomicUsize,
}

impl Script {
    /// A script on which every RPC waits (streams) or is unavailable (unary calls).
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            x509: watch::channel((0, Step::Idle)).0,
            x509_bundles: watch::channel((0, Step::Idle)).0,
            jwt_bundles: watch::channel((0, Step::Idle)).0,
            jwt_svid: Mutex::new(Err(Status::unavailable("not scripted"))),
            validate: Mutex::new(Err(Status::unavailable("not scripted"))),
            missing_header: AtomicUsize::new(0),
            with_header: AtomicUsize::new(0),
            x509_streams: AtomicUsize::new(0),
            jwt_svid_calls: AtomicUsize::new(0),
            jwt_svid_hold: watch::channel(false).0,
            last_metadata: Mutex::new(vec![]),
            seq: AtomicUsize::new(1),
        })
    }

    fn next_seq(&self) -> u64 {
        u64::try_from(self.seq.fetch_add(1, Ordering::Relaxed)).unwrap_or(u64::MAX)
    }

    /// The next step of `FetchX509SVID` streams.
    pub fn x509(&self, step: Step<X509svidResponse>) {
        self.x509.send_replace((self.next_seq(), step));
    }

    /// The next step of `FetchX509Bundles` streams.
    pub fn x509_bundles(&self, step: Step<X509BundlesResponse>) {
        self.x509_bundles.send_replace((self.next_seq(), step));
    }

    /// The next step of `FetchJWTBundles` streams.
    pub fn jwt_bundles(&self, step: Step<JwtBundlesResponse>) {
        self.jwt_bundles.send_replace((self.next_seq(), step));
    }

    fn check<T>(&self, request: &Request<T>) -> Result<(), Status> {
        let metadata = request.metadata();
        *self.last_metadata.lock().unwrap() = metadata
            .iter()
            .filter_map(|kv| match kv {
                tonic::metadata::KeyAndValueRef::Ascii(k, v) => {
                    Some((k.to_string(), v.to_str().unwrap_or("").to_owned()))
                }
                tonic::metadata::KeyAndValueRef::Binary(..) => None,
            })
            .collect();
        let values: Vec<_> = metadata.get_all("workload.spiffe.io").iter().collect();
        if values.len() == 1 && values[0] == "true" {
            self.with_header.fetch_add(1, Ordering::Relaxed);
            Ok(())
        } else {
            self.missing_header.fetch_add(1, Ordering::Relaxed);
            Err(Status::invalid_argument(
                "security header missing from request",
            ))
        }
    }
}

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// Streams a watched script: every new step is sent to the stream; Fail/End close it.
fn stream_of<T: Clone + Send + Sync + 'static>(
    mut rx: watch::Receiver<(u64, Step<T>)>,
) -> BoxStream<T> {
    let (tx, out) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        // A fresh stream acts on the current step, whatever its age.
        let mut first = true;
        loop {
            let step = if first {
                first = false;
                rx.borrow_and_update().1.clone()
            } else {
                if rx.changed().await.is_err() {
                    return;
                }
                rx.borrow_and_update().1.clone()
            };
            match step {
                Step::Send(message) => {
                    if tx.send(Ok(message)).await.is_err() {
                        return;
                    }
                }
                Step::Fail(status) => {
                    let _ = tx.send(Err(status)).await;
                    return;
                }
                Step::End => return,
                Step::Idle => {}
            }
        }
    });
    Box::pin(tokio_stream::wrappers::ReceiverStream::new(out))
}

/// The Workload API service that plays a [`Script`].
#[derive(Debug)]
pub struct Fake(pub Arc<Script>);

#[tonic::async_trait]
impl SpiffeWorkloadApi for Fake {
    type FetchX509SVIDStream = BoxStream<X509svidResponse>;
    type FetchX509BundlesStream = BoxStream<X509BundlesResponse>;
    type FetchJWTBundlesStream = BoxStream<JwtBundlesResponse>;

    async fn fetch_x509svid(
        &self,
        request: Request<X509svidRequest>,
    ) -> Result<Response<Self::FetchX509SVIDStream>, Status> {
        self.0.check(&request)?;
        self.0.x509_streams.fetch_add(1, Ordering::Relaxed);
        if let Step::Fail(status) = &self.0.x509.borrow().1 {
            return Err(status.clone());
        }
        Ok(Response::new(stream_of(self.0.x509.subscribe())))
    }

    async fn fetch_x509_bundles(
        &self,
        request: Request<X509BundlesRequest>,
    ) -> Result<Response<Self::FetchX509BundlesStream>, Status> {
        self.0.check(&request)?;
        Ok(Response::new(stream_of(self.0.x509_bundles.subscribe())))
    }

    async fn fetch_jwtsvid(
        &self,
        request: Request<JwtsvidRequest>,
    ) -> Result<Response<JwtsvidResponse>, Status> {
        self.0.check(&request)?;
        self.0.jwt_svid_calls.fetch_add(1, Ordering::Relaxed);
        let _ = self
            .0
            .jwt_svid_hold
            .subscribe()
            .wait_for(|held| !held)
            .await;
        if request.get_ref().audience.is_empty() {
            return Err(Status::invalid_argument("audience must be specified"));
        }
        self.0.jwt_svid.lock().unwrap().clone().map(Response::new)
    }

    async fn fetch_jwt_bundles(
        &self,
        request: Request<JwtBundlesRequest>,
    ) -> Result<Response<Self::FetchJWTBundlesStream>, Status> {
        self.0.check(&request)?;
        Ok(Response::new(stream_of(self.0.jwt_bundles.subscribe())))
    }

    async fn validate_jwtsvid(
        &self,
        request: Request<ValidateJwtsvidRequest>,
    ) -> Result<Response<ValidateJwtsvidResponse>, Status> {
        self.0.check(&request)?;
        self.0.validate.lock().unwrap().clone().map(Response::new)
    }
}

/// A running fake server on a Unix socket; `stop` kills it, `start` brings it back on the same
/// path with the same script.
#[derive(Debug)]
pub struct FakeServer {
    /// What it answers.
    pub script: Arc<Script>,
    /// Its socket.
    pub path: PathBuf,
    _dir: Option<tempfile::TempDir>,
    /// The server runs on its own runtime, so `stop` can kill it outright: every task and
    /// every connection goes away, as when an agent process dies.
    runtime: Option<tokio::runtime::Runtime>,
}

impl FakeServer {
    /// A server running on a socket in a fresh temporary directory.
    pub async fn start_new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.sock");
        let mut server = Self {
            script: Script::new(),
            path,
            _dir: Some(dir),
            runtime: None,
        };
        server.start().await;
        server
    }

    /// A server that is not running yet (for "agent down at startup").
    pub fn not_started() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.sock");
        Self {
            script: Script::new(),
            path,
            _dir: Some(dir),
            runtime: None,
        }
    }

    /// The server's address for a client.
    pub fn endpoint(&self) -> Endpoint {
        Endpoint::unix(&self.path).unwrap()
    }

    /// Starts (again) on [`Self::path`], with the same script.
    pub async fn start(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let path = self.path.clone();
        let service = SpiffeWorkloadApiServer::new(Fake(Arc::clone(&self.script)));
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        runtime.spawn(async move {
            let listener = tokio::net::UnixListener::bind(&path).unwrap();
            let _ = ready_tx.send(());
            let incoming = tokio_stream::wrappers::UnixListenerStream::new(listener);
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(incoming)
                .await
                .unwrap();
        });
        ready_rx.await.unwrap();
        self.runtime = Some(runtime);
    }

    /// Kills the server: open streams break, the socket disappears.
    pub async fn stop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
