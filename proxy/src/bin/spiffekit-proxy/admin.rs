//! `/live`, `/ready` and `/metrics` over HTTP/1 on `admin_address`.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use proxy::Readiness;

struct Admin {
    readiness: Readiness,
    metrics: PrometheusHandle,
}

/// Binds `addr` and serves until `shutdown`; returns the bound address and the task.
pub(crate) async fn start(
    addr: SocketAddr,
    readiness: Readiness,
    metrics: PrometheusHandle,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<std::io::Result<()>>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let router = Router::new()
        .route("/live", get(|| async { "live\n" }))
        .route("/ready", get(ready))
        .route("/metrics", get(render))
        .with_state(Arc::new(Admin { readiness, metrics }));
    let task = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(shutdown)
            .await
    });
    Ok((bound, task))
}

async fn ready(State(admin): State<Arc<Admin>>) -> (StatusCode, String) {
    match admin.readiness.check() {
        Ok(()) => (StatusCode::OK, "ready\n".to_owned()),
        Err(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {why}\n"),
        ),
    }
}

async fn render(State(admin): State<Arc<Admin>>) -> String {
    admin.metrics.render()
}
