//! livechat.v1.TeamService.

use std::sync::Arc;

use livechat_proto::v1::{self as pb, team_service_server::TeamService};
use tonic::{Request, Response, Status};

use super::auth_layer::principal;
use crate::app::Core;
use crate::domain::AgentStatus;
use crate::wire;

pub struct TeamApi(pub Arc<Core>);

type Reply<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl TeamService for TeamApi {
    async fn list_team(&self, req: Request<pb::ListTeamRequest>) -> Reply<pb::ListTeamResponse> {
        let p = principal(&req)?;
        let team = self.0.team(&p).await?;
        Ok(Response::new(pb::ListTeamResponse { agents: team.into_iter().map(wire::team_member).collect() }))
    }

    async fn set_availability(&self, req: Request<pb::SetAvailabilityRequest>) -> Reply<pb::TeamMember> {
        let p = principal(&req)?;
        let chosen = match pb::AgentStatus::try_from(req.get_ref().status) {
            Ok(pb::AgentStatus::Online) => Some(AgentStatus::Online),
            Ok(pb::AgentStatus::Away) => Some(AgentStatus::Away),
            Ok(pb::AgentStatus::Offline) => Some(AgentStatus::Offline),
            _ => None,
        };
        Ok(Response::new(wire::team_member(self.0.set_status(&p, chosen).await?)))
    }

    async fn get_availability(&self, _: Request<pb::GetAvailabilityRequest>) -> Reply<pb::Availability> {
        Ok(Response::new(pb::Availability { agents_online: self.0.agents_available().await? }))
    }
}
