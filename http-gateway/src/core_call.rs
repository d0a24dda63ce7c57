//! A REST request's way into the core: the caller's token, as the auth
//! middleware found it, put on a gRPC request. (Named `core_call`, not
//! `core`, so it cannot shadow the `core` crate.)

pub use livechat_proto::client::CoreClient;

use crate::problem::ApiError;

/// The caller's bearer token, as the auth middleware found it, and the
/// client's address (after `LIVECHAT_TRUSTED_PROXIES`), which the core
/// records in its audit trail.
#[derive(Debug, Clone)]
pub struct Token(pub String, pub Option<std::net::IpAddr>);

/// A gRPC request carrying the caller's token, or a 401 if the token
/// cannot even be put in a header.
pub fn authed<T>(msg: T, token: &Token, request_id: Option<&str>) -> Result<tonic::Request<T>, ApiError> {
    let mut req = livechat_proto::client::authed(msg, &token.0, request_id).map_err(ApiError::from)?;
    if let Some(value) = token.1.and_then(|ip| ip.to_string().parse().ok()) {
        req.metadata_mut().insert(livechat_proto::client::CLIENT_ADDRESS, value);
    }
    Ok(req)
}
