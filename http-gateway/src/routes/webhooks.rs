//! /webhooks: endpoints told about rooms, messages and ratings by signed
//! POSTs, and their deliveries (settings.manage).

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

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookList {
    /// Oldest first; no secrets.
    pub webhooks: Vec<json::Webhook>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    /// http(s) URL; a private, loopback or link-local address only inside a
    /// network listed in the workspace setting webhook_allowed_networks.
    pub url: String,
    /// At least one of room.queued, room.accepted, room.transferred,
    /// room.closed, room.expired, message.created, room.rated.
    pub events: Vec<String>,
    /// Default true.
    pub enabled: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchWebhook {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub enabled: Option<bool>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct DeliveriesQuery {
    /// 1..100, default 50.
    pub limit: Option<u32>,
    /// A delivery id: the page of deliveries older than it.
    pub before: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryList {
    /// Newest first.
    pub deliveries: Vec<json::WebhookDelivery>,
}

/// Every webhook endpoint.
#[utoipa::path(get, path = "/webhooks", tag = "webhooks", security(("bearer" = [])),
    responses((status = 200, body = WebhookList), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list(State(s): State<AppState>, token: Token, rid: RequestId) -> ApiResult<Json<WebhookList>> {
    let r = s
        .core
        .webhooks()
        .list_webhooks(authed(pb::ListWebhooksRequest {}, &token, rid.0.as_deref())?)
        .await?;
    Ok(Json(WebhookList { webhooks: r.into_inner().webhooks.into_iter().map(json::Webhook::from).collect() }))
}

/// Register an endpoint; the answer carries its signing secret, once.
#[utoipa::path(post, path = "/webhooks", tag = "webhooks", request_body = CreateWebhook, security(("bearer" = [])),
    responses((status = 201, body = json::Webhook), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn create(
    State(s): State<AppState>,
    token: Token,
    rid: RequestId,
    JsonBody(b): JsonBody<CreateWebhook>,
) -> ApiResult<(StatusCode, Json<json::Webhook>)> {
    let req = pb::CreateWebhookRequest { url: b.url, events: b.events, enabled: b.enabled };
    let r = s.core.webhooks().create_webhook(authed(req, &token, rid.0.as_deref())?).await?;
    Ok(created(r.into_inner().into()))
}

/// One endpoint (without its secret).
#[utoipa::path(get, path = "/webhooks/{id}", tag = "webhooks", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = json::Webhook), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get(
    State(s): State<AppState>,
    token: Token,
    rid: RequestId,
    Path(webhook_id): Path<String>,
) -> ApiResult<Json<json::Webhook>> {
    let req = authed(pb::GetWebhookRequest { webhook_id }, &token, rid.0.as_deref())?;
    Ok(Json(s.core.webhooks().get_webhook(req).await?.into_inner().into()))
}

/// Change an endpoint's URL, events or on/off switch. Turned off, it is
/// given no new deliveries and its waiting ones wait.
#[utoipa::path(patch, path = "/webhooks/{id}", tag = "webhooks", params(("id" = String, Path)), request_body = PatchWebhook,
    security(("bearer" = [])),
    responses((status = 200, body = json::Webhook), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn patch(
    State(s): State<AppState>,
    token: Token,
    rid: RequestId,
    Path(webhook_id): Path<String>,
    JsonBody(b): JsonBody<PatchWebhook>,
) -> ApiResult<Json<json::Webhook>> {
    let req = pb::UpdateWebhookRequest {
        webhook_id,
        url: b.url,
        events: b.events.map(|events| pb::EventTypes { events }),
        enabled: b.enabled,
    };
    Ok(Json(
        s.core.webhooks().update_webhook(authed(req, &token, rid.0.as_deref())?).await?.into_inner().into(),
    ))
}

/// Delete an endpoint and the deliveries still waiting for it.
#[utoipa::path(delete, path = "/webhooks/{id}", tag = "webhooks", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn delete(
    State(s): State<AppState>,
    token: Token,
    rid: RequestId,
    Path(webhook_id): Path<String>,
) -> ApiResult<StatusCode> {
    let req = authed(pb::DeleteWebhookRequest { webhook_id }, &token, rid.0.as_deref())?;
    s.core.webhooks().delete_webhook(req).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Send a `ping` event to the endpoint now; follow it in its deliveries.
#[utoipa::path(post, path = "/webhooks/{id}/test", tag = "webhooks", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 202, body = json::WebhookDelivery), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn test(
    State(s): State<AppState>,
    token: Token,
    rid: RequestId,
    Path(webhook_id): Path<String>,
) -> ApiResult<(StatusCode, Json<json::WebhookDelivery>)> {
    let req = authed(pb::SendTestEventRequest { webhook_id }, &token, rid.0.as_deref())?;
    let d = s.core.webhooks().send_test_event(req).await?.into_inner();
    Ok((StatusCode::ACCEPTED, Json(d.into())))
}

/// The endpoint's deliveries, newest first: state, tries, last answer.
#[utoipa::path(get, path = "/webhooks/{id}/deliveries", tag = "webhooks", params(("id" = String, Path), DeliveriesQuery),
    security(("bearer" = [])),
    responses((status = 200, body = DeliveryList), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn deliveries(
    State(s): State<AppState>,
    token: Token,
    rid: RequestId,
    Path(webhook_id): Path<String>,
    QueryParams(q): QueryParams<DeliveriesQuery>,
) -> ApiResult<Json<DeliveryList>> {
    let req = pb::ListDeliveriesRequest {
        webhook_id,
        limit: q.limit.unwrap_or(0),
        before: q.before.unwrap_or_default(),
    };
    let r = s.core.webhooks().list_deliveries(authed(req, &token, rid.0.as_deref())?).await?;
    Ok(Json(DeliveryList {
        deliveries: r.into_inner().deliveries.into_iter().map(json::WebhookDelivery::from).collect(),
    }))
}
