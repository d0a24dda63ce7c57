//! livechat.v1.MessageService.

use std::sync::Arc;

use livechat_proto::v1::{self as pb, message_service_server::MessageService};
use tonic::{Request, Response, Status};

use super::auth_layer::principal;
use crate::app::Core;
use crate::wire;

pub struct MessagesApi(pub Arc<Core>);

type Reply<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl MessageService for MessagesApi {
    async fn send_message(&self, req: Request<pb::SendMessageRequest>) -> Reply<pb::SendMessageResponse> {
        let p = principal(&req)?;
        let r = req.get_ref();
        let (message, created) = self.0.send(&p, &r.room_id, &r.content, r.client_id.as_deref()).await?;
        Ok(Response::new(pb::SendMessageResponse { message: Some(wire::message(message)), created }))
    }

    async fn list_messages(&self, req: Request<pb::ListMessagesRequest>) -> Reply<pb::ListMessagesResponse> {
        let p = principal(&req)?;
        let r = req.get_ref();
        let (messages, has_more) = self.0.history(&p, &r.room_id, r.before_seq, r.after_seq, r.limit).await?;
        Ok(Response::new(pb::ListMessagesResponse {
            messages: messages.into_iter().map(wire::message).collect(),
            has_more,
        }))
    }

    async fn add_note(&self, req: Request<pb::AddNoteRequest>) -> Reply<pb::Note> {
        let p = principal(&req)?;
        let r = req.get_ref();
        Ok(Response::new(wire::note(self.0.add_note(&p, &r.room_id, &r.content).await?)))
    }

    async fn list_notes(&self, req: Request<pb::ListNotesRequest>) -> Reply<pb::ListNotesResponse> {
        let p = principal(&req)?;
        let notes = self.0.notes(&p, &req.get_ref().room_id).await?;
        Ok(Response::new(pb::ListNotesResponse { notes: notes.into_iter().map(wire::note).collect() }))
    }

    async fn set_typing(&self, req: Request<pb::SetTypingRequest>) -> Reply<pb::SetTypingResponse> {
        let p = principal(&req)?;
        let r = req.get_ref();
        self.0.typing(&p, &r.room_id, r.typing).await?;
        Ok(Response::new(pb::SetTypingResponse {}))
    }
}
