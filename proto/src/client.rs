//! A connection to the core for the gateways and adapters: one lazily
//! connected tonic channel (balanced over replicas), clients of every
//! service, and requests that carry the caller's token.

use std::time::Duration;

use tonic::Status;
use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, Endpoint};

use crate::v1::{
    admin_service_client::AdminServiceClient, auth_service_client::AuthServiceClient,
    canned_response_service_client::CannedResponseServiceClient, event_service_client::EventServiceClient,
    message_service_client::MessageServiceClient, room_service_client::RoomServiceClient,
};

/// Clients of every core service over one channel. Cheap to clone.
#[derive(Debug, Clone)]
pub struct CoreClient {
    channel: Channel,
}

impl CoreClient {
    /// Balances over every URL; connects lazily, so a gateway starts (and
    /// answers `unavailable`) while the core is down, and recovers by itself.
    pub fn connect_lazy(urls: &[String], timeout: Option<Duration>) -> Result<Self, String> {
        let endpoints = urls
            .iter()
            .map(|u| {
                let e = Endpoint::from_shared(u.trim().to_string())
                    .map_err(|e| format!("LIVECHAT_CORE_URL {u:?}: {e}"))?
                    .connect_timeout(Duration::from_secs(1))
                    .tcp_nodelay(true)
                    .http2_keep_alive_interval(Duration::from_secs(20))
                    .keep_alive_while_idle(true);
                Ok(match timeout {
                    Some(t) => e.timeout(t),
                    None => e,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let channel = match endpoints.as_slice() {
            [] => return Err("LIVECHAT_CORE_URL is empty".into()),
            [one] => one.connect_lazy(),
            _ => Channel::balance_list(endpoints.into_iter()),
        };
        Ok(Self { channel })
    }

    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }
    pub fn auth(&self) -> AuthServiceClient<Channel> {
        AuthServiceClient::new(self.channel.clone())
    }
    pub fn rooms(&self) -> RoomServiceClient<Channel> {
        RoomServiceClient::new(self.channel.clone())
    }
    pub fn messages(&self) -> MessageServiceClient<Channel> {
        MessageServiceClient::new(self.channel.clone())
    }
    pub fn canned(&self) -> CannedResponseServiceClient<Channel> {
        CannedResponseServiceClient::new(self.channel.clone())
    }
    pub fn admin(&self) -> AdminServiceClient<Channel> {
        AdminServiceClient::new(self.channel.clone())
    }
    pub fn events(&self) -> EventServiceClient<Channel> {
        EventServiceClient::new(self.channel.clone())
    }
}

/// A request that carries the caller's token (and request id) to the core,
/// which decides what the token may do.
pub fn authed<T>(msg: T, token: &str, request_id: Option<&str>) -> Result<tonic::Request<T>, Status> {
    let mut req = tonic::Request::new(msg);
    let value: MetadataValue<_> =
        format!("Bearer {token}").parse().map_err(|_| Status::unauthenticated("malformed bearer token"))?;
    req.metadata_mut().insert("authorization", value);
    if let Some(id) = request_id.and_then(|id| id.parse().ok()) {
        req.metadata_mut().insert("x-request-id", id);
    }
    Ok(req)
}
