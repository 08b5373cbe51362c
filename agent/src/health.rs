//! `/live`, `/ready` and `/metrics` over HTTP/1, for orchestrators and Prometheus.
//!
//! - `/live`: 200 while the process serves HTTP at all.
//! - `/ready`: 200 when the agent can hand out identities: it is not shutting down, every
//!   registration entry has its first X509-SVID, and the CA has an active X.509 authority
//!   valid now; otherwise 503 with the reason in the body.
//! - `/metrics`: the Prometheus text of the recorder given to [`HealthServer::new`] (404
//!   without one). See [`crate::metrics`] for what is counted.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use ca::{AuthorityKind, AuthorityStatus};
use metrics_exporter_prometheus::PrometheusHandle;

use crate::agent_core::AgentCore;
use crate::error::Error;

/// Tells whether an agent is ready; from [`AgentHandle::readiness`](crate::AgentHandle::readiness).
#[derive(Clone)]
pub struct Readiness {
    agent: Arc<AgentCore>,
}

impl std::fmt::Debug for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readiness").finish_non_exhaustive()
    }
}

impl Readiness {
    pub(crate) fn new(agent: Arc<AgentCore>) -> Self {
        Self { agent }
    }

    /// `Ok` when ready, otherwise why not.
    ///
    /// # Errors
    /// A sentence saying what is missing.
    pub fn check(&self, now: SystemTime) -> Result<(), &'static str> {
        {
            let state = self.agent.state.lock();
            if state.is_closed() {
                return Err("shutting down");
            }
            if *state.unminted().borrow() > 0 {
                return Err("registration entries still wait for their first X509-SVID");
            }
        }
        let ca = match &self.agent.issuer {
            crate::issuer::Issuer::Ca(ca) => ca,
            crate::issuer::Issuer::Upstream(upstream) => return upstream.check(now),
        };
        let snapshot = ca.snapshot();
        let active = snapshot.authorities().iter().any(|authority| {
            authority.kind == AuthorityKind::X509
                && authority.status == AuthorityStatus::Active
                && authority.not_before <= now
                && now < authority.not_after
        });
        if active {
            Ok(())
        } else {
            Err("the CA has no X.509 authority valid now")
        }
    }
}

/// The health and metrics endpoint of an agent.
#[derive(Clone, Debug)]
pub struct HealthServer {
    readiness: Readiness,
    metrics: Option<PrometheusHandle>,
}

impl HealthServer {
    /// Serves `readiness`, and the text of `metrics` when given.
    pub fn new(readiness: Readiness, metrics: Option<PrometheusHandle>) -> Self {
        Self { readiness, metrics }
    }

    /// Serves on `addr` until `shutdown` completes. Returns the bound address through
    /// `on_bound` before serving (port 0 picks a free port).
    ///
    /// # Errors
    /// [`Error::Io`] when the address cannot be bound.
    pub async fn serve(
        self,
        addr: SocketAddr,
        on_bound: impl FnOnce(SocketAddr),
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), Error> {
        let context = |what: &str, error: std::io::Error| {
            Error::Io(std::io::Error::new(
                error.kind(),
                format!("{what} {addr}: {error}"),
            ))
        };
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| context("binding the health address", e))?;
        let bound = listener
            .local_addr()
            .map_err(|e| context("reading the health address", e))?;
        on_bound(bound);
        let router = Router::new()
            .route("/live", get(|| async { "live\n" }))
            .route("/ready", get(ready))
            .route("/metrics", get(metrics))
            .with_state(Arc::new(self));
        axum::serve(listener, router)
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(|e| context("serving the health endpoint on", e))
    }
}

async fn ready(State(server): State<Arc<HealthServer>>) -> (StatusCode, String) {
    match server.readiness.check(SystemTime::now()) {
        Ok(()) => (StatusCode::OK, "ready\n".to_owned()),
        Err(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {why}\n"),
        ),
    }
}

async fn metrics(State(server): State<Arc<HealthServer>>) -> (StatusCode, String) {
    match &server.metrics {
        Some(handle) => (StatusCode::OK, handle.render()),
        None => (StatusCode::NOT_FOUND, "no metrics recorder\n".to_owned()),
    }
}
