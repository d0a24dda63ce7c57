//! The one place where a `CoreError` becomes a `tonic::Status`. The
//! docs/protocol.md code and field errors travel in the binary details as a
//! `livechat.v1.ErrorDetail` (`livechat_proto::Failure`), so gateways can
//! render them exactly; the gRPC code comes from the `ErrorCode` table.

use livechat_proto::Failure;
use livechat_proto::v1 as pb;
use tonic::Status;

use crate::error::CoreError;

pub fn to_status(e: &CoreError) -> Status {
    let message = match e {
        CoreError::Unexpected(err) => {
            tracing::error!(error = ?err, "internal error");
            "internal error".to_string()
        }
        other => other.to_string(),
    };
    Failure {
        code: e.code(),
        message,
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
    }
    .into_status()
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
    use prost::Message;
    use tonic::Code;

    #[test]
    fn field_errors_travel_in_the_details() {
        let s = to_status(&CoreError::Invalid(vec![FieldError::new("content", "must not be empty")]));
        assert_eq!(s.code(), Code::InvalidArgument);
        let d = pb::ErrorDetail::decode(s.details()).unwrap();
        assert_eq!(d.code, "invalid");
        assert_eq!(d.errors[0].field, "content");
    }

    #[test]
    fn every_error_carries_the_grpc_code_of_its_protocol_code() {
        let errors = [
            CoreError::Conflict("taken".into()),
            CoreError::TooLarge("long".into()),
            CoreError::RateLimited { retry_after_secs: 3 },
            CoreError::Unavailable("db".into()),
        ];
        for e in errors {
            let s = to_status(&e);
            assert_eq!(s.code(), e.code().grpc_code(), "{e:?}");
            assert_eq!(Failure::from_status(&s).code, e.code());
        }
    }

    #[test]
    fn internal_errors_never_leak_their_cause() {
        let s = to_status(&CoreError::Unexpected(anyhow::anyhow!("password table is on fire")));
        assert_eq!(s.code(), Code::Internal);
        assert_eq!(s.message(), "internal error");
        assert!(!format!("{:?}", s.details()).contains("fire"));
    }
}
