//! livechat.v1.AuthService.

use std::sync::Arc;

use livechat_proto::v1::{self as pb, auth_service_server::AuthService};
use tonic::{Request, Response, Status};

use super::auth_layer::principal;
use crate::app::{Core, LoginOutcome, Principal};
use crate::wire;

pub struct AuthApi(pub Arc<Core>);

fn login_response(o: LoginOutcome) -> pb::LoginResponse {
    pb::LoginResponse {
        access_token: o.access_token,
        token_type: "Bearer".into(),
        expires_in: o.expires_in,
        agent: Some(wire::agent(o.agent)),
    }
}

#[tonic::async_trait]
impl AuthService for AuthApi {
    async fn login(&self, req: Request<pb::LoginRequest>) -> Result<Response<pb::LoginResponse>, Status> {
        let from = super::client_address(&req);
        let r = req.into_inner();
        Ok(Response::new(login_response(self.0.login(&r.username, &r.password, from).await?)))
    }

    async fn refresh(&self, req: Request<pb::RefreshRequest>) -> Result<Response<pb::LoginResponse>, Status> {
        let p = principal(&req)?;
        Ok(Response::new(login_response(self.0.refresh(&p).await?)))
    }

    async fn who_am_i(
        &self,
        req: Request<pb::WhoAmIRequest>,
    ) -> Result<Response<pb::WhoAmIResponse>, Status> {
        let p = principal(&req)?;
        let user = Some(wire::person(p.person()));
        let res = match p {
            Principal::Agent(a, _) => pb::WhoAmIResponse {
                role: "agent".into(),
                user,
                group: Some(a.group),
                permissions: a.permissions.names(),
                room_id: None,
            },
            Principal::Visitor(v, _) => pb::WhoAmIResponse {
                role: "visitor".into(),
                user,
                group: None,
                permissions: vec![],
                room_id: Some(v.room_id),
            },
        };
        Ok(Response::new(res))
    }
}
