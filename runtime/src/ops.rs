//! The operator routes every livechat HTTP process serves: `/healthz`
//! (alive), `/readyz` (its dependencies answer) and `/metrics`
//! (Prometheus text). What "ready" means is the process's own
//! `Readiness`: the core serving for a gateway, the broker for an adapter.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use futures::future::BoxFuture;
use livechat_proto::client::CoreClient;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use crate::problem::ApiError;

/// How long `/readyz` waits for a dependency before it says no.
pub const READINESS_TIMEOUT: Duration = Duration::from_secs(2);

/// Whether this process can do its work right now; `Err` says why not.
pub trait Readiness: Send + Sync {
    /// Asked on every `/readyz`; answers within `READINESS_TIMEOUT`.
    fn check(&self) -> BoxFuture<'_, Result<(), String>>;
}

/// A gateway is ready while a core answers its health check as serving
/// (and the core serves only while its database answers).
#[derive(Debug, Clone)]
pub struct CoreReadiness(pub CoreClient);

impl Readiness for CoreReadiness {
    fn check(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            let mut health = HealthClient::new(self.0.transport());
            let check = health.check(HealthCheckRequest { service: String::new() });
            match tokio::time::timeout(READINESS_TIMEOUT, check).await {
                Ok(Ok(r)) if r.get_ref().status == ServingStatus::Serving as i32 => Ok(()),
                Ok(Ok(_)) => Err("the core is not serving (database down?)".into()),
                Ok(Err(e)) => Err(format!("the core is unreachable: {}", e.message())),
                Err(_) => Err("the core did not answer in time".into()),
            }
        })
    }
}

/// What the operator routes need. Cheap to clone; a router whose state
/// holds one reaches it through `FromRef`.
#[derive(Clone)]
pub struct OpsState {
    /// What `/readyz` asks.
    pub readiness: Arc<dyn Readiness>,
    /// What `/metrics` renders: the process-wide recorder.
    pub metrics: PrometheusHandle,
    /// Set on SIGTERM: `/readyz` says no from then on.
    pub draining: crate::drain::Draining,
}

impl std::fmt::Debug for OpsState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpsState").finish_non_exhaustive()
    }
}

impl OpsState {
    /// Installs the process's Prometheus recorder if none is yet.
    pub fn new(readiness: impl Readiness + 'static) -> Self {
        Self { readiness: Arc::new(readiness), metrics: metrics_handle(), draining: Default::default() }
    }
}

/// The process-wide Prometheus recorder (the `metrics` facade has one).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Another component may have installed one first; keep going.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "alive")))]
pub async fn healthz() -> &'static str {
    "ok"
}

/// The process's dependencies answer (for a gateway: a core reports
/// itself, and so its database, serving).
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, description = "ready"), (status = 503, body = crate::problem::Problem)))]
pub async fn readyz(State(s): State<OpsState>) -> Result<&'static str, ApiError> {
    if s.draining.is_draining() {
        return Err(ApiError::unavailable("shutting down"));
    }
    s.readiness.check().await.map(|()| "ready").map_err(ApiError::unavailable)
}

/// Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, description = "Prometheus text")))]
pub async fn metrics(State(s): State<OpsState>) -> impl IntoResponse {
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; version=0.0.4")], s.metrics.render())
}

/// Just /healthz, /readyz and /metrics, for a process that documents no
/// REST API of its own (the standalone ws-gateway, the adapters).
pub fn router<S>(ops: OpsState) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    router_with(ops, true)
}

/// As `router`, with `/metrics` only when `with_metrics` (false when
/// `LIVECHAT_METRICS_LISTEN` serves it elsewhere).
pub fn router_with<S>(ops: OpsState, with_metrics: bool) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let probes = Router::new()
        .route("/healthz", axum::routing::get(healthz))
        .route("/readyz", axum::routing::get(readyz));
    let probes = if with_metrics { probes.route("/metrics", axum::routing::get(metrics)) } else { probes };
    probes.with_state(ops)
}

/// `/metrics` alone, for `LIVECHAT_METRICS_LISTEN`.
pub fn metrics_router(handle: PrometheusHandle) -> Router {
    let render = move || {
        let handle = handle.clone();
        async move { (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; version=0.0.4")], handle.render()) }
    };
    Router::new().route("/metrics", axum::routing::get(render))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    struct Fixed(Result<(), String>);

    impl Readiness for Fixed {
        fn check(&self) -> BoxFuture<'_, Result<(), String>> {
            Box::pin(async move { self.0.clone() })
        }
    }

    async fn get(ops: OpsState, path: &str) -> (StatusCode, String) {
        let res = router::<()>(ops).oneshot(Request::get(path).body(Body::empty()).unwrap()).await.unwrap();
        let status = res.status();
        let body = axum::body::to_bytes(res.into_body(), 1 << 20).await.unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn readiness_follows_the_check_and_says_why_not() {
        assert_eq!(get(OpsState::new(Fixed(Ok(()))), "/readyz").await, (StatusCode::OK, "ready".into()));
        let (status, body) = get(OpsState::new(Fixed(Err("the broker is down".into()))), "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body.contains("\"code\":\"unavailable\"") && body.contains("the broker is down"), "{body}");
    }

    #[tokio::test]
    async fn a_draining_process_is_not_ready_though_its_dependencies_are() {
        let ops = OpsState::new(Fixed(Ok(())));
        ops.draining.begin();
        let (status, body) = get(ops.clone(), "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body.contains("shutting down"), "{body}");
        assert_eq!(get(ops, "/healthz").await, (StatusCode::OK, "ok".into()));
    }

    #[tokio::test]
    async fn liveness_does_not_depend_on_readiness() {
        let down = OpsState::new(Fixed(Err("down".into())));
        assert_eq!(get(down, "/healthz").await, (StatusCode::OK, "ok".into()));
    }
}
