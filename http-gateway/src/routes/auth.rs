//! POST /auth/login and /auth/refresh.

use axum::Json;
use axum::extract::State;
use livechat_proto::{json, v1 as pb};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ApiResult;
use crate::AppState;
use crate::core_call::{Token, authed};
use crate::extract::{ClientIp, JsonBody, RequestId};
use crate::problem::Problem;

#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    pub access_token: String,
    /// Always "Bearer".
    pub token_type: String,
    /// Seconds until the token expires.
    pub expires_in: u64,
    pub agent: json::Agent,
}

fn login_response(r: pb::LoginResponse) -> LoginResponse {
    LoginResponse {
        access_token: r.access_token,
        token_type: r.token_type,
        expires_in: r.expires_in,
        agent: r.agent.map(json::Agent::from).unwrap_or_else(|| json::Agent {
            id: String::new(),
            username: String::new(),
            name: String::new(),
            group: String::new(),
            disabled: false,
        }),
    }
}

/// Log in as an agent. Wrong password and unknown user get the same 401.
#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, body = Problem), (status = 429, body = Problem)))]
pub async fn login(
    State(s): State<AppState>,
    ClientIp(peer): ClientIp,
    JsonBody(body): JsonBody<LoginRequest>,
) -> ApiResult<Json<LoginResponse>> {
    if let Some(ip) = peer {
        s.limits.login_attempt(ip)?;
    }
    // Failed logins are throttled by the core, for every entry point.
    let req = pb::LoginRequest { username: body.username, password: body.password };
    let r = s.core.auth().login(livechat_proto::client::from_client(req, peer)).await?;
    Ok(Json(login_response(r.into_inner())))
}

/// A fresh token for a still-valid agent token.
#[utoipa::path(post, path = "/auth/refresh", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = LoginResponse), (status = 401, body = Problem)))]
pub async fn refresh(
    State(s): State<AppState>,
    token: Token,
    rid: RequestId,
) -> ApiResult<Json<LoginResponse>> {
    let r = s.core.auth().refresh(authed(pb::RefreshRequest {}, &token, rid.0.as_deref())?).await?;
    Ok(Json(login_response(r.into_inner())))
}
