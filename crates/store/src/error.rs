use muster_domain as domain;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Domain(#[from] domain::Error),
    #[error("database error: {0}")]
    Db(sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("configuration: {0}")]
    Config(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// From a driver used directly, not through sqlx (the export's SQLite step loop, `COPY`).
    #[error("database driver: {0}")]
    Driver(String),
}

impl Error {
    /// Trouble that passes: the database busy or locked (SQLite's one writer
    /// held too long by others), a connection lost or refused, a serialization
    /// failure or deadlock, the pool out of connections. The same step may
    /// succeed when tried again; a refusal, corrupt data or a bug will not.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Db(sqlx::Error::Database(db)) => {
                let code = db.code();
                let code = code.as_deref().unwrap_or("");
                // SQLite: BUSY, LOCKED (and their extended codes). PostgreSQL: serialization
                // failure, deadlock, admin shutdown, cannot connect now, connection exceptions.
                matches!(code, "5" | "6" | "40001" | "40P01" | "57P01" | "57P02" | "57P03")
                    || code.parse::<i32>().is_ok_and(|c| c & 0xff == 5 || c & 0xff == 6)
                    || code.starts_with("08")
            }
            Error::Db(
                sqlx::Error::Io(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::Tls(_)
                | sqlx::Error::Protocol(_)
                | sqlx::Error::WorkerCrashed,
            ) => true,
            _ => false,
        }
    }

    /// The database's disk is full (SQLite FULL, PostgreSQL `disk_full`):
    /// nothing a client sent is wrong, and nothing changes until an operator
    /// frees space.
    pub fn is_disk_full(&self) -> bool {
        match self {
            Error::Db(sqlx::Error::Database(db)) => {
                let code = db.code();
                let code = code.as_deref().unwrap_or("");
                code == "53100" || code.parse::<i32>().is_ok_and(|c| c & 0xff == 13)
            }
            _ => false,
        }
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        // By kind, never by constraint name: SQLite does not give one.
        if let sqlx::Error::Database(db) = &e {
            if db.is_unique_violation() {
                return Error::Domain(domain::Error::Conflict {
                    field: "a unique field".to_owned(),
                });
            }
            if db.is_foreign_key_violation() {
                return Error::Domain(domain::Error::Refused(
                    "the change refers to something that does not exist or is still in use".to_owned(),
                ));
            }
        }
        if matches!(e, sqlx::Error::RowNotFound) {
            return Error::Domain(domain::Error::NotFound("row".to_owned()));
        }
        Error::Db(e)
    }
}
