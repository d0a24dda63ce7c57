//! livechat.v1.WebhookService.

use std::sync::Arc;

use livechat_proto::v1::{self as pb, webhook_service_server::WebhookService};
use tonic::{Request, Response, Status};

use super::auth_layer::principal;
use crate::app::{Core, WebhookChanges};
use crate::wire;

pub struct WebhooksApi(pub Arc<Core>);

type Reply<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl WebhookService for WebhooksApi {
    async fn list_webhooks(&self, req: Request<pb::ListWebhooksRequest>) -> Reply<pb::ListWebhooksResponse> {
        let p = principal(&req)?;
        let webhooks = self.0.webhooks(&p).await?.into_iter().map(wire::webhook).collect();
        Ok(Response::new(pb::ListWebhooksResponse { webhooks }))
    }

    async fn create_webhook(&self, req: Request<pb::CreateWebhookRequest>) -> Reply<pb::Webhook> {
        let p = principal(&req)?;
        let r = req.get_ref();
        let w = self.0.create_webhook(&p, &r.url, &r.events, r.enabled.unwrap_or(true)).await?;
        Ok(Response::new(wire::webhook(w)))
    }

    async fn get_webhook(&self, req: Request<pb::GetWebhookRequest>) -> Reply<pb::Webhook> {
        let p = principal(&req)?;
        Ok(Response::new(wire::webhook(self.0.webhook(&p, &req.get_ref().webhook_id).await?)))
    }

    async fn update_webhook(&self, req: Request<pb::UpdateWebhookRequest>) -> Reply<pb::Webhook> {
        let p = principal(&req)?;
        let r = req.into_inner();
        let changes = WebhookChanges { url: r.url, events: r.events.map(|e| e.events), enabled: r.enabled };
        Ok(Response::new(wire::webhook(self.0.update_webhook(&p, &r.webhook_id, changes).await?)))
    }

    async fn delete_webhook(
        &self,
        req: Request<pb::DeleteWebhookRequest>,
    ) -> Reply<pb::DeleteWebhookResponse> {
        let p = principal(&req)?;
        self.0.delete_webhook(&p, &req.get_ref().webhook_id).await?;
        Ok(Response::new(pb::DeleteWebhookResponse {}))
    }

    async fn send_test_event(&self, req: Request<pb::SendTestEventRequest>) -> Reply<pb::WebhookDelivery> {
        let p = principal(&req)?;
        Ok(Response::new(wire::delivery(self.0.send_test_event(&p, &req.get_ref().webhook_id).await?)))
    }

    async fn list_deliveries(
        &self,
        req: Request<pb::ListDeliveriesRequest>,
    ) -> Reply<pb::ListDeliveriesResponse> {
        let p = principal(&req)?;
        let r = req.get_ref();
        let found = self.0.deliveries(&p, &r.webhook_id, Some(&r.before), r.limit).await?;
        Ok(Response::new(pb::ListDeliveriesResponse {
            deliveries: found.into_iter().map(wire::delivery).collect(),
        }))
    }
}
