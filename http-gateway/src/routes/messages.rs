//! /rooms/{id}/messages: history pages and sending.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use livechat_proto::{json, v1 as pb};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{ApiResult, created};
use crate::AppState;
use crate::core_call::{Token, authed};
use crate::extract::{JsonBody, QueryParams, RequestId};
use crate::problem::{ApiError, Problem};

#[derive(Debug, Deserialize, IntoParams)]
pub struct HistoryQuery {
    /// Only messages older than this seq.
    pub before_seq: Option<u64>,
    /// Only messages newer than this seq (oldest first from there).
    pub after_seq: Option<u64>,
    /// 1..500; the history_load_count setting when absent.
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessagePage {
    /// Always oldest first.
    pub messages: Vec<json::Message>,
    /// More exist in the paging direction.
    pub has_more: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SendRequest {
    pub content: String,
    /// Idempotency key (at most 64 characters).
    pub client_id: Option<String>,
}

/// A page of history, oldest first.
#[utoipa::path(get, path = "/rooms/{id}/messages", tag = "messages", params(("id" = String, Path), HistoryQuery),
    security(("bearer" = [])),
    responses((status = 200, body = MessagePage), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn history(
    State(s): State<AppState>,
    token: Token,
    rid: RequestId,
    Path(id): Path<String>,
    QueryParams(q): QueryParams<HistoryQuery>,
) -> ApiResult<Json<MessagePage>> {
    let req = pb::ListMessagesRequest {
        room_id: id,
        before_seq: q.before_seq,
        after_seq: q.after_seq,
        limit: q.limit,
    };
    let r = s.core.messages().list_messages(authed(req, &token, rid.0.as_deref())?).await?.into_inner();
    Ok(Json(MessagePage {
        messages: r.messages.into_iter().map(json::Message::from).collect(),
        has_more: r.has_more,
    }))
}

/// Send a message: 201 when stored, 200 with the stored one on a repeated client_id.
#[utoipa::path(post, path = "/rooms/{id}/messages", tag = "messages", params(("id" = String, Path)), request_body = SendRequest,
    security(("bearer" = [])),
    responses((status = 201, body = json::Message), (status = 200, body = json::Message), (status = 403, body = Problem),
        (status = 409, body = Problem), (status = 413, body = Problem), (status = 422, body = Problem)))]
pub async fn send(
    State(s): State<AppState>,
    token: Token,
    rid: RequestId,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<SendRequest>,
) -> ApiResult<(StatusCode, Json<json::Message>)> {
    let req = pb::SendMessageRequest { room_id: id, content: b.content, client_id: b.client_id };
    let r = s.core.messages().send_message(authed(req, &token, rid.0.as_deref())?).await?.into_inner();
    let message = r.message.ok_or_else(|| ApiError::internal("the core returned no message"))?;
    let status = if r.created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(message.into())))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NoteRequest {
    pub content: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NoteList {
    /// Oldest first.
    pub notes: Vec<json::Note>,
}

/// The room's private notes, for agents who may read the room.
#[utoipa::path(get, path = "/rooms/{id}/notes", tag = "messages", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = NoteList), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn notes(
    State(s): State<AppState>,
    token: Token,
    rid: RequestId,
    Path(id): Path<String>,
) -> ApiResult<Json<NoteList>> {
    let req = authed(pb::ListNotesRequest { room_id: id }, &token, rid.0.as_deref())?;
    let r = s.core.messages().list_notes(req).await?.into_inner();
    Ok(Json(NoteList { notes: r.notes.into_iter().map(json::Note::from).collect() }))
}

/// A private note: agents who may read the room see it; the visitor and
/// their messenger never do.
#[utoipa::path(post, path = "/rooms/{id}/notes", tag = "messages", params(("id" = String, Path)), request_body = NoteRequest,
    security(("bearer" = [])),
    responses((status = 201, body = json::Note), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 413, body = Problem), (status = 422, body = Problem)))]
pub async fn add_note(
    State(s): State<AppState>,
    token: Token,
    rid: RequestId,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<NoteRequest>,
) -> ApiResult<(StatusCode, Json<json::Note>)> {
    let req = authed(pb::AddNoteRequest { room_id: id, content: b.content }, &token, rid.0.as_deref())?;
    let note = s.core.messages().add_note(req).await?.into_inner();
    Ok(created(note.into()))
}
