//! The node API service: attestation, agent SVID renewal, entry sync, and minting for the
//! entries of the calling node only.

use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ca::{CertificateAuthority, JwtSvidRequest, X509SvidRequest};
use node_api::proto::{self, node_server::Node};
use spiffe_id::SpiffeId;
use store::{EntryRecord, NodeRecord, Store};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::attest::{self, NodeAttestor, Step};
use crate::bundle::MergedBundle;
use crate::entries::EntryIndex;
use crate::error::AttestError;
use crate::federated::FederatedBundles;
use crate::node_cache::NodeCache;
use crate::rate_limit::Limiter;
use crate::settings::Settings;

/// The largest CSR accepted.
const MAX_CSR_BYTES: usize = 8 * 1024;
/// How long a node has to send its first message, and to answer a challenge.
const CHALLENGE_TIMEOUT: Duration = Duration::from_secs(30);

/// What the node API and the server's background tasks share.
pub(crate) struct Shared {
    pub(crate) ca: CertificateAuthority,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) entries: EntryIndex,
    pub(crate) attestors: Vec<Arc<dyn NodeAttestor>>,
    pub(crate) settings: Settings,
    pub(crate) limiter: Limiter,
    /// Whether the last read of the entries from the store succeeded.
    pub(crate) store_ok: std::sync::atomic::AtomicBool,
    /// This replica's name: its bundle is published under it.
    pub(crate) replica: String,
    /// What is served: the own CA's bundle merged with the other replicas'.
    pub(crate) bundle: Arc<MergedBundle>,
    /// The foreign trust domains' bundles, sent to the nodes whose entries federate with them.
    pub(crate) federated: FederatedBundles,
    /// The own bundle last written to the store.
    pub(crate) last_published: std::sync::Mutex<Option<String>>,
    /// Nodes recently seen attested in the store.
    pub(crate) nodes: NodeCache,
    /// The `federates_with` relationships' manager, for the admin API.
    pub(crate) federation: Option<Arc<federation::manager::FederationManager>>,
}

/// The gRPC service.
#[derive(Clone)]
pub(crate) struct NodeService(pub(crate) Arc<Shared>);

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Runs blocking work (store, signatures) off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Status> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|_| Status::unavailable("the server is shutting down"))
}

fn audit_refusal(node: Option<&SpiffeId>, what: &'static str, reason: &dyn core::fmt::Display) {
    crate::metrics::refused(what);
    tracing::warn!(
        target: "spiffekit_server::audit",
        node = node.map(ToString::to_string).unwrap_or_default(),
        what,
        %reason,
        "refused"
    );
}

/// The agent ID the caller's mTLS session proved, if it is an agent's.
fn agent_of<T>(request: &Request<T>) -> Result<SpiffeId, Status> {
    let id = tls_integration::tonic::peer_spiffe_id(request)
        .cloned()
        .ok_or_else(|| Status::unauthenticated("this call needs an agent SVID: attest first"))?;
    if !id.path().starts_with(node_api::AGENT_PATH_PREFIX) {
        return Err(Status::permission_denied(format!("{id} is not an agent")));
    }
    Ok(id)
}

/// The `not_after` of a DER certificate, seconds since the epoch.
fn not_after(der: &[u8]) -> i64 {
    x509_parser::parse_x509_certificate(der)
        .map_or(0, |(_, cert)| cert.validity().not_after.timestamp())
}

/// Hex of a DER certificate's serial number.
fn serial_of(der: &[u8]) -> String {
    x509_parser::parse_x509_certificate(der)
        .map(|(_, cert)| attest::hex(cert.raw_serial()))
        .unwrap_or_default()
}

impl Shared {
    /// `Ok` when the server can serve: the CA has an X.509 authority valid now and the store
    /// answered the last entry refresh. Otherwise why not.
    pub(crate) fn readiness(&self) -> Result<(), &'static str> {
        if !self.store_ok.load(std::sync::atomic::Ordering::Relaxed) {
            return Err("the store did not answer the last entry refresh");
        }
        let now = SystemTime::now();
        let snapshot = self.ca.snapshot();
        let active = snapshot.authorities().iter().any(|authority| {
            authority.kind == ca::AuthorityKind::X509
                && authority.status == ca::AuthorityStatus::Active
                && authority.not_before <= now
                && now < authority.not_after
        });
        if active {
            Ok(())
        } else {
            Err("the CA has no X.509 authority valid now")
        }
    }

    /// Reloads the entries and the other replicas' bundles, publishing the own bundle when it
    /// changed; records whether the store answered (blocking).
    pub(crate) fn refresh_entries(&self) -> Result<usize, store::Error> {
        let result = self
            .refresh_bundle()
            .and_then(|()| self.entries.refresh(&*self.store));
        self.store_ok
            .store(result.is_ok(), std::sync::atomic::Ordering::Relaxed);
        result
    }

    /// Publishes the own CA's bundle (when it changed) and merges every replica's (blocking).
    fn refresh_bundle(&self) -> Result<(), store::Error> {
        let own = self.ca.bundle();
        let json = own.to_json();
        {
            let mut last = self
                .last_published
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if last.as_deref() != Some(json.as_str()) {
                self.store.publish_bundle(&self.replica, &json)?;
                *last = Some(json);
            }
        }
        let published = self.store.published_bundles()?;
        self.bundle.update(&own, &self.replica, &published);
        Ok(())
    }

    /// The calling node's agent ID, if it presented an agent SVID and is attested (not
    /// evicted).
    async fn caller<T>(self: &Arc<Self>, request: &Request<T>) -> Result<SpiffeId, Status> {
        let id = agent_of(request)?;
        let shared = Arc::clone(self);
        blocking(move || shared.check_node(&id).map(|()| id)).await?
    }

    /// Refuses a node that is not attested (never was, or was evicted); reads the store unless
    /// it did so for this node within `max_node_staleness` (see [`NodeCache`]) (blocking).
    fn check_node(&self, id: &SpiffeId) -> Result<(), Status> {
        if self.nodes.is_fresh(id, std::time::Instant::now()) {
            return Ok(());
        }
        let generation = self.nodes.generation();
        match self.store.node(id) {
            Ok(Some(_)) => {
                self.nodes
                    .confirm(id, std::time::Instant::now(), generation);
                Ok(())
            }
            Ok(None) => {
                self.nodes.forget(id);
                audit_refusal(Some(id), "call", &"node not attested or evicted");
                Err(Status::permission_denied(format!(
                    "node {id} {}: attest again",
                    node_api::NODE_NOT_ATTESTED
                )))
            }
            Err(error) => Err(Status::unavailable(format!("the store failed: {error}"))),
        }
    }

    /// Mints an agent SVID for `csr` and records the node (blocking).
    fn issue_agent_svid(
        &self,
        node: &attest::AttestedNode,
        method: &str,
        csr: &[u8],
    ) -> Result<proto::AgentSvid, Status> {
        let request = X509SvidRequest::new(node.spiffe_id.clone())
            .ttl(self.settings.agent_svid_ttl)
            .requester(node.spiffe_id.to_string());
        let chain = self
            .ca
            .mint_x509_svid_for_csr(csr, &request, SystemTime::now())
            .map_err(|e| Status::invalid_argument(format!("the agent CSR was refused: {e}")))?;
        let leaf = chain
            .first()
            .ok_or_else(|| Status::internal("empty chain"))?;
        let expires_at = not_after(leaf);
        let record = NodeRecord::new(node.spiffe_id.clone(), method)
            .with_selectors(node.selectors.iter().cloned())
            .with_svid_serial(serial_of(leaf))
            .with_svid_expires_at(u64::try_from(expires_at).unwrap_or(0));
        self.store
            .upsert_node(&record)
            .map_err(|e| Status::unavailable(format!("the store failed: {e}")))?;
        crate::metrics::agent_svid_issued();
        Ok(proto::AgentSvid {
            spiffe_id: node.spiffe_id.to_string(),
            chain: chain.iter().map(|c| c.as_ref().to_vec()).collect(),
            expires_at,
            bundle_json: self.bundle.with_json().1.to_string(),
        })
    }

    /// The attestation conversation; its result is the last message sent.
    async fn attest(
        self: Arc<Self>,
        mut inbound: Streaming<proto::AttestRequest>,
        outbound: &mpsc::Sender<Result<proto::AttestResponse, Status>>,
    ) -> Result<proto::AttestResponse, Status> {
        // A node that opens the stream and says nothing does not hold a task for long.
        let first = tokio::time::timeout(CHALLENGE_TIMEOUT, inbound.message())
            .await
            .map_err(|_| Status::deadline_exceeded("no attestation message in time"))??
            .ok_or_else(|| Status::invalid_argument("no attestation message"))?;
        let Some(proto::attest_request::Step::Start(start)) = first.step else {
            return Err(AttestError::Malformed("the first message must be `start`".into()).into());
        };
        if start.csr.is_empty() || start.csr.len() > MAX_CSR_BYTES {
            return Err(AttestError::Malformed(format!(
                "the CSR must be 1 to {MAX_CSR_BYTES} bytes"
            ))
            .into());
        }
        let skew = start.agent_time.saturating_sub(unix_now());
        let max = self.settings.max_clock_skew.as_secs();
        if skew.unsigned_abs() > max {
            return Err(AttestError::ClockSkew {
                skew_seconds: skew,
                max_seconds: max,
            }
            .into());
        }
        let method = attest::method_of(&start)
            .ok_or_else(|| AttestError::Malformed("no attestation method".into()))?;
        let attestor = self
            .attestors
            .iter()
            .find(|a| a.method() == method)
            .cloned()
            .ok_or(AttestError::MethodNotEnabled(method))?;
        let csr = start.csr.clone();
        let step = blocking(move || attestor.begin(&start))
            .await?
            .inspect_err(|_| crate::metrics::attestation(method, false))?;
        let node = match step {
            Step::Attested(node) => node,
            Step::Challenge { challenge, finish } => {
                outbound
                    .send(Ok(challenge))
                    .await
                    .map_err(|_| Status::cancelled("the node went away"))?;
                let answer = tokio::time::timeout(CHALLENGE_TIMEOUT, inbound.message())
                    .await
                    .map_err(|_| Status::deadline_exceeded("no answer to the challenge"))??
                    .ok_or_else(|| Status::invalid_argument("no answer to the challenge"))?;
                blocking(move || finish(&answer))
                    .await?
                    .inspect_err(|_| crate::metrics::attestation(method, false))?
            }
        };
        let shared = Arc::clone(&self);
        let svid = blocking(move || shared.issue_agent_svid(&node, method, &csr)).await??;
        crate::metrics::attestation(method, true);
        tracing::info!(node = %svid.spiffe_id, method, "node attested");
        Ok(proto::AttestResponse {
            step: Some(proto::attest_response::Step::Svid(svid)),
        })
    }

    /// Mints one X509-SVID for an authorised entry (blocking).
    /// When the active X.509 authority stops signing: no SVID outlives it (seconds since the
    /// epoch; `i64::MAX` when unknown).
    fn x509_expiry_bound(&self) -> i64 {
        self.ca
            .snapshot()
            .active(ca::AuthorityKind::X509)
            .and_then(|authority| authority.not_after.duration_since(UNIX_EPOCH).ok())
            .map_or(i64::MAX, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
    }

    fn mint_one(
        &self,
        node: &SpiffeId,
        entry: Option<&Arc<EntryRecord>>,
        request: &proto::X509SvidRequest,
        expiry_bound: i64,
    ) -> proto::X509SvidResult {
        let refused = |error: String| proto::X509SvidResult {
            entry_id: request.entry_id.clone(),
            chain: Vec::new(),
            expires_at: 0,
            error,
        };
        let Some(entry) = entry else {
            let reason = format!(
                "entry {:?} is not authorised for node {node}",
                request.entry_id
            );
            audit_refusal(Some(node), "x509-svid", &reason);
            return refused(reason);
        };
        if request.csr.len() > MAX_CSR_BYTES {
            return refused(format!("the CSR is over {MAX_CSR_BYTES} bytes"));
        }
        let ttl = entry.x509_ttl().unwrap_or(self.settings.x509_svid_ttl);
        let svid_request = X509SvidRequest::new(entry.spiffe_id().clone())
            .ttl(ttl)
            .dns_names(entry.dns_names().iter().cloned())
            .requester(node.to_string());
        let now = SystemTime::now();
        match self
            .ca
            .mint_x509_svid_for_csr(&request.csr, &svid_request, now)
        {
            Ok(chain) => {
                crate::metrics::x509_svid_issued();
                // The CA signs for `ttl` from `now`, capped at its authority's expiry: what
                // the certificate says, without parsing it again.
                let ttl_seconds = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
                let now_seconds = now
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
                proto::X509SvidResult {
                    entry_id: request.entry_id.clone(),
                    expires_at: now_seconds.saturating_add(ttl_seconds).min(expiry_bound),
                    chain: chain.iter().map(|c| c.as_ref().to_vec()).collect(),
                    error: String::new(),
                }
            }
            Err(error) => {
                audit_refusal(Some(node), "x509-svid", &error);
                refused(error.to_string())
            }
        }
    }

    fn rate_limit(&self, node: &SpiffeId, cost: usize) -> Result<(), Status> {
        // A batch is at most `max_batch` requests: far below 2^32.
        let cost = f64::from(u32::try_from(cost).unwrap_or(u32::MAX));
        self.limiter.take(node, cost).map_err(|wait| {
            audit_refusal(Some(node), "rate", &"rate limit");
            Status::resource_exhausted(format!(
                "node {node} is over its rate limit: retry in {} ms",
                wait.as_millis()
            ))
        })
    }
}

fn entry_to_proto(entry: &EntryRecord) -> proto::Entry {
    proto::Entry {
        id: entry.id().to_string(),
        spiffe_id: entry.spiffe_id().to_string(),
        parent_id: entry
            .parent_id()
            .map(ToString::to_string)
            .unwrap_or_default(),
        selectors: entry.selectors().to_vec(),
        x509_ttl_seconds: entry.x509_ttl().map_or(0, |d| d.as_secs()),
        jwt_ttl_seconds: entry.jwt_ttl().map_or(0, |d| d.as_secs()),
        dns_names: entry.dns_names().to_vec(),
        hint: entry.hint().unwrap_or_default().to_owned(),
        federates_with: entry
            .federates_with()
            .iter()
            .map(ToString::to_string)
            .collect(),
        revision: entry.revision(),
    }
}

type AttestStream =
    Pin<Box<dyn tokio_stream::Stream<Item = Result<proto::AttestResponse, Status>> + Send>>;

#[tonic::async_trait]
impl Node for NodeService {
    type AttestStream = AttestStream;

    async fn attest(
        &self,
        request: Request<Streaming<proto::AttestRequest>>,
    ) -> Result<Response<Self::AttestStream>, Status> {
        let (sender, receiver) = mpsc::channel(2);
        let shared = Arc::clone(&self.0);
        let inbound = request.into_inner();
        tokio::spawn(async move {
            let result = shared.attest(inbound, &sender).await;
            if let Err(status) = &result {
                audit_refusal(None, "attestation", &status.message());
            }
            let _ = sender.send(result).await;
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(receiver))))
    }

    async fn renew_agent(
        &self,
        request: Request<proto::RenewAgentRequest>,
    ) -> Result<Response<proto::AgentSvid>, Status> {
        let node = self.0.caller(&request).await?;
        self.0.rate_limit(&node, 1)?;
        let csr = request.into_inner().csr;
        if csr.is_empty() || csr.len() > MAX_CSR_BYTES {
            return Err(Status::invalid_argument(format!(
                "the CSR must be 1 to {MAX_CSR_BYTES} bytes"
            )));
        }
        let shared = Arc::clone(&self.0);
        let svid = blocking(move || {
            let store = Arc::clone(&shared.store);
            let current = store
                .node(&node)
                .map_err(|e| Status::unavailable(format!("the store failed: {e}")))?
                .ok_or_else(|| {
                    Status::permission_denied(format!(
                        "node {node} {}: attest again",
                        node_api::NODE_NOT_ATTESTED
                    ))
                })?;
            let attested = attest::AttestedNode {
                spiffe_id: node,
                selectors: current.selectors().to_vec(),
            };
            shared.issue_agent_svid(&attested, current.attestation(), &csr)
        })
        .await??;
        Ok(Response::new(svid))
    }

    async fn sync_entries(
        &self,
        request: Request<proto::SyncEntriesRequest>,
    ) -> Result<Response<proto::SyncEntriesResponse>, Status> {
        let node = self.0.caller(&request).await?;
        let entries = self.0.entries.for_node(&node);
        let (bundle, json) = self.0.bundle.with_json();
        Ok(Response::new(proto::SyncEntriesResponse {
            entries: entries.iter().map(|e| entry_to_proto(e)).collect(),
            bundle_json: json.to_string(),
            bundle_sequence: bundle.sequence().unwrap_or(0),
            server_time: unix_now(),
            federated_bundles: self.0.federated.for_entries(&entries),
        }))
    }

    async fn mint_x509_svids(
        &self,
        request: Request<proto::MintX509SvidsRequest>,
    ) -> Result<Response<proto::MintX509SvidsResponse>, Status> {
        let node = agent_of(&request)?;
        let requests = request.into_inner().requests;
        if requests.len() > self.0.settings.max_batch {
            return Err(Status::invalid_argument(format!(
                "{} requests in one call (at most {})",
                requests.len(),
                self.0.settings.max_batch
            )));
        }
        self.0.rate_limit(&node, requests.len())?;
        let shared = Arc::clone(&self.0);
        // The node check and the signatures in one blocking task: one hand-off per call.
        let results = blocking(move || {
            shared.check_node(&node)?;
            let authorized = shared.entries.authorized(&node);
            let expiry = shared.x509_expiry_bound();
            Ok::<_, Status>(
                requests
                    .iter()
                    .map(|request| {
                        shared.mint_one(&node, authorized.get(&request.entry_id), request, expiry)
                    })
                    .collect(),
            )
        })
        .await??;
        Ok(Response::new(proto::MintX509SvidsResponse { results }))
    }

    async fn mint_jwt_svid(
        &self,
        request: Request<proto::MintJwtSvidRequest>,
    ) -> Result<Response<proto::MintJwtSvidResponse>, Status> {
        let node = self.0.caller(&request).await?;
        self.0.rate_limit(&node, 1)?;
        let request = request.into_inner();
        if request.audience.is_empty() || request.audience.iter().any(String::is_empty) {
            return Err(Status::invalid_argument(
                "the audience must be non-empty strings",
            ));
        }
        let Some(entry) = self.0.entries.authorized(&node).remove(&request.entry_id) else {
            let reason = format!(
                "entry {:?} is not authorised for node {node}",
                request.entry_id
            );
            audit_refusal(Some(&node), "jwt-svid", &reason);
            return Err(Status::permission_denied(reason));
        };
        let ttl = entry.jwt_ttl().unwrap_or(self.0.settings.jwt_svid_ttl);
        let jwt_request = JwtSvidRequest::new(entry.spiffe_id().clone(), request.audience)
            .ttl(ttl)
            .requester(node.to_string());
        let ca = self.0.ca.clone();
        let token = blocking(move || ca.mint_jwt_svid(&jwt_request, SystemTime::now()))
            .await?
            .map_err(|e| Status::invalid_argument(format!("the JWT-SVID was refused: {e}")))?;
        crate::metrics::jwt_svid_issued();
        let ttl_seconds = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
        Ok(Response::new(proto::MintJwtSvidResponse {
            token,
            expires_at: unix_now().saturating_add(ttl_seconds),
        }))
    }
}
