//! The gateway's connection to the core: one lazily connected, balanced
//! tonic channel, and requests that carry the caller's token.

use std::time::Duration;

use livechat_proto::v1::{
    admin_service_client::AdminServiceClient, auth_service_client::AuthServiceClient,
    canned_response_service_client::CannedResponseServiceClient,
    message_service_client::MessageServiceClient, room_service_client::RoomServiceClient,
};
use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, Endpoint};

use crate::problem::ApiError;

/// Clients of every core service over one channel. Cheap to clone.
#[derive(Debug, Clone)]
pub struct CoreClient {
    channel: Channel,
}

impl CoreClient {
    /// Balances over every URL; connects lazily, so the gateway starts (and
    /// answers 503) while the core is down, and recovers by itself.
    pub fn connect_lazy(urls: &[String], timeout: Duration) -> anyhow::Result<Self> {
        let endpoints = urls
            .iter()
            .map(|u| {
                Ok(Endpoint::from_shared(u.trim().to_string())
                    .map_err(|e| anyhow::anyhow!("LIVECHAT_CORE_URL {u:?}: {e}"))?
                    .connect_timeout(Duration::from_secs(1))
                    .timeout(timeout)
                    .tcp_nodelay(true)
                    .http2_keep_alive_interval(Duration::from_secs(20))
                    .keep_alive_while_idle(true))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let channel = match endpoints.as_slice() {
            [] => anyhow::bail!("LIVECHAT_CORE_URL is empty"),
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
}

/// The caller's bearer token, as the auth middleware found it.
#[derive(Debug, Clone)]
pub struct Token(pub String);

/// A gRPC request that carries the caller's token (and request id) to the
/// core, which decides what the token may do.
pub fn authed<T>(msg: T, token: &Token, request_id: Option<&str>) -> Result<tonic::Request<T>, ApiError> {
    let mut req = tonic::Request::new(msg);
    let value: MetadataValue<_> = format!("Bearer {}", token.0)
        .parse()
        .map_err(|_| ApiError::unauthorized("malformed bearer token"))?;
    req.metadata_mut().insert("authorization", value);
    if let Some(id) = request_id.and_then(|id| id.parse().ok()) {
        req.metadata_mut().insert("x-request-id", id);
    }
    Ok(req)
}
