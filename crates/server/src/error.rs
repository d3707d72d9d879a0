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
    /// A fault of ours with nothing under it ("unknown job kind").
    #[error("internal error: {0}")]
    Internal(String),
    /// A fault of ours caused by another error (a file, a serializer, a
    /// library), kept whole: the log line names both (`chain`).
    #[error("{context}: {source}")]
    Fault {
        context: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// A database failure that is neither the client's fault nor an outage,
    /// kept whole: its source chain (the driver's error) goes to the log.
    #[error("{0}")]
    Store(#[source] muster_store::Error),
    /// The database cannot be reached right now (see `db_health`): 503, try again soon.
    #[error("the database is unreachable right now")]
    Unavailable,
    /// The database's disk is full: 503 until an operator frees space; the
    /// change was rolled back whole.
    #[error("the database's disk is full")]
    DiskFull,
}

impl From<muster_store::Error> for AppError {
    fn from(e: muster_store::Error) -> Self {
        match e {
            muster_store::Error::Domain(d) => AppError::Domain(d),
            muster_store::Error::Db(e) if crate::db_health::is_unreachable(&e) => {
                tracing::warn!(error = %e, "the database is unreachable");
                AppError::Unavailable
            }
            e if e.is_disk_full() => {
                tracing::error!(error = %e, "the database's disk is full");
                AppError::DiskFull
            }
            other => AppError::Store(other),
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

    /// The database was busy or away for a moment: the same step may succeed
    /// when tried again (see [`muster_store::Error::is_transient`]).
    pub fn is_transient(&self) -> bool {
        match self {
            AppError::Unavailable => true,
            AppError::Store(e) => e.is_transient(),
            _ => false,
        }
    }

    /// `context` failed because of `source`: "writing the export file" + the I/O error.
    pub fn fault(
        context: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        AppError::Fault {
            context: context.into(),
            source: source.into(),
        }
    }
}

pub type AppResult<T> = Result<T, AppError>;

/// An error and every source under it, for a log line: each source's text is
/// added unless the text before already ends with it (a `{0}` in a message).
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(s) = next {
        let text = s.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_failure_keeps_its_source() {
        let e = AppError::from(muster_store::Error::Corrupt("job status \"x\"".into()));
        assert!(matches!(e, AppError::Store(_)), "{e:?}");
        assert!(std::error::Error::source(&e).is_some());
        assert!(chain(&e).contains("job status"), "{}", chain(&e));
    }

    #[test]
    fn an_outage_is_tried_again_and_a_refusal_or_corrupt_data_is_not() {
        // a connection the database ended (a PostgreSQL restart) reads as unreachable
        let lost = AppError::from(sqlx::Error::Io(std::io::Error::from(
            std::io::ErrorKind::ConnectionReset,
        )));
        assert!(lost.is_transient(), "{lost:?}");
        assert!(AppError::Unavailable.is_transient());
        assert!(AppError::from(muster_store::Error::Db(sqlx::Error::PoolTimedOut)).is_transient());
        assert!(!AppError::from(muster_store::Error::Corrupt("x".into())).is_transient());
        assert!(!AppError::forbidden("no").is_transient());
        assert!(!AppError::Internal("unknown job kind".into()).is_transient());
    }

    #[test]
    fn a_fault_keeps_the_error_under_it() {
        let e = AppError::fault(
            "writing the export file",
            std::io::Error::other("no space left on device"),
        );
        let source = std::error::Error::source(&e).map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("no space left on device"));
        assert_eq!(chain(&e), "writing the export file: no space left on device");
    }
}
