//! /rooms: requesting an agent, the queue, and a room's lifecycle.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use livechat_proto::{json, v1 as pb};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{ApiResult, created};
use crate::AppState;
use crate::core_call::{Token, authed};
use crate::extract::{ClientIp, JsonBody, OptionalJson, QueryParams, RequestId};
use crate::problem::{ApiError, Problem};

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateRoomRequest {
    /// The visitor's name.
    pub name: String,
    pub email: Option<String>,
    /// The first question; stored as seq 1.
    pub message: Option<String>,
    /// Left through the widget's offline form (no agent online): the room
    /// waits in the queue for the offline_room_wait_secs workspace setting rather than
    /// expiring after room_idle_timeout_secs.
    #[serde(default)]
    pub offline_message: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreateRoomResponse {
    pub room: json::Room,
    /// Bearer token that opens this room (REST and WebSocket).
    pub visitor_token: String,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ListRoomsQuery {
    /// queued, engaged, closed or expired.
    pub status: Option<String>,
    /// Only the caller's rooms.
    pub mine: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RoomList {
    pub rooms: Vec<json::Room>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct CloseRequest {
    /// Closing text; the close_message setting when absent.
    pub message: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct TransferRequest {
    /// The agent who gets the room; absent: back to the queue.
    pub agent_id: Option<String>,
}

/// Request an agent: creates a queued room for a web visitor.
#[utoipa::path(post, path = "/rooms", tag = "rooms", request_body = CreateRoomRequest,
    responses((status = 201, body = CreateRoomResponse), (status = 422, body = Problem), (status = 429, body = Problem)))]
pub async fn create(
    State(s): State<AppState>,
    ClientIp(client): ClientIp,
    JsonBody(b): JsonBody<CreateRoomRequest>,
) -> ApiResult<(StatusCode, Json<CreateRoomResponse>)> {
    // Rooms per address are limited by the core, for every entry point.
    let req = pb::CreateRoomRequest {
        name: b.name,
        email: b.email,
        message: b.message,
        channel: pb::Channel::Web as i32,
        external_id: None,
        offline_message: b.offline_message,
    };
    let r = s.core.rooms().create_room(livechat_proto::client::from_client(req, client)).await?.into_inner();
    let room = r.room.ok_or_else(|| ApiError::internal("the core returned no room"))?;
    Ok(created(CreateRoomResponse { room: room.into(), visitor_token: r.visitor_token }))
}

/// Rooms an agent may see; without rooms.view_all, the queue and their own.
#[utoipa::path(get, path = "/rooms", tag = "rooms", params(ListRoomsQuery), security(("bearer" = [])),
    responses((status = 200, body = RoomList), (status = 401, body = Problem), (status = 422, body = Problem)))]
pub async fn list(
    State(s): State<AppState>,
    token: Token,
    rid: RequestId,
    QueryParams(q): QueryParams<ListRoomsQuery>,
) -> ApiResult<Json<RoomList>> {
    let status = match q.status.as_deref() {
        None | Some("") => pb::RoomStatus::Unspecified,
        Some(name) => json::status_from_name(name)
            .ok_or_else(|| ApiError::invalid("status", "must be queued, engaged, closed or expired"))?,
    };
    let req = pb::ListRoomsRequest { status: status as i32, mine: q.mine.unwrap_or(false) };
    let r = s.core.rooms().list_rooms(authed(req, &token, rid.0.as_deref())?).await?.into_inner();
    Ok(Json(RoomList { rooms: r.rooms.into_iter().map(json::Room::from).collect() }))
}

/// One room, for an agent with access or the room's visitor.
#[utoipa::path(get, path = "/rooms/{id}", tag = "rooms", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = json::Room), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get(
    State(s): State<AppState>,
    token: Token,
    rid: RequestId,
    Path(id): Path<String>,
) -> ApiResult<Json<json::Room>> {
    let req = authed(pb::GetRoomRequest { room_id: id }, &token, rid.0.as_deref())?;
    Ok(Json(s.core.rooms().get_room(req).await?.into_inner().into()))
}

/// The room's visitor beside the chat: email, whether they wrote while
/// nobody was online, their other rooms. Agents with access only.
#[utoipa::path(get, path = "/rooms/{id}/visitor", tag = "rooms", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = json::VisitorDetails), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn visitor(
    State(s): State<AppState>,
    token: Token,
    rid: RequestId,
    Path(id): Path<String>,
) -> ApiResult<Json<json::VisitorDetails>> {
    let req = authed(pb::GetRoomRequest { room_id: id }, &token, rid.0.as_deref())?;
    Ok(Json(s.core.rooms().get_visitor(req).await?.into_inner().into()))
}

/// Take a queued room; of many concurrent accepts exactly one wins.
#[utoipa::path(post, path = "/rooms/{id}/accept", tag = "rooms", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = json::Room), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn accept(
    State(s): State<AppState>,
    token: Token,
    rid: RequestId,
    Path(id): Path<String>,
) -> ApiResult<Json<json::Room>> {
    let req = authed(pb::RoomRequest { room_id: id }, &token, rid.0.as_deref())?;
    Ok(Json(s.core.rooms().accept_room(req).await?.into_inner().into()))
}

/// Leave a queued room to others; it is not offered to this agent again.
#[utoipa::path(post, path = "/rooms/{id}/decline", tag = "rooms", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 204), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn decline(
    State(s): State<AppState>,
    token: Token,
    rid: RequestId,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let req = authed(pb::RoomRequest { room_id: id }, &token, rid.0.as_deref())?;
    s.core.rooms().decline_room(req).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// End an engaged room (its agent, or rooms.manage_all).
#[utoipa::path(post, path = "/rooms/{id}/close", tag = "rooms", params(("id" = String, Path)), request_body(content = CloseRequest, description = "optional"),
    security(("bearer" = [])),
    responses((status = 200, body = json::Room), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn close(
    State(s): State<AppState>,
    token: Token,
    rid: RequestId,
    Path(id): Path<String>,
    OptionalJson(b): OptionalJson<CloseRequest>,
) -> ApiResult<Json<json::Room>> {
    let req = authed(pb::CloseRoomRequest { room_id: id, message: b.message }, &token, rid.0.as_deref())?;
    Ok(Json(s.core.rooms().close_room(req).await?.into_inner().into()))
}

/// Hand an engaged room to another agent, or back to the queue.
#[utoipa::path(post, path = "/rooms/{id}/transfer", tag = "rooms", params(("id" = String, Path)), request_body(content = TransferRequest, description = "optional"),
    security(("bearer" = [])),
    responses((status = 200, body = json::Room), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn transfer(
    State(s): State<AppState>,
    token: Token,
    rid: RequestId,
    Path(id): Path<String>,
    OptionalJson(b): OptionalJson<TransferRequest>,
) -> ApiResult<Json<json::Room>> {
    let req =
        authed(pb::TransferRoomRequest { room_id: id, agent_id: b.agent_id }, &token, rid.0.as_deref())?;
    Ok(Json(s.core.rooms().transfer_room(req).await?.into_inner().into()))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RateRequest {
    /// 1 (bad) to 5 (great).
    pub score: u32,
    pub comment: Option<String>,
}

/// The room's visitor rates it once it has ended; once.
#[utoipa::path(post, path = "/rooms/{id}/rating", tag = "ratings", params(("id" = String, Path)), request_body = RateRequest,
    security(("bearer" = [])),
    responses((status = 201, body = json::Rating), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn rate(
    State(s): State<AppState>,
    token: Token,
    rid: RequestId,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<RateRequest>,
) -> ApiResult<(StatusCode, Json<json::Rating>)> {
    let req = pb::RateRoomRequest { room_id: id, score: b.score, comment: b.comment };
    let r = s.core.rooms().rate_room(authed(req, &token, rid.0.as_deref())?).await?.into_inner();
    Ok(created(r.into()))
}

/// The room's rating, for its visitor and agents who may read the room.
#[utoipa::path(get, path = "/rooms/{id}/rating", tag = "ratings", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = json::Rating), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn rating(
    State(s): State<AppState>,
    token: Token,
    rid: RequestId,
    Path(id): Path<String>,
) -> ApiResult<Json<json::Rating>> {
    let req = authed(pb::GetRoomRequest { room_id: id }, &token, rid.0.as_deref())?;
    Ok(Json(s.core.rooms().get_rating(req).await?.into_inner().into()))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ReportQuery {
    /// The last this many days (1..366, default 30).
    pub days: Option<u32>,
}

/// Ratings by agent and by day, for supervisors (rooms.view_all).
#[utoipa::path(get, path = "/reports/ratings", tag = "ratings", params(ReportQuery), security(("bearer" = [])),
    responses((status = 200, body = json::RatingsReport), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn ratings_report(
    State(s): State<AppState>,
    token: Token,
    rid: RequestId,
    QueryParams(q): QueryParams<ReportQuery>,
) -> ApiResult<Json<json::RatingsReport>> {
    let req = authed(pb::RatingsReportRequest { days: q.days.unwrap_or(30) }, &token, rid.0.as_deref())?;
    Ok(Json(s.core.rooms().ratings_report(req).await?.into_inner().into()))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct PastQuery {
    /// Case-insensitive text in the visitor's name or email or any message.
    pub q: Option<String>,
    /// The `next` of the previous page.
    pub before: Option<String>,
    /// 1..200, default 50.
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PastRooms {
    /// Newest first.
    pub rooms: Vec<json::Room>,
    /// Pass as `before` for the next page; null on the last one.
    pub next: Option<String>,
}

/// Past conversations (closed and expired), newest first: every one with
/// rooms.view_all, else the caller's own.
#[utoipa::path(get, path = "/conversations", tag = "rooms", params(PastQuery), security(("bearer" = [])),
    responses((status = 200, body = PastRooms), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn past(
    State(s): State<AppState>,
    token: Token,
    rid: RequestId,
    QueryParams(q): QueryParams<PastQuery>,
) -> ApiResult<Json<PastRooms>> {
    let req = pb::SearchRoomsRequest { q: q.q, before: q.before, limit: q.limit };
    let r = s.core.rooms().search_rooms(authed(req, &token, rid.0.as_deref())?).await?.into_inner();
    Ok(Json(PastRooms { rooms: r.rooms.into_iter().map(json::Room::from).collect(), next: r.next }))
}
