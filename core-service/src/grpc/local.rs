//! The all-in-one's gateways calling the core's hot path in memory
//! (`livechat_proto::client::LocalCalls`): the gate and the authentication
//! of the tower layers, then the very service methods a network call
//! reaches, without encoding anything.

use std::sync::Arc;

use livechat_proto::client::{EventStream, LocalCalls};
use livechat_proto::v1::{
    self as pb, event_service_server::EventService, message_service_server::MessageService,
};
use tokio_util::sync::CancellationToken;
use tonic::{Request, Status};

use super::auth_layer::authenticate_metadata;
use super::events::EventsApi;
use super::messages::MessagesApi;
use super::status::to_status;
use crate::app::Core;
use crate::error::CoreError;

/// The core's side of `LocalCalls`.
pub struct Local {
    core: Arc<Core>,
    events: EventsApi,
    messages: MessagesApi,
}

impl Local {
    pub fn new(core: &Arc<Core>, stop: &CancellationToken) -> Self {
        Self {
            core: core.clone(),
            events: EventsApi { core: core.clone(), stop: stop.clone() },
            messages: MessagesApi(core.clone()),
        }
    }

    /// What `gate` and `auth_layer` do to a call before its service sees it.
    async fn admit<T>(&self, mut req: Request<T>) -> Result<Request<T>, Status> {
        if !self.core.database_reachable() {
            return Err(to_status(&CoreError::database_unavailable()));
        }
        authenticate_metadata(&self.core, &mut req).await;
        Ok(req)
    }
}

#[async_trait::async_trait]
impl LocalCalls for Local {
    async fn subscribe(&self, req: Request<pb::SubscribeRequest>) -> Result<EventStream, Status> {
        Ok(self.events.subscribe(self.admit(req).await?).await?.into_inner())
    }

    async fn send_message(
        &self,
        req: Request<pb::SendMessageRequest>,
    ) -> Result<pb::SendMessageResponse, Status> {
        Ok(self.messages.send_message(self.admit(req).await?).await?.into_inner())
    }

    async fn list_messages(
        &self,
        req: Request<pb::ListMessagesRequest>,
    ) -> Result<pb::ListMessagesResponse, Status> {
        Ok(self.messages.list_messages(self.admit(req).await?).await?.into_inner())
    }

    async fn set_typing(&self, req: Request<pb::SetTypingRequest>) -> Result<(), Status> {
        self.messages.set_typing(self.admit(req).await?).await.map(drop)
    }
}
