//! livechat.v1.CannedResponseService.

use std::sync::Arc;

use livechat_proto::v1::{self as pb, canned_response_service_server::CannedResponseService};
use tonic::{Request, Response, Status};

use super::auth_layer::principal;
use crate::app::{CannedUpdate, Core, NewCanned};
use crate::wire;

pub struct CannedApi(pub Arc<Core>);

type Reply<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl CannedResponseService for CannedApi {
    async fn list_canned_responses(
        &self,
        req: Request<pb::ListCannedResponsesRequest>,
    ) -> Reply<pb::ListCannedResponsesResponse> {
        let p = principal(&req)?;
        let all = self.0.canned_responses(&p, req.get_ref().q.as_deref()).await?;
        Ok(Response::new(pb::ListCannedResponsesResponse {
            canned_responses: all.into_iter().map(wire::canned).collect(),
        }))
    }

    async fn create_canned_response(
        &self,
        req: Request<pb::CreateCannedResponseRequest>,
    ) -> Reply<pb::CannedResponse> {
        let p = principal(&req)?;
        let r = req.into_inner();
        let new = NewCanned {
            shortcut: r.shortcut,
            title: r.title,
            body: r.body,
            scope: wire::canned_scope_from(r.scope),
        };
        Ok(Response::new(wire::canned(self.0.create_canned(&p, new).await?)))
    }

    async fn update_canned_response(
        &self,
        req: Request<pb::UpdateCannedResponseRequest>,
    ) -> Reply<pb::CannedResponse> {
        let p = principal(&req)?;
        let r = req.into_inner();
        let update = CannedUpdate {
            shortcut: r.shortcut,
            title: r.title,
            body: r.body,
            scope: wire::canned_scope_from(r.scope),
        };
        Ok(Response::new(wire::canned(self.0.update_canned(&p, &r.id, update).await?)))
    }

    async fn delete_canned_response(
        &self,
        req: Request<pb::DeleteCannedResponseRequest>,
    ) -> Reply<pb::DeleteCannedResponseResponse> {
        let p = principal(&req)?;
        self.0.delete_canned(&p, &req.get_ref().id).await?;
        Ok(Response::new(pb::DeleteCannedResponseResponse {}))
    }
}
