//! The API's description of itself. (The operator routes, `/healthz`,
//! `/readyz` and `/metrics`, are `livechat_runtime::ops`, shared with every
//! process.)

use axum::extract::State;

use crate::AppState;

/// This document: the OpenAPI 3.1 description of the REST API.
#[utoipa::path(get, path = "/openapi.json", tag = "operations", responses((status = 200, description = "OpenAPI 3.1 document")))]
pub async fn openapi_json(State(s): State<AppState>) -> axum::Json<serde_json::Value> {
    axum::Json(s.openapi.get().cloned().unwrap_or_default())
}
