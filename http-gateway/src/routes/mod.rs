//! The REST routes of docs/protocol.md, one file per resource. Each handler
//! turns JSON into one core call and the answer back into JSON; the core
//! decides every permission.

pub mod admin;
pub mod auth;
pub mod canned;
pub mod docs;
pub mod messages;
pub mod rooms;
pub mod team;
pub mod webhooks;

use axum::Json;
use axum::http::StatusCode;

use crate::problem::ApiError;

/// What every handler returns.
pub type ApiResult<T> = Result<T, ApiError>;

/// 201 Created with a JSON body.
pub fn created<T>(body: T) -> (StatusCode, Json<T>) {
    (StatusCode::CREATED, Json(body))
}
