//! The `SpiffeWorkloadAPI` gRPC service.

use std::sync::Arc;

use rustls_pki_types::UnixTime;
use spiffe_id::SpiffeId;
use svid::{Audience, JwtValidator};
use tonic::{Request, Response, Status};
use workload_api::proto::spiffe_workload_api_server::SpiffeWorkloadApi;
use workload_api::proto::{
    JwtBundlesRequest, JwtBundlesResponse, Jwtsvid, JwtsvidRequest, JwtsvidResponse,
    ValidateJwtsvidRequest, ValidateJwtsvidResponse, X509BundlesRequest, X509BundlesResponse,
    X509svidRequest, X509svidResponse,
};

use crate::admit::Counted;
use crate::agent_core::AgentCore;
use crate::caller::Caller;
use crate::selector::SelectorSet;
use crate::state::{Snapshot, View};
use crate::stream::{Outgoing, Updates, no_identity};

/// The gRPC service; cheap to clone.
#[derive(Clone)]
pub(crate) struct WorkloadApiService {
    agent: Arc<AgentCore>,
}

impl WorkloadApiService {
    pub(crate) fn new(agent: Arc<AgentCore>) -> Self {
        Self { agent }
    }

    /// Checks the header, attests the caller and returns its selectors. A caller whose
    /// process has exited or been replaced since it connected gets `PermissionDenied`: the
    /// check runs again after the attestors, so every `/proc/<pid>` read they made was of
    /// the process that connected (see `connection.rs`).
    async fn caller<T>(&self, request: &Request<T>) -> Result<SelectorSet, Status> {
        check_security_header(request)?;
        let caller = caller_of(request);
        let check = |caller: &Caller| caller.connection().map_or(Ok(()), |c| c.check_process());
        check(&caller)?;
        let selectors = self.agent.attest(&caller).await?;
        check(&caller)?;
        Ok(selectors)
    }

    /// The caller's current snapshot, or the status for a caller without one.
    async fn snapshot<T>(&self, request: &Request<T>) -> Result<Arc<Snapshot>, Status> {
        let selectors = self.caller(request).await?;
        let view = self.agent.state.lock().view(&selectors);
        entitled(view)
    }

    /// Opens a stream of the caller's group, projected to one message type.
    async fn stream<T, M: Outgoing>(
        &self,
        request: &Request<T>,
        project: fn(&Snapshot) -> Option<&Arc<M>>,
    ) -> Result<Response<Counted<Updates<M>>>, Status> {
        // The connection's stream budget first: past it nothing is attested or subscribed.
        let permit = caller_of(request)
            .connection()
            .map(|c| c.stream_permit())
            .transpose()?;
        let selectors = self.caller(request).await?;
        let receiver = self.agent.state.lock().subscribe(selectors);
        // A caller without identity gets the status on the call itself rather than on a
        // stream that then fails.
        entitled(receiver.borrow().clone())?;
        Ok(Response::new(Counted::new(
            Updates::new(receiver, project),
            permit,
        )))
    }
}

/// The caller the server attached to the request's connection (none in unit tests).
fn caller_of<T>(request: &Request<T>) -> Caller {
    request
        .extensions()
        .get::<Caller>()
        .cloned()
        .unwrap_or_default()
}

fn entitled(view: View) -> Result<Arc<Snapshot>, Status> {
    match view {
        View::Entitled(snapshot) => Ok(snapshot),
        View::Denied => Err(no_identity()),
        View::Closed => Err(Status::unavailable("the agent is shutting down")),
    }
}

/// Requires exactly one `workload.spiffe.io` value, equal to `true` (case-sensitive), as SPIRE
/// does; anything else is `InvalidArgument` with SPIRE's message (Workload Endpoint §6; digest
/// 5.6, W-API-1). The rule lives in [`workload_api::check_security_header`].
pub(crate) fn check_security_header<T>(request: &Request<T>) -> Result<(), Status> {
    workload_api::check_security_header(request.metadata())
        .map_err(|_| Status::invalid_argument("security header missing from request"))
}

#[tonic::async_trait]
impl SpiffeWorkloadApi for WorkloadApiService {
    type FetchX509SVIDStream = Counted<Updates<X509svidResponse>>;
    type FetchX509BundlesStream = Counted<Updates<X509BundlesResponse>>;
    type FetchJWTBundlesStream = Counted<Updates<JwtBundlesResponse>>;

    async fn fetch_x509svid(
        &self,
        request: Request<X509svidRequest>,
    ) -> Result<Response<Self::FetchX509SVIDStream>, Status> {
        self.stream(&request, |s| s.x509.as_ref()).await
    }

    async fn fetch_x509_bundles(
        &self,
        request: Request<X509BundlesRequest>,
    ) -> Result<Response<Self::FetchX509BundlesStream>, Status> {
        self.stream(&request, |s| Some(&s.x509_bundles)).await
    }

    async fn fetch_jwt_bundles(
        &self,
        request: Request<JwtBundlesRequest>,
    ) -> Result<Response<Self::FetchJWTBundlesStream>, Status> {
        self.stream(&request, |s| Some(&s.jwt_bundles)).await
    }

    async fn fetch_jwtsvid(
        &self,
        request: Request<JwtsvidRequest>,
    ) -> Result<Response<JwtsvidResponse>, Status> {
        check_security_header(&request)?;
        let message = request.get_ref();
        // Mandatory field at its default (Workload API §4.5, §6.2.1): InvalidArgument.
        if message.audience.is_empty() || message.audience.iter().any(String::is_empty) {
            return Err(Status::invalid_argument("audience must be specified"));
        }
        let audience = Audience::new(message.audience.iter().map(String::as_str))
            .map_err(|e| Status::invalid_argument(format!("invalid audience: {e}")))?;
        let requested = match message.spiffe_id.as_str() {
            "" => None,
            id => Some(SpiffeId::parse(id).map_err(|e| {
                Status::invalid_argument(format!("invalid requested SPIFFE ID: {e}"))
            })?),
        };
        let snapshot = self.snapshot(&request).await?;
        let chosen: Vec<_> = snapshot
            .entries
            .iter()
            .filter(|(_, entry)| requested.as_ref().is_none_or(|id| entry.spiffe_id() == id))
            .cloned()
            .collect();
        if chosen.is_empty() {
            return Err(Status::permission_denied(match requested {
                Some(id) => format!("no identity issued for {id}"),
                None => "no identity issued".to_owned(),
            }));
        }
        let tokens = self
            .agent
            .jwt_svids(&chosen, &audience)
            .await
            .map_err(|e| Status::unavailable(format!("minting JWT-SVIDs failed: {e}")))?;
        let svids = chosen
            .iter()
            .zip(tokens)
            .map(|((_, entry), token)| Jwtsvid {
                spiffe_id: entry.spiffe_id().to_string(),
                svid: token,
                hint: entry.hint().unwrap_or_default().to_owned(),
            })
            .collect();
        Ok(Response::new(JwtsvidResponse { svids }))
    }

    async fn validate_jwtsvid(
        &self,
        request: Request<ValidateJwtsvidRequest>,
    ) -> Result<Response<ValidateJwtsvidResponse>, Status> {
        check_security_header(&request)?;
        let message = request.get_ref();
        if message.audience.is_empty() {
            return Err(Status::invalid_argument("audience must be specified"));
        }
        if message.svid.is_empty() {
            return Err(Status::invalid_argument("svid must be specified"));
        }
        let audience = Audience::new([message.audience.as_str()])
            .map_err(|e| Status::invalid_argument(format!("invalid audience: {e}")))?;
        let snapshot = self.snapshot(&request).await?;
        let authorities = Arc::clone(&snapshot.jwt_authorities);
        // Each caller sees its own authorities (its trust domain and federations), so the
        // validator is built per request over them; it holds no cache, so this costs nothing.
        let validator = JwtValidator::new(authorities, &self.agent.crypto);
        let token = message.svid.clone();
        // A signature check is tens of microseconds of CPU: off the async threads.
        let verified = tokio::task::spawn_blocking(move || {
            validator.validate(&token, &audience, UnixTime::now())
        })
        .await
        .map_err(|_| Status::internal("JWT-SVID validation did not complete"))?
        .map_err(|e| Status::invalid_argument(format!("invalid JWT-SVID: {e}")))?;
        Ok(Response::new(ValidateJwtsvidResponse {
            spiffe_id: verified.spiffe_id().to_string(),
            claims: Some(workload_api::claims_to_struct(verified.claims())),
        }))
    }
}
