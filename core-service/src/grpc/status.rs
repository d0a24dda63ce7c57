//! The one place where a `CoreError` becomes a `tonic::Status`. The
//! PROTOCOL.md code and field errors travel in the binary details as a
//! `livechat.v1.ErrorDetail`, so gateways can render them exactly.

use livechat_proto::v1 as pb;
use prost::Message;
use tonic::{Code, Status};

use crate::error::CoreError;

/// The gRPC code for each PROTOCOL.md code.
pub fn grpc_code(e: &CoreError) -> Code {
    match e {
        CoreError::Invalid(_) => Code::InvalidArgument,
        CoreError::Unauthorized(_) => Code::Unauthenticated,
        CoreError::Forbidden(_) => Code::PermissionDenied,
        CoreError::NotFound(_) => Code::NotFound,
        CoreError::Conflict(_) => Code::FailedPrecondition,
        CoreError::TooLarge(_) => Code::OutOfRange,
        CoreError::RateLimited { .. } => Code::ResourceExhausted,
        CoreError::Unavailable(_) => Code::Unavailable,
        CoreError::Unexpected(_) => Code::Internal,
    }
}

pub fn to_status(e: &CoreError) -> Status {
    let message = match e {
        CoreError::Unexpected(err) => {
            tracing::error!(error = ?err, "internal error");
            "internal error".to_string()
        }
        other => other.to_string(),
    };
    let detail = pb::ErrorDetail {
        code: e.code().into(),
        message: message.clone(),
        errors: match e {
            CoreError::Invalid(errs) => errs
                .iter()
                .map(|f| pb::FieldError { field: f.field.clone(), message: f.message.clone() })
                .collect(),
            _ => vec![],
        },
        retry_after_secs: match e {
            CoreError::RateLimited { retry_after_secs } => Some(*retry_after_secs),
            _ => None,
        },
    };
    Status::with_details(grpc_code(e), message, detail.encode_to_vec().into())
}

impl From<CoreError> for Status {
    fn from(e: CoreError) -> Self {
        to_status(&e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::FieldError;

    #[test]
    fn field_errors_travel_in_the_details() {
        let s = to_status(&CoreError::Invalid(vec![FieldError::new("content", "must not be empty")]));
        assert_eq!(s.code(), Code::InvalidArgument);
        let d = pb::ErrorDetail::decode(s.details()).unwrap();
        assert_eq!(d.code, "invalid");
        assert_eq!(d.errors[0].field, "content");
    }

    #[test]
    fn internal_errors_never_leak_their_cause() {
        let s = to_status(&CoreError::Unexpected(anyhow::anyhow!("password table is on fire")));
        assert_eq!(s.code(), Code::Internal);
        assert_eq!(s.message(), "internal error");
        assert!(!format!("{:?}", s.details()).contains("fire"));
    }
}
