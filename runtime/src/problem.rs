//! The one place where failures become `application/problem+json`
//! (RFC 9457) with the docs/protocol.md `code`: every HTTP surface answers
//! with it (the REST API, a refused WebSocket upgrade, `/readyz`, the
//! adapters' webhooks). Errors from the core arrive as `tonic::Status` and
//! are read back with `livechat_proto::Failure`; statuses and titles come
//! from the `ErrorCode` table.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use livechat_proto::{ErrorCode, Failure};
use serde::Serialize;
use utoipa::ToSchema;

/// One field the request got wrong.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FieldProblem {
    pub field: String,
    pub message: String,
}

/// The problem+json body.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    #[schema(example = "about:blank")]
    pub type_: &'static str,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    /// invalid, unauthorized, forbidden, not_found, conflict, too_large,
    /// rate_limited, unavailable or internal.
    #[schema(value_type = String, example = "not_found")]
    pub code: ErrorCode,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldProblem>,
}

/// A failed request, on its way to becoming a problem+json response.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The code's status, except where the protocol allows another (a
    /// malformed body is a 400 `invalid`, a wrong method a 405 `invalid`).
    pub status: StatusCode,
    pub code: ErrorCode,
    pub detail: String,
    pub errors: Vec<FieldProblem>,
    pub retry_after_secs: Option<u32>,
}

impl ApiError {
    /// A failure with the code's own status and no field errors.
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self {
            status: code.http_status(),
            code,
            detail: detail.into(),
            errors: vec![],
            retry_after_secs: None,
        }
    }

    /// One field the request got wrong (422).
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::invalid_fields(vec![FieldProblem { field: field.into(), message: message.into() }])
    }

    /// Several fields the request got wrong, all reported at once (422).
    pub fn invalid_fields(errors: Vec<FieldProblem>) -> Self {
        Self { errors, ..Self::new(ErrorCode::Invalid, "the request has invalid fields") }
    }

    /// Malformed JSON: a 400, still with code `invalid`.
    pub fn malformed(detail: impl Into<String>) -> Self {
        Self { status: StatusCode::BAD_REQUEST, ..Self::new(ErrorCode::Invalid, detail) }
    }

    /// No, or no valid, credentials (401).
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthorized, detail)
    }

    /// Nothing there, or nothing the caller may see (404).
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, detail)
    }

    /// Over a limit; the client should come back after `retry_after_secs` (429).
    pub fn rate_limited(retry_after_secs: u32) -> Self {
        Self {
            retry_after_secs: Some(retry_after_secs.max(1)),
            ..Self::new(ErrorCode::RateLimited, "too many requests; retry later")
        }
    }

    /// A dependency cannot be reached right now; retrying is right (503).
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unavailable, detail)
    }

    /// A bug on our side (500); the detail must reveal nothing internal.
    pub fn internal(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, detail)
    }
}

impl From<Failure> for ApiError {
    fn from(f: Failure) -> Self {
        let mut e = Self::new(f.code, f.message);
        e.errors =
            f.errors.into_iter().map(|f| FieldProblem { field: f.field, message: f.message }).collect();
        e.retry_after_secs = f.retry_after_secs;
        e
    }
}

impl From<tonic::Status> for ApiError {
    fn from(s: tonic::Status) -> Self {
        let failure = Failure::from_status(&s);
        if failure.code == ErrorCode::Unavailable {
            tracing::warn!(status = ?s.code(), message = s.message(), "core call failed");
        }
        failure.into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Problem {
            type_: "about:blank",
            title: self.code.title(),
            status: self.status.as_u16(),
            detail: self.detail,
            code: self.code,
            errors: self.errors,
        };
        let mut res = (self.status, axum::Json(body)).into_response();
        res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if let Some(secs) = self.retry_after_secs {
            res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn core_errors_keep_their_code_and_fields() {
        let detail = livechat_proto::v1::ErrorDetail {
            code: "invalid".into(),
            message: "invalid input".into(),
            errors: vec![livechat_proto::v1::FieldError {
                field: "name".into(),
                message: "must not be empty".into(),
            }],
            retry_after_secs: None,
        };
        let s = tonic::Status::with_details(
            tonic::Code::InvalidArgument,
            "invalid input",
            detail.encode_to_vec().into(),
        );
        let e = ApiError::from(s);
        assert_eq!((e.status.as_u16(), e.code), (422, ErrorCode::Invalid));
        assert_eq!(e.errors[0].field, "name");
    }

    #[test]
    fn an_unreachable_core_is_a_503() {
        let e = ApiError::from(tonic::Status::unavailable("connection refused"));
        assert_eq!((e.status.as_u16(), e.code), (503, ErrorCode::Unavailable));
    }

    #[test]
    fn rate_limits_carry_retry_after() {
        let res = ApiError::rate_limited(7).into_response();
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(res.headers()[header::RETRY_AFTER], "7");
        assert_eq!(res.headers()[header::CONTENT_TYPE], "application/problem+json");
    }

    #[tokio::test]
    async fn the_body_names_the_code_and_its_title() {
        let res = ApiError::not_found("no such room").into_response();
        let bytes = axum::body::to_bytes(res.into_body(), 4096).await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["code"], "not_found");
        assert_eq!(body["title"], "Not found");
        assert_eq!(body["status"], 404);
        assert_eq!(body["type"], "about:blank");
    }
}
