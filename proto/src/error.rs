//! Reading the PROTOCOL.md error out of a core `Status`, for the gateways.
//! The core puts a `livechat.v1.ErrorDetail` in the details of every error
//! it returns; a status without one (the core unreachable, a timeout) is
//! classified by its gRPC code.

use prost::Message;
use tonic::{Code, Status};

use crate::v1::ErrorDetail;

/// The PROTOCOL.md error a status stands for.
pub fn error_detail(status: &Status) -> ErrorDetail {
    if let Ok(d) = ErrorDetail::decode(status.details())
        && !d.code.is_empty()
    {
        return d;
    }
    let (code, message) = match status.code() {
        Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled | Code::Unknown => {
            ("unavailable", "the core service is unavailable")
        }
        Code::Unauthenticated => ("unauthorized", "unauthorized"),
        Code::PermissionDenied => ("forbidden", "forbidden"),
        Code::NotFound => ("not_found", "not found"),
        Code::InvalidArgument => ("invalid", "invalid request"),
        Code::ResourceExhausted => ("rate_limited", "too many requests"),
        _ => ("internal", "internal error"),
    };
    ErrorDetail { code: code.into(), message: message.into(), errors: vec![], retry_after_secs: None }
}
