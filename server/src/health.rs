//! `/live`, `/ready` and `/metrics` over HTTP/1, for orchestrators and Prometheus.
//!
//! - `/live`: 200 while the process serves HTTP at all.
//! - `/ready`: 200 when [`Server::readiness`](crate::Server::readiness) is `Ok` (the CA has an
//!   X.509 authority valid now, the store answered the last refresh); otherwise 503 with the
//!   reason.
//! - `/metrics`: the Prometheus text of the recorder given (404 without one); see
//!   [`crate::metrics`].

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::node_service::Shared;

struct Health {
    shared: Arc<Shared>,
    metrics: Option<PrometheusHandle>,
}

/// Binds `address` and serves until `shutdown` completes; returns the bound address first.
pub(crate) async fn serve(
    shared: Arc<Shared>,
    metrics: Option<PrometheusHandle>,
    address: SocketAddr,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<std::io::Result<()>>)> {
    let listener = tokio::net::TcpListener::bind(address).await?;
    let bound = listener.local_addr()?;
    let router = Router::new()
        .route("/live", get(|| async { "live\n" }))
        .route("/ready", get(ready))
        .route("/metrics", get(render))
        .with_state(Arc::new(Health { shared, metrics }));
    let task = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(shutdown)
            .await
    });
    Ok((bound, task))
}

async fn ready(State(health): State<Arc<Health>>) -> (StatusCode, String) {
    match health.shared.readiness() {
        Ok(()) => (StatusCode::OK, "ready\n".to_owned()),
        Err(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {why}\n"),
        ),
    }
}

async fn render(State(health): State<Arc<Health>>) -> (StatusCode, String) {
    match &health.metrics {
        Some(handle) => (StatusCode::OK, handle.render()),
        None => (StatusCode::NOT_FOUND, "no metrics recorder\n".to_owned()),
    }
}
