//! The `AgentAdmin` gRPC service: who may call it (peer uid over the admin socket), and each
//! call mapped onto the catalog and the CA. CA operations sign and generate keys, so they run
//! on blocking threads.

use std::sync::Arc;
use std::time::SystemTime;

use ca::{AuthorityKind, CertificateAuthority};
use tonic::transport::server::UdsConnectInfo;
use tonic::{Request, Response, Status};

use crate::admin::catalog::{Catalog, CatalogError, Cataloged};
use crate::admin::convert::{authority_to_proto, entry_from_proto, entry_to_proto};
use crate::admin::federation;
use crate::admin::proto::{self, agent_admin_server::AgentAdmin};
use crate::agent_core::AgentCore;
use crate::health::Readiness;

/// The service over one agent.
pub(crate) struct AdminService {
    agent: Arc<AgentCore>,
    catalog: Arc<Catalog>,
    allowed_uids: Vec<u32>,
}

impl AdminService {
    pub(crate) fn new(
        agent: Arc<AgentCore>,
        catalog: Arc<Catalog>,
        allowed_uids: Vec<u32>,
    ) -> Self {
        Self {
            agent,
            catalog,
            allowed_uids,
        }
    }

    /// Admits callers whose uid (from the kernel, over the Unix socket) is allowed.
    fn authorize<T>(&self, request: &Request<T>) -> Result<(), Status> {
        let uid = request
            .extensions()
            .get::<UdsConnectInfo>()
            .and_then(|info| info.peer_cred)
            .map(|cred| cred.uid());
        match uid {
            Some(uid) if self.allowed_uids.contains(&uid) => Ok(()),
            Some(uid) => {
                tracing::warn!(uid, "admin call refused");
                Err(Status::permission_denied(format!(
                    "uid {uid} may not administer this agent (allowed: {:?}); run as an allowed user or add it to admin_allowed_uids",
                    self.allowed_uids
                )))
            }
            None => Err(Status::permission_denied(
                "the caller's credentials are unknown; the admin API is served on a Unix socket only",
            )),
        }
    }

    /// The agent's own CA; an agent in upstream mode has none (its server holds the keys).
    fn ca(&self) -> Result<CertificateAuthority, Status> {
        self.agent.issuer.ca().cloned().ok_or_else(|| {
            Status::failed_precondition(
                "this agent takes its identities from a server: manage the CA on the server",
            )
        })
    }

    /// Runs a CA operation on a blocking thread, then lists the authorities.
    async fn ca_operation(
        &self,
        operation: impl FnOnce(&CertificateAuthority, SystemTime) -> Result<(), ca::Error>
        + Send
        + 'static,
    ) -> Result<Response<proto::Authorities>, Status> {
        let ca = self.ca()?;
        tokio::task::spawn_blocking(move || operation(&ca, SystemTime::now()))
            .await
            .map_err(|_| Status::internal("the CA operation did not complete"))?
            .map_err(ca_status)?;
        Ok(Response::new(self.authorities()?))
    }

    fn authorities(&self) -> Result<proto::Authorities, Status> {
        let snapshot = self.ca()?.snapshot();
        Ok(proto::Authorities {
            authorities: snapshot
                .authorities()
                .iter()
                .map(authority_to_proto)
                .collect(),
            bundle_sequence: snapshot.sequence(),
        })
    }
}

fn catalog_status(error: CatalogError) -> Status {
    match error {
        CatalogError::NotFound(id) => Status::not_found(format!("no entry {id:?}")),
        CatalogError::Duplicate(id) => Status::already_exists(format!(
            "entry {id} already registers this SPIFFE ID with this parent and these selectors"
        )),
        CatalogError::StaleRevision { id, current } => Status::failed_precondition(format!(
            "entry {id} changed since it was read (now at revision {current}); read it again and retry"
        )),
        CatalogError::FromConfig(id) => Status::failed_precondition(format!(
            "entry {id} is declared in the agent's config file; change it there and restart"
        )),
        CatalogError::Agent(error) => match error {
            crate::Error::Entry(e) => Status::invalid_argument(e.to_string()),
            other => Status::internal(other.to_string()),
        },
    }
}

fn ca_status(error: ca::Error) -> Status {
    match error {
        ca::Error::InvalidRequest { reason } => Status::failed_precondition(reason),
        other => Status::internal(format!("the CA failed: {other}")),
    }
}

fn invalid(error: crate::admin::convert::Invalid) -> Status {
    Status::invalid_argument(format!("{}: {}", error.field, error.message))
}

fn reply(cataloged: &Cataloged) -> Response<proto::Entry> {
    Response::new(entry_to_proto(cataloged))
}

#[tonic::async_trait]
impl AgentAdmin for AdminService {
    async fn create_entry(
        &self,
        request: Request<proto::CreateEntryRequest>,
    ) -> Result<Response<proto::Entry>, Status> {
        self.authorize(&request)?;
        let message = request.into_inner().entry.unwrap_or_default();
        if !message.id.is_empty() {
            return Err(Status::invalid_argument(
                "id: the agent assigns entry ids; leave it empty",
            ));
        }
        let (entry, parent) =
            entry_from_proto(&message, &self.agent.trust_domain).map_err(invalid)?;
        let created = self
            .catalog
            .create(entry, parent)
            .await
            .map_err(catalog_status)?;
        tracing::info!(id = %created.id, spiffe_id = %created.entry.spiffe_id(), "entry created");
        Ok(reply(&created))
    }

    async fn list_entries(
        &self,
        request: Request<proto::ListEntriesRequest>,
    ) -> Result<Response<proto::ListEntriesResponse>, Status> {
        self.authorize(&request)?;
        let filter = request.into_inner().spiffe_id;
        let entries = self
            .catalog
            .list()
            .await
            .iter()
            .filter(|c| filter.is_empty() || c.entry.spiffe_id().as_str() == filter)
            .map(entry_to_proto)
            .collect();
        Ok(Response::new(proto::ListEntriesResponse { entries }))
    }

    async fn get_entry(
        &self,
        request: Request<proto::GetEntryRequest>,
    ) -> Result<Response<proto::Entry>, Status> {
        self.authorize(&request)?;
        let id = request.into_inner().id;
        let found = self
            .catalog
            .get(&id)
            .await
            .ok_or_else(|| Status::not_found(format!("no entry {id:?}")))?;
        Ok(reply(&found))
    }

    async fn update_entry(
        &self,
        request: Request<proto::UpdateEntryRequest>,
    ) -> Result<Response<proto::Entry>, Status> {
        self.authorize(&request)?;
        let message = request.into_inner().entry.unwrap_or_default();
        let (entry, parent) =
            entry_from_proto(&message, &self.agent.trust_domain).map_err(invalid)?;
        let updated = self
            .catalog
            .update(&message.id, message.revision, entry, parent)
            .await
            .map_err(catalog_status)?;
        tracing::info!(id = %updated.id, revision = updated.revision, "entry updated");
        Ok(reply(&updated))
    }

    async fn delete_entry(
        &self,
        request: Request<proto::DeleteEntryRequest>,
    ) -> Result<Response<proto::Entry>, Status> {
        self.authorize(&request)?;
        let id = request.into_inner().id;
        let deleted = self.catalog.delete(&id).await.map_err(catalog_status)?;
        tracing::info!(id = %deleted.id, "entry deleted");
        Ok(reply(&deleted))
    }

    async fn get_bundle(
        &self,
        request: Request<proto::GetBundleRequest>,
    ) -> Result<Response<proto::Bundle>, Status> {
        self.authorize(&request)?;
        let bundle = self.agent.issuer.bundle();
        Ok(Response::new(proto::Bundle {
            trust_domain: bundle.trust_domain().to_string(),
            json: bundle.to_json(),
            sequence: bundle.sequence().unwrap_or_default(),
        }))
    }

    async fn list_authorities(
        &self,
        request: Request<proto::ListAuthoritiesRequest>,
    ) -> Result<Response<proto::Authorities>, Status> {
        self.authorize(&request)?;
        Ok(Response::new(self.authorities()?))
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
        tracing::info!(x509, jwt, prepare_only, "CA rotation requested");
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
        let kind = match request.into_inner().kind() {
            proto::AuthorityKind::X509 => AuthorityKind::X509,
            proto::AuthorityKind::Jwt => AuthorityKind::Jwt,
            proto::AuthorityKind::Unspecified => {
                return Err(Status::invalid_argument("kind: x509 or jwt"));
            }
        };
        tracing::warn!(?kind, "tainting the active authority");
        self.ca_operation(move |ca, now| match kind {
            AuthorityKind::Jwt => ca.taint_jwt_key(now),
            _ => ca.taint_x509_authority(now),
        })
        .await
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
        tracing::warn!(%id, "revoking authority");
        self.ca_operation(move |ca, now| ca.revoke_authority(&id, now))
            .await
    }

    async fn health(
        &self,
        request: Request<proto::HealthRequest>,
    ) -> Result<Response<proto::HealthResponse>, Status> {
        self.authorize(&request)?;
        let ready = Readiness::new(Arc::clone(&self.agent)).check(SystemTime::now());
        let (entries, open_streams) = {
            let state = self.agent.state.lock();
            (state.registry.iter().count(), state.stream_counts().1)
        };
        Ok(Response::new(proto::HealthResponse {
            ready: ready.is_ok(),
            reason: ready.err().unwrap_or_default().to_owned(),
            trust_domain: self.agent.trust_domain.to_string(),
            entries: u64::try_from(entries).unwrap_or(u64::MAX),
            open_streams: u64::try_from(open_streams).unwrap_or(u64::MAX),
        }))
    }

    async fn list_federation_relationships(
        &self,
        request: Request<proto::ListFederationRelationshipsRequest>,
    ) -> Result<Response<proto::FederationRelationships>, Status> {
        self.authorize(&request)?;
        federation::list(&self.agent).map(Response::new)
    }

    async fn reset_federation_sequence(
        &self,
        request: Request<proto::ResetFederationSequenceRequest>,
    ) -> Result<Response<proto::FederationRelationships>, Status> {
        self.authorize(&request)?;
        let trust_domain = request.into_inner().trust_domain;
        federation::reset_sequence(&self.agent, &trust_domain).map(Response::new)
    }
}
