//! A REST request's way into the core: the caller's token, as the auth
//! middleware found it, put on a gRPC request. (Named `core_call`, not
//! `core`, so it cannot shadow the `core` crate.)

pub use livechat_proto::client::CoreClient;

use crate::problem::ApiError;

/// The caller's bearer token, as the auth middleware found it.
#[derive(Debug, Clone)]
pub struct Token(pub String);

/// A gRPC request carrying the caller's token, or a 401 if the token
/// cannot even be put in a header.
pub fn authed<T>(msg: T, token: &Token, request_id: Option<&str>) -> Result<tonic::Request<T>, ApiError> {
    livechat_proto::client::authed(msg, &token.0, request_id).map_err(ApiError::from)
}
