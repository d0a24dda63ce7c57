//! The caller's mistakes that the domain can detect by itself.

use serde::{Deserialize, Serialize};

/// One field a request got wrong, as docs/protocol.md lists them in `errors`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

/// Rule violations; the app layer turns them into its own error enum.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// One or more fields are malformed; every bad field is listed.
    #[error("invalid input")]
    Invalid(Vec<FieldError>),
    /// Content longer than max_message_chars: `too_large`, not `invalid`.
    #[error("{0}")]
    TooLarge(String),
    /// The room is not in a state that allows the transition.
    #[error("{0}")]
    Conflict(String),
}

impl DomainError {
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldError::new(field, message)])
    }
}

impl From<FieldError> for DomainError {
    fn from(e: FieldError) -> Self {
        Self::Invalid(vec![e])
    }
}
