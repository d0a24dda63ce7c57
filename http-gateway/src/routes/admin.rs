//! /settings, /agents and /groups.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use livechat_proto::{json, v1 as pb};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{ApiResult, created};
use crate::AppState;
use crate::core_call::{Token, authed};
use crate::extract::{JsonBody, RequestId};
use crate::problem::Problem;

/// Any subset of the settings; unknown keys are refused.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsUpdate {
    pub history_load_count: Option<u32>,
    pub room_idle_timeout_secs: Option<u64>,
    pub agent_grace_secs: Option<u64>,
    pub agent_join_message: Option<String>,
    pub agent_leave_message: Option<String>,
    pub close_message: Option<String>,
    pub max_message_chars: Option<u32>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateAgent {
    pub username: String,
    /// At least 8 characters.
    pub password: String,
    pub name: String,
    pub group: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PatchAgent {
    pub name: Option<String>,
    pub group: Option<String>,
    pub password: Option<String>,
    pub disabled: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AgentList {
    pub agents: Vec<json::Agent>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct GroupBody {
    pub name: String,
    pub permissions: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct GroupPermissions {
    /// Ignored when present: the name comes from the path.
    pub name: Option<String>,
    pub permissions: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GroupList {
    pub groups: Vec<json::Group>,
}

/// The settings (any agent may read them).
#[utoipa::path(get, path = "/settings", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = json::Settings), (status = 401, body = Problem)))]
pub async fn get_settings(
    State(s): State<AppState>,
    token: Token,
    rid: RequestId,
) -> ApiResult<Json<json::Settings>> {
    let r = s.core.admin().get_settings(authed(pb::GetSettingsRequest {}, &token, rid.0.as_deref())?).await?;
    Ok(Json(r.into_inner().into()))
}

/// Change any subset; if one key is bad nothing changes.
#[utoipa::path(put, path = "/settings", tag = "admin", request_body = SettingsUpdate, security(("bearer" = [])),
    responses((status = 200, body = json::Settings), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn put_settings(
    State(s): State<AppState>,
    token: Token,
    rid: RequestId,
    JsonBody(b): JsonBody<SettingsUpdate>,
) -> ApiResult<Json<json::Settings>> {
    let req = pb::UpdateSettingsRequest {
        history_load_count: b.history_load_count,
        room_idle_timeout_secs: b.room_idle_timeout_secs,
        agent_grace_secs: b.agent_grace_secs,
        agent_join_message: b.agent_join_message,
        agent_leave_message: b.agent_leave_message,
        close_message: b.close_message,
        max_message_chars: b.max_message_chars,
    };
    let r = s.core.admin().update_settings(authed(req, &token, rid.0.as_deref())?).await?;
    Ok(Json(r.into_inner().into()))
}

/// Every agent account.
#[utoipa::path(get, path = "/agents", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = AgentList), (status = 403, body = Problem)))]
pub async fn list_agents(
    State(s): State<AppState>,
    token: Token,
    rid: RequestId,
) -> ApiResult<Json<AgentList>> {
    let r = s.core.admin().list_agents(authed(pb::ListAgentsRequest {}, &token, rid.0.as_deref())?).await?;
    Ok(Json(AgentList { agents: r.into_inner().agents.into_iter().map(json::Agent::from).collect() }))
}

/// Create an agent account.
#[utoipa::path(post, path = "/agents", tag = "admin", request_body = CreateAgent, security(("bearer" = [])),
    responses((status = 201, body = json::Agent), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_agent(
    State(s): State<AppState>,
    token: Token,
    rid: RequestId,
    JsonBody(b): JsonBody<CreateAgent>,
) -> ApiResult<(StatusCode, Json<json::Agent>)> {
    let req =
        pb::CreateAgentRequest { username: b.username, password: b.password, name: b.name, group: b.group };
    let r = s.core.admin().create_agent(authed(req, &token, rid.0.as_deref())?).await?;
    Ok(created(r.into_inner().into()))
}

/// Change an agent's name, group, password or disabled flag.
#[utoipa::path(patch, path = "/agents/{id}", tag = "admin", params(("id" = String, Path)), request_body = PatchAgent,
    security(("bearer" = [])),
    responses((status = 200, body = json::Agent), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn patch_agent(
    State(s): State<AppState>,
    token: Token,
    rid: RequestId,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<PatchAgent>,
) -> ApiResult<Json<json::Agent>> {
    let req = pb::UpdateAgentRequest {
        id,
        name: b.name,
        group: b.group,
        password: b.password,
        disabled: b.disabled,
    };
    let r = s.core.admin().update_agent(authed(req, &token, rid.0.as_deref())?).await?;
    Ok(Json(r.into_inner().into()))
}

/// Delete an agent; their tokens stop working at once.
#[utoipa::path(delete, path = "/agents/{id}", tag = "admin", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn delete_agent(
    State(s): State<AppState>,
    token: Token,
    rid: RequestId,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    s.core.admin().delete_agent(authed(pb::DeleteAgentRequest { id }, &token, rid.0.as_deref())?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every permission group.
#[utoipa::path(get, path = "/groups", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = GroupList), (status = 403, body = Problem)))]
pub async fn list_groups(
    State(s): State<AppState>,
    token: Token,
    rid: RequestId,
) -> ApiResult<Json<GroupList>> {
    let r = s.core.admin().list_groups(authed(pb::ListGroupsRequest {}, &token, rid.0.as_deref())?).await?;
    Ok(Json(GroupList { groups: r.into_inner().groups.into_iter().map(json::Group::from).collect() }))
}

/// Create a permission group.
#[utoipa::path(post, path = "/groups", tag = "admin", request_body = GroupBody, security(("bearer" = [])),
    responses((status = 201, body = json::Group), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_group(
    State(s): State<AppState>,
    token: Token,
    rid: RequestId,
    JsonBody(b): JsonBody<GroupBody>,
) -> ApiResult<(StatusCode, Json<json::Group>)> {
    let req = pb::Group { name: b.name, permissions: b.permissions };
    let r = s.core.admin().create_group(authed(req, &token, rid.0.as_deref())?).await?;
    Ok(created(r.into_inner().into()))
}

/// Replace a group's permissions (the admin group cannot change).
#[utoipa::path(put, path = "/groups/{name}", tag = "admin", params(("name" = String, Path)), request_body = GroupPermissions,
    security(("bearer" = [])),
    responses((status = 200, body = json::Group), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn put_group(
    State(s): State<AppState>,
    token: Token,
    rid: RequestId,
    Path(name): Path<String>,
    JsonBody(b): JsonBody<GroupPermissions>,
) -> ApiResult<Json<json::Group>> {
    let req = pb::Group { name, permissions: b.permissions };
    let r = s.core.admin().update_group(authed(req, &token, rid.0.as_deref())?).await?;
    Ok(Json(r.into_inner().into()))
}

/// Any subset of the workspace settings; unknown keys are refused.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceUpdate {
    /// 60..7776000 seconds.
    pub offline_room_wait_secs: Option<u64>,
    /// Origins like https://shop.example.com; replaces the list.
    pub widget_allowed_origins: Option<Vec<String>>,
    /// Private networks webhooks may reach, like 10.0.0.0/8; replaces the list.
    pub webhook_allowed_networks: Option<Vec<String>>,
    /// 1..3650 days.
    pub audit_retention_days: Option<u32>,
    /// 0 (keep) or 1..36500 days.
    pub closed_room_retention_days: Option<u32>,
    /// manual or automatic.
    pub assignment_mode: Option<String>,
    /// 1..100 rooms per agent.
    pub agent_capacity: Option<u32>,
}

/// Workspace settings, beyond the v1 settings object (any agent may read them).
#[utoipa::path(get, path = "/workspace-settings", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = json::WorkspaceSettings), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn get_workspace_settings(
    State(s): State<AppState>,
    token: Token,
    rid: RequestId,
) -> ApiResult<Json<json::WorkspaceSettings>> {
    let req = authed(pb::GetWorkspaceSettingsRequest {}, &token, rid.0.as_deref())?;
    Ok(Json(s.core.admin().get_workspace_settings(req).await?.into_inner().into()))
}

/// Change any subset (settings.manage); if one key is bad nothing changes.
#[utoipa::path(put, path = "/workspace-settings", tag = "admin", request_body = WorkspaceUpdate, security(("bearer" = [])),
    responses((status = 200, body = json::WorkspaceSettings), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn put_workspace_settings(
    State(s): State<AppState>,
    token: Token,
    rid: RequestId,
    JsonBody(b): JsonBody<WorkspaceUpdate>,
) -> ApiResult<Json<json::WorkspaceSettings>> {
    let req = pb::UpdateWorkspaceSettingsRequest {
        offline_room_wait_secs: b.offline_room_wait_secs,
        widget_allowed_origins: b.widget_allowed_origins.map(|origins| pb::OriginList { origins }),
        webhook_allowed_networks: b.webhook_allowed_networks.map(|networks| pb::NetworkList { networks }),
        audit_retention_days: b.audit_retention_days,
        closed_room_retention_days: b.closed_room_retention_days,
        assignment_mode: b.assignment_mode,
        agent_capacity: b.agent_capacity,
    };
    let r = s.core.admin().update_workspace_settings(authed(req, &token, rid.0.as_deref())?).await?;
    Ok(Json(r.into_inner().into()))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct AuditQuery {
    /// Only this action (agent.created, login.failed, ...).
    pub action: Option<String>,
    /// Only what this agent did.
    pub actor_id: Option<String>,
    /// The `next` of the previous page.
    pub before: Option<String>,
    /// 1..200, default 50.
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    /// Newest first.
    pub entries: Vec<json::AuditEntry>,
    /// Pass as `before` for the next page; null on the last one.
    pub next: Option<String>,
}

/// The audit trail of administrative actions (settings.manage).
#[utoipa::path(get, path = "/audit", tag = "admin", params(AuditQuery), security(("bearer" = [])),
    responses((status = 200, body = AuditPage), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn audit(
    State(s): State<AppState>,
    token: Token,
    rid: RequestId,
    crate::extract::QueryParams(q): crate::extract::QueryParams<AuditQuery>,
) -> ApiResult<Json<AuditPage>> {
    let req = pb::ListAuditLogRequest {
        action: q.action.unwrap_or_default(),
        actor_id: q.actor_id.unwrap_or_default(),
        before: q.before.unwrap_or_default(),
        limit: q.limit.unwrap_or(0),
    };
    let r = s.core.admin().list_audit_log(authed(req, &token, rid.0.as_deref())?).await?.into_inner();
    Ok(Json(AuditPage {
        entries: r.entries.into_iter().map(json::AuditEntry::from).collect(),
        next: (!r.next.is_empty()).then_some(r.next),
    }))
}

/// Whom a data request is about: exactly one of `room_id`; `email`;
/// `channel` (telegram, messenger, wechat) with `external_id`.
#[derive(Debug, Deserialize, utoipa::IntoParams, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VisitorQuery {
    pub room_id: Option<String>,
    pub email: Option<String>,
    pub channel: Option<String>,
    pub external_id: Option<String>,
}

impl VisitorQuery {
    fn request(self) -> pb::VisitorDataRequest {
        pb::VisitorDataRequest {
            room_id: self.room_id.unwrap_or_default(),
            email: self.email.unwrap_or_default(),
            channel: self.channel.unwrap_or_default(),
            external_id: self.external_id.unwrap_or_default(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Erased {
    /// Rooms whose visitor data was erased (they stay, for reports).
    pub rooms: u64,
    /// Messages whose text was replaced.
    pub messages: u64,
}

/// Everything held about a visitor, as one JSON document (settings.manage
/// and rooms.view_all): their rooms with the visitor's details, every
/// message, the agents' notes and the rating.
#[utoipa::path(get, path = "/visitor-data", tag = "admin", params(VisitorQuery), security(("bearer" = [])),
    responses((status = 200, body = Object), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn export_visitor(
    State(s): State<AppState>,
    token: Token,
    rid: RequestId,
    crate::extract::QueryParams(q): crate::extract::QueryParams<VisitorQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    let r = s.core.admin().export_visitor_data(authed(q.request(), &token, rid.0.as_deref())?).await?;
    let document = serde_json::from_str(&r.into_inner().document_json)
        .map_err(|e| crate::problem::ApiError::internal(format!("the core's export does not parse: {e}")))?;
    Ok(Json(document))
}

/// Erase a visitor's data (settings.manage and rooms.view_all): names,
/// email, platform id and every text of their rooms are replaced; the
/// rooms and their counts stay. 409 while one of their rooms is open.
#[utoipa::path(post, path = "/visitor-data/erase", tag = "admin", request_body = VisitorQuery, security(("bearer" = [])),
    responses((status = 200, body = Erased), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn erase_visitor(
    State(s): State<AppState>,
    token: Token,
    rid: RequestId,
    JsonBody(b): JsonBody<VisitorQuery>,
) -> ApiResult<Json<Erased>> {
    let r =
        s.core.admin().erase_visitor_data(authed(b.request(), &token, rid.0.as_deref())?).await?.into_inner();
    Ok(Json(Erased { rooms: r.rooms, messages: r.messages }))
}

/// How many rooms automatic assignment may hand an agent at once.
#[derive(Debug, Serialize, ToSchema)]
pub struct Capacity {
    pub agent_id: String,
    /// The agent's own number; null: the workspace's agent_capacity.
    pub capacity: Option<u32>,
    /// The number in force.
    pub effective_capacity: u32,
}

impl From<pb::AgentCapacity> for Capacity {
    fn from(c: pb::AgentCapacity) -> Self {
        Self { agent_id: c.agent_id, capacity: c.capacity, effective_capacity: c.effective_capacity }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetCapacity {
    /// 1..100, or null for the workspace's agent_capacity.
    pub capacity: Option<u32>,
}

/// An agent's capacity for automatic assignment (agents.manage).
#[utoipa::path(get, path = "/agents/{id}/capacity", tag = "admin", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = Capacity), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get_capacity(
    State(s): State<AppState>,
    token: Token,
    rid: RequestId,
    Path(agent_id): Path<String>,
) -> ApiResult<Json<Capacity>> {
    let req = authed(pb::GetAgentCapacityRequest { agent_id }, &token, rid.0.as_deref())?;
    Ok(Json(s.core.admin().get_agent_capacity(req).await?.into_inner().into()))
}

/// Set an agent's capacity, or clear it (null) for the workspace's.
#[utoipa::path(put, path = "/agents/{id}/capacity", tag = "admin", params(("id" = String, Path)), request_body = SetCapacity,
    security(("bearer" = [])),
    responses((status = 200, body = Capacity), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn put_capacity(
    State(s): State<AppState>,
    token: Token,
    rid: RequestId,
    Path(agent_id): Path<String>,
    JsonBody(b): JsonBody<SetCapacity>,
) -> ApiResult<Json<Capacity>> {
    let req =
        authed(pb::SetAgentCapacityRequest { agent_id, capacity: b.capacity }, &token, rid.0.as_deref())?;
    Ok(Json(s.core.admin().set_agent_capacity(req).await?.into_inner().into()))
}
