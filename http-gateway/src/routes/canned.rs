//! /canned-responses: an agent's own and the shared ones.

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
use crate::problem::Problem;

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Personal,
    Shared,
}

fn scope(s: Option<Scope>) -> i32 {
    match s {
        None => pb::CannedScope::Unspecified as i32,
        Some(Scope::Personal) => pb::CannedScope::Personal as i32,
        Some(Scope::Shared) => pb::CannedScope::Shared as i32,
    }
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct SearchQuery {
    /// Case-insensitive search in shortcut, title and body.
    pub q: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CannedList {
    pub canned_responses: Vec<json::CannedResponse>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateCanned {
    pub shortcut: String,
    pub title: String,
    pub body: String,
    /// personal (default) or shared (needs canned.manage_shared).
    pub scope: Option<Scope>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateCanned {
    pub shortcut: Option<String>,
    pub title: Option<String>,
    pub body: Option<String>,
    pub scope: Option<Scope>,
}

/// The caller's personal responses plus the shared ones.
#[utoipa::path(get, path = "/canned-responses", tag = "canned responses", params(SearchQuery), security(("bearer" = [])),
    responses((status = 200, body = CannedList), (status = 401, body = Problem)))]
pub async fn list(
    State(s): State<AppState>,
    token: Token,
    rid: RequestId,
    QueryParams(q): QueryParams<SearchQuery>,
) -> ApiResult<Json<CannedList>> {
    let req = authed(pb::ListCannedResponsesRequest { q: q.q }, &token, rid.0.as_deref())?;
    let r = s.core.canned().list_canned_responses(req).await?.into_inner();
    Ok(Json(CannedList {
        canned_responses: r.canned_responses.into_iter().map(json::CannedResponse::from).collect(),
    }))
}

/// Create one; the shortcut is unique per owner.
#[utoipa::path(post, path = "/canned-responses", tag = "canned responses", request_body = CreateCanned, security(("bearer" = [])),
    responses((status = 201, body = json::CannedResponse), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create(
    State(s): State<AppState>,
    token: Token,
    rid: RequestId,
    JsonBody(b): JsonBody<CreateCanned>,
) -> ApiResult<(StatusCode, Json<json::CannedResponse>)> {
    let req = pb::CreateCannedResponseRequest {
        shortcut: b.shortcut,
        title: b.title,
        body: b.body,
        scope: scope(b.scope),
    };
    let r = s.core.canned().create_canned_response(authed(req, &token, rid.0.as_deref())?).await?;
    Ok(created(r.into_inner().into()))
}

/// Change one (its owner; shared ones need canned.manage_shared).
#[utoipa::path(put, path = "/canned-responses/{id}", tag = "canned responses", params(("id" = String, Path)), request_body = UpdateCanned,
    security(("bearer" = [])),
    responses((status = 200, body = json::CannedResponse), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn update(
    State(s): State<AppState>,
    token: Token,
    rid: RequestId,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<UpdateCanned>,
) -> ApiResult<Json<json::CannedResponse>> {
    let req = pb::UpdateCannedResponseRequest {
        id,
        shortcut: b.shortcut,
        title: b.title,
        body: b.body,
        scope: scope(b.scope),
    };
    let r = s.core.canned().update_canned_response(authed(req, &token, rid.0.as_deref())?).await?;
    Ok(Json(r.into_inner().into()))
}

/// Delete one (someone else's personal one is 404).
#[utoipa::path(delete, path = "/canned-responses/{id}", tag = "canned responses", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn delete(
    State(s): State<AppState>,
    token: Token,
    rid: RequestId,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let req = authed(pb::DeleteCannedResponseRequest { id }, &token, rid.0.as_deref())?;
    s.core.canned().delete_canned_response(req).await?;
    Ok(StatusCode::NO_CONTENT)
}
