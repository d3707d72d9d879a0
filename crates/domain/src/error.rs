use std::fmt;

/// A problem with one input field, named by its key in forms and the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// What went wrong, in business terms. Each layer above maps it once.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    #[error("{0} not found")]
    NotFound(String),
    #[error("{field} is already taken")]
    Conflict { field: String },
    #[error("invalid input: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldError>),
    #[error("invalid username or password")]
    InvalidCredentials,
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The actor may not change this field (a role, an organization): refused, never ignored.
    #[error("forbidden: {0}")]
    ForbiddenField(FieldError),
    /// The request is valid but the state of the data refuses it (e.g. records assigned).
    #[error("{0}")]
    Refused(String),
}

impl Error {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Invalid(vec![FieldError::new(field, message)])
    }
}
