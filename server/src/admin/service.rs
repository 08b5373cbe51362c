//! The `ServerAdmin` gRPC service: every call checks the caller's uid first.

use std::sync::Arc;
use std::time::Duration;

use spiffe_id::SpiffeId;
use tokio::net::unix::UCred;
use tonic::transport::server::UdsConnectInfo;
use tonic::{Request, Response, Status};

use super::convert::{
    authority_to_proto, entry_from_proto, entry_over, entry_to_proto, node_to_proto, status_of,
};
use super::proto::{self, server_admin_server::ServerAdmin};
use crate::node_service::Shared;

/// A join token's lifetime when the request does not say.
const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(600);

pub(crate) struct AdminService {
    shared: Arc<Shared>,
    allowed_uids: Vec<u32>,
}

impl AdminService {
    pub(crate) fn new(shared: Arc<Shared>, allowed_uids: Vec<u32>) -> Self {
        Self {
            shared,
            allowed_uids,
        }
    }

    fn authorize<T>(&self, request: &Request<T>) -> Result<(), Status> {
        let uid = request
            .extensions()
            .get::<UdsConnectInfo>()
            .and_then(|info| info.peer_cred)
            .map(|cred: UCred| cred.uid());
        match uid {
            Some(uid) if self.allowed_uids.contains(&uid) => Ok(()),
            Some(uid) => {
                tracing::warn!(target: "spiffekit_server::audit", uid, "admin call refused");
                Err(Status::permission_denied(format!(
                    "uid {uid} may not administer this server (allowed: {:?})",
                    self.allowed_uids
                )))
            }
            None => Err(Status::permission_denied(
                "the caller's credentials are unknown; the admin API is served on a Unix socket only",
            )),
        }
    }
}

fn entry_id(text: &str) -> Result<store::EntryId, Status> {
    text.parse()
        .map_err(|e| Status::invalid_argument(format!("id {text:?}: {e}")))
}

impl AdminService {
    fn authorities(&self) -> proto::Authorities {
        let snapshot = self.shared.ca.snapshot();
        proto::Authorities {
            authorities: snapshot
                .authorities()
                .iter()
                .map(authority_to_proto)
                .collect(),
            bundle_sequence: snapshot.sequence(),
        }
    }

    /// Runs a CA operation on this replica's CA, then lists its authorities.
    async fn ca_operation(
        &self,
        operation: impl FnOnce(
            &ca::CertificateAuthority,
            std::time::SystemTime,
        ) -> Result<(), ca::Error>
        + Send
        + 'static,
    ) -> Result<Response<proto::Authorities>, Status> {
        self.shared
            .ca_operation(operation)
            .await
            .map_err(status_of)?;
        Ok(Response::new(self.authorities()))
    }
}

#[tonic::async_trait]
impl ServerAdmin for AdminService {
    async fn create_entry(
        &self,
        request: Request<proto::Entry>,
    ) -> Result<Response<proto::Entry>, Status> {
        self.authorize(&request)?;
        let entry = entry_from_proto(request.get_ref())?;
        let created = self.shared.create_entry(entry).await.map_err(status_of)?;
        tracing::info!(id = %created.id(), spiffe_id = %created.spiffe_id(), "entry created");
        Ok(Response::new(entry_to_proto(&created)))
    }

    async fn list_entries(
        &self,
        request: Request<proto::ListEntriesRequest>,
    ) -> Result<Response<proto::ListEntriesResponse>, Status> {
        self.authorize(&request)?;
        let parent = request.into_inner().parent_id;
        let entries = self.shared.list_entries().await.map_err(status_of)?;
        Ok(Response::new(proto::ListEntriesResponse {
            entries: entries
                .iter()
                .filter(|e| {
                    parent.is_empty() || e.parent_id().is_some_and(|p| p.as_str() == parent)
                })
                .map(entry_to_proto)
                .collect(),
        }))
    }

    async fn get_entry(
        &self,
        request: Request<proto::GetEntryRequest>,
    ) -> Result<Response<proto::Entry>, Status> {
        self.authorize(&request)?;
        let id = entry_id(&request.into_inner().id)?;
        match self.shared.entry(id.clone()).await.map_err(status_of)? {
            Some(entry) => Ok(Response::new(entry_to_proto(&entry))),
            None => Err(Status::not_found(format!("no entry {id}"))),
        }
    }

    async fn update_entry(
        &self,
        request: Request<proto::Entry>,
    ) -> Result<Response<proto::Entry>, Status> {
        self.authorize(&request)?;
        let message = request.into_inner();
        let id = entry_id(&message.id)?;
        let current = self
            .shared
            .entry(id.clone())
            .await
            .map_err(status_of)?
            .ok_or_else(|| Status::not_found(format!("no entry {id}")))?;
        let replacement = entry_over(current, &message)?;
        let updated = self
            .shared
            .update_entry(replacement)
            .await
            .map_err(status_of)?;
        tracing::info!(id = %updated.id(), revision = updated.revision(), "entry updated");
        Ok(Response::new(entry_to_proto(&updated)))
    }

    async fn delete_entry(
        &self,
        request: Request<proto::DeleteEntryRequest>,
    ) -> Result<Response<proto::DeleteEntryResponse>, Status> {
        self.authorize(&request)?;
        let id = entry_id(&request.into_inner().id)?;
        self.shared.delete_entry(id).await.map_err(status_of)?;
        Ok(Response::new(proto::DeleteEntryResponse {}))
    }

    async fn create_join_token(
        &self,
        request: Request<proto::CreateJoinTokenRequest>,
    ) -> Result<Response<proto::JoinToken>, Status> {
        self.authorize(&request)?;
        let request = request.into_inner();
        let ttl = match request.ttl_seconds {
            0 => DEFAULT_TOKEN_TTL,
            seconds => Duration::from_secs(seconds),
        };
        let agent_id = match request.agent_id.as_str() {
            "" => None,
            text => Some(
                SpiffeId::parse(text)
                    .map_err(|e| Status::invalid_argument(format!("agent_id {text:?}: {e}")))?,
            ),
        };
        let token = self
            .shared
            .create_join_token(ttl, agent_id)
            .await
            .map_err(status_of)?;
        Ok(Response::new(proto::JoinToken {
            token: token.token.as_str().to_owned(),
            agent_id: token.agent_id.to_string(),
            expires_at: i64::try_from(token.expires_at).unwrap_or(i64::MAX),
        }))
    }

    async fn list_nodes(
        &self,
        request: Request<proto::ListNodesRequest>,
    ) -> Result<Response<proto::ListNodesResponse>, Status> {
        self.authorize(&request)?;
        let nodes = self.shared.nodes().await.map_err(status_of)?;
        Ok(Response::new(proto::ListNodesResponse {
            nodes: nodes.iter().map(node_to_proto).collect(),
        }))
    }

    async fn evict_node(
        &self,
        request: Request<proto::EvictNodeRequest>,
    ) -> Result<Response<proto::Node>, Status> {
        self.authorize(&request)?;
        let id = request.into_inner().spiffe_id;
        let id = SpiffeId::parse(&id)
            .map_err(|e| Status::invalid_argument(format!("spiffe_id {id:?}: {e}")))?;
        let evicted = self.shared.evict(id).await.map_err(status_of)?;
        Ok(Response::new(node_to_proto(&evicted)))
    }

    async fn get_bundle(
        &self,
        request: Request<proto::GetBundleRequest>,
    ) -> Result<Response<proto::Bundle>, Status> {
        self.authorize(&request)?;
        let (bundle, json) = self.shared.bundle.with_json();
        Ok(Response::new(proto::Bundle {
            trust_domain: bundle.trust_domain().to_string(),
            json: json.to_string(),
            sequence: bundle.sequence().unwrap_or(0),
        }))
    }

    async fn list_authorities(
        &self,
        request: Request<proto::ListAuthoritiesRequest>,
    ) -> Result<Response<proto::Authorities>, Status> {
        self.authorize(&request)?;
        Ok(Response::new(self.authorities()))
    }

    async fn rotate_authorities(
        &self,
        request: Request<proto::RotateAuthoritiesRequest>,
    ) -> Result<Response<proto::Authorities>, Status> {
        self.authorize(&request)?;
        let proto::RotateAuthoritiesRequest {
            x509,
            jwt,
            prepare_only,
        } = request.into_inner();
        tracing::info!(target: "spiffekit_server::audit", x509, jwt, prepare_only, "CA rotation requested");
        self.ca_operation(move |ca, now| {
            if !x509 && !jwt {
                return ca.rotate(now);
            }
            if prepare_only {
                if x509 {
                    ca.prepare_x509(now)?;
                }
                if jwt {
                    ca.prepare_jwt(now)?;
                }
                return Ok(());
            }
            if x509 {
                ca.force_rotate_x509(now)?;
            }
            if jwt {
                ca.force_rotate_jwt(now)?;
            }
            Ok(())
        })
        .await
    }

    async fn taint_authority(
        &self,
        request: Request<proto::TaintAuthorityRequest>,
    ) -> Result<Response<proto::Authorities>, Status> {
        self.authorize(&request)?;
        let kind = request.into_inner().kind();
        tracing::warn!(target: "spiffekit_server::audit", ?kind, "tainting the active authority");
        match kind {
            proto::AuthorityKind::X509 => {
                self.ca_operation(|ca, now| ca.taint_x509_authority(now))
                    .await
            }
            proto::AuthorityKind::Jwt => self.ca_operation(|ca, now| ca.taint_jwt_key(now)).await,
            proto::AuthorityKind::Unspecified => Err(Status::invalid_argument("kind: x509 or jwt")),
        }
    }

    async fn revoke_authority(
        &self,
        request: Request<proto::RevokeAuthorityRequest>,
    ) -> Result<Response<proto::Authorities>, Status> {
        self.authorize(&request)?;
        let id = request.into_inner().id;
        if id.is_empty() {
            return Err(Status::invalid_argument(
                "id: the authority's id, as `ca list` shows it",
            ));
        }
        tracing::warn!(target: "spiffekit_server::audit", %id, "revoking authority");
        self.ca_operation(move |ca, now| ca.revoke_authority(&id, now))
            .await
    }

    async fn health(
        &self,
        request: Request<proto::HealthRequest>,
    ) -> Result<Response<proto::HealthResponse>, Status> {
        self.authorize(&request)?;
        let reason = self.shared.readiness().err().unwrap_or_default();
        Ok(Response::new(proto::HealthResponse {
            ready: reason.is_empty(),
            reason: reason.to_owned(),
            trust_domain: self.shared.ca.trust_domain().to_string(),
        }))
    }

    async fn list_federation_relationships(
        &self,
        request: Request<proto::ListFederationRelationshipsRequest>,
    ) -> Result<Response<proto::FederationRelationships>, Status> {
        self.authorize(&request)?;
        super::federation::list(&self.shared).map(Response::new)
    }

    async fn reset_federation_sequence(
        &self,
        request: Request<proto::ResetFederationSequenceRequest>,
    ) -> Result<Response<proto::FederationRelationships>, Status> {
        self.authorize(&request)?;
        let trust_domain = request.into_inner().trust_domain;
        super::federation::reset_sequence(&self.shared, &trust_domain).map(Response::new)
    }
}
