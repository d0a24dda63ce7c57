//! /team, /presence and /availability: colleagues' presence and load, an
//! agent's own availability, and whether a visitor will find anyone.

use axum::Json;
use axum::extract::State;
use livechat_proto::{json, v1 as pb};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ApiResult;
use crate::AppState;
use crate::core_call::{Token, authed};
use crate::extract::{JsonBody, RequestId};
use crate::problem::Problem;

#[derive(Debug, Serialize, ToSchema)]
pub struct TeamList {
    /// Every enabled agent, by name.
    pub agents: Vec<json::TeamMember>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SetPresence {
    /// online, or away (keeps your rooms, offers you no new ones).
    pub status: json::ChosenStatus,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Availability {
    /// Whether an agent who takes rooms is online and not away.
    pub agents_online: bool,
}

/// Every colleague's presence and load, for any agent (no usernames).
#[utoipa::path(get, path = "/team", tag = "team", security(("bearer" = [])),
    responses((status = 200, body = TeamList), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list(State(s): State<AppState>, token: Token, rid: RequestId) -> ApiResult<Json<TeamList>> {
    let req = authed(pb::ListTeamRequest {}, &token, rid.0.as_deref())?;
    let r = s.core.team().list_team(req).await?.into_inner();
    Ok(Json(TeamList { agents: r.agents.into_iter().map(json::TeamMember::from).collect() }))
}

/// Sets the calling agent online or away; answers with their team entry.
#[utoipa::path(put, path = "/presence", tag = "team", request_body = SetPresence, security(("bearer" = [])),
    responses((status = 200, body = json::TeamMember), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn set(
    State(s): State<AppState>,
    token: Token,
    rid: RequestId,
    JsonBody(b): JsonBody<SetPresence>,
) -> ApiResult<Json<json::TeamMember>> {
    let status = pb::AgentStatus::from(b.status) as i32;
    let req = authed(pb::SetAvailabilityRequest { status }, &token, rid.0.as_deref())?;
    Ok(Json(s.core.team().set_availability(req).await?.into_inner().into()))
}

/// Whether anyone is there to answer, for the widget (no token).
#[utoipa::path(get, path = "/availability", tag = "team",
    responses((status = 200, body = Availability)))]
pub async fn availability(State(s): State<AppState>) -> ApiResult<Json<Availability>> {
    let r = s.core.team().get_availability(pb::GetAvailabilityRequest {}).await?.into_inner();
    Ok(Json(Availability { agents_online: r.agents_online }))
}
