//! livechat.v1.AdminService.

use std::sync::Arc;

use livechat_proto::v1::{self as pb, admin_service_server::AdminService};
use tonic::{Request, Response, Status};

use super::auth_layer::principal;
use crate::app::{AgentUpdate, Core};
use crate::domain::data_request::VisitorSelector;
use crate::error::CoreError;
use crate::wire;

pub struct AdminApi(pub Arc<Core>);

/// Whom a data request names (after the caller's rights: a visitor is
/// told no, not what a good request would look like).
fn selector(r: &pb::VisitorDataRequest) -> Result<VisitorSelector, Status> {
    VisitorSelector::parse(Some(&r.room_id), Some(&r.email), Some(&r.channel), Some(&r.external_id))
        .map_err(|e| super::status::to_status(&CoreError::from(e)))
}

type Reply<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl AdminService for AdminApi {
    async fn get_settings(&self, req: Request<pb::GetSettingsRequest>) -> Reply<pb::Settings> {
        let p = principal(&req)?;
        Ok(Response::new(wire::settings(self.0.settings(&p).await?)))
    }

    async fn update_settings(&self, req: Request<pb::UpdateSettingsRequest>) -> Reply<pb::Settings> {
        let p = principal(&req)?;
        let update = wire::settings_update(req.into_inner());
        Ok(Response::new(wire::settings(self.0.update_settings(&p, &update).await?)))
    }

    async fn get_workspace_settings(
        &self,
        req: Request<pb::GetWorkspaceSettingsRequest>,
    ) -> Reply<pb::WorkspaceSettings> {
        let p = principal(&req)?;
        Ok(Response::new(wire::workspace_settings(&self.0.settings(&p).await?)))
    }

    // The workspace keys are part of the stored settings: one validation,
    // one cache, one "all or none".
    async fn update_workspace_settings(
        &self,
        req: Request<pb::UpdateWorkspaceSettingsRequest>,
    ) -> Reply<pb::WorkspaceSettings> {
        let p = principal(&req)?;
        let update = wire::workspace_update(req.into_inner());
        Ok(Response::new(wire::workspace_settings(&self.0.update_settings(&p, &update).await?)))
    }

    async fn get_widget_policy(&self, _: Request<pb::GetWidgetPolicyRequest>) -> Reply<pb::WidgetPolicy> {
        Ok(Response::new(pb::WidgetPolicy { allowed_origins: self.0.widget_origins().await? }))
    }

    async fn list_audit_log(&self, req: Request<pb::ListAuditLogRequest>) -> Reply<pb::ListAuditLogResponse> {
        let p = principal(&req)?;
        let r = req.get_ref();
        let limit = if r.limit == 0 { 50 } else { r.limit.min(200) };
        let entries =
            self.0.audit_log(&p, Some(&r.action), Some(&r.actor_id), Some(&r.before), limit).await?;
        let next = if entries.len() as u32 == limit {
            entries.last().map(|e| e.id.to_string()).unwrap_or_default()
        } else {
            String::new()
        };
        Ok(Response::new(pb::ListAuditLogResponse {
            entries: entries.into_iter().map(wire::audit_entry).collect(),
            next,
        }))
    }

    async fn export_visitor_data(
        &self,
        req: Request<pb::VisitorDataRequest>,
    ) -> Reply<pb::VisitorDataDocument> {
        let p = principal(&req)?;
        self.0.may_handle_visitor_data(&p)?;
        let who = selector(req.get_ref())?;
        let rooms = self.0.export_visitor(&p, &who).await?;
        let document = wire::visitor_export(rooms, self.0.now_ms());
        Ok(Response::new(pb::VisitorDataDocument { document_json: document.to_string() }))
    }

    async fn erase_visitor_data(
        &self,
        req: Request<pb::VisitorDataRequest>,
    ) -> Reply<pb::EraseVisitorDataResponse> {
        let p = principal(&req)?;
        self.0.may_handle_visitor_data(&p)?;
        let who = selector(req.get_ref())?;
        let (rooms, messages) = self.0.erase_visitor(&p, &who).await?;
        Ok(Response::new(pb::EraseVisitorDataResponse { rooms, messages }))
    }

    async fn get_agent_capacity(
        &self,
        req: Request<pb::GetAgentCapacityRequest>,
    ) -> Reply<pb::AgentCapacity> {
        let p = principal(&req)?;
        let agent_id = req.into_inner().agent_id;
        let (capacity, effective_capacity) = self.0.capacity(&p, &agent_id).await?;
        Ok(Response::new(pb::AgentCapacity { agent_id, capacity, effective_capacity }))
    }

    async fn set_agent_capacity(
        &self,
        req: Request<pb::SetAgentCapacityRequest>,
    ) -> Reply<pb::AgentCapacity> {
        let p = principal(&req)?;
        let r = req.into_inner();
        let (capacity, effective_capacity) = self.0.set_capacity(&p, &r.agent_id, r.capacity).await?;
        Ok(Response::new(pb::AgentCapacity { agent_id: r.agent_id, capacity, effective_capacity }))
    }

    async fn list_agents(&self, req: Request<pb::ListAgentsRequest>) -> Reply<pb::ListAgentsResponse> {
        let p = principal(&req)?;
        let agents = self.0.agents(&p).await?;
        Ok(Response::new(pb::ListAgentsResponse { agents: agents.into_iter().map(wire::agent).collect() }))
    }

    async fn create_agent(&self, req: Request<pb::CreateAgentRequest>) -> Reply<pb::Agent> {
        let p = principal(&req)?;
        let r = req.get_ref();
        let a = self.0.create_agent(&p, &r.username, &r.password, &r.name, &r.group).await?;
        Ok(Response::new(wire::agent(a)))
    }

    async fn update_agent(&self, req: Request<pb::UpdateAgentRequest>) -> Reply<pb::Agent> {
        let p = principal(&req)?;
        let r = req.into_inner();
        let u = AgentUpdate { name: r.name, group: r.group, password: r.password, disabled: r.disabled };
        Ok(Response::new(wire::agent(self.0.update_agent(&p, &r.id, u).await?)))
    }

    async fn delete_agent(&self, req: Request<pb::DeleteAgentRequest>) -> Reply<pb::DeleteAgentResponse> {
        let p = principal(&req)?;
        self.0.delete_agent(&p, &req.get_ref().id).await?;
        Ok(Response::new(pb::DeleteAgentResponse {}))
    }

    async fn list_groups(&self, req: Request<pb::ListGroupsRequest>) -> Reply<pb::ListGroupsResponse> {
        let p = principal(&req)?;
        let groups = self.0.groups(&p).await?;
        Ok(Response::new(pb::ListGroupsResponse {
            groups: groups.into_iter().map(|(n, perms)| wire::group(n, perms)).collect(),
        }))
    }

    async fn create_group(&self, req: Request<pb::Group>) -> Reply<pb::Group> {
        let p = principal(&req)?;
        let g = req.into_inner();
        let perms = self.0.create_group(&p, &g.name, &g.permissions).await?;
        Ok(Response::new(wire::group(g.name, perms)))
    }

    async fn update_group(&self, req: Request<pb::Group>) -> Reply<pb::Group> {
        let p = principal(&req)?;
        let g = req.into_inner();
        let perms = self.0.update_group(&p, &g.name, &g.permissions).await?;
        Ok(Response::new(wire::group(g.name, perms)))
    }
}
