//! The one error enum of the core. Each variant is one docs/protocol.md error
//! code; the gRPC layer maps it to a `tonic::Status` in exactly one place
//! (`grpc::status`).

use livechat_proto::ErrorCode;

use crate::domain::{DomainError, FieldError};

/// Everything a core operation can answer instead of a result.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("invalid input")]
    Invalid(Vec<FieldError>),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("too many requests")]
    RateLimited { retry_after_secs: u32 },
    /// A dependency (database, bus) cannot be reached right now.
    #[error("{0}")]
    Unavailable(String),
    /// A bug or an unexpected failure: logged in full, shown as "internal error".
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Shorthand used by every core operation.
pub type CoreResult<T> = Result<T, CoreError>;

impl CoreError {
    /// The docs/protocol.md error code; `ErrorCode` pairs it with its
    /// gRPC code, HTTP status and title.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Invalid(_) => ErrorCode::Invalid,
            Self::Unauthorized(_) => ErrorCode::Unauthorized,
            Self::Forbidden(_) => ErrorCode::Forbidden,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::Conflict(_) => ErrorCode::Conflict,
            Self::TooLarge(_) => ErrorCode::TooLarge,
            Self::RateLimited { .. } => ErrorCode::RateLimited,
            Self::Unavailable(_) => ErrorCode::Unavailable,
            Self::Unexpected(_) => ErrorCode::Internal,
        }
    }

    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldError::new(field, message)])
    }

    /// What a call hears while the database does not answer.
    pub fn database_unavailable() -> Self {
        Self::Unavailable("the database is unavailable".into())
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::Forbidden(message.into())
    }

    pub fn not_found(what: &str) -> Self {
        Self::NotFound(format!("{what} not found"))
    }
}

impl From<DomainError> for CoreError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::Invalid(errs) => Self::Invalid(errs),
            DomainError::TooLarge(m) => Self::TooLarge(m),
            DomainError::Conflict(m) => Self::Conflict(m),
        }
    }
}

impl From<FieldError> for CoreError {
    fn from(e: FieldError) -> Self {
        Self::Invalid(vec![e])
    }
}
