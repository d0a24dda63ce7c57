//! Typed calls on a [`CoreApp`]: accounts, rooms and messages. `try_*`
//! return the call's result for tests that expect a refusal; the others
//! assert success.

use futures::future::join_all;
use livechat_proto::v1 as pb;
use tonic::Status;

use super::{CoreApp, NO_TOKEN, ok};
use crate::{AGENT_PASSWORD, TestAgent};

impl CoreApp {
    // -- auth and accounts ----------------------------------------------------

    /// Login as anyone; the refusal for tests of bad credentials.
    pub async fn login(&self, username: &str, password: &str) -> Result<pb::LoginResponse, Status> {
        self.auth(NO_TOKEN)
            .login(pb::LoginRequest { username: username.into(), password: password.into() })
            .await
            .map(|r| r.into_inner())
    }

    /// The bootstrap admin's token (logged in when the core started).
    pub fn admin_token(&self) -> String {
        self.admin_token.clone()
    }

    /// WhoAmI as `token`: what the core makes of a token.
    pub async fn who_am_i(&self, token: &str) -> Result<pb::WhoAmIResponse, Status> {
        self.auth(token).who_am_i(pb::WhoAmIRequest {}).await.map(|r| r.into_inner())
    }

    /// A new agent in `group` (unique username, password AGENT_PASSWORD), logged in.
    pub async fn create_agent_full(&self, group: &str) -> TestAgent {
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        let username = format!("agent-{}", &suffix[..12]);
        let name = format!("Agent {}", &suffix[..6]);
        let agent = ok(
            self.admin_api(&self.admin_token)
                .create_agent(pb::CreateAgentRequest {
                    username: username.clone(),
                    password: AGENT_PASSWORD.into(),
                    name: name.clone(),
                    group: group.into(),
                })
                .await,
            "CreateAgent",
        );
        let login = self
            .login(&username, AGENT_PASSWORD)
            .await
            .unwrap_or_else(|s| panic!("login of the new agent {username} failed: {s:?}"));
        TestAgent { id: agent.id, username, name: agent.name, group: agent.group, token: login.access_token }
    }

    /// `(agent_id, token)` of a new agent in `group`.
    pub async fn create_agent(&self, group: &str) -> (String, String) {
        let a = self.create_agent_full(group).await;
        (a.id, a.token)
    }

    /// `n` agents of `group`, created concurrently.
    pub async fn create_agents(&self, group: &str, n: usize) -> Vec<TestAgent> {
        join_all((0..n).map(|_| self.create_agent_full(group))).await
    }

    /// A new group with these permissions, made by the admin.
    pub async fn create_group(&self, name: &str, permissions: &[&str]) -> pb::Group {
        ok(
            self.admin_api(&self.admin_token)
                .create_group(pb::Group {
                    name: name.into(),
                    permissions: permissions.iter().map(|p| p.to_string()).collect(),
                })
                .await,
            "CreateGroup",
        )
    }

    /// The current settings, read by the admin.
    pub async fn settings(&self) -> pb::Settings {
        ok(self.admin_api(&self.admin_token).get_settings(pb::GetSettingsRequest {}).await, "GetSettings")
    }

    /// Changes settings as the admin (asserted to succeed).
    pub async fn update_settings(&self, update: pb::UpdateSettingsRequest) -> pb::Settings {
        ok(self.admin_api(&self.admin_token).update_settings(update).await, "UpdateSettings")
    }

    // -- rooms and messages --------------------------------------------------

    /// A new web room, as a visitor requesting an agent: `(room, visitor_token)`.
    pub async fn create_room(&self, name: &str, message: Option<&str>) -> (pb::Room, String) {
        let r = ok(
            self.rooms(NO_TOKEN)
                .create_room(pb::CreateRoomRequest {
                    name: name.into(),
                    message: message.map(str::to_string),
                    ..Default::default()
                })
                .await,
            "CreateRoom",
        );
        (r.room.expect("CreateRoomResponse.room is set"), r.visitor_token)
    }

    /// GetRoom as `token`; the refusal for access tests.
    pub async fn get_room(&self, token: &str, room_id: &str) -> Result<pb::Room, Status> {
        self.rooms(token)
            .get_room(pb::GetRoomRequest { room_id: room_id.into() })
            .await
            .map(|r| r.into_inner())
    }

    /// AcceptRoom as `token`; the refusal for race and access tests.
    pub async fn try_accept(&self, token: &str, room_id: &str) -> Result<pb::Room, Status> {
        self.rooms(token)
            .accept_room(pb::RoomRequest { room_id: room_id.into() })
            .await
            .map(|r| r.into_inner())
    }

    /// AcceptRoom as `token` (asserted to succeed).
    pub async fn accept(&self, token: &str, room_id: &str) -> pb::Room {
        self.try_accept(token, room_id).await.unwrap_or_else(|s| panic!("AcceptRoom {room_id} failed: {s:?}"))
    }

    /// SendMessage as `token`, with an optional idempotency `client_id`.
    pub async fn try_send(
        &self,
        token: &str,
        room_id: &str,
        content: &str,
        client_id: Option<&str>,
    ) -> Result<pb::SendMessageResponse, Status> {
        self.messages(token)
            .send_message(pb::SendMessageRequest {
                room_id: room_id.into(),
                content: content.into(),
                client_id: client_id.map(str::to_string),
            })
            .await
            .map(|r| r.into_inner())
    }

    /// Sends and returns the stored message (which must be new).
    pub async fn send(&self, token: &str, room_id: &str, content: &str) -> pb::Message {
        let r = self
            .try_send(token, room_id, content, None)
            .await
            .unwrap_or_else(|s| panic!("SendMessage {content:?} failed: {s:?}"));
        assert!(r.created, "a send without client_id must store a new message");
        r.message.expect("SendMessageResponse.message is set")
    }

    /// ListMessages as `token`; the refusal for access and validation tests.
    pub async fn try_history(
        &self,
        token: &str,
        room_id: &str,
        before_seq: Option<u64>,
        after_seq: Option<u64>,
        limit: Option<u32>,
    ) -> Result<pb::ListMessagesResponse, Status> {
        self.messages(token)
            .list_messages(pb::ListMessagesRequest { room_id: room_id.into(), before_seq, after_seq, limit })
            .await
            .map(|r| r.into_inner())
    }

    /// ListMessages as `token` (asserted to succeed).
    pub async fn history(
        &self,
        token: &str,
        room_id: &str,
        before_seq: Option<u64>,
        after_seq: Option<u64>,
        limit: Option<u32>,
    ) -> pb::ListMessagesResponse {
        self.try_history(token, room_id, before_seq, after_seq, limit)
            .await
            .unwrap_or_else(|s| panic!("ListMessages of {room_id} failed: {s:?}"))
    }

    /// Every message of a room (up to 500), oldest first.
    pub async fn all_messages(&self, token: &str, room_id: &str) -> Vec<pb::Message> {
        let page = self.history(token, room_id, None, Some(0), Some(500)).await;
        assert!(!page.has_more, "the room has more than 500 messages");
        page.messages
    }

    /// CloseRoom as `token` (asserted to succeed), with an optional goodbye.
    pub async fn close(&self, token: &str, room_id: &str, message: Option<&str>) -> pb::Room {
        ok(
            self.rooms(token)
                .close_room(pb::CloseRoomRequest {
                    room_id: room_id.into(),
                    message: message.map(str::to_string),
                })
                .await,
            "CloseRoom",
        )
    }
}
