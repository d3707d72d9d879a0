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
