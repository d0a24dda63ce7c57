//! Operator endpoints: liveness, readiness, Prometheus metrics.

use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use crate::AppState;
use crate::problem::ApiError;

/// This document: the OpenAPI 3.1 description of the REST API.
#[utoipa::path(get, path = "/openapi.json", tag = "operations", responses((status = 200, description = "OpenAPI 3.1 document")))]
pub async fn openapi_json(State(s): State<AppState>) -> axum::Json<serde_json::Value> {
    axum::Json(s.openapi.get().cloned().unwrap_or_default())
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "alive")))]
pub async fn healthz() -> &'static str {
    "ok"
}

/// The core answers and reports itself (and so its database) serving.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, description = "ready"), (status = 503, body = crate::problem::Problem)))]
pub async fn readyz(State(s): State<AppState>) -> Result<&'static str, ApiError> {
    let mut health = HealthClient::new(s.core.transport());
    let check = health.check(HealthCheckRequest { service: String::new() });
    match tokio::time::timeout(Duration::from_secs(2), check).await {
        Ok(Ok(r)) if r.get_ref().status == ServingStatus::Serving as i32 => Ok("ready"),
        Ok(Ok(_)) => Err(ApiError::unavailable("the core is not serving (database down?)")),
        Ok(Err(e)) => Err(ApiError::unavailable(format!("the core is unreachable: {}", e.message()))),
        Err(_) => Err(ApiError::unavailable("the core did not answer in time")),
    }
}

/// Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, description = "Prometheus text")))]
pub async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; version=0.0.4")], s.metrics.render())
}
