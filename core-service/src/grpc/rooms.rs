//! livechat.v1.RoomService.

use std::sync::Arc;

use livechat_proto::v1::{self as pb, room_service_server::RoomService};
use tonic::{Request, Response, Status};

use super::auth_layer::principal;
use crate::app::{Core, CreateRoom};
use crate::wire;

pub struct RoomsApi(pub Arc<Core>);

type Reply<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl RoomService for RoomsApi {
    async fn create_room(&self, req: Request<pb::CreateRoomRequest>) -> Reply<pb::CreateRoomResponse> {
        let from = super::client_address(&req);
        let r = req.into_inner();
        let created = self
            .0
            .create_room(
                CreateRoom {
                    name: r.name,
                    email: r.email,
                    message: r.message,
                    channel: wire::channel_from(r.channel),
                    external_id: r.external_id,
                    offline_message: r.offline_message,
                    first_client_id: None,
                    visitor_address: None,
                },
                from,
            )
            .await?;
        Ok(Response::new(pb::CreateRoomResponse {
            room: Some(wire::room(created.room)),
            visitor_token: created.visitor_token,
            expires_in: created.expires_in,
        }))
    }

    async fn get_room(&self, req: Request<pb::GetRoomRequest>) -> Reply<pb::Room> {
        let p = principal(&req)?;
        Ok(Response::new(wire::room(self.0.room(&p, &req.get_ref().room_id).await?)))
    }

    async fn list_rooms(&self, req: Request<pb::ListRoomsRequest>) -> Reply<pb::ListRoomsResponse> {
        let p = principal(&req)?;
        let r = req.get_ref();
        let rooms = self.0.rooms(&p, wire::status_from(r.status), r.mine).await?;
        Ok(Response::new(pb::ListRoomsResponse { rooms: rooms.into_iter().map(wire::room).collect() }))
    }

    async fn accept_room(&self, req: Request<pb::RoomRequest>) -> Reply<pb::Room> {
        let p = principal(&req)?;
        Ok(Response::new(wire::room(self.0.accept(&p, &req.get_ref().room_id).await?)))
    }

    async fn decline_room(&self, req: Request<pb::RoomRequest>) -> Reply<pb::DeclineRoomResponse> {
        let p = principal(&req)?;
        self.0.decline(&p, &req.get_ref().room_id).await?;
        Ok(Response::new(pb::DeclineRoomResponse {}))
    }

    async fn close_room(&self, req: Request<pb::CloseRoomRequest>) -> Reply<pb::Room> {
        let p = principal(&req)?;
        let r = req.get_ref();
        Ok(Response::new(wire::room(self.0.close(&p, &r.room_id, r.message.as_deref()).await?)))
    }

    async fn get_visitor(&self, req: Request<pb::GetRoomRequest>) -> Reply<pb::VisitorDetails> {
        let p = principal(&req)?;
        let v = self.0.visitor(&p, &req.get_ref().room_id).await?;
        Ok(Response::new(pb::VisitorDetails {
            name: v.name,
            email: v.email,
            channel: wire::channel(v.channel) as i32,
            subject: v.subject,
            offline_message: v.left_offline,
            earlier_rooms: v.earlier_rooms.into_iter().map(wire::room).collect(),
        }))
    }

    async fn rate_room(&self, req: Request<pb::RateRoomRequest>) -> Reply<pb::Rating> {
        let p = principal(&req)?;
        let r = req.get_ref();
        Ok(Response::new(wire::rating(self.0.rate(&p, &r.room_id, r.score, r.comment.as_deref()).await?)))
    }

    async fn get_rating(&self, req: Request<pb::GetRoomRequest>) -> Reply<pb::Rating> {
        let p = principal(&req)?;
        Ok(Response::new(wire::rating(self.0.rating(&p, &req.get_ref().room_id).await?)))
    }

    async fn ratings_report(
        &self,
        req: Request<pb::RatingsReportRequest>,
    ) -> Reply<pb::RatingsReportResponse> {
        let p = principal(&req)?;
        let days = req.get_ref().days;
        Ok(Response::new(wire::ratings_report(days, self.0.ratings_report(&p, days).await?)))
    }

    async fn search_rooms(&self, req: Request<pb::SearchRoomsRequest>) -> Reply<pb::SearchRoomsResponse> {
        let p = principal(&req)?;
        let r = req.get_ref();
        let (rooms, next) = self.0.past_rooms(&p, r.q.as_deref(), r.before.as_deref(), r.limit).await?;
        Ok(Response::new(pb::SearchRoomsResponse {
            rooms: rooms.into_iter().map(wire::room).collect(),
            next,
        }))
    }

    async fn transfer_room(&self, req: Request<pb::TransferRoomRequest>) -> Reply<pb::Room> {
        let p = principal(&req)?;
        let r = req.get_ref();
        Ok(Response::new(wire::room(self.0.transfer(&p, &r.room_id, r.agent_id.as_deref()).await?)))
    }
}
