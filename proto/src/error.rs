//! The error codes of docs/protocol.md and the one table that pairs each
//! with its gRPC code, HTTP status and title. The core puts a
//! `livechat.v1.ErrorDetail` in the details of every error it returns;
//! `Failure::from_status` reads it back in the gateways, and classifies a
//! status without one (the core unreachable, a timeout) by its gRPC code.

use http::StatusCode;
use prost::Message;
use serde::{Deserialize, Serialize};
use tonic::{Code, Status};

use crate::v1::{ErrorDetail, FieldError};

/// A docs/protocol.md error code: the `code` of a problem+json body, of a
/// WebSocket `error` frame and of a core `ErrorDetail`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    Invalid,
    Unauthorized,
    Forbidden,
    NotFound,
    Conflict,
    TooLarge,
    RateLimited,
    Unavailable,
    Internal,
}

/// One row of the table: everything a transport needs to know of a code.
struct Row {
    name: &'static str,
    grpc: Code,
    http: StatusCode,
    title: &'static str,
}

impl ErrorCode {
    /// Every code, in the order of docs/protocol.md.
    pub const ALL: [ErrorCode; 9] = [
        Self::Invalid,
        Self::Unauthorized,
        Self::Forbidden,
        Self::NotFound,
        Self::Conflict,
        Self::TooLarge,
        Self::RateLimited,
        Self::Unavailable,
        Self::Internal,
    ];

    /// The table. Every mapping of a code, in every transport, reads it here.
    const fn row(self) -> Row {
        let (name, grpc, http, title) = match self {
            Self::Invalid => {
                ("invalid", Code::InvalidArgument, StatusCode::UNPROCESSABLE_ENTITY, "Invalid request")
            }
            Self::Unauthorized => {
                ("unauthorized", Code::Unauthenticated, StatusCode::UNAUTHORIZED, "Unauthorized")
            }
            Self::Forbidden => ("forbidden", Code::PermissionDenied, StatusCode::FORBIDDEN, "Forbidden"),
            Self::NotFound => ("not_found", Code::NotFound, StatusCode::NOT_FOUND, "Not found"),
            Self::Conflict => ("conflict", Code::FailedPrecondition, StatusCode::CONFLICT, "Conflict"),
            Self::TooLarge => ("too_large", Code::OutOfRange, StatusCode::PAYLOAD_TOO_LARGE, "Too large"),
            Self::RateLimited => {
                ("rate_limited", Code::ResourceExhausted, StatusCode::TOO_MANY_REQUESTS, "Too many requests")
            }
            Self::Unavailable => {
                ("unavailable", Code::Unavailable, StatusCode::SERVICE_UNAVAILABLE, "Service unavailable")
            }
            Self::Internal => {
                ("internal", Code::Internal, StatusCode::INTERNAL_SERVER_ERROR, "Internal error")
            }
        };
        Row { name, grpc, http, title }
    }

    /// The wire name (`not_found`).
    pub const fn as_str(self) -> &'static str {
        self.row().name
    }

    /// The code a gRPC status carries for it.
    pub const fn grpc_code(self) -> Code {
        self.row().grpc
    }

    /// The HTTP status a problem+json answer (or a refused upgrade) carries.
    pub const fn http_status(self) -> StatusCode {
        self.row().http
    }

    /// The problem+json `title`.
    pub const fn title(self) -> &'static str {
        self.row().title
    }

    /// None for a name this version does not know.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == name)
    }

    /// What a status without an `ErrorDetail` stands for. Such a status
    /// never came from the core's rules (those always carry a detail): one
    /// that never reached the core (refused, timed out) is `unavailable`,
    /// a refusal of the caller's credentials keeps its meaning, and the rest
    /// (tonic's own `OutOfRange` for an oversized response, say) is ours,
    /// `internal`, never blamed on the caller's request.
    pub fn of_grpc(code: Code) -> Self {
        match code {
            Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled | Code::Unknown => Self::Unavailable,
            Code::Unauthenticated => Self::Unauthorized,
            Code::PermissionDenied => Self::Forbidden,
            Code::NotFound => Self::NotFound,
            Code::InvalidArgument => Self::Invalid,
            Code::ResourceExhausted => Self::RateLimited,
            _ => Self::Internal,
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a failed call certainly never reached a core: the connection to
/// the replica was refused (it is dead, and the balancer has not noticed
/// yet). Such a call may be sent again to another replica, whatever it
/// does (`client::CoreClient` does so once); a call that may have reached
/// a core is retried only if repeating it is harmless.
pub fn never_reached_core(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::ConnectionRefused
        {
            return true;
        }
        cause = e.source();
    }
    false
}

/// A failed core call as the gateways render it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: ErrorCode,
    pub message: String,
    /// Field by field, for `invalid`.
    pub errors: Vec<FieldError>,
    pub retry_after_secs: Option<u32>,
}

impl Failure {
    /// Reads the core's `ErrorDetail` out of `status`, or classifies the
    /// status by its gRPC code when it has none. A detail with a code this
    /// version does not know is `internal`, with the core's message.
    pub fn from_status(status: &Status) -> Self {
        if let Ok(d) = ErrorDetail::decode(status.details())
            && !d.code.is_empty()
        {
            let code = ErrorCode::parse(&d.code).unwrap_or(ErrorCode::Internal);
            return Self { code, message: d.message, errors: d.errors, retry_after_secs: d.retry_after_secs };
        }
        let code = ErrorCode::of_grpc(status.code());
        let message = match code {
            ErrorCode::Unavailable => "the core service is unavailable",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not found",
            ErrorCode::Invalid => "invalid request",
            ErrorCode::RateLimited => "too many requests",
            ErrorCode::Conflict => "conflict",
            ErrorCode::TooLarge => "too large",
            ErrorCode::Internal => "internal error",
        };
        Self { code, message: message.into(), errors: vec![], retry_after_secs: None }
    }

    /// The `tonic::Status` the core answers with: the code's gRPC code, and
    /// the whole failure in the details.
    pub fn into_status(self) -> Status {
        let detail = ErrorDetail {
            code: self.code.as_str().into(),
            message: self.message.clone(),
            errors: self.errors,
            retry_after_secs: self.retry_after_secs,
        };
        Status::with_details(self.code.grpc_code(), self.message, detail.encode_to_vec().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_its_protocol_status_and_a_distinct_grpc_code() {
        let expected = [
            (ErrorCode::Invalid, 422),
            (ErrorCode::Unauthorized, 401),
            (ErrorCode::Forbidden, 403),
            (ErrorCode::NotFound, 404),
            (ErrorCode::Conflict, 409),
            (ErrorCode::TooLarge, 413),
            (ErrorCode::RateLimited, 429),
            (ErrorCode::Unavailable, 503),
            (ErrorCode::Internal, 500),
        ];
        for (code, status) in expected {
            assert_eq!(code.http_status().as_u16(), status, "{code}");
            assert_eq!(ErrorCode::parse(code.as_str()), Some(code));
        }
        let codes: std::collections::HashSet<Code> = ErrorCode::ALL.iter().map(|c| c.grpc_code()).collect();
        assert_eq!(codes.len(), ErrorCode::ALL.len(), "each code has a gRPC code of its own");
    }

    #[test]
    fn a_status_without_detail_is_never_blamed_on_the_request() {
        // tonic answers an oversized response with a bare OutOfRange.
        assert_eq!(
            Failure::from_status(&Status::out_of_range("message too large")).code,
            ErrorCode::Internal
        );
        assert_eq!(Failure::from_status(&Status::failed_precondition("?")).code, ErrorCode::Internal);
        assert_eq!(Failure::from_status(&Status::unauthenticated("expired")).code, ErrorCode::Unauthorized);
    }

    #[test]
    fn a_code_from_a_newer_core_is_internal_with_its_message() {
        let detail = ErrorDetail {
            code: "quota_exceeded".into(),
            message: "your plan allows 3 agents".into(),
            errors: vec![],
            retry_after_secs: None,
        };
        let status = Status::with_details(Code::FailedPrecondition, "x", detail.encode_to_vec().into());
        let f = Failure::from_status(&status);
        assert_eq!((f.code, f.message.as_str()), (ErrorCode::Internal, "your plan allows 3 agents"));
    }

    #[test]
    fn codes_serialize_as_their_wire_names() {
        assert_eq!(serde_json::to_string(&ErrorCode::NotFound).unwrap(), "\"not_found\"");
        assert_eq!(serde_json::to_string(&ErrorCode::RateLimited).unwrap(), "\"rate_limited\"");
    }

    #[test]
    fn a_failure_survives_the_trip_through_a_status() {
        let sent = Failure {
            code: ErrorCode::Invalid,
            message: "invalid input".into(),
            errors: vec![FieldError { field: "name".into(), message: "must not be empty".into() }],
            retry_after_secs: None,
        };
        let status = sent.clone().into_status();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(Failure::from_status(&status), sent);
    }

    #[test]
    fn a_status_that_never_reached_the_core_is_unavailable() {
        for code in [Code::Unavailable, Code::DeadlineExceeded, Code::Cancelled, Code::Unknown] {
            let f = Failure::from_status(&Status::new(code, "connection refused"));
            assert_eq!(f.code, ErrorCode::Unavailable, "{code:?}");
        }
        assert_eq!(Failure::from_status(&Status::data_loss("?")).code, ErrorCode::Internal);
    }

    #[tokio::test]
    async fn a_refused_connection_never_reached_a_core_and_a_core_answer_did() {
        use crate::client::CoreClient;
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", closed.local_addr().unwrap());
        drop(closed);
        let status = tonic::Status::unavailable("the database is unavailable");
        assert!(!never_reached_core(&status), "a core's own answer");
        let client = CoreClient::connect_lazy(&[url], None).unwrap();
        let refused = crate::v1::auth_service_client::AuthServiceClient::new(client.transport())
            .login(crate::v1::LoginRequest::default())
            .await;
        // The only replica is down, so it stays in the balance and the
        // connection is refused outright: certainly never reached a core.
        let status = refused.expect_err("nothing listens there");
        assert_eq!(status.code(), Code::Unavailable, "{status:?}");
        assert!(never_reached_core(&status), "{status:?}");
    }
}
