//! The one place where failures become `application/problem+json`
//! (RFC 9457) with the PROTOCOL.md `code`. Errors from the core arrive as
//! `tonic::Status` and are read back with `livechat_proto::error_detail`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
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
    pub code: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldProblem>,
}

/// A failed request, on its way to becoming a problem+json response.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    pub errors: Vec<FieldProblem>,
    pub retry_after_secs: Option<u32>,
}

/// Each PROTOCOL.md code with its HTTP status and title.
const CODES: &[(&str, StatusCode, &str)] = &[
    ("invalid", StatusCode::UNPROCESSABLE_ENTITY, "Invalid request"),
    ("unauthorized", StatusCode::UNAUTHORIZED, "Unauthorized"),
    ("forbidden", StatusCode::FORBIDDEN, "Forbidden"),
    ("not_found", StatusCode::NOT_FOUND, "Not found"),
    ("conflict", StatusCode::CONFLICT, "Conflict"),
    ("too_large", StatusCode::PAYLOAD_TOO_LARGE, "Too large"),
    ("rate_limited", StatusCode::TOO_MANY_REQUESTS, "Too many requests"),
    ("unavailable", StatusCode::SERVICE_UNAVAILABLE, "Service unavailable"),
    ("internal", StatusCode::INTERNAL_SERVER_ERROR, "Internal error"),
];

fn lookup(code: &str) -> (&'static str, StatusCode, &'static str) {
    CODES.iter().copied().find(|(c, ..)| *c == code).unwrap_or(CODES[CODES.len() - 1])
}

impl ApiError {
    pub fn new(code: &str, detail: impl Into<String>) -> Self {
        let (code, status, _) = lookup(code);
        Self { status, code, detail: detail.into(), errors: vec![], retry_after_secs: None }
    }

    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::invalid_fields(vec![FieldProblem { field: field.into(), message: message.into() }])
    }

    pub fn invalid_fields(errors: Vec<FieldProblem>) -> Self {
        Self { errors, ..Self::new("invalid", "the request has invalid fields") }
    }

    /// Malformed JSON: a 400, still with code `invalid`.
    pub fn malformed(detail: impl Into<String>) -> Self {
        Self { status: StatusCode::BAD_REQUEST, ..Self::new("invalid", detail) }
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new("unauthorized", detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new("not_found", detail)
    }

    pub fn rate_limited(retry_after_secs: u32) -> Self {
        Self {
            retry_after_secs: Some(retry_after_secs.max(1)),
            ..Self::new("rate_limited", "too many requests; retry later")
        }
    }

    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new("unavailable", detail)
    }
}

impl From<tonic::Status> for ApiError {
    fn from(s: tonic::Status) -> Self {
        let d = livechat_proto::error_detail(&s);
        if d.code == "unavailable" {
            tracing::warn!(status = ?s.code(), message = s.message(), "core call failed");
        }
        let mut e = Self::new(&d.code, d.message);
        e.errors =
            d.errors.into_iter().map(|f| FieldProblem { field: f.field, message: f.message }).collect();
        e.retry_after_secs = d.retry_after_secs;
        e
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (_, _, title) = lookup(self.code);
        let body = Problem {
            type_: "about:blank",
            title,
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
    fn every_code_has_its_protocol_status() {
        let pairs = [
            ("invalid", 422),
            ("unauthorized", 401),
            ("forbidden", 403),
            ("not_found", 404),
            ("conflict", 409),
            ("too_large", 413),
            ("rate_limited", 429),
            ("unavailable", 503),
            ("internal", 500),
        ];
        for (code, status) in pairs {
            assert_eq!(ApiError::new(code, "x").status.as_u16(), status, "{code}");
        }
    }

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
        assert_eq!((e.status.as_u16(), e.code), (422, "invalid"));
        assert_eq!(e.errors[0].field, "name");
    }

    #[test]
    fn an_unreachable_core_is_a_503() {
        let e = ApiError::from(tonic::Status::unavailable("connection refused"));
        assert_eq!((e.status.as_u16(), e.code), (503, "unavailable"));
    }

    #[test]
    fn rate_limits_carry_retry_after() {
        let res = ApiError::rate_limited(7).into_response();
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(res.headers()[header::RETRY_AFTER], "7");
        assert_eq!(res.headers()[header::CONTENT_TYPE], "application/problem+json");
    }
}
