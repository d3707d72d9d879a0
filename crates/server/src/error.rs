//! The server's error: a domain error, a store failure, or an internal fault.
//! The API and the UI each map it to a response once (`web::error`, `api::error`).

use muster_domain::Error as DomainError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error("not signed in")]
    Unauthenticated,
    /// Too many failed sign-ins from this address lately: wait, the password was not checked.
    #[error("too many failed attempts; retry in {retry_after_secs} s")]
    TooManyAttempts { retry_after_secs: u64 },
    #[error("internal error: {0}")]
    Internal(String),
    /// The database cannot be reached right now (see `db_health`): 503, try again soon.
    #[error("the database is unreachable right now")]
    Unavailable,
}

impl From<muster_store::Error> for AppError {
    fn from(e: muster_store::Error) -> Self {
        match e {
            muster_store::Error::Domain(d) => AppError::Domain(d),
            muster_store::Error::Db(e) if crate::db_health::is_unreachable(&e) => {
                tracing::warn!(error = %e, "the database is unreachable");
                AppError::Unavailable
            }
            other => AppError::Internal(other.to_string()),
        }
    }
}

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        muster_store::Error::from(e).into()
    }
}

impl AppError {
    pub fn not_found(what: &str) -> Self {
        AppError::Domain(DomainError::NotFound(what.to_owned()))
    }

    pub fn forbidden(why: impl Into<String>) -> Self {
        AppError::Domain(DomainError::Forbidden(why.into()))
    }
}

pub type AppResult<T> = Result<T, AppError>;
